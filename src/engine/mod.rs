//! The SecLang rule engine: parse -> compile -> [`Transaction`], with no dependency on the
//! proxy.
//!
//! ```no_run
//! use std::sync::Arc;
//! use rampart::engine::{EngineContext, Ruleset, Transaction};
//!
//! let rules = Arc::new(Ruleset::load(std::path::Path::new("main.conf")).expect("rules"));
//! let ctx = Arc::new(EngineContext::default());
//! let mut tx = Transaction::new(rules, ctx, None);
//! tx.process_connection("203.0.113.7", 40000, "10.0.0.1", 443);
//! tx.process_uri(b"/search?q=1", b"GET", "1.1");
//! tx.add_request_header(b"Host", b"example.com");
//! if let Some(i) = tx.process_request_headers() {
//!     println!("blocked with {}", i.status);
//! }
//! tx.process_request_body();
//! tx.process_response_headers(200, "HTTP/1.1");
//! tx.process_response_body();
//! tx.process_logging();
//! ```

pub mod ast;
pub mod audit;
pub mod bodyproc;
pub mod collections;
pub mod compile;
pub mod config;
mod eval;
pub mod logging;
pub mod macros;
pub mod operators;
pub mod parser;
pub mod rule;
pub mod transaction;
pub mod transformations;
pub mod values;
pub mod vars;

pub use compile::{Diagnostic, DiagnosticKind, LoadError, Ruleset};
pub use config::EngineMode;
pub use transaction::{AuditRecord, BodyStatus, EngineContext, GeoLookup, Intervention, Transaction};

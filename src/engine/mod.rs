//! The SecLang rule engine: parse -> compile -> `Transaction`, with no dependency on the
//! proxy. See `Ruleset` and `Transaction`.

pub mod ast;
pub mod bodyproc;
pub mod operators;
pub mod parser;
pub mod transformations;

//! Tests of the SecLang parser and loader.

mod errors;
mod fuzz;
mod include;
mod syntax;

use std::sync::Arc;

use super::super::ast::{Directive, DirectiveKind, ParseError};

/// Parses `text` as the file `t.conf`.
fn parse(text: &str) -> Result<Vec<Directive>, ParseError> {
    super::parse_str(text, Arc::from("t.conf"))
}

/// Parses `text`, which must hold exactly one directive, and returns its kind.
fn one(text: &str) -> DirectiveKind {
    let mut ds = parse(text).unwrap_or_else(|e| panic!("parse failed: {e}"));
    assert_eq!(ds.len(), 1, "expected one directive in {text:?}: {ds:?}");
    ds.remove(0).kind
}

/// Parses `text`, which must fail, and returns the error.
fn fail(text: &str) -> ParseError {
    match parse(text) {
        Ok(ds) => panic!("expected an error for {text:?}, got {ds:?}"),
        Err(e) => e,
    }
}

mod crs;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir {
    path: std::path::PathBuf,
}

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "rampart-parser-{tag}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempDir { path }
    }

    /// Writes `rel` (creating its directories) and returns its full path.
    fn write(&self, rel: &str, content: &str) -> std::path::PathBuf {
        self.write_bytes(rel, content.as_bytes())
    }

    fn write_bytes(&self, rel: &str, content: &[u8]) -> std::path::PathBuf {
        let p = self.path.join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        }
        std::fs::write(&p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

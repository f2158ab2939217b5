//! `rampart rules check FILE...`: load and compile SecLang configuration, report what is not
//! supported, and end with `rules: N loaded, M unsupported`.

use std::io::Write;
use std::path::PathBuf;

use crate::engine::{DiagnosticKind, Ruleset};

/// Loads the files in order (each may `Include` others) as one configuration.
pub fn load_files(files: &[PathBuf]) -> Result<Ruleset, crate::engine::LoadError> {
    let mut directives = Vec::new();
    for f in files {
        directives.extend(crate::engine::parser::load_file(f)?);
    }
    Ruleset::from_directives(directives)
}

/// Runs the check, writing the report to `out`; returns the process exit status.
pub fn run(files: &[PathBuf], out: &mut dyn Write) -> i32 {
    if files.is_empty() {
        let _ = writeln!(out, "error: no file given");
        return 2;
    }
    match load_files(files) {
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            let _ = writeln!(out, "rules: 0 loaded, 0 unsupported");
            1
        }
        Ok(rs) => {
            let mut unsupported = 0;
            for d in &rs.diagnostics {
                match d.kind {
                    DiagnosticKind::Unsupported => {
                        unsupported += 1;
                        let _ = writeln!(out, "unsupported: {}: {}: {}", d.loc, d.directive, d.message);
                    }
                    DiagnosticKind::NoEffect => {
                        let _ = writeln!(out, "note: {}: {}: {}", d.loc, d.directive, d.message);
                    }
                }
            }
            let _ = writeln!(out, "rules: {} loaded, {} unsupported", rs.rule_count, unsupported);
            if unsupported > 0 {
                1
            } else {
                0
            }
        }
    }
}

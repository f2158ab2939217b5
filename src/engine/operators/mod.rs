//! SecLang operators (`@name param`), one file per family, registered by name.
//!
//! Contract (used by the rule engine):
//! - `compile(name, param, ctx)` builds an operator once, at load time. Unknown or
//!   unsupported operators and bad parameters are an `Err` with a clear message.
//! - `Operator::evaluate` runs it against one (transformed) value. Negation (`!@op`) is
//!   applied by the engine, not here.
//! - Parameters containing `%{...}` macros are expanded at run time through `OperatorEnv`.

use std::path::Path;

/// What an operator may ask of the running transaction.
pub trait OperatorEnv {
    /// Expands `%{collection.key}` macros in `text` against the transaction.
    fn expand(&self, text: &str) -> String;
    /// `@geoLookup` hook: looks up `addr` and fills the GEO collection; returns whether
    /// the address was found.
    fn geo_lookup(&mut self, _addr: &[u8]) -> bool {
        false
    }
}

/// Capture slots TX.0 .. TX.9 filled by operators that support `capture`.
#[derive(Debug, Default, Clone)]
pub struct Captures {
    pub groups: Vec<Vec<u8>>,
}

/// Load-time context.
pub struct CompileCtx<'a> {
    /// Directory of the file the rule came from: relative paths of `@pmFromFile`,
    /// `@ipMatchFromFile` are resolved against it.
    pub base_dir: &'a Path,
}

pub trait Operator: Send + Sync + std::fmt::Debug {
    /// Returns whether the operator matches `input`. When `captures` is given
    /// (the rule has `capture`), fills it as ModSecurity fills TX.0..TX.9.
    fn evaluate(
        &self,
        input: &[u8],
        env: &mut dyn OperatorEnv,
        captures: Option<&mut Captures>,
    ) -> bool;
}

pub fn compile(
    name: &str,
    param: &str,
    ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    let _ = (param, ctx);
    Err(format!("unknown operator @{name}"))
}

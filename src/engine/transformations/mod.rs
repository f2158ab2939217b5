//! SecLang transformations (`t:name`), one file per family, registered by name.
//!
//! Contract (used by the rule engine):
//! - `lookup(name)` finds a transformation by its SecLang name, case-insensitively,
//!   accepting the documented aliases (e.g. `normalizePath` / `normalisePath`).
//! - A transformation is a plain function `fn(&[u8]) -> Cow<[u8]>`: it returns
//!   `Cow::Borrowed(input)` when the value is unchanged, `Cow::Owned(new)` otherwise.
//!   It never panics, on any input.
//! - `t:none` is handled by the engine (it resets the chain); `lookup("none")` returns
//!   the identity transformation so that it is known.

use std::borrow::Cow;

pub type TransformFn = for<'a> fn(&'a [u8]) -> Cow<'a, [u8]>;

#[derive(Clone, Copy)]
pub struct Transform {
    /// Canonical name (as ModSecurity documents it).
    pub name: &'static str,
    pub func: TransformFn,
}

impl std::fmt::Debug for Transform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "t:{}", self.name)
    }
}

/// Finds a transformation by name (case-insensitive).
pub fn lookup(name: &str) -> Option<Transform> {
    let _ = name;
    None
}

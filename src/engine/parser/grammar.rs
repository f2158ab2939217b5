//! The pest grammar (`seclang.pest`) and small helpers around its errors.

use pest::error::{Error, InputLocation};
use pest_derive::Parser;

/// Generated parser for `seclang.pest`.
#[derive(Parser)]
#[grammar = "engine/parser/seclang.pest"]
pub(super) struct SecLangParser;

/// Byte offset (in the parsed text) where a pest error occurred.
pub(super) fn error_pos(e: &Error<Rule>) -> usize {
    match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
}

/// The character at `pos` (None at the end), and the last non-blank character before it.
pub(super) fn around(text: &str, pos: usize) -> (Option<char>, Option<char>) {
    let at = text.get(pos..).and_then(|r| r.chars().next());
    let before = text.get(..pos).and_then(|b| {
        b.trim_end_matches([' ', '\t', '\r', '\n', '\\'])
            .chars()
            .last()
    });
    (at, before)
}

/// Whether the text just before `pos` is a blank (space, tab or line continuation).
pub(super) fn blank_before(text: &str, pos: usize) -> bool {
    text.get(..pos)
        .and_then(|b| b.chars().last())
        .is_some_and(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// A short, printable excerpt of `s` for error messages.
pub(super) fn excerpt(s: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = s.chars().take(MAX).collect();
    if s.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    out.escape_debug().to_string()
}

//! SecLang parser (pest grammar) and configuration loader (`Include`).
//!
//! [`parse_str`] turns the text of one file into [`Directive`]s (`engine::ast`): it only
//! recognises the *shape* of each directive; names of variables, operators, actions and
//! transformations, and the arguments of configuration directives, are checked by the
//! compiler. [`load_file`] reads a file and expands `Include`/`IncludeOptional`.
//!
//! # What is read, and how (libmodsecurity v3 semantics)
//! * Directive names are case-insensitive; an unknown name is an error
//!   ([`is_known_directive`]). Comments are lines whose first non-blank character is `#`;
//!   as in v3, a commented-out `#SecRule ... \` or `#SecAction ... \` also comments out its
//!   continuation lines. A `#` word after the last argument starts a trailing comment.
//! * `\` immediately before the end of a line joins the next line. Between arguments, and
//!   between actions of a list, it counts as a blank (with the blanks around it). Inside a
//!   quoted string (`"@rx ..."`, `msg:'...'`) v3 keeps it verbatim, and so do we: the value
//!   holds the backslash, the line break and the next line's indentation (CRS rule 980170's
//!   `msg` is such a value).
//! * Double-quoted strings: a `"` preceded by an odd number of backslashes does not close
//!   the string; nothing is unescaped (v3 hands `\"`, `\\`, `\d` to the operator as
//!   written). A raw line break inside quotes is reported as an unterminated string (v3
//!   would accept it; no real configuration relies on that and it hides missing quotes).
//! * `SecRule VARIABLES OPERATOR [ACTIONS]`: variables quoted or not, separated by `|` (v3
//!   also accepts `,`), each `[!|&]NAME[:KEY]` (v3 also accepts `.` for `:`). The name is
//!   upper-cased. A key `/.../` (at least one character between the slashes) is a regex; a
//!   key in single quotes loses its quotes (`'/.../'` is a regex too); anything else is a
//!   literal key, XPath expressions such as `XML:/*` or `XML://@*` included.
//! * The operator is `@name param`, `!@name param` or a bare pattern (implicit `@rx`); the
//!   parameter is everything after the blanks that follow the name, verbatim. Unquoted,
//!   `@name` takes the next word as its parameter (unless it is an operator without one,
//!   like `@detectSQLi`).
//! * Actions: `name` or `name:value`, separated by `,` with optional blanks and line
//!   continuations around them. A value in single quotes loses the quotes and `\'`
//!   becomes `'`; an unquoted value runs to the next `,` minus trailing blanks.
//! * Any other directive becomes `Config { args }`: its whitespace-separated arguments,
//!   each without its double quotes (or the single quotes around a whole word).
//! * Files must be UTF-8, except inside comment lines (see [`parse_bytes`]).

mod actions;
mod directive;
mod directives;
mod grammar;
mod include;
mod operator;
mod text;
mod variables;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use super::ast::{Directive, ParseError};

pub use directives::{canonical_directive, is_known_directive, KNOWN_DIRECTIVES};
pub use include::MAX_INCLUDE_DEPTH;

/// Parses the text of one configuration file. `file` names it in locations and errors.
///
/// `Include` and `IncludeOptional` are not expanded: each comes back as a
/// `DirectiveKind::Config` with its path as the only argument ([`load_file`] expands them).
///
/// # Errors
/// The first problem found, located at its line and column: unknown directive, missing
/// or extra argument, unterminated quote, malformed variable list, operator or action
/// list. Parsing never panics, whatever the input.
pub fn parse_str(text: &str, file: Arc<str>) -> Result<Vec<Directive>, ParseError> {
    directive::parse_text(text, file)
}

/// Like [`parse_str`], for raw file contents. Invalid UTF-8 is accepted only on comment
/// lines (it is replaced there); anywhere else it is an error naming its line and column,
/// because replacing bytes of an operator argument would change what the rule matches
/// (write such bytes as `\xHH` escapes).
///
/// # Errors
/// As [`parse_str`], plus invalid UTF-8 outside comments.
pub fn parse_bytes(bytes: &[u8], file: Arc<str>) -> Result<Vec<Directive>, ParseError> {
    let text = text::decode(bytes, &file)?;
    parse_str(&text, file)
}

/// Reads and parses the file at `path`, expanding `Include PATH` and `IncludeOptional
/// PATH` recursively, in place.
///
/// A relative path is resolved against the directory of the including file. A path with
/// a glob character (`*`, `?`, `[`) includes every matching file, in sorted order;
/// `Include` fails when nothing matches or when a plain path does not exist,
/// `IncludeOptional` then includes nothing. Include cycles and nesting deeper than
/// [`MAX_INCLUDE_DEPTH`] are errors. Errors about an included file are located at the
/// `Include` directive; errors about `path` itself have line and column 0.
///
/// # Errors
/// The first parse error of any file, or a file that cannot be read, a missing `Include`
/// target, an include cycle (the message shows the chain) or nesting too deep.
pub fn load_file(path: &Path) -> Result<Vec<Directive>, ParseError> {
    include::load(path)
}

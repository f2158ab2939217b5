//! Text helpers of the parser: positions (byte offset -> line:column), decoding of files
//! that are not valid UTF-8, and the unquoting rules of SecLang values.

use std::borrow::Cow;
use std::sync::Arc;

use super::super::ast::{ParseError, SourceLoc};

/// Byte offsets of the start of every line of a text, to turn an offset into `line:column`
/// in O(log lines).
pub(super) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(super) fn new(text: &str) -> Self {
        let mut starts = Vec::with_capacity(text.len() / 40 + 1);
        starts.push(0);
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// 1-based line and 1-based byte column of `offset`.
    pub(super) fn line_col(&self, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let col = offset.saturating_sub(start) + 1;
        (to_u32(line), to_u32(col))
    }
}

fn to_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// What the parser needs to build locations and errors for one file.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a Arc<str>,
    pub(super) lines: &'a LineIndex,
}

impl Ctx<'_> {
    pub(super) fn loc(&self, offset: usize) -> SourceLoc {
        let (line, column) = self.lines.line_col(offset);
        SourceLoc::new(self.file.clone(), line, column)
    }

    pub(super) fn err(
        &self,
        offset: usize,
        directive: Option<&str>,
        message: impl Into<String>,
    ) -> ParseError {
        ParseError {
            loc: self.loc(offset),
            directive: directive.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// Decodes the bytes of a configuration file.
///
/// Valid UTF-8 is borrowed as is. Invalid UTF-8 is tolerated only on comment lines (first
/// non-blank character `#`), where it is replaced by U+FFFD: comments are discarded anyway.
/// Anywhere else it is an error naming the line and column of the first bad byte, because
/// a lossy replacement inside an operator argument would silently change what the rule
/// matches (write such bytes as `\xHH` escapes instead).
pub(super) fn decode<'a>(bytes: &'a [u8], file: &Arc<str>) -> Result<Cow<'a, str>, ParseError> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(bytes.len() + 16);
    for (index, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        match std::str::from_utf8(line) {
            Ok(s) => out.push_str(s),
            Err(e) => {
                let first = line
                    .iter()
                    .position(|&b| b != b' ' && b != b'\t' && b != b'\r');
                let is_comment = first.and_then(|i| line.get(i)) == Some(&b'#');
                if !is_comment {
                    let col = e.valid_up_to();
                    let byte = line.get(col).copied().unwrap_or(0);
                    return Err(ParseError {
                        loc: SourceLoc::new(file.clone(), to_u32(index + 1), to_u32(col + 1)),
                        directive: None,
                        message: format!(
                            "invalid UTF-8 (byte 0x{byte:02x}); configuration text must be \
                             UTF-8, write other bytes in patterns as \\xHH escapes"
                        ),
                    });
                }
                out.push_str(&String::from_utf8_lossy(line));
            }
        }
    }
    Ok(Cow::Owned(out))
}

/// Removes the surrounding quotes of a single-quoted value and unescapes `\'`; every other
/// backslash is kept as written (so `\d`, `\\` and `\x22` reach the consumer unchanged).
pub(super) fn unescape_single_quoted(inner: &str) -> String {
    if !inner.contains("\\'") {
        return inner.to_owned();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\'') => out.push('\''),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Removes trailing blanks and line continuations (`\` + newline) from an unquoted value.
pub(super) fn trim_trailing_blank(s: &str) -> &str {
    let mut s = s;
    loop {
        let t = s.trim_end_matches([' ', '\t', '\r']);
        match t.strip_suffix("\\\n").or_else(|| t.strip_suffix("\\\r\n")) {
            Some(rest) => s = rest,
            None => return t,
        }
    }
}

/// Returns true if `s` holds a line continuation (`\` immediately before a newline).
pub(super) fn has_continuation(s: &str) -> bool {
    s.contains("\\\n") || s.contains("\\\r\n")
}

/// Unquotes a top-level word: `'text'` -> `text` (a bare word entirely in single quotes);
/// anything else is returned as written.
pub(super) fn unquote_bare(s: &str) -> &str {
    if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
        s.get(1..s.len() - 1).unwrap_or(s)
    } else {
        s
    }
}

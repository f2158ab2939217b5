//! Comment family: `t:removeComments`, `t:removeCommentsChar`, `t:replaceComments`
//! (libmodsecurity v3 `remove_comments.cc`, `remove_comments_char.cc`,
//! `replace_comments.cc`), quirks included:
//!
//! - `t:removeComments` removes `/* ... */` and `<!-- ... -->`; an unterminated comment
//!   becomes one space. Outside a comment, `--` or `#` ends the value there (everything
//!   from it on is dropped). The byte right after a closing `*/` or `-->` is copied without
//!   being examined, and when the closing marker ends the value that byte is the C string
//!   terminator, so the output ends with a NUL byte (`/* x */` gives `"\0"`).
//! - `t:removeCommentsChar` deletes the markers `/*`, `*/`, `<!--`, `-->`, `--` and `#`,
//!   keeping the text between them.
//! - `t:replaceComments` replaces each `/* ... */` with one space (an unterminated comment
//!   too); a lone `*/` is kept.

use std::borrow::Cow;

use super::util::finish;

#[inline]
fn starts(input: &[u8], i: usize, pat: &[u8]) -> bool {
    input.get(i..i + pat.len()) == Some(pat)
}

/// `t:removeComments`.
pub(super) fn remove_comments(input: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = input
        .iter()
        .position(|&c| matches!(c, b'/' | b'<' | b'-' | b'#'))
    else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    let mut i = first;
    let mut in_comment = false;
    while let Some(&c) = input.get(i) {
        if !in_comment {
            if starts(input, i, b"/*") {
                in_comment = true;
                i += 2;
            } else if starts(input, i, b"<!--") {
                in_comment = true;
                i += 4;
            } else if starts(input, i, b"--") || c == b'#' {
                break;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            let close = if starts(input, i, b"*/") {
                2
            } else if starts(input, i, b"-->") {
                3
            } else {
                0
            };
            if close == 0 {
                i += 1;
            } else {
                in_comment = false;
                i += close;
                // Copied unexamined; past the end it is the NUL terminator.
                out.push(input.get(i).copied().unwrap_or(0));
                i += 1;
            }
        }
    }
    if in_comment {
        out.push(b' ');
    }
    finish(input, out)
}

/// `t:removeCommentsChar`.
pub(super) fn remove_comments_char(input: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = input
        .iter()
        .position(|&c| matches!(c, b'/' | b'*' | b'<' | b'-' | b'#'))
    else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    let mut i = first;
    while let Some(&c) = input.get(i) {
        if starts(input, i, b"/*") || starts(input, i, b"*/") {
            i += 2;
        } else if starts(input, i, b"<!--") {
            i += 4;
        } else if starts(input, i, b"-->") {
            i += 3;
        } else if starts(input, i, b"--") {
            i += 2;
        } else if c == b'#' {
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    finish(input, out)
}

/// `t:replaceComments`.
pub(super) fn replace_comments(input: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr::memmem::find(input, b"/*") else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    let mut i = first;
    let mut in_comment = false;
    while let Some(&c) = input.get(i) {
        if !in_comment {
            if starts(input, i, b"/*") {
                in_comment = true;
                i += 2;
            } else {
                out.push(c);
                i += 1;
            }
        } else if starts(input, i, b"*/") {
            in_comment = false;
            i += 2;
            out.push(b' ');
        } else {
            i += 1;
        }
    }
    if in_comment {
        out.push(b' ');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_comments_quirks() {
        assert_eq!(&*remove_comments(b"Before/* x */After"), b"BeforeAfter");
        assert_eq!(&*remove_comments(b"/* x */"), b"\x00");
        assert_eq!(&*remove_comments(b"a<!-- x -->b"), b"ab");
        assert_eq!(&*remove_comments(b"a<!-- x -->"), b"a\x00");
        assert_eq!(&*remove_comments(b"a /* x"), b"a  ");
        assert_eq!(&*remove_comments(b"select 1 -- x"), b"select 1 ");
        assert_eq!(&*remove_comments(b"select 1 # x"), b"select 1 ");
        assert_eq!(&*remove_comments(b"/*a*/--b"), b"--b");
        assert_eq!(&*remove_comments(b"/*a*//*b*/c"), b"/*b*/c");
        assert_eq!(&*remove_comments(b"a-b/c<d"), b"a-b/c<d");
        assert!(matches!(remove_comments(b"a-b/c<d"), Cow::Borrowed(_)));
    }

    #[test]
    fn remove_comments_char_markers() {
        assert_eq!(&*remove_comments_char(b"/*a*/b<!--c-->d--e#f"), b"abcdef");
        assert_eq!(&*remove_comments_char(b"a*b/c-d"), b"a*b/c-d");
        assert!(matches!(remove_comments_char(b"a*b/c-d"), Cow::Borrowed(_)));
    }

    #[test]
    fn replace_comments_spaces() {
        assert_eq!(&*replace_comments(b"a/*x*/b/*y"), b"a b ");
        assert_eq!(&*replace_comments(b"a*/b"), b"a*/b");
        assert!(matches!(replace_comments(b"a*/b"), Cow::Borrowed(_)));
    }
}

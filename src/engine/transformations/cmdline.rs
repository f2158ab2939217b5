//! `t:cmdLine` (libmodsecurity v3 `cmd_line.cc`), the complete algorithm, byte by byte:
//!
//! - `"` `'` `\` `^` are deleted;
//! - space, `,`, `;`, `\t`, `\r`, `\n` become a single space (a run of them gives one
//!   space, even across deleted bytes: `a ^ b` gives `a b`);
//! - a space right before `/` or `(` is removed (`cmd /c` gives `cmd/c`);
//! - everything else is lowercased (ASCII only). Leading and trailing spaces stay.

use std::borrow::Cow;

#[inline]
fn is_deleted(c: u8) -> bool {
    matches!(c, b'"' | b'\'' | b'\\' | b'^')
}

#[inline]
fn is_spacing(c: u8) -> bool {
    matches!(c, b' ' | b',' | b';' | b'\t' | b'\r' | b'\n')
}

/// First index where the output may differ from the input.
fn first_change(input: &[u8]) -> Option<usize> {
    let mut prev_space = false;
    for (i, &c) in input.iter().enumerate() {
        if is_deleted(c) || c.is_ascii_uppercase() || (is_spacing(c) && (c != b' ' || prev_space)) {
            return Some(i);
        }
        if (c == b'/' || c == b'(') && prev_space {
            return Some(i.saturating_sub(1));
        }
        prev_space = c == b' ';
    }
    None
}

/// `t:cmdLine`.
pub(super) fn cmd_line(input: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = first_change(input) else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    // `space` is true when the last byte written is a space produced by the spacing rule;
    // the prefix is unchanged input, so that holds when it ends with a space.
    let mut space = out.last() == Some(&b' ');
    for &c in input.get(first..).unwrap_or_default() {
        if is_deleted(c) {
            continue;
        }
        if is_spacing(c) {
            if !space {
                out.push(b' ');
                space = true;
            }
            continue;
        }
        if c == b'/' || c == b'(' {
            if space {
                out.pop();
            }
            space = false;
            out.push(c);
            continue;
        }
        out.push(c.to_ascii_lowercase());
        space = false;
    }
    super::util::finish(input, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cl(s: &str) -> String {
        String::from_utf8_lossy(&cmd_line(s.as_bytes())).into_owned()
    }

    #[test]
    fn crs_cases() {
        assert_eq!(cl("c^at /e't'c/pa\\ss\\wd"), "cat/etc/passwd");
        assert_eq!(cl("C^OMMAND /C DIR"), "command/c dir");
        assert_eq!(cl("cmd,/c DiR"), "cmd/c dir");
        assert_eq!(cl("\"command\" /c DiR"), "command/c dir");
        assert_eq!(cl("echo;;  ,id"), "echo id");
        assert_eq!(cl("a ^ b"), "a b");
        assert_eq!(cl("x ( y"), "x( y");
        assert_eq!(cl(" a "), " a ");
        assert_eq!(cl("a\t\r\nb"), "a b");
        assert_eq!(&*cmd_line(b"A\xC4"), b"a\xC4");
    }

    #[test]
    fn unchanged_is_borrowed() {
        for s in ["", "test", "a b", " a ", "a/b", "x(1)", "a  b"] {
            let out = cmd_line(s.as_bytes());
            if s == "a  b" {
                assert_eq!(&*out, b"a b");
            } else {
                assert!(matches!(out, Cow::Borrowed(_)), "{s}");
            }
        }
    }
}

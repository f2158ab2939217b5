//! `t:escapeSeqDecode`: ANSI C escape sequences (libmodsecurity v3 `escape_seq_decode.cc`).
//!
//! `\a \b \f \n \r \t \v \\ \? \' \"`, `\xHH` / `\XHH` (exactly two hex digits) and
//! `\` + 1 to 3 octal digits (the value's low byte: `\666` is 0xB6). Any other `\C` gives
//! `C` (so an invalid `\xZ` gives `x` then `Z`). A trailing `\` is kept.

use std::borrow::Cow;

use super::util::{finish, is_hex, is_odigit, x2c};

/// `t:escapeSeqDecode`.
pub(super) fn escape_seq_decode(input: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr::memchr(b'\\', input) else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    let mut i = first;
    while let Some(&c) = input.get(i) {
        let next = input.get(i + 1).copied();
        let Some(e) = next.filter(|_| c == b'\\') else {
            out.push(c);
            i += 1;
            continue;
        };
        let simple = match e {
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            b'\\' | b'?' | b'\'' | b'"' => Some(e),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            i += 2;
            continue;
        }
        if e == b'x' || e == b'X' {
            if let Some(&[h, l]) = input.get(i + 2..i + 4) {
                if is_hex(h) && is_hex(l) {
                    out.push(x2c(h, l));
                    i += 4;
                    continue;
                }
            }
        } else if is_odigit(e) {
            let mut n = 1;
            while n < 3 && input.get(i + 1 + n).copied().is_some_and(is_odigit) {
                n += 1;
            }
            let mut v: u32 = 0;
            for k in 1..=n {
                v = v * 8 + u32::from(input.get(i + k).copied().unwrap_or(b'0') - b'0');
            }
            out.push(v as u8);
            i += 1 + n;
            continue;
        }
        // Unrecognised: the byte after the backslash.
        out.push(e);
        i += 2;
    }
    finish(input, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            &*escape_seq_decode(b"\\a\\b\\f\\n\\r\\t\\v\\\\\\?\\'\\\""),
            b"\x07\x08\x0c\n\r\t\x0b\\?'\""
        );
        assert_eq!(&*escape_seq_decode(b"\\x41\\X4a\\xag\\x4"), b"AJxagx4");
        assert_eq!(
            &*escape_seq_decode(b"\\8\\9\\666\\0123\\0"),
            b"89\xb6\n3\x00"
        );
        assert_eq!(&*escape_seq_decode(b"\\u0041"), b"u0041");
        assert_eq!(&*escape_seq_decode(b"abc\\"), b"abc\\");
        assert!(matches!(escape_seq_decode(b"abc\\"), Cow::Borrowed(_)));
        assert!(matches!(escape_seq_decode(b"abc"), Cow::Borrowed(_)));
    }
}

//! `t:jsDecode` and `t:cssDecode` (libmodsecurity v3 `js_decode.cc`, `css_decode.cc`).
//!
//! jsDecode:
//! - `\uHHHH` (lowercase `u`, four hex digits): the low byte, plus 0x20 when the high byte
//!   is `FF` and the low byte is 0x01..=0x5E (full-width ASCII `\uFF01`..`\uFF5E`).
//! - `\xHH` (lowercase `x`): that byte.
//! - `\` + 1 to 3 octal digits: that byte; a third digit is used only when the first is
//!   0..=3 (`\666` is `\66` then `6`).
//! - `\a \b \f \n \r \t \v`: the control character; `\` + any other byte: that byte.
//! - A trailing `\` is kept.
//!
//! cssDecode:
//! - `\` + 1 to 6 hex digits: with 1 digit its value, otherwise the last two digits as a
//!   byte; for 4 digits, and for 5/6 digits when the extra leading digits are all `0`, the
//!   full-width ASCII rule applies (`FFxx` with xx in 01..=5E gives xx + 0x20). One
//!   whitespace byte after the escape is swallowed.
//! - `\` + newline: both removed. `\` + other byte: that byte. A trailing `\` is removed.

use std::borrow::Cow;

use super::util::{finish, is_c_space, is_hex, is_odigit, x2c, xsingle2c};

#[inline]
fn is_f(c: u8) -> bool {
    c == b'f' || c == b'F'
}

/// Full-width ASCII adjustment shared by the `\uHHHH` decoders.
#[inline]
fn full_width(low: u8, h1: u8, h2: u8) -> u8 {
    if low > 0 && low < 0x5f && is_f(h1) && is_f(h2) {
        low + 0x20
    } else {
        low
    }
}

/// `t:jsDecode`.
pub(super) fn js_decode(input: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr::memchr(b'\\', input) else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    let mut i = first;
    while let Some(&c) = input.get(i) {
        if c != b'\\' {
            let next = memchr::memchr(b'\\', input.get(i..).unwrap_or_default())
                .map_or(input.len(), |n| i + n);
            out.extend_from_slice(input.get(i..next).unwrap_or_default());
            i = next;
            continue;
        }
        let at = |k: usize| input.get(i + k).copied();
        match (at(1), at(2), at(3), at(4), at(5)) {
            (Some(b'u'), Some(a), Some(b), Some(c2), Some(d))
                if is_hex(a) && is_hex(b) && is_hex(c2) && is_hex(d) =>
            {
                out.push(full_width(x2c(c2, d), a, b));
                i += 6;
            }
            (Some(b'x'), Some(a), Some(b), _, _) if is_hex(a) && is_hex(b) => {
                out.push(x2c(a, b));
                i += 4;
            }
            (Some(o), ..) if is_odigit(o) => {
                // Up to three octal digits; the third only if the value stays in a byte.
                let mut n = 1;
                while n < 3 && at(1 + n).is_some_and(is_odigit) {
                    n += 1;
                }
                if n == 3 && o > b'3' {
                    n = 2;
                }
                let mut v: u32 = 0;
                for k in 1..=n {
                    v = v * 8 + u32::from(at(k).unwrap_or(b'0') - b'0');
                }
                out.push(v as u8);
                i += 1 + n;
            }
            (Some(e), ..) => {
                out.push(match e {
                    b'a' => 0x07,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'v' => 0x0b,
                    other => other,
                });
                i += 2;
            }
            (None, ..) => {
                out.push(b'\\');
                i += 1;
            }
        }
    }
    finish(input, out)
}

/// `t:cssDecode`.
pub(super) fn css_decode(input: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr::memchr(b'\\', input) else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    let mut i = first;
    while let Some(&c) = input.get(i) {
        if c != b'\\' {
            let next = memchr::memchr(b'\\', input.get(i..).unwrap_or_default())
                .map_or(input.len(), |n| i + n);
            out.extend_from_slice(input.get(i..next).unwrap_or_default());
            i = next;
            continue;
        }
        i += 1; // the backslash is never kept
        let Some(&e) = input.get(i) else {
            break; // "continuation to nothing"
        };
        let rest = input.get(i..).unwrap_or_default();
        let j = rest.iter().take(6).take_while(|&&h| is_hex(h)).count();
        if j > 0 {
            let h = |k: usize| rest.get(k).copied().unwrap_or(0);
            let last_two = if j >= 2 { x2c(h(j - 2), h(j - 1)) } else { 0 };
            let full_check = match j {
                4 => true,
                5 => h(0) == b'0',
                6 => h(0) == b'0' && h(1) == b'0',
                _ => false,
            };
            out.push(match j {
                1 => xsingle2c(h(0)),
                _ if full_check => full_width(last_two, h(j - 4), h(j - 3)),
                _ => last_two,
            });
            let mut consumed = j;
            if rest.get(j).is_some_and(|&s| is_c_space(s)) {
                consumed += 1;
            }
            i += consumed;
        } else if e == b'\n' {
            i += 1;
        } else {
            out.push(e);
            i += 1;
        }
    }
    finish(input, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_crs_cases() {
        assert_eq!(&*js_decode(b"\\x3c\\u003c"), b"<<");
        assert_eq!(&*js_decode(b"\\uff1cscript\\uFF1E"), b"<script>");
        assert_eq!(&*js_decode(b"\\u0127\\uff00\\uff5f"), b"\x27\x00\x5f");
        assert_eq!(&*js_decode(b"\\U0041\\X41"), b"U0041X41");
    }

    #[test]
    fn js_escapes() {
        assert_eq!(
            &*js_decode(b"\\a\\b\\f\\n\\r\\t\\v\\?\\'\\\"\\\\"),
            b"\x07\x08\x0c\n\r\t\x0b?'\"\\"
        );
        assert_eq!(&*js_decode(b"\\0\\12\\123\\1234\\666\\8"), b"\x00\nSS4668");
        assert_eq!(&*js_decode(b"\\x\\x4\\u12"), b"xx4u12");
        assert_eq!(&*js_decode(b"abc\\"), b"abc\\");
        assert!(matches!(js_decode(b"abc\\"), Cow::Borrowed(_)));
        assert!(matches!(js_decode(b"abc"), Cow::Borrowed(_)));
    }

    #[test]
    fn css_cases() {
        assert_eq!(&*css_decode(b"\\3c script\\3e"), b"<script>");
        assert_eq!(
            &*css_decode(b"\\1A\\1 A\\1234567\\123456 7\\1x\\1 x"),
            b"\x1a\x01AV7V7\x01x\x01x"
        );
        assert_eq!(&*css_decode(b"\\ff01\\0ff5e\\00ff3c\\10ff3c"), b"!~\\<");
        assert_eq!(&*css_decode(b"a\\\nb\\\"c\\"), b"ab\"c");
        assert_eq!(&*css_decode(b"\\41\t\\42  "), b"AB ");
        assert!(matches!(css_decode(b"abc"), Cow::Borrowed(_)));
    }
}

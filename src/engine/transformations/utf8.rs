//! `t:utf8toUnicode` (libmodsecurity v3 `utf8_to_unicode.cc`).
//!
//! Every valid 2-, 3- or 4-byte UTF-8 sequence becomes `%u` followed by the code point in
//! lowercase hex, zero-padded to at least 4 digits (`é` gives `%u00e9`, U+1F600 gives
//! `%u1f600`). ASCII is copied. Quirks kept from the C code:
//! - a lead byte 0xC0..=0xF4 whose continuation bytes are missing or invalid is dropped
//!   (the following bytes are then examined on their own);
//! - stray continuation bytes (0x80..=0xBF) and 0xF8..=0xFF are copied;
//! - lead bytes 0xF5..=0xF7 are copied and, if followed by three continuation bytes,
//!   also decoded;
//! - overlong forms and surrogates (U+D800..U+DFFF) are decoded and the lead byte is
//!   appended after the `%u` form;
//! - a NUL byte is dropped, except as the very last byte.

use std::borrow::Cow;

use super::util::HEX_LOWER;

#[inline]
fn is_cont(b: Option<&u8>) -> bool {
    b.is_some_and(|&c| c & 0xc0 == 0x80)
}

fn push_code_point(out: &mut Vec<u8>, d: u32) {
    out.extend_from_slice(b"%u");
    let mut digits = [0u8; 8];
    let mut n = 0;
    let mut v = d;
    loop {
        if let Some(slot) = digits.get_mut(n) {
            *slot = HEX_LOWER[(v & 0xf) as usize];
        }
        n += 1;
        v >>= 4;
        if v == 0 || n == digits.len() {
            break;
        }
    }
    for _ in n..4 {
        out.push(b'0');
    }
    for k in (0..n).rev() {
        out.push(digits.get(k).copied().unwrap_or(b'0'));
    }
}

/// `t:utf8toUnicode`.
pub(super) fn utf8_to_unicode(input: &[u8]) -> Cow<'_, [u8]> {
    let last = input.len().saturating_sub(1);
    let Some(first) = input
        .iter()
        .enumerate()
        .position(|(i, &c)| c >= 0x80 || (c == 0 && i != last))
    else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    out.reserve(input.len() * 3);
    let len = input.len();
    let mut i = first;
    while let Some(&c) = input.get(i) {
        let next = |k: usize| input.get(i + k);
        // (sequence length, code point) for a valid sequence, or the number of bytes
        // consumed without output.
        let mut decoded: Option<(usize, u32)> = None;
        if c & 0x80 == 0 {
            if c != 0 || i + 1 >= len {
                out.push(c);
            }
        } else if c & 0xe0 == 0xc0 {
            if len >= 2 && is_cont(next(1)) {
                let d =
                    (u32::from(c & 0x1f) << 6) | u32::from(next(1).copied().unwrap_or(0) & 0x3f);
                decoded = Some((2, d));
            }
        } else if c & 0xf0 == 0xe0 {
            if len >= 3 && is_cont(next(1)) && is_cont(next(2)) {
                let d = (u32::from(c & 0x0f) << 12)
                    | (u32::from(next(1).copied().unwrap_or(0) & 0x3f) << 6)
                    | u32::from(next(2).copied().unwrap_or(0) & 0x3f);
                decoded = Some((3, d));
            }
        } else if c & 0xf8 == 0xf0 {
            if c >= 0xf5 {
                out.push(c);
            }
            if len >= 4 && is_cont(next(1)) && is_cont(next(2)) && is_cont(next(3)) {
                let d = (u32::from(c & 0x07) << 18)
                    | (u32::from(next(1).copied().unwrap_or(0) & 0x3f) << 12)
                    | (u32::from(next(2).copied().unwrap_or(0) & 0x3f) << 6)
                    | u32::from(next(3).copied().unwrap_or(0) & 0x3f);
                decoded = Some((4, d));
            }
        } else {
            out.push(c);
        }
        match decoded {
            Some((n, d)) => {
                push_code_point(&mut out, d);
                if (0xd800..=0xdfff).contains(&d) {
                    out.push(c);
                }
                let overlong = match n {
                    4 => d < 0x1_0000,
                    3 => d < 0x800,
                    _ => d < 0x80,
                };
                if overlong {
                    out.push(c);
                }
                i += n;
            }
            None => i += 1,
        }
    }
    super::util::finish(input, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(b: &[u8]) -> Vec<u8> {
        utf8_to_unicode(b).into_owned()
    }

    #[test]
    fn valid_sequences() {
        assert_eq!(u("é".as_bytes()), b"%u00e9");
        assert_eq!(u("aĀb".as_bytes()), b"a%u0100b");
        assert_eq!(u("€".as_bytes()), b"%u20ac");
        assert_eq!(u("😀".as_bytes()), b"%u1f600");
        assert!(matches!(utf8_to_unicode(b"plain ascii"), Cow::Borrowed(_)));
    }

    #[test]
    fn quirks() {
        // Truncated / invalid sequences: the lead byte is dropped.
        assert_eq!(u(b"a\xc3"), b"a");
        assert_eq!(u(b"\xc3("), b"(");
        assert_eq!(u(b"\xe2\x82("), b"\x82(");
        // Stray continuation and 0xF8..=0xFF bytes are copied.
        assert_eq!(u(b"\x80\xff"), b"\x80\xff");
        // Overlong and surrogate forms also append the lead byte.
        assert_eq!(u(b"\xc0\xaf"), b"%u002f\xc0");
        assert_eq!(u(b"\xed\xa0\x80"), b"%ud800\xed");
        // 0xF5..=0xF7 lead bytes are copied, then decoded if well-formed.
        assert_eq!(u(b"\xf5\x80\x80\x80"), b"\xf5%u140000");
        // NUL dropped unless last.
        assert_eq!(u(b"a\x00b\x00"), b"ab\x00");
    }
}

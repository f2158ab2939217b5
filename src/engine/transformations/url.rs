//! URL family: `t:urlDecode`, `t:urlDecodeUni`, `t:urlEncode`.
//!
//! - `t:urlDecode` (`urldecode_nonstrict_inplace`): `+` becomes a space, `%HH` is decoded
//!   when both digits are hex; an invalid or truncated `%` is kept as is.
//! - `t:urlDecodeUni` additionally decodes IIS `%uHHHH` (`u` or `U`): without a unicode map
//!   the low byte is kept, plus 0x20 for full-width ASCII (`%uFF01`..`%uFF5E` become `!`..`~`;
//!   `%uFF00` gives 0x00). With a map ([`url_decode_uni_with_map`]) a code point present in
//!   the map gives its mapped byte instead. An invalid or truncated `%u` copies `%u` and
//!   continues after it.
//! - `t:urlEncode`: `*`, digits and ASCII letters are kept, space becomes `+`, every other
//!   byte `%hh` (lowercase hex).

use std::borrow::Cow;

use super::unicode_map::UnicodeMap;
use super::util::{finish, hex_val, is_hex, x2c, HEX_LOWER};

/// `t:urlDecode`.
pub(super) fn url_decode(input: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr::memchr2(b'%', b'+', input) else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    let mut i = first;
    while let Some(&c) = input.get(i) {
        match c {
            b'%' => match input.get(i + 1..i + 3) {
                Some([h, l]) if is_hex(*h) && is_hex(*l) => {
                    out.push(x2c(*h, *l));
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    finish(input, out)
}

/// `t:urlDecodeUni` without a unicode map.
pub(super) fn url_decode_uni(input: &[u8]) -> Cow<'_, [u8]> {
    decode_uni(input, None)
}

/// `t:urlDecodeUni` when `SecUnicodeMapFile` is configured: `%uHHHH` whose code point is in
/// `map` decodes to the mapped byte; others fall back to the default behaviour. A map
/// loaded with code page 0 is ignored, as in libmodsecurity.
pub fn url_decode_uni_with_map<'a>(input: &'a [u8], map: &UnicodeMap) -> Cow<'a, [u8]> {
    decode_uni(input, map.active().then_some(map))
}

fn decode_uni<'a>(input: &'a [u8], map: Option<&UnicodeMap>) -> Cow<'a, [u8]> {
    let Some(first) = memchr::memchr2(b'%', b'+', input) else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    let mut i = first;
    while let Some(&c) = input.get(i) {
        if c == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        if c != b'%' {
            out.push(c);
            i += 1;
            continue;
        }
        match input.get(i + 1) {
            Some(b'u' | b'U') => match input.get(i + 2..i + 6) {
                Some(&[a, b, c2, d]) if is_hex(a) && is_hex(b) && is_hex(c2) && is_hex(d) => {
                    let code = hex_val(a) << 12 | hex_val(b) << 8 | hex_val(c2) << 4 | hex_val(d);
                    let mapped = map.and_then(|m| m.get(code));
                    out.push(match mapped {
                        Some(byte) => byte,
                        None => {
                            let low = x2c(c2, d);
                            if low > 0
                                && low < 0x5f
                                && matches!(a, b'f' | b'F')
                                && matches!(b, b'f' | b'F')
                            {
                                low + 0x20
                            } else {
                                low
                            }
                        }
                    });
                    i += 6;
                }
                _ => {
                    // Invalid or too short: copy "%u" and go on after it.
                    out.extend_from_slice(input.get(i..i + 2).unwrap_or_default());
                    i += 2;
                }
            },
            _ => match input.get(i + 1..i + 3) {
                Some([h, l]) if is_hex(*h) && is_hex(*l) => {
                    out.push(x2c(*h, *l));
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
        }
    }
    finish(input, out)
}

#[inline]
fn url_safe(c: u8) -> bool {
    c == b'*' || c.is_ascii_alphanumeric()
}

/// `t:urlEncode`.
pub(super) fn url_encode(input: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = input.iter().position(|&c| !url_safe(c)) else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    out.reserve(input.len());
    for &c in input.get(first..).unwrap_or_default() {
        if c == b' ' {
            out.push(b'+');
        } else if url_safe(c) {
            out.push(c);
        } else {
            out.push(b'%');
            out.push(HEX_LOWER[(c >> 4) as usize]);
            out.push(HEX_LOWER[(c & 0x0f) as usize]);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_decode_cases() {
        assert_eq!(&*url_decode(b"a+b%20c%41"), b"a b cA");
        assert_eq!(&*url_decode(b"%zz%4%"), b"%zz%4%");
        assert!(matches!(url_decode(b"%zz%4%"), Cow::Borrowed(_)));
        assert!(matches!(url_decode(b"abc"), Cow::Borrowed(_)));
        assert_eq!(&*url_decode(b"%2527"), b"%27");
        assert_eq!(&*url_decode(b"%u0027"), b"%u0027");
    }

    #[test]
    fn url_decode_uni_crs_cases() {
        // %u0027 -> low byte 0x27.
        assert_eq!(&*url_decode_uni(b"%u0027"), b"'");
        assert_eq!(&*url_decode_uni(b"%U0027"), b"'");
        // Double encoding is decoded once.
        assert_eq!(&*url_decode_uni(b"%2527"), b"%27");
        // Invalid %zz kept, trailing % kept.
        assert_eq!(&*url_decode_uni(b"a%zzb"), b"a%zzb");
        assert!(matches!(url_decode_uni(b"a%zzb"), Cow::Borrowed(_)));
        assert_eq!(&*url_decode_uni(b"ab%"), b"ab%");
        assert_eq!(&*url_decode_uni(b"%4"), b"%4");
        // Full-width ASCII.
        assert_eq!(&*url_decode_uni(b"%uFF1Cscript%uff1e"), b"<script>");
        assert_eq!(&*url_decode_uni(b"%uff00%uff5f%uff7f"), b"\x00\x5f\x7f");
        // Other code points keep their low byte.
        assert_eq!(&*url_decode_uni(b"%u2215%u1100"), b"\x15\x00");
        // Invalid %u: "%u" copied, scanning continues after it.
        assert_eq!(&*url_decode_uni(b"%u00%41"), b"%u00A");
        assert_eq!(&*url_decode_uni(b"%u%41"), b"%uA");
        assert_eq!(&*url_decode_uni(b"%u004"), b"%u004");
        assert_eq!(&*url_decode_uni(b"+"), b" ");
    }

    #[test]
    fn url_encode_cases() {
        assert_eq!(&*url_encode(b"a b*-_.~/\xff"), b"a+b*%2d%5f%2e%7e%2f%ff");
        assert!(matches!(url_encode(b"aZ09*"), Cow::Borrowed(_)));
    }
}

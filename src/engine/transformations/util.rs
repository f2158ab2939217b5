//! Byte helpers shared by the transformation families, with the exact semantics of
//! libmodsecurity's `src/utils/string.h` (`VALID_HEX`, `ISODIGIT`, `x2c`, `xsingle2c`,
//! `c2x`) and of the C library's `isspace` in the "C" locale.

use std::borrow::Cow;

/// `VALID_HEX(X)`: ASCII hexadecimal digit.
#[inline]
pub(super) fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

/// `ISODIGIT(X)`: ASCII octal digit.
#[inline]
pub(super) fn is_odigit(c: u8) -> bool {
    (b'0'..=b'7').contains(&c)
}

/// `isspace()` in the "C" locale: space, `\t`, `\n`, `\v`, `\f`, `\r`.
#[inline]
pub(super) fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `xsingle2c()`: value of one hex digit. Like ModSecurity it does not validate its input;
/// other bytes give the same (wrapped) value the C code computes.
#[inline]
pub(super) fn xsingle2c(c: u8) -> u8 {
    if c >= b'A' {
        ((c & 0xdf) as i32 - b'A' as i32 + 10) as u8
    } else {
        (c as i32 - b'0' as i32) as u8
    }
}

/// `x2c()`: the byte written as two hex digits (unvalidated, wrapping like the C code).
#[inline]
pub(super) fn x2c(hi: u8, lo: u8) -> u8 {
    xsingle2c(hi).wrapping_mul(16).wrapping_add(xsingle2c(lo))
}

/// Lowercase hex digits, as `c2x()` writes them.
pub(super) const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Value of an ASCII hex digit (callers validate first).
#[inline]
pub(super) fn hex_val(c: u8) -> u32 {
    match c {
        b'0'..=b'9' => (c - b'0') as u32,
        b'a'..=b'f' => (c - b'a' + 10) as u32,
        b'A'..=b'F' => (c - b'A' + 10) as u32,
        _ => 0,
    }
}

/// Wraps a freshly built value: `Borrowed(input)` when it equals the input (so callers
/// never see an allocation for an unchanged value), `Owned(out)` otherwise.
#[inline]
pub(super) fn finish(input: &[u8], out: Vec<u8>) -> Cow<'_, [u8]> {
    if out.as_slice() == input {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(out)
    }
}

/// A new output buffer holding `input[..upto]` (the part known to be unchanged), with room
/// for the rest.
#[inline]
pub(super) fn prefix(input: &[u8], upto: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(input.get(..upto).unwrap_or(input));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x2c_matches_modsecurity_including_invalid_digits() {
        assert_eq!(x2c(b'4', b'1'), 0x41);
        assert_eq!(x2c(b'f', b'F'), 0xff);
        // hexDecode vector "0z" -> '#': 'z' & 0xdf = 'Z' -> 25 + 10 = 35.
        assert_eq!(x2c(b'0', b'z'), b'#');
        assert_eq!(xsingle2c(b' '), 0xf0);
    }

    #[test]
    fn c_space_set() {
        for c in 0u8..=255 {
            let expected = matches!(c, 9..=13 | 32);
            assert_eq!(is_c_space(c), expected, "{c}");
        }
    }
}

//! Hex family: `t:hexDecode`, `t:hexEncode`, `t:sqlHexDecode`.

use std::borrow::Cow;

use super::util::{finish, is_hex, x2c, HEX_LOWER};

/// `t:hexDecode`: every pair of bytes becomes one byte via `x2c()`, without validating the
/// digits (as libmodsecurity does: `"0z"` gives `'#'`); an odd trailing byte is dropped.
pub(super) fn hex_decode(input: &[u8]) -> Cow<'_, [u8]> {
    let out: Vec<u8> = input
        .chunks_exact(2)
        .map(|p| match p {
            [hi, lo] => x2c(*hi, *lo),
            _ => 0,
        })
        .collect();
    finish(input, out)
}

/// `t:hexEncode`: lowercase hex of every byte.
pub(super) fn hex_encode(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(input.len() * 2);
    for &b in input {
        out.push(HEX_LOWER[(b >> 4) as usize]);
        out.push(HEX_LOWER[(b & 0x0f) as usize]);
    }
    finish(input, out)
}

/// Start of a `0x` literal at `i`: `0`, `x`/`X`, then at least one hex pair.
#[inline]
fn hex_literal_at(input: &[u8], i: usize) -> bool {
    matches!(
        input.get(i..i + 4),
        Some([b'0', b'x' | b'X', h1, h2]) if is_hex(*h1) && is_hex(*h2)
    )
}

/// `t:sqlHexDecode`: decodes SQL hex literals `0xHHHH...` in place (the `0x` is dropped and
/// every following complete hex pair decoded; an odd trailing digit is kept as is). Other
/// bytes are copied.
pub(super) fn sql_hex_decode(input: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = (0..input.len()).find(|&i| hex_literal_at(input, i)) else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    let mut i = first;
    while let Some(&b) = input.get(i) {
        if hex_literal_at(input, i) {
            i += 2;
            while let Some([hi, lo]) = input.get(i..i + 2) {
                if !(is_hex(*hi) && is_hex(*lo)) {
                    break;
                }
                out.push(x2c(*hi, *lo));
                i += 2;
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decode_cases() {
        assert_eq!(&*hex_decode(b"5465737443617365"), b"TestCase");
        assert_eq!(
            &*hex_decode(b"01234567890a0z"),
            b"\x01\x23\x45\x67\x89\x0a#"
        );
        assert_eq!(&*hex_decode(b"414"), b"A");
        assert_eq!(&*hex_decode(b"a"), b"");
        assert!(matches!(hex_decode(b""), Cow::Borrowed(_)));
    }

    #[test]
    fn hex_encode_lowercase() {
        assert_eq!(&*hex_encode(b"\x00\xffA"), b"00ff41");
    }

    #[test]
    fn sql_hex() {
        assert_eq!(&*sql_hex_decode(b"0x414243"), b"ABC");
        assert_eq!(&*sql_hex_decode(b"a 0X4142 b"), b"a AB b");
        assert_eq!(&*sql_hex_decode(b"0x41424"), b"AB4");
        assert_eq!(&*sql_hex_decode(b"0x4g 0x"), b"0x4g 0x");
        assert_eq!(&*sql_hex_decode(b"00x41"), b"0A");
        assert!(matches!(sql_hex_decode(b"0x4"), Cow::Borrowed(_)));
    }
}

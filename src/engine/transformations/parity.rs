//! `t:parityEven7bit`, `t:parityOdd7bit`, `t:parityZero7bit`.
//!
//! As in libmodsecurity, the parity is computed over all 8 bits of the input byte
//! (`x ^= x >> 4; x &= 0xf; (0x6996 >> x) & 1`), then bit 7 is set or cleared.

use std::borrow::Cow;

/// Odd number of set bits in the byte (all 8 bits).
#[inline]
fn odd_parity(x: u8) -> bool {
    let n = (x ^ (x >> 4)) & 0x0f;
    (0x6996u16 >> n) & 1 == 1
}

fn map_bytes(input: &[u8], f: impl Fn(u8) -> u8) -> Cow<'_, [u8]> {
    match input.iter().position(|&b| f(b) != b) {
        None => Cow::Borrowed(input),
        Some(first) => {
            let mut out = input.to_vec();
            if let Some(rest) = out.get_mut(first..) {
                for b in rest {
                    *b = f(*b);
                }
            }
            Cow::Owned(out)
        }
    }
}

/// `t:parityEven7bit`: bit 7 set when the byte has odd parity, cleared otherwise.
pub(super) fn parity_even_7bit(input: &[u8]) -> Cow<'_, [u8]> {
    map_bytes(input, |x| if odd_parity(x) { x | 0x80 } else { x & 0x7f })
}

/// `t:parityOdd7bit`: bit 7 cleared when the byte has odd parity, set otherwise.
pub(super) fn parity_odd_7bit(input: &[u8]) -> Cow<'_, [u8]> {
    map_bytes(input, |x| if odd_parity(x) { x & 0x7f } else { x | 0x80 })
}

/// `t:parityZero7bit`: bit 7 cleared.
pub(super) fn parity_zero_7bit(input: &[u8]) -> Cow<'_, [u8]> {
    map_bytes(input, |x| x & 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity() {
        // 'a' = 0x61 has 3 bits set (odd); 'c' = 0x63 has 4 (even).
        assert_eq!(&*parity_even_7bit(b"ac"), b"\xe1c");
        assert_eq!(&*parity_odd_7bit(b"ac"), b"a\xe3");
        // Bit 7 counts in the parity: 0xe1 has 4 bits set -> even -> cleared.
        assert_eq!(&*parity_even_7bit(b"\xe1"), b"\x61");
        assert_eq!(&*parity_zero_7bit(b"\xff\x80a"), b"\x7f\x00a");
        assert!(matches!(parity_zero_7bit(b"abc"), Cow::Borrowed(_)));
    }
}

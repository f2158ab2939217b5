//! `t:none` (identity) and `t:length` (decimal byte length of the value).

use std::borrow::Cow;

/// `t:none`: identity. The engine resets the chain on `t:none`; this exists so the name is
/// known and harmless if called.
pub(super) fn none(input: &[u8]) -> Cow<'_, [u8]> {
    Cow::Borrowed(input)
}

/// `t:length`: the length of the value in bytes, as decimal digits.
pub(super) fn length(input: &[u8]) -> Cow<'_, [u8]> {
    let out = input.len().to_string().into_bytes();
    super::util::finish(input, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_counts_bytes() {
        assert_eq!(&*length(b""), b"0");
        assert_eq!(&*length("é\x00".as_bytes()), b"3");
        // A one-byte "1" has length "1": unchanged, so borrowed.
        assert!(matches!(length(b"1"), Cow::Borrowed(_)));
    }
}

//! `t:removeNulls` (drop every NUL byte) and `t:replaceNulls` (NUL -> space).

use std::borrow::Cow;

/// `t:removeNulls`.
pub(super) fn remove_nulls(input: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(0, input).is_none() {
        return Cow::Borrowed(input);
    }
    Cow::Owned(input.iter().copied().filter(|&b| b != 0).collect())
}

/// `t:replaceNulls`.
pub(super) fn replace_nulls(input: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(0, input).is_none() {
        return Cow::Borrowed(input);
    }
    Cow::Owned(
        input
            .iter()
            .map(|&b| if b == 0 { b' ' } else { b })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls() {
        assert_eq!(&*remove_nulls(b"\x00a\x00\x00b\x00"), b"ab");
        assert_eq!(&*replace_nulls(b"\x00a\x00b"), b" a b");
        assert!(matches!(remove_nulls(b"ab\x01"), Cow::Borrowed(_)));
        assert!(matches!(replace_nulls(b"ab"), Cow::Borrowed(_)));
    }
}

//! `t:lowercase`, `t:uppercase`: ASCII case mapping byte by byte (`std::tolower` /
//! `std::toupper` in the "C" locale); other bytes are left alone.

use std::borrow::Cow;

/// `t:lowercase`.
pub(super) fn lowercase(input: &[u8]) -> Cow<'_, [u8]> {
    match input.iter().position(u8::is_ascii_uppercase) {
        None => Cow::Borrowed(input),
        Some(first) => {
            let mut out = input.to_vec();
            if let Some(rest) = out.get_mut(first..) {
                rest.make_ascii_lowercase();
            }
            Cow::Owned(out)
        }
    }
}

/// `t:uppercase`.
pub(super) fn uppercase(input: &[u8]) -> Cow<'_, [u8]> {
    match input.iter().position(u8::is_ascii_lowercase) {
        None => Cow::Borrowed(input),
        Some(first) => {
            let mut out = input.to_vec();
            if let Some(rest) = out.get_mut(first..) {
                rest.make_ascii_uppercase();
            }
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_only() {
        assert_eq!(&*lowercase(b"TeSt\x00\xC4\xD0Z"), b"test\x00\xC4\xD0z");
        assert_eq!(&*uppercase(b"teSt\x00\xe4z"), b"TEST\x00\xe4Z");
        assert!(matches!(lowercase(b"abc\xC4"), Cow::Borrowed(_)));
        assert!(matches!(uppercase(b"ABC\xe4"), Cow::Borrowed(_)));
    }
}

//! Whitespace family: `t:compressWhitespace`, `t:removeWhitespace`, `t:trim`,
//! `t:trimLeft`, `t:trimRight`.
//!
//! "Whitespace" is `isspace()` in the "C" locale (space, `\t`, `\n`, `\v`, `\f`, `\r`).
//! Only `t:removeWhitespace` also removes the bytes 0xA0 (NBSP) and 0xC2 (the lead byte of
//! UTF-8 NBSP `C2 A0`), exactly as libmodsecurity v3 does; note that this also drops 0xC2
//! when it leads another UTF-8 character. `t:compressWhitespace` does not treat 0xA0 as
//! whitespace in v3 (v2 did).

use std::borrow::Cow;

use super::util::is_c_space;

/// `t:compressWhitespace`: every run of whitespace becomes one space.
pub(super) fn compress_whitespace(input: &[u8]) -> Cow<'_, [u8]> {
    // First position where the output departs from the input: a whitespace byte that is
    // not a space, or one that follows another whitespace byte.
    let mut prev_space = false;
    let mut first = None;
    for (i, &b) in input.iter().enumerate() {
        if is_c_space(b) {
            if b != b' ' || prev_space {
                first = Some(i);
                break;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
    }
    let Some(first) = first else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    let mut in_space = prev_space;
    for &b in input.get(first..).unwrap_or_default() {
        if is_c_space(b) {
            if !in_space {
                out.push(b' ');
                in_space = true;
            }
        } else {
            out.push(b);
            in_space = false;
        }
    }
    Cow::Owned(out)
}

#[inline]
fn removable(b: u8) -> bool {
    is_c_space(b) || b == 0xa0 || b == 0xc2
}

/// `t:removeWhitespace`: drops whitespace, 0xA0 and 0xC2 bytes.
pub(super) fn remove_whitespace(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.iter().any(|&b| removable(b)) {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    out.extend(input.iter().copied().filter(|&b| !removable(b)));
    Cow::Owned(out)
}

fn left_index(input: &[u8]) -> usize {
    input
        .iter()
        .position(|&b| !is_c_space(b))
        .unwrap_or(input.len())
}

fn right_index(input: &[u8]) -> usize {
    input
        .iter()
        .rposition(|&b| !is_c_space(b))
        .map_or(0, |i| i + 1)
}

/// `t:trimLeft`: removes leading whitespace (borrows a sub-slice, never allocates).
pub(super) fn trim_left(input: &[u8]) -> Cow<'_, [u8]> {
    Cow::Borrowed(input.get(left_index(input)..).unwrap_or_default())
}

/// `t:trimRight`: removes trailing whitespace.
pub(super) fn trim_right(input: &[u8]) -> Cow<'_, [u8]> {
    Cow::Borrowed(input.get(..right_index(input)).unwrap_or_default())
}

/// `t:trim`: both ends.
pub(super) fn trim(input: &[u8]) -> Cow<'_, [u8]> {
    let right = right_index(input);
    let left = left_index(input).min(right);
    Cow::Borrowed(input.get(left..right).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compress() {
        assert_eq!(&*compress_whitespace(b"  a \t\x0b b\r\n"), b" a b ");
        assert_eq!(&*compress_whitespace(b"a\tb"), b"a b");
        assert_eq!(&*compress_whitespace(b"a \xa0 b"), b"a \xa0 b");
        assert!(matches!(compress_whitespace(b" a b "), Cow::Borrowed(_)));
    }

    #[test]
    fn remove() {
        assert_eq!(
            &*remove_whitespace(b" a\tb\xa0c\xc2\xa0d\x0b\x00"),
            b"abcd\x00"
        );
        // 0xC2 goes even when it leads another character (v3 behaviour).
        assert_eq!(&*remove_whitespace(b"\xc3\xa9\xc2\xb0"), b"\xc3\xa9\xb0");
        assert!(matches!(remove_whitespace(b"abc"), Cow::Borrowed(_)));
    }

    #[test]
    fn trims() {
        assert_eq!(&*trim(b" \t\r\n a b \x0b\x0c"), b"a b");
        assert_eq!(&*trim(b"   "), b"");
        assert_eq!(&*trim_left(b"  a  "), b"a  ");
        assert_eq!(&*trim_right(b"  a  "), b"  a");
        assert_eq!(&*trim(b"\xa0a\xa0"), b"\xa0a\xa0");
        assert_eq!(&*trim(b"\x00 a"), b"\x00 a");
    }
}

//! `t:md5` and `t:sha1`: the raw binary digest (16 / 20 bytes), as ModSecurity produces
//! it (not hex). Combine with `t:hexEncode` for a printable form.

use std::borrow::Cow;

use ::md5::Digest as _;

/// `t:md5`.
pub(super) fn md5(input: &[u8]) -> Cow<'_, [u8]> {
    let out = ::md5::Md5::digest(input).to_vec();
    super::util::finish(input, out)
}

/// `t:sha1`.
pub(super) fn sha1(input: &[u8]) -> Cow<'_, [u8]> {
    let out = ::sha1::Sha1::digest(input).to_vec();
    super::util::finish(input, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_raw() {
        assert_eq!(
            &*md5(b""),
            b"\xd4\x1d\x8c\xd9\x8f\x00\xb2\x04\xe9\x80\x09\x98\xec\xf8\x42\x7e"
        );
        assert_eq!(
            &*sha1(b""),
            b"\xda\x39\xa3\xee\x5e\x6b\x4b\x0d\x32\x55\xbf\xef\x95\x60\x18\x90\xaf\xd8\x07\x09"
        );
    }
}

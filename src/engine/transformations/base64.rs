//! Base64 family: `t:base64Decode`, `t:base64DecodeExt`, `t:base64Encode`.
//!
//! - `t:base64Decode` is libmodsecurity's `Utils::Base64::decode()`: the value is cut at its
//!   first NUL byte (`strlen`), then decoded by mbedTLS 2.x's strict `mbedtls_base64_decode`
//!   (as bundled in libmodsecurity 3.0.x): `A-Za-z0-9+/` only, at most two `=` and nothing
//!   but padding after the first `=`, `\n` and `\r\n` skipped, spaces allowed only before a
//!   line break or at the end. Any invalid input decodes to the empty string (the sizing
//!   call fails and leaves the length at 0). Only complete 4-character groups produce
//!   output, so an unpadded tail of 2 or 3 characters is dropped.
//! - `t:base64DecodeExt` is the forgiving decoder (`decode_forgiven_engine`): bytes outside
//!   the alphabet are skipped, `-` and `_` count as `+` and `/` (v3/master table), partial
//!   groups produce the bytes they complete, and a misplaced `=` (a group holding one digit)
//!   empties the result.
//! - `t:base64Encode` is standard base64 with padding.

use std::borrow::Cow;

use ::base64::Engine as _;

use super::util::finish;

/// mbedTLS decoding map: 0..=63 digits, 64 for `=`, 127 invalid.
const fn strict_map() -> [u8; 256] {
    let mut m = [127u8; 256];
    let mut i = 0;
    while i < 26 {
        m[b'A' as usize + i] = i as u8;
        m[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        m[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    m[b'+' as usize] = 62;
    m[b'/' as usize] = 63;
    m[b'=' as usize] = 64;
    m
}

static STRICT: [u8; 256] = strict_map();

/// `mbedtls_base64_decode` (2.x) validity pass: `Some(())` when the input is acceptable.
fn strict_valid(src: &[u8]) -> Option<usize> {
    let slen = src.len();
    let (mut i, mut n, mut equals) = (0usize, 0usize, 0u32);
    while i < slen {
        let mut spaces = 0;
        while src.get(i) == Some(&b' ') {
            i += 1;
            spaces += 1;
        }
        let Some(&c) = src.get(i) else {
            break; // spaces at the end are fine
        };
        if c == b'\r' && src.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        if c == b'\n' {
            i += 1;
            continue;
        }
        if spaces != 0 {
            return None; // space inside a line
        }
        if c == b'=' {
            equals += 1;
            if equals > 2 {
                return None;
            }
        }
        let v = STRICT[c as usize];
        if v == 127 || (v < 64 && equals != 0) {
            return None;
        }
        n += 1;
        i += 1;
    }
    Some(n)
}

/// `t:base64Decode`.
pub(super) fn base64_decode(input: &[u8]) -> Cow<'_, [u8]> {
    let src = match memchr::memchr(0, input) {
        Some(nul) => input.get(..nul).unwrap_or_default(),
        None => input,
    };
    let mut out = Vec::new();
    if let Some(n) = strict_valid(src) {
        if n > 0 {
            out.reserve(n / 4 * 3);
            let (mut keep, mut count, mut acc) = (3u32, 0u32, 0u32);
            for &c in src {
                if matches!(c, b'\r' | b'\n' | b' ') {
                    continue;
                }
                let v = STRICT[c as usize];
                if v == 64 {
                    keep = keep.saturating_sub(1);
                }
                acc = (acc << 6) | u32::from(v & 0x3f);
                count += 1;
                if count == 4 {
                    count = 0;
                    if keep > 0 {
                        out.push((acc >> 16) as u8);
                    }
                    if keep > 1 {
                        out.push((acc >> 8) as u8);
                    }
                    if keep > 2 {
                        out.push(acc as u8);
                    }
                }
            }
        }
    }
    finish(input, out)
}

/// `decode_forgiven_engine` reverse table (v3/master): -1 whitespace, -2 other, else value.
const fn forgiving_map() -> [i8; 256] {
    let mut m = [-2i8; 256];
    let strict = strict_map();
    let mut i = 0;
    while i < 256 {
        if strict[i] < 64 {
            m[i] = strict[i] as i8;
        }
        i += 1;
    }
    m[b'\t' as usize] = -1;
    m[b'\n' as usize] = -1;
    m[b'\r' as usize] = -1;
    m[b' ' as usize] = -1;
    m[b'-' as usize] = 62;
    m[b'_' as usize] = 63;
    m
}

static FORGIVING: [i8; 256] = forgiving_map();

/// `t:base64DecodeExt`.
pub(super) fn base64_decode_ext(input: &[u8]) -> Cow<'_, [u8]> {
    const PAD: i32 = b'=' as i32;
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut digits = 0usize;
    let mut partial = 0u8;
    // The C code keeps the last byte it looked at (`ch`): '=' itself, or the table value of
    // any other byte. Its final check compares that with '=' (61), which is also the value
    // of the digit '9'; that quirk is kept.
    let mut last: i32 = 0;
    for (pos, &c) in input.iter().enumerate() {
        if c == b'=' {
            let next = input.get(pos + 1).copied().unwrap_or(0);
            if next != b'=' && digits % 4 == 1 {
                return finish(input, Vec::new());
            }
            last = PAD;
            continue;
        }
        let v = FORGIVING[c as usize];
        last = i32::from(v);
        if v < 0 {
            continue;
        }
        let v = v as u8;
        match digits % 4 {
            0 => partial = v << 2,
            1 => {
                out.push(partial | (v >> 4));
                partial = (v & 0x0f) << 4;
            }
            2 => {
                out.push(partial | (v >> 2));
                partial = (v & 0x03) << 6;
            }
            _ => out.push(partial | v),
        }
        digits += 1;
    }
    if last == PAD && digits % 4 == 1 {
        out.clear();
    }
    finish(input, out)
}

/// `t:base64Encode`.
pub(super) fn base64_encode(input: &[u8]) -> Cow<'_, [u8]> {
    let out = ::base64::engine::general_purpose::STANDARD
        .encode(input)
        .into_bytes();
    finish(input, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_decode() {
        assert_eq!(&*base64_decode(b"VGVzdENhc2U="), b"TestCase");
        assert_eq!(&*base64_decode(b"VGVzdENhc2UxMg=="), b"TestCase12");
        assert_eq!(&*base64_decode(b"VGVz\r\ndENh c2U=  "), b"");
        assert_eq!(&*base64_decode(b"VGVz\r\ndENh\nc2U=  "), b"TestCase");
        // Cut at NUL.
        assert_eq!(
            &*base64_decode(b"VGVzdENhc2U=\x00VGVzdENhc2U="),
            b"TestCase"
        );
        // Invalid characters or misplaced padding: empty.
        assert_eq!(&*base64_decode(b"VGVzd$Nhc2U="), b"");
        assert_eq!(&*base64_decode(b"VGVz=ENhc2U="), b"");
        assert_eq!(&*base64_decode(b"QQ==="), b"");
        assert_eq!(&*base64_decode(b"VGVzdENhc2U-"), b"");
        // Unpadded tail shorter than a group is dropped (mbedTLS 2.x).
        assert_eq!(&*base64_decode(b"VGVzdA"), b"Tes");
        assert_eq!(&*base64_decode(b"QQ"), b"");
        assert_eq!(&*base64_decode(b"QQ=="), b"A");
        assert_eq!(&*base64_decode(b"QUI="), b"AB");
    }

    #[test]
    fn forgiving_decode() {
        assert_eq!(
            &*base64_decode_ext(b"P.HNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
            b"<script>alert(1)</script>"
        );
        assert_eq!(&*base64_decode_ext(b"VGVzdA"), b"Test");
        assert_eq!(&*base64_decode_ext(b"VGV zdA\x00=="), b"Test");
        // URL-safe alphabet accepted.
        assert_eq!(&*base64_decode_ext(b"-_-_"), b"\xfb\xff\xbf");
        // A group with a single digit followed by padding empties the result.
        assert_eq!(&*base64_decode_ext(b"QUJDR="), b"");
        assert_eq!(&*base64_decode_ext(b"QUJDR"), b"ABC");
        // The final-'9' quirk: a lone trailing digit '9' (value 61 == '=') empties it.
        assert_eq!(&*base64_decode_ext(b"QUJD9"), b"");
        assert_eq!(&*base64_decode_ext(b"QUJDA"), b"ABC");
    }

    #[test]
    fn encode() {
        assert_eq!(&*base64_encode(b"TestCase12"), b"VGVzdENhc2UxMg==");
        assert!(matches!(base64_encode(b""), Cow::Borrowed(_)));
    }
}

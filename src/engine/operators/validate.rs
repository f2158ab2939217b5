//! `@validateByteRange`, `@validateUrlEncoding`, `@validateUtf8Encoding`
//! (libmodsecurity v3 `validate_byte_range.cc`, `validate_url_encoding.cc`,
//! `validate_utf8_encoding.cc`); `@validateDTD`, `@validateSchema` and `@validateHash`
//! are not supported.
//!
//! All three validators *match* when the input is invalid.

use super::numeric::stoi;
use super::{Captures, CompileCtx, Operator, OperatorEnv};

pub(super) fn compile_validate_byte_range(
    param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Ok(Box::new(ByteRange::parse(param.as_bytes())))
}

pub(super) fn compile_validate_url_encoding(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Ok(Box::new(UrlEncoding))
}

pub(super) fn compile_validate_utf8_encoding(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Ok(Box::new(Utf8Encoding))
}

pub(super) fn compile_validate_dtd(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Err("unsupported: XML DTD validation is not implemented".to_owned())
}

pub(super) fn compile_validate_schema(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Err("unsupported: XML Schema validation is not implemented".to_owned())
}

pub(super) fn compile_validate_hash(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Err("unsupported: libmodsecurity v3 does not implement @validateHash either".to_owned())
}

/// Matches when some input byte is outside the allowed set.
///
/// The parameter is a comma-separated list of values (`10`) and ranges (`32-126`), read
/// with `std::stoi`. As in v3, parts that do not parse or are out of range are ignored
/// (v3 reports them but still loads the rule), so `@validateByteRange xxx` allows no
/// byte at all; single values outside 0..=255 are ignored.
#[derive(Debug)]
struct ByteRange {
    allowed: [bool; 256],
}

impl ByteRange {
    fn parse(param: &[u8]) -> Self {
        let mut allowed = [false; 256];
        for part in param.split(|&b| b == b',') {
            match part.iter().position(|&b| b == b'-') {
                None => {
                    if let Some(v) = stoi(part).and_then(|v| usize::try_from(v).ok()) {
                        if let Some(slot) = allowed.get_mut(v) {
                            *slot = true;
                        }
                    }
                }
                Some(dash) => {
                    let start = part.get(..dash).and_then(stoi);
                    let end = part.get(dash + 1..).and_then(stoi);
                    if let (Some(start), Some(end)) = (start, end) {
                        if (0..=255).contains(&start) && (0..=255).contains(&end) && start <= end {
                            for v in start..=end {
                                if let Some(slot) =
                                    usize::try_from(v).ok().and_then(|v| allowed.get_mut(v))
                                {
                                    *slot = true;
                                }
                            }
                        }
                    }
                }
            }
        }
        ByteRange { allowed }
    }
}

impl Operator for ByteRange {
    fn evaluate(
        &self,
        input: &[u8],
        _env: &mut dyn OperatorEnv,
        _captures: Option<&mut Captures>,
    ) -> bool {
        input
            .iter()
            .any(|&b| !self.allowed.get(usize::from(b)).copied().unwrap_or(false))
    }
}

/// Matches a `%` not followed by two hex digits. Empty input does not match.
#[derive(Debug)]
struct UrlEncoding;

impl Operator for UrlEncoding {
    fn evaluate(
        &self,
        input: &[u8],
        _env: &mut dyn OperatorEnv,
        _captures: Option<&mut Captures>,
    ) -> bool {
        let mut i = 0;
        while i < input.len() {
            if input.get(i) == Some(&b'%') {
                match (input.get(i + 1), input.get(i + 2)) {
                    (Some(a), Some(b)) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
                        i += 3;
                    }
                    _ => return true,
                }
            } else {
                i += 1;
            }
        }
        false
    }
}

/// Matches input that is not valid UTF-8 by v3's rules: truncated or malformed
/// sequences, overlong forms, surrogates (U+D800..U+DFFF) and lead bytes >= 0xF5.
/// (Like v3, four-byte sequences starting with 0xF4 above U+10FFFF are accepted.)
#[derive(Debug)]
struct Utf8Encoding;

impl Operator for Utf8Encoding {
    fn evaluate(
        &self,
        input: &[u8],
        _env: &mut dyn OperatorEnv,
        _captures: Option<&mut Captures>,
    ) -> bool {
        let mut i = 0;
        while let Some(rest) = input.get(i..).filter(|r| !r.is_empty()) {
            match utf8_char_len(rest) {
                Some(len) => i += len,
                None => return true,
            }
        }
        false
    }
}

/// v3 `detect_utf8_character`: length of the valid character at the start of `s`.
fn utf8_char_len(s: &[u8]) -> Option<usize> {
    let c = *s.first()?;
    let cont = |i: usize| s.get(i).is_some_and(|b| b & 0xC0 == 0x80);
    let low = |i: usize| u32::from(s.get(i).copied().unwrap_or(0) & 0x3F);
    let (len, cp) = if c & 0x80 == 0 {
        return Some(1);
    } else if c & 0xE0 == 0xC0 {
        if s.len() < 2 || !cont(1) {
            return None;
        }
        (2, (u32::from(c & 0x1F) << 6) | low(1))
    } else if c & 0xF0 == 0xE0 {
        if s.len() < 3 || !cont(1) || !cont(2) {
            return None;
        }
        (3, (u32::from(c & 0x0F) << 12) | (low(1) << 6) | low(2))
    } else if c & 0xF8 == 0xF0 {
        if c >= 0xF5 || s.len() < 4 || !cont(1) || !cont(2) || !cont(3) {
            return None;
        }
        (
            4,
            (u32::from(c & 0x07) << 18) | (low(1) << 12) | (low(2) << 6) | low(3),
        )
    } else {
        return None;
    };
    if (0xD800..=0xDFFF).contains(&cp) {
        return None;
    }
    let overlong = match len {
        2 => cp < 0x80,
        3 => cp < 0x800,
        _ => cp < 0x10000,
    };
    if overlong {
        None
    } else {
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::eval;
    use super::super::{compile, CompileCtx};

    #[test]
    fn byte_range() {
        assert!(!eval("validateByteRange", "97-105", b"abcdefghi"));
        assert!(eval("validateByteRange", "97-105", b"abcdefghij"));
        assert!(!eval("validateByteRange", "0-255", b""));
        assert!(!eval("validateByteRange", "0-255", b"\xd0\x90\xff\x00"));
        assert!(eval("validateByteRange", "", b"a"));
        assert!(eval("validateByteRange", "xxx", b"a"));
        assert!(!eval("validateByteRange", "xxx,97-122", b"a"));
        assert!(!eval("validateByteRange", "97", b"a"));
        assert!(!eval("validateByteRange", "97, 98", b"b"));
        assert!(!eval("validateByteRange", " 97 - 98", b"b"));
        assert!(eval("validateByteRange", "10-5", b"\x07"));
        assert!(eval("validateByteRange", "0-300", b"a"));
        assert!(eval("validateByteRange", "300", b"a"));
        assert!(!eval("validateByteRange", "1-2-3", b"\x02"));
        assert!(!eval("validateByteRange", "9,10,13,32-126", b"GET /x\r\n"));
    }

    #[test]
    fn url_encoding() {
        for ok in ["", "Hello%20World!", "Hello+World!", "%00", "%ff", "%FF%aa"] {
            assert!(!eval("validateUrlEncoding", "", ok.as_bytes()), "{ok}");
        }
        for bad in ["%0", "%f", "%", "%0z", "%z0", "%0%", "abc%2"] {
            assert!(eval("validateUrlEncoding", "", bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn utf8_encoding() {
        let valid: [&[u8]; 6] = [
            b"",
            b"abc",
            "été".as_bytes(),
            "€".as_bytes(),
            "𝄞".as_bytes(),
            b"\xf4\x90\x80\x80",
        ];
        for v in valid {
            assert!(!eval("validateUtf8Encoding", "", v), "{v:?}");
        }
        let invalid: [&[u8]; 11] = [
            b"\xe4",
            b"\xc3",
            b"\xc3(",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xf0\x80\x80\xaf",
            b"\xed\xa0\x80",
            b"\xf5\x80\x80\x80",
            b"\xff",
            b"\x80",
            b"a\xe2\x82",
        ];
        for v in invalid {
            assert!(eval("validateUtf8Encoding", "", v), "{v:?}");
        }
    }

    #[test]
    fn unsupported_validators() {
        let ctx = CompileCtx {
            base_dir: std::path::Path::new("/"),
        };
        for name in ["validateDTD", "validateSchema", "validateHash"] {
            let err = compile(name, "x", &ctx).unwrap_err();
            assert!(err.contains("unsupported"), "{err}");
        }
    }
}

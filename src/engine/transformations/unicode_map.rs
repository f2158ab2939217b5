//! The unicode map used by `t:urlDecodeUni` when `SecUnicodeMapFile <file> <code page>` is
//! configured (libmodsecurity `ConfigUnicodeMap::loadConfig`).
//!
//! File format (ModSecurity's `unicode.mapping`): whitespace-separated tokens. A token whose
//! leading decimal number equals the code page starts that code page's section; from there
//! every token `HHHH:hh` maps the code point `0xHHHH` to the byte `0xhh`; the first token
//! without `:` after at least one mapping ends the section. Tokens before the section (the
//! code page names, other sections) are ignored. The table always starts with the IDN dot
//! equivalents U+3002, U+FF61, U+FF0E and U+002E mapped to `.`, even when the code page is
//! not found. A map loaded for code page 0 is never consulted, as in libmodsecurity.

use std::path::Path;

/// A loaded unicode map: code point (0..=0xFFFF) to byte.
#[derive(Clone)]
pub struct UnicodeMap {
    /// Mapped value per code point; -1 means "not mapped".
    table: Box<[i32]>,
    code_page: u32,
}

impl std::fmt::Debug for UnicodeMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mapped = self.table.iter().filter(|&&v| v != -1).count();
        f.debug_struct("UnicodeMap")
            .field("code_page", &self.code_page)
            .field("mapped", &mapped)
            .finish()
    }
}

/// `sscanf(s, "%x", ..)`: optional whitespace and sign, optional `0x`, hex digits. `None`
/// when there is no digit (the C variable then keeps its previous value).
fn scan_hex(s: &[u8]) -> Option<i32> {
    let mut i = 0;
    while s.get(i).is_some_and(|c| super::util::is_c_space(*c)) {
        i += 1;
    }
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    if matches!(s.get(i..i + 2), Some([b'0', b'x' | b'X']))
        && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        i += 2;
    }
    let start = i;
    let mut v: u32 = 0;
    while let Some(c) = s.get(i).filter(|c| c.is_ascii_hexdigit()) {
        v = v.wrapping_mul(16).wrapping_add(super::util::hex_val(*c));
        i += 1;
    }
    if i == start {
        return None;
    }
    let v = v as i32;
    Some(if negative { v.wrapping_neg() } else { v })
}

/// `atol()` truncated to `unsigned int`, as the loader compares it with the code page.
fn atol_u32(s: &[u8]) -> u32 {
    let mut i = 0;
    while s.get(i).is_some_and(|c| super::util::is_c_space(*c)) {
        i += 1;
    }
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    while let Some(c) = s.get(i).filter(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
        i += 1;
    }
    (if negative { v.wrapping_neg() } else { v }) as u32
}

impl UnicodeMap {
    /// Loads `path` for `code_page`, like `SecUnicodeMapFile path code_page`.
    pub fn load(path: impl AsRef<Path>, code_page: u32) -> Result<UnicodeMap, String> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|e| {
            format!(
                "Failed to open the unicode map file from: {}: {e}",
                path.display()
            )
        })?;
        if data.is_empty() {
            return Err(format!(
                "Failed to open the unicode map file from: {} (empty file)",
                path.display()
            ));
        }
        Ok(Self::parse(&data, code_page))
    }

    /// Builds a map from the contents of a unicode map file (see the module docs).
    pub fn parse(data: &[u8], code_page: u32) -> UnicodeMap {
        let mut table = vec![-1i32; 0x10000].into_boxed_slice();
        for cp in [0x3002usize, 0xff61, 0xff0e, 0x002e] {
            if let Some(slot) = table.get_mut(cp) {
                *slot = 0x2e;
            }
        }
        // The C loader works on a NUL-terminated buffer.
        let data = match memchr::memchr(0, data) {
            Some(nul) => data.get(..nul).unwrap_or_default(),
            None => data,
        };
        let (mut found, mut processing) = (false, false);
        // Like the C locals, these keep their value when a token does not parse.
        let (mut code, mut mapped) = (0i32, 0i32);
        let tokens = data
            .split(|&c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
            .filter(|t| !t.is_empty());
        for token in tokens {
            if atol_u32(token) == code_page {
                found = true;
            }
            let has_colon = memchr::memchr(b':', token).is_some();
            if found && has_colon {
                processing = true;
                // strtok_r(token, ":"): leading ':' skipped, the code point runs to the
                // next ':', the value is everything after that ':'.
                let start = token.iter().position(|&c| c != b':').unwrap_or(token.len());
                let rest = token.get(start..).unwrap_or_default();
                if !rest.is_empty() {
                    let (ucode, value) = match memchr::memchr(b':', rest) {
                        Some(colon) => (
                            rest.get(..colon).unwrap_or_default(),
                            rest.get(colon + 1..).unwrap_or_default(),
                        ),
                        None => (rest, &[][..]),
                    };
                    if let Some(v) = scan_hex(ucode) {
                        code = v;
                    }
                    if let Some(v) = scan_hex(value) {
                        mapped = v;
                    }
                    if let Some(slot) = usize::try_from(code).ok().and_then(|c| table.get_mut(c)) {
                        *slot = mapped;
                    }
                }
            }
            if processing && !has_colon {
                break;
            }
        }
        UnicodeMap { table, code_page }
    }

    /// The code page this map was loaded for.
    pub fn code_page(&self) -> u32 {
        self.code_page
    }

    /// Whether `t:urlDecodeUni` consults this map (code page > 0).
    pub fn active(&self) -> bool {
        self.code_page > 0
    }

    /// The byte a code point maps to, if mapped (the low byte of the configured value).
    pub fn get(&self, code_point: u32) -> Option<u8> {
        match self.table.get(code_point as usize) {
            Some(&v) if v != -1 => Some(v as u8),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::url_decode_uni_with_map;
    use super::*;

    const SAMPLE: &str = "(MAC - Roman)\n\n\n(MAC - Icelandic)\n\n\n\
        1250  (ANSI - Central Europe)\n00a1:21 00a2:63 00c0:41\n\n\
        20127 (US-ASCII)\n\
        00a0:20 00a1:21 00c0:41 00c1:41 2215:2f ff0f:2f 02bc:27 0100:141\n\n\
        1251  (ANSI - Cyrillic)\n00c0:58 2215:58\n";

    fn write_sample(name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "rampart-unicode-{}-{}.mapping",
            name,
            std::process::id()
        ));
        std::fs::write(&path, SAMPLE)
            .map_err(|e| e.to_string())
            .unwrap_or_default();
        path
    }

    #[test]
    fn loads_the_requested_code_page_only() {
        let path = write_sample("cp");
        let map = UnicodeMap::load(&path, 20127);
        let _ = std::fs::remove_file(&path);
        let map = map.expect("map loads");
        assert_eq!(map.code_page(), 20127);
        assert_eq!(map.get(0x2215), Some(b'/'));
        assert_eq!(map.get(0x00c0), Some(b'A'));
        assert_eq!(map.get(0x02bc), Some(b'\''));
        // 0x141 -> low byte 0x41.
        assert_eq!(map.get(0x0100), Some(b'A'));
        // Defaults are always present.
        assert_eq!(map.get(0x3002), Some(b'.'));
        assert_eq!(map.get(0xff0e), Some(b'.'));
        // Not in this code page.
        assert_eq!(map.get(0x00a2), None);
        assert_eq!(map.get(0x1234), None);
    }

    #[test]
    fn decode_with_map_and_fallbacks() {
        let map = UnicodeMap::parse(SAMPLE.as_bytes(), 20127);
        assert_eq!(
            &*url_decode_uni_with_map(b"..%u2215..%u2215etc", &map),
            b"../../etc"
        );
        assert_eq!(
            &*url_decode_uni_with_map(b"%u02bc or 1=1", &map),
            b"' or 1=1"
        );
        // Unmapped code points: default behaviour (low byte, full-width + 0x20).
        assert_eq!(&*url_decode_uni_with_map(b"%u1141%uff1c", &map), b"A<");
        // Mapped entry wins over the full-width rule.
        assert_eq!(&*url_decode_uni_with_map(b"%uff0f", &map), b"/");
        assert_eq!(&*url_decode_uni_with_map(b"%u3002", &map), b".");
        assert_eq!(&*url_decode_uni_with_map(b"a+%41", &map), b"a A");
        assert!(matches!(
            url_decode_uni_with_map(b"plain", &map),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn other_code_pages_and_code_page_zero() {
        let map = UnicodeMap::parse(SAMPLE.as_bytes(), 1251);
        assert_eq!(map.get(0x2215), Some(b'X'));
        assert_eq!(map.get(0x00a1), None);
        let missing = UnicodeMap::parse(SAMPLE.as_bytes(), 9999);
        assert_eq!(missing.get(0x2215), None);
        assert_eq!(missing.get(0xff61), Some(b'.'));
        // Code page 0 is never consulted: %u2215 keeps its low byte.
        let zero = UnicodeMap::parse(SAMPLE.as_bytes(), 0);
        assert!(!zero.active());
        assert_eq!(&*url_decode_uni_with_map(b"%u2215", &zero), b"\x15");
    }

    #[test]
    fn load_errors() {
        let missing = std::env::temp_dir().join("rampart-unicode-does-not-exist.mapping");
        assert!(UnicodeMap::load(&missing, 20127).is_err());
        let empty = std::env::temp_dir().join(format!(
            "rampart-unicode-empty-{}.mapping",
            std::process::id()
        ));
        let _ = std::fs::write(&empty, b"");
        let result = UnicodeMap::load(&empty, 20127);
        let _ = std::fs::remove_file(&empty);
        assert!(result.is_err());
    }

    #[test]
    fn scan_hex_like_sscanf() {
        assert_eq!(scan_hex(b"00a1"), Some(0xa1));
        assert_eq!(scan_hex(b"0x2f"), Some(0x2f));
        assert_eq!(scan_hex(b"zz"), None);
        assert_eq!(scan_hex(b""), None);
        assert_eq!(atol_u32(b"20127"), 20127);
        assert_eq!(atol_u32(b"(MAC"), 0);
    }
}

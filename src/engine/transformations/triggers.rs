//! Which bytes can make a transformation change a value.
//!
//! For most transformations a value without certain bytes comes out unchanged (up to ASCII
//! case): `urlDecode` needs `%` or `+`, `htmlEntityDecode` needs `&`... The engine's literal
//! prefilter uses this to skip transforming values that cannot change: it scans the raw
//! value once instead of once per transformation chain. A property test below checks every
//! set on random inputs.

/// A set of bytes (bitmap).
pub type ByteSet = [u64; 4];

const fn set(bytes: &[u8], high: bool) -> ByteSet {
    let mut s = [0u64; 4];
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i] as usize;
        s[b / 64] |= 1u64 << (b % 64);
        i += 1;
    }
    if high {
        s[2] = u64::MAX;
        s[3] = u64::MAX;
    }
    s
}

/// ASCII whitespace as C's `isspace` sees it.
const WS: &[u8] = b"\t\n\x0b\x0c\r ";

/// The bytes that can make transformation `name` (canonical name) change a value, beyond
/// ASCII case; `None` when it changes (or may change) any value (hashes, encoders...).
pub fn trigger_bytes(name: &str) -> Option<ByteSet> {
    Some(match name {
        "none" | "lowercase" | "uppercase" => [0; 4],
        "urlDecode" | "urlDecodeUni" => set(b"%+", false),
        "htmlEntityDecode" => set(b"&", false),
        "jsDecode" | "cssDecode" | "escapeSeqDecode" => set(b"\\", false),
        "removeNulls" | "replaceNulls" => set(b"\0", false),
        "removeWhitespace" | "compressWhitespace" | "trim" | "trimLeft" | "trimRight" => set(WS, true),
        "removeComments" => set(b"/*-#<", false),
        "removeCommentsChar" => set(b"/*-#", false),
        "replaceComments" => set(b"/*", false),
        "normalizePath" => set(b"/.", false),
        "normalizePathWin" => set(b"/.\\", false),
        "cmdLine" => set(b"\\\"'^,;\t\n\x0b\x0c\r (/", true),
        // (it stops at a NUL byte, as the C string libmodsecurity hands it does)
        "utf8toUnicode" => set(b"\0", true),
        "sqlHexDecode" => set(b"xX", false),
        _ => return None,
    })
}

/// Union of two sets.
pub fn union(a: ByteSet, b: ByteSet) -> ByteSet {
    [a[0] | b[0], a[1] | b[1], a[2] | b[2], a[3] | b[3]]
}

/// The set of bytes present in `v`.
pub fn present(v: &[u8]) -> ByteSet {
    let mut s = [0u64; 4];
    for &b in v {
        s[(b >> 6) as usize] |= 1u64 << (b & 63);
    }
    s
}

/// Whether the sets intersect.
pub fn intersects(a: &ByteSet, b: &ByteSet) -> bool {
    (a[0] & b[0]) | (a[1] & b[1]) | (a[2] & b[2]) | (a[3] & b[3]) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(s: &ByteSet, b: u8) -> bool {
        s[(b >> 6) as usize] & (1u64 << (b & 63)) != 0
    }

    #[test]
    fn values_without_trigger_bytes_are_unchanged() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut checked = 0;
        for name in super::super::names() {
            let Some(trig) = trigger_bytes(name) else { continue };
            let t = super::super::lookup(name).expect("registered");
            let alphabet: Vec<u8> = (0..=255u8).filter(|b| !contains(&trig, *b)).collect();
            for _ in 0..3000 {
                let len = (next() % 40) as usize;
                let v: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
                let out = (t.func)(&v);
                assert!(out.eq_ignore_ascii_case(&v), "t:{name} changed {v:?} into {:?}", &*out);
            }
            checked += 1;
        }
        assert!(checked >= 20, "only {checked} transformations have trigger sets");
    }
}

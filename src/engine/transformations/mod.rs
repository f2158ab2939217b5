//! SecLang transformations (`t:name`), one file per family, registered by name.
//!
//! Contract (used by the rule engine):
//! - `lookup(name)` finds a transformation by its SecLang name, case-insensitively,
//!   accepting the documented aliases (e.g. `normalizePath` / `normalisePath`).
//! - A transformation is a plain function `fn(&[u8]) -> Cow<[u8]>`: it returns
//!   `Cow::Borrowed(input)` when the value is unchanged, `Cow::Owned(new)` otherwise.
//!   It never panics, on any input.
//! - `t:none` is handled by the engine (it resets the chain); `lookup("none")` returns
//!   the identity transformation so that it is known.
//!
//! Semantics follow libmodsecurity v3 (`src/actions/transformations/*.cc`, v3/master),
//! byte for byte, including its quirks; each family file documents the details.
//! `t:urlDecodeUni` with a `SecUnicodeMapFile` configured is not a plain function of the
//! value: the engine calls [`url_decode_uni_with_map`] with the loaded [`UnicodeMap`].

use std::borrow::Cow;

mod base64;
mod case;
mod cmdline;
mod comments;
mod escape;
mod hash;
mod hex;
mod html;
mod js_css;
mod misc;
mod nulls;
mod parity;
mod path;
mod php;
mod unicode_map;
pub mod triggers;
mod url;
mod utf8;
mod util;
mod whitespace;

pub use self::unicode_map::UnicodeMap;
pub use self::url::url_decode_uni_with_map;

/// Signature of every transformation: unchanged input comes back borrowed.
pub type TransformFn = for<'a> fn(&'a [u8]) -> Cow<'a, [u8]>;

/// A transformation known by name.
#[derive(Clone, Copy)]
pub struct Transform {
    /// Canonical name (as ModSecurity documents it).
    pub name: &'static str,
    /// The transformation itself.
    pub func: TransformFn,
}

impl std::fmt::Debug for Transform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "t:{}", self.name)
    }
}

/// One registry entry: a name accepted in `t:` (compared case-insensitively) and the
/// transformation it selects (whose `name` is the canonical spelling).
struct Entry {
    accepted: &'static str,
    transform: Transform,
}

const fn entry(accepted: &'static str, name: &'static str, func: TransformFn) -> Entry {
    Entry {
        accepted,
        transform: Transform { name, func },
    }
}

/// Every transformation libmodsecurity v3 knows, by the names its parser accepts.
static REGISTRY: &[Entry] = &[
    entry("base64Decode", "base64Decode", base64::base64_decode),
    entry(
        "base64DecodeExt",
        "base64DecodeExt",
        base64::base64_decode_ext,
    ),
    entry("base64Encode", "base64Encode", base64::base64_encode),
    entry("cmdLine", "cmdLine", cmdline::cmd_line),
    entry(
        "compressWhitespace",
        "compressWhitespace",
        whitespace::compress_whitespace,
    ),
    entry("cssDecode", "cssDecode", js_css::css_decode),
    entry(
        "escapeSeqDecode",
        "escapeSeqDecode",
        escape::escape_seq_decode,
    ),
    entry("hexDecode", "hexDecode", hex::hex_decode),
    entry("hexEncode", "hexEncode", hex::hex_encode),
    entry(
        "htmlEntityDecode",
        "htmlEntityDecode",
        html::html_entity_decode,
    ),
    entry("jsDecode", "jsDecode", js_css::js_decode),
    entry("length", "length", misc::length),
    entry("lowercase", "lowercase", case::lowercase),
    entry("uppercase", "uppercase", case::uppercase),
    entry("md5", "md5", hash::md5),
    entry("sha1", "sha1", hash::sha1),
    entry("none", "none", misc::none),
    entry("normalizePath", "normalizePath", path::normalize_path),
    entry("normalisePath", "normalizePath", path::normalize_path),
    entry(
        "normalizePathWin",
        "normalizePathWin",
        path::normalize_path_win,
    ),
    entry(
        "normalisePathWin",
        "normalizePathWin",
        path::normalize_path_win,
    ),
    entry("parityEven7bit", "parityEven7bit", parity::parity_even_7bit),
    entry("parityOdd7bit", "parityOdd7bit", parity::parity_odd_7bit),
    entry("parityZero7bit", "parityZero7bit", parity::parity_zero_7bit),
    entry("phpArgsNames", "phpArgsNames", php::php_args_names),
    entry(
        "removeComments",
        "removeComments",
        comments::remove_comments,
    ),
    entry(
        "removeCommentsChar",
        "removeCommentsChar",
        comments::remove_comments_char,
    ),
    entry(
        "replaceComments",
        "replaceComments",
        comments::replace_comments,
    ),
    entry("removeNulls", "removeNulls", nulls::remove_nulls),
    entry("replaceNulls", "replaceNulls", nulls::replace_nulls),
    entry(
        "removeWhitespace",
        "removeWhitespace",
        whitespace::remove_whitespace,
    ),
    entry("sqlHexDecode", "sqlHexDecode", hex::sql_hex_decode),
    entry("trim", "trim", whitespace::trim),
    entry("trimLeft", "trimLeft", whitespace::trim_left),
    entry("trimRight", "trimRight", whitespace::trim_right),
    entry("urlDecode", "urlDecode", url::url_decode),
    entry("urlDecodeUni", "urlDecodeUni", url::url_decode_uni),
    entry("urlEncode", "urlEncode", url::url_encode),
    entry("utf8toUnicode", "utf8toUnicode", utf8::utf8_to_unicode),
];

/// Finds a transformation by name (case-insensitive, aliases accepted).
pub fn lookup(name: &str) -> Option<Transform> {
    REGISTRY
        .iter()
        .find(|e| e.accepted.eq_ignore_ascii_case(name))
        .map(|e| e.transform)
}

/// All canonical transformation names (each once), e.g. for diagnostics.
pub fn names() -> impl Iterator<Item = &'static str> {
    REGISTRY
        .iter()
        .filter(|e| e.accepted == e.transform.name)
        .map(|e| e.transform.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_knows_aliases() {
        assert_eq!(lookup("LowerCase").map(|t| t.name), Some("lowercase"));
        assert_eq!(
            lookup("normalisePath").map(|t| t.name),
            Some("normalizePath")
        );
        assert_eq!(
            lookup("NORMALIZEPATHWIN").map(|t| t.name),
            Some("normalizePathWin")
        );
        assert_eq!(
            lookup("utf8ToUnicode").map(|t| t.name),
            Some("utf8toUnicode")
        );
        assert!(lookup("cmd_line").is_none());
        assert!(lookup("nosuch").is_none());
        assert!(lookup("").is_none());
    }

    #[test]
    fn every_canonical_name_resolves_to_itself() {
        let mut n = 0;
        for name in names() {
            assert_eq!(lookup(name).map(|t| t.name), Some(name));
            n += 1;
        }
        assert_eq!(n, 37);
    }

    #[test]
    fn none_is_identity_and_borrowed() {
        let t = lookup("none").map(|t| t.func);
        let out = t.map(|f| f(b"AbC"));
        assert!(matches!(out, Some(Cow::Borrowed(b"AbC"))));
    }

    #[test]
    fn no_transformation_panics_on_awkward_inputs() {
        let inputs: &[&[u8]] = &[
            b"",
            b"%",
            b"%u",
            b"%u12",
            b"\\",
            b"\\x",
            b"\\u12",
            b"&",
            b"&#",
            b"&#x",
            b"/*",
            b"*/",
            b"<!--",
            b"-->",
            b"0x",
            b"0x4",
            b".",
            b"..",
            b"/",
            b"\\..\\",
            b"\xc3",
            b"\xf0\x9f",
            b"\xff\xfe\x00",
            b"=",
            b"==",
            b"[",
            b"]",
            b"a[",
            b"a[]",
            b"\x00\x00",
            b"\r\n",
        ];
        for name in names() {
            let f = lookup(name).map(|t| t.func);
            for input in inputs {
                let _ = f.map(|f| f(input));
            }
        }
    }

    /// Random inputs over an alphabet rich in the bytes the decoders care about: nothing
    /// panics, and an unchanged value always comes back borrowed.
    #[test]
    fn random_inputs_never_panic_and_unchanged_is_borrowed() {
        const ALPHABET: &[u8] =
            b"%uU+&#xX;\\/.*-<!>^'\",aAfF09 \t\r\n\x00\x0b\xa0\xc2\xc3\xe2\xf0\xf5\xff\x80=[]:";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let funcs: Vec<(&str, TransformFn)> = names()
            .filter_map(|n| lookup(n).map(|t| (n, t.func)))
            .collect();
        for _ in 0..3000 {
            let len = (next() % 24) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            for (name, f) in &funcs {
                if let Cow::Owned(out) = f(&input) {
                    assert_ne!(out, input, "t:{name} returned an unchanged value as Owned");
                }
            }
        }
    }
}

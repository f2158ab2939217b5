//! `t:phpArgsNames` (libmodsecurity `php_args_names.cc`): rewrites an argument name the
//! way PHP's `php_register_variable_ex` does when it registers a request variable.
//!
//! - A name starting with `[` or `=` becomes empty; leading spaces are skipped.
//! - Before the first `[` that has a matching `]` later on, spaces and dots become `_`; a
//!   `[` without any `]` after it becomes `_` and stops that conversion.
//! - From a `[` with a `]`, the bracketed groups `[...]` are copied one after the other
//!   (a group that is exactly `[ ]` gives `[]`); anything after the last group is dropped.
//!
//! Note: this transformation exists in libmodsecurity's transformation factory (and its
//! unit tests) but the v3 SecLang parser does not list `t:phpArgsNames`, so rules using it
//! would not load in ModSecurity.
//!
//! The C code treats the value as a C string (`strchr`), so searches for `]` stop at a NUL.

use std::borrow::Cow;

/// `strchr(&value[from], ']')` on the NUL-terminated value.
fn find_close(value: &[u8], from: usize) -> Option<usize> {
    let rest = value.get(from..)?;
    let stop = memchr::memchr(0, rest).unwrap_or(rest.len());
    memchr::memchr(b']', rest.get(..stop)?).map(|p| from + p)
}

/// `t:phpArgsNames`.
pub(super) fn php_args_names(input: &[u8]) -> Cow<'_, [u8]> {
    let at = |k: usize| input.get(k).copied().unwrap_or(0);
    if matches!(at(0), b'[' | b'=') {
        return super::util::finish(input, Vec::new());
    }
    let mut i = 0;
    while at(i) == b' ' {
        i += 1;
    }
    let len = input.len();
    let mut out = Vec::with_capacity(len);
    let mut is_array = false;
    let mut open_bracket = false;
    while i < len {
        let c = at(i);
        if c == b'[' && !open_bracket {
            if find_close(input, i).is_some() {
                is_array = true;
                break;
            }
            out.push(b'_');
            open_bracket = true;
        } else if !open_bracket && (c == b' ' || c == b'.') {
            out.push(b'_');
        } else {
            out.push(c);
        }
        i += 1;
    }
    if is_array {
        while let Some(close) = find_close(input, i) {
            let group_end = close + 1;
            if group_end - i == 3 && at(i + 1) == b' ' {
                out.push(b'[');
                i += 2;
            }
            if let Some(group) = input.get(i..group_end) {
                out.extend_from_slice(group);
            }
            i = i.max(group_end);
            if i >= len || at(i) != b'[' {
                break;
            }
        }
    }
    super::util::finish(input, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        String::from_utf8_lossy(&php_args_names(s.as_bytes())).into_owned()
    }

    #[test]
    fn names() {
        assert_eq!(p("a_b.c"), "a_b_c");
        assert_eq!(p("a[_b c."), "a__b c.");
        assert_eq!(p("  a b"), "a_b");
        assert_eq!(p("[a]"), "");
        assert_eq!(p("=a"), "");
        assert_eq!(p("a_[b][ ]c d_"), "a_[b][]");
        assert_eq!(p("a[b]x[c]"), "a[b]");
        assert_eq!(p("a.b[c.d][e f]"), "a_b[c.d][e f]");
        assert_eq!(p("a[\0]"), "a_\0]");
        assert!(matches!(php_args_names(b"abc"), Cow::Borrowed(_)));
    }
}

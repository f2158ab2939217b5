//! Cookie header parsing for REQUEST_COOKIES / REQUEST_COOKIES_NAMES, as v3's
//! `Transaction::addRequestHeader` does it (SecCookieFormat 0, the only format v3 has).
//!
//! - The header value is split on `;` like `std::getline` (a single trailing `;` adds
//!   nothing).
//! - Trailing whitespace (C `isspace`) of the last piece is removed.
//! - Empty pieces are skipped.
//! - Each piece is split at its first `=`; a piece without `=` is a name with an empty
//!   value; the value keeps everything after the first `=` (further `=`, quotes, spaces).
//! - Leading whitespace of the name is removed (trailing whitespace is kept); a piece whose
//!   name is then empty (`=bar`, `  =bar`) is skipped.
//! - Names and values are not URL-decoded.
//!
//! Each Cookie header is parsed on its own; call [`parse`] once per header.

use super::{is_c_space, Pair};

/// Parses one Cookie header value, appending `(name, value)` pairs to `out`.
pub fn parse(header_value: &[u8], out: &mut Vec<Pair>) {
    if header_value.is_empty() {
        return;
    }
    let mut pieces: Vec<&[u8]> = header_value.split(|&b| b == b';').collect();
    if pieces.last().is_some_and(|p| p.is_empty()) {
        // `std::getline` yields no token for the empty tail after a final separator.
        pieces.pop();
    }
    if let Some(last) = pieces.last_mut() {
        let keep = last
            .iter()
            .rposition(|&b| !is_c_space(b))
            .map_or(0, |i| i + 1);
        *last = &last[..keep];
    }
    for piece in pieces {
        if piece.is_empty() {
            continue;
        }
        let (name, value) = match memchr::memchr(b'=', piece) {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, &piece[piece.len()..]),
        };
        let lead = name
            .iter()
            .position(|&b| !is_c_space(b))
            .unwrap_or(name.len());
        let name = &name[lead..];
        if name.is_empty() {
            continue;
        }
        out.push((name.to_vec(), value.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(v: &[u8]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        parse(v, &mut out);
        out.into_iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(&n).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect()
    }

    fn p(n: &str, v: &str) -> (String, String) {
        (n.to_string(), v.to_string())
    }

    #[test]
    fn simple_cookies() {
        assert_eq!(
            run(b"a=1; b=2;c=3"),
            vec![p("a", "1"), p("b", "2"), p("c", "3")]
        );
    }

    #[test]
    fn values_keep_quotes_spaces_and_equals() {
        assert_eq!(
            run(b"a=\"quoted\"; b= spaced ; c=x=y"),
            vec![p("a", "\"quoted\""), p("b", " spaced "), p("c", "x=y")]
        );
    }

    #[test]
    fn names_are_left_trimmed_only() {
        assert_eq!(run(b"  a =1;\tb=2"), vec![p("a ", "1"), p("b", "2")]);
    }

    #[test]
    fn cookie_without_equals_is_a_name() {
        assert_eq!(run(b"flag; a=1"), vec![p("flag", ""), p("a", "1")]);
    }

    #[test]
    fn empty_pieces_and_empty_names_are_skipped() {
        assert_eq!(run(b";;foo=bar"), vec![p("foo", "bar")]);
        assert_eq!(run(b"=bar; x=1"), vec![p("x", "1")]);
        assert_eq!(run(b"   =bar"), vec![]);
        assert_eq!(run(b""), vec![]);
        assert_eq!(run(b";"), vec![]);
    }

    #[test]
    fn trailing_whitespace_of_final_cookie_is_removed() {
        assert_eq!(run(b"a=1 ; b=2  \t"), vec![p("a", "1 "), p("b", "2")]);
        assert_eq!(run(b"a=1; "), vec![p("a", "1")]);
        assert_eq!(run(b"a=1;"), vec![p("a", "1")]);
    }

    #[test]
    fn no_url_decoding() {
        assert_eq!(run(b"a=%41+b"), vec![p("a", "%41+b")]);
    }

    #[test]
    fn dollar_version_cookie_name() {
        // CRS 921250 looks for REQUEST_COOKIES:/\x22?\x24Version/.
        assert_eq!(
            run(b"$Version=1; a=b"),
            vec![p("$Version", "1"), p("a", "b")]
        );
    }
}

//! `application/x-www-form-urlencoded` parsing, used for QUERY_STRING (ARGS_GET) and for
//! URLENCODED request bodies (ARGS_POST), as v3's `Transaction::extractArguments`.
//!
//! v3 semantics reproduced here:
//! - The input is split on the separator (SecArgumentSeparator, default `&`) the way
//!   `std::getline` does: an empty input gives no argument, an empty segment in the middle
//!   (`a=1&&b=2`, or a leading `&`) gives an argument with an empty name and empty value, a
//!   single trailing separator adds nothing.
//! - Each segment is split at its first `=`; a segment without `=` is kept with an empty
//!   value.
//! - Names and values are decoded with `urldecode_nonstrict`: `+` becomes a space, `%XX`
//!   (two hex digits) becomes the byte, any other `%` is kept as is and counts as invalid
//!   encoding (the engine then sets URLENCODED_ERROR to 1).
//! - SecArgumentsLimit: v3's `addArgument` silently skips every argument once ARGS already
//!   holds the limit (a debug-log line, no variable, no error); parsing continues, so later
//!   invalid encodings still set URLENCODED_ERROR.

use super::{Limits, Pair};

/// What [`parse`] reports besides the pairs it appended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlencodedOutcome {
    /// Number of pairs appended to `out`.
    pub added: usize,
    /// Some `%` was not followed by two hex digits (in a name or a value): the engine sets
    /// URLENCODED_ERROR to `1`.
    ///
    /// Note: v3 3.0.13+ resets the invalid count between the name and the value, so only
    /// an invalid value is reported there; earlier 3.0.x releases (and this function)
    /// report both.
    pub invalid_encoding: bool,
    /// Some arguments were skipped because `limits.max_args` was reached. v3 sets no
    /// variable for this (it only logs); the flag is informational.
    pub limit_exceeded: bool,
}

/// Parses `data` as urlencoded arguments, appending decoded `(name, value)` pairs to `out`.
///
/// `limits.max_args` is the number of pairs this call may append. v3 counts every ARGS
/// entry (GET and POST together) against SecArgumentsLimit, so for a request body the
/// engine should pass the limit minus the number of ARGS already present.
pub fn parse(
    data: &[u8],
    separator: u8,
    limits: &Limits,
    out: &mut Vec<Pair>,
) -> UrlencodedOutcome {
    let mut outcome = UrlencodedOutcome::default();
    if data.is_empty() {
        return outcome;
    }
    let mut start = 0usize;
    loop {
        let end = memchr::memchr(separator, &data[start..]).map_or(data.len(), |i| start + i);
        let segment = &data[start..end];
        let (name, value) = match memchr::memchr(b'=', segment) {
            Some(eq) => (&segment[..eq], &segment[eq + 1..]),
            None => (segment, &segment[segment.len()..]),
        };
        if outcome.added < limits.max_args {
            let mut n = Vec::with_capacity(name.len());
            let mut v = Vec::with_capacity(value.len());
            let bad_name = decode_into(name, &mut n);
            let bad_value = decode_into(value, &mut v);
            if bad_name || bad_value {
                outcome.invalid_encoding = true;
            }
            out.push((n, v));
            outcome.added += 1;
        } else {
            outcome.limit_exceeded = true;
            if has_invalid_encoding(name) || has_invalid_encoding(value) {
                outcome.invalid_encoding = true;
            }
        }
        if end >= data.len() {
            break;
        }
        start = end + 1;
        // `std::getline` yields no token for the empty tail after a final separator.
        if start >= data.len() {
            break;
        }
    }
    outcome
}

/// Decodes one name or value like v3's `urldecode_nonstrict_inplace`, appending to `out`.
/// Returns true when some `%` was not followed by two hex digits (the `%` is kept).
pub fn decode_into(src: &[u8], out: &mut Vec<u8>) -> bool {
    let mut invalid = false;
    let mut i = 0usize;
    while i < src.len() {
        // Copy the run of bytes that need no decoding.
        let run_end = src[i..]
            .iter()
            .position(|&b| b == b'%' || b == b'+')
            .map_or(src.len(), |p| i + p);
        out.extend_from_slice(&src[i..run_end]);
        i = run_end;
        match src.get(i) {
            Some(b'+') => {
                out.push(b' ');
                i += 1;
            }
            Some(b'%') => match (
                src.get(i + 1).and_then(|&c| hex_value(c)),
                src.get(i + 2).and_then(|&c| hex_value(c)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    invalid = true;
                    i += 1;
                }
            },
            _ => {}
        }
    }
    invalid
}

/// True when decoding `src` would report invalid encoding (without decoding it).
fn has_invalid_encoding(src: &[u8]) -> bool {
    memchr::memchr_iter(b'%', src).any(|i| {
        !(src.get(i + 1).is_some_and(|&c| hex_value(c).is_some())
            && src.get(i + 2).is_some_and(|&c| hex_value(c).is_some()))
    })
}

#[inline]
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &[u8]) -> (Vec<(String, String)>, UrlencodedOutcome) {
        let mut out = Vec::new();
        let o = parse(data, b'&', &Limits::default(), &mut out);
        let pairs = out
            .into_iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(&n).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        (pairs, o)
    }

    fn p(n: &str, v: &str) -> (String, String) {
        (n.to_string(), v.to_string())
    }

    #[test]
    fn basic_pairs_and_decoding() {
        let (pairs, o) = run(b"a=1&b=hello+world&c=%3Cscript%3E&d%20x=y%2bz");
        assert_eq!(
            pairs,
            vec![
                p("a", "1"),
                p("b", "hello world"),
                p("c", "<script>"),
                p("d x", "y+z")
            ]
        );
        assert_eq!(o.added, 4);
        assert!(!o.invalid_encoding);
        assert!(!o.limit_exceeded);
    }

    #[test]
    fn parameter_without_equals_is_kept() {
        let (pairs, _) = run(b"foo&bar=1&baz");
        assert_eq!(pairs, vec![p("foo", ""), p("bar", "1"), p("baz", "")]);
    }

    #[test]
    fn value_keeps_later_equals() {
        let (pairs, _) = run(b"a=b=c&=x&y=");
        assert_eq!(pairs, vec![p("a", "b=c"), p("", "x"), p("y", "")]);
    }

    #[test]
    fn empty_segments_follow_getline() {
        // Middle and leading empty segments become empty arguments; one trailing separator
        // adds nothing; an empty input gives nothing.
        assert_eq!(
            run(b"a=1&&b=2").0,
            vec![p("a", "1"), p("", ""), p("b", "2")]
        );
        assert_eq!(run(b"&a=1").0, vec![p("", ""), p("a", "1")]);
        assert_eq!(run(b"a=1&").0, vec![p("a", "1")]);
        assert_eq!(run(b"a=1&&").0, vec![p("a", "1"), p("", "")]);
        assert_eq!(run(b"&").0, vec![p("", "")]);
        assert_eq!(run(b"").0, vec![]);
    }

    #[test]
    fn invalid_percent_sequences_are_kept_and_reported() {
        let (pairs, o) = run(b"a=%zz&b=%4&c=%&d=100%25");
        assert_eq!(
            pairs,
            vec![p("a", "%zz"), p("b", "%4"), p("c", "%"), p("d", "100%")]
        );
        assert!(o.invalid_encoding);
        let (_, o) = run(b"%g1=ok");
        assert!(
            o.invalid_encoding,
            "invalid encoding in a name is reported too"
        );
        let (pairs, o) = run(b"x=%41%42");
        assert_eq!(pairs, vec![p("x", "AB")]);
        assert!(!o.invalid_encoding);
    }

    #[test]
    fn decodes_to_arbitrary_bytes() {
        let mut out = Vec::new();
        parse(b"k=%00%ff%C2%a0", b'&', &Limits::default(), &mut out);
        assert_eq!(out, vec![(b"k".to_vec(), vec![0x00, 0xff, 0xc2, 0xa0])]);
    }

    #[test]
    fn custom_separator() {
        let mut out = Vec::new();
        parse(b"a=1;b=2&c=3", b';', &Limits::default(), &mut out);
        assert_eq!(
            out,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2&c=3".to_vec())
            ]
        );
    }

    #[test]
    fn argument_limit_skips_silently_but_keeps_scanning() {
        let limits = Limits {
            max_args: 2,
            ..Limits::default()
        };
        let mut out = Vec::new();
        let o = parse(b"a=1&b=2&c=3&d=%zz", b'&', &limits, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(o.added, 2);
        assert!(o.limit_exceeded);
        assert!(
            o.invalid_encoding,
            "skipped arguments still set URLENCODED_ERROR in v3"
        );
    }

    #[test]
    fn huge_argument_count() {
        let data = "x=1&".repeat(200_000);
        let limits = Limits {
            max_args: usize::MAX,
            ..Limits::default()
        };
        let mut out = Vec::new();
        let o = parse(data.as_bytes(), b'&', &limits, &mut out);
        assert_eq!(o.added, 200_000);
        let mut out = Vec::new();
        let o = parse(data.as_bytes(), b'&', &Limits::default(), &mut out);
        assert_eq!(o.added, 1000);
        assert!(o.limit_exceeded);
    }
}

//! `t:htmlEntityDecode` (libmodsecurity v3/master `html_entity_decode.cc`).
//!
//! - `&#DDD` / `&#xHH` / `&#XHH`, with or without the closing `;`: all the digits are
//!   consumed and converted like `strtol` (saturating at `LONG_MAX` on overflow), and the
//!   low byte of the value is emitted (`&#x41;`, `&#65`, `&#0000065;` give `A`; `&#x141;`
//!   gives `A` too; `&#99999999999999999999;` gives 0xFF).
//! - Named entities: the alphanumeric run after `&` must equal (case-insensitively, whole
//!   token) one of the names in [`NAMED_ENTITIES`], the ASCII-range set of v3/master after
//!   GHSA-cxqf-vgrr-xxrv (`nbsp` gives the single byte 0xA0); `;` is optional. Unknown names
//!   are copied unchanged (`&ltest;` stays as is).
//! - Anything else (`&`, `&#`, `&#x` without digits, `&;`) is copied.

use std::borrow::Cow;

use super::util::finish;

/// Named entities decoded by libmodsecurity v3/master, with their byte.
pub(super) const NAMED_ENTITIES: &[(&str, u8)] = &[
    ("amp", b'&'),
    ("apos", b'\''),
    ("ast", b'*'),
    ("bsol", b'\\'),
    ("caret", b'^'),
    ("colon", b':'),
    ("comma", b','),
    ("commat", b'@'),
    ("dollar", b'$'),
    ("equals", b'='),
    ("grave", b'`'),
    ("gt", b'>'),
    ("hyphen", b'-'),
    ("lbrace", b'{'),
    ("lbrack", b'['),
    ("lowbar", b'_'),
    ("lpar", b'('),
    ("lt", b'<'),
    ("nbsp", 0xa0),
    ("num", b'#'),
    ("percnt", b'%'),
    ("period", b'.'),
    ("plus", b'+'),
    ("quest", b'?'),
    ("quot", b'"'),
    ("rbrace", b'}'),
    ("rbrack", b']'),
    ("rpar", b')'),
    ("semi", b';'),
    ("sol", b'/'),
    ("tilde", b'~'),
    ("verbar", b'|'),
];

fn named(name: &[u8]) -> Option<u8> {
    NAMED_ENTITIES
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        .map(|&(_, b)| b)
}

/// `strtol` over a run of valid digits, saturating at `LONG_MAX`; returns the low byte.
fn strtol_low_byte(digits: &[u8], radix: u32) -> u8 {
    let mut v: u64 = 0;
    for &d in digits {
        let dv = u64::from(super::util::hex_val(d));
        match v
            .checked_mul(u64::from(radix))
            .and_then(|x| x.checked_add(dv))
        {
            Some(x) if x <= i64::MAX as u64 => v = x,
            _ => return (i64::MAX & 0xff) as u8,
        }
    }
    (v & 0xff) as u8
}

/// Length of the run at the start of `s` whose bytes satisfy `pred`.
fn run(s: &[u8], pred: impl Fn(&u8) -> bool) -> usize {
    s.iter().position(|c| !pred(c)).unwrap_or(s.len())
}

/// Decodes the entity starting at `input[i] == '&'`: `Ok((byte, next_index))`, or
/// `Err(n)`: copy `n` bytes verbatim.
fn entity_at(input: &[u8], i: usize) -> Result<(u8, usize), usize> {
    let after = |j: usize| -> usize {
        if input.get(j) == Some(&b';') {
            j + 1
        } else {
            j
        }
    };
    let j = i + 1;
    match input.get(j) {
        None => Err(1),
        Some(b'#') => {
            let j = j + 1;
            match input.get(j) {
                None => Err(2),
                Some(b'x' | b'X') => {
                    let k = j + 1;
                    if k >= input.len() {
                        return Err(3);
                    }
                    let digits = input.get(k..).unwrap_or_default();
                    let n = run(digits, u8::is_ascii_hexdigit);
                    if n == 0 {
                        return Err(3);
                    }
                    let b = strtol_low_byte(digits.get(..n).unwrap_or_default(), 16);
                    Ok((b, after(k + n)))
                }
                Some(_) => {
                    let digits = input.get(j..).unwrap_or_default();
                    let n = run(digits, u8::is_ascii_digit);
                    if n == 0 {
                        return Err(2);
                    }
                    let b = strtol_low_byte(digits.get(..n).unwrap_or_default(), 10);
                    Ok((b, after(j + n)))
                }
            }
        }
        Some(_) => {
            let name = input.get(j..).unwrap_or_default();
            let n = run(name, u8::is_ascii_alphanumeric);
            if n == 0 {
                return Err(1);
            }
            match named(name.get(..n).unwrap_or_default()) {
                Some(b) => Ok((b, after(j + n))),
                None => Err(n + 1),
            }
        }
    }
}

/// `t:htmlEntityDecode`.
pub(super) fn html_entity_decode(input: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr::memchr(b'&', input) else {
        return Cow::Borrowed(input);
    };
    let mut out = super::util::prefix(input, first);
    let mut i = first;
    while i < input.len() {
        let Some(amp) = memchr::memchr(b'&', input.get(i..).unwrap_or_default()) else {
            out.extend_from_slice(input.get(i..).unwrap_or_default());
            break;
        };
        out.extend_from_slice(input.get(i..i + amp).unwrap_or_default());
        i += amp;
        match entity_at(input, i) {
            Ok((b, next)) => {
                out.push(b);
                i = next;
            }
            Err(n) => {
                out.extend_from_slice(input.get(i..i + n).unwrap_or_default());
                i += n;
            }
        }
    }
    finish(input, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crs_cases() {
        assert_eq!(&*html_entity_decode(b"&lt;&#x3c;&#60;&#x3C"), b"<<<<");
        assert_eq!(
            &*html_entity_decode(b"&LT;&Gt&QUOT;&amp;&nbsp;"),
            b"<>\"&\xa0"
        );
        assert_eq!(
            &*html_entity_decode(b"javascript&colon;alert&lpar;1&rpar;"),
            b"javascript:alert(1)"
        );
        assert_eq!(
            &*html_entity_decode(
                b"&#x24;&#00000000000000000000000000000000000000000000000123;jndi"
            ),
            b"${jndi"
        );
    }

    #[test]
    fn numeric_edges() {
        assert_eq!(&*html_entity_decode(b"&#x141;&#321;"), b"AA");
        assert_eq!(&*html_entity_decode(b"&#99999999999999999999;"), b"\xff");
        assert_eq!(&*html_entity_decode(b"&#xfffffffffffffffffff;"), b"\xff");
        assert_eq!(&*html_entity_decode(b"&#10a;"), b"\na;");
        assert_eq!(&*html_entity_decode(b"&#X2g;"), b"\x02g;");
        assert_eq!(&*html_entity_decode(b"&#xg;&#a;&#;&#"), b"&#xg;&#a;&#;&#");
        assert_eq!(&*html_entity_decode(b"&#x"), b"&#x");
        assert_eq!(&*html_entity_decode(b"&#x;"), b"&#x;");
        assert_eq!(&*html_entity_decode(b"&"), b"&");
    }

    #[test]
    fn named_edges() {
        // Whole-token match only (GHSA-cxqf-vgrr-xxrv).
        assert_eq!(
            &*html_entity_decode(b"&ltest;&foo;&;& x"),
            b"&ltest;&foo;&;& x"
        );
        assert!(matches!(
            html_entity_decode(b"&ltest;&foo;"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            html_entity_decode(b"no entities"),
            Cow::Borrowed(_)
        ));
        assert_eq!(&*html_entity_decode(b"&lt&gt;x"), b"<>x");
    }
}

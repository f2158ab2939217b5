//! `@detectSQLi` and `@detectXSS` (libmodsecurity v3 `detect_sqli.cc`, `detect_xss.cc`)
//! with the `libinjectionrs` port of libinjection. The parameter is ignored.
//!
//! With `capture`, `@detectSQLi` stores the libinjection fingerprint in `TX.0` (e.g.
//! `s&sos`) and `@detectXSS` stores the whole input, as v3 does.
//!
//! libmodsecurity 3.0.x bundles libinjection 3.9, whose XSS check treats every attribute
//! name of five bytes or more that starts with `on` as an event handler. `libinjectionrs`
//! follows later libinjection, which only knows a list of event names, so an input like
//! `<x onfoobar=1>` passes it. `@detectXSS` restores the 3.9 rule on top of it, with the
//! crate's own HTML5 tokenizer.

use libinjectionrs::xss::{Html5Flags, Html5State, TokenType};

use super::{Captures, CompileCtx, Operator, OperatorEnv};

pub(super) fn compile_detect_sqli(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Ok(Box::new(DetectSqli))
}

pub(super) fn compile_detect_xss(
    _param: &str,
    _ctx: &CompileCtx<'_>,
) -> Result<Box<dyn Operator>, String> {
    Ok(Box::new(DetectXss))
}

#[derive(Debug)]
struct DetectSqli;

impl Operator for DetectSqli {
    fn evaluate(
        &self,
        input: &[u8],
        _env: &mut dyn OperatorEnv,
        captures: Option<&mut Captures>,
    ) -> bool {
        if is_plain_word(input) {
            return false;
        }
        let result = libinjectionrs::detect_sqli(input);
        if !result.is_injection() {
            return false;
        }
        if let Some(caps) = captures {
            caps.clear();
            let fingerprint = result
                .fingerprint
                .as_ref()
                .map(|f| f.as_str().as_bytes().to_vec())
                .unwrap_or_default();
            caps.set(0, &fingerprint);
        }
        true
    }
}

#[derive(Debug)]
struct DetectXss;

impl Operator for DetectXss {
    fn evaluate(
        &self,
        input: &[u8],
        _env: &mut dyn OperatorEnv,
        captures: Option<&mut Captures>,
    ) -> bool {
        if !may_be_xss(input) || (!libinjectionrs::detect_xss(input).is_injection() && !legacy_event_attribute(input)) {
            return false;
        }
        if let Some(caps) = captures {
            caps.clear();
            caps.set(0, input);
        }
        true
    }
}

/// Whether `input` is one plain word: only ASCII letters, digits and `_`. libinjection
/// never reports such an input, so neither check has to run.
///
/// SQLi: the input holds no quote, comment, operator, variable, parenthesis or space, so
/// it is tokenized once, in the no-quote context, into at most two tokens (a number or
/// `0x`/`0b`/`1e`-style bareword, then one word); the only fingerprints of one or two
/// tokens libinjection reports are `X` and `1C`, `NC`, `SC`, `VC` (comments), `VU` (an
/// `@` variable) and `1U`, which it lets through when it is the only two tokens. XSS:
/// without `<`, whitespace, `=` or quotes the HTML tokenizer sees one text or attribute
/// value token in every context, and values are only judged after a blacklisted
/// attribute name. `plain_words_are_never_injections` checks this against the crate.
fn is_plain_word(input: &[u8]) -> bool {
    input.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether libinjection's XSS check (and the legacy `on*` check) can report `input` at all.
///
/// Every token it reports comes from one of two places. A tag, comment or doctype needs a
/// `<`: the HTML tokenizer only leaves its text and attribute states through one. An
/// attribute value judged after a blacklisted (or `on*`) attribute name needs a `=`: a
/// value only follows a name through `=`, and the value a context starts in follows no
/// name. Without either byte (long prose, user agents, most argument values) neither check
/// needs to run; `xss_needs_a_tag_or_an_attribute_value` checks this against the crate.
fn may_be_xss(input: &[u8]) -> bool {
    memchr::memchr2(b'<', b'=', input).is_some()
}

/// libinjection 3.9's `is_black_attr` for `on*` names: at least five bytes, starting with
/// `on` in any case.
fn is_legacy_event_name(name: &[u8]) -> bool {
    name.len() >= 5
        && name.first().is_some_and(|c| c.eq_ignore_ascii_case(&b'o'))
        && name.get(1).is_some_and(|c| c.eq_ignore_ascii_case(&b'n'))
}

/// Whether libinjection's name comparison (NUL bytes ignored, ASCII case-insensitive)
/// finds `name` equal to `ATTRIBUTENAME`, the one attribute whose value names another.
fn is_indirect_attribute(name: &[u8]) -> bool {
    name.iter()
        .filter(|&&c| c != 0)
        .map(u8::to_ascii_uppercase)
        .eq(b"ATTRIBUTENAME".iter().copied())
}

/// The part of libinjection 3.9's `libinjection_is_xss` that later versions dropped: an
/// `on*` attribute (or an `attributeName` whose value is `on*`) followed by a value, in
/// any of the five parsing contexts.
fn legacy_event_attribute(input: &[u8]) -> bool {
    const CONTEXTS: [Html5Flags; 5] = [
        Html5Flags::DataState,
        Html5Flags::ValueNoQuote,
        Html5Flags::ValueSingleQuote,
        Html5Flags::ValueDoubleQuote,
        Html5Flags::ValueBackQuote,
    ];
    // Both cases need an `on` in the input (tokens are slices of it): most values have
    // none and need no parsing.
    if !input.windows(2).any(|w| w.eq_ignore_ascii_case(b"on")) {
        return false;
    }
    CONTEXTS.iter().any(|&context| {
        let mut html = Html5State::new(input, context);
        let mut event = false;
        let mut indirect = false;
        while html.next() {
            let token = html.token_start.get(..html.token_len).unwrap_or_default();
            match html.token_type {
                TokenType::AttrName => {
                    event = is_legacy_event_name(token);
                    indirect = is_indirect_attribute(token);
                }
                TokenType::AttrValue => {
                    if event || (indirect && is_legacy_event_name(token)) {
                        return true;
                    }
                    event = false;
                    indirect = false;
                }
                _ => {
                    event = false;
                    indirect = false;
                }
            }
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{eval, eval_captures};

    #[test]
    fn sqli_fingerprint_is_captured() {
        assert!(!eval("detectSQLi", "", b""));
        assert!(!eval("detectSQLi", "", b"this is not isqli"));
        assert_eq!(
            eval_captures("detectSQLi", "", b"1' or '1'='1"),
            (true, vec![Some(b"s&sos".to_vec())])
        );
        assert_eq!(
            eval_captures(
                "detectSQLi",
                "",
                b"ascii(substring(version() from 1 for 1))"
            ),
            (true, vec![Some(b"f(f(f".to_vec())])
        );
    }

    /// A deterministic xorshift generator: `next(bound)` is in `0..bound`.
    fn pseudo_random(seed: u64) -> impl FnMut(usize) -> usize {
        let mut x = seed;
        move |bound| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % bound as u64) as usize
        }
    }

    /// The shortcut in `is_plain_word` against the crate itself: every SQL keyword and
    /// fingerprint libinjection knows that is a plain word, alone and glued to the number
    /// forms its tokenizer reads specially, plus pseudo-random words built from them, are
    /// reported by neither check.
    #[test]
    fn plain_words_are_never_injections() {
        use libinjectionrs::sqli::sqli_data::SQL_KEYWORDS;
        let words: Vec<&str> = SQL_KEYWORDS
            .iter()
            .map(|k| k.word.trim_start_matches('0'))
            .filter(|w| super::is_plain_word(w.as_bytes()))
            .collect();
        assert!(words.len() > 500, "keyword table not found ({} words)", words.len());
        let numbers = ["", "1", "12", "0", "0x", "0X", "0x1f", "0b", "0B", "0b1", "1e", "1E", "1e1", "1e1d", "1d", "1f", "1F", "1D", "9u"];
        let mut inputs: Vec<String> = vec![String::new()];
        for w in &words {
            for n in numbers {
                inputs.push(format!("{n}{w}"));
                inputs.push(format!("{n}{}", w.to_ascii_lowercase()));
                inputs.push(format!("{w}{n}"));
            }
        }
        for n in numbers {
            for m in numbers {
                inputs.push(format!("{n}{m}"));
            }
        }
        // Deterministic pseudo-random concatenations of keywords, numbers and letters.
        let mut next = pseudo_random(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..1 + next(4) {
                match next(3) {
                    0 => s.push_str(words[next(words.len())]),
                    1 => s.push_str(numbers[next(numbers.len())]),
                    _ => s.push(b"abcxyzBEQNUX_019"[next(16)] as char),
                }
            }
            inputs.push(s);
        }
        for input in &inputs {
            assert!(super::is_plain_word(input.as_bytes()));
            assert!(!libinjectionrs::detect_sqli(input.as_bytes()).is_injection(), "libinjection reports SQLi in {input:?}");
            assert!(!libinjectionrs::detect_xss(input.as_bytes()).is_injection(), "libinjection reports XSS in {input:?}");
            assert!(!super::legacy_event_attribute(input.as_bytes()), "event attribute in {input:?}");
        }
        // Anything else still goes to libinjection.
        for input in [&b"1 union select"[..], b"1'", b"a.b", b"x-y", b"1 ", b"\xc3\xa9"] {
            assert!(!super::is_plain_word(input));
        }
        assert!(eval("detectSQLi", "", b"1 union select 1"));
    }

    /// The shortcut in `may_be_xss` against the crate: pseudo-random texts built from the
    /// pieces XSS payloads are made of (event and URL attribute names, `javascript:`,
    /// quotes of every kind, `>`, `/`, `!`, `?`, `-`, whitespace, NUL), but without `<` and
    /// `=`, are reported by neither check in any context; the same texts with a `=` or a
    /// `<` spliced in are reported often, so the pieces do make payloads.
    #[test]
    fn xss_needs_a_tag_or_an_attribute_value() {
        let pieces: [&[u8]; 28] = [
            b"onerror", b"ONLOAD", b"onmouseover", b"style", b"xmlns", b"xlink:href", b"href", b"src", b"formaction",
            b"attributeName", b"javascript:", b"vbscript:", b"data:", b"alert(1)", b"!DOCTYPE", b"--", b"[if", b"import",
            b"\"", b"'", b"`", b" ", b"\t", b"\n", b"/", b">", b"?", b"\0",
        ];
        let mut next = pseudo_random(0x2545_F491_4F6C_DD1D);
        let (mut spliced_reported, mut spliced) = (0, 0);
        for _ in 0..20_000 {
            let mut s: Vec<u8> = Vec::new();
            for _ in 0..1 + next(8) {
                s.extend_from_slice(pieces[next(pieces.len())]);
            }
            assert!(!super::may_be_xss(&s));
            assert!(!libinjectionrs::detect_xss(&s).is_injection(), "libinjection reports XSS in {:?}", String::from_utf8_lossy(&s));
            assert!(!super::legacy_event_attribute(&s), "event attribute in {:?}", String::from_utf8_lossy(&s));
            let at = next(s.len() + 1);
            s.insert(at, if next(2) == 0 { b'=' } else { b'<' });
            spliced += 1;
            if libinjectionrs::detect_xss(&s).is_injection() || super::legacy_event_attribute(&s) {
                spliced_reported += 1;
            }
        }
        assert!(spliced_reported * 20 > spliced, "only {spliced_reported} of {spliced} spliced texts reported");
        assert!(eval("detectXSS", "", b"x onerror=alert(1)"));
        assert!(!eval("detectXSS", "", b"x onerror alert(1) javascript:alert(1) style"));
    }

    #[test]
    fn any_on_attribute_is_an_event_handler_as_in_libinjection_3_9() {
        assert!(eval("detectXSS", "", b"<x onfoobar=1>"));
        assert!(eval(
            "detectXSS",
            "",
            b"/get?  onthisisaverylongword= =vardata"
        ));
        assert!(eval(
            "detectXSS",
            "",
            b"<svg><set attributeName=onfoobar to=alert(1)>"
        ));
        assert!(!eval("detectXSS", "", b"<x one=1>"));
        assert!(!eval("detectXSS", "", b"only words, no markup"));
        assert!(!eval("detectXSS", "", b"on the onward journey"));
    }

    #[test]
    fn xss_captures_the_input() {
        assert!(!eval("detectXSS", "", b"this is not an XSS"));
        let input = b"<script>alert(1)</script>";
        assert_eq!(
            eval_captures("detectXSS", "", input),
            (true, vec![Some(input.to_vec())])
        );
    }
}

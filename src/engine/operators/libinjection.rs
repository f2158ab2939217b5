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
        if !libinjectionrs::detect_xss(input).is_injection() && !legacy_event_attribute(input) {
            return false;
        }
        if let Some(caps) = captures {
            caps.clear();
            caps.set(0, input);
        }
        true
    }
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

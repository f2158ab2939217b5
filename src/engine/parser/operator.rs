//! The operator argument of a SecRule: `@name param`, `!@name param`, or a bare pattern
//! (an implicit `@rx`).

use pest::Parser;

use super::super::ast::{OperatorSpec, ParseError};
use super::grammar::{error_pos, excerpt, Rule, SecLangParser};
use super::text::Ctx;

/// Operators that take no argument (libmodsecurity v3 lexes them without a parameter).
/// Only used for an unquoted operator, to know whether the next word is its argument.
const NO_ARG_OPERATORS: &[&str] = &[
    "detectSQLi",
    "detectXSS",
    "geoLookup",
    "noMatch",
    "unconditionalMatch",
    "validateUrlEncoding",
    "validateUtf8Encoding",
];

/// A parsed operator, and whether it was written `@name` with nothing after the name.
pub(super) struct ParsedOperator {
    pub(super) spec: OperatorSpec,
    pub(super) name_only: bool,
}

impl ParsedOperator {
    /// `@name` alone, for an operator that needs an argument: in an unquoted SecRule the
    /// argument is the next word (`SecRule ARGS @rx foo "id:1"`).
    pub(super) fn wants_next_word(&self) -> bool {
        self.name_only
            && !NO_ARG_OPERATORS
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&self.spec.name))
    }
}

/// Parses the operator argument `text`, a verbatim slice of the file at offset `base`.
/// The parameter is kept exactly as written (backslashes included): `"@rx \d\""` gives
/// the parameter `\d\"`, which is what libmodsecurity v3 hands to the operator.
pub(super) fn parse_operator(
    text: &str,
    base: usize,
    ctx: &Ctx,
    directive: &str,
) -> Result<ParsedOperator, ParseError> {
    let head = match SecLangParser::parse(Rule::operator, text) {
        Ok(mut pairs) => pairs.next(),
        Err(e) => {
            let pos = error_pos(&e);
            return Err(ctx.err(base + pos, Some(directive), "invalid operator"));
        }
    };
    let head_end = head.as_ref().map_or(0, |p| p.as_span().end());
    let mut negated = false;
    let mut name = None;
    for part in head.into_iter().flat_map(|p| p.into_inner()) {
        match part.as_rule() {
            Rule::op_not => negated = true,
            Rule::op_named => {
                name = part
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::op_name)
                    .map(|p| p.as_str());
            }
            _ => {}
        }
    }
    let param = text.get(head_end..).unwrap_or("");
    let (name, name_only) = match name {
        Some(name) => (name, param.is_empty()),
        None if param.starts_with('@') => {
            let (pos, message) = describe_bad_name(param);
            return Err(ctx.err(base + head_end + pos, Some(directive), message));
        }
        None if param.is_empty() => {
            return Err(ctx.err(base, Some(directive), "empty operator"));
        }
        None => ("rx", false),
    };
    Ok(ParsedOperator {
        spec: OperatorSpec {
            negated,
            name: name.to_owned(),
            param: param.to_owned(),
        },
        name_only,
    })
}

/// Error for `@...` that is not `@name` followed by a blank: (offset in `s`, message).
fn describe_bad_name(s: &str) -> (usize, String) {
    let name_len = s.get(1..).map_or(0, |r| {
        r.bytes().take_while(u8::is_ascii_alphanumeric).count()
    });
    if name_len == 0 {
        return (1, "missing operator name after '@'".to_owned());
    }
    let name = s.get(1..=name_len).unwrap_or("");
    let after = s
        .get(name_len + 1..)
        .and_then(|r| r.chars().next())
        .unwrap_or(' ');
    (
        name_len + 1,
        format!(
            "unexpected '{}' after operator name '@{name}' (a space must separate the \
             operator from its argument)",
            excerpt(&after.to_string())
        ),
    )
}

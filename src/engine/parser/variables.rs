//! SecRule variable lists: `ARGS|!ARGS:foo|&TX:bar|REQUEST_COOKIES:/^__utm/|XML://@*`.

use pest::iterators::Pair;
use pest::Parser;

use super::super::ast::{ParseError, Selector, VariableSpec};
use super::grammar::{around, blank_before, error_pos, Rule, SecLangParser};
use super::text::{unescape_single_quoted, Ctx};

/// Parses the variable list `text`, a verbatim slice of the file starting at offset `base`.
pub(super) fn parse_variables(
    text: &str,
    base: usize,
    ctx: &Ctx,
    directive: &str,
) -> Result<Vec<VariableSpec>, ParseError> {
    let list = match SecLangParser::parse(Rule::var_list, text) {
        Ok(mut pairs) => pairs.next(),
        Err(e) => {
            let pos = error_pos(&e);
            return Err(ctx.err(base + pos, Some(directive), describe_error(text, pos)));
        }
    };
    let mut out = Vec::new();
    for var in list.into_iter().flat_map(Pair::into_inner) {
        if var.as_rule() == Rule::var {
            out.push(build_variable(var, base, ctx, directive)?);
        }
    }
    Ok(out)
}

fn build_variable(
    var: Pair<Rule>,
    base: usize,
    ctx: &Ctx,
    directive: &str,
) -> Result<VariableSpec, ParseError> {
    let mut spec = VariableSpec {
        negated: false,
        count: false,
        name: String::new(),
        selector: None,
    };
    let mut colon_at = None;
    for part in var.into_inner() {
        match part.as_rule() {
            Rule::var_not => spec.negated = true,
            Rule::var_count => spec.count = true,
            Rule::var_name => spec.name = part.as_str().to_ascii_uppercase(),
            Rule::var_colon => colon_at = Some(part.as_span().start()),
            Rule::key_sq => {
                let inner = part.into_inner().next().map_or("", |p| p.as_str());
                let key = unescape_single_quoted(inner);
                spec.selector = Some(match regex_body(&key) {
                    Some(body) => Selector::Regex(body.to_owned()),
                    None => Selector::Key(key),
                });
            }
            Rule::key_regex => {
                let inner = part.into_inner().next().map_or("", |p| p.as_str());
                spec.selector = Some(Selector::Regex(inner.to_owned()));
            }
            Rule::key_plain => spec.selector = Some(Selector::Key(part.as_str().to_owned())),
            _ => {}
        }
    }
    if let Some(colon) = colon_at {
        let empty = match &spec.selector {
            None => true,
            Some(Selector::Key(k)) | Some(Selector::Regex(k)) => k.is_empty(),
        };
        if empty {
            return Err(ctx.err(
                base + colon,
                Some(directive),
                format!("empty key after ':' in variable '{}'", spec.name),
            ));
        }
    }
    Ok(spec)
}

/// `/body/` (at least one character between the slashes) -> `body`.
fn regex_body(key: &str) -> Option<&str> {
    if key.len() >= 3 && key.starts_with('/') && key.ends_with('/') {
        key.get(1..key.len() - 1)
    } else {
        None
    }
}

fn describe_error(text: &str, pos: usize) -> String {
    let (at, before) = around(text, pos);
    match (at, before) {
        (None, None) => "empty variable list".to_owned(),
        (None, Some(c @ ('|' | ','))) => format!("variable list ends with '{c}'"),
        (None, Some(c @ ('!' | '&'))) | (Some(_), Some(c @ ('!' | '&'))) => {
            format!("expected a variable name after '{c}'")
        }
        (None, Some(_)) => "unexpected end of variable list".to_owned(),
        (Some(c @ ('|' | ',')), _) => format!("empty variable before '{c}'"),
        (Some(c), _) if blank_before(text, pos) => {
            format!("unexpected '{c}' in variable list (variables are separated by '|')")
        }
        (Some(c), _) => format!("unexpected character '{c}' in variable list"),
    }
}

//! Action lists: `id:1,phase:2,t:none,msg:'text, with commas',setvar:'tx.a=+1',deny`.

use pest::iterators::Pair;
use pest::Parser;

use super::super::ast::{ActionSpec, ParseError};
use super::grammar::{around, blank_before, error_pos, excerpt, Rule, SecLangParser};
use super::text::{has_continuation, trim_trailing_blank, unescape_single_quoted, Ctx};

/// Parses the action list `text`, a verbatim slice of the file at offset `base`.
///
/// A value in single quotes loses its quotes and its `\'` escapes; every other byte of it
/// is kept as written (a `\` + newline inside quotes too, as libmodsecurity v3 does). An
/// unquoted value runs to the next `,`, without its trailing blanks.
pub(super) fn parse_actions(
    text: &str,
    base: usize,
    ctx: &Ctx,
    directive: &str,
) -> Result<Vec<ActionSpec>, ParseError> {
    let list = match SecLangParser::parse(Rule::action_list, text) {
        Ok(mut pairs) => pairs.next(),
        Err(e) => {
            let pos = error_pos(&e);
            return Err(ctx.err(base + pos, Some(directive), describe_error(text, pos)));
        }
    };
    let mut out = Vec::new();
    for action in list.into_iter().flat_map(Pair::into_inner) {
        if action.as_rule() == Rule::action {
            out.push(build_action(action, base, ctx, directive)?);
        }
    }
    Ok(out)
}

fn build_action(
    action: Pair<Rule>,
    base: usize,
    ctx: &Ctx,
    directive: &str,
) -> Result<ActionSpec, ParseError> {
    let mut name = "";
    let mut colon_end = None;
    let mut value = None;
    for part in action.into_inner() {
        match part.as_rule() {
            Rule::action_name => name = part.as_str(),
            Rule::action_colon => colon_end = Some(part.as_span().end()),
            Rule::sq_value => {
                let inner = part.into_inner().next().map_or("", |p| p.as_str());
                value = Some(unescape_single_quoted(inner));
            }
            Rule::bare_value => {
                let start = part.as_span().start();
                let raw = part.as_str();
                if raw.starts_with('\'') {
                    return Err(ctx.err(
                        base + start,
                        Some(directive),
                        format!("unterminated single-quoted value of action '{name}'"),
                    ));
                }
                let v = trim_trailing_blank(raw);
                if has_continuation(v) {
                    return Err(ctx.err(
                        base + start,
                        Some(directive),
                        format!(
                            "the unquoted value of action '{name}' continues on the next line \
                             (missing ',' at the end of the line?)"
                        ),
                    ));
                }
                if v.is_empty() {
                    return Err(ctx.err(
                        base + colon_end.unwrap_or(start),
                        Some(directive),
                        format!("missing value after '{name}:'"),
                    ));
                }
                value = Some(v.to_owned());
            }
            _ => {}
        }
    }
    Ok(ActionSpec {
        name: name.to_owned(),
        value,
    })
}

fn describe_error(text: &str, pos: usize) -> String {
    match around(text, pos) {
        (None, Some(',')) => "action list ends with ','".to_owned(),
        (None, _) => "unexpected end of action list".to_owned(),
        (Some(','), None) => "action list starts with ','".to_owned(),
        (Some(','), Some(',')) => "empty action between two commas".to_owned(),
        (Some(c), Some('\'')) => format!(
            "expected ',' after a quoted value, found '{}'",
            excerpt(&c.to_string())
        ),
        (Some(c), Some(_)) if blank_before(text, pos) && c.is_ascii_alphanumeric() => {
            "missing ',' between actions".to_owned()
        }
        (Some(c), _) => format!(
            "unexpected character '{}' in action list",
            excerpt(&c.to_string())
        ),
    }
}

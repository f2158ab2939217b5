//! From the top-level parse tree of a file to `Directive`s.

use std::sync::Arc;

use pest::iterators::Pair;
use pest::Parser;

use super::super::ast::{ActionSpec, Directive, DirectiveKind, ParseError, RuleSelectorKind};
use super::actions::parse_actions;
use super::directives::canonical_directive;
use super::grammar::{error_pos, excerpt, Rule, SecLangParser};
use super::operator::parse_operator;
use super::text::{unquote_bare, Ctx, LineIndex};
use super::variables::parse_variables;

/// Parses one file's text (no `Include` expansion).
pub(super) fn parse_text(text: &str, file: Arc<str>) -> Result<Vec<Directive>, ParseError> {
    let lines = LineIndex::new(text);
    let ctx = Ctx {
        file: &file,
        lines: &lines,
    };
    let config = match SecLangParser::parse(Rule::config, text) {
        Ok(mut pairs) => pairs.next(),
        // The grammar accepts every input; this is a safety net.
        Err(e) => return Err(ctx.err(error_pos(&e), None, "syntax error")),
    };
    let mut out = Vec::new();
    for pair in config.into_iter().flat_map(Pair::into_inner) {
        if pair.as_rule() == Rule::directive {
            out.push(build_directive(pair, &ctx)?);
        }
    }
    Ok(out)
}

/// One argument of a directive, as written.
struct RawArg<'i> {
    /// Between double quotes (`text` is then what is inside them).
    quoted: bool,
    text: &'i str,
    /// File offset of `text`.
    start: usize,
    /// File offset just after the argument (closing quote included).
    end: usize,
}

impl<'i> RawArg<'i> {
    /// The argument without its quotes (double, or single around a whole bare word).
    fn unquoted(&self) -> &'i str {
        if self.quoted {
            self.text
        } else {
            unquote_bare(self.text)
        }
    }
}

fn build_directive(pair: Pair<Rule>, ctx: &Ctx) -> Result<Directive, ParseError> {
    let mut parts = pair.into_inner();
    let body = parts.next();
    let junk = parts.find(|p| p.as_rule() == Rule::junk);
    let Some(body) = body else {
        return Err(ctx.err(0, None, "syntax error"));
    };
    let form = body.as_rule();
    let mut items = body.into_inner();
    let Some(name_pair) = items.next() else {
        return Err(ctx.err(0, None, "syntax error"));
    };
    let name = name_pair.as_str();
    let name_span = name_pair.as_span();

    let mut args = Vec::new();
    for item in items {
        args.push(raw_arg(item, ctx, name)?);
    }
    if let Some(j) = junk {
        return Err(ctx.err(
            j.as_span().start(),
            Some(name),
            format!(
                "unexpected text after a quoted argument: '{}' (a space must separate arguments)",
                excerpt(j.as_str())
            ),
        ));
    }

    let d = DirectiveBuilder {
        ctx,
        name,
        name_start: name_span.start(),
        name_end: name_span.end(),
        args,
    };
    let kind = match form {
        Rule::secrule => d.secrule()?,
        Rule::actions_dir => {
            let actions = d.actions_arg(0)?;
            d.no_more(1)?;
            if name.eq_ignore_ascii_case("SecAction") {
                DirectiveKind::SecAction { actions }
            } else {
                DirectiveKind::SecDefaultAction { actions }
            }
        }
        Rule::update_action => {
            let selector = d.required(0, "rule id")?.unquoted().to_owned();
            let actions = d.actions_arg(1)?;
            d.no_more(2)?;
            DirectiveKind::SecRuleUpdateActionById { selector, actions }
        }
        _ => d.generic()?,
    };
    Ok(Directive {
        loc: ctx.loc(name_span.start()),
        name: name.to_owned(),
        kind,
    })
}

fn raw_arg<'i>(item: Pair<'i, Rule>, ctx: &Ctx, name: &str) -> Result<RawArg<'i>, ParseError> {
    let span = item.as_span();
    match item.as_rule() {
        Rule::dq | Rule::adq => {
            let inner = item.into_inner().next();
            let (text, start) = inner.map_or(("", span.start() + 1), |p| {
                (p.as_str(), p.as_span().start())
            });
            Ok(RawArg {
                quoted: true,
                text,
                start,
                end: span.end(),
            })
        }
        Rule::dq_open | Rule::adq_open => Err(ctx.err(
            span.start(),
            Some(name),
            "unterminated double-quoted string (a closing '\"' is missing on this line)",
        )),
        _ => Ok(RawArg {
            quoted: false,
            text: item.as_str(),
            start: span.start(),
            end: span.end(),
        }),
    }
}

struct DirectiveBuilder<'a, 'i> {
    ctx: &'a Ctx<'a>,
    name: &'i str,
    name_start: usize,
    name_end: usize,
    args: Vec<RawArg<'i>>,
}

impl<'i> DirectiveBuilder<'_, 'i> {
    fn err(&self, offset: usize, message: impl Into<String>) -> ParseError {
        self.ctx.err(offset, Some(self.name), message)
    }

    /// Where a missing argument `index` was expected: just after the previous one.
    fn expected_at(&self, index: usize) -> usize {
        index
            .checked_sub(1)
            .and_then(|i| self.args.get(i))
            .map_or(self.name_end, |a| a.end)
    }

    fn required(&self, index: usize, what: &str) -> Result<&RawArg<'i>, ParseError> {
        self.args
            .get(index)
            .ok_or_else(|| self.err(self.expected_at(index), format!("missing {what}")))
    }

    fn no_more(&self, count: usize) -> Result<(), ParseError> {
        match self.args.get(count) {
            Some(extra) => Err(self.err(
                extra.start.saturating_sub(usize::from(extra.quoted)),
                format!("unexpected argument '{}'", excerpt(extra.text)),
            )),
            None => Ok(()),
        }
    }

    fn actions_arg(&self, index: usize) -> Result<Vec<ActionSpec>, ParseError> {
        let arg = self.required(index, "action list")?;
        parse_actions(arg.text, arg.start, self.ctx, self.name)
    }

    fn secrule(&self) -> Result<DirectiveKind, ParseError> {
        let vars = self.required(0, "variables")?;
        let variables = parse_variables(vars.text, vars.start, self.ctx, self.name)?;
        let op_arg = self.required(1, "operator")?;
        let mut op = parse_operator(op_arg.text, op_arg.start, self.ctx, self.name)?;
        let mut next = 2;
        if !op_arg.quoted && op.wants_next_word() {
            // Unquoted `@name` is followed by its argument as the next word.
            match self.args.get(2) {
                Some(param) if !param.quoted => {
                    op.spec.param = param.text.to_owned();
                    next = 3;
                }
                _ => {}
            }
        }
        let actions = match self.args.get(next) {
            Some(arg) => {
                let actions = parse_actions(arg.text, arg.start, self.ctx, self.name)?;
                self.no_more(next + 1)?;
                actions
            }
            None => Vec::new(),
        };
        Ok(DirectiveKind::SecRule {
            variables,
            operator: op.spec,
            actions,
        })
    }

    fn generic(&self) -> Result<DirectiveKind, ParseError> {
        let Some(canonical) = canonical_directive(self.name) else {
            return Err(self.err(
                self.name_start,
                format!("unknown directive '{}'", excerpt(self.name)),
            ));
        };
        match canonical {
            "SecMarker" => {
                let name = self.required(0, "marker name")?.unquoted().to_owned();
                self.no_more(1)?;
                if name.is_empty() {
                    return Err(self.err(self.name_end, "empty marker name"));
                }
                Ok(DirectiveKind::SecMarker { name })
            }
            "SecRuleUpdateTargetById" => self.update_target(RuleSelectorKind::Id),
            "SecRuleUpdateTargetByTag" => self.update_target(RuleSelectorKind::Tag),
            "SecRuleUpdateTargetByMsg" => self.update_target(RuleSelectorKind::Msg),
            "SecRuleRemoveById" => self.remove(RuleSelectorKind::Id),
            "SecRuleRemoveByTag" => self.remove(RuleSelectorKind::Tag),
            "SecRuleRemoveByMsg" => self.remove(RuleSelectorKind::Msg),
            "Include" | "IncludeOptional" => {
                let path = self.required(0, "file path")?.unquoted().to_owned();
                self.no_more(1)?;
                Ok(DirectiveKind::Config { args: vec![path] })
            }
            _ => Ok(DirectiveKind::Config {
                args: self.args.iter().map(|a| a.unquoted().to_owned()).collect(),
            }),
        }
    }

    fn update_target(&self, by: RuleSelectorKind) -> Result<DirectiveKind, ParseError> {
        let selector = self.required(0, "rule selector")?.unquoted().to_owned();
        let vars = self.required(1, "variables")?;
        let variables = parse_variables(vars.text, vars.start, self.ctx, self.name)?;
        let replace = self.args.get(2).map(|a| a.unquoted().to_owned());
        self.no_more(3)?;
        Ok(DirectiveKind::SecRuleUpdateTarget {
            by,
            selector,
            variables,
            replace,
        })
    }

    fn remove(&self, by: RuleSelectorKind) -> Result<DirectiveKind, ParseError> {
        self.required(0, "argument")?;
        let args = if by == RuleSelectorKind::Id {
            // Ids and ranges hold no blanks: `"1 2-5"` is two selectors, as in v3.
            self.args
                .iter()
                .flat_map(|a| a.unquoted().split_whitespace())
                .map(str::to_owned)
                .collect()
        } else {
            self.args.iter().map(|a| a.unquoted().to_owned()).collect()
        };
        Ok(DirectiveKind::SecRuleRemove { by, args })
    }
}

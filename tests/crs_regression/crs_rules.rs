//! Reads the metadata of CRS rules from their SecLang files, independently of the engine under
//! test: for each rule (a chain counts as one rule, named by its first link's id) its paranoia
//! level tag, its severity and the anomaly-score variables it adds the critical score to.
//!
//! The blocking-mode check uses this to select the regression tests whose expected rule is a
//! paranoia-level-1 rule that adds a CRITICAL score: at paranoia level 1 with CRS's default
//! inbound threshold (5, the critical score), such a rule alone makes rule 949110 deny.
//!
//! The parser understands what CRS rule files use: comments, `\` line continuations, directives
//! whose arguments are bare words or double-quoted strings (with `\"` escapes), and action lists
//! of comma-separated `name` / `name:value` / `name:'value'` items.

use std::collections::BTreeSet;

/// What the blocking check needs to know about one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// The id of the rule (of the first link of a chain).
    pub id: u64,
    /// Levels named by `tag:'paranoia-level/N'` (normally exactly one).
    pub paranoia_tags: Vec<u8>,
    /// The `severity` action, upper-cased, numbers mapped to names (`2` is `CRITICAL`).
    pub severity: Option<String>,
    /// The levels N of `setvar:tx.inbound_anomaly_score_plN=+%{tx.critical_anomaly_score}`
    /// anywhere in the chain.
    pub critical_score_levels: Vec<u8>,
}

impl RuleInfo {
    /// A paranoia-level-1 rule with severity CRITICAL that adds the critical anomaly score to
    /// the level-1 inbound score: one match reaches CRS's default threshold of 5.
    pub fn blocks_alone_at_pl1(&self) -> bool {
        self.paranoia_tags == [1]
            && self.severity.as_deref() == Some("CRITICAL")
            && self.critical_score_levels == [1]
    }
}

/// The rules of a file, in file order.
pub fn parse_rules(text: &str) -> Vec<RuleInfo> {
    let mut rules: Vec<RuleInfo> = Vec::new();
    // Whether the previous rule ended with `chain`, i.e. the next SecRule belongs to it.
    let mut in_chain = false;
    for directive in directives(text) {
        let args = split_args(&directive);
        let Some(name) = args.first() else { continue };
        let actions = if name.eq_ignore_ascii_case("SecRule") {
            args.get(3)
        } else if name.eq_ignore_ascii_case("SecAction") {
            args.get(1)
        } else {
            continue;
        };
        let actions = actions.map(|a| split_actions(a)).unwrap_or_default();
        let continues_chain = in_chain && name.eq_ignore_ascii_case("SecRule");
        in_chain = actions.iter().any(|(n, _)| n == "chain");
        let id = actions
            .iter()
            .find(|(n, _)| n == "id")
            .and_then(|(_, v)| v.trim().parse::<u64>().ok());
        let info = match (continues_chain, rules.last_mut()) {
            (true, Some(head)) => head,
            _ => {
                let Some(id) = id else { continue };
                rules.push(RuleInfo {
                    id,
                    paranoia_tags: Vec::new(),
                    severity: None,
                    critical_score_levels: Vec::new(),
                });
                match rules.last_mut() {
                    Some(r) => r,
                    None => continue,
                }
            }
        };
        for (name, value) in &actions {
            match name.as_str() {
                "tag" => {
                    if let Some(level) = value
                        .strip_prefix("paranoia-level/")
                        .and_then(|l| l.trim().parse::<u8>().ok())
                    {
                        info.paranoia_tags.push(level);
                    }
                }
                "severity" => info.severity = Some(severity_name(value)),
                "setvar" => {
                    if let Some(level) = critical_score_level(value) {
                        info.critical_score_levels.push(level);
                    }
                }
                _ => {}
            }
        }
    }
    rules
}

/// The ids of the rules of `text` that block alone at paranoia level 1.
pub fn pl1_critical_ids(text: &str) -> BTreeSet<u64> {
    parse_rules(text)
        .into_iter()
        .filter(RuleInfo::blocks_alone_at_pl1)
        .map(|r| r.id)
        .collect()
}

/// ModSecurity's severity names; numbers 0-7 are mapped to them.
fn severity_name(value: &str) -> String {
    const NAMES: [&str; 8] = [
        "EMERGENCY",
        "ALERT",
        "CRITICAL",
        "ERROR",
        "WARNING",
        "NOTICE",
        "INFO",
        "DEBUG",
    ];
    let v = value.trim();
    match v.parse::<usize>().ok().and_then(|n| NAMES.get(n)) {
        Some(name) => (*name).to_string(),
        None => v.to_ascii_uppercase(),
    }
}

/// `N` of `tx.inbound_anomaly_score_plN=+%{tx.critical_anomaly_score}` (case-insensitive).
fn critical_score_level(setvar: &str) -> Option<u8> {
    let lower = setvar.trim().to_ascii_lowercase();
    let (var, value) = lower.split_once('=')?;
    let level = var.trim().strip_prefix("tx.inbound_anomaly_score_pl")?;
    let level: u8 = level.parse().ok()?;
    (value.trim() == "+%{tx.critical_anomaly_score}").then_some(level)
}

/// The directives of a file: comment lines dropped, `\`-continued lines joined.
fn directives(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        let line = raw.trim_end();
        if current.is_empty() && line.trim_start().starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                let d = std::mem::take(&mut current);
                if !d.trim().is_empty() {
                    out.push(d.trim().to_string());
                }
            }
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// The whitespace-separated arguments of a directive; double quotes group, `\"` is a quote.
fn split_args(directive: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = directive.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut arg = String::new();
        if first == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('"') => arg.push('"'),
                        Some(other) => {
                            arg.push('\\');
                            arg.push(other);
                        }
                        None => arg.push('\\'),
                    },
                    '"' => break,
                    other => arg.push(other),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        args.push(arg);
    }
    args
}

/// The items of an action list as (lower-cased name, value without surrounding quotes).
fn split_actions(list: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => items.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    items.push(current);
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .map(|item| {
            let item = item.trim();
            let (name, value) = item.split_once(':').unwrap_or((item, ""));
            let value = value.trim();
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(value);
            (name.trim().to_ascii_lowercase(), value.to_string())
        })
        .collect()
}

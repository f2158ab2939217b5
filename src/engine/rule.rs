//! Compiled rules and actions.

use std::sync::Arc;

use super::config::{AuditEngine, EngineMode};
use super::macros::MacroString;
use super::operators::Operator;
use super::transformations::Transform;
use super::vars::{Target, TargetPattern, Var};

/// Where a rule was defined.
#[derive(Debug, Clone)]
pub struct RuleLoc {
    pub file: Arc<str>,
    pub line: u32,
}

/// The operator of a rule, with what the logs need.
#[derive(Debug)]
pub struct RuleOperator {
    pub op: Box<dyn Operator>,
    pub negated: bool,
    /// Name as libmodsecurity prints it in match messages (`Rx`, `Pm`, `Ge`...).
    pub display_name: String,
    /// Parameter as written (macros unexpanded).
    pub param: String,
    /// When the parameter has macros, the parsed form (for the log message).
    pub param_macro: Option<MacroString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowKind {
    /// `allow`: skip everything except logging.
    All,
    /// `allow:request`: skip the rest of the request phases (1 and 2).
    Request,
    /// `allow:phase`: skip the rest of the current phase.
    Phase,
}

#[derive(Debug, Clone)]
pub enum Disruptive {
    Pass,
    Deny,
    Drop,
    Allow(AllowKind),
    Redirect(MacroString),
}

impl Disruptive {
    pub fn name(&self) -> &'static str {
        match self {
            Disruptive::Pass => "pass",
            Disruptive::Deny => "deny",
            Disruptive::Drop => "drop",
            Disruptive::Allow(_) => "allow",
            Disruptive::Redirect(_) => "redirect",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyProcessor {
    UrlEncoded,
    Multipart,
    Json,
    Xml,
}

impl BodyProcessor {
    pub fn parse(s: &str) -> Option<BodyProcessor> {
        match s.to_ascii_uppercase().as_str() {
            "URLENCODED" => Some(BodyProcessor::UrlEncoded),
            "MULTIPART" => Some(BodyProcessor::Multipart),
            "JSON" => Some(BodyProcessor::Json),
            "XML" => Some(BodyProcessor::Xml),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BodyProcessor::UrlEncoded => "URLENCODED",
            BodyProcessor::Multipart => "MULTIPART",
            BodyProcessor::Json => "JSON",
            BodyProcessor::Xml => "XML",
        }
    }
}

/// Rule id selection: single ids and ranges.
#[derive(Debug, Clone, Default)]
pub struct IdSet(pub Vec<(u64, u64)>);

impl IdSet {
    pub fn contains(&self, id: u64) -> bool {
        self.0.iter().any(|&(a, b)| a <= id && id <= b)
    }

    /// Parses `1`, `1-5`, `"1 2 3-9"`, `1,2`.
    pub fn parse(text: &str) -> Result<IdSet, String> {
        let mut v = Vec::new();
        for part in text.split([' ', ',', '\t']).filter(|p| !p.is_empty()) {
            let part = part.trim_matches(|c| c == '\'' || c == '"');
            if part.is_empty() {
                continue;
            }
            let range = match part.split_once('-') {
                Some((a, b)) => {
                    let a = a.trim().parse::<u64>().map_err(|_| format!("invalid rule id range `{part}`"))?;
                    let b = b.trim().parse::<u64>().map_err(|_| format!("invalid rule id range `{part}`"))?;
                    if a > b {
                        return Err(format!("invalid rule id range `{part}`"));
                    }
                    (a, b)
                }
                None => {
                    let a = part.parse::<u64>().map_err(|_| format!("invalid rule id `{part}`"))?;
                    (a, a)
                }
            };
            v.push(range);
        }
        if v.is_empty() {
            return Err("no rule id given".into());
        }
        Ok(IdSet(v))
    }
}

#[derive(Debug, Clone)]
pub enum Ctl {
    RuleEngine(EngineMode),
    RuleRemoveById(IdSet),
    RuleRemoveByTag(MacroString),
    RuleRemoveTargetById(IdSet, TargetPattern),
    RuleRemoveTargetByTag(MacroString, TargetPattern),
    RequestBodyProcessor(BodyProcessor),
    RequestBodyAccess(bool),
    ResponseBodyAccess(bool),
    ForceRequestBodyVariable(bool),
    AuditEngine(AuditEngine),
    /// `+E`, `-E` or a full replacement.
    AuditLogParts(String),
    DebugLogLevel(u8),
    RequestBodyLimit(usize),
}

#[derive(Debug, Clone)]
pub enum SetVarOp {
    Set(MacroString),
    Add(MacroString),
    Sub(MacroString),
    Delete,
}

#[derive(Debug, Clone)]
pub struct SetVar {
    pub collection: Var,
    pub key: MacroString,
    /// The key lower-cased, when it has no macro.
    pub key_lc: Option<Vec<u8>>,
    pub op: SetVarOp,
}

/// Actions executed after the rule (chain) matched, in rule order.
#[derive(Debug, Clone)]
pub enum Action {
    Ctl(Ctl),
    InitCol(Var, MacroString),
    ExpireVar { collection: Var, key: MacroString, seconds: MacroString },
    SetEnv { name: MacroString, value: MacroString },
    SetUid(MacroString),
    SetSid(MacroString),
    SetRsc(MacroString),
    Skip(usize),
    SkipAfter(Arc<str>),
}

#[derive(Debug)]
pub struct Rule {
    /// Rule id (0 for chained rules without id).
    pub id: u64,
    /// 1..=5
    pub phase: u8,
    pub loc: RuleLoc,
    /// Positive targets (empty for SecAction).
    pub targets: Vec<Target>,
    /// None for SecAction (always matches).
    pub operator: Option<RuleOperator>,
    /// Effective transformation chain (defaults and `t:none` already applied).
    pub transforms: Vec<Transform>,
    /// Id of the transformation chain (equal chains share an id; 0 = no transformation).
    pub chain_id: u32,
    pub disruptive: Option<Disruptive>,
    pub has_block: bool,
    pub status: Option<u16>,
    pub msg: Option<MacroString>,
    pub logdata: Option<MacroString>,
    pub severity: Option<u8>,
    pub tags: Vec<MacroString>,
    /// Tags that are plain text (for removal by tag at load time).
    pub ver: String,
    pub rev: String,
    pub maturity: u8,
    pub accuracy: u8,
    /// Explicit log/nolog (or from SecDefaultAction); None = log.
    pub log: bool,
    pub auditlog: bool,
    pub capture: bool,
    pub multi_match: bool,
    pub setvars: Vec<SetVar>,
    pub actions: Vec<Action>,
    pub chain: Option<Box<Rule>>,
    /// Prefilter bit: the rule cannot match unless the transaction's values, transformed by
    /// its chain, contain one of its operator's required literals (see `compile::Prefilter`).
    pub prefilter: Option<u32>,
}

impl Rule {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.as_str() == tag)
    }

    /// All rules of the chain, head first.
    pub fn chain_iter(&self) -> impl Iterator<Item = &Rule> {
        let mut cur = Some(self);
        std::iter::from_fn(move || {
            let r = cur?;
            cur = r.chain.as_deref();
            Some(r)
        })
    }
}

/// One entry of a phase's rule list.
#[derive(Debug, Clone)]
pub enum Entry {
    Rule(Arc<Rule>),
    Marker(Arc<str>),
}

/// Severity names and numbers.
pub fn parse_severity(s: &str) -> Option<u8> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u8>() {
        return (n <= 7).then_some(n);
    }
    Some(match s.to_ascii_uppercase().as_str() {
        "EMERGENCY" => 0,
        "ALERT" => 1,
        "CRITICAL" => 2,
        "ERROR" => 3,
        "WARNING" => 4,
        "NOTICE" => 5,
        "INFO" => 6,
        "DEBUG" => 7,
        _ => return None,
    })
}

pub fn severity_name(n: u8) -> &'static str {
    match n {
        0 => "EMERGENCY",
        1 => "ALERT",
        2 => "CRITICAL",
        3 => "ERROR",
        4 => "WARNING",
        5 => "NOTICE",
        6 => "INFO",
        _ => "DEBUG",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_sets() {
        let s = IdSet::parse("1 5-9 20").unwrap();
        assert!(s.contains(1) && s.contains(7) && s.contains(20));
        assert!(!s.contains(2) && !s.contains(10));
        assert!(IdSet::parse("9-5").is_err());
        assert!(IdSet::parse("x").is_err());
        assert!(IdSet::parse("").is_err());
    }

    #[test]
    fn severities() {
        assert_eq!(parse_severity("CRITICAL"), Some(2));
        assert_eq!(parse_severity("critical"), Some(2));
        assert_eq!(parse_severity("5"), Some(5));
        assert_eq!(parse_severity("9"), None);
        assert_eq!(severity_name(2), "CRITICAL");
    }
}

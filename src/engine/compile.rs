//! Compiles parsed directives into an immutable, shareable [`Ruleset`].
//!
//! Semantics follow libmodsecurity v3:
//! - `SecDefaultAction` is defined at most once per phase and applies to every rule of that
//!   phase wherever it appears; its transformations are prepended unless the rule has
//!   `t:none`; its disruptive action is used only by rules with `block`; its other actions
//!   (log, auditlog, status, tags...) apply to all rules of the phase.
//! - `SecRuleRemoveBy*` and `SecRuleUpdate*` apply to matching rules wherever they are
//!   defined (before or after the directive).
//! - `SecMarker` is placed in every phase.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ast::{ActionSpec, Directive, DirectiveKind, OperatorSpec, RuleSelectorKind, Selector, SourceLoc, VariableSpec};
use super::config::{Applied, AuditEngine, EngineConfig, EngineMode};
use super::macros::MacroString;
use super::operators::{self, CompileCtx};
use super::rule::*;
use super::transformations::{self, Transform};
use super::vars::{key_selector, parse_target_pattern, KeySel, Target, Var};

/// A load error: where, which directive, what.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub loc: SourceLoc,
    pub directive: String,
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.directive.is_empty() {
            write!(f, "{}: {}", self.loc, self.message)
        } else {
            write!(f, "{}: {}: {}", self.loc, self.directive, self.message)
        }
    }
}

impl std::error::Error for LoadError {}

impl From<super::ast::ParseError> for LoadError {
    fn from(e: super::ast::ParseError) -> Self {
        LoadError { loc: e.loc, directive: e.directive.unwrap_or_default(), message: e.message }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnosticKind {
    /// Accepted but without effect in Rampart.
    NoEffect,
    /// Not supported: the configuration does not run as it would under ModSecurity.
    Unsupported,
}

/// Something `rules check` reports about a configuration that loaded.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub loc: SourceLoc,
    pub directive: String,
    pub kind: DiagnosticKind,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let k = match self.kind {
            DiagnosticKind::NoEffect => "no effect",
            DiagnosticKind::Unsupported => "unsupported",
        };
        write!(f, "{}: {}: {}: {}", self.loc, self.directive, k, self.message)
    }
}

/// A transformation chain known to the ruleset: its prefix chain and its last step.
#[derive(Debug, Clone)]
pub struct ChainInfo {
    pub parent: u32,
    pub last: Option<Transform>,
    /// The other chains whose last step is the same transformation: where one of them was
    /// applied to the same text (its prefix gave what this chain's prefix gives, e.g. both
    /// prefixes left the value unchanged), its result is this chain's result.
    pub same_last: Vec<u32>,
}

/// Fills every chain's [`ChainInfo::same_last`].
fn link_same_last(chains: &mut [ChainInfo]) {
    let names: Vec<Option<&'static str>> = chains.iter().map(|c| c.last.as_ref().map(|t| t.name)).collect();
    for (i, c) in chains.iter_mut().enumerate() {
        c.same_last = match names.get(i).copied().flatten() {
            Some(name) => (0..names.len()).filter(|&j| j != i && names.get(j).copied().flatten() == Some(name)).map(|j| j as u32).collect(),
            None => Vec::new(),
        };
    }
}

/// The compiled, immutable rule set (share it with `Arc`).
#[derive(Debug)]
pub struct Ruleset {
    pub config: EngineConfig,
    /// Rules and markers per phase (index 0 = phase 1).
    pub phases: [Vec<Entry>; 5],
    /// Number of rules (chains count once).
    pub rule_count: usize,
    pub diagnostics: Vec<Diagnostic>,
    /// Transformation chains by id (0 = empty chain).
    pub chains: Vec<ChainInfo>,
    /// The literal prefilter of the rules that can use one (see [`Prefilter`]).
    pub prefilter: Option<Prefilter>,
}

/// The required literals of every prefiltered rule, as one Aho-Corasick automaton. Once per
/// phase, every value the rules may look at is scanned (raw, and transformed where a
/// transformation chain can change it); a rule none of whose literals occurs in its chain's
/// output of a value of its collections cannot match and is skipped without evaluating it.
#[derive(Debug)]
pub struct Prefilter {
    /// Literals of two bytes or more, as a DFA walked byte by byte by
    /// [`Prefilter::for_each_literal`].
    pub ac: aho_corasick::dfa::DFA,
    /// The DFA's unanchored start state.
    pub ac_start: aho_corasick::automaton::StateID,
    /// Per literal (pattern id): the rules it lets through.
    pub entries: Vec<Vec<PfEntry>>,
    /// Single-byte literals (never letters or digits): per byte, the rules it lets through.
    /// They are looked up in the set of bytes a text contains instead of being searched.
    pub byte_entries: Vec<Vec<PfEntry>>,
    /// The bytes whose `byte_entries` are not empty.
    pub byte_mask: crate::engine::transformations::triggers::ByteSet,
    /// Number of prefiltered rules (bits).
    pub nbits: u32,
    /// The transformation chains of the prefiltered rules.
    pub chains: Vec<PfChain>,
    /// What to scan: whole collections, and XML XPath selections.
    pub targets: Vec<Target>,
    /// Per variable (index `Var as u8`): the indexes into [`Prefilter::chains`] of the
    /// chains whose rules look at it.
    pub chains_by_var: Vec<Vec<u16>>,
    /// The ends of literals cut to [`PREFILTER_LITERAL_MAX`] bytes (index 0 unused), checked
    /// where the cut literal matched (ASCII case-insensitively).
    pub rests: Vec<Vec<u8>>,
}

impl Prefilter {
    /// Calls `f(literal, end)` for every occurrence of every literal in `text` (overlapping
    /// ones included; ASCII case-insensitive), `end` being the offset just past it.
    ///
    /// A plain walk over the DFA's transition table: the overlapping-search iterator of the
    /// `aho-corasick` crate costs several times more per byte for the short texts scanned
    /// here.
    #[inline]
    pub fn for_each_literal(&self, text: &[u8], mut f: impl FnMut(usize, usize)) {
        use aho_corasick::automaton::Automaton;
        let dfa = &self.ac;
        let mut sid = self.ac_start;
        for (i, &b) in text.iter().enumerate() {
            sid = dfa.next_state(aho_corasick::Anchored::No, sid, b);
            if dfa.is_special(sid) {
                if dfa.is_match(sid) {
                    for k in 0..dfa.match_len(sid) {
                        f(dfa.match_pattern(sid, k).as_usize(), i + 1);
                    }
                } else if dfa.is_dead(sid) {
                    return;
                }
            }
        }
    }
}

impl PfEntry {
    /// Whether the literal of this entry, matched by the automaton up to `end`, is complete
    /// in `text`.
    #[inline]
    pub fn complete_at(&self, rests: &[Vec<u8>], text: &[u8], end: usize) -> bool {
        if self.rest == 0 {
            return true;
        }
        let rest = rests.get(self.rest as usize).map(Vec::as_slice).unwrap_or_default();
        text.get(end..end + rest.len()).is_some_and(|t| t.eq_ignore_ascii_case(rest))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PfEntry {
    /// Index into [`Prefilter::chains`]: the chain whose output must contain the literal.
    pub chain: u16,
    pub bit: u32,
    /// The variables (bit `Var as u8`) whose values count for this rule.
    pub vars: u128,
    /// 0, or for a literal longer than the automaton's patterns, the index in
    /// [`Prefilter::rests`] of the bytes that must follow the match.
    pub rest: u32,
}

#[derive(Debug, Clone)]
pub struct PfChain {
    pub chain_id: u32,
    /// The variables (bit `Var as u8`) of the rules using this chain: other values are
    /// never transformed by it for the prefilter.
    pub vars: u128,
    /// For variables the rules select by key only (e.g. `REQUEST_HEADERS:User-Agent`), the
    /// keys (lower-case); a variable absent from this list is wanted whole.
    pub keys: Vec<(Var, Vec<Vec<u8>>)>,
    /// Variables some rule of the chain takes whole.
    pub whole: u128,
    /// Bytes that can make the chain change a value (`None`: it may change any value).
    pub triggers: Option<crate::engine::transformations::triggers::ByteSet>,
}

/// Whether a rule (link) can use the literal prefilter: an operator with required
/// literals, and only targets whose values do not change within a phase. When none of the
/// literals occurs, a rule is skipped, or with a negated operator (`!@pm`...) the operator
/// is known to be false for every value, so it is not run.
fn prefilter_literals(rule: &Rule) -> Option<Vec<Vec<u8>>> {
    let op = rule.operator.as_ref()?;
    if rule.targets.is_empty() {
        return None;
    }
    if rule.targets.iter().any(|t| t.count || !t.var.is_stable()) {
        return None;
    }
    let lits = op.op.required_literals()?;
    // Single letters or digits occur everywhere: such a filter would cost more than it saves.
    if lits.iter().any(|l| l.is_empty() || (l.len() == 1 && l[0].is_ascii_alphanumeric())) {
        return None;
    }
    Some(lits)
}

/// The chain ids a rule's operator sees: its chain, and with multiMatch every prefix.
fn tested_chains(rule: &Rule, chains: &[ChainInfo]) -> Vec<u32> {
    if !rule.multi_match {
        return vec![rule.chain_id];
    }
    let mut v = vec![rule.chain_id];
    let mut c = rule.chain_id;
    while c != 0 {
        c = chains.get(c as usize).map(|i| i.parent).unwrap_or(0);
        v.push(c);
    }
    v
}

fn chain_triggers(chain_id: u32, chains: &[ChainInfo]) -> Option<crate::engine::transformations::triggers::ByteSet> {
    use crate::engine::transformations::triggers;
    let mut acc = [0u64; 4];
    let mut c = chain_id;
    while c != 0 {
        let info = chains.get(c as usize)?;
        if let Some(t) = &info.last {
            acc = triggers::union(acc, triggers::trigger_bytes(t.name)?);
        }
        c = info.parent;
    }
    Some(acc)
}

/// Longest literal the prefilter's automaton holds. Its DFA grows with the total length of
/// the literals: on stock CRS (about 7,000 literals) the whole literals take 90 MB, their
/// first 8 bytes 8 MB. The rest of a longer literal is compared where its first 8 bytes
/// matched (so `<link rel="stylesheet" href="http://...` of a web-shell list does not let
/// its rule run on every page with a stylesheet).
const PREFILTER_LITERAL_MAX: usize = 8;

/// A rule with more distinct literal ends than this behind one cut literal is let through on
/// the cut literal alone (each end would be compared on every occurrence).
const PREFILTER_RESTS_MAX: usize = 8;

/// Builds the prefilter and assigns each eligible rule (and chain link) its bit.
fn build_prefilter(rules: &mut [&mut Rule], chains: &[ChainInfo]) -> Result<Option<Prefilter>, String> {
    struct Builder<'c> {
        chains_info: &'c [ChainInfo],
        literals: Vec<Vec<u8>>,
        lit_index: HashMap<Vec<u8>, usize>,
        entries: Vec<Vec<PfEntry>>,
        byte_entries: Vec<Vec<PfEntry>>,
        nbits: u32,
        chains: Vec<PfChain>,
        chain_index: HashMap<u32, u16>,
        targets: Vec<Target>,
        rests: Vec<Vec<u8>>,
        rest_index: HashMap<Vec<u8>, usize>,
    }
    /// The index of `key` in `list`, appending it the first time.
    fn intern(list: &mut Vec<Vec<u8>>, index: &mut HashMap<Vec<u8>, usize>, key: Vec<u8>) -> usize {
        if let Some(&i) = index.get(&key) {
            return i;
        }
        list.push(key.clone());
        index.insert(key, list.len() - 1);
        list.len() - 1
    }
    impl Builder<'_> {
        fn visit(&mut self, rule: &mut Rule) {
            if let Some(lits) = prefilter_literals(rule) {
                let bit = self.nbits;
                self.nbits += 1;
                let mut vars: u128 = 0;
                for t in &rule.targets {
                    vars |= 1u128 << (t.var as u8);
                    let key = match (&t.var, &t.key) {
                        (Var::Xml, Some(k)) => Some(k.clone()),
                        _ => None,
                    };
                    let have = self.targets.iter().any(|x| {
                        x.var == t.var
                            && match (&x.key, &key) {
                                (None, None) => true,
                                (Some(KeySel::Key(a)), Some(KeySel::Key(b))) => a == b,
                                _ => false,
                            }
                    });
                    if !have {
                        self.targets.push(Target { var: t.var, count: false, key, exclusions: Vec::new(), text: String::new() });
                    }
                }
                let mut chain_idx = Vec::new();
                for c in tested_chains(rule, self.chains_info) {
                    let next = self.chains.len() as u16;
                    let idx = *self.chain_index.entry(c).or_insert(next);
                    if idx == next {
                        self.chains.push(PfChain {
                            chain_id: c,
                            vars: 0,
                            keys: Vec::new(),
                            whole: 0,
                            triggers: chain_triggers(c, self.chains_info),
                        });
                    }
                    let pc = &mut self.chains[idx as usize];
                    pc.vars |= vars;
                    for t in &rule.targets {
                        match &t.key {
                            Some(KeySel::Key(k)) if t.var != Var::Xml => match pc.keys.iter_mut().find(|(v, _)| *v == t.var) {
                                Some((_, ks)) => {
                                    if !ks.contains(k) {
                                        ks.push(k.clone());
                                    }
                                }
                                None => pc.keys.push((t.var, vec![k.clone()])),
                            },
                            _ => pc.whole |= 1u128 << (t.var as u8),
                        }
                    }
                    chain_idx.push(idx);
                }
                for mut l in lits {
                    // The automaton holds a prefix; the rest is compared where it matched.
                    let rest = if l.len() > PREFILTER_LITERAL_MAX {
                        let tail = l.split_off(PREFILTER_LITERAL_MAX).to_ascii_lowercase();
                        intern(&mut self.rests, &mut self.rest_index, tail) as u32
                    } else {
                        0
                    };
                    if let [b] = l.as_slice() {
                        for &chain in &chain_idx {
                            self.byte_entries[*b as usize].push(PfEntry { chain, bit, vars, rest: 0 });
                        }
                        continue;
                    }
                    let li = intern(&mut self.literals, &mut self.lit_index, l);
                    if li == self.entries.len() {
                        self.entries.push(Vec::new());
                    }
                    for &chain in &chain_idx {
                        self.entries[li].push(PfEntry { chain, bit, vars, rest });
                    }
                }
                rule.prefilter = Some(bit);
            }
            if let Some(c) = rule.chain.as_deref_mut() {
                self.visit(c);
            }
        }
    }
    let mut b = Builder {
        chains_info: chains,
        literals: Vec::new(),
        lit_index: HashMap::new(),
        entries: Vec::new(),
        byte_entries: vec![Vec::new(); 256],
        nbits: 0,
        chains: Vec::new(),
        chain_index: HashMap::new(),
        targets: Vec::new(),
        rests: vec![Vec::new()],
        rest_index: HashMap::new(),
    };
    for r in rules.iter_mut() {
        b.visit(r);
    }
    if b.nbits == 0 {
        return Ok(None);
    }
    // Literals cut to the same prefix give the same rule many entries (up to 275 on stock
    // CRS), each checked on every occurrence: one entry per rule, chain and variables, with
    // its literal ends unless one is complete already or there are too many to compare.
    for list in b.entries.iter_mut().chain(b.byte_entries.iter_mut()) {
        list.sort_unstable();
        list.dedup();
        let mut kept: Vec<PfEntry> = Vec::with_capacity(list.len());
        for group in list.chunk_by(|a, b| (a.bit, a.chain, a.vars) == (b.bit, b.chain, b.vars)) {
            if group[0].rest == 0 || group.len() > PREFILTER_RESTS_MAX {
                kept.push(PfEntry { rest: 0, ..group[0] });
            } else {
                kept.extend_from_slice(group);
            }
        }
        *list = kept;
    }
    let chains_by_var = (0..128u32)
        .map(|v| (0..b.chains.len()).filter(|&ci| b.chains[ci].vars & (1u128 << v) != 0).map(|ci| ci as u16).collect())
        .collect();
    let ac = aho_corasick::dfa::DFA::builder()
        .ascii_case_insensitive(true)
        .match_kind(aho_corasick::MatchKind::Standard)
        .start_kind(aho_corasick::StartKind::Unanchored)
        .prefilter(false)
        .build(&b.literals)
        .map_err(|e| format!("cannot build the literal prefilter: {e}"))?;
    let ac_start = {
        use aho_corasick::automaton::Automaton;
        ac.start_state(aho_corasick::Anchored::No).map_err(|e| format!("cannot build the literal prefilter: {e}"))?
    };
    Ok(Some(Prefilter {
        ac,
        ac_start,
        entries: b.entries,
        byte_mask: {
            let mut m = [0u64; 4];
            for (i, list) in b.byte_entries.iter().enumerate() {
                if !list.is_empty() {
                    m[i / 64] |= 1u64 << (i % 64);
                }
            }
            m
        },
        byte_entries: b.byte_entries,
        nbits: b.nbits,
        chains: b.chains,
        targets: b.targets,
        chains_by_var,
        rests: b.rests,
    }))
}


/// Default actions of one phase.
#[derive(Debug, Default, Clone)]
struct Defaults {
    specs: Vec<ActionSpec>,
    loc: Option<SourceLoc>,
}

/// A rule as read, before defaults and updates are applied.
struct RawRule {
    loc: SourceLoc,
    directive: String,
    variables: Vec<VariableSpec>,
    operator: Option<OperatorSpec>,
    actions: Vec<ActionSpec>,
    base_dir: PathBuf,
    chain: Option<Box<RawRule>>,
    // filled while reading
    id: u64,
    phase: u8,
}

enum Item {
    Rule(RawRule),
    Marker(Arc<str>),
}

struct TargetUpdate {
    by: RuleSelectorKind,
    selector: String,
    variables: Vec<VariableSpec>,
    replace: Option<String>,
    loc: SourceLoc,
    directive: String,
}

struct ActionUpdate {
    ids: IdSet,
    actions: Vec<ActionSpec>,
    loc: SourceLoc,
    directive: String,
}

struct Removal {
    by: RuleSelectorKind,
    args: Vec<String>,
    loc: SourceLoc,
    directive: String,
}

fn err(loc: &SourceLoc, directive: &str, message: impl Into<String>) -> LoadError {
    LoadError { loc: loc.clone(), directive: directive.to_string(), message: message.into() }
}

fn base_dir_of(loc: &SourceLoc) -> PathBuf {
    Path::new(&*loc.file).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

fn phase_of(v: &str) -> Option<u8> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "request_headers" => Some(1),
        "2" | "request" | "request_body" => Some(2),
        "3" | "response_headers" => Some(3),
        "4" | "response" | "response_body" => Some(4),
        "5" | "logging" => Some(5),
        _ => None,
    }
}

fn action_value<'a>(a: &'a ActionSpec) -> Result<&'a str, String> {
    a.value.as_deref().ok_or_else(|| format!("action `{}` needs a value", a.name))
}

/// Action names ModSecurity knows but Rampart does not run (with the reason).
fn unsupported_action(name: &str) -> Option<&'static str> {
    Some(match name {
        "exec" => "running external scripts is not supported",
        "append" | "prepend" => "content injection is not supported",
        "proxy" => "the proxy action is not supported (use routes)",
        "pause" => "pausing transactions is not supported",
        "sanitisearg" | "sanitisematched" | "sanitisematchedbytes" | "sanitiserequestheader"
        | "sanitiseresponseheader" => "audit log sanitisation is not supported",
        "deprecatevar" => "deprecatevar is not supported",
        _ => return None,
    })
}

/// Parsed rule actions (not yet merged with defaults).
#[derive(Default)]
struct Parsed {
    id: Option<u64>,
    phase: Option<u8>,
    chain: bool,
    /// `None` entries are `t:none`.
    transforms: Vec<Option<Transform>>,
    disruptive: Option<Disruptive>,
    block: bool,
    status: Option<u16>,
    msg: Option<MacroString>,
    logdata: Option<MacroString>,
    severity: Option<u8>,
    tags: Vec<MacroString>,
    ver: Option<String>,
    rev: Option<String>,
    maturity: Option<u8>,
    accuracy: Option<u8>,
    log: Option<bool>,
    auditlog: Option<bool>,
    capture: bool,
    multi_match: bool,
    setvars: Vec<SetVar>,
    actions: Vec<Action>,
    unsupported: Vec<String>,
}

fn parse_setvar(v: &str) -> Result<SetVar, String> {
    let v = v.trim();
    let (delete, body) = match v.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (lhs, rhs) = match body.split_once('=') {
        Some((l, r)) => (l.trim(), Some(r)),
        None => (body.trim(), None),
    };
    let (col, key) = lhs
        .split_once('.')
        .ok_or_else(|| format!("setvar `{v}`: expected COLLECTION.name"))?;
    let collection = Var::from_name(col).ok_or_else(|| format!("setvar `{v}`: unknown collection `{col}`"))?;
    if !matches!(collection, Var::Tx | Var::Ip | Var::Global | Var::Session | Var::User | Var::Resource) {
        return Err(format!("setvar `{v}`: collection {} cannot be written", collection.name()));
    }
    if key.is_empty() {
        return Err(format!("setvar `{v}`: empty variable name"));
    }
    let key = MacroString::parse(key)?;
    let key_lc = key.is_literal().then(|| key.as_str().as_bytes().to_ascii_lowercase());
    let op = if delete {
        if rhs.is_some() {
            return Err(format!("setvar `{v}`: a deletion takes no value"));
        }
        SetVarOp::Delete
    } else {
        match rhs {
            None => SetVarOp::Set(MacroString::parse("1")?),
            Some(r) => {
                if let Some(x) = r.strip_prefix('+') {
                    SetVarOp::Add(MacroString::parse(x)?)
                } else if let Some(x) = r.strip_prefix('-') {
                    SetVarOp::Sub(MacroString::parse(x)?)
                } else {
                    SetVarOp::Set(MacroString::parse(r)?)
                }
            }
        }
    };
    Ok(SetVar { collection, key, key_lc, op })
}

fn on_off_value(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        _ => Err(format!("expected On or Off, got `{v}`")),
    }
}

fn parse_ctl(v: &str) -> Result<Ctl, String> {
    let (name, value) = v.split_once('=').ok_or_else(|| format!("ctl `{v}`: expected name=value"))?;
    let value = value.trim();
    let split_target = |value: &str| -> Result<(String, super::vars::TargetPattern), String> {
        let (sel, target) = value
            .split_once(';')
            .ok_or_else(|| format!("ctl `{v}`: expected SELECTOR;TARGET"))?;
        Ok((sel.trim().to_string(), parse_target_pattern(target)?))
    };
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "ruleengine" => Ctl::RuleEngine(EngineMode::parse(value).ok_or_else(|| format!("ctl:ruleEngine: invalid mode `{value}`"))?),
        "ruleremovebyid" => Ctl::RuleRemoveById(IdSet::parse(value)?),
        "ruleremovebytag" => Ctl::RuleRemoveByTag(MacroString::parse(value)?),
        "ruleremovetargetbyid" => {
            let (sel, t) = split_target(value)?;
            Ctl::RuleRemoveTargetById(IdSet::parse(&sel)?, t)
        }
        "ruleremovetargetbytag" => {
            let (sel, t) = split_target(value)?;
            Ctl::RuleRemoveTargetByTag(MacroString::parse(&sel)?, t)
        }
        "requestbodyprocessor" => Ctl::RequestBodyProcessor(
            BodyProcessor::parse(value).ok_or_else(|| format!("ctl:requestBodyProcessor: unknown processor `{value}`"))?,
        ),
        "requestbodyaccess" => Ctl::RequestBodyAccess(on_off_value(value)?),
        "responsebodyaccess" => Ctl::ResponseBodyAccess(on_off_value(value)?),
        "forcerequestbodyvariable" => Ctl::ForceRequestBodyVariable(on_off_value(value)?),
        "auditengine" => Ctl::AuditEngine(AuditEngine::parse(value).ok_or_else(|| format!("ctl:auditEngine: invalid value `{value}`"))?),
        "auditlogparts" => {
            let parts = value.trim_start_matches(['+', '-']);
            if parts.is_empty() || parts.chars().any(|c| !"ABCDEFGHIJKZ".contains(c)) {
                return Err(format!("ctl:auditLogParts: invalid parts `{value}`"));
            }
            Ctl::AuditLogParts(value.to_string())
        }
        "debugloglevel" => Ctl::DebugLogLevel(
            value.parse::<u8>().ok().filter(|l| *l <= 9).ok_or_else(|| format!("ctl:debugLogLevel: invalid level `{value}`"))?,
        ),
        "requestbodylimit" => Ctl::RequestBodyLimit(value.parse().map_err(|_| format!("ctl:requestBodyLimit: invalid size `{value}`"))?),
        other => return Err(format!("ctl:{other} is not a known ctl option")),
    })
}

fn parse_actions(specs: &[ActionSpec]) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    for a in specs {
        let name = a.name.trim().to_ascii_lowercase();
        let val = || action_value(a);
        match name.as_str() {
            "id" => {
                let v = val()?.trim().trim_matches('\'');
                let id = v.parse::<u64>().map_err(|_| format!("invalid rule id `{v}`"))?;
                if id == 0 {
                    return Err("rule id 0 is not allowed".into());
                }
                p.id = Some(id);
            }
            "phase" => p.phase = Some(phase_of(val()?).ok_or_else(|| format!("invalid phase `{}`", val().unwrap_or("")))?),
            "chain" => p.chain = true,
            "t" => {
                let v = val()?.trim();
                if v.eq_ignore_ascii_case("none") {
                    p.transforms.push(None);
                } else {
                    let t = transformations::lookup(v).ok_or_else(|| format!("unknown transformation t:{v}"))?;
                    p.transforms.push(Some(t));
                }
            }
            "deny" => p.disruptive = Some(Disruptive::Deny),
            "drop" => p.disruptive = Some(Disruptive::Drop),
            "pass" => p.disruptive = Some(Disruptive::Pass),
            "block" => p.block = true,
            "allow" => {
                let kind = match a.value.as_deref().map(|s| s.trim().to_ascii_lowercase()) {
                    None => AllowKind::All,
                    Some(s) if s == "phase" => AllowKind::Phase,
                    Some(s) if s == "request" => AllowKind::Request,
                    Some(s) => return Err(format!("allow: invalid value `{s}` (expected phase or request)")),
                };
                p.disruptive = Some(Disruptive::Allow(kind));
            }
            "redirect" => p.disruptive = Some(Disruptive::Redirect(MacroString::parse(val()?)?)),
            "status" => {
                let v = val()?.trim();
                let s = v.parse::<u16>().ok().filter(|s| (100..=999).contains(s)).ok_or_else(|| format!("invalid status `{v}`"))?;
                p.status = Some(s);
            }
            "msg" => p.msg = Some(MacroString::parse(val()?)?),
            "logdata" => p.logdata = Some(MacroString::parse(val()?)?),
            "severity" => {
                let v = val()?;
                p.severity = Some(parse_severity(v).ok_or_else(|| format!("invalid severity `{v}`"))?);
            }
            "tag" => p.tags.push(MacroString::parse(val()?)?),
            "ver" => p.ver = Some(val()?.to_string()),
            "rev" => p.rev = Some(val()?.to_string()),
            "maturity" => {
                let v = val()?.trim();
                p.maturity = Some(v.parse::<u8>().ok().filter(|m| *m <= 9).ok_or_else(|| format!("invalid maturity `{v}`"))?);
            }
            "accuracy" => {
                let v = val()?.trim();
                p.accuracy = Some(v.parse::<u8>().ok().filter(|m| *m <= 9).ok_or_else(|| format!("invalid accuracy `{v}`"))?);
            }
            "log" => p.log = Some(true),
            "nolog" => p.log = Some(false),
            "auditlog" => p.auditlog = Some(true),
            "noauditlog" => p.auditlog = Some(false),
            "capture" => p.capture = true,
            "multimatch" => p.multi_match = true,
            "setvar" => p.setvars.push(parse_setvar(val()?)?),
            "ctl" => p.actions.push(Action::Ctl(parse_ctl(val()?)?)),
            "initcol" => {
                let v = val()?;
                let (col, key) = v.split_once('=').ok_or_else(|| format!("initcol `{v}`: expected collection=key"))?;
                let var = Var::from_name(col.trim()).filter(|v| v.is_persistent()).ok_or_else(|| {
                    format!("initcol `{v}`: unknown persistent collection `{col}` (IP, GLOBAL, RESOURCE, SESSION, USER)")
                })?;
                p.actions.push(Action::InitCol(var, MacroString::parse(key.trim())?));
            }
            "expirevar" => {
                let v = val()?;
                let (lhs, secs) = v.split_once('=').ok_or_else(|| format!("expirevar `{v}`: expected collection.name=seconds"))?;
                let (col, key) = lhs.split_once('.').ok_or_else(|| format!("expirevar `{v}`: expected collection.name"))?;
                let collection = Var::from_name(col.trim()).filter(|v| v.is_persistent() || *v == Var::Tx).ok_or_else(|| {
                    format!("expirevar `{v}`: unknown collection `{col}`")
                })?;
                p.actions.push(Action::ExpireVar { collection, key: MacroString::parse(key)?, seconds: MacroString::parse(secs.trim())? });
            }
            "setenv" => {
                let v = val()?;
                let (n, x) = v.split_once('=').unwrap_or((v, "1"));
                p.actions.push(Action::SetEnv { name: MacroString::parse(n.trim())?, value: MacroString::parse(x)? });
            }
            "setuid" => p.actions.push(Action::SetUid(MacroString::parse(val()?)?)),
            "setsid" => p.actions.push(Action::SetSid(MacroString::parse(val()?)?)),
            "setrsc" => p.actions.push(Action::SetRsc(MacroString::parse(val()?)?)),
            "skip" => {
                let v = val()?.trim();
                let n = v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| format!("skip: invalid count `{v}`"))?;
                p.actions.push(Action::Skip(n));
            }
            "skipafter" => p.actions.push(Action::SkipAfter(Arc::from(val()?.trim()))),
            "xmlns" => {
                val()?;
            }
            other => {
                if let Some(reason) = unsupported_action(other) {
                    p.unsupported.push(format!("action `{}`: {}", a.name, reason));
                } else {
                    return Err(format!("unknown action `{}`", a.name));
                }
            }
        }
    }
    Ok(p)
}

/// The name libmodsecurity prints for an operator in match messages.
fn operator_display_name(name: &str) -> String {
    let known = [
        ("rx", "Rx"), ("rxglobal", "RxGlobal"), ("pm", "Pm"), ("pmfromfile", "PmFromFile"), ("pmf", "PmFromFile"),
        ("eq", "Eq"), ("ge", "Ge"), ("gt", "Gt"), ("le", "Le"), ("lt", "Lt"), ("streq", "StrEq"),
        ("strmatch", "StrMatch"), ("within", "Within"), ("beginswith", "BeginsWith"), ("endswith", "EndsWith"),
        ("contains", "Contains"), ("containsword", "ContainsWord"), ("detectsqli", "DetectSQLi"),
        ("detectxss", "DetectXSS"), ("ipmatch", "IpMatch"), ("ipmatchfromfile", "IpMatchFromFile"),
        ("ipmatchf", "IpMatchFromFile"), ("validatebyterange", "ValidateByteRange"),
        ("validateurlencoding", "ValidateUrlEncoding"), ("validateutf8encoding", "ValidateUtf8Encoding"),
        ("unconditionalmatch", "UnconditionalMatch"), ("nomatch", "NoMatch"), ("verifycc", "VerifyCC"),
        ("verifyssn", "VerifySSN"), ("verifycpf", "VerifyCPF"), ("verifysvnr", "VerifySVNR"),
        ("geolookup", "GeoLookup"), ("rbl", "Rbl"),
    ];
    let l = name.to_ascii_lowercase();
    known
        .iter()
        .find(|(k, _)| *k == l)
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| {
            let mut c = name.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        })
}

/// Compiles a rule's variable list into targets with their exclusions.
fn compile_targets(specs: &[VariableSpec]) -> Result<Vec<Target>, String> {
    let mut targets: Vec<Target> = Vec::new();
    let mut exclusions: Vec<(Var, Option<KeySel>)> = Vec::new();
    for s in specs {
        let var = Var::from_name(&s.name).ok_or_else(|| format!("unknown variable `{}`", s.name))?;
        if s.selector.is_some() && !var.is_collection() {
            return Err(format!("variable {} takes no key", var.name()));
        }
        let key = match &s.selector {
            None => None,
            Some(Selector::Key(k)) => {
                if var == Var::Xml {
                    super::bodyproc::xml::validate_xpath(k).map_err(|e| format!("XML:{k}: {e}"))?;
                    // XPath expressions are case-sensitive: keep them as written.
                    Some(KeySel::Key(k.as_bytes().to_vec()))
                } else {
                    key_selector(Some(k), None)?
                }
            }
            Some(Selector::Regex(r)) => key_selector(None, Some(r))?,
        };
        if s.negated {
            exclusions.push((var, key));
            continue;
        }
        let text = format!(
            "{}{}{}",
            if s.count { "&" } else { "" },
            var.name(),
            match &s.selector {
                None => String::new(),
                Some(Selector::Key(k)) => format!(":{k}"),
                Some(Selector::Regex(r)) => format!(":/{r}/"),
            }
        );
        targets.push(Target { var, count: s.count, key, exclusions: Vec::new(), text });
    }
    for (var, key) in exclusions {
        match key {
            None => targets.retain(|t| t.var != var),
            Some(k) => {
                for t in targets.iter_mut().filter(|t| t.var == var) {
                    t.exclusions.push(k.clone());
                }
            }
        }
    }
    Ok(targets)
}

struct Compiler {
    config: EngineConfig,
    diagnostics: Vec<Diagnostic>,
    defaults: [Defaults; 5],
    items: Vec<Item>,
    pending_chain: Option<RawRule>,
    target_updates: Vec<TargetUpdate>,
    action_updates: Vec<ActionUpdate>,
    removals: Vec<Removal>,
    chain_ids: HashMap<Vec<&'static str>, u32>,
    chains: Vec<ChainInfo>,
}

impl Compiler {
    fn new() -> Self {
        Compiler {
            config: EngineConfig::default(),
            diagnostics: Vec::new(),
            defaults: Default::default(),
            items: Vec::new(),
            pending_chain: None,
            target_updates: Vec::new(),
            action_updates: Vec::new(),
            removals: Vec::new(),
            chain_ids: HashMap::new(),
            chains: vec![ChainInfo { parent: 0, last: None, same_last: Vec::new() }],
        }
    }

    fn diag(&mut self, loc: &SourceLoc, directive: &str, kind: DiagnosticKind, message: String) {
        self.diagnostics.push(Diagnostic { loc: loc.clone(), directive: directive.to_string(), kind, message });
    }

    /// Attaches a rule to the pending chain, or makes it a new item.
    fn push_rule(&mut self, mut rule: RawRule, is_chain_start: bool) -> Result<(), LoadError> {
        if let Some(mut head) = self.pending_chain.take() {
            // find the last link
            {
                rule.phase = head.phase;
                let mut link = &mut head;
                while link.chain.is_some() {
                    link = link.chain.as_mut().map(|b| b.as_mut()).expect("checked is_some");
                }
                link.chain = Some(Box::new(rule));
            }
            if is_chain_start {
                self.pending_chain = Some(head);
            } else {
                self.items.push(Item::Rule(head));
            }
            return Ok(());
        }
        if is_chain_start {
            self.pending_chain = Some(rule);
        } else {
            self.items.push(Item::Rule(rule));
        }
        Ok(())
    }

    fn directive(&mut self, d: Directive) -> Result<(), LoadError> {
        let dname = d.name.clone();
        let loc = d.loc.clone();
        let in_chain = self.pending_chain.is_some();
        match d.kind {
            DirectiveKind::SecRule { variables, operator, actions } => {
                let parsed = parse_actions(&actions).map_err(|m| err(&loc, &dname, m))?;
                if in_chain {
                    if parsed.id.is_some() || parsed.phase.is_some() {
                        return Err(err(&loc, &dname, "a chained rule cannot have id or phase (they belong to the chain's first rule)"));
                    }
                    if parsed.disruptive.is_some() {
                        return Err(err(&loc, &dname, "a chained rule cannot have a disruptive action (it belongs to the chain's first rule)"));
                    }
                } else if parsed.id.is_none() {
                    return Err(err(&loc, &dname, "rule has no id"));
                }
                let raw = RawRule {
                    base_dir: base_dir_of(&loc),
                    loc,
                    directive: dname,
                    variables,
                    operator: Some(operator),
                    actions,
                    chain: None,
                    id: parsed.id.unwrap_or(0),
                    phase: parsed.phase.unwrap_or(2),
                };
                self.push_rule(raw, parsed.chain)
            }
            DirectiveKind::SecAction { actions } => {
                if in_chain {
                    return Err(err(&loc, &dname, "SecAction cannot follow a rule with `chain`"));
                }
                let parsed = parse_actions(&actions).map_err(|m| err(&loc, &dname, m))?;
                let id = parsed.id.ok_or_else(|| err(&loc, &dname, "SecAction has no id"))?;
                if parsed.chain {
                    return Err(err(&loc, &dname, "SecAction cannot start a chain"));
                }
                let raw = RawRule {
                    base_dir: base_dir_of(&loc),
                    loc,
                    directive: dname,
                    variables: Vec::new(),
                    operator: None,
                    actions,
                    chain: None,
                    id,
                    phase: parsed.phase.unwrap_or(2),
                };
                self.push_rule(raw, false)
            }
            DirectiveKind::SecMarker { name } => {
                if in_chain {
                    return Err(err(&loc, &dname, "SecMarker cannot follow a rule with `chain`"));
                }
                self.items.push(Item::Marker(Arc::from(name.as_str())));
                Ok(())
            }
            DirectiveKind::SecDefaultAction { actions } => {
                let parsed = parse_actions(&actions).map_err(|m| err(&loc, &dname, m))?;
                if parsed.id.is_some() || parsed.chain {
                    return Err(err(&loc, &dname, "id and chain are not allowed in SecDefaultAction"));
                }
                if !parsed.actions.is_empty() || !parsed.setvars.is_empty() {
                    return Err(err(&loc, &dname, "SecDefaultAction accepts only transformations, disruptive, logging and metadata actions"));
                }
                let phase = parsed.phase.unwrap_or(2);
                let slot = &mut self.defaults[usize::from(phase - 1)];
                if let Some(prev) = &slot.loc {
                    return Err(err(
                        &loc,
                        &dname,
                        format!("SecDefaultAction for phase {phase} is already defined at {prev}; ModSecurity v3 allows one per phase"),
                    ));
                }
                for u in parsed.unsupported {
                    self.diag(&loc, &dname, DiagnosticKind::Unsupported, u);
                }
                let slot = &mut self.defaults[usize::from(phase - 1)];
                slot.loc = Some(loc);
                slot.specs = actions;
                Ok(())
            }
            DirectiveKind::SecRuleUpdateTarget { by, selector, variables, replace } => {
                self.target_updates.push(TargetUpdate { by, selector, variables, replace, loc, directive: dname });
                Ok(())
            }
            DirectiveKind::SecRuleUpdateActionById { selector, actions } => {
                let sel = selector.split(':').next().unwrap_or("");
                let ids = IdSet::parse(sel).map_err(|m| err(&loc, &dname, m))?;
                self.action_updates.push(ActionUpdate { ids, actions, loc, directive: dname });
                Ok(())
            }
            DirectiveKind::SecRuleRemove { by, args } => {
                if args.is_empty() {
                    return Err(err(&loc, &dname, "missing argument"));
                }
                if by == RuleSelectorKind::Id {
                    IdSet::parse(&args.join(" ")).map_err(|m| err(&loc, &dname, m))?;
                }
                self.removals.push(Removal { by, args, loc, directive: dname });
                Ok(())
            }
            DirectiveKind::Config { args } => {
                if dname.eq_ignore_ascii_case("Include") || dname.eq_ignore_ascii_case("IncludeOptional") {
                    return Err(err(&loc, &dname, "Include must be expanded by the loader"));
                }
                let base = base_dir_of(&loc);
                match self.config.apply(&dname, &args, &base).map_err(|m| err(&loc, &dname, m))? {
                    Applied::Ok => {}
                    Applied::NoEffect(m) => self.diag(&loc, &dname, DiagnosticKind::NoEffect, m),
                    Applied::Unsupported(m) => self.diag(&loc, &dname, DiagnosticKind::Unsupported, m),
                }
                Ok(())
            }
        }
    }

    fn chain_id(&mut self, ts: &[Transform]) -> u32 {
        let mut parent = 0u32;
        for i in 0..ts.len() {
            let key: Vec<&'static str> = ts[..=i].iter().map(|t| t.name).collect();
            let next = self.chains.len() as u32;
            let id = *self.chain_ids.entry(key).or_insert(next);
            if id == next {
                self.chains.push(ChainInfo { parent, last: Some(ts[i]), same_last: Vec::new() });
            }
            parent = id;
        }
        parent
    }

    /// Builds one compiled rule (and its chain) from a raw rule.
    fn build(&mut self, raw: &RawRule, head_phase: u8, is_head: bool, extra_targets: &[VariableSpec], replace: &[(String, Vec<VariableSpec>)], extra_actions: &[ActionSpec]) -> Result<Rule, LoadError> {
        let loc = &raw.loc;
        let dname = raw.directive.as_str();
        let e = |m: String| err(loc, dname, if raw.id != 0 { format!("rule {}: {m}", raw.id) } else { m });

        // Own actions (+ SecRuleUpdateActionById).
        let mut specs = raw.actions.clone();
        specs.extend_from_slice(extra_actions);
        let p = parse_actions(&specs).map_err(e)?;
        for u in &p.unsupported {
            self.diag(loc, dname, DiagnosticKind::Unsupported, u.clone());
        }
        let d = parse_actions(&self.defaults[usize::from(head_phase - 1)].specs).map_err(e)?;

        // Transformations: defaults unless the rule has t:none; then everything after the
        // rule's last t:none.
        let has_none = p.transforms.iter().any(Option::is_none);
        let mut transforms: Vec<Transform> = Vec::new();
        if !has_none {
            for t in d.transforms.iter().flatten() {
                transforms.push(*t);
            }
        }
        let last_none = p.transforms.iter().rposition(Option::is_none);
        let start = last_none.map(|i| i + 1).unwrap_or(0);
        transforms.extend(p.transforms[start..].iter().flatten().copied());
        let chain_id = self.chain_id(&transforms);

        // Targets.
        let mut var_specs = raw.variables.clone();
        for (name, new) in replace {
            if let Some(pos) = var_specs.iter().position(|v| {
                let t = match &v.selector {
                    None => v.name.clone(),
                    Some(Selector::Key(k)) => format!("{}:{}", v.name, k),
                    Some(Selector::Regex(r)) => format!("{}:/{}/", v.name, r),
                };
                t.eq_ignore_ascii_case(name)
            }) {
                var_specs.remove(pos);
                for (i, n) in new.iter().enumerate() {
                    var_specs.insert(pos + i, n.clone());
                }
            } else {
                return Err(e(format!("SecRuleUpdateTarget: target `{name}` to replace not found")));
            }
        }
        var_specs.extend_from_slice(extra_targets);
        let targets = compile_targets(&var_specs).map_err(e)?;

        // Operator.
        let operator = match &raw.operator {
            None => None,
            Some(o) => {
                let ctx = CompileCtx { base_dir: &raw.base_dir };
                let op = operators::compile(&o.name, &o.param, &ctx)
                    .map_err(|m| e(format!("operator @{}: {m}", o.name)))?;
                let param_macro = if o.param.contains("%{") {
                    Some(MacroString::parse(&o.param).map_err(|m| e(format!("operator @{}: {m}", o.name)))?)
                } else {
                    None
                };
                Some(RuleOperator {
                    op,
                    negated: o.negated,
                    display_name: operator_display_name(&o.name),
                    param: o.param.clone(),
                    param_macro,
                })
            }
        };

        // Disruptive action: the rule's own; `block` takes the phase default's.
        let disruptive = match (&p.disruptive, p.block) {
            (Some(dis), _) => Some(dis.clone()),
            (None, true) => d.disruptive.clone(),
            (None, false) => None,
        };
        let mut tags = d.tags.clone();
        tags.extend(p.tags.iter().cloned());

        let chain = match &raw.chain {
            Some(c) => Some(Box::new(self.build(c, head_phase, false, &[], &[], &[])?)),
            None => None,
        };
        if is_head && p.chain && chain.is_none() {
            return Err(e("rule has `chain` but no rule follows it".into()));
        }

        Ok(Rule {
            id: raw.id,
            phase: head_phase,
            loc: RuleLoc { file: loc.file.clone(), line: loc.line },
            targets,
            operator,
            transforms,
            chain_id,
            disruptive,
            has_block: p.block,
            status: p.status.or(d.status),
            msg: p.msg,
            logdata: p.logdata,
            severity: p.severity,
            tags,
            ver: p.ver.unwrap_or_default(),
            rev: p.rev.unwrap_or_default(),
            maturity: p.maturity.unwrap_or(0),
            accuracy: p.accuracy.unwrap_or(0),
            log: p.log.or(d.log).unwrap_or(true),
            auditlog: p.auditlog.or(d.auditlog).unwrap_or(true),
            capture: p.capture,
            multi_match: p.multi_match,
            setvars: p.setvars,
            actions: p.actions,
            chain,
            prefilter: None,
        })
    }

    fn finish(mut self) -> Result<Ruleset, LoadError> {
        if let Some(head) = self.pending_chain.take() {
            return Err(err(&head.loc, &head.directive, format!("rule {} has `chain` but no rule follows it", head.id)));
        }
        // Duplicate ids.
        let mut seen: HashMap<u64, SourceLoc> = HashMap::new();
        for it in &self.items {
            if let Item::Rule(r) = it {
                if let Some(prev) = seen.insert(r.id, r.loc.clone()) {
                    return Err(err(&r.loc, &r.directive, format!("rule id {} is already used at {}", r.id, prev)));
                }
            }
        }
        let items = std::mem::take(&mut self.items);
        let target_updates = std::mem::take(&mut self.target_updates);
        let action_updates = std::mem::take(&mut self.action_updates);
        let removals = std::mem::take(&mut self.removals);

        // Pre-parse the removals.
        let mut removed_ids = IdSet::default();
        let mut removed_tags: Vec<String> = Vec::new();
        let mut removed_msgs: Vec<String> = Vec::new();
        for r in &removals {
            match r.by {
                RuleSelectorKind::Id => {
                    let s = IdSet::parse(&r.args.join(" ")).map_err(|m| err(&r.loc, &r.directive, m))?;
                    removed_ids.0.extend(s.0);
                }
                RuleSelectorKind::Tag => removed_tags.extend(r.args.iter().cloned()),
                RuleSelectorKind::Msg => removed_msgs.extend(r.args.iter().cloned()),
            }
        }
        // Target updates by id need to know which rules exist; by tag/msg need the rule's
        // tags and msg (literal text).
        let mut used_updates = vec![false; target_updates.len()];
        let mut phases: [Vec<Entry>; 5] = Default::default();
        enum Placed {
            Rule(Rule),
            Marker(Arc<str>),
        }
        let mut placed: Vec<Placed> = Vec::new();
        let mut rule_count = 0;
        for it in &items {
            match it {
                Item::Marker(name) => placed.push(Placed::Marker(name.clone())),
                Item::Rule(raw) => {
                    let p = parse_actions(&raw.actions).map_err(|m| err(&raw.loc, &raw.directive, m))?;
                    let tags: Vec<&str> = p.tags.iter().map(|t| t.as_str()).collect();
                    let msg = p.msg.as_ref().map(|m| m.as_str());
                    let mut extra = Vec::new();
                    let mut replace = Vec::new();
                    for (i, u) in target_updates.iter().enumerate() {
                        let hit = match u.by {
                            RuleSelectorKind::Id => IdSet::parse(&u.selector)
                                .map_err(|m| err(&u.loc, &u.directive, m))?
                                .contains(raw.id),
                            RuleSelectorKind::Tag => tags.contains(&u.selector.as_str()),
                            RuleSelectorKind::Msg => msg == Some(u.selector.as_str()),
                        };
                        if hit {
                            used_updates[i] = true;
                            match &u.replace {
                                Some(old) => replace.push((old.clone(), u.variables.clone())),
                                None => extra.extend(u.variables.iter().cloned()),
                            }
                        }
                    }
                    let mut extra_actions = Vec::new();
                    for u in &action_updates {
                        if u.ids.contains(raw.id) {
                            extra_actions.extend(u.actions.iter().cloned());
                        }
                    }
                    let rule = self.build(raw, raw.phase, true, &extra, &replace, &extra_actions)?;
                    let removed = removed_ids.contains(rule.id)
                        || removed_tags.iter().any(|t| rule.has_tag(t))
                        || removed_msgs.iter().any(|m| rule.msg.as_ref().map(|x| x.as_str()) == Some(m.as_str()));
                    if removed {
                        continue;
                    }
                    rule_count += 1;
                    placed.push(Placed::Rule(rule));
                }
            }
        }
        let prefilter = {
            let mut rules: Vec<&mut Rule> = placed
                .iter_mut()
                .filter_map(|p| match p {
                    Placed::Rule(r) => Some(r),
                    Placed::Marker(_) => None,
                })
                .collect();
            build_prefilter(&mut rules, &self.chains).map_err(|m| err(&SourceLoc::new(Arc::from("<ruleset>"), 0, 0), "", m))?
        };
        for p in placed {
            match p {
                Placed::Marker(name) => {
                    for ph in phases.iter_mut() {
                        ph.push(Entry::Marker(name.clone()));
                    }
                }
                Placed::Rule(rule) => phases[usize::from(rule.phase - 1)].push(Entry::Rule(Arc::new(rule))),
            }
        }
        for u in &action_updates {
            if !items.iter().any(|it| matches!(it, Item::Rule(r) if u.ids.contains(r.id))) {
                self.diag(&u.loc, &u.directive, DiagnosticKind::NoEffect, "no rule has that id".to_string());
            }
        }
        for (i, u) in target_updates.iter().enumerate() {
            if !used_updates[i] {
                self.diag(&u.loc, &u.directive, DiagnosticKind::NoEffect, format!("no rule matches `{}`", u.selector));
            }
        }
        // skipAfter targets must exist in the phase of the rule using them.
        let mut markers: [HashSet<Arc<str>>; 5] = Default::default();
        for (i, ph) in phases.iter().enumerate() {
            for e in ph {
                if let Entry::Marker(m) = e {
                    markers[i].insert(m.clone());
                }
            }
        }
        for (i, ph) in phases.iter().enumerate() {
            for e in ph {
                if let Entry::Rule(r) = e {
                    for link in r.chain_iter() {
                        for a in &link.actions {
                            if let Action::SkipAfter(m) = a {
                                if !markers[i].contains(m) {
                                    let loc = SourceLoc::new(r.loc.file.clone(), r.loc.line, 1);
                                    return Err(err(&loc, "SecRule", format!("rule {}: skipAfter:{m}: no SecMarker with that name", r.id)));
                                }
                            }
                        }
                    }
                }
            }
        }
        link_same_last(&mut self.chains);
        Ok(Ruleset { config: self.config, phases, rule_count, diagnostics: self.diagnostics, chains: self.chains, prefilter })
    }
}

impl Ruleset {
    /// Compiles directives (already `Include`-expanded).
    pub fn from_directives(directives: Vec<Directive>) -> Result<Ruleset, LoadError> {
        let mut c = Compiler::new();
        for d in directives {
            c.directive(d)?;
        }
        c.finish()
    }

    /// Loads a main configuration file (following `Include`s) and compiles it.
    pub fn load(path: &Path) -> Result<Ruleset, LoadError> {
        let directives = super::parser::load_file(path)?;
        Ruleset::from_directives(directives)
    }

    /// Compiles configuration text (no `Include`); `name` is used in locations.
    pub fn from_str(text: &str, name: &str) -> Result<Ruleset, LoadError> {
        let directives = super::parser::parse_str(text, Arc::from(name))?;
        Ruleset::from_directives(directives)
    }

    /// Iterates over all rules (chain heads) of all phases.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.phases.iter().flatten().filter_map(|e| match e {
            Entry::Rule(r) => Some(r),
            Entry::Marker(_) => None,
        })
    }

    pub fn find_rule(&self, id: u64) -> Option<&Arc<Rule>> {
        self.rules().find(|r| r.id == id)
    }
}

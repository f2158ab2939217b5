//! Rule evaluation: phases, chains, targets, transformations (cached per transaction),
//! operators and actions, with libmodsecurity v3's order of effects:
//! - per matching value: MATCHED_VAR(S) update, capture (TX.0-9), `setvar`;
//! - when the whole chain matched, deepest link first: msg/logdata/tags, then `ctl`,
//!   `skip`/`skipAfter`, `initcol`... and finally the chain head's disruptive action (only
//!   when the engine is On);
//! - one message per chain match (per matching value with `multiMatch`).

use std::borrow::Cow;
use std::sync::Arc;

use super::collections::{now_secs, to_number, Change};
use super::compile::Ruleset;
use super::config::EngineMode;
use super::logging::{self, RuleMessage};
use super::macros::{MacroString, Resolve};
use super::operators::{Captures, OperatorEnv};
use super::rule::{Action, AllowKind, Ctl, Disruptive, Entry, Rule, SetVarOp};
use super::transaction::{CacheSlot, GeoLookup, Intervention, Transaction, TransformCache};
use super::transformations::{self, Transform};
use super::values::{Data, Val};
use super::vars::{TargetPattern, Var};

/// A value that matched.
#[derive(Default)]
pub(super) struct Found {
    name: Vec<u8>,
    orig: Vec<u8>,
    value: Vec<u8>,
    captures: Option<Captures>,
}

/// The values that matched one link, in reused buffers (`items[..len]` are current).
#[derive(Default)]
pub(super) struct FoundBuf {
    items: Vec<Found>,
    len: usize,
}

impl FoundBuf {
    /// Small enough to keep for another transaction.
    pub(super) fn reusable(&self) -> bool {
        self.items.len() <= 256 && self.items.iter().all(|f| f.name.capacity() + f.orig.capacity() + f.value.capacity() <= 64 * 1024)
    }

    /// Records a match of value `v` (`orig`: its untransformed text, when kept) whose
    /// transformed text is `tv`.
    fn record(&mut self, v: &Val<'_>, orig: Option<&[u8]>, tv: &[u8], captures: Option<Captures>) {
        let f = self.next_slot();
        v.write_full_name(&mut f.name);
        if let Some(o) = orig {
            f.orig.extend_from_slice(o);
        }
        f.value.extend_from_slice(tv);
        f.captures = captures;
    }

    /// The next entry, emptied (its buffers keep their allocations).
    fn next_slot(&mut self) -> &mut Found {
        if self.len == self.items.len() {
            self.items.push(Found::default());
        }
        let f = &mut self.items[self.len];
        self.len += 1;
        f.name.clear();
        f.orig.clear();
        f.value.clear();
        f.captures = None;
        f
    }
}

/// Message fields gathered along a chain.
#[derive(Default)]
pub(super) struct MsgState {
    match_text: String,
    msg: String,
    logdata: String,
    tags: Vec<String>,
    reference: String,
    /// multiMatch: one message per matching value, logged once the whole chain matched.
    pending: Vec<RuleMessage>,
    /// The inputs of `match_text` for the last match, formatted only once the whole chain
    /// matched (most chains that start matching do not finish).
    mt: PendingMatchText,
}

#[derive(Default)]
struct PendingMatchText {
    set: bool,
    op_name: String,
    param: String,
    var_name: Vec<u8>,
    value: Vec<u8>,
}

impl MsgState {
    /// Empties the state for the next rule (keeping the allocations of reused buffers).
    fn reset(&mut self) {
        self.match_text.clear();
        self.msg.clear();
        self.logdata.clear();
        self.tags.clear();
        self.reference.clear();
        self.pending.clear();
        self.mt.set = false;
    }

    /// Formats the pending match text, if any, into `match_text`.
    fn flush_match_text(&mut self) {
        if self.mt.set {
            self.mt.set = false;
            let m = &self.mt;
            self.match_text = logging::match_text(&m.op_name, &m.param, &m.var_name, &m.value);
        }
    }
}

struct Env<'a> {
    d: &'a Data,
    /// The rule's operator parameter, parsed at load time.
    param: Option<&'a MacroString>,
    httpbl_key: Option<&'a str>,
    geo: Option<&'a dyn GeoLookup>,
    geo_result: Option<Vec<(String, String)>>,
    /// `param` expanded, on first use (see `OperatorEnv::expand_param`).
    param_expanded: std::cell::OnceCell<Vec<u8>>,
}

impl<'a> Env<'a> {
    #[inline]
    fn new(d: &'a Data, op: &'a super::rule::RuleOperator, rs: &'a Ruleset, ctx: &'a super::transaction::EngineContext) -> Self {
        Env { d, param: op.param_macro.as_ref(), httpbl_key: rs.config.httpbl_key.as_deref(), geo: ctx.geo.as_deref(), geo_result: None, param_expanded: std::cell::OnceCell::new() }
    }
}

impl OperatorEnv for Env<'_> {
    fn expand(&self, text: &str) -> String {
        if let Some(m) = self.param.filter(|m| m.as_str() == text) {
            return m.expand_string(self.d);
        }
        match MacroString::parse(text) {
            Ok(m) => m.expand_string(self.d),
            Err(_) => text.to_string(),
        }
    }

    fn expand_param(&self, text: &str) -> Cow<'_, [u8]> {
        match self.param.filter(|m| m.as_str() == text) {
            Some(m) => Cow::Borrowed(self.param_expanded.get_or_init(|| m.expand_string(self.d).into_bytes())),
            None => Cow::Owned(self.expand(text).into_bytes()),
        }
    }

    fn httpbl_key(&self) -> Option<String> {
        self.httpbl_key.map(str::to_string)
    }

    fn geo_lookup(&mut self, addr: &[u8]) -> bool {
        match self.geo.and_then(|g| g.lookup(addr)) {
            Some(fields) => {
                self.geo_result = Some(fields);
                true
            }
            None => false,
        }
    }
}

fn apply_transform<'a>(rs: &Ruleset, t: &Transform, input: &'a [u8]) -> Cow<'a, [u8]> {
    if let Some(map) = &rs.config.unicode_map {
        if t.name == "urlDecodeUni" {
            return transformations::url_decode_uni_with_map(input, map);
        }
    }
    (t.func)(input)
}

/// Result of a chain for a cacheable value (computed once per transaction).
fn cached_slot(tc: &mut TransformCache, rs: &Ruleset, chain: u32, input: &[u8]) -> CacheSlot {
    if chain == 0 {
        return CacheSlot::Input;
    }
    let row = tc.row(rs.chains.len(), input);
    slot_in_row(tc, rs, row, chain, input)
}

/// The slot code of a chain of `row` that ends with `info`'s last step and whose prefix
/// gave `parent` (the same text `info`'s prefix gives), if one was computed.
#[inline(never)]
fn same_step_result(tc: &TransformCache, rs: &Ruleset, row: u32, info: &super::compile::ChainInfo, parent: CacheSlot) -> Option<u32> {
    let row_base = row as usize * tc.width;
    let parent_code = parent.code();
    info.same_last.iter().find_map(|&other| {
        let done = *tc.slots.get(row_base + other as usize)?;
        let other_parent = rs.chains.get(other as usize)?.parent;
        let other_parent_code = if other_parent == 0 { 0 } else { *tc.slots.get(row_base + other_parent as usize)? };
        (done != TransformCache::UNKNOWN && other_parent_code == parent_code).then_some(done)
    })
}

/// Texts shorter than this are transformed again rather than looked up among the results
/// of the same step through other chains (see [`super::compile::ChainInfo::same_last`]).
const SAME_STEP_MIN_LEN: usize = 16;

/// `cached_slot` for a value whose row is known.
fn slot_in_row(tc: &mut TransformCache, rs: &Ruleset, row: u32, chain: u32, input: &[u8]) -> CacheSlot {
    if chain == 0 {
        return CacheSlot::Input;
    }
    let idx = row as usize * tc.width + chain as usize;
    match tc.slots.get(idx) {
        Some(&TransformCache::UNKNOWN) => {}
        Some(&k) => return CacheSlot::from_code(k),
        // Not a chain of this ruleset's table (cannot happen): computed, not cached.
        None => {
            return match chain_uncached(rs, chain, input) {
                Some(v) => {
                    tc.slab.push(v);
                    CacheSlot::Slab((tc.slab.len() - 1) as u32)
                }
                None => CacheSlot::Input,
            };
        }
    }
    let Some(info) = rs.chains.get(chain as usize) else { return CacheSlot::Input };
    let parent = slot_in_row(tc, rs, row, info.parent, input);
    // A long text the same step already transformed (through another chain whose prefix
    // gave the same text) is not transformed again. Short texts are cheaper to transform
    // than to look for.
    if slot_bytes(tc, parent, input).len() >= SAME_STEP_MIN_LEN {
        if let Some(done) = same_step_result(tc, rs, row, info, parent) {
            if let Some(s) = tc.slots.get_mut(idx) {
                *s = done;
            }
            return CacheSlot::from_code(done);
        }
    }
    let owned = {
        let base = slot_bytes(tc, parent, input);
        match info.last.as_ref().map(|t| apply_transform(rs, t, base)) {
            Some(Cow::Owned(v)) => Some(v),
            _ => None,
        }
    };
    let slot = match owned {
        None => parent,
        Some(v) => {
            tc.slab.push(v);
            CacheSlot::Slab((tc.slab.len() - 1) as u32)
        }
    };
    if let Some(s) = tc.slots.get_mut(idx) {
        *s = slot.code();
    }
    slot
}

fn slot_bytes<'a>(tc: &'a TransformCache, slot: CacheSlot, input: &'a [u8]) -> &'a [u8] {
    match slot {
        CacheSlot::Input => input,
        CacheSlot::Slab(i) => tc.slab.get(i as usize).map(Vec::as_slice).unwrap_or(input),
    }
}

/// Applies a rule's transformations to a value that is not cached.
fn transform_uncached(rs: &Ruleset, rule: &Rule, input: &[u8]) -> Option<Vec<u8>> {
    let mut cur: Option<Vec<u8>> = None;
    for t in &rule.transforms {
        let next = match apply_transform(rs, t, cur.as_deref().unwrap_or(input)) {
            Cow::Owned(n) => Some(n),
            Cow::Borrowed(_) => None,
        };
        if next.is_some() {
            cur = next;
        }
    }
    cur
}

/// `RAMPART_DEBUG_EVAL` set: every rule evaluation is printed to stderr (diagnostics).
fn debug_eval() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("RAMPART_DEBUG_EVAL").is_some())
}

/// `RAMPART_NO_PREFILTER` set: transactions evaluate every rule (for comparisons).
pub(super) fn prefilter_disabled_by_env() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| std::env::var_os("RAMPART_NO_PREFILTER").is_some())
}

/// The bit of variable `var` in a set of variables.
#[inline]
fn var_bit(var: Var) -> u128 {
    1u128 << (var as u8)
}

/// The value a target naming one TX variable stands for: the variable's (name as written,
/// value), or ("", "1" / "0") for its count; None when the variable does not exist.
#[inline]
fn single_tx_value<'d>(tx: &'d super::collections::Collection, key_lc: &[u8], count: bool) -> Option<(&'d [u8], &'d [u8])> {
    let item = tx.get_item_lc(key_lc);
    if count {
        Some((b"", if item.is_some() { b"1" } else { b"0" }))
    } else {
        item
    }
}

/// Whether `op` (negation included) is true for `value`; `op_false`: the operator itself is
/// known to be false. Also returns what an `@geoLookup` found.
#[inline]
fn test_operator(d: &Data, rs: &Ruleset, ctx: &super::transaction::EngineContext, op: &super::rule::RuleOperator, value: &[u8], op_false: bool) -> (bool, Option<Vec<(String, String)>>) {
    let mut env = Env::new(d, op, rs, ctx);
    ((!op_false && op.op.evaluate(value, &mut env, None)) != op.negated, env.geo_result.take())
}

/// Reuses a vector's allocation for values of another lifetime (it is emptied first; the
/// in-place `collect` keeps the buffer, the closure never runs).
fn recycle<'b>(mut v: Vec<Val<'_>>) -> Vec<Val<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!("the vector is empty")).collect()
}

/// Applies transformation chain `chain` (by id) to a value that is not cached.
fn chain_uncached(rs: &Ruleset, chain: u32, input: &[u8]) -> Option<Vec<u8>> {
    let mut steps = Vec::new();
    let mut c = chain;
    while c != 0 {
        let Some(info) = rs.chains.get(c as usize) else { break };
        if let Some(t) = &info.last {
            steps.push(*t);
        }
        c = info.parent;
    }
    let mut cur: Option<Vec<u8>> = None;
    for t in steps.iter().rev() {
        if let Cow::Owned(n) = apply_transform(rs, t, cur.as_deref().unwrap_or(input)) {
            cur = Some(n);
        }
    }
    cur
}

/// With multiMatch: the original value and every transformation step that changed it.
fn multi_match_values<'a>(rs: &Ruleset, rule: &Rule, input: &'a [u8]) -> Vec<Cow<'a, [u8]>> {
    // The current value is always the last one kept: a step whose output equals its input
    // changes nothing.
    let mut out: Vec<Cow<'a, [u8]>> = vec![Cow::Borrowed(input)];
    for t in &rule.transforms {
        let cur: &[u8] = out.last().map(|c| &**c).unwrap_or(input);
        if let Cow::Owned(n) = apply_transform(rs, t, cur) {
            if n != cur {
                out.push(Cow::Owned(n));
            }
        }
    }
    out
}

/// The cached outputs of every prefix of transformation chain `chain` applied to `input`,
/// shortest first (`None` for chains longer than 32 steps).
fn chain_prefix_slots(tc: &mut TransformCache, rs: &Ruleset, chain: u32, input: &[u8]) -> Option<([CacheSlot; 32], usize)> {
    let mut ids = [0u32; 32];
    let mut n = 0;
    let mut c = chain;
    while c != 0 {
        *ids.get_mut(n)? = c;
        n += 1;
        c = rs.chains.get(c as usize)?.parent;
    }
    let mut slots = [CacheSlot::Input; 32];
    let row = tc.row(rs.chains.len(), input);
    for (slot, id) in slots.iter_mut().zip(ids[..n].iter().rev()) {
        *slot = slot_in_row(tc, rs, row, *id, input);
    }
    Some((slots, n))
}

/// Sets capture slot `TX.i` (reusing the value's buffer when the slot exists).
fn set_capture(tx: &mut super::collections::Collection, i: usize, c: &[u8]) {
    let mut buf = [0u8; 20];
    let key: &[u8] = if i < 10 {
        buf[0] = b'0' + i as u8;
        &buf[..1]
    } else {
        let s = i.to_string();
        let n = s.len().min(buf.len());
        buf[..n].copy_from_slice(&s.as_bytes()[..n]);
        &buf[..n]
    };
    tx.set_lc(key, key, c);
}

impl Transaction {
    pub(super) fn run_phase(&mut self, phase: u8) {
        self.phase = phase;
        match self.allow {
            Some(AllowKind::All) if phase != 5 => return,
            Some(AllowKind::Request) if phase <= 2 => return,
            _ => {}
        }
        self.allow = None;
        // The transaction's data may have grown since the last phase.
        self.prefilter_fresh = false;
        let rs = self.rs.clone();
        let phase_index = phase.saturating_sub(1);
        let Some(entries) = rs.phases.get(usize::from(phase_index)) else { return };
        for (index, entry) in entries.iter().enumerate() {
            if let Some(m) = &self.skip_marker {
                if let Entry::Marker(n) = entry {
                    if n == m {
                        self.skip_marker = None;
                    }
                }
                continue;
            }
            if self.skip_next > 0 {
                self.skip_next -= 1;
                continue;
            }
            if self.allow.is_some() {
                continue;
            }
            let Entry::Rule(rule) = entry else { continue };
            if self.removed_ids.iter().any(|s| s.contains(rule.id)) {
                continue;
            }
            if !self.removed_tags.is_empty() && self.removed_tags.iter().any(|t| rule.has_tag(t)) {
                continue;
            }
            self.d.cur_rule = Some((phase_index, index as u32));
            self.eval_rule(rule);
            if self.intervention.is_some() {
                break;
            }
        }
    }

    fn eval_rule(&mut self, rule: &Arc<Rule>) {
        // The message state is only written for rules that make a message, and emptied
        // after them: every rule starts with an empty one.
        let mut st: Box<MsgState> = self.msg_state.take().unwrap_or_default();
        let need = self.needs_message(rule);
        let matched = match self.eval_tx_check(rule, need, &mut st) {
            Some(m) => m,
            None => self.eval_link(rule, rule, &mut st),
        };
        if matched {
            self.matched_ids.push(rule.id);
        }
        // (A `ctl:ruleEngine` of the rule may have changed whether it made one.)
        if need || self.needs_message(rule) {
            st.reset();
        }
        self.msg_state = Some(st);
    }

    /// `eval_rule` for the commonest shape of CRS's bookkeeping rules (paranoia-level gates,
    /// initialisation checks, score comparisons): no chain, one TX variable named literally
    /// (or its count), no transformation, no capture, no message to make. The variable is
    /// looked up and recorded as MATCHED_VAR in place. None, having done nothing, for any
    /// other rule. `need`: whether the rule makes a message (`needs_message`).
    fn eval_tx_check(&mut self, rule: &Arc<Rule>, need: bool, st: &mut MsgState) -> Option<bool> {
        let op = rule.operator.as_ref()?;
        let [t] = rule.targets.as_slice() else { return None };
        let (Var::Tx, Some(super::vars::KeySel::Key(key)), true, None, 0, false, false) =
            (t.var, &t.key, t.exclusions.is_empty(), &rule.chain, rule.chain_id, rule.capture, rule.multi_match)
        else {
            return None;
        };
        if rule.prefilter.is_some() || need || self.removes_runtime_target(rule, Var::Tx) {
            return None;
        }
        let Transaction { d, rs, ctx, .. } = self;
        let d: &mut Data = d;
        // No such variable: nothing to test, no match (negated or not).
        let found = single_tx_value(&d.tx, key, t.count);
        let (matched, geo) = match found {
            Some((_, value)) => test_operator(d, rs, ctx, op, value, false),
            None => (false, None),
        };
        if debug_eval() {
            eprintln!("eval {} phase {} op {} targets {} pf None found {}", rule.id, self.phase, op.display_name, t.text, usize::from(matched));
        }
        match found.filter(|_| matched) {
            // The name MATCHED_VAR_NAME shows (`Val::write_full_name`): `TX:name`, or `TX`
            // for a count.
            Some((name, value)) => d.matched.push(&[if name.is_empty() { b"TX" } else { b"TX:" }, name], value),
            None => d.matched.clear(),
        }
        if let Some(fields) = geo {
            self.set_geo(fields);
        }
        if matched {
            self.run_setvars(rule);
            self.after_full_match(rule, rule, st);
        }
        Some(matched)
    }

    fn clean_matched_vars(&mut self) {
        self.d.matched.clear();
    }

    /// Whether a runtime target exclusion (ctl:ruleRemoveTarget*) of variable `var` applies
    /// to `head`.
    fn removes_runtime_target(&self, head: &Rule, var: Var) -> bool {
        self.removed_target_vars & var_bit(var) != 0 && self.removes_runtime_target_slow(head, var)
    }

    fn removes_runtime_target_slow(&self, head: &Rule, var: Var) -> bool {
        self.removed_targets_by_id.iter().any(|(ids, p)| p.var == var && ids.contains(head.id))
            || self.removed_targets_by_tag.iter().any(|(tag, p)| p.var == var && head.has_tag(tag))
    }

    /// Runtime target exclusions (ctl:ruleRemoveTarget*) that apply to `head`.
    fn runtime_exclusions(&self, head: &Rule) -> Vec<TargetPattern> {
        let mut v = Vec::new();
        for (ids, p) in &self.removed_targets_by_id {
            if ids.contains(head.id) {
                v.push(p.clone());
            }
        }
        for (tag, p) in &self.removed_targets_by_tag {
            if head.has_tag(tag) {
                v.push(p.clone());
            }
        }
        v
    }

    /// The values (after transformations) for which `link`'s operator, negation included,
    /// is true. `op_false`: the operator itself is known to be false for every value.
    #[inline(never)]
    fn find_matches(&mut self, link: &Rule, head: &Rule, keep_orig: bool, op_false: bool, found: &mut FoundBuf) {
        found.len = 0;
        let Some(op) = link.operator.as_ref() else { return };
        // Runtime exclusions matter only to links looking at one of their variables (CRS's
        // 941010 removes REQUEST_FILENAME from the XSS rules of almost every request).
        let excl = if self.removed_target_vars == 0 || !link.targets.iter().any(|t| self.removed_target_vars & var_bit(t.var) != 0) {
            Vec::new()
        } else {
            self.runtime_exclusions(head)
        };
        if excl.is_empty() && self.find_single_tx_match(link, op, keep_orig, op_false, found) {
            return;
        }
        let geo_result;
        {
            let Transaction { d, tcache, rs, ctx, vals_pool, prefilter_on, prefilter_fresh, .. } = self;
            let rs: &Ruleset = rs;
            let mut env = Env::new(d, op, rs, ctx);
            let mut vals: Vec<Val<'_>> = recycle(std::mem::take(vals_pool));
            // The link's prefilter bit, when the prefilter ran for this phase: values it
            // scanned without finding one of the link's literals are not tested (with a
            // negated operator they are: the transformed value is recorded as the match).
            let pf_bit = link.prefilter.filter(|_| *prefilter_on && *prefilter_fresh && !op_false && !op.negated);
            for t in &link.targets {
                vals.clear();
                d.resolve(t, &mut vals);
                for v in &vals {
                    if !excl.is_empty() && excl.iter().any(|p| p.covers(v.var, if v.key.is_empty() { None } else { Some(&v.key) })) {
                        continue;
                    }
                    let input: &[u8] = &v.value;
                    // Values of the transaction's request data, which stay in place for the
                    // whole transaction: their transformations are cached by address.
                    let cacheable = v.var.is_stable() && matches!(v.value, Cow::Borrowed(_));
                    if let Some(bit) = pf_bit.filter(|_| cacheable) {
                        if tcache.pf_rules_out(input, v.var, bit) {
                            continue;
                        }
                    }
                    let test = |tv: &[u8], env: &mut Env<'_>, found: &mut FoundBuf| {
                        let mut caps = (link.capture && !op.negated).then(Captures::default);
                        if (!op_false && op.op.evaluate(tv, env, caps.as_mut())) != op.negated {
                            found.record(v, keep_orig.then_some(input), tv, caps);
                        }
                    };
                    if link.chain_id == 0 {
                        // No transformation.
                        test(input, &mut env, found);
                    } else if link.multi_match {
                        match cacheable.then(|| chain_prefix_slots(tcache, rs, link.chain_id, input)).flatten() {
                            // The value after each step is the cached output of the chain's
                            // prefix ending there; steps that change nothing are skipped.
                            Some((slots, n)) => {
                                let mut prev = input;
                                test(input, &mut env, found);
                                for slot in &slots[..n] {
                                    let cur = slot_bytes(tcache, *slot, input);
                                    if cur != prev {
                                        test(cur, &mut env, found);
                                        prev = cur;
                                    }
                                }
                            }
                            None => {
                                for tv in multi_match_values(rs, link, input) {
                                    test(&tv, &mut env, found);
                                }
                            }
                        }
                    } else if cacheable {
                        let slot = cached_slot(tcache, rs, link.chain_id, input);
                        test(slot_bytes(tcache, slot, input), &mut env, found);
                    } else {
                        match transform_uncached(rs, link, input) {
                            Some(tv) => test(&tv, &mut env, found),
                            None => test(input, &mut env, found),
                        }
                    }
                }
            }
            geo_result = env.geo_result.take();
            *vals_pool = recycle(vals);
        }
        if let Some(fields) = geo_result {
            self.set_geo(fields);
        }
    }

    /// Fills the GEO collection with what an `@geoLookup` found.
    #[cold]
    fn set_geo(&mut self, fields: Vec<(String, String)>) {
        for (k, v) in fields {
            self.d.geo.set(k.as_bytes(), v.as_bytes());
        }
    }

    /// `find_matches` for the commonest shape of CRS's bookkeeping rules (paranoia-level
    /// gates, initialisation checks, score comparisons): one TX variable named literally (or
    /// its count), no transformation, no capture. Returns false, having done nothing, for
    /// any other link.
    fn find_single_tx_match(&mut self, link: &Rule, op: &super::rule::RuleOperator, keep_orig: bool, op_false: bool, found: &mut FoundBuf) -> bool {
        let [t] = link.targets.as_slice() else { return false };
        let (Var::Tx, Some(super::vars::KeySel::Key(key)), true, 0, false) = (t.var, &t.key, t.exclusions.is_empty(), link.chain_id, link.capture) else {
            return false;
        };
        let Transaction { d, rs, ctx, .. } = self;
        // No such variable: nothing to test, no match (negated or not).
        let Some((name, value)) = single_tx_value(&d.tx, key, t.count) else { return true };
        let v = Val { var: t.var, key: Cow::Borrowed(name), value: Cow::Borrowed(value) };
        let (matched, geo) = test_operator(d, rs, ctx, op, value, op_false);
        if matched {
            found.record(&v, keep_orig.then_some(value), value, None);
        }
        if let Some(fields) = geo {
            self.set_geo(fields);
        }
        true
    }

    /// Whether the prefilter lets rule bit `bit` through in this phase.
    fn prefilter_allows(&mut self, bit: u32) -> bool {
        if !self.prefilter_fresh {
            self.update_prefilter();
            self.prefilter_fresh = true;
        }
        self.prefilter_bits
            .get(bit as usize / 64)
            .is_some_and(|w| w & (1u64 << (bit % 64)) != 0)
    }

    /// Scans every value the prefiltered rules may look at, raw and, for each chain that can
    /// change it, transformed; returns the bits of the rules one of whose literals occurs in
    /// their chain's output of a value of one of their collections.
    ///
    /// The stable collections only grow during a transaction (values are appended, never
    /// changed), so each update scans only the values added since the previous one and adds
    /// to the bits.
    #[inline(never)]
    fn update_prefilter(&mut self) {
        use super::transformations::triggers;
        let Transaction { d, tcache, rs, vals_pool, prefilter_bits, prefilter_scanned, .. } = self;
        let rs: &Ruleset = rs;
        let Some(pf) = rs.prefilter.as_ref() else { return };
        let bits = prefilter_bits;
        if bits.is_empty() {
            bits.resize((pf.nbits as usize).div_ceil(64), 0);
        }
        if prefilter_scanned.len() != pf.targets.len() {
            prefilter_scanned.clear();
            prefilter_scanned.resize(pf.targets.len(), 0);
        }
        let mut vals: Vec<Val<'_>> = recycle(std::mem::take(vals_pool));
        // Per chain: 0 = its output is the raw value (up to case) or the chain does not
        // apply to this value's variable, k > 0 = distinct transformed text k.
        let mut text_of = vec![0usize; pf.chains.len()];
        // Distinct transformed texts of the current value: slab slots, or owned for values
        // that are not cached.
        let mut slots: Vec<u32> = Vec::new();
        let mut owned: Vec<Vec<u8>> = Vec::new();
        // Per text index: the index of the first text equal to it (0 = the raw value).
        let mut remap: Vec<usize> = Vec::new();
        // The bits of the rules the current value lets through.
        let mut vbits = vec![0u64; bits.len()];
        let set = |vbits: &mut [u64], e: &super::compile::PfEntry| {
            if let Some(w) = vbits.get_mut(e.bit as usize / 64) {
                *w |= 1u64 << (e.bit % 64);
            }
        };
        for (ti, t) in pf.targets.iter().enumerate() {
            vals.clear();
            d.resolve(t, &mut vals);
            let already = prefilter_scanned[ti];
            prefilter_scanned[ti] = vals.len();
            for v in vals.iter().skip(already) {
                let var_bit = var_bit(v.var);
                let raw: &[u8] = &v.value;
                let cacheable = matches!(v.value, Cow::Borrowed(_));
                let present = triggers::present(raw);
                let row: Option<u32> = cacheable.then(|| tcache.row(rs.chains.len(), raw));
                vbits.fill(0);
                slots.clear();
                owned.clear();
                text_of.fill(0);
                for &ci in pf.chains_by_var.get(v.var as usize).map(Vec::as_slice).unwrap_or_default() {
                    let ci = usize::from(ci);
                    let c = &pf.chains[ci];
                    if c.triggers.as_ref().is_some_and(|t| !triggers::intersects(t, &present)) {
                        continue;
                    }
                    if c.whole & var_bit == 0 {
                        // Only some keys of this variable are wanted by the chain's rules.
                        let wanted = c.keys.iter().any(|(var, keys)| *var == v.var && keys.iter().any(|k| k.eq_ignore_ascii_case(&v.key)));
                        if !wanted {
                            continue;
                        }
                    }
                    if let Some(r) = row {
                        if let CacheSlot::Slab(i) = slot_in_row(tcache, rs, r, c.chain_id, raw) {
                            let k = match slots.iter().position(|s| *s == i) {
                                Some(k) => k,
                                None => {
                                    slots.push(i);
                                    slots.len() - 1
                                }
                            };
                            text_of[ci] = k + 1;
                        }
                    } else if let Some(o) = chain_uncached(rs, c.chain_id, raw) {
                        owned.push(o);
                        text_of[ci] = owned.len();
                    }
                }
                let n = if cacheable { slots.len() } else { owned.len() };
                let text_k = |k: usize| -> &[u8] {
                    if cacheable {
                        tcache.slab.get(slots[k] as usize).map(Vec::as_slice).unwrap_or_default()
                    } else {
                        &owned[k]
                    }
                };
                // Transformed texts equal (up to ASCII case, which neither the
                // case-insensitive literals nor the non-alphanumeric single bytes see) to the
                // raw value or to an earlier text are scanned once: their chains are
                // pointed at the first one.
                if n > 0 {
                    remap.clear();
                    remap.push(0);
                    for k in 0..n {
                        let text = text_k(k);
                        let same = if text.eq_ignore_ascii_case(raw) {
                            Some(0)
                        } else {
                            (0..k).find(|&j| remap[j + 1] == j + 1 && text_k(j).eq_ignore_ascii_case(text)).map(|j| j + 1)
                        };
                        remap.push(same.unwrap_or(k + 1));
                    }
                    for t in text_of.iter_mut() {
                        *t = remap[*t];
                    }
                }
                let hit = |text: &[u8], present: &triggers::ByteSet, k: usize, bits: &mut [u64]| {
                    pf.for_each_literal(text, |lit, end| {
                        for e in &pf.entries[lit] {
                            if e.vars & var_bit != 0 && text_of[e.chain as usize] == k && e.complete_at(&pf.rests, text, end) {
                                set(bits, e);
                            }
                        }
                    });
                    for (w, (word, mask)) in present.iter().zip(&pf.byte_mask).enumerate() {
                        let mut word = *word & *mask;
                        while word != 0 {
                            let b = w * 64 + word.trailing_zeros() as usize;
                            word &= word - 1;
                            for e in &pf.byte_entries[b] {
                                if e.vars & var_bit != 0 && text_of[e.chain as usize] == k {
                                    set(bits, e);
                                }
                            }
                        }
                    }
                };
                hit(raw, &present, 0, &mut vbits);
                for k in 0..n {
                    if remap[k + 1] != k + 1 {
                        continue;
                    }
                    let text = text_k(k);
                    hit(text, &triggers::present(text), k + 1, &mut vbits);
                }
                for (w, vw) in bits.iter_mut().zip(&vbits) {
                    *w |= *vw;
                }
                if let Some(r) = row {
                    tcache.pf_record(r, var_bit, &vbits);
                }
            }
        }
        *vals_pool = recycle(vals);
    }

    /// Evaluates one link of a chain (and the rest of the chain); true when it all matched.
    fn eval_link(&mut self, link: &Rule, head: &Arc<Rule>, st: &mut MsgState) -> bool {
        // None of the values can contain a literal the operator needs: the operator is
        // false for all of them.
        let op_false = link.prefilter.filter(|_| self.prefilter_on).is_some_and(|bit| !self.prefilter_allows(bit));
        if op_false && !link.operator.as_ref().is_some_and(|o| o.negated) {
            self.clean_matched_vars();
            return false;
        }
        if link.operator.is_none() {
            // SecAction: unconditional.
            self.run_setvars(link);
        } else {
            let need = self.needs_message(head);
            // The buffers are lent out while this link's matches are processed (a chained
            // link only runs afterwards, and gets them back).
            let mut found = std::mem::take(&mut self.found_pool);
            self.find_matches(link, head, need, op_false, &mut found);
            if debug_eval() {
                let op = link.operator.as_ref().map(|o| o.display_name.as_str()).unwrap_or("");
                eprintln!("eval {} phase {} op {} targets {} pf {:?} found {}", head.id, self.phase, op, link.targets.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join("|"), link.prefilter, found.len);
            }
            if found.len == 0 {
                self.found_pool = found;
                self.clean_matched_vars();
                return false;
            }
            let per_match = head.multi_match && head.log && std::ptr::eq(link, &**head);
            let last = found.len - 1;
            for (i, f) in found.items[..found.len].iter_mut().enumerate() {
                // Only the last match's text is kept (and only when a message will be made).
                if need && (i == last || per_match) {
                    if let Some(op) = &link.operator {
                        if per_match {
                            let param = match &op.param_macro {
                                Some(m) => m.expand_string(&self.d),
                                None => op.param.clone(),
                            };
                            st.mt.set = false;
                            st.match_text = logging::match_text(&op.display_name, &param, &f.name, &f.orig);
                        } else {
                            // Recorded now (the parameter is expanded now), formatted later.
                            let mt = &mut st.mt;
                            mt.set = true;
                            mt.op_name.clear();
                            mt.op_name.push_str(&op.display_name);
                            mt.param.clear();
                            match &op.param_macro {
                                Some(m) => mt.param.push_str(&m.expand_string(&self.d)),
                                None => mt.param.push_str(&op.param),
                            }
                            mt.var_name.clear();
                            mt.var_name.extend_from_slice(&f.name);
                            mt.value.clear();
                            mt.value.extend_from_slice(&f.orig);
                        }
                    }
                }
                if let Some(caps) = &f.captures {
                    // Slots of groups that did not take part in the match keep their value.
                    for (i, c) in caps.iter_set() {
                        set_capture(&mut self.d.tx, i, c);
                    }
                }
                self.d.matched.push(&[&f.name], &f.value);
                self.run_setvars(link);
                if per_match {
                    self.collect_message_fields(link, st);
                    let m = self.make_message(head, st, false);
                    st.pending.push(m);
                }
            }
            self.found_pool = found;
        }
        if let Some(child) = &link.chain {
            if !self.eval_link(child, head, st) {
                return false;
            }
        }
        self.after_full_match(link, head, st);
        true
    }

    fn collect_message_fields(&mut self, link: &Rule, st: &mut MsgState) {
        if let Some(m) = &link.msg {
            st.msg = m.expand_string(&self.d);
        }
        if let Some(l) = &link.logdata {
            st.logdata = l.expand_string(&self.d);
        }
        st.tags.clear();
        for t in &link.tags {
            st.tags.push(t.expand_string(&self.d));
        }
        st.reference = link.transforms.iter().map(|t| format!("t:{}", t.name)).collect::<Vec<_>>().join(",");
    }

    fn make_message(&self, head: &Arc<Rule>, st: &MsgState, disruptive: bool) -> RuleMessage {
        RuleMessage {
            rule: head.clone(),
            match_text: st.match_text.clone(),
            message: st.msg.clone(),
            data: st.logdata.clone(),
            severity: head.severity,
            tags: st.tags.clone(),
            disruptive,
            log: head.log,
            auditlog: head.auditlog,
            reference: st.reference.clone(),
            phase: self.phase,
        }
    }

    /// Whether a full match of `head` produces a message (logged, or the log line of an
    /// intervention): otherwise msg/logdata/tags are not even expanded.
    fn needs_message(&self, head: &Rule) -> bool {
        head.log
            || (self.mode == EngineMode::On
                && matches!(head.disruptive, Some(Disruptive::Deny | Disruptive::Drop | Disruptive::Redirect(_))))
    }

    #[inline(never)]
    fn after_full_match(&mut self, link: &Rule, head: &Arc<Rule>, st: &mut MsgState) {
        st.flush_match_text();
        let is_head = std::ptr::eq(link, &**head);
        let need = self.needs_message(head);
        if need && (link.msg.is_some() || link.logdata.is_some() || is_head) {
            if is_head {
                // The head's fields win (it runs last).
                let mut hs = MsgState {
                    match_text: std::mem::take(&mut st.match_text),
                    pending: std::mem::take(&mut st.pending),
                    ..MsgState::default()
                };
                hs.msg = std::mem::take(&mut st.msg);
                hs.logdata = std::mem::take(&mut st.logdata);
                self.collect_message_fields(link, &mut hs);
                *st = hs;
            } else {
                self.collect_message_fields(link, st);
            }
        }
        for a in &link.actions {
            self.run_action(a);
        }
        if !is_head {
            return;
        }
        if let Some(sev) = head.severity {
            self.d.highest_severity = Some(self.d.highest_severity.map_or(sev, |h| h.min(sev)));
        }
        let engine_on = self.mode == EngineMode::On;
        let mut intervention: Option<Intervention> = None;
        if engine_on {
            match &head.disruptive {
                Some(Disruptive::Deny) => {
                    intervention = Some(self.new_intervention(head, head.status.unwrap_or(403), None, false));
                }
                Some(Disruptive::Drop) => {
                    intervention = Some(self.new_intervention(head, head.status.unwrap_or(403), None, true));
                }
                Some(Disruptive::Redirect(url)) => {
                    let status = match head.status {
                        Some(s @ (301 | 302 | 303 | 307 | 308)) => s,
                        _ => 302,
                    };
                    let url = url.expand_string(&self.d);
                    intervention = Some(self.new_intervention(head, status, Some(url), false));
                }
                Some(Disruptive::Allow(kind)) => self.allow = Some(*kind),
                Some(Disruptive::Pass) | None => {}
            }
        }
        if head.multi_match {
            for m in std::mem::take(&mut st.pending) {
                self.push_message(m, None);
            }
            if let Some(mut i) = intervention {
                let m = self.make_message(head, st, true);
                i.log = logging::error_log_line(&m, &self.log_context(), Some(i.status));
                self.log_lines.push(i.log.clone());
                self.intervention = Some(i);
            }
            return;
        }
        if !need {
            return;
        }
        let disruptive = intervention.is_some();
        let m = self.make_message(head, st, disruptive);
        if let Some(mut i) = intervention {
            i.log = logging::error_log_line(&m, &self.log_context(), Some(i.status));
            self.log_lines.push(i.log.clone());
            self.intervention = Some(i);
        }
        if head.log {
            self.push_message(m, None);
        }
    }

    fn new_intervention(&self, head: &Rule, status: u16, redirect: Option<String>, drop: bool) -> Intervention {
        Intervention { status, redirect, drop, rule_id: head.id, phase: self.phase, log: String::new() }
    }

    #[inline(never)]
    fn run_setvars(&mut self, link: &Rule) {
        for sv in &link.setvars {
            if sv.collection == Var::Tx {
                if let Some(lc) = &sv.key_lc {
                    self.setvar_tx_literal(sv, lc);
                    continue;
                }
            }
            // The key and value are expanded into buffers kept from one setvar to the next.
            let mut key = std::mem::take(&mut self.scratch_key);
            key.clear();
            sv.key.expand_into(&self.d, &mut key);
            let mut val = std::mem::take(&mut self.scratch);
            val.clear();
            let sign = match &sv.op {
                SetVarOp::Set(v) => Some((0, v)),
                SetVarOp::Add(v) => Some((1, v)),
                SetVarOp::Sub(v) => Some((-1, v)),
                SetVarOp::Delete => None,
            }
            .map(|(sign, v)| {
                v.expand_into(&self.d, &mut val);
                sign
            });
            self.apply_setvar(sv.collection, &key, sign, &val);
            self.scratch_key = key;
            self.scratch = val;
        }
    }

    /// Sets (`sign` 0), adds to (1), subtracts from (-1) or deletes (None) variable `key` of
    /// `collection` (recorded as a change for a persistent collection; ignored when that
    /// collection was not opened with `initcol`, as ModSecurity does).
    fn apply_setvar(&mut self, collection: Var, key: &[u8], sign: Option<i64>, val: &[u8]) {
        if key.is_empty() {
            return;
        }
        let data = if collection == Var::Tx {
            &mut self.d.tx
        } else {
            let Some(c) = self.d.persistent.get_mut(&collection) else { return };
            c.changes.push(match sign {
                None => Change::Delete(key.to_vec()),
                Some(0) => Change::Set(key.to_vec(), val.to_vec()),
                Some(sign) => Change::Add(key.to_vec(), sign * to_number(val)),
            });
            &mut c.data
        };
        match sign {
            None => {
                data.remove(key);
            }
            Some(0) => data.set(key, val),
            Some(sign) => {
                let cur = data.get(key).map(to_number).unwrap_or(0);
                let n = cur.saturating_add(sign * to_number(val));
                data.set(key, n.to_string().as_bytes());
            }
        }
    }

    /// `setvar` on TX with a key known at load time (no allocation for the key).
    fn setvar_tx_literal(&mut self, sv: &super::rule::SetVar, lc: &[u8]) {
        match &sv.op {
            SetVarOp::Delete => {
                self.d.tx.remove(lc);
            }
            SetVarOp::Set(v) => {
                let name = sv.key.as_str().as_bytes();
                if v.is_literal() {
                    self.d.tx.set_lc(lc, name, v.as_str().as_bytes());
                } else {
                    let mut buf = std::mem::take(&mut self.scratch);
                    buf.clear();
                    v.expand_into(&self.d, &mut buf);
                    self.d.tx.set_lc(lc, name, &buf);
                    self.scratch = buf;
                }
            }
            SetVarOp::Add(v) | SetVarOp::Sub(v) => {
                let sign = if matches!(sv.op, SetVarOp::Add(_)) { 1 } else { -1 };
                let delta = if v.is_literal() {
                    to_number(v.as_str().as_bytes())
                } else {
                    let mut buf = std::mem::take(&mut self.scratch);
                    buf.clear();
                    v.expand_into(&self.d, &mut buf);
                    let n = to_number(&buf);
                    self.scratch = buf;
                    n
                };
                let cur = self.d.tx.get_lc(lc).map(to_number).unwrap_or(0);
                let n = cur.saturating_add(sign * delta);
                match self.d.tx.get_mut_lc(lc) {
                    Some(slot) => {
                        use std::io::Write;
                        slot.clear();
                        let _ = write!(slot, "{n}");
                    }
                    None => self.d.tx.set_lc(lc, sv.key.as_str().as_bytes(), n.to_string().as_bytes()),
                }
            }
        }
    }

    fn open_collection(&mut self, var: Var, key: &[u8]) {
        let timeout = self.rs.config.collection_timeout;
        let col = self.ctx.store.open(var, key, timeout);
        if let Some(old) = self.d.persistent.insert(var, col) {
            self.ctx.store.commit(var, &old);
        }
    }

    fn run_action(&mut self, a: &Action) {
        match a {
            Action::Ctl(c) => self.run_ctl(c),
            Action::InitCol(var, key) => {
                let k = key.expand(&self.d);
                self.open_collection(*var, &k);
            }
            Action::ExpireVar { collection, key, seconds } => {
                let k = key.expand(&self.d);
                let secs = to_number(&seconds.expand(&self.d)).max(0) as u64;
                let at = now_secs() + secs;
                if *collection == Var::Tx {
                    self.d.tx.set_expiry(&k, at);
                } else if let Some(c) = self.d.persistent.get_mut(collection) {
                    c.data.set_expiry(&k, at);
                    c.changes.push(Change::Expire(k, at));
                }
            }
            Action::SetEnv { name, value } => {
                let n = name.expand(&self.d);
                let v = value.expand(&self.d);
                self.d.env.set(&n, &v);
            }
            Action::SetUid(m) => {
                let v = m.expand(&self.d);
                self.d.user_id = v.clone();
                self.open_collection(Var::User, &v);
            }
            Action::SetSid(m) => {
                let v = m.expand(&self.d);
                self.d.session_id = v.clone();
                self.open_collection(Var::Session, &v);
            }
            Action::SetRsc(m) => {
                let v = m.expand(&self.d);
                self.open_collection(Var::Resource, &v);
            }
            Action::Skip(n) => self.skip_next = *n,
            Action::SkipAfter(m) => self.skip_marker = Some(m.clone()),
        }
    }

    fn run_ctl(&mut self, c: &Ctl) {
        match c {
            Ctl::RuleEngine(m) => self.mode = *m,
            Ctl::RuleRemoveById(ids) => self.removed_ids.push(ids.clone()),
            Ctl::RuleRemoveByTag(t) => {
                let t = t.expand_string(&self.d);
                self.removed_tags.push(t);
            }
            Ctl::RuleRemoveTargetById(ids, p) => {
                self.removed_target_vars |= var_bit(p.var);
                self.removed_targets_by_id.push((ids.clone(), p.clone()));
            }
            Ctl::RuleRemoveTargetByTag(t, p) => {
                let t = t.expand_string(&self.d);
                self.removed_target_vars |= var_bit(p.var);
                self.removed_targets_by_tag.push((t, p.clone()));
            }
            Ctl::RequestBodyProcessor(p) => {
                self.body_processor = Some(*p);
                self.d.reqbody_processor = Some(p.name());
            }
            Ctl::RequestBodyAccess(b) => self.req_body_access = *b,
            Ctl::ResponseBodyAccess(b) => self.resp_body_access = *b,
            Ctl::ForceRequestBodyVariable(b) => self.force_req_body_var = *b,
            Ctl::AuditEngine(e) => self.audit_engine = *e,
            Ctl::AuditLogParts(p) => {
                if let Some(add) = p.strip_prefix('+') {
                    for ch in add.chars() {
                        if !self.audit_parts.contains(ch) {
                            self.audit_parts.push(ch);
                        }
                    }
                } else if let Some(del) = p.strip_prefix('-') {
                    self.audit_parts.retain(|ch| !del.contains(ch));
                } else {
                    self.audit_parts = p.clone();
                }
            }
            Ctl::DebugLogLevel(_) => {}
            Ctl::RequestBodyLimit(n) => self.req_body_limit = *n,
        }
    }
}

impl Resolve for Transaction {
    fn resolve(&self, var: Var, key: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
        Resolve::resolve(&self.d, var, key, out)
    }
}


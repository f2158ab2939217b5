//! A transaction: one HTTP request/response inspected by a [`Ruleset`], fed in the order
//! libmodsecurity's API is fed (connection, URI, request headers, request body, response
//! headers, response body, logging), with one call per phase.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::bodyproc::{self, Limits};
use super::collections::CollectionStore;
use super::compile::Ruleset;
use super::config::{AuditEngine, BodyLimitAction, EngineMode};
use super::logging::{error_log_line, LogContext, RuleMessage};
use super::rule::{AllowKind, BodyProcessor, IdSet};
use super::values::{Data, FileInfo, MultipartFlags};
use super::vars::TargetPattern;

/// What the engine asks the server to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intervention {
    /// HTTP status to answer with.
    pub status: u16,
    /// `redirect` target (status is then 3xx).
    pub redirect: Option<String>,
    /// Close the connection without answering (`drop`).
    pub drop: bool,
    /// Id of the rule that intervened (0 for body limits).
    pub rule_id: u64,
    /// Phase (1..5) in which it happened.
    pub phase: u8,
    /// The error-log line (`ModSecurity: Access denied with code ...`).
    pub log: String,
}

/// Result of feeding a body chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyStatus {
    /// Keep feeding.
    Continue,
    /// The limit was reached with ProcessPartial: the rest of the body is not inspected
    /// (the server may still forward it).
    Partial,
    /// The limit was reached with Reject: see [`Transaction::intervention`].
    Rejected,
}

/// `@geoLookup` provider (filled by the geo feature).
pub trait GeoLookup: Send + Sync {
    /// Returns the GEO collection fields (COUNTRY_CODE, ...) for an address, if known.
    fn lookup(&self, addr: &[u8]) -> Option<Vec<(String, String)>>;
}

/// Process-wide state shared by transactions (survives rule reloads).
pub struct EngineContext {
    pub store: Arc<CollectionStore>,
    pub geo: Option<Arc<dyn GeoLookup>>,
}

impl Default for EngineContext {
    fn default() -> Self {
        EngineContext { store: Arc::new(CollectionStore::default()), geo: None }
    }
}

impl std::fmt::Debug for EngineContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineContext").field("store", &self.store.len()).finish()
    }
}

/// A finished audit log record.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub text: String,
    pub json: bool,
}

/// Per-transaction transformation cache. Each value (by address and length) that some
/// chain was applied to has a row with one entry per transformation chain of the ruleset,
/// so a chain and all its prefixes are looked up with one hash lookup for the value.
#[derive(Debug, Default)]
pub(super) struct TransformCache {
    /// Value (address, length) -> its row.
    pub rows: std::collections::HashMap<(usize, usize), u32, super::collections::FxBuild>,
    /// `width` entries per row, by chain id: [`TransformCache::UNKNOWN`], 0 (the value
    /// unchanged) or k + 1 (`slab[k]`).
    pub slots: Vec<u32>,
    /// Entries per row: the ruleset's number of chains (set by the first row).
    pub width: usize,
    pub slab: Vec<Vec<u8>>,
    /// Per row the literal prefilter scanned: the variables it was scanned as (bit
    /// `Var as u8`).
    pub pf_scanned: Vec<u128>,
    /// `pf_width` words per row scanned by the prefilter: the bits of the rules one of
    /// whose literals occurs in the value (after the rule's transformations). A rule whose
    /// bit is clear cannot match the value.
    pub pf_bits: Vec<u64>,
    pub pf_width: usize,
}

thread_local! {
    /// Emptied transformation caches of finished transactions, reused by the next ones on
    /// the same thread (their hash table, rows and slab keep their allocations).
    static TCACHE_POOL: std::cell::RefCell<Vec<TransformCache>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The same for the matched-value buffers.
    static FOUND_POOL: std::cell::RefCell<Vec<super::eval::FoundBuf>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The same for MATCHED_VAR(S)' buffers.
    static MATCHED_POOL: std::cell::RefCell<Vec<super::values::Matched>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Caches larger than this are not kept for reuse.
const TCACHE_POOL_MAX_ENTRIES: usize = 4096;
/// Caches whose rows took more slots than this are not kept for reuse.
const TCACHE_POOL_MAX_SLOTS: usize = 256 * 1024;
/// How many caches one thread keeps.
const TCACHE_POOL_MAX: usize = 8;

impl TransformCache {
    /// A slot whose chain has not been applied yet.
    pub const UNKNOWN: u32 = u32::MAX;

    /// The row of `input`, added (all chains unknown) on first use.
    pub fn row(&mut self, chains: usize, input: &[u8]) -> u32 {
        if self.rows.is_empty() {
            self.width = chains;
            self.slots.clear();
            self.pf_scanned.clear();
            self.pf_bits.clear();
        }
        let next = self.rows.len() as u32;
        let row = *self.rows.entry((input.as_ptr() as usize, input.len())).or_insert(next);
        if row == next {
            self.slots.resize(self.slots.len() + self.width, Self::UNKNOWN);
        }
        row
    }

    /// Records what the prefilter found in the value of `row`, scanned as the variable of
    /// `var_bit`: `words` holds the bits of the rules it lets through.
    pub fn pf_record(&mut self, row: u32, var_bit: u128, words: &[u64]) {
        if self.pf_scanned.is_empty() {
            self.pf_width = words.len();
        }
        let (r, w) = (row as usize, self.pf_width);
        if w != words.len() {
            return;
        }
        if self.pf_scanned.len() <= r {
            self.pf_scanned.resize(r + 1, 0);
            self.pf_bits.resize((r + 1) * w, 0);
        }
        self.pf_scanned[r] |= var_bit;
        for (d, s) in self.pf_bits[r * w..(r + 1) * w].iter_mut().zip(words) {
            *d |= *s;
        }
    }

    /// Whether the prefilter scanned `input` as a value of `var` and found none of the
    /// literals of the rule with prefilter bit `bit` in it: that rule's operator is false
    /// for it.
    pub fn pf_rules_out(&self, input: &[u8], var: super::vars::Var, bit: u32) -> bool {
        let Some(&r) = self.rows.get(&(input.as_ptr() as usize, input.len())) else { return false };
        let r = r as usize;
        self.pf_scanned.get(r).is_some_and(|s| s & (1u128 << (var as u8)) != 0)
            && self.pf_bits.get(r * self.pf_width + bit as usize / 64).is_some_and(|w| w & (1u64 << (bit % 64)) == 0)
    }

    fn fresh() -> Self {
        TransformCache {
            rows: std::collections::HashMap::with_capacity_and_hasher(128, Default::default()),
            slots: Vec::new(),
            width: 0,
            slab: Vec::with_capacity(64),
            pf_scanned: Vec::new(),
            pf_bits: Vec::new(),
            pf_width: 0,
        }
    }

    /// An empty cache, reused from a finished transaction of this thread when there is one.
    pub(super) fn take() -> Self {
        take_from_pool(&TCACHE_POOL).unwrap_or_else(Self::fresh)
    }

    /// Empties the cache and keeps it for the next transaction of this thread.
    pub(super) fn give_back(mut self) {
        if self.rows.capacity() > TCACHE_POOL_MAX_ENTRIES || self.slab.capacity() > TCACHE_POOL_MAX_ENTRIES || self.slots.capacity() > TCACHE_POOL_MAX_SLOTS {
            return;
        }
        self.rows.clear();
        self.slots.clear();
        self.slab.clear();
        self.pf_scanned.clear();
        self.pf_bits.clear();
        keep_for_reuse(&TCACHE_POOL, self);
    }
}

/// An item kept in this thread's `pool` by [`keep_for_reuse`], if there is one.
fn take_from_pool<T: 'static>(pool: &'static std::thread::LocalKey<std::cell::RefCell<Vec<T>>>) -> Option<T> {
    pool.try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop())).ok().flatten()
}

/// Keeps `item` in this thread's `pool` (at most `TCACHE_POOL_MAX` of them) for the next
/// transaction; dropped when the pool is full or the thread is exiting.
fn keep_for_reuse<T: 'static>(pool: &'static std::thread::LocalKey<std::cell::RefCell<Vec<T>>>, item: T) {
    let _ = pool.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.len() < TCACHE_POOL_MAX {
                p.push(item);
            }
        }
    });
}

impl Drop for Transaction {
    fn drop(&mut self) {
        let tc = std::mem::take(&mut self.tcache);
        tc.give_back();
        let fb = std::mem::take(&mut self.found_pool);
        if fb.reusable() {
            keep_for_reuse(&FOUND_POOL, fb);
        }
        let mut m = std::mem::take(&mut self.d.matched);
        if m.reusable() {
            m.clear();
            keep_for_reuse(&MATCHED_POOL, m);
        }
    }
}

/// Matched-value buffers, reused from a finished transaction of this thread when possible.
fn take_found_pool() -> super::eval::FoundBuf {
    take_from_pool(&FOUND_POOL).unwrap_or_default()
}

#[derive(Debug, Clone, Copy)]
pub(super) enum CacheSlot {
    /// The transformations left the input unchanged.
    Input,
    Slab(u32),
}

impl CacheSlot {
    /// The slot as [`TransformCache::slots`] stores it: 0 for the input, k + 1 for `slab[k]`.
    pub(super) fn code(self) -> u32 {
        match self {
            CacheSlot::Input => 0,
            CacheSlot::Slab(i) => i + 1,
        }
    }

    /// The slot a stored code (not [`TransformCache::UNKNOWN`]) stands for.
    pub(super) fn from_code(code: u32) -> CacheSlot {
        match code {
            0 => CacheSlot::Input,
            k => CacheSlot::Slab(k - 1),
        }
    }
}

pub struct Transaction {
    pub(super) rs: Arc<Ruleset>,
    pub(super) ctx: Arc<EngineContext>,
    pub(super) d: Data,
    pub(super) tcache: TransformCache,
    /// Bits of the prefiltered rules that may match (updated on first use in each phase).
    pub(super) prefilter_bits: Vec<u64>,
    /// Per prefilter target: how many of its values have been scanned.
    pub(super) prefilter_scanned: Vec<usize>,
    /// The bits include every value of the current phase.
    pub(super) prefilter_fresh: bool,
    /// Use the literal prefilter (on unless disabled for comparisons).
    pub(super) prefilter_on: bool,
    /// A reused buffer for resolved values (empty between uses).
    pub(super) vals_pool: Vec<super::values::Val<'static>>,
    /// Reused buffers for the values that matched a rule link.
    pub(super) found_pool: super::eval::FoundBuf,
    /// A reused buffer for macro expansions that are only read.
    pub(super) scratch: Vec<u8>,
    /// A second one, for setvar keys.
    pub(super) scratch_key: Vec<u8>,
    /// The message state of the rule being evaluated, reused from rule to rule.
    pub(super) msg_state: Option<Box<super::eval::MsgState>>,
    pub(super) mode: EngineMode,
    pub(super) req_body_access: bool,
    pub(super) resp_body_access: bool,
    pub(super) force_req_body_var: bool,
    pub(super) body_processor: Option<BodyProcessor>,
    pub(super) body_type_from_ct: Option<BodyProcessor>,
    pub(super) req_body_limit: usize,
    pub(super) req_body_truncated: bool,
    pub(super) resp_body_truncated: bool,
    pub(super) audit_engine: AuditEngine,
    pub(super) audit_parts: String,
    pub(super) removed_ids: Vec<IdSet>,
    pub(super) removed_tags: Vec<String>,
    pub(super) removed_targets_by_id: Vec<(IdSet, TargetPattern)>,
    pub(super) removed_targets_by_tag: Vec<(String, TargetPattern)>,
    /// The variables of `removed_targets_by_id` and `removed_targets_by_tag` (bit `Var as u8`).
    pub(super) removed_target_vars: u128,
    pub(super) skip_next: usize,
    pub(super) skip_marker: Option<Arc<str>>,
    pub(super) allow: Option<AllowKind>,
    pub(super) intervention: Option<Intervention>,
    pub(super) messages: Vec<RuleMessage>,
    pub(super) matched_ids: Vec<u64>,
    pub(super) log_lines: Vec<String>,
    pub(super) phase: u8,
    pub(super) headers_done: bool,
    pub(super) resp_inspectable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArgOrigin {
    Get,
    Post,
    Json,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique id for a transaction (time, counter and address based, 20+ characters).
pub fn new_unique_id() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let c = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut x = (t as u64) ^ c.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (std::process::id() as u64).rotate_left(32);
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = format!("{}.", t / 1_000_000_000);
    for _ in 0..12 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(ALPHA[(x % ALPHA.len() as u64) as usize] as char);
    }
    s
}

/// Percent-decodes (non-strict: invalid sequences are kept).
fn uri_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            let h = |c: u8| (c as char).to_digit(16);
            if let (Some(a), Some(b)) = (h(s[i + 1]), h(s[i + 2])) {
                out.push((a * 16 + b) as u8);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

impl Transaction {
    /// Starts a transaction. `unique_id` is generated when not given.
    pub fn new(rs: Arc<Ruleset>, ctx: Arc<EngineContext>, unique_id: Option<String>) -> Transaction {
        let cfg = &rs.config;
        let mut d = Data {
            unique_id: unique_id.unwrap_or_else(new_unique_id),
            start: Some(Instant::now()),
            start_time: Some(chrono::Local::now()),
            web_app_id: cfg.web_app_id.as_bytes().to_vec(),
            rules: Some(rs.clone()),
            matched: take_from_pool(&MATCHED_POOL).unwrap_or_default(),
            ..Data::default()
        };
        d.protocol = b"HTTP/1.1".to_vec();
        // CRS sets about a hundred TX variables: no rehashing while they are added.
        d.tx = super::collections::Collection::with_capacity(128);
        Transaction {
            mode: cfg.rule_engine,
            req_body_access: cfg.request_body_access,
            resp_body_access: cfg.response_body_access,
            force_req_body_var: false,
            body_processor: None,
            body_type_from_ct: None,
            req_body_limit: cfg.request_body_limit,
            req_body_truncated: false,
            resp_body_truncated: false,
            audit_engine: cfg.audit.engine,
            audit_parts: cfg.audit.parts.clone(),
            removed_ids: Vec::new(),
            removed_tags: Vec::new(),
            removed_targets_by_id: Vec::new(),
            removed_targets_by_tag: Vec::new(),
            removed_target_vars: 0,
            skip_next: 0,
            skip_marker: None,
            allow: None,
            intervention: None,
            messages: Vec::new(),
            matched_ids: Vec::new(),
            log_lines: Vec::new(),
            phase: 0,
            headers_done: false,
            resp_inspectable: false,
            tcache: TransformCache::take(),
            prefilter_bits: Vec::new(),
            prefilter_scanned: Vec::new(),
            prefilter_fresh: false,
            prefilter_on: !super::eval::prefilter_disabled_by_env(),
            vals_pool: Vec::with_capacity(32),
            found_pool: take_found_pool(),
            scratch: Vec::new(),
            scratch_key: Vec::new(),
            msg_state: None,
            d,
            rs,
            ctx,
        }
    }

    pub fn ruleset(&self) -> &Arc<Ruleset> {
        &self.rs
    }

    pub fn unique_id(&self) -> &str {
        &self.d.unique_id
    }

    /// The engine mode in force (SecRuleEngine, possibly changed by `ctl:ruleEngine`).
    pub fn mode(&self) -> EngineMode {
        self.mode
    }

    /// Turns the literal prefilter off for this transaction: every rule is evaluated. The
    /// decisions are the same (tests compare both); only the speed differs.
    pub fn disable_prefilter(&mut self) {
        self.prefilter_on = false;
    }

    /// Overrides the engine mode for this transaction (per-route configuration).
    pub fn set_mode(&mut self, mode: EngineMode) {
        self.mode = mode;
    }

    /// Connection information (client and server address and port).
    pub fn process_connection(&mut self, client_ip: &str, client_port: u16, server_ip: &str, server_port: u16) {
        self.d.client_addr = client_ip.as_bytes().to_vec();
        self.d.client_port = client_port;
        self.d.server_addr = server_ip.as_bytes().to_vec();
        self.d.server_port = server_port;
    }

    /// The request line: URI as received, method, and HTTP version (`1.1`, `2.0`...).
    pub fn process_uri(&mut self, uri: &[u8], method: &[u8], http_version: &str) {
        let d = &mut self.d;
        d.method = method.to_vec();
        d.uri_raw = uri.to_vec();
        d.protocol = format!("HTTP/{http_version}").into_bytes();
        let mut line = method.to_vec();
        line.push(b' ');
        line.extend_from_slice(uri);
        line.push(b' ');
        line.extend_from_slice(&d.protocol);
        d.request_line = line;

        let decoded = uri_decode(uri);
        let qpos = decoded.iter().position(|&b| b == b'?');
        let path = match qpos {
            Some(p) => decoded[..p].to_vec(),
            None => decoded.clone(),
        };
        if let Some(p) = uri.iter().position(|&b| b == b'?') {
            d.query_string = Some(uri[p + 1..].to_vec());
        }
        // REQUEST_BASENAME: what follows the last `/` or `\` (empty for a directory).
        d.basename = match path.iter().rposition(|&b| b == b'/' || b == b'\\') {
            Some(o) => Some(path[o + 1..].to_vec()),
            None if !path.is_empty() => Some(path.clone()),
            None => None,
        };
        d.path = path;
        // REQUEST_URI: absolute-form URIs lose their scheme://authority.
        let mut parsed = decoded.clone();
        if !decoded.is_empty() && decoded[0] != b'/' {
            if let Some(colon) = decoded.iter().position(|&b| b == b':') {
                if decoded[colon + 1..].starts_with(b"//") {
                    let netloc = colon + 3;
                    if let Some(slash) = decoded[netloc..].iter().position(|&b| b == b'/') {
                        parsed = decoded[netloc + slash..].to_vec();
                    }
                }
            }
        }
        d.uri = parsed;
        if let Some(q) = d.query_string.clone() {
            if !q.is_empty() {
                self.extract_args(&q, ArgOrigin::Get);
            }
        }
    }

    /// Adds urlencoded arguments (query string or body) within SecArgumentsLimit.
    fn extract_args(&mut self, data: &[u8], origin: ArgOrigin) {
        let cfg = &self.rs.config;
        let used = self.arg_count();
        let limits = Limits {
            max_args: cfg.arguments_limit.saturating_sub(used),
            max_depth: cfg.request_body_json_depth_limit,
            max_files: cfg.upload_file_limit,
        };
        let mut out = Vec::new();
        let outcome = bodyproc::urlencoded::parse(data, cfg.argument_separator, &limits, &mut out);
        if outcome.invalid_encoding {
            self.d.urlencoded_error = true;
        }
        self.add_args(out, origin);
    }

    fn arg_count(&self) -> usize {
        self.d.args_get.len() + self.d.args_post.len() + self.d.args_json.len()
    }

    fn add_args(&mut self, args: Vec<bodyproc::Pair>, origin: ArgOrigin) {
        let limit = self.rs.config.arguments_limit;
        for (k, v) in args {
            if self.arg_count() >= limit {
                break;
            }
            self.d.args_combined_size += k.len() + v.len();
            match origin {
                ArgOrigin::Get => self.d.args_get.push((k, v)),
                ArgOrigin::Post => self.d.args_post.push((k, v)),
                ArgOrigin::Json => self.d.args_json.push((k, v)),
            }
        }
    }

    /// Adds one request header (call once per header line, in order).
    pub fn add_request_header(&mut self, name: &[u8], value: &[u8]) {
        let lname = name.to_ascii_lowercase();
        match lname.as_slice() {
            b"authorization" => {
                self.d.auth_type = Some(value.split(|&b| b == b' ').next().unwrap_or(b"").to_vec());
            }
            b"cookie" => {
                let mut out = Vec::new();
                bodyproc::cookies::parse(value, &mut out);
                self.d.cookies.extend(out);
            }
            b"content-type" => {
                let l = value.to_ascii_lowercase();
                if l.starts_with(b"multipart/form-data") {
                    self.body_type_from_ct = Some(BodyProcessor::Multipart);
                    self.d.reqbody_processor = Some("MULTIPART");
                } else if l.starts_with(b"application/x-www-form-urlencoded") {
                    self.body_type_from_ct = Some(BodyProcessor::UrlEncoded);
                    self.d.reqbody_processor = Some("URLENCODED");
                }
            }
            b"host" => {
                self.d.server_name = value.split(|&b| b == b':').next().unwrap_or(b"").to_vec();
            }
            _ => {}
        }
        self.d.req_headers.push((name.to_vec(), value.to_vec()));
    }

    /// Phase 1.
    pub fn process_request_headers(&mut self) -> Option<Intervention> {
        self.headers_done = true;
        self.run_phase(1);
        self.intervention.clone()
    }

    /// Whether the server should buffer and feed the request body (engine not Off and
    /// request body access on, possibly changed by a phase-1 `ctl`).
    pub fn request_body_needed(&self) -> bool {
        self.mode != EngineMode::Off && self.req_body_access
    }

    fn body_is_multipart(&self) -> bool {
        self.body_processor.is_none() && self.body_type_from_ct == Some(BodyProcessor::Multipart)
    }

    fn limit_exceeded(&mut self, what: &str, limit: usize, phase: u8) -> BodyStatus {
        self.d.inbound_data_error = Some(true);
        match self.rs.config.request_body_limit_action {
            BodyLimitAction::ProcessPartial => {
                self.req_body_truncated = true;
                BodyStatus::Partial
            }
            BodyLimitAction::Reject => {
                if self.mode == EngineMode::On {
                    let log = format!(
                        "[client {}] ModSecurity: Access denied with code 413 (phase {phase}). Request body ({what}) is larger than the configured limit of {limit} bytes [hostname \"{}\"] [uri \"{}\"] [unique_id \"{}\"]",
                        String::from_utf8_lossy(&self.d.client_addr),
                        String::from_utf8_lossy(&self.d.server_addr),
                        String::from_utf8_lossy(&self.d.path),
                        self.d.unique_id
                    );
                    self.log_lines.push(log.clone());
                    self.intervention = Some(Intervention { status: 413, redirect: None, drop: false, rule_id: 0, phase, log });
                    BodyStatus::Rejected
                } else {
                    self.req_body_truncated = true;
                    BodyStatus::Partial
                }
            }
        }
    }

    /// Appends a chunk of the request body (enforces SecRequestBodyLimit and, for bodies
    /// without files, SecRequestBodyNoFilesLimit).
    pub fn append_request_body(&mut self, chunk: &[u8]) -> BodyStatus {
        if self.req_body_truncated {
            return BodyStatus::Partial;
        }
        if self.intervention.is_some() {
            return BodyStatus::Rejected;
        }
        let cur = self.d.req_body.len();
        let mut limit = self.req_body_limit;
        let mut what = "total";
        if !self.body_is_multipart() && self.rs.config.request_body_no_files_limit < limit {
            limit = self.rs.config.request_body_no_files_limit;
            what = "no files";
        }
        if limit > 0 && cur + chunk.len() > limit {
            let room = limit.saturating_sub(cur);
            let status = self.limit_exceeded(what, limit, 2);
            if status == BodyStatus::Partial {
                self.d.req_body.extend_from_slice(&chunk[..room.min(chunk.len())]);
            }
            return status;
        }
        self.d.req_body.extend_from_slice(chunk);
        BodyStatus::Continue
    }

    fn set_reqbody_error(&mut self, msg: Option<String>) {
        match msg {
            Some(m) => {
                self.d.reqbody_error = Some(true);
                self.d.reqbody_error_msg = m.into_bytes();
            }
            None => {
                self.d.reqbody_error = Some(false);
                self.d.reqbody_error_msg.clear();
            }
        }
    }

    fn request_header(&self, name: &[u8]) -> Option<&[u8]> {
        self.d
            .req_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Runs the body processor for the buffered request body.
    fn parse_request_body(&mut self) {
        let cfg = self.rs.config.clone_limits();
        let body = std::mem::take(&mut self.d.req_body);
        let used = self.arg_count();
        let limits = Limits {
            max_args: cfg.0.saturating_sub(used),
            max_depth: cfg.1,
            // libmodsecurity counts files only when it writes them to disk (SecUploadKeepFiles),
            // which Rampart never does.
            max_files: 0,
        };
        match (self.body_processor, self.body_type_from_ct) {
            (Some(BodyProcessor::Xml), _) => match bodyproc::xml::parse(&body, &limits) {
                Ok(doc) => {
                    self.d.xml = Some(doc);
                    self.set_reqbody_error(None);
                }
                Err(e) => self.set_reqbody_error(Some(e)),
            },
            (Some(BodyProcessor::Json), _) => {
                let mut out = Vec::new();
                match bodyproc::json::parse(&body, &limits, &mut out) {
                    Err(e) if !body.is_empty() => self.set_reqbody_error(Some(e)),
                    _ => self.set_reqbody_error(None),
                }
                self.add_args(out, ArgOrigin::Json);
            }
            (Some(BodyProcessor::Multipart), _) | (None, Some(BodyProcessor::Multipart)) => {
                let ct = self.request_header(b"content-type").map(<[u8]>::to_vec);
                match ct {
                    Some(ct) => {
                        let r = bodyproc::multipart::parse(&body, &ct, &limits);
                        self.apply_multipart(r, &body);
                    }
                    None => self.set_reqbody_error(Some("Multipart parsing error: no Content-Type".into())),
                }
            }
            (Some(BodyProcessor::UrlEncoded), _) | (None, Some(BodyProcessor::UrlEncoded)) => {
                self.extract_args(&body, ArgOrigin::Post);
                self.set_reqbody_error(None);
            }
            (None, _) => self.set_reqbody_error(None),
        }
        self.d.req_body = body;
    }

    fn apply_multipart(&mut self, r: bodyproc::multipart::MultipartResult, body: &[u8]) {
        let f = &r.flags;
        self.d.multipart = Some(MultipartFlags {
            strict_error: f.strict_error,
            unmatched_boundary: f.unmatched_boundary,
            boundary_quoted: f.boundary_quoted,
            boundary_whitespace: f.boundary_whitespace,
            data_before: f.data_before,
            data_after: f.data_after,
            header_folding: f.header_folding,
            lf_line: f.lf_line,
            crlf_lf_lines: f.crlf_lf_lines,
            missing_semicolon: f.missing_semicolon,
            invalid_quoting: f.invalid_quoting,
            invalid_part: f.invalid_part,
            invalid_header_folding: f.invalid_header_folding,
            file_limit_exceeded: f.file_limit_exceeded,
        });
        for file in &r.files {
            self.d.files.push(FileInfo {
                field: file.name.clone(),
                filename: file.filename.clone(),
                size: file.size as usize,
                content: file.content(body).to_vec(),
            });
        }
        self.d.files_combined_size = r.files_combined_size as usize;
        self.d.multipart_part_headers = r.part_headers.clone();
        self.d.multipart_filename = r.filenames.iter().map(|n| (n.clone(), n.clone())).collect();
        self.d.multipart_name = r.names.iter().map(|n| (n.clone(), n.clone())).collect();
        let error = r.reqbody_error_msg();
        let no_files = r.no_files_length as usize;
        self.add_args(r.args, ArgOrigin::Post);
        self.set_reqbody_error(error.clone());
        let limit = self.rs.config.request_body_no_files_limit;
        if error.is_none() && limit > 0 && no_files > limit && self.intervention.is_none() {
            self.limit_exceeded("no files", limit, 2);
        }
    }

    /// Phase 2: parses the buffered body and runs the request-body rules.
    pub fn process_request_body(&mut self) -> Option<Intervention> {
        if !self.headers_done {
            self.process_request_headers();
        }
        if self.mode == EngineMode::Off {
            return self.intervention.clone();
        }
        if self.d.inbound_data_error.is_none() {
            self.d.inbound_data_error = Some(false);
        }
        if self.req_body_access {
            if self.intervention.is_none() {
                self.parse_request_body();
            }
            let mut full = Vec::new();
            for (k, v) in &self.d.req_headers {
                full.extend_from_slice(k);
                full.extend_from_slice(b": ");
                full.extend_from_slice(v);
                full.push(b'\n');
            }
            full.extend_from_slice(b"\n\n");
            full.extend_from_slice(&self.d.req_body);
            self.d.full_request = Some(full);
            // REQUEST_BODY holds the raw body for urlencoded, JSON and unparsed bodies, and
            // for any body when ctl:forceRequestBodyVariable asks for it. libmodsecurity 3
            // also exposes it for XML and multipart bodies; there CRS's REQUEST_BODY rules
            // would match XML element names and uploaded file contents (the false positives
            // the CRS nginx overrides record for 944100-944120), so, as in ModSecurity 2,
            // those bodies are inspected through XML:/* and FILES/ARGS instead.
            let raw_processor = matches!(
                self.body_processor.or(self.body_type_from_ct),
                None | Some(BodyProcessor::UrlEncoded) | Some(BodyProcessor::Json)
            );
            self.d.req_body_visible = (raw_processor && !self.d.req_body.is_empty()) || self.force_req_body_var;
        }
        if self.intervention.is_none() {
            self.run_phase(2);
        }
        self.intervention.clone()
    }

    /// Adds one response header.
    pub fn add_response_header(&mut self, name: &[u8], value: &[u8]) {
        if name.eq_ignore_ascii_case(b"content-type") {
            self.d.resp_content_type = value.split(|&b| b == b';').next().unwrap_or(b"").to_vec();
        }
        self.d.resp_headers.push((name.to_vec(), value.to_vec()));
    }

    /// Phase 3.
    pub fn process_response_headers(&mut self, status: u16, protocol: &str) -> Option<Intervention> {
        self.d.resp_status = Some(status);
        self.d.resp_protocol = protocol.as_bytes().to_vec();
        self.resp_inspectable = self.resp_body_access
            && self.rs.config.inspects_response_type(&self.d.resp_content_type);
        if self.mode != EngineMode::Off {
            self.run_phase(3);
        }
        self.intervention.clone()
    }

    /// Whether the server should buffer and feed the response body.
    pub fn response_body_needed(&self) -> bool {
        self.mode != EngineMode::Off && self.resp_inspectable
    }

    /// Appends a chunk of the response body (enforces SecResponseBodyLimit).
    pub fn append_response_body(&mut self, chunk: &[u8]) -> BodyStatus {
        if !self.resp_inspectable || self.resp_body_truncated {
            return BodyStatus::Partial;
        }
        let limit = self.rs.config.response_body_limit;
        let cur = self.d.resp_body.len();
        if limit > 0 && cur + chunk.len() > limit {
            self.d.outbound_data_error = Some(true);
            match self.rs.config.response_body_limit_action {
                BodyLimitAction::ProcessPartial => {
                    self.d.resp_body.extend_from_slice(&chunk[..limit.saturating_sub(cur).min(chunk.len())]);
                    self.resp_body_truncated = true;
                    return BodyStatus::Partial;
                }
                BodyLimitAction::Reject => {
                    if self.mode == EngineMode::On {
                        let log = format!(
                            "[client {}] ModSecurity: Access denied with code 500 (phase 4). Response body is larger than the configured limit of {limit} bytes [hostname \"{}\"] [uri \"{}\"] [unique_id \"{}\"]",
                            String::from_utf8_lossy(&self.d.client_addr),
                            String::from_utf8_lossy(&self.d.server_addr),
                            String::from_utf8_lossy(&self.d.path),
                            self.d.unique_id
                        );
                        self.log_lines.push(log.clone());
                        self.intervention = Some(Intervention { status: 500, redirect: None, drop: false, rule_id: 0, phase: 4, log });
                        return BodyStatus::Rejected;
                    }
                    self.resp_body_truncated = true;
                    return BodyStatus::Partial;
                }
            }
        }
        self.d.resp_body.extend_from_slice(chunk);
        BodyStatus::Continue
    }

    /// Phase 4.
    pub fn process_response_body(&mut self) -> Option<Intervention> {
        if self.mode == EngineMode::Off || !self.resp_inspectable {
            return self.intervention.clone();
        }
        if self.d.outbound_data_error.is_none() {
            self.d.outbound_data_error = Some(false);
        }
        self.d.resp_body_visible = true;
        if self.intervention.is_none() {
            self.run_phase(4);
        }
        self.intervention.clone()
    }

    /// Phase 5 (logging), persistent collection write-back and the audit log record
    /// (returned when this transaction is to be audit-logged).
    pub fn process_logging(&mut self) -> Option<AuditRecord> {
        if self.mode != EngineMode::Off {
            self.run_phase(5);
        }
        let store = self.ctx.store.clone();
        for (var, col) in self.d.persistent.iter() {
            store.commit(*var, col);
        }
        for col in self.d.persistent.values_mut() {
            col.changes.clear();
        }
        if self.mode == EngineMode::Off {
            return None;
        }
        super::audit::record(self)
    }

    /// The pending intervention, if any.
    pub fn intervention(&self) -> Option<&Intervention> {
        self.intervention.as_ref()
    }

    /// Logged rule matches so far.
    pub fn messages(&self) -> &[RuleMessage] {
        &self.messages
    }

    /// Ids of the rules (chains) that matched, logged or not, in order of evaluation.
    pub fn matched_rule_ids(&self) -> &[u64] {
        &self.matched_ids
    }

    /// Ids of the rules whose matches were logged (`log`), in order.
    pub fn logged_rule_ids(&self) -> Vec<u64> {
        self.messages.iter().map(|m| m.rule.id).collect()
    }

    /// Error-log lines produced since the last call (libmodsecurity's format, without the
    /// web server's own prefix).
    pub fn take_log_lines(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log_lines)
    }

    /// Value of a TX variable (e.g. `blocking_inbound_anomaly_score`).
    pub fn tx_var(&self, name: &str) -> Option<&[u8]> {
        self.d.tx.get(name.as_bytes())
    }

    /// Sets a TX variable before the rules run (for connectors and tests).
    pub fn set_tx_var(&mut self, name: &str, value: &str) {
        self.d.tx.set(name.as_bytes(), value.as_bytes());
    }

    /// Client IP, server IP and URI for log lines.
    pub fn log_context(&self) -> LogContext {
        LogContext {
            client_ip: String::from_utf8_lossy(&self.d.client_addr).into_owned(),
            server_ip: String::from_utf8_lossy(&self.d.server_addr).into_owned(),
            uri: String::from_utf8_lossy(&self.d.path).into_owned(),
            unique_id: self.d.unique_id.clone(),
        }
    }

    pub(super) fn push_message(&mut self, m: RuleMessage, status: Option<u16>) {
        if m.log && !m.disruptive {
            let line = error_log_line(&m, &self.log_context(), status);
            self.log_lines.push(line);
        }
        self.messages.push(m);
    }

    /// The request body as buffered (for audit logs and the connector).
    pub fn request_body(&self) -> &[u8] {
        &self.d.req_body
    }

    /// The response body as buffered.
    pub fn response_body(&self) -> &[u8] {
        &self.d.resp_body
    }
}

impl super::config::EngineConfig {
    fn clone_limits(&self) -> (usize, usize, usize) {
        (self.arguments_limit, self.request_body_json_depth_limit, self.upload_file_limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_decoding_is_lenient() {
        assert_eq!(uri_decode(b"/a%20b"), b"/a b");
        assert_eq!(uri_decode(b"/a%2"), b"/a%2");
        assert_eq!(uri_decode(b"/a%zz"), b"/a%zz");
        assert_eq!(uri_decode(b"%41%"), b"A%");
    }

    #[test]
    fn unique_ids_differ() {
        let a = new_unique_id();
        let b = new_unique_id();
        assert_ne!(a, b);
        assert!(a.len() >= 20);
    }
}

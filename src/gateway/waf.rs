//! The WAF connector: feeds each request and response to the SecLang engine
//! ([`crate::engine::Transaction`]) at the proxy's hook points and carries out its decisions.
//!
//! - [`request_filter`] (after routing, before the cache and the upstream): connection,
//!   request line and headers, phase 1; then, when the rules want the body, the whole body
//!   is read here (up to SecRequestBodyLimit) and phase 2 runs, so no body byte reaches the
//!   upstream before phase 2 has allowed it. The body is then replayed to the upstream
//!   ([`request_body_filter`] / [`super::replay`]).
//!   A client that sent `Expect: 100-continue` gets the interim `100 Continue` before the
//!   body is read (the upstream then gets the body without the `Expect` header).
//! - [`response_filter`]: phase 3 on the response status and headers; a block there answers
//!   with the WAF's status instead of the upstream's response.
//! - [`response_body_filter`]: for inspected MIME types the body is held back until phase 4
//!   has run on it (at the end of the body, or when SecResponseBodyLimit is reached: with
//!   ProcessPartial phase 4 runs on the first part and the rest streams through, with Reject
//!   the response is blocked with 500), so a blocked body never reaches the client. The
//!   response keeps its framing (`Content-Length` or chunked); the WAF never changes a body.
//!   On HTTP/1 connections the response header is held back too, in the connection's output
//!   gate ([`super::request_line::ConnShared`]): a phase-4 block then answers with the WAF's
//!   status and short body, like phases 1-3, and the connection is closed. (On HTTP/2 the
//!   header may already be out: the stream is reset instead.)
//! - [`logging`]: phase 5, the audit log, and the metrics; it also sends a response the WAF
//!   put in the gate and allows keep-alive for a request whose body was replayed.
//!
//! Interventions: `deny`/`status` answer with that status and a short body, `drop` closes the
//! connection, `redirect` answers with Location. Every logged match goes to the route's
//! error log in libmodsecurity's format.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use pingora_core::protocols::http::ServerSession;
use pingora_error::{Error, ErrorType};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;
use serde::Deserialize;

use super::request_line::ConnShared;
use super::ClientInfo;
use crate::engine::audit::AuditWriter;
use crate::engine::{BodyStatus, EngineContext, EngineMode, Intervention, Ruleset, Transaction};
use crate::metrics;

/// WAF settings of a route (or the top-level default).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WafRouteConfig {
    /// SecLang files loaded in order: one main file (which may `Include` others) or a list
    /// of files and globs. `${VAR}` is replaced by the environment variable VAR (e.g.
    /// `${CRS_DIR}/rules/*.conf`); a glob that matches nothing is skipped, a missing plain
    /// file is an error.
    #[serde(default)]
    pub rules: Option<RuleFiles>,
    /// Engine mode override: `On`, `DetectionOnly` or `Off` (default: SecRuleEngine).
    #[serde(default)]
    pub mode: Option<String>,
    /// Error log (libmodsecurity format); default: the process log (stderr).
    #[serde(default)]
    pub error_log: Option<PathBuf>,
    /// Audit log; default: SecAuditLog of the rules, if any.
    #[serde(default)]
    pub audit_log: Option<PathBuf>,
}

/// One file or a list of files/globs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RuleFiles {
    One(String),
    Many(Vec<String>),
}

impl RuleFiles {
    fn entries(&self) -> Vec<&str> {
        match self {
            RuleFiles::One(s) => vec![s.as_str()],
            RuleFiles::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// Replaces `${VAR}` with the environment variable's value.
fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("unterminated ${{ in `{s}`"))?;
        let name = &after[..end];
        let val = std::env::var(name).map_err(|_| format!("`{s}`: environment variable {name} is not set"))?;
        out.push_str(&val);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The files a rule list names, in load order.
pub fn rule_file_list(files: &RuleFiles) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for e in files.entries() {
        let e = expand_env(e)?;
        if e.contains(['*', '?', '[']) {
            let mut matches: Vec<PathBuf> = glob::glob(&e)
                .map_err(|err| format!("invalid glob `{e}`: {err}"))?
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            matches.sort();
            out.extend(matches);
        } else {
            let p = PathBuf::from(&e);
            if !p.is_file() {
                return Err(format!("rules file not found: {e}"));
            }
            out.push(p);
        }
    }
    Ok(out)
}

/// Loads and compiles a rule list.
pub fn load_rules(files: &RuleFiles) -> Result<Ruleset, String> {
    let list = rule_file_list(files)?;
    if list.is_empty() {
        return Err("the rules list names no file".into());
    }
    let rs = crate::rules_check::load_files(&list).map_err(|e| e.to_string())?;
    for d in &rs.diagnostics {
        log::warn!("waf: {d}");
    }
    Ok(rs)
}

/// An append-only log file shared by every route (and every reload) that names it.
///
/// A reload reopens a file that was moved or deleted since it was opened (log rotation:
/// `mv error.log error.log.1; kill -HUP <pid>`, as with nginx); requests still running on
/// the old state finish writing to the old file.
pub struct LogFile {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl LogFile {
    /// Opens (creating directories) or returns the already open file for `path`.
    pub fn open(path: &Path) -> Result<Arc<LogFile>, String> {
        static OPEN: OnceLock<Mutex<HashMap<PathBuf, Arc<LogFile>>>> = OnceLock::new();
        let reg = OPEN.get_or_init(|| Mutex::new(HashMap::new()));
        let mut reg = reg.lock().map_err(|_| "log registry poisoned".to_string())?;
        if let Some(f) = reg.get(path) {
            if f.still_at_path() {
                return Ok(f.clone());
            }
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let lf = Arc::new(LogFile { path: path.to_path_buf(), file: Mutex::new(file) });
        reg.insert(path.to_path_buf(), lf.clone());
        Ok(lf)
    }

    /// Whether the open file is still the one at its path (not rotated away or deleted).
    fn still_at_path(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Ok(on_disk) = std::fs::metadata(&self.path) else { return false };
        let Ok(open) = self.file.lock() else { return false };
        open.metadata().is_ok_and(|m| m.dev() == on_disk.dev() && m.ino() == on_disk.ino())
    }

    /// Writes lines with the nginx error-log prefix, in one write.
    pub fn write_lines(&self, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let now = chrono::Local::now().format("%Y/%m/%d %H:%M:%S");
        let pid = std::process::id();
        let mut buf = String::new();
        for l in lines {
            buf.push_str(&format!("{now} [error] {pid}#0: {l}\n"));
        }
        match self.file.lock() {
            Ok(mut f) => {
                if let Err(e) = f.write_all(buf.as_bytes()) {
                    log::error!("waf: cannot write {}: {e}", self.path.display());
                }
            }
            Err(_) => log::error!("waf: error log {} lock poisoned", self.path.display()),
        }
    }
}

/// The compiled WAF of a route.
pub struct RouteWaf {
    pub rules: Arc<Ruleset>,
    /// Mode override from the route configuration.
    pub mode: Option<EngineMode>,
    pub error_log: Option<Arc<LogFile>>,
    pub audit: Option<Arc<AuditWriter>>,
    pub route: String,
}

impl RouteWaf {
    fn effective_mode(&self) -> EngineMode {
        self.mode.unwrap_or(self.rules.config.rule_engine)
    }

    fn write_log(&self, lines: &[String]) {
        match &self.error_log {
            Some(f) => f.write_lines(lines),
            None => {
                for l in lines {
                    log::warn!("{l}");
                }
            }
        }
    }
}

/// Process-wide engine state (persistent collections) that survives reloads.
pub fn engine_context() -> Arc<EngineContext> {
    static CTX: OnceLock<Arc<EngineContext>> = OnceLock::new();
    CTX.get_or_init(|| Arc::new(EngineContext::default())).clone()
}

/// The compiled WAFs of every route, built from the configuration at startup and reload.
#[derive(Default)]
pub struct WafSet {
    routes: Vec<Option<Arc<RouteWaf>>>,
}

impl std::fmt::Debug for WafSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WafSet").field("routes", &self.routes.len()).finish()
    }
}

impl WafSet {
    /// Compiles the WAF of every route; identical rule lists are compiled once.
    pub fn build(cfg: &crate::config::Config) -> Result<WafSet, String> {
        let mut compiled: HashMap<String, Arc<Ruleset>> = HashMap::new();
        let mut routes = Vec::new();
        for idx in 0..cfg.routes.len() {
            let w = cfg.route_waf(idx);
            let name = cfg.route_name(idx);
            let Some(files) = &w.rules else {
                routes.push(None);
                continue;
            };
            let key = format!("{files:?}");
            let rules = match compiled.get(&key) {
                Some(r) => r.clone(),
                None => {
                    let r = Arc::new(load_rules(files).map_err(|e| format!("route {name}: waf.rules: {e}"))?);
                    compiled.insert(key, r.clone());
                    r
                }
            };
            let mode = match &w.mode {
                None => None,
                Some(m) => Some(
                    EngineMode::parse(m)
                        .ok_or_else(|| format!("route {name}: waf.mode: expected On, DetectionOnly or Off, got `{m}`"))?,
                ),
            };
            let error_log = w.error_log.as_deref().map(LogFile::open).transpose().map_err(|e| format!("route {name}: waf.error_log: {e}"))?;
            let audit_path = w.audit_log.clone().or_else(|| rules.config.audit.log.clone());
            let audit = audit_path.map(|p| Arc::new(AuditWriter::new(&p)));
            routes.push(Some(Arc::new(RouteWaf { rules, mode, error_log, audit, route: name.to_string() })));
        }
        Ok(WafSet { routes })
    }

    /// The WAF of route `idx`, if it has one.
    pub fn route(&self, idx: usize) -> Option<&Arc<RouteWaf>> {
        self.routes.get(idx).and_then(Option::as_ref)
    }

    /// Total number of rules loaded across distinct rule sets (for logs).
    pub fn rule_count(&self) -> usize {
        let mut seen: Vec<*const Ruleset> = Vec::new();
        let mut n = 0;
        for r in self.routes.iter().flatten() {
            let p = Arc::as_ptr(&r.rules);
            if !seen.contains(&p) {
                seen.push(p);
                n += r.rules.rule_count;
            }
        }
        n
    }
}

/// Per-request WAF state, kept in the proxy's request context.
#[derive(Default)]
pub struct WafCtx {
    tx: Option<Box<Transaction>>,
    waf: Option<Arc<RouteWaf>>,
    /// Response body held back until phase 4.
    resp_buf: Option<BytesMut>,
    /// Phase 4 blocked: nothing more is sent to the client.
    resp_blocked: bool,
    intervened: Option<Intervention>,
    engine_time: [f64; 5],
    /// The HTTP/1 client connection's shared state (output gate, reuse slot).
    conn: Option<Arc<ConnShared>>,
    /// The response header is held in the output gate until phase 4 has run.
    gated: bool,
    /// The WAF's own response was put in the output gate (phase 3 or 4 block).
    replaced: bool,
    /// The request body was replayed through [`super::replay::ReplaySession`].
    replayed: bool,
    /// The request method is HEAD.
    head: bool,
}

impl std::fmt::Debug for WafCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WafCtx").field("active", &self.tx.is_some()).finish()
    }
}

impl WafCtx {
    /// The status the client got from the WAF, when the WAF answered instead of the
    /// upstream (`0` for `drop`). After a response-side block on HTTP/1, Pingora's
    /// `response_written()` may still show the upstream's header that the WAF discarded.
    pub fn answered_status(&self) -> Option<u16> {
        self.intervened.as_ref().map(|i| if i.drop { 0 } else { i.status })
    }

    fn flush_log(&mut self) {
        if let (Some(tx), Some(w)) = (self.tx.as_mut(), &self.waf) {
            let lines = tx.take_log_lines();
            w.write_log(&lines);
        }
    }

    fn timed<R>(&mut self, phase: usize, f: impl FnOnce(&mut Transaction) -> R) -> Option<R> {
        let tx = self.tx.as_mut()?;
        let t = Instant::now();
        let r = f(tx);
        if let Some(slot) = self.engine_time.get_mut(phase.saturating_sub(1)) {
            *slot += t.elapsed().as_secs_f64();
        }
        Some(r)
    }
}

fn http_version(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2.0",
        http::Version::HTTP_3 => "3.0",
        _ => "1.1",
    }
}

/// Answers the client with the intervention (deny / redirect / drop).
async fn respond(session: &mut Session, i: &Intervention) -> pingora_core::Result<()> {
    if i.drop {
        session.shutdown().await;
        return Ok(());
    }
    let mut resp = ResponseHeader::build(i.status, Some(4))?;
    let body = match &i.redirect {
        Some(url) => {
            resp.insert_header("Location", url.as_str())?;
            Bytes::new()
        }
        None => Bytes::from(format!("{} {}\n", i.status, reason(i.status))),
    };
    resp.insert_header("Content-Type", "text/plain; charset=utf-8")?;
    resp.insert_header("Content-Length", body.len().to_string())?;
    resp.insert_header("Connection", "close")?;
    session.set_keepalive(None);
    session.write_response_header(Box::new(resp), body.is_empty()).await?;
    if !body.is_empty() {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// The WAF's response to an intervention as raw HTTP/1.1 bytes (for the output gate):
/// the same response as [`respond`] writes; nothing for `drop`.
fn intervention_bytes(i: &Intervention, head: bool) -> Vec<u8> {
    if i.drop {
        return Vec::new();
    }
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
    let mut out = format!("HTTP/1.1 {} {}\r\n", i.status, reason(i.status));
    let body = match &i.redirect {
        Some(url) => {
            let clean: String = url.chars().filter(|c| !c.is_control()).collect();
            out.push_str(&format!("Location: {clean}\r\n"));
            String::new()
        }
        None => format!("{} {}\n", i.status, reason(i.status)),
    };
    out.push_str(&format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nDate: {date}\r\n\r\n",
        body.len()
    ));
    if !head {
        out.push_str(&body);
    }
    out.into_bytes()
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Blocked")
}

fn record_intervention(w: &RouteWaf, tx: &Transaction, i: &Intervention) {
    let m = metrics::waf();
    let id = i.rule_id.to_string();
    m.interventions.with_label_values(&[w.route.as_str(), &id, &i.phase.to_string()]).inc();
    let mut cats: Vec<&str> = Vec::new();
    for msg in tx.messages() {
        for t in &msg.tags {
            if let Some(c) = t.strip_prefix("attack-") {
                if !cats.contains(&c) {
                    cats.push(c);
                }
            }
        }
    }
    if cats.is_empty() {
        cats.push("none");
    }
    for c in cats {
        m.interventions_by_category.with_label_values(&[w.route.as_str(), c]).inc();
    }
}

async fn intervene(session: &mut Session, ctx: &mut WafCtx, i: Intervention) -> pingora_core::Result<bool> {
    ctx.flush_log();
    if let (Some(w), Some(tx)) = (&ctx.waf, &ctx.tx) {
        record_intervention(w, tx, &i);
    }
    respond(session, &i).await?;
    ctx.intervened = Some(i);
    Ok(true)
}

/// Reads the whole request body (feeding the engine up to its limit). Returns the bytes
/// read, whether they are the complete body, and whether the engine rejected it.
async fn read_body(session: &mut Session, tx: &mut Transaction) -> pingora_core::Result<(BytesMut, bool, bool)> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = session.read_request_body().await? {
        buf.extend_from_slice(&chunk);
        match tx.append_request_body(&chunk) {
            BodyStatus::Continue => {}
            // The rest is forwarded uninspected: stop reading here and stream it.
            BodyStatus::Partial => return Ok((buf, false, false)),
            BodyStatus::Rejected => return Ok((buf, false, true)),
        }
    }
    Ok((buf, true, false))
}

/// Maximum body pingora's retry buffer replays (pingora-core BODY_BUF_LIMIT).
const RETRY_BUFFER_LIMIT: usize = 64 * 1024;

/// Phases 1 and 2. Returns `true` when it already answered the client (intervention).
pub async fn request_filter(
    waf: &WafSet,
    route_idx: usize,
    session: &mut Session,
    ctx: &mut WafCtx,
    client: &ClientInfo,
) -> pingora_core::Result<bool> {
    // The request line as the client sent it, when Pingora only accepted a rewritten one.
    let original = super::request_line::original_line(session.as_downstream().stream(), session.req_header().raw_path());
    let w = match waf.route(route_idx) {
        Some(w) if w.effective_mode() != EngineMode::Off => w,
        _ => return refuse_invalid(session, original.as_ref()).await,
    };
    let mode = w.effective_mode();
    let mut tx = Box::new(Transaction::new(w.rules.clone(), engine_context(), None));
    if w.mode.is_some() {
        tx.set_mode(mode);
    }
    ctx.waf = Some(w.clone());
    ctx.conn = super::request_line::conn_shared(session.as_downstream().stream());
    ctx.head = session.req_header().method == http::Method::HEAD;
    {
        let req = session.req_header();
        tx.process_connection(&client.addr.to_string(), client.port, &client.server_addr.to_string(), client.server_port);
        let target = original.as_ref().map(|o| o.raw_target.as_slice()).unwrap_or_else(|| req.raw_path());
        let version = match original.as_ref().and_then(|o| o.raw_version.as_deref()) {
            None => http_version(req.version).to_string(),
            Some([]) => "0.9".to_string(),
            Some(v) => String::from_utf8_lossy(v.strip_prefix(b"HTTP/").unwrap_or(v)).into_owned(),
        };
        tx.process_uri(target, req.method.as_str().as_bytes(), &version);
        let _ = req.map(|name, value| {
            let n: &[u8] = match name {
                pingora_http::HeaderNameVariant::Case(c) => c.as_slice(),
                pingora_http::HeaderNameVariant::Titled(t) => t.as_bytes(),
            };
            tx.add_request_header(n, value.as_bytes());
            Ok(())
        });
    }
    ctx.tx = Some(tx);
    if let Some(Some(i)) = ctx.timed(1, |tx| tx.process_request_headers()) {
        return intervene(session, ctx, i).await;
    }
    ctx.flush_log();
    let wants_body = ctx.tx.as_ref().is_some_and(|t| t.request_body_needed());
    if wants_body && !session.as_downstream_mut().is_body_empty() {
        if expects_continue(session.req_header()) {
            // The client may wait for this before sending the body the WAF is about to read.
            session.as_downstream_mut().write_continue_response().await?;
            session.req_header_mut().remove_header("expect");
        }
        // Keep what is read so Pingora can replay it to the upstream (bodies up to 64 KiB).
        session.as_downstream_mut().enable_retry_buffering();
        let Some(tx) = ctx.tx.as_mut() else { return Ok(false) };
        let (buf, complete, rejected) = read_body(session, tx).await?;
        if rejected {
            if let Some(i) = ctx.tx.as_ref().and_then(|t| t.intervention().cloned()) {
                return intervene(session, ctx, i).await;
            }
        }
        let buf = buf.freeze();
        if !(complete && buf.len() <= RETRY_BUFFER_LIMIT && !session.as_downstream_mut().retry_buffer_truncated()) {
            // Too big for the retry buffer, or only partly read: replay it ourselves.
            let inner = std::mem::replace(session.as_downstream_mut(), ServerSession::new_custom(Box::new(())));
            let replay = super::replay::ReplaySession::new(inner, buf, ctx.conn.clone());
            *session.as_downstream_mut() = ServerSession::new_custom(Box::new(replay));
            ctx.replayed = true;
        }
    }
    if let Some(Some(i)) = ctx.timed(2, |tx| tx.process_request_body()) {
        return intervene(session, ctx, i).await;
    }
    ctx.flush_log();
    // Requests the WAF has seen but the gateway does not forward.
    refuse_invalid(session, original.as_ref()).await
}

/// An HTTP/1.1 request with `Expect: 100-continue`.
fn expects_continue(req: &pingora_http::RequestHeader) -> bool {
    req.version == http::Version::HTTP_11
        && req.headers.get_all(http::header::EXPECT).iter().any(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Why a request must not be forwarded (RFC 9112 / 9110), if it must not.
fn invalid_request(req: &pingora_http::RequestHeader, raw_target: &[u8]) -> Option<&'static str> {
    if raw_target.contains(&b'#') {
        return Some("fragment in the request-target");
    }
    if req.method == http::Method::CONNECT {
        // authority-form: host:port
        let ok = raw_target
            .rsplit(|&b| b == b':')
            .next()
            .is_some_and(|p| !p.is_empty() && p.len() < raw_target.len() && p.iter().all(u8::is_ascii_digit));
        if !ok {
            return Some("CONNECT target is not host:port");
        }
    } else if !(raw_target.starts_with(b"/") || raw_target == b"*" || is_absolute_form(raw_target)) {
        return Some("request-target is neither origin-form nor absolute-form");
    }
    let hosts: Vec<&http::HeaderValue> = req.headers.get_all(http::header::HOST).iter().collect();
    if hosts.len() > 1 {
        return Some("more than one Host header");
    }
    let http11 = req.version == http::Version::HTTP_11;
    match hosts.first() {
        None if http11 => return Some("HTTP/1.1 request without Host"),
        Some(h) if h.is_empty() && http11 => return Some("empty Host"),
        Some(h) if !valid_host(h.as_bytes()) => return Some("invalid Host"),
        _ => {}
    }
    None
}

fn is_absolute_form(t: &[u8]) -> bool {
    match t.iter().position(|&b| b == b':') {
        Some(p) if p > 0 => t[..p].iter().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b)) && t[p..].starts_with(b"://"),
        _ => false,
    }
}

/// RFC 3986 host [":" port]: reg-name / IP literal characters; a percent-encoded byte must
/// not decode to a control character.
fn valid_host(h: &[u8]) -> bool {
    let mut i = 0;
    while i < h.len() {
        let b = h[i];
        match b {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (h.get(i + 1).copied().and_then(hex), h.get(i + 2).copied().and_then(hex)) {
                    (Some(a), Some(c)) => {
                        let v = a * 16 + c;
                        if v < 0x20 || v == 0x7f {
                            return false;
                        }
                        i += 3;
                        continue;
                    }
                    _ => return false,
                }
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'('
            | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'[' | b']' => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

/// Refuses requests the WAF has seen but the gateway does not forward: an HTTP version
/// other than 1.0/1.1 (505; HTTP/0.9: connection closed) or an invalid request-target or
/// Host (400). Returns true when it answered.
async fn refuse_invalid(session: &mut Session, original: Option<&super::request_line::OriginalLine>) -> pingora_core::Result<bool> {
    if let Some(v) = original.and_then(|o| o.raw_version.as_ref()) {
        if v.is_empty() {
            session.shutdown().await;
        } else {
            session.respond_error(505).await?;
        }
        return Ok(true);
    }
    let reason = {
        let req = session.req_header();
        let raw = original.map(|o| o.raw_target.as_slice()).unwrap_or_else(|| req.raw_path());
        invalid_request(req, raw)
    };
    match reason {
        Some(r) => {
            log::debug!("refusing request: {r}");
            session.respond_error(400).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Request body chunks on their way to the upstream. Phase 2 has already seen them (the
/// body was read in `request_filter` and is replayed from Pingora's retry buffer or from
/// [`super::replay::ReplaySession`]): they pass unchanged.
pub async fn request_body_filter(
    _session: &mut Session,
    _body: &mut Option<Bytes>,
    _end_of_stream: bool,
    _ctx: &mut WafCtx,
) -> pingora_core::Result<()> {
    Ok(())
}

/// Phase 3, on the response header sent to the client.
pub async fn response_filter(
    _session: &mut Session,
    resp: &mut ResponseHeader,
    ctx: &mut WafCtx,
) -> pingora_core::Result<()> {
    let Some(tx) = ctx.tx.as_mut() else { return Ok(()) };
    if ctx.intervened.is_some() {
        return Ok(());
    }
    let _ = resp.map(|name, value| {
        let n: &[u8] = match name {
            pingora_http::HeaderNameVariant::Case(c) => c.as_slice(),
            pingora_http::HeaderNameVariant::Titled(t) => t.as_bytes(),
        };
        tx.add_response_header(n, value.as_bytes());
        Ok(())
    });
    let status = resp.status.as_u16();
    let proto = match resp.version {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    if let Some(Some(i)) = ctx.timed(3, |tx| tx.process_response_headers(status, proto)) {
        return Err(block_response(ctx, i, "blocked by the WAF in phase 3"));
    }
    ctx.flush_log();
    if ctx.tx.as_ref().is_some_and(|t| t.response_body_needed()) {
        // The body is held back until phase 4 (its framing stays: the WAF does not change
        // it). On HTTP/1 the header waits with it, so that a block can still answer with
        // the WAF's status; responses without a body are not held.
        let no_body = ctx.head
            || status < 200
            || status == 204
            || status == 304
            || resp.headers.get(http::header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() == b"0");
        if !no_body {
            ctx.resp_buf = Some(BytesMut::new());
            if let Some(c) = &ctx.conn {
                c.hold();
                ctx.gated = true;
            }
        }
    }
    Ok(())
}

/// Carries out a response-side intervention (phase 3 or 4): records it and, on HTTP/1,
/// puts the WAF's response in the output gate in place of the upstream's (sent by
/// [`logging`]). The returned error makes Pingora abandon the upstream response.
fn block_response(ctx: &mut WafCtx, i: Intervention, what: &'static str) -> Box<Error> {
    ctx.flush_log();
    if let (Some(w), Some(tx)) = (&ctx.waf, &ctx.tx) {
        record_intervention(w, tx, &i);
    }
    ctx.resp_buf = None;
    ctx.resp_blocked = true;
    if let Some(c) = &ctx.conn {
        c.replace(intervention_bytes(&i, ctx.head));
        ctx.replaced = true;
    }
    let code = if i.drop { 0 } else { i.status };
    ctx.intervened = Some(i);
    Error::explain(ErrorType::HTTPStatus(code), what)
}

/// Phase 4, on response body chunks: held back until the end (or SecResponseBodyLimit),
/// then inspected; released unchanged when phase 4 allows it.
pub fn response_body_filter(
    _session: &mut Session,
    body: &mut Option<Bytes>,
    end_of_stream: bool,
    ctx: &mut WafCtx,
) -> pingora_core::Result<Option<std::time::Duration>> {
    if ctx.resp_blocked {
        *body = None;
        let code = ctx.intervened.as_ref().map_or(403, |i| if i.drop { 0 } else { i.status });
        return Err(Error::explain(ErrorType::HTTPStatus(code), "response blocked by the WAF"));
    }
    let Some(buf) = ctx.resp_buf.as_mut() else { return Ok(None) };
    let mut limit_reached = false;
    if let Some(b) = body.take() {
        buf.extend_from_slice(&b);
        if let Some(tx) = ctx.tx.as_mut() {
            match tx.append_response_body(&b) {
                BodyStatus::Continue => {}
                // ProcessPartial: inspect what we have, stream the rest.
                BodyStatus::Partial => limit_reached = true,
                BodyStatus::Rejected => match tx.intervention().cloned() {
                    Some(i) => return Err(block_response(ctx, i, "response body over SecResponseBodyLimit")),
                    None => limit_reached = true,
                },
            }
        }
    }
    if !end_of_stream && !limit_reached {
        return Ok(None);
    }
    let held = ctx.resp_buf.take().map(BytesMut::freeze).unwrap_or_default();
    if let Some(Some(i)) = ctx.timed(4, |tx| tx.process_response_body()) {
        return Err(block_response(ctx, i, "response body blocked by the WAF in phase 4"));
    }
    ctx.flush_log();
    if let Some(c) = ctx.conn.as_ref().filter(|_| ctx.gated) {
        // The held header goes out in front of the body.
        c.release();
        ctx.gated = false;
    }
    *body = if held.is_empty() { None } else { Some(held) };
    Ok(None)
}

/// Phase 5 (logging), the audit log and the metrics, when the request is finished.
pub async fn logging(session: &mut Session, e: Option<&pingora_core::Error>, ctx: &mut WafCtx) {
    if let Some(conn) = ctx.conn.clone() {
        if ctx.replaced || (ctx.gated && conn.is_holding()) {
            // The WAF's response waits in the output gate (or a held response never
            // completed): send what is there and close the connection.
            session.shutdown().await;
        } else if ctx.replayed && e.is_none() && ctx.intervened.is_none() {
            conn.allow_reuse();
        }
    }
    let Some(w) = ctx.waf.clone() else { return };
    if ctx.tx.is_none() {
        return;
    }
    let audit = ctx.timed(5, |tx| tx.process_logging()).flatten();
    ctx.flush_log();
    if let (Some(rec), Some(writer)) = (audit, &w.audit) {
        if let Err(e) = writer.write(&rec) {
            log::error!("waf: audit log {}: {e}", writer.path().display());
        }
    }
    let m = metrics::waf();
    for (i, t) in ctx.engine_time.iter().enumerate() {
        if *t > 0.0 {
            m.engine_seconds.with_label_values(&[w.route.as_str(), PHASES[i]]).observe(*t);
        }
    }
    if let Some(tx) = &ctx.tx {
        if let Some(score) = tx
            .tx_var("blocking_inbound_anomaly_score")
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<f64>().ok())
        {
            m.inbound_anomaly_score.with_label_values(&[&w.route]).observe(score);
        }
        m.transactions.with_label_values(&[w.route.as_str(), if ctx.intervened.is_some() { "blocked" } else { "passed" }]).inc();
    }
}

const PHASES: [&str; 5] = ["1", "2", "3", "4", "5"];

//! Audit log records, following SecAuditEngine / SecAuditLogParts /
//! SecAuditLogRelevantStatus, in libmodsecurity's JSON schema or the Native serial format.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use super::config::{AuditEngine, AuditFormat};
use super::logging::{details, hex_if_needed, RuleMessage};
use super::transaction::{AuditRecord, Transaction};

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn http_version(protocol: &[u8]) -> String {
    lossy(protocol.strip_prefix(b"HTTP/").unwrap_or(protocol))
}

/// Whether the transaction is to be audit-logged, and the record if so.
pub(super) fn record(tx: &Transaction) -> Option<AuditRecord> {
    let cfg = &tx.rs.config.audit;
    let relevant = match tx.audit_engine {
        AuditEngine::Off => false,
        AuditEngine::On => true,
        AuditEngine::RelevantOnly => {
            let status_relevant = match (&cfg.relevant_status, tx.d.resp_status.or(tx.intervention.as_ref().map(|i| i.status))) {
                (Some(p), Some(s)) => p.is_match(s),
                _ => false,
            };
            status_relevant || tx.messages.iter().any(|m| m.auditlog)
        }
    };
    if !relevant {
        return None;
    }
    let parts = tx.audit_parts.as_str();
    let text = match cfg.format {
        AuditFormat::Json => json_record(tx, parts),
        AuditFormat::Native => native_record(tx, parts),
    };
    Some(AuditRecord { text, json: cfg.format == AuditFormat::Json })
}

fn status_of(tx: &Transaction) -> u16 {
    match &tx.intervention {
        Some(i) => i.status,
        None => tx.d.resp_status.unwrap_or(0),
    }
}

fn message_json(m: &RuleMessage) -> Value {
    json!({
        "message": m.message,
        "details": {
            "match": m.match_text,
            "reference": m.reference,
            "ruleId": m.rule.id.to_string(),
            "file": &*m.rule.loc.file,
            "lineNumber": m.rule.loc.line.to_string(),
            "data": m.data,
            "severity": m.severity.unwrap_or(0).to_string(),
            "ver": m.rule.ver,
            "rev": m.rule.rev,
            "tags": m.tags,
            "maturity": m.rule.maturity.to_string(),
            "accuracy": m.rule.accuracy.to_string(),
        }
    })
}

fn json_record(tx: &Transaction, parts: &str) -> String {
    let d = &tx.d;
    let ts = d.start_time.unwrap_or_else(chrono::Local::now).format("%a %b %e %H:%M:%S %Y").to_string();
    let mut request = Map::new();
    request.insert("method".into(), json!(lossy(&d.method)));
    let hv = http_version(&d.protocol);
    request.insert(
        "http_version".into(),
        hv.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number).unwrap_or(Value::String(hv)),
    );
    request.insert("uri".into(), json!(lossy(&d.uri_raw)));
    if parts.contains('C') {
        request.insert("body".into(), json!(lossy(&d.req_body)));
    }
    if parts.contains('B') {
        let mut h = Map::new();
        for (k, v) in &d.req_headers {
            h.insert(lossy(k), json!(lossy(v)));
        }
        request.insert("headers".into(), Value::Object(h));
    }
    let mut response = Map::new();
    if parts.contains('E') {
        response.insert("body".into(), json!(lossy(&d.resp_body)));
    }
    response.insert("http_code".into(), json!(status_of(tx)));
    if parts.contains('F') {
        let mut h = Map::new();
        for (k, v) in &d.resp_headers {
            h.insert(lossy(k), json!(lossy(v)));
        }
        response.insert("headers".into(), Value::Object(h));
    }
    let mut t = Map::new();
    t.insert("client_ip".into(), json!(lossy(&d.client_addr)));
    t.insert("time_stamp".into(), json!(ts));
    t.insert("server_id".into(), json!(super::transaction::new_unique_id()));
    t.insert("client_port".into(), json!(d.client_port));
    t.insert("host_ip".into(), json!(lossy(&d.server_addr)));
    t.insert("host_port".into(), json!(d.server_port));
    t.insert("unique_id".into(), json!(d.unique_id));
    t.insert("request".into(), Value::Object(request));
    t.insert("response".into(), Value::Object(response));
    if parts.contains('H') {
        let engine = match tx.mode {
            super::config::EngineMode::On => "Enabled",
            super::config::EngineMode::Off => "Disabled",
            super::config::EngineMode::DetectionOnly => "DetectionOnly",
        };
        t.insert(
            "producer".into(),
            json!({
                "modsecurity": format!("Rampart v{} (ModSecurity v3 compatible)", env!("CARGO_PKG_VERSION")),
                "connector": "rampart",
                "secrules_engine": engine,
                "components": tx.rs.config.component_signatures,
            }),
        );
        let msgs: Vec<Value> = tx.messages.iter().filter(|m| m.auditlog).map(message_json).collect();
        t.insert("messages".into(), Value::Array(msgs));
    }
    let mut root = Map::new();
    root.insert("transaction".into(), Value::Object(t));
    let mut s = Value::Object(root).to_string();
    s.push('\n');
    s
}

fn native_record(tx: &Transaction, parts: &str) -> String {
    let d = &tx.d;
    let boundary: String = d.unique_id.bytes().filter(u8::is_ascii_alphanumeric).rev().take(8).map(char::from).collect();
    let mut s = String::new();
    let t = d.start_time.unwrap_or_else(chrono::Local::now);
    let _ = writeln!(s, "--{boundary}-A--");
    let _ = writeln!(
        s,
        "[{}] {} {} {} {} {}",
        t.format("%d/%b/%Y:%H:%M:%S %z"),
        d.unique_id,
        lossy(&d.client_addr),
        d.client_port,
        lossy(&d.server_addr),
        d.server_port
    );
    if parts.contains('B') {
        let _ = writeln!(s, "--{boundary}-B--");
        let _ = writeln!(s, "{} {} {}", lossy(&d.method), lossy(&d.uri_raw), lossy(&d.protocol));
        for (k, v) in &d.req_headers {
            let _ = writeln!(s, "{}: {}", lossy(k), lossy(v));
        }
        s.push('\n');
    }
    if parts.contains('C') && !d.req_body.is_empty() {
        let _ = writeln!(s, "--{boundary}-C--");
        let _ = writeln!(s, "{}", lossy(&d.req_body));
        s.push('\n');
    }
    if parts.contains('E') && !d.resp_body.is_empty() {
        let _ = writeln!(s, "--{boundary}-E--");
        let _ = writeln!(s, "{}", hex_if_needed(&d.resp_body));
        s.push('\n');
    }
    if parts.contains('F') {
        let _ = writeln!(s, "--{boundary}-F--");
        let _ = writeln!(s, "{} {}", lossy(&d.protocol), status_of(tx));
        for (k, v) in &d.resp_headers {
            let _ = writeln!(s, "{}: {}", lossy(k), lossy(v));
        }
    }
    s.push('\n');
    if parts.contains('H') {
        let _ = writeln!(s, "--{boundary}-H--");
        let ctx = tx.log_context();
        for m in tx.messages.iter().filter(|m| m.auditlog) {
            let head = if m.disruptive {
                format!("ModSecurity: Access denied with code {} (phase {}). ", status_of(tx), m.phase)
            } else {
                "ModSecurity: Warning. ".to_string()
            };
            let _ = writeln!(s, "{head}{}{}", m.match_text, details(m, &ctx));
        }
        s.push('\n');
    }
    let _ = writeln!(s, "--{boundary}-Z--");
    s.push('\n');
    s
}

/// Appends audit records to a file (serial log), serialising concurrent writers.
#[derive(Debug)]
pub struct AuditWriter {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl AuditWriter {
    pub fn new(path: &Path) -> AuditWriter {
        AuditWriter { path: path.to_path_buf(), file: Mutex::new(None) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record; errors are returned (the caller logs them).
    pub fn write(&self, rec: &AuditRecord) -> std::io::Result<()> {
        let mut guard = self.file.lock().map_err(|_| std::io::Error::other("audit log lock poisoned"))?;
        if guard.is_none() {
            *guard = Some(std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?);
        }
        match guard.as_mut() {
            Some(f) => f.write_all(rec.text.as_bytes()),
            None => Ok(()),
        }
    }
}

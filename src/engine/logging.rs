//! Messages in libmodsecurity's formats: the error-log line of a rule match, the
//! "Access denied" line of an intervention, and the audit log (JSON and Native/serial).

use std::fmt::Write as _;
use std::sync::Arc;

use super::rule::Rule;

/// One logged rule match (libmodsecurity's RuleMessage).
#[derive(Debug, Clone)]
pub struct RuleMessage {
    pub rule: Arc<Rule>,
    /// `Matched "Operator ...' against variable ... (Value: ...' )`
    pub match_text: String,
    /// Expanded `msg`.
    pub message: String,
    /// Expanded `logdata`.
    pub data: String,
    pub severity: Option<u8>,
    pub tags: Vec<String>,
    /// The rule's disruptive action ran (the engine was On).
    pub disruptive: bool,
    pub log: bool,
    pub auditlog: bool,
    pub reference: String,
    pub phase: u8,
}

/// Transaction fields the log lines show.
#[derive(Debug, Clone, Default)]
pub struct LogContext {
    pub client_ip: String,
    pub server_ip: String,
    pub uri: String,
    pub unique_id: String,
}

/// Escapes bytes outside printable ASCII as `\xHH`, as libmodsecurity's toHexIfNeeded.
pub fn hex_if_needed(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        if (32..=126).contains(&c) {
            s.push(c as char);
        } else {
            let _ = write!(s, "\\x{c:02x}");
        }
    }
    s
}

/// Truncates to `n` characters, noting how many were left out (libmodsecurity's limitTo).
pub fn limit_to(n: usize, s: &str) -> String {
    let count = s.chars().count();
    if count <= n {
        return s.to_string();
    }
    let head: String = s.chars().take(n).collect();
    format!("{head} ({} characters omitted)", count - n)
}

/// The match text of an operator match.
pub fn match_text(op_name: &str, param: &str, var_name: &[u8], value: &[u8]) -> String {
    format!(
        "Matched \"Operator `{}' with parameter `{}' against variable `{}' (Value: `{}' )",
        op_name,
        limit_to(200, param),
        hex_if_needed(var_name),
        limit_to(100, &hex_if_needed(value))
    )
}

fn escape_field(s: &str) -> String {
    s.replace('"', "\\\"")
}

/// The `[file "..."] [line "..."] [id "..."] ...` details.
pub fn details(m: &RuleMessage, ctx: &LogContext) -> String {
    let r = &m.rule;
    let mut s = String::with_capacity(512);
    let _ = write!(s, " [file \"{}\"]", r.loc.file);
    let _ = write!(s, " [line \"{}\"]", r.loc.line);
    let _ = write!(s, " [id \"{}\"]", r.id);
    let _ = write!(s, " [rev \"{}\"]", escape_field(&r.rev));
    let _ = write!(s, " [msg \"{}\"]", escape_field(&m.message));
    let _ = write!(s, " [data \"{}\"]", escape_field(&limit_to(200, &m.data)));
    let _ = write!(s, " [severity \"{}\"]", m.severity.unwrap_or(0));
    let _ = write!(s, " [ver \"{}\"]", escape_field(&r.ver));
    let _ = write!(s, " [maturity \"{}\"]", r.maturity);
    let _ = write!(s, " [accuracy \"{}\"]", r.accuracy);
    for t in &m.tags {
        let _ = write!(s, " [tag \"{}\"]", escape_field(t));
    }
    let _ = write!(s, " [hostname \"{}\"]", ctx.server_ip);
    let _ = write!(s, " [uri \"{}\"]", escape_field(&limit_to(200, &ctx.uri)));
    let _ = write!(s, " [unique_id \"{}\"]", ctx.unique_id);
    let _ = write!(s, " [ref \"{}\"]", escape_field(&m.reference));
    s
}

/// The error-log line of a message: `ModSecurity: Warning. ...` or, for the rule that
/// intercepted the transaction, `ModSecurity: Access denied with code N (phase P). ...`.
pub fn error_log_line(m: &RuleMessage, ctx: &LogContext, status: Option<u16>) -> String {
    let mut s = String::with_capacity(768);
    let _ = write!(s, "[client {}] ", ctx.client_ip);
    match (m.disruptive, status) {
        (true, Some(code)) => {
            let _ = write!(s, "ModSecurity: Access denied with code {} (phase {}). ", code, m.phase);
        }
        _ => s.push_str("ModSecurity: Warning. "),
    }
    s.push_str(&m.match_text);
    s.push_str(&details(m, ctx));
    // One line per message: control bytes in msg/logdata (e.g. a captured CRLF) are escaped.
    hex_if_needed(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_limits() {
        assert_eq!(hex_if_needed(b"a\x00b\xff"), "a\\x00b\\xff");
        assert_eq!(limit_to(3, "abcdef"), "abc (3 characters omitted)");
        assert_eq!(limit_to(10, "abc"), "abc");
        let t = match_text("Rx", "^a", b"ARGS:x", b"abc");
        assert_eq!(t, "Matched \"Operator `Rx' with parameter `^a' against variable `ARGS:x' (Value: `abc' )");
    }
}

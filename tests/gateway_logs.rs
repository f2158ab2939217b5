//! The WAF's logs through the real gateway: the error log in libmodsecurity's format, read
//! the way go-ftw reads it in log-marker mode, and the audit log in libmodsecurity's JSON
//! schema and in the Native serial format, as SecAuditEngine, SecAuditLogParts and
//! SecAuditLogRelevantStatus say.

mod common;

use common::waf::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// The marker rule of the CRS regression setup (go-ftw log-marker mode): a request with
/// `X-CRS-Test` logs a line with that header's value and triggers nothing else.
const MARKER_RULE: &str = r#"SecRule REQUEST_HEADERS:X-CRS-Test "@rx ^.*$" \
    "id:999999,phase:1,pass,t:none,log,msg:'X-CRS-Test %{MATCHED_VAR}',ctl:ruleRemoveById=1-999998"
"#;

/// Sends `request` between two marker requests and returns the rule ids the error log shows
/// for it (go-ftw's reading) and the log lines between the markers.
fn ids_for(env: &Env, request: &[u8]) -> (Vec<u64>, Vec<String>, u16) {
    let start = uuid::Uuid::new_v4().to_string();
    let end = uuid::Uuid::new_v4().to_string();
    let marker = |m: &str| {
        let r = env.send(&req("GET", "/", &[("X-CRS-Test", m)], b""));
        assert_eq!(r.status, 200, "marker request");
    };
    marker(&start);
    let status = env.send(request).status;
    marker(&end);
    let log = wait_for_text(&env.dir.join("error.log"), &end, Duration::from_secs(5));
    let ids = ids_between_markers(&log, &start, &end);
    let lines: Vec<String> = log
        .lines()
        .skip_while(|l| !l.contains(&start))
        .skip(1)
        .take_while(|l| !l.contains(&end))
        .map(str::to_string)
        .collect();
    (ids, lines, status)
}

/// `[name "value"]` fields of an error-log line.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("[{name} \"");
    let start = line.find(&key)? + key.len();
    let len = line[start..].find("\"]")?;
    Some(&line[start..start + len])
}

/// The error log of a matched request carries, in libmodsecurity's format, the ids of the
/// rules the engine matched: go-ftw's marker reading finds 942100 and the blocking 949110
/// for an SQL injection, the XSS rules for an XSS, nothing for a benign request; every line
/// has the nginx prefix, `ModSecurity: Warning.` or `Access denied with code 403 (phase 2)`,
/// and [file]/[line] pointing at the rule in the CRS file, [ver], [tag], [hostname], [uri]
/// and [unique_id]; the ids are the same the audit log lists for that transaction.
#[test]
fn error_log_carries_the_matched_rule_ids_as_go_ftw_reads_them() {
    let env = Env::launch("logs-ftw", &[("crs-before.conf", MARKER_RULE)], CRS_GATEWAY);
    let cases: [(&str, Vec<u8>, &[u64], u16); 3] = [
        (
            "sqli",
            req(
                "GET",
                "/?id=1%27%20UNION%20SELECT%20password%20FROM%20users--",
                &[],
                b"",
            ),
            &[942100, 949110],
            403,
        ),
        (
            "xss",
            req(
                "POST",
                "/comment",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                b"text=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            ),
            &[941100, 949110],
            403,
        ),
        ("benign", req("GET", "/products?page=2", &[], b""), &[], 200),
    ];
    let re = regex::Regex::new(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[error\] \d+#0: \[client 127\.0\.0\.1\] ModSecurity: ").unwrap();
    for (label, request, expected, status) in cases {
        let (ids, lines, got_status) = ids_for(&env, &request);
        assert_eq!(got_status, status, "{label}");
        let set: BTreeSet<u64> = ids.iter().copied().collect();
        for id in expected {
            assert!(
                set.contains(id),
                "{label}: rule {id} not in the log: {ids:?}\n{}",
                lines.join("\n")
            );
        }
        if expected.is_empty() {
            assert!(ids.is_empty(), "{label}: {ids:?}");
            continue;
        }
        assert!(
            set.iter().all(|id| (900_000..1_000_000).contains(id)),
            "{label}: only CRS ids: {ids:?}"
        );
        let mut unique_ids = BTreeSet::new();
        for l in &lines {
            assert!(re.is_match(l), "{label}: line format: {l}");
            assert!(
                l.contains("ModSecurity: Warning. Matched \"Operator `")
                    || l.contains("ModSecurity: Access denied with code 403 (phase 2). "),
                "{l}"
            );
            let id: u64 = field(l, "id")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no id: {l}"));
            let file = field(l, "file").unwrap_or_else(|| panic!("no file: {l}"));
            let line: usize = field(l, "line")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no line: {l}"));
            // [file] and [line] point at the directive that defines the rule.
            let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
            let from: Vec<&str> = text.lines().skip(line - 1).take(60).collect();
            assert!(
                from[0].starts_with("SecRule") || from[0].starts_with("SecAction"),
                "{file}:{line}: {}",
                from[0]
            );
            let body: String = from
                .iter()
                .take_while(|x| !x.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                body.contains(&format!("id:{id}")),
                "{file}:{line} defines rule {id}"
            );
            assert!(
                field(l, "ver").is_some_and(|v| v.starts_with("OWASP_CRS/4.")),
                "{l}"
            );
            assert!(l.contains("[tag \""), "{l}");
            assert_eq!(field(l, "hostname"), Some("127.0.0.1"), "{l}");
            let uri = field(l, "uri").unwrap_or_default();
            assert!(uri == "/" || uri == "/comment", "{l}");
            unique_ids.insert(field(l, "unique_id").unwrap_or_default().to_string());
        }
        assert_eq!(
            unique_ids.len(),
            1,
            "{label}: one transaction: {unique_ids:?}"
        );
        let blocking: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("Access denied"))
            .collect();
        assert_eq!(blocking.len(), 1, "{label}: one intervention line");
        assert_eq!(field(blocking[0], "id"), Some("949110"));
        // The audit log record of the same transaction lists the same rules.
        let uid = unique_ids.into_iter().next().unwrap_or_default();
        let audit = wait_for_text(&env.dir.join("audit.log"), &uid, Duration::from_secs(5));
        let rec: Value = audit
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["transaction"]["unique_id"] == uid.as_str())
            .unwrap_or_else(|| panic!("{label}: no audit record {uid}"));
        let audit_ids: BTreeSet<u64> = rec["transaction"]["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["details"]["ruleId"].as_str()?.parse().ok())
            .collect();
        assert_eq!(audit_ids, set, "{label}: error log and audit log agree");
    }
}

/// Rules for the audit-log test: each route loads the same detection rules with its own
/// audit settings.
fn audit_rules(settings: &str) -> String {
    format!(
        "SecRuleEngine On\nSecRequestBodyAccess On\nSecResponseBodyAccess On\nSecResponseBodyMimeType text/plain text/html\n{settings}\n\
         SecRule ARGS \"@contains EVIL\" \"id:7001,phase:2,deny,status:403,log,auditlog,msg:'evil argument',logdata:'%{{MATCHED_VAR}}',severity:'CRITICAL',tag:'attack-test',tag:'paranoia-level/1',ver:'test/1.0',rev:'3',maturity:'9',accuracy:'8'\"\n\
         SecRule REQUEST_HEADERS:X-Note \"@streq warn\" \"id:7002,phase:1,pass,log,auditlog,msg:'just a note'\"\n"
    )
}

const AUDIT_GATEWAY: &str = r#"listeners: [{ address: "{listen}" }]
admin: { address: "{admin}" }
upstreams:
  app: { servers: [{ address: "{upstream}" }] }
routes:
  - name: json
    match: { path_prefix: /json }
    upstream: app
    waf: { rules: "{dir}/json.conf", error_log: "{dir}/error.log" }
  - name: native
    match: { path_prefix: /native }
    upstream: app
    waf: { rules: "{dir}/native.conf", error_log: "{dir}/error.log", audit_log: "{dir}/native.log" }
  - name: off
    upstream: app
    waf: { rules: "{dir}/off.conf", error_log: "{dir}/error.log", audit_log: "{dir}/off.log" }
"#;

fn json_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not one JSON record per line ({e}): {l}"))
        })
        .collect()
}

fn record_for<'a>(recs: &'a [Value], test_id: &str) -> Option<&'a Value> {
    recs.iter()
        .find(|r| r["transaction"]["request"]["headers"]["X-Test-Id"] == test_id)
}

fn assert_string(v: &Value, path: &str) {
    assert!(v.is_string(), "{path} is a string: {v}");
}

fn assert_number(v: &Value, path: &str) {
    assert!(v.is_number(), "{path} is a number: {v}");
}

/// The audit log follows SecAuditEngine, SecAuditLogParts and SecAuditLogRelevantStatus:
/// JSON (RelevantOnly, parts ABCFHZ, SecAuditLog from the rules) gets a record for a blocked
/// request, for a logged warning and for a 500 from the backend, none for a clean 200 or a
/// 404, with libmodsecurity's schema (transaction, request with body for part C, response
/// without body since E is absent, producer, messages with details); Native (On, parts
/// ABEFHZ, path from the route) gets every transaction as `--xxxxxxxx-A--` ...
/// `--xxxxxxxx-Z--` sections; SecAuditEngine Off writes nothing.
#[test]
fn audit_log_follows_the_audit_settings_in_json_and_native_format() {
    let json = audit_rules(
        "SecAuditEngine RelevantOnly\nSecAuditLogParts ABCFHZ\nSecAuditLogRelevantStatus \"^(?:5|4(?!04))\"\nSecAuditLogFormat JSON\nSecAuditLogType Serial\nSecAuditLog {dir}/json.log",
    );
    let native = audit_rules("SecAuditEngine On\nSecAuditLogParts ABEFHZ\nSecAuditLogFormat Native\nSecAuditLogType Serial");
    let off = audit_rules("SecAuditEngine Off\nSecAuditLogFormat JSON");
    let env = Env::launch(
        "logs-audit",
        &[
            ("json.conf", &json),
            ("native.conf", &native),
            ("off.conf", &off),
        ],
        AUDIT_GATEWAY,
    );
    let rule_line = json
        .lines()
        .position(|l| l.contains("id:7001"))
        .map(|i| i + 1)
        .unwrap_or(0);

    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let e500 = env.up.configure(
        "GET",
        "/json/broken",
        500,
        &[("Content-Type", "text/plain")],
        b"internal error",
    );
    let e404 = env.up.configure(
        "GET",
        "/json/missing",
        404,
        &[("Content-Type", "text/plain")],
        b"not here",
    );
    let sends: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "j-attack",
            req(
                "POST",
                "/json/form?x=1",
                &[("X-Test-Id", "j-attack"), form],
                b"a=EVIL-thing&b=2",
            ),
            403,
        ),
        (
            "j-clean",
            req(
                "POST",
                "/json/form",
                &[("X-Test-Id", "j-clean"), form],
                b"a=fine",
            ),
            200,
        ),
        (
            "j-warn",
            req(
                "GET",
                "/json/page",
                &[("X-Test-Id", "j-warn"), ("X-Note", "warn")],
                b"",
            ),
            200,
        ),
        (
            "j-500",
            req("GET", &e500, &[("X-Test-Id", "j-500")], b""),
            500,
        ),
        (
            "j-404",
            req("GET", &e404, &[("X-Test-Id", "j-404")], b""),
            404,
        ),
        (
            "n-clean",
            req(
                "POST",
                "/native/form",
                &[("X-Test-Id", "n-clean"), form],
                b"a=fine",
            ),
            200,
        ),
        (
            "n-attack",
            req(
                "POST",
                "/native/form",
                &[("X-Test-Id", "n-attack"), form],
                b"a=EVIL",
            ),
            403,
        ),
        (
            "o-attack",
            req(
                "POST",
                "/off/form",
                &[("X-Test-Id", "o-attack"), form],
                b"a=EVIL",
            ),
            403,
        ),
    ];
    for (label, r, status) in &sends {
        assert_eq!(env.send(r).status, *status, "{label}");
    }
    // Records are written when the transaction is logged, after the response.
    wait_for_text(
        &env.dir.join("native.log"),
        "n-attack",
        Duration::from_secs(5),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut recs = json_records(&env.dir.join("json.log"));
    while recs.len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        recs = json_records(&env.dir.join("json.log"));
    }

    // --- JSON ---
    assert_eq!(
        recs.len(),
        3,
        "attack, warning and 500 are relevant, nothing else: {recs:#?}"
    );
    assert!(record_for(&recs, "j-clean").is_none() && record_for(&recs, "j-404").is_none());
    let attack = record_for(&recs, "j-attack").expect("record of the blocked request");
    let t = &attack["transaction"];
    for k in [
        "client_ip",
        "time_stamp",
        "server_id",
        "host_ip",
        "unique_id",
    ] {
        assert_string(&t[k], &format!("transaction.{k}"));
    }
    assert_number(&t["client_port"], "client_port");
    assert_eq!(t["client_ip"], "127.0.0.1");
    assert_eq!(t["host_port"], env.addr.port());
    assert_eq!(t["request"]["method"], "POST");
    assert_eq!(t["request"]["uri"], "/json/form?x=1");
    assert_number(&t["request"]["http_version"], "http_version");
    assert_eq!(t["request"]["http_version"].as_f64(), Some(1.1));
    assert!(
        t["request"]["headers"].is_object(),
        "part B: request headers"
    );
    assert_eq!(
        t["request"]["headers"]["Content-Type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        t["request"]["body"], "a=EVIL-thing&b=2",
        "part C: request body"
    );
    assert_eq!(t["response"]["http_code"], 403);
    assert!(t["response"]["headers"].is_object(), "part F");
    assert!(
        t["response"].get("body").is_none(),
        "no part E, no response body: {}",
        t["response"]
    );
    let p = &t["producer"];
    for k in ["modsecurity", "connector", "secrules_engine"] {
        assert_string(&p[k], &format!("producer.{k}"));
    }
    assert_eq!(p["secrules_engine"], "Enabled");
    assert!(p["components"].is_array());
    let msgs = t["messages"].as_array().expect("messages");
    let m = msgs
        .iter()
        .find(|m| m["details"]["ruleId"] == "7001")
        .expect("message of rule 7001");
    assert_eq!(m["message"], "evil argument");
    let d = &m["details"];
    for k in [
        "match",
        "reference",
        "ruleId",
        "file",
        "lineNumber",
        "data",
        "severity",
        "ver",
        "rev",
        "maturity",
        "accuracy",
    ] {
        assert_string(&d[k], &format!("details.{k}"));
    }
    assert!(
        d["match"].as_str().unwrap_or("").contains(
            "Matched \"Operator `Contains' with parameter `EVIL' against variable `ARGS:a'"
        ),
        "{d}"
    );
    assert_eq!(d["file"], env.dir.join("json.conf").display().to_string());
    assert_eq!(d["lineNumber"], rule_line.to_string().as_str());
    assert_eq!(d["data"], "EVIL-thing");
    assert_eq!(d["severity"], "2");
    assert_eq!(d["ver"], "test/1.0");
    assert_eq!(d["rev"], "3");
    assert_eq!(d["maturity"], "9");
    assert_eq!(d["accuracy"], "8");
    assert_eq!(
        d["tags"],
        serde_json::json!(["attack-test", "paranoia-level/1"])
    );
    let warn = &record_for(&recs, "j-warn").expect("record of the logged warning")["transaction"];
    assert_eq!(warn["response"]["http_code"], 200);
    assert_eq!(warn["messages"][0]["details"]["ruleId"], "7002");
    let e = &record_for(&recs, "j-500").expect("record of the 500")["transaction"];
    assert_eq!(e["response"]["http_code"], 500);
    assert_eq!(e["messages"], serde_json::json!([]));

    // --- Native ---
    let text = std::fs::read_to_string(env.dir.join("native.log")).unwrap_or_default();
    let records: Vec<&str> = text
        .split_inclusive("-Z--\n")
        .filter(|r| r.contains("-A--"))
        .collect();
    assert_eq!(
        records.len(),
        2,
        "SecAuditEngine On: every transaction:\n{text}"
    );
    for (rec, id, status) in [
        (
            records.iter().find(|r| r.contains("n-clean")),
            "n-clean",
            200,
        ),
        (
            records.iter().find(|r| r.contains("n-attack")),
            "n-attack",
            403,
        ),
    ] {
        let rec = rec.unwrap_or_else(|| panic!("no native record for {id}:\n{text}"));
        let first = rec.trim_start().lines().next().unwrap_or_default();
        let boundary = first
            .strip_prefix("--")
            .and_then(|s| s.strip_suffix("-A--"))
            .unwrap_or_else(|| panic!("{first}"));
        assert!(
            boundary.len() >= 8 && boundary.chars().all(|c| c.is_ascii_alphanumeric()),
            "{first}"
        );
        let sections: Vec<char> = rec
            .lines()
            .filter_map(|l| {
                l.strip_prefix(&format!("--{boundary}-"))?
                    .strip_suffix("--")?
                    .chars()
                    .next()
            })
            .collect();
        let expected: Vec<char> = if status == 200 {
            "ABEFHZ".chars().collect()
        } else {
            "ABFHZ".chars().collect()
        };
        assert_eq!(
            sections, expected,
            "{id}: sections in order (E only with a response body):\n{rec}"
        );
        let section = |c: char| -> String {
            rec.split(&format!("--{boundary}-{c}--\n"))
                .nth(1)
                .unwrap_or("")
                .split(&format!("--{boundary}-"))
                .next()
                .unwrap_or("")
                .to_string()
        };
        assert!(section('A').contains(" 127.0.0.1 "), "{rec}");
        assert!(
            section('B').starts_with("POST /native/form HTTP/1.1\n"),
            "{rec}"
        );
        assert!(section('B').contains(&format!("X-Test-Id: {id}")), "{rec}");
        assert!(
            section('F').starts_with(&format!("HTTP/1.1 {status}")),
            "{rec}"
        );
        assert!(
            !rec.contains("a=fine") && !rec.contains("a=EVIL\n"),
            "no part C: no request body:\n{rec}"
        );
        if status == 200 {
            assert!(
                section('E').starts_with("backend says hello"),
                "part E: response body:\n{rec}"
            );
            assert!(section('H').trim().is_empty(), "{rec}");
        } else {
            let h = section('H');
            assert!(h.contains("ModSecurity: Access denied with code 403 (phase 2). Matched \"Operator `Contains' with parameter `EVIL'"), "{rec}");
            assert_eq!(field(&h, "id"), Some("7001"));
        }
    }
    // --- Off ---
    assert!(
        !env.dir.join("off.log").exists(),
        "SecAuditEngine Off writes nothing"
    );
}

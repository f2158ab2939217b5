//! The literal prefilter only skips rules that cannot match: with it and without it, the
//! engine must match exactly the same rules. Checked on every request of the CRS regression
//! corpus (CRS_DIR/tests/regression/tests), fed to the engine directly, against all of CRS at
//! paranoia 4. Each request's body is also fed back as its response body, which exercises the
//! response rules (the corpus's response tests carry their response text in the request).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rampart::engine::{EngineContext, Ruleset, Transaction};

mod common;
use common::waf::crs_dir;

fn ruleset() -> Arc<Ruleset> {
    let dir = std::env::temp_dir().join(format!("rampart-prefilter-eq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let setup = dir.join("setup.conf");
    std::fs::write(
        &setup,
        "SecDefaultAction \"phase:1,log,auditlog,pass\"\nSecDefaultAction \"phase:2,log,auditlog,pass\"\n\
         SecAction \"id:900000,phase:1,pass,nolog,setvar:tx.blocking_paranoia_level=4\"\n\
         SecAction \"id:900990,phase:1,pass,nolog,setvar:tx.crs_setup_version=4280\"\n",
    )
    .unwrap();
    let main = dir.join("main.conf");
    std::fs::write(
        &main,
        format!(
            "Include {}/conf/modsecurity.conf\nSecRuleEngine DetectionOnly\nInclude {}\nInclude {}/rules/*.conf\n",
            env!("CARGO_MANIFEST_DIR"),
            setup.display(),
            crs_dir().display()
        ),
    )
    .unwrap();
    let rs = Ruleset::load(&main).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    Arc::new(rs)
}

struct Req {
    method: String,
    uri: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

fn yaml_str(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Requests of one go-ftw test file (stages with method/uri/headers/data; raw
/// `encoded_request` stages are split at the header end).
fn requests(path: &Path) -> Vec<Req> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(&text) else { return Vec::new() };
    let mut out = Vec::new();
    let Some(tests) = doc.get("tests").and_then(|t| t.as_sequence()) else { return out };
    for t in tests {
        let Some(stages) = t.get("stages").and_then(|s| s.as_sequence()) else { continue };
        for st in stages {
            let Some(input) = st.get("input") else { continue };
            let method = input.get("method").and_then(yaml_str).unwrap_or_else(|| "GET".into());
            let uri = input.get("uri").and_then(yaml_str).unwrap_or_else(|| "/".into());
            let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
            if let Some(h) = input.get("headers").and_then(|h| h.as_mapping()) {
                for (k, v) in h {
                    if let (Some(k), Some(v)) = (yaml_str(k), yaml_str(v)) {
                        headers.push((k, v.into_bytes()));
                    }
                }
            }
            let body = input.get("data").and_then(yaml_str).unwrap_or_default().into_bytes();
            if !body.is_empty() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                headers.push(("Content-Type".into(), b"application/x-www-form-urlencoded".to_vec()));
            }
            out.push(Req { method, uri: uri.into_bytes(), headers, body });
        }
    }
    out
}

/// What one request did: the rules that matched, and what their messages and the anomaly
/// scores say about which values matched (the prefilter also skips single values of a rule
/// that runs, which must not change the values a rule matched or how often it scored).
#[derive(Debug, PartialEq)]
struct Outcome {
    ids: Vec<u64>,
    messages: Vec<String>,
    scores: Vec<String>,
}

fn run(rs: &Arc<Ruleset>, r: &Req, prefilter: bool) -> Outcome {
    let mut tx = Transaction::new(rs.clone(), Arc::new(EngineContext::default()), Some("x".into()));
    if !prefilter {
        tx.disable_prefilter();
    }
    tx.process_connection("192.0.2.1", 40000, "192.0.2.2", 80);
    tx.process_uri(&r.uri, r.method.as_bytes(), "1.1");
    for (k, v) in &r.headers {
        tx.add_request_header(k.as_bytes(), v);
    }
    tx.process_request_headers();
    tx.append_request_body(&r.body);
    tx.process_request_body();
    tx.add_response_header(b"Content-Type", b"text/html");
    tx.process_response_headers(200, "HTTP/1.1");
    tx.append_response_body(&r.body);
    tx.process_response_body();
    tx.process_logging();
    let messages = tx.messages().iter().map(|m| format!("{} {} [{}] [{}]", m.rule.id, m.match_text, m.message, m.data)).collect();
    let scores = ["blocking_inbound_anomaly_score", "detection_inbound_anomaly_score", "blocking_outbound_anomaly_score", "detection_outbound_anomaly_score"]
        .iter()
        .map(|v| format!("{v}={}", String::from_utf8_lossy(tx.tx_var(v).unwrap_or_default())))
        .collect();
    Outcome { ids: tx.matched_rule_ids().to_vec(), messages, scores }
}

#[test]
fn prefilter_never_changes_which_rules_match() {
    let rs = ruleset();
    let root = crs_dir().join("tests/regression/tests");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap().flatten() {
        if let Ok(entries) = std::fs::read_dir(dir.path()) {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "yaml")));
        }
    }
    files.sort();
    let mut n = 0;
    let mut matched_any = 0;
    let mut response_rules = 0;
    for f in &files {
        for r in requests(f) {
            let a = run(&rs, &r, true);
            let b = run(&rs, &r, false);
            assert_eq!(a, b, "{}: {} {}", f.display(), r.method, String::from_utf8_lossy(&r.uri));
            n += 1;
            if a.ids.iter().any(|id| (910000..949000).contains(id)) {
                matched_any += 1;
            }
            // Response rules past the negated `!@pmFromFile` guards (951100 and the like, which
            // the prefilter decides when none of their phrases occurs), not paranoia gates.
            if a.ids.iter().any(|id| (951110..956000).contains(id) && id % 1000 >= 110) {
                response_rules += 1;
            }
        }
    }
    println!(
        "prefilter equivalence: {n} requests, {matched_any} with attack rules matched, {response_rules} with response rules matched, identical decisions, messages and scores"
    );
    assert!(n > 3000, "too few requests read ({n})");
    assert!(matched_any > 2000, "the corpus should trigger attack rules ({matched_any})");
    assert!(response_rules > 20, "the corpus should trigger response rules ({response_rules})");
}

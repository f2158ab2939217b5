//! Tests of the CRS regression runner itself (the runner's modules' unit tests, plus the whole
//! runner against a fake gateway): `cargo test --test crs_regression_selftest`.

#![allow(dead_code)]

mod benign;
mod checks;
mod client;
mod crs_rules;
mod fake_gateway;
mod gateway;
mod logs;
mod model;
mod overrides;
mod paths;
mod report;
mod request;
mod runner;
mod suite;
mod template;
mod unit;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use rampart::backend::{Backend, BackendOptions};

use fake_gateway::{FakeGateway, FakeGatewayOptions, FakeRule};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crs-selftest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

const TESTS: &str = r#"
meta:
  author: selftest
rule_id: 100001
tests:
  - test_id: 1
    desc: triggers the fake rule
    stages:
      - input:
          headers: {Host: localhost, User-Agent: selftest}
          uri: "/?q=attack-one"
        output:
          log:
            expect_ids: [100001]
  - test_id: 2
    desc: expects the rule on a clean request (fails)
    stages:
      - input:
          headers: {Host: localhost}
          uri: "/clean"
        output:
          log:
            expect_ids: [100001]
  - test_id: 3
    desc: clean request, rule must not be logged (the previous test's lines do not leak)
    stages:
      - input:
          headers: {Host: localhost}
          uri: "/clean"
        output:
          log:
            no_expect_ids: [100001]
  - test_id: 4
    desc: rule logged although forbidden (fails)
    stages:
      - input:
          headers: {Host: localhost}
          method: POST
          data: "x=attack-one"
        output:
          log:
            no_expect_ids: [100001]
  - test_id: 5
    desc: blocked by the gateway
    stages:
      - input:
          headers: {Host: localhost}
          uri: "/?BLOCKME=attack-two"
        output:
          status: 403
          log:
            expect_ids: [100002]
  - test_id: 6
    desc: the gateway drops the connection, an error is expected
    stages:
      - input:
          headers: {Host: localhost}
          uri: "/DROPME"
        output:
          expect_error: true
  - test_id: 7
    desc: an error is expected but a response comes (fails)
    stages:
      - input:
          headers: {Host: localhost}
        output:
          expect_error: true
  - test_id: 8
    desc: albedo reflection through the gateway
    stages:
      - input:
          headers: {Host: localhost, Content-Type: application/json}
          method: POST
          uri: /reflect
          data: '{"status": 201, "headers": {"X-Reflected": "yes"}, "body": "leak: attack-two"}'
        output:
          status: [200, 201]
          response_contains: "X-Reflected: yes"
  - test_id: 9
    desc: two stages, the second fails
    stages:
      - input:
          headers: {Host: localhost}
          uri: "/?a=attack-one"
        output:
          log:
            expect_ids: [100001]
      - input:
          headers: {Host: localhost}
          uri: "/second"
        output:
          status: 404
  - test_id: 10
    desc: match_regex and no_match_regex on the log
    stages:
      - input:
          headers: {Host: localhost}
          uri: "/?attack-two"
        output:
          log:
            match_regex: 'Matched fake rule \[id "100002"\]'
            no_match_regex: 'id "100001"'
  - test_id: 11
    desc: form data is escaped like go-ftw does, and reaches the backend
    stages:
      - input:
          headers: {Host: localhost}
          method: POST
          uri: /form
          data: "var=1234 OR 1=1&q=x y"
        output:
          status: 200
  - test_id: 12
    desc: fails as written, passes with Rampart's override
    stages:
      - input:
          headers: {Host: localhost}
          uri: "/clean"
        output:
          log:
            expect_ids: [100001]
"#;

const OVERRIDES: &str = r#"
version: "v0.1.0"
meta: {engine: rampart, platform: selftest}
test_overrides:
  - rule_id: 100001
    test_ids: [12]
    reason: "selftest: the fake gateway has no such rule"
    output:
      log:
        no_expect_ids: [100001]
"#;

#[test]
fn runner_against_a_fake_gateway() {
    let dir = temp_dir("e2e");
    let tests_dir = dir.join("tests").join("REQUEST-100-SELFTEST");
    std::fs::create_dir_all(&tests_dir).expect("dir");
    std::fs::write(tests_dir.join("100001.yaml"), TESTS).expect("write");
    std::fs::write(tests_dir.join("broken.yaml"), "tests: [").expect("write");

    let backend = Backend::start(
        "127.0.0.1:0",
        BackendOptions {
            record: true,
            ..BackendOptions::default()
        },
    )
    .expect("backend");
    let error_log = dir.join("error.log");
    let gw = FakeGateway::start(
        "127.0.0.1:0",
        FakeGatewayOptions {
            upstream: backend.addr(),
            error_log: error_log.clone(),
            rules: vec![
                FakeRule {
                    needle: b"attack-one".to_vec(),
                    id: 100001,
                },
                FakeRule {
                    needle: b"attack-two".to_vec(),
                    id: 100002,
                },
            ],
            drop_needle: Some(b"DROPME".to_vec()),
            block_needle: Some(b"BLOCKME".to_vec()),
        },
    )
    .expect("fake gateway");

    let (tests, load_errors) = model::load_tests(&dir.join("tests")).expect("load");
    assert_eq!(tests.len(), 12);
    assert_eq!(load_errors.len(), 1);
    let overrides = overrides::parse_overrides(OVERRIDES).expect("overrides");
    let mut target = runner::Target::new(gw.addr(), error_log.clone());
    target.timeouts.read = Duration::from_secs(2);
    runner::preflight(&target).expect("preflight");

    let mut seen = Vec::new();
    let summary = suite::run_suite(
        &target,
        &tests,
        &load_errors,
        &suite::SuiteOptions {
            filter: None,
            overrides: &overrides,
        },
        || Ok(()),
        |r, _, _| seen.push(r.id.clone()),
    );
    let results: BTreeMap<String, report::TestResult> = summary
        .results
        .iter()
        .map(|r| (r.id.clone(), r.clone()))
        .collect();
    let reasons = |id: &str| {
        results
            .get(id)
            .map(|r| r.reasons.join("; "))
            .unwrap_or_else(|| format!("{id} missing"))
    };
    for id in [
        "100001-1",
        "100001-3",
        "100001-5",
        "100001-6",
        "100001-8",
        "100001-10",
        "100001-11",
        "100001-12",
    ] {
        assert!(reasons(id).is_empty(), "{id} should pass: {}", reasons(id));
    }
    assert_eq!(
        reasons("100001-2"),
        "expected ids [100001] not in log (logged: [])"
    );
    assert_eq!(reasons("100001-4"), "unexpected ids [100001] in log");
    assert_eq!(reasons("100001-7"), "expected an error, got status 200");
    assert_eq!(reasons("100001-9"), "stage 2: status 200 not in [404]");
    assert!(results
        .keys()
        .any(|k| k.starts_with("file:") && k.ends_with("broken.yaml")));
    assert_eq!(summary.passed(), 8);
    assert_eq!(summary.failed(), 5);
    assert_eq!(summary.overridden(), 1);
    assert_eq!(seen.len(), 13);
    assert_eq!(summary.closing_line(), "8 passed, 5 failed");

    // What the backend received: marker requests exactly as go-ftw sends them, and the form
    // body escaped by the autocompletion.
    let received = backend.received();
    let marker = received
        .iter()
        .find(|r| r.header("X-CRS-Test").is_some())
        .expect("a marker request");
    assert_eq!(marker.method, "GET");
    assert_eq!(marker.target, "/status/200");
    let names: Vec<&str> = marker.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Accept", "User-Agent", "Host", "X-CRS-Test", "Connection"]
    );
    assert_eq!(
        marker.header_str("User-Agent").as_deref(),
        Some("go-ftw test agent")
    );
    let form = received
        .iter()
        .find(|r| r.path == "/form")
        .expect("form request");
    assert_eq!(form.body, b"var=1234+OR+1%3D1&q=x+y");
    assert_eq!(
        form.header_str("Content-Type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    // Every stage wrote a start and an end marker.
    let log = std::fs::read_to_string(&error_log).expect("log");
    assert!(log.matches("-s\"]").count() >= 13, "{log}");
    assert!(log.matches("-e\"]").count() >= 13);

    // The filter selects by id, the rest counts as skipped.
    let filter = regex::Regex::new(r"^100001-(1|3)$").expect("regex");
    let summary = suite::run_suite(
        &target,
        &tests,
        &[],
        &suite::SuiteOptions {
            filter: Some(&filter),
            overrides: &overrides,
        },
        || Ok(()),
        |_, _, _| {},
    );
    assert_eq!(summary.closing_line(), "2 passed, 0 failed");
    assert_eq!(summary.skipped, 10);

    // A dead gateway stops the run: the health check aborts, the remaining tests fail.
    let mut calls = 0;
    let summary = suite::run_suite(
        &target,
        &tests,
        &[],
        &suite::SuiteOptions {
            filter: None,
            overrides: &[],
        },
        || {
            calls += 1;
            if calls >= 2 {
                Err("the gateway exited (signal 9)".to_string())
            } else {
                Ok(())
            }
        },
        |_, _, _| {},
    );
    assert_eq!(
        summary.aborted.as_deref(),
        Some("the gateway exited (signal 9)")
    );
    assert_eq!(summary.results.len(), 12);
    assert!(summary.results[5].reasons[0].starts_with("not run: "));
    drop(gw);
    backend.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_marker_rule_is_reported() {
    let dir = temp_dir("nomarker");
    let backend = Backend::start("127.0.0.1:0", BackendOptions::default()).expect("backend");
    // The gateway logs to another file: markers never show up where the runner looks.
    let gw = FakeGateway::start(
        "127.0.0.1:0",
        FakeGatewayOptions {
            upstream: backend.addr(),
            error_log: dir.join("other.log"),
            rules: Vec::new(),
            drop_needle: None,
            block_needle: None,
        },
    )
    .expect("fake gateway");
    let mut target = runner::Target::new(gw.addr(), dir.join("error.log"));
    target.marker_retries = 3;
    let err = runner::preflight(&target).expect_err("no marker");
    assert!(err.contains("marker not found"), "{err}");
    let tests = model::parse_test_file(
        "rule_id: 1\ntests:\n  - stages:\n      - input: {}\n        output: {status: 200}\n",
        std::path::Path::new("1.yaml"),
    )
    .expect("parse");
    let outcome = runner::run_test(&target, &tests[0]);
    assert_eq!(outcome.reasons.len(), 1);
    assert!(
        outcome.reasons[0].starts_with("start marker: marker not found"),
        "{:?}",
        outcome.reasons
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! Unit tests of `overrides.rs`.

use crate::model::parse_test_file;
use crate::overrides::*;
use crate::paths::Paths;
use std::path::Path;

const TESTS: &str = r#"
rule_id: 920100
tests:
  - test_id: 4
    stages:
      - input: {}
        output:
          log:
            expect_ids: [920100]
      - input: {}
        output:
          status: 200
  - test_id: 5
    stages:
      - input: {}
        output:
          log:
            expect_ids: [920100]
"#;

#[test]
fn replaces_output_of_selected_tests_and_stages() {
    let overrides = parse_overrides(
        r#"
version: "v0.0.0"
meta:
  engine: rampart
  platform: rampart
  annotations:
    - os: any
test_overrides:
  - rule_id: 920100
    test_ids: [4]
    stage_ids: [1]
    reason: "second stage answers 400 here"
    output:
      status: 400
  - rule_id: 999
    reason: other rule
    output:
      status: 1
"#,
    )
    .expect("parse");
    require_reasons(&overrides).expect("reasons");
    let mut tests = parse_test_file(TESTS, Path::new("920100.yaml")).expect("tests");
    let reasons = apply(&overrides, &mut tests[0]);
    assert_eq!(reasons, vec!["second stage answers 400 here"]);
    assert_eq!(tests[0].stages[0].output.log.expect_ids(), vec![920100]);
    assert_eq!(tests[0].stages[1].output.statuses(), vec![400]);
    // The output is replaced, not merged.
    assert!(tests[0].stages[1].output.log.expect_ids.is_none());
    assert!(apply(&overrides, &mut tests[1]).is_empty());
    assert_eq!(tests[1].stages[0].output.log.expect_ids(), vec![920100]);
}

#[test]
fn without_test_ids_applies_to_all_tests_and_stages() {
    let overrides = parse_overrides(
        "test_overrides:\n  - rule_id: 920100\n    reason: all\n    retry_once: true\n    output:\n      log:\n        no_expect_ids: [920100]\n",
    )
    .expect("parse");
    let mut tests = parse_test_file(TESTS, Path::new("920100.yaml")).expect("tests");
    for t in &mut tests {
        assert_eq!(apply(&overrides, t), vec!["all"]);
        for s in &t.stages {
            assert_eq!(s.output.log.no_expect_ids(), vec![920100]);
            assert_eq!(s.output.retry_once, Some(true));
        }
    }
}

#[test]
fn reasons_are_required() {
    let overrides =
        parse_overrides("test_overrides:\n  - rule_id: 1\n    test_ids: [2]\n    output: {}\n")
            .expect("parse");
    let err = require_reasons(&overrides).expect_err("missing reason");
    assert!(err.contains("1 [2]"), "{err}");
    assert!(parse_overrides("test_overrides: [{}]").is_err());
    assert!(parse_overrides("").expect("empty").is_empty());
}

#[test]
fn rampart_overrides_file_is_valid() {
    let path = Paths::discover().overrides_file;
    let text = std::fs::read_to_string(&path).expect("read");
    let entries = parse_overrides(&text).expect("parse");
    require_reasons(&entries).expect("every entry has a reason");
    assert!(text.contains("test_overrides:"));
}

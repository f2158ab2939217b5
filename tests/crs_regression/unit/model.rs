//! Unit tests of `model.rs`.

use crate::model::*;
use std::path::{Path, PathBuf};

fn suite_dir() -> PathBuf {
    crate::paths::Paths::discover().tests_dir
}

#[test]
fn every_suite_file_parses() {
    let dir = suite_dir();
    if !dir.is_dir() {
        panic!("CRS test directory {} is missing", dir.display());
    }
    let files = find_test_files(&dir).expect("list files");
    assert!(
        files.len() >= 270,
        "only {} files under {}",
        files.len(),
        dir.display()
    );
    let (tests, errors) = load_tests(&dir).expect("load");
    assert!(errors.is_empty(), "files failing to parse: {errors:?}");
    let stages: usize = tests.iter().map(|t| t.stages.len()).sum();
    eprintln!(
        "suite: {} test files, {} tests, {} stages",
        files.len(),
        tests.len(),
        stages
    );
    assert!(tests.len() > 4000, "only {} tests", tests.len());
    // Ids are unique.
    let mut ids: Vec<String> = tests.iter().map(LoadedTest::id).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "duplicate test ids");
    // No test in the suite uses a field this runner does not implement.
    for t in &tests {
        for s in &t.stages {
            assert!(s.input.unsupported_fields().is_empty(), "{}", t.id());
        }
    }
    // The overrides files shipped with the suite parse too.
    let overrides_dir = dir.parent().expect("parent").to_path_buf();
    let mut override_files = 0;
    for entry in std::fs::read_dir(&overrides_dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("read");
            crate::overrides::parse_overrides(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            override_files += 1;
        }
    }
    eprintln!("suite: {override_files} overrides files parse");
    assert_eq!(files.len() + override_files, 277);
}

#[test]
fn ids_defaults_and_legacy_forms() {
    let yaml = r#"
meta:
  author: someone
tests:
  - desc: first
    stages:
      - input:
          headers:
            Port: 80
            X-Bool: true
          stop_magic: true
        output:
          status: [200, 403]
          log_contains: 'id "942100"'
  - test_id: 7
    stages:
      - stage:
          input:
            method: POST
            autocomplete_headers: true
            stop_magic: true
          output:
            expect_ids: [1, 2]
            status: 404
  - stages:
      - input: {}
        output:
          log:
            expect_ids: [5]
          log_contains: ignored
"#;
    let tests = parse_test_file(yaml, Path::new("/x/REQUEST-942-SQLI/942100.yaml")).expect("parse");
    assert_eq!(tests.len(), 3);
    assert_eq!(tests[0].id(), "942100-1");
    assert_eq!(tests[1].id(), "942100-7");
    assert_eq!(tests[2].id(), "942100-3");
    let s0 = &tests[0].stages[0];
    assert!(!s0.input.autocomplete());
    assert_eq!(s0.input.method(), "GET");
    assert_eq!(s0.input.uri(), "/");
    assert_eq!(s0.input.version(), "HTTP/1.1");
    let headers = s0.input.headers.as_ref().expect("headers");
    assert_eq!(headers.get("Port").map(String::as_str), Some("80"));
    assert_eq!(headers.get("X-Bool").map(String::as_str), Some("true"));
    assert_eq!(s0.output.statuses(), vec![200, 403]);
    assert_eq!(s0.output.log.match_regex(), Some("id \"942100\""));
    let s1 = &tests[1].stages[0];
    assert!(s1.input.autocomplete());
    assert_eq!(s1.input.method(), "POST");
    assert_eq!(s1.output.log.expect_ids(), vec![1, 2]);
    assert_eq!(s1.output.statuses(), vec![404]);
    // log_contains does not override explicit expect_ids.
    let s2 = &tests[2].stages[0];
    assert_eq!(s2.output.log.match_regex(), None);
    assert_eq!(s2.output.log.expect_ids(), vec![5]);
}

#[test]
fn commented_out_file_and_missing_rule_id() {
    let tests = parse_test_file("# only a comment\n", Path::new("920539.yaml")).expect("parse");
    assert!(tests.is_empty());
    assert!(parse_test_file("tests: []\n", Path::new("none.yaml")).is_err());
    assert!(parse_test_file("tests: [", Path::new("1.yaml")).is_err());
}

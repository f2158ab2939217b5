//! Unit tests of `report.rs`.

use crate::paths::Paths;
use crate::report::*;

fn result(id: &str, reasons: &[&str], overrides: &[&str]) -> TestResult {
    TestResult {
        id: id.to_string(),
        reasons: reasons.iter().map(|s| s.to_string()).collect(),
        overrides: overrides.iter().map(|s| s.to_string()).collect(),
        file: String::new(),
    }
}

#[test]
fn lines_and_json() {
    let summary = Summary {
        results: vec![
            result("920100-1", &[], &[]),
            result(
                "920100-4",
                &[
                    "expected ids [920100] not in log (logged: [])",
                    "status 400 not in [200]",
                ],
                &["nginx answers 400"],
            ),
        ],
        skipped: 3,
        aborted: None,
    };
    assert_eq!(summary.closing_line(), "1 passed, 1 failed");
    assert_eq!(summary.overridden(), 1);
    assert_eq!(
        summary.results[1].failure_line(),
        "FAIL 920100-4: expected ids [920100] not in log (logged: []); status 400 not in [200]"
    );
    let json = summary.to_json(&[("floor", 0.into())]);
    assert_eq!(json["summary"]["passed"], 1);
    assert_eq!(json["summary"]["skipped"], 3);
    assert_eq!(json["summary"]["floor"], 0);
    assert_eq!(json["tests"]["920100-1"]["result"], "pass");
    assert_eq!(json["tests"]["920100-4"]["result"], "fail");
    assert_eq!(json["tests"]["920100-4"]["override"], "nginx answers 400");
}

#[test]
fn floor_file() {
    assert_eq!(parse_floor("# comment\n\n42\n"), Ok(42));
    assert!(parse_floor("# only comments\n").is_err());
    assert!(parse_floor("1\n2\n").is_err());
    assert!(parse_floor("x\n").is_err());
    let text = std::fs::read_to_string(Paths::discover().floor_file).expect("floor.txt");
    assert!(parse_floor(&text).is_ok());
}

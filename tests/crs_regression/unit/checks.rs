//! Unit tests of `checks.rs`.

use crate::checks::*;
use crate::client::HttpResponse;
use crate::model::Output;

fn output(yaml: &str) -> Output {
    let mut o: Output = serde_yaml::from_str(yaml).expect("yaml");
    o.normalize();
    o
}

fn response(status: u16, raw: &str) -> Result<HttpResponse, String> {
    Ok(HttpResponse {
        status,
        raw: raw.as_bytes().to_vec(),
        headers: Vec::new(),
        body: Vec::new(),
    })
}

fn log(lines: &[&str]) -> Result<Vec<Vec<u8>>, String> {
    Ok(lines.iter().map(|l| l.as_bytes().to_vec()).collect())
}

fn eval(
    out: &str,
    resp: Result<HttpResponse, String>,
    lines: Result<Vec<Vec<u8>>, String>,
) -> Vec<String> {
    evaluate(
        &output(out),
        &StageObservation {
            response: resp,
            log: lines,
        },
    )
}

#[test]
fn expect_ids_and_no_expect_ids() {
    let lines = log(&["[id \"920100\"] x", "[id \"949110\"]"]);
    assert!(eval(
        "log: {expect_ids: [920100]}",
        response(200, ""),
        lines.clone()
    )
    .is_empty());
    let r = eval(
        "log: {expect_ids: [920100, 920101]}",
        response(200, ""),
        lines.clone(),
    );
    assert_eq!(
        r,
        vec!["expected ids [920101] not in log (logged: [920100, 949110])"]
    );
    let r = eval(
        "log: {no_expect_ids: [949110, 1]}",
        response(200, ""),
        lines.clone(),
    );
    assert_eq!(r, vec!["unexpected ids [949110] in log"]);
    assert!(eval("log: {no_expect_ids: [1]}", response(200, ""), lines).is_empty());
}

#[test]
fn status_and_response_contains() {
    let r = eval(
        "status: 200\nlog: {expect_ids: [920100]}",
        response(400, "HTTP/1.1 400 Bad"),
        log(&[]),
    );
    assert_eq!(
        r,
        vec![
            "status 400 not in [200]".to_string(),
            "expected ids [920100] not in log (logged: [])".to_string()
        ]
    );
    assert!(eval("status: [200, 403]", response(403, ""), log(&[])).is_empty());
    assert!(eval(
        "response_contains: 'HTTP/1.1 2\\d\\d'",
        response(200, "HTTP/1.1 200 OK\r\n"),
        log(&[])
    )
    .is_empty());
    assert_eq!(
        eval("response_contains: 'xyz'", response(200, "abc"), log(&[])).len(),
        1
    );
    assert_eq!(
        eval("response_contains: '('", response(200, "abc"), log(&[])).len(),
        1
    );
}

#[test]
fn regexes_on_log_lines() {
    let lines = log(&[
        "Multipart parsing error: Multipart: Invalid part header (contains invalid character)",
    ]);
    let pattern = "match_regex: 'Multipart parsing error: Multipart: Invalid part header \\(contains invalid character\\)|\\[id \"922130\"\\]'";
    assert!(eval(
        &format!("log:\n  {pattern}"),
        response(200, ""),
        lines.clone()
    )
    .is_empty());
    let nopattern = "no_match_regex: 'Invalid part header'";
    assert_eq!(
        eval(
            &format!("log:\n  {nopattern}"),
            response(200, ""),
            lines.clone()
        )
        .len(),
        1
    );
    // Deprecated log_contains becomes match_regex.
    assert!(eval(
        "log_contains: 'Invalid part'",
        response(200, ""),
        lines.clone()
    )
    .is_empty());
    assert_eq!(
        eval("no_log_contains: 'Invalid part'", response(200, ""), lines).len(),
        1
    );
}

#[test]
fn expect_error_semantics() {
    // Error expected and got one: pass, log expectations are not checked.
    assert!(eval(
        "expect_error: true\nlog: {expect_ids: [920430]}",
        Err("EOF".into()),
        Err("no marker".into())
    )
    .is_empty());
    assert_eq!(
        eval("expect_error: true", response(400, ""), log(&[])),
        vec!["expected an error, got status 400"]
    );
    assert_eq!(
        eval("status: 200", Err("EOF".into()), log(&[])),
        vec!["request failed: EOF"]
    );
}

#[test]
fn missing_markers_fail() {
    let r = eval(
        "status: 200",
        response(200, ""),
        Err("end marker not found".into()),
    );
    assert_eq!(r, vec!["end marker not found"]);
}

#[test]
fn isolated_replaces_contains_checks() {
    let lines = log(&["[id \"934170\"]"]);
    assert!(eval(
        "isolated: true\nlog: {expect_ids: [934170]}",
        response(200, ""),
        lines
    )
    .is_empty());
    let lines = log(&["[id \"934170\"]", "[id \"1\"]"]);
    assert_eq!(
        eval(
            "isolated: true\nlog: {expect_ids: [934170]}",
            response(200, ""),
            lines
        )
        .len(),
        1
    );
}

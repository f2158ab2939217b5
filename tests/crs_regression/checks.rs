//! Evaluates a stage's expectations as go-ftw does (coreruleset/go-ftw `runner/run.go`
//! `checkResult`, `runner/check_*.go`):
//!
//! 1. `expect_error: true`: the stage passes exactly when the request failed (no valid
//!    response), and nothing else is checked; without it, a failed request fails the stage;
//! 2. `status`: the response status must be the expected one (any of a list);
//! 3. `response_contains`: a regular expression that must match the raw response;
//! 4. `log`: `match_regex` must match a log line, all `expect_ids` must be logged (and with
//!    `isolated`, exactly one rule id must be logged, which decides that part on its own as in
//!    go-ftw), `no_match_regex` must match no line, no `no_expect_ids` may be logged.
//!
//! go-ftw stops at the first failing check; this module reports every failing check, which
//! gives the same pass/fail verdict with a fuller reason.

use std::collections::BTreeSet;

use super::client::HttpResponse;
use super::logs;
use super::model::Output;

/// What one stage produced.
#[derive(Debug, Clone)]
pub struct StageObservation {
    /// The response, or why there is none.
    pub response: Result<HttpResponse, String>,
    /// The stage's log lines, or why they could not be delimited.
    pub log: Result<Vec<Vec<u8>>, String>,
}

fn format_ids<'a>(ids: impl IntoIterator<Item = &'a u64>) -> String {
    let list: Vec<String> = ids.into_iter().map(u64::to_string).collect();
    format!("[{}]", list.join(", "))
}

fn regex(pattern: &str, what: &str) -> Result<regex::bytes::Regex, String> {
    regex::bytes::Regex::new(pattern).map_err(|e| format!("invalid {what} regex {pattern:?}: {e}"))
}

/// The reasons the stage fails (empty: it passes).
pub fn evaluate(expected: &Output, observed: &StageObservation) -> Vec<String> {
    let mut reasons = Vec::new();
    if expected.expects_error() {
        if let Ok(resp) = &observed.response {
            reasons.push(format!("expected an error, got status {}", resp.status));
        }
        return reasons;
    }
    let response = match &observed.response {
        Ok(r) => r,
        Err(e) => {
            reasons.push(format!("request failed: {e}"));
            return reasons;
        }
    };

    let statuses = expected.statuses();
    if !statuses.is_empty() && !statuses.contains(&i64::from(response.status)) {
        let list: Vec<String> = statuses.iter().map(i64::to_string).collect();
        reasons.push(format!(
            "status {} not in [{}]",
            response.status,
            list.join(", ")
        ));
    }

    if let Some(pattern) = expected
        .response_contains
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        match regex(pattern, "response_contains") {
            Ok(re) => {
                if !re.is_match(&response.raw) {
                    reasons.push(format!("response does not match {pattern:?}"));
                }
            }
            Err(e) => reasons.push(e),
        }
    }

    reasons.extend(check_log(expected, &observed.log));
    reasons
}

fn check_log(expected: &Output, log: &Result<Vec<Vec<u8>>, String>) -> Vec<String> {
    let mut reasons = Vec::new();
    let lines = match log {
        Ok(lines) => lines,
        Err(e) => {
            reasons.push(e.clone());
            return reasons;
        }
    };
    let exp = &expected.log;
    let triggered: BTreeSet<u64> = logs::rule_ids(lines);

    // assertLogContains
    let mut contains_reasons = Vec::new();
    if let Some(pattern) = exp.match_regex() {
        match regex(pattern, "match_regex") {
            Ok(re) => {
                if !lines.iter().any(|l| re.is_match(l)) {
                    contains_reasons.push(format!("log does not match {pattern:?}"));
                }
            }
            Err(e) => contains_reasons.push(e),
        }
    }
    if contains_reasons.is_empty() {
        let missing: Vec<u64> = exp
            .expect_ids()
            .into_iter()
            .filter(|id| !triggered.contains(id))
            .collect();
        if !missing.is_empty() {
            contains_reasons.push(format!(
                "expected ids {} not in log (logged: {})",
                format_ids(&missing),
                format_ids(&triggered)
            ));
        }
    }
    if expected.isolated == Some(true) {
        // go-ftw: the isolation result replaces the result of the checks above.
        contains_reasons.clear();
        if triggered.len() != 1 {
            contains_reasons.push(format!(
                "isolated test expected exactly one rule in log, got {}",
                format_ids(&triggered)
            ));
        }
    }
    reasons.extend(contains_reasons);

    // assertNoLogContains
    if let Some(pattern) = exp.no_match_regex() {
        match regex(pattern, "no_match_regex") {
            Ok(re) => {
                if lines.iter().any(|l| re.is_match(l)) {
                    reasons.push(format!("log unexpectedly matches {pattern:?}"));
                    return reasons;
                }
            }
            Err(e) => {
                reasons.push(e);
                return reasons;
            }
        }
    }
    let unexpected: Vec<u64> = exp
        .no_expect_ids()
        .into_iter()
        .filter(|id| triggered.contains(id))
        .collect();
    if !unexpected.is_empty() {
        reasons.push(format!("unexpected ids {} in log", format_ids(&unexpected)));
    }
    reasons
}

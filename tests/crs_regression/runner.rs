//! Runs tests against a gateway with go-ftw's log-marker method (coreruleset/go-ftw
//! `runner/run.go`): for each stage, a marker request carrying `X-CRS-Test: <uuid>-s` is sent
//! (and resent, up to 20 times, until its line shows up in the error log), then the test
//! request, then a marker `<uuid>-e`; the lines between the two marker lines are the stage's
//! log. Every request uses its own connection. Destination address and port of the tests are
//! replaced by the gateway's (go-ftw's `testoverride.input.dest_addr/port`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::checks::{self, StageObservation};
use super::client::{self, Timeouts};
use super::logs;
use super::model::{LoadedStage, LoadedTest};
use super::request;

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct Target {
    /// The gateway.
    pub addr: SocketAddr,
    /// The gateway's error log.
    pub error_log: PathBuf,
    /// Request timeouts.
    pub timeouts: Timeouts,
    /// Marker header name (go-ftw's `logmarkerheadername`).
    pub marker_header: String,
    /// go-ftw's `MaxMarkerRetries`.
    pub marker_retries: usize,
    /// go-ftw's `MaxMarkerLogLines`.
    pub marker_lines: usize,
}

impl Target {
    /// go-ftw's defaults for a gateway at `addr` logging to `error_log`.
    pub fn new(addr: SocketAddr, error_log: PathBuf) -> Target {
        Target {
            addr,
            error_log,
            timeouts: Timeouts::default(),
            marker_header: "X-CRS-Test".to_string(),
            marker_retries: 20,
            marker_lines: 500,
        }
    }
}

/// The result of one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// `<rule>-<test>`.
    pub id: String,
    /// Why it failed (empty: passed).
    pub reasons: Vec<String>,
}

/// Runs all stages of `test`; the test passes when every stage passes.
pub fn run_test(target: &Target, test: &LoadedTest) -> TestOutcome {
    let mut reasons = Vec::new();
    let many = test.stages.len() > 1;
    for (index, stage) in test.stages.iter().enumerate() {
        let mut stage_reasons = run_stage(target, stage);
        if !stage_reasons.is_empty() && stage.output.retry_once == Some(true) {
            stage_reasons = run_stage(target, stage);
        }
        if many {
            for r in &mut stage_reasons {
                *r = format!("stage {}: {r}", index + 1);
            }
        }
        reasons.extend(stage_reasons);
    }
    TestOutcome {
        id: test.id(),
        reasons,
    }
}

/// Runs one stage and returns why it failed (empty: passed).
pub fn run_stage(target: &Target, stage: &LoadedStage) -> Vec<String> {
    let input = &stage.input;
    let expect_error = stage.output.expects_error();
    // go-ftw's checkTestSanity.
    if input.data.is_some()
        && input
            .encoded_request
            .as_deref()
            .is_some_and(|e| !e.is_empty())
    {
        return vec!["'data' and 'encoded_request' must not be set simultaneously".to_string()];
    }
    if stage.output.isolated == Some(true) && stage.output.log.expect_ids().len() != 1 {
        return vec!["'isolated' is only valid if 'expect_ids' has exactly one entry".to_string()];
    }
    let unsupported = input.unsupported_fields();
    if !unsupported.is_empty() {
        return vec![format!(
            "unsupported input field(s): {}",
            unsupported.join(", ")
        )];
    }
    let request_bytes = match request::stage_request(input) {
        Ok(b) => b,
        Err(e) => return vec![format!("cannot build the request: {e}")],
    };

    let stage_id = uuid::Uuid::new_v4().to_string();
    let host = request::marker_host(input);
    let start = mark_and_flush(target, &host, &format!("{stage_id}-s"));
    if let Err(e) = &start {
        if !expect_error {
            return vec![format!("start marker: {e}")];
        }
    }
    let response = client::exchange(target.addr, &request_bytes, target.timeouts);
    let end = mark_and_flush(target, &host, &format!("{stage_id}-e"));
    let log = match (start, end) {
        (Ok(s), Ok(e)) => logs::window(&target.error_log, &s, &e)
            .map_err(|err| format!("cannot read {}: {err}", target.error_log.display())),
        (Err(e), _) => Err(format!("start marker: {e}")),
        (_, Err(e)) => Err(format!("end marker: {e}")),
    };
    checks::evaluate(&stage.output, &StageObservation { response, log })
}

/// go-ftw's `markAndFlush`: sends marker requests until the marker line is the last line of
/// the log that mentions the marker header; returns that line, lower-cased.
pub fn mark_and_flush(target: &Target, host: &str, marker_id: &str) -> Result<Vec<u8>, String> {
    let req = request::marker_request(&target.marker_header, marker_id, host);
    for attempt in 0..target.marker_retries.max(1) {
        client::exchange(target.addr, &req, target.timeouts)
            .map_err(|e| format!("marker request failed: {e}"))?;
        match logs::find_marker(
            &target.error_log,
            &target.marker_header,
            marker_id,
            target.marker_lines,
        ) {
            Ok(Some(line)) => return Ok(line),
            Ok(None) => {}
            Err(e) => return Err(format!("cannot read {}: {e}", target.error_log.display())),
        }
        // go-ftw retries immediately; a short pause gives an asynchronous log writer time.
        std::thread::sleep(
            Duration::from_millis(5 * (attempt as u64 + 1)).min(Duration::from_millis(50)),
        );
    }
    Err(format!(
        "marker not found in {} (is rule 999999 loaded and logging?)",
        target.error_log.display()
    ))
}

/// Checks that the gateway answers and logs markers before a long run starts.
pub fn preflight(target: &Target) -> Result<(), String> {
    let id = format!("{}-preflight", uuid::Uuid::new_v4());
    mark_and_flush(target, "localhost", &id).map(|_| ())
}

//! Blocking-mode check: stock OWASP CRS at paranoia level 1, in blocking mode, in front of the
//! albedo-compatible backend, through the real gateway. Passing the DetectionOnly regression
//! suite shows which rules match; this check shows what the WAF decides with the configuration
//! a user runs:
//!
//! * ordinary traffic (browser page and asset GETs with typical headers and cookies, search
//!   forms, URL-encoded form POSTs, JSON and XML API calls, multipart uploads with text and
//!   binary files, HEAD, OPTIONS; see `benign.rs`) must reach the backend and get its `200`;
//! * the attacks of the suite's SQLi (942), XSS (941), RCE (932) and LFI (930) files must be
//!   blocked with `403`. A test is an attack here when its `expect_ids` name a rule of that
//!   file which, read from the CRS rule file itself, is tagged `paranoia-level/1`, has
//!   severity `CRITICAL` and adds `tx.critical_anomaly_score` to the level-1 inbound score:
//!   one such match reaches CRS's default inbound threshold (5), so rule 949110 must deny.
//!   Each is sent exactly as the regression runner builds it (go-ftw's request construction).
//!
//! `cargo test --test crs_blocking` writes `main.conf` (conf/modsecurity.conf,
//! crs/crs-setup.conf, `crs-blocking-marker.conf`, CRS's plugins and rules), starts
//! `rampart run --listen ... --upstream ... --rules main.conf --error-log ...`, and prints a
//! line per attack that got through and per benign request that was blocked (with the rules
//! that fired, read between log markers as go-ftw does), then
//! `blocking: sqli N/N blocked, xss ..., rce ..., lfi ..., benign N/N passed`. Results per
//! request go to `target/crs-blocking-results.json`. The exit status is non-zero when anything
//! was let through or blocked wrongly, or when the check could not run.
//!
//! Environment: `CRS_BLOCKING_SKIP=1` skips; `CRS_BLOCKING_DUMP=<dir>` also writes every
//! request sent (benign `benign-NN.http`, attacks `<test id>.http`) to `<dir>`, to replay them
//! against another engine; `CRS_DIR`, `CRS_TESTS_DIR`, `CRS_GATEWAY_BIN`,
//! `CRS_GATEWAY_THREADS` (2), `CRS_GATEWAY_START_TIMEOUT` (seconds, 120) and
//! `CRS_READ_TIMEOUT_MS` (5000) as for the regression suite.

#![allow(dead_code)]

mod benign;
mod checks;
mod client;
mod crs_rules;
mod gateway;
mod logs;
mod model;
mod paths;
mod request;
mod runner;
mod template;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rampart::backend::{Backend, BackendOptions};

use client::HttpResponse;
use gateway::{GatewayCommand, GatewayProcess};
use model::LoadedTest;
use paths::{env_number, env_string, file_label, Paths};
use runner::Target;

/// The attack families checked: (short name, CRS file stem of the rules and the tests).
const FAMILIES: [(&str, &str); 4] = [
    ("sqli", "REQUEST-942-APPLICATION-ATTACK-SQLI"),
    ("xss", "REQUEST-941-APPLICATION-ATTACK-XSS"),
    ("rce", "REQUEST-932-APPLICATION-ATTACK-RCE"),
    ("lfi", "REQUEST-930-APPLICATION-ATTACK-LFI"),
];

/// CRS's inbound blocking-evaluation rule.
const BLOCKING_EVALUATION_RULE: u64 = 949110;

fn main() {
    std::process::exit(run());
}

/// What one request produced.
struct Exchange {
    response: Result<HttpResponse, String>,
    /// Rule ids logged for the request, or why the log could not be read.
    rules: Result<BTreeSet<u64>, String>,
}

impl Exchange {
    fn status(&self) -> Option<u16> {
        self.response.as_ref().ok().map(|r| r.status)
    }

    fn status_text(&self) -> String {
        match &self.response {
            Ok(r) => format!("status {}", r.status),
            Err(e) => format!("no response ({e})"),
        }
    }

    fn rules_text(&self) -> String {
        match &self.rules {
            Ok(ids) => format_ids(ids),
            Err(e) => format!("unknown ({e})"),
        }
    }
}

/// Writes the bytes of a request to `CRS_BLOCKING_DUMP/<name>.http` when that is set.
fn dump(name: &str, bytes: &[u8]) {
    if let Some(dir) = env_string("CRS_BLOCKING_DUMP") {
        let dir = PathBuf::from(dir);
        let written = std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(dir.join(format!("{name}.http")), bytes));
        if let Err(e) = written {
            eprintln!("crs_blocking: cannot write to {}: {e}", dir.display());
        }
    }
}

fn format_ids<'a>(ids: impl IntoIterator<Item = &'a u64>) -> String {
    let list: Vec<String> = ids.into_iter().map(u64::to_string).collect();
    format!("[{}]", list.join(", "))
}

/// Sends `bytes` between two log markers; `during` runs right after the response arrives.
fn send_marked(target: &Target, bytes: &[u8], during: impl FnOnce()) -> Exchange {
    let id = uuid::Uuid::new_v4().to_string();
    let start = runner::mark_and_flush(target, "localhost", &format!("{id}-s"));
    let response = client::exchange(target.addr, bytes, target.timeouts);
    during();
    let end = runner::mark_and_flush(target, "localhost", &format!("{id}-e"));
    let rules = match (start, end) {
        (Ok(s), Ok(e)) => logs::window(&target.error_log, &s, &e)
            .map(|lines| logs::rule_ids(&lines))
            .map_err(|err| format!("cannot read {}: {err}", target.error_log.display())),
        (Err(e), _) => Err(format!("start marker: {e}")),
        (_, Err(e)) => Err(format!("end marker: {e}")),
    };
    Exchange { response, rules }
}

/// The gateway, the backend and where their files are.
struct Environment {
    target: Target,
    // Dropped in this order: gateway first, then the backend.
    gateway: GatewayProcess,
    backend: Backend,
    main_conf: PathBuf,
}

fn start_environment(paths: &Paths, timeouts: client::Timeouts) -> Result<Environment, String> {
    let work_dir = paths.target_dir.join("crs-blocking");
    if work_dir.exists() {
        std::fs::remove_dir_all(&work_dir)
            .map_err(|e| format!("cannot clean {}: {e}", work_dir.display()))?;
    }
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| format!("cannot create {}: {e}", work_dir.display()))?;

    // The configuration a user runs (conf/default.yaml's rule list without the site rules),
    // with the marker rule after the setup.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut includes = vec![
        paths.base_conf.clone(),
        repo.join("crs").join("crs-setup.conf"),
        paths.setup_conf.with_file_name("crs-blocking-marker.conf"),
    ];
    includes.extend(gateway::crs_rule_files(&paths.crs_dir)?);
    gateway::require_files(&includes)?;
    let main_conf = work_dir.join("main.conf");
    std::fs::write(&main_conf, gateway::main_conf_text(&includes))
        .map_err(|e| format!("cannot write {}: {e}", main_conf.display()))?;

    let backend = Backend::start(
        "127.0.0.1:0",
        BackendOptions {
            record: true,
            ..BackendOptions::default()
        },
    )
    .map_err(|e| format!("cannot start the albedo backend: {e}"))?;
    let listen = gateway::free_local_addr().map_err(|e| format!("no free port: {e}"))?;
    let error_log = work_dir.join("error.log");
    let command = GatewayCommand {
        binary: env_string("CRS_GATEWAY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rampart"))),
        listen,
        upstream: backend.addr(),
        rules: main_conf.clone(),
        error_log: error_log.clone(),
        threads: usize::try_from(env_number("CRS_GATEWAY_THREADS", 2)?).unwrap_or(2),
    };
    let startup = Duration::from_secs(env_number("CRS_GATEWAY_START_TIMEOUT", 120)?);
    eprintln!(
        "crs_blocking: starting {} {}",
        command.binary.display(),
        command.args().join(" ")
    );
    let mut gateway = GatewayProcess::spawn(&command, &work_dir)?;
    gateway.wait_ready(listen, startup)?;
    let mut target = Target::new(listen, error_log);
    target.timeouts = timeouts;
    runner::preflight(&target).map_err(|e| {
        format!(
            "the gateway does not log markers: {e}\ngateway stderr:\n{}",
            gateway.stderr_tail(4096)
        )
    })?;
    Ok(Environment {
        target,
        gateway,
        backend,
        main_conf,
    })
}

/// One attack stage to check.
struct Attack {
    family: &'static str,
    test: LoadedTest,
    /// Index of the stage whose expected rules block alone at paranoia level 1.
    stage: usize,
    /// Those rules.
    expected: BTreeSet<u64>,
}

/// The attack tests of every family, or why they cannot be selected.
fn select_attacks(paths: &Paths) -> Result<Vec<Attack>, String> {
    let mut attacks = Vec::new();
    for (family, stem) in FAMILIES {
        let rule_file = paths.crs_dir.join("rules").join(format!("{stem}.conf"));
        let text = std::fs::read_to_string(&rule_file)
            .map_err(|e| format!("cannot read {}: {e}", rule_file.display()))?;
        let blocking_rules = crs_rules::pl1_critical_ids(&text);
        if blocking_rules.is_empty() {
            return Err(format!(
                "{}: no paranoia-level-1 CRITICAL rule found",
                rule_file.display()
            ));
        }
        let dir = paths.tests_dir.join(stem);
        let (tests, errors) = model::load_tests(&dir)
            .map_err(|e| format!("cannot read the tests in {}: {e}", dir.display()))?;
        if let Some(e) = errors.first() {
            return Err(format!("cannot load {}: {}", e.file.display(), e.message));
        }
        let before = attacks.len();
        for test in tests {
            // Every stage before the attack stage is sent too (none of these files has
            // multi-stage attacks today); a test with several attack stages counts once per
            // stage.
            for (index, stage) in test.stages.iter().enumerate() {
                let expected: BTreeSet<u64> = stage
                    .output
                    .log
                    .expect_ids()
                    .into_iter()
                    .filter(|id| blocking_rules.contains(id))
                    .collect();
                if !expected.is_empty() {
                    attacks.push(Attack {
                        family,
                        test: test.clone(),
                        stage: index,
                        expected,
                    });
                }
            }
        }
        if attacks.len() == before {
            return Err(format!("no attack test selected in {}", dir.display()));
        }
    }
    Ok(attacks)
}

/// The verdict on one attack.
struct AttackResult {
    blocked: bool,
    /// Why it counts as let through (empty when blocked).
    problem: Option<String>,
    /// Whether the expected rules were all logged.
    expected_logged: bool,
    exchange: Exchange,
}

fn run_attack(target: &Target, attack: &Attack) -> AttackResult {
    // Earlier stages of a multi-stage test prepare the attack; their outcome is not judged.
    for stage in attack.test.stages.iter().take(attack.stage) {
        if let Ok(bytes) = request::stage_request(&stage.input) {
            let _ = client::exchange(target.addr, &bytes, target.timeouts);
        }
    }
    let Some(stage) = attack.test.stages.get(attack.stage) else {
        return AttackResult {
            blocked: false,
            problem: Some("stage missing".to_string()),
            expected_logged: false,
            exchange: Exchange {
                response: Err("not sent".to_string()),
                rules: Err("not sent".to_string()),
            },
        };
    };
    let bytes = match request::stage_request(&stage.input) {
        Ok(b) => b,
        Err(e) => {
            return AttackResult {
                blocked: false,
                problem: Some(format!("cannot build the request: {e}")),
                expected_logged: false,
                exchange: Exchange {
                    response: Err("not sent".to_string()),
                    rules: Err("not sent".to_string()),
                },
            }
        }
    };
    let name = if attack.test.stages.len() > 1 {
        format!("{}-stage{}", attack.test.id(), attack.stage + 1)
    } else {
        attack.test.id()
    };
    dump(&name, &bytes);
    let exchange = send_marked(target, &bytes, || {});
    let blocked = exchange.status() == Some(403);
    let expected_logged = exchange
        .rules
        .as_ref()
        .is_ok_and(|ids| attack.expected.iter().all(|id| ids.contains(id)));
    let problem = (!blocked).then(|| exchange.status_text());
    AttackResult {
        blocked,
        problem,
        expected_logged,
        exchange,
    }
}

/// Checks one benign request: `200` from the backend, which received it unchanged.
fn run_benign(
    target: &Target,
    backend: &Backend,
    req: &benign::BenignRequest,
    index: usize,
) -> (Option<String>, Exchange) {
    let bytes = req.to_bytes();
    dump(&format!("benign-{:02}", index + 1), &bytes);
    let mut received = Vec::new();
    let exchange = send_marked(target, &bytes, || {
        received = backend.received();
        backend.clear();
    });
    let mut problems = Vec::new();
    if exchange.status() != Some(200) {
        problems.push(exchange.status_text());
    }
    let forwarded = received
        .iter()
        .find(|r| r.method == req.method && r.target == req.target);
    match forwarded {
        None => problems.push("the backend did not receive it".to_string()),
        Some(r) if r.body != req.body => problems.push(format!(
            "the backend received a different body ({} bytes instead of {})",
            r.body.len(),
            req.body.len()
        )),
        Some(_) => {}
    }
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    (problem, exchange)
}

fn run() -> i32 {
    if std::env::args().skip(1).any(|a| a == "--list") {
        return 0;
    }
    if env_string("CRS_BLOCKING_SKIP").is_some_and(|v| v != "0") {
        println!("crs_blocking: skipped because CRS_BLOCKING_SKIP is set");
        return 0;
    }
    let paths = Paths::discover();
    let attacks = match select_attacks(&paths) {
        Ok(a) => a,
        Err(e) => {
            println!("crs_blocking: not run: {e} (set CRS_DIR / CRS_TESTS_DIR)");
            return 2;
        }
    };
    let timeouts = match env_number("CRS_READ_TIMEOUT_MS", 5000) {
        Ok(ms) => client::Timeouts {
            read: Duration::from_millis(ms),
            ..client::Timeouts::default()
        },
        Err(e) => {
            println!("crs_blocking: not run: {e}");
            return 2;
        }
    };
    let mut env = match start_environment(&paths, timeouts) {
        Ok(env) => env,
        Err(e) => {
            println!("crs_blocking: not run: the gateway could not start: {e}");
            return 2;
        }
    };
    eprintln!(
        "crs_blocking: gateway at {} with {}; error log {}",
        env.target.addr,
        env.main_conf.display(),
        env.target.error_log.display()
    );
    let started = Instant::now();
    // Make sure the backend's records start empty (the preflight markers are not requests
    // under test).
    env.backend.clear();

    let mut json_benign = serde_json::Map::new();
    let benign_requests = benign::requests();
    let mut benign_passed = 0usize;
    for (index, req) in benign_requests.iter().enumerate() {
        let (problem, exchange) = run_benign(&env.target, &env.backend, req, index);
        match &problem {
            None => benign_passed += 1,
            Some(p) => println!(
                "BLOCKED benign {:?} ({} {}): {p}; rules fired: {}",
                req.name,
                req.method,
                req.target,
                exchange.rules_text()
            ),
        }
        json_benign.insert(
            req.name.clone(),
            serde_json::json!({
                "request": format!("{} {}", req.method, req.target),
                "result": if problem.is_none() { "pass" } else { "fail" },
                "status": exchange.status(),
                "problem": problem,
                "rules": exchange.rules.as_ref().ok().map(|ids| ids.iter().copied().collect::<Vec<_>>()),
            }),
        );
    }

    let mut json_attacks = serde_json::Map::new();
    let mut counts: Vec<(&str, usize, usize)> =
        FAMILIES.iter().map(|(f, _)| (*f, 0usize, 0usize)).collect();
    let mut not_expected = Vec::new();
    let mut blocked_total = 0usize;
    let mut gateway_gone = None;
    for (index, attack) in attacks.iter().enumerate() {
        if let Some(status) = env.gateway.exited() {
            gateway_gone = Some(status);
            break;
        }
        let result = run_attack(&env.target, attack);
        if let Some(c) = counts.iter_mut().find(|c| c.0 == attack.family) {
            c.2 += 1;
            if result.blocked {
                c.1 += 1;
            }
        }
        if let Some(problem) = &result.problem {
            println!(
                "PASSED-THROUGH {} {} ({}): {problem}; expected {}; rules fired: {}",
                attack.family,
                attack.test.id(),
                file_label(&attack.test.file),
                format_ids(&attack.expected),
                result.exchange.rules_text()
            );
        } else if result.expected_logged {
            blocked_total += 1;
        } else {
            blocked_total += 1;
            not_expected.push(format!(
                "{} {}: blocked, but expected {} not all logged; rules fired: {}",
                attack.family,
                attack.test.id(),
                format_ids(&attack.expected),
                result.exchange.rules_text()
            ));
        }
        let key = if attack.test.stages.len() > 1 {
            format!("{}/stage{}", attack.test.id(), attack.stage + 1)
        } else {
            attack.test.id()
        };
        json_attacks.insert(
            key,
            serde_json::json!({
                "family": attack.family,
                "result": if result.blocked { "blocked" } else { "passed-through" },
                "status": result.exchange.status(),
                "expected": attack.expected.iter().copied().collect::<Vec<_>>(),
                "expected_logged": result.expected_logged,
                "blocking_evaluation_logged": result.exchange.rules.as_ref().is_ok_and(|r| r.contains(&BLOCKING_EVALUATION_RULE)),
                "rules": result.exchange.rules.as_ref().ok().map(|ids| ids.iter().copied().collect::<Vec<_>>()),
            }),
        );
        if (index + 1) % 200 == 0 {
            eprintln!("crs_blocking: {}/{} attacks sent", index + 1, attacks.len());
        }
    }
    let gateway_stderr = env.gateway.stderr_tail(4096);
    drop(env);

    for line in &not_expected {
        println!("NOTE {line}");
    }
    println!(
        "crs_blocking: the expected rule was logged for {}/{blocked_total} blocked attacks",
        blocked_total - not_expected.len()
    );
    let mut failed = benign_passed != benign_requests.len();
    let mut parts = Vec::new();
    for (family, blocked, total) in &counts {
        failed |= blocked != total;
        parts.push(format!("{family} {blocked}/{total} blocked"));
    }
    parts.push(format!(
        "benign {benign_passed}/{} passed",
        benign_requests.len()
    ));
    if let Some(status) = &gateway_gone {
        failed = true;
        println!("crs_blocking: the gateway exited ({status}); stderr tail:\n{gateway_stderr}");
    }

    let results_file = paths.target_dir.join("crs-blocking-results.json");
    let json = serde_json::json!({
        "summary": parts.join(", "),
        "seconds": started.elapsed().as_secs(),
        "benign": json_benign,
        "attacks": json_attacks,
    });
    match serde_json::to_string_pretty(&json) {
        Ok(text) => {
            if let Err(e) = std::fs::write(&results_file, text) {
                eprintln!("crs_blocking: cannot write {}: {e}", results_file.display());
            }
        }
        Err(e) => eprintln!("crs_blocking: cannot serialize results: {e}"),
    }
    println!(
        "crs_blocking: {} attack tests selected (expect_ids name a paranoia-level-1 CRITICAL rule of their file), {:.0}s; results in {}",
        attacks.len(),
        started.elapsed().as_secs_f64(),
        results_file.display()
    );
    println!("blocking: {}", parts.join(", "));
    i32::from(failed)
}


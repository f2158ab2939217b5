//! The OWASP CRS regression suite against the real gateway: a go-ftw work-alike.
//!
//! `cargo test --test crs_regression` starts the albedo-compatible backend in-process
//! (`rampart::backend`), writes a `main.conf` that includes Rampart's base configuration, the
//! suite's setup (`crs-regression-setup.conf`), CRS's `crs-setup.conf.example`, plugins and rules,
//! starts `rampart run --listen ... --upstream ... --rules main.conf --error-log ... --threads 2`,
//! runs every go-ftw test file of the suite through it with go-ftw's log-marker method, and
//! prints one `FAIL <id>: <reasons>` line per failing test, then `N passed, N failed`. Results
//! per test go to `target/crs-regression-results.json`. The exit status is non-zero when the
//! gateway cannot start or fewer tests pass than `floor.txt` records.
//!
//! Environment:
//! * `CRS_REGRESSION_SKIP=1`: skip everything;
//! * `CRS_TEST_FILTER=<regex>`: only tests whose id (`942100-3`) matches;
//! * `CRS_DIR`, `CRS_TESTS_DIR`: the CRS checkout and the test files;
//! * `CRS_BASE_CONF`: base configuration instead of `conf/modsecurity.conf`;
//! * `CRS_GATEWAY_BIN`: gateway binary instead of this package's `rampart`;
//! * `CRS_GATEWAY_THREADS` (2), `CRS_GATEWAY_START_TIMEOUT` (seconds, 120),
//!   `CRS_READ_TIMEOUT_MS` (5000);
//! * `CRS_GATEWAY_ADDR=host:port` with `CRS_ERROR_LOG=path`: use an already running gateway
//!   (nothing is started).

mod checks;
mod client;
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

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rampart::backend::{Backend, BackendOptions};

use gateway::{GatewayCommand, GatewayProcess};
use paths::{env_number, env_string, Paths};
use report::Summary;
use runner::Target;

/// Exit status when the run could not happen (configuration, gateway startup).
const EXIT_SETUP: i32 = 2;
/// Exit status when fewer tests passed than the floor.
const EXIT_BELOW_FLOOR: i32 = 1;

fn main() {
    let code = run();
    std::process::exit(code);
}

fn setup_error(message: &str) -> i32 {
    println!("crs_regression: not run: {message}");
    EXIT_SETUP
}

/// The gateway under test and what keeps it alive.
struct Environment {
    target: Target,
    description: String,
    // Dropped in this order at the end: gateway first, then the backend.
    gateway: Option<GatewayProcess>,
    _backend: Option<Backend>,
}

fn start_environment(paths: &Paths, timeouts: client::Timeouts) -> Result<Environment, String> {
    if let Some(addr) = env_string("CRS_GATEWAY_ADDR") {
        let addr: SocketAddr = rampart::backend::resolve(&addr)
            .map_err(|e| format!("CRS_GATEWAY_ADDR {addr:?}: {e}"))?;
        let log = env_string("CRS_ERROR_LOG").ok_or_else(|| {
            "CRS_GATEWAY_ADDR needs CRS_ERROR_LOG (the gateway's error log)".to_string()
        })?;
        let mut target = Target::new(addr, PathBuf::from(log));
        target.timeouts = timeouts;
        return Ok(Environment {
            description: format!("external gateway at {addr}"),
            target,
            gateway: None,
            _backend: None,
        });
    }

    let work_dir = paths.work_dir();
    if work_dir.exists() {
        std::fs::remove_dir_all(&work_dir)
            .map_err(|e| format!("cannot clean {}: {e}", work_dir.display()))?;
    }
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| format!("cannot create {}: {e}", work_dir.display()))?;

    let base_conf = env_string("CRS_BASE_CONF")
        .map(PathBuf::from)
        .unwrap_or_else(|| paths.base_conf.clone());
    let includes = gateway::include_list(&base_conf, &paths.setup_conf, &paths.crs_dir)?;
    let main_conf = work_dir.join("main.conf");
    std::fs::write(&main_conf, gateway::main_conf_text(&includes))
        .map_err(|e| format!("cannot write {}: {e}", main_conf.display()))?;

    let backend = Backend::start("127.0.0.1:0", BackendOptions::default())
        .map_err(|e| format!("cannot start the albedo backend: {e}"))?;
    let listen = gateway::free_local_addr().map_err(|e| format!("no free port: {e}"))?;
    let error_log = work_dir.join("error.log");
    let threads = env_number("CRS_GATEWAY_THREADS", 2)?;
    let command = GatewayCommand {
        binary: env_string("CRS_GATEWAY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rampart"))),
        listen,
        upstream: backend.addr(),
        rules: main_conf,
        error_log: error_log.clone(),
        threads: usize::try_from(threads).unwrap_or(2),
    };
    let startup = Duration::from_secs(env_number("CRS_GATEWAY_START_TIMEOUT", 120)?);
    eprintln!(
        "crs_regression: starting {} {}",
        command.binary.display(),
        command.args().join(" ")
    );
    let started = Instant::now();
    let mut process = GatewayProcess::spawn(&command, &work_dir)?;
    process.wait_ready(listen, startup)?;
    eprintln!(
        "crs_regression: gateway ready in {:.1}s (stderr: {})",
        started.elapsed().as_secs_f64(),
        process.stderr_path.display()
    );
    let mut target = Target::new(listen, error_log);
    target.timeouts = timeouts;
    Ok(Environment {
        description: format!(
            "gateway at {listen} (upstream albedo at {})",
            backend.addr()
        ),
        target,
        gateway: Some(process),
        _backend: Some(backend),
    })
}

fn run() -> i32 {
    if std::env::args().skip(1).any(|a| a == "--list") {
        return 0;
    }
    if env_string("CRS_REGRESSION_SKIP").is_some_and(|v| v != "0") {
        println!("crs_regression: skipped because CRS_REGRESSION_SKIP is set");
        return 0;
    }
    let paths = Paths::discover();

    let (tests, load_errors) = match model::load_tests(&paths.tests_dir) {
        Ok(t) => t,
        Err(e) => {
            return setup_error(&format!(
                "cannot read the CRS tests in {} (set CRS_TESTS_DIR or CRS_DIR): {e}",
                paths.tests_dir.display()
            ))
        }
    };
    let overrides_text = match std::fs::read_to_string(&paths.overrides_file) {
        Ok(t) => t,
        Err(e) => {
            return setup_error(&format!(
                "cannot read {}: {e}",
                paths.overrides_file.display()
            ))
        }
    };
    let overrides = match overrides::parse_overrides(&overrides_text)
        .and_then(|o| overrides::require_reasons(&o).map(|_| o))
    {
        Ok(o) => o,
        Err(e) => return setup_error(&format!("{}: {e}", paths.overrides_file.display())),
    };
    let floor = match std::fs::read_to_string(&paths.floor_file)
        .map_err(|e| e.to_string())
        .and_then(|t| report::parse_floor(&t))
    {
        Ok(f) => f,
        Err(e) => return setup_error(&format!("{}: {e}", paths.floor_file.display())),
    };
    let filter = match env_string("CRS_TEST_FILTER").map(|f| regex::Regex::new(&f)) {
        None => None,
        Some(Ok(re)) => Some(re),
        Some(Err(e)) => return setup_error(&format!("CRS_TEST_FILTER is not a valid regex: {e}")),
    };
    let read_timeout = match env_number("CRS_READ_TIMEOUT_MS", 5000) {
        Ok(ms) => Duration::from_millis(ms),
        Err(e) => return setup_error(&e),
    };
    let timeouts = client::Timeouts {
        read: read_timeout,
        ..client::Timeouts::default()
    };

    let mut env = match start_environment(&paths, timeouts) {
        Ok(env) => env,
        Err(e) => return setup_error(&format!("the gateway could not start: {e}")),
    };
    if let Err(e) = runner::preflight(&env.target) {
        let stderr = env
            .gateway
            .as_ref()
            .map(|g| g.stderr_tail(4096))
            .unwrap_or_default();
        return setup_error(&format!(
            "the gateway does not log test markers: {e}\ngateway stderr:\n{stderr}"
        ));
    }
    eprintln!(
        "crs_regression: {} tests from {} against the {}; error log {}",
        tests.len(),
        paths.tests_dir.display(),
        env.description,
        env.target.error_log.display()
    );

    let suite_opts = suite::SuiteOptions {
        filter: filter.as_ref(),
        overrides: &overrides,
    };
    let started = Instant::now();
    let gateway_slot = &mut env.gateway;
    let summary: Summary = suite::run_suite(
        &env.target,
        &tests,
        &load_errors,
        &suite_opts,
        || match gateway_slot.as_mut().and_then(GatewayProcess::exited) {
            Some(status) => Err(format!("the gateway exited ({status})")),
            None => Ok(()),
        },
        |result, done, total| {
            if !result.passed() {
                println!("{}", result.failure_line());
            }
            if done > 0 && (done % 250 == 0 || done == total) {
                eprintln!("crs_regression: {done}/{total} tests run");
            }
        },
    );
    let elapsed = started.elapsed();
    let gateway_stderr = env.gateway.as_ref().map(|g| g.stderr_tail(4096));
    let error_log = env.target.error_log.clone();
    let description = env.description.clone();
    drop(env);

    if let Some(reason) = &summary.aborted {
        println!("crs_regression: run stopped early: {reason}");
        if let Some(stderr) = gateway_stderr.filter(|s| !s.is_empty()) {
            println!("crs_regression: gateway stderr (tail):\n{stderr}");
        }
    }
    let results_file = paths.results_file();
    let json = summary.to_json(&[
        ("floor", floor.into()),
        ("gateway", description.into()),
        ("error_log", error_log.display().to_string().into()),
        ("seconds", elapsed.as_secs().into()),
    ]);
    if let Err(e) = report::write_json(&results_file, &json) {
        eprintln!("crs_regression: {e}");
    }
    let passed = summary.passed();
    let mut code = 0;
    if passed < floor {
        println!(
            "crs_regression: {passed} passed is below the floor of {floor} recorded in {}",
            paths.floor_file.display()
        );
        code = EXIT_BELOW_FLOOR;
    } else if passed > floor && filter.is_none() {
        println!(
            "crs_regression: {passed} passed is above the floor of {floor}; raise {} to {passed}",
            paths.floor_file.display()
        );
    }
    println!(
        "crs_regression: {} skipped (CRS_TEST_FILTER), {} overridden ({}), {:.0}s; results in {}",
        summary.skipped,
        summary.overridden(),
        paths
            .overrides_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        elapsed.as_secs_f64(),
        results_file.display()
    );
    println!("{}", summary.closing_line());
    code
}

//! The `rampart` command.
//!
//! ```text
//! rampart run -c conf/rampart.yaml [-d] [-u] [--conf pingora.yaml] [--threads N]
//! rampart run --listen 127.0.0.1:8080 --upstream 127.0.0.1:8000 [--rules main.conf]
//!             [--threads N] [--error-log PATH] [--audit-log PATH] [--admin ADDR]
//! rampart run --demo                  # embedded default: CRS in front of the demo backend
//! rampart -t -c conf/rampart.yaml      # check the configuration and exit (like nginx -t)
//! rampart rules check FILE...          # load SecLang files, report what is unsupported
//! rampart backend --listen ADDR        # the demo / albedo-compatible backend
//! rampart --version
//! ```
//!
//! SIGHUP re-reads the configuration and the rules; a broken file is logged with its
//! file:line and the running configuration stays in force.

use clap::{Args, Parser, Subcommand};
use rampart::config::Config;
use rampart::gateway::server::{self, RunOptions};
use rampart::gateway::waf::WafSet;
use rampart::gateway::GatewayState;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Rampart: a Pingora reverse proxy with a ModSecurity-compatible WAF.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, about)]
struct Cli {
    /// Check the configuration (and the WAF rules) and exit.
    #[arg(short = 't', long = "test", global = true)]
    test: bool,

    /// Configuration file (YAML).
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    Run(RunArgs),
    /// SecLang rule tools.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Run the built-in demo backend (albedo-compatible: `POST /reflect`).
    Backend {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
        /// Log each request to standard error.
        #[arg(long)]
        verbose: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Load and compile SecLang files (each may Include others), print what is not
    /// supported, end with `rules: N loaded, M unsupported`.
    Check {
        /// Files, loaded in order as one configuration.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Quick start without a config file: listen on this address (IP:PORT).
    #[arg(long, value_name = "ADDR", requires = "upstream")]
    listen: Option<String>,

    /// Quick start: the backend server (HOST:PORT); repeat for several (round robin).
    #[arg(long, value_name = "ADDR", requires = "listen")]
    upstream: Vec<String>,

    /// Quick start: the SecLang main rules file.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,

    /// Quick start: WAF error log.
    #[arg(long, value_name = "PATH")]
    error_log: Option<PathBuf>,

    /// Quick start: WAF audit log.
    #[arg(long, value_name = "PATH")]
    audit_log: Option<PathBuf>,

    /// Quick start: admin listener (metrics, health, cache purge).
    #[arg(long, value_name = "ADDR")]
    admin: Option<String>,

    /// Worker threads (overrides server.threads).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Run in the background.
    #[arg(short = 'd', long)]
    daemon: bool,

    /// Take over the listening sockets of the running instance (graceful upgrade).
    #[arg(short = 'u', long)]
    upgrade: bool,

    /// Pingora server configuration file (YAML), read before the `server:` section.
    #[arg(long = "conf", value_name = "FILE")]
    pingora_conf: Option<PathBuf>,

    /// Run the embedded default configuration (conf/default.yaml): stock CRS in blocking
    /// mode in front of the built-in demo backend on 127.0.0.1:8081. Needs CRS_DIR (or CRS
    /// in ../shared/crs or /usr/share/modsecurity-crs).
    #[arg(long, conflicts_with_all = ["listen", "upstream"])]
    demo: bool,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Run(args)) => run(cli.config.as_deref(), cli.test, args),
        Some(Command::Rules { command: RulesCommand::Check { files } }) => {
            let code = rampart::rules_check::run(&files, &mut std::io::stdout());
            Ok(ExitCode::from(code.clamp(0, 255) as u8))
        }
        Some(Command::Backend { listen, verbose }) => {
            let opts = rampart::backend::BackendOptions {
                log_requests: verbose,
                default_body: b"Hello from the Rampart demo backend\n".to_vec(),
                max_connections: 256,
                ..Default::default()
            };
            eprintln!("rampart: demo backend on http://{listen}");
            rampart::backend::run_forever(&listen, opts)
                .map(|()| ExitCode::SUCCESS)
                .map_err(|e| format!("backend {listen}: {e}"))
        }
        None if cli.test => match &cli.config {
            Some(path) => check(path).map(|()| ExitCode::SUCCESS),
            None => Err("-t needs -c FILE".to_string()),
        },
        None => Err(
            "nothing to do: use `rampart run -c FILE`, `rampart -t -c FILE` or --help".to_string(),
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rampart: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `rampart -t -c FILE`: load everything a start would, without binding sockets.
fn check(path: &Path) -> Result<(), String> {
    let cfg = Config::load(path).map_err(|e| e.to_string())?;
    validate_all(&cfg)?;
    eprintln!(
        "rampart: the configuration file {} syntax is ok",
        path.display()
    );
    eprintln!(
        "rampart: configuration file {} test is successful",
        path.display()
    );
    Ok(())
}

/// Checks beyond the YAML: upstreams, routes and the WAF rule sets compile.
fn validate_all(cfg: &Config) -> Result<(), String> {
    WafSet::build(cfg)?;
    GatewayState::build(cfg.clone(), None)?;
    Ok(())
}

/// Where the configuration comes from (and is re-read from on SIGHUP).
enum Source {
    File(PathBuf),
    Quick,
    Demo,
}

fn load_config(src: &Source, args: &RunArgs) -> Result<Config, String> {
    match src {
        Source::File(path) => Config::load(path).map_err(|e| e.to_string()),
        Source::Quick => quick_config(args.listen.as_deref().unwrap_or_default(), args),
        Source::Demo => demo_config(),
    }
}

/// The OWASP CRS installation for the demo configuration.
fn find_crs_dir() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = std::env::var_os("CRS_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain(["../shared/crs", "/usr/share/modsecurity-crs", "/etc/modsecurity/crs", ".cache/coreruleset"].map(PathBuf::from))
        .collect();
    candidates
        .into_iter()
        .find(|d| d.join("rules").join("REQUEST-901-INITIALIZATION.conf").is_file())
        .ok_or_else(|| "OWASP CRS not found: set CRS_DIR to a CRS v4 directory (see crs/crs-setup.conf)".to_string())
}

/// The embedded default configuration (conf/default.yaml).
fn demo_config() -> Result<Config, String> {
    let crs = find_crs_dir()?;
    std::env::set_var("CRS_DIR", &crs);
    Config::from_yaml(include_str!("../conf/default.yaml"), None).map_err(|e| format!("default configuration: {e}"))
}

/// Re-reads the configuration and the rules on SIGHUP; a failure keeps the running state.
fn install_reload(gw: std::sync::Arc<rampart::gateway::Gateway>, src: Source, args: RunArgs) -> Result<(), String> {
    use signal_hook::consts::SIGHUP;
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP]).map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
    std::thread::Builder::new()
        .name("rampart-reload".into())
        .spawn(move || {
            for _ in signals.forever() {
                let started = std::time::Instant::now();
                let result = load_config(&src, &args).and_then(|cfg| gw.reload(cfg));
                match result {
                    Ok(warnings) => {
                        rampart::metrics::waf().reloads.with_label_values(&["ok"]).inc();
                        let rules = gw.current().waf.rule_count();
                        log::info!("reload: configuration and rules reloaded ({rules} rules) in {:?}", started.elapsed());
                        for w in warnings {
                            log::warn!("reload: {w}");
                        }
                    }
                    Err(e) => {
                        rampart::metrics::waf().reloads.with_label_values(&["failed"]).inc();
                        log::error!("reload failed, the previous configuration stays in force: {e}");
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the reload thread: {e}"))?;
    Ok(())
}

fn run(config: Option<&Path>, test: bool, args: RunArgs) -> Result<ExitCode, String> {
    let src = match (config, &args.listen, args.demo) {
        (Some(_), Some(_), _) | (Some(_), _, true) => return Err("use either -c FILE, --demo or --listen/--upstream".into()),
        (Some(path), None, false) => Source::File(path.to_path_buf()),
        (None, Some(_), false) => Source::Quick,
        (None, None, true) => Source::Demo,
        (None, None, false) => return Err("run needs -c FILE, --demo, or --listen ADDR --upstream ADDR".into()),
        (None, Some(_), true) => return Err("--demo cannot be combined with --listen".into()),
    };
    let cfg = load_config(&src, &args)?;
    if test {
        validate_all(&cfg)?;
        eprintln!("rampart: configuration test is successful");
        return Ok(ExitCode::SUCCESS);
    }
    let opts = RunOptions {
        daemon: args.daemon,
        upgrade: args.upgrade,
        pingora_conf: args.pingora_conf.clone(),
        threads: args.threads,
    };
    if matches!(src, Source::Demo) {
        let backend = rampart::backend::BackendOptions {
            default_body: b"Hello from the Rampart demo backend\n".to_vec(),
            max_connections: 256,
            ..Default::default()
        };
        let b = rampart::backend::Backend::start("127.0.0.1:8081", backend)
            .map_err(|e| format!("demo backend on 127.0.0.1:8081: {e}"))?;
        eprintln!("rampart: demo backend on http://{}", b.addr());
        std::mem::forget(b);
        eprintln!("rampart: gateway on http://127.0.0.1:8080 (metrics on http://127.0.0.1:9090/metrics)");
    }
    let (server, gateway) = server::build(cfg, &opts)?;
    log::info!("waf: {} rules loaded", gateway.current().waf.rule_count());
    install_reload(gateway, src, args)?;
    server.run_forever()
}

/// YAML double-quoted string.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The configuration of `run --listen ... --upstream ...`: one listener, one upstream, one
/// route, the WAF with the given files.
fn quick_config(listen: &str, a: &RunArgs) -> Result<Config, String> {
    let mut y = format!("listeners:\n  - address: {}\n", q(listen));
    if let Some(admin) = &a.admin {
        y += &format!("admin:\n  address: {}\n", q(admin));
    }
    y += "upstreams:\n  default:\n    servers:\n";
    for u in &a.upstream {
        y += &format!("      - address: {}\n", q(u));
    }
    y += "routes:\n  - name: default\n    upstream: default\n";
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| q(&p.display().to_string()));
    let waf: Vec<String> = [
        ("rules", path(&a.rules)),
        ("error_log", path(&a.error_log)),
        ("audit_log", path(&a.audit_log)),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| format!("  {k}: {v}\n")))
    .collect();
    if !waf.is_empty() {
        y += "waf:\n";
        y += &waf.concat();
    }
    Config::from_yaml(&y, None).map_err(|e| format!("quick start options: {e}"))
}

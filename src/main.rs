//! The `rampart` command.
//!
//! ```text
//! rampart run -c conf/rampart.yaml [-d] [-u] [--conf pingora.yaml] [--threads N]
//! rampart run --listen 127.0.0.1:8080 --upstream 127.0.0.1:8000 [--rules main.conf]
//!             [--threads N] [--error-log PATH] [--audit-log PATH] [--admin ADDR]
//! rampart -t -c conf/rampart.yaml      # check the configuration and exit (like nginx -t)
//! rampart --version
//! ```

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
    // ---------------------------------------------------------------------------------
    // Further subcommands go here (the WAF engine side): `rules check FILE`,
    // `backend --listen ADDR` (the demo backend). Add a variant and a match arm in main().
    // ---------------------------------------------------------------------------------
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
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Run(args)) => run(cli.config.as_deref(), cli.test, args),
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

fn run(config: Option<&Path>, test: bool, args: RunArgs) -> Result<ExitCode, String> {
    let cfg = match (config, &args.listen) {
        (Some(_), Some(_)) => return Err("use either -c FILE or --listen/--upstream".into()),
        (Some(path), None) => Config::load(path).map_err(|e| e.to_string())?,
        (None, Some(listen)) => quick_config(listen, &args)?,
        (None, None) => return Err("run needs -c FILE, or --listen ADDR --upstream ADDR".into()),
    };
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
    let (server, _gateway) = server::build(cfg, &opts)?;
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

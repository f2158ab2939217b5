//! Rampart's YAML configuration (`conf/rampart.yaml` documents every key).
//!
//! Loading is strict: every struct denies unknown keys, every value is parsed into a typed
//! value ([`units`]) and cross-checked ([`validate`]): addresses, durations, sizes, non-empty
//! server lists, routes naming existing upstreams, regexes that compile, readable TLS files.
//! Every problem is reported with the file and the key path, e.g.
//! `conf/rampart.yaml: upstreams.api.servers[0].weight: invalid type: string "x", expected u32`.
//!
//! Relative file paths (certificates, WAF files) are relative to the working directory.

pub mod listener;
pub mod route;
pub mod units;
pub mod upstream;
mod validate;

pub use listener::{AdminConfig, CertConfig, ListenerConfig, ListenerTls};
pub use route::{
    HeaderEdits, HeaderMatch, MatchConfig, RouteCacheConfig, RouteConfig, RouteTimeouts,
    SecurityHeaders,
};
pub use units::{ByteSize, Cidr, Dur, ListenAddr};
pub use upstream::{
    Algorithm, HealthCheckConfig, HealthCheckKind, ServerConfig, UpstreamConfig, UpstreamProtocol,
    UpstreamTimeouts, UpstreamTls,
};
pub use validate::resolve as resolve_address;

use crate::gateway::waf::WafRouteConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Process settings (threads, pid file, upgrade socket...).
    #[serde(default)]
    pub server: ServerSection,
    /// Downstream listeners (at least one).
    pub listeners: Vec<ListenerConfig>,
    /// Admin listener (metrics, health, cache purge); absent: none.
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// Named upstreams.
    #[serde(default)]
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    /// Routes, tried in order.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Cache storage bounds.
    #[serde(default)]
    pub cache: CacheConfig,
    /// WAF defaults for routes without their own `waf:`.
    #[serde(default)]
    pub waf: WafRouteConfig,
    /// The file this configuration was read from, if any.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// Process-level settings, merged into Pingora's `ServerConf` (a Pingora YAML file given
/// with `--conf` is read first; these keys override it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Worker threads per service (default: the number of CPUs).
    #[serde(default)]
    pub threads: Option<usize>,
    /// PID file (used with `-d`).
    #[serde(default)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket used to hand listening sockets to a new process on graceful upgrade (`-u`).
    #[serde(default)]
    pub upgrade_sock: Option<PathBuf>,
    /// Drop privileges to this user after binding (daemon mode).
    #[serde(default)]
    pub user: Option<String>,
    /// Drop privileges to this group after binding (daemon mode).
    #[serde(default)]
    pub group: Option<String>,
    /// Run in the background (same as `-d`).
    #[serde(default)]
    pub daemon: bool,
    /// After SIGTERM, or SIGQUIT during a graceful upgrade, wait this long for in-flight
    /// requests before stopping (default 10s).
    #[serde(default)]
    pub grace_period: Option<Dur>,
    /// On shutdown, wait this long for in-flight requests.
    #[serde(default)]
    pub graceful_shutdown_timeout: Option<Dur>,
}

/// The shared in-memory HTTP cache.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Most bytes (bodies and headers) kept; least recently used entries are evicted.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// Most entries kept.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// Responses larger than this are not cached.
    #[serde(default = "default_max_object")]
    pub max_object_size: ByteSize,
    /// Concurrent misses for one key wait this long for the first one to fill the cache.
    #[serde(default = "default_lock_timeout")]
    pub lock_timeout: Dur,
    /// Response header carrying the cache status (HIT, MISS, EXPIRED, STALE, UPDATING,
    /// REVALIDATED, BYPASS) on cache-enabled routes.
    #[serde(default = "default_status_header")]
    pub status_header: String,
    /// Debug: response header carrying the cache key (absent: not sent).
    #[serde(default)]
    pub key_header: Option<String>,
}

fn default_max_bytes() -> ByteSize {
    ByteSize(64 << 20)
}
fn default_max_entries() -> usize {
    10_000
}
fn default_max_object() -> ByteSize {
    ByteSize(8 << 20)
}
fn default_lock_timeout() -> Dur {
    Dur::secs(5)
}
fn default_status_header() -> String {
    "X-Cache-Status".to_string()
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: default_max_bytes(),
            max_entries: default_max_entries(),
            max_object_size: default_max_object(),
            lock_timeout: default_lock_timeout(),
            status_header: default_status_header(),
            key_header: None,
        }
    }
}

/// One problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path, e.g. `upstreams.api.servers[0].address` (`.` for the document root).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// 1-based line and column, when the YAML parser knows them.
    pub location: Option<(usize, usize)>,
}

/// Why a configuration was rejected: the file and every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when the configuration came from one.
    pub file: Option<PathBuf>,
    /// The problems (at least one).
    pub problems: Vec<Problem>,
}

impl ConfigError {
    fn single(file: Option<&Path>, path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.map(Path::to_path_buf),
            problems: vec![Problem {
                path: path.into(),
                message: message.into(),
                location: None,
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self
            .file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<config>".to_string());
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{file}")?;
            if let Some((line, col)) = p.location {
                write!(f, ":{line}:{col}")?;
            }
            write!(f, ": {}: {}", p.path, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Read, parse and validate a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::single(Some(path), ".", format!("cannot read: {e}")))?;
        Config::from_yaml(&text, Some(path))
    }

    /// Parse and validate YAML text; `file` is only used in messages.
    pub fn from_yaml(text: &str, file: Option<&Path>) -> Result<Config, ConfigError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let mut cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let location = inner.location().map(|l| (l.line(), l.column()));
            // serde_yaml appends "at line L column C" itself; keep the message short.
            let mut message = inner.to_string();
            if let Some(cut) = message.find(" at line ") {
                message.truncate(cut);
            }
            // and sometimes prefixes (part of) the path, which we print already
            if let Some((head, rest)) = message.split_once(": ") {
                if !head.is_empty() && path.starts_with(head) {
                    message = rest.to_string();
                }
            }
            ConfigError {
                file: file.map(Path::to_path_buf),
                problems: vec![Problem {
                    path,
                    message,
                    location,
                }],
            }
        })?;
        cfg.source = file.map(Path::to_path_buf);
        cfg.validate()?;
        Ok(cfg)
    }

    /// Check cross-references and values; every problem is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = validate::check(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                file: self.source.clone(),
                problems,
            })
        }
    }

    /// The name of route `idx` (its `name`, or `route<idx>`).
    pub fn route_name(&self, idx: usize) -> String {
        self.routes
            .get(idx)
            .and_then(|r| r.name.clone())
            .unwrap_or_else(|| format!("route{idx}"))
    }

    /// The WAF settings that apply to route `idx` (its own, else the top-level ones).
    pub fn route_waf(&self, idx: usize) -> &WafRouteConfig {
        self.routes
            .get(idx)
            .and_then(|r| r.waf.as_ref())
            .unwrap_or(&self.waf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "
listeners:
  - address: 127.0.0.1:8080
upstreams:
  app:
    servers:
      - address: 127.0.0.1:8000
routes:
  - upstream: app
";

    fn err(text: &str) -> String {
        match Config::from_yaml(text, Some(Path::new("t.yaml"))) {
            Ok(_) => String::from("<accepted>"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn minimal_config_loads_with_defaults() {
        let cfg = Config::from_yaml(MINIMAL, None).unwrap_or_else(|e| panic!("{e}"));
        let up = &cfg.upstreams["app"];
        assert_eq!(up.algorithm, Algorithm::RoundRobin);
        assert_eq!(up.retry_attempts, 2);
        assert_eq!(up.servers[0].weight, 1);
        assert_eq!(up.timeouts.connect, Dur::secs(5));
        assert_eq!(cfg.route_name(0), "route0");
        assert_eq!(cfg.cache.status_header, "X-Cache-Status");
    }

    #[test]
    fn unknown_key_names_its_path() {
        let e = err(&MINIMAL.replace(
            "- address: 127.0.0.1:8000",
            "- address: 127.0.0.1:8000\n        wieght: 3",
        ));
        assert!(e.contains("t.yaml"), "{e}");
        assert!(e.contains("upstreams.app.servers[0]"), "{e}");
        assert!(e.contains("wieght"), "{e}");
    }

    #[test]
    fn bad_values_name_their_path() {
        let e = err(&MINIMAL.replace("servers:", "timeouts: { connect: 5 }\n    servers:"));
        assert!(e.contains("upstreams.app.timeouts.connect"), "{e}");
        assert!(e.contains("no unit"), "{e}");
        let e = err(&MINIMAL.replace("127.0.0.1:8080", "localhost"));
        assert!(e.contains("listeners[0].address"), "{e}");
    }

    #[test]
    fn cross_references_are_checked() {
        let e = err(&MINIMAL.replace("- upstream: app", "- upstream: nope"));
        assert!(e.contains("routes[0].upstream"), "{e}");
        assert!(e.contains("nope"), "{e}");
        let e = err(&MINIMAL.replace(
            "- upstream: app",
            "- upstream: app\n    match: { path_regex: \"(\" }",
        ));
        assert!(e.contains("routes[0].match.path_regex"), "{e}");
        let e = err(&MINIMAL.replace("servers:\n      - address: 127.0.0.1:8000", "servers: []"));
        assert!(e.contains("upstreams.app.servers"), "{e}");
    }
}

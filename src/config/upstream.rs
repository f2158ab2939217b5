//! `upstreams:` section.

use super::units::{ByteSize, Dur};
use serde::Deserialize;

/// A named group of servers behind one load balancer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The servers (at least one).
    pub servers: Vec<ServerConfig>,
    /// Load-balancing algorithm.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// What `algorithm: hash` hashes: `header:NAME`, `cookie:NAME` or `uri`.
    #[serde(default)]
    pub hash_key: Option<String>,
    /// Active health checking; absent: servers are only ejected passively.
    #[serde(default)]
    pub health_check: Option<HealthCheckConfig>,
    /// Timeouts towards the servers.
    #[serde(default)]
    pub timeouts: UpstreamTimeouts,
    /// How many other servers to try after a connection failure (idempotent requests only).
    #[serde(default = "default_retry_attempts")]
    pub retry_attempts: u32,
    /// Idle keepalive connections kept per server (0 disables connection reuse).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// How long an idle pooled connection is kept.
    #[serde(default = "default_keepalive_timeout")]
    pub keepalive_timeout: Dur,
    /// Protocol spoken to the servers.
    #[serde(default)]
    pub protocol: UpstreamProtocol,
    /// Connect to the servers with TLS.
    #[serde(default)]
    pub tls: Option<UpstreamTls>,
}

fn default_retry_attempts() -> u32 {
    2
}
fn default_pool_size() -> usize {
    32
}
fn default_keepalive_timeout() -> Dur {
    Dur::secs(60)
}

/// One server of an upstream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `HOST:PORT`; a host name is resolved when the config is loaded.
    pub address: String,
    /// Relative share of traffic (1..=1000).
    #[serde(default = "one")]
    pub weight: u32,
    /// Failures within `fail_timeout` that eject the server for `fail_timeout` (0: never).
    #[serde(default = "one")]
    pub max_fails: u32,
    /// Window for counting failures, and how long an ejected server stays out.
    #[serde(default = "default_fail_timeout")]
    pub fail_timeout: Dur,
    /// Only used when every non-backup server is unavailable.
    #[serde(default)]
    pub backup: bool,
}

fn one() -> u32 {
    1
}
fn default_fail_timeout() -> Dur {
    Dur::secs(10)
}

/// Load-balancing algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Weighted round robin (Pingora `RoundRobin`).
    #[default]
    RoundRobin,
    /// Same as `round_robin`: weights are always honoured; kept for nginx users.
    Weighted,
    /// Consistent (Ketama) hashing on the client address: a client sticks to a server.
    IpHash,
    /// Consistent (Ketama) hashing on `hash_key`.
    Hash,
    /// Weighted random choice.
    Random,
    /// Fewest requests in progress (weighted), ties broken in turn.
    LeastConn,
}

/// Protocol used towards the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 (WebSocket upgrades work over it).
    #[default]
    Http1,
    /// HTTP/2 when the TLS server offers it through ALPN, else HTTP/1.1 (needs `tls`).
    H2,
    /// HTTP/2 with prior knowledge on a plain connection (gRPC backends without TLS).
    H2c,
}

/// TLS towards the servers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    /// SNI and name to verify; defaults to the host part of each server address.
    #[serde(default)]
    pub sni: Option<String>,
    /// Verify the server certificate and its name against the system trust store.
    #[serde(default = "yes")]
    pub verify: bool,
}

fn yes() -> bool {
    true
}

/// Timeouts towards an upstream. Each field may be overridden per route.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTimeouts {
    /// TCP connect (plus TLS handshake) timeout.
    #[serde(default = "default_connect")]
    pub connect: Dur,
    /// Longest wait for data from the server (each read).
    #[serde(default = "default_rw")]
    pub read: Dur,
    /// Longest wait to send data to the server (each write).
    #[serde(default = "default_rw")]
    pub write: Dur,
    /// Deadline for the whole exchange with the upstream, from the first connection attempt
    /// to the end of the response body. Absent: no overall deadline.
    #[serde(default)]
    pub total: Option<Dur>,
}

fn default_connect() -> Dur {
    Dur::secs(5)
}
fn default_rw() -> Dur {
    Dur::secs(60)
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        UpstreamTimeouts {
            connect: default_connect(),
            read: default_rw(),
            write: default_rw(),
            total: None,
        }
    }
}

/// Active health check of every server of an upstream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// `tcp` (connect only) or `http` (request and check the response).
    #[serde(rename = "type")]
    pub kind: HealthCheckKind,
    /// HTTP: request path.
    #[serde(default)]
    pub path: Option<String>,
    /// HTTP: request method (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// HTTP: `Host` header (default: the server address).
    #[serde(default)]
    pub host: Option<String>,
    /// HTTP: statuses counted as healthy (default [200]).
    #[serde(default)]
    pub expected_statuses: Option<Vec<u16>>,
    /// HTTP: text the response body must contain.
    #[serde(default)]
    pub expected_body: Option<String>,
    /// HTTP: largest response body read when looking for `expected_body`.
    #[serde(default)]
    pub max_body: Option<ByteSize>,
    /// Time between two checks of a server.
    #[serde(default = "default_interval")]
    pub interval: Dur,
    /// Timeout of one check (connect and response).
    #[serde(default = "default_hc_timeout")]
    pub timeout: Dur,
    /// Consecutive successes that bring a down server back.
    #[serde(default = "default_healthy")]
    pub healthy_threshold: u32,
    /// Consecutive failures that take a server down.
    #[serde(default = "default_unhealthy")]
    pub unhealthy_threshold: u32,
    /// Check this port instead of the server's own.
    #[serde(default)]
    pub port: Option<u16>,
}

fn default_interval() -> Dur {
    Dur::secs(5)
}
fn default_hc_timeout() -> Dur {
    Dur::secs(2)
}
fn default_healthy() -> u32 {
    2
}
fn default_unhealthy() -> u32 {
    3
}

/// Health check types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheckKind {
    /// A TCP (or TLS, with `tls`) connection must succeed.
    Tcp,
    /// An HTTP request must get an expected status (and body text).
    Http,
}

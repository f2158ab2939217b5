//! `listeners:` and `admin:` sections.

use super::units::{Cidr, ListenAddr};
use serde::Deserialize;
use std::path::PathBuf;

/// One downstream listening socket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `IP:PORT` to listen on.
    pub address: ListenAddr,
    /// TLS termination; absent for plain HTTP.
    #[serde(default)]
    pub tls: Option<ListenerTls>,
    /// Accept HTTP/2 with prior knowledge (h2c) on a plain listener (gRPC without TLS).
    #[serde(default)]
    pub h2c: bool,
    /// Peers whose `client_ip_header` is believed (CIDR or single addresses).
    #[serde(default)]
    pub trusted_proxies: Vec<Cidr>,
    /// Header carrying the original client address, read only from trusted proxies.
    /// Defaults to `X-Forwarded-For` when `trusted_proxies` is set.
    #[serde(default)]
    pub client_ip_header: Option<String>,
    /// Expect a PROXY protocol (v1 or v2) header before the TLS handshake. Pingora offers this
    /// hook only before TLS, so it requires `tls`.
    #[serde(default)]
    pub proxy_protocol: bool,
}

/// TLS settings of a listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// Certificates, chosen by the SNI name the client sends. The entry without `sni` (or the
    /// first entry if all have one) is the default.
    pub certificates: Vec<CertConfig>,
    /// Offer HTTP/2 through ALPN (`h2`, falling back to `http/1.1`).
    #[serde(default = "yes")]
    pub alpn_h2: bool,
}

fn yes() -> bool {
    true
}

/// One certificate and its key, both PEM files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertConfig {
    /// Server name this certificate answers for: exact (`api.example.com`) or a
    /// one-label wildcard (`*.example.com`). Absent: the default certificate.
    #[serde(default)]
    pub sni: Option<String>,
    /// PEM certificate chain (leaf first).
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The admin listener: `/metrics`, `/healthz`, `POST /cache/purge`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `IP:PORT` of the admin listener. Keep it on loopback or a private network.
    pub address: ListenAddr,
}

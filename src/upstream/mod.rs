//! Upstreams: load balancing, passive ejection and active health checks, built on
//! `pingora-load-balancing`.
//!
//! Each upstream owns a Pingora [`LoadBalancer`] over a static discovery of its servers. The
//! selector depends on `algorithm`: Pingora's weighted `RoundRobin` and `Random`, its Ketama
//! `Consistent` hashing (for `ip_hash` and `hash`), or our [`least_conn::LeastConn`]. Every
//! [`Backend`] carries a [`least_conn::ServerRef`] in its `ext`, linking it to the server's
//! [`ServerState`] (in-flight counter, passive ejection, metrics).
//!
//! A server is eligible when Pingora's health state says ready, it is not passively ejected
//! and it was not already tried by this request; backup servers are eligible only when no
//! primary is. Health checks run in Pingora's `LoadBalancer::run` loop, driven by the
//! [`HealthService`] background service, which follows configuration reloads.

pub mod health;
pub mod least_conn;
pub mod server;
mod service;

pub use server::{InFlight, ServerState};
pub use service::HealthService;

use crate::config::{Algorithm, Config, UpstreamConfig, UpstreamProtocol};
use futures_lite_now::now_or_never;
use least_conn::{LeastConn, ServerRef};
use pingora_core::server::ShutdownWatch;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::RequestHeader;
use pingora_load_balancing::discovery::Static;
use pingora_load_balancing::selection::{
    BackendIter, BackendSelection, Consistent, Random, RoundRobin,
};
use pingora_load_balancing::{Backend, Backends, Extensions, LoadBalancer};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Steps a selection may take over a selector's iterator before giving up (Ketama rings
/// repeat servers, so this is larger than any server count).
const MAX_SELECTION_STEPS: usize = 2048;

/// Poll a future that is known not to wait (the static discovery) exactly once.
mod futures_lite_now {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    pub fn now_or_never<F: Future>(f: F) -> Option<F::Output> {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }
}

/// What `algorithm: hash` hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// The value of a request header.
    Header(http::HeaderName),
    /// The value of a cookie.
    Cookie(String),
    /// The request URI (path and query).
    Uri,
}

impl HashKey {
    /// Parse `header:NAME`, `cookie:NAME` or `uri`.
    pub fn parse(s: &str) -> Result<HashKey, String> {
        if s == "uri" {
            return Ok(HashKey::Uri);
        }
        if let Some(name) = s.strip_prefix("header:") {
            return http::HeaderName::from_bytes(name.trim().as_bytes())
                .map(HashKey::Header)
                .map_err(|_| format!("{name:?} is not a header name"));
        }
        if let Some(name) = s.strip_prefix("cookie:") {
            let name = name.trim();
            if name.is_empty() || name.contains(['=', ';', ' ']) {
                return Err(format!("{name:?} is not a cookie name"));
            }
            return Ok(HashKey::Cookie(name.to_string()));
        }
        Err(format!("{s:?}: expected header:NAME, cookie:NAME or uri"))
    }
}

/// Find cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a [u8]> {
    for h in req.headers.get_all(http::header::COOKIE) {
        for pair in h.as_bytes().split(|b| *b == b';') {
            let pair = pair.trim_ascii();
            if let Some(eq) = pair.iter().position(|b| *b == b'=') {
                let (k, v) = pair.split_at(eq);
                if k.trim_ascii() == name.as_bytes() {
                    return v.get(1..).map(<[u8]>::trim_ascii);
                }
            }
        }
    }
    None
}

/// The timeouts in force for one request (upstream settings with route overrides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connect (and TLS handshake).
    pub connect: Duration,
    /// Each read.
    pub read: Duration,
    /// Each write.
    pub write: Duration,
    /// Whole upstream exchange.
    pub total: Option<Duration>,
}

enum Balancer {
    RoundRobin(Arc<LoadBalancer<RoundRobin>>),
    Random(Arc<LoadBalancer<Random>>),
    Ketama(Arc<LoadBalancer<Consistent>>),
    LeastConn(Arc<LoadBalancer<LeastConn>>),
}

macro_rules! each_lb {
    ($self:expr, $lb:ident => $e:expr) => {
        match $self {
            Balancer::RoundRobin($lb) => $e,
            Balancer::Random($lb) => $e,
            Balancer::Ketama($lb) => $e,
            Balancer::LeastConn($lb) => $e,
        }
    };
}

fn new_lb<S>(
    backends: BTreeSet<Backend>,
    check: Option<(
        Box<dyn pingora_load_balancing::health_check::HealthCheck + Send + Sync>,
        Duration,
    )>,
) -> Result<Arc<LoadBalancer<S>>, String>
where
    S: BackendSelection + 'static,
    S::Iter: BackendIter,
{
    let mut lb = LoadBalancer::<S>::from_backends(Backends::new(Static::new(backends)));
    if let Some((check, interval)) = check {
        lb.set_health_check(check);
        lb.health_check_frequency = Some(interval);
        lb.parallel_health_check = true;
    }
    match now_or_never(lb.update()) {
        Some(Ok(())) => Ok(Arc::new(lb)),
        Some(Err(e)) => Err(format!("load balancer setup failed: {e}")),
        None => Err("load balancer setup did not complete".to_string()),
    }
}

/// One configured upstream.
pub struct Upstream {
    /// Its name in `upstreams:`.
    pub name: Arc<str>,
    /// Its configuration.
    pub config: UpstreamConfig,
    /// Its servers (each resolved address of each configured server).
    pub servers: Arc<[Arc<ServerState>]>,
    backends: Box<[Backend]>,
    balancer: Balancer,
    hash_key: Option<HashKey>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("servers", &self.servers)
            .finish()
    }
}

impl Upstream {
    /// Resolve the servers and set up the load balancer and its health check.
    pub fn build(name: &str, cfg: &UpstreamConfig) -> Result<Upstream, String> {
        let uname: Arc<str> = Arc::from(name);
        let mut resolved = Vec::new();
        for s in &cfg.servers {
            for addr in crate::config::resolve_address(&s.address)? {
                resolved.push((addr, s.clone()));
            }
        }
        // As in nginx, a lone server is never ejected passively: there is nowhere else to go.
        if let [(_, only)] = resolved.as_mut_slice() {
            only.max_fails = 0;
        }
        let mut servers = Vec::new();
        let mut backends = Vec::new();
        for (addr, s) in resolved {
            let idx = servers.len();
            let state = Arc::new(ServerState::new(
                idx,
                uname.clone(),
                addr,
                s.address.clone(),
                &s,
            ));
            let mut ext = Extensions::new();
            ext.insert(ServerRef {
                idx,
                in_flight: state.in_flight_counter(),
            });
            let mut b = Backend::new_with_weight(&addr.to_string(), s.weight.max(1) as usize)
                .map_err(|e| format!("server {addr}: {e}"))?;
            b.ext = ext;
            servers.push(state);
            backends.push(b);
        }
        if servers.is_empty() {
            return Err(format!("upstream {name}: no server"));
        }
        let servers: Arc<[Arc<ServerState>]> = servers.into();
        let set: BTreeSet<Backend> = backends.iter().cloned().collect();
        let check = match &cfg.health_check {
            Some(hc) => Some((
                health::build(cfg, hc, servers.clone())
                    .map_err(|e| format!("upstream {name}: {e}"))?,
                hc.interval.0,
            )),
            None => None,
        };
        let balancer = match cfg.algorithm {
            Algorithm::RoundRobin | Algorithm::Weighted => {
                Balancer::RoundRobin(new_lb(set, check)?)
            }
            Algorithm::Random => Balancer::Random(new_lb(set, check)?),
            Algorithm::IpHash | Algorithm::Hash => Balancer::Ketama(new_lb(set, check)?),
            Algorithm::LeastConn => Balancer::LeastConn(new_lb(set, check)?),
        };
        let hash_key = match (&cfg.algorithm, &cfg.hash_key) {
            (Algorithm::Hash, Some(k)) => Some(HashKey::parse(k)?),
            (Algorithm::Hash, None) => return Err(format!("upstream {name}: hash needs hash_key")),
            _ => None,
        };
        Ok(Upstream {
            name: uname,
            config: cfg.clone(),
            servers,
            backends: backends.into_boxed_slice(),
            balancer,
            hash_key,
        })
    }

    /// Write the selection key of a request into `buf` (client address for `ip_hash`, the
    /// configured part for `hash`, nothing otherwise).
    pub fn selection_key(&self, req: &RequestHeader, client: IpAddr, buf: &mut Vec<u8>) {
        buf.clear();
        match self.config.algorithm {
            Algorithm::IpHash => match client {
                IpAddr::V4(v4) => buf.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => buf.extend_from_slice(&v4.octets()),
                    None => buf.extend_from_slice(&v6.octets()),
                },
            },
            Algorithm::Hash => match &self.hash_key {
                Some(HashKey::Header(h)) => {
                    if let Some(v) = req.headers.get(h) {
                        buf.extend_from_slice(v.as_bytes());
                    }
                }
                Some(HashKey::Cookie(c)) => {
                    if let Some(v) = cookie_value(req, c) {
                        buf.extend_from_slice(v);
                    }
                }
                Some(HashKey::Uri) => {
                    let uri = &req.uri;
                    buf.extend_from_slice(
                        uri.path_and_query()
                            .map(|p| p.as_str())
                            .unwrap_or_else(|| uri.path())
                            .as_bytes(),
                    );
                }
                None => {}
            },
            _ => {}
        }
    }

    /// Pick a server for `key`, skipping unhealthy, ejected and already `tried` servers;
    /// backups are considered only when no primary server is available.
    pub fn select(&self, key: &[u8], tried: &[usize]) -> Option<Arc<ServerState>> {
        for backup_pass in [false, true] {
            let accept = |b: &Backend, ready: bool| {
                let Some(r) = b.ext.get::<ServerRef>() else {
                    return false;
                };
                let Some(s) = self.servers.get(r.idx) else {
                    return false;
                };
                ready && s.backup == backup_pass && !s.is_ejected() && !tried.contains(&r.idx)
            };
            let chosen =
                each_lb!(&self.balancer, lb => lb.select_with(key, MAX_SELECTION_STEPS, accept));
            if let Some(b) = chosen {
                let idx = b.ext.get::<ServerRef>().map(|r| r.idx)?;
                return self.servers.get(idx).cloned();
            }
        }
        None
    }

    /// Whether `server` may receive traffic (healthy and not ejected).
    pub fn server_available(&self, idx: usize) -> bool {
        let ready = self
            .backends
            .get(idx)
            .map(|b| each_lb!(&self.balancer, lb => lb.backends().ready(b)))
            .unwrap_or(false);
        ready && self.servers.get(idx).is_some_and(|s| !s.is_ejected())
    }

    /// Refresh the `rampart_upstream_server_up` gauges.
    pub fn refresh_gauges(&self) {
        for s in self.servers.iter() {
            s.metrics.up.set(i64::from(self.server_available(s.idx)));
        }
    }

    /// Timeouts of this upstream with a route's overrides applied.
    pub fn timeouts(&self, route: Option<&crate::config::RouteTimeouts>) -> Timeouts {
        let t = &self.config.timeouts;
        Timeouts {
            connect: route.and_then(|r| r.connect).unwrap_or(t.connect).0,
            read: route.and_then(|r| r.read).unwrap_or(t.read).0,
            write: route.and_then(|r| r.write).unwrap_or(t.write).0,
            total: route.and_then(|r| r.total).or(t.total).map(|d| d.0),
        }
    }

    /// The Pingora peer for `server`.
    pub fn peer(&self, server: &ServerState, t: &Timeouts) -> HttpPeer {
        let cfg = &self.config;
        let tls = cfg.tls.is_some();
        let sni = match &cfg.tls {
            Some(tls) => tls.sni.clone().unwrap_or_else(|| {
                server
                    .configured
                    .rsplit_once(':')
                    .map(|(h, _)| h.trim_matches(['[', ']']).to_string())
                    .unwrap_or_default()
            }),
            None => String::new(),
        };
        let mut peer = HttpPeer::new(server.addr, tls, sni);
        let o = &mut peer.options;
        o.connection_timeout = Some(t.connect);
        o.total_connection_timeout = Some(t.connect);
        o.read_timeout = Some(t.read);
        o.write_timeout = Some(t.write);
        o.idle_timeout = Some(cfg.keepalive_timeout.0);
        if let Some(tls) = &cfg.tls {
            o.verify_cert = tls.verify;
            o.verify_hostname = tls.verify;
        }
        match cfg.protocol {
            UpstreamProtocol::Http1 => o.set_http_version(1, 1),
            UpstreamProtocol::H2 => o.set_http_version(2, 1),
            UpstreamProtocol::H2c => o.set_http_version(2, 2),
        }
        peer
    }

    /// Run the load balancer's background loop (health checks) until `shutdown`.
    pub async fn run(&self, shutdown: ShutdownWatch) {
        each_lb!(&self.balancer, lb => lb.run(shutdown, None).await)
    }

    /// Whether this upstream has an active health check.
    pub fn has_health_check(&self) -> bool {
        self.config.health_check.is_some()
    }
}

/// Every upstream of a configuration.
#[derive(Debug, Default)]
pub struct UpstreamSet {
    map: HashMap<String, Arc<Upstream>>,
}

impl UpstreamSet {
    /// Build the upstreams of `cfg`. Upstreams whose configuration did not change since
    /// `previous` are reused as they are, keeping their health state and counters.
    pub fn build(cfg: &Config, previous: Option<&UpstreamSet>) -> Result<UpstreamSet, String> {
        let mut map = HashMap::with_capacity(cfg.upstreams.len());
        for (name, ucfg) in &cfg.upstreams {
            let reused = previous
                .and_then(|p| p.map.get(name))
                .filter(|u| u.config == *ucfg)
                .cloned();
            let up = match reused {
                Some(u) => u,
                None => Arc::new(Upstream::build(name, ucfg)?),
            };
            map.insert(name.clone(), up);
        }
        Ok(UpstreamSet { map })
    }

    /// The upstream called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Upstream>> {
        self.map.get(name)
    }

    /// Every upstream.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Upstream>> {
        self.map.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_keys() {
        assert_eq!(HashKey::parse("uri"), Ok(HashKey::Uri));
        assert!(matches!(
            HashKey::parse("header:X-User"),
            Ok(HashKey::Header(_))
        ));
        assert_eq!(
            HashKey::parse("cookie:sid"),
            Ok(HashKey::Cookie("sid".into()))
        );
        assert!(HashKey::parse("body").is_err());
        assert!(HashKey::parse("header:bad name").is_err());
        assert!(HashKey::parse("cookie:").is_err());
    }

    #[test]
    fn a_lone_server_is_never_ejected() {
        let text = "listeners: [{ address: \"127.0.0.1:1\" }]\nupstreams:\n  one: { servers: [{ address: \"127.0.0.1:2\", max_fails: 1 }] }\n  two: { servers: [{ address: \"127.0.0.1:3\" }, { address: \"127.0.0.1:4\" }] }\n";
        let cfg = Config::from_yaml(text, None).unwrap_or_else(|e| panic!("{e}"));
        let set = UpstreamSet::build(&cfg, None).unwrap_or_else(|e| panic!("{e}"));
        let one = set.get("one").unwrap_or_else(|| panic!("one"));
        let s = one.select(b"", &[]).unwrap_or_else(|| panic!("no server"));
        assert!(!s.record_failure(true));
        assert!(one.select(b"", &[]).is_some());
        let two = set.get("two").unwrap_or_else(|| panic!("two"));
        let s = two.select(b"", &[]).unwrap_or_else(|| panic!("no server"));
        assert!(
            s.record_failure(true),
            "max_fails 1 ejects when there is another server"
        );
        let other = two.select(b"", &[]).unwrap_or_else(|| panic!("no server"));
        assert_ne!(other.idx, s.idx);
        assert!(
            two.select(b"", &[other.idx]).is_none(),
            "ejected and tried: none left"
        );
    }

    #[test]
    fn cookies() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap_or_else(|e| panic!("{e}"));
        let _ = req.append_header("Cookie", "a=1; sid=xyz ; b=2");
        assert_eq!(cookie_value(&req, "sid"), Some(&b"xyz"[..]));
        assert_eq!(cookie_value(&req, "a"), Some(&b"1"[..]));
        assert_eq!(cookie_value(&req, "c"), None);
    }
}

//! The gateway: Pingora server bootstrap, listeners and the proxy.
//!
//! # Design
//!
//! - **State.** Everything a request needs that may change on reload (configuration, routes,
//!   upstreams, compiled WAFs) is one immutable [`GatewayState`] behind
//!   `Arc<ArcSwap<GatewayState>>` ([`Gateway::state`]). A request takes a snapshot when it
//!   starts (`request_filter`) and keeps it to the end, so a reload never changes a request in
//!   flight; [`Gateway::reload`] builds the new state off the request path and swaps it in.
//!   Unchanged upstreams are carried over with their health state. Listeners, the admin
//!   address and the cache bounds are fixed at startup.
//! - **Services.** One Pingora proxy service per listener (plain HTTP/1.1, h2c, or TLS with
//!   per-SNI certificates and ALPN h2; PROXY protocol through Pingora's pre-TLS hook), one
//!   admin HTTP service (`/metrics`, `/healthz`, `POST /cache/purge`) and one background
//!   service running the upstream health checks ([`crate::upstream::HealthService`]).
//! - **Request path** ([`proxy::Proxy`], one small hook per step): `request_filter` resolves
//!   the client address (trusted proxy header or PROXY protocol), picks the route (first
//!   match; none: 404) and runs the WAF hook (`waf::request_filter`) before the cache and the
//!   upstream; the cache hooks use the route's rules; `upstream_peer` selects a server
//!   (health, passive ejection, backups, servers already tried); `fail_to_connect` retries
//!   idempotent requests on the next server; response hooks apply header edits, security
//!   headers, the cache status header and the WAF response hooks; `logging` records metrics
//!   and calls the WAF's phase 5.
//! - **WAF.** [`waf`] is the seam to the SecLang engine: its functions are called at fixed
//!   points and [`waf::WafSet`] is rebuilt with the rest of the state.

pub mod admin;
pub mod client;
pub mod proxy;
pub mod proxy_protocol;
pub mod replay;
pub mod request_line;
pub mod routing;
pub mod server;
pub mod tls;
pub mod waf;

use crate::cache::Cache;
use crate::config::Config;
use crate::upstream::UpstreamSet;
use arc_swap::ArcSwap;
use routing::Router;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use waf::WafSet;

/// The client of a request as the WAF and the balancer see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientInfo {
    /// Client address: the TCP peer, or the address a trusted proxy or the PROXY protocol
    /// reported.
    pub addr: IpAddr,
    /// Client port (0 when it came from a forwarding header).
    pub port: u16,
    /// Local address the request arrived on.
    pub server_addr: IpAddr,
    /// Local port the request arrived on.
    pub server_port: u16,
}

/// Everything that is rebuilt on reload.
pub struct GatewayState {
    /// The configuration this state was built from.
    pub config: Arc<Config>,
    /// The upstreams.
    pub upstreams: Arc<UpstreamSet>,
    /// The routes.
    pub router: Router,
    /// The compiled WAFs.
    pub waf: WafSet,
    /// Increases with every successful build.
    pub generation: u64,
}

impl std::fmt::Debug for GatewayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayState")
            .field("generation", &self.generation)
            .field("routes", &self.router.len())
            .finish()
    }
}

static GENERATION: AtomicU64 = AtomicU64::new(0);

impl GatewayState {
    /// Build the state for `cfg`, reusing unchanged upstreams of `previous`.
    pub fn build(cfg: Config, previous: Option<&GatewayState>) -> Result<GatewayState, String> {
        cfg.validate().map_err(|e| e.to_string())?;
        let upstreams = Arc::new(UpstreamSet::build(&cfg, previous.map(|p| &*p.upstreams))?);
        let router = Router::build(&cfg, &upstreams)?;
        let waf = WafSet::build(&cfg)?;
        Ok(GatewayState {
            config: Arc::new(cfg),
            upstreams,
            router,
            waf,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed) + 1,
        })
    }
}

/// Hands the heap's free pages back to the system, once a state is in force: compiling a
/// ruleset allocates far more than it keeps (the parse tree, regex and automaton
/// construction), about 4 MB with stock CRS that glibc would keep resident, and a reload
/// also frees the replaced ruleset (about 20 MB).
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas, under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The running gateway: its swappable state and the process-wide cache.
pub struct Gateway {
    /// The state in force.
    pub state: Arc<ArcSwap<GatewayState>>,
    /// The HTTP cache (bounds fixed at startup).
    pub cache: &'static Cache,
}

impl Gateway {
    /// Build the gateway for `cfg`.
    pub fn new(cfg: Config) -> Result<Arc<Gateway>, String> {
        let cache = Cache::new(&cfg.cache);
        let state = GatewayState::build(cfg, None)?;
        release_free_heap();
        Ok(Arc::new(Gateway {
            state: Arc::new(ArcSwap::from_pointee(state)),
            cache,
        }))
    }

    /// The state in force.
    pub fn current(&self) -> Arc<GatewayState> {
        self.state.load_full()
    }

    /// Build a state from `cfg` and swap it in. On error the current state stays. Settings
    /// that only apply at startup (listeners, admin, cache bounds, server) are reported in
    /// the returned warnings when they differ.
    pub fn reload(&self, cfg: Config) -> Result<Vec<String>, String> {
        let old = self.current();
        let mut warnings = Vec::new();
        let o = &old.config;
        if format!("{:?}", o.listeners) != format!("{:?}", cfg.listeners) {
            warnings.push("listeners changed: restart (or upgrade with -u) to apply".to_string());
        }
        if format!("{:?}", o.admin) != format!("{:?}", cfg.admin) {
            warnings.push("admin changed: restart to apply".to_string());
        }
        if o.cache != cfg.cache {
            warnings.push("cache bounds changed: restart to apply".to_string());
        }
        let new = GatewayState::build(cfg, Some(&old))?;
        self.state.store(Arc::new(new));
        // The previous state is freed here unless requests in flight still hold it; one trim
        // then returns both its pages and the new ruleset's compile-time garbage (trimming
        // while the old ruleset was alive left 84 MB resident after a reload, now 62-64 MB).
        drop(old);
        release_free_heap();
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(servers_b: &str) -> Config {
        let text = format!(
            "listeners: [{{ address: \"127.0.0.1:1\" }}]\nupstreams:\n  a: {{ servers: [{{ address: \"127.0.0.1:2\" }}] }}\n  b: {{ servers: [{servers_b}] }}\nroutes: [{{ upstream: a }}, {{ upstream: b }}]\n"
        );
        Config::from_yaml(&text, None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn reload_swaps_state_and_keeps_unchanged_upstreams() {
        let gw =
            Gateway::new(cfg("{ address: \"127.0.0.1:3\" }")).unwrap_or_else(|e| panic!("{e}"));
        let before = gw.current();
        let warnings = gw
            .reload(cfg("{ address: \"127.0.0.1:4\" }"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(warnings.is_empty(), "{warnings:?}");
        let after = gw.current();
        assert!(after.generation > before.generation);
        let same = |name: &str| {
            Arc::ptr_eq(
                before
                    .upstreams
                    .get(name)
                    .unwrap_or_else(|| panic!("{name}")),
                after
                    .upstreams
                    .get(name)
                    .unwrap_or_else(|| panic!("{name}")),
            )
        };
        assert!(same("a"), "unchanged upstream keeps its state");
        assert!(!same("b"), "changed upstream is rebuilt");
        // the old snapshot is still usable by requests in flight
        assert_eq!(before.router.len(), 2);
    }

    #[test]
    fn failed_reload_keeps_the_old_state() {
        let gw =
            Gateway::new(cfg("{ address: \"127.0.0.1:3\" }")).unwrap_or_else(|e| panic!("{e}"));
        let before = gw.current();
        let mut bad = cfg("{ address: \"127.0.0.1:3\" }");
        bad.routes[0].upstream = "missing".into();
        assert!(gw.reload(bad).is_err());
        assert_eq!(gw.current().generation, before.generation);
    }
}

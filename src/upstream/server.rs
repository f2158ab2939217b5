//! Per-server runtime state: passive ejection (`max_fails` within `fail_timeout`), in-flight
//! request counting and the server's metric handles.

use crate::metrics;
use prometheus::{Histogram, IntCounter, IntGauge};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Milliseconds since the first call (a process-local monotonic clock fitting an atomic).
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Failure window of one server.
#[derive(Debug, Default)]
struct FailWindow {
    count: u32,
    started_ms: u64,
}

/// Metric handles of one server, resolved once.
pub(crate) struct ServerMetrics {
    pub selected: IntCounter,
    pub in_flight: IntGauge,
    pub up: IntGauge,
    pub connect_failures: IntCounter,
    pub proxy_failures: IntCounter,
    pub ejections: IntCounter,
    pub became_healthy: IntCounter,
    pub became_unhealthy: IntCounter,
    pub latency: Histogram,
}

impl ServerMetrics {
    fn new(upstream: &str, server: &str) -> ServerMetrics {
        let m = metrics::gateway();
        let l = [upstream, server];
        ServerMetrics {
            selected: m.selections.with_label_values(&l),
            in_flight: m.in_flight.with_label_values(&l),
            up: m.server_up.with_label_values(&l),
            connect_failures: m.failures.with_label_values(&[upstream, server, "connect"]),
            proxy_failures: m.failures.with_label_values(&[upstream, server, "proxy"]),
            ejections: m.ejections.with_label_values(&l),
            became_healthy: m
                .health_transitions
                .with_label_values(&[upstream, server, "healthy"]),
            became_unhealthy: m.health_transitions.with_label_values(&[
                upstream,
                server,
                "unhealthy",
            ]),
            latency: m.upstream_latency.with_label_values(&l),
        }
    }
}

/// One server of an upstream (one resolved address).
pub struct ServerState {
    /// Position in the upstream's server list.
    pub idx: usize,
    /// Upstream name (for logs).
    pub upstream: Arc<str>,
    /// The resolved address.
    pub addr: SocketAddr,
    /// The address as configured (host name kept for SNI and Host of health checks).
    pub configured: String,
    /// Configured weight.
    pub weight: u32,
    /// Only used when every other server is unavailable.
    pub backup: bool,
    max_fails: u32,
    fail_timeout: Duration,
    in_flight: Arc<AtomicUsize>,
    ejected_until_ms: AtomicU64,
    window: Mutex<FailWindow>,
    pub(crate) metrics: ServerMetrics,
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("upstream", &self.upstream)
            .field("addr", &self.addr)
            .field("weight", &self.weight)
            .field("backup", &self.backup)
            .finish()
    }
}

impl ServerState {
    pub(crate) fn new(
        idx: usize,
        upstream: Arc<str>,
        addr: SocketAddr,
        configured: String,
        cfg: &crate::config::ServerConfig,
    ) -> ServerState {
        let metrics = ServerMetrics::new(&upstream, &addr.to_string());
        metrics.up.set(1);
        ServerState {
            idx,
            upstream,
            addr,
            configured,
            weight: cfg.weight,
            backup: cfg.backup,
            max_fails: cfg.max_fails,
            fail_timeout: cfg.fail_timeout.0,
            in_flight: Arc::new(AtomicUsize::new(0)),
            ejected_until_ms: AtomicU64::new(0),
            window: Mutex::new(FailWindow::default()),
            metrics,
        }
    }

    /// The shared in-flight counter (read by the least-connections selector).
    pub(crate) fn in_flight_counter(&self) -> Arc<AtomicUsize> {
        self.in_flight.clone()
    }

    /// Requests currently in progress on this server.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether the server is passively ejected right now.
    pub fn is_ejected(&self) -> bool {
        now_ms() < self.ejected_until_ms.load(Ordering::Relaxed)
    }

    /// Count a failed attempt; ejects the server when `max_fails` failures fall within
    /// `fail_timeout`. Returns `true` if this failure ejected it.
    pub fn record_failure(&self, connect: bool) -> bool {
        if connect {
            self.metrics.connect_failures.inc();
        } else {
            self.metrics.proxy_failures.inc();
        }
        if self.max_fails == 0 {
            return false;
        }
        let now = now_ms();
        let window_ms = u64::try_from(self.fail_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut w = match self.window.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        if w.count == 0 || now.saturating_sub(w.started_ms) > window_ms {
            w.count = 0;
            w.started_ms = now;
        }
        w.count += 1;
        if w.count < self.max_fails {
            return false;
        }
        w.count = 0;
        drop(w);
        self.ejected_until_ms
            .store(now.saturating_add(window_ms), Ordering::Relaxed);
        self.metrics.ejections.inc();
        self.metrics.up.set(0);
        log::warn!(
            "upstream {}: server {} ejected for {:?} after {} failure(s) within {:?}",
            self.upstream,
            self.addr,
            self.fail_timeout,
            self.max_fails,
            self.fail_timeout
        );
        true
    }

    /// Mark one more request in progress; the guard ends it when dropped.
    pub fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.metrics.in_flight.inc();
        self.metrics.selected.inc();
        InFlight {
            server: self.clone(),
        }
    }

    /// Record the time the server took to answer.
    pub fn observe_latency(&self, d: Duration) {
        self.metrics.latency.observe(d.as_secs_f64());
    }
}

/// A request in progress on a server; dropping it ends the request.
#[derive(Debug)]
pub struct InFlight {
    server: Arc<ServerState>,
}

impl InFlight {
    /// The server this request went to.
    pub fn server(&self) -> &Arc<ServerState> {
        &self.server
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.server.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.server.metrics.in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Dur, ServerConfig};

    fn server(max_fails: u32, fail_timeout: Dur) -> Arc<ServerState> {
        let cfg = ServerConfig {
            address: "127.0.0.1:1".into(),
            weight: 1,
            max_fails,
            fail_timeout,
            backup: false,
        };
        Arc::new(ServerState::new(
            0,
            "t".into(),
            SocketAddr::from(([127, 0, 0, 1], 1)),
            cfg.address.clone(),
            &cfg,
        ))
    }

    #[test]
    fn ejects_after_max_fails_and_recovers() {
        let s = server(2, Dur::millis(200));
        assert!(!s.record_failure(true));
        assert!(!s.is_ejected());
        assert!(s.record_failure(true));
        assert!(s.is_ejected());
        std::thread::sleep(Duration::from_millis(250));
        assert!(!s.is_ejected());
    }

    #[test]
    fn max_fails_zero_never_ejects() {
        let s = server(0, Dur::secs(10));
        for _ in 0..10 {
            assert!(!s.record_failure(false));
        }
        assert!(!s.is_ejected());
    }

    #[test]
    fn in_flight_guard_counts() {
        let s = server(1, Dur::secs(1));
        let a = s.start_request();
        let b = s.start_request();
        assert_eq!(s.in_flight(), 2);
        drop(a);
        assert_eq!(s.in_flight(), 1);
        drop(b);
        assert_eq!(s.in_flight(), 0);
    }
}

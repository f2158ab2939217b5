//! Prometheus metrics shared by the whole process.
//!
//! One [`prometheus::Registry`] ([`registry()`]) holds every metric; the admin listener serves
//! it in the text exposition format ([`render()`]). Other modules (the WAF engine, reload
//! handling) register their own collectors into the same registry with
//! `registry().register(Box::new(collector.clone()))`.
//!
//! The gateway's own metrics live in [`GatewayMetrics`] ([`gateway()`]). Names follow the
//! Prometheus conventions: a `rampart_` prefix, `_total` for counters, base units
//! (`_seconds`, `_bytes`) in the name.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::OnceLock;

/// Buckets (seconds) for request and upstream latency histograms: 1 ms .. 60 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The process-wide registry every Rampart metric is registered in.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::new)
}

/// Render every registered metric in the Prometheus text format (version 0.0.4).
pub fn render() -> Vec<u8> {
    let mut buf = Vec::with_capacity(16 * 1024);
    let encoder = TextEncoder::new();
    if let Err(e) = encoder.encode(&registry().gather(), &mut buf) {
        log::error!("metrics: encoding failed: {e}");
    }
    buf
}

/// The `Content-Type` of [`render()`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Metrics owned by the gateway, upstream and cache modules.
pub struct GatewayMetrics {
    /// `rampart_http_requests_total{route,status}`: finished downstream requests.
    pub requests: IntCounterVec,
    /// `rampart_http_request_duration_seconds{route}`: downstream request duration.
    pub request_duration: HistogramVec,
    /// `rampart_upstream_response_duration_seconds{upstream,server}`: time from sending the
    /// request to the upstream (connection included) to its response header.
    pub upstream_latency: HistogramVec,
    /// `rampart_upstream_server_up{upstream,server}`: 1 when the server may receive traffic
    /// (healthy and not passively ejected), else 0.
    pub server_up: IntGaugeVec,
    /// `rampart_upstream_selections_total{upstream,server}`: times the balancer picked a server.
    pub selections: IntCounterVec,
    /// `rampart_upstream_failures_total{upstream,server,kind}`: failed attempts
    /// (`kind` = `connect` or `proxy`).
    pub failures: IntCounterVec,
    /// `rampart_upstream_ejections_total{upstream,server}`: passive ejections (max_fails hit).
    pub ejections: IntCounterVec,
    /// `rampart_upstream_health_transitions_total{upstream,server,state}`: active health
    /// check flips (`state` = `healthy` or `unhealthy`).
    pub health_transitions: IntCounterVec,
    /// `rampart_upstream_retries_total{upstream}`: retries to another server after a failure.
    pub retries: IntCounterVec,
    /// `rampart_upstream_unavailable_total{upstream}`: requests answered 502 because no
    /// server of the upstream could take them.
    pub unavailable: IntCounterVec,
    /// `rampart_upstream_in_flight_requests{upstream,server}`: requests in progress.
    pub in_flight: IntGaugeVec,
    /// `rampart_cache_requests_total{status}`: cache outcome per request
    /// (`hit`, `miss`, `expired`, `stale`, `revalidated`, `bypass`).
    pub cache_requests: IntCounterVec,
    /// `rampart_cache_evictions_total`: entries evicted to stay within the cache bounds.
    pub cache_evictions: IntCounter,
    /// `rampart_cache_purged_total`: entries removed by purge requests.
    pub cache_purged: IntCounter,
    /// `rampart_cache_size_bytes`: bytes held by the cache storage.
    pub cache_size_bytes: IntGauge,
    /// `rampart_cache_entries`: entries held by the cache storage.
    pub cache_entries: IntGauge,
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} definition: {e}"));
    register(Box::new(c.clone()), name);
    c
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} definition: {e}"));
    register(Box::new(g.clone()), name);
    g
}

fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )
    .unwrap_or_else(|e| panic!("metric {name} definition: {e}"));
    register(Box::new(h.clone()), name);
    h
}

fn register(c: Box<dyn prometheus::core::Collector>, name: &str) {
    if let Err(e) = registry().register(c) {
        // Only possible if another module registered the same name: a programming error that
        // must not take the gateway down; the metric still counts, it is just not exported.
        log::error!("metrics: cannot register {name}: {e}");
    }
}

/// The gateway metrics, registered in [`registry()`] on first use.
///
/// The metric definitions are constants, so building them cannot fail at run time.
pub fn gateway() -> &'static GatewayMetrics {
    static METRICS: OnceLock<GatewayMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let cache_evictions = IntCounter::new(
            "rampart_cache_evictions_total",
            "Cache entries evicted to stay within the configured bounds.",
        )
        .unwrap_or_else(|e| panic!("metric definition: {e}"));
        register(
            Box::new(cache_evictions.clone()),
            "rampart_cache_evictions_total",
        );
        let cache_purged = IntCounter::new(
            "rampart_cache_purged_total",
            "Cache entries removed by purge requests.",
        )
        .unwrap_or_else(|e| panic!("metric definition: {e}"));
        register(Box::new(cache_purged.clone()), "rampart_cache_purged_total");
        let cache_size_bytes = IntGauge::new(
            "rampart_cache_size_bytes",
            "Bytes held by the cache storage.",
        )
        .unwrap_or_else(|e| panic!("metric definition: {e}"));
        register(
            Box::new(cache_size_bytes.clone()),
            "rampart_cache_size_bytes",
        );
        let cache_entries = IntGauge::new(
            "rampart_cache_entries",
            "Entries held by the cache storage.",
        )
        .unwrap_or_else(|e| panic!("metric definition: {e}"));
        register(Box::new(cache_entries.clone()), "rampart_cache_entries");

        GatewayMetrics {
            requests: counter_vec(
                "rampart_http_requests_total",
                "Downstream HTTP requests by route and response status.",
                &["route", "status"],
            ),
            request_duration: histogram_vec(
                "rampart_http_request_duration_seconds",
                "Downstream HTTP request duration by route.",
                &["route"],
            ),
            upstream_latency: histogram_vec(
                "rampart_upstream_response_duration_seconds",
                "Time from contacting the upstream server to its response header.",
                &["upstream", "server"],
            ),
            server_up: gauge_vec(
                "rampart_upstream_server_up",
                "1 when the upstream server may receive traffic, 0 when it is down or ejected.",
                &["upstream", "server"],
            ),
            selections: counter_vec(
                "rampart_upstream_selections_total",
                "Times the load balancer selected the upstream server.",
                &["upstream", "server"],
            ),
            failures: counter_vec(
                "rampart_upstream_failures_total",
                "Failed attempts to an upstream server by kind (connect, proxy).",
                &["upstream", "server", "kind"],
            ),
            ejections: counter_vec(
                "rampart_upstream_ejections_total",
                "Passive ejections of an upstream server after max_fails failures.",
                &["upstream", "server"],
            ),
            health_transitions: counter_vec(
                "rampart_upstream_health_transitions_total",
                "Active health check state changes of an upstream server.",
                &["upstream", "server", "state"],
            ),
            retries: counter_vec(
                "rampart_upstream_retries_total",
                "Requests retried on another server after a connection failure.",
                &["upstream"],
            ),
            unavailable: counter_vec(
                "rampart_upstream_unavailable_total",
                "Requests answered 502 because no server of the upstream was available.",
                &["upstream"],
            ),
            in_flight: gauge_vec(
                "rampart_upstream_in_flight_requests",
                "Requests in progress per upstream server.",
                &["upstream", "server"],
            ),
            cache_requests: counter_vec(
                "rampart_cache_requests_total",
                "Cache outcome of cache-enabled requests (hit, miss, expired, stale, bypass...).",
                &["status"],
            ),
            cache_evictions,
            cache_purged,
            cache_size_bytes,
            cache_entries,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_gateway_metrics() {
        let m = gateway();
        m.requests.with_label_values(&["r", "200"]).inc();
        m.cache_evictions.inc();
        let text = String::from_utf8(render()).unwrap_or_default();
        assert!(text.contains("rampart_http_requests_total{route=\"r\",status=\"200\"}"));
        assert!(text.contains("rampart_cache_evictions_total"));
    }
}

/// Metrics of the WAF connector.
pub struct WafMetrics {
    /// `rampart_waf_transactions_total{route,outcome}`: inspected requests (`passed`,
    /// `blocked`).
    pub transactions: IntCounterVec,
    /// `rampart_waf_interventions_total{route,rule_id,phase}`: requests blocked, by the rule
    /// that blocked them (`0` for body limits).
    pub interventions: IntCounterVec,
    /// `rampart_waf_interventions_by_category_total{route,category}`: blocked requests by
    /// CRS attack category (the `attack-*` tags of the rules that matched; `none` if none).
    pub interventions_by_category: IntCounterVec,
    /// `rampart_waf_inbound_anomaly_score{route}`: CRS inbound anomaly score per request.
    pub inbound_anomaly_score: HistogramVec,
    /// `rampart_waf_engine_duration_seconds{route,phase}`: rule engine time per phase.
    pub engine_seconds: HistogramVec,
    /// `rampart_reloads_total{outcome}`: configuration and rule reloads (`ok`, `failed`).
    pub reloads: IntCounterVec,
}

/// The WAF's metrics (registered in [`registry()`] on first use).
pub fn waf() -> &'static WafMetrics {
    static M: OnceLock<WafMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let r = registry();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            if let Err(e) = r.register(Box::new(c.clone())) {
                log::error!("metrics: {name}: {e}");
            }
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid metric");
            if let Err(e) = r.register(Box::new(h.clone())) {
                log::error!("metrics: {name}: {e}");
            }
            h
        };
        WafMetrics {
            transactions: counter("rampart_waf_transactions_total", "Requests inspected by the WAF, by outcome.", &["route", "outcome"]),
            interventions: counter("rampart_waf_interventions_total", "Requests blocked by the WAF, by rule id and phase.", &["route", "rule_id", "phase"]),
            interventions_by_category: counter(
                "rampart_waf_interventions_by_category_total",
                "Requests blocked by the WAF, by CRS attack category (attack-* tags).",
                &["route", "category"],
            ),
            inbound_anomaly_score: histogram(
                "rampart_waf_inbound_anomaly_score",
                "CRS inbound anomaly score of inspected requests.",
                &["route"],
                vec![0.0, 2.0, 3.0, 5.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0],
            ),
            engine_seconds: histogram(
                "rampart_waf_engine_duration_seconds",
                "Time spent in the rule engine per phase.",
                &["route", "phase"],
                vec![0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1],
            ),
            reloads: counter("rampart_reloads_total", "Configuration and rule reloads, by outcome.", &["outcome"]),
        }
    })
}

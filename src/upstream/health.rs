//! Active health checks, run by Pingora's `LoadBalancer` background loop.
//!
//! - `tcp`: Pingora's [`TcpHealthCheck`] (TLS too when the upstream uses TLS), with a
//!   [`HealthObserve`] callback that logs and counts the transitions;
//! - `http`: [`HttpCheck`], our own [`HealthCheck`] because Pingora's `HttpHealthCheck` only
//!   validates the response header: it also accepts a set of statuses and looks for a text in
//!   the body.
//!
//! Both flip a server after `healthy_threshold` / `unhealthy_threshold` consecutive results
//! (Pingora's `Health::observe_health`).

use super::least_conn::ServerRef;
use super::server::ServerState;
use crate::config::{HealthCheckConfig, HealthCheckKind, UpstreamConfig};
use async_trait::async_trait;
use pingora_core::connectors::http::Connector as HttpConnector;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType, Result};
use pingora_http::RequestHeader;
use pingora_load_balancing::health_check::{HealthCheck, HealthObserve, TcpHealthCheck};
use pingora_load_balancing::Backend;
use std::sync::Arc;
use std::time::Duration;

/// Logs health transitions and keeps the server metrics in step.
pub(crate) struct Observer {
    pub servers: Arc<[Arc<ServerState>]>,
}

impl Observer {
    fn server(&self, target: &Backend) -> Option<&Arc<ServerState>> {
        let idx = target.ext.get::<ServerRef>()?.idx;
        self.servers.get(idx)
    }

    pub(crate) fn changed(&self, target: &Backend, healthy: bool) {
        let Some(s) = self.server(target) else {
            return;
        };
        if healthy {
            s.metrics.became_healthy.inc();
            s.metrics.up.set(i64::from(!s.is_ejected()));
            log::info!(
                "upstream {}: server {} passed its health check and is back in service",
                s.upstream,
                s.addr
            );
        } else {
            s.metrics.became_unhealthy.inc();
            s.metrics.up.set(0);
            log::warn!(
                "upstream {}: server {} failed its health check and is out of service",
                s.upstream,
                s.addr
            );
        }
    }
}

#[async_trait]
impl HealthObserve for Observer {
    async fn observe(&self, target: &Backend, healthy: bool) {
        self.changed(target, healthy);
    }
}

/// Build the health check of an upstream.
pub(crate) fn build(
    up: &UpstreamConfig,
    hc: &HealthCheckConfig,
    servers: Arc<[Arc<ServerState>]>,
) -> std::result::Result<Box<dyn HealthCheck + Send + Sync + 'static>, String> {
    let observer = Observer { servers };
    match hc.kind {
        HealthCheckKind::Tcp => {
            let mut check = match &up.tls {
                Some(tls) => TcpHealthCheck::new_tls(tls.sni.as_deref().unwrap_or("")),
                None => TcpHealthCheck::new(),
            };
            check.consecutive_success = hc.healthy_threshold as usize;
            check.consecutive_failure = hc.unhealthy_threshold as usize;
            check.peer_template.options.connection_timeout = Some(hc.timeout.0);
            check.peer_template.options.total_connection_timeout = Some(hc.timeout.0);
            if let Some(tls) = &up.tls {
                check.peer_template.options.verify_cert = tls.verify;
                check.peer_template.options.verify_hostname = tls.verify;
            }
            check.health_changed_callback = Some(Box::new(observer));
            if let Some(port) = hc.port {
                Ok(Box::new(PortOverride { inner: check, port }))
            } else {
                Ok(check)
            }
        }
        HealthCheckKind::Http => Ok(Box::new(HttpCheck::new(up, hc, observer)?)),
    }
}

/// A TCP check on another port than the server's.
struct PortOverride {
    inner: Box<TcpHealthCheck>,
    port: u16,
}

#[async_trait]
impl HealthCheck for PortOverride {
    async fn check(&self, target: &Backend) -> Result<()> {
        let mut t = target.clone();
        t.addr.set_port(self.port);
        self.inner.check(&t).await
    }
    async fn health_status_change(&self, target: &Backend, healthy: bool) {
        self.inner.health_status_change(target, healthy).await
    }
    fn health_threshold(&self, success: bool) -> usize {
        self.inner.health_threshold(success)
    }
}

/// HTTP health check: method, path, Host, accepted statuses, text expected in the body.
pub struct HttpCheck {
    peer_template: HttpPeer,
    req: RequestHeader,
    statuses: Vec<u16>,
    expected_body: Option<Vec<u8>>,
    max_body: usize,
    timeout: Duration,
    port: Option<u16>,
    healthy_threshold: usize,
    unhealthy_threshold: usize,
    connector: HttpConnector,
    observer: Observer,
}

impl HttpCheck {
    fn new(
        up: &UpstreamConfig,
        hc: &HealthCheckConfig,
        observer: Observer,
    ) -> std::result::Result<HttpCheck, String> {
        let tls = up.tls.is_some();
        let sni = up
            .tls
            .as_ref()
            .and_then(|t| t.sni.clone())
            .unwrap_or_default();
        let mut peer_template = HttpPeer::new("0.0.0.0:1", tls, sni.clone());
        peer_template.options.connection_timeout = Some(hc.timeout.0);
        peer_template.options.total_connection_timeout = Some(hc.timeout.0);
        peer_template.options.read_timeout = Some(hc.timeout.0);
        peer_template.options.write_timeout = Some(hc.timeout.0);
        if let Some(t) = &up.tls {
            peer_template.options.verify_cert = t.verify;
            peer_template.options.verify_hostname = t.verify;
        }
        let method = hc.method.as_deref().unwrap_or("GET");
        let path = hc.path.as_deref().unwrap_or("/");
        let mut req = RequestHeader::build(method, path.as_bytes(), None)
            .map_err(|e| format!("health check request {method} {path}: {e}"))?;
        let host = hc.host.clone().unwrap_or_else(|| {
            if sni.is_empty() {
                up.servers
                    .first()
                    .map(|s| s.address.clone())
                    .unwrap_or_else(|| "localhost".into())
            } else {
                sni.clone()
            }
        });
        let _ = req.insert_header("Host", host);
        let _ = req.insert_header("User-Agent", "rampart-health-check");
        let _ = req.insert_header("Connection", "close");
        Ok(HttpCheck {
            peer_template,
            req,
            statuses: hc.expected_statuses.clone().unwrap_or_else(|| vec![200]),
            expected_body: hc.expected_body.as_ref().map(|b| b.as_bytes().to_vec()),
            max_body: hc
                .max_body
                .map(|b| usize::try_from(b.0).unwrap_or(usize::MAX))
                .unwrap_or(64 * 1024),
            timeout: hc.timeout.0,
            port: hc.port,
            healthy_threshold: hc.healthy_threshold as usize,
            unhealthy_threshold: hc.unhealthy_threshold as usize,
            connector: HttpConnector::new(None),
            observer,
        })
    }

    async fn probe(&self, target: &Backend) -> Result<()> {
        let mut peer = self.peer_template.clone();
        peer._address = target.addr.clone();
        if let Some(port) = self.port {
            peer._address.set_port(port);
        }
        let (mut session, _reused) = self.connector.get_http_session(&peer).await?;
        session
            .write_request_header(Box::new(self.req.clone()))
            .await?;
        session.finish_request_body().await?;
        session.read_response_header().await?;
        let status = session
            .response_header()
            .map(|h| h.status.as_u16())
            .ok_or_else(|| Error::explain(ErrorType::InvalidHTTPHeader, "no response header"))?;
        if !self.statuses.contains(&status) {
            return Error::e_explain(
                ErrorType::CustomCode("unexpected health check status", status),
                format!("got {status}, expected one of {:?}", self.statuses),
            );
        }
        let Some(needle) = &self.expected_body else {
            return Ok(());
        };
        let mut body = Vec::new();
        while let Some(chunk) = session.read_response_body().await? {
            body.extend_from_slice(&chunk);
            if contains(&body, needle) {
                return Ok(());
            }
            if body.len() >= self.max_body {
                break;
            }
        }
        Error::e_explain(
            ErrorType::Custom("health check body mismatch"),
            format!(
                "response body does not contain {:?}",
                String::from_utf8_lossy(needle)
            ),
        )
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[async_trait]
impl HealthCheck for HttpCheck {
    async fn check(&self, target: &Backend) -> Result<()> {
        match tokio::time::timeout(self.timeout, self.probe(target)).await {
            Ok(r) => r,
            Err(_) => Error::e_explain(
                ErrorType::ReadTimedout,
                format!("health check timed out after {:?}", self.timeout),
            ),
        }
    }

    async fn health_status_change(&self, target: &Backend, healthy: bool) {
        self.observer.changed(target, healthy);
    }

    fn health_threshold(&self, success: bool) -> usize {
        if success {
            self.healthy_threshold
        } else {
            self.unhealthy_threshold
        }
    }
}

#[cfg(test)]
mod tests {
    use super::contains;

    #[test]
    fn body_search() {
        assert!(contains(b"status: ok\n", b"ok"));
        assert!(!contains(b"status: down", b"ok"));
        assert!(contains(b"", b""));
        assert!(!contains(b"o", b"ok"));
    }
}

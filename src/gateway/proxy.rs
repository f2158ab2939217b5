//! The `ProxyHttp` implementation: one small hook per step of a request.

use super::client::ClientAddrPolicy;
use super::routing::Route;
use super::waf::{self, WafCtx};
use super::{ClientInfo, Gateway, GatewayState};
use crate::cache;
use crate::metrics;
use crate::upstream::{InFlight, Upstream};
use async_trait::async_trait;
use bytes::Bytes;
use pingora_cache::key::HashBinary;
use pingora_cache::{CacheKey, CacheMeta, NoCacheReason, RespCacheable};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorSource, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The proxy of one listener.
pub struct Proxy {
    gw: Arc<Gateway>,
    client_policy: ClientAddrPolicy,
    tls: bool,
}

impl Proxy {
    /// A proxy for a listener with the given client address policy.
    pub fn new(gw: Arc<Gateway>, client_policy: ClientAddrPolicy, tls: bool) -> Proxy {
        Proxy {
            gw,
            client_policy,
            tls,
        }
    }
}

/// Per-request state.
pub struct Ctx {
    state: Option<Arc<GatewayState>>,
    route: Option<usize>,
    client: Option<ClientInfo>,
    /// The WAF's per-request state.
    pub waf: WafCtx,
    tried: Vec<usize>,
    in_flight: Option<InFlight>,
    started: Instant,
    upstream_started: Option<Instant>,
    deadline: Option<Instant>,
    key_buf: Vec<u8>,
    cache_key: Option<String>,
}

impl Ctx {
    /// The state and route of this request (after `request_filter` found one).
    fn route(&self) -> Option<(&GatewayState, &Route)> {
        let state = self.state.as_deref()?;
        Some((state, state.router.get(self.route?)?))
    }

    /// The client as resolved in `request_filter`.
    pub fn client(&self) -> Option<&ClientInfo> {
        self.client.as_ref()
    }

    /// The index of the matched route.
    pub fn route_index(&self) -> Option<usize> {
        self.route
    }
}

fn route_of(ctx: &Ctx) -> Result<(Arc<GatewayState>, usize)> {
    match (&ctx.state, ctx.route) {
        (Some(s), Some(i)) => Ok((s.clone(), i)),
        _ => Error::e_explain(ErrorType::InternalError, "request has no route"),
    }
}

fn no_server_error(up: &Upstream, tried: usize, req: &RequestHeader) -> Box<Error> {
    metrics::gateway()
        .unavailable
        .with_label_values(&[&up.name])
        .inc();
    let total = up.servers.len();
    let unavailable = (0..total).filter(|i| !up.server_available(*i)).count();
    log::error!(
        "upstream {}: no server available for {} {} ({} server(s): {} down or ejected, {} already tried); answering 502",
        up.name,
        req.method,
        req.uri,
        total,
        unavailable,
        tried
    );
    Error::explain(
        ErrorType::HTTPStatus(502),
        format!("upstream {}: no server available", up.name),
    )
}

#[async_trait]
impl ProxyHttp for Proxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            state: None,
            route: None,
            client: None,
            #[allow(clippy::default_constructed_unit_structs)]
            waf: WafCtx::default(),
            tried: Vec::new(),
            in_flight: None,
            started: Instant::now(),
            upstream_started: None,
            deadline: None,
            key_buf: Vec::new(),
            cache_key: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let state = self.gw.current();
        let client = self.client_policy.resolve(
            session.client_addr(),
            session.server_addr(),
            session.req_header(),
        );
        ctx.client = Some(client);
        ctx.route = state.router.find(session.req_header()).map(|(i, _)| i);
        ctx.state = Some(state.clone());
        let Some(idx) = ctx.route else {
            session
                .respond_error_with_body(404, Bytes::from_static(b"no route for this request\n"))
                .await?;
            return Ok(true);
        };
        waf::request_filter(&state.waf, idx, session, &mut ctx.waf, &client).await
    }

    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        waf::request_body_filter(session, body, end_of_stream, &mut ctx.waf).await
    }

    fn request_cache_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        let Some((_, route)) = ctx.route() else {
            return Ok(());
        };
        let cacheable = route.cache.as_ref().is_some_and(|rc| {
            rc.request_cacheable(session.req_header()) && !session.is_upgrade_req()
        });
        if cacheable {
            self.gw.cache.enable(&mut session.cache);
        }
        Ok(())
    }

    fn cache_key_callback(&self, session: &Session, ctx: &mut Ctx) -> Result<CacheKey> {
        let key = match ctx.route().and_then(|(_, r)| r.cache.as_ref()) {
            Some(rc) => rc.key_string(session.req_header(), self.tls),
            None => return Error::e_explain(ErrorType::InternalError, "cache without route rules"),
        };
        if self.gw.cache.config.key_header.is_some() {
            ctx.cache_key = Some(key.clone());
        }
        Ok(CacheKey::new(key, ""))
    }

    fn cache_vary_filter(
        &self,
        meta: &CacheMeta,
        _ctx: &mut Ctx,
        req: &RequestHeader,
    ) -> Option<HashBinary> {
        cache::variance(meta, req)
    }

    fn response_cache_filter(
        &self,
        session: &Session,
        resp: &ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<RespCacheable> {
        Ok(match ctx.route().and_then(|(_, r)| r.cache.as_ref()) {
            Some(rc) => rc.response_cacheable(session.req_header(), resp),
            None => RespCacheable::Uncacheable(NoCacheReason::NeverEnabled),
        })
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let (state, idx) = route_of(ctx)?;
        let Some(route) = state.router.get(idx) else {
            return Error::e_explain(ErrorType::InternalError, "route vanished");
        };
        let up = &route.upstream;
        let client_ip = ctx
            .client
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.addr);
        up.selection_key(session.req_header(), client_ip, &mut ctx.key_buf);
        let now = Instant::now();
        let mut t = up.timeouts(route.timeouts.as_ref());
        if ctx.deadline.is_none() {
            ctx.deadline = t.total.map(|d| now + d);
        }
        if let Some(deadline) = ctx.deadline {
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return Error::e_explain(ErrorType::HTTPStatus(504), "upstream total timeout");
            }
            t.connect = t.connect.min(left);
            t.read = t.read.min(left);
            t.write = t.write.min(left);
        }
        let Some(server) = up.select(&ctx.key_buf, &ctx.tried) else {
            return Err(no_server_error(up, ctx.tried.len(), session.req_header()));
        };
        ctx.tried.push(server.idx);
        ctx.in_flight = Some(server.start_request());
        ctx.upstream_started = Some(now);
        Ok(Box::new(up.peer(&server, &t)))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(peer) = session.client_addr().and_then(|a| a.as_inet()) {
            let ip = peer.ip().to_string();
            let xff = match upstream_request.headers.get("x-forwarded-for") {
                Some(old) => format!("{}, {ip}", String::from_utf8_lossy(old.as_bytes())),
                None => ip,
            };
            upstream_request.insert_header("X-Forwarded-For", xff)?;
        }
        if !upstream_request.headers.contains_key("x-forwarded-proto") {
            upstream_request
                .insert_header("X-Forwarded-Proto", if self.tls { "https" } else { "http" })?;
        }
        if let Some((_, route)) = ctx.route() {
            route.request_edits.apply_request(upstream_request);
            if route.upstream.config.pool_size == 0 && !session.is_upgrade_req() {
                upstream_request.insert_header("Connection", "close")?;
            }
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Some(f) = ctx.in_flight.take() {
            f.server().record_failure(true);
        }
        let retry = ctx.route().is_some_and(|(_, route)| {
            let up = &route.upstream;
            session.req_header().method.is_idempotent()
                && ctx.tried.len() <= up.config.retry_attempts as usize
                && ctx.tried.len() < up.servers.len()
        });
        if retry {
            if let Some((_, route)) = ctx.route() {
                metrics::gateway()
                    .retries
                    .with_label_values(&[&route.upstream.name])
                    .inc();
            }
        }
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        if !session.req_header().method.is_idempotent() || session.as_ref().retry_buffer_truncated()
        {
            e.set_retry(false);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        if e.retry() {
            // a pooled connection went stale: the same server may be tried again
            ctx.tried.pop();
            ctx.in_flight = None;
        } else if *e.esource() == ErrorSource::Upstream {
            if let Some(f) = &ctx.in_flight {
                f.server().record_failure(false);
            }
        }
        e
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let (Some(start), Some(f)) = (ctx.upstream_started.take(), &ctx.in_flight) {
            f.server().observe_latency(start.elapsed());
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some((_, route)) = ctx.route() {
            route.response_edits.apply_response(resp);
            route.add_security_headers(resp);
            if route.cache.is_some() {
                let status = cache::status(session.cache.phase()).unwrap_or("BYPASS");
                let cfg = &self.gw.cache.config;
                resp.insert_header(cfg.status_header.clone(), status)?;
                metrics::gateway()
                    .cache_requests
                    .with_label_values(&[cache::status_label(status)])
                    .inc();
                if let (Some(h), Some(k)) = (&cfg.key_header, &ctx.cache_key) {
                    resp.insert_header(h.clone(), k.as_str())?;
                }
            }
        }
        waf::response_filter(session, resp, &mut ctx.waf).await
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        if ctx.deadline.is_some_and(|d| Instant::now() > d) {
            return Error::e_explain(ErrorType::ReadTimedout, "upstream total timeout exceeded");
        }
        Ok(None)
    }

    fn response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        waf::response_body_filter(session, body, end_of_stream, &mut ctx.waf)
    }

    /// A WAF intervention ends the request with an `HTTPStatus` error on purpose; the
    /// WAF's own error log already has the `Access denied` line, so Pingora's generic
    /// "Fail to proxy" error line would only be noise.
    fn suppress_error_log(&self, _session: &Session, ctx: &Ctx, error: &Error) -> bool {
        matches!(error.etype(), ErrorType::HTTPStatus(_)) && ctx.waf.answered_status().is_some()
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, _ctx: &mut Ctx) -> FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
                if *e.esource() == ErrorSource::Upstream =>
            {
                504
            }
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 500,
            },
        };
        if code > 0 {
            if let Err(err) = session.respond_error(code).await {
                log::debug!("cannot send error response: {err}");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        // A WAF answer wins over the upstream header it discarded (response-side blocks).
        let status = ctx.waf.answered_status().unwrap_or_else(|| {
            session
                .response_written()
                .map(|r| r.status.as_u16())
                .unwrap_or(0)
        });
        let route = ctx.route().map(|(_, r)| r.name.clone());
        let route = route.as_deref().unwrap_or("none");
        let m = metrics::gateway();
        m.requests
            .with_label_values(&[route, status_label(status)])
            .inc();
        m.request_duration
            .with_label_values(&[route])
            .observe(ctx.started.elapsed().as_secs_f64());
        ctx.in_flight = None;
        waf::logging(session, e, &mut ctx.waf).await;
    }
}

/// Status label without allocating for the common codes.
fn status_label(status: u16) -> &'static str {
    match status {
        0 => "0",
        101 => "101",
        200 => "200",
        201 => "201",
        204 => "204",
        206 => "206",
        301 => "301",
        302 => "302",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        413 => "413",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
}

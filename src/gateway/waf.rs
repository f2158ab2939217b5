//! WAF hook points of the proxy (STUB: the SecLang engine integration replaces this file).
//!
//! The proxy calls these functions at fixed points (see `proxy.rs`); this file keeps their
//! exact surface so the engine can be plugged in without touching the proxy:
//! - [`request_filter`] after routing, before the cache lookup and the upstream (phases 1-2);
//! - [`request_body_filter`] for every request body chunk;
//! - [`response_filter`] on the response header, cache hits included (phase 3);
//! - [`response_body_filter`] for every response body chunk (phase 4);
//! - [`logging`] when the request is done (phase 5).
//!
//! [`WafSet`] is part of the hot-reloadable `GatewayState`, so a rebuilt rule set is swapped
//! in atomically together with the routes.

use super::ClientInfo;
use bytes::Bytes;
use pingora_proxy::Session;
use serde::Deserialize;
use std::path::PathBuf;

/// WAF settings of a route (or the top-level default).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WafRouteConfig {
    /// SecLang main file.
    #[serde(default)]
    pub rules: Option<PathBuf>,
    /// Engine mode override: `On`, `DetectionOnly` or `Off`.
    #[serde(default)]
    pub mode: Option<String>,
    /// Error log (libmodsecurity format).
    #[serde(default)]
    pub error_log: Option<PathBuf>,
    /// Audit log.
    #[serde(default)]
    pub audit_log: Option<PathBuf>,
}

/// The compiled WAFs of every route, built from the configuration at startup and reload.
#[derive(Debug, Default)]
pub struct WafSet;

impl WafSet {
    /// Compile the WAF of every route (stub: nothing to compile).
    pub fn build(_cfg: &crate::config::Config) -> Result<WafSet, String> {
        Ok(WafSet)
    }
}

/// Per-request WAF state, kept in the proxy's request context.
#[derive(Debug, Default)]
pub struct WafCtx;

/// Phases 1 and 2. Returns `true` when it already answered the client (intervention).
pub async fn request_filter(
    _waf: &WafSet,
    _route_idx: usize,
    _session: &mut Session,
    _ctx: &mut WafCtx,
    _client: &ClientInfo,
) -> pingora_core::Result<bool> {
    Ok(false)
}

/// Request body chunks (the engine may hold bytes back until phase 2 has run).
pub async fn request_body_filter(
    _session: &mut Session,
    _body: &mut Option<Bytes>,
    _end_of_stream: bool,
    _ctx: &mut WafCtx,
) -> pingora_core::Result<()> {
    Ok(())
}

/// Phase 3, on the response header sent to the client.
pub async fn response_filter(
    _session: &mut Session,
    _upstream_response: &mut pingora_http::ResponseHeader,
    _ctx: &mut WafCtx,
) -> pingora_core::Result<()> {
    Ok(())
}

/// Phase 4, on response body chunks.
pub fn response_body_filter(
    _session: &mut Session,
    _body: &mut Option<Bytes>,
    _end_of_stream: bool,
    _ctx: &mut WafCtx,
) -> pingora_core::Result<Option<std::time::Duration>> {
    Ok(None)
}

/// Phase 5, when the request is finished.
pub async fn logging(_session: &mut Session, _e: Option<&pingora_core::Error>, _ctx: &mut WafCtx) {}

//! `routes:` section.

use super::units::Dur;
use crate::gateway::waf::WafRouteConfig;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One route: conditions and what to do with matching requests. Routes are tried in order;
/// the first match wins; a request no route matches gets 404.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Name used in metrics and logs (default `route<N>`, N counting from 0).
    #[serde(default)]
    pub name: Option<String>,
    /// Conditions; all given ones must hold. Empty: matches everything.
    #[serde(rename = "match", default)]
    pub matcher: MatchConfig,
    /// Name of the upstream in `upstreams:`.
    pub upstream: String,
    /// Edits of the request sent upstream.
    #[serde(default)]
    pub request_headers: HeaderEdits,
    /// Edits of the response sent to the client.
    #[serde(default)]
    pub response_headers: HeaderEdits,
    /// Security headers added to responses that do not already carry them.
    #[serde(default)]
    pub security_headers: SecurityHeaders,
    /// Overrides of the upstream's timeouts for this route.
    #[serde(default)]
    pub timeouts: Option<RouteTimeouts>,
    /// Response caching for this route (off when absent).
    #[serde(default)]
    pub cache: Option<RouteCacheConfig>,
    /// WAF settings for this route (default: the top-level `waf:`).
    #[serde(default)]
    pub waf: Option<WafRouteConfig>,
}

/// Route conditions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// Host (port ignored, case-insensitive): exact or `*.example.com` (one or more labels).
    #[serde(default)]
    pub host: Option<String>,
    /// The path starts with this string.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// The path matches this regular expression (unanchored; use `^...$`).
    #[serde(default)]
    pub path_regex: Option<String>,
    /// The method is one of these (upper case).
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// Header conditions; all must hold.
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
}

/// A header condition: exactly one of `value`, `regex`, `present`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name (case-insensitive).
    pub name: String,
    /// The header has exactly this value.
    #[serde(default)]
    pub value: Option<String>,
    /// The header value matches this regular expression.
    #[serde(default)]
    pub regex: Option<String>,
    /// `true`: the header is present; `false`: it is absent.
    #[serde(default)]
    pub present: Option<bool>,
}

/// Header edits, applied in the order remove, set, add.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderEdits {
    /// Append these headers (keeping existing values).
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Replace these headers.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Remove these headers.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Security headers. Each one is added only when the upstream response lacks it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityHeaders {
    /// `Strict-Transport-Security` value, e.g. `max-age=31536000; includeSubDomains`.
    #[serde(default)]
    pub hsts: Option<String>,
    /// `X-Content-Type-Options: nosniff`.
    #[serde(default)]
    pub content_type_options: bool,
    /// `X-Frame-Options` value (`DENY` or `SAMEORIGIN`).
    #[serde(default)]
    pub frame_options: Option<String>,
    /// `Referrer-Policy` value, e.g. `strict-origin-when-cross-origin`.
    #[serde(default)]
    pub referrer_policy: Option<String>,
    /// `Content-Security-Policy` value.
    #[serde(default)]
    pub content_security_policy: Option<String>,
    /// `Permissions-Policy` value.
    #[serde(default)]
    pub permissions_policy: Option<String>,
    /// `Cross-Origin-Opener-Policy` value.
    #[serde(default)]
    pub cross_origin_opener_policy: Option<String>,
}

/// Per-route timeout overrides (see the upstream `timeouts:`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTimeouts {
    /// Connect timeout.
    #[serde(default)]
    pub connect: Option<Dur>,
    /// Read timeout.
    #[serde(default)]
    pub read: Option<Dur>,
    /// Write timeout.
    #[serde(default)]
    pub write: Option<Dur>,
    /// Overall deadline.
    #[serde(default)]
    pub total: Option<Dur>,
}

/// Caching rules of a route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteCacheConfig {
    /// Cache on this route.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Freshness of responses that carry neither `Cache-Control: max-age` nor `Expires`
    /// (heuristically cacheable statuses only: 200, 203, 204, 206, 300, 301, 308, 404, 405,
    /// 410, 414, 501). Absent: such responses are not cached.
    #[serde(default)]
    pub ttl: Option<Dur>,
    /// Parts of the cache key, joined with `|`: `method`, `scheme`, `host`, `path`, `query`,
    /// `uri` (path and query), `header:NAME`, `cookie:NAME`. Default `[host, uri]`.
    #[serde(default)]
    pub key: Option<Vec<String>>,
    /// Store responses marked `Cache-Control: private`.
    #[serde(default)]
    pub cache_private: bool,
    /// Store responses to requests carrying `Authorization`.
    #[serde(default)]
    pub cache_authorized: bool,
    /// Store responses carrying `Set-Cookie` (the cookie is then served to everyone).
    #[serde(default)]
    pub cache_set_cookie: bool,
    /// Serve a stale entry for this long while one request refreshes it, when the origin
    /// does not say otherwise (`stale-while-revalidate`).
    #[serde(default)]
    pub stale_while_revalidate: Option<Dur>,
    /// Serve a stale entry for this long when the upstream fails (`stale-if-error`).
    #[serde(default)]
    pub stale_if_error: Option<Dur>,
}

fn yes() -> bool {
    true
}

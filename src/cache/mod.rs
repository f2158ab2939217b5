//! HTTP caching on `pingora-cache`: the shared [`Cache`] (our [`MemoryStorage`], Pingora's
//! LRU eviction manager and cache lock) and the per-route rules ([`RouteCache`]).
//!
//! HTTP semantics use pingora-cache's helpers: `CacheControl` parsing, `Expires`, the
//! `InterpretCacheControl` rules (no-store, private, no-cache, s-maxage/max-age, Authorization),
//! `CacheMeta` for freshness and stale windows, `VarianceBuilder` for `Vary`. On top of them
//! a route decides whether to keep responses that set cookies, that answer authorised
//! requests or that are marked private, and which TTL applies when the origin gives none.

pub mod storage;

pub use storage::MemoryStorage;

use crate::config::{CacheConfig, RouteCacheConfig};
use pingora_cache::cache_control::{CacheControl, Cacheable, InterpretCacheControl};
use pingora_cache::eviction::simple_lru;
use pingora_cache::filters::calculate_expires_header_time;
use pingora_cache::key::HashBinary;
use pingora_cache::lock::{CacheKeyLockImpl, CacheLock};
use pingora_cache::{
    CacheKey, CacheMeta, CachePhase, NoCacheReason, RespCacheable, VarianceBuilder,
};
use pingora_http::{RequestHeader, ResponseHeader};
use std::time::{Duration, SystemTime};

/// The process-wide cache: storage, eviction manager and cache lock (all `'static`, as
/// Pingora requires). Its bounds are fixed at startup.
pub struct Cache {
    /// The storage.
    pub storage: &'static MemoryStorage,
    /// The LRU eviction manager (bytes and entries).
    pub eviction: &'static simple_lru::Manager,
    lock: &'static CacheKeyLockImpl,
    max_object: usize,
    /// The configuration it was built from.
    pub config: CacheConfig,
}

impl Cache {
    /// Build the cache. The objects live for the rest of the process.
    pub fn new(cfg: &CacheConfig) -> &'static Cache {
        let max_bytes = usize::try_from(cfg.max_bytes.0).unwrap_or(usize::MAX);
        let max_object = usize::try_from(cfg.max_object_size.0).unwrap_or(usize::MAX);
        let eviction: &'static simple_lru::Manager = Box::leak(Box::new(
            simple_lru::Manager::new_with_watermark(max_bytes, Some(cfg.max_entries)),
        ));
        let storage: &'static MemoryStorage =
            Box::leak(Box::new(MemoryStorage::new(max_object, eviction)));
        let lock: &'static CacheKeyLockImpl = Box::leak(CacheLock::new_boxed(cfg.lock_timeout.0));
        Box::leak(Box::new(Cache {
            storage,
            eviction,
            lock,
            max_object,
            config: cfg.clone(),
        }))
    }

    /// Turn caching on for this request.
    pub fn enable(&'static self, cache: &mut pingora_cache::HttpCache) {
        cache.enable(
            self.storage,
            Some(self.eviction),
            None,
            Some(self.lock),
            None,
        );
        cache.set_max_file_size_bytes(self.max_object);
    }
}

/// One part of a route's cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart {
    /// Request method.
    Method,
    /// `http` or `https`.
    Scheme,
    /// Host header without port, lower case.
    Host,
    /// Path.
    Path,
    /// Query string (without `?`).
    Query,
    /// Path and query.
    Uri,
    /// A request header value.
    Header(http::HeaderName),
    /// A cookie value.
    Cookie(String),
}

impl KeyPart {
    /// Parse `method`, `scheme`, `host`, `path`, `query`, `uri`, `header:NAME`, `cookie:NAME`.
    pub fn parse(s: &str) -> Result<KeyPart, String> {
        Ok(match s {
            "method" => KeyPart::Method,
            "scheme" => KeyPart::Scheme,
            "host" => KeyPart::Host,
            "path" => KeyPart::Path,
            "query" => KeyPart::Query,
            "uri" => KeyPart::Uri,
            _ => {
                if let Some(h) = s.strip_prefix("header:") {
                    KeyPart::Header(
                        http::HeaderName::from_bytes(h.trim().as_bytes())
                            .map_err(|_| format!("{h:?} is not a header name"))?,
                    )
                } else if let Some(c) = s.strip_prefix("cookie:") {
                    let c = c.trim();
                    if c.is_empty() || c.contains(['=', ';', ' ']) {
                        return Err(format!("{c:?} is not a cookie name"));
                    }
                    KeyPart::Cookie(c.to_string())
                } else {
                    return Err(format!(
                        "{s:?}: expected method, scheme, host, path, query, uri, header:NAME or cookie:NAME"
                    ));
                }
            }
        })
    }
}

/// The compiled cache rules of one route.
#[derive(Debug, Clone)]
pub struct RouteCache {
    ttl: Option<Duration>,
    key: Vec<KeyPart>,
    cache_private: bool,
    cache_authorized: bool,
    cache_set_cookie: bool,
    stale_while_revalidate: u32,
    stale_if_error: u32,
}

/// Statuses that may be cached with a heuristic TTL (RFC 9110 section 15.1).
const HEURISTIC_STATUSES: &[u16] = &[200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

impl RouteCache {
    /// Compile a route's `cache:`; `None` when caching is disabled.
    pub fn compile(cfg: &RouteCacheConfig) -> Result<Option<RouteCache>, String> {
        if !cfg.enabled {
            return Ok(None);
        }
        let key = match &cfg.key {
            Some(parts) => parts
                .iter()
                .map(|p| KeyPart::parse(p))
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![KeyPart::Host, KeyPart::Uri],
        };
        let secs = |d: Option<crate::config::Dur>| {
            d.map(|d| u32::try_from(d.0.as_secs()).unwrap_or(u32::MAX))
                .unwrap_or(0)
        };
        Ok(Some(RouteCache {
            ttl: cfg.ttl.map(|d| d.0),
            key,
            cache_private: cfg.cache_private,
            cache_authorized: cfg.cache_authorized,
            cache_set_cookie: cfg.cache_set_cookie,
            stale_while_revalidate: secs(cfg.stale_while_revalidate),
            stale_if_error: secs(cfg.stale_if_error),
        }))
    }

    /// Whether the request may be served from or stored in the cache (GET and HEAD, not
    /// protocol upgrades).
    pub fn request_cacheable(&self, req: &RequestHeader) -> bool {
        matches!(req.method, http::Method::GET | http::Method::HEAD)
            && !req.headers.contains_key(http::header::UPGRADE)
    }

    /// The readable cache key: the key parts joined with `|` (`%` and `|` inside a part are
    /// percent-encoded so parts cannot run into each other).
    pub fn key_string(&self, req: &RequestHeader, tls: bool) -> String {
        let mut out = String::with_capacity(64);
        for (i, part) in self.key.iter().enumerate() {
            if i > 0 {
                out.push('|');
            }
            match part {
                KeyPart::Method => push_escaped(&mut out, req.method.as_str().as_bytes()),
                KeyPart::Scheme => out.push_str(if tls { "https" } else { "http" }),
                KeyPart::Host => {
                    let host = request_host(req).unwrap_or("");
                    push_escaped(&mut out, host.to_ascii_lowercase().as_bytes())
                }
                KeyPart::Path => push_escaped(&mut out, req.uri.path().as_bytes()),
                KeyPart::Query => push_escaped(&mut out, req.uri.query().unwrap_or("").as_bytes()),
                KeyPart::Uri => push_escaped(
                    &mut out,
                    req.uri
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or_else(|| req.uri.path())
                        .as_bytes(),
                ),
                KeyPart::Header(h) => {
                    let v: Vec<&[u8]> = req
                        .headers
                        .get_all(h)
                        .iter()
                        .map(|v| v.as_bytes())
                        .collect();
                    push_escaped(&mut out, &v.join(&b","[..]))
                }
                KeyPart::Cookie(c) => push_escaped(
                    &mut out,
                    crate::upstream::cookie_value(req, c).unwrap_or(b""),
                ),
            }
        }
        out
    }

    /// The Pingora cache key of a request.
    pub fn cache_key(&self, req: &RequestHeader, tls: bool) -> CacheKey {
        CacheKey::new(self.key_string(req, tls), "")
    }

    /// Decide whether a response may be stored, and for how long.
    pub fn response_cacheable(&self, req: &RequestHeader, resp: &ResponseHeader) -> RespCacheable {
        let uncacheable =
            |why: &'static str| RespCacheable::Uncacheable(NoCacheReason::Custom(why));
        if !self.cache_set_cookie && resp.headers.contains_key(http::header::SET_COOKIE) {
            return uncacheable("set-cookie");
        }
        if resp.headers.get_all(http::header::VARY).iter().any(|v| {
            v.as_bytes()
                .split(|b| *b == b',')
                .any(|f| f.trim_ascii() == b"*")
        }) {
            return uncacheable("vary-star");
        }
        let cc = CacheControl::from_resp_headers(resp);
        if let Some(cc) = &cc {
            if cc.no_store() {
                return uncacheable("no-store");
            }
            if cc.private() && !self.cache_private {
                return uncacheable("private");
            }
        }
        if req.headers.contains_key(http::header::AUTHORIZATION)
            && !self.cache_authorized
            && !cc
                .as_ref()
                .is_some_and(|c| c.allow_caching_authorized_req())
        {
            return uncacheable("authorization");
        }
        let now = SystemTime::now();
        let fresh_until = cc
            .as_ref()
            .and_then(|c| c.fresh_duration())
            .map(|ttl| freshness_deadline(now, ttl))
            .or_else(|| calculate_expires_header_time(resp))
            .or_else(|| {
                let heuristic = cc
                    .as_ref()
                    .is_none_or(|c| c.is_cacheable() != Cacheable::No || self.cache_private);
                self.ttl
                    .filter(|_| heuristic && HEURISTIC_STATUSES.contains(&resp.status.as_u16()))
                    .map(|ttl| freshness_deadline(now, ttl))
            });
        let Some(fresh_until) = fresh_until else {
            return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
        };
        let swr = cc
            .as_ref()
            .and_then(|c| c.serve_stale_while_revalidate_duration())
            .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
            .unwrap_or(self.stale_while_revalidate);
        let sie = cc
            .as_ref()
            .and_then(|c| c.serve_stale_if_error_duration())
            .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
            .unwrap_or(self.stale_if_error);
        let mut header = resp.clone();
        if let Some(cc) = &cc {
            cc.strip_private_headers(&mut header);
        }
        RespCacheable::Cacheable(CacheMeta::new(fresh_until, now, swr, sie, header))
    }
}

fn freshness_deadline(now: SystemTime, ttl: Duration) -> SystemTime {
    if ttl.is_zero() {
        // stale at once: the entry must be revalidated before use
        now.checked_sub(Duration::from_secs(1)).unwrap_or(now)
    } else {
        now.checked_add(ttl).unwrap_or(now)
    }
}

fn push_escaped(out: &mut String, bytes: &[u8]) {
    for chunk in String::from_utf8_lossy(bytes).chars() {
        match chunk {
            '%' => out.push_str("%25"),
            '|' => out.push_str("%7C"),
            c => out.push(c),
        }
    }
}

/// The request's host: the `Host` header (or the URI authority for HTTP/2) without port.
pub fn request_host(req: &RequestHeader) -> Option<&str> {
    let raw = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.host())?;
    Some(strip_port(raw))
}

/// `example.com:8080` -> `example.com`, `[::1]:80` -> `[::1]`.
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => host.get(..=end).unwrap_or(host),
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The variance of a request for a stored response that has `Vary` (None: no `Vary`).
pub fn variance(meta: &CacheMeta, req: &RequestHeader) -> Option<HashBinary> {
    let mut names: Vec<String> = Vec::new();
    for v in meta.headers().get_all(http::header::VARY) {
        for name in v.as_bytes().split(|b| *b == b',') {
            let name = String::from_utf8_lossy(name.trim_ascii()).to_ascii_lowercase();
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    if names.is_empty() {
        return None;
    }
    let mut vb = VarianceBuilder::new();
    for name in names {
        let value: Vec<u8> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| v.as_bytes())
            .collect::<Vec<_>>()
            .join(&b","[..]);
        vb.add_owned_name_value(name, value);
    }
    vb.finalize()
}

/// The `X-Cache-Status` value and metric label for a cache phase (None: caching was not
/// attempted for the request).
pub fn status(phase: CachePhase) -> Option<&'static str> {
    Some(match phase {
        CachePhase::Hit => "HIT",
        CachePhase::Miss => "MISS",
        CachePhase::Expired => "EXPIRED",
        CachePhase::Stale => "STALE",
        CachePhase::StaleUpdating => "UPDATING",
        CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => "REVALIDATED",
        CachePhase::Bypass => "BYPASS",
        CachePhase::Disabled(NoCacheReason::NeverEnabled) => return None,
        // looked up, fetched from the origin, not stored
        CachePhase::Disabled(
            NoCacheReason::OriginNotCache
            | NoCacheReason::ResponseTooLarge
            | NoCacheReason::PredictedResponseTooLarge
            | NoCacheReason::Custom(_),
        ) => "MISS",
        CachePhase::Disabled(_) => "BYPASS",
        CachePhase::Uninit | CachePhase::CacheKey => return None,
    })
}

/// The metric label (lower case) of a [`status`] value.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "HIT" => "hit",
        "MISS" => "miss",
        "EXPIRED" => "expired",
        "STALE" => "stale",
        "UPDATING" => "updating",
        "REVALIDATED" => "revalidated",
        _ => "bypass",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dur;

    fn rules(f: impl FnOnce(&mut RouteCacheConfig)) -> RouteCache {
        let mut cfg = RouteCacheConfig {
            enabled: true,
            ttl: None,
            key: None,
            cache_private: false,
            cache_authorized: false,
            cache_set_cookie: false,
            stale_while_revalidate: None,
            stale_if_error: None,
        };
        f(&mut cfg);
        RouteCache::compile(&cfg)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("disabled"))
    }

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r =
            RequestHeader::build("GET", b"/a/b?x=1", None).unwrap_or_else(|e| panic!("{e}"));
        for (k, v) in headers {
            let _ = r.append_header(k.to_string(), *v);
        }
        r
    }

    fn resp(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(status, None).unwrap_or_else(|e| panic!("{e}"));
        for (k, v) in headers {
            let _ = r.append_header(k.to_string(), *v);
        }
        r
    }

    #[test]
    fn key_parts() {
        let r = rules(|c| {
            c.key = Some(vec![
                "method".into(),
                "host".into(),
                "uri".into(),
                "header:X-V".into(),
            ])
        });
        let q = req(&[("Host", "Example.com:8080"), ("X-V", "a|b")]);
        assert_eq!(r.key_string(&q, false), "GET|example.com|/a/b?x=1|a%7Cb");
        let d = rules(|_| {});
        assert_eq!(d.key_string(&q, true), "example.com|/a/b?x=1");
        assert!(KeyPart::parse("body").is_err());
    }

    #[test]
    fn cacheability() {
        let r = rules(|_| {});
        let q = req(&[]);
        assert!(r
            .response_cacheable(&q, &resp(200, &[("Cache-Control", "max-age=60")]))
            .is_cacheable());
        assert!(
            !r.response_cacheable(&q, &resp(200, &[])).is_cacheable(),
            "no ttl, no headers"
        );
        assert!(!r
            .response_cacheable(
                &q,
                &resp(
                    200,
                    &[("Cache-Control", "max-age=60"), ("Set-Cookie", "a=1")]
                )
            )
            .is_cacheable());
        assert!(!r
            .response_cacheable(&q, &resp(200, &[("Cache-Control", "no-store")]))
            .is_cacheable());
        assert!(!r
            .response_cacheable(&q, &resp(200, &[("Cache-Control", "private, max-age=60")]))
            .is_cacheable());
        assert!(!r
            .response_cacheable(
                &q,
                &resp(200, &[("Cache-Control", "max-age=60"), ("Vary", "*")])
            )
            .is_cacheable());
        let authed = req(&[("Authorization", "Bearer x")]);
        assert!(!r
            .response_cacheable(&authed, &resp(200, &[("Cache-Control", "max-age=60")]))
            .is_cacheable());
        assert!(r
            .response_cacheable(
                &authed,
                &resp(200, &[("Cache-Control", "public, max-age=60")])
            )
            .is_cacheable());

        let lax = rules(|c| {
            c.ttl = Some(Dur::secs(30));
            c.cache_private = true;
            c.cache_authorized = true;
            c.cache_set_cookie = true;
        });
        assert!(
            lax.response_cacheable(&q, &resp(200, &[])).is_cacheable(),
            "route ttl"
        );
        assert!(
            !lax.response_cacheable(&q, &resp(500, &[])).is_cacheable(),
            "500 has no heuristic ttl"
        );
        assert!(lax
            .response_cacheable(&q, &resp(200, &[("Cache-Control", "private, max-age=60")]))
            .is_cacheable());
        assert!(lax
            .response_cacheable(&authed, &resp(200, &[("Cache-Control", "max-age=9")]))
            .is_cacheable());
        assert!(lax
            .response_cacheable(&q, &resp(200, &[("Set-Cookie", "a=1")]))
            .is_cacheable());
    }

    #[test]
    fn vary_variance() {
        let r = rules(|_| {});
        let RespCacheable::Cacheable(meta) = r.response_cacheable(
            &req(&[]),
            &resp(
                200,
                &[("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")],
            ),
        ) else {
            panic!("not cacheable")
        };
        let en = variance(&meta, &req(&[("Accept-Language", "en")]));
        let fr = variance(&meta, &req(&[("Accept-Language", "fr")]));
        let en2 = variance(&meta, &req(&[("Accept-Language", "en"), ("X-Other", "1")]));
        assert!(en.is_some());
        assert_ne!(en, fr);
        assert_eq!(en, en2);
    }

    #[test]
    fn ports() {
        assert_eq!(strip_port("a.com:80"), "a.com");
        assert_eq!(strip_port("a.com"), "a.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
    }
}

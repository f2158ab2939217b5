//! Route table: compiled conditions (host, path prefix or regex, methods, headers) and what
//! each route does (upstream, header edits, security headers, timeouts, cache rules).
//! Routes are tried in configuration order; the first match wins.

use crate::cache::{self, RouteCache};
use crate::config::{Config, HeaderEdits, RouteConfig, RouteTimeouts, SecurityHeaders};
use crate::upstream::{Upstream, UpstreamSet};
use http::{HeaderName, HeaderValue, Method};
use pingora_http::{RequestHeader, ResponseHeader};
use regex::Regex;
use std::sync::Arc;

/// Host condition.
#[derive(Debug, Clone)]
enum HostPattern {
    Exact(String),
    /// `*.example.com` stored as `.example.com`
    Suffix(String),
}

impl HostPattern {
    fn parse(s: &str) -> HostPattern {
        let s = s.to_ascii_lowercase();
        match s.strip_prefix('*') {
            Some(rest) => HostPattern::Suffix(rest.to_string()),
            None => HostPattern::Exact(s),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => host.eq_ignore_ascii_case(h),
            HostPattern::Suffix(suffix) => {
                host.len() > suffix.len()
                    && host
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
            }
        }
    }
}

#[derive(Debug, Clone)]
enum HeaderCond {
    Equals(HeaderName, Vec<u8>),
    Regex(HeaderName, Regex),
    Present(HeaderName, bool),
}

impl HeaderCond {
    fn matches(&self, req: &RequestHeader) -> bool {
        match self {
            HeaderCond::Equals(n, v) => req
                .headers
                .get_all(n)
                .iter()
                .any(|h| h.as_bytes() == v.as_slice()),
            HeaderCond::Regex(n, re) => req
                .headers
                .get_all(n)
                .iter()
                .any(|h| h.to_str().is_ok_and(|s| re.is_match(s))),
            HeaderCond::Present(n, want) => req.headers.contains_key(n) == *want,
        }
    }
}

/// Header edits ready to apply: remove, then set, then add.
#[derive(Debug, Clone, Default)]
pub struct Edits {
    remove: Vec<HeaderName>,
    set: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
}

impl Edits {
    fn compile(e: &HeaderEdits) -> Result<Edits, String> {
        let pair = |(k, v): (&String, &String)| -> Result<(HeaderName, HeaderValue), String> {
            Ok((
                HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| format!("bad header name {k:?}"))?,
                HeaderValue::from_str(v).map_err(|_| format!("bad header value {v:?}"))?,
            ))
        };
        Ok(Edits {
            remove: e
                .remove
                .iter()
                .map(|n| {
                    HeaderName::from_bytes(n.as_bytes())
                        .map_err(|_| format!("bad header name {n:?}"))
                })
                .collect::<Result<_, _>>()?,
            set: e.set.iter().map(pair).collect::<Result<_, _>>()?,
            add: e.add.iter().map(pair).collect::<Result<_, _>>()?,
        })
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }

    /// Apply to a request header.
    pub fn apply_request(&self, h: &mut RequestHeader) {
        for n in &self.remove {
            h.remove_header(n);
        }
        for (n, v) in &self.set {
            let _ = h.insert_header(n.clone(), v.clone());
        }
        for (n, v) in &self.add {
            let _ = h.append_header(n.clone(), v.clone());
        }
    }

    /// Apply to a response header.
    pub fn apply_response(&self, h: &mut ResponseHeader) {
        for n in &self.remove {
            h.remove_header(n);
        }
        for (n, v) in &self.set {
            let _ = h.insert_header(n.clone(), v.clone());
        }
        for (n, v) in &self.add {
            let _ = h.append_header(n.clone(), v.clone());
        }
    }
}

fn security_headers(s: &SecurityHeaders) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut out = Vec::new();
    let mut push = |name: &'static str, v: &str| -> Result<(), String> {
        out.push((
            HeaderName::from_static(name),
            HeaderValue::from_str(v).map_err(|_| format!("bad value for {name}: {v:?}"))?,
        ));
        Ok(())
    };
    if let Some(v) = &s.hsts {
        push("strict-transport-security", v)?;
    }
    if s.content_type_options {
        push("x-content-type-options", "nosniff")?;
    }
    if let Some(v) = &s.frame_options {
        push("x-frame-options", v)?;
    }
    if let Some(v) = &s.referrer_policy {
        push("referrer-policy", v)?;
    }
    if let Some(v) = &s.content_security_policy {
        push("content-security-policy", v)?;
    }
    if let Some(v) = &s.permissions_policy {
        push("permissions-policy", v)?;
    }
    if let Some(v) = &s.cross_origin_opener_policy {
        push("cross-origin-opener-policy", v)?;
    }
    Ok(out)
}

/// One compiled route.
#[derive(Debug)]
pub struct Route {
    /// Name used in logs and metrics.
    pub name: Arc<str>,
    host: Option<HostPattern>,
    path_prefix: Option<String>,
    path_regex: Option<Regex>,
    methods: Option<Vec<Method>>,
    headers: Vec<HeaderCond>,
    /// The upstream requests go to.
    pub upstream: Arc<Upstream>,
    /// Edits of the upstream request.
    pub request_edits: Edits,
    /// Edits of the downstream response.
    pub response_edits: Edits,
    /// Security headers added when absent.
    pub security: Vec<(HeaderName, HeaderValue)>,
    /// Timeout overrides.
    pub timeouts: Option<RouteTimeouts>,
    /// Cache rules (None: no caching).
    pub cache: Option<RouteCache>,
}

impl Route {
    fn compile(name: String, r: &RouteConfig, upstreams: &UpstreamSet) -> Result<Route, String> {
        let m = &r.matcher;
        let upstream = upstreams
            .get(&r.upstream)
            .cloned()
            .ok_or_else(|| format!("route {name}: no upstream {:?}", r.upstream))?;
        let headers = m
            .headers
            .iter()
            .map(|h| {
                let n = HeaderName::from_bytes(h.name.as_bytes())
                    .map_err(|_| format!("route {name}: bad header name {:?}", h.name))?;
                Ok(match (&h.value, &h.regex, h.present) {
                    (Some(v), None, None) => HeaderCond::Equals(n, v.as_bytes().to_vec()),
                    (None, Some(re), None) => HeaderCond::Regex(
                        n,
                        Regex::new(re).map_err(|e| format!("route {name}: header regex: {e}"))?,
                    ),
                    (None, None, Some(p)) => HeaderCond::Present(n, p),
                    _ => {
                        return Err(format!(
                            "route {name}: header condition needs one of value, regex, present"
                        ))
                    }
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Route {
            host: m.host.as_deref().map(HostPattern::parse),
            path_prefix: m.path_prefix.clone(),
            path_regex: m
                .path_regex
                .as_deref()
                .map(Regex::new)
                .transpose()
                .map_err(|e| format!("route {name}: path_regex: {e}"))?,
            methods: m.methods.as_ref().map(|ms| {
                ms.iter()
                    .filter_map(|s| Method::from_bytes(s.to_ascii_uppercase().as_bytes()).ok())
                    .collect()
            }),
            headers,
            upstream,
            request_edits: Edits::compile(&r.request_headers)
                .map_err(|e| format!("route {name}: {e}"))?,
            response_edits: Edits::compile(&r.response_headers)
                .map_err(|e| format!("route {name}: {e}"))?,
            security: security_headers(&r.security_headers)
                .map_err(|e| format!("route {name}: {e}"))?,
            timeouts: r.timeouts,
            cache: match &r.cache {
                Some(c) => {
                    RouteCache::compile(c).map_err(|e| format!("route {name}: cache: {e}"))?
                }
                None => None,
            },
            name: name.into(),
        })
    }

    /// Whether the request meets every condition of the route.
    pub fn matches(&self, req: &RequestHeader) -> bool {
        if let Some(h) = &self.host {
            match cache::request_host(req) {
                Some(host) if h.matches(host) => {}
                _ => return false,
            }
        }
        let path = req.uri.path();
        if let Some(p) = &self.path_prefix {
            if !path.starts_with(p.as_str()) {
                return false;
            }
        }
        if let Some(re) = &self.path_regex {
            if !re.is_match(path) {
                return false;
            }
        }
        if let Some(ms) = &self.methods {
            if !ms.contains(&req.method) {
                return false;
            }
        }
        self.headers.iter().all(|c| c.matches(req))
    }

    /// Add the security headers the response lacks.
    pub fn add_security_headers(&self, resp: &mut ResponseHeader) {
        for (n, v) in &self.security {
            if !resp.headers.contains_key(n) {
                let _ = resp.insert_header(n.clone(), v.clone());
            }
        }
    }
}

/// The route table.
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Compile the routes of `cfg` against `upstreams`.
    pub fn build(cfg: &Config, upstreams: &UpstreamSet) -> Result<Router, String> {
        let routes = cfg
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| Route::compile(cfg.route_name(i), r, upstreams))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Router { routes })
    }

    /// The first route matching the request, with its index.
    pub fn find(&self, req: &RequestHeader) -> Option<(usize, &Route)> {
        self.routes.iter().enumerate().find(|(_, r)| r.matches(req))
    }

    /// Route by index.
    pub fn get(&self, idx: usize) -> Option<&Route> {
        self.routes.get(idx)
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there is no route.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(routes: &str) -> Config {
        let text = format!(
            "listeners: [{{ address: \"127.0.0.1:1\" }}]\nupstreams:\n  a: {{ servers: [{{ address: \"127.0.0.1:2\" }}] }}\n  b: {{ servers: [{{ address: \"127.0.0.1:3\" }}] }}\nroutes:\n{routes}"
        );
        Config::from_yaml(&text, None).unwrap_or_else(|e| panic!("{e}"))
    }

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r =
            RequestHeader::build(method, uri.as_bytes(), None).unwrap_or_else(|e| panic!("{e}"));
        for (k, v) in headers {
            let _ = r.append_header(k.to_string(), *v);
        }
        r
    }

    fn route_of(router: &Router, r: &RequestHeader) -> Option<String> {
        router.find(r).map(|(_, r)| r.name.to_string())
    }

    #[test]
    fn first_match_wins() {
        let c = cfg(r#"
  - name: api
    match: { host: "*.example.com", path_prefix: /api/, methods: [GET, post] }
    upstream: a
  - name: rx
    match: { path_regex: "^/v[0-9]+/", headers: [{ name: X-Canary, value: "1" }] }
    upstream: b
  - name: nodebug
    match: { headers: [{ name: X-Debug, present: false }, { name: X-Env, regex: "^(qa|dev)$" }] }
    upstream: b
"#);
        let ups = UpstreamSet::build(&c, None).unwrap_or_else(|e| panic!("{e}"));
        let router = Router::build(&c, &ups).unwrap_or_else(|e| panic!("{e}"));
        let get = |m: &str, u: &str, h: &[(&str, &str)]| route_of(&router, &req(m, u, h));
        assert_eq!(
            get("GET", "/api/x", &[("Host", "www.example.com:8080")]).as_deref(),
            Some("api")
        );
        assert_eq!(
            get("POST", "/api/x", &[("Host", "a.b.example.com")]).as_deref(),
            Some("api")
        );
        assert_eq!(
            get("DELETE", "/api/x", &[("Host", "www.example.com")]),
            None
        );
        assert_eq!(
            get("GET", "/api/x", &[("Host", "example.com")]),
            None,
            "wildcard needs a label"
        );
        assert_eq!(
            get("GET", "/v2/x", &[("X-Canary", "1")]).as_deref(),
            Some("rx")
        );
        assert_eq!(get("GET", "/v2/x", &[("X-Canary", "2")]), None);
        assert_eq!(
            get("GET", "/", &[("X-Env", "qa")]).as_deref(),
            Some("nodebug")
        );
        assert_eq!(get("GET", "/", &[("X-Env", "qa"), ("X-Debug", "1")]), None);
    }

    #[test]
    fn edits_apply_in_order() {
        let c = cfg(r#"
  - upstream: a
    request_headers: { remove: [X-Drop], set: { X-Set: "s" }, add: { X-Add: "a" } }
    security_headers: { hsts: "max-age=60", content_type_options: true }
"#);
        let ups = UpstreamSet::build(&c, None).unwrap_or_else(|e| panic!("{e}"));
        let router = Router::build(&c, &ups).unwrap_or_else(|e| panic!("{e}"));
        let route = router.get(0).unwrap_or_else(|| panic!("no route"));
        let mut r = req(
            "GET",
            "/",
            &[("X-Drop", "1"), ("X-Set", "old"), ("X-Add", "first")],
        );
        route.request_edits.apply_request(&mut r);
        assert!(r.headers.get("x-drop").is_none());
        assert_eq!(
            r.headers.get("x-set").map(|v| v.as_bytes()),
            Some(&b"s"[..])
        );
        assert_eq!(r.headers.get_all("x-add").iter().count(), 2);
        let mut resp = ResponseHeader::build(200, None).unwrap_or_else(|e| panic!("{e}"));
        let _ = resp.insert_header("X-Content-Type-Options", "keep");
        route.add_security_headers(&mut resp);
        assert_eq!(
            resp.headers
                .get("strict-transport-security")
                .map(|v| v.as_bytes()),
            Some(&b"max-age=60"[..])
        );
        assert_eq!(
            resp.headers
                .get("x-content-type-options")
                .map(|v| v.as_bytes()),
            Some(&b"keep"[..])
        );
    }
}

//! Semantic checks of a parsed [`Config`]: each problem carries its key path.

use super::*;
use std::collections::HashSet;
use std::net::ToSocketAddrs;

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn bad(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
            location: None,
        });
    }
}

/// Run every check; an empty result means the configuration is valid.
pub(super) fn check(cfg: &Config) -> Vec<Problem> {
    let mut c = Checker {
        problems: Vec::new(),
    };
    check_server(&mut c, &cfg.server);
    check_listeners(&mut c, cfg);
    for (name, up) in &cfg.upstreams {
        check_upstream(&mut c, name, up);
    }
    check_routes(&mut c, cfg);
    check_cache(&mut c, &cfg.cache);
    c.problems
}

fn check_server(c: &mut Checker, s: &ServerSection) {
    if s.threads == Some(0) {
        c.bad("server.threads", "must be at least 1");
    }
}

fn check_listeners(c: &mut Checker, cfg: &Config) {
    if cfg.listeners.is_empty() {
        c.bad("listeners", "at least one listener is required");
    }
    let mut seen = HashSet::new();
    for (i, l) in cfg.listeners.iter().enumerate() {
        let p = format!("listeners[{i}]");
        if !seen.insert(l.address.0) {
            c.bad(
                format!("{p}.address"),
                format!("{} is listed twice", l.address),
            );
        }
        if l.h2c && l.tls.is_some() {
            c.bad(
                format!("{p}.h2c"),
                "h2c is for plain listeners; a TLS listener offers HTTP/2 with tls.alpn_h2",
            );
        }
        if l.proxy_protocol && l.tls.is_none() {
            c.bad(
                format!("{p}.proxy_protocol"),
                "PROXY protocol needs a TLS listener: Pingora reads it in its pre-TLS hook only; \
                 on plain listeners use trusted_proxies with client_ip_header",
            );
        }
        if let Some(h) = &l.client_ip_header {
            if l.trusted_proxies.is_empty() {
                c.bad(
                    format!("{p}.client_ip_header"),
                    "has no effect without trusted_proxies",
                );
            }
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                c.bad(
                    format!("{p}.client_ip_header"),
                    format!("{h:?} is not a header name"),
                );
            }
        }
        if let Some(tls) = &l.tls {
            check_listener_tls(c, &p, tls);
        }
    }
    if let Some(admin) = &cfg.admin {
        if seen.contains(&admin.address.0) {
            c.bad(
                "admin.address",
                format!("{} is also a listener", admin.address),
            );
        }
    }
}

fn check_listener_tls(c: &mut Checker, p: &str, tls: &ListenerTls) {
    if tls.certificates.is_empty() {
        c.bad(
            format!("{p}.tls.certificates"),
            "at least one certificate is required",
        );
    }
    let mut names = HashSet::new();
    let mut defaults = 0;
    for (j, cert) in tls.certificates.iter().enumerate() {
        let cp = format!("{p}.tls.certificates[{j}]");
        match &cert.sni {
            None => defaults += 1,
            Some(name) => {
                let lower = name.to_ascii_lowercase();
                if !valid_host_pattern(&lower) {
                    c.bad(
                        format!("{cp}.sni"),
                        format!("{name:?} is not a host name or *.wildcard"),
                    );
                }
                if !names.insert(lower) {
                    c.bad(format!("{cp}.sni"), format!("{name:?} is listed twice"));
                }
            }
        }
        match std::fs::read(&cert.cert) {
            Err(e) => c.bad(
                format!("{cp}.cert"),
                format!("{}: {e}", cert.cert.display()),
            ),
            Ok(pem) => {
                if pingora::tls::x509::X509::stack_from_pem(&pem)
                    .map(|v| v.is_empty())
                    .unwrap_or(true)
                {
                    c.bad(
                        format!("{cp}.cert"),
                        format!("{}: no PEM certificate found", cert.cert.display()),
                    );
                }
            }
        }
        match std::fs::read(&cert.key) {
            Err(e) => c.bad(format!("{cp}.key"), format!("{}: {e}", cert.key.display())),
            Ok(pem) => {
                if pingora::tls::pkey::PKey::private_key_from_pem(&pem).is_err() {
                    c.bad(
                        format!("{cp}.key"),
                        format!("{}: no PEM private key found", cert.key.display()),
                    );
                }
            }
        }
    }
    if defaults > 1 {
        c.bad(
            format!("{p}.tls.certificates"),
            "only one certificate may omit sni (the default one)",
        );
    }
}

/// `host` or `*.host`, made of letters, digits, `-` and `.`.
pub(crate) fn valid_host_pattern(s: &str) -> bool {
    let body = s.strip_prefix("*.").unwrap_or(s);
    !body.is_empty()
        && body.len() <= 253
        && body
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn check_upstream(c: &mut Checker, name: &str, up: &UpstreamConfig) {
    let p = format!("upstreams.{name}");
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        c.bad(&p, "upstream names use letters, digits, '_', '-' and '.'");
    }
    if up.servers.is_empty() {
        c.bad(format!("{p}.servers"), "at least one server is required");
    } else if up.servers.iter().all(|s| s.backup) {
        c.bad(
            format!("{p}.servers"),
            "at least one server must not be a backup",
        );
    }
    let mut seen = HashSet::new();
    for (i, s) in up.servers.iter().enumerate() {
        let sp = format!("{p}.servers[{i}]");
        match resolve(&s.address) {
            Ok(addrs) => {
                for a in addrs {
                    if !seen.insert(a) {
                        c.bad(format!("{sp}.address"), format!("{a} is listed twice"));
                    }
                }
            }
            Err(e) => c.bad(format!("{sp}.address"), e),
        }
        if !(1..=1000).contains(&s.weight) {
            c.bad(format!("{sp}.weight"), "must be between 1 and 1000");
        }
        if s.max_fails > 0 && s.fail_timeout.0.is_zero() {
            c.bad(
                format!("{sp}.fail_timeout"),
                "must be above 0 when max_fails is set",
            );
        }
    }
    match (up.algorithm, &up.hash_key) {
        (Algorithm::Hash, None) => c.bad(
            format!("{p}.hash_key"),
            "algorithm: hash needs hash_key (header:NAME, cookie:NAME or uri)",
        ),
        (Algorithm::Hash, Some(k)) => {
            if let Err(e) = crate::upstream::HashKey::parse(k) {
                c.bad(format!("{p}.hash_key"), e);
            }
        }
        (_, Some(_)) => c.bad(format!("{p}.hash_key"), "only used with algorithm: hash"),
        (_, None) => {}
    }
    let t = &up.timeouts;
    for (field, d) in [("connect", t.connect), ("read", t.read), ("write", t.write)] {
        if d.0.is_zero() {
            c.bad(format!("{p}.timeouts.{field}"), "must be above 0");
        }
    }
    if t.total.is_some_and(|d| d.0.is_zero()) {
        c.bad(format!("{p}.timeouts.total"), "must be above 0");
    }
    match (up.protocol, &up.tls) {
        (UpstreamProtocol::H2, None) => c.bad(
            format!("{p}.protocol"),
            "h2 needs tls (use h2c for plain HTTP/2)",
        ),
        (UpstreamProtocol::H2c, Some(_)) => c.bad(
            format!("{p}.protocol"),
            "h2c is plain HTTP/2; with tls use h2",
        ),
        _ => {}
    }
    if let Some(tls) = &up.tls {
        if tls.sni.as_deref().is_some_and(|s| s.trim().is_empty()) {
            c.bad(format!("{p}.tls.sni"), "must not be empty");
        }
    }
    if let Some(hc) = &up.health_check {
        check_health(c, &format!("{p}.health_check"), hc);
    }
}

fn check_health(c: &mut Checker, p: &str, hc: &HealthCheckConfig) {
    if hc.kind == HealthCheckKind::Tcp {
        let http_only = [
            ("path", hc.path.is_some()),
            ("method", hc.method.is_some()),
            ("host", hc.host.is_some()),
            ("expected_statuses", hc.expected_statuses.is_some()),
            ("expected_body", hc.expected_body.is_some()),
            ("max_body", hc.max_body.is_some()),
        ];
        for (field, set) in http_only {
            if set {
                c.bad(format!("{p}.{field}"), "only used with type: http");
            }
        }
    }
    if let Some(path) = &hc.path {
        if !path.starts_with('/') || http::uri::PathAndQuery::try_from(path.as_str()).is_err() {
            c.bad(
                format!("{p}.path"),
                format!("{path:?} is not an absolute path"),
            );
        }
    }
    if let Some(m) = &hc.method {
        if http::Method::from_bytes(m.as_bytes()).is_err() {
            c.bad(
                format!("{p}.method"),
                format!("{m:?} is not an HTTP method"),
            );
        }
    }
    if let Some(h) = &hc.host {
        if http::HeaderValue::from_str(h).is_err() || h.is_empty() {
            c.bad(
                format!("{p}.host"),
                format!("{h:?} is not a valid Host value"),
            );
        }
    }
    if let Some(statuses) = &hc.expected_statuses {
        if statuses.is_empty() {
            c.bad(format!("{p}.expected_statuses"), "must not be empty");
        }
        for s in statuses {
            if !(100..=599).contains(s) {
                c.bad(
                    format!("{p}.expected_statuses"),
                    format!("{s} is not an HTTP status"),
                );
            }
        }
    }
    if hc.interval.0.is_zero() {
        c.bad(format!("{p}.interval"), "must be above 0");
    }
    if hc.timeout.0.is_zero() {
        c.bad(format!("{p}.timeout"), "must be above 0");
    }
    if hc.healthy_threshold == 0 {
        c.bad(format!("{p}.healthy_threshold"), "must be at least 1");
    }
    if hc.unhealthy_threshold == 0 {
        c.bad(format!("{p}.unhealthy_threshold"), "must be at least 1");
    }
    if hc.port == Some(0) {
        c.bad(format!("{p}.port"), "must be 1..=65535");
    }
}

/// Resolve `HOST:PORT` to its socket addresses (blocking DNS lookup for host names).
pub fn resolve(address: &str) -> Result<Vec<std::net::SocketAddr>, String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("{address:?} must be HOST:PORT"))?;
    if host.is_empty() || port.parse::<u16>().map(|p| p == 0).unwrap_or(true) {
        return Err(format!(
            "{address:?} must be HOST:PORT with a port 1..=65535"
        ));
    }
    let addrs: Vec<_> = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {address:?}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{address:?} resolves to no address"));
    }
    Ok(addrs)
}

fn check_routes(c: &mut Checker, cfg: &Config) {
    let mut names = HashSet::new();
    for (i, r) in cfg.routes.iter().enumerate() {
        let p = format!("routes[{i}]");
        let name = cfg.route_name(i);
        if !names.insert(name.clone()) {
            c.bad(
                format!("{p}.name"),
                format!("route name {name:?} is used twice"),
            );
        }
        if !cfg.upstreams.contains_key(&r.upstream) {
            let known: Vec<&str> = cfg.upstreams.keys().map(String::as_str).collect();
            c.bad(
                format!("{p}.upstream"),
                format!(
                    "no upstream named {:?} (known: {})",
                    r.upstream,
                    known.join(", ")
                ),
            );
        }
        check_match(c, &format!("{p}.match"), &r.matcher);
        check_edits(c, &format!("{p}.request_headers"), &r.request_headers);
        check_edits(c, &format!("{p}.response_headers"), &r.response_headers);
        check_security(c, &format!("{p}.security_headers"), &r.security_headers);
        if let Some(t) = &r.timeouts {
            for (field, d) in [
                ("connect", t.connect),
                ("read", t.read),
                ("write", t.write),
                ("total", t.total),
            ] {
                if d.is_some_and(|d| d.0.is_zero()) {
                    c.bad(format!("{p}.timeouts.{field}"), "must be above 0");
                }
            }
        }
        if let Some(cache) = &r.cache {
            if cache.ttl.is_some_and(|d| d.0.is_zero()) {
                c.bad(format!("{p}.cache.ttl"), "must be above 0");
            }
            if let Some(parts) = &cache.key {
                if parts.is_empty() {
                    c.bad(format!("{p}.cache.key"), "must not be empty");
                }
                for (j, part) in parts.iter().enumerate() {
                    if let Err(e) = crate::cache::KeyPart::parse(part) {
                        c.bad(format!("{p}.cache.key[{j}]"), e);
                    }
                }
            }
        }
    }
}

fn check_match(c: &mut Checker, p: &str, m: &MatchConfig) {
    if let Some(h) = &m.host {
        if !valid_host_pattern(&h.to_ascii_lowercase()) {
            c.bad(
                format!("{p}.host"),
                format!("{h:?} is not a host name or *.wildcard"),
            );
        }
    }
    if let Some(prefix) = &m.path_prefix {
        if !prefix.starts_with('/') {
            c.bad(format!("{p}.path_prefix"), "must start with '/'");
        }
    }
    if let Some(re) = &m.path_regex {
        if let Err(e) = regex::Regex::new(re) {
            c.bad(format!("{p}.path_regex"), format!("does not compile: {e}"));
        }
    }
    if let Some(methods) = &m.methods {
        if methods.is_empty() {
            c.bad(
                format!("{p}.methods"),
                "must not be empty (omit it to match every method)",
            );
        }
        for (j, meth) in methods.iter().enumerate() {
            if http::Method::from_bytes(meth.as_bytes()).is_err() {
                c.bad(
                    format!("{p}.methods[{j}]"),
                    format!("{meth:?} is not an HTTP method"),
                );
            }
        }
    }
    for (j, h) in m.headers.iter().enumerate() {
        let hp = format!("{p}.headers[{j}]");
        if http::HeaderName::from_bytes(h.name.as_bytes()).is_err() {
            c.bad(
                format!("{hp}.name"),
                format!("{:?} is not a header name", h.name),
            );
        }
        let given = [h.value.is_some(), h.regex.is_some(), h.present.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if given != 1 {
            c.bad(&hp, "give exactly one of value, regex, present");
        }
        if let Some(re) = &h.regex {
            if let Err(e) = regex::Regex::new(re) {
                c.bad(format!("{hp}.regex"), format!("does not compile: {e}"));
            }
        }
    }
}

fn check_edits(c: &mut Checker, p: &str, e: &HeaderEdits) {
    for (kind, map) in [("add", &e.add), ("set", &e.set)] {
        for (name, value) in map {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                c.bad(format!("{p}.{kind}.{name}"), "is not a header name");
            }
            if http::HeaderValue::from_str(value).is_err() {
                c.bad(
                    format!("{p}.{kind}.{name}"),
                    format!("{value:?} is not a header value"),
                );
            }
        }
    }
    for (j, name) in e.remove.iter().enumerate() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            c.bad(
                format!("{p}.remove[{j}]"),
                format!("{name:?} is not a header name"),
            );
        }
    }
}

fn check_security(c: &mut Checker, p: &str, s: &SecurityHeaders) {
    let values = [
        ("hsts", &s.hsts),
        ("frame_options", &s.frame_options),
        ("referrer_policy", &s.referrer_policy),
        ("content_security_policy", &s.content_security_policy),
        ("permissions_policy", &s.permissions_policy),
        ("cross_origin_opener_policy", &s.cross_origin_opener_policy),
    ];
    for (field, v) in values {
        if let Some(v) = v {
            if v.is_empty() || http::HeaderValue::from_str(v).is_err() {
                c.bad(
                    format!("{p}.{field}"),
                    format!("{v:?} is not a header value"),
                );
            }
        }
    }
}

fn check_cache(c: &mut Checker, cache: &CacheConfig) {
    if cache.max_bytes.0 == 0 {
        c.bad("cache.max_bytes", "must be above 0");
    }
    if cache.max_entries == 0 {
        c.bad("cache.max_entries", "must be above 0");
    }
    if cache.max_object_size.0 == 0 || cache.max_object_size > cache.max_bytes {
        c.bad(
            "cache.max_object_size",
            "must be above 0 and at most max_bytes",
        );
    }
    if http::HeaderName::from_bytes(cache.status_header.as_bytes()).is_err() {
        c.bad("cache.status_header", "is not a header name");
    }
    if let Some(h) = &cache.key_header {
        if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
            c.bad("cache.key_header", "is not a header name");
        }
    }
}

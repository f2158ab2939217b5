//! HTTP caching through the real gateway: hits without touching the backend, Vary,
//! Set-Cookie and Authorization rules, purge by key and by prefix, memory bounds.

mod common;

use common::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

struct Setup {
    _gw: Gateway,
    listen: SocketAddr,
    admin: SocketAddr,
}

fn start(backend: &Backend, route_cache: &str, cache: &str) -> Setup {
    let (l, a) = (free_port(), free_port());
    let yaml = format!(
        "listeners:\n  - address: 127.0.0.1:{l}\nadmin:\n  address: 127.0.0.1:{a}\n\
cache:\n  key_header: X-Cache-Key\n{cache}\
upstreams:\n  app:\n    servers:\n      - address: \"{}\"\n\
routes:\n  - upstream: app\n    cache:\n{route_cache}",
        backend.addr
    );
    let gw = Gateway::start(&yaml, &[addr(l), addr(a)]);
    Setup {
        _gw: gw,
        listen: addr(l),
        admin: addr(a),
    }
}

/// A backend whose behaviour depends on the path; the body carries the hit number.
fn origin() -> Backend {
    Backend::with_handler(
        "origin",
        None,
        Arc::new(|r: &Received, n| {
            let p = r.path.as_str();
            let body = format!("{p} #{n}");
            if p.starts_with("/vary") {
                let lang = r.header("accept-language").unwrap_or("none").to_string();
                Reply::ok(format!("{lang} #{n}"))
                    .header("Cache-Control", "max-age=60")
                    .header("Vary", "Accept-Language")
            } else if p.starts_with("/cookie") {
                Reply::ok(body)
                    .header("Cache-Control", "max-age=60")
                    .header("Set-Cookie", "sid=1")
            } else if p.starts_with("/nostore") {
                Reply::ok(body).header("Cache-Control", "no-store")
            } else if p.starts_with("/plain") {
                Reply::ok(body)
            } else if p.starts_with("/big") {
                Reply::ok(vec![b'x'; 8 * 1024]).header("Cache-Control", "max-age=60")
            } else if p.starts_with("/short") {
                Reply::ok(body).header("Cache-Control", "max-age=1")
            } else {
                Reply::ok(body).header("Cache-Control", "max-age=60")
            }
        }),
    )
}

fn status(r: &Response) -> &str {
    r.header("x-cache-status").unwrap_or("-")
}

#[test]
fn cached_response_served_without_the_backend() {
    let o = origin();
    let s = start(&o, "      ttl: 30s\n", "");
    let first = get(s.listen, "/page", &[]);
    assert_eq!((first.status, status(&first)), (200, "MISS"));
    let second = get(s.listen, "/page", &[]);
    assert_eq!((second.status, status(&second)), (200, "HIT"));
    assert_eq!(second.text(), first.text());
    assert_eq!(o.hits(), 1, "the second request must not reach the backend");
    assert_eq!(first.header("x-cache-key"), Some("test.local|/page"));
    // HEAD is answered from the same entry
    let head = request(s.listen, "HEAD", "/page", &[], b"").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(&head), "HIT");
    assert_eq!(o.hits(), 1);
    // POST bypasses the cache
    let post = request(s.listen, "POST", "/page", &[], b"x").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(&post), "BYPASS");
    assert_eq!(o.hits(), 2);
    // no freshness information: the route ttl applies
    assert_eq!(status(&get(s.listen, "/plain", &[])), "MISS");
    assert_eq!(status(&get(s.listen, "/plain", &[])), "HIT");
    // no-store is never stored
    assert_eq!(status(&get(s.listen, "/nostore", &[])), "MISS");
    assert_eq!(status(&get(s.listen, "/nostore", &[])), "MISS");
    // an expired entry is fetched again
    assert_eq!(status(&get(s.listen, "/short", &[])), "MISS");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(status(&get(s.listen, "/short", &[])), "EXPIRED");
    let hits = metric(s.admin, "rampart_cache_requests_total{status=\"hit\"}");
    assert!(hits.unwrap_or(0.0) >= 3.0, "{hits:?}");
}

#[test]
fn vary_is_honoured() {
    let o = origin();
    let s = start(&o, "      enabled: true\n", "");
    let en1 = get(s.listen, "/vary", &[("Accept-Language", "en")]);
    let fr1 = get(s.listen, "/vary", &[("Accept-Language", "fr")]);
    let en2 = get(s.listen, "/vary", &[("Accept-Language", "en")]);
    let fr2 = get(s.listen, "/vary", &[("Accept-Language", "fr")]);
    assert_eq!((status(&en1), status(&fr1)), ("MISS", "MISS"));
    assert_eq!((status(&en2), status(&fr2)), ("HIT", "HIT"));
    assert!(en2.text().starts_with("en "), "{}", en2.text());
    assert!(fr2.text().starts_with("fr "), "{}", fr2.text());
    assert_eq!(en1.text(), en2.text());
    assert_eq!(o.hits(), 2);
}

#[test]
fn set_cookie_and_authorization_are_not_cached_unless_configured() {
    let o = origin();
    let s = start(&o, "      enabled: true\n", "");
    for _ in 0..2 {
        let r = get(s.listen, "/cookie", &[]);
        assert_eq!(status(&r), "MISS");
        assert_eq!(r.header("set-cookie"), Some("sid=1"));
    }
    assert_eq!(o.hits(), 2);
    for _ in 0..2 {
        assert_eq!(
            status(&get(s.listen, "/authz", &[("Authorization", "Bearer x")])),
            "MISS"
        );
    }
    assert_eq!(o.hits(), 4);

    let o2 = origin();
    let s2 = start(
        &o2,
        "      cache_set_cookie: true\n      cache_authorized: true\n",
        "",
    );
    assert_eq!(status(&get(s2.listen, "/cookie", &[])), "MISS");
    assert_eq!(status(&get(s2.listen, "/cookie", &[])), "HIT");
    assert_eq!(
        status(&get(s2.listen, "/authz", &[("Authorization", "Bearer x")])),
        "MISS"
    );
    assert_eq!(
        status(&get(s2.listen, "/authz", &[("Authorization", "Bearer x")])),
        "HIT"
    );
    assert_eq!(o2.hits(), 2);
}

#[test]
fn purge_by_key_and_by_prefix() {
    let o = origin();
    let s = start(&o, "      enabled: true\n", "");
    for p in ["/p/1", "/p/2", "/q/1"] {
        assert_eq!(status(&get(s.listen, p, &[])), "MISS");
        assert_eq!(status(&get(s.listen, p, &[])), "HIT");
    }
    let purge = |q: &str| {
        let r = request(s.admin, "POST", &format!("/cache/purge?{q}"), &[], b"")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    };
    assert_eq!(purge("key=test.local%7C%2Fp%2F1").trim(), "{\"purged\":1}");
    assert_eq!(status(&get(s.listen, "/p/1", &[])), "MISS");
    assert_eq!(status(&get(s.listen, "/p/2", &[])), "HIT");
    assert_eq!(purge("prefix=test.local|/p/").trim(), "{\"purged\":2}");
    assert_eq!(status(&get(s.listen, "/p/1", &[])), "MISS");
    assert_eq!(status(&get(s.listen, "/p/2", &[])), "MISS");
    assert_eq!(
        status(&get(s.listen, "/q/1", &[])),
        "HIT",
        "other keys stay"
    );
    assert_eq!(purge("key=nothing").trim(), "{\"purged\":0}");
    let bad = request(s.admin, "POST", "/cache/purge", &[], b"").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.status, 400);
    // every Vary variant of a key goes with it
    get(s.listen, "/vary", &[("Accept-Language", "en")]);
    get(s.listen, "/vary", &[("Accept-Language", "fr")]);
    assert_eq!(purge("key=test.local|/vary").trim(), "{\"purged\":2}");
    assert!(metric(s.admin, "rampart_cache_purged_total").unwrap_or(0.0) >= 5.0);
}

#[test]
fn memory_stays_bounded() {
    let o = origin();
    // 64 KB of cache, 8 KB objects: about 7 fit (each entry also counts its headers)
    let s = start(
        &o,
        "      enabled: true\n",
        "  max_bytes: 64KB\n  max_object_size: 16KB\n  max_entries: 1000\n",
    );
    for i in 0..40 {
        assert_eq!(status(&get(s.listen, &format!("/big/{i}"), &[])), "MISS");
    }
    // eviction runs right after each admission
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let size = metric(s.admin, "rampart_cache_size_bytes").unwrap_or(f64::MAX);
        if size <= 65536.0 {
            break;
        }
        assert!(Instant::now() < deadline, "cache holds {size} bytes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let evicted = metric(s.admin, "rampart_cache_evictions_total").unwrap_or(0.0);
    assert!(evicted >= 30.0, "evictions={evicted}");
    let entries = metric(s.admin, "rampart_cache_entries").unwrap_or(0.0);
    assert!((1.0..=8.0).contains(&entries), "entries={entries}");
    // the newest entries are still there, the oldest are gone
    assert_eq!(status(&get(s.listen, "/big/39", &[])), "HIT");
    assert_eq!(status(&get(s.listen, "/big/0", &[])), "MISS");

    // the entry count bound works on its own too
    let o2 = origin();
    let s2 = start(&o2, "      enabled: true\n", "  max_entries: 5\n");
    for i in 0..20 {
        get(s2.listen, &format!("/e/{i}"), &[]);
    }
    std::thread::sleep(Duration::from_millis(200));
    let entries = metric(s2.admin, "rampart_cache_entries").unwrap_or(0.0);
    assert!(entries <= 5.0, "entries={entries}");
}

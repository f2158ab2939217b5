//! Load balancing, passive ejection, retries and health checks through the real gateway
//! binary, with loopback backends.

mod common;

use common::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One listener, an admin listener, one upstream `app` (given YAML body), one route.
fn config(listen: u16, admin: u16, upstream_yaml: &str, listener_extra: &str) -> String {
    format!(
        "listeners:\n  - address: 127.0.0.1:{listen}\n{listener_extra}\
admin:\n  address: 127.0.0.1:{admin}\n\
upstreams:\n  app:\n{upstream_yaml}\
routes:\n  - upstream: app\n"
    )
}

struct Setup {
    gw: Gateway,
    listen: SocketAddr,
    admin: SocketAddr,
}

fn start(upstream_yaml: &str, listener_extra: &str) -> Setup {
    let (l, a) = (free_port(), free_port());
    let yaml = config(l, a, upstream_yaml, listener_extra);
    let gw = Gateway::start(&yaml, &[addr(l), addr(a)]);
    Setup {
        gw,
        listen: addr(l),
        admin: addr(a),
    }
}

fn bodies(s: &Setup, n: usize, path: &str, headers: &[(&str, &str)]) -> Vec<String> {
    (0..n)
        .map(|_| get(s.listen, path, headers).text())
        .collect()
}

#[test]
fn round_robin_respects_weights() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    for algo in ["round_robin", "weighted"] {
        let s = start(
            &format!(
                "    algorithm: {algo}\n    servers:\n      - {{ address: \"{}\", weight: 3 }}\n      - {{ address: \"{}\", weight: 1 }}\n",
                a.addr, b.addr
            ),
            "",
        );
        let t = tally(bodies(&s, 200, "/", &[]));
        let (na, nb) = (
            t.get("a").copied().unwrap_or(0),
            t.get("b").copied().unwrap_or(0),
        );
        assert_eq!(na + nb, 200, "{algo}: {t:?}");
        assert!((140..=160).contains(&na), "{algo}: weights 3:1 gave {t:?}");
        // the selections metric agrees with what the backends saw
        let sel = metric(
            s.admin,
            &format!(
                "rampart_upstream_selections_total{{server=\"{}\",upstream=\"app\"}}",
                a.addr
            ),
        );
        assert_eq!(sel, Some(na as f64), "{algo}");
    }
}

#[test]
fn random_respects_weights() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let s = start(
        &format!(
            "    algorithm: random\n    servers:\n      - {{ address: \"{}\", weight: 1 }}\n      - {{ address: \"{}\", weight: 4 }}\n",
            a.addr, b.addr
        ),
        "",
    );
    let t = tally(bodies(&s, 300, "/", &[]));
    let nb = t.get("b").copied().unwrap_or(0);
    // expected 240; binomial sd ~7
    assert!((200..=275).contains(&nb), "weights 1:4 gave {t:?}");
    assert!(t.get("a").copied().unwrap_or(0) > 20, "{t:?}");
}

#[test]
fn hash_on_header_is_sticky() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let c = Backend::start("c");
    let s = start(
        &format!(
            "    algorithm: hash\n    hash_key: header:X-User\n    servers:\n      - address: \"{}\"\n      - address: \"{}\"\n      - address: \"{}\"\n",
            a.addr, b.addr, c.addr
        ),
        "",
    );
    let mut seen = std::collections::HashSet::new();
    for user in 0..30 {
        let u = format!("user-{user}");
        let t = tally(bodies(&s, 4, "/", &[("X-User", &u)]));
        assert_eq!(t.len(), 1, "{u} moved between servers: {t:?}");
        seen.extend(t.into_keys());
    }
    assert_eq!(
        seen.len(),
        3,
        "30 keys should reach all 3 servers: {seen:?}"
    );
}

#[test]
fn ip_hash_sticky_per_client_from_trusted_proxy() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let up = format!(
        "    algorithm: ip_hash\n    servers:\n      - address: \"{}\"\n      - address: \"{}\"\n",
        a.addr, b.addr
    );
    let s = start(&up, "    trusted_proxies: [127.0.0.1/32]\n");
    let mut seen = std::collections::HashSet::new();
    for i in 0..40 {
        let ip = format!("198.51.{}.{}", i % 7, 10 + i);
        let t = tally(bodies(&s, 4, "/", &[("X-Forwarded-For", &ip)]));
        assert_eq!(t.len(), 1, "client {ip} moved: {t:?}");
        seen.extend(t.into_keys());
    }
    assert_eq!(seen.len(), 2, "40 clients should use both servers");
    // the backend sees the resolved client appended by the gateway
    let last = a
        .last()
        .or_else(|| b.last())
        .unwrap_or_else(|| panic!("no request"));
    assert!(
        last.header("x-forwarded-for")
            .is_some_and(|v| v.ends_with("127.0.0.1")),
        "{last:?}"
    );

    // without trusted_proxies the header is ignored: every request comes from 127.0.0.1
    let s2 = start(&up, "");
    let mut all = std::collections::HashSet::new();
    for i in 0..20 {
        let ip = format!("203.0.113.{i}");
        all.extend(bodies(&s2, 1, "/", &[("X-Forwarded-For", &ip)]));
    }
    assert_eq!(
        all.len(),
        1,
        "untrusted header must not change the hash: {all:?}"
    );
}

#[test]
fn least_conn_prefers_the_idle_server() {
    let slow = |name: &'static str| {
        Backend::with_handler(
            name,
            None,
            Arc::new(move |r: &Received, _| {
                let reply = Reply::ok(name);
                if r.path == "/slow" {
                    reply.delay(Duration::from_millis(2500))
                } else {
                    reply
                }
            }),
        )
    };
    let a = slow("a");
    let b = slow("b");
    let s = start(
        &format!(
            "    algorithm: least_conn\n    servers:\n      - address: \"{}\"\n      - address: \"{}\"\n",
            a.addr, b.addr
        ),
        "",
    );
    let listen = s.listen;
    let long = std::thread::spawn(move || get(listen, "/slow", &[]).text());
    let deadline = Instant::now() + Duration::from_secs(3);
    while a.in_progress.load(Ordering::SeqCst) + b.in_progress.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "slow request never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    let busy = if a.in_progress.load(Ordering::SeqCst) == 1 {
        "a"
    } else {
        "b"
    };
    let t = tally(bodies(&s, 12, "/fast", &[]));
    assert_eq!(
        t.get(busy),
        None,
        "the busy server {busy} got requests: {t:?}"
    );
    assert_eq!(long.join().ok().as_deref(), Some(busy));
    // once both are idle, both get traffic again
    let t = tally(bodies(&s, 10, "/fast", &[]));
    assert_eq!(t.len(), 2, "{t:?}");
}

#[test]
fn retries_on_connect_failure_for_idempotent_requests_only() {
    let a = Backend::start("a");
    let (_dead_sock, dead) = refused_port();
    let s = start(
        &format!(
            "    retry_attempts: 1\n    servers:\n      - {{ address: \"127.0.0.1:{dead}\", max_fails: 0 }}\n      - {{ address: \"{}\", max_fails: 0 }}\n",
            a.addr
        ),
        "",
    );
    for _ in 0..20 {
        let r = get(s.listen, "/", &[]);
        assert_eq!((r.status, r.text().as_str()), (200, "a"));
    }
    let retries =
        metric(s.admin, "rampart_upstream_retries_total{upstream=\"app\"}").unwrap_or(0.0);
    assert!(retries >= 9.0, "retries={retries}");
    let mut failed = 0;
    for _ in 0..20 {
        let r = request(s.listen, "POST", "/", &[], b"x").unwrap_or_else(|e| panic!("{e}"));
        match r.status {
            200 => {}
            502 => failed += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        (8..=12).contains(&failed),
        "POST is not retried, so about half fail: {failed}"
    );
    let fails = metric(
        s.admin,
        &format!("rampart_upstream_failures_total{{kind=\"connect\",server=\"127.0.0.1:{dead}\",upstream=\"app\"}}"),
    );
    assert!(fails.unwrap_or(0.0) >= 19.0, "{fails:?}");
}

#[test]
fn passive_ejection_skips_a_failing_server() {
    let a = Backend::start("a");
    let (_dead_sock, dead) = refused_port();
    let s = start(
        &format!(
            "    servers:\n      - {{ address: \"127.0.0.1:{dead}\", max_fails: 1, fail_timeout: 30s }}\n      - address: \"{}\"\n",
            a.addr
        ),
        "",
    );
    for _ in 0..20 {
        assert_eq!(get(s.listen, "/", &[]).status, 200);
    }
    let series = |m: &str| format!("{m}{{server=\"127.0.0.1:{dead}\",upstream=\"app\"}}");
    assert_eq!(
        metric(s.admin, &series("rampart_upstream_ejections_total")),
        Some(1.0)
    );
    let fails = metric(s.admin, &format!("rampart_upstream_failures_total{{kind=\"connect\",server=\"127.0.0.1:{dead}\",upstream=\"app\"}}"));
    assert_eq!(fails, Some(1.0), "an ejected server is not tried again");
    assert_eq!(a.hits(), 20);
}

#[test]
fn all_servers_down_gives_502_fast() {
    let ((_s1, d1), (_s2, d2)) = (refused_port(), refused_port());
    // with an active health check: no connection is even attempted
    let s = start(
        &format!(
            "    health_check: {{ type: tcp, interval: 100ms, timeout: 100ms, unhealthy_threshold: 1 }}\n    servers:\n      - address: \"127.0.0.1:{d1}\"\n      - address: \"127.0.0.1:{d2}\"\n"
        ),
        "",
    );
    let series =
        format!("rampart_upstream_server_up{{server=\"127.0.0.1:{d1}\",upstream=\"app\"}}");
    let deadline = Instant::now() + Duration::from_secs(3);
    while metric(s.admin, &series) != Some(0.0) {
        assert!(Instant::now() < deadline, "server never marked down");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let r = get(s.listen, "/", &[]);
    assert_eq!(r.status, 502);
    assert!(
        t0.elapsed() < Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    assert!(
        s.gw.log_text()
            .contains("upstream app: no server available"),
        "{}",
        s.gw.log_text()
    );
    assert_eq!(
        metric(
            s.admin,
            "rampart_upstream_unavailable_total{upstream=\"app\"}"
        ),
        Some(1.0)
    );

    // without a health check: connect refusals, retries exhausted, still quick
    let s2 = start(
        &format!("    servers:\n      - address: \"127.0.0.1:{d1}\"\n      - address: \"127.0.0.1:{d2}\"\n"),
        "",
    );
    let t0 = Instant::now();
    assert_eq!(get(s2.listen, "/", &[]).status, 502);
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
}

#[test]
fn health_check_takes_a_dead_server_out_and_back_with_no_client_errors() {
    let health = |name: &'static str| {
        Arc::new(move |r: &Received, _| {
            if r.path == "/health" {
                Reply::ok("status: ok")
            } else {
                Reply::ok(name)
            }
        }) as Handler
    };
    let a = Backend::with_handler("a", None, health("a"));
    let mut b = Backend::with_handler("b", None, health("b"));
    let b_port = b.addr.port();
    // interval 200ms, unhealthy after 2 failures, healthy after 2 successes
    let s = start(
        &format!(
            "    retry_attempts: 1\n    health_check:\n      type: http\n      path: /health\n      expected_statuses: [200]\n      expected_body: \"ok\"\n      interval: 200ms\n      timeout: 200ms\n      unhealthy_threshold: 2\n      healthy_threshold: 2\n    servers:\n      - {{ address: \"{}\", max_fails: 0 }}\n      - {{ address: \"{}\", max_fails: 0 }}\n",
            a.addr, b.addr
        ),
        "",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(Mutex::new(Vec::<(Instant, String)>::new()));
    let client = {
        let (stop, errors, served, listen) =
            (stop.clone(), errors.clone(), served.clone(), s.listen);
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match request(listen, "GET", "/", &[], b"") {
                    Ok(r) if r.status == 200 => {
                        if let Ok(mut v) = served.lock() {
                            v.push((Instant::now(), r.text()));
                        }
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    let up_b =
        format!("rampart_upstream_server_up{{server=\"127.0.0.1:{b_port}\",upstream=\"app\"}}");
    assert_eq!(metric(s.admin, &up_b), Some(1.0));

    b.kill();
    let killed = Instant::now();
    while metric(s.admin, &up_b) != Some(0.0) {
        assert!(
            killed.elapsed() < Duration::from_secs(3),
            "b never marked down"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let detected = killed.elapsed();
    // 2 failed checks at a 200ms interval (+ check timeout + gauge refresh)
    assert!(
        detected < Duration::from_millis(1500),
        "detection took {detected:?}"
    );

    std::thread::sleep(Duration::from_millis(500));
    b.restart();
    let restarted = Instant::now();
    while metric(s.admin, &up_b) != Some(1.0) {
        assert!(
            restarted.elapsed() < Duration::from_secs(3),
            "b never came back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        restarted.elapsed() < Duration::from_millis(1500),
        "{:?}",
        restarted.elapsed()
    );
    let b_hits_before = b.hits();
    std::thread::sleep(Duration::from_millis(600));
    stop.store(true, Ordering::SeqCst);
    let _ = client.join();

    assert_eq!(
        errors.load(Ordering::SeqCst),
        0,
        "clients saw errors while a was up"
    );
    assert!(
        b.hits() > b_hits_before + 5,
        "b gets traffic again after recovery"
    );
    let served = served.lock().map(|v| v.clone()).unwrap_or_default();
    let during_outage = served
        .iter()
        .filter(|(t, body)| *t > killed + detected && *t < restarted && body == "b")
        .count();
    assert_eq!(during_outage, 0);
    let tr = |state: &str| {
        metric(
            s.admin,
            &format!("rampart_upstream_health_transitions_total{{server=\"127.0.0.1:{b_port}\",state=\"{state}\",upstream=\"app\"}}"),
        )
    };
    assert_eq!(tr("unhealthy"), Some(1.0));
    assert_eq!(tr("healthy"), Some(1.0));
    let log = s.gw.log_text();
    assert!(log.contains("failed its health check"), "{log}");
    assert!(log.contains("back in service"), "{log}");
}

#[test]
fn http_check_statuses_and_body_text() {
    let handler = |health: Reply, name: &'static str| {
        Arc::new(move |r: &Received, _| {
            if r.path == "/hc" {
                health.clone()
            } else {
                Reply::ok(name)
            }
        }) as Handler
    };
    let good = Backend::with_handler(
        "good",
        None,
        handler(Reply::ok("ready").status(204), "good"),
    );
    let not_found = Backend::with_handler(
        "missing",
        None,
        handler(Reply::ok("no").status(404), "missing"),
    );
    let wrong_status = Backend::with_handler(
        "status",
        None,
        handler(Reply::ok("ready").status(500), "status"),
    );
    let s = start(
        &format!(
            "    health_check: {{ type: http, method: HEAD, path: /hc, expected_statuses: [200, 204], interval: 100ms, timeout: 200ms, unhealthy_threshold: 1, healthy_threshold: 1 }}\n    servers:\n      - address: \"{}\"\n      - address: \"{}\"\n      - address: \"{}\"\n",
            good.addr, not_found.addr, wrong_status.addr
        ),
        "",
    );
    std::thread::sleep(Duration::from_millis(600));
    let t = tally(bodies(&s, 12, "/", &[]));
    assert_eq!(t.get("good"), Some(&12), "{t:?}");
    let hc = good
        .received
        .lock()
        .map(|r| r.iter().any(|q| q.method == "HEAD" && q.path == "/hc"))
        .unwrap_or(false);
    assert!(hc, "health check used HEAD /hc");
    // body check: HEAD has no body, so expected_body is tested with GET on another upstream
    let ok_text = Backend::with_handler("t", None, handler(Reply::ok("all good"), "t"));
    let bad_text = Backend::with_handler("u", None, handler(Reply::ok("all bad"), "u"));
    let s2 = start(
        &format!(
            "    health_check: {{ type: http, path: /hc, expected_body: good, interval: 100ms, timeout: 200ms, unhealthy_threshold: 1, healthy_threshold: 1 }}\n    servers:\n      - address: \"{}\"\n      - address: \"{}\"\n",
            ok_text.addr, bad_text.addr
        ),
        "",
    );
    std::thread::sleep(Duration::from_millis(600));
    let t = tally(bodies(&s2, 8, "/", &[]));
    assert_eq!(t.get("t"), Some(&8), "{t:?}");
    drop(not_found);
    drop(wrong_status);
}

#[test]
fn backup_server_only_when_primaries_are_down() {
    let a = Backend::start("a");
    let b = Backend::start("backup");
    let (_dead_sock, dead) = refused_port();
    let s = start(
        &format!(
            "    health_check: {{ type: tcp, interval: 100ms, timeout: 100ms, unhealthy_threshold: 1, healthy_threshold: 1 }}\n    servers:\n      - address: \"{}\"\n      - {{ address: \"{}\", backup: true }}\n",
            a.addr, b.addr
        ),
        "",
    );
    let t = tally(bodies(&s, 10, "/", &[]));
    assert_eq!(t.get("a"), Some(&10), "{t:?}");
    let s2 = start(
        &format!(
            "    health_check: {{ type: tcp, interval: 100ms, timeout: 100ms, unhealthy_threshold: 1, healthy_threshold: 1 }}\n    servers:\n      - address: \"127.0.0.1:{dead}\"\n      - {{ address: \"{}\", backup: true }}\n",
            b.addr
        ),
        "",
    );
    std::thread::sleep(Duration::from_millis(500));
    let t = tally(bodies(&s2, 10, "/", &[]));
    assert_eq!(t.get("backup"), Some(&10), "{t:?}");
}

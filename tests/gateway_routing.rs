//! Routing, header edits, security headers, timeouts, the admin endpoints and the command line
//! (`-t`, quick start, config errors with their key path).

mod common;

use common::*;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn routes_by_host_path_method_and_header() {
    let api = Backend::start("api");
    let static_ = Backend::start("static");
    let admin_b = Backend::start("admin");
    let canary = Backend::start("canary");
    let fallback = Backend::start("fallback");
    let (l, a) = (free_port(), free_port());
    let yaml = format!(
        r#"listeners:
  - address: 127.0.0.1:{l}
admin:
  address: 127.0.0.1:{a}
upstreams:
  api: {{ servers: [{{ address: "{}" }}] }}
  static: {{ servers: [{{ address: "{}" }}] }}
  admin: {{ servers: [{{ address: "{}" }}] }}
  canary: {{ servers: [{{ address: "{}" }}] }}
  fallback: {{ servers: [{{ address: "{}" }}] }}
routes:
  - name: canary
    match: {{ host: api.example.com, headers: [{{ name: X-Canary, value: "1" }}] }}
    upstream: canary
  - name: api-write
    match: {{ host: api.example.com, path_prefix: /v1/, methods: [POST, PUT] }}
    upstream: admin
  - name: api
    match: {{ host: api.example.com, path_prefix: /v1/ }}
    upstream: api
  - name: assets
    match: {{ host: "*.cdn.example.com", path_regex: "\\.(css|js|png)$" }}
    upstream: static
  - name: www
    match: {{ host: www.example.com }}
    upstream: fallback
"#,
        api.addr, static_.addr, admin_b.addr, canary.addr, fallback.addr
    );
    let _gw = Gateway::start(&yaml, &[addr(l), addr(a)]);
    let go = |method: &str, host: &str, path: &str, extra: &[(&str, &str)]| {
        let mut h = vec![("Host", host)];
        h.extend_from_slice(extra);
        let r = request(addr(l), method, path, &h, b"").unwrap_or_else(|e| panic!("{e}"));
        (r.status, r.text())
    };
    assert_eq!(
        go("GET", "api.example.com", "/v1/users", &[]),
        (200, "api".into())
    );
    assert_eq!(
        go("GET", "API.example.com:8443", "/v1/users", &[]),
        (200, "api".into())
    );
    assert_eq!(
        go("POST", "api.example.com", "/v1/users", &[]),
        (200, "admin".into())
    );
    assert_eq!(
        go("GET", "api.example.com", "/v1/x", &[("X-Canary", "1")]),
        (200, "canary".into())
    );
    assert_eq!(
        go("GET", "img.cdn.example.com", "/a/b.png", &[]),
        (200, "static".into())
    );
    assert_eq!(
        go("GET", "www.example.com", "/anything", &[]),
        (200, "fallback".into())
    );
    // no route: 404 from the gateway, no backend touched
    let before = api.hits() + static_.hits() + fallback.hits();
    assert_eq!(go("GET", "api.example.com", "/v2/users", &[]).0, 404);
    assert_eq!(go("GET", "img.cdn.example.com", "/a/b.html", &[]).0, 404);
    assert_eq!(go("GET", "cdn.example.com", "/a.png", &[]).0, 404);
    assert_eq!(api.hits() + static_.hits() + fallback.hits(), before);
    std::thread::sleep(Duration::from_millis(200));
    let m = metric(
        addr(a),
        "rampart_http_requests_total{route=\"api\",status=\"200\"}",
    );
    assert_eq!(m, Some(2.0));
    let m = metric(
        addr(a),
        "rampart_http_requests_total{route=\"none\",status=\"404\"}",
    );
    assert_eq!(m, Some(3.0));
}

#[test]
fn header_edits_and_security_headers() {
    let b = Backend::with_handler(
        "b",
        None,
        std::sync::Arc::new(|_, _| {
            Reply::ok("ok")
                .header("Server", "backend/1.0")
                .header("X-Powered-By", "php")
                .header("X-Frame-Options", "SAMEORIGIN")
        }),
    );
    let l = free_port();
    let yaml = format!(
        r#"listeners:
  - address: 127.0.0.1:{l}
upstreams:
  app: {{ servers: [{{ address: "{}" }}] }}
routes:
  - upstream: app
    request_headers:
      set: {{ X-Env: prod }}
      add: {{ X-Tag: added }}
      remove: [X-Internal]
    response_headers:
      set: {{ Server: rampart }}
      add: {{ X-Served-By: gw }}
      remove: [X-Powered-By]
    security_headers:
      hsts: "max-age=31536000; includeSubDomains"
      content_type_options: true
      frame_options: DENY
      referrer_policy: no-referrer
      content_security_policy: "default-src 'self'"
"#,
        b.addr
    );
    let _gw = Gateway::start(&yaml, &[addr(l)]);
    let r = get(
        addr(l),
        "/",
        &[
            ("X-Internal", "secret"),
            ("X-Env", "dev"),
            ("X-Tag", "client"),
        ],
    );
    assert_eq!(r.status, 200);
    let seen = b.last().unwrap_or_else(|| panic!("no request"));
    assert_eq!(seen.header("x-internal"), None);
    assert_eq!(seen.header("x-env"), Some("prod"));
    let tags: Vec<_> = seen
        .headers
        .iter()
        .filter(|(k, _)| k == "x-tag")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(tags, ["client", "added"]);
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));

    assert_eq!(r.header("server"), Some("rampart"));
    assert_eq!(r.header("x-served-by"), Some("gw"));
    assert_eq!(r.header("x-powered-by"), None);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("x-frame-options"),
        Some("SAMEORIGIN"),
        "the upstream's own value is kept"
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'")
    );
}

#[test]
fn timeouts_answer_504() {
    let slow = Backend::with_handler(
        "slow",
        None,
        std::sync::Arc::new(|_, _| Reply::ok("late").delay(Duration::from_millis(1500))),
    );
    let l = free_port();
    let yaml = format!(
        r#"listeners:
  - address: 127.0.0.1:{l}
upstreams:
  app:
    timeouts: {{ read: 300ms }}
    retry_attempts: 0
    servers: [{{ address: "{}", max_fails: 0 }}]
routes:
  - match: {{ path_prefix: /patient }}
    upstream: app
    timeouts: {{ read: 5s }}
  - match: {{ path_prefix: /deadline }}
    upstream: app
    timeouts: {{ read: 5s, total: 500ms }}
  - upstream: app
"#,
        slow.addr
    );
    let _gw = Gateway::start(&yaml, &[addr(l)]);
    let t0 = Instant::now();
    assert_eq!(get(addr(l), "/", &[]).status, 504);
    assert!(
        t0.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t0.elapsed()
    );
    let r = get(addr(l), "/patient", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "late"),
        "route override"
    );
    let t0 = Instant::now();
    assert_eq!(
        get(addr(l), "/deadline", &[]).status,
        504,
        "total deadline caps the read timeout"
    );
    assert!(
        t0.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn admin_endpoints() {
    let b = Backend::start("b");
    let (l, a) = (free_port(), free_port());
    let yaml = format!(
        "listeners: [{{ address: \"127.0.0.1:{l}\" }}]\nadmin: {{ address: \"127.0.0.1:{a}\" }}\nupstreams:\n  app: {{ servers: [{{ address: \"{}\" }}] }}\nroutes: [{{ upstream: app }}]\n",
        b.addr
    );
    let _gw = Gateway::start(&yaml, &[addr(l), addr(a)]);
    get(addr(l), "/", &[]);
    // request metrics are recorded in the logging phase, just after the response
    std::thread::sleep(Duration::from_millis(200));
    let h = get(addr(a), "/healthz", &[]);
    assert_eq!(h.status, 200);
    assert!(h.text().starts_with("ok"));
    let m = get(addr(a), "/metrics", &[]);
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    let text = m.text();
    for name in [
        "rampart_http_requests_total",
        "rampart_http_request_duration_seconds_bucket",
        "rampart_upstream_response_duration_seconds_bucket",
        "rampart_upstream_server_up",
        "rampart_upstream_selections_total",
        "rampart_cache_size_bytes",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    assert_eq!(get(addr(a), "/nope", &[]).status, 404);
    assert_eq!(get(addr(a), "/cache/purge", &[]).status, 405);
}

fn check(yaml: &str) -> (bool, String) {
    let dir = temp_dir("check");
    let f = dir.join("bad.yaml");
    std::fs::write(&f, yaml).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(bin())
        .arg("-t")
        .arg("-c")
        .arg(&f)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_check_reports_key_paths() {
    let good = "listeners: [{ address: \"127.0.0.1:1\" }]\nupstreams:\n  app: { servers: [{ address: \"127.0.0.1:2\" }] }\nroutes: [{ upstream: app }]\n";
    let (ok, err) = check(good);
    assert!(ok, "{err}");
    assert!(err.contains("test is successful"), "{err}");

    let cases = [
        (good.replace("routes: [{ upstream: app }]", "routes: [{ upstream: nope }]"), "routes[0].upstream"),
        (good.replace("address: \"127.0.0.1:2\"", "address: \"127.0.0.1:2\", weigth: 2"), "upstreams.app.servers[0]"),
        (good.replace("{ servers:", "{ timeouts: { connect: fast }, servers:"), "upstreams.app.timeouts.connect"),
        (good.replace("127.0.0.1:1", "localhost:1"), "listeners[0].address"),
        (good.replace("[{ address: \"127.0.0.1:2\" }]", "[]"), "upstreams.app.servers"),
        (good.replace("[{ upstream: app }]", "[{ upstream: app, match: { path_regex: \"[\" } }]"), "routes[0].match.path_regex"),
        (good.replace("}]\nupstreams", ", tls: { certificates: [{ cert: /nonexistent.crt, key: /nonexistent.key }] } }]\nupstreams"), "listeners[0].tls.certificates[0].cert"),
        (format!("{good}cache: {{ max_bytes: 10XB }}\n"), "cache.max_bytes"),
        (format!("{good}bogus: 1\n"), "bogus"),
    ];
    for (yaml, path) in cases {
        let (ok, err) = check(&yaml);
        assert!(!ok, "accepted:\n{yaml}");
        assert!(err.contains(path), "expected {path} in: {err}");
        assert!(err.contains("bad.yaml"), "the file is named: {err}");
    }
}

#[test]
fn quick_start_and_version() {
    let out = Command::new(bin())
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("rampart "));

    let b = Backend::start("quick");
    let l = free_port();
    let mut child = Command::new(bin())
        .args([
            "run",
            "--listen",
            &format!("127.0.0.1:{l}"),
            "--upstream",
            &b.addr.to_string(),
            "--threads",
            "1",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let up = wait_port(addr(l), Duration::from_secs(10));
    let r = up.then(|| get(addr(l), "/", &[]));
    let _ = child.kill();
    let _ = child.wait();
    let r = r.unwrap_or_else(|| panic!("quick start did not listen"));
    assert_eq!((r.status, r.text().as_str()), (200, "quick"));

    let out = Command::new(bin())
        .args([
            "run",
            "-t",
            "--listen",
            "127.0.0.1:1",
            "--upstream",
            "127.0.0.1:2",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin())
        .args(["run", "--listen", "127.0.0.1:1"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
}

#[test]
fn graceful_upgrade_hands_over_the_listening_socket() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let b = Backend::start("up");
    let dir = temp_dir("upgrade");
    let l = free_port();
    let sock = dir.join("upgrade.sock");
    let yaml = format!(
        "server:\n  upgrade_sock: \"{}\"\n  pid_file: \"{}\"\n  grace_period: 1s\n  graceful_shutdown_timeout: 1s\nlisteners: [{{ address: \"127.0.0.1:{l}\" }}]\nupstreams:\n  app: {{ servers: [{{ address: \"{}\" }}] }}\nroutes: [{{ upstream: app }}]\n",
        sock.display(),
        dir.join("rampart.pid").display(),
        b.addr
    );
    let mut old = Gateway::start_in(dir.clone(), &yaml, &[addr(l)]);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let client = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match request(addr(l), "GET", "/", &[], b"") {
                    Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let new_log = std::fs::File::create(dir.join("new.log")).unwrap_or_else(|e| panic!("{e}"));
    let mut new = Command::new(bin())
        .args(["run", "-u", "--threads", "1", "-c"])
        .arg(dir.join("rampart.yaml"))
        .stderr(new_log)
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    while !sock.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "new process never waited for sockets"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let quit = Command::new("kill")
        .args(["-QUIT", &old.child.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(quit.success());
    let t0 = Instant::now();
    let exited = loop {
        if let Ok(Some(status)) = old.child.try_wait() {
            break status;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "old process did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exited.success(), "{exited:?}");
    let served_before = ok.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let _ = client.join();
    let after = ok.load(Ordering::SeqCst) - served_before;
    let _ = new.kill();
    let _ = new.wait();
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed during the upgrade"
    );
    assert!(
        after > 5,
        "the new process serves after the old one left ({after})"
    );
    assert!(
        old.log_text().contains("listener sockets sent"),
        "{}",
        old.log_text()
    );
}

#[test]
fn shipped_example_config_is_valid() {
    let conf = std::path::Path::new(file!())
        .parent()
        .and_then(|t| t.parent())
        .map(|root| root.join("conf/rampart.yaml"))
        .unwrap_or_else(|| panic!("no repository root"));
    let out = Command::new(bin())
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

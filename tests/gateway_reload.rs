//! Hot reload of the rules with SIGHUP, through the built `rampart` binary, under load.

mod common;

use common::waf::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const GATEWAY: &str = r#"listeners: [{ address: "{listen}" }]
admin: { address: "{admin}" }
upstreams:
  app: { servers: [{ address: "{upstream}" }] }
routes: [{ name: reload, upstream: app }]
waf:
  rules: "{dir}/rules.conf"
  error_log: "{dir}/error.log"
"#;

/// Generation `g` of the rules: blocks `?block=gen<g>` (rule 1000+g) and only that; it has
/// `g` more filler rules than generation 0, and an included file that changes with it.
fn rules(dir: &std::path::Path, g: usize) -> (String, String) {
    let mut main = format!(
        "SecRuleEngine On\nSecRequestBodyAccess On\nSecRequestBodyLimit 1048576\nSecRequestBodyNoFilesLimit 1048576\n\
         SecRule ARGS:block \"@streq gen{g}\" \"id:{},phase:1,deny,status:403,log,msg:'generation {g}'\"\n\
         Include {}/included.conf\n",
        1000 + g,
        dir.display()
    );
    for i in 0..g {
        main.push_str(&format!(
            "SecRule ARGS:filler{i} \"@streq never-{i}\" \"id:{},phase:2,pass,nolog\"\n",
            5000 + g * 100 + i
        ));
    }
    let included = format!(
        "SecRule REQUEST_HEADERS:X-Gen \"@streq {g}\" \"id:{},phase:1,deny,status:409,log\"\n",
        3000 + g
    );
    (main, included)
}

fn write_rules(dir: &std::path::Path, g: usize) {
    let (main, included) = rules(dir, g);
    std::fs::write(dir.join("included.conf"), included).expect("write included.conf");
    std::fs::write(dir.join("rules.conf"), main).expect("write rules.conf");
}

fn sighup(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success(), "kill -HUP {pid}");
}

/// Waits until the gateway's process log has `n` lines containing `needle`.
fn wait_log_count(env: &Env, needle: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = env.gw.log_text();
        if log.matches(needle).count() >= n || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

const RELOADED: &str = "reload: configuration and rules reloaded";

/// One client's loop: requests until `stop`, every one must succeed; returns the count.
fn client(
    addr: std::net::SocketAddr,
    keep_alive: bool,
    body: Vec<u8>,
    stop: Arc<AtomicBool>,
    failures: Arc<Mutex<Vec<String>>>,
) -> usize {
    let mut done = 0usize;
    let mut conn: Option<Conn> = None;
    while !stop.load(Ordering::SeqCst) {
        let r = if body.is_empty() {
            req("GET", &format!("/page?n={done}"), &[], b"")
        } else {
            req(
                "POST",
                "/upload",
                &[("Content-Type", "application/octet-stream")],
                &body,
            )
        };
        let c = match conn.take() {
            Some(c) => c,
            None => match Conn::open(addr) {
                Ok(c) => c,
                Err(e) => {
                    failures.lock().unwrap().push(format!("connect: {e}"));
                    continue;
                }
            },
        };
        let mut c = c;
        match c.roundtrip(&r) {
            Ok(resp) if resp.status == 200 && resp.body == b"backend says hello\n" => {
                done += 1;
                if keep_alive && !resp.closes() {
                    conn = Some(c);
                }
            }
            Ok(resp) => failures.lock().unwrap().push(format!(
                "request {done} (keep-alive {keep_alive}, body {}): status {} {:?}",
                body.len(),
                resp.status,
                resp.text()
            )),
            Err(e) => failures.lock().unwrap().push(format!(
                "request {done} (keep-alive {keep_alive}, body {}): {e}",
                body.len()
            )),
        }
    }
    done
}

/// 20 SIGHUPs while four clients send requests continuously (keep-alive and new
/// connections, small and replayed 200 kB bodies), with the rule file and a file it includes
/// changing before each: no request fails, and after each reload exactly the new generation
/// is in force (its rules block, the previous generation's do not). A reload with a syntax
/// error keeps the running rules, the process log names the file and line, and
/// `rampart_reloads_total{outcome="failed"}` counts it; fixing the file and reloading again
/// works.
#[test]
fn sighup_reloads_rules_under_load_without_failed_requests() {
    let dir_probe = common::temp_dir("reload-probe");
    let (g0, inc0) = rules(&dir_probe, 0);
    // `rules()` names the included file by absolute path: let Env::launch put the dir in.
    let g0 = g0.replace(&dir_probe.display().to_string(), "{dir}");
    let mut env = Env::launch(
        "reload",
        &[("rules.conf", &g0), ("included.conf", &inc0)],
        GATEWAY,
    );
    let pid = env.gw.child.id();
    let blocked = |env: &Env, g: usize| {
        env.send(&req("GET", &format!("/?block=gen{g}"), &[], b""))
            .status
    };
    let gen_header = |env: &Env, g: usize| {
        env.send(&req("GET", "/", &[("X-Gen", &g.to_string())], b""))
            .status
    };
    assert_eq!(blocked(&env, 0), 403);

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let total = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for (keep_alive, body) in [
        (true, Vec::new()),
        (false, Vec::new()),
        (true, b"x=1&y=2".to_vec()),
        (true, noise(200_000, 1)),
    ] {
        let (stop, failures, total, addr) =
            (stop.clone(), failures.clone(), total.clone(), env.addr);
        threads.push(std::thread::spawn(move || {
            let n = client(addr, keep_alive, body, stop, failures);
            total.fetch_add(n, Ordering::SeqCst);
            n
        }));
    }
    std::thread::sleep(Duration::from_millis(200));
    for g in 1..=20 {
        write_rules(&env.dir, g);
        sighup(pid);
        let log = wait_log_count(&env, RELOADED, g);
        assert!(
            log.matches(RELOADED).count() >= g,
            "reload {g} not logged:\n{log}"
        );
        assert_eq!(blocked(&env, g), 403, "generation {g} in force");
        assert_eq!(blocked(&env, g - 1), 200, "generation {} gone", g - 1);
        assert_eq!(
            gen_header(&env, g),
            409,
            "included file of generation {g} in force"
        );
        assert_eq!(gen_header(&env, g - 1), 200);
        std::thread::sleep(Duration::from_millis(30));
    }
    let log = env.gw.log_text();
    assert!(
        log.contains(&format!("({} rules)", 2 + 20)),
        "the last generation has 22 rules:\n{log}"
    );

    // A broken file: the old rules stay, the log says where.
    let (mut main, _) = rules(&env.dir, 21);
    main = main.replacen(
        "SecRequestBodyLimit 1048576\n",
        "SecRequestBodyLimit 1048576\nSecRule ARGS \"@rx (\" \"id:9,phase:1,deny\"\n",
        1,
    );
    std::fs::write(env.dir.join("rules.conf"), &main).unwrap();
    sighup(pid);
    let log = wait_log_count(&env, "reload failed", 1);
    let line = log
        .lines()
        .find(|l| l.contains("reload failed"))
        .unwrap_or_else(|| panic!("no reload failure logged:\n{log}"));
    assert!(
        line.contains("the previous configuration stays in force"),
        "{line}"
    );
    assert!(
        line.contains(&format!("{}:4:", env.dir.join("rules.conf").display())),
        "file:line of the error: {line}"
    );
    assert!(line.contains("invalid regular expression"), "{line}");
    assert_eq!(blocked(&env, 20), 403, "generation 20 still in force");
    assert_eq!(blocked(&env, 21), 200);
    let m = metrics_text(env.admin);
    assert_eq!(
        sample(&m, "rampart_reloads_total", &[("outcome", "failed")]),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "rampart_reloads_total", &[("outcome", "ok")]),
        Some(20.0),
        "{m}"
    );

    // Fixed again: reloads.
    write_rules(&env.dir, 21);
    sighup(pid);
    wait_log_count(&env, RELOADED, 21);
    assert_eq!(blocked(&env, 21), 403);
    assert_eq!(blocked(&env, 20), 200);

    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    let counts: Vec<usize> = threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failed requests: {failures:#?}",
        failures.len()
    );
    eprintln!("requests per client during the reloads: {counts:?}");
    assert!(
        counts.iter().all(|&n| n >= 20),
        "every client kept sending: {counts:?}"
    );
    env.assert_alive();
}

/// Log rotation as with nginx: after `mv error.log error.log.1` (and the audit log) and a
/// SIGHUP, the gateway writes to new files at the configured paths, not to the moved ones.
#[test]
fn sighup_reopens_rotated_error_and_audit_logs() {
    let rules = "SecRuleEngine On\nSecAuditEngine RelevantOnly\nSecAuditLogFormat JSON\nSecAuditLogParts ABFHZ\nSecAuditLog {dir}/audit.log\n\
                 SecRule ARGS:q \"@streq bad\" \"id:1234,phase:1,deny,status:403,log,auditlog\"\n";
    let env = Env::launch("rotate", &[("rules.conf", rules)], GATEWAY);
    let attack = |tag: &str| {
        let r = env.send(&req(
            "GET",
            &format!("/{tag}?q=bad"),
            &[("X-Test-Id", tag)],
            b"",
        ));
        assert_eq!(r.status, 403);
    };
    attack("before-rotation");
    let (error, audit) = (env.dir.join("error.log"), env.dir.join("audit.log"));
    assert!(
        wait_for_text(&error, "before-rotation", Duration::from_secs(5))
            .contains("before-rotation")
    );
    assert!(
        wait_for_text(&audit, "before-rotation", Duration::from_secs(5))
            .contains("before-rotation")
    );
    std::fs::rename(&error, env.dir.join("error.log.1")).unwrap();
    std::fs::rename(&audit, env.dir.join("audit.log.1")).unwrap();
    sighup(env.gw.child.id());
    wait_log_count(&env, RELOADED, 1);
    attack("after-rotation");
    assert!(
        wait_for_text(&error, "after-rotation", Duration::from_secs(5)).contains("after-rotation"),
        "new error.log"
    );
    assert!(
        wait_for_text(&audit, "after-rotation", Duration::from_secs(5)).contains("after-rotation"),
        "new audit.log"
    );
    let old = std::fs::read_to_string(env.dir.join("error.log.1")).unwrap()
        + &std::fs::read_to_string(env.dir.join("audit.log.1")).unwrap();
    assert!(
        old.contains("before-rotation") && !old.contains("after-rotation"),
        "{old}"
    );
}

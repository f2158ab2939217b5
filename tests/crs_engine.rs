//! Stock OWASP CRS through the engine alone: anomaly scoring reaches rule 949110 exactly
//! when the inbound score reaches the threshold, ordinary traffic passes at paranoia 1 in
//! blocking mode, and paranoia 4 runs more rules than paranoia 1.
//!
//! CRS is found through CRS_DIR (default ../shared/crs next to the repository).

use std::sync::Arc;

use rampart::engine::{EngineContext, Ruleset, Transaction};

mod common;
use common::waf::crs_dir;

/// Stock CRS behind our base configuration, in blocking mode, at the given paranoia level
/// and inbound threshold.
fn crs(paranoia: u32, threshold: u32) -> Arc<Ruleset> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("rampart-crs-engine-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let setup = dir.join("setup.conf");
    std::fs::write(
        &setup,
        format!(
            "SecDefaultAction \"phase:1,log,auditlog,pass\"\n\
             SecDefaultAction \"phase:2,log,auditlog,pass\"\n\
             SecAction \"id:900000,phase:1,pass,nolog,setvar:tx.blocking_paranoia_level={paranoia}\"\n\
             SecAction \"id:900110,phase:1,pass,nolog,setvar:tx.inbound_anomaly_score_threshold={threshold},setvar:tx.outbound_anomaly_score_threshold=4\"\n\
             SecAction \"id:900990,phase:1,pass,nolog,setvar:tx.crs_setup_version=4280\"\n"
        ),
    )
    .unwrap();
    let crs = crs_dir();
    let main = dir.join("main.conf");
    std::fs::write(
        &main,
        format!(
            "Include {}/conf/modsecurity.conf\nInclude {}\nInclude {}/rules/*.conf\n",
            env!("CARGO_MANIFEST_DIR"),
            setup.display(),
            crs.display()
        ),
    )
    .unwrap();
    let rs = Ruleset::load(&main).unwrap_or_else(|e| panic!("CRS failed to load: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    Arc::new(rs)
}

const BROWSER: &[(&str, &str)] = &[
    ("Host", "www.example.com"),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-US,en;q=0.5"),
    ("Accept-Encoding", "gzip, deflate, br"),
    ("Cookie", "session=abc123; theme=dark"),
];

fn run(rs: &Arc<Ruleset>, method: &str, uri: &str, extra: &[(&str, &str)], body: &[u8]) -> Transaction {
    let mut tx = Transaction::new(rs.clone(), Arc::new(EngineContext::default()), None);
    tx.process_connection("192.0.2.10", 50000, "198.51.100.1", 80);
    tx.process_uri(uri.as_bytes(), method.as_bytes(), "1.1");
    for (k, v) in BROWSER.iter().chain(extra) {
        tx.add_request_header(k.as_bytes(), v.as_bytes());
    }
    if !body.is_empty() {
        tx.add_request_header(b"Content-Length", body.len().to_string().as_bytes());
    }
    if tx.process_request_headers().is_none() {
        tx.append_request_body(body);
        tx.process_request_body();
    }
    tx
}

fn score(tx: &Transaction) -> i64 {
    tx.tx_var("blocking_inbound_anomaly_score")
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(-1)
}

fn blocked_by_949110(tx: &Transaction) -> bool {
    tx.intervention().is_some_and(|i| i.rule_id == 949110 && i.status == 403)
}

#[test]
fn ordinary_traffic_passes_and_attacks_are_blocked_at_paranoia_1() {
    let rs = crs(1, 5);
    let form: &[(&str, &str)] = &[("Content-Type", "application/x-www-form-urlencoded")];
    let json: &[(&str, &str)] = &[("Content-Type", "application/json")];
    let benign: Vec<Transaction> = vec![
        run(&rs, "GET", "/", &[], b""),
        run(&rs, "GET", "/search?q=hello+world&page=2&sort=price", &[], b""),
        run(&rs, "GET", "/static/app.js?v=3.2.1", &[], b""),
        run(&rs, "POST", "/login", form, b"username=alice&password=correct+horse+battery&remember=on"),
        run(&rs, "POST", "/api/orders", json, br#"{"item":"book","qty":2,"notes":"leave at the door","tags":["gift","fast"]}"#),
    ];
    for tx in &benign {
        assert!(tx.intervention().is_none(), "benign request blocked: {:?} {:?}", tx.intervention(), tx.logged_rule_ids());
        assert_eq!(score(tx), 0, "benign request scored: {:?}", tx.logged_rule_ids());
    }
    let attacks = [
        ("GET", "/?id=1'%20OR%20'1'='1", &b""[..], 942100),
        ("GET", "/?x=%3Cscript%3Ealert(1)%3C/script%3E", b"", 941100),
        ("GET", "/?f=../../../../etc/passwd", b"", 930100),
        ("POST", "/comment", b"text=1%20UNION%20SELECT%20password%20FROM%20users--", 942100),
    ];
    for (m, uri, body, expected) in attacks {
        let tx = run(&rs, m, uri, form, body);
        assert!(blocked_by_949110(&tx), "{m} {uri} not blocked: {:?}", tx.logged_rule_ids());
        assert!(tx.logged_rule_ids().contains(&expected), "{uri}: {expected} not in {:?}", tx.logged_rule_ids());
    }
}

#[test]
fn rule_949110_fires_exactly_when_the_score_reaches_the_threshold() {
    // A numeric Host header is a WARNING (920350): score 3, no other rule.
    let numeric_host: &[(&str, &str)] = &[("Host", "192.0.2.1")];
    for (threshold, expect_block) in [(3, true), (4, false), (2, true)] {
        let rs = crs(1, threshold);
        let mut tx = Transaction::new(rs.clone(), Arc::new(EngineContext::default()), None);
        tx.process_connection("192.0.2.10", 50000, "198.51.100.1", 80);
        tx.process_uri(b"/", b"GET", "1.1");
        for (k, v) in BROWSER.iter().skip(1).chain(numeric_host) {
            tx.add_request_header(k.as_bytes(), v.as_bytes());
        }
        tx.process_request_headers();
        tx.process_request_body();
        assert_eq!(score(&tx), 3, "920350 scores 3: {:?}", tx.logged_rule_ids());
        assert!(tx.logged_rule_ids().contains(&920350));
        assert_eq!(blocked_by_949110(&tx), expect_block, "threshold {threshold}: {:?}", tx.intervention());
    }
}

#[test]
fn paranoia_4_runs_more_rules_than_paranoia_1() {
    let pl1 = crs(1, 1000);
    let pl4 = crs(4, 1000);
    let reqs = [
        "/?q=it's%20a%20test",
        "/?path=/var/www/html&debug=true",
        "/?name=O'Brien&cmd=ls%20-la",
        "/products?id=10&sort=(price)",
    ];
    let mut more = 0;
    for uri in reqs {
        let a = run(&pl1, "GET", uri, &[], b"");
        let b = run(&pl4, "GET", uri, &[], b"");
        let (na, nb) = (a.logged_rule_ids().len(), b.logged_rule_ids().len());
        assert!(nb >= na, "{uri}: PL4 logged fewer rules ({nb}) than PL1 ({na})");
        assert!(score(&b) >= score(&a));
        if nb > na {
            more += 1;
        }
    }
    assert!(more >= 3, "paranoia 4 should flag most of these requests more than paranoia 1");
    // The paranoia gates themselves: PL4 evaluates rules that PL1 skips.
    let a = run(&pl1, "GET", "/", &[], b"");
    let b = run(&pl4, "GET", "/", &[], b"");
    assert!(a.matched_rule_ids().contains(&942014), "PL1 skips the PL2 SQLi rules");
    assert!(!b.matched_rule_ids().contains(&942014), "PL4 runs them");
}

#[test]
fn detection_only_setting_logs_without_blocking() {
    let rs = crs(1, 5);
    let mut tx = Transaction::new(rs.clone(), Arc::new(EngineContext::default()), None);
    tx.set_mode(rampart::engine::EngineMode::DetectionOnly);
    tx.process_connection("192.0.2.10", 50000, "198.51.100.1", 80);
    tx.process_uri(b"/?id=1'%20OR%20'1'='1", b"GET", "1.1");
    for (k, v) in BROWSER {
        tx.add_request_header(k.as_bytes(), v.as_bytes());
    }
    tx.process_request_headers();
    tx.process_request_body();
    assert!(tx.intervention().is_none());
    assert!(tx.logged_rule_ids().contains(&949110));
    assert!(score(&tx) >= 5);
}

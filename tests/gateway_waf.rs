//! The WAF connector end to end: the `rampart` binary in front of the recording backend
//! (`rampart::backend::Backend` behind a byte-recording TCP tap, see tests/common/waf.rs),
//! with stock CRS (CRS_DIR, default ../shared/crs) or small purpose-written rule files in
//! blocking mode.
//!
//! What a test shows is in its doc comment. "Never reaches the backend" is checked twice:
//! the backend recorded no request with the test's `X-Test-Id`, and not one byte of that id
//! (a request header) went out on any upstream connection.

mod common;

use common::waf::*;
use std::time::Duration;

/// A gateway with one route and the single rule file `{dir}/rules.conf`.
const SMALL_GATEWAY: &str = r#"listeners: [{ address: "{listen}" }]
admin: { address: "{admin}" }
upstreams:
  app: { servers: [{ address: "{upstream}" }] }
routes: [{ name: small, upstream: app }]
waf:
  rules: "{dir}/rules.conf"
  error_log: "{dir}/error.log"
"#;

fn id_header(id: &str) -> (&'static str, &str) {
    ("X-Test-Id", id)
}

fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, filename, data) in parts {
        b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => b.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => b.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    b
}

/// Stock CRS, blocking: an attack in the query string, a header, a urlencoded body, a JSON
/// body and a multipart part is answered 403 and nothing of it reaches the backend; the
/// benign twin of each reaches it with its body intact byte for byte.
#[test]
fn crs_blocks_attacks_in_every_request_part_before_the_backend() {
    let env = Env::launch("crs-parts", &[], CRS_GATEWAY);
    let sqli = "1' UNION SELECT username, password FROM users--";
    let boundary = "----rampart-e2e-boundary";
    let json_ct = [("Content-Type", "application/json")];
    let form_ct = [("Content-Type", "application/x-www-form-urlencoded")];
    let mp_ct = format!("multipart/form-data; boundary={boundary}");
    let mp_ct = [("Content-Type", mp_ct.as_str())];
    // (name, method, target, extra headers, body) attack / benign
    type Case<'a> = (&'a str, &'a str, String, Vec<(&'a str, &'a str)>, Vec<u8>);
    let attacks: Vec<Case> = vec![
        (
            "query",
            "GET",
            "/search?q=1%27%20UNION%20SELECT%20username%2C%20password%20FROM%20users--".into(),
            vec![],
            vec![],
        ),
        (
            "header",
            "GET",
            "/page".into(),
            vec![(
                "Referer",
                "http://x/<script>alert(document.cookie)</script>",
            )],
            vec![],
        ),
        (
            "urlencoded",
            "POST",
            "/login".into(),
            form_ct.to_vec(),
            format!(
                "user=admin&pass={}",
                sqli.replace(' ', "+").replace('\'', "%27")
            )
            .into_bytes(),
        ),
        (
            "json",
            "POST",
            "/api".into(),
            json_ct.to_vec(),
            serde_json::json!({"user": "admin", "filter": sqli})
                .to_string()
                .into_bytes(),
        ),
        (
            "multipart",
            "POST",
            "/upload".into(),
            mp_ct.to_vec(),
            multipart(
                boundary,
                &[
                    ("title", None, b"holiday"),
                    ("comment", None, b"<script>alert(document.cookie)</script>"),
                ],
            ),
        ),
    ];
    let benign: Vec<Case> = vec![
        (
            "query",
            "GET",
            "/search?q=union+station+opening+hours".into(),
            vec![],
            vec![],
        ),
        (
            "header",
            "GET",
            "/page".into(),
            vec![("Referer", "http://example.com/index.html?from=mail")],
            vec![],
        ),
        (
            "urlencoded",
            "POST",
            "/login".into(),
            form_ct.to_vec(),
            b"user=admin&pass=correct+horse+battery+staple".to_vec(),
        ),
        (
            "json",
            "POST",
            "/api".into(),
            json_ct.to_vec(),
            serde_json::json!({"user": "admin", "filter": "name asc"})
                .to_string()
                .into_bytes(),
        ),
        (
            "multipart",
            "POST",
            "/upload".into(),
            mp_ct.to_vec(),
            multipart(
                boundary,
                &[
                    ("title", None, b"holiday"),
                    ("photo", Some("a.bin"), &noise(3000, 7)),
                ],
            ),
        ),
    ];
    for (name, method, target, headers, body) in &attacks {
        let id = test_id(&format!("attack-{name}"));
        let mut h = headers.clone();
        h.push(id_header(&id));
        let r = env.send(&req(method, target, &h, body));
        assert_eq!(r.status, 403, "{name} attack: {}", r.text());
        env.up.assert_never_saw(&id);
    }
    for (name, method, target, headers, body) in &benign {
        let id = test_id(&format!("benign-{name}"));
        let mut h = headers.clone();
        h.push(id_header(&id));
        let r = env.send(&req(method, target, &h, body));
        assert_eq!(r.status, 200, "{name} benign: {}", r.text());
        assert_eq!(r.text(), "backend says hello\n");
        let got = env.up.one(&id);
        assert_eq!(got.method, *method);
        assert_eq!(&got.target, target, "{name}");
        assert!(
            got.body == *body,
            "{name}: the backend got a different body ({} bytes, sent {})",
            got.body.len(),
            body.len()
        );
    }
}

const BODY_RULES: &str = r#"SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 4194304
SecRequestBodyNoFilesLimit 4194304
SecRequestBodyLimitAction Reject
SecResponseBodyAccess Off
SecRule REQUEST_BODY "@contains EVIL-PAYLOAD" "id:2001,phase:2,deny,status:403,log,msg:'evil body'"
SecRule FILES_TMP_CONTENT|ARGS "@contains EVIL-PAYLOAD" "id:2002,phase:2,deny,status:403,log,msg:'evil part'"
"#;

/// Sends `body` (Content-Length or chunked) on a keep-alive connection, checks the backend
/// got it unchanged, then sends a second request on the same connection.
fn body_roundtrip(env: &Env, label: &str, body: &[u8], chunk: Option<usize>) {
    let id = test_id(label);
    let mut c = Conn::open(env.addr).expect("connect");
    let (h, wire) = match chunk {
        Some(n) => (
            vec![
                id_header(&id),
                ("Content-Type", "application/octet-stream"),
                ("Transfer-Encoding", "chunked"),
            ],
            chunked(body, n),
        ),
        None => (
            vec![id_header(&id), ("Content-Type", "application/octet-stream")],
            body.to_vec(),
        ),
    };
    let r = c
        .roundtrip(&req("POST", "/upload", &h, &wire))
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(r.status, 200, "{label}: {}", r.text());
    let got = env.up.one(&id);
    assert_eq!(
        got.body.len(),
        body.len(),
        "{label}: body length at the backend"
    );
    assert!(got.body == body, "{label}: body changed on the way");
    if chunk.is_none() {
        assert_eq!(
            got.header_str("content-length"),
            Some(body.len().to_string()),
            "{label}"
        );
    }
    assert!(
        !r.closes(),
        "{label}: the gateway closes the connection after the upload: {:?}",
        r.headers
    );
    let id2 = test_id(&format!("{label}-next"));
    let r2 = c
        .roundtrip(&req("GET", "/next", &[id_header(&id2)], b""))
        .unwrap_or_else(|e| panic!("{label}: second request on the same connection: {e}"));
    assert_eq!(r2.status, 200, "{label}: second request");
    assert_eq!(env.up.one(&id2).path, "/next");
}

/// Request bodies that phase 2 allowed reach the backend complete and byte for byte: small
/// and large (1 MiB, past Pingora's 64 KiB retry buffer, replayed by `replay.rs`), exactly at
/// and just past 64 KiB, empty, with Content-Length and chunked, and trickling in slowly; the
/// client connection stays usable for a second request afterwards, and
/// `Expect: 100-continue` gets its interim response before the body is sent.
#[test]
fn request_bodies_reach_the_backend_complete_and_unchanged() {
    let env = Env::launch("bodies", &[("rules.conf", BODY_RULES)], SMALL_GATEWAY);
    for (len, seed) in [
        (0usize, 0u64),
        (1, 1),
        (1000, 2),
        (65535, 3),
        (65536, 4),
        (65537, 5),
        (200_000, 6),
        (1 << 20, 7),
    ] {
        let body = noise(len, seed);
        body_roundtrip(&env, &format!("cl-{len}"), &body, None);
        body_roundtrip(
            &env,
            &format!("chunked-{len}"),
            &body,
            Some(if len > 100_000 { 65536 } else { 777 }),
        );
    }
    // A body that trickles in, in small pieces with pauses, past the retry buffer.
    let body = noise(150_000, 8);
    let id = test_id("trickle");
    let mut c = Conn::open(env.addr).expect("connect");
    let wire = req("POST", "/upload", &[id_header(&id)], &body);
    for piece in wire.chunks(20_000) {
        c.send(piece).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    assert_eq!(c.read(false).expect("response").status, 200);
    assert!(env.up.one(&id).body == body, "trickled body intact");
    // Expect: 100-continue: the client may wait for the interim response before sending.
    let body = noise(300_000, 9);
    let id = test_id("expect");
    let mut c = Conn::open(env.addr).expect("connect");
    let mut head = req(
        "POST",
        "/upload",
        &[id_header(&id), ("Expect", "100-continue")],
        b"",
    );
    // req() wrote Content-Length: 0 for the empty body; put the real length in.
    head = String::from_utf8(head)
        .unwrap()
        .replace(
            "Content-Length: 0",
            &format!("Content-Length: {}", body.len()),
        )
        .into_bytes();
    c.send(&head).unwrap();
    c.set_read_timeout(Duration::from_secs(3));
    let mut interim = [0u8; 25];
    let got = c.read_raw(&mut interim).unwrap_or(0);
    assert!(
        interim[..got].starts_with(b"HTTP/1.1 100"),
        "no 100 Continue before the body: {:?}",
        String::from_utf8_lossy(&interim[..got])
    );
    c.send(&body).unwrap();
    c.set_read_timeout(Duration::from_secs(20));
    let r = c.read(false).expect("response after 100-continue");
    assert_eq!(r.status, 200);
    assert!(env.up.one(&id).body == body);
}

/// An attack anywhere in a large body (1 MiB, Content-Length or chunked, raw or in a
/// multipart file) is blocked by phase 2 before the backend sees a single byte of the
/// request, and an upload the client abandons halfway is not forwarded at all; the gateway
/// keeps serving.
#[test]
fn large_body_with_an_attack_is_blocked_before_the_backend() {
    let mut env = Env::launch("big-attack", &[("rules.conf", BODY_RULES)], SMALL_GATEWAY);
    for at in [10usize, 500_000, (1 << 20) - 20] {
        let mut body = noise(1 << 20, at as u64);
        body[at..at + 12].copy_from_slice(b"EVIL-PAYLOAD");
        for chunk in [None, Some(65536)] {
            let id = test_id(&format!("big-evil-{at}-{}", chunk.is_some()));
            let (h, wire) = match chunk {
                Some(n) => (
                    vec![id_header(&id), ("Transfer-Encoding", "chunked")],
                    chunked(&body, n),
                ),
                None => (vec![id_header(&id)], body.clone()),
            };
            let r = env.send(&req("POST", "/upload", &h, &wire));
            assert_eq!(r.status, 403, "attack at {at}");
            env.up.assert_never_saw(&id);
        }
    }
    // A client that gives up halfway through a large upload: nothing is forwarded.
    let id = test_id("truncated");
    let mut wire = req("POST", "/upload", &[id_header(&id)], &noise(1 << 20, 5));
    wire.truncate(300_000);
    let mut c = Conn::open(env.addr).unwrap();
    c.send(&wire).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    env.up.assert_never_saw(&id);
    let boundary = "XyZ";
    let mut file = noise(1 << 20, 99);
    file[700_000..700_012].copy_from_slice(b"EVIL-PAYLOAD");
    let body = multipart(
        boundary,
        &[("note", None, b"hi"), ("file", Some("big.bin"), &file)],
    );
    let id = test_id("big-multipart");
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = env.send(&req(
        "POST",
        "/upload",
        &[id_header(&id), ("Content-Type", &ct)],
        &body,
    ));
    assert_eq!(r.status, 403, "attack in a multipart file");
    env.up.assert_never_saw(&id);
    env.assert_alive();
}

/// SecRequestBodyLimitAction Reject: a body over SecRequestBodyLimit (Content-Length or
/// chunked) is answered 413 and nothing of it reaches the backend; a body at the limit passes.
#[test]
fn body_over_the_limit_is_rejected_with_413() {
    let rules = "SecRuleEngine On\nSecRequestBodyAccess On\nSecRequestBodyLimit 100000\nSecRequestBodyNoFilesLimit 100000\nSecRequestBodyLimitAction Reject\n";
    let mut env = Env::launch("limit", &[("rules.conf", rules)], SMALL_GATEWAY);
    for (len, chunk) in [
        (100_001usize, None),
        (300_000, None),
        (2 << 20, None),
        (150_000, Some(4096)),
    ] {
        let id = test_id(&format!("over-{len}"));
        let body = noise(len, len as u64);
        let (h, wire) = match chunk {
            Some(n) => (
                vec![id_header(&id), ("Transfer-Encoding", "chunked")],
                chunked(&body, n),
            ),
            None => (vec![id_header(&id)], body),
        };
        let r = env.send(&req("POST", "/upload", &h, &wire));
        assert_eq!(r.status, 413, "{len} bytes");
        env.up.assert_never_saw(&id);
    }
    let id = test_id("at-limit");
    let body = noise(100_000, 1);
    let r = env.send(&req("POST", "/upload", &[id_header(&id)], &body));
    assert_eq!(r.status, 200);
    assert!(env.up.one(&id).body == body);
    let log = env.error_log();
    assert!(
        log.contains("Access denied with code 413"),
        "error log:\n{log}"
    );
    env.assert_alive();
}

/// SecRequestBodyLimitAction ProcessPartial: only the first SecRequestBodyLimit bytes are
/// inspected (an attack there is blocked), and the whole body, also the uninspected rest,
/// reaches the backend unchanged; the connection stays usable.
#[test]
fn process_partial_forwards_the_whole_body_inspecting_only_its_first_part() {
    let rules = "SecRuleEngine On\nSecRequestBodyAccess On\nSecRequestBodyLimit 100000\nSecRequestBodyNoFilesLimit 100000\nSecRequestBodyLimitAction ProcessPartial\nSecRule REQUEST_BODY \"@contains EVIL-PAYLOAD\" \"id:2101,phase:2,deny,status:403,log\"\n";
    let env = Env::launch("partial", &[("rules.conf", rules)], SMALL_GATEWAY);
    let mut late = noise(400_000, 3);
    late[250_000..250_012].copy_from_slice(b"EVIL-PAYLOAD");
    body_roundtrip(&env, "partial-cl", &late, None);
    body_roundtrip(&env, "partial-chunked", &late, Some(10_000));
    let mut early = noise(400_000, 4);
    early[50_000..50_012].copy_from_slice(b"EVIL-PAYLOAD");
    let id = test_id("partial-early");
    let r = env.send(&req("POST", "/upload", &[id_header(&id)], &early));
    assert_eq!(r.status, 403, "an attack in the inspected part");
    env.up.assert_never_saw(&id);
}

const SQL_LEAK: &str = "<html><body><b>Warning</b>: mysql_fetch_array(): supplied argument is not a valid MySQL result resource in /var/www/html/list.php on line 12<br>You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''' at line 1</body></html>";

/// Response side with stock CRS: a backend answer that leaks an SQL error (text/html, small,
/// or large so that it reaches the gateway in many pieces, with Content-Length or chunked)
/// is blocked by the outbound rules with 403 and the client receives none of its bytes; an
/// error past SecResponseBodyLimit (ProcessPartial) is not inspected and the whole body
/// passes; a clean text/html answer and answers of MIME types CRS does not inspect pass
/// unchanged with their framing, and the connection stays usable between them.
#[test]
fn crs_blocks_a_response_leaking_an_sql_error() {
    let env = Env::launch("crs-resp", &[], CRS_GATEWAY);
    let html = [("Content-Type", "text/html")];
    let filler = "<p>row</p>".repeat(30_000); // 300 kB
    let leaks = [
        ("small", SQL_LEAK.to_string()),
        ("large", format!("<html>{filler}{SQL_LEAK}")),
    ];
    for (label, leak) in &leaks {
        let url = env.up.configure(
            "GET",
            &format!("/leak/{label}"),
            200,
            &html,
            leak.as_bytes(),
        );
        for attempt in 0..if *label == "small" { 5 } else { 2 } {
            let bytes = all_bytes(
                env.addr,
                &req("GET", &url, &[], b""),
                Duration::from_secs(10),
            );
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                text.starts_with("HTTP/1.1 403 "),
                "{label} leak #{attempt}: {}",
                &text[..text.len().min(300)]
            );
            assert!(
                text.ends_with("\r\n\r\n403 Forbidden\n"),
                "{label} leak #{attempt}: the WAF's short body only: {text}"
            );
            for leaked in ["SQL syntax", "mysql_fetch_array", "<p>row</p>"] {
                assert!(
                    !text.contains(leaked),
                    "{label}: the client received `{leaked}`"
                );
            }
        }
    }
    let log = env.error_log();
    assert!(
        log.contains("[id \"951230\"]") || log.contains("[id \"951220\"]"),
        "a 951 MySQL rule matched:\n{log}"
    );
    assert!(
        log.contains("[id \"959100\"]"),
        "outbound anomaly blocking (959100):\n{log}"
    );
    // Past SecResponseBodyLimit (512 KiB, ProcessPartial): the inspected first part is clean.
    let big = format!("<html>{}{SQL_LEAK}", "<p>row</p>".repeat(60_000));
    let url = env
        .up
        .configure("GET", "/leak/late", 200, &html, big.as_bytes());
    let r = env.send(&req("GET", &url, &[], b""));
    assert_eq!(r.status, 200);
    assert!(
        r.body == big.as_bytes(),
        "ProcessPartial forwards the whole body"
    );
    // Clean inspected answers and uninspected MIME types pass unchanged, keep-alive works.
    let mut c = Conn::open(env.addr).unwrap();
    let clean = format!("<html>{}</html>", "<p>all good</p>".repeat(20_000));
    let png = noise(2 << 20, 5);
    for (n, (ct, body)) in [
        ("text/html", clean.as_bytes()),
        ("application/octet-stream", SQL_LEAK.as_bytes()),
        ("image/png", png.as_slice()),
        ("text/html", b"short".as_slice()),
        ("text/plain", b"".as_slice()),
    ]
    .into_iter()
    .enumerate()
    {
        let url = env.up.configure(
            "GET",
            &format!("/clean/{n}"),
            200,
            &[("Content-Type", ct)],
            body,
        );
        let r = c
            .roundtrip(&req("GET", &url, &[], b""))
            .unwrap_or_else(|e| panic!("{ct}: {e}"));
        assert_eq!(r.status, 200, "{ct}");
        assert_eq!(r.header("content-type"), Some(ct));
        assert!(
            r.body == body,
            "{ct}: body changed ({} bytes, expected {})",
            r.body.len(),
            body.len()
        );
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string().as_str()),
            "{ct}: framing kept"
        );
        assert!(!r.closes(), "{ct}: connection closed");
    }
    // HEAD of an inspected type: no body, nothing held.
    let r = c
        .roundtrip(&req("HEAD", "/clean/0", &[], b""))
        .expect("HEAD");
    assert_eq!(r.status, 200);
}

const RESPONSE_RULES: &str = r#"SecRuleEngine On
SecRequestBodyAccess On
SecResponseBodyAccess On
SecResponseBodyMimeType text/plain text/html
SecResponseBodyLimit 1048576
SecResponseBodyLimitAction Reject
SecRule RESPONSE_HEADERS:X-Leak "@streq internal" "id:3001,phase:3,deny,status:451,log,msg:'leaky header'"
SecRule RESPONSE_STATUS "@streq 418" "id:3002,phase:3,deny,status:502,log,msg:'teapot'"
SecRule RESPONSE_BODY "@contains TOP-SECRET" "id:3003,phase:4,deny,status:403,log,msg:'secret in body'"
SecRule RESPONSE_HEADERS:X-Move "@streq yes" "id:3004,phase:3,redirect:http://example.com/moved,log,msg:'moved'"
SecRule RESPONSE_BODY "@contains GO-AWAY" "id:3005,phase:4,redirect:http://example.com/away,log,msg:'away'"
"#;

/// Purpose-written response rules: a phase-3 rule on a response header or on the status
/// answers with the WAF's status and none of the upstream response; a phase-4 rule blocks a
/// body (also a large one that arrives in many pieces) with its status; redirect works in
/// both phases; SecResponseBodyLimitAction Reject answers 500 to an inspected body over the
/// limit; uninspected types pass; the gateway keeps serving on new connections.
#[test]
fn phase_3_and_4_rules_answer_with_the_waf_status() {
    let mut env = Env::launch("resp", &[("rules.conf", RESPONSE_RULES)], SMALL_GATEWAY);
    let big = format!("{}TOP-SECRET", "0123456789".repeat(90_000));
    let over = vec![b'z'; 1_100_000];
    // (label, upstream status, upstream headers, upstream body, expected start, never seen)
    type Case<'a> = (
        &'a str,
        u16,
        Vec<(&'a str, &'a str)>,
        &'a [u8],
        &'a str,
        &'a [&'a str],
    );
    let cases: Vec<Case> = vec![
        (
            "header",
            200,
            vec![
                ("X-Leak", "internal"),
                ("Content-Type", "application/octet-stream"),
            ],
            b"upstream-body-1",
            "HTTP/1.1 451 ",
            &["upstream-body-1", "X-Leak"],
        ),
        (
            "status",
            418,
            vec![("Content-Type", "text/plain")],
            b"upstream-body-2",
            "HTTP/1.1 502 ",
            &["upstream-body-2"],
        ),
        (
            "body",
            200,
            vec![("Content-Type", "text/plain")],
            b"the TOP-SECRET plan",
            "HTTP/1.1 403 ",
            &["TOP-SECRET", "plan"],
        ),
        (
            "big body",
            200,
            vec![("Content-Type", "text/html")],
            big.as_bytes(),
            "HTTP/1.1 403 ",
            &["TOP-SECRET", "0123456789"],
        ),
        (
            "over limit",
            200,
            vec![("Content-Type", "text/plain")],
            &over,
            "HTTP/1.1 500 ",
            &["zzzzzzzz"],
        ),
        (
            "redirect 3",
            200,
            vec![("X-Move", "yes"), ("Content-Type", "text/plain")],
            b"upstream-body-3",
            "HTTP/1.1 302 ",
            &["upstream-body-3"],
        ),
        (
            "redirect 4",
            200,
            vec![("Content-Type", "text/plain")],
            b"GO-AWAY now",
            "HTTP/1.1 302 ",
            &["GO-AWAY"],
        ),
    ];
    for (n, (label, status, headers, body, expect, absent)) in cases.iter().enumerate() {
        let url = env
            .up
            .configure("GET", &format!("/case/{n}"), *status, headers, body);
        let bytes = all_bytes(
            env.addr,
            &req("GET", &url, &[], b""),
            Duration::from_secs(10),
        );
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.starts_with(expect),
            "{label}: expected {expect}: {}",
            &text[..text.len().min(300)]
        );
        for a in *absent {
            assert!(!text.contains(a), "{label}: the client received `{a}`");
        }
        if label.starts_with("redirect") {
            assert!(
                text.contains("\r\nLocation: http://example.com/"),
                "{label}: {text}"
            );
        }
    }
    // A large upload (replayed past Pingora's 64 KiB retry buffer) whose answer is inspected:
    // blocked in phase 4, or passed with the connection kept alive.
    let upload = noise(300_000, 11);
    let secret = env.up.configure(
        "POST",
        "/upload-secret",
        200,
        &[("Content-Type", "text/plain")],
        b"TOP-SECRET receipt",
    );
    let out = all_bytes(
        env.addr,
        &req("POST", &secret, &[], &upload),
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 403 ") && !text.contains("TOP-SECRET"),
        "{}",
        &text[..text.len().min(300)]
    );
    let fine = env.up.configure(
        "POST",
        "/upload-fine",
        200,
        &[("Content-Type", "text/plain")],
        b"receipt",
    );
    let mut c = Conn::open(env.addr).unwrap();
    for _ in 0..3 {
        let r = c
            .roundtrip(&req("POST", &fine, &[], &upload))
            .expect("upload on a kept-alive connection");
        assert_eq!((r.status, r.text().as_str()), (200, "receipt"));
        assert!(!r.closes());
    }
    assert!(env
        .up
        .received()
        .iter()
        .filter(|r| r.path == "/upload-fine")
        .all(|r| r.body == upload));
    let url = env.up.configure(
        "GET",
        "/pdf",
        200,
        &[("Content-Type", "application/pdf")],
        b"TOP-SECRET but not inspected",
    );
    let r = env.send(&req("GET", &url, &[], b""));
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "TOP-SECRET but not inspected")
    );
    let log = env.error_log();
    for id in ["3001", "3002", "3003", "3004", "3005"] {
        assert!(
            log.contains(&format!("[id \"{id}\"]")),
            "rule {id} logged:\n{log}"
        );
    }
    env.assert_alive();
}

/// An upstream that sends a chunked response in two parts, 800 ms apart: `GET /<n>` answers
/// with the content type of case `n` of `types`, `first-part ` then `second` + `tail`.
fn slow_upstream(types: Vec<(&'static str, &'static str)>) -> std::net::SocketAddr {
    use std::io::{BufRead, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let types = types.clone();
            std::thread::spawn(move || {
                let mut r = std::io::BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                let _ = r.read_line(&mut line);
                let n: usize = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.trim_start_matches('/').parse().ok())
                    .unwrap_or(0);
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                }
                let (ct, tail) = types.get(n).copied().unwrap_or(("text/plain", ""));
                let first = "first-part ";
                let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{first}\r\n", first.len());
                let _ = conn.flush();
                std::thread::sleep(Duration::from_millis(800));
                let second = format!("second{tail}");
                let _ = write!(conn, "{:x}\r\n{second}\r\n0\r\n\r\n", second.len());
            });
        }
    });
    addr
}

/// Response streaming: an answer of a MIME type the rules do not inspect streams through
/// (its first part reaches the client while the upstream is still sending); an inspected
/// answer is held back whole until phase 4 has run on it, so when its late part leaks a
/// secret the client gets the WAF's 403 and not even the early part.
#[test]
fn uninspected_responses_stream_inspected_ones_wait_for_phase_4() {
    let slow = slow_upstream(vec![
        ("application/octet-stream", " TOP-SECRET"),
        ("text/plain", ""),
        ("text/plain", " TOP-SECRET"),
    ]);
    let yaml = SMALL_GATEWAY.replace("{upstream}", &slow.to_string());
    let env = Env::launch("stream", &[("rules.conf", RESPONSE_RULES)], &yaml);
    let first_part_after = |n: usize| {
        let t = std::time::Instant::now();
        let mut c = std::net::TcpStream::connect(env.addr).unwrap();
        std::io::Write::write_all(
            &mut c,
            &req("GET", &format!("/{n}"), &[("Connection", "close")], b""),
        )
        .unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let mut first_at = None;
        let mut buf = [0u8; 4096];
        loop {
            match std::io::Read::read(&mut c, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    got.extend_from_slice(&buf[..k]);
                    if first_at.is_none() && find(&got, b"first-part").is_some() {
                        first_at = Some(t.elapsed());
                    }
                }
            }
        }
        (first_at, String::from_utf8_lossy(&got).into_owned())
    };
    let (at, text) = first_part_after(0);
    assert!(
        at.is_some_and(|d| d < Duration::from_millis(500)),
        "uninspected: streamed ({at:?}): {text}"
    );
    assert!(text.contains("second TOP-SECRET"), "{text}");
    let (at, text) = first_part_after(1);
    assert!(
        at.is_some_and(|d| d >= Duration::from_millis(700)),
        "inspected: held until the end ({at:?})"
    );
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("first-part ") && text.contains("second"),
        "{text}"
    );
    let (at, text) = first_part_after(2);
    assert_eq!(at, None, "nothing of a blocked answer: {text}");
    assert!(
        text.starts_with("HTTP/1.1 403 ") && !text.contains("TOP-SECRET"),
        "{text}"
    );
}

/// DetectionOnly, from the route's `waf.mode` override and from SecRuleEngine in the rules:
/// the attack reaches the backend unchanged and the match is logged as a warning (no
/// "Access denied"); the same rules without the override block.
#[test]
fn detection_only_forwards_the_attack_and_logs_it() {
    let blocking = "SecRuleEngine On\nSecRequestBodyAccess On\nSecRule ARGS \"@contains EVIL-PAYLOAD\" \"id:4001,phase:2,deny,status:403,log,msg:'evil arg'\"\n";
    let detecting = "SecRuleEngine DetectionOnly\nSecRequestBodyAccess On\nSecRule ARGS \"@contains EVIL-PAYLOAD\" \"id:4002,phase:2,deny,status:403,log,msg:'evil arg'\"\n";
    let yaml = r#"listeners: [{ address: "{listen}" }]
admin: { address: "{admin}" }
upstreams:
  app: { servers: [{ address: "{upstream}" }] }
routes:
  - name: override
    match: { path_prefix: /override }
    upstream: app
    waf: { rules: "{dir}/blocking.conf", mode: DetectionOnly, error_log: "{dir}/override.log" }
  - name: seclang
    match: { path_prefix: /seclang }
    upstream: app
    waf: { rules: "{dir}/detecting.conf", error_log: "{dir}/seclang.log" }
  - name: blocking
    upstream: app
    waf: { rules: "{dir}/blocking.conf", error_log: "{dir}/blocking.log" }
"#;
    let env = Env::launch(
        "detect",
        &[("blocking.conf", blocking), ("detecting.conf", detecting)],
        yaml,
    );
    for (prefix, log, rule) in [
        ("/override", "override.log", "4001"),
        ("/seclang", "seclang.log", "4002"),
    ] {
        let id = test_id("detect");
        let body = b"name=EVIL-PAYLOAD&x=1";
        let r = env.send(&req(
            "POST",
            &format!("{prefix}/form"),
            &[
                id_header(&id),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body,
        ));
        assert_eq!(r.status, 200, "{prefix}: forwarded");
        assert!(env.up.one(&id).body == body, "{prefix}: body intact");
        let text = wait_for_text(
            &env.dir.join(log),
            &format!("[id \"{rule}\"]"),
            Duration::from_secs(5),
        );
        let line = text
            .lines()
            .find(|l| l.contains(&format!("[id \"{rule}\"]")))
            .unwrap_or_else(|| panic!("{prefix}: no log line for {rule}:\n{text}"));
        assert!(line.contains("ModSecurity: Warning."), "{prefix}: {line}");
        assert!(!text.contains("Access denied"), "{prefix}: {text}");
    }
    let id = test_id("blocking");
    let r = env.send(&req(
        "POST",
        "/form",
        &[
            id_header(&id),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"name=EVIL-PAYLOAD",
    ));
    assert_eq!(r.status, 403);
    env.up.assert_never_saw(&id);
    let text = wait_for_text(
        &env.dir.join("blocking.log"),
        "Access denied with code 403",
        Duration::from_secs(5),
    );
    assert!(
        text.contains("Access denied with code 403 (phase 2)"),
        "{text}"
    );
}

const MALFORMED_RULES: &str = r#"SecRuleEngine On
SecRule REQUEST_URI_RAW "@contains <script>" "id:5001,phase:1,deny,status:403,log,msg:'raw script tag'"
SecRule ARGS:q "@rx \x22" "id:5002,phase:1,deny,status:403,log,msg:'double quote'"
SecRule REQUEST_URI_RAW "@contains a<b" "id:5003,phase:1,pass,log,msg:'raw less-than seen'"
"#;

/// Malformed requests: a bad request line, an invalid header line, a missing or bad Host,
/// an unsupported version get 400/505 (or a closed connection for HTTP/0.9) and reach
/// nothing; raw `<` and `"` in the target reach the WAF as sent (rules on them block, a
/// pass rule logs the raw text) and a benign one is forwarded percent-encoded; after all of
/// it, and after a burst of random garbage, the gateway is alive and serving.
#[test]
fn malformed_requests_get_400_and_the_gateway_keeps_serving() {
    let mut env = Env::launch(
        "malformed",
        &[("rules.conf", MALFORMED_RULES)],
        SMALL_GATEWAY,
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage line", b"THIS IS NOT HTTP\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("no target", b"GET\r\nHost: a\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("header without colon", b"GET / HTTP/1.1\r\nHost: a\r\nX-Test-Id: mal-1\r\nBrokenHeader\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("space in header name", b"GET / HTTP/1.1\r\nHost: a\r\nX-Test-Id: mal-2\r\nBad Name: x\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("no Host", b"GET / HTTP/1.1\r\nX-Test-Id: mal-3\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nX-Test-Id: mal-4\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("bad Host", b"GET / HTTP/1.1\r\nHost: a b/c\r\nX-Test-Id: mal-5\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("space in target", b"GET /a b HTTP/1.1\r\nHost: a\r\nX-Test-Id: mal-6\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("fragment", b"GET /a#b HTTP/1.1\r\nHost: a\r\nX-Test-Id: mal-7\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("bad Content-Length", b"POST / HTTP/1.1\r\nHost: a\r\nX-Test-Id: mal-8\r\nContent-Length: 12abc\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        ("two Content-Lengths", b"POST / HTTP/1.1\r\nHost: a\r\nX-Test-Id: mal-9\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(), "HTTP/1.1 400"),
        ("HTTP/2.0 line", b"GET / HTTP/2.0\r\nHost: a\r\nX-Test-Id: mal-10\r\n\r\n".to_vec(), "HTTP/1.1 505"),
        ("raw script tag", b"GET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\nX-Test-Id: mal-11\r\n\r\n".to_vec(), "HTTP/1.1 403"),
        ("raw double quote", b"GET /?q=a\"b HTTP/1.1\r\nHost: a\r\nX-Test-Id: mal-12\r\n\r\n".to_vec(), "HTTP/1.1 403"),
        ("HTTP/0.9", b"GET /?x=mal-13\r\n\r\n".to_vec(), ""),
    ];
    for (label, bytes, expect) in &cases {
        let out = all_bytes(env.addr, bytes, Duration::from_secs(5));
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with(expect),
            "{label}: expected `{expect}`, got {:?}",
            &text[..text.len().min(200)]
        );
        if expect.is_empty() {
            assert!(
                out.is_empty(),
                "{label}: connection closed without an answer, got {text:?}"
            );
        }
    }
    for n in 1..=13 {
        env.up.assert_never_saw(&format!("mal-{n}"));
    }
    // A raw `<` no rule blocks: forwarded percent-encoded, and the WAF saw it raw.
    let r = env.send(b"GET /?q=a<b&id=raw-lt HTTP/1.1\r\nHost: a\r\nX-Test-Id: raw-lt\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(env.up.one("raw-lt").target, "/?q=a%3Cb&id=raw-lt");
    let log = wait_for_text(
        &env.dir.join("error.log"),
        "[id \"5003\"]",
        Duration::from_secs(5),
    );
    assert!(
        log.contains("[id \"5003\"]"),
        "the pass rule on the raw target logged:\n{log}"
    );
    assert!(
        log.contains("[id \"5001\"]") && log.contains("[id \"5002\"]"),
        "{log}"
    );
    // Random garbage, also after a good request on the same connection; most of it ends
    // like a request head would, so that the gateway answers it instead of waiting for more.
    for seed in 0..150u64 {
        let mut junk = noise(1 + (seed as usize * 37) % 3000, seed);
        if seed % 3 == 0 {
            let mut good = req("GET", "/ok", &[], b"");
            good.extend_from_slice(&junk);
            junk = good;
        }
        if seed % 5 != 0 {
            junk.extend_from_slice(b"\r\n\r\n");
        }
        let _ = all_bytes(env.addr, &junk, Duration::from_millis(300));
    }
    env.assert_alive();
}

/// Metrics after blocked requests: interventions by rule id (949110 for the CRS inbound
/// anomaly block, phase 2), by CRS attack category (sqli, xss), the inbound anomaly score
/// histogram and the engine time per phase.
#[test]
fn metrics_count_interventions_by_rule_and_category() {
    let env = Env::launch("metrics", &[], CRS_GATEWAY);
    let attacks = [
        "/?id=1%27%20UNION%20SELECT%20password%20FROM%20users--",
        "/?id=1%27%20OR%20%271%27%3D%271",
        "/?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E",
    ];
    for a in attacks {
        assert_eq!(env.send(&req("GET", a, &[], b"")).status, 403, "{a}");
    }
    for _ in 0..3 {
        assert_eq!(env.send(&req("GET", "/fine?page=2", &[], b"")).status, 200);
    }
    // Logging (and its metrics) happens after the response: wait for the last one.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut m = metrics_text(env.admin);
    while sample(
        &m,
        "rampart_waf_transactions_total",
        &[("route", "crs"), ("outcome", "passed")],
    )
    .unwrap_or(0.0)
        < 3.0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
        m = metrics_text(env.admin);
    }
    let route = ("route", "crs");
    assert_eq!(
        sample(
            &m,
            "rampart_waf_interventions_total",
            &[route, ("rule_id", "949110"), ("phase", "2")]
        ),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "rampart_waf_interventions_by_category_total",
            &[route, ("category", "sqli")]
        ),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "rampart_waf_interventions_by_category_total",
            &[route, ("category", "xss")]
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "rampart_waf_transactions_total",
            &[route, ("outcome", "blocked")]
        ),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "rampart_waf_inbound_anomaly_score_count", &[route]),
        Some(6.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "rampart_waf_inbound_anomaly_score_bucket",
            &[route, ("le", "0")]
        ),
        Some(3.0),
        "three clean requests score 0: {m}"
    );
    assert!(
        sample(&m, "rampart_waf_inbound_anomaly_score_sum", &[route]).unwrap_or(0.0) >= 15.0,
        "{m}"
    );
    for phase in ["1", "2", "3", "4", "5"] {
        let n = sample(
            &m,
            "rampart_waf_engine_duration_seconds_count",
            &[route, ("phase", phase)],
        )
        .unwrap_or(0.0);
        assert!(
            n >= 3.0,
            "engine time of phase {phase} observed for the passed requests: {m}"
        );
    }
    assert!(
        sample(
            &m,
            "rampart_http_requests_total",
            &[route, ("status", "403")]
        )
        .unwrap_or(0.0)
            >= 3.0,
        "{m}"
    );
}

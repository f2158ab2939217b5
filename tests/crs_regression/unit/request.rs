//! Unit tests of `request.rs`.

use crate::model::Input;
use crate::model::{parse_test_file, LoadedTest};
use crate::paths::Paths;
use crate::request::*;
use std::path::Path;

/// Loads one test of the real suite.
fn suite_test(relative_file: &str, test_id: u64) -> LoadedTest {
    let path = Paths::discover().tests_dir.join(relative_file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_test_file(&text, &path)
        .expect("parse")
        .into_iter()
        .find(|t| t.test_id == test_id)
        .unwrap_or_else(|| panic!("no test {test_id} in {relative_file}"))
}

fn bytes_of(relative_file: &str, test_id: u64) -> String {
    let t = suite_test(relative_file, test_id);
    let stage = t.stages.first().expect("stage");
    String::from_utf8(stage_request(&stage.input).expect("build")).expect("utf-8")
}

const ACCEPT: &str = "Accept: text/xml,application/xml,application/xhtml+xml,text/html;q=0.9,text/plain;q=0.8,image/png,*/*;q=0.5\r\n";

#[test]
fn form_post_with_data_is_query_escaped() {
    // 942100-1: POST /post, data `var=1234 OR 1=1`, no Content-Type.
    assert_eq!(
        bytes_of("REQUEST-942-APPLICATION-ATTACK-SQLI/942100.yaml", 1),
        format!(
            "POST /post HTTP/1.1\r\n{ACCEPT}Host: localhost\r\nUser-Agent: OWASP CRS test agent\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\nContent-Length: 17\r\n\r\n\
             var=1234+OR+1%3D1"
        )
    );
    // 932160-2: the key contains `-`, the value `/`, spaces and quotes.
    assert_eq!(
        bytes_of("REQUEST-932-APPLICATION-ATTACK-RCE/932160.yaml", 2),
        format!(
            "POST /post HTTP/1.1\r\n{ACCEPT}Host: localhost\r\nUser-Agent: OWASP CRS test agent\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\nContent-Length: 66\r\n\r\n\
             932160-2=%2Fusr%2Fbin%2Fperl+-e+%27print+readline%27+some-file.txt"
        )
    );
}

#[test]
fn multipart_suite_test_gets_crlf() {
    // 922110-1: multipart body written with LF in YAML, sent with CRLF.
    assert_eq!(
        bytes_of("REQUEST-922-MULTIPART-ATTACK/922110.yaml", 1),
        "POST / HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=----WebKitFormBoundary\r\n\
         Host: localhost\r\nUser-Agent: OWASP CRS Tests\r\nConnection: close\r\nContent-Length: 175\r\n\r\n\
         ------WebKitFormBoundary\r\n\
         Content-Disposition: form-data; name=\"username\"\r\n\
         Content-Type: text/plain; charset=utf-7\r\n\
         \r\n\
         +ADw-img+ACA-src+AD0-x+AD4-\r\n\
         ------WebKitFormBoundary--\r\n"
    );
}

#[test]
fn multipart_hand_written_bytes() {
    let mut headers = HeaderList::new();
    headers.add("Content-Type", "multipart/form-data; boundary=XX");
    headers.add("Host", "localhost");
    let got = build(&RequestSpec {
        method: "POST".into(),
        uri: "/up".into(),
        version: "HTTP/1.1".into(),
        headers,
        data: b"--XX\nContent-Disposition: form-data; name=\"a\"\n\nv+1%\n--XX--\n".to_vec(),
        autocomplete: true,
    });
    let expected = "POST /up HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=XX\r\nHost: localhost\r\n\
                    Connection: close\r\nContent-Length: 64\r\n\r\n\
                    --XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv+1%\r\n--XX--\r\n";
    assert_eq!(String::from_utf8_lossy(&got), expected);
}

#[test]
fn encoded_request_is_sent_raw() {
    // 920290-4: base64 of "GET / HTTP/1.0\r\nHost:\r\n\r\n".
    let t = suite_test("REQUEST-920-PROTOCOL-ENFORCEMENT/920290.yaml", 4);
    let input = &t.stages[0].input;
    assert!(input.encoded_request.is_some());
    assert_eq!(
        stage_request(input).expect("build"),
        b"GET / HTTP/1.0\r\nHost:\r\n\r\n".to_vec()
    );
}

#[test]
fn autocomplete_false_sends_headers_as_written() {
    // 920170-4: GET with `Content-Length: 0` and a body, autocomplete off: nothing is added,
    // the body is not escaped.
    assert_eq!(
        bytes_of("REQUEST-920-PROTOCOL-ENFORCEMENT/920170.yaml", 4),
        format!(
            "GET / HTTP/1.1\r\n{ACCEPT}Content-Length: 0\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Host: localhost\r\nUser-Agent: OWASP CRS test agent\r\n\r\nhi=test\r\n"
        )
    );
    let mut headers = HeaderList::new();
    headers.add("Host", "localhost");
    let got = build(&RequestSpec {
        method: "POST".into(),
        uri: "/".into(),
        version: "HTTP/1.1".into(),
        headers,
        data: b"a b".to_vec(),
        autocomplete: false,
    });
    assert_eq!(
        got,
        b"POST / HTTP/1.1\r\nHost: localhost\r\n\r\na b".to_vec()
    );
}

#[test]
fn http10_version_in_request_line() {
    // 920280-1: HTTP/1.0 without Host.
    assert_eq!(
        bytes_of("REQUEST-920-PROTOCOL-ENFORCEMENT/920280.yaml", 1),
        format!("GET / HTTP/1.0\r\n{ACCEPT}User-Agent: OWASP CRS test agent\r\nConnection: close\r\n\r\n")
    );
}

#[test]
fn empty_version_and_uri_as_written() {
    // 920430-5: `version: ""` gives a request line ending in a space.
    let t = suite_test("REQUEST-920-PROTOCOL-ENFORCEMENT/920430.yaml", 5);
    let got = stage_request(&t.stages[0].input).expect("build");
    assert!(got.starts_with(b"GET / \r\n"));
    let mut headers = HeaderList::new();
    headers.add("Host", "h");
    let got = build(&RequestSpec {
        method: "GET".into(),
        uri: "/a b?c=%zz&d=<x>".into(),
        version: "HTTP/1.1".into(),
        headers,
        data: Vec::new(),
        autocomplete: true,
    });
    assert_eq!(
        got,
        b"GET /a b?c=%zz&d=<x> HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".to_vec()
    );
}

#[test]
fn content_length_rules() {
    let spec = |method: &str, data: &[u8], headers: HeaderList| RequestSpec {
        method: method.into(),
        uri: "/".into(),
        version: "HTTP/1.1".into(),
        headers,
        data: data.to_vec(),
        autocomplete: true,
    };
    for (method, expect_len) in [
        ("POST", true),
        ("POSTX", true),
        ("PUT", true),
        ("XPUTX", true),
        ("PATCH", true),
        ("DELETE", true),
        ("XDELETE", true),
        ("DELETEX", false),
        ("GET", false),
        ("OPTIONS", false),
    ] {
        let got = String::from_utf8(build(&spec(method, b"", HeaderList::new()))).expect("utf-8");
        assert_eq!(
            got.contains("Content-Length: 0\r\n"),
            expect_len,
            "{method}"
        );
    }
    // An existing Content-Length (any case) is kept; no Content-Type when data is empty.
    let mut h = HeaderList::new();
    h.add("content-length", "5");
    let got = String::from_utf8(build(&spec("POST", b"", h))).expect("utf-8");
    assert_eq!(
        got,
        "POST / HTTP/1.1\r\ncontent-length: 5\r\nConnection: close\r\n\r\n"
    );
    // A lower-case content-type counts as present (canonical comparison).
    let mut h = HeaderList::new();
    h.add("content-type", "text/plain");
    let got = String::from_utf8(build(&spec("POST", b"a=b c", h))).expect("utf-8");
    assert_eq!(
        got,
        "POST / HTTP/1.1\r\ncontent-type: text/plain\r\nConnection: close\r\nContent-Length: 5\r\n\r\na=b c"
    );
    // Already-escaped data is left alone.
    let got =
        String::from_utf8(build(&spec("POST", b"a=%41+b", HeaderList::new()))).expect("utf-8");
    assert!(got.ends_with("\r\n\r\na=%41+b"));
    // Tokens without `=` and trailing `&`.
    let got =
        String::from_utf8(build(&spec("POST", b"x y&k=v w&", HeaderList::new()))).expect("utf-8");
    assert!(got.ends_with("\r\n\r\nx+y&k=v+w"), "{got}");
    // Explicit form content type in another case still triggers escaping.
    let mut h = HeaderList::new();
    h.add("Content-Type", "Application/X-WWW-Form-URLEncoded");
    let got = String::from_utf8(build(&spec("POST", b"q=<a>", h))).expect("utf-8");
    assert!(got.ends_with("q=%3Ca%3E"));
}

#[test]
fn header_map_is_sorted_bytewise() {
    let input: Input =
        serde_yaml::from_str("headers:\n  b: 1\n  A: 2\n  a: 3\n  Host: h\nmethod: GET\n")
            .expect("yaml");
    let got = String::from_utf8(stage_request(&input).expect("build")).expect("utf-8");
    assert_eq!(
        got,
        "GET / HTTP/1.1\r\nA: 2\r\nHost: h\r\na: 3\r\nb: 1\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn templated_data_of_920400() {
    let t = suite_test("REQUEST-920-PROTOCOL-ENFORCEMENT/920400.yaml", 1);
    let got = stage_request(&t.stages[0].input).expect("build");
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains(&"1".repeat(64200)));
    assert!(!text.contains("{{"));
    // The test sets its own Content-Length, which is kept.
    assert!(text.contains("Content-Length: 64200\r\n"));
    assert_eq!(text.matches("Content-Length").count(), 1);
}

#[test]
fn marker_request_bytes() {
    assert_eq!(
        String::from_utf8(marker_request("X-CRS-Test", "abc-s", "localhost")).expect("utf-8"),
        "GET /status/200 HTTP/1.1\r\nAccept: */*\r\nUser-Agent: go-ftw test agent\r\nHost: localhost\r\n\
         X-CRS-Test: abc-s\r\nConnection: close\r\n\r\n"
    );
    let input: Input =
        serde_yaml::from_str("headers:\n  Host: vhost.example\nvirtual_host_mode: true\n")
            .expect("yaml");
    assert_eq!(marker_host(&input), "vhost.example");
    let _ = Path::new("");
}

#[test]
fn ordered_headers_and_encoded_data() {
    let input: Input = serde_yaml::from_str(
        "ordered_headers:\n  - name: Z\n    value: 1\n  - name: A\n    value: 2\n  - name: Z\n    value: 3\nencoded_data: YT1iIGM=\nmethod: POST\n",
    )
    .expect("yaml");
    let got = String::from_utf8(stage_request(&input).expect("build")).expect("utf-8");
    assert_eq!(
        got,
        "POST / HTTP/1.1\r\nZ: 1\r\nA: 2\r\nZ: 3\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Connection: close\r\nContent-Length: 5\r\n\r\na=b+c"
    );
}

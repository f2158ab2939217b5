//! Unit tests of `benign.rs`.

use crate::benign::*;

#[test]
fn covers_the_required_kinds_of_traffic() {
    let reqs = requests();
    assert!(reqs.len() >= 30, "{}", reqs.len());
    let count = |f: &dyn Fn(&BenignRequest) -> bool| reqs.iter().filter(|r| f(r)).count();
    let content_type = |r: &BenignRequest| {
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert!(count(&|r| r.method == "GET") >= 15);
    assert!(count(&|r| r.method == "HEAD") >= 1);
    assert!(count(&|r| r.method == "OPTIONS") >= 1);
    assert!(count(&|r| content_type(r).starts_with("application/x-www-form-urlencoded")) >= 5);
    assert!(count(&|r| content_type(r).starts_with("application/json")) >= 5);
    assert!(count(&|r| content_type(r).starts_with("multipart/form-data")) >= 3);
    // Names are unique (they key the results file).
    let mut names: Vec<&str> = reqs.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), reqs.len());
}

#[test]
fn requests_are_well_framed() {
    for r in requests() {
        let bytes = r.to_bytes();
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("{}: no end of headers", r.name));
        let head = String::from_utf8(bytes[..end].to_vec()).expect("UTF-8 head");
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or_default();
        assert_eq!(first, format!("{} {} HTTP/1.1", r.method, r.target));
        assert!(
            r.target.starts_with('/') && !r.target.contains(' '),
            "{}",
            r.target
        );
        let mut lengths = Vec::new();
        let mut hosts = 0;
        for line in lines {
            let (name, value) = line.split_once(": ").unwrap_or_else(|| panic!("{line:?}"));
            assert!(!name.is_empty() && !value.contains('\n'));
            if name.eq_ignore_ascii_case("Content-Length") {
                lengths.push(value.parse::<usize>().expect("length"));
            }
            if name.eq_ignore_ascii_case("Host") {
                hosts += 1;
            }
        }
        assert_eq!(hosts, 1, "{}", r.name);
        assert_eq!(&bytes[end + 4..], r.body.as_slice());
        if r.body.is_empty() && r.method != "POST" {
            assert!(lengths.is_empty(), "{}", r.name);
        } else {
            assert_eq!(lengths, [r.body.len()], "{}", r.name);
        }
    }
}

#[test]
fn multipart_bodies_use_their_boundary() {
    for r in requests() {
        let Some((_, ct)) = r
            .headers
            .iter()
            .find(|(n, v)| n == "Content-Type" && v.starts_with("multipart/form-data"))
        else {
            continue;
        };
        let boundary = ct.split("boundary=").nth(1).expect("boundary");
        let body = String::from_utf8_lossy(&r.body);
        assert!(body.starts_with(&format!("--{boundary}\r\n")), "{}", r.name);
        assert!(
            body.ends_with(&format!("\r\n--{boundary}--\r\n")),
            "{}",
            r.name
        );
    }
}

#[test]
fn json_bodies_are_valid_json() {
    for r in requests() {
        if r.headers
            .iter()
            .any(|(n, v)| n == "Content-Type" && v.starts_with("application/json"))
        {
            serde_json::from_slice::<serde_json::Value>(&r.body)
                .unwrap_or_else(|e| panic!("{}: {e}", r.name));
        }
    }
}

#[test]
fn form_encoding_is_the_browsers() {
    assert_eq!(
        form_encode(&[("a b", "x&y=z"), ("name", "Zoë O'Brien+1 ~*")]),
        "a+b=x%26y%3Dz&name=Zo%C3%AB+O%27Brien%2B1+%7E*"
    );
    assert_eq!(form_encode(&[]), "");
}

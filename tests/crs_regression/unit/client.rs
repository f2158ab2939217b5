//! Unit tests of `client.rs`.

use crate::client::*;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Serves one connection with `answer` (after reading the request head), then closes.
fn one_shot(answer: Vec<u8>, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            std::thread::sleep(delay);
            let _ = s.write_all(&answer);
        }
    });
    addr
}

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(1),
        read: Duration::from_millis(500),
    }
}

#[test]
fn content_length_response() {
    let addr = one_shot(
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabcEXTRA".to_vec(),
        Duration::ZERO,
    );
    let r = exchange(addr, b"GET / HTTP/1.1\r\n\r\n", quick()).expect("response");
    assert_eq!(r.status, 403);
    assert_eq!(r.body, b"abc");
    assert_eq!(r.header("x-a"), Some("b"));
    assert!(String::from_utf8_lossy(&r.raw).starts_with("HTTP/1.1 403 Forbidden\r\n"));
}

#[test]
fn chunked_and_close_delimited() {
    let addr = one_shot(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n"
            .to_vec(),
        Duration::ZERO,
    );
    assert_eq!(
        exchange(addr, b"GET / HTTP/1.1\r\n\r\n", quick())
            .expect("r")
            .body,
        b"abcde"
    );
    let addr = one_shot(
        b"HTTP/1.0 200 OK\r\n\r\nuntil close".to_vec(),
        Duration::ZERO,
    );
    assert_eq!(
        exchange(addr, b"GET / HTTP/1.1\r\n\r\n", quick())
            .expect("r")
            .body,
        b"until close"
    );
    let addr = one_shot(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort".to_vec(),
        Duration::ZERO,
    );
    assert_eq!(
        exchange(addr, b"GET / HTTP/1.1\r\n\r\n", quick())
            .expect("r")
            .body,
        b"short"
    );
}

#[test]
fn errors_like_go() {
    // Closed without an answer.
    let addr = one_shot(Vec::new(), Duration::ZERO);
    assert!(exchange(addr, b"GET / HTTP/1.1\r\n\r\n", quick()).is_err());
    // HTTP/0.9 style answer (no status line).
    let addr = one_shot(b"<html>hello</html>".to_vec(), Duration::ZERO);
    assert!(exchange(addr, b"GET /\r\n\r\n", quick()).is_err());
    // Malformed status code and version.
    let addr = one_shot(b"HTTP/1.1 20 OK\r\n\r\n".to_vec(), Duration::ZERO);
    assert!(exchange(addr, b"GET / HTTP/1.1\r\n\r\n", quick()).is_err());
    let addr = one_shot(b"HTTPX 200 OK\r\n\r\n".to_vec(), Duration::ZERO);
    assert!(exchange(addr, b"GET / HTTP/1.1\r\n\r\n", quick()).is_err());
    // Timeout.
    let addr = one_shot(b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), Duration::from_secs(2));
    let started = Instant::now();
    let err = exchange(addr, b"GET / HTTP/1.1\r\n\r\n", quick()).expect_err("timeout");
    assert!(started.elapsed() < Duration::from_millis(1500), "{err}");
    // Connection refused.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    assert!(exchange(addr, b"GET / HTTP/1.1\r\n\r\n", quick()).is_err());
}

#[test]
fn head_and_no_body_statuses() {
    let addr = one_shot(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".to_vec(),
        Duration::ZERO,
    );
    let r = exchange(addr, b"HEAD / HTTP/1.1\r\n\r\n", quick()).expect("r");
    assert!(r.body.is_empty());
    let addr = one_shot(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n".to_vec(),
        Duration::ZERO,
    );
    assert_eq!(
        exchange(addr, b"GET / HTTP/1.1\r\n\r\n", quick())
            .expect("r")
            .status,
        100
    );
}

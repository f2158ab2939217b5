//! Listener protocols: TLS with per-SNI certificates and ALPN h2, h2c, gRPC (HTTP/2 with
//! trailers end to end), WebSocket upgrades, PROXY protocol.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tls_with_two_sni_certificates_and_alpn_h2() {
    let b = Backend::start("secure");
    let dir = temp_dir("tls");
    let (a_crt, a_key) = make_cert(&dir, "a.test");
    let (b_crt, b_key) = make_cert(&dir, "b.test");
    let l = free_port();
    let yaml = format!(
        r#"listeners:
  - address: 127.0.0.1:{l}
    tls:
      alpn_h2: true
      certificates:
        - {{ cert: "{}", key: "{}" }}
        - {{ sni: b.test, cert: "{}", key: "{}" }}
upstreams:
  app: {{ servers: [{{ address: "{}" }}] }}
routes:
  - upstream: app
    security_headers: {{ hsts: "max-age=600" }}
"#,
        a_crt.display(),
        a_key.display(),
        b_crt.display(),
        b_key.display(),
        b.addr
    );
    let _gw = Gateway::start_in(dir, &yaml, &[addr(l)]);
    for (name, expect_cn) in [
        ("a.test", "a.test"),
        ("b.test", "b.test"),
        ("other.test", "a.test"),
    ] {
        let resolve = format!("{name}:{l}:127.0.0.1");
        let url = format!("https://{name}:{l}/");
        let (out, err) = curl(&[
            "-v",
            "-k",
            "--resolve",
            &resolve,
            "-w",
            "|%{http_version}",
            &url,
        ]);
        assert!(
            err.contains(&format!("CN={expect_cn}")) || err.contains(&format!("CN = {expect_cn}")),
            "{name}: {err}"
        );
        assert_eq!(out, "secure|2", "{name}: ALPN h2 and proxied body; {err}");
        assert!(
            err.to_ascii_lowercase()
                .contains("strict-transport-security: max-age=600"),
            "{err}"
        );
    }
    let seen = b.last().unwrap_or_else(|| panic!("no request"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    // HTTP/1.1 only client
    let (out, _) = curl(&[
        "-k",
        "--http1.1",
        "--resolve",
        &format!("b.test:{l}:127.0.0.1"),
        "-w",
        "|%{http_version}",
        &format!("https://b.test:{l}/"),
    ]);
    assert_eq!(out, "secure|1.1");
}

#[test]
fn h2c_listener_and_grpc_pass_through() {
    let grpc = GrpcEcho::start();
    let plain = Backend::start("h1-backend");
    let l = free_port();
    let yaml = format!(
        r#"listeners:
  - address: 127.0.0.1:{l}
    h2c: true
upstreams:
  grpc: {{ protocol: h2c, servers: [{{ address: "{}" }}] }}
  web: {{ servers: [{{ address: "{}" }}] }}
routes:
  - match: {{ headers: [{{ name: content-type, regex: "^application/grpc" }}] }}
    upstream: grpc
  - upstream: web
"#,
        grpc.addr, plain.addr
    );
    let _gw = Gateway::start(&yaml, &[addr(l)]);
    // plain HTTP/2 with prior knowledge to an HTTP/1.1 backend
    let (out, err) = curl(&[
        "--http2-prior-knowledge",
        "-w",
        "|%{http_version}",
        &format!("http://127.0.0.1:{l}/"),
    ]);
    assert_eq!(out, "h1-backend|2", "{err}");
    // HTTP/1.1 still works on the same listener
    assert_eq!(get(addr(l), "/", &[]).text(), "h1-backend");

    // gRPC: HTTP/2 end to end, request body streamed, trailers back
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, body, trailers) = rt.block_on(grpc_call(addr(l), b"\x00\x00\x00\x00\x05hello"));
    assert_eq!(status, 200);
    assert_eq!(body, b"\x00\x00\x00\x00\x05hello");
    assert_eq!(
        trailers.get("grpc-status").map(|v| v.as_bytes()),
        Some(&b"0"[..]),
        "{trailers:?}"
    );
    assert_eq!(grpc.calls(), 1);
}

#[test]
fn websocket_upgrade_passes_through() {
    let b = Backend::start("ws");
    let l = free_port();
    let yaml = format!(
        "listeners: [{{ address: \"127.0.0.1:{l}\" }}]\nupstreams:\n  app: {{ servers: [{{ address: \"{}\" }}] }}\nroutes:\n  - upstream: app\n    cache: {{ ttl: 60s }}\n",
        b.addr
    );
    let _gw = Gateway::start(&yaml, &[addr(l)]);
    let mut s = TcpStream::connect(addr(l)).unwrap_or_else(|e| panic!("{e}"));
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{e}"));
    s.write_all(
        b"GET /chat HTTP/1.1\r\nHost: test.local\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap_or(0),
            1,
            "closed during the 101: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    for msg in [&b"\x81\x05hello"[..], &b"\x81\x05world"[..]] {
        s.write_all(msg).unwrap_or_else(|e| panic!("{e}"));
        let mut echo = vec![0u8; msg.len()];
        s.read_exact(&mut echo).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(echo, msg);
    }
    let seen = b.last().unwrap_or_else(|| panic!("no request"));
    assert_eq!(seen.header("upgrade"), Some("websocket"));
}

#[test]
fn proxy_protocol_sets_the_client_address() {
    let b = Backend::start("pp");
    let dir = temp_dir("pp");
    let (crt, key) = make_cert(&dir, "pp.test");
    let l = free_port();
    let yaml = format!(
        "listeners:\n  - address: 127.0.0.1:{l}\n    proxy_protocol: true\n    tls: {{ alpn_h2: false, certificates: [{{ cert: \"{}\", key: \"{}\" }}] }}\nupstreams:\n  app: {{ servers: [{{ address: \"{}\" }}] }}\nroutes: [{{ upstream: app }}]\n",
        crt.display(),
        key.display(),
        b.addr
    );
    let _gw = Gateway::start_in(dir, &yaml, &[addr(l)]);
    use pingora::tls::ssl::{SslConnector, SslMethod, SslVerifyMode};
    let mut builder = SslConnector::builder(SslMethod::tls()).unwrap_or_else(|e| panic!("{e}"));
    builder.set_verify(SslVerifyMode::NONE);
    let connector = builder.build();
    for header in [b"PROXY TCP4 203.0.113.9 127.0.0.1 5555 443\r\n".to_vec(), {
        let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        v2.extend_from_slice(&[
            0x21, 0x11, 0, 12, 198, 51, 100, 4, 127, 0, 0, 1, 0x15, 0xb3, 0x01, 0xbb,
        ]);
        v2
    }] {
        let mut tcp = TcpStream::connect(addr(l)).unwrap_or_else(|e| panic!("{e}"));
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap_or_else(|e| panic!("{e}"));
        tcp.write_all(&header).unwrap_or_else(|e| panic!("{e}"));
        let mut tls = connector
            .connect("pp.test", tcp)
            .unwrap_or_else(|e| panic!("{e}"));
        tls.write_all(b"GET / HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut resp = Vec::new();
        let _ = tls.read_to_end(&mut resp);
        let resp = String::from_utf8_lossy(&resp);
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(resp.ends_with("pp"), "{resp}");
    }
    let xff: Vec<String> = b
        .received
        .lock()
        .map(|r| {
            r.iter()
                .filter_map(|q| q.header("x-forwarded-for").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(xff, ["203.0.113.9", "198.51.100.4"]);
    // a connection without the header is refused
    let tcp = TcpStream::connect(addr(l)).unwrap_or_else(|e| panic!("{e}"));
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(connector.connect("pp.test", tcp).is_err());
}

/// An HTTP/2 (prior knowledge) gRPC-like echo server: answers the request body with trailers.
struct GrpcEcho {
    addr: SocketAddr,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl GrpcEcho {
    fn start() -> GrpcEcho {
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = std_listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        std_listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("{e}"));
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = calls.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener)
                    .unwrap_or_else(|e| panic!("{e}"));
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        return;
                    };
                    let c = c.clone();
                    tokio::spawn(async move {
                        let Ok(mut conn) = h2::server::handshake(sock).await else {
                            return;
                        };
                        // keep polling accept() (it drives the connection); serve each
                        // stream on its own task
                        while let Some(Ok((req, mut respond))) = conn.accept().await {
                            let c = c.clone();
                            tokio::spawn(async move {
                                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                let mut body = req.into_body();
                                let mut data = Vec::new();
                                while let Some(Ok(chunk)) = body.data().await {
                                    let _ = body.flow_control().release_capacity(chunk.len());
                                    data.extend_from_slice(&chunk);
                                }
                                let resp = http::Response::builder()
                                    .status(200)
                                    .header("content-type", "application/grpc")
                                    .body(())
                                    .unwrap_or_default();
                                let Ok(mut send) = respond.send_response(resp, false) else {
                                    return;
                                };
                                let _ = send.send_data(bytes::Bytes::from(data), false);
                                let mut trailers = http::HeaderMap::new();
                                trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                                let _ = send.send_trailers(trailers);
                            });
                        }
                    });
                }
            });
        });
        GrpcEcho { addr, calls }
    }

    fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn grpc_call(gw: SocketAddr, msg: &'static [u8]) -> (u16, Vec<u8>, http::HeaderMap) {
    let tcp = tokio::net::TcpStream::connect(gw)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (client, conn) = h2::client::handshake(tcp)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.unwrap_or_else(|e| panic!("{e}"));
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{gw}/echo.Echo/Say"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap_or_else(|e| panic!("{e}"));
    let (resp, mut stream) = client
        .send_request(req, false)
        .unwrap_or_else(|e| panic!("{e}"));
    stream
        .send_data(bytes::Bytes::from_static(msg), true)
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = resp.await.unwrap_or_else(|e| panic!("{e}"));
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap_or_else(|e| panic!("{e}"));
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body
        .trailers()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    (status, data, trailers)
}

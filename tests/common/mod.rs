//! Test helpers for the gateway and upstream integration tests: loopback HTTP backends on std
//! threads, a tiny HTTP/1.1 client, and the `rampart` binary started on a generated config.
#![allow(dead_code)]

pub mod waf;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A port where connections are refused for as long as the returned socket lives: a TCP
/// socket bound to it but not listening. Unlike a port from [`free_port`], no other test
/// can start a server on it meanwhile (a dead upstream must stay dead).
pub fn refused_port() -> (socket2::Socket, u16) {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().expect("addr").into())
        .expect("bind");
    let port = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .expect("local port");
    (s, port)
}

/// A request as the backend received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// lower-case names
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a backend answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
    pub fn status(mut self, s: u16) -> Reply {
        self.status = s;
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

pub type Handler = Arc<dyn Fn(&Received, usize) -> Reply + Send + Sync>;

/// A loopback HTTP/1.1 backend. Each connection is served on its own thread; a request with
/// `Upgrade:` gets `101` and then an echo of every byte (WebSocket pass-through tests).
pub struct Backend {
    pub addr: SocketAddr,
    pub name: String,
    pub hits: Arc<AtomicUsize>,
    pub in_progress: Arc<AtomicUsize>,
    pub received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    handler: Handler,
}

impl Backend {
    /// Start a backend answering `200 <name>`.
    pub fn start(name: &str) -> Backend {
        let n = name.to_string();
        Backend::with_handler(name, None, Arc::new(move |_, _| Reply::ok(n.clone())))
    }

    /// Start a backend with a handler (`(request, hit number from 1)`), on `port` if given.
    pub fn with_handler(name: &str, port: Option<u16>, handler: Handler) -> Backend {
        let mut b = Backend {
            addr: SocketAddr::from(([127, 0, 0, 1], port.unwrap_or(0))),
            name: name.to_string(),
            hits: Arc::new(AtomicUsize::new(0)),
            in_progress: Arc::new(AtomicUsize::new(0)),
            received: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            handler,
        };
        b.listen();
        b
    }

    fn listen(&mut self) {
        let listener = {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match TcpListener::bind(self.addr) {
                    Ok(l) => break l,
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => panic!("backend bind {}: {e}", self.addr),
                }
            }
        };
        self.addr = listener.local_addr().expect("addr");
        self.stop.store(false, Ordering::SeqCst);
        let stop = self.stop.clone();
        let hits = self.hits.clone();
        let in_progress = self.in_progress.clone();
        let received = self.received.clone();
        let handler = self.handler.clone();
        self.thread = Some(std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (hits, in_progress, received, handler, stop) = (
                    hits.clone(),
                    in_progress.clone(),
                    received.clone(),
                    handler.clone(),
                    stop.clone(),
                );
                std::thread::spawn(move || serve(conn, hits, in_progress, received, handler, stop));
            }
        }));
    }

    /// Stop accepting (existing connections finish); the port is free afterwards.
    pub fn kill(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Listen again on the same port.
    pub fn restart(&mut self) {
        if self.thread.is_none() {
            self.listen();
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> Option<Received> {
        self.received.lock().ok().and_then(|r| r.last().cloned())
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

fn serve(
    mut conn: TcpStream,
    hits: Arc<AtomicUsize>,
    in_progress: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Received>>>,
    handler: Handler,
    stop: Arc<AtomicBool>,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let mut body = Vec::new();
        if let Some(len) = get("content-length").and_then(|l| l.parse::<usize>().ok()) {
            body.resize(len, 0);
            if reader.read_exact(&mut body).is_err() {
                return;
            }
        } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            body = read_chunked(&mut reader);
        }
        let req = Received {
            method,
            path,
            headers,
            body,
        };
        let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut r) = received.lock() {
            r.push(req.clone());
        }
        if req.header("upgrade").is_some() {
            let resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
            let _ = conn.write_all(resp.as_bytes());
            let mut buf = [0u8; 4096];
            // echo whatever the reader already buffered, then the stream
            let pending = reader.buffer().to_vec();
            if !pending.is_empty() {
                let _ = conn.write_all(&pending);
            }
            loop {
                match reader.get_mut().read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if conn.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        }
        in_progress.fetch_add(1, Ordering::SeqCst);
        let reply = handler(&req, n);
        if !reply.delay.is_zero() {
            std::thread::sleep(reply.delay);
        }
        let mut out = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if req.method != "HEAD" {
            bytes.extend_from_slice(&reply.body);
        }
        let ok = conn.write_all(&bytes).is_ok();
        in_progress.fetch_sub(1, Ordering::SeqCst);
        if !ok
            || req
                .header("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            let _ = conn.shutdown(Shutdown::Both);
            return;
        }
    }
}

fn read_chunked(r: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        if r.read_line(&mut size).unwrap_or(0) == 0 {
            return body;
        }
        let n =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if n == 0 {
            let mut end = String::new();
            let _ = r.read_line(&mut end);
            return body;
        }
        let mut chunk = vec![0; n + 2];
        if r.read_exact(&mut chunk).is_err() {
            return body;
        }
        chunk.truncate(n);
        body.extend_from_slice(&chunk);
    }
}

/// A response read by [`request`].
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on a new connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str("Host: test.local\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v): &(String, String)| v.clone())
    };
    let body = if method == "HEAD" || status == 204 || status == 304 {
        Vec::new()
    } else if let Some(len) = get("content-length").and_then(|l| l.parse::<usize>().ok()) {
        let mut b = vec![0; len];
        reader.read_exact(&mut b)?;
        b
    } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        read_chunked(&mut reader)
    } else {
        let mut b = Vec::new();
        reader.read_to_end(&mut b)?;
        b
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `GET path` with headers.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    request(addr, "GET", path, headers, b"").unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// A running `rampart` process; killed when dropped.
pub struct Gateway {
    pub child: Child,
    pub dir: PathBuf,
    pub log: PathBuf,
}

/// A fresh temporary directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "rampart-test-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rampart")
}

/// Wait until `addr` accepts TCP connections.
pub fn wait_port(addr: SocketAddr, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    false
}

impl Gateway {
    /// Write `yaml` to a file and run `rampart run -c FILE`; waits for `ready` ports.
    pub fn start(yaml: &str, ready: &[SocketAddr]) -> Gateway {
        let dir = temp_dir("gw");
        Gateway::start_in(dir, yaml, ready)
    }

    pub fn start_in(dir: PathBuf, yaml: &str, ready: &[SocketAddr]) -> Gateway {
        let conf = dir.join("rampart.yaml");
        std::fs::write(&conf, yaml).expect("write config");
        let log = dir.join("gateway.log");
        let logf = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin())
            .args(["run", "-c"])
            .arg(&conf)
            .args(["--threads", "2"])
            .env(
                "RUST_LOG",
                std::env::var("RAMPART_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::from(logf))
            .spawn()
            .expect("spawn rampart");
        let mut gw = Gateway { child, dir, log };
        for a in ready {
            if !wait_port(*a, Duration::from_secs(10)) {
                let log = gw.log_text();
                let _ = gw.child.kill();
                panic!("gateway did not listen on {a}; log:\n{log}");
            }
        }
        gw
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read one metric sample value from the admin endpoint, e.g.
/// `metric(admin, "rampart_upstream_server_up{upstream=\"app\",server=\"127.0.0.1:5\"}")`.
pub fn metric(admin: SocketAddr, series: &str) -> Option<f64> {
    let text = get(admin, "/metrics", &[]).text();
    text.lines()
        .find(|l| l.starts_with(series) && l.get(series.len()..series.len() + 1) == Some(" "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Count responses by body text.
pub fn tally(bodies: impl IntoIterator<Item = String>) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for b in bodies {
        *m.entry(b).or_insert(0) += 1;
    }
    m
}

/// Generate a self-signed certificate for `cn` into `dir` (`<cn>.crt`, `<cn>.key`).
pub fn make_cert(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
    let crt = dir.join(format!("{cn}.crt"));
    let key = dir.join(format!("{cn}.key"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .args([
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            &format!("subjectAltName=DNS:{cn}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl req failed");
    (crt, key)
}

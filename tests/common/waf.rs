//! Helpers for the end-to-end WAF tests (tests/gateway_waf.rs, gateway_logs.rs,
//! gateway_reload.rs): the recording backend behind a TCP tap that keeps every byte the
//! gateway sent upstream, a raw HTTP/1 client that keeps every byte the gateway answered,
//! rule-file helpers (stock CRS via CRS_DIR) and go-ftw style error-log reading.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rampart::backend::{Backend, BackendOptions, RecordedRequest};

use super::{free_port, temp_dir, Gateway};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The OWASP CRS directory: CRS_DIR, default `<repo>/../shared/crs`. Panics when missing
/// (a test that needs CRS must not pass without it).
pub fn crs_dir() -> PathBuf {
    let d = std::env::var_os("CRS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/crs"));
    assert!(
        d.join("rules/REQUEST-901-INITIALIZATION.conf").is_file(),
        "OWASP CRS not found at {} (set CRS_DIR)",
        d.display()
    );
    d
}

/// A gateway with one route (`crs`) in front of the recording backend, loading stock CRS
/// (`{crs}`, see [`crs_rules_yaml`]), with error and audit logs in `{dir}`.
pub const CRS_GATEWAY: &str = r#"listeners: [{ address: "{listen}" }]
admin: { address: "{admin}" }
upstreams:
  app: { servers: [{ address: "{upstream}" }] }
routes: [{ name: crs, upstream: app }]
waf:
  rules:
{crs}  error_log: "{dir}/error.log"
  audit_log: "{dir}/audit.log"
"#;

/// YAML list items (6-space indented, for `waf.rules`) loading stock CRS the way
/// conf/default.yaml does: conf/modsecurity.conf, crs/crs-setup.conf, the `before` files,
/// CRS, then the `after` files.
pub fn crs_rules_yaml(before: &[&Path], after: &[&Path]) -> String {
    let crs = crs_dir();
    let mut files: Vec<String> = vec![
        repo().join("conf/modsecurity.conf").display().to_string(),
        repo().join("crs/crs-setup.conf").display().to_string(),
    ];
    files.extend(before.iter().map(|p| p.display().to_string()));
    files.extend([
        crs.join("plugins/*-config.conf").display().to_string(),
        crs.join("plugins/*-before.conf").display().to_string(),
        crs.join("rules/*.conf").display().to_string(),
        crs.join("plugins/*-after.conf").display().to_string(),
    ]);
    files.extend(after.iter().map(|p| p.display().to_string()));
    files.iter().map(|f| format!("      - \"{f}\"\n")).collect()
}

/// A gateway process, its upstream and its working directory.
pub struct Env {
    pub gw: Gateway,
    pub up: Upstream,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub dir: PathBuf,
}

impl Env {
    /// Writes `files` into a fresh directory and starts the gateway (`rampart run -c`) on
    /// `yaml`, where `{dir}`, `{listen}`, `{admin}`, `{upstream}` and `{crs}` (the CRS rule
    /// list as YAML items, see [`crs_rules_yaml`]; a file named `crs-before.conf` or
    /// `crs-after.conf` among `files` is loaded right before or after CRS) are replaced;
    /// `{dir}` is also replaced in `files`.
    pub fn launch(tag: &str, files: &[(&str, &str)], yaml: &str) -> Env {
        let dir = temp_dir(tag);
        for (name, text) in files {
            std::fs::write(
                dir.join(name),
                text.replace("{dir}", &dir.display().to_string()),
            )
            .expect("write rules");
        }
        let named = |n: &str| files.iter().any(|(f, _)| *f == n).then(|| dir.join(n));
        let (before, after) = (named("crs-before.conf"), named("crs-after.conf"));
        let crs = if yaml.contains("{crs}") {
            crs_rules_yaml(before.as_deref().as_slice(), after.as_deref().as_slice())
        } else {
            String::new()
        };
        let up = Upstream::start();
        let (l, a) = (free_port(), free_port());
        let addr = SocketAddr::from(([127, 0, 0, 1], l));
        let admin = SocketAddr::from(([127, 0, 0, 1], a));
        let yaml = yaml
            .replace("{crs}", &crs)
            .replace("{dir}", &dir.display().to_string())
            .replace("{listen}", &addr.to_string())
            .replace("{admin}", &admin.to_string())
            .replace("{upstream}", &up.addr().to_string());
        let gw = Gateway::start_in(dir.clone(), &yaml, &[addr, admin]);
        Env {
            gw,
            up,
            addr,
            admin,
            dir,
        }
    }

    pub fn send(&self, req: &[u8]) -> Resp {
        exchange(self.addr, req).unwrap_or_else(|e| {
            panic!(
                "request failed: {e}\n{}",
                String::from_utf8_lossy(&req[..req.len().min(300)])
            )
        })
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    pub fn assert_alive(&mut self) {
        assert!(
            matches!(self.gw.child.try_wait(), Ok(None)),
            "the gateway exited; log:\n{}",
            self.gw.log_text()
        );
        let r = self.send(&req("GET", "/alive", &[], b""));
        assert_eq!(r.status, 200, "gateway still serves");
    }
}

// ---------------------------------------------------------------------------------------
// The upstream: rampart's recording backend behind a byte-recording TCP tap.
// ---------------------------------------------------------------------------------------

/// The recording backend (`rampart::backend::Backend`, `record: true`) behind a TCP tap.
/// The gateway is pointed at [`Upstream::addr`] (the tap); every byte it sends upstream is
/// kept, so a test can show that not even the header of a blocked request left the gateway.
pub struct Upstream {
    pub backend: Backend,
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let backend = Backend::start(
            "127.0.0.1:0",
            BackendOptions {
                record: true,
                default_body: b"backend says hello\n".to_vec(),
                max_connections: 512,
                ..Default::default()
            },
        )
        .expect("start recording backend");
        let listener = TcpListener::bind("127.0.0.1:0").expect("tap bind");
        let addr = listener.local_addr().expect("tap addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let target = backend.addr();
        let (s, c, st) = (seen.clone(), connections.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let s = s.clone();
                std::thread::spawn(move || pipe(client, target, s));
            }
        });
        Upstream {
            backend,
            addr,
            seen,
            connections,
            stop,
            accept: Some(accept),
        }
    }

    /// Where the gateway sends its upstream traffic.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every byte the gateway sent upstream so far (all connections, in arrival order).
    pub fn raw(&self) -> Vec<u8> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Whether `needle` appears anywhere in what the gateway sent upstream.
    pub fn saw(&self, needle: &[u8]) -> bool {
        let raw = self.raw();
        find(&raw, needle).is_some()
    }

    /// Upstream connections opened by the gateway.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The complete requests the backend recorded.
    pub fn received(&self) -> Vec<RecordedRequest> {
        self.backend.received()
    }

    /// The recorded requests carrying header `X-Test-Id: id`.
    pub fn with_id(&self, id: &str) -> Vec<RecordedRequest> {
        self.received()
            .into_iter()
            .filter(|r| r.header("x-test-id") == Some(id.as_bytes()))
            .collect()
    }

    /// Asserts that nothing of request `id` reached the backend: no recorded request and
    /// not a single byte of its marker on the wire.
    pub fn assert_never_saw(&self, id: &str) {
        assert!(self.with_id(id).is_empty(), "backend recorded request {id}");
        assert!(
            !self.saw(id.as_bytes()),
            "bytes of request {id} reached the upstream socket:\n{}",
            String::from_utf8_lossy(&self.raw())
        );
    }

    /// Makes `method url` of the backend answer `status`, `headers` and `body` (configured
    /// directly on the backend, not through the gateway). Returns `url`.
    pub fn configure(
        &self,
        method: &str,
        url: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> String {
        use base64::Engine as _;
        let h: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        let spec = serde_json::json!({
            "status": status,
            "headers": h,
            "encodedBody": base64::engine::general_purpose::STANDARD.encode(body),
            "endpoints": [{ "method": method, "url": url }],
        })
        .to_string();
        let r = exchange(
            self.backend.addr(),
            &req(
                "POST",
                "/configure_reflection",
                &[("Content-Type", "application/json")],
                spec.as_bytes(),
            ),
        )
        .expect("configure the backend");
        assert_eq!(r.status, 200, "configure_reflection: {}", r.text());
        self.backend.clear();
        url.to_string()
    }

    /// The single recorded request `id` (panics unless exactly one).
    pub fn one(&self, id: &str) -> RecordedRequest {
        let mut v = self.with_id(id);
        assert_eq!(
            v.len(),
            1,
            "backend recorded {} requests with id {id}",
            v.len()
        );
        v.remove(0)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn pipe(client: TcpStream, target: SocketAddr, seen: Arc<Mutex<Vec<u8>>>) {
    let Ok(server) = TcpStream::connect(target) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    // Forward each piece at once (no Nagle delay added by the tap).
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(mut c_read), Ok(mut s_write)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            match c_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut s) = seen.lock() {
                        s.extend_from_slice(&buf[..n]);
                    }
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    let mut buf = [0u8; 16384];
    loop {
        match s_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if c_write.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------
// A raw HTTP/1 client.
// ---------------------------------------------------------------------------------------

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    /// lower-case names
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Every byte of this response (status line, headers, framing, body).
    pub raw: Vec<u8>,
    /// The body ran to the end of the connection (no Content-Length, not chunked).
    pub close_delimited: bool,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The server said it closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
    }
}

/// One client connection (keep-alive capable).
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> io::Result<Conn> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(s),
        })
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    /// Reads one response (`head`: the request was HEAD).
    pub fn read(&mut self, head: bool) -> io::Result<Resp> {
        read_response(&mut self.reader, head)
    }

    pub fn roundtrip(&mut self, req: &[u8]) -> io::Result<Resp> {
        self.send(req)?;
        self.read(req.starts_with(b"HEAD "))
    }

    /// Waits for the server to close the connection; returns the bytes received meanwhile.
    pub fn wait_closed(&mut self, within: Duration) -> io::Result<Vec<u8>> {
        self.reader.get_ref().set_read_timeout(Some(within))?;
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest)?;
        Ok(rest)
    }

    /// Reads whatever bytes are available (through the buffer).
    pub fn read_raw(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }

    pub fn set_read_timeout(&self, t: Duration) {
        let _ = self.reader.get_ref().set_read_timeout(Some(t));
    }
}

fn read_line_raw(r: &mut impl BufRead, raw: &mut Vec<u8>) -> io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    raw.extend_from_slice(&line);
    Ok(String::from_utf8_lossy(&line)
        .trim_end_matches(['\r', '\n'])
        .to_string())
}

/// Reads one HTTP/1 response (1xx interim responses are skipped and kept in `raw`).
pub fn read_response(r: &mut impl BufRead, head: bool) -> io::Result<Resp> {
    let mut raw = Vec::new();
    loop {
        let line = read_line_raw(r, &mut raw)?;
        if line.is_empty() && raw.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let h = read_line_raw(r, &mut raw)?;
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let mut close_delimited = false;
        let body = if head || status == 204 || status == 304 {
            Vec::new()
        } else if get("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
        {
            let mut body = Vec::new();
            loop {
                let size = read_line_raw(r, &mut raw)?;
                let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| io::Error::other(format!("bad chunk size {size:?}")))?;
                if n == 0 {
                    // trailers
                    loop {
                        if read_line_raw(r, &mut raw)?.is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let mut chunk = vec![0; n + 2];
                r.read_exact(&mut chunk)?;
                raw.extend_from_slice(&chunk);
                chunk.truncate(n);
                body.extend_from_slice(&chunk);
            }
            body
        } else if let Some(len) = get("content-length").and_then(|l| l.parse::<usize>().ok()) {
            let mut b = vec![0; len];
            r.read_exact(&mut b)?;
            raw.extend_from_slice(&b);
            b
        } else {
            close_delimited = true;
            let mut b = Vec::new();
            r.read_to_end(&mut b)?;
            raw.extend_from_slice(&b);
            b
        };
        return Ok(Resp {
            status,
            headers,
            body,
            raw,
            close_delimited,
        });
    }
}

/// One request on a new connection; returns its response.
pub fn exchange(addr: SocketAddr, req: &[u8]) -> io::Result<Resp> {
    let mut c = Conn::open(addr)?;
    c.roundtrip(req)
}

/// Sends `req` on a new connection and returns every byte received until the server closes
/// it (or `within` passes).
pub fn all_bytes(addr: SocketAddr, req: &[u8], within: Duration) -> Vec<u8> {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return Vec::new();
    };
    let _ = s.set_read_timeout(Some(within));
    let _ = s.write_all(req);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Builds an HTTP/1.1 request: `Host: test.local` unless given, `Content-Length` for a
/// non-empty body unless `Transfer-Encoding` is given (then `body` must already be chunked).
pub fn req(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        out.extend_from_slice(b"Host: test.local\r\n");
    }
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    let te = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"));
    if !te && (!body.is_empty() || method == "POST" || method == "PUT") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// `body` in chunked transfer coding, in chunks of `size` bytes.
pub fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(size.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Deterministic pseudo-random bytes (all 256 values occur).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A request body for `POST /reflect` of the backend: answer `status`, `content_type` and
/// `body` (sent base64-encoded so that the request itself carries none of the body's text).
pub fn reflect_spec(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    serde_json::json!({
        "status": status,
        "headers": { "Content-Type": content_type },
        "encodedBody": base64::engine::general_purpose::STANDARD.encode(body),
    })
    .to_string()
    .into_bytes()
}

/// A unique id for one test request (`X-Test-Id`).
pub fn test_id(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

// ---------------------------------------------------------------------------------------
// Logs and metrics.
// ---------------------------------------------------------------------------------------

/// Waits until `path` contains `needle` (logs are written after the response).
pub fn wait_for_text(path: &Path, needle: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The rule ids of the error-log lines between the marker lines of `start` and `end`, read
/// as go-ftw does in log-marker mode: a marker line contains `X-CRS-Test` and the marker
/// value; the ids are every `[id "N"]` of the lines between the two markers.
pub fn ids_between_markers(log: &str, start: &str, end: &str) -> Vec<u64> {
    let re = regex::Regex::new(r#"\[id "(\d+)"\]"#).expect("regex");
    let is_marker =
        |l: &str, m: &str| l.to_ascii_lowercase().contains("x-crs-test") && l.contains(m);
    let lines: Vec<&str> = log.lines().collect();
    let Some(s) = lines.iter().rposition(|l| is_marker(l, start)) else {
        return Vec::new();
    };
    let Some(e) = lines.iter().rposition(|l| is_marker(l, end)) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for l in lines.get(s + 1..e).unwrap_or_default() {
        for c in re.captures_iter(l) {
            if let Some(id) = c.get(1).and_then(|m| m.as_str().parse().ok()) {
                ids.push(id);
            }
        }
    }
    ids
}

/// The text of the admin `/metrics`.
pub fn metrics_text(admin: SocketAddr) -> String {
    exchange(admin, &req("GET", "/metrics", &[], b""))
        .map(|r| r.text())
        .unwrap_or_default()
}

/// The value of the first sample whose name is `name` and whose labels include every
/// `label="value"` of `labels`.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = match series.find('{') {
            Some(i) => (&series[..i], &series[i..]),
            None => (series, ""),
        };
        if n != name {
            return None;
        }
        if !labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        {
            return None;
        }
        value.parse().ok()
    })
}

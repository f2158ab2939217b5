//! An HTTP/1.1 backend server: Rampart's demo upstream and an albedo-compatible backend for
//! the OWASP CRS regression suite.
//!
//! The CRS suite runs behind a reverse proxy whose upstream is
//! [albedo](https://github.com/coreruleset/albedo). This module answers the way albedo does:
//!
//! * any method and path answers `200` with an empty body (albedo's default handler; the body
//!   can be changed with [`BackendOptions::default_body`] for demos);
//! * `POST /reflect` (and `/reflect/...`) takes a JSON specification
//!   `{"status": int, "headers": {name: value}, "body": string, "encodedBody": base64,
//!   "logMessage": string}` and answers with exactly that status, those headers and that body
//!   (`body` wins over `encodedBody`; status `0`/absent means `200`; a status in `1..=99` or
//!   `>= 600` answers `400 Invalid status code: N`; invalid JSON answers
//!   `400 Invalid JSON in request body`; invalid base64 answers the requested status with the
//!   body `invalid base64 encoding of response body`). JSON keys match case-insensitively, as
//!   Go's `encoding/json` does;
//! * `GET /capabilities` (any method, also `/capabilities/...`) answers albedo's capabilities
//!   document as JSON (`?quiet=true` keeps only the paths);
//! * `POST /configure_reflection` stores a reflection specification for a list of
//!   `{"method", "url"}` endpoints, which then answer like `/reflect`; `PUT /reset` forgets them.
//!
//! Like Go's `net/http`, a body without an explicit `Content-Type` gets a sniffed one
//! (`text/plain; charset=utf-8` for text, `text/html; charset=utf-8` for HTML, ...), every
//! response carries `Date`, and headers are written sorted by name.
//!
//! Deliberate differences from albedo (Go's `ServeMux`): paths with `.`/`..` segments or
//! repeated slashes are answered directly instead of with a `301` to the cleaned path, a
//! negative reflected status answers `400` instead of dropping the connection, and reflected
//! `Content-Length`/`Transfer-Encoding`/`Connection` headers are ignored because this server
//! frames every response itself.
//!
//! The server is robust against arbitrary input: keep-alive, `Content-Length` and chunked request
//! bodies, `Expect: 100-continue`, malformed requests answered with `400` like Go's server
//! (invalid request line, header line, header value with control characters, invalid
//! percent-escape in the path, missing or repeated `Host` in HTTP/1.1; `501` for an
//! unsupported transfer coding, `505` for an unsupported HTTP version, `413` for an oversized
//! body), one thread per connection with a bounded number of connections, and no panics.
//!
//! For end-to-end tests it can record every request it received ([`Backend::received`]).

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

/// Settings of a [`Backend`].
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// Maximum number of connections served at the same time (one thread each). Connections
    /// beyond this answer `503` and are closed.
    pub max_connections: usize,
    /// Maximum size of a request line plus headers, in bytes (`431` beyond it).
    pub max_header_bytes: usize,
    /// Maximum size of a request body, in bytes (`413` beyond it).
    pub max_body_bytes: usize,
    /// How long an idle keep-alive connection is kept open.
    pub idle_timeout: Duration,
    /// How long a started request may stall between two reads before the connection is closed.
    pub read_timeout: Duration,
    /// Record every complete request (see [`Backend::received`]).
    pub record: bool,
    /// Maximum number of recorded requests kept; the oldest are dropped first.
    pub max_recorded: usize,
    /// Body of the default `200` answer (albedo answers an empty body).
    pub default_body: Vec<u8>,
    /// Print one line per request to standard error.
    pub log_requests: bool,
}

impl Default for BackendOptions {
    fn default() -> Self {
        BackendOptions {
            max_connections: 64,
            max_header_bytes: 1 << 20,
            max_body_bytes: 64 << 20,
            idle_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
            record: false,
            max_recorded: 10_000,
            default_body: Vec::new(),
            log_requests: false,
        }
    }
}

/// A request as the backend received it (body already de-chunked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Request method, as sent.
    pub method: String,
    /// Request target exactly as sent (path and query, or absolute form).
    pub target: String,
    /// Path part of the target (without query), still percent-encoded.
    pub path: String,
    /// Query part of the target (after `?`), if any.
    pub query: Option<String>,
    /// Protocol version from the request line, e.g. `HTTP/1.1`.
    pub version: String,
    /// Header fields in the order received; values with surrounding whitespace removed.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The request body (de-chunked when it was sent chunked).
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The first header with this name (case-insensitive), lossily decoded as UTF-8.
    pub fn header_str(&self, name: &str) -> Option<String> {
        self.header(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// A running backend server. Dropping it (or calling [`Backend::shutdown`]) stops it.
pub struct Backend {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Backend {
    /// Binds `addr` (e.g. `127.0.0.1:0` for a free port) and starts serving in background threads.
    pub fn start(addr: &str, opts: BackendOptions) -> io::Result<Backend> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        let shared = Arc::new(Shared::new(opts));
        let accept_shared = Arc::clone(&shared);
        let accept_thread = std::thread::Builder::new()
            .name("backend-accept".to_string())
            .spawn(move || accept_loop(listener, accept_shared))?;
        Ok(Backend {
            addr: local,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far, oldest first (empty unless [`BackendOptions::record`] is set).
    pub fn received(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.records).iter().cloned().collect()
    }

    /// Forgets the recorded requests.
    pub fn clear(&self) {
        lock(&self.shared.records).clear();
    }

    /// Stops accepting, closes open connections and waits (bounded) for their threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.shared.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the accept loop with a connection of our own.
        let wake_addr = wake_address(self.addr);
        let _ = TcpStream::connect_timeout(&wake_addr, Duration::from_secs(1));
        if let Some(handle) = self.accept_thread.take() {
            let _ = handle.join();
        }
        for stream in lock(&self.shared.connections).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut active = lock(&self.shared.active);
        while *active > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            active = match self
                .shared
                .active_changed
                .wait_timeout(active, deadline - now)
            {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves on `addr` until the process ends (for the command line).
pub fn run_forever(addr: &str, opts: BackendOptions) -> io::Result<()> {
    let mut backend = Backend::start(addr, opts)?;
    match backend.accept_thread.take() {
        Some(handle) => handle
            .join()
            .map_err(|_| io::Error::other("backend accept thread failed")),
        None => Ok(()),
    }
}

fn wake_address(addr: SocketAddr) -> SocketAddr {
    let mut wake = addr;
    if wake.ip().is_unspecified() {
        match wake {
            SocketAddr::V4(_) => wake.set_ip([127, 0, 0, 1].into()),
            SocketAddr::V6(_) => wake.set_ip(std::net::Ipv6Addr::LOCALHOST.into()),
        }
    }
    wake
}

/// Locks a mutex, ignoring poisoning (the protected data stays consistent in this module).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Shared {
    opts: BackendOptions,
    stop: AtomicBool,
    records: Mutex<VecDeque<RecordedRequest>>,
    dynamic: Mutex<HashMap<(String, String), ReflectSpec>>,
    connections: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
    active: Mutex<usize>,
    active_changed: Condvar,
}

impl Shared {
    fn new(opts: BackendOptions) -> Shared {
        Shared {
            opts,
            stop: AtomicBool::new(false),
            records: Mutex::new(VecDeque::new()),
            dynamic: Mutex::new(HashMap::new()),
            connections: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            active: Mutex::new(0),
            active_changed: Condvar::new(),
        }
    }

    fn record(&self, req: &Request) {
        if !self.opts.record || self.opts.max_recorded == 0 {
            return;
        }
        let (path, query) = split_target(&req.target);
        let rec = RecordedRequest {
            method: req.method.clone(),
            target: req.target.clone(),
            path: path.to_string(),
            query: query.map(str::to_string),
            version: req.version.clone(),
            headers: req.headers.clone(),
            body: req.body.clone(),
        };
        let mut records = lock(&self.records);
        while records.len() >= self.opts.max_recorded {
            records.pop_front();
        }
        records.push_back(rec);
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Transient failures (e.g. out of file descriptors): back off briefly.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        {
            let mut active = lock(&shared.active);
            if *active >= shared.opts.max_connections {
                drop(active);
                refuse_busy(stream);
                continue;
            }
            *active += 1;
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.connections).insert(id, clone);
        }
        let conn_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name(format!("backend-conn-{id}"))
            .spawn(move || {
                serve_connection(stream, &conn_shared);
                connection_done(&conn_shared, id);
            });
        if spawned.is_err() {
            connection_done(&shared, id);
        }
    }
}

fn connection_done(shared: &Shared, id: u64) {
    if let Some(stream) = lock(&shared.connections).remove(&id) {
        let _ = stream.shutdown(Shutdown::Both);
    }
    let mut active = lock(&shared.active);
    *active = active.saturating_sub(1);
    shared.active_changed.notify_all();
}

fn refuse_busy(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let resp = Response::text(503, "Service Unavailable: too many connections");
    let _ = stream.write_all(&resp.serialize(false, true));
    let _ = stream.shutdown(Shutdown::Both);
}

/// A parsed request.
struct Request {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    keep_alive: bool,
}

/// Why a request could not be read.
enum ReadError {
    /// The connection ended or failed; nothing more can be sent.
    Io,
    /// The request is invalid: answer with this status and message, then close.
    Reject(u16, &'static str),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Io
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let opts = &shared.opts;
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let _ = writer.set_write_timeout(Some(opts.read_timeout));
    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        // Wait for the first byte of the next request with the idle timeout.
        if reader
            .get_ref()
            .set_read_timeout(Some(opts.idle_timeout))
            .is_err()
        {
            return;
        }
        match reader.fill_buf() {
            Ok([]) => return,
            Ok(_) => {}
            Err(_) => return,
        }
        if reader
            .get_ref()
            .set_read_timeout(Some(opts.read_timeout))
            .is_err()
        {
            return;
        }
        match read_request(&mut reader, &mut writer, opts) {
            Ok(req) => {
                shared.record(&req);
                if opts.log_requests {
                    eprintln!(
                        "backend: {} {} {} ({} body bytes)",
                        req.method,
                        req.target,
                        req.version,
                        req.body.len()
                    );
                }
                let keep_alive = req.keep_alive && !shared.stop.load(Ordering::SeqCst);
                let is_head = req.method == "HEAD";
                let response = handle(&req, shared);
                let bytes = response.serialize(is_head, !keep_alive);
                if writer
                    .write_all(&bytes)
                    .and_then(|_| writer.flush())
                    .is_err()
                {
                    return;
                }
                if !keep_alive {
                    let _ = writer.shutdown(Shutdown::Write);
                    return;
                }
            }
            Err(ReadError::Io) => return,
            Err(ReadError::Reject(status, message)) => {
                let resp = Response::text(status, message);
                let _ = writer.write_all(&resp.serialize(false, true));
                let _ = writer.flush();
                let _ = writer.shutdown(Shutdown::Write);
                // Drain briefly so the client sees the answer rather than a reset.
                let _ = reader
                    .get_ref()
                    .set_read_timeout(Some(Duration::from_millis(100)));
                let mut sink = [0u8; 4096];
                let mut drained = 0usize;
                while drained < 256 * 1024 {
                    match reader.read(&mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => drained += n,
                    }
                }
                return;
            }
        }
    }
}

/// Reads one line (terminated by LF; a preceding CR is removed) without exceeding `budget`.
fn read_line<R: BufRead>(reader: &mut R, budget: &mut usize) -> Result<Vec<u8>, ReadError> {
    let mut line = Vec::new();
    let limit = (*budget as u64).saturating_add(1);
    let n = reader.by_ref().take(limit).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(ReadError::Io);
    }
    if line.last() != Some(&b'\n') {
        if n as u64 >= limit {
            return Err(ReadError::Reject(431, "Request Header Fields Too Large"));
        }
        // EOF in the middle of a line.
        return Err(ReadError::Io);
    }
    *budget = budget.saturating_sub(n);
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn read_request<R: BufRead, W: Write>(
    reader: &mut R,
    writer: &mut W,
    opts: &BackendOptions,
) -> Result<Request, ReadError> {
    let mut budget = opts.max_header_bytes;
    // RFC 9112 section 2.2: ignore empty lines before the request line.
    let mut request_line = read_line(reader, &mut budget)?;
    let mut skipped = 0;
    while request_line.is_empty() {
        skipped += 1;
        if skipped > 8 {
            return Err(ReadError::Reject(400, "Bad Request"));
        }
        request_line = read_line(reader, &mut budget)?;
    }
    let (method, target, version) = parse_request_line(&request_line)?;

    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        let line = read_line(reader, &mut budget)?;
        if line.is_empty() {
            break;
        }
        if let [b' ' | b'\t', ..] = line.as_slice() {
            // Obsolete line folding: join with the previous value (RFC 9112 section 5.2).
            match headers.last_mut() {
                Some((_, value)) => {
                    let cont = trim_ows(&line);
                    if !cont.is_empty() {
                        value.push(b' ');
                        value.extend_from_slice(cont);
                    }
                    continue;
                }
                None => return Err(ReadError::Reject(400, "Bad Request")),
            }
        }
        let colon = match line.iter().position(|&b| b == b':') {
            Some(c) => c,
            None => return Err(ReadError::Reject(400, "Bad Request: malformed header line")),
        };
        let (name, rest) = line.split_at(colon);
        if !is_token(name) {
            return Err(ReadError::Reject(400, "Bad Request: invalid header name"));
        }
        let value = trim_ows(rest.get(1..).unwrap_or(&[]));
        // Control characters other than HTAB are invalid in field values (RFC 9110 section
        // 5.5); Go's server answers 400 to them too.
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(ReadError::Reject(400, "Bad Request: invalid header value"));
        }
        headers.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
    }

    let http11 = version == "HTTP/1.1";
    // RFC 9112 section 3.2: an HTTP/1.1 request needs exactly one Host; any request at most one.
    let host_count = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .count();
    if host_count > 1 {
        return Err(ReadError::Reject(400, "Bad Request: too many Host headers"));
    }
    if http11 && host_count == 0 {
        return Err(ReadError::Reject(
            400,
            "Bad Request: missing required Host header",
        ));
    }
    let connection_tokens: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut keep_alive = if http11 {
        !connection_tokens.iter().any(|t| t == "close")
    } else {
        connection_tokens.iter().any(|t| t == "keep-alive")
    };

    // Body framing (RFC 9112 section 6).
    let te_values: Vec<&[u8]> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        .map(|(_, v)| v.as_slice())
        .collect();
    let cl_values: Vec<&[u8]> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_slice())
        .collect();

    let framing = if !te_values.is_empty() {
        let only_chunked = te_values.len() == 1
            && te_values
                .first()
                .is_some_and(|v| trim_ows(v).eq_ignore_ascii_case(b"chunked"));
        if !only_chunked {
            return Err(ReadError::Reject(501, "Unsupported transfer encoding"));
        }
        if !cl_values.is_empty() {
            // Both present: Transfer-Encoding wins, and the connection must close afterwards.
            keep_alive = false;
        }
        Framing::Chunked
    } else if !cl_values.is_empty() {
        let mut length: Option<u64> = None;
        for v in &cl_values {
            let v = trim_ows(v);
            if v.is_empty() || !v.iter().all(u8::is_ascii_digit) || v.len() > 18 {
                return Err(ReadError::Reject(
                    400,
                    "Bad Request: invalid Content-Length",
                ));
            }
            let parsed = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(ReadError::Reject(
                    400,
                    "Bad Request: invalid Content-Length",
                ))?;
            match length {
                Some(prev) if prev != parsed => {
                    return Err(ReadError::Reject(
                        400,
                        "Bad Request: conflicting Content-Length",
                    ))
                }
                _ => length = Some(parsed),
            }
        }
        Framing::Length(length.unwrap_or(0))
    } else {
        Framing::Length(0)
    };

    if let Framing::Length(n) = framing {
        if n > opts.max_body_bytes as u64 {
            return Err(ReadError::Reject(413, "Request Entity Too Large"));
        }
    }

    let expects_body = !matches!(framing, Framing::Length(0));
    let expect_continue = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("expect") && trim_ows(v).eq_ignore_ascii_case(b"100-continue")
    });
    if expect_continue && http11 && expects_body {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        writer.flush()?;
    }

    let body = match framing {
        Framing::Length(n) => {
            // `n` is bounded by max_body_bytes above, so it fits in usize.
            let len = usize::try_from(n)
                .map_err(|_| ReadError::Reject(413, "Request Entity Too Large"))?;
            // Grow with the data actually received rather than trusting the declared length.
            let mut body = Vec::with_capacity(len.min(64 * 1024));
            read_exactly(reader, n, &mut body)?;
            body
        }
        Framing::Chunked => read_chunked(reader, opts)?,
    };

    Ok(Request {
        method,
        target,
        version,
        headers,
        body,
        keep_alive,
    })
}

enum Framing {
    Length(u64),
    Chunked,
}

fn parse_request_line(line: &[u8]) -> Result<(String, String, String), ReadError> {
    let bad = ReadError::Reject(400, "Bad Request: malformed request line");
    let sp1 = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ReadError::Reject(
            400,
            "Bad Request: malformed request line",
        ))?;
    let (method, rest) = line.split_at(sp1);
    let rest = rest.get(1..).unwrap_or(&[]);
    let sp2 = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ReadError::Reject(
            400,
            "Bad Request: malformed request line",
        ))?;
    let (target, version) = rest.split_at(sp2);
    let version = version.get(1..).unwrap_or(&[]);
    if !is_token(method) {
        return Err(bad);
    }
    if target.is_empty() || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(bad);
    }
    match version {
        b"HTTP/1.1" | b"HTTP/1.0" => {}
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(ReadError::Reject(505, "HTTP Version Not Supported"))
        }
        _ => return Err(bad),
    }
    // Go's url.ParseRequestURI rejects invalid percent-escapes in the path: answer 400 like albedo.
    let (path, _) = split_target_bytes(target);
    if !valid_percent_escapes(path) {
        return Err(ReadError::Reject(400, "Bad Request: invalid URL escape"));
    }
    Ok((
        String::from_utf8_lossy(method).into_owned(),
        String::from_utf8_lossy(target).into_owned(),
        String::from_utf8_lossy(version).into_owned(),
    ))
}

fn valid_percent_escapes(s: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let ok = matches!(
                (s.get(i + 1), s.get(i + 2)),
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit()
            );
            if !ok {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

fn read_chunked<R: BufRead>(reader: &mut R, opts: &BackendOptions) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut line_budget = opts.max_header_bytes;
    loop {
        let mut size_budget = 4096usize;
        let line = read_line(reader, &mut size_budget)?;
        let size_part = line.split(|&b| b == b';').next().unwrap_or(&[]);
        let size_part = trim_ows(size_part);
        if size_part.is_empty()
            || size_part.len() > 15
            || !size_part.iter().all(u8::is_ascii_hexdigit)
        {
            return Err(ReadError::Reject(400, "Bad Request: invalid chunk size"));
        }
        let size = std::str::from_utf8(size_part)
            .ok()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .ok_or(ReadError::Reject(400, "Bad Request: invalid chunk size"))?;
        if size == 0 {
            // Trailer section, ended by an empty line.
            loop {
                let trailer = read_line(reader, &mut line_budget)?;
                if trailer.is_empty() {
                    return Ok(body);
                }
            }
        }
        let new_len = (body.len() as u64).saturating_add(size);
        if new_len > opts.max_body_bytes as u64 {
            return Err(ReadError::Reject(413, "Request Entity Too Large"));
        }
        read_exactly(reader, size, &mut body)?;
        let mut crlf_budget = 2usize;
        let end = read_line(reader, &mut crlf_budget)?;
        if !end.is_empty() {
            return Err(ReadError::Reject(400, "Bad Request: malformed chunk"));
        }
    }
}

/// Appends exactly `n` bytes from `reader` to `out`; a short read is an I/O error.
fn read_exactly<R: Read>(reader: &mut R, n: u64, out: &mut Vec<u8>) -> Result<(), ReadError> {
    let got = reader.by_ref().take(n).read_to_end(out)?;
    if (got as u64) < n {
        return Err(ReadError::Io);
    }
    Ok(())
}

fn split_target(target: &str) -> (&str, Option<&str>) {
    let without_authority = strip_absolute_form(target);
    match without_authority.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (without_authority, None),
    }
}

fn split_target_bytes(target: &[u8]) -> (&[u8], Option<&[u8]>) {
    match target.iter().position(|&b| b == b'?') {
        Some(q) => (target.get(..q).unwrap_or(&[]), target.get(q + 1..)),
        None => (target, None),
    }
}

/// `http://host/path?q` -> `/path?q`.
fn strip_absolute_form(target: &str) -> &str {
    let lower_starts = |prefix: &str| {
        target
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    let scheme_len = if lower_starts("http://") {
        7
    } else if lower_starts("https://") {
        8
    } else {
        return target;
    };
    let after = target.get(scheme_len..).unwrap_or("");
    match after.find(['/', '?']) {
        Some(i) => after.get(i..).unwrap_or("/"),
        None => "/",
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response under construction.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Informational (1xx) status sent before the final response, as Go does for a 1xx
    /// `WriteHeader` followed by a body.
    informational: Option<u16>,
}

impl Response {
    fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            informational: None,
        }
    }

    fn text(status: u16, text: &str) -> Response {
        Response {
            status,
            headers: vec![(
                "Content-Type".to_string(),
                "text/plain; charset=utf-8".to_string(),
            )],
            body: text.as_bytes().to_vec(),
            informational: None,
        }
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn serialize(&self, head_request: bool, close: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        if let Some(info) = self.informational {
            write_status_line(&mut out, info);
            for (name, value) in sorted_headers(&self.headers) {
                push_header(&mut out, name, value);
            }
            out.extend_from_slice(b"\r\n");
        }
        let body_allowed =
            !(100..200).contains(&self.status) && self.status != 204 && self.status != 304;
        let mut headers: Vec<(String, String)> = self.headers.clone();
        if body_allowed && !self.body.is_empty() && !self.has_header("content-type") {
            headers.push((
                "Content-Type".to_string(),
                sniff_content_type(&self.body).to_string(),
            ));
        }
        if body_allowed {
            headers.push(("Content-Length".to_string(), self.body.len().to_string()));
        }
        headers.push(("Date".to_string(), http_date(SystemTime::now())));
        if close {
            headers.push(("Connection".to_string(), "close".to_string()));
        }
        write_status_line(&mut out, self.status);
        for (name, value) in sorted_headers(&headers) {
            push_header(&mut out, name, value);
        }
        out.extend_from_slice(b"\r\n");
        if body_allowed && !head_request {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn sorted_headers(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut v: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    // Stable sort: repeated names keep their order, as Go's Header.Write does.
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    // Go replaces CR and LF in header values with spaces when writing.
    out.extend(
        value
            .bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

fn write_status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    match reason_phrase(status) {
        Some(reason) => out.extend_from_slice(reason.as_bytes()),
        None => {
            out.extend_from_slice(b"status code ");
            out.extend_from_slice(status.to_string().as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Reason phrases as Go's `http.StatusText`.
fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => return None,
    })
}

/// A subset of Go's `http.DetectContentType` (the signatures that matter for text bodies).
fn sniff_content_type(body: &[u8]) -> &'static str {
    let data = body.get(..body.len().min(512)).unwrap_or(body);
    let starts = |sig: &[u8]| data.starts_with(sig);
    if starts(b"\xFE\xFF") {
        return "text/plain; charset=utf-16be";
    }
    if starts(b"\xFF\xFE") {
        return "text/plain; charset=utf-16le";
    }
    if starts(b"\xEF\xBB\xBF") {
        return "text/plain; charset=utf-8";
    }
    let first_non_ws = data
        .iter()
        .position(|&b| !matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' '))
        .unwrap_or(data.len());
    let trimmed = data.get(first_non_ws..).unwrap_or(&[]);
    const HTML_SIGS: [&[u8]; 17] = [
        b"<!DOCTYPE HTML",
        b"<HTML",
        b"<HEAD",
        b"<SCRIPT",
        b"<IFRAME",
        b"<H1",
        b"<DIV",
        b"<FONT",
        b"<TABLE",
        b"<A",
        b"<STYLE",
        b"<TITLE",
        b"<B",
        b"<BODY",
        b"<BR",
        b"<P",
        b"<!--",
    ];
    for sig in HTML_SIGS {
        if let (Some(head), Some(&term)) = (trimmed.get(..sig.len()), trimmed.get(sig.len())) {
            if head.eq_ignore_ascii_case(sig) && (term == b' ' || term == b'>') {
                return "text/html; charset=utf-8";
            }
        }
    }
    if trimmed.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    if starts(b"%PDF-") {
        return "application/pdf";
    }
    if starts(b"%!PS-Adobe-") {
        return "application/postscript";
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return "image/gif";
    }
    if starts(b"\x89PNG\x0D\x0A\x1A\x0A") {
        return "image/png";
    }
    if starts(b"\xFF\xD8\xFF") {
        return "image/jpeg";
    }
    if starts(b"PK\x03\x04") {
        return "application/zip";
    }
    if starts(b"\x1F\x8B\x08") {
        return "application/x-gzip";
    }
    let binary = data.iter().any(|&b| {
        b <= 0x08 || b == 0x0B || (0x0E..=0x1A).contains(&b) || (0x1C..=0x1F).contains(&b)
    });
    if binary {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(now: SystemTime) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS
        .get(days.rem_euclid(7) as usize)
        .copied()
        .unwrap_or("Thu");
    let month_name = MONTHS
        .get((month - 1).clamp(0, 11) as usize)
        .copied()
        .unwrap_or("Jan");
    format!("{weekday}, {day:02} {month_name} {year:04} {hour:02}:{minute:02}:{second:02} GMT")
}

/// What `/reflect` answers, parsed from its JSON document.
#[derive(Debug, Clone, Default, PartialEq)]
struct ReflectSpec {
    status: i64,
    headers: Vec<(String, String)>,
    body: String,
    encoded_body: String,
    log_message: String,
}

/// Finds a field of a JSON object the way Go's `encoding/json` does: exact name first, then a
/// case-insensitive match.
fn json_field<'a>(
    obj: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn json_string(v: Option<&serde_json::Value>) -> Result<String, ()> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(String::new()),
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(()),
    }
}

fn parse_json_document(body: &[u8]) -> Result<serde_json::Value, ()> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => Ok(v),
        // Go replaces invalid UTF-8 in strings with U+FFFD instead of failing.
        Err(_) => serde_json::from_str(&String::from_utf8_lossy(body)).map_err(|_| ()),
    }
}

fn parse_reflect_object(
    obj: &serde_json::Map<String, serde_json::Value>,
) -> Result<ReflectSpec, ()> {
    let status = match json_field(obj, "status") {
        None | Some(serde_json::Value::Null) => 0,
        // Go's int is 64 bits; a fractional or out-of-range number fails to unmarshal.
        Some(serde_json::Value::Number(n)) => n.as_i64().ok_or(())?,
        Some(_) => return Err(()),
    };
    let headers = match json_field(obj, "headers") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Object(map)) => {
            let mut out = Vec::with_capacity(map.len());
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) => out.push((k.clone(), s.clone())),
                    serde_json::Value::Null => out.push((k.clone(), String::new())),
                    _ => return Err(()),
                }
            }
            out
        }
        Some(_) => return Err(()),
    };
    Ok(ReflectSpec {
        status,
        headers,
        body: json_string(json_field(obj, "body"))?,
        encoded_body: json_string(json_field(obj, "encodedBody"))?,
        log_message: json_string(json_field(obj, "logMessage"))?,
    })
}

fn parse_reflect_spec(body: &[u8]) -> Result<ReflectSpec, ()> {
    match parse_json_document(body)? {
        serde_json::Value::Object(obj) => parse_reflect_object(&obj),
        serde_json::Value::Null => Ok(ReflectSpec::default()),
        _ => Err(()),
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`.
fn canonical_header_key(name: &str) -> String {
    if !is_token(name.as_bytes()) {
        return name.to_string();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

fn valid_header_value(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn reflect(spec: &ReflectSpec, log: bool, method: &str, target: &str) -> Response {
    if log {
        eprintln!("backend: reflecting response for '{method}' request to '{target}'");
        if !spec.log_message.is_empty() {
            eprintln!("backend: {}", spec.log_message);
        }
    }
    let mut resp = Response::empty(200);
    for (name, value) in &spec.headers {
        let key = canonical_header_key(name);
        // Invalid names and values are dropped, like Go does when writing headers; framing
        // headers are this server's business.
        if !is_token(key.as_bytes()) || !valid_header_value(value) {
            continue;
        }
        if ["Content-Length", "Transfer-Encoding", "Connection"].contains(&key.as_str()) {
            continue;
        }
        resp.headers.push((key, value.clone()));
    }
    if (spec.status > 0 && spec.status < 100) || spec.status >= 600 || spec.status < 0 {
        resp.status = 400;
        resp.body = format!("Invalid status code: {}", spec.status).into_bytes();
        return resp;
    }
    let status = if spec.status == 0 {
        200
    } else {
        spec.status as u16
    };
    if (100..200).contains(&status) {
        resp.informational = Some(status);
        resp.status = 200;
    } else {
        resp.status = status;
    }
    if !spec.body.is_empty() {
        resp.body = spec.body.clone().into_bytes();
    } else if !spec.encoded_body.is_empty() {
        let cleaned: String = spec
            .encoded_body
            .chars()
            .filter(|c| *c != '\r' && *c != '\n')
            .collect();
        match base64::engine::general_purpose::STANDARD.decode(cleaned.as_bytes()) {
            Ok(bytes) => resp.body = bytes,
            Err(_) => resp.body = b"invalid base64 encoding of response body".to_vec(),
        }
    }
    resp
}

fn handle(req: &Request, shared: &Shared) -> Response {
    let (raw_path, query) = split_target(&req.target);
    let path = percent_decode(raw_path);
    let under = |base: &str| path == base || path.starts_with(&format!("{base}/"));
    let log = shared.opts.log_requests;

    if under("/capabilities") {
        let quiet = query
            .map(|q| {
                q.split('&')
                    .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                    .find(|(k, _)| percent_decode(k) == "quiet")
                    .is_some_and(|(_, v)| percent_decode(v) == "true")
            })
            .unwrap_or(false);
        let mut resp = Response::empty(200);
        resp.headers
            .push(("Content-Type".to_string(), "application/json".to_string()));
        resp.body = capabilities_json(quiet).into_bytes();
        return resp;
    }
    if req.method == "POST" && under("/reflect") {
        return match parse_reflect_spec(&req.body) {
            Ok(spec) => reflect(&spec, log, &req.method, &req.target),
            Err(()) => Response::text(400, "Invalid JSON in request body"),
        };
    }
    if req.method == "POST" && under("/configure_reflection") {
        let parsed = parse_json_document(&req.body).and_then(|doc| match doc {
            serde_json::Value::Object(obj) => {
                let spec = parse_reflect_object(&obj)?;
                let endpoints = match json_field(&obj, "endpoints") {
                    None | Some(serde_json::Value::Null) => Vec::new(),
                    Some(serde_json::Value::Array(items)) => {
                        let mut out = Vec::with_capacity(items.len());
                        for item in items {
                            match item {
                                serde_json::Value::Object(e) => out.push((
                                    json_string(json_field(e, "method"))?,
                                    json_string(json_field(e, "url"))?,
                                )),
                                _ => return Err(()),
                            }
                        }
                        out
                    }
                    Some(_) => return Err(()),
                };
                Ok((spec, endpoints))
            }
            serde_json::Value::Null => Ok((ReflectSpec::default(), Vec::new())),
            _ => Err(()),
        });
        return match parsed {
            Ok((spec, endpoints)) => {
                let mut dynamic = lock(&shared.dynamic);
                for key in endpoints {
                    dynamic.insert(key, spec.clone());
                }
                Response::empty(200)
            }
            Err(()) => Response::text(400, "Invalid JSON in request body"),
        };
    }
    if req.method == "PUT" && under("/reset") {
        lock(&shared.dynamic).clear();
        return Response::empty(200);
    }
    let configured = lock(&shared.dynamic)
        .get(&(req.method.clone(), req.target.clone()))
        .cloned();
    if let Some(spec) = configured {
        return reflect(&spec, log, &req.method, &req.target);
    }
    let mut resp = Response::empty(200);
    resp.body = shared.opts.default_body.clone();
    resp
}

/// Albedo's endpoint list (`server/capabilities.yaml` in the albedo repository).
const CAPABILITIES: [(&str, &[&str], &str, &str); 6] = [
    (
        "/*",
        &["any"],
        "any",
        "Requests to any URL that is not defined as an endpoint are accepted if they are valid.\n\
         The response to any such request will be a status 200 without a body.\n",
    ),
    (
        "/capabilities",
        &["GET"],
        "-",
        "Returns a JSON document describing the capabilities of albedo, i.e., available endpoints and their functions.\n\
         If the query parameter 'quiet' is set to 'true', the response will only contain the path property for each\n\
         endpoint.\n",
    ),
    (
        "/reflect",
        &["POST"],
        "application/json",
        "This endpoint responds according to the received specification.\n\
         The specification is a JSON document with the following fields:\n\n  \
         status      [integer]: the status code to respond with\n  \
         headers     [map of header definitions]: the headers to respond with\n  \
         body        [string]: body of the response\n  \
         encodedBody [base64-encoded string]: body of the response, base64-encoded; useful for complex payloads where escaping is difficult\n  \
         logMessage  [string]: message to log for the request; useful for matching requests to tests\n\n\
         While this endpoint essentially allows for freeform responses, some restrictions apply:\n  \
         - responses with status code 1xx don't have a body; if you specify a body together with a 1xx\n    \
         status code, the behavior is undefined\n  \
         - response status codes must lie in the range of [100,599]\n  \
         - the names and values of headers must be valid according to the HTTP specification;\n    \
         invalid headers will be dropped\n",
    ),
    (
        "/configure_reflection",
        &["POST"],
        "application/json",
        "This endpoint configures other endpoints to respond as described by the received specification.\n\
         Any configured endpoint will behave as if it were the \"/reflect\" endpoint and will retain its configuration.\n\
         Endpoints can be overridden with new configurations.\n\n\
         The specification is a JSON document with the same fields as in the specification for \"/reflect\", with the following additions:\n\n  \
         endpoints [list of endpoints]: endpoints to configure; an endpoint has the following fields:\n            \
         method                  [string]: HTTP method to match\n            \
         url                     [string]: URL of the endpoint, including query and fragment\n",
    ),
    (
        "/reset",
        &["PUT"],
        "any",
        "Discards endpoint configurations previously created via \"/configure_reflection\"\n",
    ),
    (
        "/inspect",
        &["any"],
        "any",
        "Logs debug information about the received request, such as headers and body size.\n",
    ),
];

/// JSON string literal with Go's HTML-safe escaping (`<`, `>`, `&` as `\u003c` etc.).
fn go_json_string(s: &str) -> String {
    let plain = serde_json::Value::String(s.to_string()).to_string();
    plain
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn capabilities_json(quiet: bool) -> String {
    let mut out = String::from("{\"endpoints\":[");
    for (i, (path, methods, content_type, description)) in CAPABILITIES.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"path\":");
        out.push_str(&go_json_string(path));
        if !quiet {
            out.push_str(",\"methods\":[");
            let list: Vec<String> = methods.iter().map(|m| go_json_string(m)).collect();
            out.push_str(&list.join(","));
            out.push_str("],\"contentType\":");
            out.push_str(&go_json_string(content_type));
            out.push_str(",\"description\":");
            out.push_str(&go_json_string(description));
        }
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// Resolves `addr` to its first socket address (helper for callers holding a string).
pub fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "address resolves to nothing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(record: bool) -> Backend {
        let opts = BackendOptions {
            record,
            idle_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
            ..BackendOptions::default()
        };
        match Backend::start("127.0.0.1:0", opts) {
            Ok(b) => b,
            Err(e) => panic!("cannot start backend: {e}"),
        }
    }

    fn connect(b: &Backend) -> TcpStream {
        let s = TcpStream::connect(b.addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    }

    /// A parsed response as a test client sees it.
    #[derive(Debug)]
    struct Resp {
        status: u16,
        head: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Resp {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// Reads one response (Content-Length framed, or no body for 1xx/204/304/HEAD).
    fn read_response(reader: &mut BufReader<TcpStream>, head_request: bool) -> Resp {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).expect("read head");
            assert!(
                n > 0,
                "connection closed before the end of the head: {head:?}"
            );
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; if head_request { 0 } else { len }];
        reader.read_exact(&mut body).expect("read body");
        Resp {
            status,
            head,
            headers,
            body,
        }
    }

    fn roundtrip(b: &Backend, raw: &[u8]) -> Resp {
        let mut s = connect(b);
        s.write_all(raw).expect("write");
        let mut r = BufReader::new(s);
        read_response(&mut r, raw.starts_with(b"HEAD "))
    }

    fn assert_closed(reader: &mut BufReader<TcpStream>) {
        let mut rest = Vec::new();
        let n = reader.read_to_end(&mut rest).unwrap_or(0);
        assert_eq!(n, 0, "expected the connection to be closed, got {rest:?}");
    }

    #[test]
    fn default_answer_is_empty_200_like_albedo() {
        let b = start(false);
        for method in ["GET", "POST", "PUT", "DELETE", "OPTIONS", "FOO"] {
            let raw = format!(
                "{method} /any/path?x=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
            );
            let r = roundtrip(&b, raw.as_bytes());
            assert_eq!(r.status, 200, "{method}");
            assert!(r.body.is_empty());
            assert_eq!(r.header("Content-Length"), Some("0"));
            assert!(r.header("Date").is_some_and(|d| d.ends_with(" GMT")));
            assert!(r.head.starts_with("HTTP/1.1 200 OK\r\n"));
        }
        // GET /reflect is not the reflection endpoint (POST only): default answer.
        let r = roundtrip(&b, b"GET /reflect HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
        b.shutdown();
    }

    #[test]
    fn default_body_option() {
        let opts = BackendOptions {
            default_body: b"hello from rampart's demo backend\n".to_vec(),
            ..BackendOptions::default()
        };
        let b = Backend::start("127.0.0.1:0", opts).expect("start");
        let r = roundtrip(&b, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.body, b"hello from rampart's demo backend\n");
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
        let r = roundtrip(&b, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.header("Content-Length"), Some("34"));
        assert!(r.body.is_empty());
    }

    #[test]
    fn reflect_status_headers_body() {
        let b = start(false);
        let spec = br#"{"status": 403, "headers": {"x-custom": "yes", "Content-Type": "text/html"}, "body": "<b>denied</b>", "logMessage": "t1"}"#;
        let raw = [
            format!(
                "POST /reflect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                spec.len()
            )
            .into_bytes(),
            spec.to_vec(),
        ]
        .concat();
        let r = roundtrip(&b, &raw);
        assert_eq!(r.status, 403);
        assert!(r.head.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert_eq!(r.header("X-Custom"), Some("yes"));
        assert_eq!(r.header("Content-Type"), Some("text/html"));
        assert_eq!(r.body, b"<b>denied</b>");
        // Headers are sorted by name, as Go writes them.
        let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn reflect_encoded_body_sniffing_and_errors() {
        let b = start(false);
        let post = |json: &str| {
            let raw = format!(
                "POST /reflect/ HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{json}",
                json.len()
            );
            roundtrip(&b, raw.as_bytes())
        };
        // encodedBody: "<html>hi</html>" base64; sniffed as HTML.
        let r = post(r#"{"encodedBody": "PGh0bWw+aGk8L2h0bWw+"}"#);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"<html>hi</html>");
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
        // body wins over encodedBody; plain text sniffing.
        let r = post(r#"{"body": "plain", "encodedBody": "PGh0bWw+"}"#);
        assert_eq!(r.body, b"plain");
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
        // Keys are case-insensitive like Go's encoding/json.
        let r = post(r#"{"STATUS": 201, "Body": "x"}"#);
        assert_eq!(r.status, 201);
        assert_eq!(r.body, b"x");
        // Invalid status codes.
        let r = post(r#"{"status": 42}"#);
        assert_eq!(r.status, 400);
        assert_eq!(r.body, b"Invalid status code: 42");
        let r = post(r#"{"status": 600}"#);
        assert_eq!(r.body, b"Invalid status code: 600");
        // Invalid JSON and wrong types.
        for bad in [
            "{",
            "[1]",
            r#"{"status": "200"}"#,
            r#"{"status": 200.5}"#,
            r#"{"headers": {"a": 1}}"#,
        ] {
            let r = post(bad);
            assert_eq!(r.status, 400, "{bad}");
            assert_eq!(r.body, b"Invalid JSON in request body", "{bad}");
        }
        // Invalid base64: the requested status stays, the body is the error.
        let r = post(r#"{"status": 202, "encodedBody": "!!!"}"#);
        assert_eq!(r.status, 202);
        assert_eq!(r.body, b"invalid base64 encoding of response body");
        // Empty spec: 200 without body.
        let r = post("{}");
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
        assert!(r.header("Content-Type").is_none());
        // Status without reason phrase in Go's table.
        let r = post(r#"{"status": 599}"#);
        assert!(r.head.starts_with("HTTP/1.1 599 status code 599\r\n"));
        // 204 has no body and no Content-Length.
        let r = post(r#"{"status": 204, "body": "ignored"}"#);
        assert_eq!(r.status, 204);
        assert!(r.header("Content-Length").is_none());
        assert!(r.body.is_empty());
        // Invalid reflected header values are dropped; framing headers are ignored.
        let r = post(
            r#"{"headers": {"Bad Name": "x", "Ok": "a\u0001b", "Content-Length": "99", "Good": "1"}, "body": "abc"}"#,
        );
        assert_eq!(r.header("Good"), Some("1"));
        assert!(r.header("Ok").is_none());
        assert!(r.header("Bad Name").is_none());
        assert_eq!(r.header("Content-Length"), Some("3"));
    }

    #[test]
    fn capabilities_document() {
        let b = start(false);
        let r = roundtrip(&b, b"GET /capabilities HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        let endpoints = v["endpoints"].as_array().expect("endpoints");
        let paths: Vec<&str> = endpoints
            .iter()
            .filter_map(|e| e["path"].as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "/*",
                "/capabilities",
                "/reflect",
                "/configure_reflection",
                "/reset",
                "/inspect"
            ]
        );
        assert_eq!(endpoints[2]["methods"][0], "POST");
        assert!(endpoints[2]["description"]
            .as_str()
            .unwrap_or("")
            .contains("encodedBody"));
        let r = roundtrip(
            &b,
            b"GET /capabilities/?quiet=true HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(v["endpoints"][0], serde_json::json!({"path": "/*"}));
    }

    #[test]
    fn configure_reflection_and_reset() {
        let b = start(false);
        let json = r#"{"status": 418, "body": "teapot", "endpoints": [{"method": "GET", "url": "/tea?x=1"}]}"#;
        let raw = format!(
            "POST /configure_reflection HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        );
        assert_eq!(roundtrip(&b, raw.as_bytes()).status, 200);
        let r = roundtrip(&b, b"GET /tea?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 418);
        assert_eq!(r.body, b"teapot");
        // Different method or URL: default answer.
        assert_eq!(
            roundtrip(
                &b,
                b"POST /tea?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            )
            .status,
            200
        );
        assert_eq!(
            roundtrip(&b, b"GET /tea HTTP/1.1\r\nHost: x\r\n\r\n").status,
            200
        );
        assert_eq!(
            roundtrip(
                &b,
                b"PUT /reset HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            )
            .status,
            200
        );
        assert_eq!(
            roundtrip(&b, b"GET /tea?x=1 HTTP/1.1\r\nHost: x\r\n\r\n").status,
            200
        );
    }

    #[test]
    fn keep_alive_pipelining_and_chunked_bodies() {
        let b = start(true);
        let mut s = connect(&b);
        // Two pipelined requests on one connection, the second one chunked with an extension
        // and a trailer.
        let json = r#"{"body":"one"}"#;
        let req1 = format!(
            "POST /reflect HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        );
        let req2 = "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
        s.write_all(format!("{req1}{req2}").as_bytes())
            .expect("write");
        let mut r = BufReader::new(s);
        let first = read_response(&mut r, false);
        assert_eq!(first.body, b"one");
        assert!(first.header("Connection").is_none());
        let second = read_response(&mut r, false);
        assert_eq!(second.status, 200);
        // Third request on the same connection, closing it.
        r.get_mut()
            .write_all(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("write");
        let third = read_response(&mut r, false);
        assert_eq!(third.header("Connection"), Some("close"));
        assert_closed(&mut r);

        let got = b.received();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].method, "POST");
        assert_eq!(got[1].path, "/upload");
        assert_eq!(got[1].body, b"hello world");
        assert_eq!(
            got[1].header_str("transfer-encoding").as_deref(),
            Some("chunked")
        );
        assert_eq!(got[2].target, "/last");
        b.clear();
        assert!(b.received().is_empty());
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        let b = start(false);
        let mut s = connect(&b);
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("write");
        let mut r = BufReader::new(s);
        let resp = read_response(&mut r, false);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("Connection"), Some("close"));
        assert_closed(&mut r);

        let mut s = connect(&b);
        s.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n")
            .expect("write");
        let mut r = BufReader::new(s);
        assert!(read_response(&mut r, false).header("Connection").is_none());
        assert_eq!(
            read_response(&mut r, false).header("Connection"),
            Some("close")
        );
    }

    #[test]
    fn expect_continue() {
        let b = start(true);
        let mut s = connect(&b);
        s.write_all(
            b"POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        )
        .expect("write");
        let mut r = BufReader::new(s);
        let interim = read_response(&mut r, false);
        assert_eq!(interim.status, 100);
        r.get_mut().write_all(b"data").expect("write");
        let fin = read_response(&mut r, false);
        assert_eq!(fin.status, 200);
        assert_eq!(b.received()[0].body, b"data");
    }

    #[test]
    fn malformed_requests_get_400_and_close() {
        let b = start(false);
        let cases: [(&[u8], u16); 14] = [
            (b"GARBAGE\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400),
            (b"GET /\r\n\r\n", 400),
            (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
            (b"G(T / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\n\r\n", 505),
            (b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n", 400),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                400,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                400,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                501,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                400,
            ),
        ];
        for (raw, status) in cases {
            let mut s = connect(&b);
            s.write_all(raw).expect("write");
            let mut r = BufReader::new(s);
            let resp = read_response(&mut r, false);
            assert_eq!(resp.status, status, "{:?}", String::from_utf8_lossy(raw));
            assert_eq!(resp.header("Connection"), Some("close"));
            assert_closed(&mut r);
        }
        let r = roundtrip(&b, b"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 400);
        // Invalid escapes in the query are fine (Go keeps the raw query).
        assert_eq!(
            roundtrip(&b, b"GET /a?%zz HTTP/1.1\r\nHost: x\r\n\r\n").status,
            200
        );
    }

    #[test]
    fn oversized_inputs() {
        let opts = BackendOptions {
            max_header_bytes: 1024,
            max_body_bytes: 16,
            ..BackendOptions::default()
        };
        let b = Backend::start("127.0.0.1:0", opts).expect("start");
        let long = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
            "a".repeat(2000)
        );
        assert_eq!(roundtrip(&b, long.as_bytes()).status, 431);
        assert_eq!(
            roundtrip(
                &b,
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n"
            )
            .status,
            413
        );
        let chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n";
        assert_eq!(roundtrip(&b, chunked.as_bytes()).status, 413);
        let huge_chunk =
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n";
        assert_eq!(roundtrip(&b, huge_chunk.as_bytes()).status, 400);
    }

    #[test]
    fn bounded_connections() {
        let opts = BackendOptions {
            max_connections: 1,
            ..BackendOptions::default()
        };
        let b = Backend::start("127.0.0.1:0", opts).expect("start");
        let first = connect(&b);
        // Make sure the first connection is being served before opening the second.
        let mut first_reader = BufReader::new(first);
        first_reader
            .get_mut()
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        assert_eq!(read_response(&mut first_reader, false).status, 200);
        let second = connect(&b);
        let mut second_reader = BufReader::new(second);
        assert_eq!(read_response(&mut second_reader, false).status, 503);
        drop(first_reader);
        // Once the first connection is gone, a new one is served.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut s = connect(&b);
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut r = BufReader::new(s);
            if read_response(&mut r, false).status == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "slot never freed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn abrupt_clients_do_not_hurt_the_server() {
        let b = start(true);
        for raw in [
            &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial"[..],
            b"GET / HTT",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"\xff\xfe\x00\x01binary\r\n\r\n",
        ] {
            let mut s = connect(&b);
            let _ = s.write_all(raw);
            drop(s);
        }
        let r = roundtrip(&b, b"GET /still-alive HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 200);
        let got = b.received();
        assert_eq!(got.last().map(|r| r.path.as_str()), Some("/still-alive"));
    }

    #[test]
    fn shutdown_closes_idle_connections() {
        let b = start(false);
        let s = connect(&b);
        let mut r = BufReader::new(s);
        r.get_mut()
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        assert_eq!(read_response(&mut r, false).status, 200);
        let addr = b.addr();
        let started = Instant::now();
        b.shutdown();
        assert!(started.elapsed() < Duration::from_secs(4));
        assert_closed(&mut r);
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                .and_then(|mut s| {
                    s.set_read_timeout(Some(Duration::from_millis(500)))?;
                    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
                    let mut buf = [0u8; 1];
                    s.read(&mut buf)
                })
                .map(|n| n == 0)
                .unwrap_or(true)
        );
    }

    #[test]
    fn records_absolute_form_and_query() {
        let b = start(true);
        roundtrip(&b, b"GET http://example.com/p/q?a=1&b=2 HTTP/1.1\r\nHost: example.com\r\nX-A:  v  \r\n\r\n");
        let got = b.received();
        assert_eq!(got[0].path, "/p/q");
        assert_eq!(got[0].query.as_deref(), Some("a=1&b=2"));
        assert_eq!(got[0].target, "http://example.com/p/q?a=1&b=2");
        assert_eq!(got[0].header("x-a"), Some(&b"v"[..]));
        assert_eq!(got[0].version, "HTTP/1.1");
    }

    #[test]
    fn helpers() {
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        assert_eq!(canonical_header_key("x-crs-test"), "X-Crs-Test");
        assert_eq!(canonical_header_key("bad name"), "bad name");
        assert_eq!(
            sniff_content_type(b"  <!-- c -->"),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            sniff_content_type(b"<?xml version='1.0'?>"),
            "text/xml; charset=utf-8"
        );
        assert_eq!(sniff_content_type(b"\x00\x01"), "application/octet-stream");
        assert_eq!(sniff_content_type(b"<ab"), "text/plain; charset=utf-8");
        assert_eq!(strip_absolute_form("HTTP://h"), "/");
        assert_eq!(go_json_string("<&>"), "\"\\u003c\\u0026\\u003e\"");
        assert!(resolve("127.0.0.1:80").is_ok());
    }
}

//! A stand-in for the gateway, used to test the runner end to end: a small TCP proxy that
//! forwards each request to an upstream and writes ModSecurity-style lines to an error log:
//!
//! * a request with `X-CRS-Test: v` logs `... [id "999999"] [msg "X-CRS-Test v"]` and nothing
//!   else (like the marker rule with `ctl:ruleRemoveById=1-999999`);
//! * otherwise every [`FakeRule`] whose needle occurs in the request (head or body) logs
//!   `... [id "<id>"] ...`;
//! * a request containing `drop_needle` is answered by closing the connection;
//! * a request containing `block_needle` is answered `403` without reaching the upstream.
//!
//! One request per connection (the runner always sends `Connection: close` or one request).

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A fake rule: log `id` when `needle` occurs in the request.
#[derive(Debug, Clone)]
pub struct FakeRule {
    pub needle: Vec<u8>,
    pub id: u64,
}

/// Behaviour of the fake gateway.
#[derive(Debug, Clone)]
pub struct FakeGatewayOptions {
    pub upstream: SocketAddr,
    pub error_log: PathBuf,
    pub rules: Vec<FakeRule>,
    pub drop_needle: Option<Vec<u8>>,
    pub block_needle: Option<Vec<u8>>,
}

/// A running fake gateway; stopped when dropped.
pub struct FakeGateway {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FakeGateway {
    /// Listens on `listen` and serves in background threads.
    pub fn start(listen: &str, opts: FakeGatewayOptions) -> io::Result<FakeGateway> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        // Create the log up front, like a real gateway opening its error log.
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&opts.error_log)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let shared = Arc::new((opts, Mutex::new(())));
        let handle = std::thread::Builder::new()
            .name("fake-gateway".to_string())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop_flag.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = Arc::clone(&shared);
                    let _ = std::thread::Builder::new().spawn(move || {
                        let (opts, log_lock) = &*shared;
                        let _ = serve(stream, opts, log_lock);
                    });
                }
            })?;
        Ok(FakeGateway {
            addr,
            stop,
            handle: Some(handle),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until the accept loop ends (for a command-line stand-in).
    pub fn join(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request: the head, then a Content-Length body (best effort).
fn read_request(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut data = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(&data, b"\r\n\r\n") {
            break Some(i + 4);
        }
        match stream.read(&mut chunk) {
            Ok(0) => break None,
            Ok(n) => data.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
            Err(_) => break None,
        }
    };
    let Some(head_end) = head_end else {
        return Ok(data);
    };
    let head = String::from_utf8_lossy(data.get(..head_end).unwrap_or(&[])).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => data.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
        }
    }
    Ok(data)
}

fn marker_value(request: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(request);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("x-crs-test")
            .then(|| value.trim().to_string())
    })
}

fn append_log(opts: &FakeGatewayOptions, lock: &Mutex<()>, lines: &[String]) -> io::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&opts.error_log)?;
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    f.write_all(text.as_bytes())?;
    f.flush()
}

/// Reads the upstream's response: head, then Content-Length body or until close.
fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut data = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(i) = find(&data, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(data.get(..i).unwrap_or(&[])).to_ascii_lowercase();
            if let Some(len) = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
            {
                if data.len() >= i + 4 + len {
                    data.truncate(i + 4 + len);
                    return data;
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return data,
            Ok(n) => data.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
        }
    }
}

fn serve(mut client: TcpStream, opts: &FakeGatewayOptions, lock: &Mutex<()>) -> io::Result<()> {
    let request = read_request(&mut client)?;
    if request.is_empty() {
        return Ok(());
    }
    let mut lines = Vec::new();
    if let Some(v) = marker_value(&request) {
        lines.push(format!(
            "[client 127.0.0.1] ModSecurity: Warning. Matched \"Operator `Rx' with parameter `^.*$' against variable `REQUEST_HEADERS:X-CRS-Test' (Value: `{v}' ) [id \"999999\"] [msg \"X-CRS-Test {v}\"]"
        ));
    } else {
        for rule in &opts.rules {
            if find(&request, &rule.needle).is_some() {
                lines.push(format!(
                    "[client 127.0.0.1] ModSecurity: Warning. Matched fake rule [id \"{}\"] [msg \"fake\"]",
                    rule.id
                ));
            }
        }
    }
    append_log(opts, lock, &lines)?;
    if opts
        .drop_needle
        .as_ref()
        .is_some_and(|n| find(&request, n).is_some())
    {
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    if opts
        .block_needle
        .as_ref()
        .is_some_and(|n| find(&request, n).is_some())
    {
        client.write_all(
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\n\r\nForbidden",
        )?;
        return Ok(());
    }
    let mut upstream = TcpStream::connect_timeout(&opts.upstream, Duration::from_secs(3))?;
    upstream.write_all(&request)?;
    let response = read_response(&mut upstream);
    if response.is_empty() {
        client.write_all(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
    } else {
        client.write_all(&response)?;
    }
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

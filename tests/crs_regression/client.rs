//! Sends one request over a fresh TCP connection and reads the response the way go-ftw's
//! `ftwhttp` does: an error is reported when no valid status line and header section arrive
//! (connection refused, closed early, timeout, malformed answer); the body is then read as far
//! as it goes.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Timeouts of one exchange.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// go-ftw's `ConnectTimeout` (3 s).
    pub connect: Duration,
    /// Deadline for the whole response, counted from the end of sending.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            read: Duration::from_secs(5),
        }
    }
}

/// A response as read from the wire.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// All bytes received (status line, headers, body as sent).
    pub raw: Vec<u8>,
    /// Header fields.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` to `addr` and reads one response.
pub fn exchange(
    addr: SocketAddr,
    request: &[u8],
    timeouts: Timeouts,
) -> Result<HttpResponse, String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeouts.connect)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(timeouts.read))
        .map_err(|e| format!("socket error: {e}"))?;
    // A server that answers early (e.g. 413) and closes may make the write fail; the answer
    // is still read when there is one.
    let write_error = stream.write_all(request).and_then(|_| stream.flush()).err();
    let head_request = request.starts_with(b"HEAD ");
    let mut reader = DeadlineReader::new(stream, Instant::now() + timeouts.read);
    match read_response(&mut reader, head_request) {
        Ok(resp) => {
            let _ = reader.stream.shutdown(Shutdown::Both);
            Ok(resp)
        }
        Err(e) => Err(match write_error {
            Some(w) => format!("failed sending request: {w}; {e}"),
            None => e,
        }),
    }
}

/// A reader that enforces one deadline across many reads and keeps every byte read.
struct DeadlineReader {
    stream: TcpStream,
    deadline: Instant,
    buf: Vec<u8>,
    pos: usize,
    raw: Vec<u8>,
    eof: bool,
}

impl DeadlineReader {
    fn new(stream: TcpStream, deadline: Instant) -> DeadlineReader {
        DeadlineReader {
            stream,
            deadline,
            buf: Vec::new(),
            pos: 0,
            raw: Vec::new(),
            eof: false,
        }
    }

    /// Reads more bytes into the buffer; Ok(false) at end of stream.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let now = Instant::now();
        if now >= self.deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "read timeout"));
        }
        self.stream.set_read_timeout(Some(self.deadline - now))?;
        let mut chunk = [0u8; 16 * 1024];
        let n = match self.stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "read timeout"))
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        let data = chunk.get(..n).unwrap_or(&[]);
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
        self.raw.extend_from_slice(data);
        Ok(true)
    }

    /// One line without its line ending; None at end of stream before any byte.
    fn line(&mut self, max: usize) -> Result<Option<Vec<u8>>, String> {
        loop {
            let pending = self.buf.get(self.pos..).unwrap_or(&[]);
            if let Some(i) = pending.iter().position(|&b| b == b'\n') {
                let mut line = pending.get(..i).unwrap_or(&[]).to_vec();
                self.pos += i + 1;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            let pending_len = pending.len();
            if pending_len > max {
                return Err("response line too long".to_string());
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => {
                    return if pending_len == 0 {
                        Ok(None)
                    } else {
                        Err("unexpected EOF".to_string())
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Up to `n` bytes (fewer at end of stream or on error).
    fn take(&mut self, n: usize) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(n.min(1 << 20));
        while out.len() < n {
            let available = self.buf.len().saturating_sub(self.pos);
            if available > 0 {
                let k = available.min(n - out.len());
                out.extend_from_slice(self.buf.get(self.pos..self.pos + k).unwrap_or(&[]));
                self.pos += k;
                continue;
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) | Err(_) => return (out, false),
            }
        }
        (out, true)
    }

    fn rest(&mut self) -> Vec<u8> {
        let mut out = self.buf.get(self.pos..).unwrap_or(&[]).to_vec();
        self.pos = self.buf.len();
        while let Ok(true) = self.fill() {
            out.extend_from_slice(self.buf.get(self.pos..).unwrap_or(&[]));
            self.pos = self.buf.len();
        }
        out
    }
}

/// Go's `http.ParseHTTPVersion`.
fn valid_http_version(v: &[u8]) -> bool {
    match v {
        b"HTTP/1.0" | b"HTTP/1.1" => true,
        _ => {
            let Some(rest) = v.strip_prefix(b"HTTP/") else {
                return false;
            };
            let Some(dot) = rest.iter().position(|&b| b == b'.') else {
                return false;
            };
            let (major, minor) = (
                rest.get(..dot).unwrap_or(&[]),
                rest.get(dot + 1..).unwrap_or(&[]),
            );
            let num = |s: &[u8]| !s.is_empty() && s.len() <= 6 && s.iter().all(u8::is_ascii_digit);
            num(major) && num(minor)
        }
    }
}

fn read_response(reader: &mut DeadlineReader, head_request: bool) -> Result<HttpResponse, String> {
    let status_line = reader
        .line(64 * 1024)?
        .ok_or_else(|| "EOF: connection closed without a response".to_string())?;
    // Go's http.ReadResponse: `proto SP code [SP reason]`.
    let sp = status_line.iter().position(|&b| b == b' ').ok_or_else(|| {
        format!(
            "malformed HTTP response {:?}",
            String::from_utf8_lossy(&status_line)
        )
    })?;
    let proto = status_line.get(..sp).unwrap_or(&[]);
    let after = status_line.get(sp + 1..).unwrap_or(&[]);
    let after: &[u8] = {
        let skip = after.iter().take_while(|&&b| b == b' ').count();
        after.get(skip..).unwrap_or(&[])
    };
    let code = after.split(|&b| b == b' ').next().unwrap_or(&[]);
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "malformed HTTP status code {:?}",
            String::from_utf8_lossy(code)
        ));
    }
    let status: u16 = std::str::from_utf8(code)
        .ok()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "malformed HTTP status code".to_string())?;
    if !valid_http_version(proto) {
        return Err(format!(
            "malformed HTTP version {:?}",
            String::from_utf8_lossy(proto)
        ));
    }

    let mut headers = Vec::new();
    let mut header_bytes = 0usize;
    loop {
        let line = reader
            .line(64 * 1024)?
            .ok_or_else(|| "unexpected EOF in response headers".to_string())?;
        if line.is_empty() {
            break;
        }
        header_bytes += line.len();
        if header_bytes > 1 << 20 {
            return Err("response headers too large".to_string());
        }
        if let [b' ' | b'\t', ..] = line.as_slice() {
            match headers.last_mut() {
                Some((_, value)) => {
                    let v: &mut String = value;
                    v.push(' ');
                    v.push_str(String::from_utf8_lossy(&line).trim());
                    continue;
                }
                None => return Err("malformed MIME header initial line".to_string()),
            }
        }
        let colon = line.iter().position(|&b| b == b':').ok_or_else(|| {
            format!(
                "malformed MIME header line: {}",
                String::from_utf8_lossy(&line)
            )
        })?;
        let name = String::from_utf8_lossy(line.get(..colon).unwrap_or(&[])).into_owned();
        let value = String::from_utf8_lossy(line.get(colon + 1..).unwrap_or(&[]))
            .trim()
            .to_string();
        headers.push((name, value));
    }

    let mut resp = HttpResponse {
        status,
        raw: Vec::new(),
        headers,
        body: Vec::new(),
    };
    let no_body = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    if !no_body {
        let chunked = resp
            .header("Transfer-Encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        let length = resp
            .header("Content-Length")
            .and_then(|l| l.trim().parse::<usize>().ok());
        resp.body = if chunked {
            read_chunked_body(reader)
        } else if let Some(n) = length {
            reader.take(n).0
        } else {
            reader.rest()
        };
    }
    resp.raw = std::mem::take(&mut reader.raw);
    Ok(resp)
}

/// Best-effort chunked decoding: stops at the first framing problem or end of stream.
fn read_chunked_body(reader: &mut DeadlineReader) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Ok(Some(line)) = reader.line(4096) else {
            return body;
        };
        let size_text = String::from_utf8_lossy(&line);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return body;
        };
        if size == 0 {
            // Trailers.
            while let Ok(Some(l)) = reader.line(64 * 1024) {
                if l.is_empty() {
                    break;
                }
            }
            return body;
        }
        let (chunk, complete) = reader.take(size);
        body.extend_from_slice(&chunk);
        if !complete || !matches!(reader.line(2), Ok(Some(ref l)) if l.is_empty()) {
            return body;
        }
    }
}

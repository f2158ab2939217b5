//! Keeping request lines the WAF must see but Pingora's HTTP parser would refuse.
//!
//! Pingora builds an `http::Uri` from each request-target and answers 400 to targets with
//! bytes the `http` crate refuses (`"`, `<`, `>`, a backtick, control bytes, invalid UTF-8)
//! and to request lines with an HTTP version other than 1.0/1.1. nginx passes such requests
//! to ModSecurity, and attacks use exactly these bytes (`?q=<script>`), so the WAF must see
//! them as sent. [`RawLineStream`] sits between the socket and Pingora's HTTP/1 parser: it
//! percent-encodes those bytes in the request-target (and rewrites an unsupported version to
//! `HTTP/1.1`) before Pingora parses the line, and records the original target and version
//! so the WAF inspects the request as the client sent it. The upstream receives the
//! percent-encoded target, which decodes to the same resource.
//!
//! To find every request line of a keep-alive connection it follows HTTP/1 framing:
//! `Content-Length` bodies are skipped; after a chunked body, an `Upgrade` request or
//! anything it does not understand, the rest of the connection passes through unchanged.
//!
//! The stream also carries two things the WAF needs per HTTP/1 connection ([`ConnShared`]):
//!
//! - an **output gate**: while the WAF holds a response back for phase 4, the response
//!   header Pingora writes is kept in memory ([`ConnShared::hold`]); when phase 4 allows the
//!   body it goes out in front of it ([`ConnShared::release`]), when phase 4 blocks it is
//!   replaced by the WAF's own response ([`ConnShared::replace`]), so the client gets the
//!   WAF's status instead of a truncated `200`;
//! - a **reuse slot**: a request whose body the WAF replayed runs on a custom Pingora session
//!   ([`super::replay::ReplaySession`]) that Pingora cannot return to its keep-alive loop; the
//!   replay session puts the reusable connection here and [`RawLineApp`] hands it back to
//!   Pingora, so the client connection stays open for the next request.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::apps::ServerApp;
use pingora_core::protocols::raw_connect::ProxyDigest;
use pingora_core::protocols::{GetProxyDigest, GetSocketDigest, GetTimingDigest, SocketDigest, TimingDigest};
use pingora_core::protocols::tls::{SslDigest, TlsRef};
use pingora_core::protocols::{Peek, Shutdown, Ssl, Stream, UniqueID, UniqueIDType, ALPN};
use pingora_core::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the client really sent for one request whose line was rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalLine {
    /// The target as Pingora sees it (percent-encoded).
    pub escaped_target: Vec<u8>,
    /// The target as sent.
    pub raw_target: Vec<u8>,
    /// The version token as sent, when it was not HTTP/1.0 or HTTP/1.1 (`None` otherwise;
    /// an empty vector for a request line without a version, i.e. HTTP/0.9).
    pub raw_version: Option<Vec<u8>>,
}

/// Longest request line or header line followed before giving up (passing through).
const MAX_LINE: usize = 64 * 1024;
/// Largest header block followed before giving up.
const MAX_HEADERS: usize = 1024 * 1024;

#[derive(Debug)]
enum State {
    /// Expecting a request line (or blank lines between requests).
    Line,
    Headers { content_length: Option<u64>, chunked: bool, upgrade: bool, size: usize },
    Body(u64),
    Passthrough,
}

/// Bytes Pingora's parser (the `http` crate) refuses in a request-target, and `#`, which
/// Pingora silently drops with what follows (a fragment has no place in a request-target:
/// the WAF must see it, the gateway then refuses the request).
fn refused(b: u8) -> bool {
    matches!(b, b'"' | b'<' | b'>' | b'`' | b'#' | 0x7f) || b < 0x20
}

/// Percent-encodes what the parser would refuse; `None` when nothing needs it.
pub fn escape_target(target: &[u8]) -> Option<Vec<u8>> {
    let invalid_utf8 = std::str::from_utf8(target).is_err();
    let needs = |b: u8| refused(b) || (invalid_utf8 && b >= 0x80);
    if !target.iter().any(|&b| needs(b)) {
        return None;
    }
    let mut out = Vec::with_capacity(target.len() + 16);
    for &b in target {
        if needs(b) {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    Some(out)
}

/// Rewrites one request line (without its line end). Returns the line to pass on and, when
/// it changed, the original target and version.
fn rewrite_line(line: &[u8]) -> (Vec<u8>, Option<OriginalLine>, bool) {
    // METHOD SP TARGET [SP VERSION]
    let Some(sp1) = line.iter().position(|&b| b == b' ') else { return (line.to_vec(), None, false) };
    let method = &line[..sp1];
    if method.is_empty() || !method.iter().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b)) {
        return (line.to_vec(), None, false);
    }
    let rest = &line[sp1 + 1..];
    let (target, version) = match rest.iter().rposition(|&b| b == b' ') {
        Some(sp2) => (&rest[..sp2], Some(&rest[sp2 + 1..])),
        // `GET /`: an HTTP/0.9 request line.
        None => (rest, None),
    };
    if method == b"PRI" && target == b"*" {
        // HTTP/2 prior-knowledge preface: not ours.
        return (line.to_vec(), None, true);
    }
    // Only well-formed lines are rewritten: `HTTP/<major>.<minor>` with a version Pingora
    // does not speak (2 and above over HTTP/1 framing) is kept for the WAF and answered 505;
    // malformed versions, HTTP/0.x and targets with spaces are left to Pingora (400).
    // `GET / ` (a trailing space, no version) is an HTTP/0.9 request line too.
    let version = version.filter(|v| !v.is_empty());
    if let Some(v) = version {
        let ok_shape = v.len() == 8 && v.starts_with(b"HTTP/") && v[5].is_ascii_digit() && v[6] == b'.' && v[7].is_ascii_digit();
        if !ok_shape || v[5] == b'0' {
            return (line.to_vec(), None, false);
        }
        if target.contains(&b' ') {
            // Pingora would percent-encode the spaces and accept the line; a request-target
            // cannot contain spaces (RFC 9112 §3), so make sure it is refused (400).
            return (b"INVALID REQUEST-LINE".to_vec(), None, false);
        }
    }
    let escaped = escape_target(target);
    let version_ok = matches!(version, Some(b"HTTP/1.1") | Some(b"HTTP/1.0"));
    if escaped.is_none() && version_ok {
        return (line.to_vec(), None, false);
    }
    let new_target = escaped.clone().unwrap_or_else(|| target.to_vec());
    let mut out = Vec::with_capacity(line.len() + 16);
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(&new_target);
    out.push(b' ');
    out.extend_from_slice(if version_ok { version.unwrap_or(b"HTTP/1.1") } else { b"HTTP/1.1" });
    let original = OriginalLine {
        escaped_target: new_target,
        raw_target: target.to_vec(),
        raw_version: if version_ok { None } else { Some(version.unwrap_or(b"").to_vec()) },
    };
    (out, Some(original), false)
}

/// The per-connection record of rewritten request lines, read by the WAF.
#[derive(Debug, Default)]
pub struct Originals(Mutex<VecDeque<OriginalLine>>);

impl Originals {
    fn push(&self, o: OriginalLine) {
        if let Ok(mut q) = self.0.lock() {
            if q.len() >= 64 {
                q.pop_front();
            }
            q.push_back(o);
        }
    }

    /// The original of the request whose target Pingora parsed as `escaped_target`.
    pub fn take(&self, escaped_target: &[u8]) -> Option<OriginalLine> {
        let mut q = self.0.lock().ok()?;
        let pos = q.iter().position(|o| o.escaped_target == escaped_target)?;
        // Requests are handled in order: older entries can no longer be claimed.
        let o = q.remove(pos);
        q.drain(..pos);
        o
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum GateMode {
    /// Writes pass (after whatever is still held).
    #[default]
    Open,
    /// Writes are kept in memory.
    Hold,
    /// The held bytes were replaced; later writes are discarded.
    Replace,
}

#[derive(Debug, Default)]
struct Gate {
    mode: GateMode,
    /// Bytes still to be written to the client before anything else.
    held: Vec<u8>,
    pos: usize,
}

/// Per-connection state shared by the stream, the WAF and the replay session.
#[derive(Debug, Default)]
pub struct ConnShared {
    originals: Originals,
    /// Fast path: false while the gate is open and holds nothing.
    gated: std::sync::atomic::AtomicBool,
    gate: Mutex<Gate>,
    reusable: Mutex<Option<Stream>>,
    reuse_allowed: std::sync::atomic::AtomicBool,
}

impl ConnShared {
    /// The rewritten request lines of this connection.
    pub fn originals(&self) -> &Originals {
        &self.originals
    }

    fn set_gate(&self, f: impl FnOnce(&mut Gate)) {
        if let Ok(mut g) = self.gate.lock() {
            f(&mut g);
            let gated = g.mode != GateMode::Open || g.pos < g.held.len();
            self.gated.store(gated, std::sync::atomic::Ordering::Release);
        }
    }

    /// From now on, keep what is written to the client in memory.
    pub fn hold(&self) {
        self.set_gate(|g| {
            if g.mode == GateMode::Open && g.pos >= g.held.len() {
                g.held.clear();
                g.pos = 0;
            }
            g.mode = GateMode::Hold;
        });
    }

    /// Whether writes are being held.
    pub fn is_holding(&self) -> bool {
        self.gate.lock().map(|g| g.mode == GateMode::Hold).unwrap_or(false)
    }

    /// Let writes pass again; what was held goes out first, with the next write or flush.
    pub fn release(&self) {
        self.set_gate(|g| {
            if g.mode == GateMode::Hold {
                g.mode = GateMode::Open;
            }
        });
    }

    /// Discard what was held and send `response` instead; everything written afterwards
    /// on this connection is discarded (the connection must be closed after it).
    pub fn replace(&self, response: Vec<u8>) {
        self.set_gate(|g| {
            g.mode = GateMode::Replace;
            g.held = response;
            g.pos = 0;
        });
    }

    /// The request on a replayed session went well: its connection may be kept alive.
    pub fn allow_reuse(&self) {
        self.reuse_allowed.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether [`ConnShared::allow_reuse`] was called since the last call (and resets it).
    pub fn take_reuse_allowed(&self) -> bool {
        self.reuse_allowed.swap(false, std::sync::atomic::Ordering::AcqRel)
    }

    /// Leaves a connection that Pingora could not reuse itself for [`RawLineApp`] to hand
    /// back to Pingora's keep-alive loop.
    pub fn put_reusable(&self, stream: Stream) {
        if let Ok(mut r) = self.reusable.lock() {
            *r = Some(stream);
        }
    }

    fn take_reusable(&self) -> Option<Stream> {
        self.reusable.lock().ok()?.take()
    }
}

/// A client connection whose request lines are made acceptable to Pingora.
#[derive(Debug)]
pub struct RawLineStream {
    inner: Stream,
    state: State,
    line: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
    shared: Arc<ConnShared>,
}

impl RawLineStream {
    pub fn new(inner: Stream) -> RawLineStream {
        RawLineStream {
            inner,
            state: State::Line,
            line: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            eof: false,
            shared: Arc::new(ConnShared::default()),
        }
    }

    /// The state shared with the WAF.
    pub fn shared(&self) -> &Arc<ConnShared> {
        &self.shared
    }

    /// Writes what the gate still holds for the client (open or replaced gate). `Ready(Ok)`
    /// once nothing is left.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.shared.gated.load(std::sync::atomic::Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        let shared = self.shared.clone();
        let Ok(mut g) = shared.gate.lock() else { return Poll::Ready(Err(io::Error::other("gate lock poisoned"))) };
        if g.mode == GateMode::Hold {
            return Poll::Ready(Ok(()));
        }
        while g.pos < g.held.len() {
            let pos = g.pos;
            match Pin::new(&mut self.inner).poll_write(cx, &g.held[pos..]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => g.pos += n,
            }
        }
        if g.mode == GateMode::Open {
            g.held = Vec::new();
            g.pos = 0;
            shared.gated.store(false, std::sync::atomic::Ordering::Release);
        }
        Poll::Ready(Ok(()))
    }

    /// What the gate does with a write of `len` bytes: `None` to pass it on, `Some(n)` when
    /// it was taken care of (held or discarded).
    fn gate_write(&mut self, buf: &[u8]) -> Option<usize> {
        if !self.shared.gated.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        let mut g = self.shared.gate.lock().ok()?;
        match g.mode {
            GateMode::Open => None,
            GateMode::Hold => {
                g.held.extend_from_slice(buf);
                Some(buf.len())
            }
            GateMode::Replace => Some(buf.len()),
        }
    }

    fn give_up(&mut self) {
        self.out.append(&mut self.line);
        self.state = State::Passthrough;
    }

    /// Runs bytes read from the client through the framing state machine into `out`.
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.state {
                State::Passthrough => {
                    self.out.extend_from_slice(data);
                    return;
                }
                State::Body(n) => {
                    let k = (*n).min(data.len() as u64) as usize;
                    self.out.extend_from_slice(&data[..k]);
                    *n -= k as u64;
                    data = &data[k..];
                    if *n == 0 {
                        self.state = State::Line;
                    }
                }
                State::Line => {
                    match memchr::memchr(b'\n', data) {
                        None => {
                            self.line.extend_from_slice(data);
                            if self.line.len() > MAX_LINE {
                                self.give_up();
                            }
                            return;
                        }
                        Some(nl) => {
                            self.line.extend_from_slice(&data[..=nl]);
                            data = &data[nl + 1..];
                            let line = std::mem::take(&mut self.line);
                            let body = line.strip_suffix(b"\n").unwrap_or(&line);
                            let (body, cr) = match body.strip_suffix(b"\r") {
                                Some(b) => (b, true),
                                None => (body, false),
                            };
                            if body.is_empty() {
                                // blank line between pipelined requests
                                self.out.extend_from_slice(&line);
                                continue;
                            }
                            let (new, original, h2) = rewrite_line(body);
                            self.out.extend_from_slice(&new);
                            self.out.extend_from_slice(if cr { b"\r\n" } else { b"\n" });
                            if let Some(o) = original {
                                self.shared.originals.push(o);
                            }
                            self.state = if h2 {
                                State::Passthrough
                            } else {
                                State::Headers { content_length: None, chunked: false, upgrade: false, size: 0 }
                            };
                        }
                    }
                }
                State::Headers { .. } => match memchr::memchr(b'\n', data) {
                    None => {
                        self.line.extend_from_slice(data);
                        if self.line.len() > MAX_LINE {
                            self.give_up();
                        }
                        return;
                    }
                    Some(nl) => {
                        self.line.extend_from_slice(&data[..=nl]);
                        data = &data[nl + 1..];
                        let line = std::mem::take(&mut self.line);
                        self.out.extend_from_slice(&line);
                        let State::Headers { content_length, chunked, upgrade, size } = &mut self.state else { continue };
                        *size += line.len();
                        let l = line.strip_suffix(b"\n").unwrap_or(&line);
                        let l = l.strip_suffix(b"\r").unwrap_or(l);
                        if l.is_empty() {
                            self.state = if *chunked || *upgrade {
                                State::Passthrough
                            } else {
                                match content_length {
                                    Some(n) if *n > 0 => State::Body(*n),
                                    _ => State::Line,
                                }
                            };
                            continue;
                        }
                        if *size > MAX_HEADERS {
                            self.state = State::Passthrough;
                            continue;
                        }
                        if let Some(colon) = l.iter().position(|&b| b == b':') {
                            let name = l[..colon].trim_ascii();
                            let value = l[colon + 1..].trim_ascii();
                            if name.eq_ignore_ascii_case(b"content-length") {
                                match std::str::from_utf8(value).ok().and_then(|v| v.parse::<u64>().ok()) {
                                    Some(n) if content_length.is_none_or(|c| c == n) => *content_length = Some(n),
                                    // Conflicting or invalid: Pingora rejects it; stop following.
                                    _ => self.state = State::Passthrough,
                                }
                            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                                *chunked = true;
                            } else if name.eq_ignore_ascii_case(b"upgrade") {
                                *upgrade = true;
                            }
                        }
                    }
                },
            }
        }
    }
}

impl AsyncRead for RawLineStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.out_pos < this.out.len() {
                let n = (this.out.len() - this.out_pos).min(buf.remaining());
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if matches!(this.state, State::Passthrough) && this.line.is_empty() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut tmp = [0u8; 8192];
            let mut rb = ReadBuf::new(&mut tmp);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let got = rb.filled();
                    if got.is_empty() {
                        // End of stream: hand over what is left as it is.
                        this.eof = true;
                        let rest = std::mem::take(&mut this.line);
                        this.out.extend_from_slice(&rest);
                        continue;
                    }
                    let got = got.to_vec();
                    this.feed(&got);
                }
            }
        }
    }
}

impl AsyncWrite for RawLineStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.shared.gated.load(std::sync::atomic::Ordering::Acquire) {
            if let Some(n) = this.gate_write(buf) {
                // Held or discarded; a replaced response goes out now.
                return match this.poll_drain(cx) {
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    _ => Poll::Ready(Ok(n)),
                };
            }
            match this.poll_drain(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.shared.gated.load(std::sync::atomic::Ordering::Acquire) && this.shared.is_holding() {
            // Nothing of the held bytes may reach the client yet.
            return Poll::Ready(Ok(()));
        }
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // Held bytes of a response that never completed are dropped; a replacement is sent.
        this.shared.set_gate(|g| {
            if g.mode == GateMode::Hold {
                g.mode = GateMode::Replace;
                g.held.clear();
                g.pos = 0;
            }
        });
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => {}
            Poll::Pending => return Poll::Pending,
        }
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(_) => {}
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        if self.shared.gated.load(std::sync::atomic::Ordering::Acquire) {
            let first = bufs.iter().find(|b| !b.is_empty()).map(|b| &**b).unwrap_or(&[]);
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for RawLineStream {
    async fn shutdown(&mut self) {
        if self.shared.gated.load(std::sync::atomic::Ordering::Acquire) {
            let _ = tokio::io::AsyncWriteExt::shutdown(self).await;
            return;
        }
        self.inner.shutdown().await
    }
}

impl UniqueID for RawLineStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for RawLineStream {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for RawLineStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for RawLineStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for RawLineStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, socket_digest: SocketDigest) {
        self.inner.set_socket_digest(socket_digest)
    }
}

#[async_trait]
impl Peek for RawLineStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        if self.out.is_empty() && self.line.is_empty() {
            self.inner.try_peek(buf).await
        } else {
            Ok(false)
        }
    }
}

/// The original request line Pingora saw as `escaped_target`, if the stream rewrote it.
pub fn original_line(stream: Option<&Stream>, escaped_target: &[u8]) -> Option<OriginalLine> {
    let s = stream?.as_any().downcast_ref::<RawLineStream>()?;
    s.shared.originals.take(escaped_target)
}

/// The shared state of an HTTP/1 client connection wrapped by [`RawLineApp`].
pub fn conn_shared(stream: Option<&Stream>) -> Option<Arc<ConnShared>> {
    let s = stream?.as_any().downcast_ref::<RawLineStream>()?;
    Some(s.shared.clone())
}

/// A `ServerApp` that wraps HTTP/1 client connections in [`RawLineStream`].
pub struct RawLineApp<A> {
    inner: Arc<A>,
}

impl<A> RawLineApp<A> {
    pub fn new(inner: A) -> RawLineApp<A> {
        RawLineApp { inner: Arc::new(inner) }
    }

    pub fn inner(&self) -> &A {
        &self.inner
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for RawLineApp<A> {
    async fn process_new(self: &Arc<Self>, session: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let is_h2 = matches!(session.selected_alpn_proto(), Some(ALPN::H2));
        let (stream, shared): (Stream, Option<Arc<ConnShared>>) = if is_h2 {
            (session, None)
        } else if let Some(s) = session.as_any().downcast_ref::<RawLineStream>() {
            let shared = s.shared.clone();
            (session, Some(shared))
        } else {
            let s = RawLineStream::new(session);
            let shared = s.shared.clone();
            (Box::new(s), Some(shared))
        };
        match self.inner.process_new(stream, shutdown).await {
            Some(s) => Some(s),
            // A connection a custom session finished with: back to Pingora's keep-alive loop
            // (Pingora's service loop calls process_new again with it).
            None if !*shutdown.borrow() => shared.and_then(|s| s.take_reusable()),
            None => None,
        }
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_only_what_the_parser_refuses() {
        assert_eq!(escape_target(b"/a?b=c"), None);
        assert_eq!(escape_target(b"/?q={x}|^\\"), None);
        assert_eq!(escape_target("/caf\u{e9}".as_bytes()), None, "valid UTF-8 stays raw");
        assert_eq!(escape_target(b"/?a=<x>").as_deref(), Some(&b"/?a=%3Cx%3E"[..]));
        assert_eq!(escape_target(b"/?a=\"1\"").as_deref(), Some(&b"/?a=%221%22"[..]));
        assert_eq!(escape_target(b"/a`b").as_deref(), Some(&b"/a%60b"[..]));
        assert_eq!(escape_target(b"/a\xff").as_deref(), Some(&b"/a%FF"[..]));
    }

    #[test]
    fn rewrites_lines_and_records_originals() {
        let (l, o, _) = rewrite_line(b"GET /?a=<x> HTTP/1.1");
        assert_eq!(l, b"GET /?a=%3Cx%3E HTTP/1.1");
        let o = o.unwrap();
        assert_eq!(o.raw_target, b"/?a=<x>");
        assert_eq!(o.raw_version, None);
        let (l, o, _) = rewrite_line(b"GET / HTTP/4.0");
        assert_eq!(l, b"GET / HTTP/1.1");
        assert_eq!(o.unwrap().raw_version.as_deref(), Some(&b"HTTP/4.0"[..]));
        let (l, o, _) = rewrite_line(b"GET /");
        assert_eq!(l, b"GET / HTTP/1.1");
        assert_eq!(o.unwrap().raw_version.as_deref(), Some(&b""[..]));
        let (l, o, _) = rewrite_line(b"GET / ");
        assert_eq!(l, b"GET / HTTP/1.1");
        assert_eq!(o.unwrap().raw_version.as_deref(), Some(&b""[..]));
        let (l, _, _) = rewrite_line(b"GET /a b HTTP/1.1");
        assert_eq!(l, b"INVALID REQUEST-LINE", "spaces in the target are refused");
        let (l, o, _) = rewrite_line(b"GET /#frag HTTP/1.1");
        assert_eq!(l, b"GET /%23frag HTTP/1.1");
        assert_eq!(o.unwrap().raw_target, b"/#frag");
        for malformed in [&b"GET / HTTP/0.9"[..], b"GET / 1.1", b"GET / TEST", b"GET / JUNK/1.0", b"GET \\index.html HTTP\\1.0"] {
            let (l, o, _) = rewrite_line(malformed);
            assert_eq!((l.as_slice(), o), (malformed, None), "left to the parser: {:?}", String::from_utf8_lossy(malformed));
        }
        let (l, o, _) = rewrite_line(b"GET /ok HTTP/1.0");
        assert_eq!((l.as_slice(), o), (&b"GET /ok HTTP/1.0"[..], None));
        let (_, _, h2) = rewrite_line(b"PRI * HTTP/2.0");
        assert!(h2);
    }

    #[test]
    fn follows_framing_across_keep_alive_requests() {
        let mut s = RawLineStream::new(Box::new(tokio_test_stream()));
        let input = b"POST /a?x=<1> HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n<<<<<GET /b?y=\"2\" HTTP/1.1\r\nHost: h\r\n\r\n";
        // Feed in awkward pieces.
        for chunk in input.chunks(7) {
            s.feed(chunk);
        }
        let out = String::from_utf8(s.out.clone()).unwrap();
        assert_eq!(
            out,
            "POST /a?x=%3C1%3E HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n<<<<<GET /b?y=%222%22 HTTP/1.1\r\nHost: h\r\n\r\n"
        );
        assert_eq!(s.shared.originals.take(b"/b?y=%222%22").map(|o| o.raw_target), Some(b"/b?y=\"2\"".to_vec()));
        assert_eq!(s.shared.originals.take(b"/a?x=%3C1%3E"), None, "older entries are dropped once a later one is claimed");
    }

    #[test]
    fn chunked_bodies_end_the_rewriting() {
        let mut s = RawLineStream::new(Box::new(tokio_test_stream()));
        s.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n<a>\r\n0\r\n\r\nGET /<x> HTTP/1.1\r\n\r\n");
        let out = String::from_utf8(s.out.clone()).unwrap();
        assert!(out.ends_with("GET /<x> HTTP/1.1\r\n\r\n"), "{out}");
    }

    #[test]
    fn output_gate_holds_releases_and_replaces() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (a, b) = tokio::net::UnixStream::pair().unwrap();
            let mut s = RawLineStream::new(Box::new(pingora_core::protocols::l4::stream::Stream::from(a)));
            let mut peer = b;
            let shared = s.shared().clone();
            let mut got = Vec::new();
            async fn read_now(peer: &mut tokio::net::UnixStream, got: &mut Vec<u8>) {
                let mut buf = [0u8; 256];
                while let Ok(Ok(n)) = tokio::time::timeout(std::time::Duration::from_millis(50), peer.read(&mut buf)).await {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            }
            s.write_all(b"one ").await.unwrap();
            s.flush().await.unwrap();
            shared.hold();
            s.write_all(b"HEADER ").await.unwrap();
            s.flush().await.unwrap();
            read_now(&mut peer, &mut got).await;
            assert_eq!(got, b"one ", "held bytes stay back, also on flush");
            shared.release();
            s.write_all(b"BODY").await.unwrap();
            s.flush().await.unwrap();
            read_now(&mut peer, &mut got).await;
            assert_eq!(got, b"one HEADER BODY", "released bytes go first");
            shared.hold();
            s.write_all(b"LEAKED HEADER").await.unwrap();
            shared.replace(b"403".to_vec());
            s.write_all(b"LEAKED BODY").await.unwrap();
            AsyncWriteExt::shutdown(&mut s).await.unwrap();
            let mut rest = Vec::new();
            peer.read_to_end(&mut rest).await.unwrap();
            got.extend_from_slice(&rest);
            assert_eq!(got, b"one HEADER BODY403", "the replacement only, then EOF");
        });
    }

    fn tokio_test_stream() -> pingora_core::protocols::l4::stream::Stream {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _g = rt.enter();
        let u = tokio::net::UnixStream::from_std(a).unwrap();
        pingora_core::protocols::l4::stream::Stream::from(u)
    }
}

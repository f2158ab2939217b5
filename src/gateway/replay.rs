//! Replaying a request body that the WAF read before the upstream was contacted.
//!
//! Phase 2 must see the whole request body before any byte of it reaches the upstream, so
//! the WAF reads the body in `request_filter`. Pingora 0.9 forwards a body read there only
//! through its retry buffer, which holds at most 64 KiB. For larger bodies (and for bodies
//! the WAF inspected only partially, `SecRequestBodyLimitAction ProcessPartial`), the
//! downstream session is wrapped in [`ReplaySession`]: it hands Pingora the bytes the WAF
//! already read, then the rest of the body still to be read from the client, and delegates
//! everything else to the real session.
//!
//! Keep-alive: Pingora never reuses a custom session's connection. When the request went
//! well (the WAF's `logging` hook saw no error and no intervention and says so with
//! [`ConnShared::allow_reuse`]) and the response body was finished, the replay session, as
//! it is dropped, finishes the real HTTP/1 session itself (without waiting: everything has
//! been read and written by then, otherwise the connection is closed) and, if that session
//! may be kept alive (its own checks: the client's `Connection`, keep-alive settings, the
//! request body fully read), leaves the connection in the reuse slot of [`ConnShared`],
//! from where [`super::request_line::RawLineApp`] returns it to Pingora's keep-alive loop.
//! A response that says `Connection: close` (e.g. a WAF intervention) turns keep-alive off.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderMap;
use pingora_core::protocols::http::custom::server::Session as CustomSession;
use pingora_core::protocols::http::custom::CustomMessageWrite;
use pingora_core::protocols::http::{HttpTask, ServerSession};
use pingora_core::protocols::l4::socket::SocketAddr;
use pingora_core::protocols::Digest;
use pingora_error::Result;
use pingora_http::{RequestHeader, ResponseHeader};

use super::request_line::ConnShared;
use std::sync::Arc;

/// A downstream session whose first body bytes are replayed from memory.
pub struct ReplaySession {
    inner: ServerSession,
    /// Body bytes already read by the WAF, not yet given to the proxy.
    pending: Option<Bytes>,
    replayed_bytes: usize,
    /// Where a reusable connection is left when the request is finished.
    conn: Option<Arc<ConnShared>>,
    /// Times Pingora finished the response body through this session.
    finished: usize,
}

/// Whether a response header asks to close the connection.
fn says_close(resp: &ResponseHeader) -> bool {
    resp.headers.get_all(http::header::CONNECTION).iter().any(|v| {
        v.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

impl ReplaySession {
    /// Wraps `inner`, whose body has been read up to `prefix` (the rest, if any, is still
    /// unread). `conn`: the connection's shared state, to keep the connection alive after
    /// the request.
    pub fn new(inner: ServerSession, prefix: Bytes, conn: Option<Arc<ConnShared>>) -> ReplaySession {
        if let Some(c) = &conn {
            c.take_reuse_allowed();
        }
        ReplaySession { inner, pending: (!prefix.is_empty()).then_some(prefix), replayed_bytes: 0, conn, finished: 0 }
    }

    fn take_pending(&mut self) -> Option<Bytes> {
        let b = self.pending.take()?;
        self.replayed_bytes += b.len();
        Some(b)
    }
}

#[async_trait]
impl CustomSession for ReplaySession {
    fn req_header(&self) -> &RequestHeader {
        self.inner.req_header()
    }

    fn req_header_mut(&mut self) -> &mut RequestHeader {
        self.inner.req_header_mut()
    }

    async fn read_body_bytes(&mut self) -> Result<Option<Bytes>> {
        if let Some(b) = self.take_pending() {
            return Ok(Some(b));
        }
        self.inner.read_request_body().await
    }

    async fn drain_request_body(&mut self) -> Result<()> {
        self.pending = None;
        self.inner.drain_request_body().await
    }

    async fn write_response_header(&mut self, resp: Box<ResponseHeader>, _end: bool) -> Result<()> {
        if says_close(&resp) {
            self.inner.set_keepalive(None);
        }
        self.inner.write_response_header(resp).await
    }

    async fn write_response_header_ref(&mut self, resp: &ResponseHeader, _end: bool) -> Result<()> {
        if says_close(resp) {
            self.inner.set_keepalive(None);
        }
        self.inner.write_response_header_ref(resp).await
    }

    async fn write_body(&mut self, data: Bytes, end: bool) -> Result<()> {
        self.inner.write_response_body(data, end).await
    }

    async fn write_trailers(&mut self, trailers: HeaderMap) -> Result<()> {
        self.inner.write_response_trailers(trailers).await
    }

    async fn response_duplex_vec(&mut self, tasks: Vec<HttpTask>) -> Result<bool> {
        self.inner.response_duplex_vec(tasks).await
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_read_timeout(timeout)
    }

    fn get_read_timeout(&self) -> Option<Duration> {
        self.inner.get_read_timeout()
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_write_timeout(timeout)
    }

    fn get_write_timeout(&self) -> Option<Duration> {
        self.inner.get_write_timeout()
    }

    fn set_total_drain_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_total_drain_timeout(timeout)
    }

    fn get_total_drain_timeout(&self) -> Option<Duration> {
        self.inner.get_total_drain_timeout()
    }

    fn request_summary(&self) -> String {
        self.inner.request_summary()
    }

    fn response_written(&self) -> Option<&ResponseHeader> {
        self.inner.response_written()
    }

    async fn shutdown(&mut self, _code: u32, _ctx: &str) {
        self.inner.shutdown().await
    }

    fn is_body_done(&mut self) -> bool {
        self.pending.is_none() && self.inner.is_body_done()
    }

    async fn finish(&mut self) -> Result<()> {
        self.inner.finish_body().await?;
        self.finished += 1;
        Ok(())
    }

    fn is_body_empty(&mut self) -> bool {
        self.pending.is_none() && self.replayed_bytes == 0 && self.inner.is_body_empty()
    }

    async fn read_body_or_idle(&mut self, no_body_expected: bool) -> Result<Option<Bytes>> {
        if let Some(b) = self.take_pending() {
            return Ok(Some(b));
        }
        self.inner.read_body_or_idle(no_body_expected).await
    }

    fn body_bytes_sent(&self) -> usize {
        self.inner.body_bytes_sent()
    }

    fn body_bytes_read(&self) -> usize {
        self.inner.body_bytes_read()
    }

    fn digest(&self) -> Option<&Digest> {
        self.inner.digest()
    }

    fn digest_mut(&mut self) -> Option<&mut Digest> {
        self.inner.digest_mut()
    }

    fn client_addr(&self) -> Option<&SocketAddr> {
        self.inner.client_addr()
    }

    fn server_addr(&self) -> Option<&SocketAddr> {
        self.inner.server_addr()
    }

    fn pseudo_raw_h1_request_header(&self) -> Bytes {
        self.inner.to_h1_raw()
    }

    fn enable_retry_buffering(&mut self) {}

    fn retry_buffer_truncated(&self) -> bool {
        // The replayed bytes cannot be sent a second time: a retry must not happen.
        self.replayed_bytes > 0
    }

    fn get_retry_buffer(&self) -> Option<Bytes> {
        None
    }

    async fn finish_custom(&mut self) -> Result<()> {
        Ok(())
    }

    fn take_custom_message_reader(
        &mut self,
    ) -> Option<Box<dyn futures::Stream<Item = Result<Bytes>> + Unpin + Send + Sync + 'static>> {
        None
    }

    fn restore_custom_message_reader(
        &mut self,
        _reader: Box<dyn futures::Stream<Item = Result<Bytes>> + Unpin + Send + Sync + 'static>,
    ) -> Result<()> {
        Ok(())
    }

    fn take_custom_message_writer(&mut self) -> Option<Box<dyn CustomMessageWrite>> {
        None
    }

    fn restore_custom_message_writer(&mut self, _writer: Box<dyn CustomMessageWrite>) -> Result<()> {
        Ok(())
    }

    fn is_upgrade_req(&self) -> bool {
        self.inner.is_upgrade_req()
    }

    fn was_upgraded(&self) -> bool {
        self.inner.was_upgraded()
    }
}

impl Drop for ReplaySession {
    fn drop(&mut self) {
        use futures::FutureExt;
        let Some(conn) = self.conn.take() else { return };
        if self.finished == 0 || !conn.take_reuse_allowed() || self.inner.was_upgraded() {
            return;
        }
        // Pingora is done with this session (it is being dropped): nothing calls into the
        // placeholder left behind.
        let inner = std::mem::replace(&mut self.inner, ServerSession::new_custom(Box::new(())));
        // The body was read and the response written: finishing completes at once. If it
        // would have to wait, the connection is closed instead.
        if let Some(Ok(Some(reusable))) = inner.finish().now_or_never() {
            let (stream, pipelined) = reusable.into_parts();
            if pipelined.is_none_or(|p| p.is_empty()) {
                conn.put_reusable(stream);
            }
        }
    }
}

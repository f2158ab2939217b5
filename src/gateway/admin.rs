//! The admin listener: `GET /metrics` (Prometheus), `GET /healthz`, and
//! `POST /cache/purge?key=KEY` or `POST /cache/purge?prefix=PREFIX` (percent-encoded values;
//! the answer is `{"purged": N}`).

use super::Gateway;
use crate::metrics;
use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;
use std::sync::Arc;

/// The admin HTTP application.
pub struct Admin {
    gw: Arc<Gateway>,
}

impl Admin {
    /// Serve the admin endpoints of `gw`.
    pub fn new(gw: Arc<Gateway>) -> Admin {
        Admin { gw }
    }

    fn purge(&self, query: Option<&str>) -> (StatusCode, String) {
        let mut key = None;
        let mut prefix = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k {
                "key" => key = Some(v),
                "prefix" => prefix = Some(v),
                _ => {
                    return (
                        StatusCode::BAD_REQUEST,
                        format!("{{\"error\":\"unknown parameter {}\"}}\n", json_escape(k)),
                    )
                }
            }
        }
        let storage = self.gw.cache.storage;
        let purged =
            match (key, prefix) {
                (Some(k), None) => storage.purge_key(&k),
                (None, Some(p)) if !p.is_empty() => storage.purge_prefix(&p),
                _ => return (
                    StatusCode::BAD_REQUEST,
                    "{\"error\":\"give exactly one of key=KEY or prefix=PREFIX (non-empty)\"}\n"
                        .into(),
                ),
            };
        log::info!(
            "cache purge ({}): {purged} entries removed",
            query.unwrap_or("")
        );
        (StatusCode::OK, format!("{{\"purged\":{purged}}}\n"))
    }
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    let len = resp.body().len();
    resp.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    resp
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let method = req.method.clone();
        let path = req.uri.path().to_string();
        let query = req.uri.query().map(str::to_string);
        match (method, path.as_str()) {
            (Method::GET, "/metrics") => {
                reply(StatusCode::OK, metrics::CONTENT_TYPE, metrics::render())
            }
            (Method::GET, "/healthz") => {
                let state = self.gw.current();
                let body = format!("ok generation={}\n", state.generation);
                reply(StatusCode::OK, "text/plain", body.into_bytes())
            }
            (Method::POST, "/cache/purge") => {
                let (status, body) = self.purge(query.as_deref());
                reply(status, "application/json", body.into_bytes())
            }
            (_, "/metrics" | "/healthz" | "/cache/purge") => reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                b"method not allowed\n".to_vec(),
            ),
            _ => reply(StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec()),
        }
    }
}

/// Decode `%XX` escapes and `+` (as space); invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c if c.is_control() => vec![],
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%7Cb+c"), "a|b c");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(
            percent_decode("example.com%7C%2Fimg%2F"),
            "example.com|/img/"
        );
    }
}

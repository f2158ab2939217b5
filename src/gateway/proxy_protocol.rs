//! PROXY protocol (v1 text and v2 binary, HAProxy's specification) on TLS listeners.
//!
//! Pingora's `PreTlsProcess` hook reads the header from the raw TCP stream before the TLS
//! handshake; the source address it carries replaces the peer address in the connection's
//! socket digest, so `session.client_addr()` (and the WAF's `REMOTE_ADDR`) report the real
//! client. Bytes read past the header are put back with `rewind`. Pingora offers this hook
//! for TLS endpoints only, so plain listeners cannot use it (the config loader says so).

use async_trait::async_trait;
use pingora_core::listeners::PreTlsProcess;
use pingora_core::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora_core::protocols::l4::stream::Stream as L4Stream;
use pingora_core::protocols::{GetSocketDigest, SocketDigest};
use pingora_error::{Error, ErrorType, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::io::AsRawFd;
use std::time::Duration;
use tokio::io::AsyncReadExt;

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// v1 headers are at most 107 bytes; v2 at most 16 + 65535, but we accept up to 16 + 536.
const MAX_HEADER: usize = 16 + 536;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What a PROXY header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The original client (None for `UNKNOWN` / `LOCAL`: keep the TCP peer).
    pub source: Option<SocketAddr>,
    /// The original destination.
    pub destination: Option<SocketAddr>,
}

/// Parse a PROXY header at the start of `buf`: `Ok(None)` when more bytes are needed, else the
/// header and its length.
pub fn parse(buf: &[u8]) -> std::result::Result<Option<(ProxyHeader, usize)>, String> {
    if buf.len() < V2_SIGNATURE.len() {
        let prefix_ok =
            V2_SIGNATURE.starts_with(buf) || b"PROXY ".starts_with(&buf[..buf.len().min(6)]);
        return if prefix_ok {
            Ok(None)
        } else {
            Err("not a PROXY protocol header".into())
        };
    }
    if buf.starts_with(V2_SIGNATURE) {
        parse_v2(buf)
    } else if buf.starts_with(b"PROXY ") {
        parse_v1(buf)
    } else {
        Err("not a PROXY protocol header".into())
    }
}

fn parse_v1(buf: &[u8]) -> std::result::Result<Option<(ProxyHeader, usize)>, String> {
    let Some(end) = buf.windows(2).take(107).position(|w| w == b"\r\n") else {
        return if buf.len() >= 107 {
            Err("PROXY v1 header longer than 107 bytes".into())
        } else {
            Ok(None)
        };
    };
    let line = std::str::from_utf8(buf.get(..end).unwrap_or_default())
        .map_err(|_| "PROXY v1 header is not ASCII".to_string())?;
    let mut f = line.split(' ');
    let (_proxy, proto) = (f.next(), f.next());
    let unknown = ProxyHeader {
        source: None,
        destination: None,
    };
    let header = match proto {
        Some("UNKNOWN") => unknown,
        Some(p @ ("TCP4" | "TCP6")) => {
            let (src, dst, sport, dport) = (f.next(), f.next(), f.next(), f.next());
            let ip = |s: Option<&str>| -> std::result::Result<IpAddr, String> {
                let ip: IpAddr = s
                    .unwrap_or("")
                    .parse()
                    .map_err(|_| format!("bad address in {line:?}"))?;
                if ip.is_ipv4() != (p == "TCP4") {
                    return Err(format!("address family mismatch in {line:?}"));
                }
                Ok(ip)
            };
            let port = |s: Option<&str>| -> std::result::Result<u16, String> {
                s.unwrap_or("")
                    .parse()
                    .map_err(|_| format!("bad port in {line:?}"))
            };
            ProxyHeader {
                source: Some(SocketAddr::new(ip(src)?, port(sport)?)),
                destination: Some(SocketAddr::new(ip(dst)?, port(dport)?)),
            }
        }
        _ => return Err(format!("unsupported PROXY v1 line {line:?}")),
    };
    Ok(Some((header, end + 2)))
}

fn parse_v2(buf: &[u8]) -> std::result::Result<Option<(ProxyHeader, usize)>, String> {
    let Some(&[ver_cmd, fam, len_hi, len_lo]) = buf.get(12..16) else {
        return Ok(None);
    };
    if ver_cmd >> 4 != 2 {
        return Err("unsupported PROXY protocol version".into());
    }
    let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let total = 16 + len;
    if total > MAX_HEADER {
        return Err("PROXY v2 header too long".into());
    }
    let Some(body) = buf.get(16..total) else {
        return Ok(None);
    };
    let unknown = ProxyHeader {
        source: None,
        destination: None,
    };
    let header = match (ver_cmd & 0x0f, fam >> 4) {
        (0, _) => unknown, // LOCAL: health check from the proxy itself
        (1, 1) => {
            let a = body.get(..12).ok_or("short PROXY v2 IPv4 block")?;
            let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]));
            let port = |o: usize| u16::from_be_bytes([a[o], a[o + 1]]);
            ProxyHeader {
                source: Some(SocketAddr::new(ip(0), port(8))),
                destination: Some(SocketAddr::new(ip(4), port(10))),
            }
        }
        (1, 2) => {
            let a = body.get(..36).ok_or("short PROXY v2 IPv6 block")?;
            let ip = |o: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&a[o..o + 16]);
                IpAddr::V6(Ipv6Addr::from(b))
            };
            let port = |o: usize| u16::from_be_bytes([a[o], a[o + 1]]);
            ProxyHeader {
                source: Some(SocketAddr::new(ip(0), port(32))),
                destination: Some(SocketAddr::new(ip(16), port(34))),
            }
        }
        (1, _) => unknown, // AF_UNSPEC or AF_UNIX
        _ => return Err("unsupported PROXY v2 command".into()),
    };
    Ok(Some((header, total)))
}

/// The pre-TLS hook reading the PROXY header.
pub struct ProxyProtocol;

impl ProxyProtocol {
    async fn read_header(stream: &mut L4Stream) -> Result<ProxyHeader> {
        let mut buf = Vec::with_capacity(128);
        let mut chunk = [0u8; 256];
        loop {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| Error::because(ErrorType::ReadError, "reading PROXY header", e))?;
            if n == 0 {
                return Error::e_explain(
                    ErrorType::ConnectionClosed,
                    "closed before the PROXY header",
                );
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            match parse(&buf) {
                Ok(Some((header, used))) => {
                    if let Some(rest) = buf.get(used..) {
                        stream.rewind(rest);
                    }
                    return Ok(header);
                }
                Ok(None) if buf.len() < MAX_HEADER => continue,
                Ok(None) => {
                    return Error::e_explain(ErrorType::InvalidHTTPHeader, "PROXY header too long")
                }
                Err(e) => return Error::e_explain(ErrorType::InvalidHTTPHeader, e),
            }
        }
    }
}

#[async_trait]
impl PreTlsProcess for ProxyProtocol {
    async fn process(&self, stream: &mut L4Stream) -> Result<()> {
        let header = match tokio::time::timeout(READ_TIMEOUT, Self::read_header(stream)).await {
            Ok(h) => h?,
            Err(_) => {
                return Error::e_explain(ErrorType::ReadTimedout, "waiting for the PROXY header")
            }
        };
        if let Some(src) = header.source {
            let digest = SocketDigest::from_raw_fd(stream.as_raw_fd());
            let _ = digest.peer_addr.set(Some(PingoraAddr::Inet(src)));
            stream.set_socket_digest(digest);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1() {
        let h = b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\nGET";
        let (hdr, used) = parse(h)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no header"));
        assert_eq!(used, h.len() - 3);
        assert_eq!(hdr.source, "203.0.113.7:56324".parse().ok());
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), Ok(None));
        assert!(parse(b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n").is_err());
        let (u, _) = parse(b"PROXY UNKNOWN\r\n")
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("none"));
        assert_eq!(u.source, None);
        assert!(parse(b"GET / HTTP/1.1\r\n").is_err());
        assert_eq!(parse(b"PRO"), Ok(None));
    }

    #[test]
    fn v2() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[
            0x21, 0x11, 0, 12, 203, 0, 113, 7, 10, 0, 0, 1, 0xdc, 0x04, 0x01, 0xbb,
        ]);
        h.extend_from_slice(b"\x16\x03");
        let (hdr, used) = parse(&h)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no header"));
        assert_eq!(used, 28);
        assert_eq!(hdr.source, "203.0.113.7:56324".parse().ok());
        assert_eq!(parse(&h[..20]), Ok(None));
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        let (l, _) = parse(&local)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("none"));
        assert_eq!(l.source, None);
    }
}

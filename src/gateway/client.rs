//! The client address of a request: the TCP peer (or the source a PROXY protocol header gave),
//! replaced by the address in the listener's `client_ip_header` when the peer is a trusted
//! proxy.
//!
//! The header is read right to left (as nginx's `real_ip_recursive on`): trusted addresses are
//! skipped, and the first untrusted one is the client. A malformed entry stops the walk.

use super::ClientInfo;
use crate::config::{Cidr, ListenerConfig};
use http::HeaderName;
use pingora_core::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora_http::RequestHeader;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Per-listener client address settings.
#[derive(Debug, Clone)]
pub struct ClientAddrPolicy {
    trusted: Vec<Cidr>,
    header: Option<HeaderName>,
}

impl ClientAddrPolicy {
    /// From a listener's configuration.
    pub fn new(l: &ListenerConfig) -> ClientAddrPolicy {
        let header = if l.trusted_proxies.is_empty() {
            None
        } else {
            let name = l.client_ip_header.as_deref().unwrap_or("X-Forwarded-For");
            HeaderName::from_bytes(name.as_bytes()).ok()
        };
        ClientAddrPolicy {
            trusted: l.trusted_proxies.clone(),
            header,
        }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(ip))
    }

    /// Resolve the client of a request from its connection addresses and headers.
    pub fn resolve(
        &self,
        peer: Option<&PingoraAddr>,
        local: Option<&PingoraAddr>,
        req: &RequestHeader,
    ) -> ClientInfo {
        let unspecified = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        let peer = peer
            .and_then(|a| a.as_inet())
            .copied()
            .unwrap_or(unspecified);
        let local = local
            .and_then(|a| a.as_inet())
            .copied()
            .unwrap_or(unspecified);
        let mut info = ClientInfo {
            addr: canonical(peer.ip()),
            port: peer.port(),
            server_addr: canonical(local.ip()),
            server_port: local.port(),
        };
        let Some(header) = &self.header else {
            return info;
        };
        if !self.trusted(info.addr) {
            return info;
        }
        let mut found = None;
        'walk: for value in req.headers.get_all(header).iter().rev() {
            let Ok(value) = value.to_str() else {
                break;
            };
            for item in value.rsplit(',') {
                let Some(ip) = parse_forwarded_ip(item) else {
                    break 'walk;
                };
                found = Some(ip);
                if !self.trusted(ip) {
                    break 'walk;
                }
            }
        }
        if let Some(ip) = found {
            info.addr = ip;
            info.port = 0;
        }
        info
    }
}

/// IPv4-mapped IPv6 addresses are reported as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:80`, `"[::1]"`.
fn parse_forwarded_ip(item: &str) -> Option<IpAddr> {
    let s = item.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    s.strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .and_then(|(ip, _)| ip.parse::<IpAddr>().ok())
        .map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(trusted: &[&str]) -> ClientAddrPolicy {
        ClientAddrPolicy {
            trusted: trusted.iter().filter_map(|c| Cidr::parse(c).ok()).collect(),
            header: Some(HeaderName::from_static("x-forwarded-for")),
        }
    }

    fn resolve(p: &ClientAddrPolicy, peer: &str, xff: &[&str]) -> IpAddr {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap_or_else(|e| panic!("{e}"));
        for v in xff {
            let _ = req.append_header("X-Forwarded-For", *v);
        }
        let peer: SocketAddr = peer.parse().unwrap_or_else(|e| panic!("{e}"));
        p.resolve(Some(&PingoraAddr::Inet(peer)), None, &req).addr
    }

    #[test]
    fn trusted_proxy_header() {
        let p = policy(&["10.0.0.0/8", "127.0.0.1"]);
        let ip = |s: &str| {
            s.parse::<IpAddr>()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        };
        assert_eq!(
            resolve(&p, "127.0.0.1:5000", &["203.0.113.7"]),
            ip("203.0.113.7")
        );
        // rightmost untrusted wins; spoofed leftmost entries are ignored
        assert_eq!(
            resolve(&p, "127.0.0.1:5000", &["1.1.1.1, 203.0.113.7, 10.0.0.2"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            resolve(&p, "127.0.0.1:5000", &["1.1.1.1", "203.0.113.7:999"]),
            ip("203.0.113.7")
        );
        // untrusted peer: header ignored
        assert_eq!(
            resolve(&p, "192.0.2.1:5000", &["203.0.113.7"]),
            ip("192.0.2.1")
        );
        // garbage stops the walk
        assert_eq!(resolve(&p, "127.0.0.1:5000", &["bogus"]), ip("127.0.0.1"));
        // all trusted: leftmost
        assert_eq!(
            resolve(&p, "127.0.0.1:5000", &["10.1.1.1, 10.2.2.2"]),
            ip("10.1.1.1")
        );
        assert_eq!(
            resolve(&p, "127.0.0.1:5000", &["[2001:db8::1]:80"]),
            ip("2001:db8::1")
        );
    }
}

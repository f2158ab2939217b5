//! TLS termination: certificates chosen by SNI in Pingora's `TlsAccept::certificate_callback`.
//!
//! Lookup order: exact name, then the longest matching `*.suffix` wildcard, then the default
//! certificate (the one without `sni`, else the first).

use crate::config::ListenerTls;
use async_trait::async_trait;
use pingora_core::listeners::tls::TlsSettings;
use pingora_core::listeners::{TlsAccept, TlsAcceptCallbacks};
use pingora_core::protocols::tls::TlsRef;
use pingora_core::tls::ext;
use pingora_core::tls::pkey::{PKey, Private};
use pingora_core::tls::ssl::NameType;
use pingora_core::tls::x509::X509;

struct CertKey {
    chain: Vec<X509>,
    key: PKey<Private>,
}

/// The certificates of one TLS listener.
pub struct SniCertificates {
    exact: Vec<(String, usize)>,
    /// (".example.com", index), longest suffix first
    wildcard: Vec<(String, usize)>,
    default: usize,
    certs: Vec<CertKey>,
}

impl SniCertificates {
    /// Load every certificate and key of a listener.
    pub fn load(cfg: &ListenerTls) -> Result<SniCertificates, String> {
        let mut certs = Vec::new();
        let mut exact = Vec::new();
        let mut wildcard = Vec::new();
        let mut default = None;
        for (i, c) in cfg.certificates.iter().enumerate() {
            let pem = std::fs::read(&c.cert).map_err(|e| format!("{}: {e}", c.cert.display()))?;
            let chain =
                X509::stack_from_pem(&pem).map_err(|e| format!("{}: {e}", c.cert.display()))?;
            if chain.is_empty() {
                return Err(format!("{}: no certificate", c.cert.display()));
            }
            let pem = std::fs::read(&c.key).map_err(|e| format!("{}: {e}", c.key.display()))?;
            let key = PKey::private_key_from_pem(&pem)
                .map_err(|e| format!("{}: {e}", c.key.display()))?;
            match &c.sni {
                None => default = Some(i),
                Some(name) => {
                    let name = name.to_ascii_lowercase();
                    match name.strip_prefix('*') {
                        Some(suffix) => wildcard.push((suffix.to_string(), i)),
                        None => exact.push((name, i)),
                    }
                }
            }
            certs.push(CertKey { chain, key });
        }
        if certs.is_empty() {
            return Err("no certificate configured".into());
        }
        wildcard.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
        Ok(SniCertificates {
            exact,
            wildcard,
            default: default.unwrap_or(0),
            certs,
        })
    }

    /// Index of the certificate for a server name.
    fn pick(&self, name: Option<&str>) -> usize {
        if let Some(name) = name {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some((_, i)) = self.exact.iter().find(|(n, _)| *n == name) {
                return *i;
            }
            if let Some((_, i)) = self
                .wildcard
                .iter()
                .find(|(suffix, _)| name.len() > suffix.len() && name.ends_with(suffix.as_str()))
            {
                return *i;
            }
        }
        self.default
    }

    /// Pingora TLS settings using these certificates (ALPN h2 when `alpn_h2`).
    pub fn into_settings(self, alpn_h2: bool) -> Result<TlsSettings, String> {
        let callbacks: TlsAcceptCallbacks = Box::new(self);
        let mut settings = TlsSettings::with_callbacks(callbacks).map_err(|e| e.to_string())?;
        if alpn_h2 {
            settings.enable_h2();
        }
        Ok(settings)
    }
}

#[async_trait]
impl TlsAccept for SniCertificates {
    async fn certificate_callback(&self, ssl: &mut TlsRef) {
        let idx = self.pick(ssl.servername(NameType::HOST_NAME));
        let Some(ck) = self.certs.get(idx) else {
            return;
        };
        let mut chain = ck.chain.iter();
        let Some(leaf) = chain.next() else {
            return;
        };
        if let Err(e) = ext::ssl_use_certificate(ssl, leaf) {
            log::error!("TLS: cannot use certificate: {e}");
            return;
        }
        for c in chain {
            if let Err(e) = ext::ssl_add_chain_cert(ssl, c) {
                log::error!("TLS: cannot add chain certificate: {e}");
            }
        }
        if let Err(e) = ext::ssl_use_private_key(ssl, &ck.key) {
            log::error!("TLS: cannot use private key: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_lookup_order() {
        let certs = SniCertificates {
            exact: vec![("api.example.com".into(), 1)],
            wildcard: vec![(".eu.example.com".into(), 3), (".example.com".into(), 2)],
            default: 0,
            certs: Vec::new(),
        };
        assert_eq!(certs.pick(Some("api.example.com")), 1);
        assert_eq!(certs.pick(Some("API.Example.com.")), 1);
        assert_eq!(certs.pick(Some("www.example.com")), 2);
        assert_eq!(
            certs.pick(Some("a.eu.example.com")),
            3,
            "longest wildcard first"
        );
        assert_eq!(
            certs.pick(Some("example.com")),
            0,
            "a wildcard needs one more label"
        );
        assert_eq!(certs.pick(Some("other.org")), 0);
        assert_eq!(certs.pick(None), 0);
    }
}

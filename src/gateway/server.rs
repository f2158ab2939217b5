//! Server bootstrap: Pingora's `ServerConf` (an optional Pingora YAML file, then our
//! `server:` section, then the command line), one proxy service per listener, the admin
//! service and the health-check background service.

use super::admin::Admin;
use super::client::ClientAddrPolicy;
use super::proxy::Proxy;
use super::proxy_protocol::ProxyProtocol;
use super::tls::SniCertificates;
use super::Gateway;
use crate::config::Config;
use crate::upstream::HealthService;
use pingora_core::apps::http_app::HttpServer;
use pingora_core::apps::HttpServerOptions;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::services::background::background_service;
use pingora_core::services::listening::Service;
use pingora_proxy::http_proxy;
use super::request_line::RawLineApp;
use std::path::PathBuf;
use std::sync::Arc;

/// Grace period after SIGTERM or SIGQUIT when neither `server.grace_period` nor a Pingora
/// configuration file sets one.
pub const DEFAULT_GRACE_PERIOD_SECS: u64 = 10;

/// Process options from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run in the background (`-d`).
    pub daemon: bool,
    /// Take over the listening sockets of a running instance (`-u`).
    pub upgrade: bool,
    /// A Pingora `ServerConf` YAML file (`--conf`), read before our `server:` section.
    pub pingora_conf: Option<PathBuf>,
    /// Worker threads (`--threads`), overriding `server.threads`.
    pub threads: Option<usize>,
}

/// Build Pingora's `ServerConf` for `cfg` and `opts`.
pub fn server_conf(cfg: &Config, opts: &RunOptions) -> Result<ServerConf, String> {
    let mut conf = match &opts.pingora_conf {
        Some(p) => {
            ServerConf::load_from_yaml(p.display().to_string()).map_err(|e| e.to_string())?
        }
        None => ServerConf::default(),
    };
    let s = &cfg.server;
    conf.threads = opts
        .threads
        .or(s.threads)
        .or_else(|| opts.pingora_conf.as_ref().map(|_| conf.threads))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    if let Some(p) = &s.pid_file {
        conf.pid_file = p.display().to_string();
    }
    if let Some(p) = &s.upgrade_sock {
        conf.upgrade_sock = p.display().to_string();
    }
    if s.user.is_some() {
        conf.user = s.user.clone();
    }
    if s.group.is_some() {
        conf.group = s.group.clone();
    }
    if s.daemon || opts.daemon {
        conf.daemon = true;
    }
    if let Some(d) = s.grace_period {
        conf.grace_period_seconds = Some(d.0.as_secs());
    } else if conf.grace_period_seconds.is_none() {
        // Pingora sleeps 300 s after SIGTERM/SIGQUIT by default; keep shutdowns prompt
        conf.grace_period_seconds = Some(DEFAULT_GRACE_PERIOD_SECS);
    }
    if let Some(d) = s.graceful_shutdown_timeout {
        conf.graceful_shutdown_timeout_seconds = Some(d.0.as_secs());
    }
    // Pingora keeps one pool for every upstream: size it for all of them.
    let pooled: usize = cfg
        .upstreams
        .values()
        .map(|u| u.pool_size.saturating_mul(u.servers.len()))
        .sum();
    conf.upstream_keepalive_pool_size = conf.upstream_keepalive_pool_size.max(pooled);
    // our fail_to_connect decides per upstream; keep Pingora's cap above every budget
    let most = cfg
        .upstreams
        .values()
        .map(|u| u.retry_attempts as usize + 2)
        .max()
        .unwrap_or(0);
    conf.max_retries = conf.max_retries.max(most);
    Ok(conf)
}

/// Create the Pingora server with every Rampart service for `cfg`.
pub fn build(cfg: Config, opts: &RunOptions) -> Result<(Server, Arc<Gateway>), String> {
    let conf = server_conf(&cfg, opts)?;
    let opt = Opt {
        upgrade: opts.upgrade,
        daemon: conf.daemon,
        nocapture: false,
        test: false,
        conf: None,
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    let gw = Gateway::new(cfg)?;
    add_services(&mut server, &gw)?;
    Ok((server, gw))
}

/// Add the listener, admin and health-check services of `gw` to `server`.
pub fn add_services(server: &mut Server, gw: &Arc<Gateway>) -> Result<(), String> {
    let conf = server.configuration.clone();
    let state = gw.current();
    for l in &state.config.listeners {
        let addr = l.address.to_string();
        let proxy = Proxy::new(gw.clone(), ClientAddrPolicy::new(l), l.tls.is_some());
        let mut app = http_proxy(&conf, proxy);
        if l.h2c {
            let mut o = HttpServerOptions::default();
            o.h2c = true;
            app.server_options = Some(o);
        }
        // Request lines with bytes Pingora's parser refuses reach the WAF as sent.
        let mut svc = Service::new(format!("rampart {addr}"), RawLineApp::new(app));
        match &l.tls {
            None => svc.add_tcp(&addr),
            Some(tls) => {
                let settings = SniCertificates::load(tls)
                    .and_then(|c| c.into_settings(tls.alpn_h2))
                    .map_err(|e| format!("listener {addr}: {e}"))?;
                if l.proxy_protocol {
                    svc.endpoints()
                        .set_pre_tls_callback(Arc::new(ProxyProtocol));
                }
                svc.add_tls_with_settings(&addr, None, settings);
            }
        }
        server.add_service(svc);
    }
    if let Some(admin) = &state.config.admin {
        let mut svc = Service::new(
            "rampart admin".to_string(),
            HttpServer::new_app(Admin::new(gw.clone())),
        );
        svc.add_tcp(&admin.address.to_string());
        server.add_service(svc);
    }
    let state = gw.state.clone();
    server.add_service(background_service(
        "rampart health checks",
        HealthService::new(move || state.load().upstreams.clone()),
    ));
    Ok(())
}

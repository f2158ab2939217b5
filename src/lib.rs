//! Rampart: an edge gateway (Pingora reverse proxy) with a ModSecurity-compatible SecLang
//! rule engine that runs the OWASP Core Rule Set.
//!
//! - [`engine`]: the rule engine (no Pingora dependency): parse -> compile -> `Transaction`.
//! - [`gateway`]: the Pingora proxy, listeners, WAF connector, reload.
//! - [`upstream`], [`cache`]: load balancing, health checks, caching.
//! - [`config`]: the YAML configuration; [`metrics`]: Prometheus metrics.
//! - [`backend`]: the built-in demo / albedo-compatible backend.

pub mod backend;
pub mod cache;
pub mod config;
pub mod engine;
pub mod gateway;
pub mod metrics;
pub mod rules_check;
pub mod upstream;

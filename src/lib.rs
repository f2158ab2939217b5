//! Rampart: an edge gateway with a ModSecurity-compatible rule engine.

pub mod engine;

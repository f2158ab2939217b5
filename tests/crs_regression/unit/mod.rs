//! Unit tests of the runner's modules (compiled only into the selftest target).

mod benign;
mod checks;
mod client;
mod crs_rules;
mod gateway;
mod logs;
mod model;
mod overrides;
mod paths;
mod report;
mod request;
mod template;

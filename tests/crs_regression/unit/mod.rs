//! Unit tests of the runner's modules (compiled only into the selftest target).

mod checks;
mod client;
mod gateway;
mod logs;
mod model;
mod overrides;
mod paths;
mod report;
mod request;
mod template;

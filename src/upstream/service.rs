//! The background service that runs every upstream's health-check loop and keeps the
//! server-state gauges current, following configuration reloads.

use super::{Upstream, UpstreamSet};
use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the service looks for a new upstream set and refreshes the gauges.
const TICK: Duration = Duration::from_millis(500);

/// Runs the health checks of the current [`UpstreamSet`], whatever reloads happen.
///
/// `current` returns the upstream set in force; when it changes, loops of removed upstreams
/// are stopped and loops of new ones started (reused upstreams keep theirs).
pub struct HealthService<F>
where
    F: Fn() -> Arc<UpstreamSet> + Send + Sync,
{
    current: F,
}

impl<F> HealthService<F>
where
    F: Fn() -> Arc<UpstreamSet> + Send + Sync,
{
    /// Create the service.
    pub fn new(current: F) -> Self {
        HealthService { current }
    }
}

struct Running {
    upstream: Arc<Upstream>,
    task: JoinHandle<()>,
}

#[async_trait]
impl<F> BackgroundService for HealthService<F>
where
    F: Fn() -> Arc<UpstreamSet> + Send + Sync,
{
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut running: Vec<Running> = Vec::new();
        let mut last: Option<Arc<UpstreamSet>> = None;
        loop {
            let set = (self.current)();
            if last.as_ref().is_none_or(|l| !Arc::ptr_eq(l, &set)) {
                // stop loops of upstreams that are gone or were rebuilt
                running.retain(|r| {
                    let kept = set.iter().any(|u| Arc::ptr_eq(u, &r.upstream));
                    if !kept {
                        r.task.abort();
                    }
                    kept
                });
                for up in set.iter() {
                    if up.has_health_check()
                        && !running.iter().any(|r| Arc::ptr_eq(&r.upstream, up))
                    {
                        let u = up.clone();
                        let sd = shutdown.clone();
                        running.push(Running {
                            upstream: up.clone(),
                            task: tokio::spawn(async move { u.run(sd).await }),
                        });
                    }
                }
                last = Some(set.clone());
            }
            for up in set.iter() {
                up.refresh_gauges();
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep(TICK) => {}
            }
        }
        for r in running {
            r.task.abort();
        }
    }
}

//! Least-connections selection on Pingora's [`BackendSelection`] interface.
//!
//! Pingora ships no such selector. Each [`Backend`] carries (in its `ext`) a [`ServerRef`]
//! with the shared in-flight counter of its server; the counter is incremented when the
//! proxy picks the server and decremented when the request ends (`ServerState::start_request`).
//! `iter()` orders the backends by `in_flight / weight` (compared by cross-multiplying, no
//! floating point); ties are broken in turn from a rotating start so equally idle servers
//! share the load.

use pingora_load_balancing::selection::{BackendIter, BackendSelection};
use pingora_load_balancing::Backend;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What the gateway stores in [`Backend::ext`]: which server this is and its load.
#[derive(Clone, Debug)]
pub struct ServerRef {
    /// Index in the upstream's server list.
    pub idx: usize,
    /// Requests in progress on the server.
    pub in_flight: Arc<AtomicUsize>,
}

/// The least-connections selector.
pub struct LeastConn {
    backends: Box<[Backend]>,
    loads: Box<[Option<Arc<AtomicUsize>>]>,
    rotation: AtomicUsize,
}

impl BackendSelection for LeastConn {
    type Iter = LeastConnIter;
    type Config = ();

    fn build(backends: &BTreeSet<Backend>) -> Self {
        let backends: Box<[Backend]> = backends.iter().cloned().collect();
        let loads = backends
            .iter()
            .map(|b| b.ext.get::<ServerRef>().map(|r| r.in_flight.clone()))
            .collect();
        LeastConn {
            backends,
            loads,
            rotation: AtomicUsize::new(0),
        }
    }

    fn iter(self: &Arc<Self>, _key: &[u8]) -> Self::Iter {
        let n = self.backends.len();
        let start = if n == 0 {
            0
        } else {
            self.rotation.fetch_add(1, Ordering::Relaxed) % n
        };
        // (in_flight, weight, rotated position, index)
        let mut order: Vec<(u64, u64, usize, usize)> = (0..n)
            .map(|i| {
                let load = self
                    .loads
                    .get(i)
                    .and_then(|l| l.as_ref())
                    .map(|l| l.load(Ordering::Relaxed))
                    .unwrap_or(0) as u64;
                let weight = self.backends.get(i).map(|b| b.weight.max(1)).unwrap_or(1) as u64;
                (load, weight, (i + n - start) % n, i)
            })
            .collect();
        // a/wa < b/wb  <=>  a*wb < b*wa
        order.sort_by(|a, b| {
            (a.0.saturating_mul(b.1))
                .cmp(&b.0.saturating_mul(a.1))
                .then(a.2.cmp(&b.2))
        });
        LeastConnIter {
            selector: self.clone(),
            order: order.into_iter().map(|o| o.3).collect(),
            pos: 0,
        }
    }
}

/// Backends from the least to the most loaded.
pub struct LeastConnIter {
    selector: Arc<LeastConn>,
    order: Vec<usize>,
    pos: usize,
}

impl BackendIter for LeastConnIter {
    fn next(&mut self) -> Option<&Backend> {
        let idx = *self.order.get(self.pos)?;
        self.pos += 1;
        self.selector.backends.get(idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora_load_balancing::Extensions;

    fn backend(port: u16, weight: usize, load: &Arc<AtomicUsize>, idx: usize) -> Backend {
        let mut ext = Extensions::new();
        ext.insert(ServerRef {
            idx,
            in_flight: load.clone(),
        });
        let mut b = Backend::new_with_weight(&format!("127.0.0.1:{port}"), weight)
            .unwrap_or_else(|e| panic!("{e}"));
        b.ext = ext;
        b
    }

    fn first(sel: &Arc<LeastConn>) -> Option<u16> {
        let mut it = sel.iter(b"");
        it.next().and_then(|b| b.as_inet().map(|a| a.port()))
    }

    #[test]
    fn prefers_least_loaded_then_rotates_ties() {
        let la = Arc::new(AtomicUsize::new(3));
        let lb = Arc::new(AtomicUsize::new(0));
        let set = BTreeSet::from([backend(1, 1, &la, 0), backend(2, 1, &lb, 1)]);
        let sel = Arc::new(LeastConn::build(&set));
        for _ in 0..5 {
            assert_eq!(first(&sel), Some(2));
        }
        la.store(0, Ordering::Relaxed);
        let picks: Vec<_> = (0..4).filter_map(|_| first(&sel)).collect();
        assert!(picks.contains(&1) && picks.contains(&2), "{picks:?}");
    }

    #[test]
    fn weight_scales_load() {
        let la = Arc::new(AtomicUsize::new(2)); // weight 4: 0.5 per unit
        let lb = Arc::new(AtomicUsize::new(1)); // weight 1: 1.0 per unit
        let set = BTreeSet::from([backend(1, 4, &la, 0), backend(2, 1, &lb, 1)]);
        let sel = Arc::new(LeastConn::build(&set));
        assert_eq!(first(&sel), Some(1));
    }

    #[test]
    fn iterates_every_backend_once() {
        let l = Arc::new(AtomicUsize::new(0));
        let set = BTreeSet::from([
            backend(1, 1, &l, 0),
            backend(2, 1, &l, 1),
            backend(3, 1, &l, 2),
        ]);
        let sel = Arc::new(LeastConn::build(&set));
        let mut it = sel.iter(b"");
        let mut n = 0;
        while it.next().is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
    }
}

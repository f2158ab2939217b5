//! [`MemoryStorage`]: the production in-memory storage behind `pingora_cache::Storage`.
//!
//! Entries live in a hash map keyed by the combined (primary + variance) cache hash. Bounds
//! are enforced by Pingora's eviction manager (`simple_lru::Manager` with a byte limit and
//! an entry watermark): the size reported when a write finishes is the one the manager
//! accounts, and evicted entries come back through [`Storage::purge`] with
//! [`PurgeType::Eviction`]. A second index maps each primary key string (the readable key
//! built from the route's key parts) to its stored variants, so purges can remove an exact
//! key or every key under a prefix.

use crate::metrics;
use async_trait::async_trait;
use bytes::Bytes;
use pingora_cache::eviction::{CacheEntryKeyRef, EvictionManager};
use pingora_cache::key::{CacheHashKey, CompactCacheKey};
use pingora_cache::storage::{
    HandleHit, HandleMiss, HitHandler, MissFinishType, MissHandler, PurgeOutcome, PurgeTarget,
    PurgeType, Storage,
};
use pingora_cache::trace::SpanHandle;
use pingora_cache::{CacheKey, CacheMeta};
use pingora_error::{Error, ErrorType, Result};
use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Fixed per-entry bookkeeping cost added to the body and header sizes.
const ENTRY_OVERHEAD: usize = 256;

struct Entry {
    meta: (Vec<u8>, Vec<u8>),
    body: Bytes,
    primary: Arc<str>,
    compact: CompactCacheKey,
    size: usize,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// primary key string -> combined hashes of its stored variants
    index: BTreeMap<Arc<str>, HashSet<String>>,
    bytes: usize,
}

impl Inner {
    fn remove(&mut self, combined: &str) -> Option<Entry> {
        let e = self.entries.remove(combined)?;
        self.bytes = self.bytes.saturating_sub(e.size);
        if let Some(set) = self.index.get_mut(&e.primary) {
            set.remove(combined);
            if set.is_empty() {
                self.index.remove(&e.primary);
            }
        }
        Some(e)
    }

    fn insert(&mut self, combined: String, entry: Entry) {
        self.remove(&combined);
        self.bytes = self.bytes.saturating_add(entry.size);
        self.index
            .entry(entry.primary.clone())
            .or_default()
            .insert(combined.clone());
        self.entries.insert(combined, entry);
    }

    fn publish(&self) {
        let m = metrics::gateway();
        m.cache_size_bytes
            .set(i64::try_from(self.bytes).unwrap_or(i64::MAX));
        m.cache_entries
            .set(i64::try_from(self.entries.len()).unwrap_or(i64::MAX));
    }
}

/// The in-memory cache storage.
pub struct MemoryStorage {
    inner: RwLock<Inner>,
    max_object: usize,
    eviction: &'static (dyn EvictionManager + Sync),
}

impl MemoryStorage {
    /// A storage refusing objects larger than `max_object` bytes; `eviction` is told about
    /// entries removed by purges.
    pub fn new(max_object: usize, eviction: &'static (dyn EvictionManager + Sync)) -> Self {
        MemoryStorage {
            inner: RwLock::new(Inner::default()),
            max_object,
            eviction,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes held (bodies, headers and bookkeeping).
    pub fn size_bytes(&self) -> usize {
        self.read().bytes
    }

    /// Entries held (each variant counts).
    pub fn entries(&self) -> usize {
        self.read().entries.len()
    }

    /// The primary keys currently stored (for diagnostics and tests).
    pub fn keys(&self) -> Vec<String> {
        self.read().index.keys().map(|k| k.to_string()).collect()
    }

    /// Remove every variant stored under exactly `key`; returns how many were removed.
    pub fn purge_key(&self, key: &str) -> usize {
        let mut inner = self.write();
        let combined: Vec<String> = inner
            .index
            .get(key)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        self.purge_combined(&mut inner, &combined)
    }

    /// Remove every entry whose key starts with `prefix`; returns how many were removed.
    pub fn purge_prefix(&self, prefix: &str) -> usize {
        let mut inner = self.write();
        let combined: Vec<String> = inner
            .index
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(prefix))
            .flat_map(|(_, set)| set.iter().cloned())
            .collect();
        self.purge_combined(&mut inner, &combined)
    }

    fn purge_combined(&self, inner: &mut Inner, combined: &[String]) -> usize {
        let mut n = 0;
        for c in combined {
            if let Some(e) = inner.remove(c) {
                self.eviction.remove(CacheEntryKeyRef::KeyOnly(&e.compact));
                n += 1;
            }
        }
        inner.publish();
        metrics::gateway().cache_purged.inc_by(n as u64);
        n
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let combined = key.combined();
        let found = {
            let inner = self.read();
            inner
                .entries
                .get(&combined)
                .map(|e| (e.meta.clone(), e.body.clone(), e.size))
        };
        let Some((meta, body, size)) = found else {
            return Ok(None);
        };
        let meta = CacheMeta::deserialize(&meta.0, &meta.1)?;
        let end = body.len();
        Ok(Some((
            meta,
            Box::new(Hit {
                body,
                done: false,
                start: 0,
                end,
                size,
            }),
        )))
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        let primary: Arc<str> = Arc::from(
            key.primary_key_str()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(key.primary_key()).into_owned()),
        );
        Ok(Box::new(Miss {
            storage: self,
            combined: key.combined(),
            primary,
            compact: key.to_compact(),
            meta: meta.serialize()?,
            body: Vec::new(),
        }))
    }

    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        purge_type: PurgeType,
        _trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        let combined = target.key().combined();
        let mut inner = self.write();
        let removed = inner.remove(&combined);
        inner.publish();
        drop(inner);
        match removed {
            Some(e) => {
                match purge_type {
                    PurgeType::Eviction => metrics::gateway().cache_evictions.inc(),
                    PurgeType::Invalidation => {
                        self.eviction.remove(CacheEntryKeyRef::KeyOnly(&e.compact));
                        metrics::gateway().cache_purged.inc();
                    }
                }
                Ok(PurgeOutcome::Purged(None))
            }
            None => Ok(PurgeOutcome::NotFound),
        }
    }

    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<bool> {
        let serialized = meta.serialize()?;
        let mut inner = self.write();
        match inner.entries.get_mut(&key.combined()) {
            Some(e) => {
                e.meta = serialized;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

/// A hit: the stored body, with optional range seeking.
struct Hit {
    body: Bytes,
    done: bool,
    start: usize,
    end: usize,
    size: usize,
}

#[async_trait]
impl HandleHit for Hit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        if self.start >= self.end {
            return Ok(None);
        }
        Ok(Some(self.body.slice(self.start..self.end)))
    }

    async fn finish(
        self: Box<Self>,
        _storage: &'static (dyn Storage + Sync),
        _key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        if start >= self.body.len() {
            return Error::e_explain(
                ErrorType::InternalError,
                format!("seek start {start} beyond body length {}", self.body.len()),
            );
        }
        self.start = start;
        self.end = end.map_or(self.body.len(), |e| e.min(self.body.len()));
        self.done = false;
        Ok(())
    }

    fn get_eviction_weight(&self) -> usize {
        self.size
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

/// A response being written into the cache; visible to lookups once finished.
struct Miss {
    storage: &'static MemoryStorage,
    combined: String,
    primary: Arc<str>,
    compact: CompactCacheKey,
    meta: (Vec<u8>, Vec<u8>),
    body: Vec<u8>,
}

#[async_trait]
impl HandleMiss for Miss {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        if self.body.len().saturating_add(data.len()) > self.storage.max_object {
            return Error::e_explain(
                ErrorType::InternalError,
                format!(
                    "object exceeds the cache max_object_size ({} bytes)",
                    self.storage.max_object
                ),
            );
        }
        self.body.extend_from_slice(&data);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<MissFinishType> {
        let Miss {
            storage,
            combined,
            primary,
            compact,
            meta,
            body,
        } = *self;
        let size = body.len() + meta.0.len() + meta.1.len() + primary.len() + ENTRY_OVERHEAD;
        let mut inner = storage.write();
        inner.insert(
            combined,
            Entry {
                meta,
                body: Bytes::from(body),
                primary,
                compact,
                size,
            },
        );
        inner.publish();
        Ok(MissFinishType::Created(size))
    }
}

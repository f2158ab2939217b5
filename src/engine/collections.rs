//! Key/value collections: TX and the persistent collections (IP, GLOBAL, SESSION, USER,
//! RESOURCE) shared by all transactions of a process.
//!
//! Keys are case-insensitive (`setvar:tx.Foo` and `TX:foo` are the same variable): entries
//! are indexed by the lower-cased key and remember the name as first written.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;

use super::vars::Var;

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A collection key (lower-case). Most keys CRS writes (`inbound_anomaly_score_pl1`,
/// `header_name_920450_user-agent`) fit inline: adding one does not allocate.
type Key = smallvec::SmallVec<[u8; 32]>;

/// A collection value. Most values are short numbers or flags, stored inline.
pub type Value = smallvec::SmallVec<[u8; 16]>;

#[derive(Debug, Clone)]
pub struct Item {
    /// The key as first written; `None` when it is the (lower-case) key itself.
    pub name: Option<Vec<u8>>,
    pub value: Value,
    /// Epoch seconds after which the item no longer exists (expirevar).
    pub expires: Option<u64>,
}

/// A fast hasher for short keys (FxHash-style), seeded once per process so that colliding
/// keys cannot be precomputed.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, i: u64) {
        self.hash = (self.hash.rotate_left(5) ^ i).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(c);
            self.add(u64::from_le_bytes(buf));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Builds [`FxHasher`]s starting from the process seed.
#[derive(Debug, Clone, Copy)]
pub struct FxBuild {
    seed: u64,
}

impl Default for FxBuild {
    fn default() -> Self {
        static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let seed = *SEED.get_or_init(|| {
            let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
            let local = 0u8;
            t ^ (&local as *const u8 as u64).rotate_left(29) ^ u64::from(std::process::id()).rotate_left(47)
        });
        FxBuild { seed }
    }
}

impl std::hash::BuildHasher for FxBuild {
    type Hasher = FxHasher;

    fn build_hasher(&self) -> FxHasher {
        FxHasher { hash: self.seed }
    }
}

/// An ordered, case-insensitive key/value collection.
#[derive(Debug, Clone, Default)]
pub struct Collection {
    map: IndexMap<Key, Item, FxBuild>,
}

impl Collection {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty collection with room for `n` keys.
    pub fn with_capacity(n: usize) -> Self {
        Collection { map: IndexMap::with_capacity_and_hasher(n, FxBuild::default()) }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Value of `key`, which must already be lower-case.
    pub fn get_lc(&self, key_lc: &[u8]) -> Option<&[u8]> {
        self.map.get(key_lc).map(|i| i.value.as_slice())
    }

    /// (name as written, value) of `key`, which must already be lower-case.
    pub fn get_item_lc(&self, key_lc: &[u8]) -> Option<(&[u8], &[u8])> {
        self.map.get_key_value(key_lc).map(|(k, i)| (i.name.as_deref().unwrap_or(k), i.value.as_slice()))
    }

    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        if key.iter().any(u8::is_ascii_uppercase) {
            self.get_lc(&key.to_ascii_lowercase())
        } else {
            self.get_lc(key)
        }
    }

    /// Sets `key_lc` (already lower-case; `name` is the key as written) to `value`.
    pub fn set_lc(&mut self, key_lc: &[u8], name: &[u8], value: &[u8]) {
        match self.map.get_mut(key_lc) {
            Some(i) => {
                i.value.clear();
                i.value.extend_from_slice(value);
            }
            None => {
                let name = (name != key_lc).then(|| name.to_vec());
                self.map.insert(Key::from_slice(key_lc), Item { name, value: Value::from_slice(value), expires: None });
            }
        }
    }

    /// Mutable value of `key_lc` (already lower-case).
    pub fn get_mut_lc(&mut self, key_lc: &[u8]) -> Option<&mut Value> {
        self.map.get_mut(key_lc).map(|i| &mut i.value)
    }

    /// Sets `key` (any case) to `value`.
    pub fn set(&mut self, key: &[u8], value: &[u8]) {
        let lc = Key::from_iter(key.iter().map(u8::to_ascii_lowercase));
        self.set_lc(&lc, key, value);
    }

    pub fn remove(&mut self, key: &[u8]) -> bool {
        self.map.shift_remove(key.to_ascii_lowercase().as_slice()).is_some()
    }

    pub fn set_expiry(&mut self, key: &[u8], at: u64) {
        if let Some(i) = self.map.get_mut(key.to_ascii_lowercase().as_slice()) {
            i.expires = Some(at);
        }
    }

    /// Removes expired items.
    pub fn purge_expired(&mut self, now: u64) {
        self.map.retain(|_, i| i.expires.is_none_or(|e| e > now));
    }

    /// Items in insertion order: (name as written, value).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.map.iter().map(|(k, i)| (i.name.as_deref().unwrap_or(k), i.value.as_slice()))
    }

    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.map.values()
    }
}

/// Numeric value of a collection string as ModSecurity reads it (`atoi`-like).
pub fn to_number(v: &[u8]) -> i64 {
    let s = v.iter().position(|b| !b.is_ascii_whitespace()).map(|p| &v[p..]).unwrap_or(&[]);
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            break;
        }
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// A change made by a transaction to a persistent collection, replayed on the shared store
/// when the transaction ends (so concurrent increments are not lost).
#[derive(Debug, Clone)]
pub enum Change {
    Set(Vec<u8>, Vec<u8>),
    Add(Vec<u8>, i64),
    Delete(Vec<u8>),
    Expire(Vec<u8>, u64),
}

#[derive(Debug, Clone)]
struct Record {
    vars: Collection,
    created: u64,
    last_update: u64,
    update_counter: u64,
}

/// A persistent collection opened by `initcol` in one transaction.
#[derive(Debug, Clone)]
pub struct OpenCollection {
    pub key: Vec<u8>,
    pub data: Collection,
    pub changes: Vec<Change>,
}

/// The process-wide store of persistent collections (kept in memory; bounded).
#[derive(Debug)]
pub struct CollectionStore {
    inner: Mutex<HashMap<(Var, Vec<u8>), Record>>,
    max_records: usize,
}

impl Default for CollectionStore {
    fn default() -> Self {
        CollectionStore::new(100_000)
    }
}

impl CollectionStore {
    pub fn new(max_records: usize) -> Self {
        CollectionStore { inner: Mutex::new(HashMap::new()), max_records: max_records.max(1) }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens (a snapshot of) collection `var` / `key`, creating it when absent or expired.
    pub fn open(&self, var: Var, key: &[u8], timeout: u64) -> OpenCollection {
        let now = now_secs();
        let mut data = Collection::new();
        let map = self.inner.lock();
        let existing = map.as_ref().ok().and_then(|m| m.get(&(var, key.to_vec())).cloned());
        drop(map);
        let (created, last_update, counter, is_new) = match existing {
            Some(r) if r.last_update + timeout > now => {
                data = r.vars;
                data.purge_expired(now);
                (r.created, r.last_update, r.update_counter, false)
            }
            _ => (now, now, 0, true),
        };
        data.set(b"KEY", key);
        data.set(b"TIMEOUT", timeout.to_string().as_bytes());
        data.set(b"CREATE_TIME", created.to_string().as_bytes());
        data.set(b"LAST_UPDATE_TIME", last_update.to_string().as_bytes());
        data.set(b"UPDATE_COUNTER", counter.to_string().as_bytes());
        data.set(b"IS_NEW", if is_new { b"1" } else { b"0" });
        OpenCollection { key: key.to_vec(), data, changes: Vec::new() }
    }

    /// Replays a transaction's changes on the shared record.
    pub fn commit(&self, var: Var, col: &OpenCollection) {
        if col.changes.is_empty() {
            return;
        }
        let now = now_secs();
        let Ok(mut map) = self.inner.lock() else { return };
        if map.len() >= self.max_records && !map.contains_key(&(var, col.key.clone())) {
            // Evict expired records first, then the least recently updated one.
            map.retain(|_, r| r.vars.items().any(|i| i.expires.is_none_or(|e| e > now)) || r.last_update + 3600 > now);
            if map.len() >= self.max_records {
                if let Some(oldest) = map.iter().min_by_key(|(_, r)| r.last_update).map(|(k, _)| k.clone()) {
                    map.remove(&oldest);
                }
            }
        }
        let rec = map.entry((var, col.key.clone())).or_insert_with(|| Record {
            vars: Collection::new(),
            created: now,
            last_update: now,
            update_counter: 0,
        });
        for c in &col.changes {
            match c {
                Change::Set(k, v) => rec.vars.set(k, v),
                Change::Add(k, d) => {
                    let cur = rec.vars.get(k).map(to_number).unwrap_or(0);
                    rec.vars.set(k, cur.saturating_add(*d).to_string().as_bytes());
                }
                Change::Delete(k) => {
                    rec.vars.remove(k);
                }
                Change::Expire(k, at) => rec.vars.set_expiry(k, *at),
            }
        }
        rec.vars.purge_expired(now);
        rec.last_update = now;
        rec.update_counter += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_keys_keep_first_name() {
        let mut c = Collection::new();
        c.set(b"Foo", b"1");
        c.set(b"FOO", b"2");
        assert_eq!(c.get(b"foo"), Some(&b"2"[..]));
        assert_eq!(c.len(), 1);
        assert_eq!(c.iter().next().unwrap().0, b"Foo");
        assert!(c.remove(b"fOO"));
        assert!(c.is_empty());
    }

    #[test]
    fn numbers_like_atoi() {
        assert_eq!(to_number(b"42"), 42);
        assert_eq!(to_number(b"  -7x"), -7);
        assert_eq!(to_number(b"abc"), 0);
        assert_eq!(to_number(b""), 0);
        assert_eq!(to_number(b"99999999999999999999999"), i64::MAX);
    }

    #[test]
    fn store_replays_increments() {
        let s = CollectionStore::new(10);
        let mut a = s.open(Var::Ip, b"1.2.3.4", 60);
        let mut b = s.open(Var::Ip, b"1.2.3.4", 60);
        assert_eq!(a.data.get(b"is_new"), Some(&b"1"[..]));
        a.changes.push(Change::Add(b"counter".to_vec(), 1));
        b.changes.push(Change::Add(b"counter".to_vec(), 1));
        s.commit(Var::Ip, &a);
        s.commit(Var::Ip, &b);
        let c = s.open(Var::Ip, b"1.2.3.4", 60);
        assert_eq!(c.data.get(b"counter"), Some(&b"2"[..]));
        assert_eq!(c.data.get(b"IS_NEW"), Some(&b"0"[..]));
        assert_eq!(c.data.get(b"update_counter"), Some(&b"2"[..]));
    }

    #[test]
    fn store_is_bounded() {
        let s = CollectionStore::new(3);
        for i in 0..10 {
            let mut c = s.open(Var::Ip, format!("10.0.0.{i}").as_bytes(), 60);
            c.changes.push(Change::Set(b"x".to_vec(), b"1".to_vec()));
            s.commit(Var::Ip, &c);
        }
        assert!(s.len() <= 3);
    }
}

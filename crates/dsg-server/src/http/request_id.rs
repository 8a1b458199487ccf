//! Request ids: the caller's `X-Request-Id` when it is short and printable,
//! else a fresh UUID (version 8) made without a system call.
//!
//! A fresh id is 60 random bits drawn once per process, so ids stay unique
//! across replicas and restarts, and a per-process counter that each thread
//! takes in blocks, so making one needs no shared write either. The access
//! log keeps a fresh id as its 16 bytes ([`FreshId::uuid`]) and spells it out
//! on its own thread.

use std::fmt;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, HeaderName};

/// Header carrying the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of the current request (a request extension).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The caller's request id, when it may be used as ours.
pub fn given(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
}

/// The request id the request pipeline settled on, read from the request
/// headers.
pub fn request_id_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Where fresh request ids come from: a random prefix drawn once per process
/// and a counter.
struct IdSource {
    prefix: u64,
    next: AtomicU64,
}

static IDS: LazyLock<IdSource> = LazyLock::new(|| {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: the start time still separates processes.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (nanos as u64 ^ u64::from(std::process::id())).to_be_bytes();
    }
    IdSource {
        prefix: u64::from_be_bytes(bytes),
        next: AtomicU64::new(0),
    }
});

/// Counter values a thread takes from the shared counter at a time, so the
/// threads serving requests do not contend for one cache line.
const ID_BLOCK: u64 = 4096;

thread_local! {
    /// This thread's next counter value and the end of its block.
    static ID_RANGE: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// A request id made by this process: its counter value (the process
/// prefix is the same for all). Displays as the hyphenated UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshId(u64);

impl FreshId {
    /// The next id of this process.
    pub fn next() -> Self {
        Self(ID_RANGE.with(|r| {
            let (mut next, mut end) = r.get();
            if next == end {
                next = IDS.next.fetch_add(ID_BLOCK, Ordering::Relaxed);
                end = next + ID_BLOCK;
            }
            r.set((next + 1, end));
            next
        }))
    }

    /// The id as a UUID.
    pub fn uuid(self) -> uuid::Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&IDS.prefix.to_be_bytes());
        bytes[8..].copy_from_slice(&self.0.to_be_bytes());
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }
}

impl fmt::Display for FreshId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = uuid::Uuid::encode_buffer();
        f.write_str(self.uuid().hyphenated().encode_lower(&mut buf))
    }
}

/// A fresh request id, spelt out.
pub fn fresh_id() -> String {
    FreshId::next().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_distinct_uuids_sharing_the_process_prefix() {
        let a = fresh_id();
        let b = fresh_id();
        assert_ne!(a, b);
        let (ua, ub) = (
            uuid::Uuid::parse_str(&a).unwrap(),
            uuid::Uuid::parse_str(&b).unwrap(),
        );
        assert_eq!(ua.get_version_num(), 8);
        assert_eq!(ua.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(ua.as_bytes()[..6], ub.as_bytes()[..6]);
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| fresh_id()).collect();
        assert_eq!(ids.len(), 10_000);
        // Threads take counter blocks of their own: no two ids collide.
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..10_000).map(|_| fresh_id()).collect::<Vec<_>>()))
            .collect();
        let mut all = ids;
        for t in threads {
            all.extend(t.join().unwrap());
        }
        assert_eq!(all.len(), 50_000);
    }

    #[test]
    fn a_fresh_id_spells_the_same_every_time() {
        let id = FreshId::next();
        assert_eq!(id.to_string(), id.to_string());
        assert_eq!(id.to_string().len(), 36);
    }

    #[test]
    fn only_short_printable_caller_ids_are_taken() {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, "abc-1".parse().unwrap());
        assert_eq!(given(&h), Some("abc-1"));
        h.insert(REQUEST_ID, "a b".parse().unwrap());
        assert_eq!(given(&h), None);
        h.insert(REQUEST_ID, "x".repeat(129).parse().unwrap());
        assert_eq!(given(&h), None);
    }
}

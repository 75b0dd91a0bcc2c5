//! The conditional-read cache an HTTP client keeps: what to send as `If-None-Match`, and
//! the body to answer a `304` with.
//!
//! It is its own small trait, apart from [`SyncStore`](crate::SyncStore): a host can keep
//! its provider responses wherever it likes (the sync store, a cache server, nowhere), and
//! a store implements it only if it wants to. `kradle-store-memory` and
//! `kradle-store-postgres` do, so an idle resync of an unchanged repository costs no
//! rate-limit point across restarts (PostgreSQL) or within one process (memory).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Error;

/// A cached conditional-read response: what to send as `If-None-Match` next time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CacheEntry {
    /// The response's entity tag.
    pub etag: String,
    /// The response's `Last-Modified`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// The response body, kept so a `304` can be answered from the cache.
    #[serde(default)]
    pub body: Vec<u8>,
}

impl CacheEntry {
    /// An entry for a response with this entity tag and body.
    ///
    /// ```
    /// use kradle_sync_core::store::CacheEntry;
    /// let e = CacheEntry::new("\"abc\"", b"[]".to_vec()).with_last_modified("Tue, 01 Jan 2030 00:00:00 GMT");
    /// assert_eq!(e.etag, "\"abc\"");
    /// ```
    pub fn new(etag: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            etag: etag.into(),
            last_modified: None,
            body,
        }
    }

    /// Sets the response's `Last-Modified`.
    pub fn with_last_modified(mut self, value: impl Into<String>) -> Self {
        self.last_modified = Some(value.into());
        self
    }
}

/// Where an HTTP client keeps conditional-read responses, by request key (method, URL
/// and account: two credentials never share an entry).
///
/// ```
/// # use kradle_sync_core::store::{CacheEntry, HttpCache};
/// async fn remember(cache: &dyn HttpCache) -> Result<(), kradle_sync_core::Error> {
///     cache.cache_put("GET https://api.example/issues acct", CacheEntry::new("\"e1\"", b"[]".to_vec())).await?;
///     assert!(cache.cache_get("GET https://api.example/issues acct").await?.is_some());
///     Ok(())
/// }
/// ```
#[async_trait]
pub trait HttpCache: Send + Sync {
    /// A cached response by request key.
    async fn cache_get(&self, key: &str) -> Result<Option<CacheEntry>, Error>;

    /// Stores a response under a request key, replacing what was there.
    async fn cache_put(&self, key: &str, entry: CacheEntry) -> Result<(), Error>;
}

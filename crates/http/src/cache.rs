//! The ETag cache, kept in the host's [`HttpCache`](kradle_sync_core::HttpCache).
//!
//! Key: method, full URL and account, so two tokens never share an entry. Value: a
//! [`CacheEntry`] whose `body` holds the response body behind a short frame that also
//! keeps the pagination headers (`Link`, `x-next-page`, …): a `304` need not repeat them,
//! and without them a re-read listing would stop after its first page.
//!
//! Frame: `kradle-http/1\n<JSON object of kept headers>\n<body bytes>`. An entry without
//! the frame is read as a bare body.

use std::collections::BTreeMap;

use kradle_sync_core::store::CacheEntry;
use reqwest::header::{ETAG, HeaderMap, HeaderName, HeaderValue, LAST_MODIFIED};

const MAGIC: &[u8] = b"kradle-http/1\n";

/// Headers a cached response keeps for answering a `304`.
const KEPT: &[&str] = &[
    "link",
    "x-next-page",
    "x-page",
    "x-per-page",
    "x-prev-page",
    "x-total",
    "x-total-pages",
    "content-type",
];

/// The cache key of a request.
pub(crate) fn key(method: &str, url: &str, account: &str) -> String {
    format!("{method} {url} {account}")
}

/// A cache entry for a `200` response, if it has an ETag.
pub(crate) fn entry(headers: &HeaderMap, body: &[u8]) -> Option<CacheEntry> {
    let etag = headers.get(ETAG)?.to_str().ok()?.to_owned();
    let kept: BTreeMap<&str, &str> = KEPT
        .iter()
        .filter_map(|n| Some((*n, headers.get(*n)?.to_str().ok()?)))
        .collect();
    let mut framed = MAGIC.to_vec();
    framed.extend(serde_json::to_vec(&kept).ok()?);
    framed.push(b'\n');
    framed.extend_from_slice(body);
    let mut entry = CacheEntry::new(etag, framed);
    entry.last_modified = headers
        .get(LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Some(entry)
}

/// The kept headers and the body of a cached entry.
pub(crate) fn unframe(entry: &CacheEntry) -> (HeaderMap, Vec<u8>) {
    let mut headers = HeaderMap::new();
    let Some(rest) = entry.body.strip_prefix(MAGIC) else {
        return (headers, entry.body.clone());
    };
    let Some(nl) = rest.iter().position(|b| *b == b'\n') else {
        return (headers, entry.body.clone());
    };
    let (head, body) = rest.split_at(nl);
    let kept: BTreeMap<String, String> = serde_json::from_slice(head).unwrap_or_default();
    for (k, v) in kept {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            headers.insert(k, v);
        }
    }
    (headers, body.get(1..).unwrap_or_default().to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_pagination_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            ETAG,
            HeaderValue::from_static("\"00000000000000000000000000000000\""),
        );
        h.insert(
            "link",
            HeaderValue::from_static("<https://x.test/2>; rel=\"next\""),
        );
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
        let body = b"[{\"n\":1}]\n\nsecond line";
        let e = entry(&h, body).unwrap();
        assert_eq!(e.etag, "\"00000000000000000000000000000000\"");
        let (kept, got) = unframe(&e);
        assert_eq!(got, body);
        assert_eq!(
            kept.get("link").unwrap(),
            "<https://x.test/2>; rel=\"next\""
        );
        assert!(kept.get("x-ratelimit-remaining").is_none());
        let bare = CacheEntry::new("x", b"[1]".to_vec());
        assert_eq!(unframe(&bare).1, b"[1]");
        assert!(entry(&HeaderMap::new(), body).is_none());
    }
}

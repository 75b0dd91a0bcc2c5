//! The HTTP adapter: GitHub's REST API as the three kradle-sync interfaces.
//!
//! [`GithubClient`] implements [`Provider`], [`IssueTracking`], [`Cicd`] and [`GitForge`]
//! over the shared HTTP kit (`kradle-http`), so every call gets the same layers: Link
//! pagination with `per_page=100`, `If-None-Match` from the ETag cache in the host's
//! [`SyncStore`](kradle_sync_core::SyncStore) (a `304` is a page with `not_modified` set,
//! served from the cache, and costs no budget), rate-limit budgets per installation or
//! account with priority classes (writes > hydrates > backfill), `Retry-After` and
//! secondary limits honoured, `5xx` and transport errors retried with full-jitter backoff
//! before failing as a retryable [`Error::Provider`], and `409`/`412`/`422` (and a `405`
//! on merge) as [`Error::Precondition`] with GitHub's message.
//!
//! Creates (issue, comment, pull request, check run) embed the write intent's idempotency
//! key ([`marker`](kradle_sync_core::marker) in bodies, `external_id` on check runs). When
//! a create's outcome is unknown (timeout, `5xx`, connection lost after sending), the
//! adapter looks the object up by that key and adopts it instead of creating another.
//!
//! Authentication is a personal access token or a GitHub App installation
//! ([`GithubAuth`]): the app's RS256 JWT is exchanged for an installation token, cached
//! until five minutes before it expires, refreshed by one caller at a time, and refreshed
//! once more after a `401`. Keys and tokens stay in [`Secret`](kradle_sync_core::Secret)s.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use kradle_provider_github::api::{GithubApp, GithubAuth, GithubClient};
//! use kradle_store_memory::MemoryStore;
//! use kradle_sync_core::{ExternalTarget, IssueTracking, PageRequest};
//!
//! # async fn run(pem: String) -> Result<(), kradle_sync_core::Error> {
//! let store = Arc::new(MemoryStore::new()); // the host's store keeps the ETags
//! let github = GithubClient::builder(reqwest::Client::new())
//!     // .base_url("https://ghe.example.com/api/v3") for GitHub Enterprise Server
//!     .auth(GithubAuth::app(GithubApp::new("12345", pem, 678)))
//!     .org("octo-org")
//!     .cache(store)
//!     .build()?;
//!
//! // A backfill: newest change first, 100 a page; store `page.next` as the checkpoint.
//! let backfill = github.for_backfill();
//! let target = ExternalTarget::from_path("octo-org/octo-repo");
//! let mut page = PageRequest::first(100);
//! loop {
//!     let got = backfill.list_issues(&target, None, &page).await?;
//!     for _issue in &got.items { /* apply */ }
//!     match got.next {
//!         Some(next) => page.cursor = Some(next),
//!         None => break,
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`Provider`]: kradle_sync_core::Provider
//! [`IssueTracking`]: kradle_sync_core::IssueTracking
//! [`Cicd`]: kradle_sync_core::Cicd
//! [`GitForge`]: kradle_sync_core::GitForge
//! [`Error::Provider`]: kradle_sync_core::Error::Provider
//! [`Error::Precondition`]: kradle_sync_core::Error::Precondition

mod auth;
mod cicd;
mod client;
mod convert;
mod forge;
mod issues;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use kradle_http::{ApiRequest, HttpError};
use kradle_sync_core::{
    Cicd, Error, GitForge, IssueTracking, Provider, ProviderDescriptor, ProviderHealth,
    RateLimitStatus,
};
use serde_json::Value;

pub use auth::{GithubApp, GithubAuth, InstallationToken};
pub use client::{
    API_VERSION, DEFAULT_API_URL, GithubClient, GithubClientBuilder, is_paused, retry_at,
};

#[async_trait]
impl Provider for GithubClient {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.settings.descriptor
    }

    /// `GET /rate_limit`: the credentials work, and the `core` budget (GitHub does not
    /// count this request against it). A `401` is a health answer (`auth_ready: false`),
    /// not an error.
    async fn health(&self) -> Result<ProviderHealth, Error> {
        let request = ApiRequest::get("/rate_limit")
            .conditional(false)
            .priority(kradle_http::Priority::Write);
        match self.api.send(request).await {
            Ok(response) => {
                let body: Value = response.json()?;
                let core = body.pointer("/resources/core").or_else(|| body.get("rate"));
                let number = |name: &str| core.and_then(|c| c.get(name)).and_then(Value::as_u64);
                Ok(ProviderHealth::new(true).with_rate_limit(
                    number("remaining"),
                    number("reset")
                        .and_then(|s| i64::try_from(s).ok())
                        .and_then(|s| Utc.timestamp_opt(s, 0).single()),
                ))
            }
            Err(
                e @ (HttpError::Unauthorized { .. }
                | HttpError::Credentials {
                    retryable: false, ..
                }),
            ) => Ok(ProviderHealth::new(false).with_message(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    fn issue_tracking(&self) -> Option<&dyn IssueTracking> {
        Some(self)
    }

    fn cicd(&self) -> Option<&dyn Cicd> {
        Some(self)
    }

    fn git_forge(&self) -> Option<&dyn GitForge> {
        Some(self)
    }

    fn rate_limit(&self) -> Option<RateLimitStatus> {
        self.budget()
            .map(|b| RateLimitStatus::new(b.limit, b.remaining, b.reset_at))
    }
}

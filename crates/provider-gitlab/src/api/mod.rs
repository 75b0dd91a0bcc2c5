//! The HTTP adapter: GitLab's REST API v4 as the three kradle-sync interfaces.
//!
//! [`GitlabClient`] implements [`Provider`], [`IssueTracking`], [`Cicd`] and [`GitForge`]
//! over the shared HTTP kit (`kradle-http`), so every call gets the same layers: `Link`
//! pagination with `per_page=100` (and `x-next-page` where a response has no `Link`),
//! `If-None-Match` from the ETag cache in the host's [`SyncStore`](kradle_sync_core::SyncStore)
//! (a `304` is a page with `not_modified` set, served from the cache), rate-limit budgets
//! fed by GitLab's `RateLimit-*` headers with priority classes (writes > hydrates >
//! backfill), `429` waits for `Retry-After`, `5xx` and transport errors retried with
//! full-jitter backoff before failing as a retryable [`Error::Provider`], and
//! `409`/`412`/`422` (and `405`/`406` on merge) as [`Error::Precondition`] with GitLab's
//! message.
//!
//! Creates (issue, note, merge request) embed the write intent's idempotency key in their
//! description or body ([`marker`](kradle_sync_core::marker)). When a create's outcome is
//! unknown (timeout, `5xx`, connection lost after sending), the adapter looks the object up
//! by that key and adopts it instead of creating another.
//!
//! Authentication is a personal, project or group access token (sent as `PRIVATE-TOKEN`) or
//! an OAuth 2.0 token (sent as `Authorization: Bearer`); it stays in a
//! [`Secret`](kradle_sync_core::Secret).
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
pub(crate) mod walk;

use async_trait::async_trait;
use kradle_http::{ApiRequest, HttpError, Priority};
use kradle_sync_core::{
    Cicd, Error, GitForge, IssueTracking, Provider, ProviderDescriptor, ProviderHealth,
    RateLimitStatus,
};

pub use auth::GitlabAuth;
pub(crate) use client::project_path as project_path_of;
pub use client::{
    DEFAULT_API_URL, GitlabClient, GitlabClientBuilder, api_base_url, is_paused, retry_at,
};

#[async_trait]
impl Provider for GitlabClient {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.settings.descriptor
    }

    /// `GET /user`: the credentials work, and the budget GitLab's `RateLimit-*` headers
    /// report. A `401` is a health answer (`auth_ready: false`), not an error.
    async fn health(&self) -> Result<ProviderHealth, Error> {
        let request = ApiRequest::get("/user")
            .conditional(false)
            .priority(Priority::Write);
        match self.send(request).await {
            Ok(_) => {
                let budget = self.budget();
                Ok(ProviderHealth::new(true).with_rate_limit(
                    budget.as_ref().and_then(|b| b.remaining),
                    budget.as_ref().and_then(|b| b.reset_at),
                ))
            }
            Err(e @ HttpError::Unauthorized { .. }) => {
                Ok(ProviderHealth::new(false).with_message(e.to_string()))
            }
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

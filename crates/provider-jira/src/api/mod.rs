//! The HTTP adapter: Jira's REST API as kradle-sync's issue-tracking interface.
//!
//! [`JiraClient`] implements [`Provider`] and [`IssueTracking`] (Jira has neither CI/CD nor
//! a git forge: `cicd()` and `git_forge()` are `None`) over the shared HTTP kit
//! (`kradle-http`): token pagination on Cloud (`POST /rest/api/3/search/jql`,
//! `nextPageToken`/`isLast`), offset pagination on Data Center (`startAt`/`maxResults`/
//! `total`), rate-limit budgets with priority classes, `429` with `Retry-After` honoured,
//! `5xx` and transport errors retried with full-jitter backoff, `409`/`412`/`422` as
//! [`Error::Precondition`], and a `400` on a write as a typed refusal (a precondition
//! failure naming Jira's field errors), never a retry loop.
//!
//! ```no_run
//! use kradle_provider_jira::{JiraAuth, JiraClient};
//! use kradle_sync_core::{ExternalTarget, IssueTracking, PageRequest};
//!
//! # async fn run(token: String) -> Result<(), kradle_sync_core::Error> {
//! let jira = JiraClient::builder(reqwest::Client::new(), "https://example.atlassian.net")
//!     .auth(JiraAuth::basic("me@example.com", token))
//!     .org("example.atlassian.net")
//!     .build()?;
//! let project = ExternalTarget::from_path("example.atlassian.net/KRADLE");
//! let mut page = PageRequest::first(100);
//! loop {
//!     let got = jira.for_backfill().list_issues(&project, None, &page).await?;
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
//! [`Error::Precondition`]: kradle_sync_core::Error::Precondition

mod auth;
mod client;
mod convert;
mod issues;
mod search;
mod writes;

use async_trait::async_trait;
use kradle_http::{ApiRequest, HttpError, Priority};
use kradle_sync_core::{
    Error, IssueTracking, Provider, ProviderDescriptor, ProviderHealth, RateLimitStatus,
};

pub use auth::JiraAuth;
pub use client::{Flavor, JiraClient, JiraClientBuilder, is_paused, retry_at};

#[async_trait]
impl Provider for JiraClient {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.settings.descriptor
    }

    /// `GET /myself`: the credentials work. A `401` is a health answer (`auth_ready:
    /// false`), not an error; the budget is the one the responses reported.
    async fn health(&self) -> Result<ProviderHealth, Error> {
        let request = ApiRequest::get(self.path("/myself"))
            .conditional(false)
            .priority(Priority::Write);
        match self.api.send(request).await {
            Ok(_) => {
                let budget = self.budget();
                Ok(ProviderHealth::new(true).with_rate_limit(
                    budget.as_ref().and_then(|b| b.remaining),
                    budget.and_then(|b| b.reset_at),
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

    fn rate_limit(&self) -> Option<RateLimitStatus> {
        self.budget()
            .map(|b| RateLimitStatus::new(b.limit, b.remaining, b.reset_at))
    }
}

/// Splits a `SITE/KEY` target (for the plugin's validation).
pub(crate) fn convert_target(path: &str) -> Result<(), crate::JiraError> {
    convert::parse_target(path).map(|_| ())
}

//! Rate-limit budgets: read from every response's headers, kept per (provider, account,
//! org, repository) and resource, and consulted before every request by its priority
//! class. Writes outrank webhook-driven hydrates, which outrank backfill.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use kradle_sync_core::ProviderKind;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

/// The priority class a request declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// A write intent being applied: always sent.
    Write,
    /// An authoritative read triggered by a webhook: held back below the hydrate reserve.
    Hydrate,
    /// A backfill or resync read: held back below the (larger) backfill reserve.
    Backfill,
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Priority::Write => "write",
            Priority::Hydrate => "hydrate",
            Priority::Backfill => "backfill",
        })
    }
}

/// Whose budget a request spends: (provider, installation or account, org, repository).
/// Fill only the parts the provider counts its limit by: GitHub counts per installation
/// or user, so a GitHub binding leaves `repository` empty and its repositories share one
/// budget; a provider with per-project limits sets it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RateLimitScope {
    /// Provider type.
    pub provider: ProviderKind,
    /// Installation id, account or token owner (never the token).
    pub account: String,
    /// Organization, group or site, if the limit is counted per org.
    pub org: Option<String>,
    /// Repository or project, if the limit is counted per repository.
    pub repository: Option<String>,
}

impl RateLimitScope {
    /// A scope of one account.
    pub fn new(provider: impl Into<ProviderKind>, account: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            account: account.into(),
            org: None,
            repository: None,
        }
    }

    /// Narrowed to an org.
    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Narrowed to a repository.
    pub fn repository(mut self, repository: impl Into<String>) -> Self {
        self.repository = Some(repository.into());
        self
    }
}

impl fmt::Display for RateLimitScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.account)?;
        if let Some(o) = &self.org {
            write!(f, "/{o}")?;
        }
        if let Some(r) = &self.repository {
            write!(f, "/{r}")?;
        }
        Ok(())
    }
}

/// What one response's headers said about the rate limit.
///
/// Read: GitHub `x-ratelimit-limit/remaining/used/reset/resource`; GitLab
/// `ratelimit-limit/remaining/observed/reset/resettime`; Jira `x-ratelimit-*`; and
/// `retry-after` everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// Requests per window.
    pub limit: Option<u64>,
    /// Requests left in the window.
    pub remaining: Option<u64>,
    /// Requests used in the window.
    pub used: Option<u64>,
    /// When the window resets.
    pub reset_at: Option<DateTime<Utc>>,
    /// Which budget (GitHub: `core`, `search`, `graphql`, …).
    pub resource: Option<String>,
    /// The server's `Retry-After`, as a wait from now.
    pub retry_after: Option<Duration>,
}

impl RateLimitHeaders {
    /// Reads the headers of a response received at `now`.
    pub fn parse(headers: &HeaderMap, now: DateTime<Utc>) -> Self {
        let text = |names: &[&str]| {
            names.iter().find_map(|n| {
                headers
                    .get(*n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
            })
        };
        let number = |names: &[&str]| text(names).and_then(|v| v.parse::<u64>().ok());
        Self {
            limit: number(&["x-ratelimit-limit", "ratelimit-limit"]),
            remaining: number(&["x-ratelimit-remaining", "ratelimit-remaining"]),
            used: number(&["x-ratelimit-used", "ratelimit-observed"]),
            reset_at: text(&[
                "x-ratelimit-reset",
                "ratelimit-reset",
                "ratelimit-resettime",
            ])
            .and_then(|v| parse_reset(v, now)),
            resource: text(&["x-ratelimit-resource"]).map(str::to_owned),
            retry_after: text(&["retry-after"]).and_then(|v| parse_retry_after(v, now)),
        }
    }

    /// Whether any budget value was present.
    pub fn has_budget(&self) -> bool {
        self.limit.is_some() || self.remaining.is_some() || self.reset_at.is_some()
    }
}

/// A reset time in any of the forms providers send: epoch seconds (GitHub, GitLab),
/// epoch milliseconds (values of 10^11 and more; the octokit recordings normalise to
/// these), a small number as seconds from now (the IETF draft's delta), RFC 3339 (Jira
/// Cloud) or an HTTP date (GitLab's `RateLimit-ResetTime`).
pub fn parse_reset(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(n) = value.parse::<i64>() {
        return if n >= 100_000_000_000 {
            Utc.timestamp_millis_opt(n).single()
        } else if n >= 1_000_000_000 {
            Utc.timestamp_opt(n, 0).single()
        } else {
            Some(now + chrono::Duration::seconds(n.max(0)))
        };
    }
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_rfc2822(value))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `Retry-After`: delay seconds or an HTTP date (RFC 9110 §10.2.3), as a wait from `now`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(n) = value.parse::<u64>() {
        return Some(Duration::from_secs(n));
    }
    DateTime::parse_from_rfc2822(value).ok().map(|t| {
        (t.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
    })
}

/// The last known state of one budget, for a `RateLimited` condition and for metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetSnapshot {
    /// Whose budget.
    pub scope: RateLimitScope,
    /// Which resource of it (`core`, `search`, …).
    pub resource: String,
    /// Requests per window.
    pub limit: Option<u64>,
    /// Requests left when last observed.
    pub remaining: Option<u64>,
    /// Requests used when last observed.
    pub used: Option<u64>,
    /// When the window resets.
    pub reset_at: Option<DateTime<Utc>>,
    /// Until when the provider asked for no requests at all (`Retry-After`, an exhausted
    /// budget).
    pub blocked_until: Option<DateTime<Utc>>,
    /// When the headers were read.
    pub observed_at: DateTime<Utc>,
}

impl BudgetSnapshot {
    /// Whether the budget is rate limited at `now`: the provider asked for a pause, or
    /// nothing is left and the window has not reset. This is the `RateLimited` condition.
    pub fn is_limited(&self, now: DateTime<Utc>) -> bool {
        self.blocked_until.is_some_and(|t| now < t)
            || (self.remaining == Some(0) && self.reset_at.is_none_or(|t| now < t))
    }

    /// When requests may resume, if limited at `now`.
    pub fn resumes_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.is_limited(now) {
            return None;
        }
        match (self.blocked_until.filter(|t| now < *t), self.reset_at) {
            (Some(b), Some(r)) if self.remaining == Some(0) => Some(b.max(r)),
            (Some(b), _) => Some(b),
            (None, r) => r,
        }
    }

    /// Requests left, counting a window that has reset as full.
    fn remaining_at(&self, now: DateTime<Utc>) -> Option<u64> {
        match self.reset_at {
            Some(reset) if now >= reset => None,
            _ => self.remaining,
        }
    }
}

/// How much of a budget a priority class must leave for the classes above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reserve {
    /// A number of requests.
    Requests(u64),
    /// A percentage of the window's limit (of 100 requests when the limit is unknown).
    Percent(u8),
}

impl Reserve {
    fn requests(self, limit: Option<u64>) -> u64 {
        match self {
            Reserve::Requests(n) => n,
            Reserve::Percent(p) => limit.unwrap_or(100).saturating_mul(u64::from(p.min(100))) / 100,
        }
    }
}

/// What a held-back request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LowBudget {
    /// Return [`HttpError::Paused`](crate::HttpError::Paused) with the reset time; the
    /// caller checkpoints and resumes later (the default).
    Pause,
    /// Wait for the reset through the injected sleeper (up to `max_wait`), then send.
    Wait,
}

/// The reserves of the priority classes and the longest wait the kit does on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetPolicy {
    /// Backfill is held back while fewer requests than this remain.
    pub backfill_reserve: Reserve,
    /// Hydrates are held back while fewer than this remain (keep it below the backfill
    /// reserve).
    pub hydrate_reserve: Reserve,
    /// Pause or wait when held back.
    pub on_low_budget: LowBudget,
    /// The longest wait the kit sleeps through (a `Retry-After`, a reset); a longer one
    /// ends the call with `RateLimited`/`Paused` carrying the time to resume.
    pub max_wait: Duration,
}

impl Default for BudgetPolicy {
    /// Backfill keeps 20 % of the window free, hydrates 5 %, writes always go; held-back
    /// requests pause; the kit sleeps at most 15 minutes on its own.
    fn default() -> Self {
        Self {
            backfill_reserve: Reserve::Percent(20),
            hydrate_reserve: Reserve::Percent(5),
            on_low_budget: LowBudget::Pause,
            max_wait: Duration::from_secs(15 * 60),
        }
    }
}

/// Whether a request may go now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Send it.
    Go,
    /// The provider asked for no requests until `until` (every class waits).
    Blocked {
        /// When requests may resume.
        until: DateTime<Utc>,
    },
    /// The budget is below the reserve of the request's class until `until`.
    Low {
        /// When the budget resets.
        until: DateTime<Utc>,
        /// The budget.
        budget: Box<BudgetSnapshot>,
    },
}

/// The budgets of every scope, shared by all clients that spend them (several bindings
/// of one GitHub installation share one). A host may create one and hand it to each
/// client, and read snapshots from it for its `RateLimited` conditions.
#[derive(Debug, Default)]
pub struct RateLimits {
    budgets: Mutex<BTreeMap<(RateLimitScope, String), BudgetSnapshot>>,
}

impl RateLimits {
    /// No budgets known yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<(RateLimitScope, String), BudgetSnapshot>> {
        self.budgets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records what a response's headers said. `default_resource` names the budget when
    /// the response does not (GitLab, Jira).
    pub fn observe(
        &self,
        scope: &RateLimitScope,
        default_resource: &str,
        headers: &RateLimitHeaders,
        now: DateTime<Utc>,
    ) {
        if !headers.has_budget() {
            return;
        }
        let resource = headers
            .resource
            .clone()
            .unwrap_or_else(|| default_resource.to_owned());
        let mut budgets = self.lock();
        let entry = budgets
            .entry((scope.clone(), resource.clone()))
            .or_insert_with(|| BudgetSnapshot {
                scope: scope.clone(),
                resource,
                limit: None,
                remaining: None,
                used: None,
                reset_at: None,
                blocked_until: None,
                observed_at: now,
            });
        entry.limit = headers.limit.or(entry.limit);
        entry.remaining = headers.remaining.or(entry.remaining);
        entry.used = headers.used.or(entry.used);
        entry.reset_at = headers.reset_at.or(entry.reset_at);
        entry.observed_at = now;
        if entry.remaining == Some(0)
            && let Some(reset) = entry.reset_at.filter(|r| *r > now)
        {
            entry.blocked_until = Some(entry.blocked_until.map_or(reset, |b| b.max(reset)));
        }
    }

    /// Records that the provider asked for no requests on this budget until `until`.
    pub fn block(
        &self,
        scope: &RateLimitScope,
        resource: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let mut budgets = self.lock();
        let entry = budgets
            .entry((scope.clone(), resource.to_owned()))
            .or_insert_with(|| BudgetSnapshot {
                scope: scope.clone(),
                resource: resource.to_owned(),
                limit: None,
                remaining: None,
                used: None,
                reset_at: None,
                blocked_until: None,
                observed_at: now,
            });
        entry.blocked_until = Some(entry.blocked_until.map_or(until, |b| b.max(until)));
    }

    /// One budget.
    pub fn get(&self, scope: &RateLimitScope, resource: &str) -> Option<BudgetSnapshot> {
        self.lock()
            .get(&(scope.clone(), resource.to_owned()))
            .cloned()
    }

    /// Every budget of a scope (one per resource), sorted by resource.
    pub fn snapshot(&self, scope: &RateLimitScope) -> Vec<BudgetSnapshot> {
        self.lock()
            .values()
            .filter(|b| &b.scope == scope)
            .cloned()
            .collect()
    }

    /// Every budget known, sorted by scope and resource.
    pub fn all(&self) -> Vec<BudgetSnapshot> {
        self.lock().values().cloned().collect()
    }

    /// Whether a request of `priority` on this budget may go at `now`.
    pub fn admit(
        &self,
        scope: &RateLimitScope,
        resource: &str,
        priority: Priority,
        policy: &BudgetPolicy,
        now: DateTime<Utc>,
    ) -> Admission {
        let Some(budget) = self.get(scope, resource) else {
            return Admission::Go;
        };
        if let Some(until) = budget.blocked_until.filter(|t| now < *t) {
            return Admission::Blocked { until };
        }
        let reserve = match priority {
            Priority::Write => return Admission::Go,
            Priority::Hydrate => policy.hydrate_reserve,
            Priority::Backfill => policy.backfill_reserve,
        };
        match budget.remaining_at(now) {
            Some(left) if left < reserve.requests(budget.limit) => Admission::Low {
                until: budget
                    .reset_at
                    .unwrap_or(now + chrono::Duration::seconds(60)),
                budget: Box::new(budget),
            },
            _ => Admission::Go,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The headers of the recorded GitHub session (reset normalised to milliseconds).
    #[test]
    fn github_recorded() {
        let h = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4999"),
            ("x-ratelimit-reset", "1507651200000"),
            ("x-ratelimit-resource", "core"),
            ("x-ratelimit-used", "1"),
        ]);
        let r = RateLimitHeaders::parse(&h, at("2017-10-10T15:00:00Z"));
        assert_eq!(r.limit, Some(5000));
        assert_eq!(r.remaining, Some(4999));
        assert_eq!(r.used, Some(1));
        assert_eq!(r.reset_at, Some(at("2017-10-10T16:00:00Z")));
        assert_eq!(r.resource.as_deref(), Some("core"));
        // Live GitHub sends epoch seconds.
        let h = headers(&[("x-ratelimit-reset", "1507651200")]);
        let r = RateLimitHeaders::parse(&h, at("2017-10-10T15:00:00Z"));
        assert_eq!(r.reset_at, Some(at("2017-10-10T16:00:00Z")));
    }

    /// GitLab's documented `RateLimit-*` headers and Jira Cloud's ISO reset.
    #[test]
    fn gitlab_and_jira() {
        let now = at("2021-01-05T10:55:00Z");
        let h = headers(&[
            ("RateLimit-Limit", "60"),
            ("RateLimit-Observed", "67"),
            ("RateLimit-Remaining", "0"),
            ("RateLimit-Reset", "1609844400"),
            ("RateLimit-ResetTime", "Tue, 05 Jan 2021 11:00:00 GMT"),
            ("Retry-After", "300"),
        ]);
        let r = RateLimitHeaders::parse(&h, now);
        assert_eq!(
            (r.limit, r.remaining, r.used),
            (Some(60), Some(0), Some(67))
        );
        assert_eq!(r.reset_at, Some(at("2021-01-05T11:00:00Z")));
        assert_eq!(r.retry_after, Some(Duration::from_secs(300)));
        let h = headers(&[("RateLimit-ResetTime", "Tue, 05 Jan 2021 11:00:00 GMT")]);
        assert_eq!(
            RateLimitHeaders::parse(&h, now).reset_at,
            Some(at("2021-01-05T11:00:00Z"))
        );

        let h = headers(&[
            ("X-RateLimit-Limit", "350"),
            ("X-RateLimit-Remaining", "10"),
            ("X-RateLimit-Reset", "2021-01-05T11:00:00Z"),
            ("Retry-After", "Tue, 05 Jan 2021 11:00:00 GMT"),
        ]);
        let r = RateLimitHeaders::parse(&h, now);
        assert_eq!(r.reset_at, Some(at("2021-01-05T11:00:00Z")));
        assert_eq!(r.retry_after, Some(Duration::from_secs(300)));
        assert!(
            !RateLimitHeaders::parse(&headers(&[("x-ratelimit-reset", "soon")]), now).has_budget()
        );
    }

    #[test]
    fn priorities_and_reserves() {
        let now = at("2017-10-10T15:00:00Z");
        let scope = RateLimitScope::new("github", "installation-1").org("octokit-fixture-org");
        let limits = RateLimits::new();
        let policy = BudgetPolicy {
            backfill_reserve: Reserve::Requests(100),
            hydrate_reserve: Reserve::Requests(10),
            ..BudgetPolicy::default()
        };
        assert_eq!(
            limits.admit(&scope, "core", Priority::Backfill, &policy, now),
            Admission::Go
        );
        let observed = |remaining: u64| RateLimitHeaders {
            limit: Some(5000),
            remaining: Some(remaining),
            reset_at: Some(at("2017-10-10T16:00:00Z")),
            resource: Some("core".into()),
            ..RateLimitHeaders::default()
        };
        limits.observe(&scope, "core", &observed(50), now);
        assert!(matches!(
            limits.admit(&scope, "core", Priority::Backfill, &policy, now),
            Admission::Low { until, .. } if until == at("2017-10-10T16:00:00Z")
        ));
        assert_eq!(
            limits.admit(&scope, "core", Priority::Hydrate, &policy, now),
            Admission::Go
        );
        assert_eq!(
            limits.admit(&scope, "search", Priority::Backfill, &policy, now),
            Admission::Go
        );
        limits.observe(&scope, "core", &observed(5), now);
        assert!(matches!(
            limits.admit(&scope, "core", Priority::Hydrate, &policy, now),
            Admission::Low { .. }
        ));
        assert_eq!(
            limits.admit(&scope, "core", Priority::Write, &policy, now),
            Admission::Go
        );
        // After the reset the window counts as full again.
        let later = at("2017-10-10T16:00:01Z");
        assert_eq!(
            limits.admit(&scope, "core", Priority::Backfill, &policy, later),
            Admission::Go
        );
        // Exhausted: everyone waits for the reset, writes too.
        limits.observe(&scope, "core", &observed(0), now);
        assert_eq!(
            limits.admit(&scope, "core", Priority::Write, &policy, now),
            Admission::Blocked {
                until: at("2017-10-10T16:00:00Z")
            }
        );
        let snap = limits.get(&scope, "core").unwrap();
        assert!(snap.is_limited(now));
        assert_eq!(snap.resumes_at(now), Some(at("2017-10-10T16:00:00Z")));
        assert!(!snap.is_limited(later));
        assert_eq!(Reserve::Percent(20).requests(Some(5000)), 1000);
    }
}

//! A simulated provider: its webhooks carry canonical-looking JSON, verified with a shared
//! token. Property tests drive the engine through it, and a third-party provider author can
//! read it as the smallest complete [`WebhookAdapter`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    Authority, CanonicalEvent, Capabilities, Change, DeliveryId, Error, ExternalTarget,
    ExternalVersion, Fields, Interface, LinkInfo, NativeId, NormalizedWebhook, ProviderDescriptor,
    Removal, ResourceKind, SignatureScheme, VerifiedWebhook, WebhookAdapter, WebhookKey,
    WebhookRequest,
};

/// The simulated provider's kind.
pub const KIND: &str = "simulated";
/// Header carrying the delivery id.
pub const DELIVERY_HEADER: &str = "X-Sim-Delivery";
/// Header carrying the shared token.
pub const TOKEN_HEADER: &str = "X-Sim-Token";
/// Header carrying the event name (`change` is the one event the provider has).
pub const EVENT_HEADER: &str = "X-Sim-Event";

/// One object as the simulated provider's API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimObject {
    /// Kind.
    pub kind: ResourceKind,
    /// Native id.
    pub native_id: String,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Fields (possibly partial in webhooks, complete in reads).
    pub fields: Fields,
}

/// One change a simulated webhook reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SimChange {
    /// The object was seen like this.
    Observed(SimObject),
    /// The object was deleted at this time.
    Deleted {
        /// Kind.
        kind: ResourceKind,
        /// Native id.
        native_id: String,
        /// Deletion time.
        updated_at: DateTime<Utc>,
    },
}

/// One simulated delivery: an id, the target and one change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimDelivery {
    /// Delivery id.
    pub id: String,
    /// Target path (`owner/repo`).
    pub target: String,
    /// The change.
    pub change: SimChange,
}

impl SimDelivery {
    /// The delivery as a signed request.
    pub fn request(&self, token: &str) -> WebhookRequest {
        let body = serde_json::to_vec(self).unwrap_or_default();
        let mut headers = crate::Headers::default();
        headers.insert(DELIVERY_HEADER, self.id.clone());
        headers.insert(EVENT_HEADER, "change");
        headers.insert(TOKEN_HEADER, token);
        WebhookRequest::new(headers, body)
    }
}

/// The simulated provider's adapter.
#[derive(Debug, Clone)]
pub struct SimulatedProvider {
    descriptor: ProviderDescriptor,
}

impl Default for SimulatedProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl SimulatedProvider {
    /// The adapter, declaring all three interfaces.
    pub fn new() -> Self {
        Self {
            descriptor: ProviderDescriptor::new(KIND, &Interface::ALL, SignatureScheme::Token)
                .with_display_name("Simulated")
                .with_hosting(&["test"])
                .with_auth_modes(&[crate::AuthMode::Token])
                .with_delivery_header(DELIVERY_HEADER)
                .with_event_header(EVENT_HEADER)
                .with_capabilities(
                    Capabilities::default()
                        .with_can_delete(true)
                        .with_idempotency_keys(true)
                        .with_conditional_reads(true)
                        .with_merge_with_expected_sha(true)
                        .with_reviewed_writes(true),
                ),
        }
    }

    fn event(
        delivery: &DeliveryId,
        target: &str,
        change: SimChange,
        authority: Authority,
    ) -> CanonicalEvent {
        let (kind, native_id, updated_at, change, action) = match change {
            SimChange::Observed(o) => {
                let version = ExternalVersion::at(o.updated_at);
                (
                    o.kind,
                    o.native_id,
                    o.updated_at,
                    Change::Observed {
                        version,
                        fields: o.fields,
                    },
                    "observed",
                )
            }
            SimChange::Deleted {
                kind,
                native_id,
                updated_at,
            } => {
                let version = ExternalVersion::at(updated_at);
                (
                    kind,
                    native_id,
                    updated_at,
                    Change::Removed {
                        version,
                        removal: Removal::Deleted,
                    },
                    "deleted",
                )
            }
        };
        CanonicalEvent::new(
            KIND,
            delivery.clone(),
            kind,
            NativeId::new(native_id),
            action,
            authority,
            change,
        )
        .with_event_time(Some(updated_at))
        .with_target(Some(ExternalTarget::from_path(target)))
    }
}

impl WebhookAdapter for SimulatedProvider {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    fn verify_webhook(
        &self,
        request: &WebhookRequest,
        key: &WebhookKey<'_>,
    ) -> Result<VerifiedWebhook, Error> {
        let delivery = request
            .headers
            .get(DELIVERY_HEADER)
            .ok_or(Error::MissingHeader {
                provider: KIND.into(),
                header: DELIVERY_HEADER,
            })?;
        let token = request
            .headers
            .get(TOKEN_HEADER)
            .ok_or_else(|| Error::Signature {
                provider: KIND.into(),
                reason: format!("no {TOKEN_HEADER} header"),
            })?;
        if key.scheme != SignatureScheme::Token {
            return Err(Error::Signature {
                provider: KIND.into(),
                reason: format!(
                    "the binding expects {} signatures; simulated webhooks carry a token",
                    key.scheme.as_str()
                ),
            });
        }
        if !key.secret.matches(token.as_bytes()) {
            return Err(Error::Signature {
                provider: KIND.into(),
                reason: "token does not match".into(),
            });
        }
        let event = request.headers.get(EVENT_HEADER).unwrap_or("change");
        Ok(VerifiedWebhook::new(delivery, event, "token"))
    }

    fn normalize_webhook(&self, request: &WebhookRequest) -> Result<NormalizedWebhook, Error> {
        let event = request.headers.get(EVENT_HEADER).unwrap_or_default();
        if event != "change" {
            let reason = format!(
                "`{event}` is not an event of the simulated provider; only `change` is synced"
            );
            return Ok(NormalizedWebhook::ignored(event, reason));
        }
        let delivery: SimDelivery =
            serde_json::from_slice(&request.body).map_err(|e| Error::MalformedPayload {
                provider: KIND.into(),
                reason: e.to_string(),
            })?;
        let id = DeliveryId::new(delivery.id.clone());
        let target = ExternalTarget::from_path(delivery.target.clone());
        let event = Self::event(&id, &delivery.target, delivery.change, Authority::Webhook);
        Ok(NormalizedWebhook::events("change", vec![event.clone()])
            .with_action(Some(event.action))
            .with_target(Some(target)))
    }

    fn parse_rest_object(
        &self,
        kind: ResourceKind,
        object: &serde_json::Value,
        read_id: &DeliveryId,
    ) -> Result<Option<CanonicalEvent>, Error> {
        let o: SimObject =
            serde_json::from_value(object.clone()).map_err(|e| Error::MalformedPayload {
                provider: KIND.into(),
                reason: e.to_string(),
            })?;
        if o.kind != kind {
            return Ok(None);
        }
        let mut event = Self::event(
            read_id,
            "",
            SimChange::Observed(o),
            Authority::Authoritative,
        );
        event.target = None;
        event.action = "backfill".into();
        Ok(Some(event))
    }
}

/// A failure the simulated issue tracker injects into its next write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimFailure {
    /// The write happens but its response is lost (a timeout after the server acted).
    LoseResponse,
    /// The provider refuses the write's precondition.
    Precondition(String),
    /// The provider cannot perform the write as asked ([`Error::WriteConflict`]): a reason,
    /// a message, and its own form of the fields.
    Refuse(crate::conflict::ConflictReason, String, Fields),
    /// The provider is unavailable; nothing happens.
    Unavailable,
}

#[derive(Default)]
struct Tracker {
    issues: std::collections::BTreeMap<u64, (u64, crate::object::Issue, DateTime<Utc>)>,
    comments: std::collections::BTreeMap<u64, (u64, crate::object::Comment, DateTime<Utc>)>,
    clock: i64,
    failures: std::collections::VecDeque<SimFailure>,
    creates: u32,
}

/// An in-memory issue tracker behind the simulated provider's [`IssueTracking`](crate::IssueTracking): creates
/// embed the idempotency marker, and failures can be injected, so the write executor's
/// guarantees can be tested without a network.
pub struct SimulatedIssues {
    descriptor: ProviderDescriptor,
    tracker: std::sync::Mutex<Tracker>,
}

impl Default for SimulatedIssues {
    fn default() -> Self {
        Self::new()
    }
}

type TrackerGuard<'a> = std::sync::MutexGuard<'a, Tracker>;

fn unavailable() -> Error {
    Error::Provider {
        provider: KIND.into(),
        message: "simulated provider unavailable".into(),
        retryable: true,
        source: None,
    }
}

impl SimulatedIssues {
    /// An empty tracker.
    pub fn new() -> Self {
        Self {
            descriptor: SimulatedProvider::new().descriptor.clone(),
            tracker: Default::default(),
        }
    }

    fn lock(&self) -> Result<TrackerGuard<'_>, Error> {
        self.tracker.lock().map_err(|_| unavailable())
    }

    /// Makes the next write fail this way.
    pub fn fail_next(&self, failure: SimFailure) {
        if let Ok(mut t) = self.lock() {
            t.failures.push_back(failure);
        }
    }

    /// How many issues and comments were created, in all.
    pub fn creates(&self) -> u32 {
        self.lock().map_or(0, |t| t.creates)
    }

    /// Adds an existing issue, as if created at the provider by someone else.
    pub fn seed_issue(&self, number: u64, issue: crate::object::Issue) -> NativeId {
        let Ok(mut t) = self.lock() else {
            return NativeId::new("");
        };
        t.clock += 1;
        let at = DateTime::from_timestamp(1_700_000_000 + t.clock, 0).unwrap_or_default();
        let id = 7000 + number;
        t.issues.insert(number, (id, issue, at));
        NativeId::new(id.to_string())
    }

    fn observed_issue(
        id: u64,
        issue: &crate::object::Issue,
        at: DateTime<Utc>,
    ) -> crate::Observed<crate::object::Issue> {
        let mut shown = issue.clone();
        shown.body = shown.body.as_deref().map(crate::marker::strip);
        crate::Observed {
            native_id: NativeId::new(id.to_string()),
            link: LinkInfo {
                number: Some(issue.number),
                ..LinkInfo::default()
            },
            version: ExternalVersion::at(at),
            object: shown,
            extra: crate::Fields::new(),
        }
    }

    fn observed_comment(
        id: u64,
        comment: &crate::object::Comment,
        at: DateTime<Utc>,
    ) -> crate::Observed<crate::object::Comment> {
        let mut shown = comment.clone();
        shown.body = crate::marker::strip(&shown.body);
        crate::Observed {
            native_id: NativeId::new(id.to_string()),
            link: LinkInfo::default(),
            version: ExternalVersion::at(at),
            object: shown,
            extra: crate::Fields::new(),
        }
    }

    /// Takes the next injected failure: `Err` to fail before acting, `Ok(true)` to act and
    /// lose the response.
    fn before_write(t: &mut Tracker) -> Result<bool, Error> {
        match t.failures.pop_front() {
            None => Ok(false),
            Some(SimFailure::LoseResponse) => Ok(true),
            Some(SimFailure::Precondition(message)) => Err(Error::Precondition {
                provider: KIND.into(),
                message,
            }),
            Some(SimFailure::Refuse(reason, message, external)) => Err(Error::WriteConflict {
                provider: KIND.into(),
                reason,
                message,
                external,
            }),
            Some(SimFailure::Unavailable) => Err(unavailable()),
        }
    }

    fn tick(t: &mut Tracker) -> DateTime<Utc> {
        t.clock += 1;
        DateTime::from_timestamp(1_700_000_000 + t.clock, 0).unwrap_or_default()
    }
}

fn apply_patch(issue: &mut crate::object::Issue, patch: &crate::IssuePatch) {
    if let Some(v) = &patch.title {
        issue.title = v.clone();
    }
    if let Some(v) = &patch.body {
        issue.body = Some(v.clone());
    }
    if let Some(v) = &patch.state {
        issue.state = if v == "closed" {
            crate::object::IssueState::Closed
        } else {
            crate::object::IssueState::Open
        };
    }
    if let Some(v) = &patch.labels {
        issue.labels = v.clone();
    }
    if let Some(v) = &patch.assignees {
        issue.assignees = v.clone();
    }
    if let Some(v) = patch.milestone {
        issue.milestone = v;
    }
}

#[async_trait::async_trait]
impl crate::IssueTracking for SimulatedIssues {
    async fn list_issues(
        &self,
        _: &ExternalTarget,
        _: Option<DateTime<Utc>>,
        _: &crate::PageRequest,
    ) -> Result<crate::Page<crate::Observed<crate::object::Issue>>, Error> {
        let t = self.lock()?;
        // Newest change first, as the trait asks; one page.
        let mut issues: Vec<_> = t.issues.values().collect();
        issues.sort_by_key(|(_, _, at)| std::cmp::Reverse(*at));
        Ok(crate::Page::last(
            issues
                .into_iter()
                .map(|(id, i, at)| Self::observed_issue(*id, i, *at))
                .collect(),
        ))
    }

    async fn get_issue(
        &self,
        _: &ExternalTarget,
        number: u64,
    ) -> Result<crate::Observed<crate::object::Issue>, Error> {
        let t = self.lock()?;
        let (id, issue, at) = t.issues.get(&number).ok_or_else(unavailable)?;
        Ok(Self::observed_issue(*id, issue, *at))
    }

    async fn create_issue(
        &self,
        _: &ExternalTarget,
        patch: &crate::IssuePatch,
        key: &str,
    ) -> Result<crate::Observed<crate::object::Issue>, Error> {
        let mut t = self.lock()?;
        let lose = Self::before_write(&mut t)?;
        let number = t.issues.keys().max().copied().unwrap_or(0) + 1;
        let mut issue = crate::object::Issue {
            number,
            title: String::new(),
            body: None,
            state: crate::object::IssueState::Open,
            state_reason: None,
            labels: vec![],
            assignees: vec![],
            milestone: None,
            locked: false,
            author: Some("kradle-sync".into()),
            created_at: None,
            closed_at: None,
            html_url: None,
            pull_request: false,
        };
        apply_patch(&mut issue, patch);
        issue.body = Some(crate::marker::embed(
            issue.body.as_deref().unwrap_or_default(),
            key,
        ));
        let at = Self::tick(&mut t);
        let id = 7000 + number;
        t.issues.insert(number, (id, issue.clone(), at));
        t.creates += 1;
        if lose {
            return Err(Error::Provider {
                provider: KIND.into(),
                message: "timed out waiting for the response".into(),
                retryable: true,
                source: None,
            });
        }
        Ok(Self::observed_issue(id, &issue, at))
    }

    async fn update_issue(
        &self,
        _: &ExternalTarget,
        number: u64,
        patch: &crate::IssuePatch,
    ) -> Result<crate::Observed<crate::object::Issue>, Error> {
        let mut t = self.lock()?;
        let lose = Self::before_write(&mut t)?;
        let at = Self::tick(&mut t);
        let (id, issue, when) = t.issues.get_mut(&number).ok_or_else(unavailable)?;
        apply_patch(issue, patch);
        *when = at;
        let shown = Self::observed_issue(*id, issue, at);
        if lose {
            return Err(unavailable());
        }
        Ok(shown)
    }

    async fn list_comments(
        &self,
        _: &ExternalTarget,
        number: u64,
        _: &crate::PageRequest,
    ) -> Result<crate::Page<crate::Observed<crate::object::Comment>>, Error> {
        let t = self.lock()?;
        Ok(crate::Page::last(
            t.comments
                .values()
                .filter(|(_, c, _)| c.issue_number == Some(number))
                .map(|(id, c, at)| Self::observed_comment(*id, c, *at))
                .collect(),
        ))
    }

    async fn create_comment(
        &self,
        _: &ExternalTarget,
        number: u64,
        body: &str,
        key: &str,
    ) -> Result<crate::Observed<crate::object::Comment>, Error> {
        let mut t = self.lock()?;
        let lose = Self::before_write(&mut t)?;
        let at = Self::tick(&mut t);
        let id = 9000 + t.comments.len() as u64;
        let comment = crate::object::Comment {
            issue_native_id: t.issues.get(&number).map(|(id, _, _)| id.to_string()),
            issue_number: Some(number),
            body: crate::marker::embed(body, key),
            author: Some("kradle-sync".into()),
            created_at: Some(at),
            html_url: None,
        };
        t.comments.insert(id, (id, comment.clone(), at));
        t.creates += 1;
        if lose {
            return Err(unavailable());
        }
        Ok(Self::observed_comment(id, &comment, at))
    }

    async fn update_comment(
        &self,
        _: &ExternalTarget,
        comment: &NativeId,
        body: &str,
    ) -> Result<crate::Observed<crate::object::Comment>, Error> {
        let mut t = self.lock()?;
        Self::before_write(&mut t)?;
        let at = Self::tick(&mut t);
        let id: u64 = comment.as_str().parse().map_err(|_| unavailable())?;
        let (_, c, when) = t.comments.get_mut(&id).ok_or_else(unavailable)?;
        c.body = body.to_owned();
        *when = at;
        Ok(Self::observed_comment(id, c, at))
    }

    async fn delete_comment(&self, _: &ExternalTarget, comment: &NativeId) -> Result<(), Error> {
        let mut t = self.lock()?;
        Self::before_write(&mut t)?;
        let id: u64 = comment.as_str().parse().map_err(|_| unavailable())?;
        t.comments.remove(&id);
        Ok(())
    }

    async fn list_labels(
        &self,
        _: &ExternalTarget,
        _: &crate::PageRequest,
    ) -> Result<crate::Page<crate::Observed<crate::object::Label>>, Error> {
        Ok(crate::Page::last(vec![]))
    }

    async fn list_milestones(
        &self,
        _: &ExternalTarget,
        _: &crate::PageRequest,
    ) -> Result<crate::Page<crate::Observed<crate::object::Milestone>>, Error> {
        Ok(crate::Page::last(vec![]))
    }

    async fn find_issue_by_key(
        &self,
        _: &ExternalTarget,
        key: &str,
    ) -> Result<Option<crate::Observed<crate::object::Issue>>, Error> {
        let t = self.lock()?;
        Ok(t.issues
            .values()
            .find(|(_, i, _)| i.body.as_deref().and_then(crate::marker::find) == Some(key))
            .map(|(id, i, at)| Self::observed_issue(*id, i, *at)))
    }

    async fn find_comment_by_key(
        &self,
        _: &ExternalTarget,
        number: u64,
        key: &str,
    ) -> Result<Option<crate::Observed<crate::object::Comment>>, Error> {
        let t = self.lock()?;
        Ok(t.comments
            .values()
            .find(|(_, c, _)| {
                c.issue_number == Some(number) && crate::marker::find(&c.body) == Some(key)
            })
            .map(|(id, c, at)| Self::observed_comment(*id, c, *at)))
    }
}

#[async_trait::async_trait]
impl crate::Provider for SimulatedIssues {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    async fn health(&self) -> Result<crate::ProviderHealth, Error> {
        Ok(crate::ProviderHealth {
            auth_ready: true,
            rate_limit_remaining: None,
            rate_limit_reset: None,
            message: None,
        })
    }

    fn issue_tracking(&self) -> Option<&dyn crate::IssueTracking> {
        Some(self)
    }
}

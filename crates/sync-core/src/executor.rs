//! The write controller: applies write intents through the providers' interfaces, with the
//! lookups that keep a retried create from creating twice (invariant 4).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::object::{Canonical, DeployKey};
use crate::store::Filter;
use crate::write_intent::{WriteIntent, WriteOperation, WritePhase};
use crate::{
    Authority, Binding, BindingId, CanonicalEvent, Change, CheckRunInput, Cicd, CommitStatusInput,
    DeliveryId, Engine, Error, Fields, GitForge, IssuePatch, IssueTracking, Observed, Provider,
    PullRequestInput, ResourceKind, ReviewInput, WriteResult,
};

/// Which connected provider each binding writes through: the bindings whose credentials
/// the host has. A binding without one is receive-only.
///
/// ```
/// use kradle_sync_core::Connections;
/// let connections = Connections::new();
/// assert!(connections.get(&"octo/repo".into()).is_none());
/// ```
#[derive(Clone, Default)]
pub struct Connections {
    by_binding: BTreeMap<BindingId, Arc<dyn Provider>>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_binding.keys()).finish()
    }
}

impl Connections {
    /// No connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connects `binding` through `provider`.
    pub fn insert(&mut self, binding: impl Into<BindingId>, provider: Arc<dyn Provider>) {
        self.by_binding.insert(binding.into(), provider);
    }

    /// [`insert`](Self::insert), for chaining.
    pub fn with(mut self, binding: impl Into<BindingId>, provider: Arc<dyn Provider>) -> Self {
        self.insert(binding, provider);
        self
    }

    /// The provider `binding` writes through.
    pub fn get(&self, binding: &BindingId) -> Option<&Arc<dyn Provider>> {
        self.by_binding.get(binding)
    }

    /// The connected bindings, sorted.
    pub fn bindings(&self) -> impl Iterator<Item = &BindingId> {
        self.by_binding.keys()
    }

    /// Whether no binding is connected.
    pub fn is_empty(&self) -> bool {
        self.by_binding.is_empty()
    }
}

/// Where the executor finds a binding's provider.
enum Source<'a> {
    /// One provider for every binding of its type.
    One(&'a dyn Provider),
    /// A provider per binding.
    Each(&'a Connections),
}

/// Applies write intents through connected providers, routing every write the provider
/// traits declare: issues (create, update, close, reopen, labels, milestone, assignees),
/// comments (create, update, delete); pipelines and jobs (rerun, cancel), check runs
/// (create, update), commit statuses (set); pull requests (create, update, merge with the
/// expected head SHA), reviews (submit), branch protection (set), deploy keys (add,
/// remove), collaborators (permission).
///
/// A write whose provider response arrives is `applied`, and the response is applied as an
/// authoritative read-back, which confirms the intent when the provider shows every field.
/// A write whose last attempt ended with an unknown outcome (a timeout, a worker that died
/// between the provider's answer and recording it) first looks for what that attempt did:
/// a create looks for an object carrying its idempotency marker and adopts it, a merge
/// reads the pull request, so nothing is done twice.
pub struct WriteExecutor<'a> {
    engine: &'a Engine,
    source: Source<'a>,
}

fn text(fields: &Fields, name: &str) -> Option<String> {
    fields.get(name).and_then(|v| v.as_str()).map(str::to_owned)
}

fn list(fields: &Fields, name: &str) -> Option<Vec<String>> {
    fields.get(name).and_then(|v| v.as_array()).map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect()
    })
}

fn number_field(fields: &Fields, name: &str) -> Option<u64> {
    fields.get(name).and_then(serde_json::Value::as_u64)
}

fn patch_of(intent: &WriteIntent) -> IssuePatch {
    let f = &intent.fields;
    IssuePatch {
        title: text(f, "title"),
        body: text(f, "body"),
        state: text(f, "state"),
        state_reason: text(f, "state_reason"),
        labels: list(f, "labels"),
        assignees: list(f, "assignees"),
        milestone: f.get("milestone").map(serde_json::Value::as_u64),
    }
}

fn check_of(intent: &WriteIntent, create: bool) -> CheckRunInput {
    let f = &intent.fields;
    CheckRunInput {
        name: text(f, "name"),
        head_sha: text(f, "head_sha"),
        status: text(f, "status"),
        conclusion: text(f, "conclusion"),
        details_url: text(f, "details_url"),
        // The provider keeps it, so a retried create finds its first attempt.
        external_id: create.then(|| intent.idempotency_key.clone()),
        output_title: text(f, "output_title"),
        output_summary: text(f, "output_summary"),
    }
}

fn pull_of(intent: &WriteIntent) -> PullRequestInput {
    let f = &intent.fields;
    PullRequestInput {
        title: text(f, "title"),
        body: text(f, "body"),
        head: text(f, "head"),
        base: text(f, "base"),
        state: text(f, "state"),
        draft: f.get("draft").and_then(serde_json::Value::as_bool),
    }
}

/// The review event that submits a review in `state` (`APPROVED` → `APPROVE`, …); an
/// event name is taken as it is.
fn review_event(state: &str) -> String {
    match state.to_ascii_uppercase().as_str() {
        "APPROVED" => "APPROVE".to_owned(),
        "CHANGES_REQUESTED" => "REQUEST_CHANGES".to_owned(),
        "COMMENTED" => "COMMENT".to_owned(),
        other => other.to_owned(),
    }
}

fn event_of<T: Canonical>(
    binding: &Binding,
    intent: &WriteIntent,
    observed: &Observed<T>,
) -> CanonicalEvent {
    CanonicalEvent::new(
        binding.provider.clone(),
        DeliveryId::new(format!("write:{}:{}", intent.id, intent.attempts)),
        T::KIND,
        observed.native_id.clone(),
        "write",
        Authority::Authoritative,
        Change::Observed {
            version: observed.version.clone(),
            fields: {
                let mut fields = observed.object.to_fields();
                for (name, value) in &observed.extra {
                    fields.entry(name.clone()).or_insert_with(|| value.clone());
                }
                fields
            },
        },
    )
    .with_event_time(observed.version.updated_at)
    .with_link(observed.link.clone())
}

enum Applied {
    /// The provider's answer: the object as it is now.
    Object(Box<CanonicalEvent>),
    /// The provider's answer holds the object in another shape than the write: the
    /// answer settles the write, and becomes the object's state.
    Settled(Box<CanonicalEvent>),
    /// The provider answered without the object.
    Done,
}

fn object<T: Canonical>(binding: &Binding, intent: &WriteIntent, o: &Observed<T>) -> Applied {
    Applied::Object(Box::new(event_of(binding, intent, o)))
}

fn missing(intent: &WriteIntent, name: &str, rule: &'static str) -> Error {
    Error::Validation {
        rule,
        detail: format!(
            "a {} write ({:?}) needs `{name}` among its fields",
            intent.target.kind, intent.operation
        ),
    }
}

impl<'a> WriteExecutor<'a> {
    /// An executor writing every binding of `provider`'s type through it.
    pub fn new(engine: &'a Engine, provider: &'a dyn Provider) -> Self {
        Self {
            engine,
            source: Source::One(provider),
        }
    }

    /// An executor writing each binding through its own connection; intents of bindings
    /// without one wait.
    pub fn with_connections(engine: &'a Engine, connections: &'a Connections) -> Self {
        Self {
            engine,
            source: Source::Each(connections),
        }
    }

    /// The provider a binding writes through, if it has one here.
    fn provider_of(&self, binding: &Binding) -> Option<&'a dyn Provider> {
        match self.source {
            Source::One(p) => (p.descriptor().kind == binding.provider).then_some(p),
            Source::Each(c) => c.get(&binding.id).map(|p| p.as_ref()),
        }
    }

    /// Whether an intent can be written here (its binding has a provider).
    pub fn can_write(&self, intent: &WriteIntent) -> bool {
        self.engine
            .binding(&intent.target.binding)
            .is_ok_and(|b| self.provider_of(b).is_some())
    }

    /// Applies every intent that is due: pending, approved, failed with its retry time
    /// passed, or applying with a recorded attempt that never finished. Intents awaiting
    /// approval wait, and so do intents of bindings without a provider here.
    pub async fn run_due(&self, now: DateTime<Utc>) -> Result<Vec<WriteIntent>, Error> {
        let mut done = Vec::new();
        for phase in [
            WritePhase::Pending,
            WritePhase::Approved,
            WritePhase::Failed,
        ] {
            for intent in self
                .engine
                .store()
                .list_write_intents(&Filter::all(), Some(phase))
                .await?
            {
                if !self.can_write(&intent) || intent.next_attempt_at.is_some_and(|at| at > now) {
                    continue;
                }
                done.push(self.execute(&intent.id, now).await?);
            }
        }
        Ok(done)
    }

    /// Applies one intent now and returns it as it ended.
    pub async fn execute(&self, id: &str, now: DateTime<Utc>) -> Result<WriteIntent, Error> {
        let before = self.engine.store().get_write_intent(id).await?;
        let retried = before.as_ref().is_some_and(|i| i.attempts > 0);
        let intent = self.engine.start_write(id, now).await?;
        if intent.phase != WritePhase::Applying {
            return Ok(intent);
        }
        let binding = self.engine.binding(&intent.target.binding)?.clone();
        let outcome = match self.provider_of(&binding) {
            Some(provider) => self.apply(provider, &binding, &intent, retried).await,
            None => Err(Error::Validation {
                rule: "binding-connected",
                detail: format!(
                    "binding {} has no credentials here, so it only receives; give it a token (token_env, or an app) to write",
                    binding.id
                ),
            }),
        };
        let result = match &outcome {
            Ok(Applied::Object(event) | Applied::Settled(event)) => WriteResult::Succeeded {
                native_id: Some(event.native_id.clone()),
                version: match &event.change {
                    Change::Observed { version, .. } => version.clone(),
                    _ => Default::default(),
                },
            },
            Ok(Applied::Done) => WriteResult::Succeeded {
                native_id: None,
                version: Default::default(),
            },
            Err(Error::Precondition { message, .. }) => WriteResult::PreconditionFailed {
                message: message.clone(),
            },
            Err(Error::WriteConflict {
                reason,
                message,
                external,
                ..
            }) => WriteResult::Conflicted {
                reason: *reason,
                message: message.clone(),
                external: external.clone(),
            },
            Err(err) => WriteResult::Failed {
                error: err.to_string(),
                retryable: err.is_retryable(),
                retry_after: None,
            },
        };
        let mut finished = self.engine.finish_write(id, result, now).await?;
        if let Ok(Applied::Object(event)) = outcome {
            let shows_all = match &event.change {
                Change::Observed { fields, .. } => {
                    intent.fields.iter().all(|(k, v)| fields.get(k) == Some(v))
                }
                _ => false,
            };
            self.engine.apply_event(&binding, *event, now).await?;
            finished = self
                .engine
                .store()
                .get_write_intent(id)
                .await?
                .unwrap_or(finished);
            if intent.operation == WriteOperation::Create
                && shows_all
                && finished.phase == WritePhase::Applied
            {
                finished = self.engine.confirm_write(id, now).await?;
            }
        } else if let Ok(Applied::Settled(event)) = outcome {
            let settle = crate::projection::ProjectionInput::Settled {
                intent: id.to_owned(),
            };
            self.engine
                .local(
                    &binding.id,
                    intent.target.kind,
                    &intent.target.native_id,
                    settle,
                    crate::write_intent::Actor::system(),
                    now,
                )
                .await?;
            self.engine.apply_event(&binding, *event, now).await?;
            finished = self.engine.confirm_write(id, now).await?;
        } else if matches!(outcome, Ok(Applied::Done)) && finished.phase == WritePhase::Applied {
            finished = self.engine.confirm_write(id, now).await?;
        }
        Ok(finished)
    }

    /// The number people use for the intent's object, from its link or its fields.
    async fn number(&self, intent: &WriteIntent) -> Result<u64, Error> {
        let object = self.engine.store().load_object(&intent.target).await?;
        object
            .and_then(|o| {
                o.link
                    .number
                    .or_else(|| o.field("number").and_then(|n| n.as_u64()))
            })
            .ok_or_else(|| Error::NotFound {
                key: intent.target.clone(),
            })
    }

    async fn apply(
        &self,
        provider: &dyn Provider,
        binding: &Binding,
        intent: &WriteIntent,
        retried: bool,
    ) -> Result<Applied, Error> {
        use ResourceKind as K;
        use WriteOperation as Op;
        match intent.target.kind.interface() {
            crate::Interface::IssueTracking => {
                let issues = provider
                    .issue_tracking()
                    .ok_or_else(|| unsupported(provider, intent))?;
                self.issue_tracking(issues, binding, intent, retried).await
            }
            crate::Interface::Cicd => {
                let cicd = provider
                    .cicd()
                    .ok_or_else(|| unsupported(provider, intent))?;
                self.cicd(cicd, binding, intent).await
            }
            crate::Interface::GitForge => {
                let forge = provider
                    .git_forge()
                    .ok_or_else(|| unsupported(provider, intent))?;
                match (intent.target.kind, &intent.operation) {
                    (K::PullRequest, Op::Merge { .. }) | (K::PullRequest, _) => {
                        self.pull_request(forge, binding, intent, retried).await
                    }
                    _ => self.forge(forge, binding, intent).await,
                }
            }
        }
    }

    async fn issue_tracking(
        &self,
        issues: &dyn IssueTracking,
        binding: &Binding,
        intent: &WriteIntent,
        retried: bool,
    ) -> Result<Applied, Error> {
        use ResourceKind as K;
        use WriteOperation as Op;
        let target = &binding.target;
        let key = intent.idempotency_key.as_str();
        match (intent.target.kind, &intent.operation) {
            (K::Issue, Op::Create) => {
                if retried && let Some(found) = issues.find_issue_by_key(target, key).await? {
                    return Ok(object(binding, intent, &found));
                }
                let created = issues.create_issue(target, &patch_of(intent), key).await?;
                Ok(object(binding, intent, &created))
            }
            (K::Issue, Op::Update | Op::Close) => {
                let number = self.number(intent).await?;
                let updated = issues
                    .update_issue(target, number, &patch_of(intent))
                    .await?;
                Ok(object(binding, intent, &updated))
            }
            (K::Issue, Op::Delete) => {
                let number = self.number(intent).await?;
                issues.delete_issue(target, number).await?;
                Ok(Applied::Done)
            }
            (K::Comment, Op::Create) => {
                let number = number_field(&intent.fields, "issue_number")
                    .ok_or_else(|| missing(intent, "issue_number", "comment-needs-issue"))?;
                if retried
                    && let Some(found) = issues.find_comment_by_key(target, number, key).await?
                {
                    return Ok(object(binding, intent, &found));
                }
                let body = text(&intent.fields, "body").unwrap_or_default();
                let created = issues.create_comment(target, number, &body, key).await?;
                Ok(object(binding, intent, &created))
            }
            (K::Comment, Op::Update) => {
                let body = text(&intent.fields, "body").unwrap_or_default();
                let updated = issues
                    .update_comment(target, &intent.target.native_id, &body)
                    .await?;
                Ok(object(binding, intent, &updated))
            }
            (K::Comment, Op::Delete) => {
                issues
                    .delete_comment(target, &intent.target.native_id)
                    .await?;
                Ok(Applied::Done)
            }
            _ => Err(unroutable(intent)),
        }
    }

    async fn cicd(
        &self,
        cicd: &dyn Cicd,
        binding: &Binding,
        intent: &WriteIntent,
    ) -> Result<Applied, Error> {
        use ResourceKind as K;
        use WriteOperation as Op;
        let target = &binding.target;
        let id = &intent.target.native_id;
        match (intent.target.kind, &intent.operation) {
            (K::Pipeline, Op::Rerun) => cicd
                .rerun_pipeline(target, id)
                .await
                .map(|()| Applied::Done),
            (K::Pipeline, Op::Cancel) => cicd
                .cancel_pipeline(target, id)
                .await
                .map(|()| Applied::Done),
            (K::Job, Op::Rerun) => cicd.rerun_job(target, id).await.map(|()| Applied::Done),
            (K::Job, Op::Cancel) => cicd.cancel_job(target, id).await.map(|()| Applied::Done),
            (K::CheckRun, Op::Create) => {
                // The provider adopts a check run carrying the same external id.
                let created = cicd.create_check(target, &check_of(intent, true)).await?;
                Ok(object(binding, intent, &created))
            }
            (K::CheckRun, Op::Update) => {
                let updated = cicd
                    .update_check(target, id, &check_of(intent, false))
                    .await?;
                Ok(object(binding, intent, &updated))
            }
            (K::CommitStatus, Op::Create | Op::Update) => {
                let object_fields = self
                    .engine
                    .store()
                    .load_object(&intent.target)
                    .await?
                    .map(|o| o.fields())
                    .unwrap_or_default();
                let field =
                    |name: &str| text(&intent.fields, name).or_else(|| text(&object_fields, name));
                let sha = field("sha").ok_or_else(|| missing(intent, "sha", "status-needs-sha"))?;
                let state =
                    field("state").ok_or_else(|| missing(intent, "state", "status-needs-state"))?;
                let status = CommitStatusInput {
                    state,
                    context: field("context"),
                    description: field("description"),
                    target_url: field("target_url"),
                };
                // Setting the same status again changes nothing: no marker is needed.
                let set = cicd.set_commit_status(target, &sha, &status).await?;
                Ok(object(binding, intent, &set))
            }
            _ => Err(unroutable(intent)),
        }
    }

    async fn pull_request(
        &self,
        forge: &dyn GitForge,
        binding: &Binding,
        intent: &WriteIntent,
        retried: bool,
    ) -> Result<Applied, Error> {
        use WriteOperation as Op;
        let target = &binding.target;
        let key = intent.idempotency_key.as_str();
        match &intent.operation {
            Op::Create => {
                if retried && let Some(found) = forge.find_pull_request_by_key(target, key).await? {
                    return Ok(object(binding, intent, &found));
                }
                let created = forge
                    .create_pull_request(target, &pull_of(intent), key)
                    .await?;
                Ok(object(binding, intent, &created))
            }
            Op::Update | Op::Close => {
                let number = self.number(intent).await?;
                let updated = forge
                    .update_pull_request(target, number, &pull_of(intent))
                    .await?;
                Ok(object(binding, intent, &updated))
            }
            Op::Merge { expected_head_sha } => {
                let number = self.number(intent).await?;
                if retried {
                    // The last attempt may have merged it: a merged pull request at the
                    // expected head is this write done.
                    let current = forge.get_pull_request(target, number).await?;
                    if current.object.merged
                        && current.object.head_sha.as_deref() == Some(expected_head_sha.as_str())
                    {
                        return Ok(object(binding, intent, &current));
                    }
                }
                forge
                    .merge_pull_request(target, number, expected_head_sha)
                    .await?;
                Ok(Applied::Done)
            }
            _ => Err(unroutable(intent)),
        }
    }

    async fn forge(
        &self,
        forge: &dyn GitForge,
        binding: &Binding,
        intent: &WriteIntent,
    ) -> Result<Applied, Error> {
        use ResourceKind as K;
        use WriteOperation as Op;
        let target = &binding.target;
        let native = &intent.target.native_id;
        let f = &intent.fields;
        match (intent.target.kind, &intent.operation) {
            (K::Review, Op::Create) => {
                let pull = number_field(f, "pull_number")
                    .ok_or_else(|| missing(intent, "pull_number", "review-needs-pull"))?;
                let state = text(f, "state")
                    .ok_or_else(|| missing(intent, "state", "review-needs-state"))?;
                let review = ReviewInput {
                    event: review_event(&state),
                    body: text(f, "body"),
                    commit_id: text(f, "commit_id"),
                };
                let created = forge.create_review(target, pull, &review).await?;
                Ok(object(binding, intent, &created))
            }
            (K::BranchProtection, Op::Create | Op::Update) => {
                let rules = f
                    .get("rules")
                    .cloned()
                    .ok_or_else(|| missing(intent, "rules", "protection-needs-rules"))?;
                let set = forge
                    .set_branch_protection(target, native.as_str(), &rules)
                    .await?;
                // A provider reads protection back in another shape than it takes it.
                Ok(Applied::Settled(Box::new(event_of(binding, intent, &set))))
            }
            (K::DeployKey, Op::Create) => {
                let key = DeployKey {
                    title: text(f, "title").unwrap_or_default(),
                    key: text(f, "key")
                        .ok_or_else(|| missing(intent, "key", "deploy-key-needs-key"))?,
                    read_only: f
                        .get("read_only")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(true),
                };
                let added = forge.add_deploy_key(target, &key).await?;
                Ok(object(binding, intent, &added))
            }
            (K::DeployKey, Op::Delete) => {
                forge.remove_deploy_key(target, native).await?;
                Ok(Applied::Done)
            }
            (K::Collaborator, Op::Create | Op::Update) => {
                let permission = text(f, "permission").ok_or_else(|| {
                    missing(intent, "permission", "collaborator-needs-permission")
                })?;
                forge
                    .set_permission(target, native.as_str(), &permission)
                    .await?;
                Ok(Applied::Done)
            }
            _ => Err(unroutable(intent)),
        }
    }
}

fn unsupported(provider: &dyn Provider, intent: &WriteIntent) -> Error {
    Error::UnsupportedInterface {
        provider: provider.descriptor().kind.clone(),
        interface: intent.target.kind.interface(),
    }
}

/// A write no provider trait declares (labels and milestones are set on issues).
fn unroutable(intent: &WriteIntent) -> Error {
    Error::Unsupported {
        kind: intent.target.kind,
        detail: format!(
            "{:?} writes: no provider interface declares them (labels and milestones are set on issues, refs are pushed)",
            intent.operation
        ),
    }
}

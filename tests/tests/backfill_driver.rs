#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The backfill driver (`Engine::backfill_pass`) against a paginated double of the
//! provider traits that serves real GitHub REST objects (the 13 issues of the recorded
//! `paginate-issues` session and the REST examples of comments, labels, milestones, pull
//! requests and workflow runs): checkpoints and resume after a failure, incremental passes,
//! not-modified pages, tombstones and request counts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::executor::block_on;
use kradle_provider_github::GithubWebhooks;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::object::{
    Artifact, BranchProtection, Canonical, CheckRun, CheckSuite, Collaborator, Comment,
    CommitStatus, DeployKey, GitRef, Issue, Job, Label, LogRef, Milestone, Pipeline, PullRequest,
    Repository, Review, Runner,
};
use kradle_sync_core::store::{Filter, SyncScope};
use kradle_sync_core::{
    BackfillProgress, BackfillResource, Binding, BindingId, Change, CheckRunInput, Cicd,
    DeliveryId, Engine, Error, ExternalTarget, GitForge, Interface, IssuePatch, IssueTracking,
    NativeId, Observed, Page, PageProgress, PageRequest, PassOptions, Provider, ProviderDescriptor,
    ProviderHealth, PullRequestInput, ResourceKind, ReviewInput, RunnerRegistration, Secret,
    SyncStore, WebhookAdapter,
};
use serde_json::Value;

const REPO: &str = "octokit-fixture-org/paginate-issues";

fn fixture(path: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/github")
        .join(path);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A real REST object as the typed observation a provider adapter returns.
fn observed<T: Canonical>(kind: ResourceKind, value: &Value) -> Observed<T> {
    let event = GithubWebhooks::new()
        .parse_rest_object(kind, value, &DeliveryId::new("fixture"))
        .unwrap()
        .unwrap();
    let Change::Observed { version, fields } = event.change else {
        panic!("a REST object is an observation")
    };
    Observed::new(event.native_id, version, T::from_fields(&fields).unwrap()).with_link(event.link)
}

fn all<T: Canonical>(kind: ResourceKind, values: &[Value]) -> Vec<Observed<T>> {
    values.iter().map(|v| observed(kind, v)).collect()
}

/// The repository's state at the provider.
#[derive(Clone)]
struct Repo {
    issues: Vec<Observed<Issue>>,
    comments: Vec<Observed<Comment>>,
    labels: Vec<Observed<Label>>,
    milestones: Vec<Observed<Milestone>>,
    pulls: Vec<Observed<PullRequest>>,
    runs: Vec<Observed<Pipeline>>,
}

impl Repo {
    fn recorded() -> Self {
        let session = fixture("recorded/paginate-issues.json");
        let issues: Vec<Value> = session
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|exchange| exchange["response"].as_array().unwrap().clone())
            .collect();
        let list = |path: &str| fixture(path).as_array().unwrap().clone();
        let runs = fixture("rest/actions/workflow-run-paginated.json")["workflow_runs"]
            .as_array()
            .unwrap()
            .clone();
        Repo {
            issues: all(ResourceKind::Issue, &issues),
            comments: all(
                ResourceKind::Comment,
                &list("rest/issues/issue-comment-items.json"),
            ),
            labels: all(ResourceKind::Label, &list("rest/issues/label-items.json")),
            milestones: all(
                ResourceKind::Milestone,
                &list("rest/issues/milestone-items.json"),
            ),
            pulls: all(
                ResourceKind::PullRequest,
                &list("rest/forge/pull-request-simple-items.json"),
            ),
            runs: all(ResourceKind::Pipeline, &runs),
        }
    }
}

/// A change made at the provider while a pass reads.
type Change_ = Box<dyn FnOnce(&Double) + Send>;

/// One listing request the double answered.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    what: &'static str,
    cursor: Option<String>,
    since: Option<DateTime<Utc>>,
    issue: Option<u64>,
}

/// A paginated provider: offsets as cursors, newest change first with `since` filtering,
/// "not modified" for a repeated request whose answer is unchanged (as an ETag cache
/// would), and an injectable failure.
struct Double {
    descriptor: ProviderDescriptor,
    repo: Mutex<Repo>,
    calls: Mutex<Vec<Call>>,
    served: Mutex<HashMap<String, String>>,
    fail_at: Mutex<Option<usize>>,
    /// A change at the provider right after the request with this 0-based index is
    /// answered (while a pass is reading).
    change_after: Mutex<Option<(usize, Change_)>>,
    /// Answer every page "not modified", whatever it holds.
    always_not_modified: bool,
    target_comments: bool,
    cicd: bool,
}

impl Double {
    fn new() -> Self {
        Double {
            descriptor: GithubWebhooks::new().descriptor().clone(),
            repo: Mutex::new(Repo::recorded()),
            calls: Mutex::new(Vec::new()),
            served: Mutex::new(HashMap::new()),
            fail_at: Mutex::new(None),
            change_after: Mutex::new(None),
            always_not_modified: false,
            target_comments: true,
            cicd: true,
        }
    }

    /// Fails the request with this 0-based index.
    fn fail_at(&self, index: usize) {
        *self.fail_at.lock().unwrap() = Some(index);
    }

    /// Runs `change` on the repository right after the request with this index.
    fn change_after(&self, index: usize, change: impl FnOnce(&Double) + Send + 'static) {
        *self.change_after.lock().unwrap() = Some((index, Box::new(change)));
    }

    /// Requests answered so far.
    fn requests(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    fn calls(&self, what: &str) -> Vec<Call> {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|c| c.what == what).cloned().collect()
    }

    fn page<T: std::fmt::Debug + Clone>(
        &self,
        call: Call,
        items: Vec<Observed<T>>,
        page: &PageRequest,
    ) -> Result<Page<Observed<T>>, Error> {
        let index = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(call.clone());
            calls.len() - 1
        };
        if *self.fail_at.lock().unwrap() == Some(index) {
            return Err(Error::Provider {
                provider: "github".into(),
                message: "connection reset by peer".into(),
                retryable: true,
                source: None,
            });
        }
        let start: usize = page.cursor.as_deref().map_or(0, |c| c.parse().unwrap());
        let per = page.per_page.max(1) as usize;
        let total = items.len();
        let items: Vec<Observed<T>> = items.into_iter().skip(start).take(per).collect();
        let next = (start + per < total).then(|| (start + per).to_string());
        let key = format!(
            "{}|{:?}|{:?}|{:?}|{per}",
            call.what, call.cursor, call.since, call.issue
        );
        let answer = format!("{items:?}{next:?}");
        let not_modified = self.served.lock().unwrap().insert(key, answer.clone()) == Some(answer)
            || self.always_not_modified;
        let change = {
            let mut slot = self.change_after.lock().unwrap();
            match slot.take() {
                Some((at, change)) if at == index => Some(change),
                other => {
                    *slot = other;
                    None
                }
            }
        };
        if let Some(change) = change {
            change(self);
        }
        Ok(Page::new(items, next).with_not_modified(not_modified))
    }

    fn call(what: &'static str, page: &PageRequest) -> Call {
        Call {
            what,
            cursor: page.cursor.clone(),
            since: None,
            issue: None,
        }
    }

    /// Edits an issue at the provider: a new title and a newer `updated_at`.
    fn edit_issue(&self, number: u64, title: &str, at: &str) {
        let mut repo = self.repo.lock().unwrap();
        let issue = repo
            .issues
            .iter_mut()
            .find(|i| i.object.number == number)
            .unwrap();
        issue.object.title = title.into();
        issue.version.updated_at = Some(ts(at));
    }

    /// Deletes an issue at the provider.
    fn delete_issue(&self, number: u64) {
        self.repo
            .lock()
            .unwrap()
            .issues
            .retain(|i| i.object.number != number);
    }
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn not_here() -> Error {
    Error::Provider {
        provider: "github".into(),
        message: "not served by this double".into(),
        retryable: false,
        source: None,
    }
}

#[async_trait]
impl IssueTracking for Double {
    async fn list_issues(
        &self,
        _: &ExternalTarget,
        since: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Page<Observed<Issue>>, Error> {
        let mut issues: Vec<_> = self.repo.lock().unwrap().issues.clone();
        issues.retain(|i| since.is_none_or(|s| i.version.updated_at >= Some(s)));
        // Newest change first, as GitHub's `sort=updated&direction=desc` (stable: equal
        // times keep the recorded order).
        issues.sort_by_key(|i| std::cmp::Reverse(i.version.updated_at));
        let call = Call {
            since,
            ..Self::call("issues", page)
        };
        self.page(call, issues, page)
    }
    async fn get_issue(&self, _: &ExternalTarget, number: u64) -> Result<Observed<Issue>, Error> {
        self.calls.lock().unwrap().push(Call {
            what: "get_issue",
            cursor: None,
            since: None,
            issue: Some(number),
        });
        Err(not_here())
    }
    async fn create_issue(
        &self,
        _: &ExternalTarget,
        _: &IssuePatch,
        _: &str,
    ) -> Result<Observed<Issue>, Error> {
        Err(not_here())
    }
    async fn update_issue(
        &self,
        _: &ExternalTarget,
        _: u64,
        _: &IssuePatch,
    ) -> Result<Observed<Issue>, Error> {
        Err(not_here())
    }
    async fn list_comments(
        &self,
        _: &ExternalTarget,
        number: u64,
        page: &PageRequest,
    ) -> Result<Page<Observed<Comment>>, Error> {
        let mut comments = self.repo.lock().unwrap().comments.clone();
        comments.retain(|c| c.object.issue_number == Some(number));
        let call = Call {
            issue: Some(number),
            ..Self::call("issue_comments", page)
        };
        self.page(call, comments, page)
    }
    async fn list_all_comments(
        &self,
        _: &ExternalTarget,
        since: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Page<Observed<Comment>>, Error> {
        if !self.target_comments {
            return Err(Error::Unsupported {
                kind: ResourceKind::Comment,
                detail: "listing the comments of every issue of a target at once".into(),
            });
        }
        let mut comments = self.repo.lock().unwrap().comments.clone();
        comments.retain(|c| since.is_none_or(|s| c.version.updated_at >= Some(s)));
        comments.sort_by_key(|c| std::cmp::Reverse(c.version.updated_at));
        let call = Call {
            since,
            ..Self::call("comments", page)
        };
        self.page(call, comments, page)
    }
    async fn create_comment(
        &self,
        _: &ExternalTarget,
        _: u64,
        _: &str,
        _: &str,
    ) -> Result<Observed<Comment>, Error> {
        Err(not_here())
    }
    async fn update_comment(
        &self,
        _: &ExternalTarget,
        _: &NativeId,
        _: &str,
    ) -> Result<Observed<Comment>, Error> {
        Err(not_here())
    }
    async fn delete_comment(&self, _: &ExternalTarget, _: &NativeId) -> Result<(), Error> {
        Err(not_here())
    }
    async fn list_labels(
        &self,
        _: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Label>>, Error> {
        let labels = self.repo.lock().unwrap().labels.clone();
        self.page(Self::call("labels", page), labels, page)
    }
    async fn list_milestones(
        &self,
        _: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Milestone>>, Error> {
        let milestones = self.repo.lock().unwrap().milestones.clone();
        self.page(Self::call("milestones", page), milestones, page)
    }
    async fn find_issue_by_key(
        &self,
        _: &ExternalTarget,
        _: &str,
    ) -> Result<Option<Observed<Issue>>, Error> {
        Err(not_here())
    }
    async fn find_comment_by_key(
        &self,
        _: &ExternalTarget,
        _: u64,
        _: &str,
    ) -> Result<Option<Observed<Comment>>, Error> {
        Err(not_here())
    }
}

#[async_trait]
impl GitForge for Double {
    async fn get_repository(&self, _: &ExternalTarget) -> Result<Observed<Repository>, Error> {
        Err(not_here())
    }
    async fn list_pull_requests(
        &self,
        _: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<PullRequest>>, Error> {
        let pulls = self.repo.lock().unwrap().pulls.clone();
        self.page(Self::call("pulls", page), pulls, page)
    }
    async fn get_pull_request(
        &self,
        _: &ExternalTarget,
        _: u64,
    ) -> Result<Observed<PullRequest>, Error> {
        Err(not_here())
    }
    async fn list_reviews(
        &self,
        _: &ExternalTarget,
        _: u64,
        _: &PageRequest,
    ) -> Result<Page<Observed<Review>>, Error> {
        Err(not_here())
    }
    async fn list_refs(
        &self,
        _: &ExternalTarget,
        _: &PageRequest,
    ) -> Result<Page<Observed<GitRef>>, Error> {
        Err(not_here())
    }
    async fn get_branch_protection(
        &self,
        _: &ExternalTarget,
        _: &str,
    ) -> Result<Option<Observed<BranchProtection>>, Error> {
        Err(not_here())
    }
    async fn list_deploy_keys(
        &self,
        _: &ExternalTarget,
        _: &PageRequest,
    ) -> Result<Page<Observed<DeployKey>>, Error> {
        Err(not_here())
    }
    async fn list_collaborators(
        &self,
        _: &ExternalTarget,
        _: &PageRequest,
    ) -> Result<Page<Observed<Collaborator>>, Error> {
        Err(not_here())
    }
    async fn create_pull_request(
        &self,
        _: &ExternalTarget,
        _: &PullRequestInput,
        _: &str,
    ) -> Result<Observed<PullRequest>, Error> {
        Err(not_here())
    }
    async fn find_pull_request_by_key(
        &self,
        _: &ExternalTarget,
        _: &str,
    ) -> Result<Option<Observed<PullRequest>>, Error> {
        Err(not_here())
    }
    async fn update_pull_request(
        &self,
        _: &ExternalTarget,
        _: u64,
        _: &PullRequestInput,
    ) -> Result<Observed<PullRequest>, Error> {
        Err(not_here())
    }
    async fn merge_pull_request(&self, _: &ExternalTarget, _: u64, _: &str) -> Result<(), Error> {
        Err(not_here())
    }
    async fn create_review(
        &self,
        _: &ExternalTarget,
        _: u64,
        _: &ReviewInput,
    ) -> Result<Observed<Review>, Error> {
        Err(not_here())
    }
    async fn set_branch_protection(
        &self,
        _: &ExternalTarget,
        _: &str,
        _: &Value,
    ) -> Result<Observed<BranchProtection>, Error> {
        Err(not_here())
    }
    async fn add_deploy_key(
        &self,
        _: &ExternalTarget,
        _: &DeployKey,
    ) -> Result<Observed<DeployKey>, Error> {
        Err(not_here())
    }
    async fn remove_deploy_key(&self, _: &ExternalTarget, _: &NativeId) -> Result<(), Error> {
        Err(not_here())
    }
    async fn set_permission(&self, _: &ExternalTarget, _: &str, _: &str) -> Result<(), Error> {
        Err(not_here())
    }
}

#[async_trait]
impl Cicd for Double {
    async fn list_pipelines(
        &self,
        _: &ExternalTarget,
        page: &PageRequest,
    ) -> Result<Page<Observed<Pipeline>>, Error> {
        let runs = self.repo.lock().unwrap().runs.clone();
        self.page(Self::call("runs", page), runs, page)
    }
    async fn get_pipeline(
        &self,
        _: &ExternalTarget,
        _: &NativeId,
    ) -> Result<Observed<Pipeline>, Error> {
        Err(not_here())
    }
    async fn list_jobs(
        &self,
        _: &ExternalTarget,
        _: &NativeId,
        _: &PageRequest,
    ) -> Result<Page<Observed<Job>>, Error> {
        Err(not_here())
    }
    async fn job_log(&self, _: &ExternalTarget, _: &NativeId) -> Result<LogRef, Error> {
        Err(not_here())
    }
    async fn list_artifacts(
        &self,
        _: &ExternalTarget,
        _: &NativeId,
        _: &PageRequest,
    ) -> Result<Page<Observed<Artifact>>, Error> {
        Err(not_here())
    }
    async fn list_check_runs(
        &self,
        _: &ExternalTarget,
        _: &str,
        _: &PageRequest,
    ) -> Result<Page<Observed<CheckRun>>, Error> {
        Err(not_here())
    }
    async fn list_check_suites(
        &self,
        _: &ExternalTarget,
        _: &str,
        _: &PageRequest,
    ) -> Result<Page<Observed<CheckSuite>>, Error> {
        Err(not_here())
    }
    async fn list_statuses(
        &self,
        _: &ExternalTarget,
        _: &str,
        _: &PageRequest,
    ) -> Result<Page<Observed<CommitStatus>>, Error> {
        Err(not_here())
    }
    async fn list_runners(
        &self,
        _: &ExternalTarget,
        _: &PageRequest,
    ) -> Result<Page<Observed<Runner>>, Error> {
        Err(not_here())
    }
    async fn rerun_pipeline(&self, _: &ExternalTarget, _: &NativeId) -> Result<(), Error> {
        Err(not_here())
    }
    async fn cancel_pipeline(&self, _: &ExternalTarget, _: &NativeId) -> Result<(), Error> {
        Err(not_here())
    }
    async fn rerun_job(&self, _: &ExternalTarget, _: &NativeId) -> Result<(), Error> {
        Err(not_here())
    }
    async fn cancel_job(&self, _: &ExternalTarget, _: &NativeId) -> Result<(), Error> {
        Err(not_here())
    }
    async fn set_commit_status(
        &self,
        _: &ExternalTarget,
        _: &str,
        _: &kradle_sync_core::CommitStatusInput,
    ) -> Result<Observed<CommitStatus>, Error> {
        Err(not_here())
    }
    async fn create_check(
        &self,
        _: &ExternalTarget,
        _: &CheckRunInput,
    ) -> Result<Observed<CheckRun>, Error> {
        Err(not_here())
    }
    async fn update_check(
        &self,
        _: &ExternalTarget,
        _: &NativeId,
        _: &CheckRunInput,
    ) -> Result<Observed<CheckRun>, Error> {
        Err(not_here())
    }
    async fn register_runner(&self, _: &ExternalTarget) -> Result<RunnerRegistration, Error> {
        Err(not_here())
    }
}

#[async_trait]
impl Provider for Double {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }
    async fn health(&self) -> Result<ProviderHealth, Error> {
        Err(not_here())
    }
    fn issue_tracking(&self) -> Option<&dyn IssueTracking> {
        Some(self)
    }
    fn cicd(&self) -> Option<&dyn Cicd> {
        self.cicd.then_some(self as &dyn Cicd)
    }
    fn git_forge(&self) -> Option<&dyn GitForge> {
        Some(self)
    }
}

fn engine(store: &Arc<MemoryStore>) -> Engine {
    let store: Arc<dyn SyncStore> = store.clone();
    let binding = Binding::new(
        REPO,
        "github",
        ExternalTarget::from_path(REPO),
        &Interface::ALL,
    )
    .with_secret(Secret::new("unused"));
    Engine::builder(store)
        .adapter(Arc::new(GithubWebhooks::new()))
        .binding(binding)
        .build()
        .unwrap()
}

fn now() -> DateTime<Utc> {
    ts("2024-05-01T12:00:00Z")
}

/// Pages of three items, as in the recorded session: 13 issues are 5 pages.
fn options(full: bool) -> PassOptions {
    PassOptions {
        per_page: 3,
        ..PassOptions::default()
    }
    .full(full)
}

fn pass(
    engine: &Engine,
    provider: &Double,
    options: &PassOptions,
) -> Result<kradle_sync_core::PassReport, Error> {
    block_on(engine.backfill_pass(&BindingId::new(REPO), provider, options, &mut (), now()))
}

/// The projection as the CLI prints it: every object's key, fields, version and tombstone.
fn projection(store: &MemoryStore) -> Vec<Value> {
    block_on(store.list_objects(&Filter::all()))
        .unwrap()
        .iter()
        .map(|o| {
            serde_json::json!({
                "key": o.key.to_string(), "fields": o.fields(), "version": o.version(),
                "tombstone": o.is_tombstone(), "awaiting_hydrate": o.awaiting_hydrate(),
            })
        })
        .collect()
}

fn scope(kind: ResourceKind) -> SyncScope {
    SyncScope::kind("github", REPO, kind)
}

fn cursors(calls: &[Call]) -> Vec<Option<&str>> {
    calls.iter().map(|c| c.cursor.as_deref()).collect()
}

#[test]
fn a_full_pass_reads_each_page_once_and_costs_one_request_per_page() {
    let store = Arc::new(MemoryStore::new());
    let provider = Double::new();
    let report = pass(&engine(&store), &provider, &options(true)).unwrap();

    let issues = report.resource(BackfillResource::Issues).unwrap();
    assert_eq!((issues.objects, issues.applied, issues.pages), (13, 13, 5));
    // 13 issues in pages of 3: ⌈13/3⌉ list requests, and no request per issue.
    assert_eq!(issues.requests, 5);
    assert_eq!(
        cursors(&provider.calls("issues")),
        [None, Some("3"), Some("6"), Some("9"), Some("12")]
    );
    assert!(provider.calls("get_issue").is_empty());
    // Comments come from one listing of the whole repository, not one per issue.
    assert_eq!(provider.calls("comments").len(), 1);
    assert!(provider.calls("issue_comments").is_empty());
    for resource in BackfillResource::ALL {
        let r = report.resource(resource).unwrap();
        assert!(r.full && !r.resumed && r.skipped.is_none(), "{r:?}");
        assert_eq!(r.requests, u64::from(r.pages));
    }
    assert_eq!(report.requests(), 5 + 5);
    let kinds: Vec<String> = projection(&store)
        .iter()
        .map(|o| {
            o["key"]
                .as_str()
                .unwrap()
                .split('/')
                .nth(3)
                .unwrap()
                .to_owned()
        })
        .collect();
    for kind in [
        "issue",
        "comment",
        "label",
        "milestone",
        "pull_request",
        "pipeline",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }

    let state = block_on(store.get_sync_state(&scope(ResourceKind::Issue)))
        .unwrap()
        .unwrap();
    assert_eq!(state.cursor, None);
    assert_eq!(state.high_watermark, Some(ts("2017-10-10T16:00:00Z")));
    assert_eq!(state.last_full_backfill_at, Some(now()));
}

#[test]
fn a_pass_stopped_by_a_failure_resumes_at_the_page_where_it_stopped() {
    let uninterrupted = Arc::new(MemoryStore::new());
    pass(&engine(&uninterrupted), &Double::new(), &options(true)).unwrap();

    let store = Arc::new(MemoryStore::new());
    let engine = engine(&store);
    let provider = Double::new();
    // The third request (issues, page 3) fails.
    provider.fail_at(2);
    let err = pass(&engine, &provider, &options(true)).unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let state = block_on(store.get_sync_state(&scope(ResourceKind::Issue)))
        .unwrap()
        .unwrap();
    assert!(state.cursor.is_some(), "a checkpoint after page 2");
    assert_eq!(state.last_full_backfill_at, None);
    assert_eq!(
        block_on(store.list_objects(&Filter::all())).unwrap().len(),
        6
    );

    let report = pass(&engine, &provider, &options(true)).unwrap();
    let issues = report.resource(BackfillResource::Issues).unwrap();
    assert!(issues.resumed);
    assert_eq!((issues.pages, issues.objects, issues.applied), (3, 7, 7));
    // Pages 1 and 2 are read once; only page 3, whose request failed, is asked for again.
    assert_eq!(
        cursors(&provider.calls("issues")),
        [None, Some("3"), Some("6"), Some("6"), Some("9"), Some("12")]
    );
    assert_eq!(projection(&store), projection(&uninterrupted));
    let state = block_on(store.get_sync_state(&scope(ResourceKind::Issue)))
        .unwrap()
        .unwrap();
    assert_eq!(state.cursor, None);
    assert_eq!(state.high_watermark, Some(ts("2017-10-10T16:00:00Z")));
    assert_eq!(state.last_full_backfill_at, Some(now()));
}

#[test]
fn a_checkpoint_of_another_mode_is_not_resumed() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(&store);
    let provider = Double::new();
    pass(&engine, &provider, &options(true)).unwrap();
    provider.edit_issue(5, "Test issue 5, edited", "2017-10-11T09:00:00Z");
    // An incremental pass stops after its first page.
    provider.fail_at(provider.calls.lock().unwrap().len() + 1);
    assert!(pass(&engine, &provider, &options(false)).is_err());
    // A full pass starts over from the first page instead of continuing it.
    let before = provider.calls("issues").len();
    let report = pass(&engine, &provider, &options(true)).unwrap();
    let issues = report.resource(BackfillResource::Issues).unwrap();
    assert!(issues.full && !issues.resumed);
    assert_eq!(provider.calls("issues")[before].cursor, None);
    assert_eq!(provider.calls("issues")[before].since, None);
}

#[test]
fn an_incremental_pass_reads_newest_first_down_to_its_watermark() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(&store);
    let provider = Double::new();
    pass(&engine, &provider, &options(false)).unwrap();
    // Nothing was read before, so the first pass lists everything.
    assert_eq!(provider.calls("issues").len(), 5);

    // The 13 recorded issues were all last changed in the same second, the watermark. An
    // edit moves issue 5 to the first page; the others, changed at the watermark itself,
    // are not older than it, so the pass reads on and finds them unchanged.
    provider.edit_issue(5, "Test issue 5, edited", "2017-10-11T09:00:00Z");
    let only_issues = options(false).resources([BackfillResource::Issues]);
    let before = provider.calls("issues").len();
    let report = pass(&engine, &provider, &only_issues).unwrap();
    let issues = report.resource(BackfillResource::Issues).unwrap();
    assert!(!issues.full && !issues.resumed);
    assert_eq!(
        (issues.objects, issues.applied, issues.requests),
        (13, 1, 5)
    );
    let calls = provider.calls("issues");
    // Every pass asks for the same first page, without `since`.
    assert!(calls.iter().all(|c| c.since.is_none()), "{calls:?}");
    assert_eq!(calls[before].cursor, None);
    let edited = projection(&store)
        .into_iter()
        .find(|o| o["fields"]["number"] == 5 && o["key"].as_str().unwrap().contains("/issue/"))
        .unwrap();
    assert_eq!(edited["fields"]["title"], "Test issue 5, edited");
    let state = block_on(store.get_sync_state(&scope(ResourceKind::Issue)))
        .unwrap()
        .unwrap();
    assert_eq!(state.high_watermark, Some(ts("2017-10-11T09:00:00Z")));

    // Four more edits after the watermark moved to issue 5's: the first page holds three
    // of them, the second the fourth, issue 5 (at the watermark) and issue 13 (before
    // it): the pass stops there. ⌈4/3⌉ = 2 requests instead of 5.
    for (number, at) in [
        (9, "2017-10-12T09:00:00Z"),
        (8, "2017-10-12T10:00:00Z"),
        (7, "2017-10-12T11:00:00Z"),
        (6, "2017-10-12T12:00:00Z"),
    ] {
        provider.edit_issue(number, &format!("Test issue {number}, edited"), at);
    }
    let before = provider.calls("issues").len();
    let report = pass(&engine, &provider, &only_issues).unwrap();
    let issues = report.resource(BackfillResource::Issues).unwrap();
    assert_eq!(
        cursors(&provider.calls("issues")[before..]),
        [None, Some("3")]
    );
    assert_eq!((issues.requests, issues.objects, issues.applied), (2, 6, 4));
    assert_eq!((issues.not_modified, issues.stale + issues.applied), (0, 4));
    // An incremental pass never tombstones: its listing is not the whole set.
    assert_eq!(issues.tombstoned, 0);
    let state = block_on(store.get_sync_state(&scope(ResourceKind::Issue)))
        .unwrap()
        .unwrap();
    assert_eq!(state.high_watermark, Some(ts("2017-10-12T12:00:00Z")));
    assert_eq!(state.cursor, None);
}

#[test]
fn an_unchanged_resource_is_settled_by_one_not_modified_page() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(&store);
    let provider = Double::new();
    let first = pass(&engine, &provider, &options(true)).unwrap();
    assert_eq!(first.requests(), 10);
    let objects = projection(&store);

    let before = provider.requests();
    let second = pass(&engine, &provider, &options(false)).unwrap();
    // Issues and comments: the first page, not modified, ends the listing. The other
    // resources are listed whole, one page each, not modified either.
    for resource in [BackfillResource::Issues, BackfillResource::Comments] {
        let r = second.resource(resource).unwrap();
        assert!(!r.full, "{r:?}");
        assert_eq!((r.requests, r.pages, r.not_modified), (1, 1, 1), "{r:?}");
        assert_eq!((r.applied, r.stale, r.tombstoned), (0, 0, 0), "{r:?}");
    }
    assert_eq!((second.requests(), second.not_modified()), (6, 6));
    assert_eq!(provider.requests() - before, 6);
    let first_pages = provider.calls("issues");
    assert_eq!(
        first_pages.last().unwrap(),
        &first_pages[0],
        "the same request as the full pass's first page"
    );
    assert_eq!(projection(&store), objects);

    // A change on the first page is not "not modified": the pass reads on.
    provider.edit_issue(12, "Test issue 12, edited", "2017-10-11T09:00:00Z");
    let third = pass(&engine, &provider, &options(false)).unwrap();
    let issues = third.resource(BackfillResource::Issues).unwrap();
    assert_eq!((issues.applied, issues.not_modified), (1, 4));
}

#[test]
fn a_stopped_incremental_pass_resumes_and_the_next_pass_catches_what_moved_up() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(&store);
    let provider = Double::new();
    let only_issues = |full| options(full).resources([BackfillResource::Issues]);
    pass(&engine, &provider, &only_issues(true)).unwrap();
    // Moves the watermark past the recorded issues' common second.
    provider.edit_issue(5, "Test issue 5, edited", "2017-10-11T09:00:00Z");
    pass(&engine, &provider, &only_issues(false)).unwrap();
    for (number, at) in [
        (9, "2017-10-12T09:00:00Z"),
        (8, "2017-10-12T10:00:00Z"),
        (7, "2017-10-12T11:00:00Z"),
        (6, "2017-10-12T12:00:00Z"),
    ] {
        provider.edit_issue(number, &format!("Test issue {number}, edited"), at);
    }
    // The second page's request fails.
    provider.fail_at(provider.requests() + 1);
    assert!(pass(&engine, &provider, &only_issues(false)).is_err());
    let state = block_on(store.get_sync_state(&scope(ResourceKind::Issue)))
        .unwrap()
        .unwrap();
    let checkpoint: Value = serde_json::from_str(state.cursor.as_deref().unwrap()).unwrap();
    assert_eq!(checkpoint["cursor"], "3");
    assert_eq!(checkpoint["since"], "2017-10-11T09:00:00Z");
    assert_eq!(state.high_watermark, Some(ts("2017-10-11T09:00:00Z")));

    // Meanwhile issue 4 changes: it moves to the first page, which the resumed pass does
    // not read again.
    provider.edit_issue(4, "Test issue 4, edited", "2017-10-13T09:00:00Z");
    let before = provider.calls("issues").len();
    let report = pass(&engine, &provider, &only_issues(false)).unwrap();
    let issues = report.resource(BackfillResource::Issues).unwrap();
    assert!(issues.resumed);
    // From the checkpoint's page down to the starting watermark: [8, 9, 5], then
    // [13, 12, 11] holds issues changed before it.
    assert_eq!(
        cursors(&provider.calls("issues")[before..]),
        [Some("3"), Some("6")]
    );
    // Issue 8 was applied with the stopped pass's first page ([6, 7, 8]); issue 9 is new.
    assert_eq!(issues.applied, 1);
    let title = |number: u64| {
        projection(&store)
            .into_iter()
            .find(|o| {
                o["fields"]["number"] == number && o["key"].as_str().unwrap().contains("/issue/")
            })
            .unwrap()["fields"]["title"]
            .clone()
    };
    assert_eq!(title(4), "Test issue 4");
    for number in [6, 7, 8, 9] {
        assert_eq!(title(number), format!("Test issue {number}, edited"));
    }

    // The next pass finds the first page changed and reads it: issue 4 is caught, and
    // issue 7, changed before the watermark the resumed pass stored, ends the listing.
    let before = provider.calls("issues").len();
    let report = pass(&engine, &provider, &only_issues(false)).unwrap();
    let issues = report.resource(BackfillResource::Issues).unwrap();
    assert_eq!(cursors(&provider.calls("issues")[before..]), [None]);
    assert_eq!((issues.requests, issues.applied), (1, 1));
    assert_eq!(title(4), "Test issue 4, edited");
}

#[test]
fn an_object_changed_during_a_full_pass_is_not_taken_for_deleted() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(&store);
    let provider = Double::new();
    let only_issues = options(true).resources([BackfillResource::Issues]);
    pass(&engine, &provider, &only_issues).unwrap();
    provider.delete_issue(7);

    // Right after the pass reads the first page, issue 1 (on the last page) changes and
    // moves to the first page: the pages the pass reads next no longer hold it.
    provider.change_after(provider.requests(), |p| {
        p.edit_issue(1, "Test issue 1, edited", "2017-10-11T09:00:00Z");
    });
    let report = pass(&engine, &provider, &only_issues).unwrap();
    let issues = report.resource(BackfillResource::Issues).unwrap();
    // Only the deleted issue is a tombstone; the first page, read again before
    // tombstoning, has issue 1 with its change.
    assert_eq!(issues.tombstoned, 1);
    let gone: Vec<Value> = projection(&store)
        .into_iter()
        .filter(|o| o["tombstone"] == true)
        .collect();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["fields"]["number"], 7);
    let first = projection(&store)
        .into_iter()
        .find(|o| o["fields"]["number"] == 1 && o["key"].as_str().unwrap().contains("/issue/"))
        .unwrap();
    assert_eq!(first["fields"]["title"], "Test issue 1, edited");

    // With nothing changed during the pass, that re-read is one "not modified" request.
    provider.delete_issue(3);
    let before = provider.calls("issues").len();
    let report = pass(&engine, &provider, &only_issues).unwrap();
    let issues = report.resource(BackfillResource::Issues).unwrap();
    assert_eq!(issues.tombstoned, 1);
    let calls = provider.calls("issues");
    assert_eq!(calls.len() - before, 4 + 1);
    assert_eq!(calls.last().unwrap().cursor, None);
}

#[test]
fn not_modified_pages_change_nothing() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(&store);
    let provider = Double::new();
    let first = pass(&engine, &provider, &options(true)).unwrap();
    assert_eq!(first.not_modified(), 0);
    let objects = projection(&store);
    let audit = block_on(store.list_audit(&Filter::all())).unwrap().len();

    let second = pass(&engine, &provider, &options(true)).unwrap();
    assert_eq!(second.requests(), first.requests());
    assert_eq!(second.not_modified(), second.requests());
    for r in &second.resources {
        assert_eq!((r.applied, r.stale, r.tombstoned), (0, 0, 0), "{r:?}");
    }
    assert_eq!(projection(&store), objects);
    assert_eq!(
        block_on(store.list_audit(&Filter::all())).unwrap().len(),
        audit
    );

    // Items of a "not modified" page are not applied, even where they differ from the
    // projection (here a title at the same version would make the issue ambiguous).
    let mut cached = Double::new();
    cached.always_not_modified = true;
    cached.edit_issue(5, "Test issue 5, edited", "2017-10-10T16:00:00Z");
    let third = pass(&engine, &cached, &options(true)).unwrap();
    assert_eq!(third.not_modified(), third.requests());
    assert_eq!(projection(&store), objects);
}

#[test]
fn a_complete_full_listing_tombstones_what_it_no_longer_has() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(&store);
    let provider = Double::new();
    pass(&engine, &provider, &options(true)).unwrap();
    provider.delete_issue(7);
    let only_issues = |full| options(full).resources([BackfillResource::Issues]);

    let incremental = pass(&engine, &provider, &only_issues(false)).unwrap();
    assert_eq!(incremental.resources[0].tombstoned, 0);

    // A full pass stopped and resumed does not know the pages before the stop.
    provider.fail_at(provider.calls.lock().unwrap().len() + 2);
    assert!(pass(&engine, &provider, &only_issues(true)).is_err());
    let resumed = pass(&engine, &provider, &only_issues(true)).unwrap();
    assert!(resumed.resources[0].resumed);
    assert_eq!(resumed.resources[0].tombstoned, 0);

    let full = pass(&engine, &provider, &only_issues(true)).unwrap();
    assert_eq!(full.resources[0].tombstoned, 1);
    let gone: Vec<Value> = projection(&store)
        .into_iter()
        .filter(|o| o["tombstone"] == true)
        .collect();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["fields"]["number"], 7);
}

#[test]
fn without_a_repository_wide_listing_comments_are_read_issue_by_issue() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine(&store);
    let mut provider = Double::new();
    provider.target_comments = false;
    let report = pass(&engine, &provider, &options(true)).unwrap();
    let comments = report.resource(BackfillResource::Comments).unwrap();
    // One listing per known issue; the probe of the missing listing costs nothing.
    assert_eq!(comments.requests, 13);
    assert_eq!(provider.calls("issue_comments").len(), 13);
    assert!(provider.calls("comments").is_empty());
    let mut numbers: Vec<u64> = provider
        .calls("issue_comments")
        .iter()
        .map(|c| c.issue.unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=13).collect::<Vec<u64>>());
    let state = block_on(store.get_sync_state(&scope(ResourceKind::Comment)))
        .unwrap()
        .unwrap();
    assert_eq!(state.cursor, None);

    // Stopped after five issues, it resumes with the sixth. (A fresh store, so a fresh
    // provider: the double's answers stand in for an ETag cache kept in the store.)
    let store = Arc::new(MemoryStore::new());
    let engine = self::engine(&store);
    let mut provider = Double::new();
    provider.target_comments = false;
    pass(
        &engine,
        &provider,
        &options(true).resources([BackfillResource::Issues]),
    )
    .unwrap();
    let start = provider.calls.lock().unwrap().len();
    provider.fail_at(start + 5);
    let only_comments = options(true).resources([BackfillResource::Comments]);
    assert!(pass(&engine, &provider, &only_comments).is_err());
    let report = pass(&engine, &provider, &only_comments).unwrap();
    assert!(report.resources[0].resumed);
    let issues_read: Vec<u64> = provider.calls.lock().unwrap()[start..]
        .iter()
        .map(|c| c.issue.unwrap())
        .collect();
    assert_eq!(issues_read, [1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 10, 11, 12, 13]);
}

#[test]
fn resources_the_provider_lacks_are_skipped_with_the_reason() {
    let store = Arc::new(MemoryStore::new());
    let mut provider = Double::new();
    provider.cicd = false;
    let report = pass(&engine(&store), &provider, &options(true)).unwrap();
    let runs = report.resource(BackfillResource::Runs).unwrap();
    assert_eq!(runs.requests, 0);
    assert!(
        runs.skipped.as_deref().unwrap().contains("cicd"),
        "{runs:?}"
    );
    assert!(
        report
            .resource(BackfillResource::Issues)
            .unwrap()
            .skipped
            .is_none()
    );
}

#[test]
fn progress_is_reported_after_every_page() {
    #[derive(Default)]
    struct Recorder(Vec<PageProgress>, Vec<(BackfillResource, bool)>, usize);
    impl BackfillProgress for Recorder {
        fn started(&mut self, resource: BackfillResource, resumed: bool) {
            self.1.push((resource, resumed));
        }
        fn page(&mut self, progress: &PageProgress) {
            self.0.push(progress.clone());
        }
        fn finished(&mut self, _: &kradle_sync_core::ResourceReport) {
            self.2 += 1;
        }
    }
    let store = Arc::new(MemoryStore::new());
    let mut recorder = Recorder::default();
    let options = options(true).resources([BackfillResource::Issues, BackfillResource::Labels]);
    block_on(engine(&store).backfill_pass(
        &BindingId::new(REPO),
        &Double::new(),
        &options,
        &mut recorder,
        now(),
    ))
    .unwrap();
    let issues: Vec<(u32, u64, u64)> = recorder
        .0
        .iter()
        .filter(|p| p.resource == BackfillResource::Issues)
        .map(|p| (p.page, p.items, p.requests))
        .collect();
    assert_eq!(
        issues,
        [(1, 3, 1), (2, 6, 2), (3, 9, 3), (4, 12, 4), (5, 13, 5)]
    );
    assert_eq!(recorder.0.last().unwrap().requests, 6);
    assert_eq!(
        recorder.1,
        [
            (BackfillResource::Issues, false),
            (BackfillResource::Labels, false)
        ]
    );
    assert_eq!(recorder.2, 2);
}

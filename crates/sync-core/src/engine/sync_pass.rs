//! The backfill driver: reads a binding's resources through the provider interfaces page
//! by page, applies each page as authoritative observations in one batch, and keeps a
//! checkpoint per resource so a stopped pass resumes at the page where it stopped.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::delivery::payload_digest;
use crate::store::{CommitOutcome, Filter, SyncScope, SyncState, Transition};
use crate::{
    Authority, Binding, BindingId, CanonicalEvent, Change, DeliveryId, Error, ExternalVersion,
    NativeId, Page, PageRequest, Provider, Removal,
};

use super::reader::{self, BACKFILL_ACTION, BackfillResource, Listing};
use super::stage::Stage;
use super::{Engine, EventOutcome};

/// What a [backfill pass](Engine::backfill_pass) reads, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassOptions {
    /// Resources to read; read in [`BackfillResource::ALL`] order whatever the order here.
    pub resources: Vec<BackfillResource>,
    /// Read everything, not only what changed since each resource's high watermark. A full
    /// pass that reads a listing to its end also tombstones known objects missing from it.
    pub full: bool,
    /// Items per page (GitHub's maximum is 100).
    pub per_page: u32,
    /// Pages of recent pipelines to read (newest first); older ones are left alone.
    pub run_pages: u32,
}

impl Default for PassOptions {
    fn default() -> Self {
        Self {
            resources: BackfillResource::ALL.to_vec(),
            full: false,
            per_page: 100,
            run_pages: 1,
        }
    }
}

impl PassOptions {
    /// Sets whether the pass is full.
    pub fn full(mut self, full: bool) -> Self {
        self.full = full;
        self
    }

    /// Sets the resources to read.
    pub fn resources(mut self, resources: impl IntoIterator<Item = BackfillResource>) -> Self {
        self.resources = resources.into_iter().collect();
        self
    }
}

/// Where a pass is, after each page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageProgress {
    /// The resource being read.
    pub resource: BackfillResource,
    /// Pages of it read so far, counting those read before a resumed checkpoint.
    pub page: u32,
    /// Items of it read so far, counting those read before a resumed checkpoint.
    pub items: u64,
    /// Requests the whole pass has made so far.
    pub requests: u64,
    /// Whether this page was answered "not modified".
    pub not_modified: bool,
}

/// Receives a pass's progress (the CLI draws a progress bar with it). Every method has a
/// default that does nothing; `()` ignores everything.
pub trait BackfillProgress: Send {
    /// A resource starts, fresh or from a checkpoint.
    fn started(&mut self, resource: BackfillResource, resumed: bool) {
        let _ = (resource, resumed);
    }
    /// A page was read and applied, and its checkpoint stored.
    fn page(&mut self, progress: &PageProgress) {
        let _ = progress;
    }
    /// A resource is done (or was skipped).
    fn finished(&mut self, report: &ResourceReport) {
        let _ = report;
    }
}

impl BackfillProgress for () {}

/// What a pass did with one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceReport {
    /// The resource.
    pub resource: BackfillResource,
    /// Objects read.
    pub objects: u64,
    /// Objects that changed the projection.
    pub applied: u64,
    /// Objects older than the projection.
    pub stale: u64,
    /// Known objects tombstoned because a complete listing no longer has them.
    pub tombstoned: u64,
    /// Pages read.
    pub pages: u32,
    /// Requests made.
    pub requests: u64,
    /// Pages the provider answered "not modified" (free on GitHub).
    pub not_modified: u64,
    /// Whether the pass listed everything (not only changes since the watermark).
    pub full: bool,
    /// Whether it continued from a checkpoint of an earlier, stopped pass.
    pub resumed: bool,
    /// Why it was not read, if it was not.
    pub skipped: Option<String>,
}

impl ResourceReport {
    fn new(resource: BackfillResource) -> Self {
        Self {
            resource,
            objects: 0,
            applied: 0,
            stale: 0,
            tombstoned: 0,
            pages: 0,
            requests: 0,
            not_modified: 0,
            full: false,
            resumed: false,
            skipped: None,
        }
    }
}

/// What a [backfill pass](Engine::backfill_pass) did, per resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PassReport {
    /// One report per resource, in reading order.
    pub resources: Vec<ResourceReport>,
}

impl PassReport {
    /// Requests made in all.
    pub fn requests(&self) -> u64 {
        self.resources.iter().map(|r| r.requests).sum()
    }

    /// Pages answered "not modified" in all.
    pub fn not_modified(&self) -> u64 {
        self.resources.iter().map(|r| r.not_modified).sum()
    }

    /// The report of one resource.
    pub fn resource(&self, resource: BackfillResource) -> Option<&ResourceReport> {
        self.resources.iter().find(|r| r.resource == resource)
    }
}

/// The checkpoint of a stopped pass, kept as JSON in the resource's [`SyncState::cursor`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    /// The pass lists everything.
    full: bool,
    /// The watermark an incremental pass reads down to: the resource's high watermark when
    /// the pass started, kept so a resumed pass stops where the stopped one would have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<DateTime<Utc>>,
    /// The next page's cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    /// Comments read issue by issue: the issue being read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issue: Option<u64>,
    /// Comments read issue by issue: every issue up to this number is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done_through: Option<u64>,
    /// Pages read so far.
    pages: u32,
    /// Items read so far.
    items: u64,
    /// The newest `updated_at` read so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    watermark: Option<DateTime<Utc>>,
}

/// How a listing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Read to its last page.
    Complete,
    /// Stopped at the pipelines' page limit.
    Limited,
    /// An incremental pass caught up with its watermark (or the first page was not
    /// modified).
    CaughtUp,
    /// The provider has no such listing.
    Unsupported,
}

/// One resource being read.
struct Run {
    resource: BackfillResource,
    state: SyncState,
    checkpoint: Checkpoint,
    report: ResourceReport,
    seen: BTreeSet<NativeId>,
    cursors: HashSet<String>,
    /// The newest `updated_at` on the first page this run read from the listing's start.
    top: Option<DateTime<Utc>>,
}

/// What one page held, for deciding whether to read on.
struct Read {
    /// The next page's cursor.
    next: Option<String>,
    /// The page was answered "not modified".
    not_modified: bool,
    /// The newest and the oldest `updated_at` among its items.
    newest: Option<DateTime<Utc>>,
    oldest: Option<DateTime<Utc>>,
}

impl Engine {
    /// Reads `resources` of a binding through `provider`'s interfaces page by page and
    /// applies every page as authoritative observations, one batched commit per page.
    ///
    /// - Issues and comments are listed newest change first and read incrementally (only
    ///   down to the scope's high watermark) unless `options.full` is set or nothing was read
    ///   before; labels, milestones and pull requests are always listed whole; pipelines are
    ///   read for the most recent `options.run_pages` pages.
    /// - Every pass, full or incremental, starts with the same first-page request, so the
    ///   provider's ETag cache answers it: an incremental pass whose first page is "not
    ///   modified" is done after that one request (a `304`, free on GitHub). Otherwise it
    ///   reads pages until one holds an item changed before its starting watermark: N
    ///   changed objects cost ⌈N/per_page⌉ requests, one more at most (more only when
    ///   many objects were last changed in the watermark's second: those are read again).
    /// - After each page a checkpoint (the next page's cursor, and the watermark an
    ///   incremental pass reads down to) is stored in the resource's [`SyncState`], so a
    ///   pass stopped by an error or a crash resumes at the page where it stopped. When a
    ///   resource is done the cursor is cleared, its high watermark advances, and a full
    ///   listing sets `last_full_backfill_at`.
    /// - Known objects missing from a full listing read to its end in one pass become
    ///   tombstones (not after a resumed pass: the pages before the stop are not in memory).
    ///   Before tombstoning, the first page of a newest-first listing is read again (and
    ///   the pages down to where the pass started, if it changed), so an object changed
    ///   during the pass, which moved to the first page, is not taken for deleted.
    /// - A page the provider answers "not modified" changes no object.
    /// - Comments come from one listing of the whole target
    ///   ([`list_all_comments`](crate::IssueTracking::list_all_comments)), or issue by issue
    ///   where the provider has no such listing.
    ///
    /// Resources the provider or the binding does not support are skipped, with the reason
    /// in their report. An error stops the pass; the pages before it are kept.
    pub async fn backfill_pass(
        &self,
        binding: &BindingId,
        provider: &dyn Provider,
        options: &PassOptions,
        progress: &mut dyn BackfillProgress,
        now: DateTime<Utc>,
    ) -> Result<PassReport, Error> {
        let binding = self.binding(binding)?;
        let kind = &provider.descriptor().kind;
        if *kind != binding.provider {
            return Err(Error::Validation {
                rule: "provider-kind",
                detail: format!(
                    "binding {} syncs with provider {}, but the backfill was given a {kind} provider",
                    binding.id, binding.provider
                ),
            });
        }
        let resources: BTreeSet<BackfillResource> = options.resources.iter().copied().collect();
        let mut pass = Pass {
            engine: self,
            binding,
            provider,
            options,
            progress,
            now,
            requests: 0,
        };
        let mut report = PassReport::default();
        for resource in resources {
            let skipped = reader::unsupported(provider, resource).or_else(|| {
                binding.ownership(resource.kind()).is_none().then(|| {
                    format!(
                        "binding {} does not sync {}",
                        binding.id,
                        resource.interface()
                    )
                })
            });
            let done = match skipped {
                Some(reason) => {
                    let mut r = ResourceReport::new(resource);
                    r.skipped = Some(reason);
                    r
                }
                None => pass.resource(resource).await?,
            };
            pass.progress.finished(&done);
            report.resources.push(done);
        }
        Ok(report)
    }
}

struct Pass<'a> {
    engine: &'a Engine,
    binding: &'a Binding,
    provider: &'a dyn Provider,
    options: &'a PassOptions,
    progress: &'a mut dyn BackfillProgress,
    now: DateTime<Utc>,
    requests: u64,
}

impl Pass<'_> {
    async fn resource(&mut self, resource: BackfillResource) -> Result<ResourceReport, Error> {
        let store = &self.engine.store;
        let scope = SyncScope {
            provider: self.binding.provider.clone(),
            binding: self.binding.id.clone(),
            interface: Some(resource.interface()),
            kind: Some(resource.kind()),
        };
        let state = store
            .get_sync_state(&scope)
            .await?
            .unwrap_or_else(|| SyncState::new(scope));
        let since = match resource.is_incremental() && !self.options.full {
            true => state.high_watermark,
            false => None,
        };
        let full = since.is_none();
        let stored = state
            .cursor
            .as_deref()
            .and_then(|c| serde_json::from_str::<Checkpoint>(c).ok())
            .filter(|c| c.full == full);
        let resumed = stored.is_some();
        let checkpoint = stored.unwrap_or(Checkpoint {
            full,
            since,
            ..Checkpoint::default()
        });
        let mut report = ResourceReport::new(resource);
        report.full = full;
        report.resumed = resumed;
        let mut run = Run {
            resource,
            state,
            checkpoint,
            report,
            seen: BTreeSet::new(),
            cursors: HashSet::new(),
            top: None,
        };
        self.progress.started(resource, resumed);

        let mut per_issue = run.checkpoint.issue.is_some() || run.checkpoint.done_through.is_some();
        let mut end = End::Complete;
        if !per_issue {
            end = self.listing(&mut run, &Listing::Target).await?;
        }
        if per_issue || end == End::Unsupported {
            per_issue = true;
            end = End::Complete;
            self.comments_issue_by_issue(&mut run).await?;
        }
        let limited = end == End::Limited;

        let listed_all = full && !limited;
        if listed_all && !resumed && !per_issue {
            self.tombstone_missing(&mut run).await?;
        }
        run.state.cursor = None;
        run.state.high_watermark = run.state.high_watermark.max(run.checkpoint.watermark);
        if listed_all {
            run.state.last_full_backfill_at = Some(self.now);
        }
        self.save(&run.state).await?;
        Ok(run.report)
    }

    /// Reads a listing from the checkpoint's cursor, checkpointing after each page, to its
    /// end; or, in an incremental pass over a newest-first listing, until it has caught up
    /// with the pass's starting watermark.
    ///
    /// Catching up: a first page answered "not modified" means nothing changed since that
    /// page was last read, and the listing is done. Otherwise pages are read until one holds
    /// an item changed strictly before the watermark; items changed at the watermark itself
    /// are read again and applied as stale (a timestamp has whole seconds, so an object
    /// changed in the watermark's second after the last pass read it is not skipped).
    ///
    /// A known race: an object changed while this pass reads later pages moves to the
    /// first page, already read, so this pass misses it. Its change is newer than the
    /// watermark this pass stores, and the first page's ETag has changed with it, so the
    /// next pass reads the first page again and applies it.
    async fn listing(&mut self, run: &mut Run, listing: &Listing) -> Result<End, Error> {
        let down_to = match listing {
            Listing::Target if run.resource.is_incremental() => run.checkpoint.since,
            _ => None,
        };
        loop {
            let first = run.checkpoint.cursor.is_none();
            let request = PageRequest {
                cursor: run.checkpoint.cursor.clone(),
                per_page: self.options.per_page,
            };
            let read = match self.page(run, listing, &request).await {
                Ok(read) => read,
                // A provider without a target-wide comment listing answers without a
                // request: read comments issue by issue instead.
                Err(Error::Unsupported { .. })
                    if run.resource == BackfillResource::Comments
                        && matches!(listing, Listing::Target)
                        && run.report.pages == 0 =>
                {
                    self.requests -= 1;
                    run.report.requests -= 1;
                    return Ok(End::Unsupported);
                }
                Err(e) => return Err(e),
            };
            if first && matches!(listing, Listing::Target) {
                run.top = read.newest;
            }
            if let Some(down_to) = down_to
                && ((first && read.not_modified) || read.oldest.is_some_and(|o| o < down_to))
            {
                run.checkpoint.cursor = None;
                return Ok(End::CaughtUp);
            }
            let Some(next) = read.next else {
                run.checkpoint.cursor = None;
                return Ok(End::Complete);
            };
            self.no_loop(run, &next)?;
            if run.resource == BackfillResource::Runs && run.report.pages >= self.options.run_pages
            {
                return Ok(End::Limited);
            }
            run.checkpoint.cursor = Some(next);
            self.checkpoint(run).await?;
        }
    }

    async fn comments_issue_by_issue(&mut self, run: &mut Run) -> Result<(), Error> {
        let filter = Filter {
            binding: Some(self.binding.id.clone()),
            kind: Some(crate::ResourceKind::Issue),
            ..Filter::default()
        };
        let mut numbers: Vec<u64> = self
            .engine
            .store
            .list_objects(&filter)
            .await?
            .iter()
            .filter(|s| !s.is_tombstone())
            .filter_map(|s| {
                s.link
                    .number
                    .or_else(|| s.field("number").and_then(serde_json::Value::as_u64))
            })
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        for number in numbers {
            if run.checkpoint.done_through.is_some_and(|d| number <= d) {
                continue;
            }
            if run.checkpoint.issue != Some(number) {
                run.checkpoint.issue = Some(number);
                run.checkpoint.cursor = None;
            }
            run.cursors.clear();
            self.listing(run, &Listing::IssueComments { number })
                .await?;
            run.checkpoint.issue = None;
            run.checkpoint.done_through = Some(number);
            self.checkpoint(run).await?;
        }
        Ok(())
    }

    /// Fails when a listing hands out a cursor it handed out before in this run.
    fn no_loop(&self, run: &mut Run, next: &str) -> Result<(), Error> {
        if run.cursors.insert(next.to_owned()) {
            return Ok(());
        }
        Err(Error::Provider {
            provider: self.binding.provider.clone(),
            message: format!(
                "the {} listing returned the page cursor {next:?} twice; stopped instead of reading in a loop",
                run.resource
            ),
            retryable: false,
            source: None,
        })
    }

    /// Reads a complete newest-first listing's first pages again before its missing objects
    /// are tombstoned: from the first page down to `top`, the newest change the pass saw
    /// when it started. An object changed while the pass read later pages moved to the
    /// first page after it was read, so the pass missed it; it is not deleted. Costs one
    /// request, "not modified" when nothing changed during the pass. No checkpoints: the
    /// listing is already complete.
    async fn settle(&mut self, run: &mut Run, top: DateTime<Utc>) -> Result<(), Error> {
        run.cursors.clear();
        let mut cursor = None;
        loop {
            let first = cursor.is_none();
            let request = PageRequest {
                cursor,
                per_page: self.options.per_page,
            };
            let read = self.page(run, &Listing::Target, &request).await?;
            if (first && read.not_modified) || read.oldest.is_some_and(|o| o < top) {
                return Ok(());
            }
            let Some(next) = read.next else {
                return Ok(());
            };
            self.no_loop(run, &next)?;
            cursor = Some(next);
        }
    }

    /// Reads and applies one page.
    async fn page(
        &mut self,
        run: &mut Run,
        listing: &Listing,
        request: &PageRequest,
    ) -> Result<Read, Error> {
        self.requests += 1;
        run.report.requests += 1;
        let page = reader::read_page(
            self.provider,
            &self.binding.provider,
            run.resource,
            &self.binding.target,
            listing,
            request,
        )
        .await?;
        let Page {
            items,
            next,
            not_modified,
        } = page;
        run.report.pages += 1;
        run.report.objects += items.len() as u64;
        run.checkpoint.pages += 1;
        run.checkpoint.items += items.len() as u64;
        let (mut newest, mut oldest) = (None, None::<DateTime<Utc>>);
        for event in &items {
            run.seen.insert(event.native_id.clone());
            if let Change::Observed { version, .. } = &event.change
                && let Some(at) = version.updated_at
            {
                newest = newest.max(Some(at));
                oldest = Some(oldest.map_or(at, |o| o.min(at)));
            }
        }
        run.checkpoint.watermark = run.checkpoint.watermark.max(newest);
        if not_modified {
            run.report.not_modified += 1;
        } else {
            let (applied, stale) = self.apply(run.resource, items).await?;
            run.report.applied += applied;
            run.report.stale += stale;
        }
        self.progress.page(&PageProgress {
            resource: run.resource,
            page: run.checkpoint.pages,
            items: run.checkpoint.items,
            requests: self.requests,
            not_modified,
        });
        Ok(Read {
            next,
            not_modified,
            newest,
            oldest,
        })
    }

    /// Applies one page's events in one batch; an object that changed concurrently is
    /// applied again on its own. Returns (applied, stale).
    async fn apply(
        &self,
        resource: BackfillResource,
        mut events: Vec<CanonicalEvent>,
    ) -> Result<(u64, u64), Error> {
        let content: Vec<_> = events
            .iter()
            .map(|e| (&e.native_id, &e.link, &e.change))
            .collect();
        let digest = payload_digest(&serde_json::to_vec(&content).unwrap_or_default());
        let read_id = DeliveryId::new(format!("backfill:{resource}:{digest}"));
        for event in &mut events {
            event.delivery_id = read_id.clone();
        }
        let engine = self.engine;
        let mut stage = Stage::default();
        let mut staged = Vec::new();
        let mut transitions = Vec::new();
        for event in events {
            let (outcome, transition) = engine
                .stage_event(self.binding, &event, self.now, &mut stage)
                .await?;
            if let Some(t) = transition {
                staged.push((event, outcome));
                transitions.push(t);
            }
        }
        let (mut applied, mut stale) = (0, 0);
        let outcomes = engine.store.commit_many(transitions).await?;
        for ((event, staged_outcome), committed) in staged.into_iter().zip(outcomes) {
            let outcome = match committed {
                CommitOutcome::Committed => staged_outcome,
                CommitOutcome::AlreadyApplied => EventOutcome::Duplicate,
                CommitOutcome::RevisionConflict => {
                    engine.apply_event(self.binding, event, self.now).await?
                }
            };
            match outcome {
                EventOutcome::Applied => applied += 1,
                EventOutcome::Stale => stale += 1,
                _ => {}
            }
        }
        Ok((applied, stale))
    }

    /// Tombstones known objects of the resource's kind that a complete listing lacks.
    async fn tombstone_missing(&mut self, run: &mut Run) -> Result<(), Error> {
        let kind = run.resource.kind();
        let filter = Filter {
            binding: Some(self.binding.id.clone()),
            kind: Some(kind),
            ..Filter::default()
        };
        let missing: Vec<_> = self
            .engine
            .store
            .list_objects(&filter)
            .await?
            .into_iter()
            .filter(|s| {
                !run.seen.contains(&s.key.native_id) && !s.is_tombstone() && s.exists_externally()
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if run.resource.is_incremental()
            && let Some(top) = run.top
        {
            self.settle(run, top).await?;
        }
        for state in missing {
            if run.seen.contains(&state.key.native_id) {
                continue;
            }
            let version = ExternalVersion {
                etag: None,
                ..state.version()
            };
            let digest = payload_digest(&serde_json::to_vec(&version).unwrap_or_default());
            let event = CanonicalEvent {
                provider: self.binding.provider.clone(),
                delivery_id: DeliveryId::new(format!("backfill:{}:missing:{digest}", run.resource)),
                interface: kind.interface(),
                kind,
                native_id: state.key.native_id.clone(),
                action: BACKFILL_ACTION.into(),
                event_time: None,
                target: None,
                link: Default::default(),
                authority: Authority::Authoritative,
                change: Change::Removed {
                    version,
                    removal: Removal::Missing,
                },
            };
            if self
                .engine
                .apply_event(self.binding, event, self.now)
                .await?
                == EventOutcome::Applied
            {
                run.report.tombstoned += 1;
            }
        }
        Ok(())
    }

    async fn checkpoint(&self, run: &mut Run) -> Result<(), Error> {
        run.state.cursor =
            Some(
                serde_json::to_string(&run.checkpoint).map_err(|e| Error::Store {
                    store: "checkpoint",
                    message: format!("cannot encode the backfill checkpoint: {e}"),
                    source: None,
                })?,
            );
        self.save(&run.state).await
    }

    async fn save(&self, state: &SyncState) -> Result<(), Error> {
        self.engine
            .store
            .commit(Transition {
                sync_states: vec![state.clone()],
                ..Transition::default()
            })
            .await
            .map(|_| ())
    }
}

//! The comments of every issue of a project, newest change first, for
//! [`list_all_comments`](kradle_sync_core::IssueTracking::list_all_comments).
//!
//! GitLab has no project-wide notes listing: notes are listed issue by issue. The walk
//! reads the issues newest change first and the notes of each one that has any, and emits
//! them in the order the contract asks for (every note at most as new as every note emitted
//! before it) using what GitLab guarantees: saving (adding or editing) a note touches its
//! issue (`Note`'s `after_save :touch_noteable`), so no note of an issue is newer than the
//! issue's `updated_at`. A note of the
//! current issue is emitted once it is at least as new as the next issue's `updated_at`
//! (nothing later in the walk can be newer); an older one waits, and the walk remembers the
//! issue in its cursor to emit it in turn. A backfill, which stops at the first note older
//! than its watermark, thus reads the notes of the issues that changed since and of at most
//! a few more, and an unchanged project costs one request: the walk's first page of issues,
//! answered `304` when GitLab sent an ETag for it.
//!
//! The cursor is the walk's state as JSON (the next issue page's URL, the issues queued
//! from the current page, the issues whose older notes wait), so a stopped backfill resumes
//! where it stopped. Notes read during one walk are kept in memory (up to
//! [`MEMO_ISSUES`] issues) so a note that waits is not read twice.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use kradle_http::ApiRequest;
use kradle_sync_core::object::Comment;
use kradle_sync_core::{Error, ExternalTarget, Observed, Page, PageRequest, ResourceKind};
use serde::{Deserialize, Serialize};

use super::client::{GitlabClient, MAX_PER_PAGE, NoteParent, lock, project_path};
use super::convert;
use crate::issue_tracking::issue::WireIssue;
use crate::rest;

/// The most issues whose notes one walk keeps in memory.
pub(crate) const MEMO_ISSUES: usize = 1_000;
/// The most pages of notes read for one issue (10,000 notes).
const MAX_NOTE_PAGES: u32 = 100;

/// Notes a walk read, by issue number.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    walk: u64,
    target: String,
    notes: HashMap<u64, Arc<Vec<Note>>>,
}

/// A note and when it last changed.
#[derive(Debug, Clone)]
pub(crate) struct Note {
    at: DateTime<Utc>,
    comment: Observed<Comment>,
}

/// An issue queued for the walk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Queued {
    /// Its number.
    #[serde(rename = "i")]
    iid: u64,
    /// Its `updated_at`, in milliseconds.
    #[serde(rename = "t")]
    at: i64,
    /// Its `user_notes_count`, when the listing said.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    notes: Option<u64>,
}

/// An issue whose older notes wait.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Waiting {
    #[serde(rename = "i")]
    iid: u64,
    /// Every note at or after this time (ms) was emitted.
    #[serde(rename = "b")]
    below: i64,
    /// The newest note not emitted yet (ms).
    #[serde(rename = "n")]
    next: i64,
}

/// The walk's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "w")]
    walk: u64,
    /// Whether the first page of issues was read.
    #[serde(rename = "s")]
    started: bool,
    /// The next page of issues; `None` once the listing is read to its end.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    issues: Option<String>,
    #[serde(rename = "q", default)]
    queue: VecDeque<Queued>,
    #[serde(rename = "d", default)]
    waiting: Vec<Waiting>,
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn bad_cursor() -> Error {
    Error::Validation {
        rule: "gitlab-comment-cursor",
        detail: "the cursor of the comment listing is not one this adapter wrote; start the \
                 listing again without a cursor"
            .into(),
    }
}

impl GitlabClient {
    /// One page of the walk (see the module documentation).
    pub(crate) async fn walk_comments(
        &self,
        target: &ExternalTarget,
        since: Option<DateTime<Utc>>,
        page: &PageRequest,
    ) -> Result<Page<Observed<Comment>>, Error> {
        let project = project_path(target)?;
        let first_call = page.cursor.is_none();
        let mut state = match &page.cursor {
            Some(text) => serde_json::from_str::<Cursor>(text).map_err(|_| bad_cursor())?,
            None => Cursor {
                walk: self.settings.walks.fetch_add(1, Ordering::Relaxed) + 1,
                started: false,
                issues: None,
                queue: VecDeque::new(),
                waiting: Vec::new(),
            },
        };
        // `state=all` is the listing's default: it keeps the walk's pages apart from
        // `list_issues`' in the ETag cache, so a listing of issues just read does not make
        // the walk's first page look unchanged.
        let mut listing = self
            .get(format!("{project}/issues"))
            .query("order_by", "updated_at")
            .query("sort", "desc")
            .query("scope", "all")
            .query("state", "all");
        if let Some(since) = since {
            listing = listing.query("updated_after", since.to_rfc3339());
        }
        let per_page = match page.per_page {
            0 => MAX_PER_PAGE,
            n => n.min(MAX_PER_PAGE),
        };
        let mut unchanged = false;
        while state.queue.len() < 2 && (!state.started || state.issues.is_some()) {
            let request = match (&state.issues, state.started) {
                (Some(next), true) => PageRequest::after(next.clone(), per_page),
                _ => PageRequest::first(per_page),
            };
            let got = self.page(listing.clone(), &Self::pages(), &request).await?;
            if !state.started && first_call && got.not_modified {
                unchanged = true;
            }
            state.started = true;
            state.issues = got.next;
            for item in &got.items {
                let issue = rest::read::<WireIssue>(ResourceKind::Issue, item)?;
                if let (Some(iid), Some(at)) = (issue.iid(), issue.updated_at()) {
                    state.queue.push_back(Queued {
                        iid,
                        at: millis(at),
                        notes: issue.user_notes_count(),
                    });
                }
            }
            if unchanged {
                break;
            }
        }
        if unchanged {
            // Nothing changed since the walk last read this page: an incremental backfill
            // is done; a full one reads on from the cursor.
            let next = serde_json::to_string(&state).map_err(|_| bad_cursor())?;
            return Ok(Page::new(Vec::new(), Some(next)).with_not_modified(true));
        }
        let boundary = match state.queue.get(1) {
            Some(next) => Some(next.at),
            None if state.issues.is_none() => None,
            None => state.queue.front().map(|q| q.at),
        };
        let floor = since.map(millis);
        let mut items: Vec<Note> = Vec::new();
        if let Some(current) = state.queue.pop_front()
            && current.notes != Some(0)
        {
            let notes = self
                .walk_notes(target, &project, state.walk, current.iid)
                .await?;
            let mut newest_left = None;
            for note in notes.iter() {
                let at = millis(note.at);
                if floor.is_some_and(|f| at < f) {
                    continue;
                }
                if boundary.is_none_or(|b| at >= b) {
                    items.push(note.clone());
                } else {
                    newest_left = newest_left.max(Some(at));
                }
            }
            if let (Some(next), Some(below)) = (newest_left, boundary) {
                state.waiting.push(Waiting {
                    iid: current.iid,
                    below,
                    next,
                });
            }
        }
        let mut still = Vec::with_capacity(state.waiting.len());
        for mut waiting in std::mem::take(&mut state.waiting) {
            if boundary.is_some_and(|b| waiting.next < b) {
                still.push(waiting);
                continue;
            }
            let notes = self
                .walk_notes(target, &project, state.walk, waiting.iid)
                .await?;
            let mut newest_left = None;
            for note in notes.iter() {
                let at = millis(note.at);
                if at >= waiting.below || floor.is_some_and(|f| at < f) {
                    continue;
                }
                if boundary.is_none_or(|b| at >= b) {
                    items.push(note.clone());
                } else {
                    newest_left = newest_left.max(Some(at));
                }
            }
            if let (Some(next), Some(below)) = (newest_left, boundary) {
                waiting.below = below;
                waiting.next = next;
                still.push(waiting);
            }
        }
        state.waiting = still;
        items.sort_by(|a, b| {
            b.at.cmp(&a.at)
                .then_with(|| a.comment.native_id.cmp(&b.comment.native_id))
        });
        let done = state.started
            && state.issues.is_none()
            && state.queue.is_empty()
            && state.waiting.is_empty();
        let next = if done {
            None
        } else {
            Some(serde_json::to_string(&state).map_err(|_| bad_cursor())?)
        };
        Ok(Page::new(
            items.into_iter().map(|n| n.comment).collect(),
            next,
        ))
    }

    /// The user notes of one issue, newest change first, from the walk's memory or read
    /// (every page).
    async fn walk_notes(
        &self,
        target: &ExternalTarget,
        project: &str,
        walk: u64,
        iid: u64,
    ) -> Result<Arc<Vec<Note>>, Error> {
        {
            let memo = lock(&self.settings.memo);
            if memo.walk == walk
                && memo.target == target.path
                && let Some(notes) = memo.notes.get(&iid)
            {
                return Ok(notes.clone());
            }
        }
        let request: ApiRequest = self
            .get(format!("{project}/issues/{iid}/notes"))
            .query("order_by", "updated_at")
            .query("sort", "desc");
        let mut cursor = PageRequest::first(MAX_PER_PAGE);
        let mut notes = Vec::new();
        for _ in 0..MAX_NOTE_PAGES {
            let got = self.page(request.clone(), &Self::pages(), &cursor).await?;
            for item in &got.items {
                if let Some(comment) = convert::observe_opt::<Comment>(ResourceKind::Comment, item)?
                {
                    let at = comment
                        .version
                        .updated_at
                        .or(comment.object.created_at)
                        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
                    notes.push(Note { at, comment });
                }
            }
            match got.next {
                Some(next) => cursor = PageRequest::after(next, MAX_PER_PAGE),
                None => break,
            }
        }
        self.remember_notes(notes.iter().filter_map(|n| {
            let id = n.comment.native_id.as_str().parse::<u64>().ok()?;
            Some((id, NoteParent::Issue(iid)))
        }));
        let notes = Arc::new(notes);
        let mut memo = lock(&self.settings.memo);
        if memo.walk != walk || memo.target != target.path || memo.notes.len() >= MEMO_ISSUES {
            memo.walk = walk;
            memo.target = target.path.clone();
            memo.notes.clear();
        }
        memo.notes.insert(iid, notes.clone());
        Ok(notes)
    }
}

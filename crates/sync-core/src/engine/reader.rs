//! Reading one page of a resource through the provider interfaces, as authoritative
//! canonical events.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::object::Canonical;
use crate::{
    Authority, CanonicalEvent, Change, DeliveryId, Error, ExternalTarget, Interface, Observed,
    Page, PageRequest, Provider, ProviderKind, ResourceKind,
};

/// A resource a [backfill pass](crate::Engine::backfill_pass) reads, in the order a pass
/// reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackfillResource {
    /// Issues (GitHub lists pull requests' issue side among them), newest change first;
    /// an incremental pass reads them down to its watermark.
    Issues,
    /// Comments on issues: one listing for the whole target where the provider has one
    /// ([`IssueTracking::list_all_comments`](crate::IssueTracking::list_all_comments)),
    /// newest change first and read down to the watermark like issues; otherwise issue by
    /// issue.
    Comments,
    /// Labels of the target.
    Labels,
    /// Milestones of the target.
    Milestones,
    /// Pull requests (all states).
    Pulls,
    /// The most recent pipelines (workflow runs), newest first.
    Runs,
}

impl BackfillResource {
    /// Every resource, in the order a pass reads them.
    pub const ALL: [BackfillResource; 6] = [
        BackfillResource::Issues,
        BackfillResource::Comments,
        BackfillResource::Labels,
        BackfillResource::Milestones,
        BackfillResource::Pulls,
        BackfillResource::Runs,
    ];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            BackfillResource::Issues => "issues",
            BackfillResource::Comments => "comments",
            BackfillResource::Labels => "labels",
            BackfillResource::Milestones => "milestones",
            BackfillResource::Pulls => "pulls",
            BackfillResource::Runs => "runs",
        }
    }

    /// A resource by its [name](Self::as_str).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The kind of object the resource lists.
    pub fn kind(self) -> ResourceKind {
        match self {
            BackfillResource::Issues => ResourceKind::Issue,
            BackfillResource::Comments => ResourceKind::Comment,
            BackfillResource::Labels => ResourceKind::Label,
            BackfillResource::Milestones => ResourceKind::Milestone,
            BackfillResource::Pulls => ResourceKind::PullRequest,
            BackfillResource::Runs => ResourceKind::Pipeline,
        }
    }

    /// The interface that lists it.
    pub fn interface(self) -> Interface {
        self.kind().interface()
    }

    /// Whether the resource is listed newest change first, so that an incremental pass
    /// reads it only down to its high watermark (and a full pass reads it whole).
    ///
    /// Every pass asks for the same first page (no `since` in the request), whose ETag the
    /// provider's cache keeps: on an unchanged resource an incremental pass costs that one
    /// conditional request, answered "not modified".
    pub fn is_incremental(self) -> bool {
        matches!(self, BackfillResource::Issues | BackfillResource::Comments)
    }
}

impl fmt::Display for BackfillResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The action of events a backfill pass reads.
pub(super) const BACKFILL_ACTION: &str = "backfill";

/// Fields naming an object's parent. A listing may name the parent another way (GitHub's
/// target-wide comment listing has only the issue's URL), so a null here means "not in
/// this payload", never "no parent": it is left out instead of erasing a known value.
const PARENT_REFERENCES: [&str; 4] = [
    "issue_native_id",
    "issue_number",
    "pull_number",
    "pipeline_native_id",
];

/// An object read from the provider as an authoritative observation. The delivery id is
/// set per page by the caller.
pub(super) fn event_of<T: Canonical>(
    provider: &ProviderKind,
    observed: Observed<T>,
) -> CanonicalEvent {
    let mut fields = observed.object.to_fields();
    for (name, value) in observed.extra {
        fields.entry(name).or_insert(value);
    }
    for name in PARENT_REFERENCES {
        if fields.get(name).is_some_and(serde_json::Value::is_null) {
            fields.remove(name);
        }
    }
    CanonicalEvent {
        provider: provider.clone(),
        delivery_id: DeliveryId::new(""),
        interface: T::KIND.interface(),
        kind: T::KIND,
        native_id: observed.native_id,
        action: BACKFILL_ACTION.into(),
        event_time: observed.version.updated_at,
        target: None,
        link: observed.link,
        authority: Authority::Authoritative,
        change: Change::Observed {
            version: observed.version,
            fields,
        },
    }
}

fn events_of<T: Canonical>(
    provider: &ProviderKind,
    page: Page<Observed<T>>,
) -> Page<CanonicalEvent> {
    Page {
        items: page
            .items
            .into_iter()
            .map(|o| event_of(provider, o))
            .collect(),
        next: page.next,
        not_modified: page.not_modified,
    }
}

/// Where a listing reads from.
pub(super) enum Listing {
    /// The resource's own listing for the target, whole (issues and comments newest change
    /// first: the pass decides where to stop, so the first page's URL never changes).
    Target,
    /// The comments of one issue (providers without a target-wide comment listing).
    IssueComments {
        /// The issue's number.
        number: u64,
    },
}

/// Why a provider cannot read a resource, if it cannot.
pub(super) fn unsupported(provider: &dyn Provider, resource: BackfillResource) -> Option<String> {
    let has = match resource.interface() {
        Interface::IssueTracking => provider.issue_tracking().is_some(),
        Interface::Cicd => provider.cicd().is_some(),
        Interface::GitForge => provider.git_forge().is_some(),
    };
    (!has).then(|| {
        format!(
            "provider {} does not implement {}",
            provider.descriptor().kind,
            resource.interface()
        )
    })
}

/// Reads one page of `resource` and converts its items into events.
pub(super) async fn read_page(
    provider: &dyn Provider,
    kind: &ProviderKind,
    resource: BackfillResource,
    target: &ExternalTarget,
    listing: &Listing,
    page: &PageRequest,
) -> Result<Page<CanonicalEvent>, Error> {
    let missing = || Error::UnsupportedInterface {
        provider: kind.clone(),
        interface: resource.interface(),
    };
    if let Listing::IssueComments { number } = listing {
        let issues = provider.issue_tracking().ok_or_else(missing)?;
        return Ok(events_of(
            kind,
            issues.list_comments(target, *number, page).await?,
        ));
    }
    Ok(match resource {
        // No `since`: a filtered first page would be a new URL on every pass, without a
        // cached ETag, and cost a rate-limit point even when nothing changed.
        BackfillResource::Issues => {
            let issues = provider.issue_tracking().ok_or_else(missing)?;
            events_of(kind, issues.list_issues(target, None, page).await?)
        }
        BackfillResource::Comments => {
            let issues = provider.issue_tracking().ok_or_else(missing)?;
            events_of(kind, issues.list_all_comments(target, None, page).await?)
        }
        BackfillResource::Labels => {
            let issues = provider.issue_tracking().ok_or_else(missing)?;
            events_of(kind, issues.list_labels(target, page).await?)
        }
        BackfillResource::Milestones => {
            let issues = provider.issue_tracking().ok_or_else(missing)?;
            events_of(kind, issues.list_milestones(target, page).await?)
        }
        BackfillResource::Pulls => {
            let forge = provider.git_forge().ok_or_else(missing)?;
            events_of(kind, forge.list_pull_requests(target, page).await?)
        }
        BackfillResource::Runs => {
            let cicd = provider.cicd().ok_or_else(missing)?;
            events_of(kind, cicd.list_pipelines(target, page).await?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Comment;
    use crate::{ExternalVersion, LinkInfo, NativeId};

    #[test]
    fn names_round_trip_in_reading_order() {
        for r in BackfillResource::ALL {
            assert_eq!(BackfillResource::parse(r.as_str()), Some(r));
        }
        assert_eq!(BackfillResource::parse("pull_requests"), None);
        let mut sorted = BackfillResource::ALL;
        sorted.sort();
        assert_eq!(sorted, BackfillResource::ALL);
    }

    #[test]
    fn a_null_parent_reference_is_left_out_but_other_nulls_are_kept() {
        let observed = Observed {
            native_id: NativeId::new("1"),
            link: LinkInfo::default(),
            version: ExternalVersion::default(),
            object: Comment {
                issue_native_id: None,
                issue_number: Some(13),
                body: "Me too".into(),
                author: None,
                created_at: None,
                html_url: None,
            },
            extra: [
                ("reactions".to_owned(), serde_json::json!({ "+1": 2 })),
                (
                    "body".to_owned(),
                    serde_json::json!("never over the struct's"),
                ),
            ]
            .into_iter()
            .collect(),
        };
        let event = event_of(&ProviderKind::new("github"), observed);
        let Change::Observed { fields, .. } = event.change else {
            panic!("an observation")
        };
        assert!(!fields.contains_key("issue_native_id"));
        assert_eq!(fields["issue_number"], 13);
        assert_eq!(fields["reactions"]["+1"], 2, "extra fields are kept");
        assert_eq!(fields["body"], "Me too", "the struct's fields win");
        assert!(fields["author"].is_null());
        assert_eq!(event.action, BACKFILL_ACTION);
        assert_eq!(event.authority, Authority::Authoritative);
    }
}

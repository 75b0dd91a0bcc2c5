//! Canonical objects: the provider-neutral shape of everything kradle-sync projects.
//!
//! Providers translate their payloads into these types; the engine works on their
//! [`Fields`], so a partial payload (one that carries only some fields) updates only
//! what it carries.

mod cicd;
mod forge;
mod issue_tracking;

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use cicd::{
    Artifact, CheckRun, CheckSuite, CommitStatus, Deployment, Job, LogRef, Pipeline, Runner,
};
pub use forge::{
    BranchProtection, Collaborator, DeployKey, GitRef, PullRequest, Repository, Review,
    ReviewComment,
};
pub use issue_tracking::{Comment, Issue, IssueState, Label, Milestone};

use crate::ResourceKind;

/// The fields of an object by name. Sorted, so output is deterministic.
pub type Fields = BTreeMap<String, serde_json::Value>;

/// A canonical object type.
pub trait Canonical: Serialize + DeserializeOwned + Send + Sync {
    /// The kind of object this type describes.
    const KIND: ResourceKind;

    /// The object as a field map (every field present; absent values are `null`).
    fn to_fields(&self) -> Fields {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().collect(),
            _ => Fields::new(),
        }
    }

    /// Reads an object back from a complete field map.
    fn from_fields(fields: &Fields) -> Result<Self, serde_json::Error> {
        let map: serde_json::Map<String, serde_json::Value> =
            fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        serde_json::from_value(serde_json::Value::Object(map))
    }
}

macro_rules! canonical {
    ($($ty:ty => $kind:ident),* $(,)?) => {
        $(impl Canonical for $ty {
            const KIND: ResourceKind = ResourceKind::$kind;
        })*
    };
}

canonical!(
    Issue => Issue, Comment => Comment, Label => Label, Milestone => Milestone,
    Pipeline => Pipeline, Job => Job, CheckRun => CheckRun, CheckSuite => CheckSuite,
    CommitStatus => CommitStatus, Runner => Runner, Artifact => Artifact, LogRef => LogRef,
    Deployment => Deployment, Repository => Repository, PullRequest => PullRequest,
    Review => Review, ReviewComment => ReviewComment, GitRef => Ref,
    BranchProtection => BranchProtection, DeployKey => DeployKey, Collaborator => Collaborator,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let issue = Issue {
            number: 1,
            title: "Spelling error in the README file".into(),
            body: Some("It looks like you accidently spelled 'commit' with two 't's.".into()),
            state: IssueState::Open,
            state_reason: None,
            labels: vec!["bug".into()],
            assignees: vec!["Codertocat".into()],
            milestone: Some(1),
            locked: false,
            author: Some("Codertocat".into()),
            created_at: None,
            closed_at: None,
            html_url: None,
            pull_request: false,
        };
        let fields = issue.to_fields();
        assert_eq!(fields["title"], "Spelling error in the README file");
        assert_eq!(fields["milestone"], 1);
        assert_eq!(Issue::from_fields(&fields).ok(), Some(issue));
    }
}

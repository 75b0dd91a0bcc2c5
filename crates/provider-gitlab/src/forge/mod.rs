//! The git forge interface: projects, merge requests and their approvals, refs, protected
//! branches, deploy keys and members.

pub(crate) mod deploy_key;
pub(crate) mod git_ref;
pub(crate) mod member;
pub(crate) mod merge_request;
pub(crate) mod project;
pub(crate) mod protected_branch;

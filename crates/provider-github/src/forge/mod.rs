//! The git forge interface: repositories, pull requests, reviews, refs, branch protection,
//! deploy keys and collaborators.

pub(crate) mod git_ref;
pub(crate) mod pull_request;
pub(crate) mod repository;

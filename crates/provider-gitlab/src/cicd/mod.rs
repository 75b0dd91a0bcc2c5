//! The CI/CD interface: pipelines, jobs, commit statuses, runners, artifacts and
//! deployments.

pub(crate) mod commit_status;
pub(crate) mod deployment;
pub(crate) mod job;
pub(crate) mod pipeline;
pub(crate) mod runner;
pub(crate) mod status;

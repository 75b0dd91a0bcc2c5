//! The CI/CD interface: workflow runs and jobs, check runs and suites, commit statuses,
//! runners, artifacts and deployments.

pub(crate) mod actions;
pub(crate) mod checks;
pub(crate) mod deployment;

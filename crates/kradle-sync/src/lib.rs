#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use kradle_sync_core::*;

/// The GitHub provider: `GithubPlugin`, `GithubWebhooks`, `GithubClient`.
#[cfg(feature = "github")]
#[cfg_attr(docsrs, doc(cfg(feature = "github")))]
pub use kradle_provider_github as github;

/// The GitLab provider: `GitlabPlugin`, `GitlabWebhooks`, `GitlabClient`.
#[cfg(feature = "gitlab")]
#[cfg_attr(docsrs, doc(cfg(feature = "gitlab")))]
pub use kradle_provider_gitlab as gitlab;

/// The Jira provider: `JiraPlugin`, `JiraWebhooks`, `JiraClient`, the `markup` converter.
#[cfg(feature = "jira")]
#[cfg_attr(docsrs, doc(cfg(feature = "jira")))]
pub use kradle_provider_jira as jira;

/// The HTTP kit providers are built on (pagination, ETags, rate-limit budgets, retries).
#[cfg(any(feature = "github", feature = "gitlab", feature = "jira"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "github", feature = "gitlab", feature = "jira")))
)]
pub use kradle_http as http;

/// The in-process store: `MemoryStore`.
#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub use kradle_store_memory as memory;

/// The PostgreSQL store: `PostgresStore`.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use kradle_store_postgres as postgres;

/// The webhook receiver and the worker: `Receiver`, `Worker`.
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use kradle_sync_server as server;

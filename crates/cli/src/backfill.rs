//! `kradle-sync backfill`: a repository read through the provider's REST API into a store,
//! page by page with checkpoints, then the same state document as `replay`.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kradle_http::{HttpError, TransportKind};
use kradle_provider_github::api::{DEFAULT_API_URL, GithubApp, GithubAuth, GithubClient};
use kradle_sync_core::{
    BackfillProgress, BackfillResource, Binding, Engine, Error, ExternalTarget, PageProgress,
    PassOptions, PassReport, ResourceReport, RetryPolicy, Secret, SyncStore,
};

use crate::document::Stats;
use crate::error::CliError;

/// Options of `kradle-sync backfill`.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The provider type (this build: `github`).
    #[arg(long, default_value = "github")]
    provider: String,
    /// The repository, as OWNER/NAME.
    #[arg(long, value_name = "OWNER/NAME")]
    repo: String,
    /// The API root: https://api.github.com (default), a GitHub Enterprise Server
    /// https://HOST/api/v3, or a local test server.
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    /// The environment variable holding a personal access token (ignored with --app-id).
    #[arg(long, default_value = "GITHUB_TOKEN", value_name = "VAR")]
    token_env: String,
    /// Authenticate as this GitHub App (with --installation-id and --private-key-file)
    /// instead of with a token.
    #[arg(long, value_name = "ID")]
    app_id: Option<String>,
    /// The app's installation on the repository's owner.
    #[arg(long, value_name = "ID")]
    installation_id: Option<u64>,
    /// The app's private key (PEM, as GitHub hands it out).
    #[arg(long, value_name = "PATH")]
    private_key_file: Option<String>,
    /// Where to keep state: `memory` (default; one-shot) or a PostgreSQL URL
    /// (`postgres://user@host:5432/db`), where checkpoints and ETags outlive the run.
    #[arg(long, default_value = "memory")]
    store: String,
    /// The PostgreSQL schema the store lives in (created and migrated if missing).
    #[arg(long, default_value = crate::store::DEFAULT_SCHEMA)]
    schema: String,
    /// A TOML file declaring the repository's binding (ownership modes, policies); see
    /// the README. Default: every interface, bidirectional.
    #[arg(long, value_name = "FILE")]
    bindings: Option<String>,
    /// What to read, comma-separated: issues, comments, labels, milestones, pulls, runs.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "issues,comments,labels,milestones,pulls,runs",
        value_name = "LIST"
    )]
    resources: Vec<String>,
    /// Read everything, not only what changed since the last backfill; objects missing
    /// from a complete listing become tombstones.
    #[arg(long)]
    full: bool,
    /// Items per page (GitHub's maximum, and the default, is 100): N issues cost
    /// ⌈N/per-page⌉ list requests.
    #[arg(long, default_value_t = 100, value_name = "N")]
    per_page: u32,
    /// Attempts per request (server errors, timeouts, lost connections) before the
    /// backfill stops at its checkpoint.
    #[arg(long, default_value_t = 4, value_name = "N")]
    attempts: u32,
}

/// Runs the command: progress on stderr, the state document on stdout.
pub async fn run(args: BackfillArgs) -> Result<(), CliError> {
    if args.provider != "github" {
        return Err(CliError::Usage(format!(
            "unknown provider `{}`; this build backfills from github",
            args.provider
        )));
    }
    let target = parse_repo(&args.repo)?;
    let resources = parse_resources(&args.resources)?;
    if !(1..=100).contains(&args.per_page) {
        return Err(CliError::Usage(format!(
            "--per-page takes 1 to 100 (GitHub's maximum), not {}",
            args.per_page
        )));
    }
    let auth = credentials(&args, &|var| std::env::var(var).ok())?;
    let api_url = args
        .api_url
        .as_deref()
        .unwrap_or(DEFAULT_API_URL)
        .to_owned();
    let store = crate::store::open(&args.store, &args.schema, 4).await?;
    let binding = binding(&args, &target)?;
    let id = binding.id.clone();
    let engine = Engine::builder(store.clone())
        .adapter(Arc::new(kradle_provider_github::GithubWebhooks::new()))
        .binding(binding)
        .build()?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| CliError::Usage(format!("cannot set up HTTP: {e}")))?;
    let github = GithubClient::builder(http)
        .base_url(api_url.clone())
        .auth(auth)
        .binding(id.clone())
        .org(target.owner.clone().unwrap_or_default())
        .cache(store.clone())
        .retry(RetryPolicy {
            max_attempts: args.attempts.max(1),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        })
        .build()?
        .for_backfill();

    let options = PassOptions {
        per_page: args.per_page,
        ..PassOptions::default()
    }
    .resources(resources)
    .full(args.full);
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let result = engine
        .backfill_pass(&id, &github, &options, &mut progress, Utc::now())
        .await;
    progress.done();
    let budget = github.budget().map(|b| Budget {
        remaining: b.remaining,
        limit: b.limit,
        reset_at: b.reset_at,
    });
    match result {
        Ok(report) => {
            eprintln!(
                "kradle-sync: {}",
                requests_line(report.requests(), report.not_modified(), budget.as_ref())
            );
            print_document(store.as_ref(), &report).await
        }
        Err(error) => {
            eprintln!(
                "kradle-sync: {}",
                requests_line(progress.requests, progress.not_modified, budget.as_ref())
            );
            Err(stopped(&args, &api_url, error))
        }
    }
}

/// `OWNER/NAME`, both parts non-empty.
fn parse_repo(repo: &str) -> Result<ExternalTarget, CliError> {
    match repo.split_once('/') {
        Some((owner, name))
            if !owner.trim().is_empty() && !name.trim().is_empty() && !name.contains('/') =>
        {
            Ok(ExternalTarget::from_path(repo))
        }
        _ => Err(CliError::Usage(format!(
            "--repo takes OWNER/NAME (e.g. --repo octocat/Hello-World), not `{repo}`"
        ))),
    }
}

fn parse_resources(names: &[String]) -> Result<BTreeSet<BackfillResource>, CliError> {
    names
        .iter()
        .map(|name| {
            BackfillResource::parse(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = BackfillResource::ALL.iter().map(|r| r.as_str()).collect();
                CliError::Usage(format!(
                    "unknown resource `{name}` in --resources; use some of {}",
                    known.join(",")
                ))
            })
        })
        .collect()
}

/// A token from the environment, or a GitHub App's key from a file.
fn credentials(
    args: &BackfillArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<GithubAuth, CliError> {
    match (&args.app_id, args.installation_id, &args.private_key_file) {
        (Some(app), Some(installation), Some(path)) => {
            let pem = std::fs::read_to_string(path).map_err(|source| CliError::Read {
                path: path.clone(),
                source,
            })?;
            Ok(GithubAuth::app(GithubApp::new(
                app.clone(),
                Secret::new(pem),
                installation,
            )))
        }
        (None, None, None) => match env(&args.token_env).filter(|t| !t.trim().is_empty()) {
            Some(token) => Ok(GithubAuth::token(Secret::new(token.trim()))),
            None => Err(CliError::Usage(format!(
                "no GitHub token: ${} is not set; export a token there, name another variable \
                 with --token-env VAR, or authenticate as an app with --app-id, \
                 --installation-id and --private-key-file",
                args.token_env
            ))),
        },
        _ => Err(CliError::Usage(
            "a GitHub App needs all three of --app-id, --installation-id and --private-key-file"
                .into(),
        )),
    }
}

/// The repository's binding: declared in the bindings file, or every interface,
/// bidirectional.
fn binding(args: &BackfillArgs, target: &ExternalTarget) -> Result<Binding, CliError> {
    let mut binding = match &args.bindings {
        Some(path) => crate::bindings::load(path, &|var| std::env::var(var).ok(), &crate::supported)?
            .into_iter()
            .find(|b| b.provider.as_str() == args.provider && b.target.same_as(target))
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{path} declares no {} binding whose target is {target}; add one or leave out --bindings",
                    args.provider
                ))
            })?,
        None => crate::bindings::implicit(
            &target.path,
            &kradle_provider_github::descriptor(),
            None,
        ),
    };
    // A backfill receives no webhooks, so a binding without a webhook secret gets one that
    // nothing ever verifies against.
    if binding.webhook_secret.as_ref().is_none_or(Secret::is_empty) {
        binding.webhook_secret = Some(Secret::new(unused_secret()));
    }
    Ok(binding)
}

fn unused_secret() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    format!("unused-{:016x}", hasher.finish())
}

/// The error a stopped pass ends with: what stopped it, and how to go on.
fn stopped(args: &BackfillArgs, api_url: &str, error: Error) -> CliError {
    let resume = if args.store == "memory" {
        "the memory store keeps nothing: use --store postgres://… to resume where it stopped"
            .to_owned()
    } else {
        "pages read so far are checkpointed: run the same command again to resume".to_owned()
    };
    let http = match &error {
        Error::Provider {
            source: Some(source),
            ..
        } => source.downcast_ref::<HttpError>(),
        _ => None,
    };
    let message = match http {
        Some(HttpError::Transport {
            kind: TransportKind::Connect,
            ..
        }) => format!(
            "cannot reach the GitHub API at {api_url}: {error}; check --api-url and the network"
        ),
        Some(HttpError::Paused { until, .. }) => format!(
            "backfill of {} paused: the rate-limit budget is below the backfill reserve until {}; {resume}",
            args.repo,
            until.to_rfc3339()
        ),
        Some(HttpError::Unauthorized { .. }) => format!(
            "GitHub refused the credentials: {error}; check the token in ${} (or the app's key)",
            args.token_env
        ),
        _ => format!("backfill of {} stopped: {error}; {resume}", args.repo),
    };
    CliError::Usage(message)
}

async fn print_document(store: &dyn SyncStore, report: &PassReport) -> Result<(), CliError> {
    let stats = Stats {
        backfilled: report.resources.iter().map(|r| r.objects).sum(),
        applied: report.resources.iter().map(|r| r.applied).sum(),
        stale: report.resources.iter().map(|r| r.stale).sum(),
        ..Stats::default()
    };
    let doc = crate::document::build(store, &stats).await?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &doc).map_err(|e| CliError::Usage(e.to_string()))?;
    writeln!(out)?;
    Ok(())
}

/// The last rate-limit budget GitHub reported.
struct Budget {
    remaining: Option<u64>,
    limit: Option<u64>,
    reset_at: Option<DateTime<Utc>>,
}

/// The request summary: GitHub charges one rate-limit point per request that is not
/// answered `304 Not Modified`.
fn requests_line(requests: u64, not_modified: u64, budget: Option<&Budget>) -> String {
    let mut line = format!(
        "requests: {requests} ({not_modified} not modified); rate-limit points used: {}",
        requests.saturating_sub(not_modified)
    );
    match budget {
        Some(Budget {
            remaining: Some(remaining),
            limit,
            reset_at,
        }) => {
            line.push_str(&format!(", remaining: {remaining}"));
            if let Some(limit) = limit {
                line.push_str(&format!(" of {limit}"));
            }
            if let Some(reset) = reset_at {
                line.push_str(&format!(" (resets {})", reset.to_rfc3339()));
            }
        }
        _ => line.push_str(", remaining: unknown"),
    }
    line
}

fn resource_line(r: &ResourceReport) -> String {
    match &r.skipped {
        Some(reason) => format!("{:<10} skipped: {reason}", r.resource.as_str()),
        None => format!(
            "{:<10} {} objects, {} applied, {} stale, {} tombstoned; {} requests ({} not modified){}{}",
            r.resource.as_str(),
            r.objects,
            r.applied,
            r.stale,
            r.tombstoned,
            r.requests,
            r.not_modified,
            if r.full {
                ", full"
            } else {
                ", since the last backfill"
            },
            if r.resumed {
                ", resumed at the checkpoint"
            } else {
                ""
            },
        ),
    }
}

/// Progress on stderr: a spinner line on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    requests: u64,
    not_modified: u64,
}

impl Progress {
    fn new(terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} {prefix:<10} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            requests: 0,
            not_modified: 0,
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(format!("kradle-sync: {text}")),
            None => eprintln!("kradle-sync: {text}"),
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl BackfillProgress for Progress {
    fn started(&mut self, resource: BackfillResource, resumed: bool) {
        let what = if resumed {
            "resuming at the checkpoint"
        } else {
            "reading"
        };
        match &self.bar {
            Some(bar) => {
                bar.set_prefix(resource.as_str());
                bar.set_message(what);
            }
            None => eprintln!("kradle-sync: {resource}: {what}"),
        }
    }

    fn page(&mut self, p: &PageProgress) {
        self.requests = p.requests;
        if p.not_modified {
            self.not_modified += 1;
        }
        let text = format!(
            "page {}, {} items, {} requests{}",
            p.page,
            p.items,
            p.requests,
            if p.not_modified {
                " (not modified)"
            } else {
                ""
            }
        );
        match &self.bar {
            Some(bar) => bar.set_message(text),
            None => eprintln!("kradle-sync: {}: {text}", p.resource),
        }
    }

    fn finished(&mut self, report: &ResourceReport) {
        self.line(resource_line(report));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repo_is_owner_slash_name() {
        assert!(parse_repo("octocat/Hello-World").is_ok());
        for bad in ["octocat", "/Hello-World", "octocat/", "a/b/c", ""] {
            let err = parse_repo(bad).unwrap_err().to_string();
            assert!(err.contains("OWNER/NAME"), "{bad}: {err}");
        }
    }

    #[test]
    fn resources_are_named_and_read_in_order() {
        let names = ["runs".to_owned(), "issues".to_owned(), " labels".to_owned()];
        let parsed: Vec<BackfillResource> = parse_resources(&names).unwrap().into_iter().collect();
        assert_eq!(
            parsed,
            [
                BackfillResource::Issues,
                BackfillResource::Labels,
                BackfillResource::Runs
            ]
        );
        let err = parse_resources(&["prs".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown resource `prs`") && err.contains("pulls"),
            "{err}"
        );
    }

    #[test]
    fn the_request_summary_counts_304s_as_free() {
        let budget = Budget {
            remaining: Some(4990),
            limit: Some(5000),
            reset_at: None,
        };
        assert_eq!(
            requests_line(10, 4, Some(&budget)),
            "requests: 10 (4 not modified); rate-limit points used: 6, remaining: 4990 of 5000"
        );
        assert!(requests_line(0, 0, None).ends_with("remaining: unknown"));
    }
}

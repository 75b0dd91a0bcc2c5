//! `kradle-sync backfill`: a repository or project read through its provider's REST API
//! into a store, page by page with checkpoints, then the same state document as `replay`.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::io::{IsTerminal, Write};
use std::time::Duration;

use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kradle_http::{HttpError, TransportKind};
use kradle_sync_core::{
    BackfillProgress, BackfillResource, Binding, ConnectOptions, Credentials, Engine, Error,
    ExternalTarget, PageProgress, PassOptions, PassReport, ProviderDescriptor, ProviderKind,
    ProviderRegistry, RateLimitStatus, ReadPurpose, ResourceReport, RetryPolicy, Secret, SyncStore,
};

use crate::bindings::{Access, TokenType};
use crate::document::Stats;
use crate::error::CliError;

/// Options of `kradle-sync backfill`.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The provider type (`github`, …).
    #[arg(long)]
    provider: String,
    /// The repository or project: OWNER/NAME (GitHub), GROUP/…/PROJECT (GitLab),
    /// SITE/KEY (Jira).
    #[arg(long, visible_alias = "repo", value_name = "PATH")]
    project: String,
    /// The API root: the provider's own (default), a self-hosted instance (GitHub
    /// Enterprise Server https://HOST/api/v3, a self-managed GitLab, a Jira site), or a
    /// local test server.
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    /// The environment variable holding the token (default: PROVIDER_TOKEN, e.g.
    /// GITHUB_TOKEN; ignored with --app-id).
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
    /// What the token is: `token` (a personal, project or group access token; default) or
    /// `oauth` (an OAuth 2.0 bearer token).
    #[arg(long, value_enum, default_value = "token", value_name = "TYPE")]
    token_type: TokenTypeArg,
    /// Send the token as basic auth with this user name (Jira Cloud: the account's
    /// e-mail address).
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
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
    /// A TOML file declaring the binding (ownership modes, policies); see the README.
    /// Default: every interface the provider supports, bidirectional.
    #[arg(long, value_name = "FILE")]
    bindings: Option<String>,
    /// What to read, comma-separated: issues, comments, labels, milestones, pulls, runs
    /// (those of interfaces the provider has).
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
    /// Items per page (at most, and by default, 100): N issues cost ⌈N/per-page⌉ list
    /// requests.
    #[arg(long, default_value_t = 100, value_name = "N")]
    per_page: u32,
    /// Attempts per request (server errors, timeouts, lost connections) before the
    /// backfill stops at its checkpoint.
    #[arg(long, default_value_t = 4, value_name = "N")]
    attempts: u32,
}

/// `--token-type`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum TokenTypeArg {
    /// An access token.
    Token,
    /// An OAuth 2.0 bearer token.
    Oauth,
}

/// Runs the command: progress on stderr, the state document on stdout.
pub async fn run(args: BackfillArgs, registry: &ProviderRegistry) -> Result<(), CliError> {
    let kind = ProviderKind::new(args.provider.as_str());
    let plugin = registry
        .plugin(&kind)
        .map_err(|_| CliError::Usage(crate::providers::unknown(registry, &args.provider)))?;
    let descriptor = plugin.descriptor().clone();
    let target = parse_target(&args.project)?;
    plugin.validate_target(&target).map_err(|e| match e {
        Error::Validation { detail, .. } => CliError::Usage(format!("--project: {detail}")),
        other => CliError::Sync(other),
    })?;
    let resources = parse_resources(&args.resources)?;
    if !(1..=100).contains(&args.per_page) {
        return Err(CliError::Usage(format!(
            "--per-page takes 1 to 100, not {}",
            args.per_page
        )));
    }
    let (binding, access) = binding(&args, registry, &descriptor, &target)?;
    let env = |var: &str| std::env::var(var).ok();
    // The command line's credentials, else those the bindings file names for the binding.
    let flags_name_credentials =
        args.token_env.is_some() || args.app_id.is_some() || args.private_key_file.is_some();
    let credentials = match &access {
        Some(access) if !flags_name_credentials && access.has_credentials() => {
            access.credentials(&format!("binding {}", binding.id), &env)?
        }
        _ => credentials(&args, &descriptor, &env)?,
    };
    let api_url_arg = args
        .api_url
        .clone()
        .or_else(|| access.and_then(|a| a.api_url));
    let api_url = api_url_arg
        .clone()
        .or_else(|| descriptor.default_api_url.clone())
        .unwrap_or_default();
    let store = crate::store::open(&args.store, &args.schema, 4).await?;
    let id = binding.id.clone();
    let mut options = ConnectOptions::for_binding(&binding)
        .with_credentials(credentials)
        .with_retry(RetryPolicy {
            max_attempts: args.attempts.max(1),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        })
        .with_purpose(ReadPurpose::Backfill)
        .with_cache(store.cache.clone());
    if let Some(url) = api_url_arg {
        options = options.with_api_url(url);
    }
    let provider = plugin.connect(options)?;
    let engine = Engine::builder(store.sync.clone())
        .registry(registry)
        .binding(binding)
        .build()?;

    let pass = PassOptions {
        per_page: args.per_page,
        ..PassOptions::default()
    }
    .resources(resources)
    .full(args.full);
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let result = engine
        .backfill_pass(&id, provider.as_ref(), &pass, &mut progress, Utc::now())
        .await;
    progress.done();
    let budget = provider.rate_limit();
    match result {
        Ok(report) => {
            eprintln!(
                "kradle-sync: {}",
                requests_line(report.requests(), report.not_modified(), budget.as_ref())
            );
            print_document(store.sync.as_ref(), &report).await
        }
        Err(error) => {
            eprintln!(
                "kradle-sync: {}",
                requests_line(progress.requests, progress.not_modified, budget.as_ref())
            );
            Err(stopped(&args, &descriptor, &api_url, error))
        }
    }
}

/// A path of non-empty segments, at least two (an owner or site, and a name).
fn parse_target(path: &str) -> Result<ExternalTarget, CliError> {
    let segments: Vec<&str> = path.split('/').collect();
    if segments.len() >= 2 && segments.iter().all(|s| !s.trim().is_empty()) {
        Ok(ExternalTarget::from_path(path))
    } else {
        Err(CliError::Usage(format!(
            "--project takes OWNER/NAME (GitHub), GROUP/…/PROJECT (GitLab) or SITE/KEY (Jira), not `{path}`"
        )))
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

/// The variable a provider's token is read from unless `--token-env` names another:
/// `GITHUB_TOKEN`, `GITLAB_TOKEN`, `JIRA_TOKEN`, …
fn default_token_env(descriptor: &ProviderDescriptor) -> String {
    format!(
        "{}_TOKEN",
        descriptor
            .kind
            .as_str()
            .to_ascii_uppercase()
            .replace('-', "_")
    )
}

/// A token from the environment (as a token, an OAuth token or basic auth), or an app's
/// key from a file.
fn credentials(
    args: &BackfillArgs,
    descriptor: &ProviderDescriptor,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials, CliError> {
    let token_env = args
        .token_env
        .clone()
        .unwrap_or_else(|| default_token_env(descriptor));
    let access = Access {
        api_url: None,
        token_env: Some(token_env.clone()),
        token_type: match args.token_type {
            TokenTypeArg::Token => TokenType::Token,
            TokenTypeArg::Oauth => TokenType::Oauth,
        },
        username: args.username.clone(),
        app_id: args.app_id.clone(),
        installation_id: args.installation_id,
        private_key_file: args.private_key_file.clone(),
    };
    let app = args.app_id.is_some() || args.private_key_file.is_some();
    match access.credentials("backfill", env) {
        Ok(c) => Ok(c),
        Err(_) if app => Err(CliError::Usage(
            "an app needs all three of --app-id, --installation-id and --private-key-file".into(),
        )),
        Err(CliError::Usage(_)) => Err(CliError::Usage(format!(
            "no {} token: ${token_env} is not set; export a token there or name another \
             variable with --token-env VAR{}",
            descriptor.display_name,
            if descriptor.accepts(kradle_sync_core::AuthMode::GithubApp) {
                ", or authenticate as an app with --app-id, --installation-id and --private-key-file"
            } else {
                ""
            }
        ))),
        Err(other) => Err(other),
    }
}

/// The target's binding and how the bindings file says to reach its API: declared there,
/// or every interface, bidirectional, and no file access.
fn binding(
    args: &BackfillArgs,
    registry: &ProviderRegistry,
    descriptor: &ProviderDescriptor,
    target: &ExternalTarget,
) -> Result<(Binding, Option<Access>), CliError> {
    let (mut binding, access) = match declared(args, registry, descriptor, target)? {
        Some(d) => (d.binding, Some(d.access)),
        None => (
            crate::bindings::implicit(&target.path, descriptor, None),
            None,
        ),
    };
    // A backfill receives no webhooks, so a binding without a webhook secret gets one that
    // nothing ever verifies against.
    if binding.webhook_secret.as_ref().is_none_or(Secret::is_empty) {
        binding.webhook_secret = Some(Secret::new(unused_secret()));
    }
    Ok((binding, access))
}

/// The binding of `target` the bindings file declares, if a file is given.
fn declared(
    args: &BackfillArgs,
    registry: &ProviderRegistry,
    descriptor: &ProviderDescriptor,
    target: &ExternalTarget,
) -> Result<Option<crate::bindings::Declared>, CliError> {
    let Some(path) = &args.bindings else {
        return Ok(None);
    };
    crate::bindings::load(path, &|var| std::env::var(var).ok(), &|p| {
        crate::providers::supported(registry, p)
    })?
    .into_iter()
    .find(|d| d.binding.provider == descriptor.kind && d.binding.target.same_as(target))
    .map(Some)
    .ok_or_else(|| {
        CliError::Usage(format!(
            "{path} declares no {} binding whose target is {target}; add one or leave out --bindings",
            descriptor.kind
        ))
    })
}

fn unused_secret() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    format!("unused-{:016x}", hasher.finish())
}

/// The error a stopped pass ends with: what stopped it, and how to go on.
fn stopped(
    args: &BackfillArgs,
    descriptor: &ProviderDescriptor,
    api_url: &str,
    error: Error,
) -> CliError {
    let name = &descriptor.display_name;
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
            "cannot reach the {name} API at {api_url}: {error}; check --api-url and the network"
        ),
        Some(HttpError::Paused { until, .. }) => format!(
            "backfill of {} paused: the rate-limit budget is below the backfill reserve until {}; {resume}",
            args.project,
            until.to_rfc3339()
        ),
        Some(HttpError::Unauthorized { .. }) => format!(
            "{name} refused the credentials: {error}; check the token in ${} (or the app's key)",
            args.token_env
                .clone()
                .unwrap_or_else(|| default_token_env(descriptor))
        ),
        _ => format!("backfill of {} stopped: {error}; {resume}", args.project),
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

/// The request summary: a request answered `304 Not Modified` costs no rate-limit point
/// (GitHub charges one per other request).
fn requests_line(requests: u64, not_modified: u64, budget: Option<&RateLimitStatus>) -> String {
    let mut line = format!(
        "requests: {requests} ({not_modified} not modified); rate-limit points used: {}",
        requests.saturating_sub(not_modified)
    );
    match budget {
        Some(status) if status.remaining.is_some() => {
            if let Some(remaining) = status.remaining {
                line.push_str(&format!(", remaining: {remaining}"));
            }
            if let Some(limit) = status.limit {
                line.push_str(&format!(" of {limit}"));
            }
            if let Some(reset) = status.reset {
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
    fn a_target_has_an_owner_and_a_name() {
        assert!(parse_target("octocat/Hello-World").is_ok());
        assert!(parse_target("group/sub/project").is_ok());
        for bad in ["octocat", "/Hello-World", "octocat/", "a//c", ""] {
            let err = parse_target(bad).unwrap_err().to_string();
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
        let budget = RateLimitStatus::new(Some(5000), Some(4990), None);
        assert_eq!(
            requests_line(10, 4, Some(&budget)),
            "requests: 10 (4 not modified); rate-limit points used: 6, remaining: 4990 of 5000"
        );
        assert!(requests_line(0, 0, None).ends_with("remaining: unknown"));
    }
}

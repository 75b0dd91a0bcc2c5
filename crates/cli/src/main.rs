//! The `kradle-sync` command line.

mod backfill;
mod bindings;
mod document;
mod error;
mod inspect;
mod normalize;
mod providers;
mod records;
mod replay;
mod service;
mod store;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use kradle_sync_core::conflict::ConflictDecision;
use kradle_sync_core::write_intent::Actor;
use kradle_sync_core::{Binding, Engine, EngineConfig, ProviderKind, ProviderRegistry, Secret};
use kradle_sync_server::WorkerSettings;

use crate::error::CliError;

/// Two-way sync of issues, CI runs and repositories with GitHub, GitLab, Jira and other
/// providers.
#[derive(Debug, Parser)]
#[command(name = "kradle-sync", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a delivery log (NDJSON) into a store and print the final state as JSON.
    ///
    /// Each line is one record: {"type":"delivery",…}, {"type":"local_change",…} or
    /// {"type":"backfill",…}. The engine runs to quiescence and the output is one
    /// deterministic JSON document with `objects`, `conflicts`, `write_intents`,
    /// `dead_letters` and `stats`. Invalid lines are reported on stderr with their line
    /// number and skipped (or stop the run with --strict).
    Replay {
        /// The log file, or `-` for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// Webhook secret per provider, as PROVIDER=SECRET (repeatable).
        #[arg(long = "secret", value_name = "PROVIDER=SECRET")]
        secrets: Vec<String>,
        /// Where to keep state: `memory` (default) or a PostgreSQL URL
        /// (`postgres://user@host:5432/db`). Give PostgreSQL a fresh schema for output
        /// comparable with the memory store's.
        #[arg(long, default_value = "memory")]
        store: String,
        /// The PostgreSQL schema the store lives in (created and migrated if missing).
        #[arg(long, default_value = store::DEFAULT_SCHEMA)]
        schema: String,
        /// A TOML file declaring bindings (ownership modes, policies); see the README.
        #[arg(long, value_name = "FILE")]
        bindings: Option<String>,
        /// Stop at the first invalid line instead of skipping it.
        #[arg(long)]
        strict: bool,
    },
    /// Print the canonical events of one payload as JSON lines, or `ignored: reason` for
    /// event types out of scope.
    Normalize {
        /// Provider type of the payload (`github`, …).
        #[arg(long)]
        provider: String,
        /// The event name, where the provider sends it in a header (GitHub: the
        /// X-GitHub-Event value). Guessed from the payload when omitted.
        #[arg(long)]
        event: Option<String>,
        /// The payload file, or `-` for standard input.
        file: String,
    },
    /// Receive webhooks over HTTP into a store and process them with in-process workers,
    /// which also write the due write intents of bindings with credentials.
    ///
    /// Routes: `POST /webhooks/{provider}/{binding}` (the binding name may contain `/`,
    /// as is or percent-encoded: /webhooks/github/octo/repo), `GET /healthz` (up),
    /// `GET /readyz` (store reachable). A delivery is answered only once stored: 202 new,
    /// 200 duplicate, 401 bad or missing signature, 404 unknown provider or binding, 413
    /// body too large, 400 not a webhook, 503 + Retry-After when the store cannot take it
    /// (the sender records a failed delivery; GitHub never sends it again by itself: it
    /// can be redelivered from the webhook's Recent Deliveries). `--store memory` runs it
    /// all in this one process.
    /// Prints `listening on http://ADDR` on stdout once bound. SIGTERM or SIGINT stops
    /// accepting, finishes requests and claimed work, and gives back unfinished claims.
    Serve {
        #[command(flatten)]
        store: ServiceStoreArgs,
        /// Address to listen on; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
        listen: String,
        /// The bindings file (TOML): which bindings receive webhooks, their secrets'
        /// environment variables and ownership modes; see the README.
        #[arg(long, value_name = "FILE")]
        bindings: String,
        /// Worker slots processing stored deliveries (and writing the due write intents of
        /// bindings with credentials) in this process; 0 receives only (run `kradle-sync
        /// worker` processes instead).
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Largest webhook body accepted, in bytes (GitHub sends at most 25 MiB).
        #[arg(long, default_value_t = 25 * 1024 * 1024, value_name = "BYTES")]
        body_limit: usize,
        /// Seconds a webhook request may take from its headers to its answer (a body that
        /// does not arrive in time is answered 408, a store that does not answer in time
        /// 503); also how long requests in flight get to finish on shutdown. The default
        /// stays under GitHub's 10 seconds, after which it records the delivery as failed.
        #[arg(long, default_value_t = 8, value_name = "SECS")]
        request_timeout: u64,
        /// Webhook requests handled at once; more are answered 503 with Retry-After before
        /// their body is read.
        #[arg(long, default_value_t = 64, value_name = "N")]
        max_in_flight: usize,
        #[command(flatten)]
        worker: WorkerArgs,
    },
    /// Claim stored deliveries from the PostgreSQL store's queue and process them until SIGTERM or
    /// SIGINT (or, with --drain, until nothing is claimable).
    ///
    /// Any number of worker processes can share one store: claims carry a lease, a
    /// delivery's object is never processed by two workers at once, and a crashed worker's
    /// claims return when their lease expires. Failed deliveries are retried with backoff
    /// until they are dead-lettered. It also writes the due write intents of every binding
    /// whose bindings-file entry names credentials (token_env, or app_id + installation_id +
    /// private_key_file), with the same leases; the other bindings only receive. Prints a
    /// JSON summary on stdout when it stops.
    Worker {
        #[command(flatten)]
        store: ServiceStoreArgs,
        /// The bindings file (the same as `serve`'s).
        #[arg(long, value_name = "FILE")]
        bindings: String,
        /// Worker slots claiming and processing at once.
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Serve GET /healthz (counters) and GET /readyz (503 while the store fails) on
        /// this address; prints `listening on http://ADDR` on stdout first.
        #[arg(long, value_name = "ADDR")]
        health_listen: Option<String>,
        #[command(flatten)]
        worker: WorkerArgs,
    },
    /// List conflict records (open ones first), or resolve one (`conflicts resolve`).
    #[command(args_conflicts_with_subcommands = true)]
    Conflicts {
        /// The PostgreSQL store, as a URL (`postgres://user@host:5432/db`).
        #[arg(long, env = "KRADLE_STORE", value_name = "URL")]
        store: Option<String>,
        /// The schema the store lives in (created and migrated if missing).
        #[arg(long, default_value = store::DEFAULT_SCHEMA)]
        schema: String,
        /// Only this binding's.
        #[arg(long)]
        binding: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        command: Option<ConflictsCommand>,
    },
    /// List dead-lettered deliveries with their last error.
    DeadLetters {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this binding's.
        #[arg(long)]
        binding: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Read a repository through the provider's REST API into a store, page by page, and
    /// print the final state as the same JSON document as `replay`.
    ///
    /// Issues and comments are read incrementally (only what changed since the last
    /// backfill in the store) unless --full; labels, milestones and pull requests whole;
    /// workflow runs for the most recent page. After each page a checkpoint is stored, so
    /// with --store postgres://… a stopped backfill resumes where it stopped, and
    /// unchanged pages are re-read with If-None-Match (a 304 costs no rate-limit point).
    /// Progress and a summary of the requests spent go to stderr.
    Backfill(backfill::BackfillArgs),
    /// Act on stored deliveries.
    Deliveries {
        #[command(subcommand)]
        command: DeliveriesCommand,
    },
    /// Write intents: the writes waiting to leave for the providers, and the approvals
    /// they wait for (agent writes, and every write of a `reviewed-write` binding).
    Intents {
        #[command(subcommand)]
        command: IntentsCommand,
    },
}

/// Subcommands of `conflicts` (without one, it lists them).
#[derive(Debug, Subcommand)]
enum ConflictsCommand {
    /// Resolve an open conflict: take the host's values (written to the provider), the
    /// provider's (the host's values are dropped), or given values (written where they
    /// differ from the provider's). Audited with who decided; the same pair of values never
    /// raises the conflict again.
    Resolve {
        #[command(flatten)]
        store: StoreArgs,
        /// The bindings file (the same as `serve`'s).
        #[arg(long, value_name = "FILE")]
        bindings: String,
        /// Who decides (recorded in the conflict and the audit log).
        #[arg(long, value_name = "NAME")]
        by: String,
        /// Whose values win: `local` (the host's) or `external` (the provider's).
        #[arg(
            long,
            value_enum,
            conflicts_with = "value",
            required_unless_present = "value"
        )]
        take: Option<Take>,
        /// The values that win instead, as a JSON object of the conflict's fields
        /// (`{"title":"Both words"}`); fields of the conflict it leaves out take the
        /// provider's value.
        #[arg(long, value_name = "JSON")]
        value: Option<String>,
        /// Print the resolved conflict as JSON.
        #[arg(long)]
        json: bool,
        /// The conflict's id, as `conflicts` lists it.
        #[arg(value_name = "CONFLICT_ID")]
        id: String,
    },
}

/// Whose values `conflicts resolve --take` keeps.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Take {
    /// The host's values.
    Local,
    /// The provider's values.
    External,
}

/// Subcommands of `intents`.
#[derive(Debug, Subcommand)]
enum IntentsCommand {
    /// List write intents: those awaiting approval first, then oldest first.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this binding's.
        #[arg(long)]
        binding: Option<String>,
        /// Only those in this phase (pending, awaiting_approval, approved, applying,
        /// applied, confirmed, conflicted, failed, dead_lettered, superseded).
        #[arg(long)]
        phase: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Approve write intents that await approval: a worker with the binding's credentials
    /// sends each next. Audited with who approved.
    Approve {
        #[command(flatten)]
        store: StoreArgs,
        /// The bindings file (the same as `serve`'s).
        #[arg(long, value_name = "FILE")]
        bindings: String,
        /// Who approves (recorded in the intent and the audit log).
        #[arg(long, value_name = "NAME")]
        by: String,
        /// Intent ids, as `intents list` shows them.
        #[arg(required = true, value_name = "INTENT_ID")]
        ids: Vec<String>,
    },
    /// Reject write intents that await approval: each is dead-lettered with the reason and
    /// never sent. Audited with who rejected.
    Reject {
        #[command(flatten)]
        store: StoreArgs,
        /// The bindings file (the same as `serve`'s).
        #[arg(long, value_name = "FILE")]
        bindings: String,
        /// Who rejects (recorded in the audit log).
        #[arg(long, value_name = "NAME")]
        by: String,
        /// Why (recorded as the intent's last error).
        #[arg(long)]
        reason: String,
        /// Intent ids, as `intents list` shows them.
        #[arg(required = true, value_name = "INTENT_ID")]
        ids: Vec<String>,
    },
}

/// Subcommands of `deliveries`.
#[derive(Debug, Subcommand)]
enum DeliveriesCommand {
    /// Process stored deliveries again: a new attempt of the same delivery (dead-lettered
    /// or failed ones included), never a new delivery; events already applied are not
    /// applied twice.
    Replay {
        #[command(flatten)]
        store: StoreArgs,
        /// The bindings file (the same as `serve`'s).
        #[arg(long, value_name = "FILE")]
        bindings: String,
        /// The deliveries' provider (needed only when an id is stored under several).
        #[arg(long)]
        provider: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Delivery ids (as the provider sent them, e.g. GitHub's X-GitHub-Delivery GUID).
        #[arg(required = true, value_name = "DELIVERY_ID")]
        ids: Vec<String>,
    },
}

/// Where the durable store is.
#[derive(Debug, clap::Args)]
struct StoreArgs {
    /// The PostgreSQL store, as a URL (`postgres://user@host:5432/db`).
    #[arg(long, env = "KRADLE_STORE", value_name = "URL")]
    store: String,
    /// The schema the store lives in (created and migrated if missing).
    #[arg(long, default_value = store::DEFAULT_SCHEMA)]
    schema: String,
}

/// Where the service keeps its deliveries and state.
#[derive(Debug, clap::Args)]
struct ServiceStoreArgs {
    /// `memory` (for trying things out: nothing outlives the process, one process only) or
    /// a PostgreSQL URL (`postgres://user@host:5432/db`) shared by any number of `serve`
    /// and `worker` processes.
    #[arg(long, env = "KRADLE_STORE", value_name = "URL")]
    store: String,
    /// The schema the store lives in (created and migrated if missing).
    #[arg(long, default_value = store::DEFAULT_SCHEMA)]
    schema: String,
}

/// How workers claim and process.
#[derive(Debug, clap::Args)]
struct WorkerArgs {
    /// Seconds a claim is held; another worker takes over a crashed worker's claims after
    /// it. Renewed while processing.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    lease: u64,
    /// Deliveries claimed and committed together.
    #[arg(long, default_value_t = 32, value_name = "N")]
    batch: usize,
    /// The lease owner name (default: kradle-sync-PID); slot n of several is ID/n.
    #[arg(long, value_name = "ID")]
    worker_id: Option<String>,
    /// Longest wait, in milliseconds, between two looks at the queue (notifications
    /// usually wake workers sooner).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    poll_ms: u64,
    /// Exit once nothing is claimable (deliveries waiting for a later retry stay queued).
    #[arg(long)]
    drain: bool,
}

impl WorkerArgs {
    fn settings(&self, concurrency: usize) -> Result<WorkerSettings, CliError> {
        if self.lease == 0 {
            return Err(CliError::Usage("--lease must be at least 1 second".into()));
        }
        Ok(WorkerSettings::new(
            self.worker_id
                .clone()
                .unwrap_or_else(kradle_sync_server::default_id),
        )
        .with_concurrency(concurrency)
        .with_lease(std::time::Duration::from_secs(self.lease))
        .with_batch(self.batch)
        .with_poll(std::time::Duration::from_millis(self.poll_ms.max(10)))
        .with_drain(self.drain))
    }
}

/// Loads a bindings file (secrets from the environment).
fn load_bindings(path: &str, registry: &ProviderRegistry) -> Result<Vec<Binding>, CliError> {
    let declared = bindings::load(path, &|var| std::env::var(var).ok(), &|p| {
        providers::supported(registry, p)
    })?;
    Ok(declared.into_iter().map(|d| d.binding).collect())
}

/// Loads the bindings file of a service command.
fn service_bindings(path: &str, registry: &ProviderRegistry) -> Result<Vec<Binding>, CliError> {
    Ok(service_declared(path, registry)?
        .into_iter()
        .map(|d| d.binding)
        .collect())
}

/// Loads the bindings file of a service command, with each binding's API access.
fn service_declared(
    path: &str,
    registry: &ProviderRegistry,
) -> Result<Vec<bindings::Declared>, CliError> {
    let declared = bindings::load(path, &|var| std::env::var(var).ok(), &|p| {
        providers::supported(registry, p)
    })?;
    if declared.is_empty() {
        return Err(CliError::Usage(format!(
            "{path} declares no bindings; add a [[binding]] table (see the README)"
        )));
    }
    Ok(declared)
}

/// The engine of the service commands: every provider of this build and the bindings.
fn service_engine(
    store: Arc<dyn kradle_sync_core::SyncStore>,
    registry: &ProviderRegistry,
    bindings: Vec<Binding>,
    max_body_bytes: usize,
) -> Result<Engine, CliError> {
    let mut config = EngineConfig::default();
    config.max_body_bytes = max_body_bytes;
    let mut builder = Engine::builder(store).registry(registry).config(config);
    for binding in bindings {
        builder = builder.binding(binding);
    }
    Ok(builder.build()?)
}

fn read_all(file: &str) -> Result<Vec<u8>, CliError> {
    if file == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map_err(|source| {
            CliError::Read {
                path: "standard input".into(),
                source,
            }
        })?;
        Ok(buf)
    } else {
        std::fs::read(file).map_err(|source| CliError::Read {
            path: file.to_owned(),
            source,
        })
    }
}

fn parse_secrets(pairs: &[String]) -> Result<BTreeMap<String, Secret>, CliError> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_owned(), Secret::new(v)))
                .ok_or_else(|| {
                    CliError::Usage(
                        "--secret takes PROVIDER=SECRET, e.g. --secret github=s3cr3t".into(),
                    )
                })
        })
        .collect()
}

/// The values of `conflicts resolve --value`: a JSON object of field names to values.
fn parse_values(text: &str) -> Result<kradle_sync_core::Fields, CliError> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) if !map.is_empty() => Ok(map.into_iter().collect()),
        Ok(_) => Err(CliError::Usage(
            "--value takes a JSON object of the conflict's fields, e.g. --value '{\"title\":\"Both words\"}'"
                .into(),
        )),
        Err(e) => Err(CliError::Usage(format!(
            "--value is not JSON ({e}); give an object of the conflict's fields, e.g. --value '{{\"title\":\"Both words\"}}'"
        ))),
    }
}

/// `intents approve|reject`.
async fn decide(
    registry: &ProviderRegistry,
    store: &StoreArgs,
    bindings: &str,
    by: &str,
    ids: &[String],
    decision: inspect::Decision,
) -> Result<(), CliError> {
    if by.trim().is_empty() {
        return Err(CliError::Usage(
            "--by names who decides; it cannot be empty".into(),
        ));
    }
    let bindings = service_bindings(bindings, registry)?;
    let verb = match decision {
        inspect::Decision::Approve => "intents approve",
        inspect::Decision::Reject(_) => "intents reject",
    };
    let pg = store::open_postgres(&store.store, &store.schema, 2, verb).await?;
    let engine = service_engine(
        Arc::new(pg),
        registry,
        bindings,
        EngineConfig::default().max_body_bytes,
    )?;
    let all = {
        let mut out = std::io::stdout().lock();
        inspect::decide(&engine, ids, &decision, by.trim(), &mut out).await?
    };
    if all {
        Ok(())
    } else {
        Err(CliError::Usage(
            "not every intent was decided; see the table above".into(),
        ))
    }
}

async fn execute(cli: Cli) -> Result<(), CliError> {
    let registry = providers::registry();
    match cli.command {
        Command::Replay {
            file,
            secrets,
            store,
            schema,
            bindings,
            strict,
        } => {
            let secrets = parse_secrets(&secrets)?;
            let bindings = match bindings {
                Some(path) => load_bindings(&path, &registry)?,
                None => Vec::new(),
            };
            let store = store::open(&store, &schema, 10).await?;
            let mut input: Box<dyn BufRead> = if file == "-" {
                Box::new(BufReader::new(std::io::stdin()))
            } else {
                let f = std::fs::File::open(&file).map_err(|source| CliError::Read {
                    path: file.clone(),
                    source,
                })?;
                Box::new(BufReader::new(f))
            };
            let options = replay::ReplayOptions {
                secrets,
                bindings,
                strict,
            };
            let mut warn = |m: String| eprintln!("kradle-sync: {m}");
            let stats = replay::run(
                &mut input,
                store.sync.clone(),
                &registry,
                options,
                &mut warn,
            )
            .await?;
            let doc = document::build(store.sync.as_ref(), &stats).await?;
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &doc)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            writeln!(out)?;
        }
        Command::Normalize {
            provider,
            event,
            file,
        } => {
            let plugin = registry
                .plugin(&ProviderKind::new(provider.as_str()))
                .map_err(|_| CliError::Usage(providers::unknown(&registry, &provider)))?;
            let body = read_all(&file)?;
            let mut out = std::io::stdout().lock();
            for line in normalize::run(plugin.as_ref(), event.as_deref(), body)? {
                writeln!(out, "{line}")?;
            }
        }
        Command::Serve {
            store,
            listen,
            bindings,
            workers,
            body_limit,
            request_timeout,
            max_in_flight,
            worker,
        } => {
            let declared = service_declared(&bindings, &registry)?;
            if request_timeout == 0 || max_in_flight == 0 {
                return Err(CliError::Usage(
                    "--request-timeout and --max-in-flight must be at least 1".into(),
                ));
            }
            let worker = worker.settings(workers.max(1))?;
            let connections = u32::try_from(workers.saturating_mul(2) + 8).unwrap_or(64);
            let opened = store::open(&store.store, &store.schema, connections).await?;
            // A receiver without workers writes nothing: `worker` processes do.
            let writes = if workers > 0 {
                service::writers(&registry, &declared, &opened, &|v| std::env::var(v).ok())?
            } else {
                Arc::default()
            };
            let settings = service::ServeSettings {
                listen,
                receiver: kradle_sync_server::ReceiverSettings::default()
                    .with_body_limit(body_limit)
                    .with_request_timeout(std::time::Duration::from_secs(request_timeout))
                    .with_max_in_flight(max_in_flight),
                workers,
                worker,
                writes,
            };
            let bindings = declared.into_iter().map(|d| d.binding).collect();
            let engine = service_engine(opened.sync.clone(), &registry, bindings, body_limit)?;
            service::run_serve(opened, Arc::new(engine), settings).await?;
        }
        Command::Worker {
            store,
            bindings,
            concurrency,
            health_listen,
            worker,
        } => {
            if store::StoreSpec::parse(&store.store)? == store::StoreSpec::Memory {
                return Err(CliError::Usage(
                    "`worker --store memory` would see only its own empty queue: run `serve --store memory` (receiver and workers in one process), or point both at --store postgres://…".into(),
                ));
            }
            let declared = service_declared(&bindings, &registry)?;
            let settings = worker.settings(concurrency)?;
            let connections = u32::try_from(concurrency.saturating_mul(2) + 2).unwrap_or(64);
            let opened = store::open(&store.store, &store.schema, connections).await?;
            let writes =
                service::writers(&registry, &declared, &opened, &|v| std::env::var(v).ok())?;
            let bindings = declared.into_iter().map(|d| d.binding).collect();
            let engine = service_engine(
                opened.sync.clone(),
                &registry,
                bindings,
                EngineConfig::default().max_body_bytes,
            )?;
            service::run_worker(
                opened,
                Arc::new(engine),
                settings,
                writes,
                health_listen.as_deref(),
            )
            .await?;
        }
        Command::Conflicts {
            command:
                Some(ConflictsCommand::Resolve {
                    store,
                    bindings,
                    by,
                    take,
                    value,
                    json,
                    id,
                }),
            ..
        } => {
            let decision = match (take, value) {
                (Some(Take::Local), _) => ConflictDecision::TakeLocal,
                (Some(Take::External), _) => ConflictDecision::TakeExternal,
                (None, Some(text)) => ConflictDecision::Value(parse_values(&text)?),
                (None, None) => {
                    return Err(CliError::Usage(
                        "say which values win: --take local, --take external or --value JSON"
                            .into(),
                    ));
                }
            };
            if by.trim().is_empty() {
                return Err(CliError::Usage(
                    "--by names who decides; it cannot be empty".into(),
                ));
            }
            let bindings = service_bindings(&bindings, &registry)?;
            let pg =
                store::open_postgres(&store.store, &store.schema, 2, "conflicts resolve").await?;
            let engine = service_engine(
                Arc::new(pg),
                &registry,
                bindings,
                EngineConfig::default().max_body_bytes,
            )?;
            let record = engine
                .resolve_conflict(&id, decision, Actor::user(by.trim()), chrono::Utc::now())
                .await
                .map_err(|e| match e {
                    kradle_sync_core::Error::Validation { detail, .. } => CliError::Usage(detail),
                    other => CliError::Sync(other),
                })?;
            let mut out = std::io::stdout().lock();
            inspect::resolved(&record, json, &mut out)?;
        }
        Command::Conflicts {
            store,
            schema,
            binding,
            json,
            command: None,
        } => {
            let store = store.ok_or_else(|| {
                CliError::Usage(
                    "conflicts reads a PostgreSQL store: give --store postgres://… (or set KRADLE_STORE)"
                        .into(),
                )
            })?;
            let pg = store::open_postgres(&store, &schema, 2, "conflicts").await?;
            let mut out = std::io::stdout().lock();
            inspect::conflicts(&pg, binding.as_deref(), json, &mut out).await?;
        }
        Command::DeadLetters {
            store,
            binding,
            json,
        } => {
            let pg = store::open_postgres(&store.store, &store.schema, 2, "dead-letters").await?;
            let mut out = std::io::stdout().lock();
            inspect::dead_letters(&pg, binding.as_deref(), json, &mut out).await?;
        }
        Command::Backfill(args) => backfill::run(args, &registry).await?,
        Command::Intents {
            command:
                IntentsCommand::List {
                    store,
                    binding,
                    phase,
                    json,
                },
        } => {
            let phase = phase.as_deref().map(inspect::parse_phase).transpose()?;
            let pg = store::open_postgres(&store.store, &store.schema, 2, "intents list").await?;
            let mut out = std::io::stdout().lock();
            inspect::intents(&pg, binding.as_deref(), phase, json, &mut out).await?;
        }
        Command::Intents {
            command:
                IntentsCommand::Approve {
                    store,
                    bindings,
                    by,
                    ids,
                },
        } => {
            decide(
                &registry,
                &store,
                &bindings,
                &by,
                &ids,
                inspect::Decision::Approve,
            )
            .await?
        }
        Command::Intents {
            command:
                IntentsCommand::Reject {
                    store,
                    bindings,
                    by,
                    reason,
                    ids,
                },
        } => {
            let decision = inspect::Decision::Reject(reason);
            decide(&registry, &store, &bindings, &by, &ids, decision).await?;
        }
        Command::Deliveries {
            command:
                DeliveriesCommand::Replay {
                    store,
                    bindings,
                    provider,
                    json,
                    ids,
                },
        } => {
            let bindings = service_bindings(&bindings, &registry)?;
            if let Some(p) = &provider
                && registry.get(&ProviderKind::new(p.as_str())).is_err()
            {
                return Err(CliError::Usage(providers::unknown(&registry, p)));
            }
            let pg =
                store::open_postgres(&store.store, &store.schema, 2, "deliveries replay").await?;
            let engine = service_engine(
                Arc::new(pg),
                &registry,
                bindings,
                EngineConfig::default().max_body_bytes,
            )?;
            let all = {
                let mut out = std::io::stdout().lock();
                inspect::replay_deliveries(&engine, provider.as_deref(), &ids, json, &mut out)
                    .await?
            };
            if !all {
                return Err(CliError::Usage(
                    "not every delivery was processed; see the table above".into(),
                ));
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Services log their requests and work by default; one-shot commands only errors.
    let default_level = match cli.command {
        Command::Serve { .. } | Command::Worker { .. } => "info",
        _ => "error",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KRADLE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kradle-sync: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kradle-sync: {e}");
            ExitCode::from(2)
        }
    }
}

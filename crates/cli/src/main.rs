//! The `kradle-sync` command line.

mod bindings;
mod document;
mod error;
mod normalize;
mod records;
mod replay;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use kradle_store_memory::MemoryStore;
use kradle_sync_core::{Secret, SyncStore, WebhookAdapter};

use crate::error::CliError;

/// Two-way sync of issues, CI runs and repositories with GitHub (and more providers).
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
        /// Where to keep state: `memory` (default).
        #[arg(long, default_value = "memory")]
        store: String,
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
        /// Provider type of the payload (`github`).
        #[arg(long)]
        provider: String,
        /// The event name (GitHub: the X-GitHub-Event header). Guessed from the payload
        /// when omitted.
        #[arg(long)]
        event: Option<String>,
        /// The payload file, or `-` for standard input.
        file: String,
    },
}

fn adapters() -> Vec<Arc<dyn WebhookAdapter>> {
    vec![Arc::new(kradle_provider_github::GithubWebhooks::new())]
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

fn open_store(spec: &str) -> Result<Arc<dyn SyncStore>, CliError> {
    match spec {
        "memory" => Ok(Arc::new(MemoryStore::new())),
        other => Err(CliError::Usage(format!(
            "unknown store `{other}`; this build supports `memory`"
        ))),
    }
}

async fn execute(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Replay {
            file,
            secrets,
            store,
            bindings,
            strict,
        } => {
            let secrets = parse_secrets(&secrets)?;
            let bindings = match bindings {
                Some(path) => bindings::load(&path, &|var| std::env::var(var).ok())?,
                None => Vec::new(),
            };
            let store = open_store(&store)?;
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
            let stats =
                replay::run(&mut input, store.clone(), adapters(), options, &mut warn).await?;
            let doc = document::build(store.as_ref(), &stats).await?;
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
            let adapter = adapters()
                .into_iter()
                .find(|a| a.descriptor().kind.as_str() == provider)
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "unknown provider `{provider}`; this build knows github"
                    ))
                })?;
            let body = read_all(&file)?;
            let mut out = std::io::stdout().lock();
            for line in normalize::run(adapter.as_ref(), event.as_deref(), body)? {
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("KRADLE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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

//! `kradle-sync serve` and `kradle-sync worker`: wiring of the server crate's receiver and
//! worker to a store, the bindings file, signals and stdout.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kradle_sync_core::{BindingId, ConnectOptions, Connections, Engine, ProviderRegistry};
use kradle_sync_server::{
    Receiver, ReceiverSettings, Worker, WorkerSettings, serve, shutdown_signal,
    worker_health_router,
};
use tokio::sync::watch;

use crate::bindings::Declared;
use crate::error::CliError;
use crate::store::Opened;

/// The bindings a service writes: a connection for each binding whose credentials the
/// bindings file names (`token_env`, or `app_id` + `installation_id` + `private_key_file`),
/// read from the environment and files now, so a missing one stops the start with its name.
/// Bindings without credentials only receive: their write intents wait, and each is
/// named in the log at startup.
pub fn writers(
    registry: &ProviderRegistry,
    declared: &[Declared],
    opened: &Opened,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<Connections>, CliError> {
    let mut connections = Connections::new();
    let mut receive_only: Vec<&BindingId> = Vec::new();
    for d in declared {
        let binding = &d.binding;
        if !d.access.has_credentials() {
            receive_only.push(&binding.id);
            continue;
        }
        let what = format!("binding {}", binding.id);
        let plugin = registry.plugin(&binding.provider).map_err(|_| {
            CliError::Usage(crate::providers::unknown(
                registry,
                binding.provider.as_str(),
            ))
        })?;
        let mut options = ConnectOptions::for_binding(binding)
            .with_credentials(d.access.credentials(&what, env)?)
            .with_cache(opened.cache.clone());
        if let Some(url) = &d.access.api_url {
            options = options.with_api_url(url.clone());
        }
        let provider = plugin
            .connect(options)
            .map_err(|e| CliError::Usage(format!("{what}: cannot connect to its provider: {e}")))?;
        connections.insert(binding.id.clone(), provider);
    }
    for id in &receive_only {
        tracing::info!(binding = %id, "receive-only: the bindings file names no credentials for it (token_env, or app_id + installation_id + private_key_file), so its write intents wait");
    }
    if !connections.is_empty() {
        let names: Vec<&str> = connections.bindings().map(BindingId::as_str).collect();
        tracing::info!(bindings = %names.join(","), "writing to the providers of these bindings");
    }
    Ok(Arc::new(connections))
}

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// The receiver's limits.
    pub receiver: ReceiverSettings,
    /// In-process worker slots; 0 receives only.
    pub workers: usize,
    /// The in-process workers' settings (their concurrency is `workers`).
    pub worker: WorkerSettings,
    /// The bindings the in-process workers write.
    pub writes: Arc<Connections>,
}

async fn bind(listen: &str) -> Result<(tokio::net::TcpListener, SocketAddr), CliError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| CliError::Usage(format!("cannot listen on {listen}: {e}")))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

fn announce(local: SocketAddr) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{local}")?;
    out.flush()?;
    Ok(())
}

/// Serves until SIGTERM or SIGINT: then stops accepting connections, lets requests in
/// flight finish (for up to the request timeout), lets the workers finish their batch and
/// give back their claims.
pub async fn run_serve(
    store: Opened,
    engine: Arc<Engine>,
    settings: ServeSettings,
) -> Result<(), CliError> {
    let (listener, local) = bind(&settings.listen).await?;
    let grace = settings.receiver.request_timeout;
    let mut receiver = Receiver::new(engine.clone(), settings.receiver.clone());
    let (stop, stopped) = watch::channel(false);
    let workers = if settings.workers > 0 {
        let worker = Worker::new(
            engine,
            store.queue.clone(),
            settings.worker.clone().with_concurrency(settings.workers),
        )
        .with_writes(settings.writes.clone());
        receiver = receiver.with_workers(worker.status());
        Some(tokio::spawn(worker.run_until(stopped)))
    } else {
        None
    };
    tracing::info!(
        address = %local,
        store = %store.label,
        workers = settings.workers,
        body_limit = settings.receiver.body_limit,
        max_in_flight = receiver.max_in_flight(),
        request_timeout_s = grace.as_secs_f64(),
        "serving webhooks"
    );
    // Installed before the announcement: a SIGTERM right after it stops gracefully.
    let signal = shutdown_signal();
    announce(local)?;
    let stopping = receiver.clone();
    let shutdown = async move {
        signal.await;
        tracing::info!("shutting down: no new connections; finishing requests and claimed work");
        stopping.begin_shutdown();
        let _ = stop.send(true);
    };
    serve(listener, receiver.router(), shutdown, grace).await?;
    if let Some(task) = workers {
        match task.await {
            Ok(totals) => tracing::info!(
                processed = totals.processed,
                failed = totals.failed,
                dead_lettered = totals.dead_lettered,
                released = totals.released,
                written = totals.written,
                write_failures = totals.write_failures,
                "workers stopped"
            ),
            Err(e) => tracing::error!(error = %e, "the workers stopped unexpectedly"),
        }
    }
    tracing::info!(requests = %receiver.counters(), "stopped");
    Ok(())
}

/// Runs a worker until SIGTERM or SIGINT (or, draining, until nothing is claimable), with
/// health endpoints on `health_listen`; prints its totals as JSON on stdout.
pub async fn run_worker(
    store: Opened,
    engine: Arc<Engine>,
    settings: WorkerSettings,
    writes: Arc<Connections>,
    health_listen: Option<&str>,
) -> Result<(), CliError> {
    let id = settings.id.clone();
    let concurrency = settings.concurrency;
    let worker = Worker::new(engine, store.queue.clone(), settings).with_writes(writes);
    let status = worker.status();
    let (stop, stopped) = watch::channel(false);
    let signal = shutdown_signal();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutting down: finishing claimed work");
        let _ = stop.send(true);
    });
    let health = match health_listen {
        Some(listen) => {
            let (listener, local) = bind(listen).await?;
            announce(local)?;
            tracing::info!(address = %local, "serving worker health");
            let mut health_stopped = stopped.clone();
            let done = async move {
                let _ = health_stopped.wait_for(|stop| *stop).await;
            };
            Some(tokio::spawn(serve(
                listener,
                worker_health_router(status),
                done,
                Duration::from_secs(1),
            )))
        }
        None => None,
    };
    tracing::info!(worker = %id, concurrency, store = %store.label, "worker started");
    let totals = worker.run_until(stopped).await;
    if let Some(task) = health {
        task.abort();
    }
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &totals).map_err(|e| CliError::Usage(e.to_string()))?;
    writeln!(out)?;
    Ok(())
}

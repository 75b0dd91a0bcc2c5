//! A host that receives GitHub webhooks in its own axum app: it mounts the library's
//! receiver beside its own routes and runs the library's worker on its own runtime, on the
//! memory store. For a durable service with separate worker processes on PostgreSQL, run
//! `kradle-sync serve` and `kradle-sync worker` instead (the same receiver and worker).
//!
//! ```sh
//! GITHUB_WEBHOOK_SECRET=… cargo run -p kradle-examples --example webhook_server -- octo/repo 127.0.0.1:3000
//! ```
//! Then point the repository's webhook at `http://HOST:3000/webhooks/github/octo/repo`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use kradle_provider_github::GithubPlugin;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::{Binding, Engine, ExternalTarget, Interface, Secret};
use kradle_sync_server::{Receiver, ReceiverSettings, Worker, WorkerSettings};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let repo = args
        .next()
        .unwrap_or_else(|| "Codertocat/Hello-World".to_owned());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let secret = std::env::var("GITHUB_WEBHOOK_SECRET")
        .map_err(|_| "set GITHUB_WEBHOOK_SECRET to the secret of the GitHub webhook")?;

    // The store is the deliveries' queue too; the engine knows GitHub and one binding.
    let store = Arc::new(MemoryStore::new());
    let binding = Binding::new(
        repo.as_str(),
        "github",
        ExternalTarget::from_path(repo.as_str()),
        &Interface::ALL,
    )
    .with_secret(Secret::new(secret));
    let engine = Arc::new(
        Engine::builder(store.clone())
            .provider(Arc::new(GithubPlugin::new()))
            .binding(binding)
            .build()?,
    );

    // The library's worker applies what the receiver stores; the receiver reports on it.
    let worker = Worker::new(engine.clone(), store, WorkerSettings::new("example"));
    let receiver = Receiver::new(engine, ReceiverSettings::default()).with_workers(worker.status());
    let app = Router::new()
        .route(
            "/",
            get(|| async { "the host's own routes live here too\n" }),
        )
        .merge(receiver.router());

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "receiving webhooks for {repo} on http://{}/webhooks/github/{repo}",
        listener.local_addr()?
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(worker.run_until(stopped));
    let shutdown = async move {
        kradle_sync_server::shutdown_signal().await;
        receiver.begin_shutdown();
        let _ = stop.send(true);
    };
    kradle_sync_server::serve(listener, app, shutdown, Duration::from_secs(10)).await?;
    let totals = worker.await?;
    println!("processed {} deliveries", totals.processed);
    Ok(())
}

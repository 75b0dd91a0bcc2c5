//! A host that receives GitHub webhooks in its own axum app: the engine verifies, stores
//! and applies each delivery inside the request, on the memory store. For a durable
//! receiver with separate workers on PostgreSQL, run `kradle-sync serve` instead.
//!
//! ```sh
//! GITHUB_WEBHOOK_SECRET=… cargo run -p kradle-examples --example webhook_server -- octo/repo 127.0.0.1:3000
//! ```
//! Then point the repository's webhook at `http://HOST:3000/webhooks/github`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use kradle_provider_github::GithubWebhooks;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::{
    Binding, BindingId, Engine, Error, ExternalTarget, Headers, Interface, Receipt, Secret,
    WebhookRequest,
};

struct App {
    engine: Engine,
    binding: BindingId,
}

async fn webhook(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let request = WebhookRequest {
        headers: Headers::from_pairs(
            headers
                .iter()
                .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v))),
        ),
        body: body.to_vec(),
    };
    match app
        .engine
        .ingest(&app.binding, request, chrono::Utc::now())
        .await
    {
        Ok((Receipt::Accepted(id), report)) => {
            let applied = report.map_or(0, |r| r.applied);
            (
                StatusCode::ACCEPTED,
                format!("{id}: {applied} event(s) applied\n"),
            )
        }
        Ok((Receipt::Duplicate(id), _)) => (StatusCode::OK, format!("{id}: already received\n")),
        Err(e @ Error::Signature { .. }) => (StatusCode::UNAUTHORIZED, format!("{e}\n")),
        Err(e @ Error::PayloadTooLarge { .. }) => (StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n")),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let repo = args
        .next()
        .unwrap_or_else(|| "Codertocat/Hello-World".to_owned());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let secret = std::env::var("GITHUB_WEBHOOK_SECRET")
        .map_err(|_| "set GITHUB_WEBHOOK_SECRET to the secret of the GitHub webhook")?;
    let binding = Binding::new(
        repo.as_str(),
        "github",
        ExternalTarget::from_path(repo.as_str()),
        &Interface::ALL,
    )
    .with_secret(Secret::new(secret));
    let engine = Engine::builder(Arc::new(MemoryStore::new()))
        .adapter(Arc::new(GithubWebhooks::new()))
        .binding(binding)
        .build()?;
    let app = Arc::new(App {
        engine,
        binding: BindingId::new(repo.as_str()),
    });
    let router = Router::new()
        .route("/webhooks/github", post(webhook))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "receiving webhooks for {repo} on http://{}/webhooks/github",
        listener.local_addr()?
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

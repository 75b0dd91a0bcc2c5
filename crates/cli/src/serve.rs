//! `kradle-sync serve`: receives webhooks over HTTP into the PostgreSQL store and runs
//! workers in-process.
//!
//! `POST /webhooks/{provider}/{binding}` verifies the signature with the binding's secret,
//! stores the delivery, and answers only once it is durably stored: `202` for a new
//! delivery, `200` for one already stored (nothing new happens), `401` for a missing or
//! wrong signature (audited as `delivery.rejected`), `404` for an unknown provider or
//! binding, `413` for a body over the limit, `400` for a request that is not a webhook of
//! that provider, and `503` (with `Retry-After`) when the store cannot take it, so the
//! sender redelivers. A binding name may contain `/` (`octo/repo`): the rest of the path
//! after the provider is the binding, written as is or percent-encoded (`octo%2Frepo`).
//! `GET /healthz` answers while the process is up; `GET /readyz` while the store is
//! reachable and the server is not shutting down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use kradle_store_postgres::PostgresStore;
use kradle_sync_core::{
    BindingId, DeliveryId, Engine, Error, Headers, ProviderKind, Receipt, WebhookRequest,
};
use serde_json::json;
use tokio::sync::watch;
use tracing::Instrument;

use crate::error::CliError;
use crate::worker::{self, WorkerSettings};

/// Seconds a sender is asked to wait before redelivering after a `503`.
const RETRY_AFTER_SECS: &str = "5";

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// Largest accepted body in bytes.
    pub body_limit: usize,
    /// In-process worker slots; 0 receives only.
    pub workers: usize,
    /// The in-process workers' settings (their concurrency is `workers`).
    pub worker: WorkerSettings,
}

/// Request counters, reported by `/healthz` and in the shutdown log.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    too_large: AtomicU64,
    not_found: AtomicU64,
    bad_request: AtomicU64,
    unavailable: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> serde_json::Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "accepted": get(&self.accepted),
            "duplicates": get(&self.duplicates),
            "rejected": get(&self.rejected),
            "too_large": get(&self.too_large),
            "not_found": get(&self.not_found),
            "bad_request": get(&self.bad_request),
            "unavailable": get(&self.unavailable),
        })
    }
}

struct AppState {
    engine: Arc<Engine>,
    counters: Counters,
    shutting_down: AtomicBool,
}

type Shared = Arc<AppState>;

/// Builds the HTTP routes over an engine whose store holds the deliveries.
fn router(engine: Arc<Engine>, body_limit: usize) -> (Router, Shared) {
    let state = Arc::new(AppState {
        engine,
        counters: Counters::default(),
        shutting_down: AtomicBool::new(false),
    });
    let router = Router::new()
        .route("/webhooks/{provider}/{*binding}", post(receive))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state.clone());
    (router, state)
}

/// Serves until SIGTERM or SIGINT: then stops accepting connections, lets requests in
/// flight finish, lets the workers finish their batch and give back their claims.
pub async fn run(
    store: PostgresStore,
    engine: Arc<Engine>,
    settings: ServeSettings,
) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", settings.listen)))?;
    let local: SocketAddr = listener.local_addr()?;
    let (router, state) = router(engine.clone(), settings.body_limit);
    let (stop, stopped) = watch::channel(false);

    let workers = (settings.workers > 0).then(|| {
        let worker = WorkerSettings {
            concurrency: settings.workers,
            ..settings.worker.clone()
        };
        tokio::spawn(worker::run(
            store.clone(),
            engine.clone(),
            worker,
            stopped.clone(),
        ))
    });

    tracing::info!(
        address = %local,
        schema = store.schema(),
        workers = settings.workers,
        body_limit = settings.body_limit,
        "serving webhooks"
    );
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{local}")?;
        out.flush()?;
    }

    let signal_state = state.clone();
    let shutdown = async move {
        wait_for_signal().await;
        tracing::info!("shutting down: no new connections; finishing requests and claimed work");
        signal_state.shutting_down.store(true, Ordering::SeqCst);
        let _ = stop.send(true);
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;

    if let Some(task) = workers {
        match task.await {
            Ok(totals) => tracing::info!(
                processed = totals.processed,
                failed = totals.failed,
                dead_lettered = totals.dead_lettered,
                released = totals.released,
                "workers stopped"
            ),
            Err(e) => tracing::error!(error = %e, "the workers stopped unexpectedly"),
        }
    }
    tracing::info!(requests = %state.counters.snapshot(), "stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; stop with SIGINT");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn unavailable(state: &AppState, message: &str) -> Response {
    state.counters.unavailable.fetch_add(1, Ordering::Relaxed);
    let mut response = reply(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({ "error": message, "retry": true }),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}

async fn receive(
    State(state): State<Shared>,
    Path((provider, binding)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let binding_id = BindingId::new(binding.as_str());
    let known = state
        .engine
        .binding(&binding_id)
        .is_ok_and(|b| b.provider.as_str() == provider);
    if !known {
        state.counters.not_found.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%provider, binding = %binding_id, status = 404, "no such binding");
        return reply(
            StatusCode::NOT_FOUND,
            json!({ "error": format!("no binding {binding} of provider {provider} is configured here") }),
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                state.counters.too_large.fetch_add(1, Ordering::Relaxed);
            } else {
                state.counters.bad_request.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!(%provider, binding = %binding_id, status = status.as_u16(), reason = %rejection.body_text(), "body refused");
            return reply(status, json!({ "error": rejection.body_text() }));
        }
    };
    let request = WebhookRequest {
        headers: Headers::from_pairs(
            headers
                .iter()
                .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v))),
        ),
        body: body.to_vec(),
    };
    // Only for logs: the adapter names the header; GitHub's is X-GitHub-Delivery.
    let delivery_header = state
        .engine
        .registry()
        .get(&ProviderKind::new(provider.as_str()))
        .ok()
        .and_then(|d| d.delivery_header.clone());
    let claimed_id = delivery_header
        .and_then(|h| request.headers.get(&h).map(str::to_owned))
        .unwrap_or_default();
    let span =
        tracing::info_span!("webhook", %provider, binding = %binding_id, delivery_id = %claimed_id);
    async {
        let result = state.engine.receive(&binding_id, request, Utc::now()).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        respond(&state, result, elapsed_ms)
    }
    .instrument(span)
    .await
}

fn respond(state: &AppState, result: Result<Receipt, Error>, elapsed_ms: f64) -> Response {
    match result {
        Ok(Receipt::Accepted(id)) => {
            state.counters.accepted.fetch_add(1, Ordering::Relaxed);
            tracing::info!(status = 202, elapsed_ms, "delivery stored");
            reply(
                StatusCode::ACCEPTED,
                json!({ "status": "accepted", "delivery_id": id }),
            )
        }
        Ok(Receipt::Duplicate(id)) => {
            state.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            tracing::info!(status = 200, elapsed_ms, "duplicate delivery");
            reply(
                StatusCode::OK,
                json!({ "status": "duplicate", "delivery_id": id }),
            )
        }
        Err(err) => refused(state, err, elapsed_ms),
    }
}

fn refused(state: &AppState, err: Error, elapsed_ms: f64) -> Response {
    let (status, counter) = match &err {
        Error::Signature { .. } => (StatusCode::UNAUTHORIZED, &state.counters.rejected),
        Error::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, &state.counters.too_large),
        Error::UnknownBinding { .. } | Error::UnknownProvider { .. } => {
            (StatusCode::NOT_FOUND, &state.counters.not_found)
        }
        Error::MissingHeader { .. } | Error::MalformedPayload { .. } => {
            (StatusCode::BAD_REQUEST, &state.counters.bad_request)
        }
        Error::Store { .. } | Error::Contention { .. } => {
            // The details (server address, schema) go to the log, not to the sender.
            tracing::warn!(status = 503, elapsed_ms, error = %err, "cannot store the delivery; the sender will redeliver");
            return unavailable(state, "the delivery could not be stored; retry later");
        }
        _ => {
            tracing::error!(status = 500, elapsed_ms, error = %err, "cannot receive the delivery");
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": "the delivery could not be received" }),
            );
        }
    };
    counter.fetch_add(1, Ordering::Relaxed);
    tracing::info!(status = status.as_u16(), elapsed_ms, error = %err, "delivery refused");
    reply(status, json!({ "error": err.to_string() }))
}

async fn healthz(State(state): State<Shared>) -> Response {
    reply(
        StatusCode::OK,
        json!({ "status": "ok", "requests": state.counters.snapshot() }),
    )
}

async fn readyz(State(state): State<Shared>) -> Response {
    if state.shutting_down.load(Ordering::SeqCst) {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "shutting down" }),
        );
    }
    // A primary-key lookup in the deliveries table: the server answers and the schema is
    // there.
    let probe = state
        .engine
        .store()
        .get_delivery(
            &ProviderKind::new("readyz"),
            &DeliveryId::new("readyz-probe"),
        )
        .await;
    match probe {
        Ok(_) => reply(StatusCode::OK, json!({ "status": "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store is unreachable");
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "store unreachable" }),
            )
        }
    }
}

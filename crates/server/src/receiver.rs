//! The webhook receiver: an [`axum::Router`] a host mounts in its own app.
//!
//! `POST /webhooks/{provider}/{binding}` verifies the signature with the binding's secret,
//! stores the delivery, and answers only once it is durably stored: `202` for a new
//! delivery, `200` for one already stored (nothing new happens), `401` for a missing or
//! wrong signature (audited as `delivery.rejected`), `404` for an unknown provider or
//! binding, `413` for a body over the limit, `400` for a request that is not a webhook of
//! that provider, and `503` (with `Retry-After`) when the store cannot take it: the sender
//! records a failed delivery (GitHub does not send it again by itself; it can be
//! redelivered from the hook's recent deliveries). A binding name may contain `/` (`octo/repo`): the rest of the path
//! after the provider is the binding, written as is or percent-encoded (`octo%2Frepo`).
//! `GET /healthz` answers while the process is up; `GET /readyz` while the store is
//! reachable and the receiver is not shutting down.
//!
//! **Limits.** A webhook request has `request_timeout` from its headers to its answer: a
//! body that does not arrive in time is answered `408`, a store that does not answer in
//! time `503` (if the store did commit meanwhile, a redelivery is a duplicate). At most
//! `max_in_flight` webhook requests are handled at once (each may hold a body of up to
//! `body_limit` bytes); more are answered `503` with `Retry-After` before their body is
//! read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use kradle_sync_core::{
    BindingId, DeliveryId, Engine, Error, Headers, ProviderKind, Receipt, WebhookRequest,
};
use serde_json::json;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::worker::WorkerStatus;

/// Seconds a sender is asked to wait before redelivering after a `503`.
const RETRY_AFTER_SECS: &str = "5";

/// The longest `/readyz` waits for its probe of the store.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How the receiver answers.
///
/// ```
/// use std::time::Duration;
/// use kradle_sync_server::ReceiverSettings;
/// let settings = ReceiverSettings::default().with_request_timeout(Duration::from_secs(8));
/// assert_eq!(settings.body_limit, 25 * 1024 * 1024);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceiverSettings {
    /// Largest accepted body in bytes (default 25 MiB, GitHub's largest payload).
    pub body_limit: usize,
    /// Longest time a webhook request may take from its headers to its answer (default
    /// 8 s: GitHub gives up on an answer after 10 s and records the delivery as failed).
    pub request_timeout: Duration,
    /// Webhook requests handled at once; more are answered `503` with `Retry-After`
    /// (default 64).
    pub max_in_flight: usize,
}

impl Default for ReceiverSettings {
    fn default() -> Self {
        Self {
            body_limit: 25 * 1024 * 1024,
            request_timeout: Duration::from_secs(8),
            max_in_flight: 64,
        }
    }
}

impl ReceiverSettings {
    /// Sets the largest accepted body.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Sets the longest time from a request's headers to its answer.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how many webhook requests are handled at once (at least 1).
    pub fn with_max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.max(1);
        self
    }
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
    busy: AtomicU64,
    timed_out: AtomicU64,
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
            "busy": get(&self.busy),
            "timed_out": get(&self.timed_out),
        })
    }
}

struct AppState {
    engine: Arc<Engine>,
    counters: Counters,
    shutting_down: AtomicBool,
    /// One permit per webhook request in flight.
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    request_timeout: Duration,
    /// The in-process workers' status, when there are workers.
    workers: OnceLock<Arc<WorkerStatus>>,
}

type Shared = Arc<AppState>;

/// The webhook receiver over an engine whose store keeps the deliveries: routes, limits,
/// counters and health. Cheap to clone; every clone shares the counters.
///
/// ```no_run
/// # use std::sync::Arc;
/// # async fn mount(engine: Arc<kradle_sync_core::Engine>) -> std::io::Result<()> {
/// use kradle_sync_server::{Receiver, ReceiverSettings};
/// let receiver = Receiver::new(engine, ReceiverSettings::default());
/// let app = axum::Router::new().merge(receiver.router());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
#[derive(Clone)]
pub struct Receiver {
    state: Shared,
    body_limit: usize,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("body_limit", &self.body_limit)
            .field("max_in_flight", &self.state.max_in_flight)
            .field("request_timeout", &self.state.request_timeout)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// A receiver of webhooks for the engine's bindings.
    pub fn new(engine: Arc<Engine>, settings: ReceiverSettings) -> Self {
        let max_in_flight = settings.max_in_flight.clamp(1, Semaphore::MAX_PERMITS);
        let state = Arc::new(AppState {
            engine,
            counters: Counters::default(),
            shutting_down: AtomicBool::new(false),
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            request_timeout: settings.request_timeout,
            workers: OnceLock::new(),
        });
        Self {
            state,
            body_limit: settings.body_limit,
        }
    }

    /// Reports in-process workers' counters on `/healthz`.
    pub fn with_workers(self, status: Arc<WorkerStatus>) -> Self {
        // Set once: a receiver reports the workers it was first given.
        let _ = self.state.workers.set(status);
        self
    }

    /// Every route: `POST /webhooks/{provider}/{*binding}`, `GET /healthz`, `GET /readyz`.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(self.webhook_router())
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(self.state.clone())
    }

    /// The webhook route alone (`POST /webhooks/{provider}/{*binding}`), for a host that
    /// has health endpoints of its own; nest it to move it under a prefix.
    pub fn webhook_router<S>(&self) -> Router<S> {
        Router::new()
            .route("/webhooks/{provider}/{*binding}", post(receive))
            .layer(DefaultBodyLimit::max(self.body_limit))
            .with_state(self.state.clone())
    }

    /// From now on `/readyz` answers `503` (the process is stopping): load balancers stop
    /// sending while requests in flight finish.
    pub fn begin_shutdown(&self) {
        self.state.shutting_down.store(true, Ordering::SeqCst);
    }

    /// The request counters (`accepted`, `duplicates`, `rejected`, `too_large`,
    /// `not_found`, `bad_request`, `unavailable`, `busy`, `timed_out`).
    pub fn counters(&self) -> serde_json::Value {
        self.state.counters.snapshot()
    }

    /// How many webhook requests may be handled at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting
/// connections and lets requests in flight finish for up to `grace`. A connection still
/// open after it (a client that never finishes its request) is closed, never answered.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let signalled = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(signalled);
    let overdue = async move {
        if stopped.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = server.into_future() => served,
        () = overdue => {
            tracing::warn!(
                grace_s = grace.as_secs_f64(),
                "connections still open after the grace period; closing them"
            );
            Ok(())
        }
    }
}

/// A future that resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when
/// this is called, not when the future is first polled: call it before announcing that
/// the process is up, so a signal sent right after the announcement is never fatal.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                (Ok(mut one), Err(e)) | (Err(e), Ok(mut one)) => {
                    tracing::warn!(error = %e, "cannot watch one of SIGTERM and SIGINT");
                    one.recv().await;
                }
                (Err(e), Err(_)) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM or SIGINT; stop the process with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn unavailable(state: &AppState, message: &str) -> Response {
    state.counters.unavailable.fetch_add(1, Ordering::Relaxed);
    retry_later(message)
}

/// `503` with `Retry-After`: the sender should redeliver later.
fn retry_later(message: &str) -> Response {
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
    request: Request,
) -> Response {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + state.request_timeout;
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
    // Before the body is read: a request over the limit costs no memory.
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        state.counters.busy.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%provider, binding = %binding_id, status = 503, max_in_flight = state.max_in_flight, "too many webhook requests in flight; the sender will redeliver");
        return retry_later("too many webhook requests at once; retry later");
    };
    let headers: HeaderMap = request.headers().clone();
    let body = match tokio::time::timeout_at(deadline, Bytes::from_request(request, &())).await {
        Ok(Ok(b)) => b,
        Err(_elapsed) => {
            state.counters.timed_out.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%provider, binding = %binding_id, status = 408, timeout_s = state.request_timeout.as_secs_f64(), "the body did not arrive in time");
            return reply(
                StatusCode::REQUEST_TIMEOUT,
                json!({ "error": "the request body did not arrive in time; send it again" }),
            );
        }
        Ok(Err(rejection)) => {
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
    let request = WebhookRequest::new(
        Headers::from_pairs(
            headers
                .iter()
                .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v))),
        ),
        body.to_vec(),
    );
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
        let stored = tokio::time::timeout_at(
            deadline,
            state.engine.receive(&binding_id, request, Utc::now()),
        )
        .await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        match stored {
            Ok(result) => respond(&state, result, elapsed_ms),
            Err(_elapsed) => {
                // Whether it was stored is unknown: a redelivery is then a duplicate.
                tracing::warn!(
                    status = 503,
                    elapsed_ms,
                    "the store did not answer in time; the sender will redeliver"
                );
                unavailable(
                    &state,
                    "the delivery could not be stored in time; retry later",
                )
            }
        }
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
        Ok(other) => {
            state.counters.accepted.fetch_add(1, Ordering::Relaxed);
            tracing::info!(status = 202, elapsed_ms, receipt = ?other, "delivery received");
            reply(StatusCode::ACCEPTED, json!({ "status": "accepted" }))
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
    let in_flight = state
        .max_in_flight
        .saturating_sub(state.in_flight.available_permits());
    let mut body = json!({
        "status": "ok",
        "requests": state.counters.snapshot(),
        "in_flight": in_flight,
        "max_in_flight": state.max_in_flight,
    });
    if let (Some(workers), Some(map)) = (state.workers.get(), body.as_object_mut()) {
        map.insert("workers".into(), workers.snapshot());
    }
    reply(StatusCode::OK, body)
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
    let probe = tokio::time::timeout(
        READY_PROBE_TIMEOUT,
        state.engine.store().get_delivery(
            &ProviderKind::new("readyz"),
            &DeliveryId::new("readyz-probe"),
        ),
    )
    .await;
    match probe {
        Ok(Ok(_)) => reply(StatusCode::OK, json!({ "status": "ready" })),
        Err(_elapsed) => {
            tracing::warn!("not ready: the store did not answer the probe in time");
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "store unreachable" }),
            )
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the store is unreachable");
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "store unreachable" }),
            )
        }
    }
}

/// A worker's `GET /healthz` (its counters and health, always `200` while the process is
/// up) and `GET /readyz` (`200` while its last store operation succeeded and it is not
/// stopping, `503` otherwise).
pub fn worker_health_router(status: Arc<WorkerStatus>) -> Router {
    Router::new()
        .route("/healthz", get(worker_healthz))
        .route("/readyz", get(worker_readyz))
        .with_state(status)
}

async fn worker_healthz(State(status): State<Arc<WorkerStatus>>) -> Response {
    reply(
        StatusCode::OK,
        json!({ "status": "ok", "worker": status.snapshot() }),
    )
}

async fn worker_readyz(State(status): State<Arc<WorkerStatus>>) -> Response {
    if status.stopping() {
        reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "shutting down" }),
        )
    } else if status.store_reachable() {
        reply(StatusCode::OK, json!({ "status": "ready" }))
    } else {
        reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "store unreachable" }),
        )
    }
}

//! Events per second the PostgreSQL store commits, beside the floor measured in the same
//! run: a plain batched `INSERT … ON CONFLICT DO NOTHING` of the same delivery rows.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p kradle-benches --bench postgres_throughput
//! ```
//!
//! Two paths are measured against the floor:
//!
//! - `commit_batch`: each transition is what the engine commits for one applied webhook
//!   event: the event key, the object's new state, the delivery record's update and an
//!   audit record. Each batch uses fresh keys, so nothing is refused as already applied.
//! - `engine`: what a worker does with a claimed batch of real GitHub `issues` deliveries
//!   (fixtures from `fixtures/github/webhooks/issues/`, each about its own issue): claim
//!   them with leases, then `Engine::process_batch` (one batched read of the deliveries,
//!   of their event keys and of their objects, normalize and stage every event, one
//!   batched `commit_many` that also finishes each delivery). Measured with
//!   `claim_deliveries` (which also returns the payloads) and with `claim_delivery_ids`
//!   (only the ids, all `process_batch` needs), by one worker slot and by two at once
//!   (each its own task claiming a batch, as `kradle-sync worker --concurrency 2`, its
//!   default, runs them). Receiving them is set-up, not measured.
//!
//! Criterion reports each on its own; a summary at the end times the paths interleaved,
//! round after round, and prints events per second beside the floor's rows per second and
//! their ratio. Last, a backlog of 10,000 deliveries is drained with the worker's default
//! settings (two slots, batches of 32), where a claim must find its keys among many.
//! Under `CI=true` an unreachable server fails the bench instead of skipping.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kradle_provider_github::{GithubWebhooks, sign_webhook};
use kradle_store_postgres::PostgresStore;
use kradle_store_postgres::sqlx::{self, AssertSqlSafe};
use kradle_sync_core::audit::{AuditRecord, AuditSubject};
use kradle_sync_core::delivery::{DeliveryPhase, DeliveryRecord};
use kradle_sync_core::projection::{FieldRegister, ObjectState};
use kradle_sync_core::testing::conformance::delivery;
use kradle_sync_core::{
    Authority, Binding, BindingId, DeliveryId, Engine, EventKey, ExternalTarget, Headers,
    Interface, ObjectKey, OrgId, ProviderKind, Rank, ResourceKind, Secret, SyncStore, Transition,
    WebhookRequest,
};
use tokio::runtime::Runtime;

const REPO: &str = "Codertocat/Hello-World";
const SECRET: &str = "kradle-demo-secret";

static NEXT: AtomicU64 = AtomicU64::new(0);

fn delivery_row(n: u64) -> DeliveryRecord {
    let mut d = delivery(&format!("bench-{n}"), "acme/app");
    d.body = format!(
        "{{\"action\":\"edited\",\"issue\":{{\"id\":{n},\"number\":{n},\"title\":\"Spelling error in the README\",\"body\":\"{}\"}}}}",
        "x".repeat(600)
    )
    .into_bytes();
    d
}

/// What the engine commits for one applied event.
fn transition(n: u64) -> Transition {
    let at = DateTime::from_timestamp(1_700_000_000 + (n % 1000) as i64, 0).unwrap();
    let native = n.to_string();
    let mut state = ObjectState::new(
        ObjectKey::new("github", "acme/app", ResourceKind::Issue, native.as_str()),
        OrgId::new("acme"),
    );
    let rank = Rank {
        at: Some(at),
        sequence: None,
        authority: Authority::Webhook,
    };
    for (field, value) in [
        ("title", serde_json::json!("Spelling error in the README")),
        (
            "body",
            serde_json::json!("It looks like you accidentally spelled 'commit' with a single 't'."),
        ),
        ("state", serde_json::json!("open")),
        ("labels", serde_json::json!(["bug", "docs"])),
        ("assignees", serde_json::json!(["octocat"])),
    ] {
        state.external.insert(
            field.into(),
            FieldRegister {
                rank,
                value,
                ambiguous: false,
            },
        );
    }
    let mut d = delivery_row(n);
    d.phase = DeliveryPhase::Processed;
    d.attempts = 1;
    d.events = 1;
    {
        let mut v = Transition::default();
        v.object = Some((state, None));
        v.events = vec![EventKey {
            provider: "github".into(),
            delivery_id: d.delivery_id.clone(),
            action: "edited".into(),
            kind: ResourceKind::Issue,
            native_id: native.as_str().into(),
        }];
        v.deliveries = vec![d];
        v.audit = vec![{
            let mut v = AuditRecord::new(
                at,
                "acme",
                "github",
                "acme/app",
                AuditSubject::Object(format!("github/acme/app/issue/{n}")),
                "event.applied",
                "provider:github",
            );
            v.detail = serde_json::json!({ "delivery": format!("bench-{n}"), "fields": ["title", "body"] });
            v
        }];
        v
    }
}

fn batch(size: u64) -> Vec<Transition> {
    let start = NEXT.fetch_add(size, Ordering::Relaxed);
    (start..start + size).map(transition).collect()
}

struct Setup {
    rt: Runtime,
    store: PostgresStore,
    floor_sql: String,
    engine: Arc<Engine>,
    /// Real `issues` payloads, parsed, to give each delivery an issue of its own.
    templates: Vec<serde_json::Value>,
}

/// The real `issues` fixtures about [`REPO`].
fn issue_templates() -> Vec<serde_json::Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/github/webhooks/issues");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the issues fixtures")
        .map(|e| e.expect("an entry").path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| serde_json::from_slice::<serde_json::Value>(&std::fs::read(p).unwrap()).unwrap())
        .filter(|v| v["repository"]["full_name"] == REPO)
        .collect()
}

fn bench_engine(store: &PostgresStore) -> Engine {
    let binding = Binding::new(
        REPO,
        "github",
        ExternalTarget::from_path(REPO),
        &Interface::ALL,
    )
    .with_secret(Secret::new(SECRET));
    Engine::builder(Arc::new(store.clone()) as Arc<dyn SyncStore>)
        .adapter(Arc::new(GithubWebhooks::new()))
        .binding(binding)
        .build()
        .expect("a valid binding")
}

fn setup() -> Option<Setup> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("kbench_{}", std::process::id());
    let store = match rt.block_on(PostgresStore::connect_with_schema(&url, &schema)) {
        Ok(store) => store,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true and PostgreSQL is unreachable: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED throughput bench: {e}");
            return None;
        }
    };
    let s = format!("\"{schema}\"");
    rt.block_on(
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE TABLE {s}.floor_deliveries (LIKE {s}.deliveries INCLUDING ALL)"
        )))
        .execute(store.pool()),
    )
    .expect("floor table");
    let floor_sql = format!(
        "INSERT INTO {s}.floor_deliveries
             (provider, delivery_id, binding, org, phase, ordering_key, record, body)
         SELECT provider, delivery_id, binding, org, phase, ordering_key, record::json, body
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::bytea[])
             AS u(provider, delivery_id, binding, org, phase, ordering_key, record, body)
         ON CONFLICT DO NOTHING"
    );
    Some(Setup {
        rt,
        engine: Arc::new(bench_engine(&store)),
        store,
        floor_sql,
        templates: issue_templates(),
    })
}

/// The floor: the same delivery rows, one multi-row insert per batch.
async fn floor_insert(setup: &Setup, rows: Vec<DeliveryRecord>) {
    let mut cols: [Vec<String>; 7] = Default::default();
    let mut bodies = Vec::with_capacity(rows.len());
    for d in rows {
        cols[0].push(d.provider.to_string());
        cols[1].push(d.delivery_id.to_string());
        cols[2].push(d.binding.to_string());
        cols[3].push(d.org.to_string());
        cols[4].push(d.phase.as_str().to_owned());
        cols[5].push(format!("{}/{}", d.provider, d.binding));
        cols[6].push(serde_json::to_string(&d).unwrap());
        bodies.push(d.body);
    }
    let [a, b, c, d, e, f, g] = cols;
    sqlx::query(AssertSqlSafe(setup.floor_sql.clone()))
        .bind(a)
        .bind(b)
        .bind(c)
        .bind(d)
        .bind(e)
        .bind(f)
        .bind(g)
        .bind(bodies)
        .execute(setup.store.pool())
        .await
        .expect("floor insert");
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

/// Receives `n` real `issues` deliveries, each about an issue of its own (the fixture's
/// payload with the issue's id and number changed), ready for a worker to claim.
async fn receive_issues(setup: &Setup, n: u64) {
    let binding = BindingId::new(REPO);
    let start = NEXT.fetch_add(n, Ordering::Relaxed);
    for i in start..start + n {
        let mut body = setup.templates[(i as usize) % setup.templates.len()].clone();
        body["issue"]["id"] = serde_json::json!(10_000_000 + i);
        body["issue"]["number"] = serde_json::json!(i);
        let body = body.to_string().into_bytes();
        let request = WebhookRequest::new(
            Headers::from_pairs([
                ("X-GitHub-Event", "issues".to_owned()),
                ("X-GitHub-Delivery", format!("bench-engine-{i}")),
                (
                    "X-Hub-Signature-256",
                    sign_webhook(&Secret::new(SECRET), &body),
                ),
            ]),
            body,
        );
        setup
            .engine
            .receive(&binding, request, now())
            .await
            .expect("receive");
    }
}

/// How a worker claims: with the payloads (`claim_deliveries`), or only the ids
/// (`claim_delivery_ids`, all `process_batch` needs).
#[derive(Clone, Copy)]
enum Claim {
    Records,
    Ids,
}

/// A worker's turn: claim up to `n` deliveries as `owner` and process them as one batch.
/// Returns the events applied.
async fn work(
    store: PostgresStore,
    engine: Arc<Engine>,
    owner: String,
    n: usize,
    claim: Claim,
) -> u64 {
    let lease = Duration::from_secs(60);
    let ids: Vec<(ProviderKind, DeliveryId)> = match claim {
        Claim::Records => store
            .claim_deliveries(&owner, lease, n, now())
            .await
            .expect("claim")
            .into_iter()
            .map(|d| (d.provider, d.delivery_id))
            .collect(),
        Claim::Ids => store
            .claim_delivery_ids(&owner, lease, n, now())
            .await
            .expect("claim"),
    };
    let reports = engine.process_batch(&ids, now()).await.expect("process");
    reports
        .iter()
        .inspect(|r| assert_eq!(r.phase, Some(DeliveryPhase::Processed), "{r:?}"))
        .map(|r| u64::from(r.events))
        .sum()
}

/// `slots` workers' turns at once, each its own task (as `kradle-sync worker
/// --concurrency` runs them). Returns the events applied.
fn turns(setup: &Setup, n: usize, claim: Claim, slots: usize) -> u64 {
    setup.rt.block_on(async {
        let tasks: Vec<_> = (0..slots)
            .map(|slot| {
                setup.rt.spawn(work(
                    setup.store.clone(),
                    setup.engine.clone(),
                    format!("bench/{slot}"),
                    n,
                    claim,
                ))
            })
            .collect();
        let mut events = 0;
        for task in tasks {
            events += task.await.expect("a worker task");
        }
        events
    })
}

/// The engine paths the summary times: how the worker claims, and how many slots run.
const PATHS: [(Claim, usize, &str); 4] = [
    (
        Claim::Records,
        1,
        "claim_deliveries + process_batch, 1 slot",
    ),
    (Claim::Ids, 1, "claim_delivery_ids + process_batch, 1 slot"),
    (
        Claim::Records,
        2,
        "claim_deliveries + process_batch, 2 slots",
    ),
    (Claim::Ids, 2, "claim_delivery_ids + process_batch, 2 slots"),
];

/// Times the floor, `commit_batch` and the engine paths interleaved, round after round,
/// and prints each one's rate beside the floor's and the ratio.
fn summary(setup: &Setup, size: u64, rounds: u32) {
    let (mut floor, mut commit) = (Duration::ZERO, Duration::ZERO);
    let mut engine = [Duration::ZERO; PATHS.len()];
    let mut engine_events = [0u64; PATHS.len()];
    for _ in 0..rounds {
        let start = NEXT.fetch_add(size, Ordering::Relaxed);
        let rows: Vec<_> = (start..start + size).map(delivery_row).collect();
        let t = Instant::now();
        setup.rt.block_on(floor_insert(setup, rows));
        floor += t.elapsed();

        let ts = batch(size);
        let t = Instant::now();
        setup
            .rt
            .block_on(setup.store.commit_batch(ts))
            .expect("commit");
        commit += t.elapsed();

        for (i, (claim, slots, _)) in PATHS.into_iter().enumerate() {
            setup
                .rt
                .block_on(receive_issues(setup, size * slots as u64));
            let t = Instant::now();
            engine_events[i] += turns(setup, size as usize, claim, slots);
            engine[i] += t.elapsed();
        }
    }
    let n = (size * u64::from(rounds)) as f64;
    let floor_rate = n / floor.as_secs_f64();
    let commit_rate = n / commit.as_secs_f64();
    println!(
        "summary batch {size:>4}: floor (batched INSERT … ON CONFLICT DO NOTHING) {floor_rate:>8.0} rows/s"
    );
    println!(
        "summary batch {size:>4}: commit_batch {commit_rate:>8.0} events/s ({:.1}x the floor's time)",
        floor_rate / commit_rate
    );
    for (i, (_, _, name)) in PATHS.into_iter().enumerate() {
        let rate = engine_events[i] as f64 / engine[i].as_secs_f64();
        println!(
            "summary batch {size:>4}: engine {name}: {rate:>8.0} events/s ({:.1}x the floor's time)",
            floor_rate / rate
        );
    }
}

/// A backlog drained as `kradle-sync worker` runs by default (two slots, batches of 32):
/// `backlog` deliveries are received first, then the slots claim and process until none
/// is left. Prints events per second.
fn drain(setup: &Setup, backlog: u64) {
    setup.rt.block_on(receive_issues(setup, backlog));
    let t = Instant::now();
    let mut events = 0;
    loop {
        let round = turns(setup, 32, Claim::Records, 2);
        if round == 0 {
            break;
        }
        events += round;
    }
    println!(
        "summary backlog {backlog}: claim_deliveries + process_batch, 2 slots of 32 (the worker's defaults): {:>8.0} events/s",
        events as f64 / t.elapsed().as_secs_f64()
    );
}

fn throughput(c: &mut Criterion) {
    let Some(setup) = setup() else { return };
    let mut group = c.benchmark_group("postgres");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for size in [100u64, 500] {
        group.throughput(Throughput::Elements(size));
        group.bench_function(format!("floor_insert_on_conflict/{size}"), |b| {
            b.iter_batched(
                || {
                    let start = NEXT.fetch_add(size, Ordering::Relaxed);
                    (start..start + size).map(delivery_row).collect::<Vec<_>>()
                },
                |rows| setup.rt.block_on(floor_insert(&setup, rows)),
                BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("commit_batch/{size}"), |b| {
            b.iter_batched(
                || batch(size),
                |ts| {
                    black_box(
                        setup
                            .rt
                            .block_on(setup.store.commit_batch(ts))
                            .expect("commit"),
                    )
                },
                BatchSize::PerIteration,
            )
        });
    }
    // For contrast: one transition per database transaction, from 8 concurrent tasks
    // (PostgreSQL's group commit shares WAL flushes between them).
    group.throughput(Throughput::Elements(64));
    group.bench_function("commit_single_x8_tasks/64", |b| {
        b.iter_batched(
            || batch(64),
            |ts| {
                setup.rt.block_on(async {
                    let mut chunks: Vec<Vec<Transition>> = vec![Vec::new(); 8];
                    for (i, t) in ts.into_iter().enumerate() {
                        chunks[i % 8].push(t);
                    }
                    let tasks: Vec<_> = chunks
                        .into_iter()
                        .map(|chunk| {
                            let store = setup.store.clone();
                            tokio::spawn(async move {
                                for t in chunk {
                                    store.commit(t).await.expect("commit");
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("task");
                    }
                })
            },
            BatchSize::PerIteration,
        )
    });
    group.throughput(Throughput::Elements(100));
    for (name, claim) in [
        ("engine_claim_process_batch/100", Claim::Records),
        ("engine_claim_ids_process_batch/100", Claim::Ids),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || setup.rt.block_on(receive_issues(&setup, 100)),
                |()| black_box(turns(&setup, 100, claim, 1)),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
    for size in [100, 500] {
        summary(&setup, size, 10);
    }
    drain(&setup, 10_000);
    let schema = setup.store.schema().to_owned();
    setup
        .rt
        .block_on(
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
                .execute(setup.store.pool()),
        )
        .expect("drop the bench schema");
}

criterion_group!(benches, throughput);
criterion_main!(benches);

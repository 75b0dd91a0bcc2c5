//! The work queue conformance suite: what every [`WorkQueue`] must do (see the rules in
//! [`crate::queue`]). Run it against a fresh, empty store that is both the `SyncStore` and
//! the `WorkQueue`:
//!
//! ```ignore
//! let store = MyStore::new();
//! kradle_sync_core::testing::queue::run(&store, &store, MY_MAX_CLAIMS).await;
//! ```
//!
//! Time is the `now` the suite passes, so leases expire without waiting.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::audit::AuditSubject;
use crate::delivery::{DeliveryInput, DeliveryPhase, DeliveryRecord, step_delivery};
use crate::queue::DeliveryRef;
use crate::store::{Filter, Transition};
use crate::testing::conformance::{delivery, intent};
use crate::write_intent::{WriteIntent, WritePhase};
use crate::{BindingId, ObjectKey, ResourceKind, RetryPolicy, SyncStore, WorkQueue};

const LEASE: Duration = Duration::from_secs(60);

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap_or_default()
}

fn r(id: &str) -> DeliveryRef {
    ("github".into(), id.into())
}

/// A queued delivery about `object` (its ordering key), received at `secs`.
fn queued(id: &str, object: &str, secs: i64) -> DeliveryRecord {
    let mut d = delivery(id, "acme/app");
    d.ordering_key = Some(format!("github/acme/app/{object}"));
    d.received_at = at(secs);
    d
}

async fn insert(store: &dyn SyncStore, deliveries: &[DeliveryRecord]) {
    for d in deliveries {
        store.insert_delivery(d).await.expect("insert");
    }
}

/// Records an outcome the way the engine does: claim, then processed (or failed).
async fn finish(store: &dyn SyncStore, id: &str, input: DeliveryInput, now: DateTime<Utc>) {
    let d = store
        .get_delivery(&"github".into(), &id.into())
        .await
        .expect("get")
        .expect("stored");
    let policy = RetryPolicy::default();
    let (d, _) = step_delivery(d, DeliveryInput::Claim, now, &policy);
    let (d, _) = step_delivery(d, input, now, &policy);
    let mut t = Transition::default();
    t.deliveries.push(d);
    store.commit(t).await.expect("commit");
}

/// Runs every check. `max_claims` is the store's bound on claims without an outcome.
pub async fn run(store: &dyn SyncStore, queue: &dyn WorkQueue, max_claims: u32) {
    claims_are_oldest_first_and_exclusive(store, queue).await;
    one_object_is_claimed_once_at_a_time(store, queue).await;
    leases_expire_and_renew(store, queue).await;
    released_claims_return_at_once(store, queue).await;
    outcomes_complete_claims_and_retries_wait(store, queue).await;
    poison_deliveries_are_dead_lettered(store, queue, max_claims).await;
    write_intents_leave_in_order_one_object_at_a_time(store, queue).await;
}

async fn claims_are_oldest_first_and_exclusive(store: &dyn SyncStore, queue: &dyn WorkQueue) {
    insert(
        store,
        &[
            queued("q1-a", "issue:1", 1),
            queued("q1-b", "issue:2", 2),
            queued("q1-c", "issue:3", 3),
        ],
    )
    .await;
    let first = queue
        .claim_deliveries("w1", LEASE, 2, at(10))
        .await
        .expect("claim");
    assert_eq!(
        first,
        vec![r("q1-a"), r("q1-b")],
        "in arrival order, at most the limit"
    );
    let second = queue
        .claim_deliveries("w2", LEASE, 10, at(10))
        .await
        .expect("claim");
    assert_eq!(
        second,
        vec![r("q1-c")],
        "never a delivery under a live lease"
    );
    let stats = queue.stats(at(10)).await.expect("stats");
    assert_eq!((stats.pending, stats.claimed), (3, 3));
    assert_eq!(stats.oldest_pending_at, Some(at(1)));
    for id in ["q1-a", "q1-b", "q1-c"] {
        finish(store, id, processed(), at(11)).await;
    }
    assert_eq!(queue.stats(at(12)).await.expect("stats").pending, 0);
}

fn processed() -> DeliveryInput {
    DeliveryInput::Processed {
        events: 1,
        note: None,
    }
}

async fn one_object_is_claimed_once_at_a_time(store: &dyn SyncStore, queue: &dyn WorkQueue) {
    insert(
        store,
        &[
            queued("q2-a", "issue:9", 100),
            queued("q2-b", "issue:9", 101),
            queued("q2-c", "issue:10", 102),
        ],
    )
    .await;
    let first = queue
        .claim_deliveries("w1", LEASE, 10, at(110))
        .await
        .expect("claim");
    assert_eq!(
        first,
        vec![r("q2-a"), r("q2-c")],
        "one delivery per ordering key, the key's oldest"
    );
    let none = queue
        .claim_deliveries("w2", LEASE, 10, at(110))
        .await
        .expect("claim");
    assert!(
        none.is_empty(),
        "a key with a live lease is not claimed: {none:?}"
    );
    finish(store, "q2-a", processed(), at(111)).await;
    let next = queue
        .claim_deliveries("w2", LEASE, 10, at(112))
        .await
        .expect("claim");
    assert_eq!(
        next,
        vec![r("q2-b")],
        "the key's next once the first is done"
    );
    finish(store, "q2-b", processed(), at(113)).await;
    finish(store, "q2-c", processed(), at(113)).await;
}

async fn leases_expire_and_renew(store: &dyn SyncStore, queue: &dyn WorkQueue) {
    insert(
        store,
        &[
            queued("q3-a", "issue:20", 200),
            queued("q3-b", "issue:21", 201),
        ],
    )
    .await;
    let claimed = queue
        .claim_deliveries("crashed", LEASE, 10, at(210))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    // Half-way, the owner renews; a renewal by another worker renews nothing.
    assert_eq!(
        queue
            .renew_leases("other", LEASE, at(240))
            .await
            .expect("renew"),
        0
    );
    assert_eq!(
        queue
            .renew_leases("crashed", LEASE, at(240))
            .await
            .expect("renew"),
        2
    );
    // After the first lease would have ended, the renewed claims still hold.
    let held = queue
        .claim_deliveries("w2", LEASE, 10, at(275))
        .await
        .expect("claim");
    assert!(held.is_empty(), "renewed leases hold: {held:?}");
    // After the renewed lease ends, another worker takes them over.
    let taken = queue
        .claim_deliveries("w2", LEASE, 10, at(301))
        .await
        .expect("claim");
    assert_eq!(taken, vec![r("q3-a"), r("q3-b")]);
    // An expired lease is not revived by a late renewal of the old owner.
    assert_eq!(
        queue
            .renew_leases("crashed", LEASE, at(302))
            .await
            .expect("renew"),
        0
    );
    finish(store, "q3-a", processed(), at(303)).await;
    finish(store, "q3-b", processed(), at(303)).await;
}

async fn released_claims_return_at_once(store: &dyn SyncStore, queue: &dyn WorkQueue) {
    insert(
        store,
        &[
            queued("q4-a", "issue:30", 300),
            queued("q4-b", "issue:31", 301),
            queued("q4-c", "issue:32", 302),
        ],
    )
    .await;
    let claimed = queue
        .claim_deliveries("w1", LEASE, 10, at(310))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 3);
    assert_eq!(
        queue.release("w2", &claimed).await.expect("release"),
        0,
        "another worker's claims are left alone"
    );
    assert_eq!(queue.release("w1", &[r("q4-a")]).await.expect("release"), 1);
    let back = queue
        .claim_deliveries("w2", LEASE, 10, at(311))
        .await
        .expect("claim");
    assert_eq!(
        back,
        vec![r("q4-a")],
        "a released claim is claimable at once"
    );
    assert_eq!(queue.release_all("w1").await.expect("release all"), 2);
    let rest = queue
        .claim_deliveries("w3", LEASE, 10, at(312))
        .await
        .expect("claim");
    assert_eq!(rest, vec![r("q4-b"), r("q4-c")]);
    for id in ["q4-a", "q4-b", "q4-c"] {
        finish(store, id, processed(), at(313)).await;
    }
}

async fn outcomes_complete_claims_and_retries_wait(store: &dyn SyncStore, queue: &dyn WorkQueue) {
    insert(store, &[queued("q5-a", "issue:40", 400)]).await;
    let claimed = queue
        .claim_deliveries("w1", LEASE, 10, at(410))
        .await
        .expect("claim");
    assert_eq!(claimed, vec![r("q5-a")]);
    // A failed attempt records its outcome (ending the lease) and a retry time.
    finish(
        store,
        "q5-a",
        DeliveryInput::Failed {
            error: "the provider answered 502".into(),
            retryable: true,
            // The longest delay full jitter allows: the retry is later than now.
            jitter: 1.0,
        },
        at(411),
    )
    .await;
    let failed = store
        .get_delivery(&"github".into(), &"q5-a".into())
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(failed.phase, DeliveryPhase::Failed);
    let due = failed.next_attempt_at.expect("a retry time");
    assert!(due > at(411), "the retry is later than the failure");
    let stats = queue.stats(at(411)).await.expect("stats");
    assert_eq!(
        (stats.pending, stats.claimed, stats.waiting_for_retry),
        (1, 0, 1)
    );
    let early = queue
        .claim_deliveries("w1", LEASE, 10, at(411))
        .await
        .expect("claim");
    assert!(early.is_empty(), "a retry waits for its time: {early:?}");
    let later = queue
        .claim_deliveries("w1", LEASE, 10, due)
        .await
        .expect("claim");
    assert_eq!(later, vec![r("q5-a")], "and is claimable once it comes");
    finish(store, "q5-a", processed(), due).await;
    let done = queue
        .claim_deliveries("w1", LEASE, 10, due + chrono::Duration::hours(1))
        .await
        .expect("claim");
    assert!(
        done.is_empty(),
        "a processed delivery is never claimed again"
    );
    assert_eq!(queue.stats(due).await.expect("stats").pending, 0);
}

async fn poison_deliveries_are_dead_lettered(
    store: &dyn SyncStore,
    queue: &dyn WorkQueue,
    max_claims: u32,
) {
    insert(store, &[queued("q6-poison", "issue:50", 500)]).await;
    let mut now = at(510);
    for n in 0..max_claims {
        let claimed = queue
            .claim_deliveries(&format!("dies-{n}"), LEASE, 10, now)
            .await
            .expect("claim");
        assert_eq!(claimed, vec![r("q6-poison")], "claim {n}");
        // The worker dies: no outcome, the lease runs out.
        now += chrono::Duration::seconds(61);
    }
    let claimed = queue
        .claim_deliveries("next", LEASE, 10, now)
        .await
        .expect("claim");
    assert!(
        claimed.is_empty(),
        "a poison delivery is not handed out again"
    );
    let dead = store
        .get_delivery(&"github".into(), &"q6-poison".into())
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(dead.phase, DeliveryPhase::DeadLettered);
    assert!(
        dead.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("without an outcome"),
        "{:?}",
        dead.last_error
    );
    let audit = store
        .list_audit(&Filter::binding("acme/app"))
        .await
        .expect("audit");
    assert!(
        audit.iter().any(|a| a.action == "delivery.dead_lettered"
            && a.subject == AuditSubject::Delivery("q6-poison".into())),
        "dead-lettering is audited"
    );
}

/// A write intent on issue `object` of `acme/app`, created at `secs`.
fn write(id: &str, object: &str, secs: i64, phase: WritePhase) -> WriteIntent {
    let mut i = intent(id, "acme/app", phase);
    i.target = ObjectKey::new("github", "acme/app", ResourceKind::Issue, object);
    i.created_at = at(secs);
    i.updated_at = at(secs);
    i
}

async fn save(store: &dyn SyncStore, intents: Vec<WriteIntent>) {
    let t = Transition {
        write_intents: intents,
        ..Transition::default()
    };
    store.commit(t).await.expect("commit");
}

async fn write_intents_leave_in_order_one_object_at_a_time(
    store: &dyn SyncStore,
    queue: &dyn WorkQueue,
) {
    let mut waiting = write("w-d1", "74", 604, WritePhase::Failed);
    waiting.next_attempt_at = Some(at(700));
    save(
        store,
        vec![
            write("w-a1", "71", 601, WritePhase::Pending),
            write("w-a2", "71", 602, WritePhase::Pending),
            write("w-b1", "72", 603, WritePhase::Approved),
            write("w-c1", "73", 600, WritePhase::AwaitingApproval),
            waiting,
        ],
    )
    .await;
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let app = [BindingId::new("acme/app")];
    // An intent of another binding, older than all: a worker without that binding's
    // credentials neither claims it nor waits for it.
    let mut elsewhere = write("w-o1", "71", 590, WritePhase::Pending);
    elsewhere.target = ObjectKey::new("github", "acme/other", ResourceKind::Issue, "71");
    save(store, vec![elsewhere]).await;
    assert!(
        queue
            .claim_write_intents("w0", &[], LEASE, 10, at(610))
            .await
            .expect("claim")
            .is_empty(),
        "a worker writing no binding claims nothing"
    );
    let first = queue
        .claim_write_intents("w1", &app, LEASE, 10, at(610))
        .await
        .expect("claim");
    assert_eq!(
        first,
        ids(&["w-a1", "w-b1"]),
        "the oldest executable intent of each object, oldest first; none awaiting approval or waiting for its retry"
    );
    let stats = queue.stats(at(610)).await.expect("stats");
    assert_eq!((stats.intents, stats.intents_claimed), (5, 2));
    assert!(
        queue
            .claim_write_intents("w2", &app, LEASE, 10, at(610))
            .await
            .expect("claim")
            .is_empty(),
        "an object with a claimed intent waits"
    );
    // w1 records the first write's outcome and releases it: the object's next write goes.
    let mut applied = write("w-a1", "71", 601, WritePhase::Applied);
    applied.attempts = 1;
    save(store, vec![applied]).await;
    assert_eq!(
        queue
            .release_write_intents("w2", &ids(&["w-a1"]))
            .await
            .expect("release"),
        0,
        "another worker's claim is left alone"
    );
    assert_eq!(
        queue
            .release_write_intents("w1", &ids(&["w-a1"]))
            .await
            .expect("release"),
        1
    );
    assert_eq!(
        queue
            .claim_write_intents("w2", &app, LEASE, 10, at(611))
            .await
            .expect("claim"),
        ids(&["w-a2"])
    );
    // w1 dies holding w-b1; its lease ends and w3 takes it (a retry: w1 may have written).
    assert!(
        queue
            .claim_write_intents("w3", &app, LEASE, 10, at(650))
            .await
            .expect("claim")
            .is_empty()
    );
    assert_eq!(
        queue
            .renew_leases("w2", LEASE, at(650))
            .await
            .expect("renew"),
        1,
        "the owner renews its claim"
    );
    assert_eq!(
        queue
            .claim_write_intents("w3", &app, LEASE, 10, at(671))
            .await
            .expect("claim"),
        ids(&["w-b1"]),
        "a dead worker's claim returns when its lease ends; a renewed one holds"
    );
    assert_eq!(
        queue
            .claim_write_intents("w3", &app, LEASE, 10, at(700))
            .await
            .expect("claim"),
        ids(&["w-d1"]),
        "a failed write is claimable at its retry time"
    );
    assert_eq!(queue.release_all("w3").await.expect("release all"), 2);
    assert_eq!(queue.release_all("w2").await.expect("release all"), 1);
    let stats = queue.stats(at(701)).await.expect("stats");
    assert_eq!(
        (stats.intents, stats.intents_claimed),
        (4, 0),
        "the applied write is no longer executable"
    );
    assert_eq!(
        queue
            .claim_write_intents("w4", &[BindingId::new("acme/other")], LEASE, 10, at(701))
            .await
            .expect("claim"),
        ids(&["w-o1"]),
        "the other binding's writer takes its intent"
    );
    assert_eq!(queue.release_all("w4").await.expect("release all"), 1);
}

//! `commit_many` on PostgreSQL: batches larger than one transaction's share are split, and
//! a later chunk still sees what an earlier one committed.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::TestDb;
use kradle_store_postgres::MAX_BATCH;
use kradle_sync_core::projection::ObjectState;
use kradle_sync_core::store::{CommitOutcome, Filter};
use kradle_sync_core::{EventKey, ObjectKey, OrgId, ResourceKind, SyncStore, Transition};

fn transition(delivery: usize, native: usize, expected: Option<u64>) -> Transition {
    let key = ObjectKey::new(
        "github",
        "acme/app",
        ResourceKind::Issue,
        native.to_string(),
    );
    {
        let mut v = Transition::default();
        v.object = Some((ObjectState::new(key, OrgId::new("acme")), expected));
        v.events = vec![EventKey {
            provider: "github".into(),
            delivery_id: format!("d-{delivery}").into(),
            action: "edited".into(),
            kind: ResourceKind::Issue,
            native_id: native.to_string().into(),
        }];
        v
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_over_max_batch_are_split_and_decided_in_order() {
    let Some(db) = TestDb::connect("batch_split").await else {
        return;
    };
    let store = db.store().await;
    let n = MAX_BATCH + MAX_BATCH / 2;
    let mut batch: Vec<Transition> = (0..n).map(|i| transition(i, i, None)).collect();
    // In the second chunk: the first object's event again (already applied in the first
    // chunk), a second write of object 1 at the revision the first chunk gave it, and one
    // at a stale revision.
    batch.push(transition(0, 0, None));
    batch.push(transition(n, 1, Some(1)));
    batch.push(transition(n + 1, 2, None));
    let outcomes = store.commit_many(batch).await.unwrap();
    assert_eq!(outcomes.len(), n + 3);
    assert!(
        outcomes[..n].iter().all(|o| *o == CommitOutcome::Committed),
        "every new event commits"
    );
    assert_eq!(
        outcomes[n..],
        [
            CommitOutcome::AlreadyApplied,
            CommitOutcome::Committed,
            CommitOutcome::RevisionConflict
        ]
    );
    let objects = store.list_objects(&Filter::all()).await.unwrap();
    assert_eq!(objects.len(), n);
    let one = objects
        .iter()
        .find(|o| o.key.native_id.as_str() == "1")
        .unwrap();
    assert_eq!(one.revision, 2);
    db.drop_schemas().await;
}

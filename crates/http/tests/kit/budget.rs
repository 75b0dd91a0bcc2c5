//! Budgets and priority classes: with the recorded `x-ratelimit-remaining: 4999` below a
//! backfill reserve of 5000, backfill pauses (or waits for the reset) while a hydrate
//! and a write still go; clients of one account share the budget.

use std::sync::Arc;
use std::time::Duration;

use kradle_http::{ApiRequest, BudgetPolicy, HttpError, LowBudget, Priority, RateLimits, Reserve};
use kradle_test_support::recorded::received;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::common::{self, at, secs};

fn policy(on_low_budget: LowBudget) -> BudgetPolicy {
    BudgetPolicy {
        backfill_reserve: Reserve::Requests(5000),
        hydrate_reserve: Reserve::Requests(100),
        on_low_budget,
        max_wait: Duration::from_secs(2 * 3600),
    }
}

async fn mount(server: &MockServer) -> (String, String) {
    let list = common::session("labels").remove(0);
    let create = common::session("add-labels-to-issue").remove(0);
    assert_eq!(
        (list.method.as_str(), create.method.as_str()),
        ("GET", "POST")
    );
    Mock::given(method("GET"))
        .and(path(&list.path))
        .respond_with(list.respond(server))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(&create.path))
        .respond_with(create.respond(server))
        .mount(server)
        .await;
    (list.path.clone(), create.path.clone())
}

#[tokio::test]
async fn low_budget_pauses_backfill_while_hydrates_and_writes_go() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let (list, create) = mount(&server).await;
    let client = common::builder(&server, &clock)
        .budget_policy(policy(LowBudget::Pause))
        .build()
        .unwrap();
    let backfill = || ApiRequest::get(list.clone()).priority(Priority::Backfill);

    // Unknown budget: the first backfill read goes, and reports 4999 left.
    client.send(backfill()).await.unwrap();
    assert_eq!(client.budget().unwrap().remaining, Some(4999));

    // 4999 < 5000: the next backfill read is paused until the reset, not sent.
    let err = client.send(backfill()).await.unwrap_err();
    match &err {
        HttpError::Paused {
            priority,
            until,
            budget,
            ..
        } => {
            assert_eq!(*priority, Priority::Backfill);
            assert_eq!(*until, at("2017-10-10T16:00:00Z"));
            assert_eq!(budget.as_ref().and_then(|b| b.remaining), Some(4999));
        }
        other => panic!("expected Paused, got {other}"),
    }
    assert!(err.is_retryable());
    assert_eq!(received(&server).await.len(), 1);

    // A hydrate (reserve 100) and a write (no reserve) still go.
    client.send(ApiRequest::get(list.clone())).await.unwrap();
    let created = client
        .send(ApiRequest::post(create).json(json!({"title": "Issue with labels"})))
        .await
        .unwrap();
    assert_eq!(created.status.as_u16(), 201);
    assert_eq!(received(&server).await.len(), 3);
    assert!(clock.sleeps().is_empty());

    // After the reset the window counts as full: backfill resumes.
    clock.set(at("2017-10-10T16:00:01Z"));
    client.send(backfill()).await.unwrap();
    assert_eq!(received(&server).await.len(), 4);
}

#[tokio::test]
async fn low_budget_in_wait_mode_sleeps_until_the_reset() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let (list, _) = mount(&server).await;
    let client = common::builder(&server, &clock)
        .budget_policy(policy(LowBudget::Wait))
        .build()
        .unwrap();
    let backfill = || ApiRequest::get(list.clone()).priority(Priority::Backfill);
    client.send(backfill()).await.unwrap();
    client.send(backfill()).await.unwrap();
    assert_eq!(clock.sleeps(), [secs(3600)], "15:00 until the 16:00 reset");
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn clients_of_one_account_share_its_budget() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let (list, _) = mount(&server).await;
    let shared = Arc::new(RateLimits::new());
    let a = common::builder(&server, &clock)
        .rate_limits(shared.clone())
        .budget_policy(policy(LowBudget::Pause))
        .build()
        .unwrap();
    let b = common::builder(&server, &clock)
        .binding("octokit-fixture-org/labels")
        .rate_limits(shared.clone())
        .budget_policy(policy(LowBudget::Pause))
        .build()
        .unwrap();
    a.send(ApiRequest::get(list.clone())).await.unwrap();
    let err = b
        .send(ApiRequest::get(list).priority(Priority::Backfill))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Paused { .. }), "{err}");
    let all = shared.all();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].scope, common::scope());
    assert_eq!(all[0].resource, "core");
}

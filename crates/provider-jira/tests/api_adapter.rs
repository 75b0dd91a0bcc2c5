//! The HTTP adapter against a local wiremock server serving real Jira response bodies
//! (`fixtures/jira/rest/`) with the headers Jira documents: Cloud token-paged search, Data
//! Center offset-paged search, `400` with `errorMessages`/`errors`, `404`, `429` with
//! `Retry-After` and `X-RateLimit-*`, transitions, editmeta, the `lossy_format` and
//! `no_transition` conflicts, and creates that never duplicate. Every derivation from a
//! fixture is named where it is made and listed in `tests/DERIVED.md`. Waits run on a manual
//! clock: nothing sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::fixture_json;
use kradle_http::Jitter;
use kradle_http::testing::ManualClock;
use kradle_provider_jira::{Flavor, JiraAuth, JiraClient};
use kradle_sync_core::conflict::ConflictReason;
use kradle_sync_core::object::IssueState;
use kradle_sync_core::{
    Error, ExternalTarget, IssuePatch, IssueTracking, NativeId, PageRequest, Provider, RetryPolicy,
};
use kradle_test_support::recorded::{query_of, received, received_of};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The API token of these tests. It must never show in output.
const TOKEN: &str = "ATATT3xFfGF0kradleAdapterTestToken0123456789SECRET";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn clock() -> ManualClock {
    ManualClock::new(at("2023-04-21T12:39:34Z"))
}

fn client(server: &MockServer, clock: &ManualClock, flavor: Flavor) -> JiraClient {
    JiraClient::builder(reqwest::Client::new(), server.uri())
        .flavor(flavor)
        .auth(JiraAuth::basic("mia@example.com", TOKEN))
        .org("your-domain.atlassian.net")
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .jitter(Jitter::Fixed(1.0))
        .timeout(Duration::from_secs(5))
        .retry(RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        })
        .build()
        .unwrap()
}

fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/json;charset=UTF-8")
        .set_body_json(body)
}

fn cloud_target() -> ExternalTarget {
    ExternalTarget::from_path("your-domain.atlassian.net/EX")
}

fn body_of(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// Derived: the issues of the documented classic search response
/// (`openapi-searchForIssuesUsingJql.200.json`) as pages of the enhanced search
/// (`POST /rest/api/3/search/jql`), whose documented shape is `issues`, `nextPageToken`
/// (absent on the last page) and `isLast`.
fn jql_page(token: Option<&str>) -> Value {
    let classic = fixture_json("rest/search/openapi-searchForIssuesUsingJql.200.json");
    let mut page = json!({ "issues": classic["issues"], "isLast": token.is_none() });
    if let Some(token) = token {
        page["nextPageToken"] = json!(token);
    }
    page
}

#[tokio::test]
async fn cloud_search_follows_next_page_tokens_newest_change_first() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .and(body_partial_json(json!({ "nextPageToken": "CAEaAggD" })))
        .respond_with(json_response(200, jql_page(None)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(json_response(200, jql_page(Some("CAEaAggD"))))
        .mount(&server)
        .await;
    let jira = client(&server, &clock(), Flavor::Cloud).for_backfill();
    let first = jira
        .list_issues(&cloud_target(), None, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.next.as_deref(), Some("CAEaAggD"));
    let issue = &first.items[0];
    assert_eq!(issue.native_id.as_str(), "10002");
    assert_eq!(issue.object.number, 1);
    assert_eq!(issue.object.body.as_deref(), Some("Main order flow broken"));
    let second = jira
        .list_issues(&cloud_target(), None, &PageRequest::after("CAEaAggD", 100))
        .await
        .unwrap();
    assert_eq!(second.next, None);
    // Two pages, two requests: fields come with the search, never per issue.
    let posts = received(&server).await;
    assert_eq!(posts.len(), 2);
    let body = body_of(&posts[0]);
    assert_eq!(body["jql"], "project = \"EX\" ORDER BY updated DESC");
    assert_eq!(body["maxResults"], 100);
    assert!(body["fields"].as_array().unwrap().contains(&json!("*all")));
    assert_eq!(body_of(&posts[1])["nextPageToken"], "CAEaAggD");
    assert!(
        posts[0]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Basic ")
    );
}

#[tokio::test]
async fn a_filtered_search_writes_the_watermark_in_the_sites_offset() {
    let server = MockServer::start().await;
    // The documented /serverInfo: serverTime in +0000.
    Mock::given(method("GET"))
        .and(path("/rest/api/3/serverInfo"))
        .respond_with(json_response(
            200,
            fixture_json("rest/meta/openapi-getServerInfo.200.json"),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(json_response(200, jql_page(None)))
        .mount(&server)
        .await;
    let jira = client(&server, &clock(), Flavor::Cloud);
    for _ in 0..2 {
        jira.list_issues(
            &cloud_target(),
            Some(at("2023-04-21T12:39:34.114Z")),
            &PageRequest::first(50),
        )
        .await
        .unwrap();
    }
    let posts = received_of(&server, "POST").await;
    assert_eq!(
        body_of(&posts[0])["jql"],
        "project = \"EX\" AND updated >= \"2023/04/21 12:39\" ORDER BY updated DESC"
    );
}

#[tokio::test]
async fn data_center_search_pages_by_start_at() {
    let server = MockServer::start().await;
    // jira-ruby's recorded search (11 issues, total 11, one page), then its empty page.
    Mock::given(method("GET"))
        .and(path("/rest/api/2/search"))
        .and(query_param("startAt", "0"))
        .respond_with(json_response(
            200,
            fixture_json("rest/search/jira-ruby-issue.json"),
        ))
        .mount(&server)
        .await;
    let jira = client(&server, &clock(), Flavor::DataCenter);
    let target = ExternalTarget::from_path("localhost:2990/SAMPLEPROJECT");
    let page = jira
        .list_issues(&target, None, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 11);
    assert_eq!(page.next, None);
    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(
        query_of(&requests[0], "jql").as_deref(),
        Some("project = \"SAMPLEPROJECT\" ORDER BY updated DESC")
    );
    assert_eq!(query_of(&requests[0], "maxResults").as_deref(), Some("100"));
    // Users by name on Data Center.
    assert!(page.items.iter().any(|i| i.object.assignees == ["admin"]));
    // What the issue struct cannot hold travels beside it, so a backfill keeps it.
    for issue in &page.items {
        for field in ["key", "status", "issue_type", "priority"] {
            assert!(
                issue.extra.contains_key(field),
                "{} lacks {field}: {:?}",
                issue.native_id.as_str(),
                issue.extra.keys().collect::<Vec<_>>()
            );
        }
        assert!(
            !issue.extra.contains_key("title"),
            "never the struct's own fields"
        );
    }
}

#[tokio::test]
async fn rate_limits_wait_as_jira_says_and_fill_the_budget() {
    let server = MockServer::start().await;
    // Derived: the headers Jira Cloud documents for a 429 (rate-limiting page:
    // `Retry-After` in seconds, `X-RateLimit-Reset` as `yyyy-MM-ddTHH:mmZ`, the request
    // time plus the wait, and `RateLimit-Reason`) on Jira's error body shape.
    Mock::given(method("GET"))
        .and(path("/rest/api/3/project/EX/versions"))
        .respond_with(
            json_response(
                429,
                json!({"errorMessages": ["Rate limit exceeded."], "errors": {}}),
            )
            .insert_header("Retry-After", "30")
            .insert_header("X-RateLimit-Reset", "2023-04-21T12:40Z")
            .insert_header("RateLimit-Reason", "jira-quota-based"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/project/EX/versions"))
        .respond_with(
            json_response(200, json!([]))
                .insert_header("X-RateLimit-Limit", "350")
                .insert_header("X-RateLimit-Remaining", "349"),
        )
        .mount(&server)
        .await;
    let clock = clock();
    let jira = client(&server, &clock, Flavor::Cloud);
    let page = jira
        .list_milestones(&cloud_target(), &PageRequest::first(100))
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(30)]);
    let status = jira.rate_limit().unwrap();
    assert_eq!(status.remaining, Some(349));
}

fn issue_with_meta(status_to_done: bool) -> Value {
    // Derived: the documented Cloud issue (ADF description) with the issue's edit screen
    // (the documented editmeta, plus the standard fields its screen offers) and its
    // transitions, as `GET /issue/{key}?expand=editmeta,transitions` returns them.
    let mut issue = fixture_json("rest/issues/openapi-getIssue.200.json");
    let mut editmeta = fixture_json("rest/issues/openapi-getEditIssueMeta.200.json");
    for field in ["description", "labels", "fixVersions"] {
        editmeta["fields"][field] = editmeta["fields"]["summary"].clone();
    }
    issue["editmeta"] = editmeta;
    // The status of a real Cloud delivery (To Do, category `new`).
    issue["fields"]["status"] =
        fixture_json("webhooks/jira_issue_updated/mattermost-issue-updated-assigned.json")["issue"]
            ["fields"]["status"]
            .clone();
    let mut transitions = fixture_json("rest/transitions/openapi-getTransitions.200.json");
    if status_to_done {
        // The "Closed" status (category `done`) of a real Data Center delivery as the second
        // transition's target.
        transitions["transitions"][1]["to"] =
            fixture_json("webhooks/jira_issue_updated/mattermost-server-issue-updated-closed.json")
                ["issue"]["fields"]["status"]
                .clone();
    }
    issue["transitions"] = transitions["transitions"].clone();
    issue
}

async fn mount_issue(server: &MockServer, issue: Value) {
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/EX-1"))
        .respond_with(json_response(200, issue))
        .mount(server)
        .await;
}

#[tokio::test]
async fn an_update_edits_the_screen_fields_and_transitions_to_the_wanted_state() {
    let server = MockServer::start().await;
    mount_issue(&server, issue_with_meta(true)).await;
    Mock::given(method("PUT"))
        .and(path("/rest/api/3/issue/EX-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/EX-1/transitions"))
        .and(body_partial_json(json!({"transition": {"id": "711"}})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let jira = client(&server, &clock(), Flavor::Cloud);
    let mut patch = IssuePatch::default();
    patch.title = Some("Main order flow broken again".into());
    patch.body = Some("Main order flow **broken**".into());
    patch.labels = Some(vec!["bug".into()]);
    patch.state = Some("closed".into());
    let observed = jira.update_issue(&cloud_target(), 1, &patch).await.unwrap();
    assert_eq!(observed.native_id.as_str(), "10002");
    let put = received_of(&server, "PUT").await;
    let sent = body_of(&put[0]);
    assert_eq!(sent["fields"]["summary"], "Main order flow broken again");
    assert_eq!(sent["fields"]["labels"], json!(["bug"]));
    // Cloud gets ADF.
    assert_eq!(sent["fields"]["description"]["type"], "doc");
    assert_eq!(
        sent["fields"]["description"]["content"][0]["content"][1]["marks"][0]["type"],
        "strong"
    );
    // The issue is read once with its screen and transitions, once after the writes.
    let gets = received_of(&server, "GET").await;
    assert_eq!(gets.len(), 2);
    assert_eq!(
        query_of(&gets[0], "expand").as_deref(),
        Some("editmeta,transitions,transitions.fields")
    );
}

#[tokio::test]
async fn an_unchanged_body_is_not_written() {
    let server = MockServer::start().await;
    mount_issue(&server, issue_with_meta(true)).await;
    let jira = client(&server, &clock(), Flavor::Cloud);
    let mut patch = IssuePatch::default();
    patch.body = Some("Main order flow broken".into());
    jira.update_issue(&cloud_target(), 1, &patch).await.unwrap();
    assert!(received_of(&server, "PUT").await.is_empty());
}

#[tokio::test]
async fn a_state_no_transition_reaches_is_a_no_transition_conflict() {
    let server = MockServer::start().await;
    // The documented transitions lead to `in-flight` and `completed`: none is `done`.
    mount_issue(&server, issue_with_meta(false)).await;
    let jira = client(&server, &clock(), Flavor::Cloud);
    let mut patch = IssuePatch::default();
    patch.title = Some("never sent".into());
    patch.state = Some("closed".into());
    match jira.update_issue(&cloud_target(), 1, &patch).await {
        Err(Error::WriteConflict {
            reason: ConflictReason::NoTransition,
            message,
            external,
            ..
        }) => {
            assert!(message.contains("status `To Do`"), "{message}");
            assert!(message.contains("`QA Review` → `Closed`"), "{message}");
            assert_eq!(external["state"], "open");
        }
        other => panic!("{other:?}"),
    }
    // Nothing was written: the conflict is decided before any write.
    assert!(received_of(&server, "PUT").await.is_empty());
    assert!(received_of(&server, "POST").await.is_empty());
}

#[tokio::test]
async fn an_edit_that_would_drop_a_mention_is_a_lossy_format_conflict() {
    let server = MockServer::start().await;
    let mut issue = issue_with_meta(true);
    // Derived: the documented ADF description with the mention node of the documented
    // `markup` example (an ADF mention), which Markdown cannot hold.
    issue["fields"]["description"]["content"][0]["content"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "mention", "attrs": {"id": "5b10a2844c20165700ede21g", "text": "@Mia Krystof"}}));
    let original = issue["fields"]["description"].clone();
    mount_issue(&server, issue).await;
    let jira = client(&server, &clock(), Flavor::Cloud);
    let mut patch = IssuePatch::default();
    patch.body = Some("Main order flow fixed @Mia Krystof".into());
    match jira.update_issue(&cloud_target(), 1, &patch).await {
        Err(Error::WriteConflict {
            reason: ConflictReason::LossyFormat,
            message,
            external,
            ..
        }) => {
            assert!(message.contains("mention"), "{message}");
            assert_eq!(external["body"], original);
        }
        other => panic!("{other:?}"),
    }
    assert!(received_of(&server, "PUT").await.is_empty());
}

#[tokio::test]
async fn a_field_off_the_edit_screen_is_refused_before_sending() {
    let server = MockServer::start().await;
    let mut issue = issue_with_meta(true);
    issue["editmeta"]["fields"]
        .as_object_mut()
        .unwrap()
        .remove("labels");
    mount_issue(&server, issue).await;
    let jira = client(&server, &clock(), Flavor::Cloud);
    let mut patch = IssuePatch::default();
    patch.labels = Some(vec!["bug".into()]);
    match jira.update_issue(&cloud_target(), 1, &patch).await {
        Err(Error::Precondition { message, .. }) => {
            assert!(
                message.contains("edit screen does not offer `labels`"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(received_of(&server, "PUT").await.is_empty());
}

#[tokio::test]
async fn jira_refusing_a_field_is_a_typed_refusal_not_a_retry() {
    let server = MockServer::start().await;
    mount_issue(&server, issue_with_meta(true)).await;
    // jira-ruby's recorded 400 for a field Jira refuses.
    Mock::given(method("PUT"))
        .and(path("/rest/api/3/issue/EX-1"))
        .respond_with(json_response(
            400,
            fixture_json("rest/errors/jira-ruby-issue_10002.invalid.put.json"),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let jira = client(&server, &clock(), Flavor::Cloud);
    let mut patch = IssuePatch::default();
    patch.title = Some("x".into());
    match jira.update_issue(&cloud_target(), 1, &patch).await {
        Err(Error::Precondition { message, .. }) => {
            assert!(
                message.contains("Field 'invalid' is not valid"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn not_found_reads_fail_and_deletes_of_gone_comments_succeed() {
    let server = MockServer::start().await;
    // The documented 404 body.
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/TEST-404"))
        .respond_with(json_response(
            404,
            fixture_json("rest/errors/openapi-updateCustomField.404.json"),
        ))
        .mount(&server)
        .await;
    let jira = client(&server, &clock(), Flavor::DataCenter);
    let target = ExternalTarget::from_path("localhost:2990/TEST");
    match jira.get_issue(&target, 404).await {
        Err(Error::Provider {
            retryable: false,
            message,
            ..
        }) => assert!(message.contains("not found"), "{message}"),
        other => panic!("{other:?}"),
    }
    // Cloud finds a comment by id; a comment no longer there is deleted already.
    let cloud = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/comment/list"))
        .respond_with(json_response(
            200,
            json!({"maxResults": 1, "startAt": 0, "total": 0, "isLast": true, "values": []}),
        ))
        .mount(&cloud)
        .await;
    let jira = client(&cloud, &clock(), Flavor::Cloud);
    jira.delete_comment(&cloud_target(), &NativeId::new("10000"))
        .await
        .unwrap();
}

#[tokio::test]
async fn comments_are_listed_per_issue_and_updated_through_their_issue() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/EX-1/comment"))
        .respond_with(json_response(
            200,
            fixture_json("rest/comments/openapi-getComments.200.json"),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/comment/list"))
        .respond_with(json_response(
            200,
            fixture_json("rest/comments/openapi-getCommentsByIds.200.json"),
        ))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/rest/api/3/issue/10010/comment/10000"))
        .respond_with(json_response(
            200,
            fixture_json("rest/comments/openapi-addComment.201.json"),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let jira = client(&server, &clock(), Flavor::Cloud);
    let page = jira
        .list_comments(&cloud_target(), 1, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].object.issue_number, Some(1));
    assert_eq!(
        page.items[0].object.issue_native_id.as_deref(),
        Some("10010")
    );
    let updated = jira
        .update_comment(
            &cloud_target(),
            &NativeId::new("10000"),
            "Lorem ipsum, edited.",
        )
        .await
        .unwrap();
    assert_eq!(updated.native_id.as_str(), "10000");
    let put = received_of(&server, "PUT").await;
    assert_eq!(body_of(&put[0])["body"]["type"], "doc");
}

#[tokio::test]
async fn a_create_stores_its_intent_and_is_adopted_after_an_unknown_outcome() {
    let server = MockServer::start().await;
    // The create times out (a 502 after sending: the outcome is unknown)...
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(json_response(
            502,
            json!({"errorMessages": ["Bad gateway"]}),
        ))
        .mount(&server)
        .await;
    // ...and the property search finds the issue the first attempt created (derived: the
    // documented search page's issue with the intent property Jira returns when asked for
    // `properties`).
    let mut page = jql_page(None);
    page["issues"][0]["properties"] = json!({"kradle.intent": {"key": "intent-1"}});
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(json_response(200, page))
        .mount(&server)
        .await;
    let jira = client(&server, &clock(), Flavor::Cloud);
    let mut patch = IssuePatch::default();
    patch.title = Some("Main order flow broken".into());
    patch.body = Some("Main order flow broken".into());
    let adopted = jira
        .create_issue(&cloud_target(), &patch, "intent-1")
        .await
        .unwrap();
    assert_eq!(adopted.native_id.as_str(), "10002");
    assert_eq!(adopted.object.state, IssueState::Open);
    let posts = received_of(&server, "POST").await;
    // One create, never repeated; then the lookup.
    let creates: Vec<_> = posts
        .iter()
        .filter(|r| r.url.path() == "/rest/api/3/issue")
        .collect();
    assert_eq!(creates.len(), 1);
    let create = body_of(creates[0]);
    assert_eq!(
        create["properties"],
        json!([{"key": "kradle.intent", "value": {"key": "intent-1"}}])
    );
    assert_eq!(create["fields"]["project"]["key"], "EX");
    assert_eq!(create["fields"]["issuetype"]["name"], "Task");
    let lookup = posts
        .iter()
        .find(|r| r.url.path().ends_with("/search/jql"))
        .unwrap();
    assert_eq!(
        body_of(lookup)["jql"],
        "project = \"EX\" AND issue.property[kradle.intent].key = \"intent-1\""
    );
}

#[tokio::test]
async fn a_create_reads_the_created_issue_back() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(json_response(
            201,
            fixture_json("rest/issues/openapi-createIssue.201.json"),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/ED-24"))
        .respond_with(json_response(
            200,
            fixture_json("rest/issues/openapi-getIssue.200.json"),
        ))
        .mount(&server)
        .await;
    let jira = client(&server, &clock(), Flavor::Cloud);
    let mut patch = IssuePatch::default();
    patch.title = Some("t".into());
    let created = jira
        .create_issue(&cloud_target(), &patch, "k")
        .await
        .unwrap();
    assert_eq!(created.native_id.as_str(), "10002");
    // A missing summary is refused before any request.
    let err = jira
        .create_issue(&cloud_target(), &IssuePatch::default(), "k")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Validation {
            rule: "issue-needs-title",
            ..
        }
    ));
    // Jira's documented 400 for a required field is a refusal.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(json_response(
            400,
            fixture_json("rest/issues/openapi-createIssue.400.json"),
        ))
        .mount(&server)
        .await;
    let jira = client(&server, &clock(), Flavor::Cloud);
    match jira.create_issue(&cloud_target(), &patch, "k").await {
        Err(Error::Precondition { message, .. }) => {
            assert!(
                message.contains("Field 'priority' is required"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn health_reads_myself_and_bad_targets_are_refused_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .respond_with(json_response(
            200,
            fixture_json("rest/users/openapi-getCurrentUser.200.json"),
        ))
        .mount(&server)
        .await;
    let jira = client(&server, &clock(), Flavor::Cloud);
    assert!(jira.health().await.unwrap().auth_ready);
    assert!(jira.cicd().is_none() && jira.git_forge().is_none());
    for bad in ["EX", "your-domain.atlassian.net/ex", "a/b/C"] {
        let err = jira
            .list_issues(
                &ExternalTarget::from_path(bad),
                None,
                &PageRequest::first(1),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{bad}: {err}");
    }
    assert_eq!(received(&server).await.len(), 1);
    // Jira has no project-wide comment listing: the backfill reads issue by issue.
    assert!(matches!(
        jira.list_all_comments(&cloud_target(), None, &PageRequest::first(1))
            .await,
        Err(Error::Unsupported { .. })
    ));
}

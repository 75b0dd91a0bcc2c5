//! Pagination over every scheme: GitHub `Link` (five recorded pages), GitLab `x-next-page`
//! and keyset `Link`, Jira `nextPageToken` and `startAt`.

use futures::StreamExt;
use kradle_http::{
    ApiClient, ApiRequest, HttpError, LinkPagination, OffsetPagination, PageNumberPagination,
    ParamsIn, Priority, TokenPagination,
};
use kradle_sync_core::PageRequest;
use kradle_test_support::recorded::{Exchange, received};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{self, at, fixture};

/// Mounts the five recorded pages of `paginate-issues`, each expected once, under
/// `prefix` (GitHub Enterprise serves the API under `/api/v3`).
async fn mount_issue_pages(server: &MockServer, prefix: &str) -> Vec<Exchange> {
    let pages = common::session("paginate-issues");
    assert_eq!(pages.len(), 5);
    for (i, page) in pages.iter().enumerate() {
        page.given(prefix, &["page"])
            .and(query_param("per_page", "3"))
            .respond_with(page.respond_under(server, prefix))
            .expect(1)
            .named(format!("issues page {}", i + 1))
            .mount(server)
            .await;
    }
    pages
}

fn numbers(items: &[Value]) -> Vec<u64> {
    items.iter().filter_map(|i| i["number"].as_u64()).collect()
}

#[tokio::test]
async fn github_link_pagination_walks_the_five_recorded_pages() {
    let server = MockServer::start().await;
    let clock = common::clock();
    mount_issue_pages(&server, "").await;
    let client = common::client(&server, &clock);

    let all = client
        .fetch_all(
            ApiRequest::get("/repos/octokit-fixture-org/paginate-issues/issues")
                .priority(Priority::Backfill),
            &LinkPagination::new(),
            3,
        )
        .await
        .unwrap();

    assert_eq!(numbers(&all.items), (1..=13).rev().collect::<Vec<u64>>());
    assert!(!all.not_modified);
    assert_eq!(
        received(&server).await.len(),
        5,
        "13 issues, 3 a page: 5 requests"
    );
    // Every response updated the budget from its real headers.
    let budget = client.budget().unwrap();
    assert_eq!(budget.limit, Some(5000));
    assert_eq!(budget.remaining, Some(4999));
    assert_eq!(budget.reset_at, Some(at("2017-10-10T16:00:00Z")));
    assert_eq!(budget.resource, "core");
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn github_enterprise_base_path_is_kept_for_requests_and_links() {
    let server = MockServer::start().await;
    let clock = common::clock();
    mount_issue_pages(&server, "/api/v3").await;
    let client = ApiClient::builder(
        reqwest::Client::new(),
        "github",
        format!("{}/api/v3", server.uri()),
    )
    .scope(common::scope())
    .clock(std::sync::Arc::new(clock.clone()))
    .build()
    .unwrap();
    let all = client
        .fetch_all(
            ApiRequest::get("repos/octokit-fixture-org/paginate-issues/issues"),
            &LinkPagination::new(),
            3,
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 13);
    assert!(
        received(&server)
            .await
            .iter()
            .all(|r| r.url.path().starts_with("/api/v3/"))
    );
}

#[tokio::test]
async fn a_walk_resumes_from_a_stored_cursor() {
    let server = MockServer::start().await;
    let clock = common::clock();
    mount_issue_pages(&server, "").await;
    let client = common::client(&server, &clock);
    let request = ApiRequest::get("/repos/octokit-fixture-org/paginate-issues/issues");
    let pagination = LinkPagination::new();

    // A backfill that stops after two pages, keeping the cursor as its checkpoint.
    let mut checkpoint = None;
    let mut seen = Vec::new();
    {
        let mut pages =
            std::pin::pin!(client.pages(request.clone(), &pagination, PageRequest::first(3)));
        for _ in 0..2 {
            let page = pages.next().await.unwrap().unwrap();
            seen.extend(numbers(&page.items));
            checkpoint = page.next;
        }
    }
    let checkpoint = checkpoint.unwrap();
    assert!(checkpoint.starts_with(&server.uri()), "{checkpoint}");
    assert!(checkpoint.ends_with("page=3"), "{checkpoint}");

    // Resumed later: no page is read twice.
    let rest: Vec<_> = client
        .pages(request, &pagination, {
            let mut v = PageRequest::default();
            v.cursor = Some(checkpoint);
            v.per_page = 3;
            v
        })
        .collect()
        .await;
    for page in rest {
        seen.extend(numbers(&page.unwrap().items));
    }
    assert_eq!(seen, (1..=13).rev().collect::<Vec<u64>>());
    assert_eq!(received(&server).await.len(), 5);
}

#[tokio::test]
async fn a_link_to_another_host_is_refused() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let first = common::session("paginate-issues").remove(0);
    // As recorded: the next link points at https://api.github.com, not at this binding.
    Mock::given(method("GET"))
        .respond_with(first.respond_verbatim())
        .expect(1)
        .mount(&server)
        .await;
    let client = common::client(&server, &clock);
    let err = client
        .fetch_all(
            ApiRequest::get("/repos/octokit-fixture-org/paginate-issues/issues"),
            &LinkPagination::new(),
            3,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::ForeignUrl { ref url, .. } if url.starts_with("https://api.github.com/")),
        "{err}"
    );
}

#[tokio::test]
async fn a_cursor_that_comes_back_stops_the_walk() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let page = common::session("paginate-issues").remove(1);
    // Page 2 recorded, its next link bent back to itself.
    let looping = page.clone().with_header(
        "link",
        "<https://api.github.com/repositories/1000/issues?per_page=3&page=2>; rel=\"next\"",
    );
    Mock::given(method("GET"))
        .respond_with(looping.respond(&server))
        .mount(&server)
        .await;
    let client = common::client(&server, &clock);
    let err = client
        .fetch_all(
            ApiRequest::get("/repositories/1000/issues"),
            &LinkPagination::new(),
            3,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::PaginationLoop { .. }), "{err}");
    assert_eq!(received(&server).await.len(), 2);
}

/// GitLab's documented pagination headers (`doc/api/rest/_index.md`), for page `n` of
/// `pages` with `per_page` items of `total`.
fn gitlab_page(
    server: &MockServer,
    items: &[Value],
    n: usize,
    pages: usize,
    total: usize,
) -> ResponseTemplate {
    let per_page = items.len().max(1);
    let link = |p: usize, rel: &str| {
        format!(
            "<{}/api/v4/projects/8/issues?page={p}&per_page={per_page}>; rel=\"{rel}\"",
            server.uri()
        )
    };
    let mut links = Vec::new();
    if n > 1 {
        links.push(link(n - 1, "prev"));
    }
    if n < pages {
        links.push(link(n + 1, "next"));
    }
    links.push(link(1, "first"));
    links.push(link(pages, "last"));
    let opt = |p: usize| {
        if p >= 1 && p <= pages {
            p.to_string()
        } else {
            String::new()
        }
    };
    ResponseTemplate::new(200)
        .insert_header("cache-control", "no-cache")
        .insert_header("content-type", "application/json")
        .insert_header("link", links.join(", ").as_str())
        .insert_header("vary", "Origin")
        .insert_header("x-next-page", opt(n + 1).as_str())
        .insert_header("x-page", n.to_string().as_str())
        .insert_header("x-per-page", per_page.to_string().as_str())
        .insert_header("x-prev-page", opt(n.wrapping_sub(1)).as_str())
        .insert_header("x-request-id", "732ad4ee-9870-4866-a199-a9db0cde3c86")
        .insert_header("x-runtime", "0.108688")
        .insert_header("x-total", total.to_string().as_str())
        .insert_header("x-total-pages", pages.to_string().as_str())
        .set_body_json(Value::Array(items.to_vec()))
}

fn gitlab_client(server: &MockServer) -> ApiClient {
    ApiClient::builder(
        reqwest::Client::new(),
        "gitlab",
        format!("{}/api/v4", server.uri()),
    )
    .credentials(std::sync::Arc::new(kradle_http::StaticToken::bearer(
        common::TOKEN,
    )))
    .build()
    .unwrap()
}

#[tokio::test]
async fn gitlab_x_next_page() {
    let server = MockServer::start().await;
    let issues = fixture("gitlab/narkoz-issues.json");
    let issues = issues.as_array().unwrap();
    assert_eq!(issues.len(), 6);
    for (i, chunk) in issues.chunks(2).enumerate() {
        let n = i + 1;
        let m = Mock::given(method("GET"))
            .and(path("/api/v4/projects/8/issues"))
            .and(query_param("per_page", "2"));
        let m = if n == 1 {
            m.and(query_param_is_missing("page"))
        } else {
            m.and(query_param("page", n.to_string()))
        };
        m.respond_with(gitlab_page(&server, chunk, n, 3, 6))
            .expect(1)
            .mount(&server)
            .await;
    }
    let all = gitlab_client(&server)
        .fetch_all(
            ApiRequest::get("/projects/8/issues").query("state", "all"),
            &PageNumberPagination::new(),
            2,
        )
        .await
        .unwrap();
    let ids: Vec<u64> = all.items.iter().filter_map(|i| i["id"].as_u64()).collect();
    assert_eq!(ids, [1, 6, 12, 21, 26, 32]);
    let got = received(&server).await;
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|r| r.url.query().is_some_and(|q| q.contains("state=all")))
    );
}

#[tokio::test]
async fn gitlab_keyset_follows_the_link_with_id_after() {
    let server = MockServer::start().await;
    let projects = fixture("gitlab/narkoz-projects.json");
    let projects = projects.as_array().unwrap();
    let next = format!(
        "<{}/api/v4/projects?pagination=keyset&per_page=2&order_by=id&sort=asc&id_after=2>; rel=\"next\"",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/api/v4/projects"))
        .and(query_param("pagination", "keyset"))
        .and(query_param_is_missing("id_after"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", next.as_str())
                .set_body_json(Value::Array(projects[..2].to_vec())),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects"))
        .and(query_param("id_after", "2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(Value::Array(projects[2..].to_vec())),
        )
        .expect(1)
        .mount(&server)
        .await;
    let all = gitlab_client(&server)
        .fetch_all(
            ApiRequest::get("/projects")
                .query("pagination", "keyset")
                .query("order_by", "id")
                .query("sort", "asc"),
            &LinkPagination::new(),
            2,
        )
        .await
        .unwrap();
    let ids: Vec<u64> = all.items.iter().filter_map(|i| i["id"].as_u64()).collect();
    assert_eq!(ids, [1, 2, 3]);
}

/// Jira's `/rest/api/3/search/jql` page: the real issue bodies of the v3 description,
/// wrapped in the documented `issues` / `nextPageToken` / `isLast` envelope. The last
/// page omits `nextPageToken`, as Jira Cloud does (JRACLOUD-92184).
fn jira_token_pages() -> (Value, Value) {
    let search = fixture("jira/search-get.json");
    let issue = fixture("jira/issue-get.json");
    let first = json!({
        "issues": search["issues"].clone(),
        "nextPageToken": "CAEaAggD",
        "isLast": false,
    });
    let last = json!({ "issues": [issue], "isLast": true });
    (first, last)
}

fn jira_client(server: &MockServer) -> ApiClient {
    ApiClient::builder(reqwest::Client::new(), "jira", server.uri())
        .credentials(std::sync::Arc::new(kradle_http::StaticToken::header_value(
            format!("Basic {}", common::TOKEN),
        )))
        .build()
        .unwrap()
}

#[tokio::test]
async fn jira_next_page_token_in_the_query() {
    let server = MockServer::start().await;
    let (first, last) = jira_token_pages();
    Mock::given(method("GET"))
        .and(path("/rest/api/3/search/jql"))
        .and(query_param("maxResults", "1"))
        .and(query_param_is_missing("nextPageToken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/search/jql"))
        .and(query_param("nextPageToken", "CAEaAggD"))
        .respond_with(ResponseTemplate::new(200).set_body_json(last))
        .expect(1)
        .mount(&server)
        .await;
    let all = jira_client(&server)
        .fetch_all(
            ApiRequest::get("/rest/api/3/search/jql").query("jql", "project = ED"),
            &TokenPagination::new(),
            1,
        )
        .await
        .unwrap();
    let keys: Vec<&str> = all.items.iter().filter_map(|i| i["key"].as_str()).collect();
    assert_eq!(keys, ["ED-1", "ED-1"]);
    // The second page carries the issue-get body (no `expand` key), in order.
    assert!(all.items[0].get("expand").is_some() && all.items[1].get("expand").is_none());
}

#[tokio::test]
async fn jira_next_page_token_in_a_post_body() {
    let server = MockServer::start().await;
    let (first, last) = jira_token_pages();
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .and(body_partial_json(
            json!({ "jql": "project = ED", "maxResults": 1 }),
        ))
        .and(|r: &wiremock::Request| {
            r.body_json::<Value>()
                .is_ok_and(|b| b.get("nextPageToken").is_none())
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .and(body_partial_json(
            json!({ "jql": "project = ED", "nextPageToken": "CAEaAggD" }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(last))
        .expect(1)
        .mount(&server)
        .await;
    let all = jira_client(&server)
        .fetch_all(
            ApiRequest::post("/rest/api/3/search/jql")
                .json(json!({ "jql": "project = ED" }))
                .idempotent(true)
                .priority(Priority::Backfill),
            &TokenPagination::new().params_in(ParamsIn::Body),
            1,
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
}

#[tokio::test]
async fn jira_start_at_max_results_total() {
    let server = MockServer::start().await;
    let search = fixture("jira/search-get.json");
    let issue = fixture("jira/issue-get.json");
    // The recorded classic search body with its counters set for two pages of one.
    let mut first = search.clone();
    first["maxResults"] = json!(1);
    first["total"] = json!(2);
    let mut second = first.clone();
    second["startAt"] = json!(1);
    second["issues"] = json!([issue]);
    Mock::given(method("GET"))
        .and(path("/rest/api/3/search"))
        .and(query_param("startAt", "0"))
        .and(query_param("maxResults", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/search"))
        .and(query_param("startAt", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(second))
        .expect(1)
        .mount(&server)
        .await;
    let all = jira_client(&server)
        .fetch_all(
            ApiRequest::get("/rest/api/3/search"),
            &OffsetPagination::new(),
            1,
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
}

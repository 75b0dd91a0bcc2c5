//! Reads: Link pagination at `per_page=100` (N issues cost ⌈N/100⌉ requests and none per
//! item), conditional re-reads answered `304` from the ETag cache at no budget, and the
//! surface of the three interfaces against real responses.

use std::sync::Arc;

use kradle_store_memory::MemoryStore;
use kradle_sync_core::object::Pipeline;
use kradle_sync_core::{Cicd, GitForge, IssueTracking, NativeId, PageRequest, Provider};
use kradle_test_support::recorded::{Exchange, query_of, received};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request};

use crate::common::{self, at, target};

fn unconditional(r: &Request) -> bool {
    !r.headers.contains_key("if-none-match")
}

/// Serves one recorded page at its path (and `page` query), `times` times.
async fn mount_page(server: &MockServer, page: &Exchange, times: u64) {
    page.given("", &["page"])
        .respond_with(page.respond(server))
        .expect(times)
        .mount(server)
        .await;
}

/// Walks a listing to its end with `list`, returning every item.
async fn walk<T, F, Fut>(per_page: u32, mut list: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<kradle_sync_core::Page<T>, kradle_sync_core::Error>>,
{
    let mut page = PageRequest::first(per_page);
    let mut all = Vec::new();
    loop {
        let got = list(page.clone()).await.unwrap();
        all.extend(got.items);
        match got.next {
            Some(next) => page.cursor = Some(next),
            None => return all,
        }
    }
}

#[tokio::test]
async fn the_recorded_13_issues_in_pages_of_3_cost_5_requests() {
    let server = MockServer::start().await;
    let clock = common::clock();
    for page in common::session("paginate-issues") {
        mount_page(&server, &page, 1).await;
    }
    let github = common::client(&server, &clock).for_backfill();
    let since = at("2017-10-01T00:00:00Z");

    let issues = walk(3, |p| {
        let github = github.clone();
        async move {
            github
                .list_issues(&target("paginate-issues"), Some(since), &p)
                .await
        }
    })
    .await;

    assert_eq!(issues.len(), 13);
    let numbers: Vec<u64> = issues.iter().map(|i| i.object.number).collect();
    assert_eq!(numbers, (1..=13).rev().collect::<Vec<u64>>());
    assert!(issues.iter().all(|i| !i.object.pull_request));
    assert_eq!(issues[0].native_id.as_str(), "1000", "the REST id");
    let got = received(&server).await;
    assert_eq!(got.len(), 5, "⌈13/3⌉ list requests, none per item");
    let first = &got[0];
    assert_eq!(query_of(first, "state").as_deref(), Some("all"));
    assert_eq!(query_of(first, "sort").as_deref(), Some("updated"));
    assert_eq!(query_of(first, "direction").as_deref(), Some("desc"));
    assert_eq!(query_of(first, "per_page").as_deref(), Some("3"));
    // A `since` passed in is still sent.
    assert_eq!(
        query_of(first, "since").as_deref(),
        Some("2017-10-01T00:00:00Z")
    );
    assert_eq!(
        first.headers.get("authorization").unwrap(),
        &format!("Bearer {}", common::TOKEN)
    );
    assert_eq!(
        first.headers.get("x-github-api-version").unwrap(),
        "2022-11-28"
    );
    // Later pages follow the recorded `link` exactly.
    assert_eq!(got[4].url.path(), "/repositories/1000/issues");
    assert_eq!(query_of(&got[4], "page").as_deref(), Some("5"));
}

/// 250 issues in pages of 100: three list requests. The pages are derived from the
/// recorded session: its 13 real issues repeated with new ids and numbers, served with
/// page 2's recorded headers and a `link` of the recorded form for `per_page=100`.
#[tokio::test]
async fn n_issues_cost_ceil_n_over_100_requests() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let recorded = common::session("paginate-issues");
    let real: Vec<Value> = recorded
        .iter()
        .flat_map(|p| p.body.as_array().unwrap().clone())
        .collect();
    let issue = |n: u64| {
        let mut v = real[usize::try_from(n).unwrap() % real.len()].clone();
        v["id"] = json!(5000 + n);
        v["number"] = json!(n);
        v
    };
    let template = recorded[1].clone();
    let link = |page: u64| {
        let at = |n: u64| {
            format!("<https://api.github.com/repositories/1000/issues?per_page=100&page={n}>")
        };
        let mut parts = Vec::new();
        if page > 1 {
            parts.push(format!("{}; rel=\"prev\"", at(page - 1)));
        }
        if page < 3 {
            parts.push(format!("{}; rel=\"next\"", at(page + 1)));
            parts.push(format!("{}; rel=\"last\"", at(3)));
        }
        parts.push(format!("{}; rel=\"first\"", at(1)));
        parts.join(", ")
    };
    for page in 1..=3u64 {
        let items: Vec<Value> = ((page - 1) * 100 + 1..=(page * 100).min(250))
            .map(issue)
            .collect();
        let served = template
            .clone()
            .with_status(200, Value::Array(items))
            .with_header("link", &link(page));
        let (m, times) = if page == 1 {
            let m = Mock::given(method("GET"))
                .and(path("/repos/octokit-fixture-org/paginate-issues/issues"))
                .and(query_param("per_page", "100"));
            (m, 2)
        } else {
            let m = Mock::given(method("GET"))
                .and(path("/repositories/1000/issues"))
                .and(query_param("page", page.to_string()));
            (m, 1)
        };
        m.respond_with(served.respond(&server))
            .expect(times)
            .mount(&server)
            .await;
    }
    let github = common::client(&server, &clock).for_backfill();

    let issues = walk(100, |p| {
        let github = github.clone();
        async move {
            github
                .list_issues(&target("paginate-issues"), None, &p)
                .await
        }
    })
    .await;

    assert_eq!(issues.len(), 250);
    assert_eq!(received(&server).await.len(), 3, "⌈250/100⌉");
    // A page size above GitHub's ceiling is capped at 100.
    let capped = github
        .list_issues(&target("paginate-issues"), None, &PageRequest::first(500))
        .await
        .unwrap();
    assert_eq!(capped.items.len(), 100);
    let last = received(&server).await.pop().unwrap();
    assert_eq!(query_of(&last, "per_page").as_deref(), Some("100"));
}

#[tokio::test]
async fn etag_then_304_is_not_modified_from_the_cache_and_costs_no_budget() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let list = common::session("labels").remove(0);
    let etag = list.header("etag").unwrap().to_owned();
    Mock::given(method("GET"))
        .and(path(&list.path))
        .and(unconditional)
        .respond_with(list.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&list.path))
        .and(header("if-none-match", etag.as_str()))
        .respond_with(list.not_modified().respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let store = Arc::new(MemoryStore::new());
    let github = common::builder(&server, &clock)
        .cache(store)
        .build()
        .unwrap();
    let first_page = PageRequest::first(100);

    let first = github
        .list_labels(&target("labels"), &first_page)
        .await
        .unwrap();
    let budget = github.budget().unwrap();
    let second = github
        .list_labels(&target("labels"), &first_page)
        .await
        .unwrap();

    assert!(!first.not_modified);
    assert!(second.not_modified);
    assert_eq!(second.items, first.items);
    assert!(first.items.iter().any(|l| l.object.name == "bug"));
    let after = github.budget().unwrap();
    assert_eq!(after.remaining, budget.remaining, "a 304 spends nothing");
    assert_eq!(after.used, budget.used);
    let got = received(&server).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].headers.get("if-none-match").unwrap(), etag.as_str());
}

/// A backfill passes no `since`, so the first page of issues (and of the repository's
/// comments) is the same request on every pass: the second pass sends the cached ETag and
/// gets `304`, which spends nothing. The recorded first page (`GET …/issues?per_page=3`) is
/// served to the request with the listing's query (see DERIVED.md).
#[tokio::test]
async fn every_pass_asks_for_the_same_first_page_and_an_unchanged_one_is_free() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let recorded = common::session("paginate-issues").remove(0);
    let etag = recorded.header("etag").unwrap().to_owned();
    let comments = common::example(200, common::rest("issues/issue-comment-items.json"));
    let comments_etag = comments.header("etag").unwrap().to_owned();
    for (at, page, etag) in [
        (
            "/repos/octokit-fixture-org/paginate-issues/issues",
            &recorded,
            &etag,
        ),
        (
            "/repos/octokit-fixture-org/paginate-issues/issues/comments",
            &comments,
            &comments_etag,
        ),
    ] {
        let listing = || {
            Mock::given(method("GET"))
                .and(path(at))
                .and(query_param("sort", "updated"))
                .and(query_param("direction", "desc"))
                .and(query_param_is_missing("since"))
        };
        listing()
            .and(unconditional)
            .respond_with(page.respond(&server))
            .expect(1)
            .mount(&server)
            .await;
        listing()
            .and(header("if-none-match", etag.as_str()))
            .respond_with(page.not_modified().respond(&server))
            .expect(1)
            .mount(&server)
            .await;
    }
    let store = Arc::new(MemoryStore::new());
    let github = common::builder(&server, &clock)
        .cache(store)
        .build()
        .unwrap()
        .for_backfill();
    let repo = target("paginate-issues");
    let first = PageRequest::first(3);

    let issues = github.list_issues(&repo, None, &first).await.unwrap();
    let all = github.list_all_comments(&repo, None, &first).await.unwrap();
    let budget = github.budget().unwrap();
    let again = github.list_issues(&repo, None, &first).await.unwrap();
    let all_again = github.list_all_comments(&repo, None, &first).await.unwrap();

    assert!(!issues.not_modified && !all.not_modified);
    assert!(again.not_modified && all_again.not_modified);
    assert_eq!((again.items, again.next), (issues.items, issues.next));
    assert_eq!(all_again.items, all.items);
    let after = github.budget().unwrap();
    assert_eq!(
        (after.remaining, after.used),
        (budget.remaining, budget.used)
    );
    let got = received(&server).await;
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].url, got[2].url);
    assert_eq!(got[1].url, got[3].url);
    assert_eq!(query_of(&got[0], "state").as_deref(), Some("all"));
    assert_eq!(query_of(&got[1], "per_page").as_deref(), Some("3"));
}

#[tokio::test]
async fn pull_requests_in_the_issue_listing_keep_their_flag() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let recorded = common::session("paginate-issues").remove(4);
    let mut items = recorded.body.as_array().unwrap().clone();
    items.extend(
        common::rest("issues/issue-items.json")
            .as_array()
            .unwrap()
            .clone(),
    );
    Mock::given(method("GET"))
        .and(path("/repos/octokit-fixture-org/paginate-issues/issues"))
        .respond_with(
            recorded
                .with_status(200, Value::Array(items))
                .without_header("link")
                .respond(&server),
        )
        .mount(&server)
        .await;
    let github = common::client(&server, &clock);
    let page = github
        .list_issues(&target("paginate-issues"), None, &PageRequest::first(100))
        .await
        .unwrap();
    let flags: Vec<(u64, bool)> = page
        .items
        .iter()
        .map(|i| (i.object.number, i.object.pull_request))
        .collect();
    assert_eq!(flags, [(1, false), (1347, true)]);
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn the_three_interfaces_read_real_responses() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let repo = common::session("get-repository").remove(0);
    Mock::given(method("GET"))
        .and(path(&repo.path))
        .respond_with(repo.respond(&server))
        .mount(&server)
        .await;
    let refs = common::session("git-refs").remove(0);
    Mock::given(method("GET"))
        .and(path(&refs.path))
        .respond_with(refs.respond(&server))
        .mount(&server)
        .await;
    let unprotected = common::session("branch-protection").remove(0);
    Mock::given(method("GET"))
        .and(path(&unprotected.path))
        .respond_with(unprotected.respond(&server))
        .mount(&server)
        .await;
    let statuses = common::session("create-status").remove(2);
    Mock::given(method("GET"))
        .and(path(&statuses.path))
        .respond_with(statuses.respond(&server))
        .mount(&server)
        .await;
    let examples: [(&str, &str); 9] = [
        (
            "/repos/octokit-fixture-org/ci/actions/runs",
            "actions/workflow-run-paginated.json",
        ),
        (
            "/repos/octokit-fixture-org/ci/actions/runs/30433642",
            "actions/workflow-run.json",
        ),
        (
            "/repos/octokit-fixture-org/ci/actions/runs/30433642/jobs",
            "actions/job-paginated.json",
        ),
        (
            "/repos/octokit-fixture-org/ci/actions/runs/30433642/artifacts",
            "actions/artifact-paginated.json",
        ),
        (
            "/repos/octokit-fixture-org/ci/actions/runners",
            "actions/runner-paginated.json",
        ),
        (
            "/repos/octokit-fixture-org/ci/commits/d6fde92930d4715a2b49857d24b940956b26d2d3/check-runs",
            "checks/check-run-paginated.json",
        ),
        (
            "/repos/octokit-fixture-org/ci/commits/d6fde92930d4715a2b49857d24b940956b26d2d3/check-suites",
            "checks/check-suite-paginated.json",
        ),
        (
            "/repos/octokit-fixture-org/ci/pulls",
            "forge/pull-request-simple-items.json",
        ),
        ("/rate_limit", "meta/rate-limit-overview.json"),
    ];
    for (at_path, file) in examples {
        Mock::given(method("GET"))
            .and(path(at_path))
            .respond_with(common::example(200, common::rest(file)).respond(&server))
            .mount(&server)
            .await;
    }
    let github = common::client(&server, &clock);
    let first = PageRequest::first(100);
    let ci = target("ci");
    let sha = "d6fde92930d4715a2b49857d24b940956b26d2d3";

    let r = github.get_repository(&target("hello-world")).await.unwrap();
    assert_eq!(r.object.full_name, "octokit-fixture-org/hello-world");
    assert_eq!(
        r.version.etag.as_deref(),
        Some("\"00000000000000000000000000000000\"")
    );
    let refs = github.list_refs(&target("git-refs"), &first).await.unwrap();
    assert!(
        refs.items
            .iter()
            .any(|r| r.object.name == "refs/heads/main")
    );
    assert!(
        github
            .get_branch_protection(&target("branch-protection"), "main")
            .await
            .unwrap()
            .is_none()
    );
    let s = github
        .list_statuses(
            &target("create-status"),
            "0000000000000000000000000000000000000001",
            &first,
        )
        .await
        .unwrap();
    assert!(!s.items.is_empty());

    let runs = github.list_pipelines(&ci, &first).await.unwrap();
    assert_eq!(runs.items.len(), 1);
    let run: &Pipeline = &runs.items[0].object;
    assert_eq!(
        run.head_sha.as_deref(),
        Some("acb5820ced9479c074f688cc328bf03f341a511d")
    );
    let one = github
        .get_pipeline(&ci, &NativeId::new("30433642"))
        .await
        .unwrap();
    assert_eq!(one.native_id.as_str(), "30433642");
    let run_id = NativeId::new("30433642");
    assert_eq!(
        github
            .list_jobs(&ci, &run_id, &first)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        github
            .list_artifacts(&ci, &run_id, &first)
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    assert_eq!(
        github.list_runners(&ci, &first).await.unwrap().items.len(),
        2
    );
    assert_eq!(
        github
            .list_check_runs(&ci, sha, &first)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        github
            .list_check_suites(&ci, sha, &first)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let pulls = github.list_pull_requests(&ci, &first).await.unwrap();
    assert_eq!(pulls.items[0].object.number, 1347);
    assert_eq!(pulls.items[0].object.state, "open");

    // A log reference costs no request.
    let before = received(&server).await.len();
    let log = github
        .job_log(&ci, &NativeId::new("399444496"))
        .await
        .unwrap();
    assert_eq!(
        log.url,
        format!(
            "{}/repos/octokit-fixture-org/ci/actions/jobs/399444496/logs",
            server.uri()
        )
    );
    assert_eq!(received(&server).await.len(), before);

    let health = github.health().await.unwrap();
    assert!(health.auth_ready);
    assert_eq!(health.rate_limit_remaining, Some(4999));
    assert_eq!(health.rate_limit_reset, Some(at("2023-08-09T14:29:23Z")));
    assert!(
        github.issue_tracking().is_some()
            && github.cicd().is_some()
            && github.git_forge().is_some()
    );
}

/// GitHub Enterprise Server: the API under `/api/v3`, its `link`s too.
#[tokio::test]
async fn an_enterprise_base_url_keeps_its_api_prefix() {
    let server = MockServer::start().await;
    let clock = common::clock();
    for page in common::session("paginate-issues") {
        page.given("/api/v3", &["page"])
            .respond_with(page.respond_under(&server, "/api/v3"))
            .expect(1)
            .mount(&server)
            .await;
    }
    let github = common::builder(&server, &clock)
        .base_url(format!("{}/api/v3", server.uri()))
        .build()
        .unwrap();

    let issues = walk(3, |p| {
        let github = github.clone();
        async move {
            github
                .list_issues(&target("paginate-issues"), None, &p)
                .await
        }
    })
    .await;

    assert_eq!(issues.len(), 13);
    let got = received(&server).await;
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|r| r.url.path().starts_with("/api/v3/")));
}

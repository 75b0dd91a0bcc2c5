//! Reads: the documented queries, offset pagination through `Link` and through
//! `x-next-page` alone, keyset pagination, conditional reads answered `304`, both kinds of
//! credentials, and every listing of the three interfaces on real GitLab bodies.

use std::sync::Arc;

use kradle_provider_gitlab::GitlabAuth;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::{Cicd, GitForge, HttpCache, IssueTracking, NativeId, PageRequest, Provider};
use kradle_test_support::recorded::{query_of, received};
use serde_json::{Value, json};
use wiremock::matchers::{
    header, header_exists, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer};

use crate::common::{self, PROJECT, TOKEN, answer, get, items, offset_page, rest, target};

const ISSUES_QUERY: &str = "order_by=updated_at&sort=desc&scope=all&per_page=100";

/// The three issues of the REST fixtures that a project could hold at once: the moved
/// issue of go-gitlab and narkoz's two group issues.
fn issues() -> Vec<Value> {
    let mut all = vec![rest("issues/go-gitlab-issue_move.json")];
    all.extend(items("issues/narkoz-group_issues.json"));
    all
}

#[tokio::test]
async fn issues_are_read_newest_change_first_following_link_pages() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let all = issues();
    let path_ = format!("{PROJECT}/issues");
    let first = offset_page(get(&path_, json!(all[..2])), ISSUES_QUERY, 1, 2, 3);
    let second = offset_page(get(&path_, json!(all[2..])), ISSUES_QUERY, 2, 2, 3);
    Mock::given(method("GET"))
        .and(path(&path_))
        .and(query_param_is_missing("page"))
        .and(header("private-token", TOKEN))
        .respond_with(first.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&path_))
        .and(query_param("page", "2"))
        .respond_with(second.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);

    let page1 = gitlab
        .list_issues(&target(), None, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(page1.items.len(), 2);
    assert_eq!(page1.items[0].native_id.as_str(), "92");
    assert_eq!(page1.items[0].object.number, 11);
    let next = page1.next.clone().expect("a Link rel=next");
    let page2 = gitlab
        .list_issues(&target(), None, &PageRequest::after(next, 100))
        .await
        .unwrap();
    assert_eq!(page2.items.len(), 1);
    assert!(page2.next.is_none(), "the last page has no rel=next");

    let sent = received(&server).await;
    for (name, value) in [
        ("order_by", "updated_at"),
        ("sort", "desc"),
        ("scope", "all"),
        ("per_page", "100"),
    ] {
        assert_eq!(query_of(&sent[0], name).as_deref(), Some(value), "{name}");
    }
    assert!(
        sent[0].headers.get("authorization").is_none(),
        "an access token goes in PRIVATE-TOKEN only"
    );
}

#[tokio::test]
async fn a_response_without_link_continues_at_x_next_page() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let path_ = format!("{PROJECT}/merge_requests");
    let mrs = items("merge_requests/go-gitlab-get_merge_requests.json");
    let query = "state=all&order_by=updated_at&sort=desc&per_page=100";
    // Derived: the documented pagination headers without `link`, as a proxy that drops it
    // leaves them.
    let first = offset_page(get(&path_, json!(mrs[..2])), query, 1, 2, 3).without_header("link");
    let second = offset_page(get(&path_, json!(mrs[2..])), query, 2, 2, 3).without_header("link");
    Mock::given(method("GET"))
        .and(path(&path_))
        .and(query_param_is_missing("page"))
        .respond_with(first.respond(&server))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&path_))
        .and(query_param("page", "2"))
        .and(query_param("state", "all"))
        .and(query_param("per_page", "100"))
        .respond_with(second.respond(&server))
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);

    let page1 = gitlab
        .list_pull_requests(&target(), &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(page1.items.len(), 2);
    let page2 = gitlab
        .list_pull_requests(&target(), &PageRequest::after(page1.next.unwrap(), 100))
        .await
        .unwrap();
    assert_eq!(page2.items.len(), 1);
    assert!(
        page2.next.is_none(),
        "`x-next-page` is empty on the last page"
    );
    assert_eq!(page2.items[0].object.number, 15440);
}

#[tokio::test]
async fn keyset_pagination_follows_the_documented_link() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let path_ = format!("{PROJECT}/issues");
    let all = issues();
    // The documented keyset `Link`: the next page's URL with the keyset of the last item
    // served (GitLab encodes it in `cursor`); no `Link` on the last page.
    let first = get(&path_, json!(all[..2])).with_header(
        "link",
        &format!(
            "<{}{path_}?{ISSUES_QUERY}&pagination=keyset&cursor=eyJpZCI6IjQxIn0>; rel=\"next\"",
            common::ORIGIN
        ),
    );
    let last = get(&path_, json!(all[2..]));
    Mock::given(method("GET"))
        .and(path(&path_))
        .and(query_param("pagination", "keyset"))
        .and(query_param_is_missing("cursor"))
        .respond_with(first.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(&path_))
        .and(query_param("cursor", "eyJpZCI6IjQxIn0"))
        .respond_with(last.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let gitlab = common::builder(&server, &clock)
        .keyset_pagination(true)
        .build()
        .unwrap();

    let page1 = gitlab
        .list_issues(&target(), None, &PageRequest::first(100))
        .await
        .unwrap();
    let page2 = gitlab
        .list_issues(
            &target(),
            None,
            &PageRequest::after(page1.next.unwrap(), 100),
        )
        .await
        .unwrap();
    assert_eq!(page1.items.len() + page2.items.len(), 3);
    assert!(page2.next.is_none());
}

/// One listing read twice: the second read carries `If-None-Match` with the first's
/// ETag, GitLab answers `304` (no body, no `link`), and the page is the cached one,
/// marked not modified.
async fn revalidates(path_: &str, body: Value, read: impl AsyncRead) {
    let server = MockServer::start().await;
    let clock = common::clock();
    let fresh = get(path_, body.clone());
    let etag = common::etag_of(&body);
    Mock::given(method("GET"))
        .and(path(path_))
        .and(header("if-none-match", etag.as_str()))
        .respond_with(fresh.not_modified().respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(path_))
        .respond_with(fresh.respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let cache: Arc<dyn HttpCache> = Arc::new(MemoryStore::new());
    let gitlab = common::cached(&server, &clock, cache);
    let (first_len, first_nm) = read.read(&gitlab).await;
    let (second_len, second_nm) = read.read(&gitlab).await;
    assert!(!first_nm, "{path_}: the first read is fresh");
    assert!(second_nm, "{path_}: the second read is answered 304");
    assert_eq!(first_len, second_len, "{path_}: the cached page");
    let sent = received(&server).await;
    assert_eq!(sent.len(), 2);
    assert!(sent[1].headers.get("if-none-match").is_some());
}

/// A read of one listing: how many items and whether the page was not modified.
trait AsyncRead {
    fn read<'a>(
        &'a self,
        gitlab: &'a kradle_provider_gitlab::GitlabClient,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = (usize, bool)> + Send + 'a>>;
}

macro_rules! reader {
    ($name:ident, |$g:ident| $call:expr) => {
        struct $name;
        impl AsyncRead for $name {
            fn read<'a>(
                &'a self,
                $g: &'a kradle_provider_gitlab::GitlabClient,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = (usize, bool)> + Send + 'a>>
            {
                Box::pin(async move {
                    let page = $call.await.unwrap();
                    (page.items.len(), page.not_modified)
                })
            }
        }
    };
}

reader!(Issues, |g| g.list_issues(
    &target(),
    None,
    &PageRequest::first(100)
));
reader!(Labels, |g| g
    .list_labels(&target(), &PageRequest::first(100)));
reader!(Milestones, |g| g
    .list_milestones(&target(), &PageRequest::first(100)));
reader!(Notes, |g| g.list_comments(
    &target(),
    2,
    &PageRequest::first(100)
));
reader!(MergeRequests, |g| g
    .list_pull_requests(&target(), &PageRequest::first(100)));
reader!(Pipelines, |g| g
    .list_pipelines(&target(), &PageRequest::first(100)));
reader!(Members, |g| g
    .list_collaborators(&target(), &PageRequest::first(100)));

#[tokio::test]
async fn every_backfill_listing_revalidates_with_if_none_match() {
    revalidates(&format!("{PROJECT}/issues"), json!(issues()), Issues).await;
    revalidates(
        &format!("{PROJECT}/labels"),
        rest("labels/gitlab-docs-list_labels.json"),
        Labels,
    )
    .await;
    revalidates(
        &format!("{PROJECT}/milestones"),
        rest("milestones/gitlab-docs-list_milestones.json"),
        Milestones,
    )
    .await;
    revalidates(
        &format!("{PROJECT}/issues/2/notes"),
        rest("notes/gitlab-docs-search_notes.json"),
        Notes,
    )
    .await;
    revalidates(
        &format!("{PROJECT}/merge_requests"),
        rest("merge_requests/go-gitlab-get_merge_requests.json"),
        MergeRequests,
    )
    .await;
    revalidates(
        &format!("{PROJECT}/pipelines"),
        rest("pipelines/narkoz-pipelines.json"),
        Pipelines,
    )
    .await;
    revalidates(
        &format!("{PROJECT}/members/all"),
        rest("members/gitlab-docs-list_all_members.json"),
        Members,
    )
    .await;
}

#[tokio::test]
async fn an_oauth_token_goes_in_authorization() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let project = rest("projects/gitlab-docs-get_project.json");
    Mock::given(method("GET"))
        .and(path(PROJECT))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(get(PROJECT, project).respond(&server))
        .expect(1)
        .mount(&server)
        .await;
    let gitlab = common::bare(&server, &clock)
        .auth(GitlabAuth::oauth(TOKEN))
        .build()
        .unwrap();
    let repo = gitlab.get_repository(&target()).await.unwrap();
    assert_eq!(repo.object.full_name, "diaspora/diaspora-project-site");
    let sent = received(&server).await;
    assert!(sent[0].headers.get("private-token").is_none());
}

#[tokio::test]
async fn merge_requests_notes_and_approvals_read_as_the_forge() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let mr_path = format!("{PROJECT}/merge_requests");
    Mock::given(method("GET"))
        .and(path(&mr_path))
        .and(query_param("state", "all"))
        .and(query_param("order_by", "updated_at"))
        .and(query_param("sort", "desc"))
        .respond_with(
            get(
                &mr_path,
                rest("merge_requests/go-gitlab-get_merge_requests.json"),
            )
            .respond(&server),
        )
        .mount(&server)
        .await;
    let approvals = format!("{PROJECT}/merge_requests/5/approvals");
    Mock::given(method("GET"))
        .and(path(&approvals))
        .respond_with(
            get(
                &approvals,
                rest("merge_requests/gitlab-docs-get_approvals.json"),
            )
            .respond(&server),
        )
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);

    let mrs = gitlab
        .list_pull_requests(&target(), &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(mrs.items.len(), 3);
    assert!(mrs.items.iter().all(|m| m.object.state == "open"));
    let reviews = gitlab
        .list_reviews(&target(), 5, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(reviews.items.len(), 1);
    let review = &reviews.items[0];
    assert_eq!(
        review.native_id.as_str(),
        "5:1",
        "<merge request id>:<user id>"
    );
    assert_eq!(review.object.state, "approved");
    assert_eq!(review.object.author.as_deref(), Some("root"));
    assert_eq!(review.object.pull_number, Some(5));
}

#[tokio::test]
async fn ci_listings_read_pipelines_jobs_statuses_runners_and_artifacts() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let mount = |p: String, body: Value| {
        let server = &server;
        async move {
            Mock::given(method("GET"))
                .and(path(&p))
                .respond_with(get(&p, body).respond(server))
                .mount(server)
                .await;
        }
    };
    mount(
        format!("{PROJECT}/pipelines"),
        rest("pipelines/narkoz-pipelines.json"),
    )
    .await;
    mount(
        format!("{PROJECT}/pipelines/6/jobs"),
        rest("pipelines/narkoz-pipeline_jobs.json"),
    )
    .await;
    mount(
        format!("{PROJECT}/repository/commits/7d938cb8ac15788d71f4b67c035515a160ea76d8/statuses"),
        rest("commit_statuses/narkoz-project_commit_status.json"),
    )
    .await;
    mount(
        format!("{PROJECT}/runners"),
        rest("runners/narkoz-project_runners.json"),
    )
    .await;
    let gitlab = common::client(&server, &clock);
    let page = PageRequest::first(100);

    let pipelines = gitlab.list_pipelines(&target(), &page).await.unwrap();
    assert_eq!(pipelines.items.len(), 2);
    assert_eq!(pipelines.items[0].object.status.as_deref(), Some("queued"));
    let sent = received(&server).await;
    assert_eq!(query_of(&sent[0], "order_by").as_deref(), Some("id"));
    assert_eq!(query_of(&sent[0], "sort").as_deref(), Some("desc"));

    let pipeline = NativeId::new("6");
    let jobs = gitlab.list_jobs(&target(), &pipeline, &page).await.unwrap();
    assert_eq!(jobs.items.len(), 2);
    assert_eq!(jobs.items[0].object.conclusion.as_deref(), Some("failure"));
    let artifacts = gitlab
        .list_artifacts(&target(), &pipeline, &page)
        .await
        .unwrap();
    assert_eq!(artifacts.items.len(), 1, "only the job with an archive");
    let artifact = &artifacts.items[0].object;
    assert_eq!(artifact.name, "artifacts.zip");
    assert!(
        artifact
            .archive_download_url
            .as_deref()
            .is_some_and(|u| u.ends_with(&format!("{PROJECT}/jobs/7/artifacts"))),
        "{artifact:?}"
    );
    let log = gitlab
        .job_log(&target(), &NativeId::new("7"))
        .await
        .unwrap();
    assert!(
        log.url.ends_with(&format!("{PROJECT}/jobs/7/trace")),
        "{}",
        log.url
    );

    let statuses = gitlab
        .list_statuses(&target(), "7d938cb8ac15788d71f4b67c035515a160ea76d8", &page)
        .await
        .unwrap();
    assert_eq!(statuses.items.len(), 2);
    assert_eq!(statuses.items[0].object.state, "failure");
    let runners = gitlab.list_runners(&target(), &page).await.unwrap();
    assert_eq!(runners.items.len(), 2);
    assert!(
        gitlab
            .list_check_runs(&target(), "7d938cb8ac15788d71f4b67c035515a160ea76d8", &page)
            .await
            .is_err(),
        "GitLab has no check runs"
    );
}

#[tokio::test]
async fn forge_listings_read_branches_tags_protections_keys_and_members() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let mount = |p: String, body: Value| {
        let server = &server;
        async move {
            Mock::given(method("GET"))
                .and(path(&p))
                .respond_with(get(&p, body).respond(server))
                .mount(server)
                .await;
        }
    };
    mount(
        format!("{PROJECT}/repository/branches"),
        rest("branches/go-gitlab-list_branches.json"),
    )
    .await;
    mount(
        format!("{PROJECT}/repository/tags"),
        rest("errors/narkoz-empty_array.json"),
    )
    .await;
    mount(
        format!("{PROJECT}/protected_branches/master"),
        rest("protected_branches/narkoz-protected_branch.json"),
    )
    .await;
    mount(
        format!("{PROJECT}/deploy_keys"),
        rest("deploy_keys/narkoz-project_keys.json"),
    )
    .await;
    mount(
        format!("{PROJECT}/members/all"),
        rest("members/gitlab-docs-list_all_members.json"),
    )
    .await;
    let gitlab = common::client(&server, &clock);
    let page = PageRequest::first(100);

    let mut refs = Vec::new();
    let mut request = page.clone();
    loop {
        let got = gitlab.list_refs(&target(), &request).await.unwrap();
        refs.extend(got.items);
        match got.next {
            Some(next) => request = PageRequest::after(next, 100),
            None => break,
        }
    }
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].native_id.as_str(), "refs/heads/master");
    assert_eq!(refs[0].object.ref_type, "branch");

    let protection = gitlab
        .get_branch_protection(&target(), "master")
        .await
        .unwrap()
        .expect("protected");
    assert_eq!(protection.object.pattern, "master");
    assert_eq!(
        protection.object.rules["push_access_levels"][0]["access_level"],
        json!(40)
    );
    let keys = gitlab.list_deploy_keys(&target(), &page).await.unwrap();
    assert!(keys.items.iter().all(|k| k.object.read_only));
    let members = gitlab.list_collaborators(&target(), &page).await.unwrap();
    let logins: Vec<_> = members
        .items
        .iter()
        .map(|m| m.object.login.as_str())
        .collect();
    assert_eq!(logins, ["raymond_smith", "john_doe", "foo_bar"]);
    assert!(
        members
            .items
            .iter()
            .all(|m| m.object.permission.as_deref() == Some("developer"))
    );
}

#[tokio::test]
async fn an_unprotected_branch_has_no_protection() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let p = format!("{PROJECT}/protected_branches/feature");
    Mock::given(method("GET"))
        .and(path(&p))
        .respond_with(
            answer(
                "GET",
                &p,
                404,
                rest("errors/narkoz-error_project_not_found.json"),
            )
            .respond(&server),
        )
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);
    assert!(
        gitlab
            .get_branch_protection(&target(), "feature")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn health_reads_the_tokens_user() {
    let server = MockServer::start().await;
    let clock = common::clock();
    Mock::given(method("GET"))
        .and(path("/api/v4/user"))
        .and(header_exists("private-token"))
        .respond_with(get("/api/v4/user", rest("users/go-gitlab-get_user.json")).respond(&server))
        .mount(&server)
        .await;
    let gitlab = common::client(&server, &clock);
    let health = gitlab.health().await.unwrap();
    assert!(health.auth_ready, "{health:?}");
    let limits = gitlab.rate_limit().unwrap();
    assert_eq!(limits.remaining, Some(33));
    assert_eq!(limits.limit, Some(60));
}

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `kradle-sync backfill` end to end against a local server that answers like GitHub: the
//! recorded `paginate-issues` session (13 issues in pages of 3, with GitHub's Link, ETag
//! and rate-limit headers), the recorded label listing, and the REST examples of comments,
//! milestones, pull requests and workflow runs served with the session's headers. A repeated
//! request carrying the page's ETag in `If-None-Match` gets GitHub's `304`.
//!
//! Derived: the session recorded its first page as `GET …/issues?per_page=3`; it is served
//! only to the backfill's query `state=all&sort=updated&direction=desc&per_page=3` without
//! `since` (its 13 issues share one `updated_at`, so the recorded order is also the
//! newest-change-first order). Body, status and headers are as recorded; the later pages
//! are served at the recorded `link` URLs. The comments example is likewise served only to
//! `sort=updated&direction=desc` without `since`. See `DERIVED.md` beside this file.

mod postgres_common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use kradle_provider_github::GithubClient;
use kradle_provider_github::api::GithubAuth;
use kradle_store_memory::MemoryStore;
use kradle_sync_core::{
    BackfillResource, Binding, BindingId, Engine, ExternalTarget, Interface, PassOptions, Secret,
    SyncStore,
};
use serde_json::Value;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const REPO: &str = "octokit-fixture-org/paginate-issues";
const TOKEN: &str = "0000000000000000000000000000000000000001";

fn fixture(path: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/github")
        .join(path);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// One recorded answer: status 200, body, and GitHub's headers (hosts pointed at the
/// local server).
/// `full` counts the answers that were not `304`: the rate-limit points GitHub would charge.
#[derive(Clone)]
struct Recorded {
    body: String,
    headers: Vec<(String, String)>,
    full: Arc<AtomicU64>,
}

impl Recorded {
    fn from_exchange(exchange: &Value, base: &str, full: &Arc<AtomicU64>) -> Self {
        Self::with_headers(
            exchange["response"].clone(),
            &exchange["headers"],
            base,
            full,
        )
    }

    fn with_headers(body: Value, headers: &Value, base: &str, full: &Arc<AtomicU64>) -> Self {
        let headers = headers
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "content-length" | "content-type"))
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v.replace("https://api.github.com", base))
            })
            .collect();
        Recorded {
            body: body.to_string(),
            headers,
            full: full.clone(),
        }
    }

    fn etag(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == "etag")
            .map(|(_, v)| v.as_str())
    }
}

/// Answers `304 Not Modified` when `If-None-Match` names the page's ETag, as GitHub does.
impl Respond for Recorded {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let matches = request
            .headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| Some(v) == self.etag());
        let mut response = if matches {
            ResponseTemplate::new(304)
        } else {
            self.full.fetch_add(1, Ordering::SeqCst);
            ResponseTemplate::new(200)
                .set_body_raw(self.body.clone(), "application/json; charset=utf-8")
        };
        for (k, v) in &self.headers {
            if !(matches && k == "link") {
                response = response.insert_header(k.as_str(), v.as_str());
            }
        }
        response
    }
}

/// A server with the fixture repository: 13 issues, 1 comment, 9 labels, 1 milestone,
/// 1 pull request, 1 workflow run. `slow_page` delays the first answer of that issues page.
async fn github(slow_page: Option<u32>) -> MockServer {
    github_counting(slow_page).await.0
}

/// [`github`], and the count of answers that were not `304` (rate-limit points).
async fn github_counting(slow_page: Option<u32>) -> (MockServer, Arc<AtomicU64>) {
    let server = MockServer::start().await;
    let full = Arc::new(AtomicU64::new(0));
    let base = server.uri();
    let session = fixture("recorded/paginate-issues.json");
    let pages = session.as_array().unwrap();
    let repo = format!("/repos/{REPO}");
    // The first page only for the newest-change-first listing without `since`: a request
    // of another order falls through to the server's 404.
    Mock::given(method("GET"))
        .and(path(format!("{repo}/issues")))
        .and(query_param("state", "all"))
        .and(query_param("sort", "updated"))
        .and(query_param("direction", "desc"))
        .and(query_param_is_missing("since"))
        .and(query_param("per_page", "3"))
        .respond_with(Recorded::from_exchange(&pages[0], &base, &full))
        .mount(&server)
        .await;
    for (n, exchange) in pages.iter().enumerate().skip(1) {
        let page = (n + 1).to_string();
        let recorded = Recorded::from_exchange(exchange, &base, &full);
        if slow_page == Some(n as u32 + 1) {
            Mock::given(method("GET"))
                .and(path("/repositories/1000/issues"))
                .and(query_param("page", page.as_str()))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_raw(recorded.body.clone(), "application/json")
                        .set_delay(Duration::from_secs(600)),
                )
                .up_to_n_times(1)
                .with_priority(1)
                .mount(&server)
                .await;
        }
        Mock::given(method("GET"))
            .and(path("/repositories/1000/issues"))
            .and(query_param("page", page.as_str()))
            .respond_with(recorded)
            .mount(&server)
            .await;
    }
    // The last page's headers (no next page) for the REST examples.
    let last = &pages[pages.len() - 1]["headers"];
    let labels = fixture("recorded/labels.json");
    let listing = labels
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["method"] == "get" && e["path"] == "/repos/octokit-fixture-org/labels/labels")
        .unwrap();
    let bodies = [
        (
            "issues/comments",
            fixture("rest/issues/issue-comment-items.json"),
        ),
        ("milestones", fixture("rest/issues/milestone-items.json")),
        (
            "pulls",
            fixture("rest/forge/pull-request-simple-items.json"),
        ),
        (
            "actions/runs",
            fixture("rest/actions/workflow-run-paginated.json"),
        ),
    ];
    for (resource, body) in bodies {
        let mock = Mock::given(method("GET")).and(path(format!("{repo}/{resource}")));
        let mock = match resource {
            "issues/comments" => mock
                .and(query_param("sort", "updated"))
                .and(query_param("direction", "desc"))
                .and(query_param_is_missing("since")),
            _ => mock,
        };
        mock.respond_with(Recorded::with_headers(body, last, &base, &full))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(format!("{repo}/labels")))
        .respond_with(Recorded::from_exchange(listing, &base, &full))
        .mount(&server)
        .await;
    (server, full)
}

/// The requests the server received, as `path?query`, with whether they were answered 304.
async fn requests(server: &MockServer) -> Vec<(String, bool)> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let target = match r.url.query() {
                Some(q) => format!("{}?{q}", r.url.path()),
                None => r.url.path().to_owned(),
            };
            (target, r.headers.get("if-none-match").is_some())
        })
        .collect()
}

fn backfill_command(server: &MockServer, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kradle-sync"));
    cmd.args([
        "backfill",
        "--provider",
        "github",
        "--repo",
        REPO,
        "--api-url",
        &server.uri(),
        "--per-page",
        "3",
    ])
    .args(extra)
    .env("GITHUB_TOKEN", TOKEN)
    .stdin(Stdio::null());
    cmd
}

async fn run(server: &MockServer, extra: &[&str]) -> Output {
    let mut cmd = backfill_command(server, extra);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn document(out: &Output) -> Value {
    assert!(out.status.success(), "backfill failed: {}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count_kind(doc: &Value, kind: &str) -> usize {
    doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == kind)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_costs_one_list_request_per_page_and_none_per_item() {
    let server = github(None).await;
    let out = run(&server, &[]).await;
    let doc = document(&out);

    assert_eq!(count_kind(&doc, "issue"), 13);
    assert_eq!(count_kind(&doc, "comment"), 1);
    assert_eq!(count_kind(&doc, "label"), 9);
    assert_eq!(count_kind(&doc, "milestone"), 1);
    assert_eq!(count_kind(&doc, "pull_request"), 1);
    assert_eq!(count_kind(&doc, "pipeline"), 1);
    assert_eq!(doc["stats"]["backfilled"], 26);
    assert_eq!(doc["stats"]["applied"], 26);
    for key in ["objects", "conflicts", "write_intents", "dead_letters"] {
        assert!(doc[key].is_array(), "{key}");
    }

    let requests = requests(&server).await;
    let issue_pages: Vec<&String> = requests
        .iter()
        .map(|(t, _)| t)
        .filter(|t| t.contains("/issues?") && !t.contains("comments"))
        .collect();
    // 13 issues in pages of 3: ⌈13/3⌉ = 5 list requests, following GitHub's Link header.
    assert_eq!(issue_pages.len(), 5, "{issue_pages:?}");
    assert!(!issue_pages[0].contains("since") && issue_pages[0].contains("state=all"));
    assert!(
        issue_pages[0].contains("sort=updated&direction=desc"),
        "{issue_pages:?}"
    );
    // One request per listing of the other five resources, and not one per object.
    assert_eq!(requests.len(), 10, "{requests:?}");
    let per_item = requests.iter().filter(|(t, _)| {
        let p = t.split('?').next().unwrap();
        p.rsplit('/').next().unwrap().parse::<u64>().is_ok()
    });
    assert_eq!(per_item.count(), 0, "{requests:?}");

    let err = stderr(&out);
    assert!(
        err.contains(
            "requests: 10 (0 not modified); rate-limit points used: 10, remaining: 4999 of 5000"
        ),
        "{err}"
    );
    assert!(err.contains("issues     13 objects, 13 applied"), "{err}");
    // Not a terminal: plain progress lines, no spinner.
    assert!(
        err.contains("issues: page 5, 13 items, 5 requests"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "{err}");
    // The token never shows.
    assert!(!err.contains(TOKEN) && !String::from_utf8_lossy(&out.stdout).contains(TOKEN));

    // Deterministic: a second run prints the same bytes.
    let again = run(&server, &[]).await;
    assert_eq!(again.stdout, out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_pass_over_an_unchanged_repository_costs_no_rate_limit_points() {
    let server = github(None).await;
    let store = Arc::new(MemoryStore::new());
    let dyn_store: Arc<dyn SyncStore> = store.clone();
    let binding = Binding::new(
        REPO,
        "github",
        ExternalTarget::from_path(REPO),
        &Interface::ALL,
    )
    .with_secret(Secret::new("unused"));
    let engine = Engine::builder(dyn_store.clone())
        .adapter(Arc::new(kradle_provider_github::GithubWebhooks::new()))
        .binding(binding)
        .build()
        .unwrap();
    let github = GithubClient::builder(reqwest::Client::new())
        .base_url(server.uri())
        .auth(GithubAuth::token(Secret::new(TOKEN)))
        .cache(store.clone())
        .build()
        .unwrap()
        .for_backfill();
    let options = PassOptions {
        per_page: 3,
        ..PassOptions::default()
    }
    .full(true);
    let id = BindingId::new(REPO);
    let first = engine
        .backfill_pass(&id, &github, &options, &mut (), Utc::now())
        .await
        .unwrap();
    assert_eq!((first.requests(), first.not_modified()), (10, 0));
    let objects = store.list_objects(&Default::default()).await.unwrap();

    let second = engine
        .backfill_pass(&id, &github, &options, &mut (), Utc::now())
        .await
        .unwrap();
    // Every page is re-read with If-None-Match and answered 304: no rate-limit point spent.
    assert_eq!((second.requests(), second.not_modified()), (10, 10));
    let issues = second.resource(BackfillResource::Issues).unwrap();
    assert_eq!((issues.pages, issues.applied), (5, 0));
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 20);
    assert!(
        sent[10..].iter().all(|(_, conditional)| *conditional),
        "{sent:?}"
    );
    assert_eq!(
        store.list_objects(&Default::default()).await.unwrap(),
        objects
    );

    // An incremental pass asks for the same first pages: one conditional request per
    // resource, every one a 304.
    let third = engine
        .backfill_pass(
            &id,
            &github,
            &options.clone().full(false),
            &mut (),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!((third.requests(), third.not_modified()), (6, 6));
    let sent = requests(&server).await;
    assert_eq!(sent[20..].len(), 6);
    assert_eq!(sent[20].0, sent[0].0, "the first page of issues again");
    assert!(sent[20..].iter().all(|(_, conditional)| *conditional));
}

/// The four runs the README's table reports, on one PostgreSQL store: a first run (full:
/// nothing was read before), a second default run, a `--full` run, and another default run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_default_backfill_of_an_unchanged_repository_is_all_304s_on_postgres() {
    let Some(db) = postgres_common::TestDb::new("backfill_rerun").await else {
        return;
    };
    let store = ["--store", db.url.as_str(), "--schema", db.schema.as_str()];
    let (server, points) = github_counting(None).await;
    let issue_pages = |sent: &[(String, bool)]| {
        sent.iter()
            .filter(|(t, _)| t.contains("/issues?") && !t.contains("comments"))
            .count()
    };

    let first = run(&server, &store).await;
    let reference = document(&first);
    let sent = requests(&server).await;
    // ⌈13/3⌉ = 5 list requests for the issues, one per other resource, none per item.
    assert_eq!((sent.len(), issue_pages(&sent)), (10, 5), "{sent:?}");
    assert!(sent.iter().all(|(_, conditional)| !conditional));
    assert_eq!(points.load(Ordering::SeqCst), 10);
    let err = stderr(&first);
    assert!(
        err.contains("requests: 10 (0 not modified); rate-limit points used: 10"),
        "{err}"
    );

    // The same command again: issues and comments are settled by their first page, which
    // the server answers 304 to the cached ETag; the other listings too. No point spent.
    let second = run(&server, &store).await;
    let sent = requests(&server).await;
    let rerun = &sent[10..];
    assert_eq!((rerun.len(), issue_pages(rerun)), (6, 1), "{rerun:?}");
    assert_eq!(rerun[0].0, sent[0].0, "the first run's first page");
    assert!(
        rerun.iter().all(|(_, conditional)| *conditional),
        "{rerun:?}"
    );
    assert_eq!(points.load(Ordering::SeqCst), 10, "no answer but 304s");
    let err = stderr(&second);
    assert!(
        err.contains("requests: 6 (6 not modified); rate-limit points used: 0"),
        "{err}"
    );
    // The 304's page is the cached one: three issues read again, none applied.
    assert!(
        err.contains("issues     3 objects, 0 applied, 0 stale, 0 tombstoned; 1 requests (1 not modified), since the last backfill"),
        "{err}"
    );
    assert!(
        err.contains("comments   1 objects, 0 applied, 0 stale, 0 tombstoned; 1 requests (1 not modified), since the last backfill"),
        "{err}"
    );
    assert_eq!(document(&second)["objects"], reference["objects"]);

    // `--full` re-reads every page, each one a 304.
    let full = run(&server, &[&store[..], &["--full"]].concat()).await;
    let sent = requests(&server).await;
    assert_eq!(sent[16..].len(), 10);
    assert!(sent[16..].iter().all(|(_, conditional)| *conditional));
    assert_eq!(points.load(Ordering::SeqCst), 10);
    let err = stderr(&full);
    assert!(
        err.contains("requests: 10 (10 not modified); rate-limit points used: 0"),
        "{err}"
    );
    assert_eq!(document(&full)["objects"], reference["objects"]);

    // And the default command after it is six 304s again.
    let fourth = run(&server, &store).await;
    let sent = requests(&server).await;
    assert_eq!(sent[26..].len(), 6);
    assert!(sent[26..].iter().all(|(_, conditional)| *conditional));
    assert_eq!(points.load(Ordering::SeqCst), 10);
    assert!(
        stderr(&fourth).contains("requests: 6 (6 not modified); rate-limit points used: 0"),
        "{}",
        stderr(&fourth)
    );
    assert_eq!(document(&fourth)["objects"], reference["objects"]);
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_on_postgres_costs_no_points_and_a_killed_backfill_resumes_at_its_checkpoint() {
    let Some(db) = postgres_common::TestDb::new("backfill").await else {
        return;
    };
    let store = ["--store", db.url.as_str(), "--schema", db.schema.as_str()];
    let reference = document(&run(&github(None).await, &[]).await);

    // A backfill killed while it waits for page 3 of the issues.
    let server = github(Some(3)).await;
    let mut child = backfill_command(&server, &store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let seen = requests(&server).await;
        if seen.iter().any(|(t, _)| t.contains("&page=3")) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the backfill never asked for page 3: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let resumed = run(&server, &store).await;
    let err = stderr(&resumed);
    assert!(err.contains("issues: resuming at the checkpoint"), "{err}");
    assert_eq!(document(&resumed)["objects"], reference["objects"]);
    let pages: Vec<String> = requests(&server)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| t.contains("/issues?") && !t.contains("comments"))
        .collect();
    let asked = |page: &str| pages.iter().filter(|t| t.contains(page)).count();
    // Pages 1 and 2 were read once; page 3, whose answer never came, is asked again.
    assert_eq!(
        pages.iter().filter(|t| !t.contains("&page=")).count(),
        1,
        "{pages:?}"
    );
    assert_eq!(
        (
            asked("&page=2"),
            asked("&page=3"),
            asked("&page=4"),
            asked("&page=5")
        ),
        (1, 2, 1, 1),
        "{pages:?}"
    );

    // The resumed run's watermark stands: the default command again is one 304 per
    // resource.
    let again = run(&server, &store).await;
    let err = stderr(&again);
    assert!(
        err.contains("requests: 6 (6 not modified); rate-limit points used: 0"),
        "{err}"
    );
    assert_eq!(document(&again)["objects"], reference["objects"]);

    // The store keeps the ETags: a full re-read of the unchanged repository is all 304s.
    let rerun = run(&server, &[&store[..], &["--full"]].concat()).await;
    let err = stderr(&rerun);
    assert!(
        err.contains("requests: 10 (10 not modified); rate-limit points used: 0"),
        "{err}"
    );
    assert_eq!(document(&rerun)["objects"], reference["objects"]);
    db.drop_schema().await;
}

#[test]
fn errors_say_what_to_fix() {
    let bin = env!("CARGO_BIN_EXE_kradle-sync");
    let cases: [(&[&str], Option<&str>, &str); 6] = [
        (
            &[
                "backfill",
                "--provider",
                "github",
                "--repo",
                "octocat/Hello-World",
            ],
            None,
            "no GitHub token: $GITHUB_TOKEN is not set",
        ),
        (
            &["backfill", "--provider", "github", "--repo", "octocat"],
            Some("t"),
            "--project takes OWNER/NAME (GitHub)",
        ),
        (
            &["backfill", "--provider", "github", "--repo", "a/b/c"],
            Some("t"),
            "a GitHub repository is named OWNER/NAME",
        ),
        (
            &["backfill", "--provider", "gitea", "--repo", "a/b"],
            Some("t"),
            "unknown provider `gitea`; this build knows github",
        ),
        (
            &[
                "backfill",
                "--provider",
                "github",
                "--repo",
                "a/b",
                "--resources",
                "issues,prs",
            ],
            Some("t"),
            "unknown resource `prs`",
        ),
        (
            &[
                "backfill",
                "--provider",
                "github",
                "--repo",
                "a/b",
                "--api-url",
                "http://127.0.0.1:9",
                "--attempts",
                "1",
            ],
            Some("t"),
            "cannot reach the GitHub API at http://127.0.0.1:9",
        ),
    ];
    for (args, token, expected) in cases {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env_remove("GITHUB_TOKEN")
            .stdin(Stdio::null());
        if let Some(token) = token {
            cmd.env("GITHUB_TOKEN", token);
        }
        let out = cmd.output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

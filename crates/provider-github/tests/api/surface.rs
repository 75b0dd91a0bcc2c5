//! The rest of the write and read surface: each call sends the method, path and body
//! GitHub documents, and reads GitHub's documented answer.

use kradle_sync_core::object::DeployKey;
use kradle_sync_core::{
    CheckRunInput, Cicd, CommitStatusInput, GitForge, IssueTracking, IssueTrackingExt, NativeId,
    PageRequest, PullRequestInput, ReviewInput, marker,
};
use kradle_test_support::recorded::{Exchange, query_of, received};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::common::{self, target};

const REPO: &str = "/repos/octokit-fixture-org/hello-world";

async fn serve(server: &MockServer, verb: &str, at: &str, answer: &Exchange) {
    Mock::given(method(verb))
        .and(path(at))
        .respond_with(answer.respond(server))
        .expect(1)
        .mount(server)
        .await;
}

/// A documented `204 No Content`, with the recorded headers of a `DELETE`.
fn no_content() -> Exchange {
    common::session("labels").remove(4)
}

#[tokio::test]
async fn writes_send_what_github_documents() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ex = |file: &str| common::example(200, common::rest(file));
    let created = |file: &str| common::example(201, common::rest(file));
    let mut pull = common::rest("forge/pull-request.json");
    pull["body"] = json!(marker::embed(
        "Please pull these awesome changes in!",
        "kradle:pr"
    ));
    serve(
        &server,
        "PATCH",
        &format!("{REPO}/issues/1347"),
        &ex("issues/issue.json"),
    )
    .await;
    serve(
        &server,
        "GET",
        &format!("{REPO}/issues/1347"),
        &ex("issues/issue.json"),
    )
    .await;
    serve(
        &server,
        "PATCH",
        &format!("{REPO}/issues/comments/1"),
        &ex("issues/issue-comment.json"),
    )
    .await;
    serve(
        &server,
        "DELETE",
        &format!("{REPO}/issues/comments/1"),
        &no_content(),
    )
    .await;
    // Deleting a comment that is already gone is done, not an error.
    let gone = common::session("branch-protection").remove(0);
    serve(
        &server,
        "DELETE",
        &format!("{REPO}/issues/comments/2"),
        &gone,
    )
    .await;
    serve(
        &server,
        "POST",
        &format!("{REPO}/pulls"),
        &common::example(201, pull),
    )
    .await;
    serve(
        &server,
        "PATCH",
        &format!("{REPO}/pulls/1347"),
        &ex("forge/pull-request.json"),
    )
    .await;
    serve(
        &server,
        "GET",
        &format!("{REPO}/pulls/1347"),
        &ex("forge/pull-request.json"),
    )
    .await;
    serve(
        &server,
        "POST",
        &format!("{REPO}/pulls/1347/reviews"),
        &ex("forge/pull-request-review.json"),
    )
    .await;
    serve(
        &server,
        "PUT",
        &format!("{REPO}/pulls/1347/merge"),
        &ex("forge/pull-request-merge-result-response-if-merge-was-successful.json"),
    )
    .await;
    serve(
        &server,
        "POST",
        &format!("{REPO}/keys"),
        &created("forge/deploy-key.json"),
    )
    .await;
    serve(&server, "DELETE", &format!("{REPO}/keys/1"), &no_content()).await;
    serve(
        &server,
        "PUT",
        &format!("{REPO}/collaborators/octocat"),
        &created("forge/repository-invitation.json"),
    )
    .await;
    serve(
        &server,
        "POST",
        &format!("{REPO}/actions/runs/30433642/rerun"),
        &common::example(201, json!({})),
    )
    .await;
    serve(
        &server,
        "POST",
        &format!("{REPO}/actions/runs/30433642/cancel"),
        &common::example(202, json!({})),
    )
    .await;
    serve(
        &server,
        "PATCH",
        &format!("{REPO}/check-runs/4"),
        &ex("checks/check-run.json"),
    )
    .await;
    serve(
        &server,
        "POST",
        &format!("{REPO}/actions/jobs/399444496/rerun"),
        &common::example(201, json!({})),
    )
    .await;
    serve(
        &server,
        "POST",
        &format!("{REPO}/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e"),
        &created("checks/status.json"),
    )
    .await;
    let protect = common::session("branch-protection").remove(1);
    serve(
        &server,
        "PUT",
        "/repos/octokit-fixture-org/branch-protection/branches/main/protection",
        &protect,
    )
    .await;
    let github = common::client(&server, &clock);
    let hello = target("hello-world");

    let closed = github.close_issue(&hello, 1347).await.unwrap();
    assert_eq!(closed.object.number, 1347);
    github.get_issue(&hello, 1347).await.unwrap();
    let c = github
        .update_comment(&hello, &NativeId::new("1"), "Me too")
        .await
        .unwrap();
    assert_eq!(c.object.body, "Me too");
    github
        .delete_comment(&hello, &NativeId::new("1"))
        .await
        .unwrap();
    github
        .delete_comment(&hello, &NativeId::new("2"))
        .await
        .unwrap();
    let mut input = PullRequestInput::default();
    input.title = Some("Amazing new feature".into());
    input.body = Some("Please pull these awesome changes in!".into());
    input.head = Some("octocat:new-feature".into());
    input.base = Some("master".into());
    let pr = github
        .create_pull_request(&hello, &input, "kradle:pr")
        .await
        .unwrap();
    assert_eq!(
        pr.object.body.as_deref(),
        Some("Please pull these awesome changes in!")
    );
    github
        .update_pull_request(&hello, 1347, &{
            let mut v = PullRequestInput::default();
            v.state = Some("closed".into());
            v
        })
        .await
        .unwrap();
    github.get_pull_request(&hello, 1347).await.unwrap();
    let review = github
        .create_review(&hello, 1347, &{
            let mut v = ReviewInput::new("APPROVE");
            v.body = None;
            v.commit_id = None;
            v
        })
        .await
        .unwrap();
    assert_eq!(review.native_id.as_str(), "80");
    github
        .merge_pull_request(&hello, 1347, "6dcb09b5b57875f334f61aebed695e2e4193db5e")
        .await
        .unwrap();
    let mut key = DeployKey::default();
    key.title = "octocat@octomac".into();
    key.key = "ssh-rsa AAA...".into();
    key.read_only = true;
    assert_eq!(
        github.add_deploy_key(&hello, &key).await.unwrap().object,
        key
    );
    github
        .remove_deploy_key(&hello, &NativeId::new("1"))
        .await
        .unwrap();
    github
        .set_permission(&hello, "octocat", "push")
        .await
        .unwrap();
    let run = NativeId::new("30433642");
    github.rerun_pipeline(&hello, &run).await.unwrap();
    github.cancel_pipeline(&hello, &run).await.unwrap();
    github
        .rerun_job(&hello, &NativeId::new("399444496"))
        .await
        .unwrap();
    let cancel = github
        .cancel_job(&hello, &NativeId::new("399444496"))
        .await
        .unwrap_err();
    assert!(
        cancel.to_string().contains("cancel the job's pipeline"),
        "{cancel}"
    );
    let status = github
        .set_commit_status(
            &hello,
            "6dcb09b5b57875f334f61aebed695e2e4193db5e",
            &CommitStatusInput::new("success")
                .with_context("continuous-integration/jenkins")
                .with_description("Build has completed successfully")
                .with_target_url("https://ci.example.com/1000/output"),
        )
        .await
        .unwrap();
    assert_eq!(status.object.state, "success");
    let mut done = CheckRunInput::default();
    done.status = Some("completed".into());
    done.conclusion = Some("success".into());
    github
        .update_check(&hello, &NativeId::new("4"), &done)
        .await
        .unwrap();
    let rules: Value = serde_json::from_str(
        r#"{"required_status_checks": null, "required_pull_request_reviews": null, "restrictions": null, "enforce_admins": false}"#,
    )
    .unwrap();
    let protection = github
        .set_branch_protection(&target("branch-protection"), "main", &rules)
        .await
        .unwrap();
    assert_eq!(protection.native_id.as_str(), "main");
    assert_eq!(protection.object.rules["enforce_admins"]["enabled"], false);
    assert!(protection.object.rules.get("url").is_none());

    let sent: Vec<(String, String, Value)> = received(&server)
        .await
        .iter()
        .map(|r| {
            let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            (r.method.to_string(), r.url.path().to_owned(), body)
        })
        .collect();
    let body_of = |verb: &str, at: &str| {
        sent.iter()
            .find(|(m, p, _)| m == verb && p.ends_with(at))
            .map(|(_, _, b)| b.clone())
            .unwrap()
    };
    assert_eq!(body_of("PATCH", "/issues/1347"), json!({"state": "closed"}));
    assert_eq!(
        body_of("PATCH", "/issues/comments/1"),
        json!({"body": "Me too"})
    );
    assert_eq!(
        body_of("POST", "/pulls"),
        json!({
            "title": "Amazing new feature",
            "body": marker::embed("Please pull these awesome changes in!", "kradle:pr"),
            "head": "octocat:new-feature",
            "base": "master",
        })
    );
    assert_eq!(body_of("PATCH", "/pulls/1347"), json!({"state": "closed"}));
    assert_eq!(body_of("POST", "/reviews"), json!({"event": "APPROVE"}));
    assert_eq!(
        body_of("PUT", "/merge"),
        json!({"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"})
    );
    assert_eq!(
        body_of("POST", "/keys"),
        json!({"title": "octocat@octomac", "key": "ssh-rsa AAA...", "read_only": true})
    );
    assert_eq!(
        body_of("PUT", "/collaborators/octocat"),
        json!({"permission": "push"})
    );
    assert_eq!(
        body_of("PATCH", "/check-runs/4"),
        json!({"status": "completed", "conclusion": "success"})
    );
    assert_eq!(body_of("PUT", "/branches/main/protection"), rules);
    assert_eq!(
        body_of("POST", "/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e"),
        json!({
            "state": "success",
            "context": "continuous-integration/jenkins",
            "description": "Build has completed successfully",
            "target_url": "https://ci.example.com/1000/output",
        })
    );
}

#[tokio::test]
async fn reads_of_comments_milestones_reviews_keys_and_collaborators() {
    let server = MockServer::start().await;
    let clock = common::clock();
    let ex = |file: &str| common::example(200, common::rest(file));
    serve(
        &server,
        "GET",
        &format!("{REPO}/issues/1347/comments"),
        &ex("issues/issue-comment-items.json"),
    )
    .await;
    serve(
        &server,
        "GET",
        &format!("{REPO}/issues/comments"),
        &ex("issues/issue-comment-items.json"),
    )
    .await;
    serve(
        &server,
        "GET",
        &format!("{REPO}/milestones"),
        &ex("issues/milestone-items.json"),
    )
    .await;
    serve(
        &server,
        "GET",
        &format!("{REPO}/pulls/1347/reviews"),
        &ex("forge/pull-request-review-items.json"),
    )
    .await;
    serve(
        &server,
        "GET",
        &format!("{REPO}/keys"),
        &ex("forge/deploy-key-items.json"),
    )
    .await;
    serve(
        &server,
        "GET",
        &format!("{REPO}/collaborators"),
        &ex("forge/collaborator-items.json"),
    )
    .await;
    serve(
        &server,
        "GET",
        &format!("{REPO}/branches/main/protection"),
        &ex("forge/branch-protection.json"),
    )
    .await;
    let github = common::client(&server, &clock);
    let hello = target("hello-world");
    let first = PageRequest::first(100);

    let comments = github.list_comments(&hello, 1347, &first).await.unwrap();
    assert_eq!(comments.items[0].object.body, "Me too");
    let since = common::at("2011-04-14T16:00:49Z");
    let all = github
        .list_all_comments(&hello, Some(since), &first)
        .await
        .unwrap();
    assert_eq!(all.items.len(), comments.items.len());
    let milestones = github.list_milestones(&hello, &first).await.unwrap();
    assert_eq!(milestones.items[0].object.title, "v1.0");
    assert_eq!(
        github
            .list_reviews(&hello, 1347, &first)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        github
            .list_deploy_keys(&hello, &first)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let people = github.list_collaborators(&hello, &first).await.unwrap();
    assert_eq!(people.items[0].object.login, "octocat");
    let protection = github
        .get_branch_protection(&hello, "main")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(protection.object.pattern, "main");

    let got = received(&server).await;
    let all_comments = got
        .iter()
        .find(|r| r.url.path().ends_with("/issues/comments"))
        .unwrap();
    assert_eq!(
        query_of(all_comments, "since").as_deref(),
        Some("2011-04-14T16:00:49Z")
    );
    assert_eq!(query_of(all_comments, "sort").as_deref(), Some("updated"));
    let milestones = got
        .iter()
        .find(|r| r.url.path().ends_with("/milestones"))
        .unwrap();
    assert_eq!(query_of(milestones, "state").as_deref(), Some("all"));
    assert!(
        got.iter()
            .all(|r| query_of(r, "per_page").is_none_or(|n| n == "100"))
    );
}

//! `kradle-sync serve --store memory`: the whole service without a database, for trying it
//! out. A signed real delivery is answered 202 and applied by the in-process workers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kradle_provider_github::sign_webhook;
use kradle_sync_core::Secret;

const SECRET: &str = "memory-serve-secret";

#[tokio::test]
async fn serve_on_the_memory_store_answers_and_applies_a_signed_delivery() {
    let dir = std::env::temp_dir().join(format!("kradle-serve-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bindings = dir.join("bindings.toml");
    std::fs::write(
        &bindings,
        "[[binding]]\nname = \"Codertocat/Hello-World\"\nprovider = \"github\"\nsecret_env = \"KRADLE_TEST_SECRET\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args([
            "serve",
            "--store",
            "memory",
            "--listen",
            "127.0.0.1:0",
            "--bindings",
        ])
        .arg(&bindings)
        .env("KRADLE_TEST_SECRET", SECRET)
        .env_remove("KRADLE_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();

    let body = std::fs::read(format!(
        "{}/../../fixtures/github/webhooks/issues/opened.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{url}/webhooks/github/Codertocat/Hello-World"))
        .header("X-GitHub-Event", "issues")
        .header("X-GitHub-Delivery", "memory-1")
        .header(
            "X-Hub-Signature-256",
            sign_webhook(&Secret::new(SECRET), &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health: serde_json::Value = client
            .get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if health["workers"]["processed"] == 1 {
            assert_eq!(health["requests"]["accepted"], 1);
            break;
        }
        assert!(Instant::now() < deadline, "never processed: {health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // SIGTERM: a clean stop.
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_worker_on_the_memory_store_is_refused_with_what_to_run_instead() {
    let out = Command::new(env!("CARGO_BIN_EXE_kradle-sync"))
        .args(["worker", "--store", "memory", "--bindings", "unused.toml"])
        .env_remove("KRADLE_STORE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run `serve --store memory`"), "{err}");
}

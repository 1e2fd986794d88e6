//! Acknowledged appends survive a clean restart and a `kill -9`, with the same offsets and epoch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tether_tests::StateProcess;

async fn read_all(client: &reqwest::Client, url: &str) -> (Vec<u8>, String) {
    let mut body = Vec::new();
    let mut offset = "-1".to_string();
    loop {
        let resp = client.get(format!("{url}?offset={offset}")).send().await.expect("read");
        assert_eq!(resp.status(), 200);
        let next = resp.headers()["stream-next-offset"].to_str().expect("ascii").to_owned();
        let done = resp.headers().get("stream-up-to-date").is_some();
        body.extend_from_slice(&resp.bytes().await.expect("body"));
        offset = next;
        if done {
            return (body, offset);
        }
    }
}

async fn append(
    client: &reqwest::Client,
    url: &str,
    producer: &str,
    seq: u64,
    data: String,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(url)
        .header("content-type", "text/plain")
        .header("producer-id", producer)
        .header("producer-epoch", "0")
        .header("producer-seq", seq.to_string())
        .body(data)
        .send()
        .await
}

#[tokio::test]
async fn clean_restart_serves_everything_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let mut state = StateProcess::start(&data, &[], &[]);
    let url = state.stream_url("restart/a");
    let put = client.put(&url).header("content-type", "text/plain").send().await.expect("create");
    assert_eq!(put.status(), 201);
    let epoch = put.headers()["stream-epoch"].to_str().expect("ascii").to_owned();
    for seq in 0..50 {
        let r = append(&client, &url, "p", seq, format!("<{seq}>")).await.expect("append");
        assert_eq!(r.status(), 200);
    }
    let (before, tail_before) = read_all(&client, &url).await;
    assert!(state.terminate(), "clean exit on SIGTERM");

    let state = StateProcess::start(&data, &[], &[]);
    let url = state.stream_url("restart/a");
    let (after, tail_after) = read_all(&client, &url).await;
    assert_eq!(after, before, "byte-identical after restart");
    assert_eq!(tail_after, tail_before, "same offsets");
    let head = client.head(&url).send().await.expect("head");
    assert_eq!(head.headers()["stream-epoch"].to_str().expect("ascii"), epoch, "same epoch");
    // Producer state survived too: a retry of the last request is still a duplicate.
    let retry = append(&client, &url, "p", 49, "<49>".into()).await.expect("retry");
    assert_eq!(retry.status(), 204);
    let next = append(&client, &url, "p", 50, "<50>".into()).await.expect("append");
    assert_eq!(next.status(), 200);
}

#[tokio::test]
async fn kill_9_loses_no_acknowledged_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let mut state = StateProcess::start(&data, &[], &[]);
    let url = state.stream_url("crash/a");
    client.put(&url).header("content-type", "text/plain").send().await.expect("create");

    // Eight producers append until the server dies under them; every 2xx is remembered.
    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let (killed_tx, killed_rx) = tokio::sync::watch::channel(false);
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (client, url, acked, enough) = (client.clone(), url.clone(), acked.clone(), enough.clone());
        let killed = killed_rx.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("w{w}");
            for seq in 0.. {
                if *killed.borrow() {
                    return;
                }
                match append(&client, &url, &id, seq, format!("[{id}:{seq}]")).await {
                    Ok(r) if r.status().is_success() => {
                        let mut a = acked.lock().expect("lock");
                        a.insert(id.clone(), seq + 1);
                        if a.values().sum::<u64>() >= 400 {
                            enough.notify_one();
                        }
                    }
                    _ => return,
                }
            }
        }));
    }
    enough.notified().await;
    state.kill9();
    killed_tx.send(true).expect("signal writers");
    for t in tasks {
        t.await.expect("writer");
    }
    let acked = acked.lock().expect("lock").clone();

    let state = StateProcess::start(&data, &[], &[]);
    let url = state.stream_url("crash/a");
    let (body, _) = read_all(&client, &url).await;
    let text = String::from_utf8(body).expect("utf8");
    for (id, count) in &acked {
        for seq in 0..*count {
            let needle = format!("[{id}:{seq}]");
            assert_eq!(text.matches(&needle).count(), 1, "{needle} must be present exactly once");
        }
        // Retrying the last acknowledged request after the crash is recognised as a duplicate.
        let retry = append(&client, &url, id, count - 1, format!("[{id}:{}]", count - 1)).await.expect("retry");
        assert_eq!(retry.status(), 204, "{id} retry");
    }
    assert!(acked.values().sum::<u64>() >= 400);
}

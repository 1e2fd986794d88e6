//! SIGTERM ends live reads promptly and the process exits cleanly within its grace period.

use tether_tests::StateProcess;

#[tokio::test]
async fn sigterm_ends_long_polls_and_sse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state =
        StateProcess::start(&dir.path().join("data"), &["--long-poll-timeout", "120s", "--shutdown-grace", "5s"], &[]);
    let client = reqwest::Client::new();
    let url = state.stream_url("drain/a");
    client.put(&url).header("content-type", "text/plain").send().await.expect("create");
    let poll = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(format!("{url}?offset=now&live=long-poll")).send().await }
    });
    let mut sse = client.get(format!("{url}?offset=-1&live=sse")).send().await.expect("sse");
    // The first control event proves the SSE stream is live before we signal.
    let first = sse.chunk().await.expect("sse chunk").expect("control event");
    assert!(String::from_utf8_lossy(&first).contains("event: control"));
    // The long-poll is registered once the waiter gauge shows both live readers.
    tether_tests::eventually("both live readers to register", std::time::Duration::from_secs(60), || async {
        tether_tests::metric(&client, &state.url, "tether_state_live_waiters ").await == Some(2.0)
    })
    .await;
    let started = std::time::Instant::now();
    assert!(tokio::task::spawn_blocking(move || state.terminate()).await.expect("join"), "exit status 0");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "drained well within the grace period");
    let poll = poll.await.expect("join").expect("long-poll answered");
    assert_eq!(poll.status(), 204, "the long-poll was ended, not dropped");
    while let Ok(Some(_)) = sse.chunk().await {}
}

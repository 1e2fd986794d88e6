//! The HTTP API of the real binary: limits, error bodies, stale offsets, archive reads,
//! configuration checks and JSON logs.

use std::process::Command;

use tether_tests::{StateProcess, binary};

async fn error_code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.expect("JSON error body");
    (status, body["error"]["code"].as_str().expect("error.code").to_owned())
}

#[tokio::test]
async fn limits_and_malformed_requests_get_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = StateProcess::start(
        &dir.path().join("data"),
        &["--max-chunk-bytes", "1024", "--max-streams-per-request", "3"],
        &[],
    );
    let c = reqwest::Client::new();
    let url = state.stream_url("limits/a");
    c.put(&url).header("content-type", "text/plain").send().await.expect("create");

    let big = c.post(&url).header("content-type", "text/plain").body(vec![b'x'; 1025]).send().await.expect("post");
    assert_eq!(error_code(big).await, (413, "payload_too_large".into()));
    let ok = c.post(&url).header("content-type", "text/plain").body(vec![b'x'; 1024]).send().await.expect("post");
    assert_eq!(ok.status(), 204);

    let long = state.stream_url(&"n".repeat(257));
    assert_eq!(error_code(c.put(&long).send().await.expect("put")).await, (400, "invalid_stream_name".into()));
    let space = format!("{}/v1/stream/a%20b", state.url);
    assert_eq!(error_code(c.put(&space).send().await.expect("put")).await, (400, "invalid_stream_name".into()));
    let empty_segment = format!("{}/v1/stream/a//b", state.url);
    assert_eq!(error_code(c.put(&empty_segment).send().await.expect("put")).await, (400, "invalid_stream_name".into()));

    let partial = c
        .post(&url)
        .header("content-type", "text/plain")
        .header("producer-id", "p")
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(error_code(partial).await, (400, "invalid_producer_headers".into()));
    let ttl = c.put(state.stream_url("limits/ttl")).header("stream-ttl", "1.5").send().await.expect("put");
    assert_eq!(error_code(ttl).await, (400, "invalid_header".into()));
    let offset = c.get(format!("{url}?offset=abc")).send().await.expect("get");
    assert_eq!(error_code(offset).await, (400, "invalid_offset".into()));
    let missing = c.get(state.stream_url("limits/none")).send().await.expect("get");
    assert_eq!(error_code(missing).await, (404, "stream_not_found".into()));

    let names = serde_json::json!({ "streams": ["limits/a", "limits/none", "x"] });
    let meta: serde_json::Value =
        c.post(format!("{}/v1/meta", state.url)).json(&names).send().await.expect("meta").json().await.expect("json");
    assert_eq!(meta["limits/a"]["status"], "open");
    assert_eq!(meta["limits/none"]["status"], "not_found");
    let four = serde_json::json!({ "streams": ["a", "b", "c", "d"] });
    let too_many = c.post(format!("{}/v1/meta", state.url)).json(&four).send().await.expect("meta");
    assert_eq!(error_code(too_many).await, (413, "too_many_streams".into()));
}

#[tokio::test]
async fn offsets_of_a_deleted_incarnation_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = StateProcess::start(&dir.path().join("data"), &[], &[]);
    let c = reqwest::Client::new();
    let url = state.stream_url("epochs/a");
    c.put(&url).header("content-type", "text/plain").body("old-1").send().await.expect("create");
    let old = c.post(&url).header("content-type", "text/plain").body("old-2").send().await.expect("append");
    let old_offset = old.headers()["stream-next-offset"].to_str().expect("ascii").to_owned();
    assert_eq!(c.delete(&url).send().await.expect("delete").status(), 204);
    c.put(&url).header("content-type", "text/plain").body("new-1").send().await.expect("recreate");
    c.post(&url).header("content-type", "text/plain").body("new-2").send().await.expect("append");
    c.post(&url).header("content-type", "text/plain").body("new-3").send().await.expect("append");
    // Same position, other incarnation: an explicit verdict instead of someone else's bytes.
    let stale = c.get(format!("{url}?offset={old_offset}")).send().await.expect("get");
    assert_eq!(error_code(stale).await, (410, "offset_epoch_mismatch".into()));
    let fresh = c.get(&url).send().await.expect("get").text().await.expect("text");
    assert_eq!(fresh, "new-1new-2new-3");
}

#[tokio::test]
async fn sealed_segments_serve_old_chunks_from_the_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let state = StateProcess::start(
        &data,
        &["--seal-max-chunks", "10", "--archive-interval", "20ms", "--read-max-bytes", "1024"],
        &[],
    );
    let c = reqwest::Client::new();
    let url = state.stream_url("archive/a");
    c.put(&url).header("content-type", "application/octet-stream").send().await.expect("create");
    let mut expected = Vec::new();
    for i in 0u32..95 {
        let chunk: Vec<u8> = (0..100u32).map(|j| ((i * 7 + j) % 251) as u8).collect();
        expected.extend_from_slice(&chunk);
        c.post(&url).header("content-type", "application/octet-stream").body(chunk).send().await.expect("append");
    }
    let close = c.post(&url).header("stream-closed", "true").send().await.expect("close");
    assert_eq!(close.status(), 204);
    // Closing seals the rest promptly: wait until nothing is left in the hot log.
    tether_tests::eventually(
        "ten sealed segments and an empty hot log",
        std::time::Duration::from_secs(120),
        || async {
            tether_tests::metric(&c, &state.url, "tether_state_archive_backlog_chunks ").await == Some(0.0)
                && tether_tests::metric(&c, &state.url, "tether_state_segments_sealed_total ").await == Some(10.0)
        },
    )
    .await;
    let mut body = Vec::new();
    let mut offset = "-1".to_owned();
    let mut closed = false;
    while !closed {
        let r = c.get(format!("{url}?offset={offset}")).send().await.expect("read");
        assert_eq!(r.status(), 200);
        offset = r.headers()["stream-next-offset"].to_str().expect("ascii").to_owned();
        closed = r.headers().get("stream-closed").is_some();
        body.extend_from_slice(&r.bytes().await.expect("body"));
    }
    assert_eq!(body, expected, "byte-identical from the archive");
    let m = c.get(format!("{}/metrics", state.url)).send().await.expect("metrics").text().await.expect("text");
    // The hot log no longer holds them; the sealed segments (written through to the segment
    // cache by the archiver) served them.
    assert!(m.contains("tether_state_read_source_total{result=\"miss\",tier=\"embedded\"}"), "{m}");
    assert!(m.contains("tether_state_read_source_total{result=\"hit\",tier=\"memory\"}"), "{m}");
    let mut entries: Vec<String> = std::fs::read_dir(data.join("archive/streams/archive/a"))
        .expect("archive dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 2, "one incarnation directory and the latest pointer: {entries:?}");
    assert_eq!(entries[1], "latest.json");
}

#[test]
fn check_config_validates_and_reports() {
    let ok = Command::new(binary("tether-state"))
        .args(["--check-config", "--listen", "127.0.0.1:9999"])
        .output()
        .expect("run");
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("listen = \"127.0.0.1:9999\""));
    let bad = Command::new(binary("tether-state"))
        .arg("--check-config")
        .env("TETHER_MAX_CHUNK_BYTES", "0")
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("max_chunk_bytes"));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tether.toml");
    std::fs::write(&file, "long_poll_timeout = \"3s\"\nread_max_bytes = 4096\n").expect("write");
    let from_file =
        Command::new(binary("tether-state")).arg("--check-config").arg("--config").arg(&file).output().expect("run");
    let text = String::from_utf8_lossy(&from_file.stdout).into_owned();
    assert!(text.contains("long_poll_timeout = \"3s\"") && text.contains("read_max_bytes = 4096"), "{text}");
    std::fs::write(&file, "no_such_key = 1\n").expect("write");
    let unknown =
        Command::new(binary("tether-state")).arg("--check-config").arg("--config").arg(&file).output().expect("run");
    assert!(!unknown.status.success(), "unknown keys are refused");
}

#[tokio::test]
async fn json_logs_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = StateProcess::start(&dir.path().join("data"), &[], &[("TETHER_LOG_FORMAT", "json")]);
    assert!(state.terminate());
    let log = std::fs::read_to_string(&state.log).expect("log");
    let lines: Vec<_> = log.lines().collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.get("level").is_some());
    }
}

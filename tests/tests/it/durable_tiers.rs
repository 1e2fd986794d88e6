//! `tether-state` on a real redis-server and a real S3 API server (moto): archive recovery after
//! FLUSHALL, two instances sharing one Redis with a `kill -9`, an S3 outage, a Redis restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether_tests::servers::{self, Server};
use tether_tests::{StateProcess, eventually, metric};

const BUCKET: &str = "tether-it";
/// Every test chunk: producer (4 hex) + sequence (8 hex) + padding = 16 bytes.
const CHUNK: usize = 16;

fn chunk(producer: usize, seq: u64) -> String {
    format!("{producer:04x}{seq:08x}....")
}

fn state_args<'a>(redis: &'a Server, s3: &'a Server, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--redis-url",
        redis.url.as_str(),
        "--s3-bucket",
        BUCKET,
        "--s3-endpoint",
        s3.url.as_str(),
        "--s3-region",
        "us-east-1",
        "--s3-force-path-style",
        "--s3-timeout",
        "2s",
        "--archive-interval",
        "50ms",
    ];
    args.extend_from_slice(extra);
    args
}

async fn append(c: &reqwest::Client, url: &str, producer: usize, seq: u64) -> reqwest::Result<reqwest::Response> {
    c.post(url)
        .header("content-type", "application/octet-stream")
        .header("producer-id", format!("p{producer}"))
        .header("producer-epoch", "0")
        .header("producer-seq", seq.to_string())
        .body(chunk(producer, seq))
        .send()
        .await
}

/// Reads a whole stream from `offset`; returns the bytes, the final offset and whether the
/// last response said `Stream-Closed`.
async fn read_from(c: &reqwest::Client, url: &str, offset: &str) -> (Vec<u8>, String, bool) {
    let mut body = Vec::new();
    let mut offset = offset.to_owned();
    loop {
        let r = c.get(format!("{url}?offset={offset}")).send().await.expect("read");
        assert_eq!(r.status(), 200, "read at {offset}: {}", r.text().await.unwrap_or_default());
        let next = r.headers()["stream-next-offset"].to_str().expect("ascii").to_owned();
        let done = r.headers().get("stream-up-to-date").is_some();
        let closed = r.headers().get("stream-closed").is_some();
        body.extend_from_slice(&r.bytes().await.expect("body"));
        offset = next;
        if done {
            return (body, offset, closed);
        }
    }
}

/// Waits until the archiver has nothing left in the hot log.
async fn archived(c: &reqwest::Client, base: &str) {
    eventually("the archiver to empty the hot log", Duration::from_secs(120), || async {
        let backlog = metric(c, base, "tether_state_archive_backlog_chunks ").await;
        let sealed = metric(c, base, "tether_state_segments_sealed_total ").await;
        backlog == Some(0.0) && sealed.is_some_and(|s| s > 0.0)
    })
    .await;
}

async fn flushall(redis_url: &str) {
    let addr = redis_url.trim_start_matches("redis://");
    let status = tokio::process::Command::new("redis-cli")
        .args(["-u", &format!("redis://{addr}"), "FLUSHALL"])
        .status()
        .await
        .expect("redis-cli");
    assert!(status.success());
}

/// Every chunk of `body` split into 16-byte records, counted.
fn census(body: &[u8]) -> HashMap<Vec<u8>, usize> {
    assert_eq!(body.len() % CHUNK, 0);
    let mut seen = HashMap::new();
    for rec in body.chunks(CHUNK) {
        *seen.entry(rec.to_vec()).or_insert(0) += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn archived_stream_survives_flushall() {
    let redis = servers::redis(false);
    let s3 = servers::moto(BUCKET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state =
        StateProcess::start(&dir.path().join("a"), &state_args(&redis, &s3, &["--seal-max-chunks", "5000"]), &[]);
    let c = reqwest::Client::new();
    let url = state.stream_url("recover/long");
    let put = c.put(&url).header("content-type", "application/octet-stream").send().await.expect("create");
    let epoch = put.headers()["stream-epoch"].to_str().expect("ascii").to_owned();

    const PRODUCERS: usize = 32;
    const PER: u64 = 100_000 / PRODUCERS as u64 + 1;
    let marks: Arc<Mutex<Vec<(usize, u64, String)>>> = Arc::default();
    let mut tasks = Vec::new();
    for p in 0..PRODUCERS {
        let (c, url, marks) = (c.clone(), url.clone(), marks.clone());
        tasks.push(tokio::spawn(async move {
            for seq in 0..PER {
                let r = append(&c, &url, p, seq).await.expect("append");
                assert_eq!(r.status(), 200);
                if seq % 997 == 0 {
                    let next = r.headers()["stream-next-offset"].to_str().expect("ascii").to_owned();
                    marks.lock().expect("lock").push((p, seq, next));
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("producer");
    }
    assert_eq!(c.post(&url).header("stream-closed", "true").send().await.expect("close").status(), 204);
    archived(&c, &state.url).await;
    let (before, tail_before, closed_before) = read_from(&c, &url, "-1").await;
    assert_eq!(before.len(), PRODUCERS * PER as usize * CHUNK);
    assert!(closed_before);

    flushall(&redis.url).await;

    let (after, tail_after, closed_after) = read_from(&c, &url, "-1").await;
    assert!(after == before, "every chunk, byte-identical, from S3");
    assert_eq!(tail_after, tail_before, "same offsets");
    assert!(closed_after, "closed status preserved");
    let head = c.head(&url).send().await.expect("head");
    assert_eq!(head.headers()["stream-epoch"].to_str().expect("ascii"), epoch, "same epoch");
    assert!(census(&after).values().all(|n| *n == 1));
    assert!(metric(&c, &state.url, "tether_state_streams_recovered_total ").await >= Some(1.0));

    // A read from the middle starts at exactly the chunk after the mark.
    let marks = marks.lock().expect("lock").clone();
    for (p, seq, offset) in marks.iter().step_by(7) {
        let at = before.chunks(CHUNK).position(|r| r == chunk(*p, *seq).as_bytes()).expect("marked chunk") + 1;
        let (rest, _, _) = read_from(&c, &url, offset).await;
        assert_eq!(rest, before[at * CHUNK..], "resume after {p}:{seq}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_instance_keeps_everything_after_kill_9() {
    let redis = servers::redis(false);
    let s3 = servers::moto(BUCKET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a =
        StateProcess::start(&dir.path().join("a"), &state_args(&redis, &s3, &["--seal-max-chunks", "200"]), &[]);
    let b = StateProcess::start(&dir.path().join("b"), &state_args(&redis, &s3, &["--seal-max-chunks", "200"]), &[]);
    let c = reqwest::Client::new();
    let (url_a, url_b) = (a.stream_url("shared/s"), b.stream_url("shared/s"));
    c.put(&url_a).header("content-type", "application/octet-stream").send().await.expect("create");

    // A live reader on B, following with long-polls from the start.
    let tail = tokio::spawn({
        let (c, url_b) = (c.clone(), url_b.clone());
        async move {
            let mut got = Vec::new();
            let mut offset = "-1".to_owned();
            loop {
                let r = c.get(format!("{url_b}?offset={offset}&live=long-poll")).send().await.expect("poll");
                if let Some(next) = r.headers().get("stream-next-offset") {
                    offset = next.to_str().expect("ascii").to_owned();
                }
                let closed = r.headers().get("stream-closed").is_some();
                got.extend_from_slice(&r.bytes().await.expect("body"));
                if closed {
                    return got;
                }
            }
        }
    });

    let acked: Arc<Mutex<HashMap<usize, u64>>> = Arc::default();
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for p in 0..8 {
        let (c, url_a, acked, enough) = (c.clone(), url_a.clone(), acked.clone(), enough.clone());
        tasks.push(tokio::spawn(async move {
            for seq in 0.. {
                match append(&c, &url_a, p, seq).await {
                    Ok(r) if r.status().is_success() => {
                        let mut a = acked.lock().expect("lock");
                        a.insert(p, seq + 1);
                        if a.values().sum::<u64>() >= 2000 {
                            enough.notify_one();
                        }
                    }
                    _ => return,
                }
            }
        }));
    }
    enough.notified().await;
    a.kill9();
    for t in tasks {
        t.await.expect("producer");
    }
    let acked = acked.lock().expect("lock").clone();
    // Producers retry their unanswered request through B: each lands exactly once.
    for (p, n) in &acked {
        let r = append(&c, &url_b, *p, *n).await.expect("retry through B");
        assert!(r.status().is_success(), "{}", r.status());
    }
    c.post(&url_b).header("stream-closed", "true").send().await.expect("close");
    let (all, _, closed) = read_from(&c, &url_b, "-1").await;
    assert!(closed);
    let seen = census(&all);
    for (p, n) in &acked {
        for seq in 0..=*n {
            assert_eq!(seen.get(chunk(*p, seq).as_bytes()), Some(&1), "{p}:{seq} exactly once");
        }
    }
    let live = tail.await.expect("tail");
    assert!(live == all, "the live reader on B saw the same chunks in the same order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_outage_delays_archiving_but_loses_nothing() {
    let redis = servers::redis(false);
    let s3 = servers::moto(BUCKET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = StateProcess::start(&dir.path().join("a"), &state_args(&redis, &s3, &["--seal-max-chunks", "50"]), &[]);
    let c = reqwest::Client::new();
    let url = state.stream_url("outage/s3");
    c.put(&url).header("content-type", "application/octet-stream").send().await.expect("create");
    for seq in 0..100 {
        let r = append(&c, &url, 0, seq).await.expect("append");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    archived(&c, &state.url).await;
    // Freeze the S3 server: connections hang, so every S3 call times out.
    signal(s3.pid(), "STOP");
    for seq in 100..400 {
        assert_eq!(append(&c, &url, 0, seq).await.expect("append while S3 is down").status(), 200);
    }
    eventually("an archive error while S3 is frozen", Duration::from_secs(120), || async {
        metric(&c, &state.url, "tether_state_archive_errors_total ").await.is_some_and(|e| e >= 1.0)
    })
    .await;
    // Freshly sealed segments are written through to the cache, so even the archived part
    // stays readable while S3 is down.
    let (during, _, _) = read_from(&c, &url, "-1").await;
    assert_eq!(during.len(), 400 * CHUNK, "hot and archived chunks all readable during the outage");
    signal(s3.pid(), "CONT");
    c.post(&url).header("stream-closed", "true").send().await.expect("close");
    archived(&c, &state.url).await;
    flushall(&redis.url).await;
    let (after, _, closed) = read_from(&c, &url, "-1").await;
    assert!(closed);
    let expected: Vec<u8> = (0..400).flat_map(|s| chunk(0, s).into_bytes()).collect();
    assert!(after == expected, "the archive caught up: every chunk in order, from S3 alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restart_with_aof_loses_no_acknowledged_append() {
    let port = servers::free_port();
    let redis = servers::redis_in(port, true, tempfile::tempdir().expect("tempdir"));
    let s3 = servers::moto(BUCKET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state =
        StateProcess::start(&dir.path().join("a"), &state_args(&redis, &s3, &["--redis-timeout", "500ms"]), &[]);
    let c = reqwest::Client::new();
    let url = state.stream_url("outage/redis");
    c.put(&url).header("content-type", "application/octet-stream").send().await.expect("create");

    // Four producers retry every request until it is acknowledged (idempotent headers make
    // retries safe); they count the errors they saw.
    let progress: Arc<Mutex<HashMap<usize, u64>>> = Arc::default();
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let halfway = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for p in 0..4 {
        let (c, url, progress, errors, halfway) =
            (c.clone(), url.clone(), progress.clone(), errors.clone(), halfway.clone());
        tasks.push(tokio::spawn(async move {
            for seq in 0..300u64 {
                loop {
                    match append(&c, &url, p, seq).await {
                        Ok(r) if r.status().is_success() => break,
                        Ok(r) => {
                            assert_eq!(r.status(), 503, "outage errors are 503");
                            assert!(r.headers().contains_key("retry-after"));
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(_) => {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    tokio::task::yield_now().await;
                }
                let mut prog = progress.lock().expect("lock");
                prog.insert(p, seq + 1);
                if prog.values().sum::<u64>() >= 400 {
                    halfway.notify_one();
                }
            }
        }));
    }
    halfway.notified().await;
    let data = redis.stop().expect("redis data dir");
    // While Redis is down the service says so.
    eventually("readyz to report Redis down", Duration::from_secs(60), || async {
        c.get(format!("{}/readyz", state.url)).send().await.expect("readyz").status() == 503
    })
    .await;
    let redis = servers::redis_in(port, true, data);
    for t in tasks {
        t.await.expect("producer");
    }
    assert!(errors.load(std::sync::atomic::Ordering::Relaxed) > 0, "clients saw the outage");
    assert!(metric(&c, &state.url, "tether_state_redis_errors_total ").await > Some(0.0), "and so did the metrics");
    let (all, _, _) = read_from(&c, &url, "-1").await;
    let seen = census(&all);
    for p in 0..4 {
        for seq in 0..300 {
            assert_eq!(seen.get(chunk(p, seq).as_bytes()), Some(&1), "{p}:{seq} exactly once");
        }
    }
    // Per producer, chunks are in order.
    for p in 0..4 {
        let order: Vec<u64> = all
            .chunks(CHUNK)
            .filter(|r| r.starts_with(format!("{p:04x}").as_bytes()))
            .map(|r| u64::from_str_radix(std::str::from_utf8(&r[4..12]).expect("hex"), 16).expect("seq"))
            .collect();
        assert_eq!(order, (0..300).collect::<Vec<_>>());
    }
    drop(redis);
}

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().expect("kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_memory_headroom_refuses_appends_clearly() {
    let redis = servers::redis(false);
    let s3 = servers::moto(BUCKET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // One byte of headroom: Redis always uses more, so appends must be refused.
    let state =
        StateProcess::start(&dir.path().join("a"), &state_args(&redis, &s3, &["--redis-max-memory-bytes", "1"]), &[]);
    let c = reqwest::Client::new();
    let url = state.stream_url("headroom/a");
    assert_eq!(
        c.put(&url).header("content-type", "application/octet-stream").send().await.expect("create").status(),
        201
    );
    let r = append(&c, &url, 0, 0).await.expect("append");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "archive_backlog_full");
    let used = metric(&c, &state.url, "tether_state_hot_log_used_bytes ").await.expect("gauge");
    assert!(used > 1.0, "the gauge shows Redis memory use");
    let refused =
        metric(&c, &state.url, "tether_state_append_rejections_total{reason=\"archive_backlog_full\"} ").await;
    assert_eq!(refused, Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_replicas_before_acknowledging() {
    let primary = servers::redis(false);
    let replica = servers::redis_replica(&primary.url);
    let s3 = servers::moto(BUCKET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = ["--redis-wait-replicas", "1", "--redis-wait-timeout", "300ms"];
    let state = StateProcess::start(&dir.path().join("a"), &state_args(&primary, &s3, &extra), &[]);
    let c = reqwest::Client::new();
    let url = state.stream_url("replicated/a");
    c.put(&url).header("content-type", "application/octet-stream").send().await.expect("create");
    // The replica may still be syncing: the first append is retried (same producer headers)
    // until it is acknowledged, as 200 or, if an earlier try was written but not yet
    // replicated, as a 204 duplicate.
    loop {
        let r = append(&c, &url, 0, 0).await.expect("append");
        if r.status().is_success() {
            break;
        }
        assert_eq!(r.status(), 503, "not yet replicated: a retryable 503");
        tokio::task::yield_now().await;
    }
    drop(replica);
    // No replica left: the write reaches the primary but is not acknowledged as durable.
    let r = append(&c, &url, 0, 1).await.expect("append");
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(body["error"]["message"].as_str().expect("message").contains("replicas"), "{body}");
    // The client's retry with the same producer headers is a duplicate, not a second copy.
    let retry = append(&c, &url, 0, 1).await.expect("retry");
    assert_eq!(retry.status(), 503, "still unreplicated, still not acknowledged");
    let (all, _, _) = read_from(&c, &url, "-1").await;
    assert_eq!(census(&all).get(chunk(0, 1).as_bytes()), Some(&1), "written once");
}

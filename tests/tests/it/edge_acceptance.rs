//! The edge acceptance scenarios on the real topology: two edges, two state instances,
//! redis-server and an S3 API server (moto). Clients use the reconnecting Rust client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tether_client::{Client, Event, Options};
use tether_protocol::ws::{From, Verdict};
use tether_protocol::{Offset, StreamName};
use tether_tests::servers::{self, Server};
use tether_tests::{EdgeProcess, StateProcess, eventually};

use crate::edge::{SECRET, name, token};

const BUCKET: &str = "tether-edge-it";

fn state_args<'a>(redis: &'a Server, s3: &'a Server) -> Vec<&'a str> {
    vec![
        "--redis-url",
        redis.url.as_str(),
        "--s3-bucket",
        BUCKET,
        "--s3-endpoint",
        s3.url.as_str(),
        "--s3-region",
        "us-east-1",
        "--s3-force-path-style",
        "--archive-interval",
        "100ms",
        "--seal-max-chunks",
        "256",
    ]
}

struct Topology {
    states: Vec<StateProcess>,
    edges: Vec<EdgeProcess>,
    redis: Server,
    _s3: Server,
    _dir: tempfile::TempDir,
}

async fn topology() -> Topology {
    let redis = servers::redis(false);
    let s3 = servers::moto(BUCKET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let args = state_args(&redis, &s3);
    let states: Vec<StateProcess> =
        (0..2).map(|i| StateProcess::start(&dir.path().join(format!("state{i}")), &args, &[])).collect();
    let urls: Vec<&str> = states.iter().map(|s| s.url.as_str()).collect();
    let edges = (0..2)
        .map(|i| {
            EdgeProcess::start(&urls, &[], &[("TETHER_JWT_SECRET", SECRET)], &dir.path().join(format!("edge{i}.log")))
        })
        .collect();
    Topology { states, edges, redis, _s3: s3, _dir: dir }
}

/// Follows one stream until it closes; returns every chunk (offset, next, bytes) received.
async fn follow(
    mut client: Client,
    stream: StreamName,
    progress: Arc<AtomicU64>,
) -> (Vec<(Offset, Offset, Bytes)>, Client) {
    client.subscribe(stream.clone(), From::Start).await.expect("subscribe");
    let mut got = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(120), client.next_event()).await.expect("events keep coming");
        match ev.expect("client alive") {
            Event::Chunk { stream: s, offset, next, data } => {
                assert_eq!(s, stream);
                got.push((offset, next, data));
                progress.fetch_add(1, Ordering::Relaxed);
            }
            Event::Closed { stream: s, .. } if s == stream => return (got, client),
            Event::Reset { reason, .. } => panic!("{stream}: unexpected reset {reason:?}"),
            _ => {}
        }
    }
}

fn check(stream: &StreamName, got: &[(Offset, Offset, Bytes)], expect: impl Fn(usize) -> String, n: usize) {
    assert_eq!(got.len(), n, "{stream}: every chunk exactly once");
    let mut at = Offset::ZERO;
    for (i, (offset, next, data)) in got.iter().enumerate() {
        assert_eq!(*offset, at, "{stream}: chunk {i} continues the previous one");
        assert_eq!(&data[..], expect(i).as_bytes(), "{stream}: chunk {i} byte-identical");
        at = *next;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_survive_an_edge_kill_with_every_offset_once() {
    let mut topo = topology().await;
    const LLM: usize = 200;
    const BROADCAST: usize = 50;
    const CHUNKS: usize = 1000;
    let http = reqwest::Client::new();
    let state_urls: Vec<String> = topo.states.iter().map(|s| s.url.clone()).collect();
    let stream_url = |i: usize, n: &str| format!("{}/v1/stream/{n}", state_urls[i % state_urls.len()]);
    for i in 0..LLM {
        let r = http
            .put(stream_url(i, &format!("llm/{i}")))
            .header("content-type", "text/plain")
            .send()
            .await
            .expect("create");
        assert!(r.status().is_success());
    }
    let r = http.put(stream_url(0, "broadcast/all")).header("content-type", "text/plain").send().await.expect("create");
    assert!(r.status().is_success());
    // Every client starts on edge 0 and knows edge 1 as its fallback.
    let ws: Vec<String> = topo.edges.iter().map(EdgeProcess::ws_url).collect();
    let progress = Arc::new(AtomicU64::new(0));
    let mut followers = Vec::new();
    for i in 0..LLM + BROADCAST {
        let (stream, sub) = if i < LLM {
            (format!("llm/{i}"), format!("user-{i}"))
        } else {
            ("broadcast/all".into(), format!("viewer-{i}"))
        };
        let t = token(&sub, &[&stream], &[], Duration::from_secs(3600));
        let client = Client::connect(Options::new(ws.clone(), Some(t)));
        followers.push(tokio::spawn(follow(client, name(&stream), progress.clone())));
    }
    // Producers: one per LLM stream at a jittered rate, one for the broadcast.
    let mut producers = Vec::new();
    for i in 0..=LLM {
        let (http, url) =
            (http.clone(), if i < LLM { stream_url(i, &format!("llm/{i}")) } else { stream_url(1, "broadcast/all") });
        producers.push(tokio::spawn(async move {
            for seq in 0..CHUNKS {
                let r = http
                    .post(&url)
                    .header("content-type", "text/plain")
                    .header("producer-id", "llm")
                    .header("producer-epoch", "0")
                    .header("producer-seq", seq.to_string())
                    .body(format!("{i}:{seq}"))
                    .send()
                    .await
                    .expect("append");
                assert!(r.status().is_success(), "append {i}:{seq}: {}", r.status());
                // The simulated model's pace: 0-3 ms between tokens.
                let jitter = rand::random::<u64>() % 4;
                if jitter > 0 {
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
            }
            let r = http.post(&url).header("stream-closed", "true").send().await.expect("close");
            assert_eq!(r.status(), 204);
        }));
    }
    // Mid-stream, edge 0 dies without warning.
    let total = (LLM * CHUNKS + BROADCAST * CHUNKS) as u64;
    while progress.load(Ordering::Relaxed) < total / 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    topo.edges[0].kill9();
    for p in producers {
        p.await.expect("producer");
    }
    let mut reconnected = 0;
    for (i, f) in followers.into_iter().enumerate() {
        let (got, client) = f.await.expect("follower");
        let stream = if i < LLM { format!("llm/{i}") } else { "broadcast/all".into() };
        let owner = if i < LLM { i } else { LLM };
        check(&name(&stream), &got, |seq| format!("{owner}:{seq}"), CHUNKS);
        assert_eq!(client.stats.gaps.load(Ordering::Relaxed), 0);
        assert_eq!(client.stats.duplicates.load(Ordering::Relaxed), 0, "{stream}: the edge sent no duplicate");
        reconnected += usize::from(client.stats.reconnects.load(Ordering::Relaxed) > 0);
    }
    assert_eq!(reconnected, LLM + BROADCAST, "every client moved to the surviving edge");
    drop(topo.redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_a_stream_archived_and_flushed_from_redis() {
    let topo = topology().await;
    let http = reqwest::Client::new();
    let url = topo.states[0].stream_url("archived/1");
    let r = http.put(&url).header("content-type", "text/plain").send().await.expect("create");
    assert!(r.status().is_success());
    let mut mid = String::new();
    for i in 0..600 {
        let r =
            http.post(&url).header("content-type", "text/plain").body(format!("a{i}")).send().await.expect("append");
        if i == 299 {
            mid = r.headers()["stream-next-offset"].to_str().expect("ascii").to_owned();
        }
    }
    assert_eq!(http.post(&url).header("stream-closed", "true").send().await.expect("close").status(), 204);
    // Wait until the archiver has emptied the hot log (the record's `hot` start has reached
    // its `tail`; either state instance may hold the lease), then make Redis forget everything.
    let addr = topo.redis.url.trim_start_matches("redis://").to_owned();
    eventually("the archiver to seal all 600 chunks", Duration::from_secs(120), || {
        let addr = addr.clone();
        async move {
            let out = tokio::process::Command::new("redis-cli")
                .args(["-u", &format!("redis://{addr}"), "HMGET", "ts:{archived/1}:r", "hot", "tail"])
                .output()
                .await
                .expect("redis-cli");
            let text = String::from_utf8_lossy(&out.stdout);
            let v: Vec<&str> = text.split_whitespace().collect();
            v.len() == 2 && v[0] == v[1] && v[1] == "600"
        }
    })
    .await;
    let status = tokio::process::Command::new("redis-cli")
        .args(["-u", &format!("redis://{addr}"), "FLUSHALL"])
        .status()
        .await
        .expect("redis-cli");
    assert!(status.success());
    let t = token("kim", &["archived/*"], &[], Duration::from_secs(600));
    let mut client = Client::connect(Options::new(vec![topo.edges[1].ws_url()], Some(t)));
    let at = Offset::parse(&mid).expect("offset");
    client.subscribe(name("archived/1"), From::At(at)).await.expect("subscribe");
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(60), client.next_event()).await.expect("event").expect("alive") {
            Event::Subscribed { verdict, from, .. } => {
                assert_eq!(verdict, Verdict::Resumed);
                assert_eq!(from, at);
            }
            Event::Chunk { data, .. } => got.push(String::from_utf8(data.to_vec()).expect("utf8")),
            Event::Closed { .. } => break,
            Event::Reset { reason, .. } => panic!("reset: {reason:?}"),
            _ => {}
        }
    }
    assert_eq!(got, (300..600).map(|i| format!("a{i}")).collect::<Vec<_>>());
}

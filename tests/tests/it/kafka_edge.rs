//! End to end: a Kafka message routed to a stream reaches a WebSocket client through an edge,
//! and after the client's edge dies it resumes on the other with no duplicate. The Kafka peer
//! is librdkafka's mock cluster in this process (real TCP listeners the state binary joins).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use tether_client::{Client, Event, Options};
use tether_protocol::ws::From;
use tether_tests::{EdgeProcess, StateProcess};

use crate::edge::{SECRET, name, token};

async fn produce(p: &FutureProducer, topic: &str, key: &str, payload: &str) {
    p.send(FutureRecord::to(topic).key(key).payload(payload), Duration::from_secs(10))
        .await
        .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
}

/// The next `n` chunk payloads; panics on a reset or a gap.
async fn take(client: &mut Client, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let ev = tokio::time::timeout(Duration::from_secs(60), client.next_event()).await.expect("event in time");
        match ev.expect("client alive") {
            Event::Chunk { data, .. } => got.push(String::from_utf8(data.to_vec()).expect("utf8")),
            Event::Reset { reason, .. } => panic!("reset: {reason:?}"),
            _ => {}
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_message_reaches_a_websocket_client_and_resumes_without_duplicates() {
    let mock: MockCluster<'static, DefaultProducerContext> = MockCluster::new(1).expect("mock cluster");
    mock.create_topic("trading.order-filled", 2, 1).expect("topic");
    let brokers = mock.bootstrap_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("state.toml");
    std::fs::write(
        &config,
        format!(
            r#"
kafka_brokers = "{brokers}"
kafka_group_id = "e2e"

[[kafka_route]]
topic = "trading.order-filled"
stream = "assessment/{{payload./assessmentId}}"
content_type = "application/json"
"#
        ),
    )
    .expect("config");
    let state = StateProcess::start(&dir.path().join("state"), &["--config", config.to_str().expect("utf8")], &[]);
    let mut edges: Vec<EdgeProcess> = (0..2)
        .map(|i| {
            EdgeProcess::start(
                &[&state.url],
                &[],
                &[("TETHER_JWT_SECRET", SECRET)],
                &dir.path().join(format!("e{i}.log")),
            )
        })
        .collect();
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", &brokers).create().expect("producer");
    let msg = |i: usize| format!(r#"{{"assessmentId":"a1","fill":{i}}}"#);
    produce(&producer, "trading.order-filled", "k", &msg(0)).await;
    // The stream exists once the first message is ingested.
    let http = reqwest::Client::new();
    let url = state.stream_url("assessment/a1");
    tokio::time::timeout(Duration::from_secs(60), async {
        while !http.head(&url).send().await.is_ok_and(|r| r.status() == 200) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the routed stream appears");
    let t = token("trader", &["assessment/a1"], &[], Duration::from_secs(600));
    let mut client = Client::connect(Options::new(edges.iter().map(EdgeProcess::ws_url).collect(), Some(t)));
    client.subscribe(name("assessment/a1"), From::Start).await.expect("subscribe");
    for i in 1..10 {
        produce(&producer, "trading.order-filled", "k", &msg(i)).await;
    }
    let first = take(&mut client, 10).await;
    assert_eq!(first, (0..10).map(msg).collect::<Vec<_>>());
    // The client's edge dies; it resumes on the other one.
    edges[0].kill9();
    for i in 10..20 {
        produce(&producer, "trading.order-filled", "k", &msg(i)).await;
    }
    let rest = take(&mut client, 10).await;
    assert_eq!(rest, (10..20).map(msg).collect::<Vec<_>>());
    assert_eq!(client.stats.duplicates.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert_eq!(client.stats.gaps.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert!(client.stats.reconnects.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    // And the stream holds each message once.
    let body: Vec<serde_json::Value> =
        http.get(format!("{url}?offset=-1")).send().await.expect("read").json().await.expect("json");
    assert_eq!(body.len(), 20);
}

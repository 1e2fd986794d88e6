//! Kafka ingest and lifecycle events against librdkafka's in-process mock cluster: routing by
//! key, header, JSON pointer and fixed stream; exactly once across restarts, replays and group
//! rebalances; dead letters; the event outbox riding out a cluster that refuses produce
//! requests. Each test starts its own cluster and state service(s) on free ports.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use tether_state::config::{Config, KafkaConfig, KafkaProperties, RedisConfig};
use tether_state::kafka::routes::RouteConfig;
use tokio_util::sync::CancellationToken;

type Mock = MockCluster<'static, DefaultProducerContext>;

fn mock(topics: &[(&str, i32)]) -> Mock {
    let mock = MockCluster::new(1).expect("mock cluster");
    for (t, partitions) in topics {
        mock.create_topic(t, *partitions, 1).expect("create topic");
    }
    mock
}

fn route(topic: &str, stream: &str, content_type: &str) -> RouteConfig {
    RouteConfig {
        topic: Some(topic.into()),
        topic_pattern: None,
        stream: stream.into(),
        content_type: content_type.into(),
    }
}

fn kafka_config(brokers: &str, group: &str, routes: Vec<RouteConfig>) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers.to_owned(),
        group_id: group.to_owned(),
        events_topic: None,
        dead_letter_topic: None,
        outbox_max_events: 10_000,
        producer_epoch: 0,
        produce_timeout: Duration::from_secs(1),
        lag_interval: Duration::from_millis(200),
        routes,
        // Quick group joins and hand-overs (the producer ignores these consumer settings).
        properties: KafkaProperties(BTreeMap::from([
            ("heartbeat.interval.ms".to_owned(), "200".to_owned()),
            ("session.timeout.ms".to_owned(), "6000".to_owned()),
        ])),
    }
}

/// A state service running in this process.
struct State {
    url: String,
    shutdown: CancellationToken,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl State {
    async fn start(kafka: KafkaConfig, redis: Option<&str>, tune: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = Config::for_tests(dir.path().to_owned());
        cfg.kafka = Some(kafka);
        cfg.redis = redis.map(|url| RedisConfig {
            url: url.to_owned(),
            wait_replicas: 0,
            wait_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            max_memory_bytes: None,
        });
        tune(&mut cfg);
        cfg.validate().expect("valid test config");
        let shutdown = CancellationToken::new();
        let running = tether_state::start(cfg, shutdown.clone()).await.expect("state service starts");
        Self { url: format!("http://{}", running.addr), shutdown, done: running.done, _dir: dir }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.done.await.expect("join").expect("clean stop");
    }

    /// The stream's chunks (text streams whose chunks end in `\n`), or `None` if it is absent.
    async fn lines(&self, name: &str) -> Option<Vec<String>> {
        let resp = http().get(format!("{}/v1/stream/{name}?offset=-1", self.url)).send().await.expect("GET");
        if resp.status() == 404 {
            return None;
        }
        assert!(resp.status().is_success(), "GET {name}: {}", resp.status());
        let text = resp.text().await.expect("body");
        Some(text.lines().map(str::to_owned).collect())
    }

    async fn body(&self, name: &str) -> Option<String> {
        let resp = http().get(format!("{}/v1/stream/{name}?offset=-1", self.url)).send().await.expect("GET");
        if resp.status() == 404 {
            return None;
        }
        Some(resp.text().await.expect("body"))
    }

    /// Sum of every sample of `metric` whose labels include all of `labels`.
    async fn metric(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        let text =
            http().get(format!("{}/metrics", self.url)).send().await.expect("metrics").text().await.expect("text");
        text.lines()
            .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
            .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Polls `check` until it holds; there is no readiness signal for "Kafka delivered it", so
/// this is the one bounded polling loop of the tests.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn producer(mock: &Mock) -> FutureProducer {
    ClientConfig::new().set("bootstrap.servers", mock.bootstrap_servers()).create().expect("producer")
}

async fn produce(p: &FutureProducer, topic: &str, key: Option<&str>, headers: &[(&str, &str)], payload: &[u8]) -> i64 {
    let mut h = OwnedHeaders::new();
    for (k, v) in headers {
        h = h.insert(Header { key: k, value: Some(*v) });
    }
    let mut record = FutureRecord::<str, [u8]>::to(topic).payload(payload).headers(h);
    if let Some(k) = key {
        record = record.key(k);
    }
    p.send(record, Duration::from_secs(5)).await.expect("produced").offset
}

/// Reads `n` records of `topic` from the beginning.
async fn consume(mock: &Mock, topic: &str, n: usize) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("group.id", format!("reader-{:x}", rand::random::<u64>()))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await.expect("records in time");
        out.push(m.expect("record").detach());
    }
    out
}

fn header(m: &rdkafka::message::OwnedMessage, key: &str) -> Option<String> {
    let h = m.headers()?;
    h.iter().find(|h| h.key == key).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_key_header_json_pointer_and_fixed_stream() {
    let mock = mock(&[("orders", 1), ("alerts", 1), ("trading.order-filled", 1), ("market.btc", 1), ("market.eth", 1)]);
    let mut ticks = route("x", "market/all", "text/plain");
    (ticks.topic, ticks.topic_pattern) = (None, Some(r"market\..*".into()));
    let routes = vec![
        route("orders", "user/{key}/orders", "text/plain"),
        route("alerts", "tenant/{header.tenant}/alerts", "text/plain"),
        route("trading.order-filled", "assessment/{payload./assessmentId}", "application/json"),
        ticks,
    ];
    let state = State::start(kafka_config(&mock.bootstrap_servers(), "g", routes), None, |_| {}).await;
    let p = producer(&mock);
    produce(&p, "orders", Some("alice"), &[], b"o1\n").await;
    produce(&p, "orders", Some("bob"), &[], b"o2\n").await;
    produce(&p, "orders", Some("alice"), &[], b"o3\n").await;
    produce(&p, "alerts", None, &[("tenant", "acme")], b"a1\n").await;
    produce(&p, "trading.order-filled", None, &[], br#"{"assessmentId":"as-7","qty":3}"#).await;
    produce(&p, "trading.order-filled", None, &[], br#"{"assessmentId":42,"qty":1}"#).await;
    produce(&p, "trading.order-filled", None, &[], br#"{"assessmentId":"as-7","qty":5}"#).await;
    produce(&p, "market.btc", None, &[], b"btc 100\n").await;
    produce(&p, "market.eth", None, &[], b"eth 7\n").await;

    eventually("every message appended", || async {
        state.metric("tether_state_kafka_ingested_total", &[("result", "appended")]).await == 9.0
    })
    .await;
    assert_eq!(state.lines("user/alice/orders").await, Some(vec!["o1".into(), "o3".into()]));
    assert_eq!(state.lines("user/bob/orders").await, Some(vec!["o2".into()]));
    assert_eq!(state.lines("tenant/acme/alerts").await, Some(vec!["a1".into()]));
    assert_eq!(
        state.body("assessment/as-7").await.as_deref(),
        Some(r#"[{"assessmentId":"as-7","qty":3},{"assessmentId":"as-7","qty":5}]"#),
        "JSON payloads pass through unchanged, one message each"
    );
    assert_eq!(state.body("assessment/42").await.as_deref(), Some(r#"[{"assessmentId":42,"qty":1}]"#));
    let mut market = state.lines("market/all").await.expect("broadcast stream");
    market.sort();
    assert_eq!(market, vec!["btc 100".to_owned(), "eth 7".to_owned()]);
    let head = http().head(format!("{}/v1/stream/assessment/as-7", state.url)).send().await.expect("HEAD");
    assert_eq!(head.headers()["content-type"], "application/json", "created with the route's content type");
    eventually("lag reported per partition", || async {
        let text = http().get(format!("{}/metrics", state.url)).send().await.expect("metrics").text().await.unwrap();
        text.contains(r#"tether_state_kafka_consumer_lag{partition="0",topic="orders"} 0"#)
    })
    .await;
    state.stop().await;
}

/// Every stream's expected lines: `{key}:{i}` for message `i` keyed `key`, in produce order.
fn expected(keys: &[&str], upto: usize) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..upto {
        let k = keys[i % keys.len()];
        m.entry(format!("user/{k}")).or_default().push(format!("{k}:{i}"));
    }
    m
}

async fn produce_keyed(p: &FutureProducer, keys: &[&str], range: std::ops::Range<usize>) {
    for i in range {
        let k = keys[i % keys.len()];
        produce(p, "trades", Some(k), &[], format!("{k}:{i}\n").as_bytes()).await;
    }
}

async fn assert_exactly(states: &[&State], keys: &[&str], upto: usize) {
    for (name, lines) in expected(keys, upto) {
        for s in states {
            assert_eq!(s.lines(&name).await.as_ref(), Some(&lines), "{name} on {}", s.url);
        }
    }
}

async fn appended(s: &State) -> f64 {
    s.metric("tether_state_kafka_ingested_total", &[("result", "appended")]).await
}

async fn duplicates(s: &State) -> f64 {
    s.metric("tether_state_kafka_ingested_total", &[("result", "duplicate")]).await
}

/// The instances share Redis but not an archive (each has its own local one): nothing may be
/// sealed and trimmed away from the others while the test runs.
fn no_sealing(cfg: &mut Config) {
    cfg.seal_idle = Duration::from_secs(3600);
    cfg.seal_max_age = Duration::from_secs(3600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_across_restart_replay_and_rebalance() {
    let redis = tether_tests::servers::redis(false);
    let mock = mock(&[("trades", 2)]);
    let p = producer(&mock);
    let keys = ["k0", "k1", "k2", "k3", "k4"];
    let routes = || vec![route("trades", "user/{key}", "text/plain")];
    let brokers = mock.bootstrap_servers();

    // First instance: 50 messages, then a clean stop.
    produce_keyed(&p, &keys, 0..50).await;
    let a = State::start(kafka_config(&brokers, "first", routes()), Some(&redis.url), no_sealing).await;
    eventually("50 appended", || async { appended(&a).await == 50.0 }).await;
    assert_exactly(&[&a], &keys, 50).await;
    a.stop().await;

    // A new group re-reads the partitions from offset 0: the 50 are recognised, 20 new go in.
    produce_keyed(&p, &keys, 50..70).await;
    let b = State::start(kafka_config(&brokers, "second", routes()), Some(&redis.url), no_sealing).await;
    eventually("replay recognised", || async { duplicates(&b).await == 50.0 && appended(&b).await == 20.0 }).await;
    assert_exactly(&[&b], &keys, 70).await;

    // A second member joins the group: the partitions are shared, and nothing doubles.
    let c = State::start(kafka_config(&brokers, "second", routes()), Some(&redis.url), no_sealing).await;
    let owns_one = |s: &State| {
        let url = s.url.clone();
        async move {
            let text = http().get(format!("{url}/metrics")).send().await.expect("metrics").text().await.unwrap();
            text.lines().filter(|l| l.starts_with("tether_state_kafka_consumer_lag{")).count() == 1
        }
    };
    eventually("each member owns one partition", || async { owns_one(&b).await && owns_one(&c).await }).await;
    let before = appended(&b).await;
    produce_keyed(&p, &keys, 70..100).await;
    eventually("100 in the streams", || async { appended(&b).await + appended(&c).await - before == 30.0 }).await;
    assert!(appended(&c).await > 0.0, "the new member ingests its partition");
    assert_exactly(&[&b, &c], &keys, 100).await;
    c.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_messages_are_dead_lettered_with_their_reason() {
    let mock = mock(&[("events", 1), ("dlq", 1)]);
    let mut kafka = kafka_config(&mock.bootstrap_servers(), "g", vec![route("events", "user/{key}", "text/plain")]);
    kafka.dead_letter_topic = Some("dlq".into());
    let state = State::start(kafka, None, |cfg| cfg.max_chunk_bytes = 1024).await;
    let p = producer(&mock);
    produce(&p, "events", Some("k1"), &[], b"one\n").await;
    produce(&p, "events", None, &[("trace", "t-1")], b"no key\n").await;
    produce(&p, "events", Some("a/b"), &[], b"slash\n").await;
    produce(&p, "events", Some("k1"), &[], &[b'x'; 2000]).await;
    produce(&p, "events", Some("k2"), &[], b"two\n").await;
    eventually("k2 created", || async { state.lines("user/k2").await.is_some() }).await;
    let closed = http()
        .post(format!("{}/v1/stream/user/k2", state.url))
        .header("stream-closed", "true")
        .send()
        .await
        .expect("close");
    assert!(closed.status().is_success(), "{}", closed.status());
    produce(&p, "events", Some("k2"), &[], b"late\n").await;
    produce(&p, "events", Some("k1"), &[], b"three\n").await;

    eventually("the partition moved past the dead letters", || async {
        state.lines("user/k1").await == Some(vec!["one".into(), "three".into()])
    })
    .await;
    assert_eq!(state.lines("user/k2").await, Some(vec!["two".into()]));
    let dead = consume(&mock, "dlq", 4).await;
    let got: Vec<(Option<String>, Option<String>, Option<String>)> = dead
        .iter()
        .map(|m| (header(m, "tether-dlq-reason"), header(m, "tether-dlq-offset"), header(m, "tether-dlq-topic")))
        .collect();
    let want = |r: &str, o: &str| (Some(r.to_owned()), Some(o.to_owned()), Some("events".to_owned()));
    assert_eq!(
        got,
        vec![
            want("missing_key", "1"),
            want("invalid_stream_name", "2"),
            want("oversize", "3"),
            want("stream_closed", "5")
        ]
    );
    assert_eq!(dead[0].payload(), Some(&b"no key\n"[..]), "the original record is kept");
    assert_eq!(header(&dead[0], "trace").as_deref(), Some("t-1"), "with its headers");
    assert_eq!(dead[1].key(), Some(&b"a/b"[..]));
    assert_eq!(state.metric("tether_state_kafka_dead_letters_total", &[("reason", "oversize")]).await, 1.0);
    assert_eq!(state.metric("tether_state_kafka_ingested_total", &[("result", "dead_lettered")]).await, 4.0);
    state.stop().await;
}

/// The event types a few HTTP calls cause, keyed as they must be.
async fn lifecycle_calls(state: &State) -> (String, Vec<(&'static str, String)>) {
    let c = http();
    let put = c.put(format!("{}/v1/stream/chat/1", state.url)).header("content-type", "text/plain").send().await;
    assert_eq!(put.expect("PUT").status(), 201);
    for i in 0..3 {
        let r = c
            .post(format!("{}/v1/stream/chat/1", state.url))
            .header("content-type", "text/plain")
            .body(format!("m{i}"))
            .send()
            .await
            .expect("append");
        assert!(r.status().is_success(), "appends never wait for Kafka: {}", r.status());
    }
    // The three chunks fill a segment (`seal_max_chunks = 3`): wait for it before deleting.
    eventually("a segment sealed", || async { state.metric("tether_state_segments_sealed_total", &[]).await == 1.0 })
        .await;
    let wrong = c
        .post(format!("{}/v1/stream/chat/1", state.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("append");
    assert_eq!(wrong.status(), 409);
    let close = c.post(format!("{}/v1/stream/chat/1", state.url)).header("stream-closed", "true").send().await;
    assert!(close.expect("close").status().is_success());
    let session: serde_json::Value = c
        .post(format!("{}/v1/sessions", state.url))
        .header("tether-sub", "alice")
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("json");
    let id = session["id"].as_str().expect("id").to_owned();
    let got = c.get(format!("{}/v1/sessions/{id}", state.url)).header("tether-sub", "alice").send().await;
    assert_eq!(got.expect("resume").status(), 200);
    let del = c.delete(format!("{}/v1/stream/chat/1", state.url)).send().await.expect("delete");
    assert_eq!(del.status(), 204);
    let chat = "chat/1".to_owned();
    let expected = vec![
        ("stream.created", chat.clone()),
        ("stream.archived", chat.clone()),
        ("append.rejected", chat.clone()),
        ("stream.closed", chat.clone()),
        ("session.created", id.clone()),
        ("session.resumed", id.clone()),
        ("stream.deleted", chat),
    ];
    (id, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_in_the_outbox_while_kafka_refuses_then_drain() {
    let mock = mock(&[("tether.events", 3)]);
    // Every produce request is refused until the test clears the errors.
    mock.request_errors(RDKafkaApiKey::Produce, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 100_000]);
    let mut kafka = kafka_config(&mock.bootstrap_servers(), "g", vec![]);
    kafka.events_topic = Some("tether.events".into());
    let state = State::start(kafka, None, |cfg| {
        // Seal every 3 chunks at once, so the appends also archive a segment.
        cfg.seal_max_chunks = 3;
        cfg.archive_interval = Duration::from_millis(50);
    })
    .await;
    let (_, expected) = lifecycle_calls(&state).await;
    eventually("events held in the outbox", || async {
        state.metric("tether_state_kafka_outbox_depth", &[]).await == expected.len() as f64
    })
    .await;
    assert_eq!(state.metric("tether_state_kafka_events_total", &[]).await, 0.0, "nothing got through");

    mock.clear_request_errors(RDKafkaApiKey::Produce);
    eventually("outbox drained", || async {
        state.metric("tether_state_kafka_events_total", &[]).await == expected.len() as f64
            && state.metric("tether_state_kafka_outbox_depth", &[]).await == 0.0
    })
    .await;
    let records = consume(&mock, "tether.events", expected.len()).await;
    let mut got: Vec<(String, String)> = Vec::new();
    for r in &records {
        let doc: serde_json::Value = serde_json::from_slice(r.payload().expect("payload")).expect("JSON event");
        assert_eq!(doc["v"], 1);
        assert_eq!(header(r, "tether-event-type").as_deref(), doc["type"].as_str());
        let key = String::from_utf8(r.key().expect("keyed").to_vec()).expect("utf8");
        got.push((doc["type"].as_str().expect("type").to_owned(), key));
        match doc["type"].as_str() {
            Some("append.rejected") => {
                assert_eq!((doc["reason"].as_str(), doc["status"].as_u64()), (Some("content_type_mismatch"), Some(409)))
            }
            Some("stream.archived") => assert_eq!(doc["chunks"], 3),
            Some("session.created") => assert_eq!(doc["sub"], "alice"),
            _ => {}
        }
    }
    let mut want: Vec<(String, String)> = expected.iter().map(|(t, k)| ((*t).to_owned(), k.clone())).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    state.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_refuses_the_newest_events_and_counts_them() {
    let mock = mock(&[("tether.events", 1)]);
    mock.request_errors(RDKafkaApiKey::Produce, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 100_000]);
    let mut kafka = kafka_config(&mock.bootstrap_servers(), "g", vec![]);
    kafka.events_topic = Some("tether.events".into());
    kafka.outbox_max_events = 3;
    let state = State::start(kafka, None, |_| {}).await;
    for i in 0..6 {
        let r = http()
            .put(format!("{}/v1/stream/s/{i}", state.url))
            .header("content-type", "text/plain")
            .send()
            .await
            .expect("PUT");
        assert_eq!(r.status(), 201);
        // One at a time, so the outbox sees them in this order.
        eventually("event stored or refused", || async {
            state.metric("tether_state_kafka_outbox_depth", &[]).await
                + state.metric("tether_state_kafka_events_dropped_total", &[("reason", "outbox_full")]).await
                == f64::from(i + 1)
        })
        .await;
    }
    assert_eq!(state.metric("tether_state_kafka_events_dropped_total", &[("reason", "outbox_full")]).await, 3.0);
    mock.clear_request_errors(RDKafkaApiKey::Produce);
    eventually("outbox drained", || async { state.metric("tether_state_kafka_events_total", &[]).await == 3.0 }).await;
    let records = consume(&mock, "tether.events", 3).await;
    let keys: Vec<&[u8]> = records.iter().map(|r| r.key().expect("key")).collect();
    assert_eq!(keys, vec![&b"s/0"[..], b"s/1", b"s/2"], "the oldest are kept, in order");
    state.stop().await;
}

/// A real Kafka-protocol broker (tansu, memory storage) on a free port; killed when dropped.
struct Tansu {
    child: std::process::Child,
    brokers: String,
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Tansu {
    async fn start(bin: &str, topics: &[(&str, u32)]) -> Self {
        let port = tether_tests::servers::free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = std::process::Command::new(bin)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let tansu = Tansu { child, brokers: format!("127.0.0.1:{port}") };
        eventually("tansu listening", || async { tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() })
            .await;
        for (t, partitions) in topics {
            let out = std::process::Command::new(bin)
                .args(["topic", "create", t, "--broker", &url, "--partitions", &partitions.to_string()])
                .output()
                .expect("tansu topic create");
            assert!(out.status.success(), "creating {t}: {}", String::from_utf8_lossy(&out.stderr));
        }
        tansu
    }
}

/// Opt-in: ingest, replay by a new group, dead letters and events against a real broker
/// process (tansu, in-memory storage). Install it once (about 10 minutes of build on 2 cores):
/// `cargo install tansu --version 0.6.0 --locked --features dynostore`, then run
/// `TETHER_TANSU=$(which tansu) cargo nextest run -p tether-state --run-ignored only tansu`
/// (about 3 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a tansu broker binary in TETHER_TANSU"]
async fn end_to_end_against_a_tansu_broker() {
    let bin = std::env::var("TETHER_TANSU").expect("TETHER_TANSU names the tansu binary");
    let started = Instant::now();
    let tansu = Tansu::start(&bin, &[("orders", 2), ("dlq", 1), ("tether.events", 1)]).await;
    let mut kafka = kafka_config(&tansu.brokers, "tansu-e2e", vec![route("orders", "user/{key}", "text/plain")]);
    kafka.dead_letter_topic = Some("dlq".into());
    kafka.events_topic = Some("tether.events".into());
    kafka.produce_timeout = Duration::from_secs(10);
    let p: FutureProducer = ClientConfig::new().set("bootstrap.servers", &tansu.brokers).create().expect("producer");
    let keys = ["k0", "k1", "k2"];
    for i in 0..30 {
        let k = keys[i % keys.len()];
        produce(&p, "orders", Some(k), &[], format!("{k}:{i}\n").as_bytes()).await;
    }
    produce(&p, "orders", None, &[], b"no key\n").await;
    let redis = tether_tests::servers::redis(false);
    let state = State::start(kafka.clone(), Some(&redis.url), no_sealing).await;
    eventually("30 appended", || async { appended(&state).await == 30.0 }).await;
    for (name, lines) in expected(&keys, 30) {
        assert_eq!(state.lines(&name).await, Some(lines), "{name}");
    }
    state.stop().await;

    // A new group re-reads everything from the broker: all duplicates.
    kafka.group_id = "tansu-e2e-2".into();
    let again = State::start(kafka, Some(&redis.url), no_sealing).await;
    eventually("replay recognised", || async { duplicates(&again).await == 30.0 }).await;
    assert_eq!(appended(&again).await, 0.0);
    for (name, lines) in expected(&keys, 30) {
        assert_eq!(again.lines(&name).await, Some(lines), "{name}");
    }
    again.stop().await;

    let consumer = |topic: &str| {
        let c: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &tansu.brokers)
            .set("group.id", format!("reader-{:x}", rand::random::<u64>()))
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        c.subscribe(&[topic]).expect("subscribe");
        c
    };
    let dlq = consumer("dlq");
    let dead = tokio::time::timeout(Duration::from_secs(60), dlq.recv()).await.expect("dead letter").expect("record");
    assert_eq!(header(&dead.detach(), "tether-dlq-reason").as_deref(), Some("missing_key"));
    let events = consumer("tether.events");
    let ev = tokio::time::timeout(Duration::from_secs(60), events.recv()).await.expect("event").expect("record");
    let doc: serde_json::Value = serde_json::from_slice(ev.payload().expect("payload")).expect("json");
    assert_eq!(doc["type"], "stream.created");
    eprintln!("tansu end-to-end took {:.1?}", started.elapsed());
}

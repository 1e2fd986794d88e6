//! `kafka_bench`: Kafka ingest throughput of `tether-state`. A benchmark, not a test.
//!
//! Pre-produces MESSAGES records of SIZE bytes, keyed `k0..k{STREAMS-1}`, into a topic of
//! PARTITIONS partitions on librdkafka's mock cluster (in this process, real TCP listeners),
//! starts a redis-server (or, with `--embedded`, nothing: the embedded store) and one
//! `tether-state` whose only route sends topic `bench` to stream `bench/{key}` (or, with
//! `--fixed`, everything to `bench/all`), then times the ingest from the first appended record
//! to the last (`tether_state_kafka_ingested_total`, polled every 20 ms) and prints records/s.
//! Afterwards it checks every stream holds exactly its records, in order.
//!
//! Then, unless `--latency 0`, it starts a `tether-edge`, follows `bench/lat` over WebSocket
//! and produces LATENCY (1000) records to it one at a time, 10 ms apart, each carrying its send
//! time: the end-to-end latency from produce to WebSocket receipt, p50/p99.
//!
//! usage: kafka_bench [--messages N] [--size B] [--partitions P] [--streams K] [--fixed] [--embedded] [--latency N]
//! (defaults: 200000 records, 256 B, 16 partitions, 1000 streams; the mock cluster retains only
//! 5 MiB per partition, so large workloads need more partitions)
//! Needs `cargo build --release --workspace` (it starts `target/release/tether-state` when built
//! with `--release`).

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// A `tether-state` started from the binary next to this one, stopped (killed) when dropped.
struct State {
    child: std::process::Child,
    url: String,
}

impl State {
    fn start(data_dir: &std::path::Path, args: &[&str]) -> anyhow::Result<Self> {
        use std::io::BufRead;
        let bin = std::env::current_exe()?.parent().context("binary directory")?.join("tether-state");
        ensure!(bin.exists(), "{} is missing: cargo build --release --workspace", bin.display());
        let log = std::fs::File::create(data_dir.with_extension("log"))?;
        let mut child = std::process::Command::new(&bin)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let url = line.trim().strip_prefix("tether-state listening on ").context("tether-state did not start")?;
        Ok(Self { url: url.to_owned(), child })
    }

    fn stream_url(&self, name: &str) -> String {
        format!("{}/v1/stream/{name}", self.url)
    }
}

impl Drop for State {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const USAGE: &str = "usage: kafka_bench [--messages N] [--size B] [--partitions P] [--streams K] [--fixed] [--embedded] \
[--latency N] [--fetch-wait-ms MS]";

struct Opts {
    messages: usize,
    size: usize,
    partitions: i32,
    streams: usize,
    fixed: bool,
    embedded: bool,
    latency: usize,
    fetch_wait_ms: Option<usize>,
}

fn parse() -> anyhow::Result<Opts> {
    let mut o = Opts {
        messages: 200_000,
        size: 256,
        partitions: 16,
        streams: 1000,
        fixed: false,
        embedded: false,
        latency: 1000,
        fetch_wait_ms: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = || -> anyhow::Result<usize> { args.next().context(USAGE)?.parse().context(USAGE) };
        match a.as_str() {
            "--messages" => o.messages = num()?,
            "--size" => o.size = num()?,
            "--partitions" => o.partitions = i32::try_from(num()?)?,
            "--streams" => o.streams = num()?,
            "--fixed" => o.fixed = true,
            "--embedded" => o.embedded = true,
            "--latency" => o.latency = num()?,
            "--fetch-wait-ms" => o.fetch_wait_ms = Some(num()?),
            _ => bail!("{USAGE}"),
        }
    }
    ensure!(o.messages > 0 && o.size >= 16 && o.partitions > 0 && o.streams > 0, "{USAGE}");
    // The mock cluster keeps at most 5 MiB (and 100k records) per partition and silently drops
    // the oldest beyond that; stay well below so the whole workload is still there to ingest.
    let per_partition = o.messages.div_ceil(o.partitions as usize);
    ensure!(
        per_partition * (o.size + 64) <= 4 << 20 && per_partition <= 90_000,
        "{per_partition} records of {} B per partition exceed what the mock cluster retains (5 MiB): add partitions",
        o.size
    );
    Ok(o)
}

/// Record `i`: its key and a payload of `size` bytes starting with `i` (12 digits) and ending in `\n`.
fn record(o: &Opts, i: usize) -> (String, Vec<u8>) {
    let key = format!("k{}", i % o.streams);
    let mut payload = format!("{i:012}").into_bytes();
    payload.resize(o.size - 1, b'.');
    payload.push(b'\n');
    (key, payload)
}

async fn appended(http: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    let text = http.get(format!("{url}/metrics")).send().await?.text().await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("tether_state_kafka_ingested_total{") && l.contains(r#"result="appended""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = parse()?;
    let mock = MockCluster::new(1).context("mock cluster")?;
    mock.create_topic("bench", o.partitions, 1)?;
    let brokers = mock.bootstrap_servers();

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let start = Instant::now();
    for window in (0..o.messages).collect::<Vec<_>>().chunks(10_000) {
        let sends = window.iter().map(|&i| {
            let (key, payload) = record(&o, i);
            let producer = producer.clone();
            async move {
                producer.send(FutureRecord::to("bench").key(&key).payload(&payload), Duration::from_secs(30)).await
            }
        });
        for r in futures::future::join_all(sends).await {
            r.map_err(|(e, _)| e).context("producing the workload")?;
        }
    }
    eprintln!(
        "produced {} records of {} B into {} partitions in {:.1?}",
        o.messages,
        o.size,
        o.partitions,
        start.elapsed()
    );

    let redis = (!o.embedded).then(|| tether_tests::servers::redis(false));
    let dir = tempfile::tempdir()?;
    let stream = if o.fixed { "bench/all" } else { "bench/{key}" };
    let config = dir.path().join("state.toml");
    // librdkafka's consumer waits up to fetch.wait.max.ms (500 ms) for data on each fetch; the
    // mock cluster answers at the deadline rather than when data arrives, so the latency run
    // can lower it (`--fetch-wait-ms`) to show what Tether itself adds.
    let extra = match o.fetch_wait_ms {
        Some(ms) => format!("\n[kafka_properties]\n\"fetch.wait.max.ms\" = \"{ms}\"\n"),
        None => String::new(),
    };
    std::fs::write(
        &config,
        format!(
            "kafka_brokers = \"{brokers}\"\nkafka_group_id = \"bench\"\n\n[[kafka_route]]\ntopic = \"bench\"\n\
             stream = \"{stream}\"\ncontent_type = \"text/plain\"\n{extra}"
        ),
    )?;
    let mut args = vec!["--config", config.to_str().context("utf8 path")?];
    if let Some(r) = &redis {
        args.extend(["--redis-url", r.url.as_str()]);
    }
    let state = State::start(&dir.path().join("state"), &args)?;
    let http = reqwest::Client::new();
    let launched = Instant::now();
    let total = o.messages as u64;
    let mut first: Option<(Instant, u64)> = None;
    let deadline = launched + Duration::from_secs(600);
    loop {
        let n = appended(&http, &state.url).await?;
        if n > 0 && first.is_none() {
            first = Some((Instant::now(), n));
        }
        if n >= total {
            break;
        }
        ensure!(Instant::now() < deadline, "only {n} of {total} records ingested after 10 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = Instant::now();
    let (t0, n0) = first.expect("something was appended");
    let secs = (done - t0).as_secs_f64().max(1e-3);
    let rate = (total - n0) as f64 / secs;
    let backend = if o.embedded { "embedded (fsync)" } else { "redis" };
    println!(
        "kafka ingest -> {backend}: {total} records of {} B, {} partitions, {} stream(s): {rate:.0} records/s \
         ({:.1} MB/s) over {secs:.2} s; {:.2} s from process start to the last record",
        o.size,
        o.partitions,
        if o.fixed { 1 } else { o.streams.min(o.messages) },
        rate * o.size as f64 / 1e6,
        (done - launched).as_secs_f64()
    );

    // Exactly once, in order: each stream holds its records' ids in produce order.
    let names: Vec<String> = if o.fixed {
        vec!["bench/all".into()]
    } else {
        (0..o.streams.min(o.messages)).map(|k| format!("bench/k{k}")).collect()
    };
    let mut seen = 0usize;
    for name in names {
        let mut offset = "-1".to_owned();
        let mut ids: Vec<usize> = Vec::new();
        loop {
            let resp = http.get(format!("{}?offset={offset}", state.stream_url(&name))).send().await?;
            ensure!(resp.status().is_success(), "{name}: {}", resp.status());
            let next = resp.headers()["stream-next-offset"].to_str()?.to_owned();
            let up_to_date = resp.headers().get("stream-up-to-date").is_some();
            let body = resp.bytes().await?;
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                ids.push(std::str::from_utf8(&line[..12])?.parse()?);
            }
            offset = next;
            if up_to_date {
                break;
            }
        }
        if !o.fixed {
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            ensure!(ids == sorted, "{name}: records out of order");
        }
        let mut dedup = ids.clone();
        dedup.sort_unstable();
        dedup.dedup();
        ensure!(dedup.len() == ids.len(), "{name}: duplicate records");
        seen += ids.len();
    }
    ensure!(seen == o.messages, "{seen} records in the streams, {} produced", o.messages);
    println!("checked: every record exactly once{}", if o.fixed { "" } else { ", in order per stream" });
    if o.latency > 0 && !o.fixed {
        latency(&producer, &state, &dir, o.latency).await?;
    }
    drop(state);
    Ok(())
}

fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_micros() as u64
}

/// Produce-to-WebSocket-receipt latency through an edge, one record every 10 ms.
async fn latency(producer: &FutureProducer, state: &State, dir: &tempfile::TempDir, n: usize) -> anyhow::Result<()> {
    use std::io::BufRead;
    use tether_client::conn::{Conn, Inbound};
    use tether_protocol::ws::{ClientMsg, From, ServerMsg};
    const SECRET: &str = "kafka-bench-secret-0123456789abcdef";
    let bin = std::env::current_exe()?.parent().context("binary directory")?.join("tether-edge");
    ensure!(bin.exists(), "{} is missing: cargo build --release --workspace", bin.display());
    let mut edge = std::process::Command::new(&bin)
        .args(["--listen", "127.0.0.1:0", "--state-url", &state.url])
        .env("TETHER_JWT_SECRET", SECRET)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("edge.log"))?)
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(edge.stdout.take().context("stdout")?).read_line(&mut line)?;
    let url = line.trim().strip_prefix("tether-edge listening on http://").context("tether-edge did not start")?;
    let ws = format!("ws://{url}/v1/ws");
    let http = reqwest::Client::new();
    http.put(state.stream_url("bench/lat")).header("content-type", "text/plain").send().await?.error_for_status()?;
    let token =
        tether_edge::auth::mint_hs256(SECRET.as_bytes(), "bench", &["**"], &[], Duration::from_secs(3600), None, None);
    let (mut conn, mut rx) = Conn::connect(&ws, Some(&token), 1024).await?;
    let stream = tether_protocol::StreamName::parse("bench/lat")?;
    conn.send(&ClientMsg::Subscribe { id: 1, stream, from: From::Now, binary: false }).await?;
    loop {
        match rx.inbound.recv().await {
            Some(Inbound::Msg(ServerMsg::CaughtUp { .. }, _)) => break,
            Some(Inbound::Msg(..)) => continue,
            other => bail!("subscription failed: {other:?}"),
        }
    }
    let reader = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(n);
        while lat.len() < n {
            match rx.inbound.recv().await {
                Some(Inbound::Msg(ServerMsg::Chunk { data: Some(d), .. }, _)) => {
                    let sent: u64 = d.trim_end().parse().unwrap_or(0);
                    lat.push(now_us().saturating_sub(sent));
                }
                Some(Inbound::Msg(..)) => {}
                _ => break,
            }
        }
        drop(conn);
        lat
    });
    for _ in 0..n {
        let payload = format!("{}\n", now_us());
        producer
            .send(FutureRecord::to("bench").key("lat").payload(&payload), Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut lat = tokio::time::timeout(Duration::from_secs(120), reader).await.context("receipt")??;
    let _ = edge.kill();
    let _ = edge.wait();
    ensure!(lat.len() == n, "received {} of {n}", lat.len());
    lat.sort_unstable();
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    println!(
        "kafka -> tether-state -> tether-edge -> WebSocket: {n} records, latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        p(0.5),
        p(0.99),
        p(1.0)
    );
    Ok(())
}

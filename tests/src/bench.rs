//! `tether-bench`: HTTP workload for Durable Streams servers (Tether and its peers), run by
//! `infra/bench.sh`. A benchmark, not a test: it prints figures and fails (exit 1) only when a
//! server answers with an HTTP error or loses, duplicates or corrupts data.
//!
//! - `run --target NAME=URL ...`: per target, create a fresh stream `/v1/stream/bench-<random>`,
//!   append CHUNKS chunks of SIZE bytes from PRODUCERS concurrent producers (each POSTs one chunk
//!   at a time over a kept-alive connection), then read everything back from offset `-1` with one
//!   catch-up reader following `Stream-Next-Offset` until `Stream-Up-To-Date: true`. Prints
//!   chunks/s, MB/s, append latency percentiles and the ratios of the baseline target (`tether`,
//!   else the first) to every other target.
//! - `fill --url URL --stream NAME [--close]`: create NAME and append the workload; `--close`
//!   closes the stream afterwards.
//! - `read --url URL --stream NAME`: one catch-up read of a stream filled by `fill` with the same
//!   `--chunks/--size`, with the Tether read-tier counters (`/metrics`) that served it.
//!
//! Options: `--chunks N` (200000), `--size B` (256, at least 16), `--producers P` (32),
//! `--baseline NAME`, `--producer-headers` (send idempotent-producer headers with every append),
//! `--timeout SECS` (60, per request).
//!
//! Every chunk starts with its global id (12 hex digits) followed by a pattern derived from the
//! id, so the reader checks that each chunk arrives exactly once and intact. The check runs after
//! the timed read, so it costs the servers nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;

const USAGE: &str = "usage: tether-bench run --target NAME=URL [--target NAME=URL ...] [--chunks N] [--size B] \
[--producers P] [--baseline NAME] [--producer-headers] [--timeout SECS]\n       \
tether-bench fill --url URL --stream NAME [--close] [--chunks N] [--size B] [--producers P]\n       \
tether-bench read --url URL --stream NAME [--chunks N] [--size B]";

/// Bytes of the id at the start of every chunk.
const ID_LEN: usize = 12;

struct Opts {
    targets: Vec<(String, String)>,
    url: Option<String>,
    stream: Option<String>,
    chunks: u64,
    size: usize,
    producers: u64,
    close: bool,
    baseline: Option<String>,
    producer_headers: bool,
    timeout: Duration,
}

fn parse_args() -> anyhow::Result<(String, Opts)> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().context(USAGE)?;
    if cmd == "--help" || cmd == "-h" {
        println!("{USAGE}");
        std::process::exit(0);
    }
    let mut o = Opts {
        targets: Vec::new(),
        url: None,
        stream: None,
        chunks: 200_000,
        size: 256,
        producers: 32,
        close: false,
        baseline: None,
        producer_headers: false,
        timeout: Duration::from_secs(60),
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--target" => {
                let v = value()?;
                let (name, url) = v.split_once('=').context("--target NAME=URL")?;
                o.targets.push((name.to_owned(), url.trim_end_matches('/').to_owned()));
            }
            "--url" => o.url = Some(value()?.trim_end_matches('/').to_owned()),
            "--stream" => o.stream = Some(value()?),
            "--chunks" => o.chunks = value()?.parse().context("--chunks")?,
            "--size" => o.size = value()?.parse().context("--size")?,
            "--producers" => o.producers = value()?.parse().context("--producers")?,
            "--baseline" => o.baseline = Some(value()?),
            "--timeout" => o.timeout = Duration::from_secs(value()?.parse().context("--timeout")?),
            "--close" => o.close = true,
            "--producer-headers" => o.producer_headers = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown flag {other}\n{USAGE}"),
        }
    }
    ensure!(o.size >= 16, "--size must be at least 16 (chunks carry their id)");
    ensure!(o.chunks > 0, "--chunks must be positive");
    ensure!(o.producers > 0, "--producers must be positive");
    ensure!(o.chunks < 16u64.pow(ID_LEN as u32), "--chunks too large");
    Ok((cmd, o))
}

/// The byte at position `i` (past the id) of chunk `id`.
fn fill_byte(id: u64, i: usize) -> u8 {
    b'a' + ((id as usize).wrapping_add(i) % 26) as u8
}

/// Chunk `id` of `size` bytes: its id in hex in the first [`ID_LEN`] bytes, then a pattern
/// derived from the id.
fn chunk(id: u64, size: usize) -> Bytes {
    let mut v = format!("{id:0width$x}", width = ID_LEN).into_bytes();
    v.extend((ID_LEN..size).map(|i| fill_byte(id, i)));
    Bytes::from(v)
}

fn client(o: &Opts) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(o.producers as usize + 4)
        .tcp_nodelay(true)
        .timeout(o.timeout)
        .build()?)
}

/// Creates the stream at `url` (a fresh one: 201 expected, any 2xx accepted).
async fn create(c: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let r = c.put(url).header("content-type", "application/octet-stream").send().await.context("create")?;
    let status = r.status();
    ensure!(status.is_success(), "create {url}: HTTP {status}: {}", r.text().await.unwrap_or_default());
    Ok(())
}

struct AppendResult {
    elapsed: Duration,
    /// Sorted.
    latencies: Vec<Duration>,
}

/// Appends chunks `0..o.chunks` from `o.producers` tasks, each POSTing its contiguous share one
/// chunk at a time. The first failure stops every producer.
async fn append_all(c: &reqwest::Client, url: &str, o: &Opts) -> anyhow::Result<AppendResult> {
    let failed = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..o.producers {
        let (c, url, size, failed) = (c.clone(), url.to_owned(), o.size, failed.clone());
        let (first, end) = (p * o.chunks / o.producers, (p + 1) * o.chunks / o.producers);
        let headers = o.producer_headers;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity((end - first) as usize);
            for id in first..end {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let t = Instant::now();
                let mut req = c.post(&url).header("content-type", "application/octet-stream").body(chunk(id, size));
                if headers {
                    req = req
                        .header("producer-id", format!("bench-{p}"))
                        .header("producer-epoch", "0")
                        .header("producer-seq", (id - first).to_string());
                }
                let result = async {
                    let r = req.send().await.with_context(|| format!("append chunk {id}"))?;
                    let status = r.status();
                    let body = r.bytes().await.with_context(|| format!("append chunk {id}: response body"))?;
                    ensure!(
                        status.is_success(),
                        "append chunk {id}: HTTP {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    );
                    Ok(())
                }
                .await;
                if let Err(e) = result {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut latencies = Vec::with_capacity(o.chunks as usize);
    let mut first_err = None;
    for t in tasks {
        match t.await.context("producer task panicked")? {
            Ok(lat) => latencies.extend(lat),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    let elapsed = start.elapsed();
    if let Some(e) = first_err {
        return Err(e);
    }
    latencies.sort_unstable();
    Ok(AppendResult { elapsed, latencies })
}

struct ReadResult {
    elapsed: Duration,
    bytes: usize,
    requests: u64,
}

/// Reads the whole stream at `url` from offset `-1` until `Stream-Up-To-Date: true`, then checks
/// that chunks `0..chunks` each arrived exactly once and intact (outside the timed part).
async fn read_all(c: &reqwest::Client, url: &str, size: usize, chunks: u64) -> anyhow::Result<ReadResult> {
    let expect = chunks as usize * size;
    let mut data: Vec<u8> = Vec::with_capacity(expect);
    let mut offset = "-1".to_owned();
    let mut requests = 0u64;
    let mut idle = 0;
    let start = Instant::now();
    loop {
        let r = c.get(url).query(&[("offset", &offset)]).send().await.with_context(|| format!("read at {offset}"))?;
        requests += 1;
        let status = r.status();
        if !status.is_success() {
            bail!("read at {offset}: HTTP {status}: {}", r.text().await.unwrap_or_default());
        }
        let next = r
            .headers()
            .get("stream-next-offset")
            .with_context(|| format!("read at {offset}: no Stream-Next-Offset"))?
            .to_str()?
            .to_owned();
        let done = r.headers().get("stream-up-to-date").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let body = r.bytes().await.with_context(|| format!("read at {offset}: body"))?;
        data.extend_from_slice(&body);
        ensure!(data.len() <= expect, "read {} bytes, more than the {expect} appended", data.len());
        // Bounded: a server that neither advances nor says up-to-date fails instead of spinning.
        idle = if body.is_empty() { idle + 1 } else { 0 };
        ensure!(idle < 3, "read at {offset}: {idle} empty answers without Stream-Up-To-Date");
        offset = next;
        if done {
            break;
        }
    }
    let elapsed = start.elapsed();
    verify(&data, size, chunks)?;
    Ok(ReadResult { elapsed, bytes: data.len(), requests })
}

/// Checks that `data` holds chunks `0..chunks` of `size` bytes, each exactly once and intact,
/// in any order.
fn verify(data: &[u8], size: usize, chunks: u64) -> anyhow::Result<()> {
    let expect = chunks as usize * size;
    ensure!(data.len() == expect, "read {} bytes, expected {expect} ({chunks} x {size} B)", data.len());
    let mut seen = vec![false; chunks as usize];
    for (n, rec) in data.chunks(size).enumerate() {
        let id = std::str::from_utf8(&rec[..ID_LEN])
            .ok()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .with_context(|| format!("chunk #{n} in the stream has no valid id: corrupted or misaligned"))?;
        ensure!(id < chunks, "chunk #{n} in the stream has id {id}, never appended");
        ensure!(!seen[id as usize], "chunk {id} delivered twice");
        ensure!(rec[ID_LEN..].iter().enumerate().all(|(i, b)| *b == fill_byte(id, ID_LEN + i)), "chunk {id} corrupted");
        seen[id as usize] = true;
    }
    // Length matches and nothing is duplicated, so every chunk is there.
    Ok(())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
}

fn rate(n: f64, d: Duration) -> f64 {
    n / d.as_secs_f64().max(1e-9)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Row {
    append_rate: f64,
    append_mbs: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    read_rate: f64,
    read_mbs: f64,
    gets: u64,
}

async fn bench_target(name: &str, base: &str, o: &Opts) -> anyhow::Result<Row> {
    let c = client(o)?;
    let url = format!("{base}/v1/stream/bench-{:016x}", rand::random::<u64>());
    create(&c, &url).await?;
    eprintln!("{name}: appending {} x {} B with {} producers to {url}", o.chunks, o.size, o.producers);
    let a = append_all(&c, &url, o).await.context("append")?;
    let append_rate = rate(o.chunks as f64, a.elapsed);
    eprintln!("{name}: {append_rate:.0} appends/s ({:.2}s); reading back", a.elapsed.as_secs_f64());
    let rd = read_all(&c, &url, o.size, o.chunks).await.context("catch-up read")?;
    eprintln!(
        "{name}: read {} B in {} GETs ({:.3}s), all chunks once and intact",
        rd.bytes,
        rd.requests,
        rd.elapsed.as_secs_f64()
    );
    Ok(Row {
        append_rate,
        append_mbs: rate((o.chunks as usize * o.size) as f64 / 1e6, a.elapsed),
        p50: pct(&a.latencies, 0.5),
        p99: pct(&a.latencies, 0.99),
        max: a.latencies.last().copied().unwrap_or_default(),
        read_rate: rate(o.chunks as f64, rd.elapsed),
        read_mbs: rate(rd.bytes as f64 / 1e6, rd.elapsed),
        gets: rd.requests,
    })
}

async fn run(o: Opts) -> anyhow::Result<()> {
    ensure!(!o.targets.is_empty(), "give at least one --target NAME=URL\n{USAGE}");
    let baseline = o
        .baseline
        .clone()
        .or_else(|| o.targets.iter().any(|(n, _)| n == "tether").then(|| "tether".to_owned()))
        .unwrap_or_else(|| o.targets[0].0.clone());
    ensure!(o.targets.iter().any(|(n, _)| *n == baseline), "--baseline {baseline} is not a target");
    println!(
        "workload: {} chunks x {} B, {} concurrent producers (one chunk per POST{}), then one catch-up reader",
        o.chunks,
        o.size,
        o.producers,
        if o.producer_headers { ", idempotent-producer headers" } else { "" }
    );
    let mut rows = Vec::new();
    for (name, base) in &o.targets {
        let row = bench_target(name, base, &o).await;
        if let Err(e) = &row {
            eprintln!("{name}: FAILED: {e:#}");
        }
        rows.push((name.clone(), base.clone(), row));
    }

    println!(
        "\n{:<12} {:>12} {:>10} {:>9} {:>9} {:>9} {:>12} {:>10} {:>6}",
        "target", "append ch/s", "append MB/s", "p50 ms", "p99 ms", "max ms", "read ch/s", "read MB/s", "GETs"
    );
    for (name, _, row) in &rows {
        match row {
            Ok(r) => println!(
                "{name:<12} {:>12.0} {:>10.2} {:>9.2} {:>9.2} {:>9.1} {:>12.0} {:>10.1} {:>6}",
                r.append_rate,
                r.append_mbs,
                ms(r.p50),
                ms(r.p99),
                ms(r.max),
                r.read_rate,
                r.read_mbs,
                r.gets
            ),
            Err(e) => println!("{name:<12} FAILED: {e:#}"),
        }
    }
    let base_row = rows.iter().find(|(n, ..)| *n == baseline).and_then(|(_, _, r)| r.as_ref().ok());
    let mut printed = false;
    for (name, _, row) in rows.iter().filter(|(n, ..)| *n != baseline) {
        if !printed {
            println!();
            printed = true;
        }
        match (base_row, row) {
            (Some(b), Ok(r)) => println!(
                "{baseline} / {name}: append {:.2}x, read {:.2}x",
                b.append_rate / r.append_rate,
                b.read_rate / r.read_rate
            ),
            _ => println!("{baseline} / {name}: no ratio (a run failed)"),
        }
    }
    let failed: Vec<String> =
        rows.iter().filter(|(_, _, r)| r.is_err()).map(|(n, base, _)| format!("{n} ({base})")).collect();
    if !failed.is_empty() {
        bail!("workload failed on: {}", failed.join(", "));
    }
    Ok(())
}

async fn fill(o: Opts) -> anyhow::Result<()> {
    let base = o.url.clone().context("--url")?;
    let url = format!("{base}/v1/stream/{}", o.stream.clone().context("--stream")?);
    let c = client(&o)?;
    create(&c, &url).await?;
    let a = append_all(&c, &url, &o).await?;
    if o.close {
        let r = c.post(&url).header("stream-closed", "true").send().await?;
        ensure!(r.status().is_success(), "close: HTTP {}", r.status());
    }
    println!(
        "fill: {:.0} chunks/s ({} x {} B, {} producers), p50 {:.2}ms p99 {:.2}ms",
        rate(o.chunks as f64, a.elapsed),
        o.chunks,
        o.size,
        o.producers,
        ms(pct(&a.latencies, 0.5)),
        ms(pct(&a.latencies, 0.99))
    );
    Ok(())
}

/// Tether's read-tier counters (`tier/result` -> count); empty for other servers.
async fn tiers(c: &reqwest::Client, base: &str) -> Vec<(String, f64)> {
    let Ok(r) = c.get(format!("{base}/metrics")).send().await else { return Vec::new() };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("tether_state_read_source_total{"))
        .filter_map(|l| {
            let (labels, value) = l.split_once("} ")?;
            Some((labels.replace('"', ""), value.trim().parse().ok()?))
        })
        .collect()
}

async fn read(o: Opts) -> anyhow::Result<()> {
    let base = o.url.clone().context("--url")?;
    let stream = o.stream.clone().context("--stream")?;
    let c = client(&o)?;
    let before = tiers(&c, &base).await;
    let rd = read_all(&c, &format!("{base}/v1/stream/{stream}"), o.size, o.chunks).await?;
    let after = tiers(&c, &base).await;
    let served: Vec<String> = after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.iter().find(|(b, _)| b == k).map_or(0.0, |(_, b)| *b);
            (d > 0.0).then(|| format!("{{{k}}}={d}"))
        })
        .collect();
    println!(
        "read {stream}: {:.0} chunks/s, {:.1} MB/s, {} GETs in {:.2}s; tiers: {}",
        rate((rd.bytes / o.size) as f64, rd.elapsed),
        rate(rd.bytes as f64 / 1e6, rd.elapsed),
        rd.requests,
        rd.elapsed.as_secs_f64(),
        if served.is_empty() { "-".to_owned() } else { served.join(" ") }
    );
    Ok(())
}

#[tokio::main]
async fn main() {
    let result = async {
        let (cmd, opts) = parse_args()?;
        match cmd.as_str() {
            "run" => run(opts).await,
            "fill" => fill(opts).await,
            "read" => read(opts).await,
            other => bail!("unknown command {other}\n{USAGE}"),
        }
    }
    .await;
    if let Err(e) = result {
        eprintln!("tether-bench: {e:#}");
        std::process::exit(1);
    }
}

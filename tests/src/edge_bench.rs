//! `tether-edge-bench`: edge benchmarks (not tests; nothing is asserted about speed).
//!
//! - `fanout`: S streams, C WebSocket clients on each, P chunks appended per stream at a set
//!   rate; reports delivered chunks/s and append-to-receipt latency percentiles.
//! - `resume`: reconnect-to-first-chunk latency for streams given on the command line.
//! - `idle`: opens N connections and reports the edge's RSS growth per connection.
//!
//! Payloads carry their send time, so latency is measured per delivered chunk.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use tether_client::conn::{Conn, ConnRx, Inbound};
use tether_protocol::ws::{ClientMsg, From, ServerMsg};
use tether_protocol::{Offset, StreamName};

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_micros() as u64
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
}

fn num(args: &[String], name: &str, default: u64) -> u64 {
    arg(args, name, &default.to_string()).parse().expect("a number")
}

async fn open(ws: &str, token: &str) -> anyhow::Result<(Conn, ConnRx)> {
    let (conn, mut rx) = Conn::connect(ws, Some(token), 256).await?;
    match rx.inbound.recv().await {
        Some(Inbound::Msg(ServerMsg::Welcome { .. }, _)) => Ok((conn, rx)),
        other => bail!("no welcome: {other:?}"),
    }
}

/// Opens `n` connections with bounded concurrency.
async fn open_many(ws: &str, token: &str, n: usize) -> anyhow::Result<Vec<(Conn, ConnRx)>> {
    let mut out = Vec::with_capacity(n);
    let mut pending = futures::stream::FuturesUnordered::new();
    let mut started = 0;
    use futures::StreamExt;
    while out.len() < n {
        while started < n && pending.len() < 200 {
            let (ws, token) = (ws.to_owned(), token.to_owned());
            pending.push(async move { open(&ws, &token).await });
            started += 1;
        }
        out.push(pending.next().await.expect("pending")?);
    }
    Ok(out)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

async fn fanout(args: &[String]) -> anyhow::Result<()> {
    let ws = arg(args, "--ws", "ws://127.0.0.1:4438/v1/ws");
    let state = arg(args, "--state", "http://127.0.0.1:4437");
    let token = arg(args, "--token", "");
    let streams = num(args, "--streams", 1) as usize;
    let per = num(args, "--clients", 1000) as usize;
    let chunks = num(args, "--chunks", 1000) as usize;
    let rate = num(args, "--rate", 200);
    let size = num(args, "--size", 64) as usize;
    let quiet = Duration::from_secs(num(args, "--quiet", 30));
    let http = reqwest::Client::new();
    let tag = format!("{:x}", rand::random::<u32>());
    let names: Vec<String> = (0..streams).map(|i| format!("bench/{tag}/{i}")).collect();
    for n in &names {
        http.put(format!("{state}/v1/stream/{n}"))
            .header("content-type", "text/plain")
            .send()
            .await?
            .error_for_status()?;
    }
    eprintln!("opening {} connections", streams * per);
    let conns = open_many(&ws, &token, streams * per).await?;
    let mut readers = Vec::new();
    // Producers start only once every client holds its `subscribed` reply: `now` is resolved
    // by then, so every client is owed every chunk.
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>((streams * per).max(1));
    for (i, (mut conn, mut rx)) in conns.into_iter().enumerate() {
        let stream = StreamName::parse(&names[i % streams])?;
        conn.send(&ClientMsg::Subscribe { id: 1, stream, from: From::Now, binary: false }).await?;
        let ready = ready_tx.clone();
        readers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(chunks);
            let mut last = None;
            while lat.len() < chunks {
                // Answer the edge's pings, or it closes the connection as idle. A client that
                // hears nothing for `--quiet` seconds gives up, and the shortfall is reported.
                let msg = tokio::select! {
                    m = tokio::time::timeout(quiet, rx.inbound.recv()) => match m {
                        Ok(m) => m,
                        Err(_) => break,
                    },
                    p = rx.pongs.recv() => {
                        if let Some(p) = p && conn.write_pong(p).await.is_err() {
                            break;
                        }
                        continue;
                    }
                };
                match msg {
                    Some(Inbound::Msg(ServerMsg::Chunk { data: Some(d), .. }, _)) => {
                        let sent: u64 = d.split(';').next().and_then(|t| t.parse().ok()).unwrap_or(0);
                        lat.push(now_us().saturating_sub(sent));
                        last = Some(Instant::now());
                    }
                    Some(Inbound::Msg(ServerMsg::Subscribed { .. }, _)) => {
                        let _ = ready.send(()).await;
                    }
                    Some(Inbound::Msg(..)) => {}
                    _ => break,
                }
            }
            // The connection stays open until every client is done: thousands of clients
            // hanging up while others still receive would measure teardown, not fan-out.
            (lat, last, conn)
        }));
    }
    drop(ready_tx);
    for _ in 0..streams * per {
        tokio::time::timeout(Duration::from_secs(120), ready_rx.recv())
            .await
            .context("every subscription is confirmed")?
            .context("a client ended before its subscription was confirmed")?;
    }
    // Open the producers' HTTP connections before the clock starts.
    let warm: Vec<_> = names
        .iter()
        .map(|n| {
            let (http, url) = (http.clone(), format!("{state}/v1/stream/{n}"));
            tokio::spawn(async move { http.head(url).send().await })
        })
        .collect();
    for w in warm {
        w.await??.error_for_status()?;
    }
    eprintln!("producing {chunks} chunks on each of {streams} streams at {rate}/s per stream");
    let t0 = Instant::now();
    let mut producers = Vec::new();
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    for (k, n) in names.clone().into_iter().enumerate() {
        let (http, state) = (http.clone(), state.clone());
        producers.push(tokio::spawn(async move {
            // Independent streams: phases spread over one period instead of every stream
            // appending in the same instant.
            let start = Instant::now() + gap.mul_f64(k as f64 / streams as f64);
            let mut took = Vec::with_capacity(chunks);
            for i in 0..chunks {
                let due = start + gap * i as u32;
                tokio::time::sleep_until(due.into()).await;
                let sent = now_us();
                let body = format!("{sent};{}", "x".repeat(size));
                let r = http
                    .post(format!("{state}/v1/stream/{n}"))
                    .header("content-type", "text/plain")
                    .body(body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => took.push(now_us().saturating_sub(sent)),
                    Ok(r) => eprintln!("append refused: {}", r.status()),
                    Err(e) => eprintln!("append failed: {e}"),
                }
            }
            took
        }));
    }
    let mut appends = Vec::new();
    for p in producers {
        appends.extend(p.await?);
    }
    appends.sort_unstable();
    eprintln!(
        "append round trip (POST to 2xx) p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        percentile(&appends, 0.5),
        percentile(&appends, 0.99),
        percentile(&appends, 1.0)
    );
    let produced = t0.elapsed().as_secs_f64();
    let mut all = Vec::new();
    let mut short = 0;
    let mut end = t0;
    let mut open = Vec::with_capacity(readers.len());
    for r in readers {
        let (got, last, conn) = r.await?;
        open.push(conn);
        short += usize::from(got.len() < chunks);
        all.extend(got);
        end = end.max(last.unwrap_or(t0));
    }
    drop(open);
    // From the first append to the last delivery.
    let elapsed = (end - t0).as_secs_f64();
    eprintln!("producers done after {produced:.1}s");
    if short > 0 {
        eprintln!(
            "WARNING: {short} clients received fewer than {chunks} chunks ({} of {} delivered)",
            all.len(),
            streams * per * chunks
        );
    }
    all.sort_unstable();
    println!(
        "fanout streams={streams} clients/stream={per} chunks/stream={chunks}: delivered {} chunks in {:.1}s = {:.0} chunks/s; latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        all.len(),
        elapsed,
        all.len() as f64 / elapsed,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&all, 1.0),
    );
    Ok(())
}

/// Connect, subscribe from an offset, first chunk: per stream in `--streams a,b,...` at `--from-index`.
async fn resume(args: &[String]) -> anyhow::Result<()> {
    let ws = arg(args, "--ws", "ws://127.0.0.1:4438/v1/ws");
    let token = arg(args, "--token", "");
    let label = arg(args, "--label", "resume");
    let list = arg(args, "--streams", "");
    let offsets = arg(args, "--offsets", "");
    let mut times = Vec::new();
    for (s, o) in list.split(',').zip(offsets.split(',')) {
        let stream = StreamName::parse(s)?;
        let at = Offset::parse(o)?;
        let t0 = Instant::now();
        let (mut conn, mut rx) = open(&ws, &token).await?;
        conn.send(&ClientMsg::Subscribe { id: 1, stream, from: From::At(at), binary: false }).await?;
        loop {
            match rx.inbound.recv().await {
                Some(Inbound::Msg(ServerMsg::Chunk { .. }, _)) => break,
                Some(Inbound::Msg(ServerMsg::Reset { reason, .. }, _)) => bail!("reset: {reason:?}"),
                Some(Inbound::Msg(..)) => continue,
                other => bail!("connection ended: {other:?}"),
            }
        }
        times.push(t0.elapsed().as_micros() as u64);
    }
    times.sort_unstable();
    println!(
        "{label}: {} resumes, reconnect-to-first-chunk p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0)
    );
    Ok(())
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading the edge's /proc status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS")
}

async fn idle(args: &[String]) -> anyhow::Result<()> {
    let ws = arg(args, "--ws", "ws://127.0.0.1:4438/v1/ws");
    let token = arg(args, "--token", "");
    let n = num(args, "--clients", 10_000) as usize;
    let pid = num(args, "--edge-pid", 0) as u32;
    let before = rss_kib(pid)?;
    let conns = open_many(&ws, &token, n).await?;
    let after = rss_kib(pid)?;
    println!(
        "idle: {n} connections, edge RSS {} KiB -> {} KiB: {:.1} KiB per idle connection",
        before,
        after,
        (after.saturating_sub(before)) as f64 / n as f64
    );
    drop(conns);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("fanout") => fanout(&args).await,
        Some("resume") => resume(&args).await,
        Some("idle") => idle(&args).await,
        _ => bail!("usage: tether-edge-bench fanout|resume|idle [--ws URL] [--state URL] [--token T] ..."),
    }
}

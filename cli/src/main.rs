//! `tether`: the developer and operator command. `tether dev` runs Tether (state service and
//! an edge) with embedded storage, no Redis or S3 needed; `token`, `tail` and `append` talk to
//! an edge over the WebSocket protocol.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use tether_client::{Client, Event, Options};
use tether_protocol::ws::From;
use tether_protocol::{Offset, SessionId, StreamName};
use tether_state::config::{Args as StateArgs, Config};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "tether", version, about = "Tether: resumable, durable streams")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the state service (embedded storage) and an edge for development; prints a dev
    /// token and the WebSocket URL.
    Dev {
        /// Address of the state service's Durable Streams HTTP API.
        #[arg(long, env = "TETHER_LISTEN", default_value = "127.0.0.1:4437")]
        listen: SocketAddr,
        /// Address of the edge (WebSocket `/v1/ws`, Durable Streams with JWT under `/v1/stream/`).
        #[arg(long, env = "TETHER_EDGE_LISTEN", default_value = "127.0.0.1:4438")]
        edge_listen: SocketAddr,
        /// Where data is kept between runs (the dev JWT secret too).
        #[arg(long, env = "TETHER_DATA_DIR", default_value = "./tether-data")]
        data_dir: PathBuf,
    },
    /// Mint an HS256 development token.
    Token {
        /// File with the shared secret (else TETHER_JWT_SECRET).
        #[arg(long, env = "TETHER_JWT_SECRET_FILE")]
        secret_file: Option<PathBuf>,
        #[arg(long, env = "TETHER_JWT_SECRET", hide_env_values = true)]
        secret: Option<String>,
        #[arg(long, default_value = "dev")]
        sub: String,
        /// Stream pattern the token may read (`*` one segment, `**` any depth); repeatable.
        #[arg(long, default_value = "**")]
        read: Vec<String>,
        /// Stream pattern the token may write; repeatable.
        #[arg(long, default_value = "**")]
        write: Vec<String>,
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long)]
        audience: Option<String>,
    },
    /// Follow a stream, printing one chunk per line; resumes across reconnects.
    Tail {
        stream: String,
        #[command(flatten)]
        conn: ConnArgs,
        /// `start`, `now`, or an offset.
        #[arg(long, default_value = "start")]
        from: String,
        /// Resume this session's subscriptions instead of subscribing.
        #[arg(long)]
        session: Option<String>,
        /// Stop at the end of the backlog instead of following live data.
        #[arg(long)]
        no_follow: bool,
    },
    /// Append standard input to a stream (exactly once, retried across reconnects).
    Append {
        stream: String,
        #[command(flatten)]
        conn: ConnArgs,
        /// Each line becomes its own chunk (default: all of stdin is one chunk).
        #[arg(long)]
        lines: bool,
        /// Content type used if the stream has to be created.
        #[arg(long, default_value = "text/plain")]
        content_type: String,
    },
}

#[derive(clap::Args)]
struct ConnArgs {
    /// Edge WebSocket URL; repeatable (tried in turn).
    #[arg(long = "url", env = "TETHER_URL", default_value = "ws://127.0.0.1:4438/v1/ws", value_delimiter = ',')]
    urls: Vec<String>,
    /// Bearer token.
    #[arg(long, env = "TETHER_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Dev { listen, edge_listen, data_dir } => dev(listen, edge_listen, data_dir).await,
        Command::Token { secret_file, secret, sub, read, write, ttl, issuer, audience } => {
            let secret = match (secret_file, secret) {
                (Some(f), _) => {
                    std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?.trim_ascii().to_vec()
                }
                (None, Some(s)) => s.into_bytes(),
                (None, None) => anyhow::bail!("give --secret-file or TETHER_JWT_SECRET"),
            };
            let read: Vec<&str> = read.iter().map(String::as_str).collect();
            let write: Vec<&str> = write.iter().map(String::as_str).collect();
            let t = tether_edge::auth::mint_hs256(
                &secret,
                &sub,
                &read,
                &write,
                ttl,
                issuer.as_deref(),
                audience.as_deref(),
            );
            println!("{t}");
            Ok(())
        }
        Command::Tail { stream, conn, from, session, no_follow } => tail(stream, conn, from, session, no_follow).await,
        Command::Append { stream, conn, lines, content_type } => append(stream, conn, lines, content_type).await,
    }
}

fn parse_from(raw: &str) -> anyhow::Result<From> {
    Ok(match raw {
        "start" | "-1" => From::Start,
        "now" => From::Now,
        o => From::At(Offset::parse(o)?),
    })
}

async fn tail(
    stream: String,
    conn: ConnArgs,
    from: String,
    session: Option<String>,
    no_follow: bool,
) -> anyhow::Result<()> {
    let stream = StreamName::parse(&stream)?;
    let mut client = Client::connect(Options::new(conn.urls, conn.token));
    match session {
        Some(s) => client.resume(SessionId::parse(&s)?).await?,
        None => client.subscribe(stream.clone(), parse_from(&from)?).await?,
    }
    let mut out = std::io::stdout().lock();
    loop {
        let Some(ev) = client.next_event().await else { anyhow::bail!("client stopped") };
        match ev {
            Event::Chunk { data, .. } => {
                out.write_all(&data)?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
            Event::Connected { edge, session } => eprintln!("# connected to {edge}, session {session}"),
            Event::Subscribed { stream, verdict, from } => eprintln!("# {stream}: {verdict:?} from {from}"),
            Event::CaughtUp { stream, next } => {
                eprintln!("# {stream}: caught up at {next}");
                if no_follow {
                    return Ok(());
                }
            }
            Event::Closed { stream, next } => {
                eprintln!("# {stream}: closed at {next}");
                return Ok(());
            }
            Event::Reset { stream, reason } => anyhow::bail!("{stream}: cannot resume: {reason:?}"),
            Event::Refused { stream, code, message } => anyhow::bail!("refused {stream:?}: {code:?}: {message}"),
            Event::TokenExpiring { expires_in_ms } => eprintln!("# token expires in {expires_in_ms} ms"),
            Event::Disconnected { code, reason } => eprintln!("# disconnected ({code:?}: {reason}); reconnecting"),
        }
    }
}

async fn append(stream: String, conn: ConnArgs, lines: bool, content_type: String) -> anyhow::Result<()> {
    let stream = StreamName::parse(&stream)?;
    let client = Client::connect(Options::new(conn.urls, conn.token));
    let mut chunks = Vec::new();
    if lines {
        for line in std::io::stdin().lock().lines() {
            chunks.push(Bytes::from(line?));
        }
    } else {
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut all)?;
        chunks.push(Bytes::from(all));
    }
    for data in chunks {
        let binary = std::str::from_utf8(&data).is_err();
        match client.publish(stream.clone(), data, binary, Some(content_type.clone())).await? {
            Ok(p) => eprintln!("# appended; next offset {}", p.next.unwrap_or_default()),
            Err(e) => anyhow::bail!("{e}"),
        }
    }
    Ok(())
}

/// The dev secret: kept in the data directory so tokens survive restarts.
fn dev_secret(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("dev-jwt-secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        return Ok(s.trim().to_owned());
    }
    std::fs::create_dir_all(data_dir)?;
    let s = format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>());
    std::fs::write(&path, &s)?;
    Ok(s)
}

async fn dev(listen: SocketAddr, edge_listen: SocketAddr, data_dir: PathBuf) -> anyhow::Result<()> {
    let mut args = StateArgs::default();
    args.values.listen = Some(listen);
    args.values.data_dir = Some(data_dir.clone());
    let cfg = Config::resolve(&args)?;
    tether_state::init_logging(cfg.log_format);
    let shutdown = CancellationToken::new();
    let running = tether_state::start(cfg, shutdown.clone()).await?;
    let base = format!("http://{}", running.addr);
    let secret = dev_secret(&data_dir)?;
    let edge_cfg = <tether_edge::config::Config as Parser>::try_parse_from([
        "tether-edge",
        "--listen",
        &edge_listen.to_string(),
        "--state-url",
        &base,
        "--jwt-secret",
        &secret,
    ])?;
    let edge = tether_edge::start(edge_cfg, shutdown.clone()).await?;
    let token = tether_edge::auth::mint_hs256(
        secret.as_bytes(),
        "dev",
        &["**"],
        &["**"],
        Duration::from_secs(86_400),
        None,
        None,
    );
    let edge_base = format!("http://{}", edge.addr);
    let ws = format!("ws://{}/v1/ws", edge.addr);
    println!(
        "\nTether dev mode (embedded storage in {data}, no Redis or S3)\n\
         \n  WebSocket            {ws}\
         \n  Durable Streams API  {edge_base}/v1/stream/<name>   (with the token below)\
         \n  state service        {base}/v1/stream/<name>   (internal, no auth)\
         \n  health / metrics     {edge_base}/healthz  {edge_base}/metrics\n\
         \nDev token (sub \"dev\", read and write everything, 24 h):\n\n  {token}\n\
         \nTry it:\n\
         \n  export TETHER_TOKEN={token}\
         \n  echo 'hi there' | cargo run --release -- append hello --lines\
         \n  cargo run --release -- tail hello\n\
         \n  curl -H \"Authorization: Bearer $TETHER_TOKEN\" '{edge_base}/v1/stream/hello?offset=-1'\n\
         \nCtrl-C stops it.\n",
        data = data_dir.display()
    );
    tokio::signal::ctrl_c().await?;
    shutdown.cancel();
    edge.done.await??;
    running.done.await??;
    Ok(())
}

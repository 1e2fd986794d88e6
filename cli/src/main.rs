//! `tether`: the developer and operator command. `tether dev` runs Tether with embedded
//! storage on the protocol's default port, no Redis or S3 needed.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
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
    /// Run the state service with embedded storage (redb + local archive) for development.
    Dev {
        /// Address of the Durable Streams HTTP API.
        #[arg(long, env = "TETHER_LISTEN", default_value = "127.0.0.1:4437")]
        listen: SocketAddr,
        /// Where data is kept between runs.
        #[arg(long, env = "TETHER_DATA_DIR", default_value = "./tether-data")]
        data_dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Dev { listen, data_dir } => dev(listen, data_dir).await,
    }
}

async fn dev(listen: SocketAddr, data_dir: PathBuf) -> anyhow::Result<()> {
    let mut args = StateArgs::default();
    args.values.listen = Some(listen);
    args.values.data_dir = Some(data_dir.clone());
    let cfg = Config::resolve(&args)?;
    tether_state::init_logging(cfg.log_format);
    let shutdown = CancellationToken::new();
    let running = tether_state::start(cfg, shutdown.clone()).await?;
    let base = format!("http://{}", running.addr);
    println!(
        "\nTether dev mode (embedded storage in {data}, no Redis or S3)\n\
         \n  Durable Streams API  {base}/v1/stream/<name>\
         \n  health / metrics     {base}/healthz  {base}/metrics\n\
         \nTry it:\n\
         \n  curl -X PUT -H 'Content-Type: text/plain' {base}/v1/stream/hello \\\
         \n    && curl -X POST -H 'Content-Type: text/plain' --data 'hi there' {base}/v1/stream/hello \\\
         \n    && curl -i {base}/v1/stream/hello\n\
         \nCtrl-C stops it.\n",
        data = data_dir.display()
    );
    tokio::signal::ctrl_c().await?;
    shutdown.cancel();
    running.done.await??;
    Ok(())
}

//! `tether-state`: runs the state service until SIGINT or SIGTERM.

use clap::Parser;
use tether_state::config::{Args, Config};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = Config::resolve(&args)?;
    if args.check_config {
        println!("{}", toml::to_string_pretty(&cfg)?);
        eprintln!("configuration is valid");
        return Ok(());
    }
    tether_state::init_logging(cfg.log_format);
    // Installed before anything announces readiness, so an early SIGTERM still drains.
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let shutdown = CancellationToken::new();
    let running = tether_state::start(cfg, shutdown.clone()).await?;
    println!("tether-state listening on http://{}", running.addr);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested");
    shutdown.cancel();
    running.done.await??;
    Ok(())
}

//! `tether-edge`: serves clients until SIGINT or SIGTERM, then drains.

use clap::Parser;
use tether_edge::config::{Config, LogFormat};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::parse();
    cfg.validate()?;
    if cfg.check_config {
        let mut shown = cfg.clone();
        if shown.jwt_secret.is_some() {
            shown.jwt_secret = Some("<redacted>".into());
        }
        println!("{shown:#?}");
        eprintln!("configuration is valid");
        return Ok(());
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    match cfg.log_format {
        LogFormat::Json => tracing_subscriber::fmt().json().with_writer(std::io::stderr).with_env_filter(filter).init(),
        LogFormat::Text => tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).init(),
    }
    // Installed before anything announces readiness, so an early SIGTERM still drains.
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let shutdown = CancellationToken::new();
    let running = tether_edge::start(cfg, shutdown.clone()).await?;
    println!("tether-edge listening on http://{}", running.addr);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested; draining");
    shutdown.cancel();
    running.done.await??;
    Ok(())
}

//! Harness for black-box tests: starts the real `tether-state` and `tether-edge` binaries on
//! port 0, learns their addresses from their first stdout line, and stops them by pid.

pub mod servers;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Path of a workspace binary next to the running test executable (`target/<profile>/`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --workspace` before the tests", path.display());
    path
}

/// A running `tether-state` process.
pub struct StateProcess {
    child: Option<Child>,
    pub url: String,
    pub data_dir: PathBuf,
    /// stderr (logs) of the process, kept for inspection.
    pub log: PathBuf,
}

impl StateProcess {
    /// Starts `tether-state --listen 127.0.0.1:0 --data-dir <dir> <extra>` and waits for the
    /// line announcing its address.
    pub fn start(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let log = data_dir.with_extension(format!("{}.log", std::process::id()));
        let stderr = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(binary("tether-state"));
        cmd.arg("--listen").arg("127.0.0.1:0").arg("--data-dir").arg(data_dir).args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().expect("spawn tether-state");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
        let url = line
            .trim()
            .strip_prefix("tether-state listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "tether-state did not start: {line:?}; log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_owned();
        Self { child: Some(child), url, data_dir: data_dir.to_owned(), log }
    }

    pub fn stream_url(&self, name: &str) -> String {
        format!("{}/v1/stream/{name}", self.url)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, then wait; returns whether the process exited successfully.
    pub fn terminate(&mut self) -> bool {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "TERM");
        child.wait().expect("wait").success()
    }

    /// SIGKILL (no chance to flush anything) and reap.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "KILL");
        let _ = child.wait();
    }
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().expect("kill");
    assert!(status.success(), "kill -{sig} {pid} failed");
}

/// A running `tether-edge` process.
pub struct EdgeProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub log: PathBuf,
}

impl EdgeProcess {
    /// Starts `tether-edge --listen 127.0.0.1:0 --state-url ... <extra>` with `env`, logging to `log`.
    pub fn start(state_urls: &[&str], extra: &[&str], env: &[(&str, &str)], log: &Path) -> Self {
        let stderr = std::fs::File::create(log).expect("log file");
        let mut cmd = Command::new(binary("tether-edge"));
        cmd.arg("--listen").arg("127.0.0.1:0");
        for u in state_urls {
            cmd.arg("--state-url").arg(u);
        }
        cmd.args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().expect("spawn tether-edge");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
        let url = line
            .trim()
            .strip_prefix("tether-edge listening on ")
            .unwrap_or_else(|| {
                panic!("tether-edge did not start: {line:?}; log: {}", std::fs::read_to_string(log).unwrap_or_default())
            })
            .to_owned();
        Self { child: Some(child), url, log: log.to_owned() }
    }

    /// The WebSocket URL of this edge.
    pub fn ws_url(&self) -> String {
        format!("{}/v1/ws", self.url.replacen("http://", "ws://", 1))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, then wait; returns whether the process exited successfully.
    pub fn terminate(&mut self) -> bool {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "TERM");
        child.wait().expect("wait").success()
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "KILL");
        let _ = child.wait();
    }
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for StateProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `check` until it returns true; panics with `what` after `limit`. For conditions only
/// observable from outside a process (metrics, readiness): a hang becomes a clear failure
/// instead of a stuck test, and the poll interval keeps the loop from starving the servers.
pub async fn eventually<F, Fut>(what: &str, limit: std::time::Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if check().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
    }
}

/// One sample of a Prometheus text exposition: the value of the line starting with `prefix`
/// (metric name plus a trailing space, or name with labels).
pub async fn metric(client: &reqwest::Client, base: &str, prefix: &str) -> Option<f64> {
    let text = client.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix(prefix).and_then(|v| v.trim().parse().ok()))
}

//! Real servers for the tests, each on a free port and stopped by pid when dropped:
//! `moto_server` (S3 API) and `redis-server`. Paths come from `TETHER_MOTO_SERVER` /
//! `TETHER_REDIS_SERVER` (set by `infra/test.sh`), else `PATH`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

pub struct Server {
    child: Child,
    pub url: String,
    dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `moto_server` on `port` (0: any) and creates `bucket`.
pub async fn moto_on(port: u16, bucket: &str) -> Server {
    let bin = program("TETHER_MOTO_SERVER", "moto_server");
    let mut child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} ({e}); `bash infra/test.sh` installs moto[server]"));
    let stderr = child.stderr.take().expect("piped");
    let url = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        loop {
            line.clear();
            assert!(reader.read_line(&mut line).expect("moto output") > 0, "moto_server exited before listening");
            if let Some(i) = line.find("Running on http://") {
                let url = line[i + "Running on ".len()..].trim().to_owned();
                // Keep draining moto's log so it never blocks on a full pipe.
                std::thread::spawn(move || for _ in reader.lines() {});
                return url;
            }
        }
    })
    .await
    .expect("moto start");
    // moto accepts unsigned requests: a plain PUT creates the bucket.
    let status = reqwest::Client::new().put(format!("{url}/{bucket}")).send().await.expect("create bucket").status();
    assert!(status.is_success(), "creating bucket {bucket}: {status}");
    Server { child, url, dir: None }
}

/// Starts `moto_server` on a free port and creates `bucket`.
pub async fn moto(bucket: &str) -> Server {
    moto_on(0, bucket).await
}

/// Starts `redis-server` on a free port, without persistence unless `aof`.
pub fn redis(aof: bool) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    redis_in(free_port(), aof, dir)
}

/// Starts a `redis-server` replicating from `primary` (a `redis://host:port` URL).
pub fn redis_replica(primary: &str) -> Server {
    let (host, port) = primary.trim_start_matches("redis://").split_once(':').expect("host:port");
    redis_with(free_port(), false, tempfile::tempdir().expect("tempdir"), &["--replicaof", host, port])
}

/// Starts `redis-server` on `port` with its files in `dir` (so a restart finds its AOF).
pub fn redis_in(port: u16, aof: bool, dir: tempfile::TempDir) -> Server {
    redis_with(port, aof, dir, &[])
}

fn redis_with(port: u16, aof: bool, dir: tempfile::TempDir, extra: &[&str]) -> Server {
    let bin = program("TETHER_REDIS_SERVER", "redis-server");
    let mut cmd = Command::new(&bin);
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""]);
    // `appendfsync always`: an acknowledged write survives the restart the test does.
    cmd.args(["--appendonly", if aof { "yes" } else { "no" }, "--appendfsync", "always", "--dir"]).arg(dir.path());
    cmd.args(extra);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} ({e}); `bash infra/test.sh` installs redis-server"));
    let stdout = child.stdout.take().expect("piped");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).expect("redis output") > 0, "redis-server exited before listening");
        if line.contains("Ready to accept connections") {
            break;
        }
    }
    std::thread::spawn(move || for _ in reader.lines() {});
    Server { child, url: format!("redis://127.0.0.1:{port}"), dir: Some(dir) }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server and hands back its data directory (for a restart on the same port).
    pub fn stop(mut self) -> Option<tempfile::TempDir> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir.take()
    }
}

/// A port that was free a moment ago (redis-server cannot bind port 0 and report it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

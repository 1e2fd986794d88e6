//! Real servers for the tests, each on a free port and stopped by pid when dropped:
//! `moto_server` (S3 API) and `redis-server`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

pub struct Server {
    child: Child,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `moto_server` on port 0 (path from `TETHER_MOTO_SERVER`, else `PATH`) and creates
/// `bucket`.
pub async fn moto(bucket: &str) -> Server {
    let bin = program("TETHER_MOTO_SERVER", "moto_server");
    let mut child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", "0"])
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
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(&url)
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "tests"))
        .build();
    aws_sdk_s3::Client::from_conf(conf).create_bucket().bucket(bucket).send().await.expect("create bucket");
    Server { child, url, _dir: None }
}

/// Starts `redis-server` (from `TETHER_REDIS_SERVER`, else `PATH`) on a free port, without
/// persistence unless `aof`.
pub fn redis(aof: bool) -> Server {
    let bin = program("TETHER_REDIS_SERVER", "redis-server");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut cmd = Command::new(&bin);
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""]);
    cmd.args(["--appendonly", if aof { "yes" } else { "no" }, "--dir"]).arg(dir.path());
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
    Server { child, url: format!("redis://127.0.0.1:{port}"), _dir: Some(dir) }
}

/// A port that was free a moment ago (redis-server cannot bind port 0 and report it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

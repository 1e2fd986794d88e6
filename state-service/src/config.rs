//! Configuration: command-line flags, `TETHER_*` environment variables and an optional TOML
//! file, in that order of precedence, over documented defaults. Every field is documented
//! here; the docs double as `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::{Deserialize, Serialize};

mod kafka;
pub use kafka::{KafkaProperties, RoutesJson};

/// Command line of `tether-state`. Every flag also reads the named environment variable.
#[derive(Parser, Debug, Clone, Default)]
#[command(name = "tether-state", version, about = "Tether state service: durable, offset-addressed streams")]
pub struct Args {
    /// TOML configuration file; flags and environment variables override its values.
    #[arg(long, env = "TETHER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Validate the configuration, print the effective values and exit.
    #[arg(long)]
    pub check_config: bool,
    #[command(flatten)]
    pub values: Values,
}

/// Every setting, optional at each layer; [`Config::resolve`] fills the defaults.
#[derive(clap::Args, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Values {
    /// Address to serve HTTP on [default: 127.0.0.1:4437].
    #[arg(long, env = "TETHER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the embedded store and local archive [default: ./tether-data].
    #[arg(long, env = "TETHER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log format: `text` or `json` [default: text].
    #[arg(long, env = "TETHER_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// fsync every group commit before acknowledging [default: true]. Turning it off risks
    /// losing acknowledged appends on a crash; it exists for benchmarks.
    #[arg(long, env = "TETHER_FSYNC")]
    pub fsync: Option<bool>,
    /// Largest accepted append body, in bytes (larger: 413) [default: 8388608].
    #[arg(long, env = "TETHER_MAX_CHUNK_BYTES")]
    pub max_chunk_bytes: Option<usize>,
    /// Most body bytes one catch-up read returns (at least one chunk) [default: 1048576].
    #[arg(long, env = "TETHER_READ_MAX_BYTES")]
    pub read_max_bytes: Option<usize>,
    /// Most streams named in one batch metadata request [default: 100].
    #[arg(long, env = "TETHER_MAX_STREAMS_PER_REQUEST")]
    pub max_streams_per_request: Option<usize>,
    /// How long a long-poll waits before answering 204 [default: 15s].
    #[arg(long, env = "TETHER_LONG_POLL_TIMEOUT", value_parser = humantime::parse_duration)]
    #[serde(default, with = "opt_duration")]
    pub long_poll_timeout: Option<Duration>,
    /// How long one SSE response stays open before the server ends it (client resumes) [default: 60s].
    #[arg(long, env = "TETHER_SSE_MAX_DURATION", value_parser = humantime::parse_duration)]
    #[serde(default, with = "opt_duration")]
    pub sse_max_duration: Option<Duration>,
    /// Grace period for in-flight requests on shutdown [default: 10s].
    #[arg(long, env = "TETHER_SHUTDOWN_GRACE", value_parser = humantime::parse_duration)]
    #[serde(default, with = "opt_duration")]
    pub shutdown_grace: Option<Duration>,
    /// Seal a segment once this many chunks wait in the hot log (also the segment size) [default: 4096].
    #[arg(long, env = "TETHER_SEAL_MAX_CHUNKS")]
    pub seal_max_chunks: Option<u64>,
    /// Most payload bytes in one segment [default: 8388608].
    #[arg(long, env = "TETHER_SEAL_MAX_BYTES")]
    pub seal_max_bytes: Option<usize>,
    /// Seal whatever waits once a stream has been idle this long [default: 30s].
    #[arg(long, env = "TETHER_SEAL_IDLE", value_parser = humantime::parse_duration)]
    #[serde(default, with = "opt_duration")]
    pub seal_idle: Option<Duration>,
    /// Seal whatever waits once it has waited this long, however busy the stream [default: 5m].
    #[arg(long, env = "TETHER_SEAL_MAX_AGE", value_parser = humantime::parse_duration)]
    #[serde(default, with = "opt_duration")]
    pub seal_max_age: Option<Duration>,
    /// Time between archiver passes [default: 1s].
    #[arg(long, env = "TETHER_ARCHIVE_INTERVAL", value_parser = humantime::parse_duration)]
    #[serde(default, with = "opt_duration")]
    pub archive_interval: Option<Duration>,
    /// Appends answer 503 while more than this many chunks wait to be archived [default: 10000000].
    #[arg(long, env = "TETHER_HOT_MAX_CHUNKS")]
    pub hot_max_chunks: Option<u64>,
    /// Memory tier of the segment cache, in bytes [default: 67108864].
    #[arg(long, env = "TETHER_CACHE_MEMORY_BYTES")]
    pub cache_memory_bytes: Option<usize>,
    /// Disk tier of the segment cache, in bytes [default: 1073741824].
    #[arg(long, env = "TETHER_CACHE_DISK_BYTES")]
    pub cache_disk_bytes: Option<usize>,
    /// Directory of the disk tier [default: <data_dir>/cache].
    #[arg(long, env = "TETHER_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Redis URL (`redis://` or `rediss://`) for the hot log and sessions; unset: embedded storage.
    #[arg(long, env = "TETHER_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Redis password (kept out of the URL so it can come from a secret).
    #[arg(long, env = "TETHER_REDIS_PASSWORD", hide_env_values = true)]
    #[serde(skip)]
    pub redis_password: Option<String>,
    /// Acknowledge appends only after this many replicas have them (`WAIT`) [default: 0].
    #[arg(long, env = "TETHER_REDIS_WAIT_REPLICAS")]
    pub redis_wait_replicas: Option<u32>,
    /// How long `WAIT` may take before the append answers 503 [default: 1s].
    #[arg(long, env = "TETHER_REDIS_WAIT_TIMEOUT", value_parser = humantime::parse_duration)]
    #[serde(default, with = "opt_duration")]
    pub redis_wait_timeout: Option<Duration>,
    /// Bound of every Redis operation [default: 2s].
    #[arg(long, env = "TETHER_REDIS_TIMEOUT", value_parser = humantime::parse_duration)]
    #[serde(default, with = "opt_duration")]
    pub redis_timeout: Option<Duration>,
    /// Appends answer 503 while Redis uses more memory than this (archive backlog headroom).
    #[arg(long, env = "TETHER_REDIS_MAX_MEMORY_BYTES")]
    pub redis_max_memory_bytes: Option<u64>,
    /// S3 bucket for the segment archive; unset: a local directory under data_dir.
    #[arg(long, env = "TETHER_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// S3 region [default: us-east-1].
    #[arg(long, env = "TETHER_S3_REGION")]
    pub s3_region: Option<String>,
    /// Custom S3 endpoint (S3-compatible stores); unset: AWS.
    #[arg(long, env = "TETHER_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Path-style S3 addressing (most S3-compatible stores need it) [default: false].
    #[arg(long, env = "TETHER_S3_FORCE_PATH_STYLE", num_args = 0..=1, default_missing_value = "true")]
    pub s3_force_path_style: Option<bool>,
    /// Bound of one S3 operation including retries [default: 10s].
    #[arg(long, env = "TETHER_S3_TIMEOUT", value_parser = humantime::parse_duration)]
    #[serde(default, with = "opt_duration")]
    pub s3_timeout: Option<Duration>,
    /// Key prefix inside the bucket [default: none].
    #[arg(long, env = "TETHER_S3_PREFIX")]
    pub s3_prefix: Option<String>,
    /// Kafka bootstrap servers (`host:port,...`); unset: no Kafka ingest and no lifecycle events.
    #[arg(long, env = "TETHER_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Consumer group of the ingest; instances with the same group share the partitions [default: tether-state].
    #[arg(long, env = "TETHER_KAFKA_GROUP_ID")]
    pub kafka_group_id: Option<String>,
    /// Topic that receives lifecycle events (JSON, docs/PROTOCOL.md); unset: no events.
    #[arg(long, env = "TETHER_KAFKA_EVENTS_TOPIC")]
    pub kafka_events_topic: Option<String>,
    /// Topic that receives messages no route can deliver; unset: they are skipped (logged, counted).
    #[arg(long, env = "TETHER_KAFKA_DEAD_LETTER_TOPIC")]
    pub kafka_dead_letter_topic: Option<String>,
    /// Most lifecycle events waiting in the durable outbox; newer ones are dropped past it [default: 100000].
    #[arg(long, env = "TETHER_KAFKA_OUTBOX_MAX_EVENTS")]
    pub kafka_outbox_max_events: Option<u64>,
    /// Producer-Epoch of ingest appends; bump it after recreating a topic (offsets restart) [default: 0].
    #[arg(long, env = "TETHER_KAFKA_PRODUCER_EPOCH")]
    pub kafka_producer_epoch: Option<u64>,
    /// How long a produced record (event, dead letter) may wait for the broker before it is retried [default: 30s].
    #[arg(long, env = "TETHER_KAFKA_PRODUCE_TIMEOUT", value_parser = humantime::parse_duration)]
    #[serde(default, with = "opt_duration")]
    pub kafka_produce_timeout: Option<Duration>,
    /// How often consumer lag per partition is refreshed [default: 5s].
    #[arg(long, env = "TETHER_KAFKA_LAG_INTERVAL", value_parser = humantime::parse_duration)]
    #[serde(default, with = "opt_duration")]
    pub kafka_lag_interval: Option<Duration>,
    /// Ingest routes as a JSON array of the objects a `[[kafka_route]]` table holds, e.g.
    /// `[{"topic":"orders","stream":"order/{key}","content_type":"application/json"}]`; replaces
    /// the file's routes.
    #[arg(long, env = "TETHER_KAFKA_ROUTES", value_parser = kafka::RoutesJson::parse)]
    #[serde(skip)]
    pub kafka_routes: Option<kafka::RoutesJson>,
    /// librdkafka `security.protocol` of every Kafka client: PLAINTEXT, SSL, SASL_PLAINTEXT or
    /// SASL_SSL (MSK with SCRAM: SASL_SSL); overrides `[kafka_properties]` [default: PLAINTEXT].
    #[arg(long, env = "TETHER_KAFKA_SECURITY_PROTOCOL")]
    #[serde(skip)]
    pub kafka_security_protocol: Option<String>,
    /// librdkafka `sasl.mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (MSK: SCRAM-SHA-512);
    /// overrides `[kafka_properties]`.
    #[arg(long, env = "TETHER_KAFKA_SASL_MECHANISM")]
    #[serde(skip)]
    pub kafka_sasl_mechanism: Option<String>,
    /// librdkafka `sasl.username`; overrides `[kafka_properties]`.
    #[arg(long, env = "TETHER_KAFKA_SASL_USERNAME")]
    #[serde(skip)]
    pub kafka_sasl_username: Option<String>,
    /// librdkafka `sasl.password` (give it through the environment, from a secret; never printed);
    /// overrides `[kafka_properties]`.
    #[arg(long, env = "TETHER_KAFKA_SASL_PASSWORD", hide_env_values = true)]
    #[serde(skip)]
    pub kafka_sasl_password: Option<String>,
    /// Ingest routes (TOML file: `[[kafka_route]]` tables, see README; flags and the environment
    /// use `kafka_routes`).
    #[arg(skip)]
    #[serde(default)]
    pub kafka_route: Vec<crate::kafka::routes::RouteConfig>,
    /// Extra librdkafka properties for every Kafka client (TOML file only: `[kafka_properties]`),
    /// e.g. `ssl.ca.location`; the `kafka_security_protocol` and `kafka_sasl_*` settings override
    /// their keys. Values are not printed.
    #[arg(skip)]
    #[serde(default)]
    pub kafka_properties: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The effective configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub fsync: bool,
    pub max_chunk_bytes: usize,
    pub read_max_bytes: usize,
    pub max_streams_per_request: usize,
    #[serde(with = "humantime_serde_compat")]
    pub long_poll_timeout: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub sse_max_duration: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub shutdown_grace: Duration,
    pub seal_max_chunks: u64,
    pub seal_max_bytes: usize,
    #[serde(with = "humantime_serde_compat")]
    pub seal_idle: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub seal_max_age: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub archive_interval: Duration,
    pub hot_max_chunks: u64,
    pub cache_memory_bytes: usize,
    pub cache_disk_bytes: usize,
    pub cache_dir: PathBuf,
    pub s3: Option<S3Config>,
    pub redis: Option<RedisConfig>,
    pub kafka: Option<KafkaConfig>,
}

/// Kafka ingest and lifecycle events (see `crate::kafka`).
#[derive(Debug, Clone, Serialize)]
pub struct KafkaConfig {
    pub brokers: String,
    pub group_id: String,
    pub events_topic: Option<String>,
    pub dead_letter_topic: Option<String>,
    pub outbox_max_events: u64,
    pub producer_epoch: u64,
    #[serde(with = "humantime_serde_compat")]
    pub produce_timeout: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub lag_interval: Duration,
    pub routes: Vec<crate::kafka::routes::RouteConfig>,
    /// Passed to librdkafka as given; printed with masked values (they may hold credentials).
    pub properties: KafkaProperties,
}

/// The Redis hot log's settings.
#[derive(Debug, Clone, Serialize)]
pub struct RedisConfig {
    /// The URL as given, password included when it is part of it (not printed).
    #[serde(skip)]
    pub url: String,
    pub wait_replicas: u32,
    #[serde(with = "humantime_serde_compat")]
    pub wait_timeout: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    pub max_memory_bytes: Option<u64>,
}

/// The S3 archive's settings (credentials come from the standard AWS chain).
#[derive(Debug, Clone, Serialize)]
pub struct S3Config {
    pub bucket: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub force_path_style: bool,
    pub prefix: String,
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("config file {0} is invalid: {1}")]
    Parse(PathBuf, String),
    #[error("invalid setting {0}: {1}")]
    Invalid(&'static str, String),
}

impl Config {
    /// Layers flags/env over the file over defaults, then validates.
    pub fn resolve(args: &Args) -> Result<Self, ConfigError> {
        let file = match &args.config {
            None => Values::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.clone(), e))?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse(path.clone(), e.to_string()))?
            }
        };
        let v = &args.values;
        macro_rules! pick {
            ($f:ident, $default:expr) => {
                v.$f.clone().or(file.$f.clone()).unwrap_or_else(|| $default)
            };
        }
        let data_dir = pick!(data_dir, PathBuf::from("./tether-data"));
        let s3 = v.s3_bucket.clone().or(file.s3_bucket.clone()).map(|bucket| S3Config {
            bucket,
            region: pick!(s3_region, "us-east-1".to_owned()),
            endpoint: v.s3_endpoint.clone().or(file.s3_endpoint.clone()),
            force_path_style: pick!(s3_force_path_style, false),
            prefix: pick!(s3_prefix, String::new()),
            timeout: pick!(s3_timeout, Duration::from_secs(10)),
        });
        let redis = v.redis_url.clone().or(file.redis_url.clone()).map(|url| RedisConfig {
            url: match v.redis_password.clone() {
                Some(pw) => with_password(&url, &pw),
                None => url,
            },
            wait_replicas: pick!(redis_wait_replicas, 0),
            wait_timeout: pick!(redis_wait_timeout, Duration::from_secs(1)),
            timeout: pick!(redis_timeout, Duration::from_secs(2)),
            max_memory_bytes: v.redis_max_memory_bytes.or(file.redis_max_memory_bytes),
        });
        let routes = match &v.kafka_routes {
            // Routes are an ordered list (the first match wins), so one source replaces the other.
            Some(json) => json.0.clone(),
            None if v.kafka_route.is_empty() => file.kafka_route.clone(),
            None => v.kafka_route.clone(),
        };
        let properties = kafka::merge_properties(&file.kafka_properties, v)?;
        let kafka = match v.kafka_brokers.clone().or(file.kafka_brokers.clone()) {
            Some(brokers) => Some(KafkaConfig {
                brokers,
                group_id: pick!(kafka_group_id, "tether-state".to_owned()),
                events_topic: v.kafka_events_topic.clone().or(file.kafka_events_topic.clone()),
                dead_letter_topic: v.kafka_dead_letter_topic.clone().or(file.kafka_dead_letter_topic.clone()),
                outbox_max_events: pick!(kafka_outbox_max_events, 100_000),
                producer_epoch: pick!(kafka_producer_epoch, 0),
                produce_timeout: pick!(kafka_produce_timeout, Duration::from_secs(30)),
                lag_interval: pick!(kafka_lag_interval, Duration::from_secs(5)),
                routes,
                properties,
            }),
            None if !routes.is_empty() => {
                return Err(ConfigError::Invalid("kafka_route", "routes need kafka_brokers".into()));
            }
            None => None,
        };
        let cfg = Config {
            listen: pick!(listen, SocketAddr::from(([127, 0, 0, 1], 4437))),
            cache_dir: pick!(cache_dir, data_dir.join("cache")),
            data_dir,
            log_format: pick!(log_format, LogFormat::Text),
            fsync: pick!(fsync, true),
            max_chunk_bytes: pick!(max_chunk_bytes, 8 << 20),
            read_max_bytes: pick!(read_max_bytes, 1 << 20),
            max_streams_per_request: pick!(max_streams_per_request, 100),
            long_poll_timeout: pick!(long_poll_timeout, Duration::from_secs(15)),
            sse_max_duration: pick!(sse_max_duration, Duration::from_secs(60)),
            shutdown_grace: pick!(shutdown_grace, Duration::from_secs(10)),
            seal_max_chunks: pick!(seal_max_chunks, 4096),
            seal_max_bytes: pick!(seal_max_bytes, 8 << 20),
            seal_idle: pick!(seal_idle, Duration::from_secs(30)),
            seal_max_age: pick!(seal_max_age, Duration::from_secs(300)),
            archive_interval: pick!(archive_interval, Duration::from_secs(1)),
            hot_max_chunks: pick!(hot_max_chunks, 10_000_000),
            cache_memory_bytes: pick!(cache_memory_bytes, 64 << 20),
            cache_disk_bytes: pick!(cache_disk_bytes, 1 << 30),
            s3,
            redis,
            kafka,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |k, m: &str| Err(ConfigError::Invalid(k, m.to_owned()));
        if self.max_chunk_bytes == 0 || self.max_chunk_bytes > (64 << 20) {
            return invalid("max_chunk_bytes", "must be between 1 and 67108864");
        }
        if self.read_max_bytes < 1024 {
            return invalid("read_max_bytes", "must be at least 1024");
        }
        if self.max_streams_per_request == 0 {
            return invalid("max_streams_per_request", "must be at least 1");
        }
        if self.long_poll_timeout.is_zero() || self.long_poll_timeout > Duration::from_secs(300) {
            return invalid("long_poll_timeout", "must be between 1ms and 300s");
        }
        if self.sse_max_duration < Duration::from_secs(1) {
            return invalid("sse_max_duration", "must be at least 1s");
        }
        if self.seal_max_chunks == 0 || self.seal_max_bytes == 0 {
            return invalid("seal_max_chunks", "segment limits must be positive");
        }
        if self.archive_interval.is_zero() {
            return invalid("archive_interval", "must be positive");
        }
        if self.cache_memory_bytes < (1 << 20) || self.cache_disk_bytes < (16 << 20) {
            return invalid("cache_memory_bytes", "the cache needs at least 1 MiB of memory and 16 MiB of disk");
        }
        if let Some(r) = &self.redis {
            if !(r.url.starts_with("redis://") || r.url.starts_with("rediss://")) {
                return invalid("redis_url", "must start with redis:// or rediss://");
            }
            if r.timeout.is_zero() || r.wait_timeout.is_zero() {
                return invalid("redis_timeout", "timeouts must be positive");
            }
        }
        if let Some(k) = &self.kafka {
            validate_kafka(k)?;
        }
        if let Some(s3) = &self.s3 {
            if s3.bucket.is_empty() {
                return invalid("s3_bucket", "must not be empty");
            }
            if s3.endpoint.as_deref().is_some_and(|e| !(e.starts_with("http://") || e.starts_with("https://"))) {
                return invalid("s3_endpoint", "must be an http:// or https:// URL");
            }
        }
        Ok(())
    }

    /// A configuration for tests: everything default except the data directory and port 0.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        let mut args = Args::default();
        args.values.data_dir = Some(data_dir);
        args.values.listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        Self::resolve(&args).expect("default config is valid")
    }
}

fn validate_kafka(k: &KafkaConfig) -> Result<(), ConfigError> {
    let invalid = |key, m: String| Err(ConfigError::Invalid(key, m));
    if k.brokers.trim().is_empty() {
        return invalid("kafka_brokers", "must name at least one host:port".into());
    }
    if k.group_id.is_empty() {
        return invalid("kafka_group_id", "must not be empty".into());
    }
    if k.outbox_max_events == 0 {
        return invalid("kafka_outbox_max_events", "must be at least 1".into());
    }
    if k.producer_epoch > tether_protocol::producer::MAX_PRODUCER_NUMBER {
        return invalid("kafka_producer_epoch", "must be at most 2^53-1".into());
    }
    if k.produce_timeout < Duration::from_millis(100) || k.lag_interval < Duration::from_millis(100) {
        return invalid("kafka_produce_timeout", "Kafka intervals must be at least 100ms".into());
    }
    for (key, topic) in [("kafka_events_topic", &k.events_topic), ("kafka_dead_letter_topic", &k.dead_letter_topic)] {
        if let Some(t) = topic
            && let Err(e) = crate::kafka::routes::check_topic_name(t)
        {
            return invalid(key, e);
        }
    }
    let routes =
        crate::kafka::routes::Routes::compile(&k.routes).map_err(|e| ConfigError::Invalid("kafka_route", e))?;
    if let Some(dlq) = &k.dead_letter_topic
        && routes.find(dlq).is_some()
    {
        return invalid("kafka_dead_letter_topic", format!("{dlq} is also an ingest topic (dead letters would loop)"));
    }
    kafka::validate_security(&k.properties)
}

/// Puts `password` into a `redis://` URL that has none.
fn with_password(url: &str, password: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if !rest.contains('@') => format!("{scheme}://:{password}@{rest}"),
        _ => url.to_owned(),
    }
}

mod opt_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        raw.map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom)).transpose()
    }
}

mod humantime_serde_compat {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

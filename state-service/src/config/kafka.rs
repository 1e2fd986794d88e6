//! The Kafka settings containers get from their environment (ECS has no config file): SASL/TLS
//! client properties and ingest routes as JSON, how they merge over the TOML file's
//! `[kafka_properties]` and `[[kafka_route]]`, and the masked form in which properties print.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::{ConfigError, Values};
use crate::kafka::routes::RouteConfig;

/// librdkafka's `security.protocol` values (it accepts any case).
const SECURITY_PROTOCOLS: [&str; 4] = ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"];

/// SASL mechanisms this build can log in with. librdkafka is built without libsasl2 (no GSSAPI)
/// and tether-state registers no OAUTHBEARER token provider (which MSK's IAM auth would need).
const SASL_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// Ingest routes given as JSON (`--kafka-routes` / `TETHER_KAFKA_ROUTES`): an array of the
/// objects a `[[kafka_route]]` table holds, validated the same way once resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoutesJson(pub Vec<RouteConfig>);

impl RoutesJson {
    /// The clap value parser: the JSON must be an array of route objects without unknown keys.
    pub fn parse(raw: &str) -> Result<Self, String> {
        serde_json::from_str(raw).map(Self).map_err(|e| {
            format!(
                "TETHER_KAFKA_ROUTES must be a JSON array of routes like [{{\"topic\": \"orders\", \"stream\": \"order/{{key}}\", \
                 \"content_type\": \"application/json\"}}] (each with topic or topic_pattern, stream, optional \
                 content_type): {e}"
            )
        })
    }
}

/// librdkafka properties, passed to every client as given. Printed (`--check-config`, `Debug`)
/// with every value replaced by `***`: any of them may be a credential.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaProperties(pub BTreeMap<String, String>);

impl KafkaProperties {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.keys().map(|k| (k, "***"))).finish()
    }
}

impl Serialize for KafkaProperties {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.keys().map(|k| (k, "***")))
    }
}

/// The file's `[kafka_properties]` with the security flags (or their environment variables)
/// over them.
pub(super) fn merge_properties(file: &BTreeMap<String, String>, v: &Values) -> Result<KafkaProperties, ConfigError> {
    let mut props = file.clone();
    props.extend(v.kafka_properties.clone());
    for (key, value) in security_overrides(v)? {
        if key == "sasl.mechanism" {
            // librdkafka's alias, applied after `sasl.mechanism` in key order: it would win.
            props.remove("sasl.mechanisms");
        }
        props.insert(key.to_owned(), value);
    }
    Ok(KafkaProperties(props))
}

/// The security flags that are set, checked one by one, as librdkafka properties.
fn security_overrides(v: &Values) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let invalid = |key, m: String| Err(ConfigError::Invalid(key, m));
    if let Some(p) = &v.kafka_security_protocol
        && !SECURITY_PROTOCOLS.contains(&p.to_ascii_lowercase().as_str())
    {
        return invalid("kafka_security_protocol", format!("{p:?} is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"));
    }
    if let Some(m) = &v.kafka_sasl_mechanism
        && !SASL_MECHANISMS.contains(&m.as_str())
    {
        return invalid(
            "kafka_sasl_mechanism",
            format!(
                "{m:?} is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (this build has no GSSAPI and no OAUTHBEARER \
                 token provider, so MSK's IAM auth cannot work: use SCRAM-SHA-512)"
            ),
        );
    }
    for (key, value) in
        [("kafka_sasl_username", &v.kafka_sasl_username), ("kafka_sasl_password", &v.kafka_sasl_password)]
    {
        if value.as_deref().is_some_and(str::is_empty) {
            return invalid(key, "must not be empty".into());
        }
    }
    Ok([
        ("security.protocol", &v.kafka_security_protocol),
        ("sasl.mechanism", &v.kafka_sasl_mechanism),
        ("sasl.username", &v.kafka_sasl_username),
        ("sasl.password", &v.kafka_sasl_password),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.clone().map(|value| (key, value)))
    .collect())
}

/// Rejects what librdkafka would accept but cannot work, whichever source each property came
/// from: credentials that would never be sent, SASL without a usable mechanism, a PLAIN or SCRAM
/// login without username or password.
pub(super) fn validate_security(p: &KafkaProperties) -> Result<(), ConfigError> {
    let invalid = |key, m: String| Err(ConfigError::Invalid(key, m));
    let protocol = p.get("security.protocol").unwrap_or("plaintext").to_ascii_lowercase();
    if !SECURITY_PROTOCOLS.contains(&protocol.as_str()) {
        return invalid(
            "kafka_security_protocol",
            format!("security.protocol {protocol:?} is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
        );
    }
    let mechanism = p.get("sasl.mechanism").or(p.get("sasl.mechanisms"));
    let (username, password) = (p.get("sasl.username"), p.get("sasl.password"));
    if !protocol.starts_with("sasl_") {
        if mechanism.is_some() || username.is_some() || password.is_some() {
            return invalid(
                "kafka_security_protocol",
                format!(
                    "SASL settings are only used with SASL_SSL or SASL_PLAINTEXT, not {}: the credentials would \
                     never be sent",
                    protocol.to_ascii_uppercase()
                ),
            );
        }
        return Ok(());
    }
    match mechanism {
        None => invalid(
            "kafka_sasl_mechanism",
            "SASL needs a mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (librdkafka's default, GSSAPI, is not \
             built in)"
                .into(),
        ),
        Some(m) if SASL_MECHANISMS.contains(&m) && (username.is_none() || password.is_none()) => {
            let key = if username.is_none() { "kafka_sasl_username" } else { "kafka_sasl_password" };
            invalid(key, format!("SASL/{m} needs both a username and a password"))
        }
        // Other mechanisms (set in `[kafka_properties]`) bring their own settings there;
        // librdkafka checks them when the client is created.
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::config::{Args, Config};

    const SCRAM_FLAGS: [&str; 8] = [
        "--kafka-security-protocol",
        "SASL_SSL",
        "--kafka-sasl-mechanism",
        "SCRAM-SHA-512",
        "--kafka-sasl-username",
        "tether-state",
        "--kafka-sasl-password",
        "flag-password-0123",
    ];

    /// Resolves `flags` over the TOML `file` (flags parsed by clap, like the binary's).
    fn resolve(file: &str, flags: &[&str]) -> Result<Config, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.toml");
        std::fs::write(&path, file).expect("write");
        let mut argv = vec!["tether-state", "--config", path.to_str().expect("utf-8 temp path")];
        argv.extend_from_slice(flags);
        let args = Args::try_parse_from(argv).map_err(|e| e.to_string())?;
        Config::resolve(&args).map_err(|e| e.to_string())
    }

    fn with_brokers<'a>(flags: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["--kafka-brokers", "b-1.msk.example:9096"];
        all.extend_from_slice(flags);
        all
    }

    #[test]
    fn security_flags_override_the_file_properties() {
        let file = r#"
[kafka_properties]
"security.protocol" = "plaintext"
"sasl.mechanisms" = "PLAIN"
"sasl.username" = "file-user"
"sasl.password" = "file-password-0123"
"ssl.ca.location" = "/etc/ssl/certs"
"#;
        let cfg = resolve(file, &with_brokers(&SCRAM_FLAGS)).expect("valid");
        let p = &cfg.kafka.as_ref().expect("kafka on").properties;
        assert_eq!(p.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(p.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(p.get("sasl.mechanisms"), None, "the alias would override the flag inside librdkafka");
        assert_eq!(
            (p.get("sasl.username"), p.get("sasl.password")),
            (Some("tether-state"), Some("flag-password-0123"))
        );
        assert_eq!(p.get("ssl.ca.location"), Some("/etc/ssl/certs"), "other file properties stay");

        // Without flags the file's properties are used as they are.
        let only_file = file.replace("plaintext", "sasl_ssl");
        let cfg = resolve(&only_file, &with_brokers(&[])).expect("valid");
        let p = &cfg.kafka.as_ref().expect("kafka on").properties;
        assert_eq!((p.get("sasl.mechanisms"), p.get("sasl.username")), (Some("PLAIN"), Some("file-user")));
    }

    #[test]
    fn the_password_is_masked_wherever_the_config_prints() {
        let cfg = resolve("", &with_brokers(&SCRAM_FLAGS)).expect("valid");
        let shown = toml::to_string_pretty(&cfg).expect("--check-config output");
        assert!(shown.contains(r#""sasl.password" = "***""#) && !shown.contains("flag-password-0123"), "{shown}");
        let debug = format!("{cfg:?}");
        assert!(debug.contains(r#""sasl.password": "***""#) && !debug.contains("flag-password-0123"), "{debug}");
        // `--help` shows `[env: NAME=value]` for set variables, except where the values are hidden.
        let cmd = Args::command();
        let password = cmd.get_arguments().find(|a| a.get_id() == "kafka_sasl_password").expect("the flag exists");
        assert!(password.is_hide_env_values_set());
    }

    #[test]
    fn security_flags_are_checked() {
        let err = |flags: &[&str]| resolve("", &with_brokers(flags)).expect_err("invalid");
        let mut flags = SCRAM_FLAGS;
        flags[1] = "TLS";
        assert!(err(&flags).contains("kafka_security_protocol"), "{}", err(&flags));
        flags = SCRAM_FLAGS;
        flags[3] = "AWS_MSK_IAM";
        assert!(err(&flags).contains("no OAUTHBEARER"), "{}", err(&flags));
        flags = SCRAM_FLAGS;
        flags[7] = "";
        assert!(err(&flags).contains("kafka_sasl_password: must not be empty"), "{}", err(&flags));
        // Credentials over a protocol that never sends them.
        let plain = err(&["--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-username", "u"]);
        assert!(plain.contains("never be sent"), "{plain}");
        // SASL without a mechanism (librdkafka would fall back to GSSAPI), SCRAM without a password.
        let no_mech = err(&["--kafka-security-protocol", "sasl_ssl"]);
        assert!(no_mech.contains("kafka_sasl_mechanism"), "{no_mech}");
        let no_pw = err(&SCRAM_FLAGS[..6]);
        assert!(no_pw.contains("kafka_sasl_password") && no_pw.contains("both"), "{no_pw}");
        // Lower case protocols are librdkafka's own spelling.
        assert!(resolve("", &with_brokers(&["--kafka-security-protocol", "ssl"])).is_ok());
    }

    #[test]
    fn routes_from_json_replace_the_file_routes_and_are_validated_alike() {
        let file = "[[kafka_route]]\ntopic = \"from-file\"\nstream = \"file/{key}\"\n";
        let json = r#"[{"topic":"trading.order-filled","stream":"assessment/{payload./assessmentId}","content_type":"application/json"},
                       {"topic_pattern":"^market\\..*","stream":"market/btc"}]"#;
        let cfg = resolve(file, &with_brokers(&["--kafka-routes", json])).expect("valid");
        let routes = &cfg.kafka.as_ref().expect("kafka on").routes;
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].topic.as_deref(), Some("trading.order-filled"));
        assert_eq!(
            (routes[1].topic_pattern.as_deref(), routes[1].content_type.as_str()),
            (Some(r"^market\..*"), "application/octet-stream")
        );
        let file_only = resolve(file, &with_brokers(&[])).expect("valid");
        assert_eq!(file_only.kafka.expect("kafka on").routes[0].topic.as_deref(), Some("from-file"));

        let err = |json: &str| resolve("", &with_brokers(&["--kafka-routes", json])).expect_err(json);
        // The same checks as for `[[kafka_route]]` tables.
        assert!(err(r#"[{"topic":"t","stream":"a/{nope}"}]"#).contains("unknown placeholder"));
        assert!(err(r#"[{"stream":"a"}]"#).contains("exactly one of topic"));
        assert!(err(r#"[{"topic":"t","stream":"a","extra":1}]"#).contains("unknown field `extra`"));
        let looping = resolve(
            "",
            &with_brokers(&["--kafka-dead-letter-topic", "t", "--kafka-routes", r#"[{"topic":"t","stream":"a"}]"#]),
        );
        assert!(looping.expect_err("dead letters would loop").contains("loop"));
        // Not JSON, or not an array: the message says what is expected.
        for bad in ["{not json", r#"{"topic":"t","stream":"a"}"#] {
            let e = err(bad);
            assert!(e.contains("--kafka-routes") && e.contains("TETHER_KAFKA_ROUTES must be a JSON array"), "{e}");
        }
        let no_brokers =
            resolve("", &["--kafka-routes", r#"[{"topic":"t","stream":"a"}]"#]).expect_err("needs brokers");
        assert!(no_brokers.contains("kafka_brokers"), "{no_brokers}");
    }

    /// librdkafka is built with OpenSSL: it accepts SASL_SSL with SCRAM (without `ssl` it
    /// refuses the protocol when the client is created).
    #[test]
    fn librdkafka_takes_the_scram_settings() {
        let cfg = resolve("", &with_brokers(&SCRAM_FLAGS)).expect("valid");
        let client = crate::kafka::client_config(cfg.kafka.as_ref().expect("kafka on"));
        let created = client.create::<rdkafka::producer::BaseProducer>();
        assert!(created.is_ok(), "{:?}", created.err());
    }
}

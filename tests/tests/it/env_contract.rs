//! The environment contract both ways: every variable Terraform passes
//! (`infra/env-contract.json`, which Terraform's own test compares with its modules) is one
//! the binary reads, and the contract's variables alone make a valid configuration.

use std::collections::BTreeSet;
use std::process::Command;

use tether_tests::binary;

fn contract() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/env-contract.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("contract file")).expect("contract JSON")
}

fn names(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array().expect("array").iter().map(|n| n.as_str().expect("string").to_owned()).collect()
}

/// Every `TETHER_*` variable the binary documents in `--help` (clap prints `[env: NAME=...]`).
fn read_by(bin: &str) -> BTreeSet<String> {
    let out = Command::new(binary(bin)).arg("--help").output().expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).expect("utf8");
    help.split("[env: ").skip(1).map(|rest| rest.split(['=', ']']).next().expect("name").to_owned()).collect()
}

/// A plausible value for each contract variable.
fn sample(name: &str) -> &'static str {
    match name {
        "TETHER_LISTEN" => "0.0.0.0:8080",
        "TETHER_STATE_URL" => "http://state.internal:4437",
        "TETHER_LOG_FORMAT" => "json",
        "TETHER_JWT_SECRET" => "a-secret-from-secrets-manager-0123456789",
        "TETHER_JWT_ISSUER" => "https://issuer.example",
        "TETHER_JWT_AUDIENCE" => "tether",
        "TETHER_DATA_DIR" => "/tmp/tether-contract",
        "TETHER_KAFKA_BROKERS" => "b-1.kafka.internal:9096,b-2.kafka.internal:9096",
        "TETHER_KAFKA_EVENTS_TOPIC" => "tether.events",
        "TETHER_KAFKA_DEAD_LETTER_TOPIC" => "tether.dead-letters",
        "TETHER_KAFKA_ROUTES" => {
            r#"[{"content_type":"application/json","stream":"assessment/{payload./assessmentId}","topic":"trading.order-filled"},{"stream":"market/btc","topic_pattern":"^market\\..*"}]"#
        }
        "TETHER_KAFKA_SECURITY_PROTOCOL" => "SASL_SSL",
        "TETHER_KAFKA_SASL_MECHANISM" => "SCRAM-SHA-512",
        "TETHER_KAFKA_SASL_USERNAME" => "tether-state",
        "TETHER_KAFKA_SASL_PASSWORD" => "scram-password-from-secrets-manager",
        "TETHER_REDIS_URL" => "rediss://master.redis.internal:6379",
        "TETHER_REDIS_PASSWORD" => "auth-token",
        "TETHER_REDIS_WAIT_REPLICAS" => "1",
        "TETHER_S3_BUCKET" => "tether-archive",
        "TETHER_S3_REGION" => "eu-west-1",
        "TETHER_S3_ENDPOINT" => "https://s3.eu-west-1.amazonaws.com",
        "TETHER_S3_FORCE_PATH_STYLE" => "false",
        "TETHER_S3_PREFIX" => "prod/",
        other => panic!("no sample value for {other}: add one"),
    }
}

#[test]
fn terraform_env_matches_what_the_binaries_read() {
    let c = contract();
    for (service, spec) in c["services"].as_object().expect("services") {
        let read = read_by(service);
        let passed: BTreeSet<String> = names(&spec["environment"]).union(&names(&spec["secrets"])).cloned().collect();
        let unknown: Vec<&String> = passed.difference(&read).collect();
        assert!(unknown.is_empty(), "{service}: Terraform passes {unknown:?}, which the binary does not read");
        assert!(names(&spec["optional"]).is_subset(&passed), "{service}: optional names must be passed names");
        // The other way: the contract alone (optional names included) configures the binary.
        let mut cmd = Command::new(binary(service));
        cmd.env_clear().arg("--check-config");
        for n in &passed {
            cmd.env(n, sample(n));
        }
        let out = cmd.output().expect("run --check-config");
        assert!(
            out.status.success(),
            "{service} rejects the Terraform environment: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // And without the optional ones.
        let mut cmd = Command::new(binary(service));
        cmd.env_clear().arg("--check-config");
        for n in passed.difference(&names(&spec["optional"])) {
            cmd.env(n, sample(n));
        }
        assert!(cmd.output().expect("run").status.success(), "{service} needs an optional variable");
    }
    // What the edge cannot run without is in the contract.
    let edge = &c["services"]["tether-edge"];
    let passed: BTreeSet<String> = names(&edge["environment"]).union(&names(&edge["secrets"])).cloned().collect();
    assert!(passed.contains("TETHER_STATE_URL"));
    assert!(names(&edge["secrets"]).contains("TETHER_JWT_SECRET"), "the JWT key travels as a secret");
}

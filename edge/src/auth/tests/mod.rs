//! Verification against real keys: test-only fixtures in `edge/tests/keys/` (see its README).

mod sources;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokio_util::sync::CancellationToken;

use super::{AuthConfig, Verifier};

const SECRET: &[u8] = b"unit-test-secret-0123456789abcdef";

fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys").join(name)
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(key_path(name)).expect("fixture key")
}

/// The signing key of a fixture private key file.
fn signer(file: &str) -> EncodingKey {
    let pem = pem(file);
    match file {
        f if f.starts_with("rsa") => EncodingKey::from_rsa_pem(&pem).expect("rsa key"),
        f if f.starts_with("ec") => EncodingKey::from_ec_pem(&pem).expect("ec key"),
        _ => EncodingKey::from_ed_pem(&pem).expect("ed key"),
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Valid claims (`sub` u1, expiring in 10 min, reading `a/*`) with `extra` merged in; a null
/// value removes the claim.
fn claims(extra: serde_json::Value) -> serde_json::Value {
    let mut c = serde_json::json!({"sub": "u1", "exp": now() + 600, "tether": {"read": ["a/*"], "write": []}});
    for (k, v) in extra.as_object().expect("object") {
        if v.is_null() {
            c.as_object_mut().expect("object").remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn sign(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, c: &serde_json::Value) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, c, key).expect("sign")
}

fn cfg() -> AuthConfig {
    AuthConfig {
        secret: None,
        public_key_files: Vec::new(),
        jwks_url: None,
        jwks_file: None,
        jwks_refresh: Duration::from_secs(300),
        issuer: None,
        audience: None,
        leeway: Duration::from_secs(5),
        max_token_bytes: 8192,
    }
}

async fn verifier(c: AuthConfig) -> Arc<Verifier> {
    Verifier::new(c, CancellationToken::new()).await.expect("keys load")
}

/// A JWK set of the public halves of fixture private keys, as `(file, alg, kid)`.
fn jwks(keys: &[(&str, Algorithm, &str)]) -> String {
    let keys: Vec<_> = keys
        .iter()
        .map(|(file, alg, kid)| {
            let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&signer(file), *alg).expect("jwk");
            jwk.common.key_id = Some((*kid).to_owned());
            jwk
        })
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}

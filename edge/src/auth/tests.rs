//! Verification against real keys (test-only fixtures in `edge/tests/keys/`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tether_protocol::StreamName;
use tokio_util::sync::CancellationToken;

use super::*;

const SECRET: &[u8] = b"unit-test-secret-0123456789abcdef";

fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys").join(name)
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(key_path(name)).expect("fixture key")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(extra: serde_json::Value) -> serde_json::Value {
    let mut c = serde_json::json!({"sub": "u1", "exp": now() + 600, "tether": {"read": ["a/*"], "write": []}});
    for (k, v) in extra.as_object().expect("object") {
        c[k] = v.clone();
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

#[tokio::test]
async fn every_algorithm_verifies_with_its_key() {
    let v = verifier(AuthConfig {
        secret: Some(SECRET.to_vec()),
        public_key_files: ["rsa.pub.pem", "ec256.pub.pem", "ec384.pub.pem", "ed.pub.pem"].map(key_path).to_vec(),
        ..cfg()
    })
    .await;
    let c = claims(serde_json::json!({}));
    let hs = EncodingKey::from_secret(SECRET);
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        assert_eq!(v.verify(&sign(alg, &hs, None, &c)).expect("hs").sub, "u1");
    }
    let rsa = EncodingKey::from_rsa_pem(&pem("rsa.key")).expect("rsa");
    for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
        v.verify(&sign(alg, &rsa, None, &c)).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
    }
    let ec = EncodingKey::from_ec_pem(&pem("ec256.key")).expect("ec");
    v.verify(&sign(Algorithm::ES256, &ec, None, &c)).expect("es256");
    let ec = EncodingKey::from_ec_pem(&pem("ec384.key")).expect("ec");
    v.verify(&sign(Algorithm::ES384, &ec, None, &c)).expect("es384");
    let ed = EncodingKey::from_ed_pem(&pem("ed.key")).expect("ed");
    let id = v.verify(&sign(Algorithm::EdDSA, &ed, Some("ed.pub"), &c)).expect("eddsa");
    assert!(id.perms.can_read(&StreamName::parse("a/b").expect("name")));
    assert!(!id.perms.can_write(&StreamName::parse("a/b").expect("name")));
}

#[tokio::test]
async fn forged_expired_and_misaddressed_tokens_are_refused() {
    let v = verifier(AuthConfig {
        public_key_files: vec![key_path("rsa.pub.pem")],
        issuer: Some("iss-1".into()),
        audience: Some("aud-1".into()),
        ..cfg()
    })
    .await;
    let rsa = EncodingKey::from_rsa_pem(&pem("rsa.key")).expect("rsa");
    let ok = claims(serde_json::json!({"iss": "iss-1", "aud": ["x", "aud-1"]}));
    v.verify(&sign(Algorithm::RS256, &rsa, None, &ok)).expect("valid");
    let other = EncodingKey::from_rsa_pem(&pem("rsa2.key")).expect("rsa2");
    assert!(matches!(v.verify(&sign(Algorithm::RS256, &other, None, &ok)), Err(AuthError::BadSignature)));
    let expired = claims(serde_json::json!({"iss": "iss-1", "aud": "aud-1", "exp": now() - 60}));
    assert!(matches!(v.verify(&sign(Algorithm::RS256, &rsa, None, &expired)), Err(AuthError::Expired)));
    let early = claims(serde_json::json!({"iss": "iss-1", "aud": "aud-1", "nbf": now() + 600}));
    assert!(matches!(v.verify(&sign(Algorithm::RS256, &rsa, None, &early)), Err(AuthError::NotYetValid)));
    let iss = claims(serde_json::json!({"iss": "other", "aud": "aud-1"}));
    assert!(matches!(v.verify(&sign(Algorithm::RS256, &rsa, None, &iss)), Err(AuthError::WrongIssuer)));
    let aud = claims(serde_json::json!({"iss": "iss-1", "aud": "other"}));
    assert!(matches!(v.verify(&sign(Algorithm::RS256, &rsa, None, &aud)), Err(AuthError::WrongAudience)));
    let mut no_sub = ok.clone();
    no_sub.as_object_mut().expect("object").remove("sub");
    assert!(matches!(v.verify(&sign(Algorithm::RS256, &rsa, None, &no_sub)), Err(AuthError::MissingSubject)));
    let mut no_exp = ok.clone();
    no_exp.as_object_mut().expect("object").remove("exp");
    assert!(matches!(v.verify(&sign(Algorithm::RS256, &rsa, None, &no_exp)), Err(AuthError::MissingExpiry)));
    let bad_perm = claims(serde_json::json!({"iss": "iss-1", "aud": "aud-1", "tether": {"read": ["a//b"]}}));
    assert!(matches!(v.verify(&sign(Algorithm::RS256, &rsa, None, &bad_perm)), Err(AuthError::BadPermissions(_))));
    // Unknown kid, oversized, garbage.
    assert!(matches!(v.verify(&sign(Algorithm::RS256, &rsa, Some("nope"), &ok)), Err(AuthError::UnknownKid(_))));
    assert!(matches!(v.verify(&"a".repeat(9000)), Err(AuthError::TooLarge)));
    assert!(matches!(v.verify("not-a-jwt"), Err(AuthError::Malformed(_))));
}

#[tokio::test]
async fn alg_none_and_algorithm_confusion_are_refused() {
    use base64::Engine;
    let v = verifier(AuthConfig { public_key_files: vec![key_path("rsa.pub.pem")], ..cfg() }).await;
    let b64 = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let c = claims(serde_json::json!({}));
    let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#.into()), b64(c.to_string()));
    assert!(matches!(v.verify(&none), Err(AuthError::AlgorithmNotAllowed(a)) if a == "none"));
    // HS256 "signed" with the RSA public key's bytes as the HMAC secret.
    let confused = sign(Algorithm::HS256, &EncodingKey::from_secret(&pem("rsa.pub.pem")), None, &c);
    assert!(matches!(v.verify(&confused), Err(AuthError::NoKeyForAlgorithm(_))));
    // And an RS256 token never meets the HMAC secret.
    let hs_only = verifier(AuthConfig { secret: Some(SECRET.to_vec()), ..cfg() }).await;
    let rsa = EncodingKey::from_rsa_pem(&pem("rsa.key")).expect("rsa");
    assert!(hs_only.verify(&sign(Algorithm::RS256, &rsa, None, &c)).is_err());
}

fn jwks(keys: &[(&str, Algorithm, &str)]) -> String {
    let mut out = Vec::new();
    for (file, alg, kid) in keys {
        let enc = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem(file)).expect("ec"),
            _ => EncodingKey::from_rsa_pem(&pem(file)).expect("rsa"),
        };
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, *alg).expect("jwk");
        jwk.common.key_id = Some((*kid).to_owned());
        out.push(jwk);
    }
    serde_json::json!({ "keys": out }).to_string()
}

#[tokio::test]
async fn jwks_file_selects_by_kid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(&[("rsa.key", Algorithm::RS256, "k1"), ("ec256.key", Algorithm::ES256, "k2")]))
        .expect("write");
    let v = verifier(AuthConfig { jwks_file: Some(path), ..cfg() }).await;
    let c = claims(serde_json::json!({}));
    let rsa = EncodingKey::from_rsa_pem(&pem("rsa.key")).expect("rsa");
    let ec = EncodingKey::from_ec_pem(&pem("ec256.key")).expect("ec");
    v.verify(&sign(Algorithm::RS256, &rsa, Some("k1"), &c)).expect("k1");
    v.verify(&sign(Algorithm::ES256, &ec, Some("k2"), &c)).expect("k2");
    // A kid names one key: the other key's token under it fails, and the JWK's alg is pinned.
    assert!(v.verify(&sign(Algorithm::ES256, &ec, Some("k1"), &c)).is_err());
    assert!(v.verify(&sign(Algorithm::RS384, &rsa, Some("k1"), &c)).is_err());
    assert!(matches!(v.verify(&sign(Algorithm::RS256, &rsa, Some("k9"), &c)), Err(AuthError::UnknownKid(_))));
}

#[tokio::test]
async fn jwks_url_rotation_is_picked_up_on_an_unknown_kid() {
    let served = Arc::new(Mutex::new(jwks(&[("rsa.key", Algorithm::RS256, "old")])));
    let s = served.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let s = s.clone();
            async move { s.lock().expect("lock").clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let v = verifier(AuthConfig { jwks_url: Some(url), ..cfg() }).await;
    let c = claims(serde_json::json!({}));
    let old = EncodingKey::from_rsa_pem(&pem("rsa.key")).expect("rsa");
    let new = EncodingKey::from_rsa_pem(&pem("rsa2.key")).expect("rsa2");
    v.verify(&sign(Algorithm::RS256, &old, Some("old"), &c)).expect("old key");
    *served.lock().expect("lock") =
        jwks(&[("rsa.key", Algorithm::RS256, "old"), ("rsa2.key", Algorithm::RS256, "new")]);
    // The first sight of the new kid is refused and triggers a refetch; it then verifies.
    *v.last_fetch.lock().expect("lock") = None;
    let token = sign(Algorithm::RS256, &new, Some("new"), &c);
    assert!(matches!(v.verify(&token), Err(AuthError::UnknownKid(_))));
    tokio::time::timeout(Duration::from_secs(10), async {
        while v.verify(&token).is_err() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the rotated key is fetched");
}

#[test]
fn tokens_are_found_in_header_subprotocol_and_query() {
    let mut h = http::HeaderMap::new();
    assert!(token_from_request(&h, None).is_none());
    assert_eq!(token_from_request(&h, Some("a=1&token=x%2Ey")), Some(("x.y".into(), TokenSource::Query)));
    h.insert("sec-websocket-protocol", "tether.v1, tether.bearer.abc".parse().expect("value"));
    assert_eq!(token_from_request(&h, Some("token=q")), Some(("abc".into(), TokenSource::Subprotocol)));
    h.insert("authorization", "Bearer hdr".parse().expect("value"));
    assert_eq!(token_from_request(&h, Some("token=q")), Some(("hdr".into(), TokenSource::Header)));
}

#[tokio::test]
async fn minted_dev_tokens_verify() {
    let v = verifier(AuthConfig {
        secret: Some(SECRET.to_vec()),
        issuer: Some("i".into()),
        audience: Some("a".into()),
        ..cfg()
    })
    .await;
    let t = mint_hs256(SECRET, "dev", &["**"], &["x/*"], Duration::from_secs(60), Some("i"), Some("a"));
    let id = v.verify(&t).expect("valid");
    assert_eq!(id.sub, "dev");
    assert!(id.perms.can_write(&StreamName::parse("x/y").expect("name")));
    assert!(!id.perms.can_write(&StreamName::parse("z").expect("name")));
}

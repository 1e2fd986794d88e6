//! Token checks: algorithms, key choice, claims, permissions.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;
use tether_protocol::StreamName;

use super::*;
use crate::auth::{AuthError, mint_hs256};

fn name(s: &str) -> StreamName {
    StreamName::parse(s).expect("valid name")
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn every_algorithm_verifies_with_a_key_of_its_type() {
    let files = ["rsa.pub.pem", "ec256.pub.pem", "ec384.pub.pem", "ed.pub.pem"];
    let v =
        verifier(AuthConfig { secret: Some(SECRET.to_vec()), public_key_files: files.map(key_path).to_vec(), ..cfg() })
            .await;
    let c = claims(json!({}));
    let hs = EncodingKey::from_secret(SECRET);
    let cases = [
        (Algorithm::HS256, &hs),
        (Algorithm::HS384, &hs),
        (Algorithm::HS512, &hs),
        (Algorithm::RS256, &signer("rsa.key")),
        (Algorithm::RS384, &signer("rsa.key")),
        (Algorithm::RS512, &signer("rsa.key")),
        (Algorithm::PS256, &signer("rsa.key")),
        (Algorithm::ES256, &signer("ec256.key")),
        (Algorithm::ES384, &signer("ec384.key")),
        (Algorithm::EdDSA, &signer("ed.key")),
    ];
    for (alg, key) in cases {
        let id = v.verify(&sign(alg, key, None, &c)).unwrap_or_else(|e| panic!("{alg:?} without kid: {e}"));
        assert_eq!(id.sub, "u1");
        assert_eq!(id.expires_at, c["exp"].as_i64());
        assert!(
            id.perms.can_read(&name("a/b")) && !id.perms.can_read(&name("b/a")) && !id.perms.can_write(&name("a/b"))
        );
    }
    // A PEM key's kid is its file stem.
    v.verify(&sign(Algorithm::EdDSA, &signer("ed.key"), Some("ed.pub"), &c)).expect("kid = file stem");
    v.verify(&sign(Algorithm::ES384, &signer("ec384.key"), Some("ec384.pub"), &c)).expect("kid = file stem");
}

#[tokio::test]
async fn certificates_are_accepted_as_key_files() {
    let v =
        verifier(AuthConfig { public_key_files: vec![key_path("rsa.crt.pem"), key_path("ec256.crt.pem")], ..cfg() })
            .await;
    let c = claims(json!({}));
    v.verify(&sign(Algorithm::RS256, &signer("rsa.key"), Some("rsa.crt"), &c)).expect("rsa certificate");
    v.verify(&sign(Algorithm::ES256, &signer("ec256.key"), None, &c)).expect("ec certificate");
}

#[tokio::test]
async fn wrong_keys_and_mismatched_kids_are_refused() {
    let v =
        verifier(AuthConfig { public_key_files: vec![key_path("rsa.pub.pem"), key_path("ec256.pub.pem")], ..cfg() })
            .await;
    let c = claims(json!({}));
    let forged = sign(Algorithm::RS256, &signer("rsa2.key"), None, &c);
    assert!(matches!(v.verify(&forged), Err(AuthError::BadSignature)));
    // Tampering with the payload of a valid token.
    let good = sign(Algorithm::RS256, &signer("rsa.key"), None, &c);
    let mut parts: Vec<&str> = good.split('.').collect();
    let tampered_payload = b64(&claims(json!({"sub": "admin"})).to_string());
    parts[1] = &tampered_payload;
    assert!(matches!(v.verify(&parts.join(".")), Err(AuthError::BadSignature)));
    // A kid naming the RSA key on an ES256 token: refused, never tried against that key.
    let es = sign(Algorithm::ES256, &signer("ec256.key"), Some("rsa.pub"), &c);
    assert!(matches!(v.verify(&es), Err(AuthError::AlgorithmNotAllowed(_))));
    // No P-384 key is configured; the P-256 key is not offered ES384 tokens.
    let es384 = sign(Algorithm::ES384, &signer("ec384.key"), None, &c);
    assert!(matches!(v.verify(&es384), Err(AuthError::NoKeyForAlgorithm(_))));
    let unknown = sign(Algorithm::RS256, &signer("rsa.key"), Some("nope"), &c);
    assert!(matches!(v.verify(&unknown), Err(AuthError::UnknownKid(k)) if k == "nope"));
}

#[tokio::test]
async fn alg_none_and_unlisted_algorithms_are_refused() {
    let v = verifier(AuthConfig {
        secret: Some(SECRET.to_vec()),
        public_key_files: vec![key_path("rsa.pub.pem")],
        ..cfg()
    })
    .await;
    let body = b64(&claims(json!({})).to_string());
    for alg in ["none", "None", "HS1", "PS512", "ES512", ""] {
        let header = b64(&json!({"alg": alg, "typ": "JWT"}).to_string());
        for token in [format!("{header}.{body}."), format!("{header}.{body}.c2ln")] {
            assert!(matches!(v.verify(&token), Err(AuthError::AlgorithmNotAllowed(_))), "{alg}");
        }
    }
}

#[tokio::test]
async fn algorithm_confusion_is_refused() {
    let c = claims(json!({}));
    let rsa_pub = pem("rsa.pub.pem");
    // HS256 "signed" with the RSA public key's PEM bytes as the HMAC secret.
    let confused = sign(Algorithm::HS256, &EncodingKey::from_secret(&rsa_pub), None, &c);
    let confused_kid = sign(Algorithm::HS256, &EncodingKey::from_secret(&rsa_pub), Some("rsa.pub"), &c);
    let rsa_only = verifier(AuthConfig { public_key_files: vec![key_path("rsa.pub.pem")], ..cfg() }).await;
    assert!(matches!(rsa_only.verify(&confused), Err(AuthError::NoKeyForAlgorithm(_))));
    assert!(matches!(rsa_only.verify(&confused_kid), Err(AuthError::AlgorithmNotAllowed(_))));
    // With a secret configured too, the HS token meets only the secret.
    let both = verifier(AuthConfig {
        secret: Some(SECRET.to_vec()),
        public_key_files: vec![key_path("rsa.pub.pem")],
        ..cfg()
    })
    .await;
    assert!(matches!(both.verify(&confused), Err(AuthError::BadSignature)));
    // And an RS256 token never meets the HMAC secret.
    let hs_only = verifier(AuthConfig { secret: Some(SECRET.to_vec()), ..cfg() }).await;
    let rs = sign(Algorithm::RS256, &signer("rsa.key"), None, &c);
    assert!(matches!(hs_only.verify(&rs), Err(AuthError::NoKeyForAlgorithm(_))));
}

#[tokio::test]
async fn time_issuer_and_audience_claims_are_checked() {
    let v = verifier(AuthConfig {
        secret: Some(SECRET.to_vec()),
        issuer: Some("iss-1".into()),
        audience: Some("aud-1".into()),
        ..cfg()
    })
    .await;
    let hs = EncodingKey::from_secret(SECRET);
    let check = |extra: serde_json::Value| v.verify(&sign(Algorithm::HS256, &hs, None, &claims(extra)));
    let ok = json!({"iss": "iss-1", "aud": "aud-1"});
    check(ok.clone()).expect("valid");
    check(json!({"iss": "iss-1", "aud": ["x", "aud-1"]})).expect("aud may be an array");
    check(json!({"iss": "iss-1", "aud": "aud-1", "exp": now() - 2})).expect("within the leeway");
    check(json!({"iss": "iss-1", "aud": "aud-1", "nbf": now() + 2})).expect("within the leeway");
    check(json!({"iss": "iss-1", "aud": "aud-1", "nbf": now() - 60})).expect("nbf passed");
    let refused: &[(serde_json::Value, &str)] = &[
        (json!({"iss": "iss-1", "aud": "aud-1", "exp": now() - 60}), "expired"),
        (json!({"iss": "iss-1", "aud": "aud-1", "nbf": now() + 600}), "not_yet_valid"),
        (json!({"iss": "other", "aud": "aud-1"}), "wrong_issuer"),
        (json!({"aud": "aud-1"}), "wrong_issuer"),
        (json!({"iss": 7, "aud": "aud-1"}), "wrong_issuer"),
        (json!({"iss": "iss-1", "aud": "other"}), "wrong_audience"),
        (json!({"iss": "iss-1", "aud": ["x", "y"]}), "wrong_audience"),
        (json!({"iss": "iss-1"}), "wrong_audience"),
        (json!({"iss": "iss-1", "aud": "aud-1", "exp": null}), "missing_exp"),
        (json!({"iss": "iss-1", "aud": "aud-1", "exp": "tomorrow"}), "missing_exp"),
        (json!({"iss": "iss-1", "aud": "aud-1", "sub": null}), "missing_sub"),
        (json!({"iss": "iss-1", "aud": "aud-1", "sub": ""}), "missing_sub"),
        (json!({"iss": "iss-1", "aud": "aud-1", "sub": 42}), "missing_sub"),
    ];
    for (extra, reason) in refused {
        let got = check(extra.clone()).expect_err(reason);
        assert_eq!(got.reason(), *reason, "{extra}: {got}");
    }
}

#[tokio::test]
async fn permission_claims() {
    let v = verifier(AuthConfig { secret: Some(SECRET.to_vec()), ..cfg() }).await;
    let hs = EncodingKey::from_secret(SECRET);
    let check = |extra: serde_json::Value| v.verify(&sign(Algorithm::HS256, &hs, None, &claims(extra)));
    let id = check(json!({"tether": {"read": ["**"], "write": ["chat/*/in"]}})).expect("valid");
    assert!(id.perms.can_read(&name("x/y/z")));
    assert!(id.perms.can_write(&name("chat/7/in")) && !id.perms.can_write(&name("chat/7/out")));
    let none = check(json!({"tether": null})).expect("no claim");
    assert!(!none.perms.can_read(&name("a")) && !none.perms.can_write(&name("a")));
    let read_only = check(json!({"tether": {"read": ["a"]}})).expect("write is optional");
    assert!(read_only.perms.can_read(&name("a")) && !read_only.perms.can_write(&name("a")));
    for bad in [json!({"read": ["a//b"]}), json!({"read": "a"}), json!({"write": [1]}), json!(["a"]), json!("**")] {
        assert!(matches!(check(json!({"tether": bad})), Err(AuthError::BadPermissions(_))), "{bad}");
    }
}

#[tokio::test]
async fn kids_on_hmac_tokens_fall_back_to_the_secret() {
    let v = verifier(AuthConfig { secret: Some(SECRET.to_vec()), ..cfg() }).await;
    let c = claims(json!({}));
    v.verify(&sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET), Some("2024-01"), &c)).expect("secret");
    let wrong = sign(Algorithm::HS256, &EncodingKey::from_secret(b"other-secret-other-secret-000000"), Some("k"), &c);
    assert!(matches!(v.verify(&wrong), Err(AuthError::BadSignature)));
}

#[tokio::test]
async fn oversized_empty_and_malformed_tokens_are_refused_early() {
    let v = verifier(AuthConfig { secret: Some(SECRET.to_vec()), max_token_bytes: 600, ..cfg() }).await;
    let big = claims(json!({"pad": "x".repeat(600)}));
    let token = sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET), None, &big);
    assert!(matches!(v.verify(&token), Err(AuthError::TooLarge)));
    assert!(matches!(v.verify(&"a".repeat(601)), Err(AuthError::TooLarge)));
    assert!(matches!(v.verify(""), Err(AuthError::Missing)));
    let body = b64(&claims(json!({})).to_string());
    let hs = b64(r#"{"alg":"HS256"}"#);
    let crit = b64(r#"{"alg":"HS256","crit":["b64"],"b64":false}"#);
    let kid_num = b64(r#"{"alg":"HS256","kid":5}"#);
    let malformed = [
        "not-a-jwt".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("!!.{body}.sig"),
        format!("{}.{body}.sig", b64("[1]")),
        format!("{}.{body}.sig", b64(r#"{"typ":"JWT"}"#)),
        format!("{crit}.{body}.sig"),
        format!("{kid_num}.{body}.sig"),
        format!("{hs}.{body}.***"),
    ];
    for token in malformed {
        assert!(matches!(v.verify(&token), Err(AuthError::Malformed(_))), "{token}");
    }
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
    assert!(id.expires_at.is_some_and(|e| (e - now() - 60).abs() <= 2));
    assert!(id.perms.can_read(&name("any/thing")));
    assert!(id.perms.can_write(&name("x/y")) && !id.perms.can_write(&name("z")));
    let no_iss = mint_hs256(SECRET, "dev", &[], &[], Duration::from_secs(60), None, Some("a"));
    assert!(matches!(v.verify(&no_iss), Err(AuthError::WrongIssuer)));
}

#[test]
fn every_error_has_a_distinct_reason() {
    let all = [
        AuthError::Missing,
        AuthError::TooLarge,
        AuthError::Malformed(String::new()),
        AuthError::AlgorithmNotAllowed(String::new()),
        AuthError::UnknownKid(String::new()),
        AuthError::NoKeyForAlgorithm(String::new()),
        AuthError::BadSignature,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::WrongIssuer,
        AuthError::WrongAudience,
        AuthError::MissingExpiry,
        AuthError::MissingSubject,
        AuthError::BadPermissions(String::new()),
    ];
    let reasons: std::collections::HashSet<&str> = all.iter().map(AuthError::reason).collect();
    assert_eq!(reasons.len(), all.len());
    assert!(reasons.iter().all(|r| r.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
}

#[test]
fn config_debug_hides_the_secret() {
    let shown = format!("{:?}", AuthConfig { secret: Some(SECRET.to_vec()), ..cfg() });
    assert!(shown.contains("<redacted>") && !shown.contains("unit-test-secret") && !shown.contains("117, 110"));
}

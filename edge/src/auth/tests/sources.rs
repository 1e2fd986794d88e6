//! Key sources: start-up failures, JWKS files and URLs, refresh and rotation.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use jsonwebtoken::Algorithm;
use serde_json::json;

use super::*;
use crate::auth::{AuthError, AuthSetupError};

async fn setup_error(c: AuthConfig) -> AuthSetupError {
    match Verifier::new(c, CancellationToken::new()).await {
        Ok(_) => panic!("the verifier should not start"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn start_up_fails_clearly() {
    assert!(matches!(setup_error(cfg()).await, AuthSetupError::NoKeys));
    assert!(matches!(setup_error(AuthConfig { secret: Some(Vec::new()), ..cfg() }).await, AuthSetupError::EmptySecret));
    let missing = AuthConfig { public_key_files: vec![key_path("missing.pem")], ..cfg() };
    assert!(matches!(setup_error(missing).await, AuthSetupError::Read { .. }));
    for file in ["rsa.key", "ed.key", "x25519.pub.pem", "ec521.pub.pem", "README"] {
        let e = setup_error(AuthConfig { public_key_files: vec![key_path(file)], ..cfg() }).await;
        assert!(matches!(&e, AuthSetupError::BadPem { .. }), "{file}: {e}");
        assert!(e.to_string().contains(file), "the error names the file: {e}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_jwks = dir.path().join("jwks.json");
    std::fs::write(&bad_jwks, r#"{"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]}"#).expect("write");
    let e = setup_error(AuthConfig { jwks_file: Some(bad_jwks), ..cfg() }).await;
    assert!(matches!(e, AuthSetupError::BadJwks { .. }), "{e}");
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let e = setup_error(AuthConfig { jwks_url: Some(format!("http://127.0.0.1:{port}/jwks")), ..cfg() }).await;
    assert!(matches!(e, AuthSetupError::Fetch { .. }), "{e}");
    let e = setup_error(AuthConfig { jwks_url: Some("ftp://issuer/jwks".into()), ..cfg() }).await;
    assert!(matches!(e, AuthSetupError::BadJwksUrl { .. }), "{e}");
}

#[tokio::test]
async fn jwks_file_keys_are_selected_by_kid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(&[("rsa.key", Algorithm::RS256, "k1"), ("ec256.key", Algorithm::ES256, "k2")]))
        .expect("write");
    let v = verifier(AuthConfig { jwks_file: Some(path), ..cfg() }).await;
    let c = claims(json!({}));
    let (rsa, ec) = (signer("rsa.key"), signer("ec256.key"));
    v.verify(&sign(Algorithm::RS256, &rsa, Some("k1"), &c)).expect("k1");
    v.verify(&sign(Algorithm::ES256, &ec, Some("k2"), &c)).expect("k2");
    v.verify(&sign(Algorithm::ES256, &ec, None, &c)).expect("no kid: keys of the type are tried");
    // A kid names one key: another key's token under it fails, and the JWK's alg is pinned.
    assert!(matches!(v.verify(&sign(Algorithm::ES256, &ec, Some("k1"), &c)), Err(AuthError::AlgorithmNotAllowed(_))));
    assert!(matches!(v.verify(&sign(Algorithm::RS384, &rsa, Some("k1"), &c)), Err(AuthError::AlgorithmNotAllowed(_))));
    assert!(matches!(v.verify(&sign(Algorithm::RS256, &rsa, Some("k9"), &c)), Err(AuthError::UnknownKid(_))));
}

/// A JWKS endpoint on 127.0.0.1:0 serving whatever `body` holds (or a 500 when it is empty),
/// counting requests.
struct JwksServer {
    url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

async fn jwks_server(initial: String) -> JwksServer {
    let body = Arc::new(Mutex::new(initial));
    let hits = Arc::new(AtomicUsize::new(0));
    let (b, h) = (body.clone(), hits.clone());
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            let body = b.lock().expect("body lock").clone();
            async move { if body.is_empty() { Err(StatusCode::INTERNAL_SERVER_ERROR) } else { Ok(body) } }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    JwksServer { url, body, hits }
}

#[tokio::test]
async fn jwks_url_rotation_is_picked_up_on_an_unknown_kid() {
    let server = jwks_server(jwks(&[("rsa.key", Algorithm::RS256, "old")])).await;
    let v = verifier(AuthConfig { jwks_url: Some(server.url.clone()), ..cfg() }).await;
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "fetched at start");
    let c = claims(json!({}));
    v.verify(&sign(Algorithm::RS256, &signer("rsa.key"), Some("old"), &c)).expect("old key");

    *server.body.lock().expect("body lock") =
        jwks(&[("rsa.key", Algorithm::RS256, "old"), ("rsa2.key", Algorithm::RS256, "new")]);
    let mut reloads = v.reloads.subscribe();
    let token = sign(Algorithm::RS256, &signer("rsa2.key"), Some("new"), &c);
    // The first sight of the new kid is refused and wakes a refetch; after it, the token verifies.
    assert!(matches!(v.verify(&token), Err(AuthError::UnknownKid(_))));
    tokio::time::timeout(Duration::from_secs(30), reloads.changed()).await.expect("refetched").expect("alive");
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    v.verify(&token).expect("rotated key");

    // Another unknown kid right away is refused without a refetch (rate limit).
    let before = *v.last_refetch.lock().expect("lock");
    let stranger = sign(Algorithm::RS256, &signer("rsa2.key"), Some("stranger"), &c);
    assert!(matches!(v.verify(&stranger), Err(AuthError::UnknownKid(_))));
    assert_eq!(*v.last_refetch.lock().expect("lock"), before, "no refetch within REFETCH_EVERY");

    // A failed refresh keeps the keys it had.
    server.body.lock().expect("body lock").clear();
    *v.last_refetch.lock().expect("lock") = None;
    assert!(matches!(v.verify(&stranger), Err(AuthError::UnknownKid(_))));
    tokio::time::timeout(Duration::from_secs(30), reloads.changed()).await.expect("refetched").expect("alive");
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
    v.verify(&token).expect("keys kept after a failed refresh");
    v.verify(&sign(Algorithm::RS256, &signer("rsa.key"), Some("old"), &c)).expect("keys kept after a failed refresh");
}

#[tokio::test(start_paused = true)]
async fn jwks_file_is_reread_periodically_until_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(&[("rsa.key", Algorithm::RS256, "a")])).expect("write");
    let shutdown = CancellationToken::new();
    let c = AuthConfig { jwks_file: Some(path.clone()), jwks_refresh: Duration::from_secs(60), ..cfg() };
    let v = Verifier::new(c, shutdown.clone()).await.expect("keys load");
    let token = sign(Algorithm::ES256, &signer("ec256.key"), Some("b"), &claims(json!({})));
    let mut reloads = v.reloads.subscribe();

    std::fs::write(&path, jwks(&[("ec256.key", Algorithm::ES256, "b")])).expect("write");
    // Paused time jumps to the next refresh tick once the runtime is idle.
    reloads.changed().await.expect("alive");
    v.verify(&token).expect("re-read key");

    // Once shut down, the task ends (dropping its handle on the wake-up notifier) and reloads stop.
    shutdown.cancel();
    while Arc::strong_count(&v.refetch_now) > 1 {
        tokio::task::yield_now().await;
    }
    std::fs::write(&path, "not json").expect("write");
    tokio::time::advance(Duration::from_secs(600)).await;
    assert_eq!(*reloads.borrow_and_update(), 1);
    v.verify(&token).expect("keys unchanged");
}

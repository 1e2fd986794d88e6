//! JWT verification and stream permissions.
//!
//! Keys come from a shared secret (HS*), PEM public keys (RSA, EC, Ed25519; the `kid` is the
//! file stem) and JWKS (a file or a URL, refreshed periodically and on an unknown `kid`).
//! A key is only ever tried for algorithms of its own family, so an HMAC token can never be
//! checked against a public key's bytes (algorithm confusion), and `alg: none` has no family.

mod keys;
pub mod permissions;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

pub use self::keys::KeySet;
pub use self::permissions::{PatternError, Permissions};

pub struct AuthConfig {
    pub secret: Option<Vec<u8>>,
    pub public_key_files: Vec<PathBuf>,
    pub jwks_url: Option<String>,
    pub jwks_file: Option<PathBuf>,
    pub jwks_refresh: Duration,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway: Duration,
    pub max_token_bytes: usize,
}

/// A verified caller.
#[derive(Clone, Debug)]
pub struct Identity {
    pub sub: String,
    /// Unix seconds, from `exp`.
    pub expires_at: Option<i64>,
    pub perms: Permissions,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("token longer than the limit")]
    TooLarge,
    #[error("token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("algorithm {0} is not accepted")]
    AlgorithmNotAllowed(String),
    #[error("unknown key id {0:?}")]
    UnknownKid(String),
    #[error("no configured key can verify {0} tokens")]
    NoKeyForAlgorithm(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    #[error("token has no exp claim")]
    MissingExpiry,
    #[error("token has no sub claim")]
    MissingSubject,
    #[error("invalid tether permission claim: {0}")]
    BadPermissions(String),
}

impl AuthError {
    /// Short label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::TooLarge => "too_large",
            AuthError::Malformed(_) => "malformed",
            AuthError::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            AuthError::UnknownKid(_) => "unknown_kid",
            AuthError::NoKeyForAlgorithm(_) => "no_key_for_algorithm",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::MissingExpiry => "missing_exp",
            AuthError::MissingSubject => "missing_sub",
            AuthError::BadPermissions(_) => "bad_permissions",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("no JWT key configured")]
    NoKeys,
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("key {path} is not a PEM RSA, EC or Ed25519 public key (or certificate)")]
    BadPem { path: String },
    #[error("JWKS {source_name} is invalid: {message}")]
    BadJwks { source_name: String, message: String },
    #[error("fetching JWKS from {url}: {message}")]
    Fetch { url: String, message: String },
}

#[derive(Deserialize)]
struct TetherClaim {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<i64>,
    tether: Option<serde_json::Value>,
}

/// Algorithms accepted at all.
const ALLOWED: &[Algorithm] = &[
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Least time between JWKS fetches triggered by unknown `kid`s.
const REFETCH_EVERY: Duration = Duration::from_secs(10);

pub struct Verifier {
    cfg: AuthConfig,
    keys: RwLock<Arc<KeySet>>,
    last_fetch: std::sync::Mutex<Option<Instant>>,
    refresh_now: tokio::sync::Notify,
}

impl Verifier {
    pub async fn new(cfg: AuthConfig, shutdown: CancellationToken) -> Result<Arc<Verifier>, AuthSetupError> {
        let keys = KeySet::load(&cfg).await?;
        if keys.is_empty() {
            return Err(AuthSetupError::NoKeys);
        }
        let refresh = cfg.jwks_url.is_some() || cfg.jwks_file.is_some();
        let v = Arc::new(Verifier {
            cfg,
            keys: RwLock::new(Arc::new(keys)),
            last_fetch: std::sync::Mutex::new(Some(Instant::now())),
            refresh_now: tokio::sync::Notify::new(),
        });
        if refresh {
            tokio::spawn(v.clone().refresh_loop(shutdown));
        }
        Ok(v)
    }

    async fn refresh_loop(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.jwks_refresh) => {}
                _ = self.refresh_now.notified() => {}
                _ = shutdown.cancelled() => return,
            }
            self.reload().await;
        }
    }

    /// Re-reads every key source; a failure keeps the keys already loaded.
    pub async fn reload(&self) {
        match KeySet::load(&self.cfg).await {
            Ok(k) if !k.is_empty() => *self.keys.write().expect("key lock is never poisoned") = Arc::new(k),
            Ok(_) => tracing::warn!("JWKS refresh found no keys; keeping the previous ones"),
            Err(e) => tracing::warn!(error = %e, "JWKS refresh failed; keeping the previous keys"),
        }
    }

    /// Asks the refresh task for an early reload (rate-limited), after an unknown `kid`.
    fn request_refetch(&self) {
        if self.cfg.jwks_url.is_none() && self.cfg.jwks_file.is_none() {
            return;
        }
        let mut last = self.last_fetch.lock().expect("fetch lock is never poisoned");
        if last.is_none_or(|t| t.elapsed() >= REFETCH_EVERY) {
            *last = Some(Instant::now());
            self.refresh_now.notify_one();
        }
    }

    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.len() > self.cfg.max_token_bytes {
            return Err(AuthError::TooLarge);
        }
        let alg = header_alg(token)?;
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        if !ALLOWED.contains(&header.alg) {
            return Err(AuthError::AlgorithmNotAllowed(alg));
        }
        let keys = self.keys.read().expect("key lock is never poisoned").clone();
        let candidates = match keys.candidates(header.alg, header.kid.as_deref()) {
            Ok(c) => c,
            Err(e @ AuthError::UnknownKid(_)) => {
                self.request_refetch();
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.cfg.leeway.as_secs();
        validation.validate_nbf = true;
        validation.required_spec_claims = ["exp".to_owned()].into_iter().collect();
        match &self.cfg.audience {
            Some(a) => validation.set_audience(&[a]),
            None => validation.validate_aud = false,
        }
        if let Some(i) = &self.cfg.issuer {
            validation.set_issuer(&[i]);
        }
        let mut last = AuthError::BadSignature;
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return identity(data.claims),
                Err(e) => {
                    last = map_error(e);
                    if !matches!(last, AuthError::BadSignature) {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }
}

/// The raw `alg` of the header, so `none` and unknown names get a precise refusal.
fn header_alg(token: &str) -> Result<String, AuthError> {
    use base64::Engine;
    let head = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed("header is not base64url".into()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed("header is not JSON".into()))?;
    let alg = v.get("alg").and_then(|a| a.as_str()).ok_or_else(|| AuthError::Malformed("no alg".into()))?;
    if token.split('.').count() != 3 {
        return Err(AuthError::Malformed("a JWT has three parts".into()));
    }
    let known = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"];
    if !known.contains(&alg) {
        return Err(AuthError::AlgorithmNotAllowed(alg.chars().take(16).collect()));
    }
    Ok(alg.to_owned())
}

fn map_error(e: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => AuthError::BadSignature,
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidIssuer => AuthError::WrongIssuer,
        K::InvalidAudience => AuthError::WrongAudience,
        K::MissingRequiredClaim(c) if c == "exp" => AuthError::MissingExpiry,
        K::MissingRequiredClaim(c) if c == "iss" => AuthError::WrongIssuer,
        K::MissingRequiredClaim(c) if c == "aud" => AuthError::WrongAudience,
        K::InvalidAlgorithm => AuthError::AlgorithmNotAllowed("for this key".into()),
        _ => AuthError::Malformed(e.to_string()),
    }
}

fn identity(c: Claims) -> Result<Identity, AuthError> {
    let sub = c.sub.filter(|s| !s.is_empty() && s.len() <= 256).ok_or(AuthError::MissingSubject)?;
    let perms = match c.tether {
        None => Permissions::default(),
        Some(v) => {
            let t: TetherClaim = serde_json::from_value(v).map_err(|e| AuthError::BadPermissions(e.to_string()))?;
            Permissions::new(&t.read, &t.write).map_err(|e| AuthError::BadPermissions(e.to_string()))?
        }
    };
    Ok(Identity { sub, expires_at: c.exp, perms })
}

/// Where a token was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    Header,
    Subprotocol,
    Query,
}

/// The request's token: `Authorization: Bearer`, else the `tether.bearer.<jwt>` sub-protocol,
/// else the `token` query parameter.
pub fn token_from_request(headers: &http::HeaderMap, query: Option<&str>) -> Option<(String, TokenSource)> {
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some((v[7..].trim().to_owned(), TokenSource::Header));
        }
    }
    for v in headers.get_all("sec-websocket-protocol") {
        if let Ok(list) = v.to_str() {
            for p in list.split(',') {
                if let Some(t) = p.trim().strip_prefix(tether_protocol::ws::BEARER_SUBPROTOCOL_PREFIX) {
                    return Some((t.to_owned(), TokenSource::Subprotocol));
                }
            }
        }
    }
    for pair in query.unwrap_or("").split('&') {
        if let Some(t) = pair.strip_prefix("token=") {
            return Some((percent_decode(t), TokenSource::Query));
        }
    }
    None
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(h) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(h);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mints an HS256 token (dev tokens, tests).
pub fn mint_hs256(
    secret: &[u8],
    sub: &str,
    read: &[&str],
    write: &[&str],
    ttl: Duration,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = serde_json::json!({
        "sub": sub,
        "iat": now,
        "exp": now + ttl.as_secs() as i64,
        "tether": { "read": read, "write": write },
    });
    if let Some(i) = issuer {
        claims["iss"] = i.into();
    }
    if let Some(a) = audience {
        claims["aud"] = a.into();
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("HS256 signing cannot fail")
}

#[cfg(test)]
mod tests;

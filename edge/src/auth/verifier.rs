//! `Verifier`: owns the key set, reloads JWKS sources in the background, and verifies tokens
//! (header checks and key choice here, signature and time claims by `jsonwebtoken`).

use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::jwks::JwksSources;
use super::keys::{self, KeySet, shown};
use super::{AuthConfig, AuthError, AuthSetupError, Identity, Permissions};

/// The only algorithms accepted, by header name. `none` and everything else are refused.
const ACCEPTED: &[(&str, Algorithm)] = &[
    ("HS256", Algorithm::HS256),
    ("HS384", Algorithm::HS384),
    ("HS512", Algorithm::HS512),
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// Least time between JWKS refetches caused by unknown `kid`s, so a stream of tokens with made-up
/// ids cannot turn the edge into a load generator against the issuer.
pub(super) const REFETCH_EVERY: Duration = Duration::from_secs(10);
/// Shortest JWKS refresh period honoured (a zero period would spin).
const MIN_REFRESH: Duration = Duration::from_secs(1);

/// Verifies tokens against the configured keys. Cheap to share: `verify` takes a read lock only
/// long enough to clone an `Arc` of the key set.
pub struct Verifier {
    /// Replaced whole by a JWKS reload; readers keep the set they cloned.
    keys: RwLock<Arc<KeySet>>,
    jwks: Option<JwksSources>,
    /// The claim checks; only `algorithms` changes per token.
    validation: Validation,
    max_token_bytes: usize,
    /// When an unknown `kid` last triggered a refetch (`REFETCH_EVERY` apart).
    pub(super) last_refetch: Mutex<Option<Instant>>,
    /// Wakes the refresh task early.
    pub(super) refetch_now: Arc<Notify>,
    /// Counts finished JWKS reloads, successful or not (tests wait on it instead of sleeping).
    pub(super) reloads: watch::Sender<u64>,
}

impl Verifier {
    /// Loads keys (fails clearly if none are configured, if a PEM or JWKS cannot be read or parsed,
    /// or if the JWKS URL is unreachable), and spawns the periodic JWKS refresh task that stops
    /// when `shutdown` is cancelled.
    pub async fn new(cfg: AuthConfig, shutdown: CancellationToken) -> Result<Arc<Verifier>, AuthSetupError> {
        let jwks = JwksSources::new(cfg.jwks_file.clone(), cfg.jwks_url.as_deref())?;
        let fixed = keys::load_fixed(cfg.secret.as_deref(), &cfg.public_key_files)?;
        if fixed.is_empty() && jwks.is_none() {
            return Err(AuthSetupError::NoKeys);
        }
        let mut set = KeySet { fixed: fixed.into(), ..KeySet::default() };
        if let Some(sources) = &jwks {
            if let Some(file) = sources.read_file().await {
                set.jwks_file = file?.into();
            }
            if let Some(url) = sources.fetch_url().await {
                set.jwks_url = url?.into();
            }
        }
        tracing::info!(
            fixed = set.fixed.len(),
            jwks_file = set.jwks_file.len(),
            jwks_url = set.jwks_url.len(),
            "JWT verification keys loaded"
        );
        let refresh = jwks.is_some();
        let verifier = Arc::new(Verifier {
            keys: RwLock::new(Arc::new(set)),
            jwks,
            validation: validation(&cfg),
            max_token_bytes: cfg.max_token_bytes,
            last_refetch: Mutex::new(None),
            refetch_now: Arc::new(Notify::new()),
            reloads: watch::Sender::new(0),
        });
        if refresh {
            let (weak, wake) = (Arc::downgrade(&verifier), verifier.refetch_now.clone());
            tokio::spawn(refresh_loop(weak, wake, cfg.jwks_refresh.max(MIN_REFRESH), shutdown));
        }
        Ok(verifier)
    }

    /// Verifies signature and claims at the current time.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > self.max_token_bytes {
            return Err(AuthError::TooLarge);
        }
        let header = parse_header(token)?;
        let keys = self.current_keys();
        let candidates = match keys.candidates(header.alg, header.kid.as_deref()) {
            Err(e @ AuthError::UnknownKid(_)) => {
                self.request_refetch();
                return Err(e);
            }
            other => other?,
        };
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return identity(data.claims),
                // Only the signature depends on the key: any other failure is final.
                Err(e) => match map_error(&e) {
                    AuthError::BadSignature => continue,
                    other => return Err(other),
                },
            }
        }
        Err(AuthError::BadSignature)
    }

    fn current_keys(&self) -> Arc<KeySet> {
        self.keys.read().expect("the key lock is only held to clone or swap an Arc").clone()
    }

    /// Wakes the refresh task after an unknown `kid`, at most once per `REFETCH_EVERY`. The token
    /// at hand is still refused (`verify` does not wait); a retry after the reload succeeds.
    fn request_refetch(&self) {
        if self.jwks.is_none() {
            return;
        }
        let now = Instant::now();
        {
            let mut last = self.last_refetch.lock().expect("the refetch lock is never held across a panic");
            if last.is_some_and(|t| now.duration_since(t) < REFETCH_EVERY) {
                return;
            }
            *last = Some(now);
        }
        tracing::info!("a token names an unknown kid; refetching JWKS");
        self.refetch_now.notify_one();
    }

    /// Re-reads the JWKS sources; a source that fails keeps its previous keys.
    async fn reload(&self) {
        let Some(sources) = &self.jwks else { return };
        let (file, url) = tokio::join!(sources.read_file(), sources.fetch_url());
        let mut next = KeySet::clone(&self.current_keys());
        let mut changed = false;
        for (result, slot) in [(file, &mut next.jwks_file), (url, &mut next.jwks_url)] {
            match result {
                None => {}
                Some(Ok(keys)) => {
                    *slot = keys.into();
                    changed = true;
                }
                Some(Err(e)) => tracing::warn!(error = %e, "JWKS refresh failed; keeping the previous keys"),
            }
        }
        if changed {
            tracing::debug!(keys = next.len(), "JWKS reloaded");
            *self.keys.write().expect("the key lock is only held to clone or swap an Arc") = Arc::new(next);
        }
        self.reloads.send_modify(|n| *n += 1);
    }
}

/// Reloads JWKS every `period` and when woken, until `shutdown` or the verifier is dropped.
async fn refresh_loop(verifier: Weak<Verifier>, wake: Arc<Notify>, period: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
            _ = wake.notified() => {}
        }
        let Some(verifier) = verifier.upgrade() else { return };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = verifier.reload() => {}
        }
    }
}

fn validation(cfg: &AuthConfig) -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = cfg.leeway.as_secs();
    v.validate_exp = true;
    v.validate_nbf = true;
    // `jsonwebtoken` checks iss/aud only when present; requiring them closes that gap.
    v.required_spec_claims = ["exp".to_owned()].into_iter().collect();
    if let Some(iss) = &cfg.issuer {
        v.set_issuer(&[iss]);
        v.required_spec_claims.insert("iss".to_owned());
    }
    match &cfg.audience {
        Some(aud) => {
            v.set_audience(&[aud]);
            v.required_spec_claims.insert("aud".to_owned());
        }
        // Without a configured audience, a token's `aud` is not ours to judge.
        None => v.validate_aud = false,
    }
    v
}

struct TokenHeader {
    alg: Algorithm,
    kid: Option<String>,
}

/// Reads the header ourselves first, so `none` and unknown algorithms get a precise refusal
/// (`jsonwebtoken` would call them malformed) and `crit` extensions are refused (RFC 7515 4.1.11).
fn parse_header(token: &str) -> Result<TokenHeader, AuthError> {
    let malformed = |why: &str| AuthError::Malformed(why.to_owned());
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("a JWT has three dot-separated parts"));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| malformed("the header is not base64url"))?;
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| malformed("the header is not a JSON object"))?;
    let Some(Value::String(alg)) = header.get("alg") else {
        return Err(malformed("the header has no alg"));
    };
    let alg = ACCEPTED
        .iter()
        .find(|(name, _)| name == alg)
        .map(|(_, a)| *a)
        .ok_or_else(|| AuthError::AlgorithmNotAllowed(shown(alg)))?;
    if header.contains_key("crit") {
        return Err(malformed("critical header extensions are not supported"));
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("kid is not a string")),
    };
    Ok(TokenHeader { alg, kid })
}

/// The claims read after verification. Loosely typed so that a bad `sub` or `tether` gets its own
/// error rather than failing deserialization; `exp` was already checked by `jsonwebtoken`.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Value,
    #[serde(default)]
    exp: Value,
    #[serde(default)]
    tether: Value,
}

/// The permission claim: `{"read": [patterns], "write": [patterns]}`, either list optional.
#[derive(Deserialize)]
struct TetherClaim {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
}

fn identity(claims: Claims) -> Result<Identity, AuthError> {
    let sub = match claims.sub {
        Value::String(s) if !s.is_empty() => s,
        _ => return Err(AuthError::MissingSubject),
    };
    let expires_at = claims.exp.as_i64().or_else(|| claims.exp.as_f64().map(|f| f.round() as i64));
    let perms = match claims.tether {
        Value::Null => Permissions::default(),
        claim => {
            let t: TetherClaim = serde_json::from_value(claim).map_err(|e| AuthError::BadPermissions(e.to_string()))?;
            Permissions::new(&t.read, &t.write).map_err(|e| AuthError::BadPermissions(e.to_string()))?
        }
    };
    Ok(Identity { sub, expires_at, perms })
}

fn map_error(e: &jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => AuthError::BadSignature,
        // The configured key cannot be used: the operator's problem, but to the client the
        // signature simply does not verify (and the next candidate key may).
        K::InvalidRsaKey(_) | K::InvalidEcdsaKey | K::InvalidEddsaKey | K::InvalidKeyFormat => {
            tracing::warn!(error = %e, "a configured JWT key is unusable");
            AuthError::BadSignature
        }
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidIssuer => AuthError::WrongIssuer,
        K::InvalidAudience => AuthError::WrongAudience,
        K::MissingRequiredClaim(c) if c == "iss" => AuthError::WrongIssuer,
        K::MissingRequiredClaim(c) if c == "aud" => AuthError::WrongAudience,
        K::MissingRequiredClaim(_) => AuthError::MissingExpiry,
        K::InvalidAlgorithm => AuthError::AlgorithmNotAllowed("for this key".into()),
        _ => AuthError::Malformed(e.to_string()),
    }
}

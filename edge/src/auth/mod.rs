//! JWT verification and stream permissions.
//!
//! Keys come from a shared secret (HS*), PEM public keys or certificates (RSA, EC P-256/P-384,
//! Ed25519; the `kid` is the file stem) and JWKS (a file or a URL, refreshed periodically and,
//! rate-limited, when a token names an unknown `kid`). Every key is bound to the algorithms of its
//! own type, so an HMAC token is never checked against a public key's bytes (algorithm
//! confusion), and `alg: none` matches no key. Tokens must carry `sub` and `exp`; `iss` and `aud`
//! are checked when configured. The `tether` claim grants read and write stream patterns.

mod jwks;
mod keys;
mod permissions;
mod token;
mod verifier;

use std::path::PathBuf;
use std::time::Duration;

pub use self::permissions::{PatternError, Permissions};
pub use self::token::{TokenSource, mint_hs256, token_from_request};
pub use self::verifier::Verifier;

/// Where verification keys come from and what tokens must claim.
#[derive(Clone)]
pub struct AuthConfig {
    /// HS256/384/512 shared secret (from `--jwt-secret-file` or `TETHER_JWT_SECRET`).
    pub secret: Option<Vec<u8>>,
    /// PEM files, each an SPKI public key or an X.509 certificate: RSA (RS256/384/512, PS256),
    /// EC P-256 (ES256), EC P-384 (ES384) or Ed25519 (EdDSA). A key's `kid` is its file stem.
    pub public_key_files: Vec<PathBuf>,
    /// http(s) JWKS URL: fetched at start (failure is fatal), refreshed every `jwks_refresh`, and
    /// refetched at most every 10 s when a token names an unknown `kid`.
    pub jwks_url: Option<String>,
    /// JWKS JSON file, re-read every `jwks_refresh` (and on an unknown `kid`, like the URL).
    pub jwks_file: Option<PathBuf>,
    /// How often JWKS sources are reloaded; a failed reload keeps the previous keys.
    pub jwks_refresh: Duration,
    /// Required `iss` when set.
    pub issuer: Option<String>,
    /// Required `aud` when set (the claim may be a string or an array).
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf` (whole seconds).
    pub leeway: Duration,
    /// Longer tokens are refused before any decoding.
    pub max_token_bytes: usize,
}

/// Prints everything but the secret.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("public_key_files", &self.public_key_files)
            .field("jwks_url", &self.jwks_url)
            .field("jwks_file", &self.jwks_file)
            .field("jwks_refresh", &self.jwks_refresh)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("max_token_bytes", &self.max_token_bytes)
            .finish()
    }
}

/// A verified caller.
#[derive(Clone, Debug)]
pub struct Identity {
    pub sub: String,
    /// Unix seconds, from `exp`: long-lived connections end when it passes.
    pub expires_at: Option<i64>,
    pub perms: Permissions,
}

/// Why a token was refused. Always the client's fault; retrying the same token fails the same
/// way, except `UnknownKid`, which may succeed once rotated keys have been fetched.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("token longer than the limit")]
    TooLarge,
    #[error("token is not a well-formed JWT: {0}")]
    Malformed(String),
    /// `none`, an algorithm outside the accepted list, or one that does not fit the named key.
    #[error("algorithm {0} is not accepted")]
    AlgorithmNotAllowed(String),
    #[error("unknown key id {0:?}")]
    UnknownKid(String),
    #[error("no configured key verifies {0} tokens")]
    NoKeyForAlgorithm(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    #[error("wrong or missing issuer")]
    WrongIssuer,
    #[error("wrong or missing audience")]
    WrongAudience,
    #[error("token has no valid exp claim")]
    MissingExpiry,
    #[error("token has no sub claim, or it is not a non-empty string")]
    MissingSubject,
    #[error("invalid tether permission claim: {0}")]
    BadPermissions(String),
}

impl AuthError {
    /// Short snake_case label for metrics and logs.
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

/// Why the verifier could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("no JWT key configured (secret, public key file, JWKS file or JWKS URL)")]
    NoKeys,
    #[error("the JWT secret is empty")]
    EmptySecret,
    #[error("reading {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("JWT key {}: {reason}", path.display())]
    BadPem { path: PathBuf, reason: String },
    #[error("JWKS URL {url:?}: {reason}")]
    BadJwksUrl { url: String, reason: String },
    #[error("JWKS {origin}: {reason}")]
    BadJwks { origin: String, reason: String },
    #[error("fetching JWKS from {url}: {reason}")]
    Fetch { url: String, reason: String },
}

#[cfg(test)]
mod tests;

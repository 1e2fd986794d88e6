//! Verification keys, each bound to the algorithms its key type allows, and the choice of keys
//! for a token. Binding by key type is what stops algorithm confusion: an HMAC secret is only
//! ever offered HS* tokens and a public key only its own signature algorithms.

use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

use super::{AuthError, AuthSetupError};

pub(super) const HMAC_ALGS: &[Algorithm] = &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
pub(super) const RSA_ALGS: &[Algorithm] = &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256];
pub(super) const ES256_ALGS: &[Algorithm] = &[Algorithm::ES256];
pub(super) const ES384_ALGS: &[Algorithm] = &[Algorithm::ES384];
pub(super) const ED_ALGS: &[Algorithm] = &[Algorithm::EdDSA];

/// A secret this short is guessable offline from any token signed with it.
const WEAK_SECRET_BYTES: usize = 32;

/// One verification key.
pub(super) struct NamedKey {
    /// PEM keys: the file stem; JWKS keys: their `kid`; the shared secret: none.
    pub kid: Option<String>,
    /// The algorithms this key may verify: its type's, narrowed to one when a JWK pins `alg`.
    pub algs: Vec<Algorithm>,
    pub key: DecodingKey,
}

/// Every key in force, by source. A refresh replaces one source's keys and keeps the others.
#[derive(Clone, Default)]
pub(super) struct KeySet {
    /// The secret and PEM files: read once at start.
    pub fixed: Arc<[NamedKey]>,
    pub jwks_file: Arc<[NamedKey]>,
    pub jwks_url: Arc<[NamedKey]>,
}

impl KeySet {
    fn iter(&self) -> impl Iterator<Item = &NamedKey> {
        self.fixed.iter().chain(self.jwks_file.iter()).chain(self.jwks_url.iter())
    }

    pub fn len(&self) -> usize {
        self.fixed.len() + self.jwks_file.len() + self.jwks_url.len()
    }

    /// The keys a token signed with `alg` (and naming `kid`, if it does) may be verified with.
    ///
    /// With a `kid`, only keys of that id are tried; if it names a key of another type, the token
    /// is refused (`AlgorithmNotAllowed`), never tried against it. An unknown `kid` on an HS*
    /// token falls back to the shared secret, which has no id (issuers often stamp one anyway);
    /// otherwise it is `UnknownKid`. Without a `kid`, every key allowing `alg` is tried.
    pub fn candidates(&self, alg: Algorithm, kid: Option<&str>) -> Result<Vec<&DecodingKey>, AuthError> {
        let allows = |k: &&NamedKey| k.algs.contains(&alg);
        if let Some(kid) = kid {
            let named: Vec<&NamedKey> = self.iter().filter(|k| k.kid.as_deref() == Some(kid)).collect();
            if !named.is_empty() {
                let usable: Vec<&DecodingKey> = named.into_iter().filter(allows).map(|k| &k.key).collect();
                if usable.is_empty() {
                    return Err(AuthError::AlgorithmNotAllowed(format!("{alg:?} for key {}", shown(kid))));
                }
                return Ok(usable);
            }
            let secrets: Vec<&DecodingKey> =
                self.fixed.iter().filter(|k| k.kid.is_none()).filter(allows).map(|k| &k.key).collect();
            if secrets.is_empty() {
                return Err(AuthError::UnknownKid(shown(kid)));
            }
            return Ok(secrets);
        }
        let usable: Vec<&DecodingKey> = self.iter().filter(allows).map(|k| &k.key).collect();
        if usable.is_empty() {
            return Err(AuthError::NoKeyForAlgorithm(format!("{alg:?}")));
        }
        Ok(usable)
    }
}

/// A token-supplied string made safe for error messages and logs: bounded, no control characters.
pub(super) fn shown(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// The shared secret and the PEM files, which are read once at start.
pub(super) fn load_fixed(
    secret: Option<&[u8]>,
    pem_files: &[std::path::PathBuf],
) -> Result<Vec<NamedKey>, AuthSetupError> {
    let mut keys = Vec::new();
    if let Some(secret) = secret {
        if secret.is_empty() {
            return Err(AuthSetupError::EmptySecret);
        }
        if secret.len() < WEAK_SECRET_BYTES {
            tracing::warn!(
                bytes = secret.len(),
                "the JWT secret is short; use at least {WEAK_SECRET_BYTES} random bytes"
            );
        }
        keys.push(NamedKey { kid: None, algs: HMAC_ALGS.to_vec(), key: DecodingKey::from_secret(secret) });
    }
    for path in pem_files {
        let pem = std::fs::read(path).map_err(|source| AuthSetupError::Read { path: path.clone(), source })?;
        let (key, algs) = pem_key(&pem).map_err(|reason| AuthSetupError::BadPem { path: path.clone(), reason })?;
        keys.push(NamedKey { kid: pem_kid(path), algs: algs.to_vec(), key });
    }
    Ok(keys)
}

fn pem_kid(path: &Path) -> Option<String> {
    path.file_stem().map(|s| s.to_string_lossy().into_owned())
}

/// Parses a public key (SPKI `PUBLIC KEY`, PKCS#1 `RSA PUBLIC KEY`) or a `CERTIFICATE` and tells
/// which algorithms it verifies. Private keys are refused: this is the verifying side.
pub(super) fn pem_key(pem: &[u8]) -> Result<(DecodingKey, &'static [Algorithm]), String> {
    let text = String::from_utf8_lossy(pem);
    let label = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .ok_or("no PEM block found")?;
    match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => {}
        l if l.contains("PRIVATE KEY") => {
            return Err(format!("it holds a {l}; give the public key (openssl pkey -in KEY -pubout)"));
        }
        l => return Err(format!("unsupported PEM block {l:?}; expected PUBLIC KEY or CERTIFICATE")),
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok((key, RSA_ALGS));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        // The SPKI holds the uncompressed point 04 || x || y; its size names the curve.
        let algs = match key.try_get_as_bytes().map(<[u8]>::len) {
            Ok(65) => ES256_ALGS,
            Ok(97) => ES384_ALGS,
            _ => return Err("EC key on an unsupported curve or compressed; P-256 and P-384 are supported".into()),
        };
        return Ok((key, algs));
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        return Ok((key, ED_ALGS));
    }
    Err("not an RSA, EC (P-256, P-384) or Ed25519 public key".into())
}

//! The set of verification keys, each tagged with its algorithm family (and `kid`), loaded
//! from the secret, PEM files and JWKS.

use jsonwebtoken::{Algorithm, DecodingKey, jwk::JwkSet};

use super::{AuthConfig, AuthError, AuthSetupError};

struct NamedKey {
    kid: Option<String>,
    /// The algorithm a JWK pins the key to, if it does.
    alg: Option<String>,
    key: DecodingKey,
}

#[derive(Default)]
pub struct KeySet {
    keys: Vec<NamedKey>,
}

/// The family an algorithm belongs to; keys are only tried within it.
fn family(alg: Algorithm) -> jsonwebtoken::AlgorithmFamily {
    alg.family()
}

impl KeySet {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Loads every configured source; any unreadable source fails the whole load.
    pub async fn load(cfg: &AuthConfig) -> Result<KeySet, AuthSetupError> {
        let mut keys = Vec::new();
        if let Some(s) = &cfg.secret {
            keys.push(NamedKey { kid: None, alg: None, key: DecodingKey::from_secret(s) });
        }
        for path in &cfg.public_key_files {
            let shown = path.display().to_string();
            let pem = std::fs::read(path).map_err(|source| AuthSetupError::Read { path: shown.clone(), source })?;
            let key = DecodingKey::from_rsa_pem(&pem)
                .or_else(|_| DecodingKey::from_ec_pem(&pem))
                .or_else(|_| DecodingKey::from_ed_pem(&pem))
                .map_err(|_| AuthSetupError::BadPem { path: shown })?;
            let kid = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            keys.push(NamedKey { kid, alg: None, key });
        }
        if let Some(path) = &cfg.jwks_file {
            let shown = path.display().to_string();
            let text = std::fs::read(path).map_err(|source| AuthSetupError::Read { path: shown.clone(), source })?;
            keys.extend(parse_jwks(&text, &shown)?);
        }
        if let Some(url) = &cfg.jwks_url {
            let fetch = async {
                let r = reqwest::Client::new().get(url).timeout(std::time::Duration::from_secs(10)).send().await?;
                r.error_for_status()?.bytes().await
            };
            let body = fetch.await.map_err(|e| AuthSetupError::Fetch { url: url.clone(), message: e.to_string() })?;
            keys.extend(parse_jwks(&body, url)?);
        }
        Ok(KeySet { keys })
    }

    /// The keys a token with `alg` and `kid` may be verified with.
    pub fn candidates(&self, alg: Algorithm, kid: Option<&str>) -> Result<Vec<&DecodingKey>, AuthError> {
        let fam = family(alg);
        let alg_name = format!("{alg:?}");
        let fits = |k: &NamedKey| k.key.family() == fam && k.alg.as_ref().is_none_or(|a| *a == alg_name);
        if let Some(kid) = kid {
            let named: Vec<&NamedKey> = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).collect();
            if !named.is_empty() {
                let usable: Vec<&DecodingKey> = named.iter().filter(|k| fits(k)).map(|k| &k.key).collect();
                return if usable.is_empty() { Err(AuthError::AlgorithmNotAllowed(alg_name)) } else { Ok(usable) };
            }
            // Issuers often stamp a kid on HS tokens; the un-named secret may still verify it.
            let unnamed: Vec<&DecodingKey> =
                self.keys.iter().filter(|k| k.kid.is_none() && fits(k)).map(|k| &k.key).collect();
            return if unnamed.is_empty() {
                Err(AuthError::UnknownKid(kid.chars().take(64).collect()))
            } else {
                Ok(unnamed)
            };
        }
        let usable: Vec<&DecodingKey> = self.keys.iter().filter(|k| fits(k)).map(|k| &k.key).collect();
        if usable.is_empty() { Err(AuthError::NoKeyForAlgorithm(alg_name)) } else { Ok(usable) }
    }
}

fn parse_jwks(bytes: &[u8], source_name: &str) -> Result<Vec<NamedKey>, AuthSetupError> {
    let bad = |message: String| AuthSetupError::BadJwks { source_name: source_name.to_owned(), message };
    let set: JwkSet = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for jwk in &set.keys {
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => out.push(NamedKey {
                kid: jwk.common.key_id.clone(),
                alg: jwk.common.key_algorithm.map(|a| a.to_string()),
                key,
            }),
            Err(e) => {
                tracing::warn!(source = source_name, kid = ?jwk.common.key_id, error = %e, "skipping an unusable JWK")
            }
        }
    }
    if out.is_empty() {
        return Err(bad("no usable key".into()));
    }
    Ok(out)
}

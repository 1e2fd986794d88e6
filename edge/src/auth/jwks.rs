//! JWKS sources (a file and/or an HTTP URL) and the parsing of a JWK set into verification keys.
//! Keys that cannot verify signatures (encryption keys, unsupported curves, non-signing `alg`)
//! are skipped with a warning; a set with no usable key at all is an error.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::AuthSetupError;
use super::keys::{ED_ALGS, ES256_ALGS, ES384_ALGS, HMAC_ALGS, NamedKey, RSA_ALGS};

/// Largest JWKS document accepted; real ones are a few kilobytes.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// Bound on one JWKS fetch, so a hung server cannot stall start-up or the refresh task.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where JWK sets come from.
pub(super) struct JwksSources {
    pub file: Option<PathBuf>,
    pub url: Option<JwksUrl>,
}

pub(super) struct JwksUrl {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl JwksSources {
    /// `None` when no JWKS source is configured.
    pub fn new(file: Option<PathBuf>, url: Option<&str>) -> Result<Option<JwksSources>, AuthSetupError> {
        let url = match url {
            None => None,
            Some(raw) => {
                let bad = |reason: String| AuthSetupError::BadJwksUrl { url: raw.to_owned(), reason };
                let url = reqwest::Url::parse(raw).map_err(|e| bad(e.to_string()))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(bad("the scheme must be http or https".into()));
                }
                let client = reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .build()
                    .map_err(|e| bad(format!("building the HTTP client: {e}")))?;
                Some(JwksUrl { url, client })
            }
        };
        if file.is_none() && url.is_none() {
            return Ok(None);
        }
        Ok(Some(JwksSources { file, url }))
    }

    /// Reads the JWKS file, if one is configured.
    pub async fn read_file(&self) -> Option<Result<Vec<NamedKey>, AuthSetupError>> {
        let path = self.file.as_ref()?;
        let read = async {
            let bytes =
                tokio::fs::read(path).await.map_err(|source| AuthSetupError::Read { path: path.clone(), source })?;
            parse(&bytes, &path.display().to_string(), true)
        };
        Some(read.await)
    }

    /// Fetches the JWKS URL, if one is configured.
    pub async fn fetch_url(&self) -> Option<Result<Vec<NamedKey>, AuthSetupError>> {
        let source = self.url.as_ref()?;
        let shown = source.url.to_string();
        let fetch = async {
            let mut response = source.client.get(source.url.clone()).send().await?.error_for_status()?;
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > MAX_JWKS_BYTES {
                    return Ok(None);
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(Some(body))
        };
        let result = match fetch.await {
            Ok(Some(body)) => parse(&body, &shown, false),
            Ok(None) => {
                Err(AuthSetupError::Fetch { url: shown, reason: format!("larger than {MAX_JWKS_BYTES} bytes") })
            }
            Err(e) => Err(AuthSetupError::Fetch { url: shown, reason: e.to_string() }),
        };
        Some(result)
    }
}

/// Parses a JWK set. `allow_secrets`: whether symmetric (`oct`) keys are accepted. They are not
/// from a URL: a JWKS endpoint is public, and a secret published there would let anyone sign.
pub(super) fn parse(bytes: &[u8], source: &str, allow_secrets: bool) -> Result<Vec<NamedKey>, AuthSetupError> {
    let bad = |reason: String| AuthSetupError::BadJwks { origin: source.to_owned(), reason };

    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawSet = serde_json::from_slice(bytes).map_err(|e| bad(format!("not a JWK set: {e}")))?;
    let mut out = Vec::new();
    for raw in set.keys {
        let kid = raw.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
        let parsed = serde_json::from_value::<Jwk>(raw)
            .map_err(|e| e.to_string())
            .and_then(|jwk| signing_key(&jwk, allow_secrets));
        match parsed {
            Ok(key) => out.push(key),
            Err(reason) => tracing::warn!(source, ?kid, reason, "skipping a JWK that cannot verify tokens"),
        }
    }
    if out.is_empty() {
        return Err(bad("no usable signature verification key".into()));
    }
    Ok(out)
}

fn signing_key(jwk: &Jwk, allow_secrets: bool) -> Result<NamedKey, String> {
    let common = &jwk.common;
    if let Some(u) = &common.public_key_use
        && *u != PublicKeyUse::Signature
    {
        return Err(format!("its use is {u:?}, not signatures"));
    }
    if let Some(ops) = &common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("its key_ops do not include verify".into());
    }
    let type_algs = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA_ALGS,
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => ES256_ALGS,
            EllipticCurve::P384 => ES384_ALGS,
            ref other => return Err(format!("curve {other:?} is not supported")),
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => ED_ALGS,
        AlgorithmParameters::OctetKeyPair(p) => return Err(format!("curve {:?} is not supported", p.curve)),
        AlgorithmParameters::OctetKey(_) if allow_secrets => HMAC_ALGS,
        AlgorithmParameters::OctetKey(_) => return Err("symmetric keys are not accepted from a JWKS URL".into()),
        _ => return Err("unsupported key type".into()),
    };
    let algs = match common.key_algorithm {
        None => type_algs.to_vec(),
        Some(pinned) => match Algorithm::from_str(&pinned.to_string()) {
            Ok(alg) if type_algs.contains(&alg) => vec![alg],
            _ => return Err(format!("alg {pinned} is not an accepted signature algorithm for this key type")),
        },
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    Ok(NamedKey { kid: common.key_id.clone(), algs, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(json: serde_json::Value, allow_secrets: bool) -> Result<Vec<NamedKey>, AuthSetupError> {
        parse(json.to_string().as_bytes(), "test", allow_secrets)
    }

    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn unusable_keys_are_skipped_and_pinned_algs_narrow() {
        let set = serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "ed", "use": "sig", "alg": "EdDSA"},
            {"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "enc", "use": "enc"},
            {"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "ops", "key_ops": ["encrypt"]},
            {"kty": "OKP", "crv": "X25519", "x": X, "kid": "x"},
            {"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "rs", "alg": "RS256"},
            {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "kid": "hs", "alg": "HS384"},
            {"kty": "weird", "kid": "w"},
        ]});
        let keys = parsed(set.clone(), true).expect("two usable keys");
        let kids: Vec<_> = keys.iter().map(|k| (k.kid.as_deref().expect("kid"), k.algs.clone())).collect();
        assert_eq!(kids, [("ed", vec![Algorithm::EdDSA]), ("hs", vec![Algorithm::HS384])]);
        let keys = parsed(set, false).expect("one usable key");
        assert_eq!(keys.len(), 1, "secrets are not taken from a URL");
    }

    #[test]
    fn sets_without_usable_keys_are_errors() {
        assert!(matches!(parsed(serde_json::json!({"keys": []}), true), Err(AuthSetupError::BadJwks { .. })));
        assert!(matches!(parsed(serde_json::json!({"nokeys": 1}), true), Err(AuthSetupError::BadJwks { .. })));
        assert!(matches!(parse(b"<html>", "test", true), Err(AuthSetupError::BadJwks { .. })));
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(matches!(JwksSources::new(None, Some("file:///etc/jwks")), Err(AuthSetupError::BadJwksUrl { .. })));
        assert!(matches!(JwksSources::new(None, Some("not a url")), Err(AuthSetupError::BadJwksUrl { .. })));
        assert!(JwksSources::new(None, None).expect("nothing configured").is_none());
        assert!(JwksSources::new(None, Some("https://issuer.example/jwks")).expect("https").is_some());
    }
}

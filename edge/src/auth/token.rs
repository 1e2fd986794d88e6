//! Finding a request's bearer token, and minting HS256 dev tokens.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tether_protocol::ws::BEARER_SUBPROTOCOL_PREFIX;

/// Where a token was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`.
    Header,
    /// A `tether.bearer.<token>` entry of `Sec-WebSocket-Protocol` (browsers cannot set headers).
    Subprotocol,
    /// The `token` query parameter (it may end up in access logs: the last resort).
    Query,
}

/// The token from `Authorization: Bearer <t>`, else the `Sec-WebSocket-Protocol` entry
/// `tether.bearer.<t>`, else the percent-decoded `token` parameter of `query` (the raw query
/// string, without `?`). Empty values count as absent.
pub fn token_from_request(headers: &http::HeaderMap, query: Option<&str>) -> Option<(String, TokenSource)> {
    for value in headers.get_all(http::header::AUTHORIZATION) {
        let Ok(value) = value.to_str() else { continue };
        if let Some((scheme, token)) = value.trim().split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
            && !token.trim().is_empty()
        {
            return Some((token.trim().to_owned(), TokenSource::Header));
        }
    }
    for value in headers.get_all(http::header::SEC_WEBSOCKET_PROTOCOL) {
        let Ok(list) = value.to_str() else { continue };
        for entry in list.split(',') {
            if let Some(token) = entry.trim().strip_prefix(BEARER_SUBPROTOCOL_PREFIX)
                && !token.is_empty()
            {
                return Some((token.to_owned(), TokenSource::Subprotocol));
            }
        }
    }
    query?
        .split('&')
        .filter_map(|pair| pair.strip_prefix("token="))
        .find(|t| !t.is_empty())
        .map(|t| (percent_decode(t), TokenSource::Query))
}

/// `%XX` decoding; malformed escapes are kept as they are (the token then fails verification).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(byte) =
                b.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mints an HS256 dev token (used by `tether token` and tests): claims `sub`, `iat`,
/// `exp` = now + `ttl`, and `"tether": {"read": [...], "write": [...]}`, plus `iss`/`aud` when given.
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
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let mut claims = serde_json::json!({
        "sub": sub,
        "iat": now,
        "exp": now.saturating_add(ttl),
        "tether": { "read": read, "write": write },
    });
    if let Some(iss) = issuer {
        claims["iss"] = iss.into();
    }
    if let Some(aud) = audience {
        claims["aud"] = aud.into();
    }
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret))
        .expect("HMAC signing of a JSON object cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, value.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn header_then_subprotocol_then_query() {
        let none = headers(&[]);
        assert_eq!(token_from_request(&none, None), None);
        assert_eq!(token_from_request(&none, Some("a=1&token=x%2Ey")), Some(("x.y".into(), TokenSource::Query)));
        let sub = headers(&[("sec-websocket-protocol", "tether.v1, tether.bearer.abc")]);
        assert_eq!(token_from_request(&sub, Some("token=q")), Some(("abc".into(), TokenSource::Subprotocol)));
        let both = headers(&[("sec-websocket-protocol", "tether.bearer.abc"), ("authorization", "Bearer hdr")]);
        assert_eq!(token_from_request(&both, Some("token=q")), Some(("hdr".into(), TokenSource::Header)));
    }

    #[test]
    fn odd_but_valid_forms_and_empty_values() {
        let h = headers(&[("authorization", "bearer   spaced  ")]);
        assert_eq!(token_from_request(&h, None), Some(("spaced".into(), TokenSource::Header)));
        // A non-bearer scheme or an empty token falls through to the next source.
        let h = headers(&[("authorization", "Basic dXNlcjpwdw=="), ("sec-websocket-protocol", "tether.bearer.")]);
        assert_eq!(token_from_request(&h, Some("token=&token=t")), Some(("t".into(), TokenSource::Query)));
        let h = headers(&[("sec-websocket-protocol", "tether.v1"), ("sec-websocket-protocol", "tether.bearer.second")]);
        assert_eq!(token_from_request(&h, None), Some(("second".into(), TokenSource::Subprotocol)));
        assert_eq!(token_from_request(&headers(&[]), Some("xtoken=a&tokens=b")), None);
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2Eb%2e"), "a.b.");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}

//! JWT access tokens (RFC 9068): which provider's, then every check in the order that costs
//! least first. Claims that need no key (issuer known here, audience, `typ`, times, subject,
//! client) are checked before the provider is asked for its keys, so a token of an unknown
//! issuer or an expired one costs no network call; then the signature with the provider's
//! keys (algorithm pinned as for ID tokens; an unknown `kid` refetches the keys once,
//! rate-limited), then the issuer exactly as the provider's metadata spells it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::error::BearerError;
use crate::jose::{Compact, JoseError, parse_compact, typ_is};
use crate::provider::issuers_match;
use crate::state::{ProviderRuntime, Shared};

/// Access tokens longer than this are refused unread (RFC 9068 tokens are a few KB at most).
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A JWT access token whose every check passed.
#[derive(Debug)]
pub(crate) struct CheckedJwt {
    /// The index of the provider that issued it.
    pub(crate) provider: usize,
    pub(crate) claims: Map<String, Value>,
    /// When it expires (`exp`).
    pub(crate) expires: SystemTime,
    /// `client_id`, else `azp`.
    pub(crate) client_id: String,
}

/// Whether `token` has the shape of a JWS (three dot-separated parts); anything else is an
/// opaque token (for introspection, when a provider does it).
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Checks the JWT access token `token` at `now`.
pub(crate) async fn verify(
    shared: &Shared,
    token: &str,
    now: SystemTime,
) -> Result<CheckedJwt, BearerError> {
    let compact = parse_compact(token, MAX_TOKEN_BYTES).map_err(|e| match e {
        JoseError::TooLarge => BearerError::invalid_token("the access token is too large"),
        _ => BearerError::invalid_token("the access token is malformed"),
    })?;
    let claims = unverified_claims(&compact)?;
    let iss = text(&claims, "iss")
        .ok_or_else(|| BearerError::invalid_token("the access token has no issuer"))?;
    let (index, provider) = provider_for(shared, iss, &claims)?;
    let settings = &provider.settings;
    check_typ(&compact, &claims, settings.legacy_access_token_typ)?;
    let expires = check_times(&claims, now, shared.config.clock_leeway)?;
    if text(&claims, "sub").is_none() {
        return Err(BearerError::invalid_token(
            "the access token has no subject",
        ));
    }
    let client_id = text(&claims, "client_id")
        .or_else(|| text(&claims, "azp"))
        .ok_or_else(|| BearerError::invalid_token("the access token names no client"))?
        .to_owned();

    let discovered = provider.client.discovered().await.map_err(|e| {
        tracing::warn!(provider = %settings.slug, error = %e, "access token not checked: the provider's keys are unavailable");
        BearerError::Unavailable
    })?;
    let (_, discovered) = provider
        .client
        .verify_signature(&discovered, &compact)
        .await
        .map_err(signature_error)?;
    // The configured issuer may differ by a trailing slash; the token must carry the
    // provider's own spelling (RFC 9068 section 4: exact match).
    if iss != discovered.metadata.issuer {
        return Err(BearerError::invalid_token(
            "the access token's issuer is not trusted here",
        ));
    }
    Ok(CheckedJwt {
        provider: index,
        claims,
        expires,
        client_id,
    })
}

fn signature_error(e: JoseError) -> BearerError {
    BearerError::invalid_token(match e {
        JoseError::NoKey => "no key of the issuer matches the access token",
        JoseError::AlgNotAllowed(_) => "the access token's signature algorithm is not accepted",
        JoseError::BadSignature => "the access token's signature is invalid",
        JoseError::Crit => "the access token has critical header extensions",
        JoseError::Malformed(_) | JoseError::TooLarge | JoseError::UnsupportedKey(_) => {
            "the access token is malformed"
        }
    })
}

/// The payload as a JSON object, before the signature is checked (to find the provider).
fn unverified_claims(compact: &Compact<'_>) -> Result<Map<String, Value>, BearerError> {
    let malformed = || BearerError::invalid_token("the access token is malformed");
    let bytes = URL_SAFE_NO_PAD
        .decode(compact.payload_b64)
        .map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}

fn text<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The provider that accepts this token: one with the token's issuer (compared as configured
/// issuers are) and an `api_audience` the token names in `aud`.
fn provider_for<'a>(
    shared: &'a Shared,
    iss: &str,
    claims: &Map<String, Value>,
) -> Result<(usize, &'a ProviderRuntime), BearerError> {
    let aud = audiences(claims.get("aud"));
    let mut of_issuer = shared
        .providers
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            !p.settings.api_audiences.is_empty() && issuers_match(&p.settings.issuer, iss)
        })
        .peekable();
    if of_issuer.peek().is_none() {
        return Err(BearerError::invalid_token(
            "the access token's issuer is not trusted here",
        ));
    }
    of_issuer
        .find(|(_, p)| {
            p.settings
                .api_audiences
                .iter()
                .any(|a| aud.contains(&a.as_str()))
        })
        .ok_or_else(|| BearerError::invalid_token("the access token is not for this API"))
}

/// `aud` as a list, whether it is one string or an array of them.
pub(crate) fn audiences(aud: Option<&Value>) -> Vec<&str> {
    match aud {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// RFC 9068 section 4: `typ` must be `at+jwt` (`application/at+jwt`). With the provider's
/// `legacy_access_token_typ`, `JWT` or no `typ` too, but never a token that shows the marks of
/// an ID token (`nonce`, `at_hash`, `c_hash`, Keycloak's `"typ": "ID"` claim): a provider whose
/// ID tokens name the API's audience must not turn them into access tokens.
fn check_typ(
    compact: &Compact<'_>,
    claims: &Map<String, Value>,
    legacy: bool,
) -> Result<(), BearerError> {
    let typ = compact.header.typ.as_deref();
    if typ_is(typ, "at+jwt") {
        return Ok(());
    }
    let id_token_marks = ["nonce", "at_hash", "c_hash"]
        .iter()
        .any(|c| claims.contains_key(*c))
        || claims.get("typ").and_then(Value::as_str) == Some("ID");
    if legacy && (typ.is_none() || typ_is(typ, "JWT")) && !id_token_marks {
        return Ok(());
    }
    Err(BearerError::invalid_token(
        "the token is not an access token (typ)",
    ))
}

/// A NumericDate claim (RFC 7519 section 2) as a time; `None` when absent, `Err` when not a
/// non-negative number of seconds that fits.
pub(crate) fn numeric_date(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<SystemTime>, ()> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => {
            let seconds = value
                .as_f64()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or(())?;
            let since_epoch = Duration::try_from_secs_f64(seconds).map_err(|_| ())?;
            UNIX_EPOCH.checked_add(since_epoch).map(Some).ok_or(())
        }
    }
}

/// `exp` (required, not past), `iat` (required, not in the future) and `nbf` (when present,
/// not in the future), each with the leeway. Returns `exp`.
pub(crate) fn check_times(
    claims: &Map<String, Value>,
    now: SystemTime,
    leeway: Duration,
) -> Result<SystemTime, BearerError> {
    let bad =
        |name| BearerError::invalid_token(format!("the access token's `{name}` is not a time"));
    let exp = numeric_date(claims, "exp")
        .map_err(|()| bad("exp"))?
        .ok_or_else(|| BearerError::invalid_token("the access token has no expiry (exp)"))?;
    // A time so far ahead that adding the leeway overflows has not passed.
    if exp.checked_add(leeway).is_some_and(|end| end <= now) {
        return Err(BearerError::invalid_token("the access token has expired"));
    }
    let iat = numeric_date(claims, "iat")
        .map_err(|()| bad("iat"))?
        .ok_or_else(|| BearerError::invalid_token("the access token has no issue time (iat)"))?;
    if iat > now + leeway {
        return Err(BearerError::invalid_token(
            "the access token was issued in the future (iat)",
        ));
    }
    if let Some(nbf) = numeric_date(claims, "nbf").map_err(|()| bad("nbf"))?
        && nbf > now + leeway
    {
        return Err(BearerError::invalid_token(
            "the access token is not valid yet (nbf)",
        ));
    }
    Ok(exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn times_are_checked_with_the_leeway() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let leeway = Duration::from_secs(30);
        let ok = |c: Value| check_times(&claims(c), now, leeway);
        assert_eq!(
            ok(json!({"exp": 1_000_100, "iat": 999_000})).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_000_100)
        );
        // Within the leeway either side.
        assert!(ok(json!({"exp": 999_980, "iat": 1_000_020, "nbf": 1_000_020})).is_ok());
        let refused = |c: Value, why: &str| {
            let BearerError::InvalidToken(text) = ok(c).unwrap_err() else {
                panic!("not invalid_token")
            };
            assert!(text.contains(why), "{text}");
        };
        refused(json!({"exp": 999_970, "iat": 999_000}), "expired");
        refused(json!({"iat": 999_000}), "no expiry");
        refused(json!({"exp": 1_000_100}), "no issue time");
        refused(json!({"exp": 1_000_100, "iat": 1_000_031}), "future");
        refused(
            json!({"exp": 1_000_100, "iat": 999_000, "nbf": 1_000_031}),
            "not valid yet",
        );
        refused(json!({"exp": "1000100", "iat": 999_000}), "`exp`");
        refused(json!({"exp": -1, "iat": 999_000}), "`exp`");
        refused(json!({"exp": 1e300, "iat": 999_000}), "`exp`");
    }

    proptest! {
        /// Any numbers (huge, negative, fractional, not finite as JSON allows none) in the time
        /// claims give an answer, never a panic (SystemTime arithmetic overflows panic).
        #[test]
        fn any_time_claims_are_answered_without_panicking(
            exp in any::<f64>(),
            iat in any::<i64>(),
            nbf in any::<u64>(),
            leeway in 0u64..=600,
        ) {
            let claims = claims(json!({"exp": exp, "iat": iat, "nbf": nbf}));
            let _ = check_times(&claims, SystemTime::now(), Duration::from_secs(leeway));
            let _ = numeric_date(&claims, "exp");
        }
    }

    #[test]
    fn audiences_are_a_string_or_a_list() {
        assert_eq!(audiences(Some(&json!("a"))), ["a"]);
        assert_eq!(audiences(Some(&json!(["a", 1, "b"]))), ["a", "b"]);
        assert!(audiences(Some(&json!(7))).is_empty());
        assert!(audiences(None).is_empty());
    }

    #[test]
    fn opaque_tokens_are_those_without_two_dots() {
        assert!(looks_like_jwt("a.b.c"));
        assert!(!looks_like_jwt("abc"));
        assert!(!looks_like_jwt("a.b.c.d.e"));
    }
}

//! Logout-token validation (OpenID Connect Back-Channel Logout 1.0, section 2.6): a signed JWT
//! whose signature, `iss`, `aud`, `iat`, `exp` (required), `jti`, `events`, `sid`/`sub` and absent `nonce`
//! are all checked. Replay (`jti`) is the caller's job.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::jws::audiences;
use super::{Discovered, Provider};
use crate::jose;

/// Logout tokens longer than this are refused.
pub(crate) const MAX_LOGOUT_TOKEN_BYTES: usize = 16 * 1024;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How old (by `iat`, beyond the clock leeway) a logout token may be.
pub(crate) const MAX_LOGOUT_TOKEN_AGE: Duration = Duration::from_secs(10 * 60);

/// The verified claims that say whom to log out.
#[derive(Debug, Clone)]
pub(crate) struct LogoutClaims {
    pub(crate) iss: String,
    pub(crate) sub: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) jti: String,
    /// How long from now the token stays acceptable (until `iat` + max age + leeway): its
    /// `jti` must be remembered that long.
    pub(crate) acceptable_for: Duration,
}

fn b64(part: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| "a part is not base64url".to_owned())
}

/// The `iss` and `aud` of a logout token before verification, to pick the provider (issuer and
/// client) that must verify it.
pub(crate) fn unverified_addressee(jwt: &str) -> Option<(String, Vec<String>)> {
    let payload = jwt.split('.').nth(1)?;
    let claims: Map<String, Value> = serde_json::from_slice(&b64(payload).ok()?).ok()?;
    let iss = claims.get("iss")?.as_str()?.to_owned();
    let aud = audiences(claims.get("aud"))
        .into_iter()
        .map(str::to_owned)
        .collect();
    Some((iss, aud))
}

impl Provider {
    /// Verifies a logout token completely; on an unknown key id the key set is refetched once
    /// (rate-limited). The algorithm is pinned as for ID tokens.
    pub(crate) async fn verify_logout_token(
        &self,
        discovered: &Arc<Discovered>,
        jwt: &str,
    ) -> Result<LogoutClaims, String> {
        let compact =
            jose::parse_compact(jwt, MAX_LOGOUT_TOKEN_BYTES).map_err(|e| e.to_string())?;
        if let Some(typ) = compact.header.typ.as_deref()
            && !(jose::typ_is(Some(typ), "jwt") || jose::typ_is(Some(typ), "logout+jwt"))
        {
            return Err(format!(
                "a `typ` of `{}` is not a logout token",
                typ.chars().take(32).collect::<String>()
            ));
        }
        let (payload, discovered) = self
            .verify_signature(discovered, &compact)
            .await
            .map_err(|e| e.to_string())?;
        let claims: Map<String, Value> = serde_json::from_slice(&payload)
            .map_err(|_| "the payload is not a JSON object".to_owned())?;
        self.check_logout_claims(&discovered, claims)
    }

    fn check_logout_claims(
        &self,
        discovered: &Discovered,
        claims: Map<String, Value>,
    ) -> Result<LogoutClaims, String> {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let iss = text("iss").ok_or("no `iss`")?;
        if iss != discovered.metadata.issuer {
            return Err("`iss` is not the provider's issuer".into());
        }
        let client_id = &self.settings().client_id;
        if !audiences(claims.get("aud")).contains(&client_id.as_str()) {
            return Err("`aud` does not contain this client".into());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let leeway = self.leeway.as_secs_f64();
        let iat = claims
            .get("iat")
            .and_then(Value::as_f64)
            .ok_or("no numeric `iat`")?;
        if iat > now + leeway {
            return Err("`iat` is in the future".into());
        }
        let acceptable_until = iat + MAX_LOGOUT_TOKEN_AGE.as_secs_f64() + leeway;
        if acceptable_until < now {
            return Err("the logout token is too old".into());
        }
        // Required by Back-Channel Logout 1.0 (final), sections 2.4 and 2.6.
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or("no numeric `exp`")?;
        if now > exp + leeway {
            return Err("the logout token has expired".into());
        }
        let jti = text("jti").ok_or("no `jti`")?;
        let event_ok = claims
            .get("events")
            .and_then(Value::as_object)
            .and_then(|events| events.get(EVENT))
            .is_some_and(Value::is_object);
        if !event_ok {
            return Err("`events` lacks the back-channel logout event".into());
        }
        if claims.contains_key("nonce") {
            return Err("a logout token must not contain `nonce`".into());
        }
        let (sub, sid) = (text("sub"), text("sid"));
        if sub.is_none() && sid.is_none() {
            return Err("neither `sub` nor `sid`".into());
        }
        Ok(LogoutClaims {
            iss,
            sub,
            sid,
            jti,
            acceptable_for: Duration::try_from_secs_f64(acceptable_until - now).unwrap_or_default(),
        })
    }
}

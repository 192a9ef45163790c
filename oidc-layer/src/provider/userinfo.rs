//! The userinfo endpoint (OpenID Connect Core 5.3): fetched at login with the fresh access
//! token, accepted only when its `sub` is the ID token's, merged over the ID token's claims.

use serde_json::{Map, Value};
use url::Url;

use super::{Provider, ProviderError};

/// Claims that describe the ID token itself: the verified ID token's values always win.
const PROTOCOL_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "azp",
    "at_hash",
    "c_hash",
    "auth_time",
    "sid",
    "jti",
    "acr",
    "amr",
];

impl Provider {
    pub(super) async fn merge_userinfo(
        &self,
        endpoint: &Url,
        access_token: &str,
        claims: &mut Map<String, Value>,
    ) -> Result<(), ProviderError> {
        let (status, body) = crate::metrics::provider_call(
            &self.settings.slug,
            "userinfo",
            self.http
                .get_json_authorized(endpoint.as_str(), access_token),
        )
        .await?;
        if status.is_server_error() {
            return Err(ProviderError::Unavailable(format!(
                "userinfo answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(ProviderError::InvalidToken(format!(
                "userinfo refused the access token ({status})"
            )));
        }
        let userinfo: Map<String, Value> = serde_json::from_slice(&body).map_err(|_| {
            ProviderError::InvalidToken(
                "userinfo is not a JSON object (signed userinfo is not supported)".into(),
            )
        })?;
        merge(claims, userinfo)
    }
}

fn merge(
    claims: &mut Map<String, Value>,
    userinfo: Map<String, Value>,
) -> Result<(), ProviderError> {
    // Core 5.3.4: the sub in the userinfo response MUST be the ID token's, else it is not used.
    if userinfo.get("sub") != claims.get("sub") || !claims.get("sub").is_some_and(Value::is_string)
    {
        return Err(ProviderError::InvalidToken(
            "userinfo is about another subject".into(),
        ));
    }
    for (name, value) in userinfo {
        if !PROTOCOL_CLAIMS.contains(&name.as_str()) {
            claims.insert(name, value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn merges_profile_claims_but_never_protocol_claims() {
        let mut claims =
            obj(json!({"iss": "https://id", "sub": "u1", "aud": "app", "name": "Old"}));
        merge(&mut claims, obj(json!({"sub": "u1", "iss": "https://evil", "aud": "other", "name": "New", "groups": ["a"]}))).unwrap();
        assert_eq!(claims["iss"], "https://id");
        assert_eq!(claims["aud"], "app");
        assert_eq!(claims["name"], "New");
        assert_eq!(claims["groups"][0], "a");
    }

    #[test]
    fn other_subject_is_refused() {
        let mut claims = obj(json!({"sub": "u1"}));
        assert!(merge(&mut claims, obj(json!({"sub": "u2", "name": "x"}))).is_err());
        assert!(merge(&mut claims, obj(json!({"name": "x"}))).is_err());
        assert!(merge(&mut claims, obj(json!({"sub": 1}))).is_err());
        assert!(
            !claims.contains_key("name"),
            "nothing merged from a refused response"
        );
    }
}

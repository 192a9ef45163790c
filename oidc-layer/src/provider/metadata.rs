//! The parts of the provider's discovery document the layer uses, checked on arrival.

use serde::Deserialize;
use url::Url;

use super::ProviderError;

/// Discovery metadata after validation: endpoints are absolute URLs on an allowed scheme.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: Url,
    pub(crate) token_endpoint: Url,
    pub(crate) userinfo_endpoint: Option<Url>,
    pub(crate) jwks_uri: Url,
    #[allow(dead_code)] // read by RP-initiated logout (session lifetime work)
    pub(crate) end_session_endpoint: Option<Url>,
    pub(crate) id_token_signing_algs: Vec<String>,
    pub(crate) token_auth_methods: Vec<String>,
    pub(crate) code_challenge_methods: Option<Vec<String>>,
    /// RFC 9207: the provider sends `iss` in authorization responses, so it must be checked.
    pub(crate) iss_parameter_supported: bool,
}

#[derive(Deserialize)]
struct RawMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    end_session_endpoint: Option<String>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// Issuers compare equal when they differ only by a trailing slash (a common configuration slip).
pub(crate) fn issuers_match(configured: &str, advertised: &str) -> bool {
    configured.trim_end_matches('/') == advertised.trim_end_matches('/')
}

impl Metadata {
    /// Parses and checks a discovery document fetched for `configured_issuer`.
    pub(crate) fn parse(body: &[u8], configured_issuer: &str) -> Result<Self, ProviderError> {
        let raw: RawMetadata = serde_json::from_slice(body).map_err(|e| {
            ProviderError::BadMetadata(format!("discovery document is not valid: {e}"))
        })?;
        if !issuers_match(configured_issuer, &raw.issuer) {
            return Err(ProviderError::BadMetadata(format!(
                "the provider says its issuer is `{}` but `{configured_issuer}` is configured",
                raw.issuer
            )));
        }
        let issuer_url = Url::parse(&raw.issuer)
            .map_err(|e| ProviderError::BadMetadata(format!("issuer: {e}")))?;
        // Endpoints must not downgrade from https to http.
        let endpoint = |name: &str, value: &str| -> Result<Url, ProviderError> {
            let url = Url::parse(value)
                .map_err(|e| ProviderError::BadMetadata(format!("{name}: {e}")))?;
            let ok = match url.scheme() {
                "https" => true,
                "http" => issuer_url.scheme() == "http",
                _ => false,
            };
            if !ok {
                return Err(ProviderError::BadMetadata(format!(
                    "{name} `{value}` must use https"
                )));
            }
            Ok(url)
        };
        let token_endpoint = raw.token_endpoint.as_deref().ok_or_else(|| {
            ProviderError::BadMetadata("the provider has no token_endpoint".into())
        })?;
        Ok(Self {
            authorization_endpoint: endpoint(
                "authorization_endpoint",
                &raw.authorization_endpoint,
            )?,
            token_endpoint: endpoint("token_endpoint", token_endpoint)?,
            userinfo_endpoint: raw
                .userinfo_endpoint
                .as_deref()
                .map(|u| endpoint("userinfo_endpoint", u))
                .transpose()?,
            jwks_uri: endpoint("jwks_uri", &raw.jwks_uri)?,
            end_session_endpoint: raw
                .end_session_endpoint
                .as_deref()
                .map(|u| endpoint("end_session_endpoint", u))
                .transpose()?,
            id_token_signing_algs: raw.id_token_signing_alg_values_supported,
            token_auth_methods: raw
                .token_endpoint_auth_methods_supported
                .unwrap_or_else(|| vec!["client_secret_basic".to_owned()]),
            code_challenge_methods: raw.code_challenge_methods_supported,
            iss_parameter_supported: raw.authorization_response_iss_parameter_supported,
            issuer: raw.issuer,
        })
    }

    /// Whether the token endpoint takes the client secret in the form body rather than HTTP
    /// basic auth (only when basic is not supported and post is).
    pub(crate) fn uses_client_secret_post(&self) -> bool {
        !self
            .token_auth_methods
            .iter()
            .any(|m| m == "client_secret_basic")
            && self
                .token_auth_methods
                .iter()
                .any(|m| m == "client_secret_post")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(issuer: &str, token: &str) -> Vec<u8> {
        serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": token,
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256", "none"],
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn trailing_slash_difference_is_tolerated_and_advertised_issuer_wins() {
        let m = Metadata::parse(
            &doc(
                "https://id.example.com/realms/a",
                "https://id.example.com/t",
            ),
            "https://id.example.com/realms/a/",
        )
        .unwrap();
        assert_eq!(m.issuer, "https://id.example.com/realms/a");
        assert!(!m.uses_client_secret_post());
    }

    #[test]
    fn other_issuer_is_refused() {
        let err = Metadata::parse(
            &doc("https://evil.example.com", "https://evil.example.com/t"),
            "https://id.example.com",
        )
        .unwrap_err();
        assert!(err.to_string().contains("evil.example.com"));
    }

    #[test]
    fn http_endpoint_under_https_issuer_is_refused() {
        assert!(
            Metadata::parse(
                &doc("https://id.example.com", "http://id.example.com/t"),
                "https://id.example.com"
            )
            .is_err()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for body in [&b""[..], b"null", b"[]", b"{\"issuer\": 5}", &[0xff, 0xfe]] {
            assert!(Metadata::parse(body, "https://id.example.com").is_err());
        }
    }
}

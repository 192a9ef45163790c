//! The parts of the provider's discovery document the layer uses, checked on arrival.

use serde::Deserialize;
use url::Url;

use super::ProviderError;
use crate::issuer::issuers_match;

/// Discovery metadata after validation: endpoints are absolute URLs on an allowed scheme.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: Url,
    pub(crate) token_endpoint: Url,
    pub(crate) userinfo_endpoint: Option<Url>,
    pub(crate) jwks_uri: Url,
    /// RFC 8414 / RFC 7662: where opaque access tokens are introspected (an unusable URL is
    /// left out: only the bearer path needs it, logins must not fail for it).
    pub(crate) introspection_endpoint: Option<Url>,
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
    introspection_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// Why a discovery document is unusable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MetadataError {
    /// Not JSON, or a required field is missing or of the wrong type.
    #[error("discovery document is not valid: {0}")]
    Invalid(#[source] serde_json::Error),
    /// The document names another issuer than the configured one (beyond a trailing slash).
    #[error("the provider says its issuer is `{advertised}` but `{configured}` is configured")]
    IssuerMismatch {
        /// The issuer as configured.
        configured: String,
        /// The issuer the document names.
        advertised: String,
    },
    /// The issuer or an endpoint is not a URL.
    #[error("{field}: {source}")]
    NotAUrl {
        /// The document's field (`issuer`, `token_endpoint`, ...).
        field: &'static str,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// An endpoint is not https (http is allowed only under an http issuer).
    #[error("{field} `{value}` must use https")]
    Insecure {
        /// The document's field.
        field: &'static str,
        /// The endpoint as advertised.
        value: String,
    },
    /// The document has no `token_endpoint` (optional in the specification, required here).
    #[error("the provider has no token_endpoint")]
    NoTokenEndpoint,
}

impl From<MetadataError> for ProviderError {
    fn from(e: MetadataError) -> Self {
        Self::BadMetadata(e.to_string())
    }
}

impl Metadata {
    /// Parses and checks a discovery document fetched for `configured_issuer`.
    pub(crate) fn parse(body: &[u8], configured_issuer: &str) -> Result<Self, MetadataError> {
        let raw: RawMetadata = serde_json::from_slice(body).map_err(MetadataError::Invalid)?;
        if !issuers_match(configured_issuer, &raw.issuer) {
            return Err(MetadataError::IssuerMismatch {
                configured: configured_issuer.to_owned(),
                advertised: raw.issuer,
            });
        }
        let issuer_url = Url::parse(&raw.issuer).map_err(|source| MetadataError::NotAUrl {
            field: "issuer",
            source,
        })?;
        // Endpoints must not downgrade from https to http.
        let endpoint = |field: &'static str, value: &str| -> Result<Url, MetadataError> {
            let url =
                Url::parse(value).map_err(|source| MetadataError::NotAUrl { field, source })?;
            let ok = match url.scheme() {
                "https" => true,
                "http" => issuer_url.scheme() == "http",
                _ => false,
            };
            if !ok {
                return Err(MetadataError::Insecure {
                    field,
                    value: value.to_owned(),
                });
            }
            Ok(url)
        };
        let token_endpoint = raw
            .token_endpoint
            .as_deref()
            .ok_or(MetadataError::NoTokenEndpoint)?;
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
            introspection_endpoint: raw
                .introspection_endpoint
                .as_deref()
                .and_then(|u| endpoint("introspection_endpoint", u).ok()),
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
        assert!(
            matches!(
                &err,
                MetadataError::IssuerMismatch { configured, advertised }
                    if configured == "https://id.example.com" && advertised == "https://evil.example.com"
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the provider says its issuer is `https://evil.example.com` but `https://id.example.com` is configured"
        );
    }

    #[test]
    fn http_endpoint_under_https_issuer_is_refused() {
        let err = Metadata::parse(
            &doc("https://id.example.com", "http://id.example.com/t"),
            "https://id.example.com",
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                MetadataError::Insecure {
                    field: "token_endpoint",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "token_endpoint `http://id.example.com/t` must use https"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for body in [&b""[..], b"null", b"[]", b"{\"issuer\": 5}", &[0xff, 0xfe]] {
            assert!(Metadata::parse(body, "https://id.example.com").is_err());
        }
    }
}

//! Code exchange at the token endpoint and complete ID-token validation (OpenID Connect Core
//! 3.1.3.5 and 3.1.3.7): signature with the algorithm pinned, `iss`, `aud`, `azp`, `exp` and
//! `iat` with a small leeway, `nonce`, `at_hash`, and size limits.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use openidconnect::core::{CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm};
use openidconnect::{
    AccessTokenHash, AuthType, AuthUrl, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, SignatureVerificationError, TokenResponse, TokenUrl,
};
use serde_json::{Map, Value};

use super::{Discovered, Provider, ProviderError};
use crate::http_client::HttpError;

/// ID tokens longer than this are refused (real ones are a few KB, even with many groups).
pub(crate) const MAX_ID_TOKEN_BYTES: usize = 64 * 1024;

/// What a successful code exchange yields, after every check passed. `Debug` shows no token.
pub(crate) struct VerifiedTokens {
    /// The ID token as received (kept for `id_token_hint` at logout).
    pub(crate) id_token: String,
    /// All claims of the verified ID token.
    pub(crate) claims: Map<String, Value>,
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_in: Option<Duration>,
}

/// What a successful refresh yields, after every check passed. `Debug` shows no token.
pub(crate) struct RefreshedTokens {
    pub(crate) access_token: String,
    /// The new refresh token when the provider rotates them, else `None` (keep the old one).
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_in: Option<Duration>,
    /// The new ID token and its claims, when the provider sent one (validated, same `iss`
    /// and `sub` as at login).
    pub(crate) id_token: Option<(String, Map<String, Value>)>,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("refresh_token", &self.refresh_token.is_some())
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RefreshedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshedTokens")
            .field("refresh_token", &self.refresh_token.is_some())
            .field("expires_in", &self.expires_in)
            .field("id_token", &self.id_token.is_some())
            .finish_non_exhaustive()
    }
}

/// A token-endpoint client with the provider's endpoints and client authentication set.
type TokenClient = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
>;

fn token_error(
    e: RequestTokenError<
        HttpError,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> ProviderError {
    match e {
        RequestTokenError::ServerResponse(r) => ProviderError::Rejected {
            error: r.error().to_string(),
        },
        // An oversized answer is refused like any ID token that fails verification.
        RequestTokenError::Request(HttpError::TooLarge) => {
            ProviderError::InvalidToken(HttpError::TooLarge.to_string())
        }
        RequestTokenError::Request(e) => ProviderError::Unavailable(e.to_string()),
        RequestTokenError::Parse(e, _) => {
            ProviderError::BadResponse(format!("not JSON of the expected shape: {e}"))
        }
        RequestTokenError::Other(e) => ProviderError::Unavailable(e),
    }
}

impl Provider {
    fn token_client(&self, discovered: &Discovered) -> Result<TokenClient, ProviderError> {
        let config = self.settings();
        let issuer = IssuerUrl::new(discovered.metadata.issuer.clone())
            .map_err(|e| ProviderError::BadMetadata(format!("issuer: {e}")))?;
        let auth_type = if discovered.metadata.uses_client_secret_post() {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        };
        let mut client = CoreClient::new(
            ClientId::new(config.client_id.clone()),
            issuer,
            discovered.jwks.clone(),
        )
        .set_auth_uri(AuthUrl::from_url(
            discovered.metadata.authorization_endpoint.clone(),
        ))
        .set_token_uri(TokenUrl::from_url(
            discovered.metadata.token_endpoint.clone(),
        ))
        .set_auth_type(auth_type);
        if let Some(secret) = &config.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        Ok(client)
    }

    /// Exchanges an authorization code (with its PKCE verifier) and validates the ID token
    /// against the nonce of the login attempt.
    pub(crate) async fn exchange_code(
        &self,
        discovered: &Arc<Discovered>,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
        redirect_uri: &str,
    ) -> Result<VerifiedTokens, ProviderError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| ProviderError::BadMetadata(format!("redirect URI: {e}")))?;
        let client = self.token_client(discovered)?.set_redirect_uri(redirect);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;

        let id_token = response.id_token().ok_or_else(|| {
            ProviderError::InvalidToken("the token response has no id_token".into())
        })?;
        let access_token = response.access_token();
        let nonce = Nonce::new(nonce.to_owned());
        let (raw, mut claims) = self
            .verify_id_token(discovered, id_token, &nonce, access_token)
            .await?;
        if self.settings().fetch_userinfo
            && let Some(endpoint) = &discovered.metadata.userinfo_endpoint
        {
            self.merge_userinfo(endpoint, access_token.secret(), &mut claims)
                .await?;
        }
        Ok(VerifiedTokens {
            id_token: raw,
            claims,
            access_token: access_token.secret().clone(),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
            expires_in: response.expires_in(),
        })
    }

    /// Redeems a refresh token (OpenID Connect Core 12). A new ID token, when sent, is
    /// validated like the first one and must keep the login's `iss` and `sub` (12.2).
    pub(crate) async fn refresh(
        &self,
        discovered: &Arc<Discovered>,
        refresh_token: &str,
        iss: &str,
        sub: &str,
    ) -> Result<RefreshedTokens, ProviderError> {
        let response = self
            .token_client(discovered)?
            .exchange_refresh_token(&openidconnect::RefreshToken::new(refresh_token.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let access_token = response.access_token();
        let id_token = match response.id_token() {
            None => None,
            Some(token) => {
                // A refreshed ID token has no nonce to check (or repeats the login's, which
                // was checked then).
                let any_nonce = |_: Option<&Nonce>| Ok(());
                let (raw, mut claims) = self
                    .verify_id_token(discovered, token, any_nonce, access_token)
                    .await?;
                let same = |name: &str, expected: &str| {
                    claims.get(name).and_then(Value::as_str) == Some(expected)
                };
                if !same("iss", iss) || !same("sub", sub) {
                    return Err(ProviderError::InvalidToken(
                        "the refreshed ID token names another issuer or subject".into(),
                    ));
                }
                // Claims that came from userinfo at login (groups, often) must not vanish.
                if self.settings().fetch_userinfo
                    && let Some(endpoint) = &discovered.metadata.userinfo_endpoint
                {
                    self.merge_userinfo(endpoint, access_token.secret(), &mut claims)
                        .await?;
                }
                Some((raw, claims))
            }
        };
        Ok(RefreshedTokens {
            access_token: access_token.secret().clone(),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
            expires_in: response.expires_in(),
            id_token,
        })
    }

    /// Validates an ID token completely (refetching the JWKS once, rate-limited, when it names
    /// an unknown key) and returns it with its claims.
    pub(crate) async fn verify_id_token<N: openidconnect::NonceVerifier + Clone>(
        &self,
        discovered: &Arc<Discovered>,
        id_token: &CoreIdToken,
        nonce: N,
        access_token: &openidconnect::AccessToken,
    ) -> Result<(String, Map<String, Value>), ProviderError> {
        let raw = id_token.to_string();
        if raw.len() > MAX_ID_TOKEN_BYTES {
            return Err(ProviderError::InvalidToken(format!(
                "ID token is larger than {MAX_ID_TOKEN_BYTES} bytes"
            )));
        }
        let client_id = &self.settings().client_id;
        let mut discovered = discovered.clone();
        let mut refetched = false;
        loop {
            let verifier = self.verifier(&discovered)?;
            match verify(id_token, &verifier, nonce.clone(), access_token, client_id) {
                Err(ProviderError::InvalidToken(reason))
                    if reason == NO_MATCHING_KEY && !refetched =>
                {
                    refetched = true;
                    match self.refetch_jwks(&discovered).await {
                        Some(newer) => discovered = newer,
                        None => return Err(ProviderError::InvalidToken(NO_MATCHING_KEY.into())),
                    }
                }
                Err(e) => return Err(e),
                Ok(()) => break,
            }
        }
        let claims = decode_payload(&raw)?;
        Ok((raw, claims))
    }

    fn verifier(
        &self,
        discovered: &Discovered,
    ) -> Result<CoreIdTokenVerifier<'static>, ProviderError> {
        let config = self.settings();
        let leeway = chrono::Duration::from_std(self.leeway)
            .unwrap_or_else(|_| chrono::Duration::seconds(30));
        let issuer = IssuerUrl::new(discovered.metadata.issuer.clone())
            .map_err(|e| ProviderError::BadMetadata(format!("issuer: {e}")))?;
        let algs = allowed_algs(
            config.id_token_signing_algs.as_deref(),
            &discovered.metadata.id_token_signing_algs,
        );
        Ok(CoreIdTokenVerifier::new_public_client(
            ClientId::new(config.client_id.clone()),
            issuer,
            discovered.jwks.clone(),
        )
        .set_allowed_algs(algs)
        // `exp` with leeway: the token counts as valid until exp + leeway.
        .set_time_fn(move || chrono::Utc::now() - leeway)
        .set_issue_time_verifier_fn(move |iat| {
            if iat > chrono::Utc::now() + leeway {
                Err(format!("issued in the future ({iat})"))
            } else {
                Ok(())
            }
        }))
    }
}

const NO_MATCHING_KEY: &str = "no key in the provider's JWKS matches the token";

fn verify<N: openidconnect::NonceVerifier>(
    id_token: &CoreIdToken,
    verifier: &CoreIdTokenVerifier<'_>,
    nonce: N,
    access_token: &openidconnect::AccessToken,
    client_id: &str,
) -> Result<(), ProviderError> {
    let claims = id_token.claims(verifier, nonce).map_err(|e| match e {
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        ) => ProviderError::InvalidToken(NO_MATCHING_KEY.into()),
        other => ProviderError::InvalidToken(other.to_string()),
    })?;
    // OpenID Connect Core 3.1.3.7 steps 4-5, which openidconnect leaves to the client.
    if let Some(azp) = claims.authorized_party() {
        if azp.as_str() != client_id {
            return Err(ProviderError::InvalidToken(format!(
                "azp `{}` is not this client",
                azp.as_str()
            )));
        }
    } else if claims.audiences().len() > 1 {
        return Err(ProviderError::InvalidToken(
            "several audiences but no azp".into(),
        ));
    }
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(|e| ProviderError::InvalidToken(e.to_string()))?;
        let key = id_token
            .signing_key(verifier)
            .map_err(|e| ProviderError::InvalidToken(e.to_string()))?;
        let actual = AccessTokenHash::from_token(access_token, alg, key)
            .map_err(|e| ProviderError::InvalidToken(format!("at_hash: {e}")))?;
        if actual != *expected {
            return Err(ProviderError::InvalidToken(
                "at_hash does not match the access token".into(),
            ));
        }
    }
    Ok(())
}

/// The algorithms an ID token may be signed with: the configured ones, else the provider's
/// advertised ones, never `none` nor an HMAC algorithm (which would turn a public key or the
/// client secret into a forgery key); RS256 (the OIDC default) when nothing else remains.
pub(crate) fn allowed_algs(
    configured: Option<&[String]>,
    advertised: &[String],
) -> Vec<CoreJwsSigningAlgorithm> {
    let candidates = configured.unwrap_or(advertised);
    let mut algs: Vec<CoreJwsSigningAlgorithm> = candidates
        .iter()
        .filter(|a| !a.eq_ignore_ascii_case("none") && !a.to_ascii_uppercase().starts_with("HS"))
        .filter_map(|a| serde_json::from_value(Value::String(a.clone())).ok())
        .filter(|a| !matches!(a, CoreJwsSigningAlgorithm::None))
        .collect();
    if algs.is_empty() {
        algs.push(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    }
    algs
}

/// The claims of an already verified JWT, as JSON (custom claims included).
fn decode_payload(jwt: &str) -> Result<Map<String, Value>, ProviderError> {
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| ProviderError::InvalidToken("not a JWS".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| ProviderError::InvalidToken("payload is not base64url".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| ProviderError::InvalidToken("payload is not a JSON object".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_token() {
        let verified = VerifiedTokens {
            id_token: "eyJ.id-token-secret".into(),
            claims: Map::new(),
            access_token: "access-token-secret".into(),
            refresh_token: Some("refresh-token-secret".into()),
            expires_in: None,
        };
        let refreshed = RefreshedTokens {
            access_token: "access-token-secret".into(),
            refresh_token: Some("refresh-token-secret".into()),
            expires_in: None,
            id_token: Some(("eyJ.id-token-secret".into(), Map::new())),
        };
        for printed in [format!("{verified:?}"), format!("{refreshed:?}")] {
            assert!(!printed.contains("secret"), "{printed}");
        }
    }

    #[test]
    fn none_and_hmac_are_never_allowed() {
        let advertised = ["none", "HS256", "RS256", "ES256", "bogus"].map(String::from);
        let algs = allowed_algs(None, &advertised);
        assert_eq!(
            algs,
            vec![
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256
            ]
        );
        let only_bad = ["none", "HS512"].map(String::from);
        assert_eq!(
            allowed_algs(None, &only_bad),
            vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
        );
        let configured = ["PS256".to_owned()];
        assert_eq!(
            allowed_algs(Some(&configured), &advertised),
            vec![CoreJwsSigningAlgorithm::RsaSsaPssSha256]
        );
    }

    #[test]
    fn decode_payload_handles_garbage() {
        assert!(decode_payload("a").is_err());
        assert!(decode_payload("a.!!!.c").is_err());
        assert!(decode_payload("a.bnVsbA.c").is_err()); // "null"
        assert_eq!(decode_payload("a.eyJhIjoxfQ.c").unwrap()["a"], 1);
    }
}

//! Code exchange at the token endpoint and complete ID-token validation (OpenID Connect Core
//! 3.1.3.5 and 3.1.3.7): `token_type`, signature with the algorithm pinned (each key that fits
//! when the token names none), `iss`, `aud` (extra audiences only when trusted) and `azp`,
//! `exp`, `nbf` and `iat` (not in the future, not older than the provider's maximum) with a
//! small leeway, `nonce`, `at_hash`, `c_hash`, and size limits; all before the access token is
//! used. A refreshed ID token must keep the login's `iss`, `sub`, `aud` and `auth_time`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreTokenResponse,
};
use openidconnect::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeVerifier, RedirectUrl, RequestTokenError, TokenResponse, TokenUrl,
};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::jws::audiences;
use super::{Discovered, Provider, ProviderError};
use crate::http_client::HttpError;
use crate::identity::Identity;
use crate::jose::{self, Alg, JoseError};

/// ID tokens longer than this are refused (real ones are a few KB, even with many groups).
pub(crate) const MAX_ID_TOKEN_BYTES: usize = 64 * 1024;

/// Access-token lifetimes beyond this are taken as this: `expires_in` is any JSON integer up to
/// `u64::MAX`, and a deadline is computed from it.
pub(crate) const MAX_EXPIRES_IN: Duration = Duration::from_secs(366 * 24 * 3600);

/// What a successful code exchange yields, after every check passed. `Debug` shows no token.
pub(crate) struct VerifiedTokens {
    /// The ID token as received (kept for `id_token_hint` at logout).
    pub(crate) id_token: String,
    /// All claims of the verified ID token.
    pub(crate) claims: Map<String, Value>,
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    /// At most [`MAX_EXPIRES_IN`].
    pub(crate) expires_in: Option<Duration>,
}

/// What a successful refresh yields, after every check passed. `Debug` shows no token.
pub(crate) struct RefreshedTokens {
    pub(crate) access_token: String,
    /// The new refresh token when the provider rotates them, else `None` (keep the old one).
    pub(crate) refresh_token: Option<String>,
    /// At most [`MAX_EXPIRES_IN`].
    pub(crate) expires_in: Option<Duration>,
    /// The new ID token and its claims, when the provider sent one (validated, same `iss`,
    /// `sub`, `aud` and `auth_time` as at login).
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
    /// against the nonce of the login attempt and the code, before userinfo is asked.
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
        let code = AuthorizationCode::new(code.to_owned());
        let response = client
            .exchange_code(code.clone())
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http);
        let response = crate::metrics::provider_call(&self.settings.slug, "token", response)
            .await
            .map_err(token_error)?;
        check_token_type(&response)?;
        let id_token = response.id_token().ok_or_else(|| {
            ProviderError::InvalidToken("the token response has no id_token".into())
        })?;
        let access_token = response.access_token();
        let nonce = Nonce::new(nonce.to_owned());
        let (raw, mut claims) = self
            .verify_id_token(discovered, id_token, &nonce, access_token, Some(&code))
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
            expires_in: expires_in(&response),
        })
    }

    /// Redeems a refresh token (OpenID Connect Core 12). A new ID token, when sent, is
    /// validated like the first one and must keep the `iss`, `sub`, `aud` and `auth_time` of
    /// `login` (12.2), all before userinfo is asked.
    pub(crate) async fn refresh(
        &self,
        discovered: &Arc<Discovered>,
        refresh_token: &str,
        login: &Identity,
    ) -> Result<RefreshedTokens, ProviderError> {
        let client = self.token_client(discovered)?;
        let refresh_token = openidconnect::RefreshToken::new(refresh_token.to_owned());
        let response = client
            .exchange_refresh_token(&refresh_token)
            .request_async(&self.http);
        let response = crate::metrics::provider_call(&self.settings.slug, "token", response)
            .await
            .map_err(token_error)?;
        check_token_type(&response)?;
        let access_token = response.access_token();
        let id_token = match response.id_token() {
            None => None,
            Some(token) => {
                // A refreshed ID token has no nonce to check (or repeats the login's, which
                // was checked then).
                let any_nonce = |_: Option<&Nonce>| Ok(());
                let (raw, mut claims) = self
                    .verify_id_token(discovered, token, any_nonce, access_token, None)
                    .await?;
                same_authentication(&claims, login)?;
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
            expires_in: expires_in(&response),
            id_token,
        })
    }

    /// Validates an ID token completely (refetching the JWKS once, rate-limited, when it names
    /// an unknown key) and returns it with its claims. `code` is the authorization code it was
    /// issued for (its `c_hash` is checked when present).
    ///
    /// The signature is checked first, by [`jose`] (ring) with the provider's parsed keys and
    /// the pinned algorithms; only then are the claims looked at: openidconnect's verifier with
    /// its own signature check off (`typ`/`cty`/`crit`, `iss`, `aud`, `exp`, `iat`, `nonce`),
    /// then `azp`, `at_hash`, `c_hash` and `nbf` here.
    pub(crate) async fn verify_id_token<N: openidconnect::NonceVerifier>(
        &self,
        discovered: &Arc<Discovered>,
        id_token: &CoreIdToken,
        nonce: N,
        access_token: &openidconnect::AccessToken,
        code: Option<&AuthorizationCode>,
    ) -> Result<(String, Map<String, Value>), ProviderError> {
        let raw = id_token.to_string();
        if raw.len() > MAX_ID_TOKEN_BYTES {
            return Err(ProviderError::InvalidToken(format!(
                "ID token is larger than {MAX_ID_TOKEN_BYTES} bytes"
            )));
        }
        let compact = jose::parse_compact(&raw, MAX_ID_TOKEN_BYTES).map_err(Refusal::from)?;
        let (payload, discovered) = self
            .verify_signature(discovered, &compact)
            .await
            .map_err(Refusal::from)?;
        // verify_with checked the header's alg against `allowed`, so this cannot fail.
        let alg = compact.alg().map_err(Refusal::from)?;
        let expected = Expected {
            client_id: &self.settings().client_id,
            access_token,
            code,
        };
        let verifier = self.claims_verifier(&discovered)?;
        check_claims(id_token, &verifier, nonce, alg, &expected)?;
        let claims: Map<String, Value> = serde_json::from_slice(&payload)
            .map_err(|_| ProviderError::InvalidToken("payload is not a JSON object".into()))?;
        self.check_not_before(&claims)?;
        Ok((raw, claims))
    }

    /// openidconnect's ID-token verifier for the claims only: the signature has been checked
    /// by [`jose`] before, with the pinned algorithms, so its own signature check is off.
    fn claims_verifier(
        &self,
        discovered: &Discovered,
    ) -> Result<CoreIdTokenVerifier<'static>, Refusal> {
        let config = self.settings();
        let leeway = chrono::Duration::from_std(self.leeway)
            .unwrap_or_else(|_| chrono::Duration::seconds(30));
        let max_age = chrono::Duration::from_std(config.id_token_max_age)
            .unwrap_or_else(|_| chrono::Duration::minutes(10));
        let issuer = IssuerUrl::new(discovered.metadata.issuer.clone())
            .map_err(|e| Refusal::Metadata(format!("issuer: {e}")))?;
        let trusted = config.trusted_audiences.clone();
        Ok(CoreIdTokenVerifier::new_public_client(
            ClientId::new(config.client_id.clone()),
            issuer,
            CoreJsonWebKeySet::new(Vec::new()),
        )
        // Verified by `jose` already: it returns before any claim is looked at otherwise.
        .insecure_disable_signature_check()
        // Core 3.1.3.7 item 3: other audiences only when the client trusts them.
        .set_other_audience_verifier_fn(move |aud| trusted.iter().any(|t| t == aud.as_str()))
        // `exp` with leeway: the token counts as valid until exp + leeway.
        .set_time_fn(move || chrono::Utc::now() - leeway)
        .set_issue_time_verifier_fn(move |iat| {
            let now = chrono::Utc::now();
            if iat > now + leeway {
                Err(format!("issued in the future ({iat})"))
            } else if iat + max_age + leeway < now {
                Err(format!("issued too long ago ({iat})"))
            } else {
                Ok(())
            }
        }))
    }

    /// `nbf`, when present, with the leeway (openidconnect leaves it alone).
    fn check_not_before(&self, claims: &Map<String, Value>) -> Result<(), ProviderError> {
        let Some(nbf) = claims.get("nbf") else {
            return Ok(());
        };
        let nbf = nbf
            .as_f64()
            .ok_or_else(|| ProviderError::InvalidToken("`nbf` is not a number".into()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        if nbf > now + self.leeway.as_secs_f64() {
            return Err(ProviderError::InvalidToken(
                "the ID token is not valid yet (nbf)".into(),
            ));
        }
        Ok(())
    }
}

/// What an ID token is checked against besides the verifier's settings.
struct Expected<'a> {
    client_id: &'a str,
    access_token: &'a openidconnect::AccessToken,
    code: Option<&'a AuthorizationCode>,
}

/// Why an ID token was refused, as far as the retry logic must tell apart.
#[derive(Debug)]
enum Refusal {
    /// No key of the set fits the token's `kid` and algorithm (the keys may have rotated).
    NoKey,
    /// Anything else: the token is invalid.
    Invalid(String),
    /// The provider's metadata cannot make a verifier.
    Metadata(String),
}

impl From<JoseError> for Refusal {
    fn from(e: JoseError) -> Self {
        match e {
            JoseError::NoKey => Refusal::NoKey,
            JoseError::BadSignature => {
                Refusal::Invalid("no key of the provider verifies the token's signature".into())
            }
            other => Refusal::Invalid(other.to_string()),
        }
    }
}

impl From<Refusal> for ProviderError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NoKey => ProviderError::InvalidToken(
                "no key in the provider's JWKS matches the token".into(),
            ),
            Refusal::Invalid(why) => ProviderError::InvalidToken(why),
            Refusal::Metadata(why) => ProviderError::BadMetadata(why),
        }
    }
}

/// The claims checks of a token whose signature verified: openidconnect's (`typ`, `cty`,
/// `crit`, `iss`, `aud` with trusted extra audiences, `exp`, `iat`, `nonce`), then Core
/// 3.1.3.7 items 4-5 (`azp`), `at_hash` and `c_hash`.
fn check_claims<N: openidconnect::NonceVerifier>(
    id_token: &CoreIdToken,
    verifier: &CoreIdTokenVerifier<'_>,
    nonce: N,
    alg: Alg,
    expected: &Expected<'_>,
) -> Result<(), Refusal> {
    let claims = id_token
        .claims(verifier, nonce)
        .map_err(|e| Refusal::Invalid(e.to_string()))?;
    // Core 3.1.3.7 items 4-5, which openidconnect leaves to the client: with several
    // audiences `azp` must be there, and whenever it is there it must be this client.
    if let Some(azp) = claims.authorized_party() {
        if azp.as_str() != expected.client_id {
            return Err(Refusal::Invalid(format!(
                "azp `{}` is not this client",
                azp.as_str()
            )));
        }
    } else if claims.audiences().len() > 1 {
        return Err(Refusal::Invalid("several audiences but no azp".into()));
    }
    if let Some(claimed) = claims.access_token_hash()
        && !hash_matches(alg, expected.access_token.secret(), claimed.as_str())
    {
        return Err(Refusal::Invalid(
            "at_hash does not match the access token".into(),
        ));
    }
    // c_hash (Core 3.3.2.11) binds the token to the code it was issued for; a refreshed ID
    // token has no code to compare with.
    if let (Some(claimed), Some(code)) = (claims.code_hash(), expected.code)
        && !hash_matches(alg, code.secret(), claimed.as_str())
    {
        return Err(Refusal::Invalid(
            "c_hash does not match the authorization code".into(),
        ));
    }
    Ok(())
}

/// Whether `claimed` is the `at_hash`/`c_hash` of `value` (Core 3.1.3.6: base64url of the left
/// half of the algorithm's hash), compared in constant time.
fn hash_matches(alg: Alg, value: &str, claimed: &str) -> bool {
    let actual = URL_SAFE_NO_PAD.encode(alg.left_half_hash(value.as_bytes()));
    bool::from(actual.as_bytes().ct_eq(claimed.as_bytes()))
}

/// RFC 6749 7.1 / RFC 6750: the layer uses bearer tokens only (the type is case-insensitive).
fn check_token_type(response: &CoreTokenResponse) -> Result<(), ProviderError> {
    if response
        .token_type()
        .as_ref()
        .eq_ignore_ascii_case("bearer")
    {
        Ok(())
    } else {
        Err(ProviderError::InvalidToken(format!(
            "token_type `{:.32}` is not Bearer",
            response.token_type().as_ref()
        )))
    }
}

/// `expires_in`, at most [`MAX_EXPIRES_IN`].
fn expires_in(response: &CoreTokenResponse) -> Option<Duration> {
    response.expires_in().map(|d| d.min(MAX_EXPIRES_IN))
}

/// Core 12.2: a refreshed ID token is about the same authentication as the login's: same
/// `iss`, `sub` and `aud`, and the same `auth_time` when the login had one.
fn same_authentication(claims: &Map<String, Value>, login: &Identity) -> Result<(), ProviderError> {
    let differs = |name: &str| claims.get(name) != login.claim(name).as_ref();
    let changed = if differs("iss") || differs("sub") {
        Some("issuer or subject")
    } else if audiences(claims.get("aud")) != audiences(login.claim("aud").as_ref()) {
        Some("audience")
    } else if login.claim("auth_time").is_some() && differs("auth_time") {
        Some("auth_time")
    } else {
        None
    };
    match changed {
        Some(what) => Err(ProviderError::InvalidToken(format!(
            "the refreshed ID token names another {what} than the login's"
        ))),
        None => Ok(()),
    }
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
    fn at_hash_and_c_hash_follow_core_appendix_a() {
        // OpenID Connect Core 1.0, A.3 (at_hash) and A.4 (c_hash), both RS256.
        let access_token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert!(hash_matches(
            Alg::Rs256,
            access_token,
            "77QmUPtjPfzWtF2AnpK9RQ"
        ));
        let code = "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk";
        assert!(hash_matches(Alg::Rs256, code, "LDktKdoQak3Pk0cnXxCltA"));
        // Another value, another algorithm's hash, a prefix or padding: no match.
        assert!(!hash_matches(Alg::Rs256, code, "77QmUPtjPfzWtF2AnpK9RQ"));
        assert!(!hash_matches(
            Alg::Rs384,
            access_token,
            "77QmUPtjPfzWtF2AnpK9RQ"
        ));
        assert!(!hash_matches(
            Alg::Rs256,
            access_token,
            "77QmUPtjPfzWtF2AnpK9"
        ));
        assert!(!hash_matches(
            Alg::Rs256,
            access_token,
            "77QmUPtjPfzWtF2AnpK9RQ=="
        ));
        assert!(!hash_matches(Alg::Rs256, access_token, ""));
    }
}

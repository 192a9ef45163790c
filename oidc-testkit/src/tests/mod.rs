//! Tests of the test provider over real HTTP, verifying its tokens with openidconnect.
#![allow(clippy::unwrap_used)]

mod api;
mod authorize;
mod endpoints;
mod lifecycle;
mod tamper;
mod token;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, ClientId, ClientSecret, IdToken, IdTokenClaims,
    IssuerUrl, Nonce,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use url::Url;

use super::TestProvider;

/// The default registered redirect URI.
const REDIRECT: &str = "http://127.0.0.1:3000/auth/oidc";

/// Custom claims (`groups`, `is_admin`...) as openidconnect additional claims.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct ExtraClaims {
    #[serde(flatten)]
    claims: Map<String, Value>,
}
impl AdditionalClaims for ExtraClaims {}

type TestIdToken = IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TestIdTokenClaims = IdTokenClaims<ExtraClaims, CoreGenderClaim>;

/// An HTTP client that does not follow redirects.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A PKCE verifier and its S256 challenge.
struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce() -> Pkce {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

/// What the relying party remembers during one sign-in, and what came back.
struct SignIn {
    pkce: Pkce,
    nonce: String,
    state: String,
    /// The `Location` of the authorization response.
    location: Url,
}

impl SignIn {
    fn param(&self, name: &str) -> Option<String> {
        query_param(&self.location, name)
    }

    fn code(&self) -> String {
        self.param("code")
            .expect("authorization response has a code")
    }
}

fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// Standard authorization request parameters.
fn authorize_params(pkce: &Pkce, nonce: &str, state: &str, scope: &str) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", "test-client"),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", state),
        ("nonce", nonce),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect()
}

/// `GET /authorize?params`.
async fn get_authorize(provider: &TestProvider, params: &[(String, String)]) -> reqwest::Response {
    http()
        .get(format!("{}/authorize", provider.issuer()))
        .query(params)
        .send()
        .await
        .unwrap()
}

/// Like a browser: loads the sign-in page and presses `button` (`("user", "alice")` or
/// `("cancel", "1")`) with the page's hidden inputs.
async fn press(
    provider: &TestProvider,
    params: &[(String, String)],
    button: (&str, &str),
) -> reqwest::Response {
    let page = get_authorize(provider, params).await;
    assert_eq!(page.status(), 200);
    let mut form = hidden_inputs(&page.text().await.unwrap());
    form.push((button.0.to_owned(), button.1.to_owned()));
    http()
        .post(format!("{}/authorize", provider.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap()
}

fn location(response: &reqwest::Response) -> Url {
    let location = response.headers()["location"].to_str().unwrap();
    Url::parse(location).unwrap()
}

/// Signs `user` in through the sign-in page with `scope`.
async fn sign_in_with_scope(provider: &TestProvider, user: &str, scope: &str) -> SignIn {
    let pkce = pkce();
    let nonce = format!("n-{}", &pkce.verifier[..10]);
    let state = "st&te =/é+%".to_owned();
    let params = authorize_params(&pkce, &nonce, &state, scope);
    let response = press(provider, &params, ("user", user)).await;
    assert_eq!(response.status(), 302);
    SignIn {
        location: location(&response),
        pkce,
        nonce,
        state,
    }
}

async fn sign_in(provider: &TestProvider, user: &str) -> SignIn {
    sign_in_with_scope(provider, user, "openid profile email groups").await
}

/// `POST /token` with `client_secret_basic`.
async fn token_request(provider: &TestProvider, form: &[(&str, &str)]) -> reqwest::Response {
    http()
        .post(format!("{}/token", provider.issuer()))
        .basic_auth(provider.client_id(), Some(provider.client_secret()))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Exchanges the sign-in's code.
async fn redeem(provider: &TestProvider, sign_in: &SignIn) -> reqwest::Response {
    let code = sign_in.code();
    token_request(
        provider,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &sign_in.pkce.verifier),
        ],
    )
    .await
}

/// Asserts an RFC 6749 error response.
async fn assert_oauth_error(response: reqwest::Response, status: u16, error: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
}

/// The `<input type="hidden">` name/value pairs of a page, unescaped.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut inputs = Vec::new();
    for tag in html.split("<input type=\"hidden\" ").skip(1) {
        let name = attribute(tag, "name").unwrap();
        let value = attribute(tag, "value").unwrap();
        inputs.push((name, value));
    }
    inputs
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The JWT's header and payload, unverified.
fn decode_jwt(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut segment = || -> Value {
        let bytes = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let header = segment();
    let payload = segment();
    (header, payload)
}

async fn fetch_jwks(provider: &TestProvider) -> CoreJsonWebKeySet {
    let body = reqwest::get(format!("{}/jwks", provider.issuer()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

/// Verifies an ID token like a relying party: signature (RS256 only) against the provider's
/// JWKS, issuer, audience, expiry, nonce (`None`: must be absent), and `at_hash` when an
/// access token is given.
async fn verify_id_token(
    provider: &TestProvider,
    id_token: &str,
    nonce: Option<&str>,
    access_token: Option<&str>,
) -> Result<TestIdTokenClaims, String> {
    let verifier = CoreIdTokenVerifier::new_confidential_client(
        ClientId::new(provider.client_id().to_owned()),
        ClientSecret::new(provider.client_secret().to_owned()),
        IssuerUrl::new(provider.issuer().to_owned()).unwrap(),
        fetch_jwks(provider).await,
    );
    let token: TestIdToken = id_token.parse().map_err(|e| format!("parse: {e}"))?;
    let expected = nonce.map(|n| Nonce::new(n.to_owned()));
    let claims = token
        .claims(&verifier, |got: Option<&Nonce>| match (&expected, got) {
            (Some(want), Some(got)) if want.secret() == got.secret() => Ok(()),
            (None, None) => Ok(()),
            _ => Err("nonce mismatch".to_owned()),
        })
        .map_err(|e| format!("claims: {e:?}"))?
        .clone();
    if let Some(access_token) = access_token {
        let alg = token.signing_alg().map_err(|e| e.to_string())?;
        let key = token.signing_key(&verifier).map_err(|e| e.to_string())?;
        let expected =
            AccessTokenHash::from_token(&AccessToken::new(access_token.to_owned()), alg, key)
                .map_err(|e| e.to_string())?;
        if claims.access_token_hash() != Some(&expected) {
            return Err("at_hash mismatch".to_owned());
        }
    }
    Ok(claims)
}

/// Fields of a successful token response.
struct Tokens {
    access_token: String,
    refresh_token: String,
    id_token: String,
    body: Value,
}

async fn tokens(response: reqwest::Response) -> Tokens {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let field = |name: &str| body[name].as_str().unwrap().to_owned();
    Tokens {
        access_token: field("access_token"),
        refresh_token: field("refresh_token"),
        id_token: field("id_token"),
        body: body.clone(),
    }
}

async fn userinfo(provider: &TestProvider, access_token: &str) -> reqwest::Response {
    http()
        .get(format!("{}/userinfo", provider.issuer()))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

async fn refresh(provider: &TestProvider, refresh_token: &str) -> reqwest::Response {
    token_request(
        provider,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

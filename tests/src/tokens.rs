//! Access tokens from the test provider, as API clients get them: a program with the client
//! credentials grant, a person through an authorization-code login with a `resource`
//! indicator (RFC 8707), either one DPoP-bound (RFC 9449) when a [`DpopKey`] is given; plus
//! the provider's introspection (RFC 7662) and revocation (RFC 7009) endpoints.
//!
//! The provider issues API tokens only with [`OpOptions::with_apis`](crate::OpOptions::with_apis)
//! (`OP_RESOURCE_SERVERS=1` and a machine client, see `tests/provider/op.mjs`).
//!
//! ```no_run
//! # async fn demo() {
//! use oidc_e2e::{API_RS256, Browser, Op, OpOptions, UserTokenRequest};
//! let op = Op::start(OpOptions::default().with_apis()).await;
//! let machine = op.machine_token(API_RS256, "api:read").await;       // sub = machine-client
//! let browser = Browser::new();
//! let user = op
//!     .user_token(&browser, &UserTokenRequest::new("alice", "http://127.0.0.1:1/cb", API_RS256))
//!     .await;                                                          // sub = u-1001-alice
//! # let _ = (machine, user);
//! # }
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::{AtProvider, Browser, DpopKey, Op, REQUEST_TIMEOUT, query_param};

/// The API whose access tokens are RS256-signed JWTs (RFC 9068); also their audience.
pub const API_RS256: &str = "https://api.test/rs256";
/// The API whose access tokens are ES256-signed JWTs; also their audience.
pub const API_ES256: &str = "https://api.test/es256";
/// The API whose access tokens are opaque (checked through introspection); also their audience.
pub const API_OPAQUE: &str = "https://api.test/opaque";
/// The scopes each API knows; a token gets those of them that were asked for.
pub const API_SCOPES: &str = "api:read api:write";
/// The client of [`OpOptions::with_apis`](crate::OpOptions::with_apis) that may only use the
/// `client_credentials` grant: a program without a user.
pub const MACHINE_CLIENT_ID: &str = "machine-client";
/// [`MACHINE_CLIENT_ID`]'s secret.
pub const MACHINE_CLIENT_SECRET: &str = "machine-secret";

/// A successful token response (RFC 6749 5.1).
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// `access_token`.
    pub access_token: String,
    /// `token_type`: `Bearer`, or `DPoP` for a DPoP-bound token.
    pub token_type: String,
    /// `expires_in`.
    pub expires_in: Option<u64>,
    /// `scope`.
    pub scope: Option<String>,
    /// `id_token` (user tokens with `openid`).
    pub id_token: Option<String>,
    /// `refresh_token`.
    pub refresh_token: Option<String>,
    /// The whole answer.
    pub raw: Value,
}

/// A refused token request: the status and the JSON error body.
#[derive(Debug, Clone)]
pub struct TokenError {
    /// The HTTP status (400, 401...).
    pub status: StatusCode,
    /// The body (`{"error": ..., "error_description": ...}`), `Null` when not JSON.
    pub body: Value,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// What [`Op::user_token`] asks for.
#[derive(Debug, Clone)]
pub struct UserTokenRequest<'a> {
    /// The user who logs in at the provider (password `<user>-password`).
    pub user: &'a str,
    /// A redirect URI registered for the provider's client; the browser stops in front of it
    /// (nothing needs to listen there).
    pub redirect_uri: &'a str,
    /// The `resource` indicator, at the authorization and the token endpoint; empty: none
    /// (the token is then only good at the provider's userinfo endpoint).
    pub resource: &'a str,
    /// The `scope` (`openid profile email groups api:read` by default: the user's claims in
    /// the token and the API scope).
    pub scope: &'a str,
    /// Binds the access token to this key (a DPoP proof at the token endpoint).
    pub dpop: Option<&'a DpopKey>,
}

impl<'a> UserTokenRequest<'a> {
    /// `user` logs in, the client asks for `resource` with the default scope, no DPoP.
    pub fn new(user: &'a str, redirect_uri: &'a str, resource: &'a str) -> Self {
        UserTokenRequest {
            user,
            redirect_uri,
            resource,
            scope: "openid profile email groups api:read",
            dpop: None,
        }
    }
}

impl Op {
    /// An access token for `resource` from the client credentials grant as
    /// [`MACHINE_CLIENT_ID`]; panics when the provider refuses.
    pub async fn machine_token(&self, resource: &str, scope: &str) -> TokenResponse {
        self.machine_token_with(resource, scope, None)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "client_credentials for {resource} refused: {err}\n{}",
                    self.log_tail()
                )
            })
    }

    /// [`Op::machine_token`], DPoP-bound to `dpop` when given; the refusal as an error.
    pub async fn machine_token_with(
        &self,
        resource: &str,
        scope: &str,
        dpop: Option<&DpopKey>,
    ) -> Result<TokenResponse, TokenError> {
        self.token_request(
            (MACHINE_CLIENT_ID, MACHINE_CLIENT_SECRET),
            &[
                ("grant_type", "client_credentials"),
                ("resource", resource),
                ("scope", scope),
            ],
            dpop,
        )
        .await
    }

    /// A POST to the token endpoint with `form`, authenticated as `client` with
    /// `client_secret_basic`, with a fresh DPoP proof for `dpop` when given.
    pub async fn token_request(
        &self,
        client: (&str, &str),
        form: &[(&str, &str)],
        dpop: Option<&DpopKey>,
    ) -> Result<TokenResponse, TokenError> {
        let endpoint = self.endpoint("token_endpoint");
        let mut request = http()
            .post(endpoint.clone())
            .header("authorization", basic_auth(client.0, client.1))
            .header("accept", "application/json")
            .form(form);
        if let Some(key) = dpop {
            request = request.header("dpop", key.proof("POST", endpoint.as_str(), None));
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST {endpoint}: {err}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(TokenError { status, body });
        }
        let text = |name: &str| body[name].as_str().map(str::to_owned);
        Ok(TokenResponse {
            access_token: text("access_token")
                .unwrap_or_else(|| panic!("token response without access_token: {body}")),
            token_type: text("token_type").unwrap_or_default(),
            expires_in: body["expires_in"].as_u64(),
            scope: text("scope"),
            id_token: text("id_token"),
            refresh_token: text("refresh_token"),
            raw: body,
        })
    }

    /// A person's access token: `browser` goes through an authorization request of the
    /// provider's client (code flow with PKCE and `resource`), logs in as `request.user` and
    /// consents, stops in front of `request.redirect_uri`; the code is then exchanged with the
    /// same `resource` (and a DPoP proof when asked). Panics when any step fails.
    pub async fn user_token(
        &self,
        browser: &Browser,
        request: &UserTokenRequest<'_>,
    ) -> TokenResponse {
        let verifier = random_b64url();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = random_b64url();
        let mut authorize = self.authorization_endpoint();
        authorize
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", self.client_id())
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("scope", request.scope)
            .append_pair("state", &state)
            .append_pair("nonce", &random_b64url())
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        if !request.resource.is_empty() {
            authorize
                .query_pairs_mut()
                .append_pair("resource", request.resource);
        }
        let redirect = Url::parse(request.redirect_uri)
            .unwrap_or_else(|err| panic!("redirect URI {:?}: {err}", request.redirect_uri));
        let first = browser.get(authorize).await;
        let journey = browser
            .follow_until(first, AtProvider::log_in(request.user), |url| {
                url.origin() == redirect.origin() && url.path() == redirect.path()
            })
            .await;
        let callback = journey.pending.clone().unwrap_or_else(|| {
            panic!(
                "the login of {} never came back to {}:\n{journey}\n{}",
                request.user,
                request.redirect_uri,
                self.log_tail()
            )
        });
        assert_eq!(
            query_param(&callback, "state").as_deref(),
            Some(state.as_str()),
            "{callback}"
        );
        let code = query_param(&callback, "code")
            .unwrap_or_else(|| panic!("no code in {callback}\n{}", self.log_tail()));
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", request.redirect_uri),
            ("code_verifier", verifier.as_str()),
        ];
        if !request.resource.is_empty() {
            form.push(("resource", request.resource));
        }
        self.token_request(
            (self.client_id(), self.client_secret()),
            &form,
            request.dpop,
        )
        .await
        .unwrap_or_else(|err| {
            panic!(
                "the code exchange for {} refused: {err}\n{}",
                request.resource,
                self.log_tail()
            )
        })
    }

    /// The provider's introspection answer (RFC 7662) for `token`, asked as the provider's
    /// client (what the layer does).
    pub async fn introspect(&self, token: &str) -> Value {
        let endpoint = self.endpoint("introspection_endpoint");
        let response = http()
            .post(endpoint.clone())
            .header(
                "authorization",
                basic_auth(self.client_id(), self.client_secret()),
            )
            .header("accept", "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST {endpoint}: {err}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "introspection: {body}");
        body
    }

    /// Revokes `token` (RFC 7009) as `client`, the client it was issued to; panics unless the
    /// provider answers 200.
    pub async fn revoke(&self, token: &str, client: (&str, &str)) {
        let endpoint = self.endpoint("revocation_endpoint");
        let response = http()
            .post(endpoint.clone())
            .header("authorization", basic_auth(client.0, client.1))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST {endpoint}: {err}"));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "revocation: {body}");
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 2.3.1).
pub fn basic_auth(client_id: &str, client_secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(client_id),
            encode(client_secret)
        ))
    )
}

/// 32 random bytes, base64url: PKCE verifiers, states, nonces, `jti`s.
pub(crate) fn random_b64url() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("system randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build the reqwest client")
}

//! An in-process OpenID Provider for tests, demos and local development.
//!
//! [`TestProvider`] serves discovery, a JWKS, an authorization endpoint with a one-click
//! sign-in page, a token endpoint (authorization code with PKCE S256, refresh token with
//! rotation), userinfo and RP-initiated logout, on a loopback port picked at run time. Its ID
//! tokens are RS256-signed with a fixed, **test-only** RSA key checked into this repository:
//! never trust this provider's tokens outside tests.
//!
//! It behaves like a strict real provider (exact redirect URI matching, PKCE required, single-use
//! codes whose replay revokes the tokens they issued, RFC 9207 `iss` in the authorization
//! response), and it can turn hostile on demand with [`Tamper`] to test that a relying party
//! rejects what it must.
//!
//! A crate of its own (a dev-dependency of your tests, or a dependency of a demo), so that no
//! private key ships with `oidc-layer`. It needs a Tokio runtime: the provider runs as a task on
//! the runtime that started it, so a test that blocks its thread (a blocking HTTP client, a
//! synchronous browser driver) needs `#[tokio::test(flavor = "multi_thread")]`.
//!
//! # Example
//!
//! ```
//! use oidc_testkit::{TestProvider, TestUser};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = TestProvider::builder()
//!     .redirect_uris(["http://127.0.0.1:3000/auth/oidc"])
//!     .users([
//!         TestUser::alice(),
//!         TestUser::new("dave", "u-1004-dave").claim("roles", ["ops"]),
//!     ])
//!     .start()
//!     .await?;
//! // Point the relying party at `provider.issuer()`, `provider.client_id()` and
//! // `provider.client_secret()` (defaults: `test-client` / `test-secret`).
//! let url = format!("{}/.well-known/openid-configuration", provider.issuer());
//! let discovery: serde_json::Value = reqwest::get(url).await?.json().await?;
//! assert_eq!(discovery["issuer"], provider.issuer());
//! provider.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Users
//!
//! Unless [`TestProviderBuilder::users`] says otherwise, the sign-in page offers three users
//! ([`TestUser::defaults`]), the same as the reference provider of the end-to-end suite:
//!
//! | Username | `sub` | `groups` | `is_admin` | `email_verified` |
//! |---|---|---|---|---|
//! | `alice` | `u-1001-alice` | `admins`, `users` | `true` | `true` |
//! | `bob` | `u-1002-bob` | `users` | `false` | `false` |
//! | `carol` | `u-1003-carol` | none (`[]`) | `false` | `true` |
//!
//! Each also has `email` (`alice@example.test`...), `name`, `given_name`, `family_name` and
//! `preferred_username`. Claims are released by scope: `groups` and `is_admin` only with the
//! `groups` scope, the email claims with `email`, the names with `profile` (see [`TestUser`]).
//!
//! # Redirect URIs
//!
//! The one client (`test-client` / `test-secret` unless [`TestProviderBuilder::client`] says
//! otherwise) has registered redirect URIs, matched exactly like a strict provider does: by
//! default `http://127.0.0.1:3000/auth/oidc`, and `http://127.0.0.1:3000/` and
//! `http://127.0.0.1:3000/logged-out` after logout. A demo whose port is picked at run time
//! calls [`TestProviderBuilder::allow_any_loopback_redirect`]: then any
//! `http://127.0.0.1[:port]/...` or `http://localhost[:port]/...` URI is accepted too (RFC 8252
//! loopback style), for both redirects. Never use it to test redirect URI checks.
//!
//! ```
//! use oidc_testkit::TestProvider;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let provider = TestProvider::builder()
//!     .allow_any_loopback_redirect()
//!     .start()
//!     .await?;
//! // Alice, bob and carol can sign in to an app on any loopback port.
//! assert_eq!(provider.users().len(), 3);
//! # Ok(())
//! # }
//! ```
//!
//! # Scripted sign-in
//!
//! With [`TestProviderBuilder::auto_login`] the authorization endpoint redirects straight back
//! with a code, without showing the sign-in page: a test or a benchmark can follow the redirects
//! with any HTTP client.
//!
//! ```
//! use oidc_testkit::TestProvider;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = TestProvider::builder()
//!     .redirect_uris(["http://127.0.0.1:3000/auth/oidc"])
//!     .auto_login("bob")
//!     .start()
//!     .await?;
//! let http = reqwest::Client::builder()
//!     .redirect(reqwest::redirect::Policy::none())
//!     .build()?;
//! let response = http
//!     .get(format!("{}/authorize", provider.issuer()))
//!     .query(&[
//!         ("response_type", "code"),
//!         ("client_id", "test-client"),
//!         ("redirect_uri", "http://127.0.0.1:3000/auth/oidc"),
//!         ("scope", "openid profile email"),
//!         ("state", "xyz"),
//!         // BASE64URL(SHA256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")), RFC 7636 appendix B
//!         ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
//!         ("code_challenge_method", "S256"),
//!     ])
//!     .send()
//!     .await?;
//! assert_eq!(response.status(), 302);
//! let location = response.headers()["location"].to_str()?;
//! assert!(location.starts_with("http://127.0.0.1:3000/auth/oidc?code="));
//! # Ok(())
//! # }
//! ```
//!
//! # Endpoints
//!
//! | Path | |
//! |---|---|
//! | `GET /.well-known/openid-configuration` | discovery |
//! | `GET /jwks` | the public signing key (`kid`, `use: sig`, `alg: RS256`) |
//! | `GET`/`POST /authorize` | sign-in page; `POST` with `user=NAME` (or `cancel`) answers the client |
//! | `POST /token` | `authorization_code` and `refresh_token` grants, `client_credentials` with an API audience; `client_secret_basic` or `client_secret_post` |
//! | `GET`/`POST /userinfo` | claims for a `Bearer` access token |
//! | `GET`/`POST /end-session` | RP-initiated logout |
//!
//! # Access tokens for APIs
//!
//! With [`TestProviderBuilder::api_audience`] the access tokens are JWTs as RFC 9068 describes
//! them (header `typ: at+jwt`, RS256; `iss`, `sub`, `aud`, `client_id`, `scope`, `iat`, `exp`,
//! `jti`, and the user's claims released by the granted scopes, like `preferred_username` and
//! `groups`), and the token endpoint also takes the `client_credentials` grant: a program's
//! token whose `sub` is its client id. [`TestProviderBuilder::machine_client`] registers
//! clients that may only use that grant (a CLI, another service).
//!
//! ```
//! use oidc_testkit::TestProvider;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = TestProvider::builder()
//!     .api_audience("https://api.example.test")
//!     .machine_client("demo-cli", "demo-cli-secret")
//!     .start()
//!     .await?;
//! let answer: serde_json::Value = reqwest::Client::new()
//!     .post(format!("{}/token", provider.issuer()))
//!     .basic_auth("demo-cli", Some("demo-cli-secret"))
//!     .form(&[("grant_type", "client_credentials"), ("scope", "read")])
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(answer["token_type"], "Bearer");
//! assert_eq!(answer["access_token"].as_str().map(|t| t.split('.').count()), Some(3));
//! # Ok(())
//! # }
//! ```
//!
//! # Forged tokens
//!
//! [`Tamper`] makes the provider misbehave in the ways a relying party must refuse; for
//! anything else (a fuzzer, a hand-made claim set), [`sign_jws`] signs arbitrary bytes with
//! the provider's key.

mod authorize;
mod endpoints;
mod html;
mod jwt;
mod provider;
mod store;
mod tamper;
mod token;
mod user;

#[cfg(test)]
mod tests;

pub use jwt::{sign_jws, sign_jws_es256};
pub use provider::{TestProvider, TestProviderBuilder};
pub use tamper::Tamper;
pub use user::TestUser;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;

/// Configuration and state shared by all handlers of one provider.
struct Shared {
    issuer: String,
    client_id: String,
    client_secret: String,
    /// Named in every ID token's `aud` after the client (Zitadel's project id).
    id_token_audiences: Vec<String>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    allow_any_loopback_redirect: bool,
    /// Changed at run time by [`TestProvider::update_user`].
    users: Mutex<Vec<TestUser>>,
    access_token_ttl: Duration,
    /// `aud` of JWT access tokens; `None`: opaque access tokens, no client credentials.
    api_audience: Option<String>,
    /// `(client_id, client_secret)` of the clients that may only use client credentials.
    machine_clients: Vec<(String, String)>,
    id_token_ttl: Duration,
    refresh_token_ttl: Duration,
    auto_login: Option<String>,
    keys: &'static jwt::Keys,
    tamper: Mutex<Tamper>,
    token_requests: AtomicUsize,
    userinfo_requests: AtomicUsize,
    store: Mutex<store::Store>,
}

impl Shared {
    fn tamper(&self) -> Tamper {
        *lock(&self.tamper)
    }

    fn store(&self) -> MutexGuard<'_, store::Store> {
        lock(&self.store)
    }

    fn user(&self, username: &str) -> Option<TestUser> {
        lock(&self.users)
            .iter()
            .find(|u| u.username == username)
            .cloned()
    }

    fn count_token_request(&self) {
        self.token_requests.fetch_add(1, Ordering::SeqCst);
    }

    /// `redirect_uri` of an authorization request: registered (exact string match), or any
    /// loopback `http` URI when that was allowed.
    fn redirect_uri_allowed(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
            || (self.allow_any_loopback_redirect && is_loopback_http(uri))
    }

    /// `post_logout_redirect_uri` of a logout request, same rules.
    fn post_logout_redirect_uri_allowed(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
            || (self.allow_any_loopback_redirect && is_loopback_http(uri))
    }

    /// The `iss` parameter of authorization responses (RFC 9207), as [`Tamper`] says.
    fn callback_iss(&self) -> Option<String> {
        match self.tamper() {
            Tamper::MissingIssInCallback => None,
            Tamper::WrongIssInCallback => Some(tamper::wrong_issuer(&self.issuer)),
            _ => Some(self.issuer.clone()),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler cannot leave these maps half-updated in a harmful way.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `http://127.0.0.1[:port]/...` or `http://localhost[:port]/...`, without user info or fragment.
fn is_loopback_http(uri: &str) -> bool {
    let prefix_ok = ["http://127.0.0.1", "http://localhost"].iter().any(|p| {
        uri.strip_prefix(p)
            .is_some_and(|rest| rest.starts_with(':') || rest.starts_with('/'))
    });
    let Ok(url) = Url::parse(uri) else {
        return false;
    };
    prefix_ok
        && url.scheme() == "http"
        && matches!(url.host_str(), Some("127.0.0.1" | "localhost"))
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
}

/// Form-encoded parameters (query string or body) with RFC 6749 3.1 rules: empty values count
/// as absent, and repeated parameters are remembered so that they can be refused.
#[derive(Debug, Default)]
struct Params {
    values: Vec<(String, String)>,
    index: HashMap<String, usize>,
    repeated: Vec<String>,
}

impl Params {
    fn parse(input: &[u8]) -> Params {
        let mut params = Params::default();
        for (name, value) in url::form_urlencoded::parse(input) {
            if value.is_empty() {
                continue;
            }
            if params.index.contains_key(name.as_ref()) {
                params.repeated.push(name.into_owned());
                continue;
            }
            params
                .index
                .insert(name.clone().into_owned(), params.values.len());
            params.values.push((name.into_owned(), value.into_owned()));
        }
        params
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.values[i].1.as_str())
    }

    fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }

    fn first_repeated(&self) -> Option<&str> {
        self.repeated.first().map(String::as_str)
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// `302 Found` to `target` with `params` appended to its query.
fn redirect_with(target: &Url, params: &[(&str, &str)]) -> Response {
    let mut target = target.clone();
    if !params.is_empty() {
        let mut query = target.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    match HeaderValue::from_str(target.as_str()) {
        Ok(location) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => html::error_page(StatusCode::BAD_REQUEST, "invalid redirect URI"),
    }
}

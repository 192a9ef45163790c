//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): not part of the API, not
//! covered by semver, hidden from the docs.
//!
//! Each function feeds bytes to one parser of untrusted input the way the layer does, and
//! panics only when an invariant of that parser breaks (the fuzzer reports panics as crashes).
//! Tokens are verified against a fixed key set: a running provider's, discovered once per
//! process into a [`Fixture`]. Fuzzed JSON payloads can be signed with that provider's key so
//! that mutations reach the claim checks behind the signature. The provider comes from the
//! caller (the fuzz targets and `tests/fuzz_corpus.rs` start `oidc-testkit`'s `TestProvider`),
//! so that this crate holds no signing key.

use std::str::FromStr as _;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use cookie::Key;
use http::{HeaderMap, HeaderValue, Request, header};
use openidconnect::core::{CoreErrorResponseType, CoreIdToken, CoreTokenResponse};
use openidconnect::{Nonce, OAuth2TokenResponse as _, StandardErrorResponse, TokenResponse as _};
use serde_json::{Map, Value};
use session_store::Record;
use tower_layer::Layer as _;
use tower_service::Service as _;

use crate::provider::Discovered;
use crate::record::{SessionData, StoredToken};
use crate::roles::{ClaimPath, RoleMap, RoleMapConfig, check_required_claims, claim_values};
use crate::state::Shared;
use crate::web::attempt::{Attempt, AttemptCookies};
use crate::web::cookies::{self, CookieSettings};
use crate::web::return_to;
use crate::{OidcConfig, OidcLayer};

/// The nonce and access token the fuzzed ID tokens are checked against.
const NONCE: &str = "fuzz-nonce";
const ACCESS_TOKEN: &str = "fuzz-access-token";

/// The provider the token targets check against, started by the caller.
pub struct FuzzProvider {
    /// Its issuer URL: discovery and the key set are fetched from there.
    pub issuer: String,
    /// The client registered with it.
    pub client_id: String,
    /// That client's secret.
    pub client_secret: String,
    /// Signs a payload with a key the provider publishes, under the given header or the
    /// provider's usual one (`oidc_testkit::sign_jws`).
    pub sign: fn(Option<&[u8]>, &[u8]) -> Option<String>,
}

/// The provider, its keys and a layer configured for it: made once per process by the caller
/// and passed to the targets that need a provider.
pub struct Fixture {
    runtime: tokio::runtime::Runtime,
    layer: OidcLayer,
    shared: Arc<Shared>,
    discovered: Arc<Discovered>,
    issuer: String,
    client_id: String,
    sign: fn(Option<&[u8]>, &[u8]) -> Option<String>,
}

impl Fixture {
    /// A layer configured for `provider`, its metadata and keys discovered now. The provider
    /// must keep running (on `runtime` or elsewhere) while the fixture is used: the layer
    /// refetches the key set from it when a token names an unknown key.
    pub fn new(runtime: tokio::runtime::Runtime, provider: FuzzProvider) -> Result<Self, String> {
        let config = OidcConfig::builder()
            .issuer(&provider.issuer)
            .client_id(&provider.client_id)
            .client_secret(&provider.client_secret)
            .external_url("http://127.0.0.1:8080")
            .build()
            .map_err(|e| e.to_string())?;
        let layer = OidcLayer::new(config);
        let shared = layer.current();
        let discovered = runtime
            .block_on(
                shared
                    .providers
                    .first()
                    .ok_or("no provider")?
                    .client
                    .discovered(),
            )
            .map_err(|e| e.to_string())?;
        Ok(Fixture {
            runtime,
            layer,
            shared,
            discovered,
            issuer: provider.issuer,
            client_id: provider.client_id,
            sign: provider.sign,
        })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `text` with the placeholders a corpus cannot know in advance filled in: `@ISS@` (the
/// provider's issuer), `@AUD@` (the client id), `@NOW@` and `@EXP@` (now and five minutes on,
/// in Unix seconds).
fn fill_in(fixture: &Fixture, text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    if !text.contains('@') {
        return text.into_owned().into_bytes();
    }
    let now = unix_now();
    text.replace("@ISS@", &fixture.issuer)
        .replace("@AUD@", &fixture.client_id)
        .replace("@NOW@", &now.to_string())
        .replace("@EXP@", &(now + 300).to_string())
        .into_bytes()
}

/// A token from fuzz input: first byte `s` signs the rest (an optional header, a NUL, then the
/// payload, placeholders filled in) with the provider's key; anything else is the raw token.
fn token_from(fixture: &Fixture, data: &[u8]) -> Option<String> {
    match data.split_first() {
        Some((b's', rest)) => {
            let (header, payload) = match rest.iter().position(|b| *b == 0) {
                Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
                None => (None, rest),
            };
            (fixture.sign)(header, &fill_in(fixture, payload))
        }
        _ => Some(String::from_utf8_lossy(data).into_owned()),
    }
}

fn provider(fixture: &Fixture) -> &crate::provider::Provider {
    match fixture.shared.providers.first() {
        Some(p) => &p.client,
        None => panic!("the fixture has a provider"),
    }
}

/// Cookie headers from fuzz input: one header per line (lines that are not a valid header
/// value are skipped, as `http` would refuse them).
fn cookie_headers(data: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(header::COOKIE, value);
        }
    }
    headers
}

/// The session cookie: the id found in the `Cookie` headers must be a value of that cookie.
pub fn session_cookie(data: &[u8]) {
    let headers = cookie_headers(data);
    let name = "oidc_session";
    let _ = cookies::request_cookies(&headers).count();
    if let Some(id) = cookies::session_id(&headers, name) {
        let encoded = id.encode();
        assert!(
            data.windows(encoded.len()).any(|w| w == encoded.as_bytes()),
            "session id not in the header"
        );
        assert_eq!(session_store::SessionId::parse(&encoded), Some(id));
    }
    let _ = cookies::find(&headers, name);
}

fn attempt_cookies() -> &'static AttemptCookies {
    static COOKIES: OnceLock<AttemptCookies> = OnceLock::new();
    COOKIES.get_or_init(|| {
        // A fixed key: a crash must reproduce from its input alone.
        AttemptCookies::new(
            vec![Key::derive_from(&[7; 32])],
            CookieSettings::new("fuzz_app", true),
        )
    })
}

/// The attempt cookie: `a` then JSON of an attempt (placeholders filled in, see `fill_in`)
/// seals it and opens it again (it must come back the same, unless expired); anything else is a state, a newline and `Cookie` headers to
/// open an attempt from (only a sealed cookie opens), and to pick evictions from.
pub fn attempt_cookie(fixture: &Fixture, data: &[u8]) {
    let jar = attempt_cookies();
    if let Some((b'a', json)) = data.split_first() {
        let Ok(attempt) = serde_json::from_slice::<Attempt>(&fill_in(fixture, json)) else {
            return;
        };
        let Some(cookie) = jar.seal(&attempt) else {
            return;
        };
        let mut headers = HeaderMap::new();
        let pair = format!("{}={}", cookie.name(), cookie.value());
        let Ok(value) = HeaderValue::from_str(&pair) else {
            panic!("a sealed cookie is not a header value: {pair}");
        };
        headers.insert(header::COOKIE, value);
        let opened = jar.open(&headers, &attempt.state);
        let fresh = opened.is_some()
            || unix_now().saturating_sub(attempt.created)
                >= crate::web::attempt::ATTEMPT_TTL.as_secs()
            || attempt.created > unix_now() + 60;
        assert!(fresh, "a sealed, unexpired attempt did not open");
        if let Some(opened) = opened {
            assert_eq!(
                serde_json::to_string(&opened).ok(),
                serde_json::to_string(&attempt).ok()
            );
        }
        return;
    }
    let (state, rest) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let headers = cookie_headers(rest);
    let state = String::from_utf8_lossy(state);
    assert!(
        jar.open(&headers, &state).is_none(),
        "an attempt opened without being sealed"
    );
    let evictions = jar.evictions(&headers);
    assert!(evictions.len() <= cookies::request_cookies(&headers).count() + 1);
}

/// The callback's query string, through the layer as a browser would send it: with no
/// attempt cookie no query gets past the checks, and every answer is a 4xx page.
pub fn callback_query(fixture: &Fixture, data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(request) = Request::get(format!("/auth/oidc?{query}"))
        .header(header::ACCEPT, "text/html")
        .body(Body::new())
    else {
        return;
    };
    let mut service = fixture.layer.layer(Inner);
    let response = fixture.runtime.block_on(service.call(request));
    let Ok(response) = response;
    assert!(
        response.status().is_client_error(),
        "callback answered {}",
        response.status()
    );
}

type Body = http_body_util::Empty<bytes::Bytes>;

/// The inner service: never reached by a callback.
#[derive(Clone)]
struct Inner;

impl tower_service::Service<Request<Body>> for Inner {
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request<Body>) -> Self::Future {
        std::future::ready(Ok(http::Response::new(Body::new())))
    }
}

/// `return_to`: what is accepted stays on the app's origin and path, whatever a browser makes
/// of it.
pub fn return_to(data: &[u8]) {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let Some(kept) = return_to::sanitize(value) else {
        return;
    };
    assert_eq!(kept, value);
    let Ok(base) = url::Url::parse("https://app.example/base/") else {
        return;
    };
    match base.join(&kept) {
        Ok(target) => assert_eq!(target.origin(), base.origin(), "{kept} leaves the origin"),
        Err(e) => panic!("{kept} is not a URL reference: {e}"),
    }
}

/// ID tokens (see `token_from`): verified as the callback does; a token that passes is one
/// the fixed key signed, for this client, with the expected nonce.
pub fn id_token(fixture: &Fixture, data: &[u8]) {
    let Some(raw) = token_from(fixture, data) else {
        return;
    };
    let Ok(token) = CoreIdToken::from_str(&raw) else {
        return;
    };
    let nonce = Nonce::new(NONCE.to_owned());
    let access_token = openidconnect::AccessToken::new(ACCESS_TOKEN.to_owned());
    let verified = fixture.runtime.block_on(provider(fixture).verify_id_token(
        &fixture.discovered,
        &token,
        &nonce,
        &access_token,
        None,
    ));
    if let Ok((text, claims)) = verified {
        assert_eq!(text, raw);
        assert_eq!(claims.get("nonce").and_then(Value::as_str), Some(NONCE));
        assert_eq!(
            claims.get("iss").and_then(Value::as_str),
            Some(fixture.issuer.as_str())
        );
        assert!(data.first() == Some(&b's'), "an unsigned token passed");
    }
}

/// Logout tokens (see `token_from`): verified as the back-channel endpoint does.
pub fn logout_token(fixture: &Fixture, data: &[u8]) {
    let Some(raw) = token_from(fixture, data) else {
        return;
    };
    let verified = fixture
        .runtime
        .block_on(provider(fixture).verify_logout_token(&fixture.discovered, &raw));
    if let Ok(claims) = verified {
        assert_eq!(claims.iss, fixture.issuer);
        assert!(claims.sub.is_some() || claims.sid.is_some());
        assert!(
            data.first() == Some(&b's'),
            "an unsigned logout token passed"
        );
    }
    let _ = crate::provider::unverified_addressee(&raw);
}

/// Token-endpoint responses: the JSON the code exchange parses (success or error), the ID
/// token in it verified as the callback does. `@IDTOKEN@` becomes a valid signed ID token.
pub fn token_response(fixture: &Fixture, data: &[u8]) {
    let mut body = fill_in(fixture, data);
    if body.windows(9).any(|w| w == b"@IDTOKEN@") {
        let now = unix_now();
        let claims = serde_json::json!({
            "iss": fixture.issuer, "aud": fixture.client_id, "sub": "fuzz",
            "nonce": NONCE, "iat": now, "exp": now + 300,
        });
        let Some(token) = (fixture.sign)(None, claims.to_string().as_bytes()) else {
            return;
        };
        body = String::from_utf8_lossy(&body)
            .replace("@IDTOKEN@", &token)
            .into_bytes();
    }
    let _ = serde_json::from_slice::<StandardErrorResponse<CoreErrorResponseType>>(&body);
    let Ok(response) = serde_json::from_slice::<CoreTokenResponse>(&body) else {
        return;
    };
    let _ = (response.refresh_token(), response.expires_in());
    let Some(id_token) = response.id_token() else {
        return;
    };
    let nonce = Nonce::new(NONCE.to_owned());
    let _ = fixture.runtime.block_on(provider(fixture).verify_id_token(
        &fixture.discovered,
        id_token,
        &nonce,
        response.access_token(),
        None,
    ));
}

/// Claim paths and role maps: the input is the role map's TOML, a line `---`, a claim path, a
/// newline and the claims as JSON. The decision must not depend on the order of the values.
pub fn roles(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (map_toml, rest) = text.split_once("\n---\n").unwrap_or((text, ""));
    let (path, claims) = rest.split_once('\n').unwrap_or((rest, "{}"));
    let path = ClaimPath::new(path);
    assert_eq!(ClaimPath::new(path.as_str()), path);
    let claims: Map<String, Value> = serde_json::from_str(claims).unwrap_or_default();
    let _ = check_required_claims(&claims, std::slice::from_ref(&path));
    let values = path.lookup(&claims).map(claim_values).unwrap_or_default();
    let Ok(config) = toml::from_str::<RoleMapConfig>(map_toml) else {
        return;
    };
    let Ok(map) = RoleMap::new(config) else {
        return;
    };
    let decision = map.decide(&values, "fuzz-user", "fuzz-sub");
    let mut reversed = values.clone();
    reversed.reverse();
    let again = map.decide(&reversed, "fuzz-user", "fuzz-sub");
    assert_eq!(decision.roles(), again.roles());
    if let Some(roles) = decision.roles() {
        for role in roles {
            assert!(map.satisfies(roles, role));
        }
        let _ = map.implied_by(roles);
    }
}

/// Configuration: `t` then TOML, or `e` then `NAME=VALUE` lines read as the environment.
pub fn config(data: &[u8]) {
    let Some((kind, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let _ = match kind {
        b't' => OidcConfig::from_toml_str(text),
        b'e' => OidcConfig::from_vars(
            "OIDC_",
            text.lines().filter_map(|line| {
                let (name, value) = line.split_once('=')?;
                Some((name.to_owned(), value.to_owned()))
            }),
        ),
        _ => return,
    };
}

/// Stored session records as the Redis store reads them (value, a NUL, tags): a record that
/// decodes encodes to a record that decodes to the same. Also the tokens kept in a session:
/// whatever text goes in comes out the same.
pub fn session_record(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    assert_eq!(StoredToken::new(text.clone()).text(), text);
    let (value, tags) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let Ok(record) = session_store::fuzzing::decode_record::<SessionData>(value, tags) else {
        return;
    };
    let Ok((value, tags)) = session_store::fuzzing::encode_record(&record) else {
        panic!("a decoded record does not encode");
    };
    let again: Record<SessionData> =
        match session_store::fuzzing::decode_record(&value, Some(&tags)) {
            Ok(again) => again,
            Err(e) => panic!("an encoded record does not decode: {e}"),
        };
    assert_eq!(again.expires_at, record.expires_at);
    assert_eq!(again.tags, record.tags);
    assert_eq!(
        serde_json::to_string(&again.data).ok(),
        serde_json::to_string(&record.data).ok()
    );
}

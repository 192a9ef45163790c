//! What the bearer suites share: an app behind the layer with the in-process test provider,
//! tokens signed with the provider's test keys, a store that counts writes, and a login.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use oidc_layer::{
    Identity, Lease, MemoryStore, OidcConfig, OidcLayer, Record, RequireRole, RequireScope,
    SessionData, SessionId, SessionStore,
};
use oidc_testkit::TestProvider;
use serde_json::{Value, json};
use session_store::Error;
use tower::ServiceExt;

pub const AUDIENCE: &str = "https://api.example.test";
pub const EXTERNAL: &str = "http://127.0.0.1:3000";
pub const RS256_KID: &str = "testkit-rs256-1";
pub const ES256_KID: &str = "testkit-es256-1";
/// The test provider's ES256 key (published in its JWKS; test-only).
pub const ES256_KEY_PEM: &str =
    include_str!("../../../oidc-testkit/src/keys/test-only-es256-key.pem");
/// The public half of the provider's RS256 key (what an HS256 forgery is keyed with).
pub const RS256_PUBLIC_PEM: &str =
    include_str!("../../../oidc-testkit/src/keys/test-only-signing-key.pub.pem");

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A session store that counts writes: the bearer path must never make one.
#[derive(Default)]
pub struct CountingStore {
    inner: MemoryStore<SessionData>,
    pub writes: AtomicUsize,
}

#[async_trait]
impl SessionStore<SessionData> for CountingStore {
    async fn create(&self, record: Record<SessionData>) -> Result<SessionId, Error> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.create(record).await
    }
    async fn load(&self, id: &SessionId) -> Result<Option<Arc<Record<SessionData>>>, Error> {
        self.inner.load(id).await
    }
    async fn save(&self, id: &SessionId, record: Record<SessionData>) -> Result<bool, Error> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.save(id, record).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(id).await
    }
    async fn delete_tagged(&self, tag: &str) -> Result<u64, Error> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete_tagged(tag).await
    }
    async fn trim_tagged(&self, tag: &str, keep: usize, spare: &SessionId) -> Result<u64, Error> {
        self.inner.trim_tagged(tag, keep, spare).await
    }
    async fn list_tagged(
        &self,
        tag: &str,
        limit: usize,
    ) -> Result<Vec<Arc<Record<SessionData>>>, Error> {
        self.inner.list_tagged(tag, limit).await
    }
    async fn try_lock(&self, id: &SessionId, ttl: Duration) -> Result<Option<Lease>, Error> {
        self.inner.try_lock(id, ttl).await
    }
    async fn unlock(&self, id: &SessionId, lease: &Lease) -> Result<(), Error> {
        self.inner.unlock(id, lease).await
    }
}

/// The configuration of the suites: the provider, `/api/*` as API paths, `/open` public,
/// roles from groups, and `extra` TOML lines at the top level (provider keys included).
pub fn config(provider: &TestProvider, extra: &str) -> OidcConfig {
    OidcConfig::from_toml_str(&format!(
        r#"
        external_url = "{EXTERNAL}"
        api_paths = ["/api/*"]
        public_paths = ["/open"]
        issuer = "{}"
        client_id = "{}"
        client_secret = "{}"
        scopes = "openid profile email groups"
        roles = {{ rules = {{ admins = "admin", users = "user" }} }}
        {extra}
        "#,
        provider.issuer(),
        provider.client_id(),
        provider.client_secret(),
    ))
    .unwrap()
}

/// The app: `/api/me` and `/page` answer the identity as JSON, `/open` is public, `/api/admin`
/// needs the `admin` role, `/api/write` the `write` scope, `/api/read` the `read` scope or a
/// session.
pub fn app(layer: OidcLayer) -> Router {
    async fn me(identity: Identity) -> Json<Value> {
        let mut v = serde_json::to_value(&identity).unwrap();
        v["has_admin"] = identity.has_role("admin").into();
        Json(v)
    }
    async fn open(identity: Option<Identity>) -> Json<Value> {
        Json(json!({ "sub": identity.map(|i| i.sub().to_owned()) }))
    }
    Router::new()
        .route("/api/me", get(me))
        .route("/page", get(me))
        .route("/open", get(open))
        .route("/api/admin", get(me).route_layer(RequireRole::new("admin")))
        .route(
            "/api/write",
            get(me).route_layer(RequireScope::new("write")),
        )
        .route(
            "/api/read",
            get(me).route_layer(RequireScope::new("read").allow_sessions()),
        )
        .layer(layer)
}

/// A provider that signs alice in at once.
pub async fn provider() -> TestProvider {
    TestProvider::builder()
        .auto_login("alice")
        .start()
        .await
        .unwrap()
}

/// The app for `extra` configuration, and its counting store.
pub fn app_with(provider: &TestProvider, extra: &str) -> (Router, Arc<CountingStore>) {
    let store = Arc::new(CountingStore::default());
    let layer = OidcLayer::new(config(provider, extra)).with_store(store.clone());
    (app(layer), store)
}

/// What the app answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The `WWW-Authenticate` challenges, in order.
    pub fn challenges(&self) -> Vec<String> {
        self.headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
    /// The first challenge.
    pub fn challenge(&self) -> String {
        self.challenges().into_iter().next().unwrap_or_default()
    }
    pub fn sets_cookies(&self) -> bool {
        self.headers.contains_key(header::SET_COOKIE)
    }
}

pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// `GET path` with `Authorization: Bearer token`.
pub async fn get_with_token(app: &Router, path: &str, token: &str) -> Answer {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    send(app, request).await
}

/// A JWS with `header` over `claims`, signed with the provider's RS256 key.
pub fn rs256(header: Value, claims: &Value) -> String {
    oidc_testkit::sign_jws(
        Some(header.to_string().as_bytes()),
        claims.to_string().as_bytes(),
    )
    .unwrap()
}

/// The usual RFC 9068 header.
pub fn at_header() -> Value {
    json!({ "alg": "RS256", "typ": "at+jwt", "kid": RS256_KID })
}

/// An RFC 9068 access token's claims for alice (what the provider's login releases of her,
/// plus the access-token claims).
pub fn alice(issuer: &str) -> Value {
    json!({
        "iss": issuer,
        "sub": "u-1001-alice",
        "aud": AUDIENCE,
        "client_id": "cli",
        "scope": "openid read",
        "iat": now(),
        "exp": now() + 300,
        "jti": format!("jti-{}", now()),
        "preferred_username": "alice",
        "email": "alice@example.test",
        "email_verified": true,
        "groups": ["admins", "users"],
    })
}

/// bob's claims, as [`alice`]'s.
pub fn bob(issuer: &str) -> Value {
    json!({
        "iss": issuer,
        "sub": "u-1002-bob",
        "aud": AUDIENCE,
        "client_id": "cli",
        "scope": "read write",
        "iat": now(),
        "exp": now() + 300,
        "preferred_username": "bob",
        "groups": ["users"],
    })
}

/// A machine token: client credentials, the client is the subject.
pub fn machine(issuer: &str) -> Value {
    json!({
        "iss": issuer,
        "sub": "cli",
        "aud": AUDIENCE,
        "client_id": "cli",
        "scope": "read",
        "iat": now(),
        "exp": now() + 300,
    })
}

/// `claims` with `changes` merged over them (a `null` removes the claim).
pub fn with(mut claims: Value, changes: Value) -> Value {
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// The provider's ES256 signing key.
pub fn es256_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from(p256::SecretKey::from_sec1_pem(ES256_KEY_PEM).unwrap())
}

/// A compact JWS signed with `key` (ES256): `header` and `claims` as given.
pub fn es256_with(key: &p256::ecdsa::SigningKey, header: &Value, claims: &Value) -> String {
    use p256::ecdsa::signature::Signer as _;
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

/// Logs alice in through `app` (the provider signs her in at once); returns the session
/// cookie pair.
pub async fn login(app: &Router) -> String {
    let cookies = |headers: &HeaderMap| -> Vec<String> {
        headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter(|line| !line.contains("Max-Age=0"))
            .filter_map(|line| line.split(';').next().map(str::to_owned))
            .collect()
    };
    let start = Request::get("/page")
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(start).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let attempt = cookies(response.headers()).join("; ");
    let authorize = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let to_callback = http.get(&authorize).send().await.unwrap();
    let callback =
        url::Url::parse(to_callback.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    let request = Request::get(format!(
        "{}?{}",
        callback.path(),
        callback.query().unwrap_or("")
    ))
    .header(header::ACCEPT, "text/html")
    .header(header::COOKIE, attempt)
    .body(Body::empty())
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "login failed");
    cookies(response.headers())
        .into_iter()
        .find(|c| {
            c.split_once('=')
                .is_some_and(|(name, _)| name.starts_with("oidc_session_") && !name.contains('-'))
        })
        .unwrap()
}

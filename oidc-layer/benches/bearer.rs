//! The cost of access tokens, in one run, in process: the same trivial service bare, behind
//! the layer with a session (the hot path, with access tokens on: one more header lookup),
//! with a token the layer has verified before (the cache), with a token it has never seen
//! (first verification, RS256 and ES256: signature, claims, role mapping, account lookup), and
//! with an opaque token whose introspection answer is cached. Every measured response is
//! checked to be a 200.
//!
//!     cargo bench -p oidc-layer --bench bearer -- --warm-up-time 1 --measurement-time 3
//!
//! First verifications: each sample gets a fresh layer (its discovery warmed by one request
//! outside the timing) and tokens it has never seen, signed before the run.

use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use oidc_layer::roles::RoleMapConfig;
use oidc_layer::{OidcConfig, OidcLayer};
use oidc_testkit::TestProvider;
use p256::ecdsa::signature::Signer as _;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

#[path = "common/mod.rs"]
mod common;
// Its `config` is the session benches'; this bench adds the access-token settings.
#[allow(dead_code)]
#[path = "common/realistic.rs"]
mod realistic;

const AUDIENCE: &str = "https://api.example.test";
const ES256_KEY_PEM: &str = include_str!("../../oidc-testkit/src/keys/test-only-es256-key.pem");
/// Tokens signed ahead for the first-verification benches (each used once per layer).
const POOL: usize = 1500;

async fn bare(_request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::from("ok")))
}

fn config(issuer: &str, client_id: &str, secret: &str, introspection: bool) -> OidcConfig {
    OidcConfig::builder()
        .issuer(issuer)
        .client_id(client_id)
        .client_secret(secret)
        .scopes(["openid", "profile", "email", "groups"])
        .roles(
            RoleMapConfig::new()
                .rule("admins", "admin")
                .rule("users", "trusted")
                .order(["untrusted", "trusted", "admin"])
                .default_role("untrusted"),
        )
        .session_idle_timeout(realistic::IDLE_TIMEOUT)
        .external_url("http://127.0.0.1:8080")
        .api_paths(["/api/*"])
        .api_audience(AUDIENCE)
        .id_token_signing_algs(["RS256", "ES256"])
        .introspection(introspection)
        .build()
        .expect("config")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Alice's access token claims (her 20 claims, as a login releases them), numbered by `jti`.
fn claims(issuer: &str, jti: usize) -> Value {
    let mut claims = json!({
        "iss": issuer, "sub": "u-1001-alice", "aud": AUDIENCE, "client_id": "cli",
        "scope": "openid read write", "iat": now(), "exp": now() + 3600, "jti": format!("bench-{jti}"),
    });
    for (name, value) in &realistic::user().claims {
        if name != "sub" {
            claims[name.as_str()] = value.clone();
        }
    }
    claims
}

fn rs256(issuer: &str, jti: usize) -> String {
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "testkit-rs256-1"});
    oidc_testkit::sign_jws(
        Some(header.to_string().as_bytes()),
        claims(issuer, jti).to_string().as_bytes(),
    )
    .expect("signed")
}

fn es256(key: &p256::ecdsa::SigningKey, issuer: &str, jti: usize) -> String {
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": "testkit-es256-1"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims(issuer, jti).to_string())
    );
    let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// `response`, checked to be a 200 (a real assert: benches build without debug assertions).
fn ok<B>(response: Response<B>) -> Response<B> {
    assert_eq!(response.status(), StatusCode::OK);
    response
}

/// `Authorization: Bearer {token}`, built once: the figures measure the layer, not the
/// formatting of a kilobyte header per request.
fn bearer_header(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("header")
}

fn cookie_header(cookie: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("theme=dark; {cookie}; _ga=GA1.2.3")).expect("header")
}

fn request(
    authorization: Option<&HeaderValue>,
    cookie: Option<&HeaderValue>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::get("/api/whoami")
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, "bench");
    if let Some(value) = authorization {
        builder = builder.header(header::AUTHORIZATION, value.clone());
    }
    if let Some(value) = cookie {
        builder = builder.header(header::COOKIE, value.clone());
    }
    builder.body(Full::default()).expect("request")
}

/// A provider that introspects opaque tokens (the test provider has no introspection
/// endpoint): discovery, an empty key set, and `/introspect` answering every token active.
async fn introspecting_provider() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    let active = json!({
        "active": true, "iss": issuer, "sub": "u-1001-alice", "aud": AUDIENCE,
        "client_id": "cli", "scope": "read", "exp": now() + 3600,
        "preferred_username": "alice", "groups": ["admins", "users"],
    });
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(document) }),
        )
        .route("/jwks", get(|| async { Json(json!({"keys": []})) }))
        .route("/introspect", post(move || async move { Json(active) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    issuer
}

fn bearer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let provider: TestProvider = rt.block_on(realistic::provider()).expect("provider");
    let issuer = provider.issuer().to_owned();
    let config = config(
        &issuer,
        provider.client_id(),
        provider.client_secret(),
        false,
    );
    let bare_service = tower::service_fn(bare);
    let layered = OidcLayer::new(config.clone()).layer(bare_service);
    let session = cookie_header(&rt.block_on(common::login(&layered, "/whoami")));
    let token = bearer_header(&rs256(&issuer, 0));
    let introspection_issuer = rt.block_on(introspecting_provider());
    let opaque_layer = OidcLayer::new(self::config(&introspection_issuer, "app", "secret", true))
        .layer(bare_service);
    let opaque = bearer_header("bench-opaque-token-0123456789");
    let es256_key =
        p256::ecdsa::SigningKey::from(p256::SecretKey::from_sec1_pem(ES256_KEY_PEM).expect("key"));
    let rs256_pool: Vec<HeaderValue> = (1..=POOL)
        .map(|i| bearer_header(&rs256(&issuer, i)))
        .collect();
    let es256_pool: Vec<HeaderValue> = (1..=POOL)
        .map(|i| bearer_header(&es256(&es256_key, &issuer, i)))
        .collect();

    let mut group = c.benchmark_group("bearer");
    group.bench_function("bare", |b| {
        b.to_async(&rt).iter(|| async {
            ok(bare_service
                .oneshot(request(None, Some(&session)))
                .await
                .expect("ok"))
        })
    });
    group.bench_function("session_hit", |b| {
        b.to_async(&rt).iter(|| async {
            ok(layered
                .clone()
                .oneshot(request(None, Some(&session)))
                .await
                .expect("ok"))
        })
    });
    group.bench_function("bearer_cache_hit", |b| {
        b.to_async(&rt).iter(|| async {
            ok(layered
                .clone()
                .oneshot(request(Some(&token), None))
                .await
                .expect("ok"))
        })
    });
    group.bench_function("introspection_cache_hit", |b| {
        b.to_async(&rt).iter(|| async {
            ok(opaque_layer
                .clone()
                .oneshot(request(Some(&opaque), None))
                .await
                .expect("ok"))
        })
    });
    for (name, pool) in [
        ("bearer_first_verification_rs256", &rs256_pool),
        ("bearer_first_verification_es256", &es256_pool),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let config = config.clone();
                let warm = token.clone();
                async move {
                    let mut measured = Duration::ZERO;
                    let mut done = 0u64;
                    while done < iters {
                        // A fresh layer: an empty cache, its provider discovered untimed.
                        let fresh = OidcLayer::new(config.clone()).layer(bare_service);
                        ok(fresh
                            .clone()
                            .oneshot(request(Some(&warm), None))
                            .await
                            .expect("ok"));
                        let n = usize::try_from(iters - done)
                            .unwrap_or(usize::MAX)
                            .min(pool.len());
                        let start = Instant::now();
                        for token in &pool[..n] {
                            ok(fresh
                                .clone()
                                .oneshot(request(Some(token), None))
                                .await
                                .expect("ok"));
                        }
                        measured += start.elapsed();
                        done += n as u64;
                    }
                    measured
                }
            })
        });
    }
    group.finish();
    rt.block_on(provider.shutdown());
}

criterion_group!(benches, bearer);
criterion_main!(benches);

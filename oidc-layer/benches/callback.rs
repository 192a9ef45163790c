//! What a login costs the app, in one run:
//!
//! - `id_token/verify`: the ID-token validation of the callback alone (parse, RS256 signature,
//!   `iss`/`aud`/`azp`/`exp`/`iat`/`nonce`/`at_hash`, claims decoding), no network;
//! - `callback/whole`: the whole callback through the layer (attempt cookie, state, code
//!   exchange with the in-process provider on loopback, validation, session creation,
//!   cookies), everything before it (login start, the provider's authorization) untimed;
//!   (There is no "own share" row: subtracting the provider's two requests, timed apart on
//!   loopback, from the whole callback gave zero or negative times for some samples: the
//!   provider's part varies more than the callback's own work. `id_token/verify` is the
//!   callback's largest own cost.)
//! - `login/warm` and `login/cold`: a whole login through the layer (login start, the
//!   provider's authorization, the callback). In all the rows above the layer's provider
//!   metadata and signing keys are already cached (discovery and the JWKS are fetched once,
//!   by the first login); `login/cold` builds a new layer for every login, so each one also
//!   fetches discovery and the keys from the provider, as the first login after a start does.
//!
//!     cargo bench -p oidc-layer --features bench --bench callback

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use oidc_layer::bench::IdTokenCheck;
use oidc_layer::{OidcConfig, OidcLayer};
use oidc_testkit::TestProvider;
use tower::{Layer, Service, ServiceExt};

const APP: &str = "http://127.0.0.1:8080";
/// RFC 7636 appendix B: a PKCE verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[path = "common/cookies.rs"]
mod cookies;

async fn hello(_request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::from("hello")))
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn location(response: &reqwest::Response) -> url::Url {
    url::Url::parse(
        response.headers()[header::LOCATION]
            .to_str()
            .expect("location"),
    )
    .expect("url")
}

/// An authorization code for `nonce`, from the provider's authorization endpoint directly.
async fn code(http: &reqwest::Client, provider: &TestProvider, nonce: &str) -> String {
    let response = http
        .get(format!("{}/authorize", provider.issuer()))
        .query(&[
            ("response_type", "code"),
            ("client_id", provider.client_id()),
            ("redirect_uri", &format!("{APP}/auth/oidc")),
            ("scope", "openid profile email"),
            ("state", "bench"),
            ("nonce", nonce),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    location(&response)
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code")
}

/// The code exchange, as the layer makes it: returns the token response.
async fn exchange(
    http: &reqwest::Client,
    provider: &TestProvider,
    code: &str,
) -> serde_json::Value {
    let response = http
        .post(format!("{}/token", provider.issuer()))
        .basic_auth(provider.client_id(), Some(provider.client_secret()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &format!("{APP}/auth/oidc")),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.expect("body");
    serde_json::from_slice(&bytes).expect("json")
}

/// Everything before the callback: the login start through the layer and the provider's
/// authorization. Returns the callback request.
async fn before_callback<S>(layered: &S, http: &reqwest::Client) -> Request<Full<Bytes>>
where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<oidc_layer::ResponseBody<Full<Bytes>>>,
            Error = Infallible,
        > + Clone,
{
    let start = Request::get("/hello")
        .header(header::ACCEPT, "text/html")
        .body(Full::default())
        .expect("request");
    let response = layered.clone().oneshot(start).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::FOUND);
    let attempt = cookies::cookie_pairs(&response).join("; ");
    let authorize = response.headers()[header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    let to_callback = http.get(&authorize).send().await.expect("provider");
    let callback = location(&to_callback);
    Request::get(format!(
        "{}?{}",
        callback.path(),
        callback.query().unwrap_or("")
    ))
    .header(header::ACCEPT, "text/html")
    .header(header::COOKIE, attempt)
    .body(Full::default())
    .expect("request")
}

/// A whole login through `layered`: the start, the provider's authorization, the callback.
async fn whole_login<S>(layered: &S, http: &reqwest::Client)
where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<oidc_layer::ResponseBody<Full<Bytes>>>,
            Error = Infallible,
        > + Clone,
{
    let request = before_callback(layered, http).await;
    let response = layered.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "login failed");
}

fn callback(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let provider = rt
        .block_on(
            TestProvider::builder()
                .auto_login("alice")
                .allow_any_loopback_redirect()
                .id_token_ttl(Duration::from_secs(3600))
                .access_token_ttl(Duration::from_secs(3600))
                .start(),
        )
        .expect("provider");
    let config = OidcConfig::builder()
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret())
        .external_url(APP)
        .build()
        .expect("config");
    let layer = OidcLayer::new(config.clone());
    let layered = layer.layer(tower::service_fn(hello));
    let http = no_redirects();

    let check = rt.block_on(async {
        let code = code(&http, &provider, "bench-nonce").await;
        let tokens = exchange(&http, &provider, &code).await;
        let id_token = tokens["id_token"].as_str().expect("id_token");
        let access_token = tokens["access_token"].as_str().expect("access_token");
        println!("ID token: {} bytes", id_token.len());
        IdTokenCheck::new(&layer, id_token, "bench-nonce", access_token)
            .await
            .expect("check")
    });
    rt.block_on(check.run()).expect("the ID token verifies");

    let mut group = c.benchmark_group("id_token");
    group.bench_function("verify", |b| {
        b.to_async(&rt)
            .iter(|| async { check.run().await.expect("valid") })
    });
    group.finish();

    let mut group = c.benchmark_group("callback");
    group.sample_size(30);
    group.bench_function("whole", |b| {
        b.to_async(&rt).iter_custom(|iterations| {
            let layered = layered.clone();
            let http = http.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let request = before_callback(&layered, &http).await;
                    let start = Instant::now();
                    let response = layered.clone().oneshot(request).await.expect("infallible");
                    total += start.elapsed();
                    assert_eq!(response.status(), StatusCode::SEE_OTHER, "login failed");
                }
                total
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("login");
    group.sample_size(20);
    group.bench_function("warm", |b| {
        b.to_async(&rt)
            .iter(|| async { whole_login(&layered, &http).await })
    });
    group.bench_function("cold", |b| {
        b.to_async(&rt).iter_custom(|iterations| {
            let http = http.clone();
            let config = config.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    // A new layer knows nothing of the provider yet (built untimed).
                    let cold = OidcLayer::new(config.clone()).layer(tower::service_fn(hello));
                    let start = Instant::now();
                    whole_login(&cold, &http).await;
                    total += start.elapsed();
                }
                total
            }
        })
    });
    group.finish();
    rt.block_on(provider.shutdown());
}

criterion_group!(benches, callback);
criterion_main!(benches);

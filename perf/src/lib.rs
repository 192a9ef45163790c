//! The load test's pieces (`bash scripts/loadtest.sh`): the same axum hello handler bare,
//! behind `OidcLayer` and behind axum-oidc + tower-sessions, and a real login for each.
//!
//! Binaries: `perf-server` (one variant on a port, for `wrk`), `perf-inprocess` (every
//! variant called in process, no sockets) and `perf-rs256` (RS256 verification backends).

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use oidc_testkit::TestProvider;
use reqwest::cookie::CookieStore;

/// Any error, with its message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The variants of the comparison.
pub const MODES: [&str; 4] = ["bare", "layer", "redis", "axum-oidc"];

/// The handler every variant serves: what a tiny app's cheapest page costs.
async fn hello() -> &'static str {
    "hello world"
}

/// The app: one route, `/hello`.
pub fn app() -> Router {
    Router::new().route("/hello", get(hello))
}

/// The session every layer figure is measured on (the crate's benches use the same file):
/// a real login's, with a refresh token, an expiring access token, 20 claims, roles and an
/// idle timeout; nothing expires, refreshes or is written during a run.
#[path = "../../oidc-layer/benches/common/realistic.rs"]
pub mod realistic;

/// The in-process provider, signing in `alice` (20 claims) without a form.
pub async fn provider() -> Result<TestProvider, Error> {
    Ok(realistic::provider().await?)
}

/// `OidcLayer`'s configuration for an app served at `base`.
pub fn oidc_layer_config(
    provider: &TestProvider,
    base: &str,
) -> Result<oidc_layer::OidcConfig, Error> {
    Ok(realistic::config(provider, base)?)
}

/// The app behind axum-oidc 0.6 and tower-sessions 0.14, wired as in axum-oidc's example,
/// with tower-sessions' defaults otherwise (no expiry: authenticated requests write nothing).
pub async fn axum_oidc_app(provider: &TestProvider, base: &str) -> Result<Router, Error> {
    use axum::error_handling::HandleErrorLayer;
    use axum::response::IntoResponse;
    use axum_oidc::error::MiddlewareError;
    use axum_oidc::{EmptyAdditionalClaims, OidcAuthLayer, OidcLoginLayer};
    use tower::ServiceBuilder;
    use tower_sessions::{MemoryStore, SessionManagerLayer};

    let login = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|e: MiddlewareError| async {
            e.into_response()
        }))
        .layer(OidcLoginLayer::<EmptyAdditionalClaims>::new());
    let auth = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|e: MiddlewareError| async {
            e.into_response()
        }))
        .layer(
            OidcAuthLayer::<EmptyAdditionalClaims>::discover_client(
                base.parse()?,
                provider.issuer().to_owned(),
                provider.client_id().to_owned(),
                Some(provider.client_secret().to_owned()),
                vec!["profile".into(), "email".into()],
            )
            .await?,
        );
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    Ok(app().layer(login).layer(auth).layer(sessions))
}

/// The two-tier store (moka in front of Redis at `REDIS_URL`, default
/// `redis://127.0.0.1:6379`).
#[cfg(feature = "redis")]
pub async fn redis_store() -> Result<impl oidc_layer::SessionStore<oidc_layer::SessionData>, Error>
{
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = session_store::RedisStore::connect(session_store::RedisConfig::new(url)).await?;
    Ok(session_store::TwoTierStore::new(
        redis,
        session_store::TwoTierConfig::new(),
    ))
}

/// Whether this build has the two-tier Redis row.
pub const HAS_REDIS: bool = cfg!(feature = "redis");

/// The app of `mode` at `base` (which must be where it is served, for the redirect URIs),
/// with the provider it logs in against (kept alive by the caller).
pub async fn variant(mode: &str, base: &str) -> Result<(Router, Option<TestProvider>), Error> {
    Ok(match mode {
        "bare" => (app(), None),
        "layer" => {
            let provider = provider().await?;
            let layer = oidc_layer::OidcLayer::new(oidc_layer_config(&provider, base)?);
            (app().layer(layer), Some(provider))
        }
        #[cfg(feature = "redis")]
        "redis" => {
            let provider = provider().await?;
            let layer = oidc_layer::OidcLayer::new(oidc_layer_config(&provider, base)?)
                .with_store(redis_store().await?);
            (app().layer(layer), Some(provider))
        }
        "axum-oidc" => {
            let provider = provider().await?;
            let app = axum_oidc_app(&provider, base).await?;
            (app, Some(provider))
        }
        other => return Err(format!("unknown or unavailable mode {other}").into()),
    })
}

/// Logs in like a browser (redirects followed, cookies kept) and returns the `Cookie` header
/// the session travels in, after checking that it opens `/hello` and that no cookie does not.
/// For `bare`, a cookie of the same size (which the bare app ignores).
pub async fn login(mode: &str, base: &str) -> Result<String, Error> {
    if mode == "bare" {
        // The layer's default name: `oidc_session_` and an eight-digit tag.
        return Ok(format!("oidc_session_{}={}", "0".repeat(8), "A".repeat(43)));
    }
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()?;
    let url = format!("{base}/hello");
    let response = browser
        .get(&url)
        .header("accept", "text/html")
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() || body != "hello world" {
        return Err(format!("{mode}: login failed: {status} {body}").into());
    }
    let cookie = jar
        .cookies(&url.parse()?)
        .ok_or("no cookie after login")?
        .to_str()?
        .to_owned();
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let with = plain.get(&url).header("cookie", &cookie).send().await?;
    let without = plain.get(&url).send().await?;
    if with.status() != 200 || without.status() == 200 {
        return Err(format!(
            "{mode}: session check failed: with the cookie {}, without {}",
            with.status(),
            without.status()
        )
        .into());
    }
    Ok(cookie)
}

/// A current-thread runtime: each server or measurement uses one core.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

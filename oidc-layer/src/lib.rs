//! OpenID Connect login for any tower service.
//!
//! [`OidcLayer`] redirects unauthenticated browsers to the identity provider (code flow with
//! PKCE, state and nonce), handles the callback at `/auth/oidc`, keeps sessions in a pluggable
//! [`SessionStore`] (in memory by default), and hands the verified [`Identity`] to the inner
//! service through request extensions. Scripts and API clients without a session get `401`
//! with `application/problem+json`, never a redirect.
//!
//! ```no_run
//! use axum::{routing::get, Json, Router};
//! use oidc_layer::{Identity, OidcConfig, OidcLayer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = OidcConfig::builder()
//!     .issuer("https://id.example.com/realms/home")
//!     .client_id("my-app")
//!     .client_secret(std::env::var("OIDC_CLIENT_SECRET")?)
//!     .external_url("https://app.example.com")
//!     .public_paths(["/", "/health"])
//!     .build()?;
//! let app = Router::new()
//!     .route("/", get(|| async { "public" }))
//!     .route("/me", get(|id: Identity| async move { Json(id) }))
//!     .layer(OidcLayer::new(config));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! API clients (a CLI, a service, a single-page app) use access tokens instead: once a provider
//! has an `api_audience`, a request on `api_paths` (or every path, with `bearer_paths =
//! "all_paths"`) carrying `Authorization: Bearer <token>` is authenticated by the token alone
//! (RFC 9068 JWTs checked against the provider's keys, opaque tokens by introspection, DPoP-bound
//! tokens with their proof), never by the cookie, and never creates a session. The token's claims
//! get the login's username, groups and roles, so handlers and [`RequireRole`] see the same
//! [`Identity`]; [`RequireScope`] guards routes by the token's scopes.
//!
//! ```
//! use oidc_layer::{Authentication, OidcConfig, RequireScope};
//!
//! let config = OidcConfig::builder()
//!     .issuer("https://id.example.com/realms/home")
//!     .client_id("my-app")
//!     .external_url("https://app.example.com")
//!     .api_paths(["/api/*"])
//!     .api_audience("https://app.example.com/api")
//!     .build()
//!     .expect("valid configuration");
//! assert!(config.accepts_bearer_tokens());
//! let writers = RequireScope::new("items:write");
//! # let _ = (writers, Authentication::Bearer);
//! ```
//!
//! Routes the layer answers itself (prefix configurable): `GET /auth/oidc` (the redirect URI
//! to register at the provider), `GET /auth/login?return_to=/path`, `GET|POST /auth/logout`,
//! `GET /auth/logged-out`.
//!
//! [`OidcLayer::check`] (the [`doctor`]) checks the configuration against what each provider
//! advertises and lists what to register there.
//!
//! # Features
//!
//! The defaults are `axum` (the [`Identity`], `Option<Identity>` and [`AppData`] extractors,
//! and `IntoResponse` for [`MissingIdentity`]; it depends on `axum-core` only) and `toml`
//! ([`OidcConfig::from_toml_str`] and `OidcConfig::from_env`). An app without axum sets
//! `default-features = false` (adding `features = ["toml"]` to configure from a file or the
//! environment) and reads the identity with [`Identity::of`], answering
//! [`MissingIdentity::into_http_response`] where there is none; [`OidcLayer::wrap`] puts a
//! hyper or tower service behind the layer and checks at that call that it fits. `redis`,
//! `postgres` and `sqlite` add session stores (and `accounts::SqlAccounts` for the SQL ones),
//! `metrics` the counters; see the README's feature table.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod accounts;
mod admission;
mod after_login;
mod app_data;
mod bearer;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench;
mod break_glass;
mod claims;
mod config;
pub mod custom_pages;
pub mod doctor;
mod flows;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod guard;
pub mod health;
mod http_client;
mod identity;
mod issuer;
mod jose;
mod layer;
pub mod login_options;
pub mod metrics;
mod pages;
mod provider;
mod record;
mod require_claim;
mod require_role;
mod require_scope;
pub mod roles;
mod service;
mod session;
mod state;
mod store_tracker;
mod web;
mod words;

pub use after_login::{AfterLogin, AfterLoginError, Login, LoginAdditions, MAX_EXTRA_ROLES};
#[cfg(feature = "axum")]
pub use app_data::MissingSession;
pub use app_data::{AppData, AppDataError, AppSession};
pub use break_glass::{BreakGlassError, BreakGlassGuard, password_matches};
pub use config::{
    BearerPaths, ConfigError, CookieSameSite, OidcConfig, OidcConfigBuilder, ProviderBuilder,
    ProviderConfig, RefreshFailure,
};
pub use config::{Branding, BrandingConfig};
pub use custom_pages::PageRenderer;
pub use flows::local::{LocalSignInError, LocalUser};
pub use guard::GuardService;
pub use identity::{Authentication, Identity, MissingIdentity};
pub use layer::{DiscoveryError, OidcLayer, Registration};
pub use login_options::{LoginOptions, LoginUrlError, Prompt};
pub use record::{AccessToken, SessionData};
pub use require_claim::{RequireClaim, RequireIdentity};
pub use require_role::{RequireRole, RequireRoleService};
pub use require_scope::{RequireScope, RequireScopeService};
pub use service::{BoxError, OidcService, ResponseBody, ResponseFuture};
pub use session::manage::SessionInfo;
/// The session-store crate the layer is built on, for what the re-exports below leave out:
/// its `Error` (what a [`SessionStore`] returns, e.g. inside
/// [`LocalSignInError::Store`]) and `Fingerprint`, to implement a store of your own.
pub use session_store;
#[cfg(feature = "postgres")]
pub use session_store::PostgresStore;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use session_store::SqlConfig;
#[cfg(feature = "sqlite")]
pub use session_store::SqliteStore;
pub use session_store::{Lease, MemoryStore, Record, SessionId, SessionStore};
#[cfg(feature = "redis")]
pub use session_store::{RedisConfig, RedisStore};
#[cfg(any(feature = "redis", feature = "postgres"))]
pub use session_store::{TwoTierConfig, TwoTierStore};
pub use web::cookies::CookieNames;
pub use web::origin::is_same_origin;

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

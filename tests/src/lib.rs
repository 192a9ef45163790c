//! End-to-end test harness: a real OpenID provider, the application under test and a
//! scripted browser, all on 127.0.0.1 with ports picked at run time.
//!
//! * [`Op`] runs the npm `oidc-provider` (pinned in `tests/provider/package-lock.json`) as a
//!   child process and kills it when dropped; [`DjangoOp`] does the same for the second,
//!   independent provider, `django-oidc-provider` from PyPI (`tests/django-op`).
//! * [`AppListener`] / [`App`] serve an [`axum::Router`] on a loopback port. Bind the listener
//!   first: its URL goes into the provider's redirect URIs before the provider starts.
//! * [`Op::machine_token`] and [`Op::user_token`] get access tokens for the provider's APIs
//!   ([`API_RS256`], [`API_ES256`], [`API_OPAQUE`]) as a program or a person would, DPoP-bound
//!   with a [`DpopKey`]; [`jws`] forges the tokens no provider should issue.
//! * [`Browser`] is a scripted browser (reqwest with its own cookie jar, redirects disabled)
//!   that sends the headers a real browser sends and walks redirects, filling the provider's
//!   login and consent forms on the way ([`Browser::follow`]); every hop is kept for assertions.
//!
//! ```no_run
//! # async fn demo() {
//! use oidc_e2e::{App, AppListener, Browser, Op, OpOptions};
//! let listener = AppListener::bind().await;                 // 1. the app's port
//! let op = Op::start(OpOptions::for_app(&listener)).await;  // 2. the provider, told about it
//! let router = axum::Router::new();                         // 3. the app, built with op.issuer()
//! let app = App::spawn(router, listener);
//! let browser = Browser::new();
//! let journey = browser.navigate(app.url("/whoami")).await;  // login as alice on the way
//! assert_eq!(journey.last().status, 200, "{journey}");
//! # }
//! ```
//!
//! The provider needs `node` and `npm ci --prefix tests/provider` (see `tests/README.md`);
//! without them the tests fail with a message saying so. They never skip.

mod app;
mod browser;
mod django_op;
mod dpop;
mod example;
pub mod jws;
mod op;
mod page;
mod process;
mod tokens;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use app::{App, AppListener, free_port};
pub use browser::{AtProvider, Browser, MAX_HOPS};
pub use cookie::Cookie;
pub use django_op::{DJANGO_OP_SETUP_COMMAND, DjangoOp, DjangoOpOptions, django_op_dir};
pub use dpop::{DpopKey, ath, now};
pub use example::{Example, sign_in_at_test_provider};
pub use op::{Op, OpOptions};
pub use page::{Form, Journey, Page, query_param, with_query_param};
pub use process::terminate;
pub use tokens::{
    API_ES256, API_OPAQUE, API_RS256, API_SCOPES, MACHINE_CLIENT_ID, MACHINE_CLIENT_SECRET,
    TokenError, TokenResponse, UserTokenRequest, basic_auth,
};

/// Whether `name` is the session cookie of an app behind oidc-layer with the default cookie
/// names: `oidc_session_` and eight hex digits derived from the app's client id and external
/// URL (`__Host-` prefixed on https). See `OidcConfig::cookie_names` for one app's exact names.
pub fn is_session_cookie(name: &str) -> bool {
    let name = name.strip_prefix("__Host-").unwrap_or(name);
    name.strip_prefix("oidc_session_")
        .is_some_and(|tag| tag.len() == 8 && tag.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `name` is a login-attempt cookie of an app with the default cookie names
/// (`<session cookie>-attempt-<16 characters of the state>`).
pub fn is_attempt_cookie(name: &str) -> bool {
    name.split_once("-attempt-")
        .is_some_and(|(session, _)| is_session_cookie(session))
}

/// Whether `name` is the logout-state cookie of an app with the default cookie names
/// (`<session cookie>-logout`).
pub fn is_logout_cookie(name: &str) -> bool {
    name.strip_suffix("-logout").is_some_and(is_session_cookie)
}

/// The command that prepares the provider; quoted in every "cannot start" message.
pub const SETUP_COMMAND: &str = "npm ci --prefix tests/provider && cargo test -p oidc-e2e";

/// Per-request timeout of the harness's HTTP clients: a hung server fails the test instead of
/// hanging it.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The `tests/provider` folder (op.mjs, the lockfile, node_modules).
pub fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("provider")
}

/// Installs a tracing subscriber that writes to the captured test output (shown for failing
/// tests). `RUST_LOG` overrides the default filter `oidc_layer=debug,session_store=debug,warn`.
/// Safe to call from every test.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("oidc_layer=debug,session_store=debug,warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_test_writer()
        .try_init();
}

/// Waits until a login start at `app` reaches the provider again (no 503 page): after a
/// failed contact the layer answers login starts with the 503 page for a few seconds instead
/// of sending browsers to a provider that just failed. Panics after 20 s.
pub async fn until_logins_start(browser: &Browser, app: &App) {
    let started = std::time::Instant::now();
    loop {
        let page = browser.get(app.url("/auth/login?return_to=/")).await;
        if page.status != reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "login starts still get the 503 page: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

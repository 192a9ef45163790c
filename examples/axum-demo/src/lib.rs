//! The oidc-layer demo's pages, as a library: [`router`] builds the app behind a given
//! `OidcLayer`. The demo's `main` (see `src/main.rs`) configures the layer from the
//! environment and serves it; the real-browser suite (`tests/tests/browser`) serves the very
//! same router against its own provider, so the README's screenshots show this demo.
//!
//! Roles are mapped like AudioBookRequest: group `admins` → `admin`, `users` → `trusted`,
//! anything else → `untrusted`, ordered untrusted < trusted < admin ([`role_map`]).

mod local_login;
mod preferences;
mod sessions;

pub use preferences::{Preferences, after_login};

use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use oidc_layer::roles::RoleMapConfig;
use oidc_layer::{
    BrandingConfig, Identity, LoginOptions, OidcLayer, Prompt, Registration, RequireClaim,
    RequireRole,
};

/// Paths anyone may see without signing in (set them as the layer's `public_paths`).
pub const PUBLIC_PATHS: [&str; 3] = ["/", "/favicon.ico", LOGO_PATH];
/// Paths of the demo's API (set them as the layer's `api_paths`): 401 JSON, never a redirect.
pub const API_PATHS: [&str; 1] = ["/api/*"];
/// The demo's logo, a public file: `OIDC_BRANDING__LOGO=/brand/logo.svg` shows it on the
/// layer's pages.
pub const LOGO_PATH: &str = "/brand/logo.svg";
const LOGO_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><rect width="40" height="40" rx="9" fill="#7b1fa2"/><path d="M9 30 20 9l11 21h-5.5L20 19l-5.5 11z" fill="#fff"/><circle cx="20" cy="27" r="2.6" fill="#f3c623"/></svg>"##;

/// The layer's branding from `OIDC_BRANDING__APP_NAME`, `__LOGO`, `__PRIMARY_COLOR`,
/// `__BACKGROUND_COLOR`, `__TEXT_COLOR`, `__SUPPORT_URL` and `__SUPPORT_LABEL` (the names
/// `OidcConfig::from_env("OIDC_")` reads), looked up with `var`; `None` when none is set.
pub fn branding_from_env(var: impl Fn(&str) -> Option<String>) -> Option<BrandingConfig> {
    let get = |key: &str| var(&format!("OIDC_BRANDING__{key}"));
    let branding = BrandingConfig {
        app_name: get("APP_NAME"),
        logo: get("LOGO"),
        primary_color: get("PRIMARY_COLOR"),
        background_color: get("BACKGROUND_COLOR"),
        text_color: get("TEXT_COLOR"),
        support_url: get("SUPPORT_URL"),
        support_label: get("SUPPORT_LABEL"),
    };
    (branding != BrandingConfig::default()).then_some(branding)
}

/// The break-glass login's path (set it as the layer's `backup_login_path`).
pub const BACKUP_LOGIN_PATH: &str = "/login/local";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1c1e21;line-height:1.5}\
a.button,button{font:inherit;padding:.5rem 1rem;border-radius:8px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;text-decoration:none;cursor:pointer}\
code{background:#f1f3f4;padding:.1rem .3rem;border-radius:4px}input{font:inherit;padding:.3rem}\
ul.sessions{list-style:none;padding:0}li.session{border:1px solid #dadce0;border-radius:8px;padding:.75rem 1rem;margin:.5rem 0}\
li.session .meta{color:#5f6368;font-size:.9rem}li.session form{margin-top:.5rem}\
.badge{background:#e6f4ea;color:#137333;border-radius:999px;padding:.1rem .6rem;font-size:.85rem}\
.actions{display:flex;gap:.75rem;flex-wrap:wrap}button.danger{background:#b3261e;border-color:#b3261e}\
button:disabled{opacity:.5;cursor:default}.notice{background:#e8f0fe;border-radius:8px;padding:.5rem 1rem}";

/// The profile page's session check, as a single-page app would do it (a constant: no value
/// of the request goes into it).
const CHECK_SESSION_SCRIPT: &str = "\
document.getElementById('check').addEventListener('click', async () => {\
  const result = document.getElementById('result');\
  delete result.dataset.status;\
  delete result.dataset.contentType;\
  delete result.dataset.loginUrl;\
  try {\
    const r = await fetch('/api/me');\
    const body = await r.json();\
    result.dataset.status = r.status;\
    result.dataset.contentType = r.headers.get('content-type');\
    if (r.status === 401) {\
      const login = new URL(body.login_url, location.href);\
      login.searchParams.set('return_to', location.pathname);\
      result.dataset.loginUrl = body.login_url;\
      document.getElementById('sign-in-again').href = login.href;\
      document.getElementById('ended').hidden = false;\
      result.textContent = 'Signed out (' + r.status + ')';\
    } else {\
      result.textContent = 'Still signed in as ' + body.username + ' (' + r.status + ')';\
    }\
  } catch (e) {\
    result.dataset.status = 'error';\
    result.textContent = 'fetch failed: ' + e;\
  }\
});";

/// A page of the demo with its look (maud escapes every value put into it).
fn page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · oidc-layer demo" }
                    style { (PreEscaped(STYLE)) }
                }
                body { main { (body) } }
            }
        }
        .into_string(),
    )
}

/// The demo's role map: group `admins` → `admin`, `users` → `trusted`, anyone else
/// `untrusted`.
pub fn role_map() -> RoleMapConfig {
    RoleMapConfig::new()
        .rule("admins", "admin")
        .rule("users", "trusted")
        .order(["untrusted", "trusted", "admin"])
        .default_role("untrusted")
}

fn display_name(id: &Identity) -> &str {
    id.name().unwrap_or(id.username())
}

/// What the home page shows besides the identity: the registrations and two login links made
/// with [`OidcLayer::login_url`].
#[derive(Clone)]
struct HomeLinks {
    registrations: Vec<Registration>,
    /// "Switch account": `prompt=login`, the provider asks who signs in.
    switch_account: String,
    /// "Confirm it's you": `max_age=0` before the profile, a fresh authentication (step-up).
    step_up: String,
}

impl HomeLinks {
    fn new(layer: &OidcLayer) -> Self {
        let url = |options: LoginOptions| layer.login_url(&options).unwrap_or_default();
        Self {
            registrations: layer.registrations(),
            switch_account: url(LoginOptions::new("/").prompt(Prompt::Login)),
            step_up: url(LoginOptions::new("/profile").max_age(std::time::Duration::ZERO)),
        }
    }
}

async fn home(identity: Option<Identity>, links: State<HomeLinks>) -> Html<String> {
    let registrations = &links.registrations;
    let body = html! {
        h1 { "oidc-layer demo" }
        @match identity {
            Some(id) => {
                p id="status" {
                    "Signed in as " strong id="name" { (display_name(&id)) }
                    " (" (id.email().unwrap_or("no email")) ") with role "
                    strong id="role" { (id.roles().join(", ")) } "."
                }
                form method="post" action="/auth/logout" {
                    button type="submit" id="logout" { "Sign out" }
                }
                p { a href="/sessions" id="your-sessions" { "Your sessions" } }
                p {
                    a id="switch-account" href=(links.switch_account) { "Switch account" }
                    " (the provider asks who signs in) · "
                    a id="step-up" href=(links.step_up) { "Confirm it's you" }
                    " (signs in again now, " code { "max_age=0" } ", then opens your profile)"
                }
            }
            None => {
                p id="status" { "You are not signed in." }
                p { a class="button" id="login" href="/auth/login?return_to=/profile" { "Sign in" } }
            }
        }
        h2 { "Try" }
        ul {
            li {
                a href="/profile" { "/profile" }
                ": your profile (protected), with a button that checks the session as a single-page app would"
            }
            li { a href="/whoami" { "/whoami" } ": protected; your identity, roles and groups as JSON" }
            li {
                a href="/preferences" { "/preferences" } ": your theme, kept as app data in your session (the after-login hook set it at sign-in); "
                "users whose name starts with " code { "blocked" } " are refused by the hook"
            }
            li {
                a href="/admin" { "/admin" } ": needs the " code { "admin" } " role (alice has it; bob is "
                code { "trusted" } ", carol " code { "untrusted" } ")"
            }
            li {
                a href="/verified" { "/verified" } ": needs a verified email (the claim "
                code { "email_verified" } " is " code { "true" } "; alice and carol, not bob)"
            }
            li {
                a href="/api/me" { "/api/me" } ": for API clients: your session's identity, or an access token's ("
                code { "Authorization: Bearer" } "); 401 with a login URL, never a redirect"
            }
            li {
                a href="/sessions" { "/sessions" }
                ": your sessions (every browser signed in to your account): sign out the others, or everywhere"
            }
            li { a href="/auth/logout" { "/auth/logout" } ": sign out" }
            li { a href="/auth/login?backup=1" { "Administrator backup login" } ": works even when the provider is broken" }
        }
        h2 { "Register at your provider" }
        ul {
            @for r in registrations.iter() {
                li {
                    (r.provider) ": redirect URI " code { (r.redirect_uri) }
                    ", post-logout URI " code { (r.post_logout_redirect_uri) }
                }
            }
        }
    };
    page("Home", body)
}

/// A protected page that shows the person's name and checks the session with `fetch()`, the
/// way a single-page app would: a 401 shows "session ended" with a link to sign in again,
/// built from the answer's `login_url` (with `return_to` set to this page).
async fn profile(identity: Identity) -> Html<String> {
    let body = html! {
        h1 { "Profile" }
        p { "Hello, " strong id="name" { (display_name(&identity)) } "." }
        p {
            "Username " code id="username" { (identity.username()) }
            ", roles " code id="roles" { (identity.roles().join(", ")) } "."
        }
        p { button type="button" id="check" { "Check my session" } }
        p id="result" role="status" {}
        p id="ended" hidden {
            "Your session has ended. "
            a class="button" id="sign-in-again" href="#" { "Sign in again" }
        }
        p { a href="/" { "Home" } }
        script { (PreEscaped(CHECK_SESSION_SCRIPT)) }
    };
    page("Profile", body)
}

async fn whoami(identity: Identity) -> impl IntoResponse {
    Json(identity)
}

/// `/api/me`: the identity as JSON (as `/whoami`), with how the request proved it
/// (`authentication`: `session`, `bearer` or `dpop`), and for access tokens their `scopes`,
/// `client_id` and whether a program acts for itself (`machine`).
async fn api_me(identity: Identity) -> impl IntoResponse {
    let mut body = serde_json::to_value(&identity).unwrap_or_default();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("scopes".into(), identity.scopes().into());
        fields.insert("client_id".into(), identity.client_id().into());
        fields.insert("machine".into(), identity.is_machine().into());
    }
    Json(body)
}

async fn admin(identity: Identity) -> Html<String> {
    let body = html! {
        h1 { "Admin" }
        p id="admin" {
            "Welcome, " (identity.username()) ". You have the " code { "admin" } " role."
        }
        h2 { "Why these roles" }
        pre id="why" { (identity.role_explanation().unwrap_or("")) }
        p { a href="/" { "Home" } }
    };
    page("Admin", body)
}

/// `/verified`: for accounts whose provider verified their email address.
async fn verified(identity: Identity) -> Html<String> {
    let body = html! {
        h1 { "Verified" }
        p id="verified" {
            "Welcome, " (identity.username()) ". Your provider verified "
            code { (identity.email().unwrap_or("")) } "."
        }
        p { a href="/" { "Home" } }
    };
    page("Verified", body)
}

/// The operations routes, outside the layer (no session lookup, no login): `/metrics`
/// answers `render_metrics()` (the Prometheus text the demo's recorder renders) and
/// `/health/ready` the layer's readiness ([`oidc_layer::health::ready`]: 200 or 503 JSON).
pub fn operations(
    layer: &OidcLayer,
    render_metrics: impl Fn() -> String + Clone + Send + Sync + 'static,
) -> Router {
    let layer = layer.clone();
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let text = render_metrics();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        text,
                    )
                }
            }),
        )
        .route(
            "/health/ready",
            get(move || {
                let answer = oidc_layer::health::ready(&layer);
                async move { answer }
            }),
        )
}

/// The demo app behind `layer`: `/` (public), `/profile`, `/preferences` (app data in the
/// session; install [`after_login`] on the layer), `/whoami`, `/api/me`, `/admin`
/// (role `admin`), `/verified` (claim `email_verified` is `true`), `/sessions` (your sessions;
/// POST `/sessions/end`, `/sessions/sign-out-others`, `/sessions/sign-out-everywhere`, same
/// origin only) and the break-glass login at [`BACKUP_LOGIN_PATH`] (user `admin`,
/// `admin_password`). The layer must be configured with [`PUBLIC_PATHS`], [`API_PATHS`] and
/// [`BACKUP_LOGIN_PATH`].
pub fn router(layer: &OidcLayer, admin_password: String) -> Router {
    let local = local_login::LocalLogin {
        password: admin_password,
        layer: layer.clone(),
        guard: std::sync::Arc::new(oidc_layer::BreakGlassGuard::new()),
    };
    Router::new()
        .route("/", get(home))
        .with_state(HomeLinks::new(layer))
        .route("/profile", get(profile))
        .route(
            "/preferences",
            get(preferences::show)
                .post(preferences::save)
                .with_state(layer.clone()),
        )
        .route("/whoami", get(whoami))
        .route("/api/me", get(api_me))
        .route("/admin", get(admin).route_layer(RequireRole::new("admin")))
        .route(
            "/verified",
            get(verified).route_layer(
                RequireClaim::is_true("email_verified")
                    .reason("This page is for accounts with a verified email address."),
            ),
        )
        .route("/sessions", get(sessions::list).with_state(layer.clone()))
        .route(
            "/sessions/end",
            post(sessions::end).with_state(layer.clone()),
        )
        .route(
            "/sessions/sign-out-others",
            post(sessions::sign_out_others).with_state(layer.clone()),
        )
        .route(
            "/sessions/sign-out-everywhere",
            post(sessions::sign_out_everywhere).with_state(layer.clone()),
        )
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .route(
            LOGO_PATH,
            get(|| async {
                (
                    [
                        (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
                        (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
                    ],
                    LOGO_SVG,
                )
            }),
        )
        .route(
            BACKUP_LOGIN_PATH,
            get(local_login::form)
                .post(local_login::submit)
                .with_state(local),
        )
        .layer(layer.clone())
}

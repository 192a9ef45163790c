//! Accounts: one account of the app per person, whichever way they sign in.
//!
//!     cargo run -p accounts      # http://127.0.0.1:3002
//!
//! `PORT` sets another port (`0`: any free one; the URL printed at start says which).
//! `DATABASE_URL` says where the accounts are kept: `sqlite://accounts.db` by default (a file
//! in the working directory, made at the first start), or `postgres://user:password@host/db`.
//!
//! After verifying a login, the layer asks an account resolver which of the app's accounts the
//! identity belongs to. Here that is a `LinkingResolver` over `SqlAccounts` (the accounts and
//! their provider links in the database; the tables are made at start-up), seeded at the first
//! start with two accounts an administrator created:
//!
//! - `alice`, email `alice@example.test`: the embedded provider's alice has that verified
//!   email, and "Company SSO" is trusted to link by verified email (`link_by_verified_email`:
//!   its users cannot choose their address), so her first sign-in there is linked to this
//!   account;
//! - `root`, no provider at all: the break-glass login at `/login/local` (password printed at
//!   start-up), throttled by a `BreakGlassGuard`, signed in with `OidcLayer::sign_in_local`.
//!   It has a local login, so no provider is ever linked to it by email.
//!
//! Neither provider admits new users, so bob (unverified email), carol and dana are refused
//! until a signed-in user links them on the "Linked accounts" page. Unlinking the last way
//! into an account is refused. Links survive a restart (the embedded providers keep their
//! users' subjects).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use oidc_layer::accounts::{
    Account, AccountError, AccountRepository, LinkingResolver, SqlAccounts, SqlAccountsConfig,
};
use oidc_layer::{
    BreakGlassError, BreakGlassGuard, Identity, LocalUser, OidcConfig, OidcLayer, ProviderBuilder,
    password_matches,
};
use oidc_testkit::{TestProvider, TestUser};

#[derive(Clone)]
struct App {
    layer: OidcLayer,
    accounts: Arc<LinkingResolver<SqlAccounts>>,
    /// The account of the break-glass login, and its password.
    root_account: Arc<str>,
    root_password: Arc<str>,
    /// Throttles guesses at the break-glass login.
    guard: Arc<BreakGlassGuard>,
}

#[derive(serde::Deserialize)]
struct ProviderForm {
    provider: String,
}

#[derive(serde::Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1c1e21;line-height:1.5}\
a.button,button{display:inline-block;font:inherit;line-height:1.5;padding:.45rem 1rem;border-radius:8px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;text-decoration:none;cursor:pointer}\
button.secondary{background:#fff;color:#0b57d0}form{display:inline;margin:0}\
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{text-align:left;padding:.5rem;border-bottom:1px solid #ddd}\
code{background:#f1f3f4;padding:.1rem .3rem;border-radius:4px}input{font:inherit;padding:.3rem}\
.error{background:#fdecea;border:1px solid #d93025;border-radius:8px;padding:.75rem 1rem}";

/// A page of the demo with its look (maud escapes every value put into it).
fn page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · accounts demo" }
                    style { (PreEscaped(STYLE)) }
                }
                body { main { (body) } }
            }
        }
        .into_string(),
    )
}

/// The signed-in person's account: the session carries its id (chosen by the resolver, or
/// given to `sign_in_local`).
async fn account_of(app: &App, identity: &Identity) -> Option<Account> {
    let id = identity.account()?;
    app.accounts.repository().find(id).await.ok().flatten()
}

fn provider_name(app: &App, slug: &str) -> String {
    let config = app.layer.config();
    match config.providers().iter().find(|p| p.slug() == slug) {
        Some(p) => p.name().to_owned(),
        None if slug == "local" => "the local login".to_owned(),
        None => slug.to_owned(),
    }
}

async fn home(State(app): State<App>, identity: Option<Identity>) -> Html<String> {
    let Some(id) = identity else {
        return page(
            "Home",
            html! {
                h1 { "Accounts demo" }
                p id="status" { "You are not signed in." }
                p {
                    a class="button" id="login" href="/auth/login?return_to=/linked" { "Sign in" }
                    " "
                    a href="/auth/login?backup=1" { "Administrator sign-in" }
                }
                p {
                    "Try alice at Company SSO (linked to the account " code { "alice" }
                    " by her verified email), then bob or carol (refused: unknown to this app), \
                     or root at the administrator sign-in."
                }
            },
        );
    };
    let account = account_of(&app, &id).await;
    page(
        "Home",
        html! {
            h1 { "Accounts demo" }
            p id="status" {
                "Signed in as " strong { (id.username()) } " with "
                (provider_name(&app, id.provider())) " (subject " code { (id.sub()) } ")."
            }
            p {
                "Account id: "
                code id="account" { (account.as_ref().map_or("none", |a| a.id.as_str())) }
            }
            div {
                a class="button" href="/linked" { "Linked accounts" }
                " "
                form method="post" action="/auth/logout" {
                    button type="submit" class="secondary" { "Sign out" }
                }
            }
        },
    )
}

async fn linked_page(app: &App, identity: &Identity, error: Option<&str>) -> Response {
    let Some(account) = account_of(app, identity).await else {
        return (
            StatusCode::NOT_FOUND,
            page("Linked accounts", html! { h1 { "No account" } }),
        )
            .into_response();
    };
    let config = app.layer.config();
    page(
        "Linked accounts",
        html! {
            h1 { "Linked accounts" }
            p {
                "Account " code { (account.id) } " (" strong { (account.username) } "). Local password: "
                (if account.has_local_login { "yes" } else { "no" }) "."
            }
            @if let Some(error) = error {
                p class="error" role="alert" id="error" { (error) }
            }
            table {
                thead { tr { th { "Provider" } th { "Subject" } th {} } }
                tbody {
                    @for p in config.providers() {
                        tr {
                            td { (p.name()) }
                            @match account.identity_of(p.slug()) {
                                Some(linked) => {
                                    td { code { (linked.sub) } }
                                    td {
                                        form method="post" action="/linked/unlink" {
                                            input type="hidden" name="provider" value=(p.slug());
                                            button type="submit" class="secondary" id={ "unlink-" (p.slug()) } { "Unlink" }
                                        }
                                    }
                                }
                                // The layer links the identity the user signs in with next to
                                // the account of their session (same-origin POST only), then
                                // brings them back here.
                                None => {
                                    td { "not linked" }
                                    td {
                                        form method="post"
                                            action={ "/auth/link?provider=" (p.slug()) "&return_to=/linked" } {
                                            button type="submit" id={ "link-" (p.slug()) } { "Link account" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p { a href="/" { "Home" } }
        },
    )
    .into_response()
}

async fn linked(State(app): State<App>, identity: Identity) -> Response {
    linked_page(&app, &identity, None).await
}

async fn unlink(
    State(app): State<App>,
    identity: Identity,
    headers: HeaderMap,
    Form(form): Form<ProviderForm>,
) -> Response {
    if !app.layer.is_same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    let Some(account) = account_of(&app, &identity).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Refused when it is the account's last way in (no password, no other provider).
    match app.accounts.unlink(&account.id, &form.provider).await {
        Ok(()) => Redirect::to("/linked").into_response(),
        Err(e) => {
            let message = format!("Not unlinked: {e}.");
            let mut response = linked_page(&app, &identity, Some(&message)).await;
            *response.status_mut() = StatusCode::CONFLICT;
            response
        }
    }
}

async fn local_form() -> Html<String> {
    page(
        "Administrator sign-in",
        html! {
            h1 { "Administrator sign-in" }
            p { "The break-glass login, for when the identity providers are unavailable." }
            form id="local-login" method="post" action="/login/local" style="display:block" {
                p { label { "Username " input name="username" autocomplete="username" required; } }
                p {
                    label {
                        "Password "
                        input name="password" type="password" autocomplete="current-password" required;
                    }
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

async fn local_submit(
    State(app): State<App>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(credentials): Form<Credentials>,
) -> Response {
    if !app.layer.is_same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    let client = peer.map_or(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        |Extension(ConnectInfo(addr))| addr.ip(),
    );
    let checked = app
        .guard
        .check(client, async {
            let username = password_matches(&credentials.username, "root");
            let password = password_matches(&credentials.password, &app.root_password);
            username & password
        })
        .await;
    match checked {
        Ok(()) => {}
        Err(BreakGlassError::Throttled { retry_after }) => {
            let body = html! {
                h1 { "Too many failed sign-ins" }
                p { "Please wait a while and try again." }
            };
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(
                    header::RETRY_AFTER,
                    retry_after.as_secs().max(1).to_string(),
                )],
                page("Administrator sign-in", body),
            )
                .into_response();
        }
        Err(_) => {
            let body = html! {
                h1 { "Wrong username or password" }
                p { a href="/login/local" { "Try again" } }
            };
            return (
                StatusCode::UNAUTHORIZED,
                page("Administrator sign-in", body),
            )
                .into_response();
        }
    }
    let user = LocalUser {
        username: "root".into(),
        account: Some(app.root_account.to_string()),
        name: Some("Root administrator".into()),
        ..LocalUser::default()
    };
    match app.layer.sign_in_local(&headers, user).await {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/linked")).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot sign in: {e}"),
        )
            .into_response(),
    }
}

/// The account `username`, added with `email` and `has_local_login` unless it exists.
async fn account(
    store: &SqlAccounts,
    username: &str,
    email: Option<&str>,
    has_local_login: bool,
) -> Result<Account, AccountError> {
    if let Some(account) = store.find_by_username(username).await? {
        return Ok(account);
    }
    match store.add_account(username, email, has_local_login).await? {
        Some(account) => Ok(account),
        // Added by another instance meanwhile.
        None => store.find_by_username(username).await?.ok_or_else(|| {
            AccountError::Inconsistent(format!("the account {username} came and went"))
        }),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3002,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let app_url = format!("http://{}", listener.local_addr()?);
    // Two embedded development providers; in a real app, say, Keycloak and Google.
    let company = TestProvider::builder()
        .allow_any_loopback_redirect()
        .start() // users alice, bob and carol
        .await?;
    let partner = TestProvider::builder()
        .allow_any_loopback_redirect()
        .users([TestUser::new("dana", "p-77-dana")
            .claim("email", "dana@partner.test")
            .claim("email_verified", true)])
        .start()
        .await?;

    // The accounts, in the database `DATABASE_URL` names (its tables made or migrated now).
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://accounts.db".into());
    let store = SqlAccounts::connect(&url, SqlAccountsConfig::new()).await?;
    // The accounts an administrator created, at the first start.
    account(&store, "alice", Some("alice@example.test"), false).await?;
    let root = account(&store, "root", None, true).await?;
    let accounts = Arc::new(LinkingResolver::new(store));

    let config = OidcConfig::builder()
        .external_url(&app_url)
        .public_paths(["/"])
        .backup_login_path("/login/local")
        .provider(
            ProviderBuilder::new("Company SSO")
                .issuer(company.issuer())
                .client_id(company.client_id())
                .client_secret(company.client_secret())
                .allow_new_users(false)
                // The company's provider sets every email itself: its verified email may link.
                .link_by_verified_email(true),
        )
        .provider(
            ProviderBuilder::new("Partner login")
                .issuer(partner.issuer())
                .client_id(partner.client_id())
                .client_secret(partner.client_secret())
                .allow_new_users(false),
        )
        .build()?;
    let layer = OidcLayer::new(config).with_account_resolver(accounts.clone());

    let mut bytes = [0u8; 9];
    getrandom::fill(&mut bytes).map_err(|e| format!("no system randomness: {e}"))?;
    let root_password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();

    let state = App {
        layer: layer.clone(),
        accounts,
        root_account: root.id.into(),
        root_password: root_password.clone().into(),
        guard: Arc::new(BreakGlassGuard::new()),
    };
    let app = Router::new()
        .route("/", get(home))
        .route("/linked", get(linked))
        .route("/linked/unlink", post(unlink))
        .route("/login/local", get(local_form).post(local_submit))
        .with_state(state)
        .layer(layer);

    println!("accounts demo: open {app_url}/");
    // A one-off development password, shown once to the person who started the demo.
    println!("break-glass login: {app_url}/login/local (user root, password {root_password})");
    // With the peer address, for the break-glass login's per-address throttle.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

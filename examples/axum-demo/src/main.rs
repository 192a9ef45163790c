//! The oidc-layer demo: an axum app behind `OidcLayer`.
//!
//! `cargo run -p axum-demo` starts it on <http://127.0.0.1:3000> with an embedded development
//! provider (users alice, bob and carol; no set-up). With `OIDC_ISSUER`, `OIDC_CLIENT_ID` and
//! `OIDC_CLIENT_SECRET` set it uses that provider instead. Optional: `OIDC_SCOPES`, `APP_URL`
//! (the external URL, default `http://127.0.0.1:$PORT`), `PORT` (3000), `BIND` (127.0.0.1),
//! `OIDC_COOKIE_KEY` (base64 of 32+ random bytes).

use std::net::SocketAddr;

use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use oidc_layer::testkit::TestProvider;
use oidc_layer::{Identity, OidcConfig, OidcLayer};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn home(identity: Option<Identity>) -> Html<String> {
    let status = match identity {
        Some(id) => format!(
            "<p id=\"status\">Signed in as <strong>{}</strong> ({})</p>\
<form method=\"post\" action=\"/auth/logout\"><button type=\"submit\" id=\"logout\">Sign out</button></form>",
            escape(id.name().unwrap_or(id.username())),
            escape(id.email().unwrap_or("no email")),
        ),
        None => "<p id=\"status\">You are not signed in.</p><p><a class=\"button\" id=\"login\" href=\"/auth/login?return_to=/whoami\">Sign in</a></p>".to_owned(),
    };
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>oidc-layer demo</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1c1e21}}\
a.button,button{{font:inherit;padding:.5rem 1rem;border-radius:8px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;text-decoration:none;cursor:pointer}}</style>\
</head><body><main><h1>oidc-layer demo</h1>{status}\
<h2>Try</h2><ul><li><a href=\"/whoami\">/whoami</a>: protected; your identity as JSON (a browser is sent to log in)</li>\
<li><a href=\"/api/me\">/api/me</a>: the same for API clients (401 with a login URL, never a redirect)</li>\
<li><a href=\"/auth/logout\">/auth/logout</a>: sign out</li></ul></main></body></html>"
    ))
}

async fn whoami(identity: Identity) -> impl IntoResponse {
    Json(identity)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let port: u16 = env("PORT").map(|p| p.parse()).transpose()?.unwrap_or(3000);
    let bind: std::net::IpAddr = env("BIND")
        .map(|b| b.parse())
        .transpose()?
        .unwrap_or([127, 0, 0, 1].into());
    let app_url = env("APP_URL").unwrap_or_else(|| format!("http://127.0.0.1:{port}"));

    // The embedded provider lives as long as `main`.
    let mut _embedded = None;
    let (issuer, client_id, client_secret) = match env("OIDC_ISSUER") {
        Some(issuer) => (
            issuer,
            env("OIDC_CLIENT_ID").ok_or("OIDC_CLIENT_ID is required with OIDC_ISSUER")?,
            env("OIDC_CLIENT_SECRET").unwrap_or_default(),
        ),
        None => {
            let provider = TestProvider::builder()
                .allow_any_loopback_redirect()
                .start()
                .await?;
            let found = (
                provider.issuer().to_owned(),
                provider.client_id().to_owned(),
                provider.client_secret().to_owned(),
            );
            _embedded = Some(provider);
            found
        }
    };

    let mut config = OidcConfig::builder()
        .issuer(&issuer)
        .client_id(client_id)
        .client_secret(client_secret)
        .external_url(&app_url)
        .public_paths(["/", "/favicon.ico"])
        .api_paths(["/api/*"]);
    if let Some(scopes) = env("OIDC_SCOPES") {
        config = config.scopes(
            scopes
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        );
    }
    if let Some(key) = env("OIDC_COOKIE_KEY") {
        config = config.cookie_key(key);
    }
    let layer = OidcLayer::new(config.build()?);

    let app = Router::new()
        .route("/", get(home))
        .route("/whoami", get(whoami))
        .route("/api/me", get(whoami))
        .layer(layer.clone());

    let listener = tokio::net::TcpListener::bind(SocketAddr::new(bind, port)).await?;
    println!("oidc-layer demo listening on {app_url}");
    match &_embedded {
        Some(p) => println!(
            "embedded development provider at {} (users: alice, bob, carol)",
            p.issuer()
        ),
        None => println!(
            "provider {issuer}; register the redirect URI {}",
            layer.redirect_uri()
        ),
    }
    println!("open {app_url}/whoami to log in");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

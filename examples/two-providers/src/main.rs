//! Two identity providers at once: an unauthenticated browser gets a chooser page; each
//! provider has its own callback (`/auth/oidc` for the first, `/auth/oidc/{slug}` for the
//! others) and its own claim settings.
//!
//!     cargo run -p two-providers      # http://127.0.0.1:3001
//!
//! `PORT` sets another port (`0`: any free one; the URL printed at start says which).
//!
//! Both providers are embedded test providers here; in a real app they would be, say,
//! Keycloak and Google.

use axum::routing::get;
use axum::{Json, Router};
use maud::html;
use oidc_layer::{Identity, OidcConfig, OidcLayer, ProviderBuilder};
use oidc_testkit::{TestProvider, TestUser};

const KEY_LOGO: &str = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAyNCAyNCI+PGNpcmNsZSBjeD0iOCIgY3k9IjEyIiByPSI1IiBmaWxsPSIjMGI1N2QwIi8+PHJlY3QgeD0iMTIiIHk9IjExIiB3aWR0aD0iMTAiIGhlaWdodD0iMiIgZmlsbD0iIzBiNTdkMCIvPjwvc3ZnPg==";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3001,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let app_url = format!("http://{}", listener.local_addr()?);
    let company = TestProvider::builder()
        .allow_any_loopback_redirect()
        .start()
        .await?;
    let partner = TestProvider::builder()
        .allow_any_loopback_redirect()
        .users([TestUser::new("dana", "p-77-dana")
            .claim("email", "dana@partner.test")
            .claim("email_verified", true)])
        .start()
        .await?;
    let config = OidcConfig::builder()
        .external_url(&app_url)
        .public_paths(["/"])
        .provider(
            ProviderBuilder::new("Company SSO")
                .issuer(company.issuer())
                .client_id(company.client_id())
                .client_secret(company.client_secret())
                .scopes(["openid", "profile", "email", "groups"])
                .logo(KEY_LOGO),
        )
        .provider(
            ProviderBuilder::new("Partner login")
                .issuer(partner.issuer())
                .client_id(partner.client_id())
                .client_secret(partner.client_secret())
                .allow_new_users(true),
        )
        .build()?;
    let layer = OidcLayer::new(config);
    for r in layer.registrations() {
        println!("{}: register {}", r.provider, r.redirect_uri);
    }
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                axum::response::Html(html! { p { a href="/whoami" { "Who am I?" } } }.into_string())
            }),
        )
        .route("/whoami", get(|id: Identity| async move { Json(id) }))
        .layer(layer);
    println!("open {app_url}/whoami");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

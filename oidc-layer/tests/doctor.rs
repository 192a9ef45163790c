//! The configuration doctor (`OidcLayer::check`) against the in-process testkit provider, a
//! provider that is down, and a fake provider serving hand-written (broken) metadata.

use std::sync::Arc;

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use oidc_layer::doctor::{Level, ProviderReport};
use oidc_layer::roles::RoleMapConfig;
use oidc_layer::{OidcConfig, OidcConfigBuilder, OidcLayer, ProviderBuilder};
use oidc_testkit::TestProvider;
use serde_json::{Value, json};

const APP: &str = "http://127.0.0.1:4999";

fn config(issuer: &str, client_id: &str) -> OidcConfigBuilder {
    OidcConfig::builder()
        .issuer(issuer)
        .client_id(client_id)
        .client_secret("secret")
        .external_url(APP)
}

fn levels(report: &ProviderReport, check: &str) -> Vec<Level> {
    report.check(check).map(|f| f.level).collect()
}

fn messages(report: &ProviderReport, check: &str) -> String {
    report
        .check(check)
        .map(|f| f.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn testkit() -> TestProvider {
    TestProvider::builder()
        .redirect_uris([format!("{APP}/auth/oidc")])
        .start()
        .await
        .expect("start the test provider")
}

#[tokio::test]
async fn a_healthy_provider_passes_and_the_registrations_are_listed() {
    // Signs alice in at once: the test authorization request comes back with a code.
    let provider = TestProvider::builder()
        .redirect_uris([format!("{APP}/auth/oidc")])
        .auto_login("alice")
        .start()
        .await
        .unwrap();
    let layer = OidcLayer::new(
        config(provider.issuer(), provider.client_id())
            .client_secret(provider.client_secret())
            .scopes(["openid", "profile", "email", "groups"])
            .roles(RoleMapConfig::new().rule("admins", "admin"))
            .build()
            .unwrap(),
    );
    let report = layer.check().await;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.warnings(), 0, "{report}");
    let p = &report.providers[0];
    for check in [
        "discovery",
        "issuer",
        "metadata",
        "redirect_uri",
        "client_secret",
        "logout",
        "scopes",
        "claims",
        "jwks",
        "clock",
    ] {
        assert_eq!(
            levels(p, check).first(),
            Some(&Level::Ok),
            "{check}: {report}"
        );
    }
    assert!(
        messages(p, "redirect_uri").contains(&format!("{APP}/auth/oidc is registered")),
        "{report}"
    );
    assert!(
        messages(p, "logout").contains(&format!("{APP}/auth/logged-out")),
        "the post-logout URI to register: {report}"
    );
    assert!(messages(p, "jwks").contains("signing key"), "{report}");
    let text = report.to_string();
    assert!(text.ends_with("OK: 0 errors, 0 warnings"), "{text}");
    assert!(
        !text.contains(provider.client_secret()),
        "no secret in the report: {text}"
    );
}

#[tokio::test]
async fn an_unregistered_redirect_uri_and_a_wrong_client_id_are_errors() {
    let provider = TestProvider::builder()
        .redirect_uris(["http://127.0.0.1:1/elsewhere"])
        .start()
        .await
        .unwrap();
    let layer = OidcLayer::new(
        config(provider.issuer(), provider.client_id())
            .build()
            .unwrap(),
    );
    let report = layer.check().await;
    assert!(!report.is_ok(), "{report}");
    let p = &report.providers[0];
    assert_eq!(levels(p, "redirect_uri"), [Level::Error], "{report}");
    assert!(
        messages(p, "redirect_uri").contains(&format!("register the redirect URI {APP}/auth/oidc")),
        "{report}"
    );

    let provider = testkit().await;
    let layer = OidcLayer::new(config(provider.issuer(), "not-the-client").build().unwrap());
    let report = layer.check().await;
    assert_eq!(
        levels(&report.providers[0], "redirect_uri"),
        [Level::Error],
        "{report}"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_an_error_without_a_login() {
    let provider = testkit().await;
    let check = |secret: &str| {
        let layer = OidcLayer::new(
            config(provider.issuer(), provider.client_id())
                .client_secret(secret)
                .build()
                .unwrap(),
        );
        async move { layer.check().await }
    };
    let right = check(provider.client_secret()).await;
    let p = &right.providers[0];
    assert_eq!(levels(p, "client_secret"), [Level::Ok], "{right}");
    assert!(
        messages(p, "client_secret").contains("the client secret is accepted"),
        "{right}"
    );
    let wrong = check("not-the-secret").await;
    let p = &wrong.providers[0];
    assert_eq!(levels(p, "client_secret"), [Level::Error], "{wrong}");
    assert!(
        messages(p, "client_secret").contains("invalid_client"),
        "{wrong}"
    );
    assert!(!wrong.is_ok(), "{wrong}");
    for report in [&right, &wrong] {
        let text = format!("{report}{report:?}");
        for secret in [provider.client_secret(), "not-the-secret"] {
            assert!(!text.contains(secret), "the secret in the report: {text}");
        }
    }
    // Neither test request was a login: no code was ever issued to exchange.
    assert_eq!(provider.token_requests(), 2);
}

#[tokio::test]
async fn a_provider_that_is_down_is_an_error_with_the_uris_still_listed() {
    // A port that was just free: nothing listens there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let layer = OidcLayer::new(
        config(&format!("http://127.0.0.1:{port}"), "app")
            .build()
            .unwrap(),
    );
    let report = layer.check().await;
    assert!(!report.is_ok());
    let p = &report.providers[0];
    assert_eq!(levels(p, "discovery"), [Level::Error], "{report}");
    assert!(
        messages(p, "discovery").contains("cannot reach"),
        "{report}"
    );
    assert!(
        messages(p, "redirect_uri").contains(&format!("{APP}/auth/oidc")),
        "{report}"
    );
    assert!(
        levels(p, "jwks").is_empty(),
        "nothing else is checked: {report}"
    );
    assert!(
        report.to_string().ends_with("FAILED: 1 error, 0 warnings"),
        "{report}"
    );
}

#[tokio::test]
async fn issuer_spelling_trailing_slash_is_fine_another_host_is_not() {
    let provider = testkit().await;
    let slash = format!("{}/", provider.issuer());
    let report = OidcLayer::new(config(&slash, provider.client_id()).build().unwrap())
        .check()
        .await;
    let p = &report.providers[0];
    assert_eq!(levels(p, "issuer"), [Level::Ok], "{report}");
    assert!(messages(p, "issuer").contains("trailing slash"), "{report}");

    let localhost = provider.issuer().replace("127.0.0.1", "localhost");
    let report = OidcLayer::new(config(&localhost, provider.client_id()).build().unwrap())
        .check()
        .await;
    let p = &report.providers[0];
    assert_eq!(levels(p, "issuer"), [Level::Error], "{report}");
    assert!(
        messages(p, "issuer").contains("the host differs"),
        "{report}"
    );
    // Reported once, with its hint: the layer's own parser refuses the document for the same
    // reason, and that is not repeated under `metadata`.
    assert!(levels(p, "metadata").is_empty(), "{report}");
    assert!(!report.is_ok());
}

#[tokio::test]
async fn unadvertised_scopes_are_warnings_unadvertised_claims_informational() {
    let provider = testkit().await;
    let layer = OidcLayer::new(
        config(provider.issuer(), provider.client_id())
            .scopes(["openid", "profile", "roles"])
            .username_claim("login")
            .groups_claim("realm_access/roles")
            .required_claims(["is_staff"])
            .roles(RoleMapConfig::new().rule("admins", "admin"))
            .build()
            .unwrap(),
    );
    let report = layer.check().await;
    let p = &report.providers[0];
    let scopes = messages(p, "scopes");
    assert!(
        scopes.contains("`roles` not in scopes_supported"),
        "{report}"
    );
    assert!(
        scopes.contains("`groups` scope that is not requested"),
        "{report}"
    );
    let claims = messages(p, "claims");
    for claim in ["`login`", "`realm_access/roles`", "`is_staff`"] {
        assert!(claims.contains(claim), "{claim}: {report}");
    }
    // claims_supported is incomplete at most providers: informational, so a `--strict`
    // check (`warnings() == 0`) does not fail on it; the scopes still warn.
    assert_eq!(
        levels(p, "claims"),
        [Level::Info, Level::Info, Level::Info],
        "{report}"
    );
    assert!(claims.contains("informational, not a warning"), "{report}");
    assert_eq!(report.notes(), 3, "{report}");
    assert!(
        levels(p, "scopes").iter().all(|l| *l == Level::Warn),
        "{report}"
    );
    assert_eq!(report.warnings(), levels(p, "scopes").len(), "{report}");
    assert!(report.warnings() >= 2, "{report}");
    let text = report.to_string();
    assert!(text.contains("  info  claims"), "{text}");
}

#[tokio::test]
async fn several_providers_each_get_a_report() {
    let alpha = testkit().await;
    let beta = TestProvider::builder()
        .redirect_uris([format!("{APP}/auth/oidc/beta")])
        .start()
        .await
        .unwrap();
    let layer = OidcLayer::new(
        OidcConfig::builder()
            .external_url(APP)
            .provider(
                ProviderBuilder::new("Alpha")
                    .issuer(alpha.issuer())
                    .client_id(alpha.client_id()),
            )
            .provider(
                ProviderBuilder::new("Beta")
                    .issuer(beta.issuer())
                    .client_id(beta.client_id()),
            )
            .build()
            .unwrap(),
    );
    let report = layer.check().await;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.providers.len(), 2);
    let beta = report.provider("beta").expect("beta's report");
    assert!(
        messages(beta, "redirect_uri").contains(&format!(
            "register this redirect URI: {APP}/auth/oidc/beta (a test"
        )),
        "{report}"
    );
    assert!(report.to_string().contains("Beta (beta): "), "{report}");
}

/// A provider serving `metadata(issuer)` as its discovery document, `jwks` as its key set and
/// `date` (when set) as the `Date` header of the discovery answer.
async fn fake_provider(
    metadata: impl Fn(&str) -> Value + Send + Sync + 'static,
    jwks: Value,
    date: Option<&'static str>,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let issuer = format!("http://{}", listener.local_addr().expect("its address"));
    let doc = Arc::new(metadata(&issuer));
    let router = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let doc = doc.clone();
                async move {
                    let mut response = Json((*doc).clone()).into_response();
                    if let Some(date) = date {
                        response
                            .headers_mut()
                            .insert(header::DATE, date.parse().expect("a header value"));
                    }
                    response
                }
            }),
        )
        .route("/jwks", get(move || async move { Json(jwks.clone()) }))
        .route(
            "/authorize",
            get(|| async { axum::response::Html("<form>sign in</form>") }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    issuer
}

fn metadata(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

/// A 2048-bit RSA public key (RFC 7638 3.1's example): the doctor names shorter ones unusable.
const RSA_KEY: &str = concat!(
    r#"{"kty":"RSA","use":"sig","kid":"k1","e":"AQAB","n":""#,
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_",
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_",
    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI",
    "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    r#""}"#
);

#[tokio::test]
async fn broken_key_sets_and_algorithms_are_errors() {
    let empty = fake_provider(metadata, json!({ "keys": [] }), None).await;
    let report = OidcLayer::new(config(&empty, "app").build().unwrap())
        .check()
        .await;
    let p = &report.providers[0];
    assert_eq!(levels(p, "jwks"), [Level::Error], "{report}");
    assert!(messages(p, "jwks").contains("has no keys"), "{report}");

    let encryption_only = fake_provider(
        metadata,
        json!({ "keys": [{"kty": "RSA", "use": "enc", "n": "sXch", "e": "AQAB"}] }),
        None,
    )
    .await;
    let report = OidcLayer::new(config(&encryption_only, "app").build().unwrap())
        .check()
        .await;
    assert!(
        messages(&report.providers[0], "jwks").contains("none for asymmetric signatures"),
        "{report}"
    );

    let hmac_only = fake_provider(
        |issuer| {
            let mut doc = metadata(issuer);
            doc["id_token_signing_alg_values_supported"] = json!(["HS256", "none"]);
            doc
        },
        json!({ "keys": [serde_json::from_str::<Value>(RSA_KEY).unwrap()] }),
        None,
    )
    .await;
    let report = OidcLayer::new(config(&hmac_only, "app").build().unwrap())
        .check()
        .await;
    let p = &report.providers[0];
    assert_eq!(levels(p, "jwks"), [Level::Error, Level::Ok], "{report}");
    assert!(
        messages(p, "jwks").contains("no asymmetric ID-token algorithm"),
        "{report}"
    );
    // Without claims_supported / scopes_supported nothing is claimed about them; an answer of
    // 200 from the authorization endpoint cannot be judged, so it is not an error.
    assert_eq!(levels(p, "scopes"), [Level::Ok], "{report}");
    assert_eq!(levels(p, "claims"), [Level::Ok], "{report}");
    assert_eq!(levels(p, "redirect_uri"), [Level::Ok], "{report}");
}

#[tokio::test]
async fn an_http_issuer_behind_https_and_a_skewed_clock_are_reported() {
    // The provider advertises its issuer with another scheme (a proxy not forwarding the
    // scheme looks like this from the app).
    let issuer = fake_provider(
        |issuer| {
            let mut doc = metadata(issuer);
            doc["issuer"] = json!(issuer.replace("http://", "https://"));
            doc
        },
        json!({ "keys": [serde_json::from_str::<Value>(RSA_KEY).unwrap()] }),
        Some("Sun, 06 Nov 1994 08:49:37 GMT"),
    )
    .await;
    let report = OidcLayer::new(config(&issuer, "app").build().unwrap())
        .check()
        .await;
    let p = &report.providers[0];
    assert_eq!(levels(p, "issuer"), [Level::Error], "{report}");
    assert!(
        messages(p, "issuer").contains("configure the https URL the provider advertises"),
        "{report}"
    );
    assert!(levels(p, "metadata").is_empty(), "{report}");
    assert_eq!(levels(p, "clock"), [Level::Warn], "{report}");
    assert!(messages(p, "clock").contains("behind"), "{report}");
}

#[tokio::test]
async fn a_document_the_layer_refuses_is_a_metadata_error() {
    let issuer = fake_provider(
        |issuer| {
            let mut doc = metadata(issuer);
            doc.as_object_mut()
                .expect("an object")
                .remove("token_endpoint");
            doc
        },
        json!({ "keys": [serde_json::from_str::<Value>(RSA_KEY).unwrap()] }),
        None,
    )
    .await;
    let report = OidcLayer::new(config(&issuer, "app").build().unwrap())
        .check()
        .await;
    let p = &report.providers[0];
    assert_eq!(levels(p, "issuer"), [Level::Ok], "{report}");
    assert_eq!(levels(p, "metadata"), [Level::Error], "{report}");
    assert_eq!(
        messages(p, "metadata"),
        "the provider has no token_endpoint",
        "{report}"
    );
    // Without metadata the layer accepts, the redirect URI is listed but not tried, and the
    // key set is not checked.
    assert_eq!(levels(p, "redirect_uri"), [Level::Ok], "{report}");
    assert!(
        messages(p, "redirect_uri").starts_with("register this redirect URI: "),
        "{report}"
    );
    assert!(levels(p, "jwks").is_empty(), "{report}");
    assert!(!report.is_ok());
}

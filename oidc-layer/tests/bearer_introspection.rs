//! Opaque access tokens through the layer, in process: checked at the provider's
//! introspection endpoint (RFC 7662) with the app's client credentials, answers cached (an
//! active one until `introspection_cache_seconds` or `exp`, an inactive one 10 s), an
//! unreachable endpoint a 503 (never the token's fault), nothing stored.

#![allow(clippy::unwrap_used)]

#[path = "bearer_common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use http::StatusCode;
use serde_json::{Value, json};

/// Calls per token, and the `Authorization` header of the last call.
type Calls = Arc<Mutex<(HashMap<String, usize>, Option<String>)>>;

/// An introspecting provider: discovery, no keys, and `/introspect` answering by token.
struct Introspector {
    issuer: String,
    calls: Calls,
}

async fn introspect(
    State((issuer, calls)): State<(String, Calls)>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let token = form.get("token").cloned().unwrap_or_default();
    {
        let mut calls = calls.lock().unwrap();
        *calls.0.entry(token.clone()).or_default() += 1;
        calls.1 = headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
    }
    let user = json!({
        "active": true, "iss": issuer, "sub": "u-1001-alice", "aud": AUDIENCE,
        "client_id": "cli", "scope": "read", "exp": now() + 3600,
        "preferred_username": "alice", "groups": ["admins", "users"],
    });
    match token.as_str() {
        "alice" => Json(user).into_response(),
        "machine" => Json(json!({
            "active": true, "aud": [AUDIENCE], "client_id": "cli", "scope": "read", "exp": now() + 3600,
        }))
        .into_response(),
        "other-audience" => Json(with(user, json!({"aud": "https://other.example"}))).into_response(),
        "other-issuer" => Json(with(user, json!({"iss": "https://evil.example"}))).into_response(),
        "expired" => Json(with(user, json!({"exp": now() - 600}))).into_response(),
        "bound" => Json(with(user, json!({"cnf": {"jkt": b64(&[1u8; 32])}}))).into_response(),
        "refresh" => Json(with(user, json!({"token_type": "refresh_token"}))).into_response(),
        "typed" => Json(with(user, json!({"token_type": "Bearer"}))).into_response(),
        "down" => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        "garbled" => "<html>".into_response(),
        _ => Json(json!({"active": false})).into_response(),
    }
}

impl Introspector {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
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
        let calls = Arc::new(Mutex::new((HashMap::new(), None)));
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(document) }),
            )
            .route("/jwks", get(|| async { Json(json!({"keys": []})) }))
            .route("/introspect", post(introspect))
            .with_state((issuer.clone(), calls.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { issuer, calls }
    }

    fn calls(&self, token: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .0
            .get(token)
            .copied()
            .unwrap_or(0)
    }

    fn app(&self) -> (axum::Router, Arc<CountingStore>) {
        let config = oidc_layer::OidcConfig::from_toml_str(&format!(
            r#"
            external_url = "{EXTERNAL}"
            api_paths = ["/api/*"]
            issuer = "{}"
            client_id = "app:1"
            client_secret = "s3cret%"
            api_audience = "{AUDIENCE}"
            introspection = true
            roles = {{ rules = {{ admins = "admin", users = "user" }} }}
            "#,
            self.issuer
        ))
        .unwrap();
        let store = Arc::new(CountingStore::default());
        (
            app(oidc_layer::OidcLayer::new(config).with_store(store.clone())),
            store,
        )
    }
}

#[tokio::test]
async fn active_tokens_are_mapped_like_a_login_and_cached() {
    let op = Introspector::start().await;
    let (app, store) = op.app();
    let answer = get_with_token(&app, "/api/me", "alice").await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body["username"], "alice");
    assert_eq!(answer.body["has_admin"], true);
    assert_eq!(answer.body["scopes"], json!(["read"]));
    assert_eq!(answer.body["authentication"], "bearer");
    // The app authenticated itself with Basic, id and secret form-urlencoded first.
    let basic = op.calls.lock().unwrap().1.clone().unwrap();
    assert_eq!(basic, format!("Basic {}", base64_std("app%3A1:s3cret%25")));
    assert_eq!(
        get_with_token(&app, "/api/me", "typed").await.status,
        StatusCode::OK
    );
    // Cached: the endpoint is asked once.
    assert_eq!(
        get_with_token(&app, "/api/me", "alice").await.status,
        StatusCode::OK
    );
    assert_eq!(op.calls("alice"), 1);
    // A machine token (no sub): the client is the subject.
    let machine = get_with_token(&app, "/api/me", "machine").await;
    assert_eq!(machine.status, StatusCode::OK, "{machine:?}");
    assert_eq!(
        (machine.body["sub"].clone(), machine.body["machine"].clone()),
        (json!("cli"), json!(true))
    );
    assert_eq!(store.writes.load(std::sync::atomic::Ordering::SeqCst), 0);
}

fn base64_std(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn inactive_and_foreign_tokens_are_refused_and_an_unreachable_endpoint_is_a_503() {
    let op = Introspector::start().await;
    let (app, store) = op.app();
    for (token, why) in [
        ("revoked", "not active"),
        ("other-audience", "not for this API"),
        ("other-issuer", "issuer"),
        ("expired", "expired"),
        ("refresh", "not an access token"),
    ] {
        let answer = get_with_token(&app, "/api/me", token).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{token}");
        assert!(
            answer.challenge().contains("error=\"invalid_token\""),
            "{token}"
        );
        assert!(
            answer.body["detail"].as_str().unwrap().contains(why),
            "{token}: {answer:?}"
        );
        assert!(!answer.sets_cookies());
    }
    // An inactive answer is reused (10 s): asked once for two requests.
    get_with_token(&app, "/api/me", "revoked").await;
    assert_eq!(op.calls("revoked"), 1);
    // A bound token presented as Bearer: refused with a DPoP challenge.
    let bound = get_with_token(&app, "/api/me", "bound").await;
    assert_eq!(bound.status, StatusCode::UNAUTHORIZED);
    assert!(bound.challenge().starts_with("DPoP "));
    // The endpoint failing is not the token's fault: 503, and not cached.
    for token in ["down", "garbled"] {
        let answer = get_with_token(&app, "/api/me", token).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{token}");
        assert_eq!(answer.headers["content-type"], "application/problem+json");
        get_with_token(&app, "/api/me", token).await;
        assert_eq!(op.calls(token), 2, "{token}");
    }
    assert_eq!(store.writes.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn without_introspection_an_opaque_token_is_invalid() {
    let provider = provider().await;
    let (app, _) = app_with(&provider, &format!("api_audience = \"{AUDIENCE}\""));
    let answer = get_with_token(&app, "/api/me", "opaque-token").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.challenge().contains("error=\"invalid_token\""));
    let _: Value = answer.body;
}

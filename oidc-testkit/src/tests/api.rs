//! Access tokens for APIs: RFC 9068 JWTs with an API audience, the client credentials grant,
//! machine clients.

use base64::Engine as _;

use openidconnect::JsonWebKey as _;
use openidconnect::core::CoreJwsSigningAlgorithm;
use serde_json::{Value, json};

use super::*;
use crate::TestProvider;

const API: &str = "https://api.example.test";

/// Whether `token`'s signature verifies with a key of the provider's JWKS, in `alg`.
async fn verifies(provider: &TestProvider, token: &str, alg: CoreJwsSigningAlgorithm) -> bool {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    fetch_jwks(provider).await.keys().iter().any(|key| {
        key.verify_signature(&alg, input.as_bytes(), &signature)
            .is_ok()
    })
}

async fn client_credentials(
    provider: &TestProvider,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> reqwest::Response {
    // RFC 6749 2.3.1: both form-urlencoded before the Basic encoding.
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(client.0), encode(client.1));
    http()
        .post(format!("{}/token", provider.issuer()))
        .header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            ),
        )
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn user_access_tokens_are_rfc9068_jwts_for_the_api() {
    let provider = TestProvider::builder()
        .api_audience(API)
        .start()
        .await
        .unwrap();
    let sign_in = sign_in(&provider, "alice").await;
    let tokens = tokens(redeem(&provider, &sign_in).await).await;
    let (header, claims) = decode_jwt(&tokens.access_token);
    assert_eq!(
        header,
        json!({ "alg": "RS256", "typ": "at+jwt", "kid": "testkit-rs256-1" })
    );
    assert_eq!(claims["iss"], provider.issuer());
    assert_eq!(claims["aud"], API);
    assert_eq!(claims["sub"], "u-1001-alice");
    assert_eq!(claims["client_id"], "test-client");
    assert_eq!(claims["scope"], "openid profile email groups");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["groups"], json!(["admins", "users"]));
    assert!(claims["auth_time"].is_u64());
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 32));
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 300);
    assert!(
        verifies(
            &provider,
            &tokens.access_token,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
        )
        .await
    );
    // The ID token's at_hash covers the JWT, and userinfo takes it.
    verify_id_token(
        &provider,
        &tokens.id_token,
        Some(&sign_in.nonce),
        Some(&tokens.access_token),
    )
    .await
    .unwrap();
    let info = userinfo(&provider, &tokens.access_token).await;
    assert_eq!(info.status(), 200);

    // Claims follow the scopes: bob without `groups` gets no groups in his token.
    let sign_in = sign_in_with_scope(&provider, "bob", "openid profile").await;
    let bob = super::tokens(redeem(&provider, &sign_in).await).await;
    let (_, claims) = decode_jwt(&bob.access_token);
    assert_eq!(claims["preferred_username"], "bob");
    assert!(claims.get("groups").is_none(), "{claims}");
    assert!(claims.get("email").is_none(), "{claims}");

    // A refresh issues a new JWT for the same user.
    let refreshed = refresh(&provider, &bob.refresh_token).await;
    assert_eq!(refreshed.status(), 200);
    let body: Value = refreshed.json().await.unwrap();
    let (_, again) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(again["sub"], "u-1002-bob");
    assert_ne!(again["jti"], claims["jti"]);
}

#[tokio::test]
async fn without_an_api_audience_access_tokens_stay_opaque_and_no_client_credentials() {
    let provider = TestProvider::start().await.unwrap();
    let sign_in = sign_in(&provider, "alice").await;
    let tokens = tokens(redeem(&provider, &sign_in).await).await;
    assert!(!tokens.access_token.contains('.'));
    let response = client_credentials(
        &provider,
        ("test-client", "test-secret"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_oauth_error(response, 400, "unsupported_grant_type").await;
    let discovery: Value = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        provider.issuer()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        discovery["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
}

#[tokio::test]
async fn machine_clients_get_tokens_for_themselves() {
    let provider = TestProvider::builder()
        .api_audience(API)
        .machine_client("demo-cli", "cli secret/+")
        .start()
        .await
        .unwrap();
    let response = client_credentials(
        &provider,
        ("demo-cli", "cli secret/+"),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read write"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "read write");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("id_token").is_none(), "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (header, claims) = decode_jwt(token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], "demo-cli");
    assert_eq!(claims["client_id"], "demo-cli");
    assert_eq!(claims["aud"], API);
    assert_eq!(claims["scope"], "read write");
    assert!(claims.get("preferred_username").is_none(), "{claims}");
    assert!(
        verifies(
            &provider,
            token,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
        )
        .await
    );
    // The main client may use the grant too; a machine client nothing else.
    let response = client_credentials(
        &provider,
        ("test-client", "test-secret"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "test-client");
    assert!(claims.get("scope").is_none(), "{claims}");
    let response = client_credentials(
        &provider,
        ("demo-cli", "cli secret/+"),
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
    let response = client_credentials(
        &provider,
        ("demo-cli", "wrong"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_oauth_error(response, 401, "invalid_client").await;
    let response = client_credentials(
        &provider,
        ("nobody", "cli secret/+"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn machine_clients_need_an_audience_and_unique_ids() {
    let err = TestProvider::builder()
        .machine_client("cli", "s")
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = TestProvider::builder()
        .api_audience(API)
        .machine_client("test-client", "s")
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("test-client"), "{err}");
}

#[tokio::test]
async fn es256_signatures_verify_with_the_published_key() {
    let provider = TestProvider::start().await.unwrap();
    let token = crate::sign_jws_es256(None, br#"{"sub":"alice"}"#).unwrap();
    let (header, _) = decode_jwt(&token);
    assert_eq!(header["kid"], "testkit-es256-1");
    assert!(verifies(&provider, &token, CoreJwsSigningAlgorithm::EcdsaP256Sha256).await);
    let mut tampered = token.clone();
    tampered.insert(tampered.find('.').unwrap() + 1, 'A');
    assert!(
        !verifies(
            &provider,
            &tampered,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256
        )
        .await
    );
}

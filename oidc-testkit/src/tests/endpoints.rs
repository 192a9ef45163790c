//! Discovery, JWKS and end-session.

use openidconnect::core::CoreProviderMetadata;
use serde_json::{Value, json};

use super::*;
use crate::{Tamper, TestProvider};

#[tokio::test]
async fn discovery_document_describes_the_provider() {
    let provider = TestProvider::start().await.unwrap();
    let issuer = provider.issuer().to_owned();
    assert!(!issuer.ends_with('/'));
    let url = format!("{issuer}/.well-known/openid-configuration");
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["authorization_endpoint"], format!("{issuer}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(doc["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(doc["end_session_endpoint"], format!("{issuer}/end-session"));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256"])
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        doc["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        doc["scopes_supported"],
        json!(["openid", "profile", "email", "groups"])
    );
    for claim in ["sub", "email", "groups", "is_admin", "preferred_username"] {
        assert!(
            doc["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(claim)),
            "{claim}"
        );
    }
    // openidconnect accepts it as provider metadata.
    let metadata: CoreProviderMetadata = serde_json::from_str(&text).unwrap();
    assert_eq!(metadata.issuer().as_str(), issuer);
    // Every advertised endpoint answers.
    for path in ["/jwks", "/userinfo", "/end-session", "/authorize"] {
        let status = http()
            .get(format!("{issuer}{path}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_ne!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn jwks_publishes_only_the_public_signing_keys() {
    let provider = TestProvider::start().await.unwrap();
    let jwks: Value = reqwest::get(format!("{}/jwks", provider.issuer()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(
        kids,
        ["testkit-rs256-1", "testkit-rs256-2", "testkit-es256-1"]
    );
    for key in &keys[..2] {
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(key["n"].as_str().unwrap())
                .unwrap()
                .len(),
            256
        );
        assert_eq!(key["e"], "AQAB");
    }
    let ec = &keys[2];
    assert_eq!(
        (&ec["kty"], &ec["crv"], &ec["use"], &ec["alg"]),
        (
            &json!("EC"),
            &json!("P-256"),
            &json!("sig"),
            &json!("ES256")
        )
    );
    for coordinate in ["x", "y"] {
        let bytes = URL_SAFE_NO_PAD
            .decode(ec[coordinate].as_str().unwrap())
            .unwrap();
        assert_eq!(bytes.len(), 32, "{coordinate}");
    }
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "{private}");
        }
    }
}

async fn end_session(provider: &TestProvider, params: &[(&str, &str)]) -> reqwest::Response {
    http()
        .get(format!("{}/end-session", provider.issuer()))
        .query(params)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn end_session_redirects_only_to_registered_uris() {
    let provider = TestProvider::start().await.unwrap();
    let sign_in = sign_in(&provider, "alice").await;
    let id_token = tokens(redeem(&provider, &sign_in).await).await.id_token;
    let logged_out = "http://127.0.0.1:3000/logged-out";

    // With id_token_hint, or with client_id: redirect, state echoed.
    for identify in [
        ("id_token_hint", id_token.as_str()),
        ("client_id", "test-client"),
    ] {
        let response = end_session(
            &provider,
            &[
                identify,
                ("post_logout_redirect_uri", logged_out),
                ("state", "x y"),
            ],
        )
        .await;
        assert_eq!(response.status(), 302);
        assert_eq!(
            response.headers()["location"],
            format!("{logged_out}?state=x+y")
        );
    }
    // No redirect URI: a page.
    let response = end_session(&provider, &[("id_token_hint", &id_token)]).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Signed out"));

    let refused: Vec<Vec<(&str, &str)>> = vec![
        // Not registered.
        vec![
            ("client_id", "test-client"),
            ("post_logout_redirect_uri", "http://127.0.0.1:3000/evil"),
        ],
        // The client is not identified.
        vec![("post_logout_redirect_uri", logged_out)],
        // Unknown client.
        vec![
            ("client_id", "other"),
            ("post_logout_redirect_uri", logged_out),
        ],
        // Not a token of this provider.
        vec![
            ("id_token_hint", "a.b.c"),
            ("post_logout_redirect_uri", logged_out),
        ],
    ];
    for params in refused {
        let response = end_session(&provider, &params).await;
        assert_eq!(response.status(), 400, "{params:?}");
        assert!(response.headers().get("location").is_none());
    }

    // Hints with a bad signature or from another key are refused; an expired one is fine.
    for (tamper, status) in [
        (Tamper::BadSignature, 400),
        (Tamper::UnknownKid, 400),
        (Tamper::AlgNone, 400),
        (Tamper::HmacWithPublicKey, 400),
        (Tamper::WrongIssuer, 400),
        (Tamper::WrongAudience, 400),
        (Tamper::ExpiredIdToken, 302),
    ] {
        provider.set_tamper(Tamper::None);
        let sign_in = super::sign_in(&provider, "bob").await;
        provider.set_tamper(tamper);
        let hint = tokens(redeem(&provider, &sign_in).await).await.id_token;
        let response = end_session(
            &provider,
            &[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", logged_out),
            ],
        )
        .await;
        assert_eq!(response.status(), status, "{tamper:?}");
    }
}

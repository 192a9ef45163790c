//! Code exchange, client authentication, PKCE, refresh, userinfo.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::{TestProvider, TestUser};

#[tokio::test]
async fn code_flow_roundtrip_issues_verifiable_tokens() {
    let provider = TestProvider::start().await.unwrap();
    let sign_in = sign_in(&provider, "alice").await;
    assert!(
        sign_in
            .location
            .as_str()
            .starts_with(&format!("{REDIRECT}?code="))
    );
    assert_eq!(sign_in.param("state").unwrap(), sign_in.state);
    assert_eq!(sign_in.param("iss").unwrap(), provider.issuer());
    assert!(URL_SAFE_NO_PAD.decode(sign_in.code()).unwrap().len() >= 16);

    let response = redeem(&provider, &sign_in).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens = tokens(response).await;
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["expires_in"], 300);
    assert_eq!(tokens.body["scope"], "openid profile email groups");
    assert_eq!(provider.token_requests(), 1);

    let claims = verify_id_token(
        &provider,
        &tokens.id_token,
        Some(&sign_in.nonce),
        Some(&tokens.access_token),
    )
    .await
    .unwrap();
    assert_eq!(claims.subject().as_str(), "u-1001-alice");
    assert_eq!(claims.authorized_party().unwrap().as_str(), "test-client");
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.email().unwrap().as_str(), "alice@example.test");
    let extra = &claims.additional_claims().claims;
    assert_eq!(extra["groups"], json!(["admins", "users"]));
    assert_eq!(extra["is_admin"], true);

    let (header, payload) = decode_jwt(&tokens.id_token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], "testkit-rs256-1");
    assert_eq!(payload["aud"], json!(["test-client"]));
    assert_eq!(payload["name"], "Alice Anders");
    assert_eq!(payload["preferred_username"], "alice");
    assert_eq!(payload["email_verified"], true);
    let lifetime = payload["exp"].as_u64().unwrap() - payload["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 3600);

    let info = userinfo(&provider, &tokens.access_token).await;
    assert_eq!(info.status(), 200);
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["sub"], "u-1001-alice");
    assert_eq!(info["family_name"], "Anders");
    assert_eq!(info["groups"], json!(["admins", "users"]));
}

#[tokio::test]
async fn claims_are_released_by_scope() {
    let dave = TestUser::new("dave", "u-1004-dave")
        .claim("email", "dave@example.test")
        .claim("roles", json!(["ops"]));
    let provider = TestProvider::builder()
        .users([TestUser::bob(), dave])
        .start()
        .await
        .unwrap();
    let sign_in = sign_in_with_scope(&provider, "bob", "openid email").await;
    let tokens = tokens(redeem(&provider, &sign_in).await).await;
    assert_eq!(tokens.body["scope"], "openid email");
    let (_, payload) = decode_jwt(&tokens.id_token);
    assert_eq!(payload["email"], "bob@example.test");
    assert_eq!(payload["email_verified"], false);
    for absent in ["name", "preferred_username", "groups", "is_admin"] {
        assert!(
            payload.get(absent).is_none(),
            "{absent} released without its scope"
        );
    }
    let info: Value = userinfo(&provider, &tokens.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        info,
        json!({"sub": "u-1002-bob", "email": "bob@example.test", "email_verified": false})
    );

    // A custom claim outside every scope is always released; unknown scopes are dropped.
    let sign_in = sign_in_with_scope(&provider, "dave", "openid unknown-scope").await;
    let tokens = super::tokens(redeem(&provider, &sign_in).await).await;
    assert_eq!(tokens.body["scope"], "openid");
    let (_, payload) = decode_jwt(&tokens.id_token);
    assert_eq!(payload["sub"], "u-1004-dave");
    assert_eq!(payload["roles"], json!(["ops"]));
    assert!(payload.get("email").is_none());
}

#[tokio::test]
async fn client_authentication_basic_and_post() {
    // Characters that RFC 6749 2.3.1 form-url-encodes inside the Basic credentials.
    let (id, secret) = ("my client:1", "p@ss+word/=%");
    let provider = TestProvider::builder()
        .client(id, secret)
        .start()
        .await
        .unwrap();
    let exchange = |sign_in: &SignIn| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), sign_in.code()),
            ("redirect_uri".to_owned(), REDIRECT.to_owned()),
            ("code_verifier".to_owned(), sign_in.pkce.verifier.clone()),
        ]
    };
    let sign_in_as = |user: &'static str| {
        let provider = &provider;
        async move {
            let pkce = pkce();
            let mut params = authorize_params(&pkce, "n", "s", "openid");
            params[1].1 = id.to_owned();
            let response = press(provider, &params, ("user", user)).await;
            SignIn {
                location: location(&response),
                pkce,
                nonce: "n".into(),
                state: "s".into(),
            }
        }
    };
    let post = |form: Vec<(String, String)>| {
        http()
            .post(format!("{}/token", provider.issuer()))
            .form(&form)
    };
    let encoded = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();

    // Basic with raw (not form-encoded) credentials: `+` decodes to a space, so this fails.
    let sign_in = sign_in_as("alice").await;
    let response = post(exchange(&sign_in))
        .basic_auth(id, Some(secret))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_oauth_error(response, 401, "invalid_client").await;
    // Properly encoded: accepted (the code was not burnt by the failed client authentication).
    let response = post(exchange(&sign_in))
        .basic_auth(encoded(id), Some(encoded(secret)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // client_secret_post.
    let sign_in = sign_in_as("bob").await;
    let mut form = exchange(&sign_in);
    form.push(("client_id".into(), id.into()));
    form.push(("client_secret".into(), "wrong".into()));
    assert_oauth_error(
        post(form.clone()).send().await.unwrap(),
        401,
        "invalid_client",
    )
    .await;
    form.pop();
    form.push(("client_secret".into(), secret.into()));
    // Both methods at once are refused.
    let both = post(form.clone())
        .basic_auth(encoded(id), Some(encoded(secret)))
        .send()
        .await
        .unwrap();
    assert_oauth_error(both, 400, "invalid_request").await;
    assert_eq!(post(form).send().await.unwrap().status(), 200);

    // No authentication at all.
    let sign_in = sign_in_as("carol").await;
    assert_oauth_error(
        post(exchange(&sign_in)).send().await.unwrap(),
        401,
        "invalid_client",
    )
    .await;
    assert_eq!(provider.token_requests(), 6);
}

#[tokio::test]
async fn pkce_is_required_and_checked() {
    let provider = TestProvider::start().await.unwrap();
    let pkce = pkce();
    let base = authorize_params(&pkce, "n", "st", "openid");
    let cases: Vec<(Vec<(String, String)>, &str)> = vec![
        (
            base.iter()
                .filter(|(n, _)| n != "code_challenge")
                .cloned()
                .collect(),
            "code_challenge",
        ),
        (
            base.iter()
                .filter(|(n, _)| n != "code_challenge_method")
                .cloned()
                .collect(),
            "S256",
        ),
        (
            base.iter()
                .map(|(n, v)| match n.as_str() {
                    "code_challenge_method" => (n.clone(), "plain".to_owned()),
                    _ => (n.clone(), v.clone()),
                })
                .collect(),
            "S256",
        ),
    ];
    for (params, mentions) in cases {
        let response = get_authorize(&provider, &params).await;
        assert_eq!(response.status(), 302);
        let to = location(&response);
        assert!(to.as_str().starts_with(REDIRECT));
        assert_eq!(query_param(&to, "error").unwrap(), "invalid_request");
        assert!(
            query_param(&to, "error_description")
                .unwrap()
                .contains(mentions)
        );
        assert_eq!(query_param(&to, "state").unwrap(), "st");
        assert_eq!(query_param(&to, "iss").unwrap(), provider.issuer());
        assert!(query_param(&to, "code").is_none());
    }

    // Wrong verifier: refused, and the code is burnt.
    let sign_in = sign_in(&provider, "alice").await;
    let code = sign_in.code();
    let wrong = super::pkce();
    let exchange = |verifier: String| {
        let provider = &provider;
        let code = code.clone();
        async move {
            token_request(
                provider,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", &verifier),
                ],
            )
            .await
        }
    };
    assert_oauth_error(exchange(wrong.verifier).await, 400, "invalid_grant").await;
    assert_oauth_error(
        exchange(sign_in.pkce.verifier.clone()).await,
        400,
        "invalid_grant",
    )
    .await;

    // Missing verifier.
    let sign_in = super::sign_in(&provider, "bob").await;
    let code = sign_in.code();
    let response = token_request(
        &provider,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]
async fn replayed_code_is_refused_and_revokes_its_tokens() {
    let provider = TestProvider::start().await.unwrap();
    let sign_in = sign_in(&provider, "alice").await;
    let first = tokens(redeem(&provider, &sign_in).await).await;
    assert_eq!(userinfo(&provider, &first.access_token).await.status(), 200);

    assert_oauth_error(redeem(&provider, &sign_in).await, 400, "invalid_grant").await;
    assert_eq!(provider.token_requests(), 2);
    // What the code issued is revoked.
    assert_eq!(userinfo(&provider, &first.access_token).await.status(), 401);
    assert_oauth_error(
        refresh(&provider, &first.refresh_token).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn refresh_rotates_and_detects_reuse() {
    let provider = TestProvider::start().await.unwrap();
    let sign_in = sign_in(&provider, "carol").await;
    let first = tokens(redeem(&provider, &sign_in).await).await;
    let first_claims = verify_id_token(&provider, &first.id_token, Some(&sign_in.nonce), None)
        .await
        .unwrap();

    let second = tokens(refresh(&provider, &first.refresh_token).await).await;
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(second.body["scope"], "openid profile email groups");
    // A new ID token: same subject and auth_time, no nonce (OIDC Core 12.2).
    let claims = verify_id_token(
        &provider,
        &second.id_token,
        None,
        Some(&second.access_token),
    )
    .await
    .unwrap();
    assert_eq!(claims.subject(), first_claims.subject());
    assert_eq!(claims.auth_time(), first_claims.auth_time());
    assert_eq!(
        userinfo(&provider, &second.access_token).await.status(),
        200
    );

    // Narrowing the scope is allowed, widening is not.
    let narrowed = token_request(
        &provider,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &second.refresh_token),
            ("scope", "openid offline_access"),
        ],
    )
    .await;
    assert_oauth_error(narrowed, 400, "invalid_scope").await;

    // Reusing the spent refresh token fails and revokes the whole grant.
    assert_oauth_error(
        refresh(&provider, &first.refresh_token).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        refresh(&provider, &second.refresh_token).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        userinfo(&provider, &second.access_token).await.status(),
        401
    );

    // A fresh grant can narrow its scope.
    let sign_in = super::sign_in(&provider, "alice").await;
    let fresh = tokens(redeem(&provider, &sign_in).await).await;
    let narrowed = token_request(
        &provider,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &fresh.refresh_token),
            ("scope", "openid email"),
        ],
    )
    .await;
    let narrowed = tokens(narrowed).await;
    assert_eq!(narrowed.body["scope"], "openid email");
    let (_, payload) = decode_jwt(&narrowed.id_token);
    assert!(payload.get("groups").is_none());
}

#[tokio::test]
async fn userinfo_refuses_missing_bad_and_expired_tokens() {
    let provider = TestProvider::builder()
        .access_token_ttl(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let none = http()
        .get(format!("{}/userinfo", provider.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"oidc-layer-testkit\""
    );

    let bad = userinfo(&provider, "not-a-token").await;
    assert_eq!(bad.status(), 401);
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    let sign_in = sign_in(&provider, "alice").await;
    let tokens = tokens(redeem(&provider, &sign_in).await).await;
    assert_eq!(tokens.body["expires_in"], 0);
    assert_eq!(
        userinfo(&provider, &tokens.access_token).await.status(),
        401
    );
}

#[tokio::test]
async fn extra_id_token_audiences_follow_the_client_at_login_and_refresh() {
    let provider = TestProvider::builder()
        .id_token_audiences(["123456789012345677"])
        .start()
        .await
        .unwrap();
    let sign_in = sign_in(&provider, "alice").await;
    let first = tokens(redeem(&provider, &sign_in).await).await;
    let refreshed = tokens(refresh(&provider, &first.refresh_token).await).await;
    for token in [&first.id_token, &refreshed.id_token] {
        let (_, payload) = decode_jwt(token);
        assert_eq!(payload["aud"], json!(["test-client", "123456789012345677"]));
        assert_eq!(payload["azp"], "test-client");
    }
    // A relying party that does not trust the extra audience refuses the token.
    let refused = verify_id_token(&provider, &first.id_token, Some(&sign_in.nonce), None).await;
    assert!(refused.unwrap_err().contains("trusted"));
}

#[tokio::test]
async fn an_extra_id_token_audience_must_differ_from_the_client() {
    for audience in ["test-client", ""] {
        let refused = TestProvider::builder()
            .id_token_audiences([audience])
            .start()
            .await
            .unwrap_err();
        assert_eq!(
            refused.kind(),
            std::io::ErrorKind::InvalidInput,
            "{audience:?}"
        );
    }
}

//! The authorization endpoint: sign-in page, redirect URI matching, errors.

use super::*;
use crate::TestProvider;

#[tokio::test]
async fn sign_in_page_lists_users_and_carries_the_request() {
    let provider = TestProvider::start().await.unwrap();
    let pkce = pkce();
    let state = "s<\"&'>".to_owned();
    let params = authorize_params(&pkce, "n1", &state, "openid profile");
    let response = get_authorize(&provider, &params).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1>Sign in to the test provider</h1>"));
    assert!(html.contains("<form method=\"post\" action=\"/authorize\">"));
    for user in ["alice", "bob", "carol"] {
        assert!(
            html.contains(&format!("name=\"user\" value=\"{user}\"")),
            "{user}"
        );
    }
    assert!(html.contains("Alice Anders"));
    assert!(html.contains("alice@example.test"));
    assert!(html.contains("admins, users"));
    assert!(html.contains("name=\"cancel\""));
    // The raw state never appears unescaped; the hidden inputs give back the exact request.
    assert!(!html.contains("s<\""));
    let mut hidden = hidden_inputs(&html);
    hidden.sort();
    let mut sent = params.clone();
    sent.sort();
    assert_eq!(hidden, sent);
}

#[tokio::test]
async fn redirect_uri_is_matched_exactly() {
    let provider = TestProvider::start().await.unwrap();
    let pkce = pkce();
    let variants = [
        "http://127.0.0.1:3000/auth/oidc/",
        "http://127.0.0.1:3001/auth/oidc",
        "http://127.0.0.1:3000/auth/oidc?x=1",
        "http://127.0.0.1:3000/auth/OIDC",
        "http://localhost:3000/auth/oidc",
        "http://127.0.0.1:3000/auth/oidc#f",
        "http://127.0.0.1:3000/auth/x/../oidc",
        "https://127.0.0.1:3000/auth/oidc",
    ];
    for uri in variants {
        let mut params = authorize_params(&pkce, "n", "s", "openid");
        params[2].1 = uri.to_owned();
        let response = get_authorize(&provider, &params).await;
        assert_eq!(response.status(), 400, "{uri}");
        assert!(response.headers().get("location").is_none(), "{uri}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("redirect_uri is not registered")
        );
    }
    // Unknown client, missing redirect URI: shown, never redirected.
    let mut params = authorize_params(&pkce, "n", "s", "openid");
    params[1].1 = "other-client".to_owned();
    let response = get_authorize(&provider, &params).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("unknown client_id"));
    let mut params = authorize_params(&pkce, "n", "s", "openid");
    params.remove(2);
    assert_eq!(get_authorize(&provider, &params).await.status(), 400);

    // The token request must repeat the same redirect URI.
    let sign_in = sign_in(&provider, "alice").await;
    let code = sign_in.code();
    let response = token_request(
        &provider,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:3000/auth/oidc/"),
            ("code_verifier", &sign_in.pkce.verifier),
        ],
    )
    .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]
async fn any_loopback_redirect_when_allowed() {
    let provider = TestProvider::builder()
        .redirect_uris(Vec::<String>::new())
        .allow_any_loopback_redirect()
        .auto_login("alice")
        .start()
        .await
        .unwrap();
    let pkce = pkce();
    for uri in [
        "http://localhost:4567/cb",
        "http://127.0.0.1:1/x?keep=1",
        "http://127.0.0.1/cb",
    ] {
        let mut params = authorize_params(&pkce, "n", "s", "openid");
        params[2].1 = uri.to_owned();
        let response = get_authorize(&provider, &params).await;
        assert_eq!(response.status(), 302, "{uri}");
        let to = location(&response);
        assert!(query_param(&to, "code").is_some());
        if uri.contains("keep") {
            assert_eq!(query_param(&to, "keep").unwrap(), "1");
        }
    }
    for uri in [
        "https://127.0.0.1:1/x",
        "http://127.0.0.1.evil.example/x",
        "http://localhost.evil.example:80/x",
        "http://evil.example/x",
        "http://user@127.0.0.1:1/x",
        "http://127.0.0.1:1/x#fragment",
        "http://[::1]:1/x",
        "http://2130706433/x",
        "127.0.0.1:1/x",
    ] {
        let mut params = authorize_params(&pkce, "n", "s", "openid");
        params[2].1 = uri.to_owned();
        let response = get_authorize(&provider, &params).await;
        assert_eq!(response.status(), 400, "{uri}");
        assert!(response.headers().get("location").is_none(), "{uri}");
    }
}

#[tokio::test]
async fn cancel_returns_access_denied() {
    let provider = TestProvider::start().await.unwrap();
    let pkce = pkce();
    let params = authorize_params(&pkce, "n", "a b&c", "openid");
    let response = press(&provider, &params, ("cancel", "1")).await;
    assert_eq!(response.status(), 302);
    let to = location(&response);
    assert!(to.as_str().starts_with(REDIRECT));
    assert_eq!(query_param(&to, "error").unwrap(), "access_denied");
    assert_eq!(query_param(&to, "state").unwrap(), "a b&c");
    assert_eq!(query_param(&to, "iss").unwrap(), provider.issuer());
    assert!(query_param(&to, "code").is_none());
}

#[tokio::test]
async fn auto_login_redirects_with_a_code() {
    let provider = TestProvider::builder()
        .auto_login("carol")
        .start()
        .await
        .unwrap();
    let pkce = pkce();
    let params = authorize_params(&pkce, "n-auto", "s", "openid profile");
    let response = get_authorize(&provider, &params).await;
    assert_eq!(response.status(), 302);
    let sign_in = SignIn {
        location: location(&response),
        pkce,
        nonce: "n-auto".into(),
        state: "s".into(),
    };
    let tokens = tokens(redeem(&provider, &sign_in).await).await;
    let claims = verify_id_token(&provider, &tokens.id_token, Some("n-auto"), None)
        .await
        .unwrap();
    assert_eq!(claims.subject().as_str(), "u-1003-carol");
}

#[tokio::test]
async fn other_authorization_errors_are_redirected() {
    let provider = TestProvider::start().await.unwrap();
    let pkce = pkce();
    let with = |name: &str, value: &str| {
        let mut params = authorize_params(&pkce, "n", "s", "openid");
        match params.iter_mut().find(|(n, _)| n == name) {
            Some(param) => param.1 = value.to_owned(),
            None => params.push((name.to_owned(), value.to_owned())),
        }
        params
    };
    let cases = [
        (with("response_type", "token"), "unsupported_response_type"),
        (with("scope", "profile email"), "invalid_scope"),
        (with("prompt", "none"), "login_required"),
        (with("request", "eyJ.x.y"), "request_not_supported"),
        (with("response_mode", "fragment"), "invalid_request"),
        (with("code_challenge", "too-short"), "invalid_request"),
    ];
    for (params, error) in cases {
        let response = get_authorize(&provider, &params).await;
        assert_eq!(response.status(), 302, "{error}");
        assert_eq!(query_param(&location(&response), "error").unwrap(), error);
    }
    // A repeated parameter.
    let mut params = authorize_params(&pkce, "n", "s", "openid");
    params.push(("state".into(), "again".into()));
    let response = get_authorize(&provider, &params).await;
    assert_eq!(
        query_param(&location(&response), "error").unwrap(),
        "invalid_request"
    );
}

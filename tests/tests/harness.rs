//! Checks of the harness itself against the real provider, with a stand-in relying party that
//! only echoes the callback's query (no oidc-layer involved): the provider starts, the browser
//! logs in through its forms, cancels, and stops where asked.

use axum::extract::RawQuery;
use axum::routing::get;
use oidc_e2e::{App, AppListener, AtProvider, Browser, Op, OpOptions, query_param};

/// An app whose `/auth/oidc` answers 200 with the raw callback query.
async fn echo_app() -> (AppListener, axum::Router) {
    let listener = AppListener::bind().await;
    let router = axum::Router::new().route(
        "/auth/oidc",
        get(|RawQuery(q): RawQuery| async move { q.unwrap_or_default() }),
    );
    (listener, router)
}

fn authorize_url(op: &Op, listener_redirect: &str, state: &str) -> url::Url {
    let mut url = op.authorization_endpoint();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", op.client_id())
        .append_pair("redirect_uri", listener_redirect)
        .append_pair("scope", "openid profile email")
        .append_pair("state", state)
        .append_pair("nonce", "n-1");
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_starts_and_browser_logs_in() {
    let (listener, router) = echo_app().await;
    let redirect_uri = listener.redirect_uri();
    let op = Op::start(OpOptions {
        require_pkce: false,
        ..OpOptions::for_app(&listener)
    })
    .await;
    let app = App::spawn(router, listener);
    assert!(
        op.issuer().starts_with("http://127.0.0.1:"),
        "{}",
        op.issuer()
    );
    assert_eq!(op.discovery()["issuer"], op.issuer());

    let browser = Browser::new();
    let journey = browser
        .navigate(authorize_url(&op, &redirect_uri, "s-1"))
        .await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(last.url.path(), "/auth/oidc", "{journey}");
    assert_eq!(last.status, 200, "{journey}");
    assert_eq!(last.url.origin(), app.origin());
    assert_eq!(query_param(&last.url, "state").as_deref(), Some("s-1"));
    assert!(query_param(&last.url, "code").is_some(), "{journey}");
    assert!(
        journey.hops.iter().any(|p| p.form("login").is_some()),
        "saw a login page:\n{journey}"
    );
    assert!(
        journey.hops.iter().any(|p| p.form("consent").is_some()),
        "saw a consent page:\n{journey}"
    );
    // The provider -> app redirect is a same-site navigation started by the provider's form.
    assert_eq!(last.sec_fetch_site(), Some("same-site"), "{journey}");
    assert!(
        browser
            .cookie(
                &url::Url::parse(op.issuer()).expect("issuer URL"),
                "op_session"
            )
            .is_some(),
        "provider session cookie kept"
    );

    // Second login: SSO, no pages.
    let journey = browser
        .navigate(authorize_url(&op, &redirect_uri, "s-2"))
        .await;
    assert_eq!(journey.last().url.path(), "/auth/oidc", "{journey}");
    assert!(
        journey.hops.iter().all(|p| p.form("login").is_none()),
        "{journey}"
    );
    assert_eq!(
        query_param(&journey.last().url, "state").as_deref(),
        Some("s-2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_cancels_and_stops_where_asked() {
    let (listener, router) = echo_app().await;
    let redirect_uri = listener.redirect_uri();
    let op = Op::start(OpOptions {
        require_pkce: false,
        ..OpOptions::for_app(&listener)
    })
    .await;
    let _app = App::spawn(router, listener);

    let browser = Browser::new();
    let first = browser
        .get(authorize_url(&op, &redirect_uri, "s-cancel"))
        .await;
    let journey = browser.follow_with(first, AtProvider::Cancel).await;
    let last = journey.last();
    assert_eq!(last.url.path(), "/auth/oidc", "{journey}");
    assert_eq!(
        query_param(&last.url, "error").as_deref(),
        Some("access_denied"),
        "{journey}"
    );
    assert_eq!(query_param(&last.url, "state").as_deref(), Some("s-cancel"));

    let browser = Browser::new();
    let first = browser
        .get(authorize_url(&op, &redirect_uri, "s-stay"))
        .await;
    let journey = browser.follow_with(first, AtProvider::Stay).await;
    assert!(journey.last().form("login").is_some(), "{journey}");
    // ...and resume later from that page, stopping in front of the callback.
    let login_page = journey.last().clone();
    let journey = browser
        .follow_until(login_page, AtProvider::log_in("bob"), |u| {
            u.path() == "/auth/oidc"
        })
        .await;
    let pending = journey
        .pending
        .clone()
        .unwrap_or_else(|| panic!("stopped before the callback:\n{journey}"));
    assert_eq!(query_param(&pending, "state").as_deref(), Some("s-stay"));

    let journey = {
        let first = browser
            .get(authorize_url(&op, &redirect_uri, "s-deny"))
            .await;
        browser
            .follow_with(first, AtProvider::LogInThenCancelConsent("carol".into()))
            .await
    };
    // bob is logged in at the provider and consented: SSO goes straight back, no consent page to cancel.
    assert_eq!(journey.last().url.path(), "/auth/oidc", "{journey}");

    let browser = Browser::new();
    let first = browser
        .get(authorize_url(&op, &redirect_uri, "s-deny"))
        .await;
    let journey = browser
        .follow_with(first, AtProvider::LogInThenCancelConsent("carol".into()))
        .await;
    assert_eq!(
        query_param(&journey.last().url, "error").as_deref(),
        Some("access_denied"),
        "{journey}"
    );
    assert!(
        op.log_tail().contains("GET /auth"),
        "request log:\n{}",
        op.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_stops_on_the_error_page() {
    let (listener, router) = echo_app().await;
    let redirect_uri = listener.redirect_uri();
    let op = Op::start(OpOptions {
        require_pkce: false,
        ..OpOptions::for_app(&listener)
    })
    .await;
    let _app = App::spawn(router, listener);
    let browser = Browser::new();
    let first = browser.get(authorize_url(&op, &redirect_uri, "s")).await;
    let journey = browser
        .follow_with(first, AtProvider::log_in("mallory"))
        .await;
    assert_eq!(journey.last().status, 401, "{journey}");
    assert!(journey.last().has_element_id("error"));
}

// ---- API tokens (tests/src/tokens.rs, dpop.rs, jws.rs) -----------------------------------

mod api_tokens {
    use oidc_e2e::jws::{ProviderKeys, Signer, decode_jwt};
    use oidc_e2e::{
        API_ES256, API_OPAQUE, API_RS256, Browser, DpopKey, MACHINE_CLIENT_ID,
        MACHINE_CLIENT_SECRET, Op, OpOptions, UserTokenRequest,
    };
    use openidconnect::JsonWebKey as _;
    use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
    use serde_json::{Value, json};

    /// Nothing listens there: the harness stops the browser in front of it.
    const CLIENT_REDIRECT: &str = "http://127.0.0.1:9/api-client/callback";

    async fn op() -> Op {
        Op::start(
            OpOptions {
                redirect_uris: vec![CLIENT_REDIRECT.into()],
                ..OpOptions::default()
            }
            .with_apis(),
        )
        .await
    }

    /// Whether `token`'s signature verifies with a key of the provider's published JWKS.
    async fn verifies_with_published_keys(op: &Op, token: &str) -> bool {
        let jwks_uri = op.discovery()["jwks_uri"].as_str().expect("jwks_uri");
        let jwks: Value = reqwest::get(jwks_uri)
            .await
            .expect("GET jwks")
            .json()
            .await
            .expect("JWKS JSON");
        let (input, signature) = token.rsplit_once('.').expect("a JWS");
        let signature = oidc_e2e::jws::b64url_decode(signature);
        let alg = match decode_jwt(token).header["alg"].as_str() {
            Some("ES256") => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            _ => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        };
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| serde_json::from_value::<CoreJsonWebKey>(k.clone()).ok())
            .any(|k| {
                k.verify_signature(&alg, input.as_bytes(), &signature)
                    .is_ok()
            })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn machine_tokens_for_each_api() {
        let op = op().await;
        let keys = ProviderKeys::load();
        for (api, alg, kid) in [
            (API_RS256, "RS256", keys.rsa_kid()),
            (API_ES256, "ES256", keys.ec_kid()),
        ] {
            let token = op.machine_token(api, "api:read").await;
            assert_eq!(token.token_type, "Bearer", "{api}: {:?}", token.raw);
            assert_eq!(token.scope.as_deref(), Some("api:read"), "{api}");
            let jwt = decode_jwt(&token.access_token);
            assert_eq!(jwt.header["typ"], "at+jwt", "{api}: {}", jwt.header);
            assert_eq!(jwt.header["alg"], alg, "{api}: {}", jwt.header);
            assert_eq!(jwt.header["kid"], kid, "{api}: {}", jwt.header);
            let claims = &jwt.claims;
            assert_eq!(claims["iss"], op.issuer(), "{claims}");
            assert_eq!(claims["aud"], api, "{claims}");
            assert_eq!(claims["sub"], MACHINE_CLIENT_ID, "{claims}");
            assert_eq!(claims["client_id"], MACHINE_CLIENT_ID, "{claims}");
            assert_eq!(claims["scope"], "api:read", "{claims}");
            assert!(claims["jti"].is_string(), "{claims}");
            assert!(claims.get("preferred_username").is_none(), "{claims}");
            let (iat, exp) = (claims["iat"].as_u64(), claims["exp"].as_u64());
            assert!(iat.zip(exp).is_some_and(|(i, e)| e > i), "{claims}");
            assert!(
                verifies_with_published_keys(&op, &token.access_token).await,
                "{api}: the provider's JWKS verifies its token"
            );
        }

        let opaque = op.machine_token(API_OPAQUE, "api:read api:write").await;
        assert_eq!(opaque.access_token.matches('.').count(), 0, "opaque");
        let active = op.introspect(&opaque.access_token).await;
        assert_eq!(active["active"], true, "{active}");
        assert_eq!(active["aud"], API_OPAQUE, "{active}");
        assert_eq!(active["client_id"], MACHINE_CLIENT_ID, "{active}");
        assert_eq!(active["scope"], "api:read api:write", "{active}");
        assert_eq!(active["iss"], op.issuer(), "{active}");
        op.revoke(
            &opaque.access_token,
            (MACHINE_CLIENT_ID, MACHINE_CLIENT_SECRET),
        )
        .await;
        let revoked = op.introspect(&opaque.access_token).await;
        assert_eq!(revoked, json!({ "active": false }));

        let refused = op
            .machine_token_with("https://api.test/unknown", "api:read", None)
            .await
            .expect_err("an unknown resource");
        assert_eq!(refused.body["error"], "invalid_target", "{refused}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn user_tokens_carry_the_users_claims() {
        let op = op().await;
        let browser = Browser::new();
        let token = op
            .user_token(
                &browser,
                &UserTokenRequest::new("alice", CLIENT_REDIRECT, API_RS256),
            )
            .await;
        assert!(token.id_token.is_some(), "{:?}", token.raw);
        let claims = decode_jwt(&token.access_token).claims;
        assert_eq!(claims["aud"], API_RS256, "{claims}");
        assert_eq!(claims["sub"], "u-1001-alice", "{claims}");
        assert_eq!(claims["client_id"], op.client_id(), "{claims}");
        assert_eq!(claims["scope"], "api:read", "{claims}");
        assert_eq!(claims["preferred_username"], "alice", "{claims}");
        assert_eq!(claims["email"], "alice@example.test", "{claims}");
        assert_eq!(claims["groups"], json!(["admins", "users"]), "{claims}");

        // Without the `groups` scope the token carries no groups, as an ID token would not.
        let browser = Browser::new();
        let token = op
            .user_token(
                &browser,
                &UserTokenRequest {
                    scope: "openid profile api:read",
                    ..UserTokenRequest::new("bob", CLIENT_REDIRECT, API_OPAQUE)
                },
            )
            .await;
        let active = op.introspect(&token.access_token).await;
        assert_eq!(active["active"], true, "{active}");
        assert_eq!(active["sub"], "u-1002-bob", "{active}");
        assert_eq!(active["preferred_username"], "bob", "{active}");
        assert_eq!(active["aud"], API_OPAQUE, "{active}");
        assert!(active.get("groups").is_none(), "{active}");
        assert!(active.get("email").is_none(), "{active}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dpop_proofs_bind_tokens_to_the_key() {
        let op = op().await;
        let key = DpopKey::generate();
        let bound = op
            .machine_token_with(API_ES256, "api:read", Some(&key))
            .await
            .expect("the provider takes the harness's proof");
        assert_eq!(bound.token_type, "DPoP", "{:?}", bound.raw);
        let claims = decode_jwt(&bound.access_token).claims;
        assert_eq!(claims["cnf"]["jkt"], key.thumbprint(), "{claims}");

        let opaque = op
            .machine_token_with(API_OPAQUE, "api:read", Some(&key))
            .await
            .expect("DPoP-bound opaque token");
        let active = op.introspect(&opaque.access_token).await;
        assert_eq!(active["cnf"]["jkt"], key.thumbprint(), "{active}");
        assert_eq!(active["token_type"], "DPoP", "{active}");

        let browser = Browser::new();
        let user = op
            .user_token(
                &browser,
                &UserTokenRequest {
                    dpop: Some(&key),
                    ..UserTokenRequest::new("carol", CLIENT_REDIRECT, API_RS256)
                },
            )
            .await;
        assert_eq!(user.token_type, "DPoP", "{:?}", user.raw);
        let claims = decode_jwt(&user.access_token).claims;
        assert_eq!(claims["cnf"]["jkt"], key.thumbprint(), "{claims}");
        assert_eq!(claims["sub"], "u-1003-carol", "{claims}");

        // A proof signed by another key than its `jwk` is refused by the provider: the
        // harness's proofs are checked for real above.
        let other = DpopKey::generate();
        let endpoint = op.endpoint("token_endpoint");
        let forged = other.sign(&key.header(), &key.claims("POST", endpoint.as_str(), None));
        let response = reqwest::Client::new()
            .post(endpoint)
            .header(
                "authorization",
                oidc_e2e::basic_auth(MACHINE_CLIENT_ID, MACHINE_CLIENT_SECRET),
            )
            .header("dpop", forged)
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", API_RS256),
            ])
            .send()
            .await
            .expect("POST token");
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.expect("JSON error");
        assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn forged_tokens_verify_only_when_signed_by_the_provider() {
        let op = op().await;
        let keys = ProviderKeys::load();
        for api in [API_RS256, API_ES256] {
            let token = op.machine_token(api, "api:read").await;
            let resigned = keys.resign(&token.access_token, |_, claims| {
                claims["exp"] = json!(1);
            });
            assert_eq!(decode_jwt(&resigned).claims["exp"], 1);
            assert!(
                verifies_with_published_keys(&op, &resigned).await,
                "{api}: re-signed with the provider's own key"
            );
            let header = json!({ "alg": "RS256", "typ": "at+jwt", "kid": keys.rsa_kid() });
            let foreign = keys.sign(
                Signer::Foreign,
                &header,
                &decode_jwt(&token.access_token).claims,
            );
            assert!(
                !verifies_with_published_keys(&op, &foreign).await,
                "{api}: the foreign key is not the provider's"
            );
        }
    }
}

/// `OP_STATE_FILE` (the soak's provider restarts): refresh tokens, rotated on each use, stay
/// valid across graceful restarts on the same port, and a spent one stays spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_file_keeps_grants_across_restarts() {
    use oidc_e2e::UserTokenRequest;
    const REDIRECT: &str = "http://127.0.0.1:9/state-file/callback";
    let dir = std::env::temp_dir().join(format!("oidc-e2e-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let options = OpOptions {
        redirect_uris: vec![REDIRECT.into()],
        env: vec![
            ("OP_PORT".into(), port.to_string()),
            (
                "OP_STATE_FILE".into(),
                dir.join("op.json").display().to_string(),
            ),
        ],
        ..OpOptions::default()
    };
    let mut op = Op::start(options.clone()).await;
    let token = op
        .user_token(
            &Browser::new(),
            &UserTokenRequest {
                scope: "openid profile",
                ..UserTokenRequest::new("alice", REDIRECT, "")
            },
        )
        .await;
    let mut refresh = token.refresh_token.expect("a refresh token");
    let client = (op.client_id().to_owned(), op.client_secret().to_owned());
    for round in 1..=3 {
        let spent = refresh.clone();
        let answer = op
            .token_request(
                (&client.0, &client.1),
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("round {round}: refresh refused: {e}\n{}", op.log_tail()));
        refresh = answer.refresh_token.expect("a rotated refresh token");
        assert_ne!(refresh, spent, "rotated");
        op.shutdown().await;
        op = Op::start(options.clone()).await;
        assert_eq!(op.port(), port);
        // The spent token is still known as spent (not forgotten and not accepted).
        if round == 3 {
            let reuse = op
                .token_request(
                    (&client.0, &client.1),
                    &[("grant_type", "refresh_token"), ("refresh_token", &spent)],
                    None,
                )
                .await;
            assert!(
                reuse.is_err(),
                "a spent refresh token after a restart: {reuse:?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

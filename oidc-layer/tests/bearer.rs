//! Access tokens through the layer, in process, against the test provider's keys: valid
//! tokens give the identity a login gives; every hostile token of issue 15 gets a 401 with
//! the right RFC 6750 challenge, no cookie, and nothing written to the session store.

#![allow(clippy::unwrap_used)]

#[path = "bearer_common/mod.rs"]
mod common;

use std::sync::atomic::Ordering;

use axum::body::Body;
use common::*;
use http::{Request, StatusCode, header};
use serde_json::json;

/// A refusal: `status`, a challenge naming `error`, no cookie, nothing stored.
fn assert_refused(answer: &Answer, status: StatusCode, error: &str, store: &CountingStore) {
    assert_eq!(answer.status, status, "{answer:?}");
    let challenge = answer.challenge();
    assert!(
        challenge.contains(&format!("error=\"{error}\"")),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("realm=\"{EXTERNAL}\"")),
        "{challenge}"
    );
    assert!(!answer.sets_cookies(), "{answer:?}");
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(
        store.writes.load(Ordering::SeqCst),
        0,
        "a session was written"
    );
}

#[tokio::test]
async fn a_token_gives_the_identity_a_login_gives() {
    let provider = provider().await;
    let (app, store) = app_with(&provider, &format!("api_audience = \"{AUDIENCE}\""));
    // The login's identity.
    let cookie = login(&app).await;
    let session = send(
        &app,
        Request::get("/api/me")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(session.status, StatusCode::OK);
    let writes_after_login = store.writes.load(Ordering::SeqCst);

    let token = rs256(at_header(), &alice(provider.issuer()));
    let answer = get_with_token(&app, "/api/me", &token).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let (by_token, by_session) = (&answer.body, &session.body);
    for same in [
        "provider",
        "account",
        "sub",
        "iss",
        "username",
        "email",
        "roles",
        "groups",
        "has_admin",
    ] {
        assert_eq!(by_token[same], by_session[same], "{same}");
    }
    assert_eq!(by_token["username"], "alice");
    assert_eq!(by_token["has_admin"], true);
    assert!(by_token["account"].is_string(), "{by_token}");
    assert_eq!(by_token["authentication"], "bearer");
    assert_eq!(by_session["authentication"], "session");
    assert_eq!(by_token["scopes"], json!(["openid", "read"]));
    assert_eq!(by_token["client_id"], "cli");
    assert!(by_token.get("machine").is_none(), "{by_token}");
    assert!(!answer.sets_cookies());
    // Again, from the cache: the same answer.
    let again = get_with_token(&app, "/api/me", &token).await;
    assert_eq!(again.body, answer.body);
    assert_eq!(
        store.writes.load(Ordering::SeqCst),
        writes_after_login,
        "tokens write nothing"
    );
}

#[tokio::test]
async fn a_machine_token_is_recognised_and_has_no_account() {
    let provider = provider().await;
    let (app, store) = app_with(&provider, &format!("api_audience = \"{AUDIENCE}\""));
    let answer = get_with_token(
        &app,
        "/api/me",
        &rs256(at_header(), &machine(provider.issuer())),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body["machine"], true);
    assert_eq!(answer.body["sub"], "cli");
    assert_eq!(answer.body["account"], serde_json::Value::Null);
    // A user token of the same client is no machine.
    let user = get_with_token(
        &app,
        "/api/me",
        &rs256(at_header(), &bob(provider.issuer())),
    )
    .await;
    assert!(user.body.get("machine").is_none());
    assert_eq!(store.writes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_token_wins_over_the_cookie() {
    let provider = provider().await;
    let (app, _store) = app_with(&provider, &format!("api_audience = \"{AUDIENCE}\""));
    let cookie = login(&app).await;
    let token = rs256(at_header(), &bob(provider.issuer()));
    let answer = send(
        &app,
        Request::get("/api/me")
            .header(header::COOKIE, &cookie)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["username"], "bob");
    // A bad token with a good cookie is refused: never the cookie instead.
    let answer = send(
        &app,
        Request::get("/api/me")
            .header(header::COOKIE, &cookie)
            .header(header::AUTHORIZATION, "Bearer not-a-token")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(!answer.sets_cookies());
}

#[tokio::test]
async fn hostile_tokens_are_refused_with_invalid_token() {
    let provider = provider().await;
    let (app, store) = app_with(&provider, &format!("api_audience = \"{AUDIENCE}\""));
    let iss = provider.issuer();
    let good = alice(iss);
    let hs256 = {
        let header = b64(json!({"alg": "HS256", "typ": "at+jwt", "kid": RS256_KID})
            .to_string()
            .as_bytes());
        let payload = b64(good.to_string().as_bytes());
        let input = format!("{header}.{payload}");
        let mac = hmac_sha256(RS256_PUBLIC_PEM.as_bytes(), input.as_bytes());
        format!("{input}.{}", b64(&mac))
    };
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "at+jwt"})
            .to_string()
            .as_bytes()),
        b64(good.to_string().as_bytes())
    );
    let other_provider = TestProviderIssuer::start().await;
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", none, "algorithm"),
        (
            "alg none, signed anyway",
            rs256(
                json!({"alg": "none", "typ": "at+jwt", "kid": RS256_KID}),
                &good,
            ),
            "algorithm",
        ),
        ("HS256 keyed with the public key", hs256, "algorithm"),
        (
            "wrong aud",
            rs256(
                at_header(),
                &with(good.clone(), json!({"aud": "https://other.example"})),
            ),
            "not for this API",
        ),
        (
            "no aud",
            rs256(at_header(), &with(good.clone(), json!({"aud": null}))),
            "not for this API",
        ),
        (
            "wrong iss",
            rs256(
                at_header(),
                &with(good.clone(), json!({"iss": "https://evil.example"})),
            ),
            "issuer",
        ),
        (
            "another provider's token",
            rs256(
                at_header(),
                &with(good.clone(), json!({"iss": other_provider.issuer.clone()})),
            ),
            "issuer",
        ),
        (
            "wrong typ",
            rs256(
                json!({"alg": "RS256", "typ": "JWT", "kid": RS256_KID}),
                &good,
            ),
            "typ",
        ),
        (
            "no typ",
            rs256(json!({"alg": "RS256", "kid": RS256_KID}), &good),
            "typ",
        ),
        (
            "an ID token's typ",
            rs256(
                json!({"alg": "RS256", "typ": "id_token+jwt", "kid": RS256_KID}),
                &good,
            ),
            "typ",
        ),
        (
            "expired",
            rs256(
                at_header(),
                &with(good.clone(), json!({"exp": now() - 120})),
            ),
            "expired",
        ),
        (
            "no exp",
            rs256(at_header(), &with(good.clone(), json!({"exp": null}))),
            "expiry",
        ),
        (
            "nbf in the future",
            rs256(
                at_header(),
                &with(good.clone(), json!({"nbf": now() + 600})),
            ),
            "not valid yet",
        ),
        (
            "iat in the future",
            rs256(
                at_header(),
                &with(good.clone(), json!({"iat": now() + 600})),
            ),
            "future",
        ),
        (
            "no iat",
            rs256(at_header(), &with(good.clone(), json!({"iat": null}))),
            "issue time",
        ),
        (
            "no sub",
            rs256(at_header(), &with(good.clone(), json!({"sub": null}))),
            "subject",
        ),
        (
            "no client",
            rs256(at_header(), &with(good.clone(), json!({"client_id": null}))),
            "client",
        ),
        (
            "unknown kid",
            rs256(
                json!({"alg": "RS256", "typ": "at+jwt", "kid": "who-knows"}),
                &good,
            ),
            "no key",
        ),
        (
            "crit",
            rs256(
                json!({"alg": "RS256", "typ": "at+jwt", "kid": RS256_KID, "crit": ["exp"]}),
                &good,
            ),
            "critical",
        ),
        (
            "bad signature",
            {
                let token = rs256(at_header(), &good);
                let (input, _) = token.rsplit_once('.').unwrap();
                format!("{input}.{}", b64(&[7u8; 256]))
            },
            "signature",
        ),
        (
            "payload swapped under a valid signature",
            {
                let token = rs256(at_header(), &good);
                let parts: Vec<&str> = token.split('.').collect();
                let evil = b64(with(good.clone(), json!({"sub": "u-1002-bob"}))
                    .to_string()
                    .as_bytes());
                format!("{}.{evil}.{}", parts[0], parts[2])
            },
            "signature",
        ),
        ("100 KB token", "a".repeat(100 * 1024), "too large"),
        ("garbage base64", "!!!.@@@.###".into(), "malformed"),
        ("garbage", "%%%%".into(), "malformed"),
        ("JWE-shaped", "a.b.c.d.e".into(), "malformed"),
        (
            "payload not JSON",
            format!(
                "{}.{}.{}",
                b64(at_header().to_string().as_bytes()),
                b64(b"nope"),
                b64(b"sig")
            ),
            "malformed",
        ),
        (
            "bound to an mTLS certificate",
            rs256(
                at_header(),
                &with(
                    good.clone(),
                    json!({"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}),
                ),
            ),
            "cnf",
        ),
    ];
    for (name, token, why) in &cases {
        let answer = get_with_token(&app, "/api/me", token).await;
        assert_refused(&answer, StatusCode::UNAUTHORIZED, "invalid_token", &store);
        let description = answer.body["detail"].as_str().unwrap_or_default();
        assert!(description.contains(why), "{name}: {description}");
        // Never the token, nor a piece of it, in the answer.
        if token.len() > 12 {
            let piece = &token[token.len() - 12..];
            assert!(!answer.challenge().contains(piece), "{name}");
            assert!(!answer.body.to_string().contains(piece), "{name}");
        }
    }
    // The good token is accepted by the same app: the refusals were the tokens' fault.
    assert_eq!(
        get_with_token(&app, "/api/me", &rs256(at_header(), &good))
            .await
            .status,
        StatusCode::OK
    );
    other_provider.stop().await;
}

/// A second test provider (same test keys, another issuer).
struct TestProviderIssuer {
    issuer: String,
    provider: oidc_testkit::TestProvider,
}

impl TestProviderIssuer {
    async fn start() -> Self {
        let provider = oidc_testkit::TestProvider::start().await.unwrap();
        Self {
            issuer: provider.issuer().to_owned(),
            provider,
        }
    }
    async fn stop(self) {
        self.provider.shutdown().await;
    }
}

#[tokio::test]
async fn malformed_authorization_headers_are_invalid_requests() {
    let provider = provider().await;
    let (app, store) = app_with(&provider, &format!("api_audience = \"{AUDIENCE}\""));
    let token = rs256(at_header(), &alice(provider.issuer()));
    let two = send(
        &app,
        Request::get("/api/me")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_refused(&two, StatusCode::BAD_REQUEST, "invalid_request", &store);
    for bad in ["Bearer", "Bearer ", "Bearer a b"] {
        let answer = send(
            &app,
            Request::get("/api/me")
                .header(header::AUTHORIZATION, bad)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_refused(&answer, StatusCode::BAD_REQUEST, "invalid_request", &store);
    }
}

#[tokio::test]
async fn the_scheme_must_match_the_binding() {
    let provider = provider().await;
    let (app, store) = app_with(&provider, &format!("api_audience = \"{AUDIENCE}\""));
    let jkt = b64(&[9u8; 32]);
    let bound = rs256(
        at_header(),
        &with(alice(provider.issuer()), json!({"cnf": {"jkt": jkt}})),
    );
    // A DPoP-bound token under Bearer: refused, with a DPoP challenge.
    let answer = get_with_token(&app, "/api/me", &bound).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer.challenge().starts_with("DPoP "),
        "{}",
        answer.challenge()
    );
    assert!(answer.challenge().contains("error=\"invalid_token\""));
    // And again from the cache.
    let answer = get_with_token(&app, "/api/me", &bound).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // An unbound token under DPoP: refused.
    let plain = rs256(at_header(), &alice(provider.issuer()));
    let answer = send(
        &app,
        Request::get("/api/me")
            .header(header::AUTHORIZATION, format!("DPoP {plain}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "invalid_token", &store);
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("not DPoP-bound")
    );
}

#[tokio::test]
async fn where_tokens_are_taken() {
    let provider = provider().await;
    let token = rs256(at_header(), &alice(provider.issuer()));
    // Bearer off (no audience): the header is ignored, the API challenges as before.
    let (off, _) = app_with(&provider, "");
    let answer = get_with_token(&off, "/api/me", &token).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer.challenge().starts_with("OIDC "),
        "{}",
        answer.challenge()
    );
    assert!(!answer.challenges().iter().any(|c| c.starts_with("Bearer")));

    // Default `api_paths`: a page outside them ignores the header (a navigation logs in).
    let (api_only, _) = app_with(&provider, &format!("api_audience = \"{AUDIENCE}\""));
    let page = send(
        &api_only,
        Request::get("/page")
            .header(header::ACCEPT, "text/html")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::FOUND);
    // A missing token on an API path: 401 with the Bearer (and DPoP) challenge.
    let missing = send(
        &api_only,
        Request::get("/api/me").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    let challenges = missing.challenges();
    assert!(
        challenges.contains(&format!("Bearer realm=\"{EXTERNAL}\"")),
        "{challenges:?}"
    );
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("DPoP realm=") && c.contains("algs=\"") && c.contains("ES256")),
        "{challenges:?}"
    );
    // Basic is the app's business: the request goes on as without a token (here: no session,
    // so the usual challenge, not a bearer error).
    let basic = send(
        &api_only,
        Request::get("/api/me")
            .header(header::AUTHORIZATION, "Basic dXNlcjpwYXNz")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    assert!(
        basic.challenges().iter().all(|c| !c.contains("error=")),
        "{basic:?}"
    );

    // `all_paths`: the page takes the token too.
    let (all, _) = app_with(
        &provider,
        &format!("bearer_paths = \"all_paths\"\napi_audience = \"{AUDIENCE}\""),
    );
    let page = get_with_token(&all, "/page", &token).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body["username"], "alice");
    // A public path with a token gets its identity.
    let open = get_with_token(&all, "/open", &token).await;
    assert_eq!(open.body["sub"], "u-1001-alice");
}

#[tokio::test]
async fn roles_and_scopes_guard_routes() {
    let provider = provider().await;
    let (app, _) = app_with(&provider, &format!("api_audience = \"{AUDIENCE}\""));
    let alice = rs256(at_header(), &alice(provider.issuer()));
    let bob = rs256(at_header(), &bob(provider.issuer()));
    assert_eq!(
        get_with_token(&app, "/api/admin", &alice).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_with_token(&app, "/api/admin", &bob).await.status,
        StatusCode::FORBIDDEN
    );
    // alice's token has `read`, not `write`.
    let refused = get_with_token(&app, "/api/write", &alice).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let challenge = refused.challenge();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"write\""), "{challenge}");
    assert_eq!(
        get_with_token(&app, "/api/write", &bob).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_with_token(&app, "/api/read", &alice).await.status,
        StatusCode::OK
    );
    // Sessions have no scopes: refused unless the route lets sessions through.
    let cookie = login(&app).await;
    let by_cookie = |path: &str| {
        Request::get(path)
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap()
    };
    let write = send(&app, by_cookie("/api/write")).await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert!(write.challenge().contains("insufficient_scope"));
    assert_eq!(
        send(&app, by_cookie("/api/read")).await.status,
        StatusCode::OK
    );
    // Nobody: the layer's challenge.
    let anonymous = send(
        &app,
        Request::get("/api/write").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn legacy_typ_is_an_explicit_opt_in_and_never_takes_id_tokens() {
    let provider = provider().await;
    let (app, _) = app_with(
        &provider,
        &format!("api_audience = \"{AUDIENCE}\"\nlegacy_access_token_typ = true"),
    );
    let jwt_typ = json!({"alg": "RS256", "typ": "JWT", "kid": RS256_KID});
    let good = alice(provider.issuer());
    assert_eq!(
        get_with_token(&app, "/api/me", &rs256(jwt_typ.clone(), &good))
            .await
            .status,
        StatusCode::OK
    );
    let untyped = json!({"alg": "RS256", "kid": RS256_KID});
    assert_eq!(
        get_with_token(&app, "/api/me", &rs256(untyped, &good))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_with_token(&app, "/api/me", &rs256(at_header(), &good))
            .await
            .status,
        StatusCode::OK
    );
    for id_token_mark in [
        json!({"nonce": "n"}),
        json!({"at_hash": "h"}),
        json!({"typ": "ID"}),
    ] {
        let id_token = rs256(jwt_typ.clone(), &with(good.clone(), id_token_mark.clone()));
        let answer = get_with_token(&app, "/api/me", &id_token).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{id_token_mark}");
    }
}

#[tokio::test]
async fn algorithms_are_pinned_as_for_id_tokens() {
    let provider = provider().await;
    let key = es256_key();
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": ES256_KID});
    let token = es256_with(&key, &header, &alice(provider.issuer()));
    // The provider advertises RS256: only RS256 unless configured.
    let (pinned, _) = app_with(&provider, &format!("api_audience = \"{AUDIENCE}\""));
    let answer = get_with_token(&pinned, "/api/me", &token).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("algorithm")
    );
    let (es256, _) = app_with(
        &provider,
        &format!("api_audience = \"{AUDIENCE}\"\nid_token_signing_algs = [\"RS256\", \"ES256\"]"),
    );
    let answer = get_with_token(&es256, "/api/me", &token).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body["username"], "alice");
}

#[tokio::test]
async fn an_unknown_issuer_costs_no_network_call_and_an_unreachable_provider_is_a_503() {
    // The only provider listens nowhere: a token of another issuer is refused without asking
    // it; a token of its own issuer cannot be checked (503, not the token's fault).
    let provider = provider().await;
    let down = "http://127.0.0.1:9";
    let config = oidc_layer::OidcConfig::from_toml_str(&format!(
        r#"
        external_url = "{EXTERNAL}"
        api_paths = ["/api/*"]
        issuer = "{down}"
        client_id = "app"
        api_audience = "{AUDIENCE}"
        "#
    ))
    .unwrap();
    let app = app(oidc_layer::OidcLayer::new(config));
    let started = std::time::Instant::now();
    let stranger = get_with_token(
        &app,
        "/api/me",
        &rs256(at_header(), &alice(provider.issuer())),
    )
    .await;
    assert_eq!(stranger.status, StatusCode::UNAUTHORIZED);
    assert!(started.elapsed() < std::time::Duration::from_millis(500));
    let own = get_with_token(&app, "/api/me", &rs256(at_header(), &alice(down))).await;
    assert_eq!(own.status, StatusCode::SERVICE_UNAVAILABLE, "{own:?}");
    assert_eq!(
        own.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert!(!own.sets_cookies());
}

#[tokio::test]
async fn the_account_resolver_is_asked_as_a_lookup() {
    use oidc_layer::accounts::{InMemoryAccounts, LinkingResolver};
    let provider = provider().await;
    // No account exists: a login would create one, a token may not.
    let resolver = LinkingResolver::new(InMemoryAccounts::new());
    let layer =
        oidc_layer::OidcLayer::new(config(&provider, &format!("api_audience = \"{AUDIENCE}\"")))
            .with_account_resolver(resolver);
    let app = app(layer);
    let token = rs256(at_header(), &alice(provider.issuer()));
    let refused = get_with_token(&app, "/api/me", &token).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert!(!refused.sets_cookies());
    // After a login made the account, a new token of the same user finds it.
    let cookie = login(&app).await;
    let session = send(
        &app,
        Request::get("/api/me")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let fresh = rs256(
        at_header(),
        &with(alice(provider.issuer()), json!({"jti": "another"})),
    );
    let found = get_with_token(&app, "/api/me", &fresh).await;
    assert_eq!(found.status, StatusCode::OK, "{found:?}");
    assert_eq!(found.body["account"], session.body["account"]);
    // A machine token skips the resolver.
    let machine = get_with_token(
        &app,
        "/api/me",
        &rs256(at_header(), &machine(provider.issuer())),
    )
    .await;
    assert_eq!(machine.status, StatusCode::OK);
}

#[tokio::test]
async fn a_provider_closed_to_new_users_refuses_their_tokens_as_it_refuses_their_logins() {
    // The default (stateless) resolver admits nobody through such a provider: it keeps no
    // accounts, so every user is new. Its tokens must not be a way around that.
    let provider = provider().await;
    let extra = format!("api_audience = \"{AUDIENCE}\"\nallow_new_users = false");
    let (app, store) = app_with(&provider, &extra);
    let token = rs256(at_header(), &alice(provider.issuer()));
    let refused = get_with_token(&app, "/api/me", &token).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert!(!refused.sets_cookies());
    assert_eq!(store.writes.load(Ordering::SeqCst), 0, "nothing stored");
}

#[tokio::test]
async fn each_provider_accepts_its_own_audience_only() {
    let first = provider().await;
    let second = oidc_testkit::TestProvider::start().await.unwrap();
    let config = oidc_layer::OidcConfig::from_toml_str(&format!(
        r#"
        external_url = "{EXTERNAL}"
        api_paths = ["/api/*"]

        [[providers]]
        name = "First"
        issuer = "{}"
        client_id = "app"
        api_audience = "https://first.example"

        [[providers]]
        name = "Second"
        issuer = "{}"
        client_id = "app"
        api_audience = ["https://second.example", "api://second"]
        "#,
        first.issuer(),
        second.issuer()
    ))
    .unwrap();
    let app = app(oidc_layer::OidcLayer::new(config));
    let token = |iss: &str, aud: serde_json::Value| {
        rs256(at_header(), &with(alice(iss), json!({"aud": aud})))
    };
    let ok = get_with_token(
        &app,
        "/api/me",
        &token(second.issuer(), json!(["x", "api://second"])),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    assert_eq!(ok.body["provider"], "second");
    assert_eq!(ok.body["iss"], second.issuer());
    let ok = get_with_token(
        &app,
        "/api/me",
        &token(first.issuer(), json!("https://first.example")),
    )
    .await;
    assert_eq!(ok.body["provider"], "first");
    // The second provider's token naming the first's audience: not for this API.
    let crossed = get_with_token(
        &app,
        "/api/me",
        &token(second.issuer(), json!("https://first.example")),
    )
    .await;
    assert_eq!(crossed.status, StatusCode::UNAUTHORIZED);
    assert!(
        crossed.body["detail"]
            .as_str()
            .unwrap()
            .contains("not for this API")
    );
    second.shutdown().await;
}

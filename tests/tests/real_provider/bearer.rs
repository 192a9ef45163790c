//! API clients with access tokens (issue 15): the real provider issues RFC 9068 JWT access
//! tokens (RS256 and ES256), opaque ones (checked by introspection) and DPoP-bound ones, for a
//! person (authorization code with `resource`) and for a program (client credentials). The
//! handler sees the same `Identity` as after a browser login; every hostile token is a 401 with
//! the RFC 6750 challenge, never a 5xx, never a cookie, never a session.

use oidc_e2e::jws::{ProviderKeys, Signer, b64url, decode_jwt, hs256_jwt, unsigned_jwt};
use oidc_e2e::{
    API_ES256, API_OPAQUE, API_RS256, DpopKey, MACHINE_CLIENT_ID, MACHINE_CLIENT_SECRET,
    TokenResponse, UserTokenRequest, now,
};
use oidc_layer::{RequireClaim, RequireScope};
use serde_json::Value;

use super::site::demo_roles;
use super::*;

/// A redirect URI of the provider's client for the harness's own code logins (an API client:
/// a CLI or a single-page app); nothing listens there, the browser stops in front of it.
const CLIENT_REDIRECT: &str = "http://127.0.0.1:9/api-client/callback";

/// The app of these tests and its provider (with the APIs of `op.mjs`).
struct Api {
    app: App,
    op: Op,
    store: Arc<MemoryStore<SessionData>>,
}

/// How the layer of an [`Api`] accepts tokens.
struct Accept {
    audiences: &'static [&'static str],
    introspection: bool,
    /// `id_token_signing_algs`: access tokens are pinned to the same algorithms as ID tokens
    /// (the default is RS256 alone for this provider).
    algs: &'static [&'static str],
}

/// All three APIs, opaque tokens through introspection, RS256 and ES256.
const ALL_APIS: Accept = Accept {
    audiences: &[API_RS256, API_ES256, API_OPAQUE],
    introspection: true,
    algs: &["RS256", "ES256"],
};

impl Api {
    async fn start() -> Api {
        Api::start_with(ALL_APIS).await
    }

    /// The app: `/whoami` (a page for browsers), `/api/me` (the identity and the token's
    /// details as JSON), `/api/write` (needs the scope `api:write`), `/api/verified` (as
    /// `/api/me`, for `email_verified: true`); `api_paths = /api/*`; the demo's role map.
    async fn start_with(accept: Accept) -> Api {
        init_tracing();
        let listener = AppListener::bind().await;
        let op = Op::start(OpOptions {
            redirect_uris: vec![listener.redirect_uri(), CLIENT_REDIRECT.into()],
            ..OpOptions::for_app(&listener).with_apis()
        })
        .await;
        let config = OidcConfig::builder()
            .issuer(op.issuer())
            .client_id(op.client_id())
            .client_secret(op.client_secret())
            .external_url(listener.external_url())
            .scopes(["openid", "profile", "email", "groups"])
            .roles(demo_roles())
            .public_paths(["/"])
            .api_paths(["/api/*"])
            .api_audiences(accept.audiences.iter().copied())
            .introspection(accept.introspection)
            .id_token_signing_algs(accept.algs.iter().copied())
            .build()
            .expect("a valid configuration");
        let store = Arc::new(MemoryStore::<SessionData>::new());
        let layer = OidcLayer::new(config).with_store(store.clone());
        let router = Router::new()
            .route("/", get(|| async { "home" }))
            .route("/whoami", get(|id: Identity| async move { Json(id) }))
            .route("/api/me", get(api_me))
            .route(
                "/api/write",
                get(api_me).route_layer(RequireScope::new("api:write")),
            )
            .route(
                "/api/verified",
                get(api_me).route_layer(RequireClaim::is_true("email_verified")),
            )
            .layer(layer);
        let app = App::spawn(router, listener);
        Api { app, op, store }
    }

    /// `GET path` as an API client: `Authorization: <authorization>`, `Accept:
    /// application/json`, a `DPoP` proof when given, no cookie.
    async fn call(&self, path: &str, authorization: &str, dpop: Option<&str>) -> Page {
        let mut headers = HeaderMap::new();
        headers.insert("accept", HeaderValue::from_static("application/json"));
        headers.insert(
            "authorization",
            HeaderValue::from_str(authorization).expect("a header value"),
        );
        if let Some(proof) = dpop {
            headers.insert("dpop", HeaderValue::from_str(proof).expect("a proof"));
        }
        Browser::new()
            .raw(Method::GET, self.app.url(path), headers)
            .await
    }

    /// `GET /api/me` with `Authorization: Bearer <token>`.
    async fn bearer(&self, token: &str) -> Page {
        self.call("/api/me", &format!("Bearer {token}"), None).await
    }

    /// `GET /api/me` with `Authorization: DPoP <token>` and a fresh proof of `key` for it.
    async fn dpop(&self, token: &str, key: &DpopKey) -> Page {
        let proof = key.proof("GET", self.app.url("/api/me").as_str(), Some(token));
        self.call("/api/me", &format!("DPoP {token}"), Some(&proof))
            .await
    }

    async fn sessions(&self) -> u64 {
        self.store.len().await
    }

    /// A token of `user` for `api` (a code login by a fresh browser).
    async fn user_token(&self, user: &str, api: &str) -> TokenResponse {
        self.op
            .user_token(
                &Browser::new(),
                &UserTokenRequest::new(user, CLIENT_REDIRECT, api),
            )
            .await
    }

    /// The identity `user` gets by logging in with a browser (`/whoami`).
    async fn browser_identity(&self, browser: &Browser, user: &str) -> Value {
        log_in_at(browser, self.app.url("/whoami"), user, &self.op)
            .await
            .last()
            .json()
    }

    /// The realm of the layer's challenges: the app's external URL.
    fn realm(&self) -> String {
        format!("realm=\"{}\"", self.app.external_url())
    }

    /// `page` is a 200 from `/api/me` that set no cookie; its JSON.
    fn assert_accepted(&self, page: &Page, context: &str) -> Value {
        assert_eq!(page.status, 200, "{context}: {page}\n{}", page.body);
        assert_no_cookie(page, context);
        page.json()
    }

    /// `page` is a refused token: `status` (401 unless said), `WWW-Authenticate` with the
    /// realm and `error="<error>"`, a problem+json body without the token, no cookie.
    fn assert_refused(&self, page: &Page, token: &str, error: &str, context: &str) {
        let status = if error == "invalid_request" { 400 } else { 401 };
        assert_eq!(page.status, status, "{context}: {page}\n{}", page.body);
        let challenge = page.headers_all("www-authenticate").join(", ");
        assert!(
            challenge.contains(&self.realm()) && challenge.contains(&format!("error=\"{error}\"")),
            "{context}: WWW-Authenticate {challenge:?} should name the realm and error {error}"
        );
        assert!(
            page.content_type().starts_with("application/problem+json"),
            "{context}: {:?}",
            page.content_type()
        );
        assert_no_cookie(page, context);
        if token.len() >= 16 {
            // Not even a part of it (a signature, the claims...).
            for part in token.split('.').filter(|p| p.len() >= 16) {
                assert!(
                    !page.body.contains(part) && !challenge.contains(part),
                    "{context}: the answer repeats the token"
                );
            }
        }
    }
}

/// `/api/me`: the identity (as `/whoami` shows it) and what the token says about the client.
async fn api_me(id: Identity) -> Json<Value> {
    let mut body = serde_json::to_value(&id).expect("an Identity serializes");
    body["scopes"] = json!(id.scopes());
    body["client_id"] = json!(id.client_id());
    body["machine"] = json!(id.is_machine());
    body["authentication"] = json!(id.authentication());
    Json(body)
}

fn assert_no_cookie(page: &Page, context: &str) {
    assert!(
        page.set_cookie_headers().is_empty(),
        "{context}: a token request must not set cookies: {:?}",
        page.set_cookie_headers()
    );
}

/// The fields a browser login and a token must agree on.
const IDENTITY_FIELDS: [&str; 9] = [
    "provider",
    "sub",
    "iss",
    "username",
    "name",
    "email",
    "email_verified",
    "roles",
    "groups",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_token_gives_the_identity_of_their_browser_login() {
    let api = Api::start().await;
    for (user, api_audience) in [
        ("alice", API_RS256),
        ("bob", API_ES256),
        ("carol", API_OPAQUE),
    ] {
        let browser = Browser::new();
        let login = api.browser_identity(&browser, user).await;
        let token = api.user_token(user, api_audience).await;
        let seen = api.assert_accepted(
            &api.bearer(&token.access_token).await,
            &format!("{user}'s token for {api_audience}"),
        );
        for field in IDENTITY_FIELDS {
            assert_eq!(
                seen[field], login[field],
                "{user} ({api_audience}): `{field}` differs between the token and the login\n\
                 token: {seen}\nlogin: {login}"
            );
        }
        assert_eq!(seen["scopes"], json!(["api:read"]), "{seen}");
        assert_eq!(seen["client_id"], api.op.client_id(), "{seen}");
        assert_eq!(seen["machine"], false, "{seen}");
        assert_eq!(seen["authentication"], "bearer", "{seen}");
    }
    let alice = api.user_token("alice", API_RS256).await;
    let roles =
        api.assert_accepted(&api.bearer(&alice.access_token).await, "alice")["roles"].clone();
    assert_eq!(roles, json!(["admin"]), "the role map applies to tokens");
    assert_eq!(
        api.sessions().await,
        3,
        "only the three browser logins made sessions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_wins_over_a_cookie_and_touches_no_session() {
    let api = Api::start().await;
    let browser = Browser::new();
    api.browser_identity(&browser, "alice").await;
    let session_cookie = browser
        .find_cookie(&api.app.url("/"), oidc_e2e::is_session_cookie)
        .expect("alice's session cookie");
    let sessions = api.sessions().await;
    let bob = api.user_token("bob", API_RS256).await;
    let cookie_name = browser
        .cookie_names(&api.app.url("/"))
        .into_iter()
        .find(|n| oidc_e2e::is_session_cookie(n))
        .expect("the cookie's name");

    let mut headers = HeaderMap::new();
    headers.insert("accept", HeaderValue::from_static("application/json"));
    headers.insert(
        "cookie",
        HeaderValue::from_str(&format!("{cookie_name}={session_cookie}")).expect("a cookie"),
    );
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {}", bob.access_token)).expect("a header"),
    );
    let page = Browser::new()
        .raw(Method::GET, api.app.url("/api/me"), headers.clone())
        .await;
    let seen = api.assert_accepted(&page, "alice's cookie with bob's token");
    assert_eq!(seen["username"], "bob", "the token decides: {seen}");

    // A bad token next to a good cookie: refused, not the cookie's user.
    headers.insert(
        "authorization",
        HeaderValue::from_static("Bearer not-a-token-at-all"),
    );
    let page = Browser::new()
        .raw(Method::GET, api.app.url("/api/me"), headers)
        .await;
    api.assert_refused(
        &page,
        "not-a-token-at-all",
        "invalid_token",
        "cookie + bad token",
    );
    assert_eq!(api.sessions().await, sessions, "tokens create no session");
    // The cookie alone still works: the token did not end or change the session.
    let page = browser.fetch(api.app.url("/api/me")).await;
    assert_eq!(page.status, 200, "{page}");
    assert_eq!(page.json()["username"], "alice");
    assert_eq!(page.json()["authentication"], "session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_tokens_are_machine_identities() {
    let api = Api::start().await;
    for audience in [API_RS256, API_ES256, API_OPAQUE] {
        let token = api.op.machine_token(audience, "api:read api:write").await;
        let seen = api.assert_accepted(&api.bearer(&token.access_token).await, audience);
        assert_eq!(seen["sub"], MACHINE_CLIENT_ID, "{audience}: {seen}");
        assert_eq!(seen["client_id"], MACHINE_CLIENT_ID, "{audience}: {seen}");
        assert_eq!(seen["machine"], true, "{audience}: {seen}");
        assert_eq!(seen["iss"], api.op.issuer(), "{audience}: {seen}");
        assert_eq!(
            seen["scopes"],
            json!(["api:read", "api:write"]),
            "{audience}: {seen}"
        );
        let write = api
            .call(
                "/api/write",
                &format!("Bearer {}", token.access_token),
                None,
            )
            .await;
        assert_eq!(write.status, 200, "{audience}: api:write granted: {write}");
    }
    assert_eq!(api.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_guard_apis_with_insufficient_scope() {
    let api = Api::start().await;
    let token = api.op.machine_token(API_RS256, "api:read").await;
    let page = api
        .call(
            "/api/write",
            &format!("Bearer {}", token.access_token),
            None,
        )
        .await;
    assert_eq!(page.status, 403, "{page}\n{}", page.body);
    let challenge = page.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"api:write\""),
        "{challenge:?}"
    );
    assert_no_cookie(&page, "insufficient scope");
    // The same token is fine where no scope is needed.
    api.assert_accepted(&api.bearer(&token.access_token).await, "api:read token");
    // No token at all on an API path: a bare Bearer challenge (RFC 6750 3.1), never a redirect.
    let mut headers = HeaderMap::new();
    headers.insert("accept", HeaderValue::from_static("application/json"));
    let page = Browser::new()
        .raw(Method::GET, api.app.url("/api/me"), headers)
        .await;
    assert_eq!(page.status, 401, "{page}");
    let challenge = page.headers_all("www-authenticate").join(", ");
    assert!(
        challenge.contains("Bearer") && challenge.contains(&api.realm()),
        "{challenge:?}"
    );
    assert!(
        !challenge.contains("error="),
        "no error without a token: {challenge:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_guards_read_the_claims_of_tokens() {
    let api = Api::start().await;
    // alice's email is verified, bob's is not; a JWT and an opaque (introspected) token each.
    for api_audience in [API_RS256, API_OPAQUE] {
        let alice = api.user_token("alice", api_audience).await;
        let page = api
            .call(
                "/api/verified",
                &format!("Bearer {}", alice.access_token),
                None,
            )
            .await;
        let seen = api.assert_accepted(&page, &format!("alice's token for {api_audience}"));
        assert_eq!(seen["sub"], "u-1001-alice", "{seen}");

        let bob = api.user_token("bob", api_audience).await;
        let page = api
            .call(
                "/api/verified",
                &format!("Bearer {}", bob.access_token),
                None,
            )
            .await;
        let context = format!("bob's token for {api_audience}");
        assert_eq!(page.status, 403, "{context}: {page}\n{}", page.body);
        assert!(
            page.content_type().starts_with("application/problem+json"),
            "{context}: {:?}",
            page.content_type()
        );
        assert_eq!(
            page.json()["detail"],
            "This page needs your account's `email_verified` claim to match, and it does not.",
            "{context}"
        );
        assert_no_cookie(&page, &context);
    }
    assert_eq!(api.sessions().await, 0, "tokens make no sessions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_tokens_go_through_introspection_and_revocation_ends_them() {
    let api = Api::start().await;
    let token = api.op.machine_token(API_OPAQUE, "api:read").await;
    api.assert_accepted(&api.bearer(&token.access_token).await, "opaque token");
    // Revoked before its first use: the provider says inactive.
    let revoked = api.op.machine_token(API_OPAQUE, "api:read").await;
    api.op
        .revoke(
            &revoked.access_token,
            (MACHINE_CLIENT_ID, MACHINE_CLIENT_SECRET),
        )
        .await;
    let page = api.bearer(&revoked.access_token).await;
    api.assert_refused(
        &page,
        &revoked.access_token,
        "invalid_token",
        "revoked opaque token",
    );
    // Never issued: inactive too.
    let made_up = b64url([7u8; 32]);
    let page = api.bearer(&made_up).await;
    api.assert_refused(&page, &made_up, "invalid_token", "made-up opaque token");
    // An opaque token for the login (userinfo only, no audience) is no API token.
    let browser = Browser::new();
    let login_token = api
        .op
        .user_token(
            &browser,
            &UserTokenRequest {
                resource: "",
                ..UserTokenRequest::new("alice", CLIENT_REDIRECT, API_OPAQUE)
            },
        )
        .await;
    let page = api.bearer(&login_token.access_token).await;
    api.assert_refused(
        &page,
        &login_token.access_token,
        "invalid_token",
        "an access token without this API's audience",
    );
    assert_eq!(api.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_bound_tokens_need_a_proof_of_their_key() {
    let api = Api::start().await;
    let key = DpopKey::generate();
    for audience in [API_RS256, API_OPAQUE] {
        let token = api
            .op
            .machine_token_with(audience, "api:read", Some(&key))
            .await
            .unwrap_or_else(|err| panic!("a DPoP-bound token for {audience}: {err}"));
        assert_eq!(token.token_type, "DPoP");
        let t = &token.access_token;
        let seen = api.assert_accepted(&api.dpop(t, &key).await, &format!("{audience} + proof"));
        assert_eq!(seen["authentication"], "dpop", "{seen}");
        assert_eq!(seen["client_id"], MACHINE_CLIENT_ID, "{seen}");
        // Again, with a new proof (a cache hit still checks the proof).
        api.assert_accepted(&api.dpop(t, &key).await, &format!("{audience} again"));

        let url = api.app.url("/api/me");
        let cases: Vec<(&str, String, Option<String>)> = vec![
            ("as a Bearer token", format!("Bearer {t}"), None),
            (
                "as a Bearer token with a proof",
                format!("Bearer {t}"),
                Some(key.proof("GET", url.as_str(), Some(t))),
            ),
            ("without a proof", format!("DPoP {t}"), None),
            (
                "with a proof of another key",
                format!("DPoP {t}"),
                Some(DpopKey::generate().proof("GET", url.as_str(), Some(t))),
            ),
            (
                "with a proof for another method",
                format!("DPoP {t}"),
                Some(key.proof("POST", url.as_str(), Some(t))),
            ),
            (
                "with a proof for another URL",
                format!("DPoP {t}"),
                Some(key.proof("GET", api.app.url("/api/other").as_str(), Some(t))),
            ),
            (
                "with a proof for another token",
                format!("DPoP {t}"),
                Some(key.proof("GET", url.as_str(), Some("another-token"))),
            ),
            (
                "with a proof without ath",
                format!("DPoP {t}"),
                Some(key.proof("GET", url.as_str(), None)),
            ),
            (
                "with a proof from an hour ago",
                format!("DPoP {t}"),
                Some({
                    let mut claims = key.claims("GET", url.as_str(), Some(t));
                    claims["iat"] = json!(now() - 3600);
                    key.sign(&key.header(), &claims)
                }),
            ),
            (
                "with a proof typed JWT",
                format!("DPoP {t}"),
                Some({
                    let mut header = key.header();
                    header["typ"] = json!("JWT");
                    key.sign(&header, &key.claims("GET", url.as_str(), Some(t)))
                }),
            ),
        ];
        for (what, authorization, proof) in cases {
            let page = api.call("/api/me", &authorization, proof.as_deref()).await;
            let context = format!("{audience}: a DPoP-bound token {what}");
            assert!(
                page.status == 401 || page.status == 400,
                "{context}: {page}\n{}",
                page.body
            );
            assert_no_cookie(&page, &context);
            let challenge = page.headers_all("www-authenticate").join(", ");
            assert!(
                challenge.contains("DPoP") && challenge.contains("algs="),
                "{context}: a DPoP challenge: {challenge:?}"
            );
        }
        // A replayed proof: the first use passes, the second is refused.
        let proof = key.proof("GET", url.as_str(), Some(t));
        let first = api
            .call("/api/me", &format!("DPoP {t}"), Some(&proof))
            .await;
        api.assert_accepted(&first, &format!("{audience}: first use of a proof"));
        let replay = api
            .call("/api/me", &format!("DPoP {t}"), Some(&proof))
            .await;
        api.assert_refused(
            &replay,
            t,
            // RFC 9449 7.1: a bad proof is `invalid_dpop_proof`.
            "invalid_dpop_proof",
            &format!("{audience}: replayed proof"),
        );
    }
    // An unbound token under the DPoP scheme.
    let unbound = api.op.machine_token(API_RS256, "api:read").await;
    let page = api.dpop(&unbound.access_token, &key).await;
    api.assert_refused(
        &page,
        &unbound.access_token,
        "invalid_token",
        "unbound token as DPoP",
    );
    assert_eq!(api.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tokens_are_refused_with_invalid_token() {
    let api = Api::start().await;
    let keys = ProviderKeys::load();
    let good = api
        .op
        .machine_token(API_RS256, "api:read")
        .await
        .access_token;
    let good_es = api
        .op
        .machine_token(API_ES256, "api:read")
        .await
        .access_token;
    api.assert_accepted(&api.bearer(&good).await, "the unforged token");
    let claims = decode_jwt(&good).claims;
    let header = decode_jwt(&good).header;
    let edit = |f: &dyn Fn(&mut Value, &mut Value)| keys.resign(&good, |h, c| f(h, c));
    let t = now();
    let big_claim = "x".repeat(100 * 1024);
    let another_op = Op::start(OpOptions {
        jwks_file: None, // its own fresh keys
        ..OpOptions::default().with_apis()
    })
    .await;
    let foreign_token = another_op
        .machine_token(API_RS256, "api:read")
        .await
        .access_token;
    let none_header = json!({ "alg": "none", "typ": "at+jwt", "kid": keys.rsa_kid() });
    let hs_header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": keys.rsa_kid() });

    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned_jwt(&none_header, &claims)),
        (
            "alg none with the original signature",
            format!(
                "{}.{}",
                unsigned_jwt(&none_header, &claims).trim_end_matches('.'),
                good.rsplit('.').next().unwrap_or_default()
            ),
        ),
        (
            "HS256 keyed with the public key (PEM)",
            hs256_jwt(&hs_header, &claims, keys.rsa_public_pem().as_bytes()),
        ),
        (
            "HS256 keyed with the public key (JWK)",
            hs256_jwt(
                &hs_header,
                &claims,
                keys.rsa_public_jwk().to_string().as_bytes(),
            ),
        ),
        (
            "wrong aud",
            edit(&|_, c| c["aud"] = json!("https://api.test/someone-else")),
        ),
        (
            "no aud",
            edit(&|_, c| drop(c.as_object_mut().map(|m| m.remove("aud")))),
        ),
        (
            "wrong iss",
            edit(&|_, c| c["iss"] = json!("http://127.0.0.1:1/evil")),
        ),
        (
            "iss with a trailing slash",
            edit(&|_, c| c["iss"] = json!(format!("{}/", api.op.issuer()))),
        ),
        (
            "expired",
            edit(&|_, c| {
                c["iat"] = json!(t - 7200);
                c["exp"] = json!(t - 3600);
            }),
        ),
        (
            "no exp",
            edit(&|_, c| drop(c.as_object_mut().map(|m| m.remove("exp")))),
        ),
        (
            "nbf in the future",
            edit(&|_, c| c["nbf"] = json!(t + 3600)),
        ),
        (
            "iat in the future",
            edit(&|_, c| {
                c["iat"] = json!(t + 3600);
                c["exp"] = json!(t + 7200);
            }),
        ),
        (
            "no sub",
            edit(&|_, c| drop(c.as_object_mut().map(|m| m.remove("sub")))),
        ),
        ("typ JWT", edit(&|h, _| h["typ"] = json!("JWT"))),
        (
            "no typ",
            edit(&|h, _| drop(h.as_object_mut().map(|m| m.remove("typ")))),
        ),
        ("typ dpop+jwt", edit(&|h, _| h["typ"] = json!("dpop+jwt"))),
        (
            "unknown kid",
            keys.sign(
                Signer::Foreign,
                &json!({ "alg": "RS256", "typ": "at+jwt", "kid": "never-published" }),
                &claims,
            ),
        ),
        (
            "the provider's kid, another key",
            keys.sign(Signer::Foreign, &header, &claims),
        ),
        ("RS256 header on an ES256 signature", {
            let es = decode_jwt(&good_es);
            let mut h = es.header.clone();
            h["alg"] = json!("RS256");
            let signature = good_es.rsplit('.').next().unwrap_or_default().to_owned();
            format!(
                "{}.{signature}",
                unsigned_jwt(&h, &es.claims).trim_end_matches('.')
            )
        }),
        ("a changed claim under the original signature", {
            let mut c = claims.clone();
            c["sub"] = json!("u-1001-alice");
            let signature = good.rsplit('.').next().unwrap_or_default().to_owned();
            format!(
                "{}.{signature}",
                unsigned_jwt(&header, &c).trim_end_matches('.')
            )
        }),
        (
            "a 100 KB signed token",
            edit(&|_, c| c["padding"] = json!(big_claim)),
        ),
        ("100 KB of garbage", "A".repeat(100 * 1024)),
        ("garbage base64", "eyJ!!!.@@@.###".to_owned()),
        ("three empty parts", "..".to_owned()),
        (
            "base64 that is no JSON",
            format!("{}.{}.{}", b64url("nope"), b64url("nope"), b64url("sig")),
        ),
        (
            "a JSON array header",
            format!("{}.{}.{}", b64url("[]"), b64url("{}"), b64url("sig")),
        ),
        ("four parts", format!("{good}.AAAA")),
        ("a token of another provider", foreign_token.clone()),
        ("another provider's token with this issuer", {
            let foreign = decode_jwt(&foreign_token);
            let mut c = foreign.claims;
            c["iss"] = json!(api.op.issuer());
            let signature = foreign_token
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_owned();
            format!(
                "{}.{signature}",
                unsigned_jwt(&foreign.header, &c).trim_end_matches('.')
            )
        }),
    ];
    for (what, token) in &cases {
        let page = api.bearer(token).await;
        api.assert_refused(&page, token, "invalid_token", what);
    }

    // Unknown kids cost at most one JWKS refetch (rate-limited), not one per request.
    api.op.sync_log().await;
    let before = api.op.count_log_lines("GET /jwks 200");
    for n in 0..5 {
        let token = keys.sign(
            Signer::Foreign,
            &json!({ "alg": "RS256", "typ": "at+jwt", "kid": format!("unknown-{n}") }),
            &claims,
        );
        api.assert_refused(
            &api.bearer(&token).await,
            &token,
            "invalid_token",
            "unknown kid",
        );
    }
    api.op.sync_log().await;
    let refetches = api.op.count_log_lines("GET /jwks 200") - before;
    assert!(
        refetches <= 1,
        "{refetches} JWKS fetches for five unknown kids"
    );

    // Malformed Authorization headers: 400 invalid_request.
    for (what, value) in [
        ("an empty Bearer", "Bearer "),
        ("a token with a space", "Bearer abc def"),
        ("a DPoP token without the token", "DPoP "),
    ] {
        let page = api.call("/api/me", value, None).await;
        api.assert_refused(&page, "", "invalid_request", what);
    }
    let mut headers = HeaderMap::new();
    headers.insert("accept", HeaderValue::from_static("application/json"));
    for token in [&good, &good] {
        headers.append(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("a header"),
        );
    }
    let page = Browser::new()
        .raw(Method::GET, api.app.url("/api/me"), headers)
        .await;
    api.assert_refused(&page, &good, "invalid_request", "two Authorization headers");

    // The good token still works after all that, and nothing was stored.
    api.assert_accepted(&api.bearer(&good).await, "the unforged token, at the end");
    assert_eq!(api.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_for_another_api_or_off_the_api_paths_are_not_taken() {
    let api = Api::start_with(Accept {
        audiences: &[API_RS256],
        introspection: false,
        algs: &["RS256"],
    })
    .await;
    let mine = api
        .op
        .machine_token(API_RS256, "api:read")
        .await
        .access_token;
    api.assert_accepted(&api.bearer(&mine).await, "a token for this API");
    let other = api
        .op
        .machine_token(API_ES256, "api:read")
        .await
        .access_token;
    api.assert_refused(
        &api.bearer(&other).await,
        &other,
        "invalid_token",
        "a token for another API",
    );
    let browser = Browser::new();
    let bob = api.user_token("bob", API_ES256).await.access_token;
    api.assert_refused(
        &api.bearer(&bob).await,
        &bob,
        "invalid_token",
        "bob's token for another API",
    );
    // Without introspection an opaque token cannot be checked: refused.
    let opaque = api
        .op
        .machine_token(API_OPAQUE, "api:read")
        .await
        .access_token;
    api.assert_refused(
        &api.bearer(&opaque).await,
        &opaque,
        "invalid_token",
        "an opaque token",
    );

    // Off the API paths (bearer_paths = api_paths) the header is not the credential: a
    // browser-like request to /whoami is sent to log in, an XHR gets a 401.
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {mine}")).expect("a header"),
    );
    headers.insert("accept", HeaderValue::from_static("application/json"));
    let page = browser
        .raw(Method::GET, api.app.url("/whoami"), headers)
        .await;
    assert_eq!(
        page.status, 401,
        "a token off the API paths is ignored: {page}"
    );
    assert_eq!(api.sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_stay_sessions_on_api_paths() {
    let api = Api::start().await;
    let browser = Browser::new();
    api.browser_identity(&browser, "alice").await;
    let page = browser.fetch(api.app.url("/api/me")).await;
    assert_eq!(page.status, 200, "{page}");
    let me = page.json();
    assert_eq!(me["authentication"], "session", "{me}");
    assert_eq!(me["scopes"], json!([]), "a session has no scopes: {me}");
    assert_eq!(me["machine"], false, "{me}");
    // RequireScope refuses sessions unless told otherwise.
    let page = browser.fetch(api.app.url("/api/write")).await;
    assert_eq!(page.status, 403, "{page}");
    assert_eq!(api.sessions().await, 1, "alice's session is still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_are_pinned_to_the_id_token_algorithms() {
    // Both APIs accepted, but only RS256 (the default for a provider advertising it).
    let api = Api::start_with(Accept {
        audiences: &[API_RS256, API_ES256],
        introspection: false,
        algs: &["RS256"],
    })
    .await;
    let rs256 = api
        .op
        .machine_token(API_RS256, "api:read")
        .await
        .access_token;
    api.assert_accepted(&api.bearer(&rs256).await, "RS256");
    // The provider's own, valid ES256 token: refused, as an ID token in that algorithm would be.
    let es256 = api
        .op
        .machine_token(API_ES256, "api:read")
        .await
        .access_token;
    api.assert_refused(
        &api.bearer(&es256).await,
        &es256,
        "invalid_token",
        "an ES256 token while RS256 is pinned",
    );
    assert_eq!(api.sessions().await, 0);
}

/// An app with two providers, A and B; `b_accepts` gives B the same API audience as A.
async fn two_provider_app(b_accepts: bool) -> (App, Op, Op) {
    init_tracing();
    let listener = AppListener::bind().await;
    let a = Op::start(OpOptions::for_app(&listener).with_apis()).await;
    let b = Op::start(OpOptions {
        jwks_file: None, // its own keys
        ..OpOptions::for_app(&listener).with_apis()
    })
    .await;
    let mut second = oidc_layer::ProviderBuilder::new("Second")
        .issuer(b.issuer())
        .client_id(b.client_id())
        .client_secret(b.client_secret());
    if b_accepts {
        second = second.api_audience(API_RS256);
    }
    let config = OidcConfig::builder()
        .issuer(a.issuer())
        .client_id(a.client_id())
        .client_secret(a.client_secret())
        .external_url(listener.external_url())
        .api_paths(["/api/*"])
        .api_audience(API_RS256)
        .provider(second)
        .build()
        .expect("a valid configuration");
    let router = Router::new()
        .route("/api/me", get(api_me))
        .layer(OidcLayer::new(config));
    (App::spawn(router, listener), a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_configured_provider_accepts_tokens_only_with_its_own_api_audience() {
    let bearer = |app: &App, token: &str| {
        let mut headers = HeaderMap::new();
        headers.insert("accept", HeaderValue::from_static("application/json"));
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("a header"),
        );
        let url = app.url("/api/me");
        async move { Browser::new().raw(Method::GET, url, headers).await }
    };
    // B is configured for logins but takes no tokens: its valid token, with the very audience
    // A accepts, is refused.
    let (app, a, b) = two_provider_app(false).await;
    let from_a = a.machine_token(API_RS256, "api:read").await.access_token;
    let page = bearer(&app, &from_a).await;
    assert_eq!(page.status, 200, "A's token: {page}");
    assert_eq!(page.json()["iss"], a.issuer());
    let from_b = b.machine_token(API_RS256, "api:read").await.access_token;
    let page = bearer(&app, &from_b).await;
    assert_eq!(page.status, 401, "B takes no tokens: {page}");
    assert!(
        page.headers_all("www-authenticate")
            .join(", ")
            .contains("error=\"invalid_token\""),
        "{page}"
    );
    // With its own api_audience B's tokens are B's identities (iss and keys of B).
    let (app, a, b) = two_provider_app(true).await;
    let from_b = b.machine_token(API_RS256, "api:read").await.access_token;
    let page = bearer(&app, &from_b).await;
    assert_eq!(page.status, 200, "B's token: {page}");
    assert_eq!(page.json()["iss"], b.issuer(), "{}", page.body);
    // A token claiming B's issuer but signed by A's key: refused (B's keys decide).
    let keys = ProviderKeys::load();
    let from_a = a.machine_token(API_RS256, "api:read").await.access_token;
    let forged = keys.resign(&from_a, |_, claims| claims["iss"] = json!(b.issuer()));
    let page = bearer(&app, &forged).await;
    assert_eq!(page.status, 401, "A's key under B's issuer: {page}");
}

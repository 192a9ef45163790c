//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the real provider POSTs a
//! logout token to `/auth/backchannel-logout` when a provider session ends, and the layer
//! deletes the sessions of that provider session (`sid`) only. Hostile logout tokens, forged
//! with the provider's own (test-only) private key so that only the claim under test is wrong,
//! or with another key, are refused with a 400 JSON error and delete nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc_e2e::provider_dir;
use oidc_layer::{ProviderBuilder, SessionId, SessionStore};
use openidconnect::core::{CoreHmacKey, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey as _};
use reqwest::StatusCode;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::{BigUint, RsaPrivateKey};
use serde_json::Value;

use super::logout::confirm_at_provider;
use super::*;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const ALICE_SUB: &str = "u-1001-alice";
const BOB_SUB: &str = "u-1002-bob";
const CAROL_SUB: &str = "u-1003-carol";

/// An app whose provider sends back-channel logouts to `{app}/auth/backchannel-logout`.
async fn start() -> Env {
    Env::start_custom(
        |listener, mut options| {
            options.backchannel_logout_uri = Some(format!(
                "{}/auth/backchannel-logout",
                listener.external_url()
            ));
            options
        },
        |_, config| config,
    )
    .await
}

/// The provider session id (`sid`) of the app session whose cookie value is `cookie`, from
/// the record's store tags.
async fn sid_of(env: &Env, cookie: &str) -> String {
    let id = SessionId::parse(cookie).expect("a session id");
    let record = env
        .store
        .load(&id)
        .await
        .expect("store")
        .expect("a live session");
    let prefix = format!("sid {} ", env.op.issuer());
    record
        .tags
        .iter()
        .find_map(|t| t.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no sid tag: {:?}", record.tags))
        .to_owned()
}

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    i64::try_from(secs).expect("a sane clock")
}

/// A fresh `jti` per forged token.
fn jti() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("forged-{}-{}", NEXT.fetch_add(1, Ordering::Relaxed), now())
}

/// How a forged token is signed.
#[derive(Clone, Copy)]
enum Signer {
    /// The provider's own key (the test-only JWKS the provider was started with).
    Provider,
    /// Another RSA key (the in-process testkit's), not in the provider's JWKS.
    Other,
    /// HS256 with the client secret as the key.
    ClientSecret,
    /// No signature (`alg: none`).
    Unsigned,
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64url_uint(value: &Value, name: &str) -> BigUint {
    let text = value[name]
        .as_str()
        .unwrap_or_else(|| panic!("JWK has no {name}"));
    BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(text).expect("base64url JWK member"))
}

/// Forges logout tokens: signs any header and claims with the keys of [`Signer`].
struct Forger {
    provider_key: CoreRsaPrivateSigningKey,
    provider_kid: String,
    other_key: CoreRsaPrivateSigningKey,
    client_secret: String,
}

impl Forger {
    fn new(env: &Env) -> Forger {
        let path = provider_dir().join("test-signing-key.jwks.json");
        let jwks: Value = serde_json::from_str(
            &std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
        )
        .expect("JWKS JSON");
        let jwk = &jwks["keys"][0];
        let kid = jwk["kid"]
            .as_str()
            .expect("the test key has a kid")
            .to_owned();
        let private = RsaPrivateKey::from_components(
            b64url_uint(jwk, "n"),
            b64url_uint(jwk, "e"),
            b64url_uint(jwk, "d"),
            vec![b64url_uint(jwk, "p"), b64url_uint(jwk, "q")],
        )
        .expect("the test JWK is an RSA key");
        let pem = private
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
            .expect("PEM encoding");
        let provider_key =
            CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(kid.clone())))
                .expect("openidconnect takes the PEM");
        let other_pem_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../oidc-testkit/src/keys/test-only-signing-key.pem");
        let other_pem = std::fs::read_to_string(&other_pem_path)
            .unwrap_or_else(|e| panic!("read {}: {e}", other_pem_path.display()));
        let other_key =
            CoreRsaPrivateSigningKey::from_pem(&other_pem, None).expect("the testkit's key parses");
        Forger {
            provider_key,
            provider_kid: kid,
            other_key,
            client_secret: env.op.client_secret().to_owned(),
        }
    }

    /// The provider's usual header: RS256, its `kid`, `typ: logout+jwt`.
    fn header(&self) -> Value {
        json!({ "alg": "RS256", "kid": self.provider_kid, "typ": "logout+jwt" })
    }

    fn sign(&self, header: &Value, claims: &Value, signer: Signer) -> String {
        let message = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        let signature = match signer {
            Signer::Provider => self.provider_key.sign(&rs256, message.as_bytes()),
            Signer::Other => self.other_key.sign(&rs256, message.as_bytes()),
            Signer::ClientSecret => CoreHmacKey::new(self.client_secret.as_bytes())
                .sign(&CoreJwsSigningAlgorithm::HmacSha256, message.as_bytes()),
            Signer::Unsigned => Ok(Vec::new()),
        }
        .expect("signing works");
        format!("{message}.{}", b64url(&signature))
    }

    /// A correctly signed token with `claims`.
    fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims, Signer::Provider)
    }
}

/// Claims of a valid logout token for `sub` and/or `sid`.
fn claims(env: &Env, sub: Option<&str>, sid: Option<&str>) -> Value {
    let mut claims = json!({
        "iss": env.op.issuer(),
        "aud": env.op.client_id(),
        "iat": now(),
        "exp": now() + 120,
        "jti": jti(),
        "events": { EVENT: {} },
    });
    if let Some(sub) = sub {
        claims["sub"] = json!(sub);
    }
    if let Some(sid) = sid {
        claims["sid"] = json!(sid);
    }
    claims
}

/// `claims` changed by `change`.
fn with(mut claims: Value, change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    change(claims.as_object_mut().expect("claims are an object"));
    claims
}

/// The provider's side of a back-channel request: a POST without cookies or browser headers.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} {}", self.status, self.headers, self.body)
    }
}

async fn send(env: &Env, method: Method, content_type: Option<&str>, body: Vec<u8>) -> Answer {
    let mut request = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .request(method, env.app.url("/auth/backchannel-logout"))
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("back-channel request");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.text().await.expect("body"),
    }
}

fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        serializer.append_pair(k, v);
    }
    serializer.finish().into_bytes()
}

/// POSTs `logout_token=<token>` as the provider does.
async fn post_token(env: &Env, token: &str) -> Answer {
    send(
        env,
        Method::POST,
        Some("application/x-www-form-urlencoded"),
        form(&[("logout_token", token)]),
    )
    .await
}

fn assert_accepted(answer: &Answer, context: &str) {
    assert_eq!(answer.status, 200, "{context}: expected 200: {answer}");
    assert_eq!(answer.body, "", "{context}: an empty body");
    assert_eq!(
        answer
            .headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{context}: {answer}"
    );
}

/// A 400 with a JSON `error` (section 2.8), never cached.
fn assert_refused(answer: &Answer, context: &str) {
    assert_eq!(answer.status, 400, "{context}: expected 400: {answer}");
    let content_type = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{context}: a JSON error body: {answer}"
    );
    let json: Value = serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("{context}: not JSON ({e}): {answer}"));
    assert!(
        json["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{context}: an `error` member: {answer}"
    );
    assert!(
        answer
            .headers
            .get("cache-control")
            .is_some_and(|v| v.as_bytes() == b"no-store"),
        "{context}: not cacheable: {answer}"
    );
}

/// alice, signed in from two browsers (two provider sessions), and bob.
struct Population {
    alice1: Browser,
    alice2: Browser,
    bob: Browser,
    alice1_cookie: String,
    alice2_cookie: String,
    bob_cookie: String,
}

async fn populate(env: &Env) -> Population {
    let (alice1, alice2, bob) = (Browser::new(), Browser::new(), Browser::new());
    env.log_in(&alice1, "/whoami", "alice").await;
    env.log_in(&alice2, "/whoami", "alice").await;
    env.log_in(&bob, "/whoami", "bob").await;
    let cookie = |b: &Browser| env.session_cookie(b).expect("a session cookie");
    let population = Population {
        alice1_cookie: cookie(&alice1),
        alice2_cookie: cookie(&alice2),
        bob_cookie: cookie(&bob),
        alice1,
        alice2,
        bob,
    };
    assert_eq!(env.sessions().await, 3);
    population
}

impl Population {
    /// Which of alice 1, alice 2 and bob still have their session in the store.
    async fn alive(&self, env: &Env) -> [bool; 3] {
        [
            env.has_session(&self.alice1_cookie).await,
            env.has_session(&self.alice2_cookie).await,
            env.has_session(&self.bob_cookie).await,
        ]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_logout_ends_the_app_sessions_of_that_provider_session_only() {
    let env = start().await;
    let people = populate(&env).await;
    let sid1 = sid_of(&env, &people.alice1_cookie).await;
    let sid2 = sid_of(&env, &people.alice2_cookie).await;
    assert_ne!(sid1, sid2, "two browsers, two provider sessions");

    // alice signs out at the provider itself in her first browser (not through the app).
    let confirm = people
        .alice1
        .get(env.op.endpoint("end_session_endpoint").as_str())
        .await;
    assert!(
        confirm.form("op.logoutForm").is_some(),
        "the provider's logout confirmation: {confirm}\n{}",
        confirm.body
    );
    // The provider posts the logout token before it answers the confirmation.
    confirm_at_provider(&env, &people.alice1, &confirm).await;
    env.op.sync_log().await;
    assert_eq!(
        (
            env.op.count_log_lines("backchannel.success"),
            env.op.count_log_lines("backchannel.error")
        ),
        (1, 0),
        "the app accepted the provider's logout token:\n{}",
        env.op.log_tail()
    );
    assert_eq!(
        people.alive(&env).await,
        [false, true, true],
        "only the session of that provider session ends"
    );
    env.assert_logged_out(&people.alice1, "alice's first browser")
        .await;
    env.assert_logged_in(&people.alice2, ALICE_SUB, "alice's second browser")
        .await;
    env.assert_logged_in(&people.bob, BOB_SUB, "bob").await;

    // RP-initiated logout from alice's second browser: the app ends its session, the provider
    // ends its own and tells the app over the back channel too (nothing left to delete: 200).
    let form_page = people.alice2.get(env.app.url("/auth/logout")).await;
    let page = people.alice2.submit(&form_page, "logout", &[]).await;
    let journey = people.alice2.follow_with(page, AtProvider::Stay).await;
    let back = confirm_at_provider(&env, &people.alice2, journey.last()).await;
    let journey = people.alice2.follow_with(back, AtProvider::Stay).await;
    journey.assert_no_server_error();
    assert_eq!(
        (journey.last().url.path(), journey.last().status),
        ("/auth/logged-out", StatusCode::OK),
        "{journey}"
    );
    env.op.sync_log().await;
    assert_eq!(
        (
            env.op.count_log_lines("backchannel.success"),
            env.op.count_log_lines("backchannel.error")
        ),
        (2, 0),
        "{}",
        env.op.log_tail()
    );
    assert_eq!(people.alive(&env).await, [false, false, true]);
    assert_eq!(env.sessions().await, 1);
    env.assert_logged_in(&people.bob, BOB_SUB, "bob at the end")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_logout_tokens_are_refused_and_delete_nothing() {
    let env = start().await;
    let people = populate(&env).await;
    let forger = Forger::new(&env);
    let sid = sid_of(&env, &people.alice1_cookie).await;
    // Each token below would end alice's first session (by `sid`) or all of alice's (by `sub`)
    // if it were accepted.
    let good = || claims(&env, Some(ALICE_SUB), Some(&sid));
    let header = forger.header();
    let with_header = |change: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut h = header.clone();
        change(h.as_object_mut().expect("an object"));
        h
    };
    let valid = forger.token(&good());
    let (valid_head, valid_rest) = valid.split_once('.').expect("a JWT");
    let (_, valid_signature) = valid_rest.split_once('.').expect("a JWT");
    let tampered_payload = format!(
        "{valid_head}.{}.{valid_signature}",
        b64url(
            with(good(), |c| {
                c.insert("sub".into(), json!(BOB_SUB));
            })
            .to_string()
            .as_bytes()
        )
    );
    let big = with(good(), |c| {
        c.insert("padding".into(), json!("x".repeat(20 * 1024)));
    });

    let tokens: Vec<(&str, &str, String)> = vec![
        (
            "signed with another key under the provider's kid",
            "signature is invalid",
            forger.sign(&header, &good(), Signer::Other),
        ),
        (
            "signed with a key the provider does not publish",
            "no key",
            forger.sign(
                &with_header(&|h| {
                    h.insert("kid".into(), json!("attacker-key"));
                }),
                &good(),
                Signer::Other,
            ),
        ),
        (
            "a signature over other claims",
            "signature is invalid",
            tampered_payload,
        ),
        (
            "alg none",
            "algorithm",
            forger.sign(
                &json!({ "alg": "none", "typ": "logout+jwt" }),
                &good(),
                Signer::Unsigned,
            ),
        ),
        (
            "HS256 keyed with the client secret",
            "algorithm",
            forger.sign(
                &json!({ "alg": "HS256", "typ": "logout+jwt" }),
                &good(),
                Signer::ClientSecret,
            ),
        ),
        (
            "another issuer",
            "unknown issuer",
            forger.token(&with(good(), |c| {
                c.insert("iss".into(), json!("http://127.0.0.1:1"));
            })),
        ),
        (
            "the issuer with a trailing slash",
            "`iss`",
            forger.token(&with(good(), |c| {
                c.insert("iss".into(), json!(format!("{}/", env.op.issuer())));
            })),
        ),
        (
            "another audience",
            "`aud`",
            forger.token(&with(good(), |c| {
                c.insert("aud".into(), json!("another-client"));
            })),
        ),
        (
            "an audience list without this client",
            "`aud`",
            forger.token(&with(good(), |c| {
                c.insert("aud".into(), json!(["another-client", "third-client"]));
            })),
        ),
        (
            "no iat",
            "`iat`",
            forger.token(&with(good(), |c| {
                c.remove("iat");
            })),
        ),
        (
            "iat as a string",
            "`iat`",
            forger.token(&with(good(), |c| {
                c.insert("iat".into(), json!(now().to_string()));
            })),
        ),
        (
            "iat ten minutes in the future",
            "in the future",
            forger.token(&with(good(), |c| {
                c.insert("iat".into(), json!(now() + 600));
                c.insert("exp".into(), json!(now() + 720));
            })),
        ),
        (
            "iat an hour ago (older than the jti memory), exp still ahead",
            "too old",
            forger.token(&with(good(), |c| {
                c.insert("iat".into(), json!(now() - 3600));
            })),
        ),
        (
            "expired",
            "expired",
            forger.token(&with(good(), |c| {
                c.insert("iat".into(), json!(now() - 300));
                c.insert("exp".into(), json!(now() - 180));
            })),
        ),
        (
            "no exp (required by Back-Channel Logout 1.0)",
            "`exp`",
            forger.token(&with(good(), |c| {
                c.remove("exp");
            })),
        ),
        (
            "exp as a string",
            "`exp`",
            forger.token(&with(good(), |c| {
                c.insert("exp".into(), json!((now() + 120).to_string()));
            })),
        ),
        (
            "no jti",
            "`jti`",
            forger.token(&with(good(), |c| {
                c.remove("jti");
            })),
        ),
        (
            "an empty jti",
            "`jti`",
            forger.token(&with(good(), |c| {
                c.insert("jti".into(), json!(""));
            })),
        ),
        (
            "no events",
            "`events`",
            forger.token(&with(good(), |c| {
                c.remove("events");
            })),
        ),
        (
            "another event",
            "`events`",
            forger.token(&with(good(), |c| {
                c.insert(
                    "events".into(),
                    json!({ "http://schemas.openid.net/event/something-else": {} }),
                );
            })),
        ),
        (
            "the event's value is not an object",
            "`events`",
            forger.token(&with(good(), |c| {
                c.insert("events".into(), json!({ EVENT: "yes" }));
            })),
        ),
        (
            "events as a list",
            "`events`",
            forger.token(&with(good(), |c| {
                c.insert("events".into(), json!([EVENT]));
            })),
        ),
        (
            "a nonce (an ID token, not a logout token)",
            "`nonce`",
            forger.token(&with(good(), |c| {
                c.insert("nonce".into(), json!("n-0S6_WzA2Mj"));
            })),
        ),
        (
            "neither sub nor sid",
            "neither",
            forger.token(&with(good(), |c| {
                c.remove("sub");
                c.remove("sid");
            })),
        ),
        (
            "typ at+jwt (an access token)",
            "`typ`",
            forger.sign(
                &with_header(&|h| {
                    h.insert("typ".into(), json!("at+jwt"));
                }),
                &good(),
                Signer::Provider,
            ),
        ),
        (
            "a critical header extension",
            "critical",
            forger.sign(
                &with_header(&|h| {
                    h.insert("crit".into(), json!(["exp"]));
                    h.insert("exp".into(), json!(now()));
                }),
                &good(),
                Signer::Provider,
            ),
        ),
        ("larger than 16 KiB", "too large", forger.token(&big)),
        ("not a JWT", "not a JWT", "not-a-jwt".to_owned()),
        (
            "five parts (encrypted)",
            "not a JWT",
            "a.b.c.d.e".to_owned(),
        ),
        ("empty", "missing", String::new()),
    ];
    for (what, why, token) in &tokens {
        let answer = post_token(&env, token).await;
        assert_refused(&answer, what);
        assert!(
            answer.body.contains(why),
            "{what}: refused for another reason than {why:?}: {answer}"
        );
        assert_eq!(
            people.alive(&env).await,
            [true, true, true],
            "{what}: nothing may be deleted"
        );
    }

    // The request itself is wrong, although the token in it is valid.
    let valid_form = form(&[("logout_token", &valid)]);
    let requests: Vec<(&str, &str, Option<&str>, Vec<u8>)> = vec![
        (
            "a JSON body",
            "urlencoded",
            Some("application/json"),
            json!({ "logout_token": valid }).to_string().into_bytes(),
        ),
        ("no content type", "urlencoded", None, valid_form.clone()),
        (
            "a text/plain body",
            "urlencoded",
            Some("text/plain"),
            valid_form.clone(),
        ),
        (
            "no logout_token",
            "missing",
            Some("application/x-www-form-urlencoded"),
            form(&[("token", &valid)]),
        ),
        (
            "logout_token twice",
            "repeated",
            Some("application/x-www-form-urlencoded"),
            form(&[("logout_token", &valid), ("logout_token", &valid)]),
        ),
        (
            "a body over 64 KiB",
            "too large",
            Some("application/x-www-form-urlencoded"),
            form(&[
                ("logout_token", &valid),
                ("padding", &"x".repeat(70 * 1024)),
            ]),
        ),
    ];
    for (what, why, content_type, body) in requests {
        let answer = send(&env, Method::POST, content_type, body).await;
        assert_refused(&answer, what);
        assert!(
            answer.body.contains(why),
            "{what}: refused for another reason than {why:?}: {answer}"
        );
        assert_eq!(
            people.alive(&env).await,
            [true, true, true],
            "{what}: nothing may be deleted"
        );
    }
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let answer = send(&env, method.clone(), None, Vec::new()).await;
        assert_eq!(answer.status, 405, "{method}: {answer}");
        assert_eq!(
            answer.headers.get("allow").and_then(|v| v.to_str().ok()),
            Some("POST"),
            "{method}: {answer}"
        );
        assert_eq!(people.alive(&env).await, [true, true, true], "{method}");
    }

    // The valid token works once; replayed, it is refused even though alice has signed in
    // again meanwhile (same browser, same provider session, same sid).
    assert_accepted(&post_token(&env, &valid).await, "the valid token");
    assert_eq!(people.alive(&env).await, [false, true, true]);
    env.log_in(&people.alice1, "/whoami", "alice").await;
    let again = env
        .session_cookie(&people.alice1)
        .expect("a new session cookie");
    assert_eq!(sid_of(&env, &again).await, sid, "the same provider session");
    let answer = post_token(&env, &valid).await;
    assert_refused(&answer, "the same token again");
    assert!(
        answer.body.contains("already used"),
        "refused as a replay: {answer}"
    );
    assert!(env.has_session(&again).await, "the replay deleted nothing");
    assert_eq!(env.sessions().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_tokens_by_sub_end_every_session_of_that_user() {
    let env = start().await;
    let people = populate(&env).await;
    let forger = Forger::new(&env);

    // `typ: JWT` (or none) is what many providers send: accepted. A token for a user without
    // a session deletes nothing and is still a success.
    let plain_jwt = forger.sign(
        &json!({ "alg": "RS256", "kid": forger.provider_kid, "typ": "JWT" }),
        &claims(&env, Some(CAROL_SUB), None),
        Signer::Provider,
    );
    assert_accepted(&post_token(&env, &plain_jwt).await, "typ JWT");
    let no_typ = forger.sign(
        &json!({ "alg": "RS256", "kid": forger.provider_kid }),
        &claims(&env, Some(CAROL_SUB), None),
        Signer::Provider,
    );
    assert_accepted(&post_token(&env, &no_typ).await, "no typ");
    assert_eq!(people.alive(&env).await, [true, true, true]);

    // Only `sub`: every session of alice, from both browsers; bob's stays.
    let token = forger.token(&claims(&env, Some(ALICE_SUB), None));
    assert_accepted(&post_token(&env, &token).await, "sub only");
    assert_eq!(people.alive(&env).await, [false, false, true]);
    env.assert_logged_out(&people.alice1, "alice 1").await;
    env.assert_logged_out(&people.alice2, "alice 2").await;
    env.assert_logged_in(&people.bob, BOB_SUB, "bob").await;

    // Only `sid`: bob's provider session.
    let bob_sid = sid_of(&env, &people.bob_cookie).await;
    let token = forger.token(&claims(&env, None, Some(&bob_sid)));
    assert_accepted(&post_token(&env, &token).await, "sid only");
    assert_eq!(people.alive(&env).await, [false, false, false]);
    assert_eq!(env.sessions().await, 0);
}

/// The second client of the provider's issuer in [`two_clients_of_one_issuer_each_receive_their_back_channel_logouts`].
const SECOND_CLIENT: &str = "second-client";
const SECOND_SECRET: &str = "second-secret";

/// Logs `browser` in as alice through the provider `slug` (the chooser is skipped).
async fn log_in_through(env: &Env, browser: &Browser, slug: &str) {
    let start = format!("/auth/login?provider={slug}&return_to=%2Fwhoami");
    let first = browser.get(env.app.url(&start)).await;
    let journey = browser
        .follow_with(first, AtProvider::log_in("alice"))
        .await;
    journey.assert_no_server_error();
    let last = journey.last();
    assert_eq!(
        (last.url.path(), last.status),
        ("/whoami", StatusCode::OK),
        "login through {slug}:\n{journey}\n{}",
        env.op.log_tail()
    );
}

/// The provider delivered `successes` back-channel logouts so far, and the app refused none.
fn assert_backchannel_outcomes(env: &Env, successes: usize, context: &str) {
    assert_eq!(
        (
            env.op.count_log_lines("backchannel.success"),
            env.op.count_log_lines("backchannel.error")
        ),
        (successes, 0),
        "{context}: the app accepts it:\n{}",
        env.op.log_tail()
    );
}

/// alice ends her provider session in `browser` at the provider itself.
async fn sign_out_at_provider(env: &Env, browser: &Browser) {
    let confirm = browser
        .get(env.op.endpoint("end_session_endpoint").as_str())
        .await;
    confirm_at_provider(env, browser, &confirm).await;
    env.op.sync_log().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_of_one_issuer_each_receive_their_back_channel_logouts() {
    // One issuer, two registered clients, both configured in the app (two providers of the
    // same issuer): each client's logout token names only that client in `aud`.
    let env = Env::start_custom(
        |listener, mut options| {
            let base = listener.external_url();
            options.backchannel_logout_uri = Some(format!("{base}/auth/backchannel-logout"));
            // The second client gets its own callback and the same back-channel logout URI.
            let second = serde_json::json!([{
                "client_id": SECOND_CLIENT,
                "client_secret": SECOND_SECRET,
                "redirect_uris": [format!("{base}/auth/oidc/second")],
                "backchannel_logout_uri": format!("{base}/auth/backchannel-logout"),
                "backchannel_logout_session_required": true,
            }]);
            options
                .env
                .push(("OP_EXTRA_CLIENTS".to_owned(), second.to_string()));
            options
        },
        |op, config| {
            config.slug("first").provider(
                ProviderBuilder::new("Second")
                    .slug("second")
                    .issuer(op.issuer())
                    .client_id(SECOND_CLIENT)
                    .client_secret(SECOND_SECRET)
                    .scopes(["openid", "profile", "email"]),
            )
        },
    )
    .await;
    let through_first = Browser::new();
    let through_second = Browser::new();
    log_in_through(&env, &through_first, "first").await;
    log_in_through(&env, &through_second, "second").await;
    assert_eq!(env.sessions().await, 2);

    // The provider session of the second client's login ends: its logout token is for the
    // second client, and must be taken as such.
    sign_out_at_provider(&env, &through_second).await;
    assert_backchannel_outcomes(&env, 1, "the second client's logout token");
    env.assert_logged_out(&through_second, "the second client's session")
        .await;
    env.assert_logged_in(&through_first, ALICE_SUB, "the first client's session")
        .await;

    sign_out_at_provider(&env, &through_first).await;
    assert_backchannel_outcomes(&env, 2, "the first client's logout token");
    env.assert_logged_out(&through_first, "the first client's session")
        .await;
    assert_eq!(env.sessions().await, 0);
}

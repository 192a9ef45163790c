//! DPoP-bound access tokens (RFC 9449) through the layer, in process: a token bound to a key
//! (`cnf.jkt`) is accepted only under the DPoP scheme with a fresh proof of that key for this
//! request; replays, proofs of another key or for another request are refused with
//! `invalid_dpop_proof` and a DPoP challenge, at the first use of the token and from the cache.

#![allow(clippy::unwrap_used)]

#[path = "bearer_common/mod.rs"]
mod common;

use axum::body::Body;
use common::*;
use http::{Request, StatusCode, header};
use p256::SecretKey;
use p256::elliptic_curve::sec1::ToSec1Point as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A client's DPoP key (fixed, test-only).
fn client_key(seed: u8) -> SecretKey {
    SecretKey::from_slice(&[seed; 32]).unwrap()
}

/// The public JWK of `key`.
fn public_jwk(key: &SecretKey) -> Value {
    let point = key.public_key().to_sec1_point(false);
    json!({
        "kty": "EC", "crv": "P-256",
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
    })
}

/// RFC 7638 thumbprint of `key`'s JWK (the required members in lexicographic order).
fn thumbprint(key: &SecretKey) -> String {
    let jwk = public_jwk(key);
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    b64(&Sha256::digest(canonical.as_bytes()))
}

/// A DPoP proof by `key` for `GET {EXTERNAL}{path}` and `token`.
fn proof(key: &SecretKey, method: &str, path: &str, token: &str, jti: &str) -> String {
    proof_with(
        key,
        json!({
            "jti": jti, "htm": method, "htu": format!("{EXTERNAL}{path}"), "iat": now(),
            "ath": b64(&Sha256::digest(token.as_bytes())),
        }),
    )
}

fn proof_with(key: &SecretKey, claims: Value) -> String {
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key)});
    es256_with(
        &p256::ecdsa::SigningKey::from(key.clone()),
        &header,
        &claims,
    )
}

async fn dpop_get(app: &axum::Router, path: &str, token: &str, proofs: &[&str]) -> Answer {
    let mut request = Request::get(path).header(header::AUTHORIZATION, format!("DPoP {token}"));
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    send(app, request.body(Body::empty()).unwrap()).await
}

fn assert_bad_proof(answer: &Answer, what: &str, error: &str) {
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {answer:?}"
    );
    let challenge = answer.challenge();
    assert!(challenge.starts_with("DPoP "), "{what}: {challenge}");
    assert!(
        challenge.contains(&format!("error=\"{error}\"")),
        "{what}: {challenge}"
    );
    assert!(challenge.contains("algs=\""), "{what}: {challenge}");
    assert!(!answer.sets_cookies());
}

#[tokio::test]
async fn a_bound_token_with_a_fresh_proof_of_its_key_is_accepted() {
    let provider = provider().await;
    let (app, store) = app_with(&provider, &format!("api_audience = \"{AUDIENCE}\""));
    let key = client_key(7);
    let token = rs256(
        at_header(),
        &with(
            alice(provider.issuer()),
            json!({"cnf": {"jkt": thumbprint(&key)}}),
        ),
    );
    let answer = dpop_get(
        &app,
        "/api/me",
        &token,
        &[&proof(&key, "GET", "/api/me", &token, "p-1")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body["username"], "alice");
    assert_eq!(answer.body["authentication"], "dpop");
    // From the cache, a new proof is needed and checked each time.
    let again = dpop_get(
        &app,
        "/api/me",
        &token,
        &[&proof(&key, "GET", "/api/me", &token, "p-2")],
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(store.writes.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn hostile_proofs_are_refused() {
    let provider = provider().await;
    let (app, _) = app_with(&provider, &format!("api_audience = \"{AUDIENCE}\""));
    let key = client_key(7);
    let thief = client_key(9);
    let token = rs256(
        at_header(),
        &with(
            alice(provider.issuer()),
            json!({"cnf": {"jkt": thumbprint(&key)}}),
        ),
    );
    let ath = b64(&Sha256::digest(token.as_bytes()));
    let claims = |changes: Value| {
        with(
            json!({"jti": format!("j-{changes}"), "htm": "GET", "htu": format!("{EXTERNAL}/api/me"), "iat": now(), "ath": ath}),
            changes,
        )
    };
    let used = proof(&key, "GET", "/api/me", &token, "used-once");
    assert_eq!(
        dpop_get(&app, "/api/me", &token, &[&used]).await.status,
        StatusCode::OK
    );
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("no proof", vec![]),
        (
            "two proofs",
            vec![
                proof(&key, "GET", "/api/me", &token, "a"),
                proof(&key, "GET", "/api/me", &token, "b"),
            ],
        ),
        ("replayed", vec![used.clone()]),
        (
            "another key",
            vec![proof(&thief, "GET", "/api/me", &token, "thief")],
        ),
        (
            "wrong method",
            vec![proof_with(&key, claims(json!({"htm": "POST"})))],
        ),
        (
            "wrong uri",
            vec![proof_with(
                &key,
                claims(json!({"htu": format!("{EXTERNAL}/api/other")})),
            )],
        ),
        (
            "old",
            vec![proof_with(&key, claims(json!({"iat": now() - 600})))],
        ),
        (
            "future",
            vec![proof_with(&key, claims(json!({"iat": now() + 600})))],
        ),
        (
            "no jti",
            vec![proof_with(&key, claims(json!({"jti": null})))],
        ),
        (
            "wrong ath",
            vec![proof_with(&key, claims(json!({"ath": b64(&[0u8; 32])})))],
        ),
        (
            "no ath",
            vec![proof_with(&key, claims(json!({"ath": null})))],
        ),
        ("garbage", vec!["not.a.proof".to_owned()]),
    ];
    for (what, proofs) in &cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        // A proof of another key is the token's binding failing; the rest are the proof's.
        let error = if *what == "another key" {
            "invalid_token"
        } else {
            "invalid_dpop_proof"
        };
        assert_bad_proof(
            &dpop_get(&app, "/api/me", &token, &proofs).await,
            what,
            error,
        );
    }
    // A proof of the right key, but the token under Bearer: the binding refuses it.
    let answer = send(
        &app,
        Request::get("/api/me")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header("dpop", proof(&key, "GET", "/api/me", &token, "as-bearer"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.challenge().starts_with("DPoP "));
    assert!(answer.challenge().contains("error=\"invalid_token\""));
}

//! One JWS signature verification, RS256 (the test provider's 2048-bit key) and ES256 (P-256),
//! through the layer's JOSE module (ring, the key parsed once per key-set fetch) and through
//! openidconnect's `CoreJsonWebKey::verify_signature` (what ID tokens went through before), in
//! the same run. The same message, signature and JWK for both.
//!
//!     cargo bench -p oidc-layer --features bench --bench jose

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use oidc_layer::bench::SignatureCheck;
use openidconnect::JsonWebKey as _;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

/// What a provider's ID token signs: a header and claims of the usual size, base64url.
fn message() -> Vec<u8> {
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}",
        part(json!({"alg": "RS256", "typ": "JWT", "kid": "k"})),
        part(json!({
            "iss": "https://id.example.com", "sub": "248289761001", "aud": "app",
            "exp": 1_900_000_000, "iat": 1_800_000_000, "nonce": "n-0S6_WzA2Mj",
            "name": "Jane Doe", "email": "janedoe@example.com", "email_verified": true,
            "groups": ["staff", "admins", "users"],
        }))
    )
    .into_bytes()
}

/// The test provider's RSA key (PKCS#1 PEM, test-only) and its public JWK.
fn rsa() -> (RsaKeyPair, Value) {
    let pem = include_str!("../../oidc-testkit/src/keys/test-only-signing-key.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let key = RsaKeyPair::from_der(&STANDARD.decode(body).expect("PEM")).expect("RSA key");
    let public: ring::rsa::PublicKeyComponents<Vec<u8>> = key.public().into();
    let jwk = json!({
        "kty": "RSA", "use": "sig", "kid": "rsa",
        "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e),
    });
    (key, jwk)
}

/// A fresh P-256 key and its public JWK.
fn ec() -> (EcdsaKeyPair, Value) {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("EC key");
    let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("EC key");
    let point = key.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "kid": "ec",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    });
    (key, jwk)
}

fn verification(c: &mut Criterion) {
    let message = message();
    let rng = SystemRandom::new();
    let (rsa_key, rsa_jwk) = rsa();
    let mut rsa_signature = vec![0; rsa_key.public().modulus_len()];
    rsa_key
        .sign(
            &signature::RSA_PKCS1_SHA256,
            &rng,
            &message,
            &mut rsa_signature,
        )
        .expect("RS256 signature");
    let (ec_key, ec_jwk) = ec();
    let ec_signature = ec_key.sign(&rng, &message).expect("ES256 signature");
    let cases = [
        (
            "RS256",
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            rsa_jwk,
            rsa_signature,
        ),
        (
            "ES256",
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            ec_jwk,
            ec_signature.as_ref().to_vec(),
        ),
    ];
    let mut group = c.benchmark_group("signature");
    for (name, core_alg, jwk, sig) in cases {
        let jose = SignatureCheck::new(&jwk, name, &message, &sig).expect("jose key");
        let mut tampered = message.clone();
        tampered[0] ^= 1;
        let jose_tampered = SignatureCheck::new(&jwk, name, &tampered, &sig).expect("jose key");
        let core: CoreJsonWebKey = serde_json::from_value(jwk).expect("openidconnect key");
        // Both verify, and both refuse a changed message: the rows measure real checks.
        assert!(jose.run(), "{name} through jose");
        assert!(!jose_tampered.run(), "{name} tampered, through jose");
        core.verify_signature(&core_alg, &message, &sig)
            .expect("openidconnect verifies");
        assert!(core.verify_signature(&core_alg, &tampered, &sig).is_err());
        group.bench_function(format!("{name}/jose"), |b| b.iter(|| assert!(jose.run())));
        group.bench_function(format!("{name}/openidconnect"), |b| {
            b.iter(|| {
                core.verify_signature(&core_alg, &message, &sig)
                    .expect("verifies")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);

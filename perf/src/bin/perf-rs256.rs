//! RS256 signature verification, the expensive step of ID-token validation, with three
//! backends on the same 2048-bit key (the testkit's) and the same signed ID-token input:
//!
//! - `openidconnect`: `CoreJsonWebKey::verify_signature`, what openidconnect 4 (and so the
//!   layer) runs: the `rsa` crate, the public key rebuilt from the JWK on every call;
//! - `rsa-prebuilt`: the `rsa` crate with the public key built once;
//! - `ring`: ring 0.17 (already in the dependency tree through rustls).
//!
//! Prints `rs256 BACKEND NS_PER_VERIFY` (median of 15 batches).

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc_layer_perf::Error;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKey, JsonWebKeyId, PrivateSigningKey};
use rsa::signature::Verifier as _;

const KEY_PEM: &str =
    include_str!("../../../oidc-testkit/src/keys/test-only-signing-key.pem");
const BATCHES: usize = 15;
const BATCH_TIME: Duration = Duration::from_millis(60);

/// Median ns per call of `f`.
fn time(mut f: impl FnMut() -> bool) -> f64 {
    let start = Instant::now();
    let mut warm = 0u32;
    while start.elapsed() < BATCH_TIME * 2 {
        assert!(f(), "verification failed");
        warm += 1;
    }
    let per_batch = (warm / 2).max(1);
    let mut means = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let start = Instant::now();
        for _ in 0..per_batch {
            std::hint::black_box(f());
        }
        means.push(start.elapsed().as_nanos() as f64 / f64::from(per_batch));
    }
    means.sort_by(f64::total_cmp);
    means[BATCHES / 2]
}

fn main() -> Result<(), Error> {
    let alg = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    let private = CoreRsaPrivateSigningKey::from_pem(KEY_PEM, Some(JsonWebKeyId::new("k".into())))?;
    let jwk = private.as_verification_key();
    // A realistic signing input: header and payload of an ID token with alice's claims.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(
        r#"{"iss":"http://127.0.0.1:40000","sub":"u-1001-alice","aud":"test-client","exp":1900000000,"iat":1800000000,"auth_time":1800000000,"nonce":"QW1hZ2ljYWxseVJhbmRvbU5vbmNlVmFsdWU","at_hash":"fVQjbhQWWZvkKWR7wCb6Ow","sid":"c2lkLTEyMzQ1Njc4","email":"alice@example.test","email_verified":true,"preferred_username":"alice","name":"Alice Anders","given_name":"Alice","family_name":"Anders","groups":["admins","users"],"is_admin":true}"#,
    );
    let message = format!("{header}.{payload}");
    let signature = private.sign(&alg, message.as_bytes())?;

    let fields: serde_json::Value = serde_json::to_value(&jwk)?;
    let component = |name: &str| -> Result<Vec<u8>, Error> {
        Ok(URL_SAFE_NO_PAD.decode(fields[name].as_str().ok_or("JWK component")?)?)
    };
    let (n, e) = (component("n")?, component("e")?);
    println!(
        "rs256 key {} bits, signing input {} bytes",
        n.len() * 8,
        message.len()
    );

    let openidconnect = time(|| {
        jwk.verify_signature(&alg, message.as_bytes(), &signature)
            .is_ok()
    });
    println!("rs256 openidconnect {openidconnect:.0}");

    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&n),
        rsa::BigUint::from_bytes_be(&e),
    )?;
    let verifying = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key);
    let rsa_signature = rsa::pkcs1v15::Signature::try_from(signature.as_slice())?;
    let prebuilt = time(|| verifying.verify(message.as_bytes(), &rsa_signature).is_ok());
    println!("rs256 rsa-prebuilt {prebuilt:.0}");

    let components = ring::signature::RsaPublicKeyComponents { n: &n, e: &e };
    let ring = time(|| {
        components
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                message.as_bytes(),
                &signature,
            )
            .is_ok()
    });
    println!("rs256 ring {ring:.0}");
    Ok(())
}

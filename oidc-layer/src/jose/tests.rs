//! Signatures made here with ring (EC, Ed25519) and with the test provider's RSA key, verified
//! through the JOSE module; and what it must refuse.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

use super::*;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The test provider's RSA key (PKCS#1 PEM, test-only).
fn rsa_key() -> RsaKeyPair {
    let pem = include_str!("../../../oidc-testkit/src/keys/test-only-signing-key.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body).expect("PEM body");
    RsaKeyPair::from_der(&der).expect("an RSA key")
}

fn rsa_jwk(key: &RsaKeyPair, kid: &str) -> Value {
    let public: ring::rsa::PublicKeyComponents<Vec<u8>> = key.public().into();
    json!({ "kty": "RSA", "kid": kid, "use": "sig", "n": b64(&public.n), "e": b64(&public.e) })
}

fn token(header: &Value, payload: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn rs256(key: &RsaKeyPair, header: &Value, payload: &Value) -> String {
    token(header, payload, |input| {
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(
            &signature::RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input,
            &mut sig,
        )
        .expect("sign");
        sig
    })
}

struct Ec {
    pair: EcdsaKeyPair,
    jwk: Value,
}

fn ec(alg: &'static signature::EcdsaSigningAlgorithm, crv: &str, len: usize) -> Ec {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("generate");
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("parse");
    let point = pair.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": crv, "kid": crv,
        "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..]),
    });
    Ec { pair, jwk }
}

fn ec_sign(key: &Ec, header: &Value, payload: &Value) -> String {
    token(header, payload, |input| {
        key.pair
            .sign(&SystemRandom::new(), input)
            .expect("sign")
            .as_ref()
            .to_vec()
    })
}

fn keys(jwks: &[Value]) -> KeySet {
    KeySet::from_json(&json!({ "keys": jwks }))
}

#[test]
fn rs256_es256_es384_and_eddsa_signatures_verify_and_yield_the_payload() {
    let payload = json!({ "sub": "alice" });
    let rsa = rsa_key();
    let set = keys(&[rsa_jwk(&rsa, "r1")]);
    let jws = rs256(&rsa, &json!({"alg": "RS256", "kid": "r1"}), &payload);
    let compact = parse_compact(&jws, 16 * 1024).expect("parses");
    let bytes = compact.verify_with(&set, &[Alg::Rs256]).expect("verifies");
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), payload);

    let p256 = ec(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32);
    let p384 = ec(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48);
    let set = keys(&[p256.jwk.clone(), p384.jwk.clone()]);
    for (key, alg) in [(&p256, Alg::Es256), (&p384, Alg::Es384)] {
        let jws = ec_sign(key, &json!({"alg": alg.name()}), &payload);
        let compact = parse_compact(&jws, 16 * 1024).unwrap();
        assert!(compact.verify_with(&set, &[alg]).is_ok(), "{alg}");
    }

    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key().as_ref())});
    let jws = token(&json!({"alg": "EdDSA"}), &payload, |i| {
        ed.sign(i).as_ref().to_vec()
    });
    let compact = parse_compact(&jws, 16 * 1024).unwrap();
    assert!(compact.verify_with(&keys(&[jwk]), &[Alg::EdDsa]).is_ok());
}

#[test]
fn none_hmac_and_unlisted_algorithms_are_refused_before_any_key_is_tried() {
    let rsa = rsa_key();
    let jwk = rsa_jwk(&rsa, "r1");
    let set = keys(std::slice::from_ref(&jwk));
    // HS256 keyed with the public key's own JSON: the classic key-confusion forgery.
    let secret = jwk.to_string();
    let hs = token(&json!({"alg": "HS256", "kid": "r1"}), &json!({}), |input| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        ring::hmac::sign(&key, input).as_ref().to_vec()
    });
    let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(b"{}"));
    let none_signed = format!("{}.{}.AAAA", b64(br#"{"alg":"none"}"#), b64(b"{}"));
    for jws in [&hs, &none_signed, &none] {
        let compact = parse_compact(jws, 16 * 1024).unwrap();
        assert!(
            matches!(
                compact.verify_with(&set, &Alg::ALL),
                Err(JoseError::AlgNotAllowed(_))
            ),
            "{jws}"
        );
    }
    let ps = rs256(&rsa, &json!({"alg": "RS256", "kid": "r1"}), &json!({}));
    let compact = parse_compact(&ps, 16 * 1024).unwrap();
    assert_eq!(
        compact.verify_with(&set, &[Alg::Ps256, Alg::Es256]),
        Err(JoseError::AlgNotAllowed("RS256".into()))
    );
    for name in ["none", "HS256", "HS512", "rs256", "ES512", "RS256 ", ""] {
        assert_eq!(Alg::parse(name), None, "{name}");
    }
}

#[test]
fn keys_are_chosen_by_kid_and_type_and_a_wrong_signature_is_not_a_missing_key() {
    let rsa = rsa_key();
    let p256 = ec(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32);
    let set = keys(&[rsa_jwk(&rsa, "r1"), p256.jwk.clone()]);
    let signed = rs256(&rsa, &json!({"alg": "RS256", "kid": "other"}), &json!({}));
    let compact = parse_compact(&signed, 16 * 1024).unwrap();
    assert_eq!(
        compact.verify_with(&set, &[Alg::Rs256]),
        Err(JoseError::NoKey)
    );
    // No kid: every key of the type is tried.
    let signed = rs256(&rsa, &json!({"alg": "RS256"}), &json!({}));
    assert!(
        parse_compact(&signed, 16 * 1024)
            .unwrap()
            .verify_with(&set, &[Alg::Rs256])
            .is_ok()
    );
    // An EC signature presented as RS256 with the RSA key's kid.
    let ec_signed = ec_sign(&p256, &json!({"alg": "RS256", "kid": "r1"}), &json!({}));
    let compact = parse_compact(&ec_signed, 16 * 1024).unwrap();
    assert_eq!(
        compact.verify_with(&set, &[Alg::Rs256]),
        Err(JoseError::BadSignature)
    );
    // A flipped payload bit.
    let mut parts: Vec<String> = signed.split('.').map(str::to_owned).collect();
    parts[1] = b64(br#"{"a":1}"#);
    let tampered = parts.join(".");
    let compact = parse_compact(&tampered, 16 * 1024).unwrap();
    assert_eq!(
        compact.verify_with(&set, &[Alg::Rs256]),
        Err(JoseError::BadSignature)
    );
    // A key whose own alg is RS384 does not verify RS256.
    let mut pinned = rsa_jwk(&rsa, "r1");
    pinned["alg"] = json!("RS384");
    let compact = parse_compact(&signed, 16 * 1024).unwrap();
    assert_eq!(
        compact.verify_with(&keys(&[pinned]), &[Alg::Rs256]),
        Err(JoseError::NoKey)
    );
}

#[test]
fn malformed_tokens_are_refused_without_panicking() {
    let huge = "a".repeat(20_000);
    assert_eq!(
        parse_compact(&huge, 16 * 1024).unwrap_err(),
        JoseError::TooLarge
    );
    for bad in [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        "!!.e30.AAAA",
        "e30.e30.!!",
        "e30=.e30.AAAA",
        "bnVsbA.e30.AAAA",
        "W10.e30.AAAA",
        "eyJhbGciOjF9.e30.AAAA",
        "eyJhbGciOiJSUzI1NiJ9..AAAA",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6MX0.e30.AAAA",
    ] {
        assert!(
            matches!(parse_compact(bad, 16 * 1024), Err(JoseError::Malformed(_))),
            "{bad}"
        );
    }
    // An empty signature: a bad signature, not a crash.
    let rsa = rsa_key();
    let empty = format!("{}.e30.", b64(br#"{"alg":"RS256"}"#));
    let compact = parse_compact(&empty, 16 * 1024).unwrap();
    assert_eq!(
        compact.verify_with(&keys(&[rsa_jwk(&rsa, "r1")]), &[Alg::Rs256]),
        Err(JoseError::BadSignature)
    );
    let crit = format!(
        "{}.e30.AAAA",
        b64(br#"{"alg":"RS256","crit":["exp"],"exp":1}"#)
    );
    let compact = parse_compact(&crit, 16 * 1024).unwrap();
    assert_eq!(
        compact.verify_with(&KeySet::default(), &Alg::ALL),
        Err(JoseError::Crit)
    );
}

#[test]
fn private_symmetric_and_unusable_keys_are_refused() {
    let rsa = rsa_key();
    let good = rsa_jwk(&rsa, "r1");
    let mut private = good.clone();
    private["d"] = json!("AQAB");
    let mut enc = good.clone();
    enc["use"] = json!("enc");
    let mut ops = good.clone();
    ops["key_ops"] = json!(["encrypt"]);
    let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
    let p521 = json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"});
    let short_x = json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 31]), "y": b64(&[1; 32])});
    let mismatched = json!({"kty": "RSA", "n": good["n"], "e": good["e"], "alg": "ES256"});
    for bad in [
        &private,
        &enc,
        &ops,
        &oct,
        &p521,
        &short_x,
        &mismatched,
        &json!("RSA"),
    ] {
        assert!(Jwk::from_json(bad).is_err(), "{bad}");
    }
    let set = keys(&[private, enc, oct, good]);
    assert_eq!(set.len(), 1);
}

#[test]
fn rsa_keys_under_2048_bits_do_not_verify() {
    // RFC 7518 3.3: 2048 bits or more. A 1024-bit modulus (any bytes: ring refuses it by size).
    let jwk = json!({"kty": "RSA", "n": b64(&[0xC5; 128]), "e": "AQAB"});
    let key = Jwk::from_json(&jwk).unwrap();
    assert_eq!(
        key.verify(Alg::Rs256, b"m", &[0; 128]),
        Err(JoseError::BadSignature)
    );
}

#[test]
fn thumbprints_follow_rfc_7638() {
    // RFC 7638 3.1's example key and its thumbprint.
    let n = concat!(
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_",
        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_",
        "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI",
        "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    );
    let jwk = json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"});
    let key = Jwk::from_json(&jwk).unwrap();
    assert_eq!(
        b64(&key.thumbprint()),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // Members other than the required ones change nothing.
    let bare = Jwk::from_json(&json!({"e": "AQAB", "n": n, "kty": "RSA"})).unwrap();
    assert_eq!(bare.thumbprint(), key.thumbprint());
}

#[test]
fn typ_compares_case_insensitively_with_or_without_the_application_prefix() {
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+Jwt",
    ] {
        assert!(typ_is(Some(typ), "at+jwt"), "{typ}");
    }
    for typ in [
        "JWT",
        "at+jwt ",
        "application/",
        "app/at+jwt",
        "application/JWT",
        "é",
    ] {
        assert!(!typ_is(Some(typ), "at+jwt"), "{typ}");
    }
    assert!(!typ_is(None, "at+jwt"));
}

#[test]
fn at_hash_uses_the_left_half_of_the_algorithms_hash() {
    // OpenID Connect Core A.3's example access token and its at_hash (RS256).
    let half = Alg::Rs256.left_half_hash(b"jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y");
    assert_eq!(b64(&half), "77QmUPtjPfzWtF2AnpK9RQ");
    assert_eq!(Alg::Es384.left_half_hash(b"x").len(), 24);
    assert_eq!(Alg::EdDsa.left_half_hash(b"x").len(), 32);
}

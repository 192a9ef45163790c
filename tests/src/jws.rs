//! Reading and forging JWTs for the hostile cases: the test provider's own private keys (the
//! fixed, test-only `tests/provider/test-signing-key.jwks.json`) sign tokens the provider would
//! never issue (expired, wrong `iss`, wrong `typ`...), so that a relying party is tested on its
//! claim checks with a signature that verifies; and the classic forgeries (`alg: none`, HS256
//! keyed with the public key, a key the provider never published).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreHmacKey, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey as _};
use p256::ecdsa::signature::Signer as _;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::EncodePublicKey as _;
use rsa::{BigUint, RsaPrivateKey};
use serde_json::{Value, json};

use crate::provider_dir;

/// A JWT's decoded header and claims (the signature is not checked).
#[derive(Debug, Clone, PartialEq)]
pub struct JwtParts {
    /// The protected header.
    pub header: Value,
    /// The claims.
    pub claims: Value,
}

/// Decodes a compact JWS; panics when `token` is not one (three parts, base64url JSON).
pub fn decode_jwt(token: &str) -> JwtParts {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWS: {token:.40}...");
    let json = |part: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_else(|err| panic!("JWS part is not base64url: {err}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|err| panic!("JWS part is not JSON: {err}"))
    };
    JwtParts {
        header: json(parts[0]),
        claims: json(parts[1]),
    }
}

/// base64url without padding.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.claims.` with an empty signature (what `alg: none` looks like).
pub fn unsigned_jwt(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64url(header.to_string()),
        b64url(claims.to_string())
    )
}

/// A JWS with `alg` HS256 MACed with `secret` (e.g. the provider's public key: the
/// key-confusion attack on verifiers that take the algorithm from the token).
pub fn hs256_jwt(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = signing_input(header, claims);
    let mac = CoreHmacKey::new(secret)
        .sign(&CoreJwsSigningAlgorithm::HmacSha256, input.as_bytes())
        .expect("HMAC never fails");
    format!("{input}.{}", b64url(mac))
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64url(header.to_string()),
        b64url(claims.to_string())
    )
}

/// The test provider's private keys (its RSA and P-256 keys from
/// `tests/provider/test-signing-key.jwks.json`) and a foreign RSA key it never published.
pub struct ProviderKeys {
    rsa: CoreRsaPrivateSigningKey,
    rsa_kid: String,
    rsa_public_jwk: Value,
    rsa_public_pem: String,
    ec: p256::ecdsa::SigningKey,
    ec_kid: String,
    foreign: CoreRsaPrivateSigningKey,
}

impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderKeys")
            .field("rsa_kid", &self.rsa_kid)
            .field("ec_kid", &self.ec_kid)
            .finish_non_exhaustive()
    }
}

/// Which key [`ProviderKeys::sign`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// The provider's RSA key (RS256).
    ProviderRsa,
    /// The provider's P-256 key (ES256).
    ProviderEc,
    /// An RSA key the provider never published (RS256): the `kid` is up to the header.
    Foreign,
}

impl ProviderKeys {
    /// Loads the keys (the provider must be started with the default `jwks_file`).
    pub fn load() -> ProviderKeys {
        let path = provider_dir().join("test-signing-key.jwks.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let jwks: Value = serde_json::from_str(&text).expect("JWKS JSON");
        let keys = jwks["keys"].as_array().expect("a JWKS");
        let of_type = |kty: &str| {
            keys.iter()
                .find(|k| k["kty"] == kty)
                .unwrap_or_else(|| panic!("{} has no {kty} key", path.display()))
        };
        let rsa_jwk = of_type("RSA");
        let ec_jwk = of_type("EC");
        let kid = |jwk: &Value| jwk["kid"].as_str().expect("a kid").to_owned();
        let rsa_kid = kid(rsa_jwk);
        let private = RsaPrivateKey::from_components(
            uint(rsa_jwk, "n"),
            uint(rsa_jwk, "e"),
            uint(rsa_jwk, "d"),
            vec![uint(rsa_jwk, "p"), uint(rsa_jwk, "q")],
        )
        .expect("the test JWK is an RSA key");
        let pem = private
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
            .expect("PEM encoding");
        let rsa =
            CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(rsa_kid.clone())))
                .expect("openidconnect takes the PEM");
        let rsa_public_pem = private
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("SPKI PEM");
        let rsa_public_jwk = json!({
            "kty": "RSA", "n": rsa_jwk["n"], "e": rsa_jwk["e"], "kid": rsa_kid,
            "use": "sig", "alg": "RS256",
        });
        let d = URL_SAFE_NO_PAD
            .decode(ec_jwk["d"].as_str().expect("EC d"))
            .expect("base64url d");
        let ec = p256::ecdsa::SigningKey::from_slice(&d).expect("a P-256 private key");
        let foreign_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../oidc-testkit/src/keys/test-only-unknown-key.pem");
        let foreign_pem = std::fs::read_to_string(&foreign_path)
            .unwrap_or_else(|e| panic!("read {}: {e}", foreign_path.display()));
        let foreign =
            CoreRsaPrivateSigningKey::from_pem(&foreign_pem, None).expect("the testkit's key");
        ProviderKeys {
            rsa,
            rsa_kid,
            rsa_public_jwk,
            rsa_public_pem,
            ec,
            ec_kid: kid(ec_jwk),
            foreign,
        }
    }

    /// The `kid` of the provider's RSA key.
    pub fn rsa_kid(&self) -> &str {
        &self.rsa_kid
    }

    /// The `kid` of the provider's P-256 key.
    pub fn ec_kid(&self) -> &str {
        &self.ec_kid
    }

    /// The provider's RSA public key as its JWKS publishes it.
    pub fn rsa_public_jwk(&self) -> &Value {
        &self.rsa_public_jwk
    }

    /// The provider's RSA public key as an SPKI PEM.
    pub fn rsa_public_pem(&self) -> &str {
        &self.rsa_public_pem
    }

    /// Signs `header` and `claims` (used as given: `alg` and `kid` are up to the caller).
    pub fn sign(&self, signer: Signer, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        let signature = match signer {
            Signer::ProviderRsa => self.rsa.sign(&rs256, input.as_bytes()).expect("RS256"),
            Signer::Foreign => self.foreign.sign(&rs256, input.as_bytes()).expect("RS256"),
            Signer::ProviderEc => {
                let signature: p256::ecdsa::Signature = self.ec.sign(input.as_bytes());
                signature.to_bytes().to_vec()
            }
        };
        format!("{input}.{}", b64url(signature))
    }

    /// `token`'s header and claims as `edit` changes them, signed again with the provider's key
    /// of the header's `alg` (RS256 or ES256): a token with a valid signature that the
    /// provider never issued.
    pub fn resign(&self, token: &str, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        let JwtParts {
            mut header,
            mut claims,
        } = decode_jwt(token);
        edit(&mut header, &mut claims);
        let signer = match header["alg"].as_str() {
            Some("ES256") => Signer::ProviderEc,
            _ => Signer::ProviderRsa,
        };
        self.sign(signer, &header, &claims)
    }
}

fn uint(jwk: &Value, name: &str) -> BigUint {
    let text = jwk[name]
        .as_str()
        .unwrap_or_else(|| panic!("JWK has no {name}"));
    BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(text).expect("base64url JWK member"))
}

/// Decodes base64url without padding; panics on anything else.
pub fn b64url_decode(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_else(|err| panic!("not base64url: {err}"))
}

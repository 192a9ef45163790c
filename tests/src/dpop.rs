//! DPoP proofs (RFC 9449), signed here with a fresh P-256 key per [`DpopKey`].

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::sec1::ToSec1Point as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::tokens::random_b64url;

/// A client's DPoP key pair (ES256) and the proofs it signs.
///
/// ```
/// let key = oidc_e2e::DpopKey::generate();
/// let proof = key.proof("GET", "http://127.0.0.1:3000/api/me", Some("token"));
/// assert_eq!(proof.split('.').count(), 3);
/// assert_eq!(key.thumbprint().len(), 43);
/// ```
#[derive(Clone)]
pub struct DpopKey {
    key: p256::ecdsa::SigningKey,
    jwk: Value,
    thumbprint: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A new random key.
    pub fn generate() -> DpopKey {
        loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).expect("system randomness");
            // Fails only for zero or a value >= the group order: draw again.
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                return DpopKey::from_secret(secret);
            }
        }
    }

    fn from_secret(secret: p256::SecretKey) -> DpopKey {
        let point = secret.public_key().to_sec1_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            unreachable!("an uncompressed point has coordinates");
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        // RFC 7638 3.2: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        DpopKey {
            key: p256::ecdsa::SigningKey::from(secret),
            jwk: json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
            thumbprint,
        }
    }

    /// The public key as a JWK (`kty`, `crv`, `x`, `y`).
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url: the `cnf.jkt` of tokens bound to this key.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A proof for `method` on `url` (`htu`, used as given), now, with a fresh `jti`, and
    /// `ath` for `access_token` when given (required at resource servers).
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        self.sign(&self.header(), &self.claims(method, url, access_token))
    }

    /// The usual protected header: `typ: dpop+jwt`, `alg: ES256` and the public `jwk`.
    pub fn header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk })
    }

    /// The usual claims: `htm`, `htu`, `iat` (now), a fresh `jti`, and `ath` when a token is
    /// given.
    pub fn claims(&self, method: &str, url: &str, access_token: Option<&str>) -> Value {
        let mut claims = json!({
            "htm": method,
            "htu": url,
            "iat": now(),
            "jti": random_b64url(),
        });
        if let Some(token) = access_token {
            claims["ath"] = ath(token).into();
        }
        claims
    }

    /// Signs any header and claims with this key (ES256), for hostile proofs.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: p256::ecdsa::Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// `ath`: base64url(SHA-256(access token)) (RFC 9449 4.2).
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

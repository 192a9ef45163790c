//! Public JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037) ready for ring, the key sets
//! providers publish, and RFC 7638 thumbprints.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::alg::{Alg, KeyKind};
use super::{JoseError, MAX_KEYS_TRIED};

/// Members that only a private or symmetric key has (RFC 7518 6.2.2, 6.3.2, 6.4; RFC 8037 2).
pub(crate) const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The most keys kept from one key set: a provider publishes a handful.
const MAX_KEYS: usize = 64;

/// One public key, decoded once so a verification only runs the arithmetic.
#[derive(Clone)]
pub(crate) struct Jwk {
    kid: Option<String>,
    /// The key's own `alg`, when it names one: then only that algorithm may use it.
    alg: Option<Alg>,
    material: Material,
    thumbprint: [u8; 32],
}

#[derive(Clone)]
enum Material {
    /// Modulus (no leading zero bytes) and exponent, big-endian.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed point (`04 || x || y`) on P-256 or P-384.
    Ec {
        kind: KeyKind,
        point: Vec<u8>,
    },
    Ed25519 {
        x: Vec<u8>,
    },
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("kind", &self.kind())
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn member<'a>(key: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, JoseError> {
    key.get(name)
        .and_then(Value::as_str)
        .ok_or(JoseError::UnsupportedKey(name))
}

fn decoded(key: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(member(key, name)?)
        .map_err(|_| JoseError::UnsupportedKey("a member is not base64url"))
}

impl Jwk {
    /// A public key from its JWK. Refuses private and symmetric keys, keys whose `use` is not
    /// `sig` or whose `key_ops` lack `verify`, and key types and curves ring cannot verify with.
    pub(crate) fn from_json(value: &Value) -> Result<Jwk, JoseError> {
        let key = value
            .as_object()
            .ok_or(JoseError::UnsupportedKey("not a JSON object"))?;
        if PRIVATE_MEMBERS.iter().any(|m| key.contains_key(*m)) {
            return Err(JoseError::UnsupportedKey("a private or symmetric key"));
        }
        if key.get("use").is_some_and(|u| u != "sig") {
            return Err(JoseError::UnsupportedKey("not a signature key (`use`)"));
        }
        if let Some(ops) = key.get("key_ops")
            && !ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op == "verify"))
        {
            return Err(JoseError::UnsupportedKey(
                "not a verification key (`key_ops`)",
            ));
        }
        let kid = match key.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(JoseError::UnsupportedKey("`kid` is not a string")),
        };
        let alg = match key.get("alg") {
            None => None,
            Some(Value::String(name)) => Some(
                Alg::parse(name).ok_or(JoseError::UnsupportedKey("an algorithm not verified"))?,
            ),
            Some(_) => return Err(JoseError::UnsupportedKey("`alg` is not a string")),
        };
        // RFC 7638 3.2: the required members only, in lexicographic order, no whitespace;
        // serde_json's map keeps its keys sorted.
        let canonical = |members: &[&'static str]| -> Result<[u8; 32], JoseError> {
            let mut required = Map::new();
            for name in members {
                required.insert((*name).to_owned(), Value::from(member(key, name)?));
            }
            let text = serde_json::to_vec(&required)
                .map_err(|_| JoseError::UnsupportedKey("not serializable"))?;
            Ok(Sha256::digest(text).into())
        };
        let (material, thumbprint) = match member(key, "kty")? {
            "RSA" => {
                let mut n = decoded(key, "n")?;
                let e = decoded(key, "e")?;
                let zeros = n.iter().take_while(|b| **b == 0).count();
                n.drain(..zeros);
                if n.is_empty() || e.is_empty() {
                    return Err(JoseError::UnsupportedKey("an empty RSA member"));
                }
                (Material::Rsa { n, e }, canonical(&["e", "kty", "n"])?)
            }
            "EC" => {
                let (kind, len) = match member(key, "crv")? {
                    "P-256" => (KeyKind::P256, 32),
                    "P-384" => (KeyKind::P384, 48),
                    _ => return Err(JoseError::UnsupportedKey("an EC curve not verified")),
                };
                let (x, y) = (decoded(key, "x")?, decoded(key, "y")?);
                // RFC 7518 6.2.1.2-3: the full coordinate length, leading zeros included.
                if x.len() != len || y.len() != len {
                    return Err(JoseError::UnsupportedKey(
                        "EC coordinates of the wrong length",
                    ));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let thumbprint = canonical(&["crv", "kty", "x", "y"])?;
                (Material::Ec { kind, point }, thumbprint)
            }
            "OKP" => {
                if member(key, "crv")? != "Ed25519" {
                    return Err(JoseError::UnsupportedKey("an OKP curve not verified"));
                }
                let x = decoded(key, "x")?;
                if x.len() != 32 {
                    return Err(JoseError::UnsupportedKey(
                        "an Ed25519 key of the wrong length",
                    ));
                }
                (Material::Ed25519 { x }, canonical(&["crv", "kty", "x"])?)
            }
            _ => return Err(JoseError::UnsupportedKey("a key type not verified")),
        };
        let jwk = Jwk {
            kid,
            alg,
            material,
            thumbprint,
        };
        if jwk.alg.is_some_and(|alg| alg.key_kind() != jwk.kind()) {
            return Err(JoseError::UnsupportedKey("`alg` does not fit the key type"));
        }
        Ok(jwk)
    }

    /// The RFC 7638 thumbprint (SHA-256 of the canonical JSON of the required members).
    pub(crate) fn thumbprint(&self) -> [u8; 32] {
        self.thumbprint
    }

    /// The key id, when the key has one.
    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn kind(&self) -> KeyKind {
        match &self.material {
            Material::Rsa { .. } => KeyKind::Rsa,
            Material::Ec { kind, .. } => *kind,
            Material::Ed25519 { .. } => KeyKind::Ed25519,
        }
    }

    /// Whether this key may verify a signature made with `alg`: the key type fits, and the
    /// key's own `alg` (when it has one) is `alg`.
    pub(crate) fn fits(&self, alg: Alg) -> bool {
        alg.key_kind() == self.kind() && self.alg.is_none_or(|own| own == alg)
    }

    /// Verifies `signature` over `message` with `alg`.
    pub(crate) fn verify(
        &self,
        alg: Alg,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), JoseError> {
        if !self.fits(alg) {
            return Err(JoseError::NoKey);
        }
        let verified = match &self.material {
            Material::Rsa { n, e } => {
                let Some(params) = rsa_params(alg) else {
                    return Err(JoseError::NoKey);
                };
                RsaPublicKeyComponents { n, e }.verify(params, message, signature)
            }
            Material::Ec { point, .. } => {
                UnparsedPublicKey::new(alg.ring(), point).verify(message, signature)
            }
            Material::Ed25519 { x } => {
                UnparsedPublicKey::new(alg.ring(), x).verify(message, signature)
            }
        };
        verified.map_err(|_| JoseError::BadSignature)
    }
}

fn rsa_params(alg: Alg) -> Option<&'static ring::signature::RsaParameters> {
    use ring::signature as s;
    Some(match alg {
        Alg::Rs256 => &s::RSA_PKCS1_2048_8192_SHA256,
        Alg::Rs384 => &s::RSA_PKCS1_2048_8192_SHA384,
        Alg::Rs512 => &s::RSA_PKCS1_2048_8192_SHA512,
        Alg::Ps256 => &s::RSA_PSS_2048_8192_SHA256,
        Alg::Ps384 => &s::RSA_PSS_2048_8192_SHA384,
        Alg::Ps512 => &s::RSA_PSS_2048_8192_SHA512,
        Alg::Es256 | Alg::Es384 | Alg::EdDsa => return None,
    })
}

/// A provider's key set (its `jwks_uri` document), parsed once per fetch. Keys the layer
/// cannot use (encryption keys, unknown types, private keys published by mistake) are left
/// out with a log line; they can never verify anything.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeySet {
    keys: Vec<Jwk>,
}

impl KeySet {
    /// The usable keys of `jwks` (`{"keys": [...]}`); an empty set when it has no such list.
    pub(crate) fn from_json(jwks: &Value) -> KeySet {
        let listed = jwks.get("keys").and_then(Value::as_array);
        let mut keys = Vec::new();
        for value in listed.into_iter().flatten().take(MAX_KEYS) {
            match Jwk::from_json(value) {
                Ok(key) => keys.push(key),
                Err(e) => {
                    let kid = value.get("kid").and_then(|kid| kid.as_str());
                    tracing::debug!(kid = kid.unwrap_or_default(), error = %e, "key set member left out");
                }
            }
        }
        KeySet { keys }
    }

    /// How many usable keys the set has.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The keys that may have signed a token with `alg` and `kid` (any key when the token
    /// names none), at most [`MAX_KEYS_TRIED`].
    pub(crate) fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Alg,
    ) -> impl Iterator<Item = &'a Jwk> + 'a {
        self.keys
            .iter()
            .filter(move |k| kid.is_none_or(|kid| k.kid() == Some(kid)))
            .filter(move |k| k.fits(alg))
            .take(MAX_KEYS_TRIED)
    }
}

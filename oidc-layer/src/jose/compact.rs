//! JWS compact serialization (RFC 7515 section 7.1): parsing and verification.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::{Alg, JoseError, Jwk, KeySet};

/// The JOSE header members the layer reads.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) alg: String,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    /// The public key a DPoP proof carries (RFC 9449 4.2).
    pub(crate) jwk: Option<Value>,
    /// The header has `crit` (RFC 7515 4.1.11): refused, no extension is understood.
    pub(crate) has_crit: bool,
}

/// A parsed, not yet verified JWS.
#[derive(Debug)]
pub(crate) struct Compact<'a> {
    pub(crate) header: Header,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: what was signed.
    pub(crate) signing_input: &'a str,
    pub(crate) payload_b64: &'a str,
    pub(crate) signature: Vec<u8>,
}

fn optional_text(header: &Map<String, Value>, name: &str) -> Result<Option<String>, JoseError> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(JoseError::Malformed("a header member is not a string")),
    }
}

/// Splits and decodes `token`: exactly three base64url parts (no padding), a header that is a
/// JSON object with a string `alg`. Nothing is trusted yet.
pub(crate) fn parse_compact(token: &str, max_len: usize) -> Result<Compact<'_>, JoseError> {
    if token.len() > max_len {
        return Err(JoseError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(if token.split('.').count() == 5 {
            JoseError::Malformed("encrypted tokens (JWE) are not accepted")
        } else {
            JoseError::Malformed("not three dot-separated parts")
        });
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| JoseError::Malformed("the header is not base64url"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| JoseError::Malformed("the signature is not base64url"))?;
    // An empty signature is left to the verification, which refuses an `alg` of `none` by
    // name first (a clearer reason in the logs than "an empty part").
    if payload_b64.is_empty() {
        return Err(JoseError::Malformed("an empty payload"));
    }
    let header: Map<String, Value> = serde_json::from_slice(&header_bytes)
        .map_err(|_| JoseError::Malformed("the header is not a JSON object"))?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        _ => return Err(JoseError::Malformed("the header has no `alg`")),
    };
    let jwk = match header.get("jwk") {
        None => None,
        Some(jwk @ Value::Object(_)) => Some(jwk.clone()),
        Some(_) => return Err(JoseError::Malformed("`jwk` is not an object")),
    };
    let header = Header {
        alg,
        kid: optional_text(&header, "kid")?,
        typ: optional_text(&header, "typ")?,
        jwk,
        has_crit: header.contains_key("crit"),
    };
    Ok(Compact {
        header,
        signing_input: &token[..header_b64.len() + 1 + payload_b64.len()],
        payload_b64,
        signature,
    })
}

/// Whether a `typ` header is `expected` (RFC 7515 4.1.9: compared case-insensitively, with or
/// without the `application/` prefix). `None` (no `typ`) is never `expected`.
pub(crate) fn typ_is(typ: Option<&str>, expected: &str) -> bool {
    let Some(typ) = typ else { return false };
    let bare = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    bare.eq_ignore_ascii_case(expected)
}

impl Compact<'_> {
    /// The header's algorithm, when it is one the layer verifies at all.
    pub(crate) fn alg(&self) -> Result<Alg, JoseError> {
        Alg::parse(&self.header.alg)
            .ok_or_else(|| JoseError::AlgNotAllowed(truncated(&self.header.alg)))
    }

    /// The algorithm, checked against `allowed` and the header's `crit`.
    fn checked_alg(&self, allowed: &[Alg]) -> Result<Alg, JoseError> {
        if self.header.has_crit {
            return Err(JoseError::Crit);
        }
        let alg = self.alg()?;
        if !allowed.contains(&alg) {
            return Err(JoseError::AlgNotAllowed(alg.name().to_owned()));
        }
        Ok(alg)
    }

    /// Verifies the signature with the keys of `keys` that fit the header's `kid` and `alg`
    /// (at most [`MAX_KEYS_TRIED`](super::MAX_KEYS_TRIED)) and returns the payload's bytes.
    /// [`JoseError::NoKey`] when no key fits (the caller may refetch the set once).
    pub(crate) fn verify_with(&self, keys: &KeySet, allowed: &[Alg]) -> Result<Vec<u8>, JoseError> {
        let alg = self.checked_alg(allowed)?;
        let mut tried = false;
        for key in keys.candidates(self.header.kid.as_deref(), alg) {
            tried = true;
            if key
                .verify(alg, self.signing_input.as_bytes(), &self.signature)
                .is_ok()
            {
                return self.payload();
            }
        }
        Err(if tried {
            JoseError::BadSignature
        } else {
            JoseError::NoKey
        })
    }

    /// Verifies the signature with `key` alone (a DPoP proof's own key) and returns the
    /// payload's bytes.
    pub(crate) fn verify_with_key(&self, key: &Jwk, allowed: &[Alg]) -> Result<Vec<u8>, JoseError> {
        let alg = self.checked_alg(allowed)?;
        key.verify(alg, self.signing_input.as_bytes(), &self.signature)?;
        self.payload()
    }

    fn payload(&self) -> Result<Vec<u8>, JoseError> {
        URL_SAFE_NO_PAD
            .decode(self.payload_b64)
            .map_err(|_| JoseError::Malformed("the payload is not base64url"))
    }
}

/// At most 16 characters of an attacker-chosen name, for messages.
fn truncated(name: &str) -> String {
    name.chars().take(16).collect()
}

//! DPoP proofs (RFC 9449): the checks of section 4.3 on the `DPoP` header of a request that
//! presents a DPoP-bound access token (section 7.1), and the replay cache of section 11.1.
//!
//! [`verify_proof`] checks one proof against the request and the access token: `typ`
//! `dpop+jwt`, an asymmetric `alg` ([`crate::jose::Alg`] has no `none` nor HMAC), no `crit`,
//! a public `jwk` in the header that verifies the signature, `htm` the request's method, `htu`
//! the request's URL (compared after RFC 3986 syntax- and scheme-based normalization, without
//! query or fragment), `iat` within [`MAX_PROOF_AGE`] (and not ahead by more than the leeway),
//! a `jti`, and `ath` the hash of the access token. It returns the key's RFC 7638 thumbprint,
//! which the caller compares with the token's `cnf.jkt` ([`jkt_of`], [`VerifiedProof::matches`]),
//! and the `jti`, which [`ProofReplay::first_use`](crate::state::replay::ProofReplay::first_use) remembers so a proof is accepted once.
//!
//! The layer never sends `DPoP-Nonce` (section 9), so proofs carry no `nonce` to check.
//!
//! The request flow, for `Authorization: DPoP <token>` with exactly one `DPoP` header:
//! verify the token (or take it from the cache), `jkt_of(cnf)` must be `Some(jkt)`;
//! `verify_proof(proof, &ProofCheck { htu: &request_htu(external, path), .. })`, then
//! `proof.matches(&jkt)` (else [`DpopError::KeyMismatch`]) and `first_use(&replay, &proof)`
//! (else [`DpopError::Replayed`]), in that order, so a proof for another key is not
//! remembered. Under the Bearer scheme, `jkt_of(cnf)` must be `None`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use subtle::ConstantTimeEq as _;

use crate::jose::{self, JoseError, Jwk};

/// How long after its `iat` a proof is accepted (plus the clock leeway).
pub(crate) const MAX_PROOF_AGE: Duration = Duration::from_secs(60);

/// Longer proofs are refused before any parsing (a proof with an RSA key is about 1 KB).
pub(crate) const MAX_PROOF_BYTES: usize = 8 * 1024;

/// Longer `jti`s are refused (RFC 9449 11.1: "reject DPoP proof JWTs with unnecessarily large
/// jti values"); a random `jti` is 16 to 36 characters.
pub(crate) const MAX_JTI_BYTES: usize = 256;

/// The algorithms a proof may use, as the `algs` parameter of a `DPoP` challenge
/// (RFC 9449 7.1): every asymmetric algorithm the layer verifies.
pub(crate) fn challenge_algs() -> &'static str {
    "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA"
}

/// The URL a client addresses a request to, as `htu` names it: the external origin, the base
/// path, and the request's path after it (`path` without query; what the app receives behind
/// a proxy that strips the prefix).
pub(crate) fn request_htu(external: &crate::config::ExternalUrl, path: &str) -> String {
    format!("{}{}{path}", external.origin, external.base_path)
}

/// The request a proof must be for.
#[derive(Debug)]
pub(crate) struct ProofCheck<'a> {
    /// The request's method.
    pub(crate) method: &'a http::Method,
    /// The request's URL as the client sees it: the configured external URL and the request
    /// path, without query or fragment.
    pub(crate) htu: &'a str,
    /// The access token of the `Authorization: DPoP` header (its hash must be the proof's `ath`).
    pub(crate) access_token: &'a str,
    /// The time to check `iat` against.
    pub(crate) now: SystemTime,
    /// Clock leeway, on both sides of the accepted window.
    pub(crate) leeway: Duration,
}

/// A proof that passed every check of [`verify_proof`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VerifiedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key (to compare with `cnf.jkt`).
    pub(crate) jkt: [u8; 32],
    /// The proof's `jti`.
    pub(crate) jti: String,
    /// The proof's `iat` (seconds since the epoch).
    pub(crate) iat: u64,
    /// How long from the check's `now` this proof would still be accepted: how long
    /// [`ProofReplay`](crate::state::replay::ProofReplay) must remember it.
    pub(crate) remember_for: Duration,
}

impl VerifiedProof {
    /// Whether the proof's key is the one the token is bound to (`cnf.jkt`, see [`jkt_of`]).
    pub(crate) fn matches(&self, jkt: &[u8; 32]) -> bool {
        bool::from(self.jkt.ct_eq(jkt))
    }
}

/// Why a proof (or a token's binding) was refused. `Display` is a short description for
/// `error_description`: it never contains the proof, the token, or any text taken from them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DpopError {
    /// Longer than [`MAX_PROOF_BYTES`].
    #[error("the DPoP proof is too large")]
    TooLarge,
    /// Not a JWS in compact serialization, or claims that are not a JSON object of the
    /// expected types.
    #[error("the DPoP proof is malformed: {0}")]
    Malformed(&'static str),
    /// `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ is not dpop+jwt")]
    Typ,
    /// The header has `crit`.
    #[error("the DPoP proof has critical header extensions")]
    Crit,
    /// `alg` is not an asymmetric algorithm the layer verifies.
    #[error("the DPoP proof's algorithm is not accepted")]
    Alg,
    /// No `jwk` header.
    #[error("the DPoP proof has no jwk header")]
    NoJwk,
    /// The `jwk` is private, symmetric, or a key the layer cannot use with `alg`.
    #[error("the DPoP proof's jwk is unusable: {0}")]
    Key(&'static str),
    /// The signature does not verify with the proof's own `jwk`.
    #[error("the DPoP proof's signature is invalid")]
    BadSignature,
    /// A required claim is missing.
    #[error("the DPoP proof has no {0} claim")]
    MissingClaim(&'static str),
    /// `jti` is empty or longer than [`MAX_JTI_BYTES`].
    #[error("the DPoP proof's jti is empty or too long")]
    Jti,
    /// `htm` is not the request's method.
    #[error("the DPoP proof is for another HTTP method")]
    Htm,
    /// `htu` is not the request's URL.
    #[error("the DPoP proof is for another URL")]
    Htu,
    /// `htu` has a query or a fragment (RFC 9449 4.2: "without query and fragment parts").
    #[error("the DPoP proof's htu has a query or fragment")]
    HtuQuery,
    /// `iat` is more than [`MAX_PROOF_AGE`] plus the leeway ago.
    #[error("the DPoP proof is too old")]
    TooOld,
    /// `iat` is ahead of the clock by more than the leeway.
    #[error("the DPoP proof is issued in the future")]
    Future,
    /// `ath` is not the hash of the presented access token.
    #[error("the DPoP proof is for another access token")]
    Ath,
    /// The proof was already used ([`ProofReplay::first_use`](crate::state::replay::ProofReplay::first_use) said so).
    #[error("the DPoP proof was already used")]
    Replayed,
    /// The token's `cnf` is not an object with a base64url 32-byte `jkt`, or names another
    /// confirmation method (which the layer cannot check).
    #[error("the token's cnf is unusable: {0}")]
    Confirmation(&'static str),
    /// The proof's key is not the key the token is bound to.
    #[error("the DPoP proof's key is not the token's key")]
    KeyMismatch,
}

impl DpopError {
    /// The RFC 6750 / RFC 9449 `error` code: `invalid_token` when the token's binding is at
    /// fault, `invalid_dpop_proof` when the proof is.
    pub(crate) fn error_code(&self) -> &'static str {
        match self {
            DpopError::Confirmation(_) | DpopError::KeyMismatch => "invalid_token",
            _ => "invalid_dpop_proof",
        }
    }
}

impl From<JoseError> for DpopError {
    fn from(error: JoseError) -> Self {
        match error {
            JoseError::TooLarge => DpopError::TooLarge,
            JoseError::Malformed(why) => DpopError::Malformed(why),
            JoseError::AlgNotAllowed(_) => DpopError::Alg,
            JoseError::Crit => DpopError::Crit,
            JoseError::UnsupportedKey(why) => DpopError::Key(why),
            // The proof's own key either fits `alg` or not: either way the signature is not
            // one the key made.
            JoseError::NoKey | JoseError::BadSignature => DpopError::BadSignature,
        }
    }
}

/// The claims of a proof. Unknown claims are ignored; a claim given twice is refused (serde).
#[derive(Deserialize)]
struct Claims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<serde_json::Number>,
    ath: Option<String>,
}

/// Checks `proof` (the `DPoP` header's value) for the request and token of `check`.
///
/// Everything is checked before the signature (cheap first); nothing is accepted unless the
/// signature verifies. The replay check is the caller's: [`ProofReplay::first_use`](crate::state::replay::ProofReplay::first_use).
pub(crate) fn verify_proof(
    proof: &str,
    check: &ProofCheck<'_>,
) -> Result<VerifiedProof, DpopError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(DpopError::TooLarge);
    }
    let compact = jose::parse_compact(proof, MAX_PROOF_BYTES)?;
    if !jose::typ_is(compact.header.typ.as_deref(), "dpop+jwt") {
        return Err(DpopError::Typ);
    }
    if compact.header.has_crit {
        return Err(DpopError::Crit);
    }
    let alg = compact.alg().map_err(|_| DpopError::Alg)?;
    let jwk = Jwk::from_json(compact.header.jwk.as_ref().ok_or(DpopError::NoJwk)?)?;
    if !jwk.fits(alg) {
        return Err(DpopError::Key("the key does not fit the algorithm"));
    }

    // The claims, read before the signature is checked: used only to refuse early.
    let payload = URL_SAFE_NO_PAD
        .decode(compact.payload_b64)
        .map_err(|_| DpopError::Malformed("the payload is not base64url"))?;
    let claims: Claims = serde_json::from_slice(&payload)
        .map_err(|_| DpopError::Malformed("the claims are not a JSON object of the right types"))?;
    let jti = claims.jti.ok_or(DpopError::MissingClaim("jti"))?;
    let htm = claims.htm.ok_or(DpopError::MissingClaim("htm"))?;
    let htu = claims.htu.ok_or(DpopError::MissingClaim("htu"))?;
    let iat = claims.iat.ok_or(DpopError::MissingClaim("iat"))?;
    let ath = claims.ath.ok_or(DpopError::MissingClaim("ath"))?;
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(DpopError::Jti);
    }
    // Methods are case-sensitive (RFC 9110 9.1).
    if htm != check.method.as_str() {
        return Err(DpopError::Htm);
    }
    check_htu(&htu, check.htu)?;
    let iat = numeric_date(&iat)?;
    let remember_for = check_iat(iat, check.now, check.leeway)?;
    check_ath(&ath, check.access_token)?;

    compact.verify_with_key(&jwk, &[alg])?;
    Ok(VerifiedProof {
        jkt: jwk.thumbprint(),
        jti,
        iat,
        remember_for,
    })
}

/// A NumericDate (RFC 7519 2): non-negative seconds, fractions dropped.
fn numeric_date(value: &serde_json::Number) -> Result<u64, DpopError> {
    if let Some(secs) = value.as_u64() {
        return Ok(secs);
    }
    match value.as_f64() {
        // The cast saturates; any value that large is refused as "in the future" anyway.
        Some(secs) if secs.is_finite() && secs >= 0.0 => Ok(secs as u64),
        _ => Err(DpopError::Malformed("iat is not a non-negative number")),
    }
}

/// `iat` is within `[now - MAX_PROOF_AGE - leeway, now + leeway]`; returns how long from `now`
/// the proof stays acceptable.
fn check_iat(iat: u64, now: SystemTime, leeway: Duration) -> Result<Duration, DpopError> {
    let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if iat > now_secs.saturating_add(leeway.as_secs()) {
        return Err(DpopError::Future);
    }
    // Accepted while `now_secs <= last`, i.e. until `last + 1` s after the epoch.
    let last = iat
        .saturating_add(MAX_PROOF_AGE.as_secs())
        .saturating_add(leeway.as_secs());
    if now_secs > last {
        return Err(DpopError::TooOld);
    }
    let until = UNIX_EPOCH + Duration::from_secs(last.saturating_add(1));
    Ok(until.duration_since(now).unwrap_or_default())
}

/// `ath` is base64url(SHA-256(access token)) (RFC 9449 4.2), compared in constant time.
fn check_ath(ath: &str, access_token: &str) -> Result<(), DpopError> {
    let expected: [u8; 32] = Sha256::digest(access_token.as_bytes()).into();
    let given = URL_SAFE_NO_PAD.decode(ath).map_err(|_| DpopError::Ath)?;
    if given.len() != expected.len() || !bool::from(given.as_slice().ct_eq(&expected)) {
        return Err(DpopError::Ath);
    }
    Ok(())
}

/// The proof's `htu` is the request's URL: both parsed (which lowercases scheme and host,
/// drops a default port and resolves dot segments), paths compared after percent-encoding
/// normalization (RFC 3986 6.2.2.1-2). A query or fragment in the proof's `htu` is refused;
/// one in `expected` is ignored.
fn check_htu(htu: &str, expected: &str) -> Result<(), DpopError> {
    let proof = url::Url::parse(htu).map_err(|_| DpopError::Htu)?;
    if proof.query().is_some() || proof.fragment().is_some() {
        return Err(DpopError::HtuQuery);
    }
    let request = url::Url::parse(expected).map_err(|_| DpopError::Htu)?;
    let same = matches!(proof.scheme(), "https" | "http")
        && proof.scheme() == request.scheme()
        && proof.username() == request.username()
        && proof.password() == request.password()
        && proof.host() == request.host()
        && proof.port_or_known_default() == request.port_or_known_default()
        && normalized_path(proof.path()) == normalized_path(request.path());
    if same { Ok(()) } else { Err(DpopError::Htu) }
}

/// `path` with percent-encoded unreserved characters decoded and the hex digits of the other
/// escapes in upper case (RFC 3986 6.2.2.1 and 6.2.2.2).
fn normalized_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                out.push(char::from(byte));
                i += 3;
            }
            Some(byte) => {
                out.push_str(&format!("%{byte:02X}"));
                i += 3;
            }
            None => {
                // `path` is a str and the escapes are ASCII: this is a char boundary.
                let c = path[i..].chars().next().unwrap_or('%');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// The key a token is bound to: `cnf.jkt` (RFC 9449 6.1, and 6.2 for introspection answers),
/// or `None` for an unbound token (no `cnf`). A `cnf` that is not an object, a `jkt` that is
/// not the base64url of 32 bytes, or a `cnf` with only other confirmation methods (mTLS's
/// `x5t#S256`, which the layer cannot check) is an error: such a token must not pass as an
/// unbound one.
pub(crate) fn jkt_of(cnf: Option<&Value>) -> Result<Option<[u8; 32]>, DpopError> {
    let Some(cnf) = cnf else { return Ok(None) };
    let cnf = cnf
        .as_object()
        .ok_or(DpopError::Confirmation("not a JSON object"))?;
    let Some(jkt) = cnf.get("jkt") else {
        return Err(DpopError::Confirmation(
            "a confirmation method other than jkt",
        ));
    };
    let jkt = jkt
        .as_str()
        .ok_or(DpopError::Confirmation("jkt is not a string"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(jkt)
        .map_err(|_| DpopError::Confirmation("jkt is not base64url"))?;
    let jkt = <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| DpopError::Confirmation("jkt is not a SHA-256 thumbprint"))?;
    Ok(Some(jkt))
}

impl VerifiedProof {
    /// What [`ProofReplay`](crate::state::replay::ProofReplay) remembers the proof by: a hash of its key's thumbprint and `jti`
    /// (fixed-size keys: a hostile `jti` costs no memory beyond [`MAX_JTI_BYTES`] while it is
    /// checked).
    pub(crate) fn replay_key(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.jkt);
        hasher.update(self.jti.as_bytes());
        hasher.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use crate::state::replay::ProofReplay;
    use base64::engine::general_purpose::STANDARD;
    use http::Method;
    use ring::rand::SystemRandom;
    use ring::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
        RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair, RsaPublicKeyComponents,
    };
    use serde_json::json;

    use super::*;

    /// RFC 9449 figure 13's access token.
    const TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    const HTU: &str = "https://api.example.com/things/1";
    const NOW: u64 = 1_800_000_000;
    const LEEWAY: Duration = Duration::from_secs(30);

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn ath(token: &str) -> String {
        b64(&Sha256::digest(token.as_bytes()))
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// The request of most tests: `GET {HTU}` with [`TOKEN`] at [`NOW`].
    fn verify(proof: &str) -> Result<VerifiedProof, DpopError> {
        verify_for(proof, &Method::GET, HTU, at(NOW))
    }

    fn verify_for(
        proof: &str,
        method: &Method,
        htu: &str,
        now: SystemTime,
    ) -> Result<VerifiedProof, DpopError> {
        let check = ProofCheck {
            method,
            htu,
            access_token: TOKEN,
            now,
            leeway: LEEWAY,
        };
        verify_proof(proof, &check)
    }

    fn claims() -> Value {
        json!({"jti": "c1a8b0d2-77e4-4b1e-9d1c-0e6a5c1f2b3a", "htm": "GET", "htu": HTU,
               "iat": NOW, "ath": ath(TOKEN)})
    }

    enum Key {
        Ec(EcdsaKeyPair),
        Rsa(RsaKeyPair, &'static dyn RsaEncoding),
        Ed(Ed25519KeyPair),
    }

    /// A client's DPoP key.
    struct Signer {
        alg: &'static str,
        jwk: Value,
        key: Key,
    }

    impl Signer {
        fn es256() -> Self {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .expect("an EC key");
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .expect("an EC key");
            let point = pair.public_key().as_ref();
            let jwk = json!({"kty": "EC", "crv": "P-256",
                             "x": b64(&point[1..33]), "y": b64(&point[33..65])});
            Self {
                alg: "ES256",
                jwk,
                key: Key::Ec(pair),
            }
        }

        /// The checked-in test RSA key of oidc-testkit (PKCS#1).
        fn rsa(alg: &'static str) -> Self {
            let pem = include_str!("../../../oidc-testkit/src/keys/test-only-signing-key.pem");
            let der = STANDARD
                .decode(
                    pem.lines()
                        .filter(|l| !l.starts_with("-----"))
                        .collect::<String>(),
                )
                .expect("PEM base64");
            let pair = RsaKeyPair::from_der(&der).expect("an RSA key");
            let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
            let jwk = json!({"kty": "RSA", "n": b64(&public.n), "e": b64(&public.e)});
            let encoding: &'static dyn RsaEncoding = match alg {
                "RS256" => &RSA_PKCS1_SHA256,
                _ => &RSA_PSS_SHA256,
            };
            Self {
                alg,
                jwk,
                key: Key::Rsa(pair, encoding),
            }
        }

        fn ed25519() -> Self {
            let rng = SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("an Ed25519 key");
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("an Ed25519 key");
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
            Self {
                alg: "EdDSA",
                jwk,
                key: Key::Ed(pair),
            }
        }

        fn header(&self) -> Value {
            json!({"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk})
        }

        fn sign(&self, input: &[u8]) -> Vec<u8> {
            let rng = SystemRandom::new();
            match &self.key {
                Key::Ec(pair) => pair.sign(&rng, input).expect("signed").as_ref().to_vec(),
                Key::Rsa(pair, encoding) => {
                    let mut signature = vec![0; pair.public().modulus_len()];
                    pair.sign(*encoding, &rng, input, &mut signature)
                        .expect("signed");
                    signature
                }
                Key::Ed(pair) => pair.sign(input).as_ref().to_vec(),
            }
        }

        /// A proof with raw header and payload bytes, signed with this key.
        fn sign_raw(&self, header: &[u8], payload: &[u8]) -> String {
            let input = format!("{}.{}", b64(header), b64(payload));
            let signature = self.sign(input.as_bytes());
            format!("{input}.{}", b64(&signature))
        }

        fn proof_with(&self, header: &Value, claims: &Value) -> String {
            self.sign_raw(header.to_string().as_bytes(), claims.to_string().as_bytes())
        }

        fn proof(&self, claims: &Value) -> String {
            self.proof_with(&self.header(), claims)
        }

        /// RFC 7638, computed here independently of `crate::jose`.
        fn thumbprint(&self) -> [u8; 32] {
            let j = &self.jwk;
            let canonical = match self.alg {
                "ES256" => format!(
                    r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
                    j["x"], j["y"]
                ),
                "EdDSA" => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":{}}}"#, j["x"]),
                _ => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, j["e"], j["n"]),
            };
            Sha256::digest(canonical.as_bytes()).into()
        }
    }

    fn with(mut claims: Value, name: &str, value: Value) -> Value {
        claims[name] = value;
        claims
    }

    fn without(mut claims: Value, name: &str) -> Value {
        claims.as_object_mut().expect("an object").remove(name);
        claims
    }

    #[test]
    fn a_good_proof_gives_its_key_thumbprint_jti_and_iat() {
        for signer in [
            Signer::es256(),
            Signer::rsa("RS256"),
            Signer::rsa("PS256"),
            Signer::ed25519(),
        ] {
            let verified = verify(&signer.proof(&claims())).expect(signer.alg);
            assert_eq!(verified.jkt, signer.thumbprint(), "{}", signer.alg);
            assert!(verified.matches(&signer.thumbprint()));
            assert_eq!(verified.jti, "c1a8b0d2-77e4-4b1e-9d1c-0e6a5c1f2b3a");
            assert_eq!(verified.iat, NOW);
        }
    }

    /// The proof and key of RFC 9449 figures 13 and 9, signed by the RFC's authors.
    #[test]
    fn the_rfc_9449_example_proof_verifies_and_binds_to_the_rfc_example_jkt() {
        let proof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik\
            VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR\
            nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE\
            QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj\
            oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z\
            WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF\
            c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E\
            OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
        let verified = verify_for(
            proof,
            &Method::GET,
            "https://resource.example.org/protectedresource",
            at(1_562_262_618),
        )
        .expect("the RFC's proof");
        let cnf = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"});
        let jkt = jkt_of(Some(&cnf)).expect("a jkt").expect("bound");
        assert!(verified.matches(&jkt));
        assert_eq!(verified.jti, "e1j3V_bKic8-LAEB");
    }

    #[test]
    fn the_request_url_includes_the_base_path_behind_the_proxy() {
        let external = crate::config::ExternalUrl {
            origin: "https://app.example.com".into(),
            base_path: "/app".into(),
            secure: true,
            host: "app.example.com".into(),
            keeps_prefix: false,
        };
        assert_eq!(
            request_htu(&external, "/api/things"),
            "https://app.example.com/app/api/things"
        );
        let root = crate::config::ExternalUrl {
            base_path: String::new(),
            ..external
        };
        assert_eq!(request_htu(&root, "/"), "https://app.example.com/");
    }

    #[test]
    fn the_method_must_be_the_requests() {
        let signer = Signer::es256();
        let proof = signer.proof(&claims());
        assert_eq!(
            verify_for(&proof, &Method::POST, HTU, at(NOW)),
            Err(DpopError::Htm)
        );
        let lower = signer.proof(&with(claims(), "htm", json!("get")));
        assert_eq!(
            verify(&lower),
            Err(DpopError::Htm),
            "methods are case-sensitive"
        );
    }

    #[test]
    fn the_url_must_be_the_requests() {
        let signer = Signer::es256();
        for other in [
            "https://api.example.com/things/2",
            "https://api.example.com/things/1/",
            "https://api.example.com/things",
            "http://api.example.com/things/1",
            "https://api.example.com:8443/things/1",
            "https://evil.example.com/things/1",
            "https://user@api.example.com/things/1",
            "https://api.example.com/things%2F1",
            "ftp://api.example.com/things/1",
            "/things/1",
            "",
        ] {
            let proof = signer.proof(&with(claims(), "htu", json!(other)));
            assert_eq!(verify(&proof), Err(DpopError::Htu), "{other}");
        }
    }

    #[test]
    fn an_htu_with_a_query_or_fragment_is_refused() {
        let signer = Signer::es256();
        for htu in [
            "https://api.example.com/things/1?a=b",
            "https://api.example.com/things/1?",
            "https://api.example.com/things/1#frag",
        ] {
            let proof = signer.proof(&with(claims(), "htu", json!(htu)));
            assert_eq!(verify(&proof), Err(DpopError::HtuQuery), "{htu}");
        }
    }

    #[test]
    fn the_url_is_compared_after_normalization() {
        let signer = Signer::es256();
        for same in [
            "HTTPS://API.Example.COM/things/1",
            "https://api.example.com:443/things/1",
            "https://api.example.com/things/./1",
            "https://api.example.com/%74hings/1",
        ] {
            let proof = signer.proof(&with(claims(), "htu", json!(same)));
            assert!(verify(&proof).is_ok(), "{same}");
        }
        // Percent-escapes in either URL: unreserved ones decoded, the rest compared in
        // upper case.
        let proof = signer.proof(&with(
            claims(),
            "htu",
            json!("https://api.example.com/a%7eb/c%2fd"),
        ));
        let request = "https://api.example.com/a~b/c%2Fd";
        assert!(verify_for(&proof, &Method::GET, request, at(NOW)).is_ok());
        // A query on the request's side is not part of the comparison.
        let plain = signer.proof(&claims());
        let with_query = format!("{HTU}?page=2");
        assert!(verify_for(&plain, &Method::GET, &with_query, at(NOW)).is_ok());
    }

    #[test]
    fn iat_must_be_recent_and_not_ahead() {
        let signer = Signer::es256();
        let age = MAX_PROOF_AGE.as_secs() + LEEWAY.as_secs();
        let oldest = signer.proof(&with(claims(), "iat", json!(NOW - age)));
        assert!(verify(&oldest).is_ok(), "the oldest accepted");
        let old = signer.proof(&with(claims(), "iat", json!(NOW - age - 1)));
        assert_eq!(verify(&old), Err(DpopError::TooOld));
        let ahead = signer.proof(&with(claims(), "iat", json!(NOW + LEEWAY.as_secs())));
        assert!(verify(&ahead).is_ok(), "ahead within the leeway");
        let future = signer.proof(&with(claims(), "iat", json!(NOW + LEEWAY.as_secs() + 1)));
        assert_eq!(verify(&future), Err(DpopError::Future));
        let far = signer.proof(&with(claims(), "iat", json!(u64::MAX)));
        assert_eq!(verify(&far), Err(DpopError::Future));
        let null = signer.proof(&with(claims(), "iat", json!(null)));
        assert_eq!(
            verify(&null),
            Err(DpopError::MissingClaim("iat")),
            "null is absent"
        );
        let fraction = signer.proof(&with(claims(), "iat", json!(NOW as f64 + 0.5)));
        assert_eq!(verify(&fraction).map(|v| v.iat), Ok(NOW));
        for bad in [json!(-5), json!("1800000000"), json!(-0.5)] {
            let proof = signer.proof(&with(claims(), "iat", bad.clone()));
            assert!(
                matches!(verify(&proof), Err(DpopError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_proof_is_remembered_exactly_while_it_is_acceptable() {
        let signer = Signer::es256();
        let now = at(NOW) + Duration::from_millis(250);
        let fresh = verify_for(&signer.proof(&claims()), &Method::GET, HTU, now).expect("fresh");
        // Accepted until the clock's second passes iat + 60 + leeway.
        let window = MAX_PROOF_AGE + LEEWAY + Duration::from_secs(1);
        assert_eq!(fresh.remember_for, window - Duration::from_millis(250));
        let ahead = with(claims(), "iat", json!(NOW + 10));
        let ahead = verify_for(&signer.proof(&ahead), &Method::GET, HTU, now).expect("ahead");
        assert_eq!(
            ahead.remember_for,
            fresh.remember_for + Duration::from_secs(10)
        );
    }

    #[test]
    fn every_required_claim_must_be_there() {
        let signer = Signer::es256();
        for name in ["jti", "htm", "htu", "iat", "ath"] {
            let proof = signer.proof(&without(claims(), name));
            assert_eq!(verify(&proof), Err(DpopError::MissingClaim(name)), "{name}");
        }
    }

    #[test]
    fn claims_of_the_wrong_type_or_twice_are_malformed() {
        let signer = Signer::es256();
        for (name, value) in [
            ("jti", json!(7)),
            ("htm", json!(["GET"])),
            ("htu", json!({})),
            ("ath", json!(true)),
        ] {
            let proof = signer.proof(&with(claims(), name, value));
            assert!(
                matches!(verify(&proof), Err(DpopError::Malformed(_))),
                "{name}"
            );
        }
        let twice = format!(
            r#"{{"jti":"a","htm":"POST","htm":"GET","htu":"{HTU}","iat":{NOW},"ath":"{}"}}"#,
            ath(TOKEN)
        );
        let proof = signer.sign_raw(signer.header().to_string().as_bytes(), twice.as_bytes());
        assert!(matches!(verify(&proof), Err(DpopError::Malformed(_))));
        let not_json = signer.sign_raw(signer.header().to_string().as_bytes(), b"not json");
        assert!(matches!(verify(&not_json), Err(DpopError::Malformed(_))));
    }

    #[test]
    fn the_jti_must_be_present_and_short() {
        let signer = Signer::es256();
        for jti in [String::new(), "j".repeat(MAX_JTI_BYTES + 1)] {
            let proof = signer.proof(&with(claims(), "jti", json!(jti)));
            assert_eq!(verify(&proof), Err(DpopError::Jti));
        }
        let longest = signer.proof(&with(claims(), "jti", json!("j".repeat(MAX_JTI_BYTES))));
        assert!(verify(&longest).is_ok());
    }

    #[test]
    fn ath_must_be_the_hash_of_the_presented_token() {
        let signer = Signer::es256();
        let digest = Sha256::digest(TOKEN.as_bytes());
        for wrong in [
            ath("another token"),
            format!("{}=", ath(TOKEN)),
            STANDARD.encode(digest),
            hex(&digest),
            ath(TOKEN)[..42].to_owned(),
            String::new(),
        ] {
            let proof = signer.proof(&with(claims(), "ath", json!(wrong)));
            assert_eq!(verify(&proof), Err(DpopError::Ath), "{wrong}");
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_private_or_symmetric_jwk_is_refused() {
        let signer = Signer::es256();
        let mut header = signer.header();
        header["jwk"]["d"] = json!(b64(&[7; 32]));
        let proof = signer.proof_with(&header, &claims());
        assert!(
            matches!(verify(&proof), Err(DpopError::Key(_))),
            "{:?}",
            verify(&proof)
        );
        let oct = json!({"typ": "dpop+jwt", "alg": "ES256",
                         "jwk": {"kty": "oct", "k": b64(b"secret")}});
        assert!(matches!(
            verify(&signer.proof_with(&oct, &claims())),
            Err(DpopError::Key(_))
        ));
    }

    #[test]
    fn alg_none_and_hmac_are_refused() {
        let signer = Signer::es256();
        let claims = claims().to_string();
        for alg in ["none", "HS256", "HS512", "ES512", "es256", ""] {
            let mut header = signer.header();
            header["alg"] = json!(alg);
            let input = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(claims.as_bytes())
            );
            // An HMAC keyed with the public key's bytes: what a confused verifier would accept.
            let key =
                ring::hmac::Key::new(ring::hmac::HMAC_SHA256, signer.jwk.to_string().as_bytes());
            let mac = ring::hmac::sign(&key, input.as_bytes());
            let proof = format!("{input}.{}", b64(mac.as_ref()));
            assert_eq!(verify(&proof), Err(DpopError::Alg), "{alg}");
        }
        // `none` with an empty signature: refused by its algorithm too.
        let mut header = signer.header();
        header["alg"] = json!("none");
        let unsigned = format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            b64(claims.as_bytes())
        );
        assert_eq!(verify(&unsigned), Err(DpopError::Alg));
    }

    #[test]
    fn an_algorithm_that_does_not_fit_the_key_is_refused() {
        let signer = Signer::es256();
        for alg in ["RS256", "ES384", "EdDSA"] {
            let mut header = signer.header();
            header["alg"] = json!(alg);
            let result = verify(&signer.proof_with(&header, &claims()));
            assert!(
                matches!(result, Err(DpopError::Key(_) | DpopError::BadSignature)),
                "{alg}: {result:?}"
            );
        }
        let mut header = signer.header();
        header["jwk"]["alg"] = json!("ES384");
        assert!(
            verify(&signer.proof_with(&header, &claims())).is_err(),
            "the jwk's own alg"
        );
    }

    #[test]
    fn the_typ_must_be_dpop_jwt() {
        let signer = Signer::es256();
        for typ in [json!("JWT"), json!("at+jwt"), json!("dpop"), json!(null)] {
            let mut header = signer.header();
            header["typ"] = typ.clone();
            let result = verify(&signer.proof_with(&header, &claims()));
            assert!(
                matches!(result, Err(DpopError::Typ | DpopError::Malformed(_))),
                "{typ}: {result:?}"
            );
        }
        let header = without(signer.header(), "typ");
        assert_eq!(
            verify(&signer.proof_with(&header, &claims())),
            Err(DpopError::Typ)
        );
        // RFC 7515 4.1.9: case-insensitive, `application/` optional.
        for typ in ["application/dpop+jwt", "DPoP+JWT"] {
            let mut header = signer.header();
            header["typ"] = json!(typ);
            assert!(
                verify(&signer.proof_with(&header, &claims())).is_ok(),
                "{typ}"
            );
        }
    }

    #[test]
    fn a_jwk_of_another_key_than_the_signatures_is_refused() {
        let signer = Signer::es256();
        let other = Signer::es256();
        // Signed by `signer`, claiming `other`'s key: the thumbprint would bind to `other`.
        let proof = signer.proof_with(&other.header(), &claims());
        assert_eq!(verify(&proof), Err(DpopError::BadSignature));
        let rsa = Signer::rsa("RS256");
        let mut header = rsa.header();
        let mut n = URL_SAFE_NO_PAD
            .decode(rsa.jwk["n"].as_str().expect("n"))
            .expect("base64url");
        n[10] ^= 1;
        header["jwk"]["n"] = json!(b64(&n));
        assert_eq!(
            verify(&rsa.proof_with(&header, &claims())),
            Err(DpopError::BadSignature)
        );
    }

    #[test]
    fn a_changed_payload_breaks_the_signature() {
        let signer = Signer::es256();
        let proof = signer.proof(&claims());
        let other = signer.proof(&with(claims(), "jti", json!("another")));
        let mut parts: Vec<&str> = proof.split('.').collect();
        parts[1] = other.split('.').nth(1).expect("a payload");
        assert_eq!(verify(&parts.join(".")), Err(DpopError::BadSignature));
    }

    #[test]
    fn a_header_without_jwk_or_with_crit_is_refused() {
        let signer = Signer::es256();
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "kid": "k1"});
        assert_eq!(
            verify(&signer.proof_with(&header, &claims())),
            Err(DpopError::NoJwk)
        );
        let mut header = signer.header();
        header["crit"] = json!(["exp"]);
        header["exp"] = json!(NOW);
        assert_eq!(
            verify(&signer.proof_with(&header, &claims())),
            Err(DpopError::Crit)
        );
    }

    #[test]
    fn a_large_proof_is_refused_before_parsing() {
        let signer = Signer::es256();
        let padded = with(claims(), "pad", json!("x".repeat(9 * 1024)));
        assert_eq!(verify(&signer.proof(&padded)), Err(DpopError::TooLarge));
        assert_eq!(
            verify(&"a".repeat(MAX_PROOF_BYTES + 1)),
            Err(DpopError::TooLarge)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for garbage in [
            "",
            "abc",
            "a.b",
            "a.b.c",
            "!!!.???.***",
            "a.b.c.d.e",
            "..",
            "e30.e30.e30",
        ] {
            let result = verify(garbage);
            assert!(
                matches!(result, Err(DpopError::Malformed(_) | DpopError::Typ)),
                "{garbage:?}: {result:?}"
            );
        }
    }

    #[test]
    fn errors_never_repeat_what_the_proof_says() {
        let signer = Signer::es256();
        let mut header = signer.header();
        header["alg"] = json!("<script>alg");
        header["typ"] = json!("\"evil\r\n");
        let proof = signer.proof_with(&header, &with(claims(), "htu", json!("https://x/\"evil")));
        let error = verify(&proof).expect_err("refused");
        let text = error.to_string();
        assert!(!text.contains("evil") && !text.contains("script"), "{text}");
        assert!(
            text.is_ascii() && !text.contains('"'),
            "header-safe: {text}"
        );
    }

    #[test]
    fn the_challenge_lists_every_algorithm_the_proofs_may_use() {
        let names: Vec<&str> = crate::jose::Alg::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(challenge_algs(), names.join(" "));
    }

    #[test]
    fn error_codes_separate_the_proof_from_the_binding() {
        assert_eq!(DpopError::KeyMismatch.error_code(), "invalid_token");
        assert_eq!(DpopError::Confirmation("x").error_code(), "invalid_token");
        assert_eq!(DpopError::Htu.error_code(), "invalid_dpop_proof");
        assert_eq!(DpopError::Replayed.error_code(), "invalid_dpop_proof");
    }

    #[test]
    fn jkt_comes_from_cnf() {
        let thumbprint = [9u8; 32];
        let cnf = json!({"jkt": b64(&thumbprint)});
        assert_eq!(jkt_of(Some(&cnf)), Ok(Some(thumbprint)));
        assert_eq!(jkt_of(None), Ok(None), "no cnf: an unbound token");
        for bad in [
            json!({"jkt": format!("{}=", b64(&thumbprint))}),
            json!({"jkt": b64(&[9u8; 31])}),
            json!({"jkt": b64(&[9u8; 33])}),
            json!({"jkt": 5}),
            json!({"jkt": hex(&thumbprint)}),
            json!({"x5t#S256": b64(&thumbprint)}),
            json!({}),
            json!("jkt"),
            json!(null),
            json!([b64(&thumbprint)]),
        ] {
            assert!(
                matches!(jkt_of(Some(&bad)), Err(DpopError::Confirmation(_))),
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever arrives in the `DPoP` header: an error or a proof, never a panic.
        #[test]
        fn any_header_value_is_refused_without_panicking(
            text in "\\PC{0,300}",
            parts in "[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,80}",
        ) {
            proptest::prop_assert!(verify(&text).is_err());
            proptest::prop_assert!(verify(&parts).is_err());
        }

        /// Normalizing twice changes nothing, and a URL always matches itself.
        #[test]
        fn path_normalization_is_stable(path in "(/([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2}){0,12}){1,4}") {
            let once = normalized_path(&path);
            proptest::prop_assert_eq!(normalized_path(&once), once.clone());
            let url = format!("https://api.example.com{path}");
            proptest::prop_assert_eq!(check_htu(&url, &url), Ok(()));
        }

        /// A claimed `cnf` is a valid binding or an error, never a panic.
        #[test]
        fn any_cnf_is_read_without_panicking(jkt in "\\PC{0,60}") {
            let _ = jkt_of(Some(&json!({"jkt": jkt})));
        }
    }

    fn first_use(replay: &ProofReplay, proof: &VerifiedProof) -> bool {
        replay.first_use(proof.replay_key(), proof.remember_for)
    }

    fn verified(jkt: u8, jti: &str, remember_for: Duration) -> VerifiedProof {
        VerifiedProof {
            jkt: [jkt; 32],
            jti: jti.to_owned(),
            iat: NOW,
            remember_for,
        }
    }

    #[test]
    fn a_proof_is_accepted_once_per_key_and_jti() {
        let replay = ProofReplay::new();
        let proof = verified(1, "jti-1", Duration::from_secs(90));
        assert!(first_use(&replay, &proof));
        assert!(!first_use(&replay, &proof), "the replay");
        assert!(first_use(
            &replay,
            &verified(1, "jti-2", Duration::from_secs(90))
        ));
        assert!(
            first_use(&replay, &verified(2, "jti-1", Duration::from_secs(90))),
            "another key's jti"
        );
    }

    #[test]
    fn a_replayed_proof_of_verify_proof_is_caught() {
        let signer = Signer::es256();
        let proof = signer.proof(&claims());
        let replay = ProofReplay::new();
        assert!(first_use(&replay, &verify(&proof).expect("valid")));
        assert!(!first_use(&replay, &verify(&proof).expect("still valid")));
    }

    #[test]
    fn of_racing_requests_with_one_proof_exactly_one_wins() {
        let replay = std::sync::Arc::new(ProofReplay::new());
        let proof = verified(3, "raced", Duration::from_secs(90));
        let winners = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| first_use(&replay, &proof)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a thread"))
                .filter(|won| *won)
                .count()
        });
        assert_eq!(winners, 1);
    }

    #[test]
    fn a_proof_is_forgotten_once_it_can_no_longer_be_accepted() {
        let replay = ProofReplay::new();
        assert!(first_use(
            &replay,
            &verified(4, "short", Duration::from_millis(100))
        ));
        assert!(first_use(
            &replay,
            &verified(4, "long", Duration::from_secs(60))
        ));
        std::thread::sleep(Duration::from_millis(1100));
        replay.run_pending_tasks();
        assert!(
            first_use(&replay, &verified(4, "short", Duration::from_millis(100))),
            "expired: no longer remembered"
        );
        assert!(!first_use(
            &replay,
            &verified(4, "long", Duration::from_secs(60))
        ));
    }

    #[test]
    fn a_full_cache_still_admits_every_new_proof() {
        // moka's default (TinyLFU) may refuse to store a new entry when full; a replay of that
        // proof would then pass. LRU always stores it (evicting the oldest).
        let replay = ProofReplay::with_capacity(100);
        for i in 0..1000 {
            let proof = verified(5, &format!("jti-{i}"), Duration::from_secs(90));
            assert!(first_use(&replay, &proof));
            replay.run_pending_tasks();
            assert!(!first_use(&replay, &proof), "proof {i} was not stored");
        }
    }
}

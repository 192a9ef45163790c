//! The provider's keys, ID token signing (and its tampered variants), `id_token_hint` checks.
//!
//! The JWT is assembled here rather than with `openidconnect::IdToken::new` because most
//! [`Tamper`] variants need tokens that library refuses to produce (alg `none`, HS256 with an RSA
//! public key, foreign `kid`...). The unit tests verify the honest tokens with openidconnect's
//! own `IdTokenVerifier`.

use std::io;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreHmacKey, CoreJsonWebKey, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
};
use openidconnect::{JsonWebKey as _, JsonWebKeyId, PrivateSigningKey as _};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::sec1::ToSec1Point as _;

use super::tamper::{
    EXTRA_AUDIENCE, OTHER_CLIENT, OTHER_SUBJECT, OVERSIZED_PADDING, Tamper, wrong_issuer,
};
use super::user::TestUser;

/// TEST-ONLY RSA-2048 key: it is public (checked into the repository), never trust it.
const SIGNING_KEY_PEM: &str = include_str!("keys/test-only-signing-key.pem");
/// The public half of [`SIGNING_KEY_PEM`] (SPKI PEM), the "secret" of the key-confusion attack.
const SIGNING_PUBLIC_KEY_PEM: &str = include_str!("keys/test-only-signing-key.pub.pem");
/// TEST-ONLY second RSA-2048 key, never published in the JWKS ([`Tamper::UnknownKid`]).
const UNKNOWN_KEY_PEM: &str = include_str!("keys/test-only-unknown-key.pem");
/// TEST-ONLY third RSA-2048 key, published next to the signing key
/// ([`Tamper::NoKidSeveralKeys`]).
const SECOND_KEY_PEM: &str = include_str!("keys/test-only-second-key.pem");
/// TEST-ONLY P-256 key, published ([`Tamper::Es256Signed`]).
const ES256_KEY_PEM: &str = include_str!("keys/test-only-es256-key.pem");

/// `kid` of the signing key, as published in the JWKS.
pub(super) const SIGNING_KID: &str = "testkit-rs256-1";
/// `kid` of the key that is not in the JWKS.
pub(super) const UNKNOWN_KID: &str = "testkit-unknown-key";
/// `kid` of the second published RSA key.
pub(super) const SECOND_KID: &str = "testkit-rs256-2";
/// `kid` of the published P-256 key.
pub(super) const ES256_KID: &str = "testkit-es256-1";

const RS256: CoreJwsSigningAlgorithm = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;

/// The provider's keys, parsed once per process (parsing RSA keys is not free).
pub(super) struct Keys {
    signing: CoreRsaPrivateSigningKey,
    unknown: CoreRsaPrivateSigningKey,
    second: CoreRsaPrivateSigningKey,
    es256: p256::ecdsa::SigningKey,
    jwks: Value,
}

static KEYS: OnceLock<Keys> = OnceLock::new();

impl Keys {
    /// The process-wide keys.
    pub(super) fn get() -> io::Result<&'static Keys> {
        if KEYS.get().is_none() {
            let keys = Keys::parse()?;
            // Another thread may have won the race: its keys are the same.
            let _ = KEYS.set(keys);
        }
        KEYS.get()
            .ok_or_else(|| io::Error::other("test provider keys unavailable"))
    }

    fn parse() -> io::Result<Keys> {
        let invalid = |what: &str, err: String| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {err}"))
        };
        let signing = CoreRsaPrivateSigningKey::from_pem(
            SIGNING_KEY_PEM,
            Some(JsonWebKeyId::new(SIGNING_KID.to_owned())),
        )
        .map_err(|e| invalid("test signing key", e))?;
        let unknown = CoreRsaPrivateSigningKey::from_pem(
            UNKNOWN_KEY_PEM,
            Some(JsonWebKeyId::new(UNKNOWN_KID.to_owned())),
        )
        .map_err(|e| invalid("test unknown key", e))?;
        let second = CoreRsaPrivateSigningKey::from_pem(
            SECOND_KEY_PEM,
            Some(JsonWebKeyId::new(SECOND_KID.to_owned())),
        )
        .map_err(|e| invalid("test second key", e))?;
        let rsa_jwk = |key: &CoreRsaPrivateSigningKey| {
            let mut jwk = serde_json::to_value(key.as_verification_key())
                .map_err(|e| invalid("test RSA key JWK", e.to_string()))?;
            if let Value::Object(fields) = &mut jwk {
                fields.insert("alg".to_owned(), Value::String("RS256".to_owned()));
            }
            Ok::<_, io::Error>(jwk)
        };
        let ec_secret = p256::SecretKey::from_sec1_pem(ES256_KEY_PEM)
            .map_err(|e| invalid("test ES256 key", e.to_string()))?;
        let point = ec_secret.public_key().to_sec1_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(invalid("test ES256 key", "no affine point".to_owned()));
        };
        let ec_jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": ES256_KID,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        });
        Ok(Keys {
            jwks: json!({ "keys": [rsa_jwk(&signing)?, rsa_jwk(&second)?, ec_jwk] }),
            signing,
            unknown,
            second,
            es256: p256::ecdsa::SigningKey::from(ec_secret),
        })
    }

    /// The public JWK set served at `/jwks`.
    pub(super) fn jwks(&self) -> &Value {
        &self.jwks
    }
}

/// Error while signing: only a broken RSA implementation gets here.
#[derive(Debug)]
pub(super) struct SigningError(pub(super) String);

/// What goes into one ID token.
pub(super) struct IdTokenRequest<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// Named in `aud` after the client.
    pub extra_audiences: &'a [String],
    pub user: &'a TestUser,
    pub scopes: &'a [String],
    pub nonce: Option<&'a str>,
    /// Seconds since the epoch of the (original) sign-in.
    pub auth_time: u64,
    pub access_token: &'a str,
    /// The authorization code the token is issued for (its `c_hash`); `None` at refresh.
    pub code: Option<&'a str>,
    pub ttl: Duration,
}

/// Seconds since the Unix epoch.
pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `at_hash` (OIDC Core 3.1.3.6) and `c_hash` (3.3.2.11): left half of SHA-256 of the ASCII
/// access token or code, base64url.
pub(super) fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Builds and signs an ID token, misbehaving as `tamper` says.
pub(super) fn id_token(
    keys: &Keys,
    req: &IdTokenRequest<'_>,
    tamper: Tamper,
) -> Result<String, SigningError> {
    let now = now_secs();
    let ttl = req.ttl.as_secs();
    let mut claims = req.user.released_claims(req.scopes);
    // Protocol claims after the user's so that nothing in the user's claims can override them.
    claims.insert("iss".into(), req.issuer.into());
    let audiences: Vec<&str> = std::iter::once(req.client_id)
        .chain(req.extra_audiences.iter().map(String::as_str))
        .collect();
    claims.insert("aud".into(), json!(audiences));
    claims.insert("azp".into(), req.client_id.into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(ttl).into());
    claims.insert("auth_time".into(), req.auth_time.into());
    if let Some(nonce) = req.nonce {
        claims.insert("nonce".into(), nonce.into());
    }
    claims.insert("at_hash".into(), at_hash(req.access_token).into());
    if let Some(code) = req.code {
        claims.insert("c_hash".into(), at_hash(code).into());
    }
    tamper_claims(&mut claims, req, tamper, now);
    let payload = Value::Object(claims);
    encode_and_sign(keys, &payload, tamper)
}

fn tamper_claims(
    claims: &mut Map<String, Value>,
    req: &IdTokenRequest<'_>,
    tamper: Tamper,
    now: u64,
) {
    let ttl = req.ttl.as_secs();
    match tamper {
        Tamper::WrongAudience => {
            claims.insert("aud".into(), json!([OTHER_CLIENT]));
            claims.insert("azp".into(), OTHER_CLIENT.into());
        }
        Tamper::WrongIssuer => {
            claims.insert("iss".into(), wrong_issuer(req.issuer).into());
        }
        Tamper::ExpiredIdToken => {
            let iat = now.saturating_sub(7200);
            claims.insert("iat".into(), iat.into());
            claims.insert("auth_time".into(), iat.into());
            claims.insert("exp".into(), now.saturating_sub(3600).into());
        }
        Tamper::IssuedInFuture => {
            let iat = now.saturating_add(600);
            claims.insert("iat".into(), iat.into());
            claims.insert("exp".into(), iat.saturating_add(ttl).into());
        }
        Tamper::WrongNonce => {
            let wrong = match req.nonce {
                Some(nonce) => format!("{nonce}-tampered"),
                None => "tampered-nonce".to_owned(),
            };
            claims.insert("nonce".into(), wrong.into());
        }
        Tamper::MissingNonce => {
            claims.remove("nonce");
        }
        Tamper::WrongAtHash => {
            let other = format!("{}-tampered", req.access_token);
            claims.insert("at_hash".into(), at_hash(&other).into());
        }
        Tamper::OversizedIdToken => {
            claims.insert("padding".into(), "x".repeat(OVERSIZED_PADDING).into());
        }
        Tamper::AzpMismatch => {
            claims.insert("aud".into(), json!([req.client_id, OTHER_CLIENT]));
            claims.insert("azp".into(), OTHER_CLIENT.into());
        }
        Tamper::ForeignAzp => {
            claims.insert("azp".into(), OTHER_CLIENT.into());
        }
        Tamper::ExtraAudience => {
            claims.insert("aud".into(), json!([req.client_id, EXTRA_AUDIENCE]));
        }
        Tamper::NotYetValid => {
            claims.insert("nbf".into(), now.saturating_add(600).into());
        }
        Tamper::StaleIssuedAt => {
            let iat = now.saturating_sub(3600);
            claims.insert("iat".into(), iat.into());
            claims.insert("exp".into(), now.saturating_add(ttl).into());
        }
        Tamper::WrongCodeHash => {
            let other = format!("{}-tampered", req.code.unwrap_or("no-code"));
            claims.insert("c_hash".into(), at_hash(&other).into());
        }
        Tamper::OtherSubject => {
            claims.insert("sub".into(), OTHER_SUBJECT.into());
        }
        Tamper::ChangedAuthTime => {
            claims.insert("auth_time".into(), req.auth_time.saturating_add(1).into());
        }
        _ => {}
    }
}

fn encode_and_sign(keys: &Keys, payload: &Value, tamper: Tamper) -> Result<String, SigningError> {
    let header = match tamper {
        Tamper::AlgNone => json!({ "alg": "none", "typ": "JWT" }),
        Tamper::HmacWithPublicKey => json!({ "alg": "HS256", "typ": "JWT", "kid": SIGNING_KID }),
        Tamper::UnknownKid => json!({ "alg": "RS256", "typ": "JWT", "kid": UNKNOWN_KID }),
        Tamper::NoKidSeveralKeys => json!({ "alg": "RS256", "typ": "JWT" }),
        Tamper::Es256Signed => json!({ "alg": "ES256", "typ": "JWT", "kid": ES256_KID }),
        _ => json!({ "alg": "RS256", "typ": "JWT", "kid": SIGNING_KID }),
    };
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let sign_err = |e: openidconnect::SigningError| SigningError(e.to_string());
    let signature = match tamper {
        Tamper::AlgNone => Vec::new(),
        Tamper::HmacWithPublicKey => CoreHmacKey::new(SIGNING_PUBLIC_KEY_PEM.as_bytes())
            .sign(
                &CoreJwsSigningAlgorithm::HmacSha256,
                signing_input.as_bytes(),
            )
            .map_err(sign_err)?,
        Tamper::UnknownKid => keys
            .unknown
            .sign(&RS256, signing_input.as_bytes())
            .map_err(sign_err)?,
        // The second published key, listed after the first: a client that tries only the
        // first key that fits fails.
        Tamper::NoKidSeveralKeys => keys
            .second
            .sign(&RS256, signing_input.as_bytes())
            .map_err(sign_err)?,
        Tamper::Es256Signed => {
            let signature: p256::ecdsa::Signature = keys.es256.sign(signing_input.as_bytes());
            signature.to_bytes().to_vec()
        }
        Tamper::BadSignature => {
            let mut sig = keys
                .signing
                .sign(&RS256, signing_input.as_bytes())
                .map_err(sign_err)?;
            if let Some(first) = sig.first_mut() {
                *first ^= 0xff;
            }
            if let Some(last) = sig.last_mut() {
                *last ^= 0xff;
            }
            sig
        }
        _ => keys
            .signing
            .sign(&RS256, signing_input.as_bytes())
            .map_err(sign_err)?,
    };
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// A compact JWS over `payload` (any bytes, not necessarily JSON) signed with the provider's
/// RS256 signing key, the first key of its JWKS (`kid` `testkit-rs256-1`), under `header` (raw
/// bytes) or, when `None`, the provider's usual `{"alg":"RS256","typ":"JWT","kid":...}`.
///
/// For fuzzers and tests that need tokens the provider would never issue (to check that a
/// relying party refuses them once past the signature); [`Tamper`](crate::Tamper) covers the
/// common cases. `None` only if the checked-in test key cannot be loaded.
///
/// ```
/// let token = oidc_testkit::sign_jws(None, br#"{"sub":"alice"}"#).unwrap();
/// assert_eq!(token.split('.').count(), 3);
/// ```
pub fn sign_jws(header: Option<&[u8]>, payload: &[u8]) -> Option<String> {
    let usual = json!({ "alg": "RS256", "typ": "JWT", "kid": SIGNING_KID }).to_string();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.unwrap_or(usual.as_bytes())),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = Keys::get()
        .ok()?
        .signing
        .sign(&RS256, signing_input.as_bytes())
        .ok()?;
    Some(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// [`sign_jws`] with the provider's published P-256 key (`kid` `testkit-es256-1`, ES256) under
/// `header` or, when `None`, `{"alg":"ES256","typ":"JWT","kid":"testkit-es256-1"}`: tokens in
/// the provider's second algorithm, e.g. to measure an ES256 verification. `None` only if the
/// checked-in test key cannot be loaded.
///
/// ```
/// let token = oidc_testkit::sign_jws_es256(None, br#"{"sub":"alice"}"#).unwrap();
/// assert_eq!(token.rsplit('.').next().map(str::len), Some(86)); // 64 bytes, base64url
/// ```
pub fn sign_jws_es256(header: Option<&[u8]>, payload: &[u8]) -> Option<String> {
    let usual = json!({ "alg": "ES256", "typ": "JWT", "kid": ES256_KID }).to_string();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.unwrap_or(usual.as_bytes())),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature: p256::ecdsa::Signature = Keys::get().ok()?.es256.sign(signing_input.as_bytes());
    Some(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}

/// Checks an `id_token_hint`: signed by this provider's key (expiry ignored, as OIDC
/// RP-Initiated Logout allows) and issued by `issuer`. Returns its claims.
pub(super) fn verify_id_token_hint(
    keys: &Keys,
    issuer: &str,
    token: &str,
) -> Result<Map<String, Value>, &'static str> {
    let malformed = "id_token_hint is not a well-formed signed JWT";
    let (signing_input, signature) = token.rsplit_once('.').ok_or(malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(malformed)?;
    let header = decode_json(header).ok_or(malformed)?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256")
        || header.get("kid").and_then(Value::as_str) != Some(SIGNING_KID)
    {
        return Err("id_token_hint was not signed by this provider");
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| malformed)?;
    let verification_key: CoreJsonWebKey = keys.signing.as_verification_key();
    verification_key
        .verify_signature(&RS256, signing_input.as_bytes(), &signature)
        .map_err(|_| "id_token_hint has an invalid signature")?;
    let Some(Value::Object(claims)) = decode_json(payload) else {
        return Err(malformed);
    };
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err("id_token_hint was issued by another issuer");
    }
    Ok(claims)
}

/// What goes into one access token (RFC 9068).
pub(super) struct AccessTokenRequest<'a> {
    pub issuer: &'a str,
    /// `aud`: the API the token is for.
    pub audience: &'a str,
    /// `client_id`: the client the token was issued to.
    pub client_id: &'a str,
    /// The user, or `None` for a machine token (client credentials): `sub` is then the client.
    pub user: Option<&'a TestUser>,
    /// The granted scopes (`scope`, space-separated; absent when empty). A user's claims are
    /// released by them as in the ID token.
    pub scopes: &'a [String],
    /// Seconds since the epoch of the sign-in (users only).
    pub auth_time: Option<u64>,
    pub ttl: Duration,
}

/// A JWT access token as RFC 9068 describes it: header `typ: at+jwt`, RS256 with the signing
/// key; claims `iss`, `sub`, `aud`, `client_id`, `iat`, `exp`, `jti`, `scope`, plus the user's
/// claims released by the scopes (as providers put `preferred_username` or `groups` into
/// access tokens), so that an API sees the same identity as a login.
pub(super) fn access_token(
    keys: &Keys,
    req: &AccessTokenRequest<'_>,
) -> Result<String, SigningError> {
    let now = now_secs();
    let mut claims = match req.user {
        Some(user) => user.released_claims(req.scopes),
        None => Map::new(),
    };
    let sub = req.user.map_or(req.client_id, TestUser::sub);
    claims.insert("iss".into(), req.issuer.into());
    claims.insert("sub".into(), sub.into());
    claims.insert("aud".into(), req.audience.into());
    claims.insert("client_id".into(), req.client_id.into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(req.ttl.as_secs()).into());
    let jti = super::store::random_token()
        .map_err(|e| SigningError(format!("no randomness for jti: {e}")))?;
    claims.insert("jti".into(), jti.into());
    if !req.scopes.is_empty() {
        claims.insert("scope".into(), req.scopes.join(" ").into());
    }
    if let Some(auth_time) = req.auth_time {
        claims.insert("auth_time".into(), auth_time.into());
    }
    let header = json!({ "alg": "RS256", "typ": "at+jwt", "kid": SIGNING_KID });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
    );
    let signature = keys
        .signing
        .sign(&RS256, signing_input.as_bytes())
        .map_err(|e| SigningError(e.to_string()))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// Decodes one base64url JWT segment as JSON.
pub(super) fn decode_json(segment: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

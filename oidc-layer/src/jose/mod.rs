//! JOSE on ring: JWS compact tokens (RFC 7515), public JWKs (RFC 7517, RFC 7518 section 6),
//! their thumbprints (RFC 7638), and signature verification with an allowed-algorithm list.
//!
//! Every signed token the layer reads goes through here: ID tokens, logout tokens, access
//! tokens and DPoP proofs. The algorithm is never taken from the token alone: it must be in the
//! caller's allowed list, match the key's type (and the key's own `alg` when it has one), and is
//! never `none` nor an HMAC algorithm (which would turn a public key or the client secret into
//! a forgery key).

mod alg;
mod compact;
mod jwk;

pub(crate) use alg::Alg;
pub(crate) use compact::{Compact, parse_compact, typ_is};
pub(crate) use jwk::{Jwk, KeySet, PRIVATE_MEMBERS};

/// Why a token or key was refused. The messages name the problem, never key material or token
/// contents, so they can go into logs and `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JoseError {
    /// Not a JWS in compact serialization, or a part that does not decode.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// Longer than the caller allows.
    #[error("the token is too large")]
    TooLarge,
    /// `alg` is not one the caller accepts (or not an asymmetric algorithm at all).
    #[error("the algorithm `{0}` is not accepted")]
    AlgNotAllowed(String),
    /// No key of the set fits the token's `kid` and algorithm.
    #[error("no key of the issuer matches the token")]
    NoKey,
    /// The signature does not verify with any fitting key.
    #[error("the signature is invalid")]
    BadSignature,
    /// The header has `crit`: extensions the layer does not understand (RFC 7515 4.1.11).
    #[error("the token has critical header extensions")]
    Crit,
    /// A JWK the layer cannot use.
    #[error("unusable key: {0}")]
    UnsupportedKey(&'static str),
}

/// How many keys are tried for a token that names no `kid` while several keys fit (each try
/// is a signature verification).
pub(crate) const MAX_KEYS_TRIED: usize = 8;

#[cfg(test)]
mod tests;

//! The JWS algorithms the layer verifies (RFC 7518 section 3, RFC 8037 for EdDSA).

use ring::signature::{self, VerificationAlgorithm};

/// An asymmetric JWS algorithm ring verifies. `none`, the HMAC algorithms and ES512 (P-521,
/// which ring lacks) have no value here, so they cannot be allowed by mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

/// The key type an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Alg {
    /// Every algorithm, in the order they are listed to clients (`algs` in a DPoP challenge).
    pub(crate) const ALL: [Alg; 9] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::EdDsa,
    ];

    /// The algorithm named `name` exactly (names are case-sensitive, RFC 7515 4.1.1).
    pub(crate) fn parse(name: &str) -> Option<Alg> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// The JWS name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    pub(crate) fn key_kind(self) -> KeyKind {
        match self {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                KeyKind::Rsa
            }
            Alg::Es256 => KeyKind::P256,
            Alg::Es384 => KeyKind::P384,
            Alg::EdDsa => KeyKind::Ed25519,
        }
    }

    /// ring's parameters. RSA keys must have at least 2048 bits (RFC 7518 3.3 and 3.5: "a key
    /// of size 2048 bits or larger MUST be used").
    pub(crate) fn ring(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Alg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            Alg::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            Alg::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
            Alg::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            Alg::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
            Alg::EdDsa => &signature::ED25519,
        }
    }

    /// The left half of the algorithm's hash of `input`: `at_hash` and `c_hash` (OpenID
    /// Connect Core 3.1.3.6, 3.3.2.11) before base64url. EdDSA with Ed25519 hashes with
    /// SHA-512 (as the OpenID Foundation's errata and every implementation do).
    pub(crate) fn left_half_hash(self, input: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        let full: Vec<u8> = match self {
            Alg::Rs256 | Alg::Ps256 | Alg::Es256 => sha2::Sha256::digest(input).to_vec(),
            Alg::Rs384 | Alg::Ps384 | Alg::Es384 => sha2::Sha384::digest(input).to_vec(),
            Alg::Rs512 | Alg::Ps512 | Alg::EdDsa => sha2::Sha512::digest(input).to_vec(),
        };
        full[..full.len() / 2].to_vec()
    }
}

impl std::fmt::Display for Alg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

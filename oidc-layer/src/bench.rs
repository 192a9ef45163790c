//! Hooks for the crate's own benchmarks and tests (feature `bench`: `benches/callback.rs`,
//! `benches/jose.rs`, `tests/id_token_cap.rs`): not part of the API, not covered by semver,
//! hidden from the docs.

use std::str::FromStr;
use std::sync::Arc;

use openidconnect::core::CoreIdToken;
use openidconnect::{AccessToken, Nonce};

use crate::OidcLayer;
use crate::provider::Discovered;
use crate::state::Shared;

/// The ID-token validation of the callback, callable on its own: parse the JWS, check the
/// signature (algorithm pinned), `iss`, `aud`, `azp`, `exp`, `iat`, `nonce` and `at_hash`,
/// then decode the claims. No network: the provider's keys are fetched once by [`Self::new`].
pub struct IdTokenCheck {
    shared: Arc<Shared>,
    discovered: Arc<Discovered>,
    id_token: String,
    nonce: Nonce,
    access_token: AccessToken,
}

impl IdTokenCheck {
    /// Prepares the check of `id_token` (issued for `nonce`, alongside `access_token`) against
    /// the first provider of `layer`, discovering it now.
    pub async fn new(
        layer: &OidcLayer,
        id_token: &str,
        nonce: &str,
        access_token: &str,
    ) -> Result<Self, String> {
        let shared = layer.current();
        let discovered = shared
            .providers
            .first()
            .ok_or("the layer has no provider")?
            .client
            .discovered()
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            shared,
            discovered,
            id_token: id_token.to_owned(),
            nonce: Nonce::new(nonce.to_owned()),
            access_token: AccessToken::new(access_token.to_owned()),
        })
    }

    /// Runs the whole validation once; returns the number of claims of the verified token.
    pub async fn run(&self) -> Result<usize, String> {
        let token = CoreIdToken::from_str(&self.id_token).map_err(|e| e.to_string())?;
        let provider = &self
            .shared
            .providers
            .first()
            .ok_or("the layer has no provider")?
            .client;
        let (_, claims) = provider
            .verify_id_token(
                &self.discovered,
                &token,
                &self.nonce,
                &self.access_token,
                None,
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(claims.len())
    }
}

/// One JWS signature verification through the layer's JOSE module (ring): the key is parsed
/// once by [`Self::new`], as a provider's key set is once per fetch; [`Self::run`] verifies.
pub struct SignatureCheck {
    key: crate::jose::Jwk,
    alg: crate::jose::Alg,
    message: Vec<u8>,
    signature: Vec<u8>,
}

impl SignatureCheck {
    /// Prepares the check of `signature` over `message` with the public JWK `jwk` and the JWS
    /// algorithm `alg` (`RS256`, `ES256`, ...).
    pub fn new(
        jwk: &serde_json::Value,
        alg: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<Self, String> {
        Ok(Self {
            key: crate::jose::Jwk::from_json(jwk).map_err(|e| e.to_string())?,
            alg: crate::jose::Alg::parse(alg).ok_or("not an algorithm the layer verifies")?,
            message: message.to_owned(),
            signature: signature.to_owned(),
        })
    }

    /// Verifies once: whether the signature is valid.
    pub fn run(&self) -> bool {
        self.key
            .verify(self.alg, &self.message, &self.signature)
            .is_ok()
    }
}

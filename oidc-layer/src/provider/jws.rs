//! JWS helpers shared by the ID-token (`tokens`), logout-token (`logout_token`) and access-token
//! (`crate::bearer`) checks: which algorithms a provider's tokens may use, the signature check
//! with the provider's keys, and `aud` as a list. (Which keys may have signed a token is
//! [`crate::jose::KeySet::candidates`].)

use std::sync::Arc;

use serde_json::Value;

use super::{Discovered, Provider};
use crate::jose::{Alg, Compact, JoseError};

impl Provider {
    /// Verifies the signature of `token` with this provider's keys and its pinned algorithms
    /// ([`allowed`]); when no key fits (the provider rotated its keys), the key set is
    /// refetched once (rate-limited) and tried again. Returns the payload's bytes and the copy
    /// of the metadata and keys that verified it.
    pub(crate) async fn verify_signature(
        &self,
        discovered: &Arc<Discovered>,
        token: &Compact<'_>,
    ) -> Result<(Vec<u8>, Arc<Discovered>), JoseError> {
        let algs = allowed(
            self.settings().id_token_signing_algs.as_deref(),
            &discovered.metadata.id_token_signing_algs,
        );
        match token.verify_with(&discovered.keys, &algs) {
            Ok(payload) => Ok((payload, discovered.clone())),
            Err(JoseError::NoKey) => {
                let newer = self
                    .refetch_jwks(discovered)
                    .await
                    .ok_or(JoseError::NoKey)?;
                let payload = token.verify_with(&newer.keys, &algs)?;
                Ok((payload, newer))
            }
            Err(e) => Err(e),
        }
    }
}

/// `aud` as a sorted list, whether it is one string or an array.
pub(super) fn audiences(aud: Option<&Value>) -> Vec<&str> {
    let mut list: Vec<&str> = match aud {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    list.sort_unstable();
    list.dedup();
    list
}

/// Whether `name` is an asymmetric JWS algorithm the layer verifies (see [`allowed`]).
pub(crate) fn is_asymmetric_alg(name: &str) -> bool {
    Alg::parse(name).is_some()
}

/// The algorithms an ID, logout or access token may be signed with: the configured ones; else
/// RS256 when the provider advertises it (the OpenID default for a client that registered
/// none) or advertises nothing; else the ones it advertises. Never `none` nor an HMAC
/// algorithm (which would turn a public key or the client secret into a forgery key): those
/// have no [`Alg`].
pub(crate) fn allowed(configured: Option<&[String]>, advertised: &[String]) -> Vec<Alg> {
    let known =
        |names: &[String]| -> Vec<Alg> { names.iter().filter_map(|a| Alg::parse(a)).collect() };
    let algs = match configured {
        Some(configured) => known(configured),
        None if advertised.is_empty() || advertised.iter().any(|a| a == "RS256") => {
            vec![Alg::Rs256]
        }
        None => known(advertised),
    };
    if algs.is_empty() {
        vec![Alg::Rs256]
    } else {
        algs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asymmetric_algorithms_are_the_rsa_pss_ecdsa_and_eddsa_ones() {
        for alg in [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
        ] {
            assert!(is_asymmetric_alg(alg), "{alg}");
        }
        for alg in [
            // ES512 (P-521): ring does not verify it, so it is never accepted.
            "none", "HS256", "HS384", "HS512", "rs256", "RS256 ", "", "bogus", "ES512",
        ] {
            assert!(!is_asymmetric_alg(alg), "{alg}");
        }
    }

    #[test]
    fn rs256_is_pinned_when_advertised_and_none_and_hmac_are_never_allowed() {
        let advertised = ["none", "HS256", "RS256", "ES256", "bogus"].map(String::from);
        assert_eq!(allowed(None, &advertised), vec![Alg::Rs256]);
        let without_rs256 = ["none", "HS256", "ES256", "PS256"].map(String::from);
        assert_eq!(allowed(None, &without_rs256), vec![Alg::Es256, Alg::Ps256]);
        assert_eq!(allowed(None, &[]), vec![Alg::Rs256]);
        let only_bad = ["none", "HS512"].map(String::from);
        assert_eq!(allowed(None, &only_bad), vec![Alg::Rs256]);
        let configured = ["PS256".to_owned()];
        assert_eq!(allowed(Some(&configured), &advertised), vec![Alg::Ps256]);
        let configured_bad = ["HS256".to_owned(), "none".to_owned()];
        assert_eq!(
            allowed(Some(&configured_bad), &advertised),
            vec![Alg::Rs256]
        );
    }
}

//! Secrets in the configuration: [`Secret`] (client secrets, cookie keys as written) and the
//! decoded cookie key; `Debug` never shows either.

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Deserializer};

use super::ConfigError;
use crate::words::trimmed_list_or_words;

/// A secret string (client secret, cookie key): never printed by `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub(crate) struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; do not log it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A decoded cookie key: `Debug` never shows it (with the key, anyone can forge login-attempt
/// cookies, including the account a link goes to).
#[derive(Clone)]
pub(crate) struct CookieKey(Vec<u8>);

impl std::ops::Deref for CookieKey {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieKey(***)")
    }
}

/// [`trimmed_list_or_words`] for secrets (previous cookie keys): each item a [`Secret`].
pub(super) fn secret_list_or_words<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Secret>>, D::Error> {
    Ok(trimmed_list_or_words(d)?.map(|items| items.into_iter().map(Secret::new).collect()))
}

/// A cookie key from its base64 (standard or URL-safe alphabet, padding optional): at least
/// 32 bytes; errors name `key`.
pub(super) fn decode_cookie_key(key: &str, value: &str) -> Result<CookieKey, ConfigError> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let trimmed = value.trim().trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
        .map_err(|_| ConfigError::new(key, "must be base64"))?;
    if bytes.len() < 32 {
        return Err(ConfigError::new(
            key,
            "must be at least 32 random bytes (base64 of 32+ bytes)",
        ));
    }
    Ok(CookieKey(bytes))
}

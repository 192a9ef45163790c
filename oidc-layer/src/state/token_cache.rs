//! Verified access tokens, kept so that a token is verified (signature, claims, account) once:
//! keyed by the SHA-256 of the token (the token itself is never kept), bounded, each entry
//! ending when its token does. An introspection result is kept the same way (an active one at
//! most `introspection_cache_seconds`, an inactive one [`INACTIVE_TTL`]).
//!
//! A DPoP-bound token keeps its binding (`cnf.jkt`) in the entry: a cache hit still checks the
//! request's proof against it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{BearerPaths, OidcConfig};
use crate::identity::Identity;

/// How long an `active: false` introspection answer is reused.
pub(crate) const INACTIVE_TTL: Duration = Duration::from_secs(10);
/// The cache's bound, in bytes of the tokens it stands for (each entry weighs its token's
/// length plus [`ENTRY_OVERHEAD`]; the identity it keeps is of the same order).
const CAPACITY_BYTES: u64 = 64 * 1024 * 1024;
const ENTRY_OVERHEAD: u32 = 512;
/// No entry lives longer than this, whatever its token's `exp` says (a token valid for years
/// is checked again daily).
const MAX_ENTRY_TTL: Duration = Duration::from_secs(24 * 3600);

/// The SHA-256 of a token: the cache key, and (its first bytes, hex) the token's name in logs.
pub(crate) type TokenHash = [u8; 32];

pub(crate) fn token_hash(token: &str) -> TokenHash {
    // ring's SHA-256 (SHA extensions where the CPU has them): a token is hashed at every
    // request that carries it.
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest.as_ref());
    hash
}

/// A short fingerprint of a token for logs: 8 hex digits of its SHA-256.
pub(crate) fn fingerprint(hash: &TokenHash) -> String {
    hash[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// A token that passed every check.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    /// The identity the inner service gets (roles, account, scopes decided).
    pub(crate) identity: Identity,
    /// `cnf.jkt`: the thumbprint of the key a DPoP proof must be signed with.
    pub(crate) jkt: Option<[u8; 32]>,
}

/// What is known of a token.
#[derive(Debug, Clone)]
pub(crate) enum Known {
    Valid(Verified),
    /// The introspection endpoint said `active: false`.
    Inactive,
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) known: Known,
    until: Instant,
    weight: u32,
}

struct UntilExpiry;

impl moka::Expiry<TokenHash, Arc<Entry>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenHash,
        value: &Arc<Entry>,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(value.until.saturating_duration_since(created_at))
    }
}

/// The verified-token cache of one configuration (a reload starts a new one: the audiences,
/// role maps and providers a token was checked against may have changed).
#[derive(Clone)]
pub(crate) struct TokenCache {
    inner: moka::sync::Cache<TokenHash, Arc<Entry>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.inner.entry_count())
            .finish()
    }
}

impl TokenCache {
    pub(crate) fn new() -> Self {
        Self {
            inner: moka::sync::Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|_, entry: &Arc<Entry>| entry.weight)
                .expire_after(UntilExpiry)
                .build(),
        }
    }

    /// What is known of the token hashing to `hash`, while it lasts.
    pub(crate) fn get(&self, hash: &TokenHash) -> Option<Arc<Entry>> {
        self.inner.get(hash)
    }

    /// Keeps `known` for the token (of `token_len` bytes) hashing to `hash` until `until` (a
    /// wall-clock time such as the token's `exp`; nothing is kept for a time already past), and
    /// returns the entry.
    pub(crate) fn insert(
        &self,
        hash: TokenHash,
        token_len: usize,
        known: Known,
        until: SystemTime,
    ) -> Arc<Entry> {
        let left = until
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .min(MAX_ENTRY_TTL);
        let weight = u32::try_from(token_len)
            .unwrap_or(u32::MAX)
            .saturating_add(ENTRY_OVERHEAD);
        let entry = Arc::new(Entry {
            known,
            until: Instant::now() + left,
            weight,
        });
        if !left.is_zero() {
            self.inner.insert(hash, entry.clone());
        }
        entry
    }
}

/// The bearer path's part of one configuration (present when a provider has an
/// `api_audience`); the request handling is `crate::bearer`'s.
pub(crate) struct BearerState {
    pub(crate) cache: TokenCache,
    /// The `realm` of challenges: the app's external URL.
    pub(crate) realm: String,
    /// The provider that introspects opaque tokens, if one does.
    pub(crate) introspecting: Option<usize>,
    all_paths: bool,
}

impl BearerState {
    pub(crate) fn new(config: &OidcConfig) -> Option<Self> {
        config.accepts_bearer_tokens().then(|| Self {
            cache: TokenCache::new(),
            realm: format!("{}{}", config.external.origin, config.external.base_path),
            introspecting: config.providers.iter().position(|p| p.introspection),
            all_paths: config.bearer_paths == BearerPaths::AllPaths,
        })
    }

    /// Whether an `Authorization` header on `path` is the request's credential.
    pub(crate) fn covers(&self, config: &OidcConfig, path: &str) -> bool {
        self.all_paths || config.is_api_path(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_end_with_their_token() {
        let cache = TokenCache::new();
        let now = SystemTime::now();
        let live = token_hash("live");
        let ending = token_hash("ending");
        let past = token_hash("past");
        cache.insert(live, 4, Known::Inactive, now + Duration::from_secs(60));
        cache.insert(ending, 6, Known::Inactive, now + Duration::from_millis(50));
        cache.insert(past, 4, Known::Inactive, now - Duration::from_secs(1));
        assert!(cache.get(&live).is_some());
        assert!(cache.get(&ending).is_some());
        assert!(
            cache.get(&past).is_none(),
            "a token already expired is not kept"
        );
        std::thread::sleep(Duration::from_millis(80));
        assert!(cache.get(&ending).is_none(), "gone once its token expired");
        assert!(cache.get(&live).is_some());
    }

    #[test]
    fn keys_are_hashes_and_fingerprints_are_short() {
        let hash = token_hash("abc");
        assert_eq!(fingerprint(&hash), "ba7816bf");
        assert_ne!(token_hash("abd"), hash);
    }
}

//! The outcomes of session upkeep (see `session::refresh`), shared single-flight per session
//! and kept for [`UPKEEP_REUSE`] in a cache that outlives configuration swaps.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use session_store::{Record, SessionId};

use super::SessionData;

/// How long an upkeep outcome is handed to further requests of the same session.
pub(crate) const UPKEEP_REUSE: Duration = Duration::from_secs(5);

/// What a request continues with.
#[derive(Clone)]
pub(crate) enum Upkeep {
    /// The session, up to date.
    Keep(Arc<Record<SessionData>>),
    /// The session ended (refresh refused, provider gone for too long, logged out meanwhile).
    Ended,
    /// The access token has expired and the provider cannot be asked for another: the session
    /// is kept, but this request gets a 503 (`refresh_failure = "suspend"`).
    Suspended,
}

/// What an upkeep outcome is shared and reused for: one session, while the access token it was
/// read with is live; once that token has expired, only requests that read that same expired
/// token share an outcome (the next expired token gets its own upkeep).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct UpkeepKey {
    id: SessionId,
    expired_token: Option<SystemTime>,
}

impl UpkeepKey {
    pub(crate) fn new(id: &SessionId, seen: &Record<SessionData>, now: SystemTime) -> Self {
        Self {
            id: id.clone(),
            expired_token: seen.data.access_expires_at.filter(|at| now >= *at),
        }
    }

    /// Whether the access token the session was read with was still live.
    pub(crate) fn token_live(&self) -> bool {
        self.expired_token.is_none()
    }
}

/// Upkeep outcomes in flight or just done.
pub(crate) type UpkeepCache = moka::future::Cache<UpkeepKey, Upkeep>;

/// An empty [`UpkeepCache`].
pub(crate) fn upkeep_cache() -> UpkeepCache {
    moka::future::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(UPKEEP_REUSE)
        .build()
}

//! What the checks share: the values they store, and assertions that name the failing check.

use std::time::{Duration, SystemTime};

use super::ConformanceData;
use crate::{Error, SessionId, SessionStore};

/// How far apart a stored and a loaded expiry may be: backends may keep it with millisecond
/// precision.
const EXPIRY_PRECISION: Duration = Duration::from_millis(1);

/// [`SessionStore::load_now`], when it answers, answers what `load` does: `expected`.
pub(super) fn assert_load_now_agrees<S: SessionStore<ConformanceData>>(
    check: &str,
    store: &S,
    id: &SessionId,
    expected: Option<&ConformanceData>,
) {
    if let Some(answer) = store.load_now(id) {
        let loaded = must(check, "load_now", answer);
        assert_eq!(
            loaded.as_ref().map(|record| &record.data),
            expected,
            "{check}: load_now disagrees with load"
        );
    }
}

pub(super) fn assert_expiry_close(check: &str, loaded: SystemTime, stored: SystemTime) {
    let difference = loaded
        .duration_since(stored)
        .or_else(|_| stored.duration_since(loaded))
        .unwrap_or_default();
    assert!(
        difference <= EXPIRY_PRECISION,
        "{check}: the loaded expiry is {difference:?} away from the stored one"
    );
}

pub(super) fn in_a_minute() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

pub(super) fn random_id(check: &str) -> SessionId {
    must(check, "SessionId::generate", SessionId::generate())
}

/// The value of a store operation that must succeed, or a panic naming the check.
#[track_caller]
pub(super) fn must<T>(check: &str, operation: &str, result: Result<T, Error>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("{check}: {operation} failed: {err}"),
    }
}

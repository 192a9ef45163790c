//! [`StoreTracker`]: the outcome of the session store's last round trip, noted by every one
//! ([`crate::metrics::store_call`]) and read by [`crate::health`]. A leaf module: the store's
//! callers and the health report both use it without using each other.

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// The outcome of the store's last round trip, and whether a background probe runs.
#[derive(Debug, Default)]
pub(crate) struct StoreTracker {
    last: Mutex<Option<(Instant, Option<String>)>>,
    /// A background probe of the store is under way (one at a time).
    pub(crate) probing: AtomicBool,
}

impl StoreTracker {
    /// Notes the outcome of a round trip (the error's text when it failed).
    pub(crate) fn note<T, E: std::fmt::Display>(&self, result: &Result<T, E>) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((
                Instant::now(),
                result.as_ref().err().map(ToString::to_string),
            ));
        }
    }

    /// When the last round trip was, and its error if it failed; `None` before the first.
    pub(crate) fn last(&self) -> Option<(Instant, Option<String>)> {
        self.last.lock().ok().and_then(|last| last.clone())
    }
}

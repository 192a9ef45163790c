//! Session locks: one holder at a time, until unlocked or expired.

use std::time::Duration;

use futures_util::future::join_all;

use super::ConformanceData;
use super::support::{must, random_id};
use crate::{Lease, SessionId, SessionStore};

/// A session's lock is held by one lease at a time (also when 32 try at once) until unlocked
/// or expired; a lease that is not the holder's unlocks nothing; sessions lock independently.
pub async fn locks<S: SessionStore<ConformanceData>>(store: &S) {
    const CHECK: &str = "locks";
    const MINUTE: Duration = Duration::from_secs(60);
    let try_lock = |id: &SessionId, ttl: Duration| {
        let id = id.clone();
        async move { must(CHECK, "try_lock", store.try_lock(&id, ttl).await) }
    };
    let unlock = |id: &SessionId, lease: &Lease| {
        let (id, lease) = (id.clone(), lease.clone());
        async move { must(CHECK, "unlock", store.unlock(&id, &lease).await) }
    };
    let id = random_id(CHECK);
    let attempts = join_all((0..32).map(|_| try_lock(&id, MINUTE))).await;
    let mut taken = attempts.into_iter().flatten();
    let lease = taken
        .next()
        .unwrap_or_else(|| panic!("{CHECK}: nobody took a free lock"));
    assert!(
        taken.next().is_none(),
        "{CHECK}: two of 32 concurrent try_lock took the same lock"
    );
    assert!(
        try_lock(&id, MINUTE).await.is_none(),
        "{CHECK}: a held lock was taken again"
    );
    let other = random_id(CHECK);
    let other_lease = try_lock(&other, MINUTE)
        .await
        .unwrap_or_else(|| panic!("{CHECK}: one session's lock blocked another's"));

    unlock(&id, &must(CHECK, "Lease::generate", Lease::generate())).await;
    assert!(
        try_lock(&id, MINUTE).await.is_none(),
        "{CHECK}: a stranger's lease unlocked a held lock"
    );
    unlock(&id, &lease).await;
    let again = try_lock(&id, MINUTE)
        .await
        .unwrap_or_else(|| panic!("{CHECK}: an unlocked lock cannot be taken"));
    assert!(again != lease, "{CHECK}: a lease was handed out twice");

    // Expiry: a lock lives `ttl` at most, and its old lease does not unlock the next holder.
    let brief = random_id(CHECK);
    let old = try_lock(&brief, Duration::from_millis(200))
        .await
        .unwrap_or_else(|| panic!("{CHECK}: nobody took a free lock"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let next = try_lock(&brief, MINUTE)
        .await
        .unwrap_or_else(|| panic!("{CHECK}: an expired lock cannot be taken"));
    unlock(&brief, &old).await;
    assert!(
        try_lock(&brief, MINUTE).await.is_none(),
        "{CHECK}: the lease of an expired lock unlocked the next holder"
    );
    for (id, lease) in [(&id, &again), (&other, &other_lease), (&brief, &next)] {
        unlock(id, lease).await;
    }
}

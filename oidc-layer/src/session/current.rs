//! The session of a request: the one lookup behind the hot path, the callback, linking and
//! logout.

use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderMap;
use session_store::{Record, SessionId, SessionStore as _};

use crate::record::SessionData;
use crate::state::Shared;
use crate::web::cookies;

/// Whether a record past its deadline (a store may still answer one for a moment) counts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expired {
    /// It does not: a record whose deadline is at or before this instant is no session.
    EndedAt(SystemTime),
    /// It does: logout still ends it at the provider, and linking (as it always has) reads
    /// its account.
    Included,
}

/// The session id the request's session cookie holds, if any (also the previous session a
/// sign-in ends).
pub(crate) fn cookie_id(shared: &Shared, headers: &HeaderMap) -> Option<SessionId> {
    cookies::session_id(headers, &shared.cookies.session_name)
}

/// The record of session `id`: from memory when the store can answer so (no boxed future),
/// else through its `load` (a round trip).
pub(crate) async fn load(
    shared: &Shared,
    id: &SessionId,
    expired: Expired,
) -> Result<Option<Arc<Record<SessionData>>>, session_store::Error> {
    let store = &shared.durable.store;
    let record = match store.load_now(id) {
        Some(answer) => answer,
        None => {
            crate::metrics::store_call(&shared.durable.store_health, "load", store.load(id)).await
        }
    }?;
    Ok(match expired {
        Expired::EndedAt(now) => record.filter(|r| !r.is_expired_at(now)),
        Expired::Included => record,
    })
}

/// The request's session: the id its cookie holds and that id's record.
pub(crate) async fn find(
    shared: &Shared,
    headers: &HeaderMap,
    expired: Expired,
) -> Result<Option<(SessionId, Arc<Record<SessionData>>)>, session_store::Error> {
    let Some(id) = cookie_id(shared, headers) else {
        return Ok(None);
    };
    Ok(load(shared, &id, expired).await?.map(|record| (id, record)))
}

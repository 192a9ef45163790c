//! A user's sessions: every new session is tagged with its user (a subject at one issuer) and
//! a login past [`max_sessions_per_user`](crate::OidcConfigBuilder::max_sessions_per_user)
//! ends that user's sessions that would end first, so that nobody (a script logging in in a
//! loop, a leaked password) piles up sessions without bound. Each session also gets a public
//! handle and the tags session management lists and ends it by (`session::manage`).

use cookie::Cookie;
use http::HeaderMap;
use session_store::{Record, SessionId, SessionStore as _};

use crate::record::{self, SessionData};
use crate::state::Shared;
use crate::web::random::random_token;
use crate::web::user_agent;

/// Stores a new session for `data`'s user, tagged with the user, the user's account, its own
/// handle and `tags` (a provider session's `sid`), and ends the user's sessions past the cap,
/// never this one. `request_headers` are the sign-in request's (the browser's summary).
pub(crate) async fn create(
    shared: &Shared,
    mut data: SessionData,
    mut tags: Vec<String>,
    request_headers: &HeaderMap,
) -> Result<SessionId, session_store::Error> {
    let user = record::sub_tag(data.identity.iss(), data.identity.sub());
    if !tags.contains(&user) {
        tags.push(user.clone());
    }
    if let Some(account) = data.identity.account() {
        tags.push(record::account_tag(account));
    }
    let handle = random_token::<16>().map_err(|e| session_store::Error::Random(e.to_string()))?;
    tags.push(record::session_tag(&handle));
    data.handle = Some(handle.into());
    data.device = user_agent::summary(request_headers).map(Into::into);
    let expires_at = record::deadline(&shared.config, &data);
    let id = shared
        .durable
        .store
        .create(Record::new(data, expires_at).with_tags(tags))
        .await?;
    let cap = shared.config.max_sessions_per_user;
    match shared.durable.store.trim_tagged(&user, cap, &id).await {
        Ok(0) => {}
        Ok(ended) => tracing::info!(
            ended,
            cap,
            "a login passed the sessions-per-user cap: the user's oldest sessions ended"
        ),
        // The login goes on; the cap is enforced again at the user's next login.
        Err(e) => tracing::warn!(error = %e, "could not enforce the sessions-per-user cap"),
    }
    Ok(id)
}

/// The `Set-Cookie` that hands session `id` to the browser, for the longest a session lives.
pub(crate) fn session_cookie(shared: &Shared, id: &SessionId) -> Cookie<'static> {
    shared
        .cookies
        .session(id.encode(), shared.config.session_max_age)
}

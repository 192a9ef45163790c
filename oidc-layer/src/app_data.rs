//! The app's own data in a session: one serde value per session, set by the after-login hook
//! or by handlers, read through [`AppSession`] (and the [`AppData`] extractor).
//!
//! Reading costs no store round trip: the value came with the session the request was
//! authenticated with. Writing is explicit and only when the value changed (a handler that
//! sets what is already there writes nothing), so the request path stays write-free. A write
//! takes the session's lock (the one token refreshes take), re-reads the session and changes
//! only the app data: a refresh or another write in flight is never undone, and the value
//! is kept across refreshes. Values are bounded by
//! [`app_data_max_bytes`](crate::OidcConfigBuilder::app_data_max_bytes) (default 8 KiB) as
//! JSON.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use axum::{Router, routing::{get, post}};
//! use oidc_layer::{AppData, AppSession};
//!
//! #[derive(serde::Serialize, serde::Deserialize, Default)]
//! struct Cart { items: Vec<String> }
//!
//! async fn show(AppData(cart): AppData<Cart>) -> String {
//!     format!("{} items", cart.unwrap_or_default().items.len())
//! }
//!
//! async fn add(session: AppSession) -> Result<&'static str, oidc_layer::AppDataError> {
//!     session
//!         .update(|cart: Option<Cart>| {
//!             let mut cart = cart.unwrap_or_default();
//!             cart.items.push("book".into());
//!             Some(cart)
//!         })
//!         .await?;
//!     Ok("added")
//! }
//!
//! let app: Router = Router::new().route("/cart", get(show).post(add));
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use session_store::{Lease, Record, SessionId};

use crate::metrics;
use crate::record::SessionData;
use crate::state::Shared;

/// How long a write waits at most for the session's lock (held by a token refresh, which
/// takes at most a few provider round trips, or by another write).
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// How long a write holds the lock at most, should this instance die while holding it.
const LOCK_TTL: Duration = Duration::from_secs(10);

/// The signed-in session of a request, to read and write the app's data in it. In the request
/// extensions of every request authenticated by a session (not by an access token); an axum
/// extractor with the `axum` feature (rejects with 401 when the request has no session).
#[derive(Clone)]
pub struct AppSession {
    shared: Arc<Shared>,
    id: SessionId,
    record: Arc<Record<SessionData>>,
}

impl fmt::Debug for AppSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSession")
            .field("session", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why app data could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppDataError {
    /// The stored value is not a `T` (the app changed the type it stores, say).
    #[error("the session's app data is not of the type asked for: {0}")]
    Decode(#[source] serde_json::Error),
    /// The value could not be serialized.
    #[error("the app data could not be serialized: {0}")]
    Encode(#[source] serde_json::Error),
    /// The value is larger than `app_data_max_bytes` as JSON.
    #[error("the app data is {size} bytes as JSON, more than app_data_max_bytes ({limit})")]
    TooLarge {
        /// Its size as JSON.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The session ended (logout, expiry, sign-out elsewhere) before the write.
    #[error("the session has ended")]
    SessionEnded,
    /// The session's lock stayed taken (a refresh that hangs, say); nothing was written.
    #[error("the session is busy; nothing was written")]
    Busy,
    /// The session store failed; nothing was written.
    #[error("the session store failed: {0}")]
    Store(#[source] session_store::Error),
}

impl AppDataError {
    /// The HTTP status this error answers with: 401 for an ended session, 413 for a value too
    /// large, 503 for a busy session or a failed store, 500 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::SessionEnded => StatusCode::UNAUTHORIZED,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Busy | Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Decode(_) | Self::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl AppSession {
    pub(crate) fn new(
        shared: Arc<Shared>,
        id: SessionId,
        record: Arc<Record<SessionData>>,
    ) -> Self {
        Self { shared, id, record }
    }

    /// The app data as this request's session carries it; `None` when none was set.
    pub fn get<T: DeserializeOwned>(&self) -> Result<Option<T>, AppDataError> {
        self.record
            .data
            .app_data
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(AppDataError::Decode)
    }

    /// Sets the app data to `value`. Writes only when it differs from what the session holds.
    pub async fn set<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), AppDataError> {
        let text = self.encode(value)?;
        self.write(|_| Ok(Some(text))).await
    }

    /// Removes the app data (writes only when there was some).
    pub async fn clear(&self) -> Result<(), AppDataError> {
        self.write(|_| Ok(None)).await
    }

    /// Reads the session's current app data (from the store, under the session's lock), lets
    /// `change` make the new value (`None` removes it), and writes it when it differs: a
    /// read-modify-write that concurrent requests of the session cannot interleave. Returns
    /// what was stored.
    pub async fn update<T, F>(&self, change: F) -> Result<Option<T>, AppDataError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Option<T>) -> Option<T>,
    {
        let mut stored = None;
        self.write(|current| {
            let current = current
                .map(serde_json::from_str)
                .transpose()
                .map_err(AppDataError::Decode)?;
            let next = change(current);
            let text = next.as_ref().map(|v| self.encode(v)).transpose()?;
            stored = next;
            Ok(text)
        })
        .await?;
        Ok(stored)
    }

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Box<str>, AppDataError> {
        let text = serde_json::to_string(value).map_err(AppDataError::Encode)?;
        let limit = self.shared.config.app_data_max_bytes;
        if text.len() > limit {
            return Err(AppDataError::TooLarge {
                size: text.len(),
                limit,
            });
        }
        Ok(text.into_boxed_str())
    }

    /// The one write: under the session's lock, on the session as stored now, only when
    /// `next` makes something else than what is there.
    async fn write(
        &self,
        next: impl FnOnce(Option<&str>) -> Result<Option<Box<str>>, AppDataError>,
    ) -> Result<(), AppDataError> {
        let lease = self.lock().await?;
        let outcome = self.write_locked(next).await;
        if let Err(e) = self.shared.durable.store.unlock(&self.id, &lease).await {
            tracing::warn!(error = %e, "could not release the session's lock (it expires by itself)");
        }
        outcome
    }

    async fn write_locked(
        &self,
        next: impl FnOnce(Option<&str>) -> Result<Option<Box<str>>, AppDataError>,
    ) -> Result<(), AppDataError> {
        let store = &self.shared.durable.store;
        let health = &self.shared.durable.store_health;
        let current = metrics::store_call(health, "load", store.load_fresh(&self.id))
            .await
            .map_err(AppDataError::Store)?
            .ok_or(AppDataError::SessionEnded)?;
        let value = next(current.data.app_data.as_deref())?;
        if value == current.data.app_data {
            return Ok(());
        }
        let mut data = current.data.clone();
        data.app_data = value;
        let record = Record::new(data, current.expires_at).with_tags(current.tags.clone());
        match metrics::store_call(health, "save", store.save(&self.id, record)).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(AppDataError::SessionEnded),
            Err(e) => Err(AppDataError::Store(e)),
        }
    }

    /// The session's lock, waiting for a refresh (or another write) that holds it.
    async fn lock(&self) -> Result<Lease, AppDataError> {
        let store = &self.shared.durable.store;
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            let taken = metrics::store_call(
                &self.shared.durable.store_health,
                "lock",
                store.try_lock(&self.id, LOCK_TTL),
            )
            .await
            .map_err(AppDataError::Store)?;
            if let Some(lease) = taken {
                return Ok(lease);
            }
            if started.elapsed() >= LOCK_WAIT {
                tracing::warn!(session = %self.id, "the session's lock stayed taken; app data not written");
                return Err(AppDataError::Busy);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }
}

/// The app data of the request's session, as a `T`: `AppData(None)` when none was set. An
/// axum extractor (feature `axum`); rejects with 401 without a session and 500 when the stored
/// value is not a `T` (logged). Read-only: write through [`AppSession`].
#[derive(Debug, Clone)]
pub struct AppData<T>(pub Option<T>);

#[cfg(feature = "axum")]
impl AppDataError {
    fn problem(&self) -> crate::pages::Problem {
        let detail = match self {
            Self::SessionEnded => "Your session has ended. Please sign in again.".to_owned(),
            Self::TooLarge { .. } => "The data is too large to keep in your session.".to_owned(),
            Self::Busy | Self::Store(_) => {
                "Your session cannot be updated right now. Please try again in a moment.".to_owned()
            }
            Self::Decode(_) | Self::Encode(_) => {
                "Your session's data could not be read or written.".to_owned()
            }
        };
        crate::pages::Problem::new(self.status(), "Session data", detail)
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum_core::response::{IntoResponse, Response};
    use http::request::Parts;
    use serde::de::DeserializeOwned;

    use super::{AppData, AppDataError, AppSession};

    /// Rejection of [`AppSession`] and [`AppData`]: no session on this request (a public path
    /// without one, a request authenticated by an access token, or no `OidcLayer`), 401.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MissingSession;

    impl std::fmt::Display for MissingSession {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("no session on this request (public path without one, an access token, or OidcLayer not applied)")
        }
    }
    impl std::error::Error for MissingSession {}

    impl IntoResponse for MissingSession {
        fn into_response(self) -> Response {
            crate::pages::Problem::new(
                http::StatusCode::UNAUTHORIZED,
                "Authentication required",
                self.to_string(),
            )
            .into_json_response()
            .map(axum_core::body::Body::new)
        }
    }

    impl IntoResponse for AppDataError {
        fn into_response(self) -> Response {
            tracing::warn!(error = %self, "app data not available");
            self.problem()
                .into_json_response()
                .map(axum_core::body::Body::new)
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for AppSession {
        type Rejection = MissingSession;
        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<AppSession>()
                .cloned()
                .ok_or(MissingSession)
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for AppSession {
        type Rejection = std::convert::Infallible;
        async fn from_request_parts(
            parts: &mut Parts,
            _: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<AppSession>().cloned())
        }
    }

    impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppData<T> {
        type Rejection = Response;
        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            let session = parts
                .extensions
                .get::<AppSession>()
                .ok_or_else(|| MissingSession.into_response())?;
            session
                .get()
                .map(AppData)
                .map_err(IntoResponse::into_response)
        }
    }
}

#[cfg(feature = "axum")]
pub use extract::MissingSession;

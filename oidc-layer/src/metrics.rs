//! Every metric the layer records, in one place: the names, what they count, their labels, and
//! the small functions the flows call.
//!
//! With the feature `metrics`, the layer records through the [`metrics`](https://docs.rs/metrics)
//! crate's facade: nothing is exported until the app installs a recorder (an exporter such as
//! `metrics-exporter-prometheus`), and without one each update is a no-op. Without the feature
//! these functions are empty and the `metrics` crate is not a dependency.
//!
//! Labels are low-cardinality only: a provider's slug (from the configuration), an outcome or
//! reason (a fixed word from this module), an operation or endpoint name. Never a user, a
//! session, a URL or a token.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `oidc_layer_logins_started_total` | counter | `provider` |
//! | `oidc_layer_logins_completed_total` | counter | `provider` |
//! | `oidc_layer_logins_failed_total` | counter | `provider`, `reason` |
//! | `oidc_layer_refreshes_total` | counter | `provider`, `outcome` |
//! | `oidc_layer_logouts_total` | counter | `kind` |
//! | `oidc_layer_backchannel_logouts_total` | counter | `outcome` |
//! | `oidc_layer_store_errors_total` | counter | `operation` |
//! | `oidc_layer_callback_duration_seconds` | histogram | `provider` |
//! | `oidc_layer_store_duration_seconds` | histogram | `operation` |
//! | `oidc_layer_provider_request_duration_seconds` | histogram | `provider`, `endpoint` |
//!
//! The store histogram times the store's round trips (`load` when the store cannot answer from
//! memory, `create`, `save`, `delete`), not the in-memory lookups of the hot path.

#[cfg(feature = "metrics")]
use std::time::{Duration, Instant};

/// Logins sent to a provider (the redirect to its authorization endpoint). Label: `provider`.
pub const LOGINS_STARTED: &str = "oidc_layer_logins_started_total";
/// Logins that ended with a session (or a link). Label: `provider`.
pub const LOGINS_COMPLETED: &str = "oidc_layer_logins_completed_total";
/// Logins that failed, at their start or at the callback. Labels: `provider`, `reason`:
/// `provider_unavailable`, `store_unavailable`, `bad_response` (no state, no code, a repeated
/// parameter), `unknown_state` (expired, tampered or another browser's), `replayed_state`,
/// `provider_mismatch` (another provider's callback or issuer), `provider_error` (`error=`),
/// `code_rejected`, `invalid_token`, `refused` (admission: required claim, role, account; the
/// after-login hook's refusal), `hook_failed` (the after-login hook failed), `internal`.
pub const LOGINS_FAILED: &str = "oidc_layer_logins_failed_total";
/// Token refreshes. Labels: `provider`, `outcome`: `refreshed`, `ended` (refused or invalid:
/// the session ended), `failed_kept` (provider unreachable, the session goes on while its
/// access token lives), `failed_ended` (provider unreachable and the access token due).
pub const REFRESHES: &str = "oidc_layer_refreshes_total";
/// Sessions ended by the browser's logout. Label: `kind` (`local`: this app only; `provider`:
/// also at the provider's end-session endpoint).
pub const LOGOUTS: &str = "oidc_layer_logouts_total";
/// Back-channel logout requests. Label: `outcome` (`accepted`, `refused`: a bad request, an
/// invalid or replayed token, the provider's keys unavailable; `store_error`).
pub const BACKCHANNEL_LOGOUTS: &str = "oidc_layer_backchannel_logouts_total";
/// Session store operations that failed. Label: `operation` (`load`, `create`, `save`,
/// `delete`, `lock`, `delete_tagged`).
pub const STORE_ERRORS: &str = "oidc_layer_store_errors_total";
/// Time from the callback's arrival to its answer. Label: `provider`.
pub const CALLBACK_DURATION: &str = "oidc_layer_callback_duration_seconds";
/// Session store round trips. Label: `operation`.
pub const STORE_DURATION: &str = "oidc_layer_store_duration_seconds";
/// Requests to a provider. Labels: `provider`, `endpoint` (`discovery`, `jwks`, `token`,
/// `userinfo`).
pub const PROVIDER_REQUEST_DURATION: &str = "oidc_layer_provider_request_duration_seconds";

/// Why a login failed: the `reason` label of [`LOGINS_FAILED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginFailure {
    /// The provider could not be reached or its metadata is unusable.
    ProviderUnavailable,
    /// The session store failed (at the start or when the session was created).
    StoreUnavailable,
    /// A malformed authorization response (no state, no code, a repeated parameter).
    BadResponse,
    /// The callback's state matches no login attempt of this browser (expired, tampered, or
    /// another browser's).
    UnknownState,
    /// The callback's state was already used.
    ReplayedState,
    /// The response arrived at another provider's callback, or from another issuer.
    ProviderMismatch,
    /// The provider answered with `error=` (`access_denied` included).
    ProviderError,
    /// The token endpoint refused the code.
    CodeRejected,
    /// The token response or the ID token failed verification.
    InvalidToken,
    /// The verified identity was not admitted (required claim, no role, the account resolver).
    Refused,
    /// The app's after-login hook failed (or panicked, or added what cannot be stored).
    HookFailed,
    /// Anything else that kept the login from starting (the random number generator, a
    /// broken endpoint URL).
    Internal,
}

impl LoginFailure {
    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ProviderUnavailable => "provider_unavailable",
            Self::StoreUnavailable => "store_unavailable",
            Self::BadResponse => "bad_response",
            Self::UnknownState => "unknown_state",
            Self::ReplayedState => "replayed_state",
            Self::ProviderMismatch => "provider_mismatch",
            Self::ProviderError => "provider_error",
            Self::CodeRejected => "code_rejected",
            Self::InvalidToken => "invalid_token",
            Self::Refused => "refused",
            Self::HookFailed => "hook_failed",
            Self::Internal => "internal",
        }
    }
}

/// How a token refresh ended: the `outcome` label of [`REFRESHES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshOutcome {
    /// New tokens, saved.
    Refreshed,
    /// The session cannot be refreshed (refused, invalid, no refresh token): it ended.
    Ended,
    /// The provider could not be asked; the session goes on until its access token expires.
    FailedKept,
    /// The provider could not be asked and the access token is due: the session ended.
    FailedEnded,
    /// The provider could not be asked and the access token has expired: the session is kept
    /// but answered with a 503 until a refresh succeeds (`refresh_failure = "suspend"`).
    FailedSuspended,
}

impl RefreshOutcome {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn as_str(self) -> &'static str {
        match self {
            Self::Refreshed => "refreshed",
            Self::Ended => "ended",
            Self::FailedKept => "failed_kept",
            Self::FailedEnded => "failed_ended",
            Self::FailedSuspended => "failed_suspended",
        }
    }
}

/// When an operation started, for its duration (a no-op without the feature).
#[derive(Clone, Copy)]
pub(crate) struct Timer(#[cfg(feature = "metrics")] Instant);

impl Timer {
    #[cfg(feature = "metrics")]
    pub(crate) fn start() -> Self {
        Self(Instant::now())
    }

    #[cfg(not(feature = "metrics"))]
    #[inline(always)]
    pub(crate) fn start() -> Self {
        Self()
    }

    #[cfg(feature = "metrics")]
    fn elapsed(self) -> Duration {
        self.0.elapsed()
    }
}

#[cfg(feature = "metrics")]
mod record {
    use std::sync::Once;

    use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

    use super::*;

    /// Describes every metric to the installed recorder, once per process (when a layer is
    /// built; an app installs its recorder before that).
    pub(crate) fn describe() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            describe_counter!(LOGINS_STARTED, "Logins sent to the identity provider");
            describe_counter!(LOGINS_COMPLETED, "Logins that ended with a session");
            describe_counter!(LOGINS_FAILED, "Logins that failed, by reason");
            describe_counter!(REFRESHES, "Token refreshes, by outcome");
            describe_counter!(LOGOUTS, "Logouts by the browser, by kind");
            describe_counter!(BACKCHANNEL_LOGOUTS, "Back-channel logouts, by outcome");
            describe_counter!(STORE_ERRORS, "Session store operations that failed");
            describe_histogram!(
                CALLBACK_DURATION,
                Unit::Seconds,
                "Time to answer the login callback"
            );
            describe_histogram!(STORE_DURATION, Unit::Seconds, "Session store round trips");
            describe_histogram!(
                PROVIDER_REQUEST_DURATION,
                Unit::Seconds,
                "Requests to the identity provider"
            );
        });
    }

    pub(crate) fn login_started(provider: &str) {
        counter!(LOGINS_STARTED, "provider" => provider.to_owned()).increment(1);
    }

    pub(crate) fn login_completed(provider: &str) {
        counter!(LOGINS_COMPLETED, "provider" => provider.to_owned()).increment(1);
    }

    pub(crate) fn login_failed(provider: &str, reason: LoginFailure) {
        counter!(LOGINS_FAILED, "provider" => provider.to_owned(), "reason" => reason.as_str())
            .increment(1);
    }

    pub(crate) fn callback_finished(provider: &str, started: Timer) {
        histogram!(CALLBACK_DURATION, "provider" => provider.to_owned()).record(started.elapsed());
    }

    pub(crate) fn refreshed(provider: &str, outcome: RefreshOutcome) {
        counter!(REFRESHES, "provider" => provider.to_owned(), "outcome" => outcome.as_str())
            .increment(1);
    }

    pub(crate) fn logout(kind: &'static str) {
        counter!(LOGOUTS, "kind" => kind).increment(1);
    }

    pub(crate) fn backchannel_logout(outcome: &'static str) {
        counter!(BACKCHANNEL_LOGOUTS, "outcome" => outcome).increment(1);
    }

    pub(crate) fn store_error(operation: &'static str) {
        counter!(STORE_ERRORS, "operation" => operation).increment(1);
    }

    pub(crate) fn store_round_trip(operation: &'static str, started: Timer) {
        histogram!(STORE_DURATION, "operation" => operation).record(started.elapsed());
    }

    pub(crate) fn provider_request(provider: &str, endpoint: &'static str, started: Timer) {
        histogram!(PROVIDER_REQUEST_DURATION, "provider" => provider.to_owned(), "endpoint" => endpoint)
            .record(started.elapsed());
    }
}

#[cfg(not(feature = "metrics"))]
#[allow(clippy::missing_const_for_fn)]
mod record {
    use super::{LoginFailure, RefreshOutcome, Timer};

    #[inline(always)]
    pub(crate) fn describe() {}
    #[inline(always)]
    pub(crate) fn login_started(_: &str) {}
    #[inline(always)]
    pub(crate) fn login_completed(_: &str) {}
    #[inline(always)]
    pub(crate) fn login_failed(_: &str, _: LoginFailure) {}
    #[inline(always)]
    pub(crate) fn callback_finished(_: &str, _: Timer) {}
    #[inline(always)]
    pub(crate) fn refreshed(_: &str, _: RefreshOutcome) {}
    #[inline(always)]
    pub(crate) fn logout(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn backchannel_logout(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn store_error(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn store_round_trip(_: &'static str, _: Timer) {}
    #[inline(always)]
    pub(crate) fn provider_request(_: &str, _: &'static str, _: Timer) {}
}

pub(crate) use record::*;

/// Times `call` as a round trip of the session store's `operation`, counting its failure;
/// its outcome is the store's health (`tracker`) until the next one.
pub(crate) async fn store_call<T, E: std::fmt::Display>(
    tracker: &crate::store_tracker::StoreTracker,
    operation: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Timer::start();
    let result = call.await;
    store_round_trip(operation, started);
    tracker.note(&result);
    if result.is_err() {
        store_error(operation);
    }
    result
}

/// Times `call` as a request to `provider`'s `endpoint`.
pub(crate) async fn provider_call<T>(
    provider: &str,
    endpoint: &'static str,
    call: impl Future<Output = T>,
) -> T {
    let started = Timer::start();
    let result = call.await;
    provider_request(provider, endpoint, started);
    result
}

//! `max_age` at the callback (OpenID Connect Core 3.1.2.1 and 3.1.3.7 item 11): when the
//! authorization request sent `max_age`, the ID token must carry `auth_time`, and the user
//! must have authenticated at most `max_age` (plus the clock leeway) before now. A provider
//! that ignores `max_age` (or a session it reused) cannot pass an old sign-in off as fresh.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use serde_json::{Map, Value};

use super::Failure;
use super::verify::Verified;
use crate::metrics::LoginFailure;
use crate::pages::Problem;

/// Why an ID token does not meet the `max_age` that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthTimeError {
    /// No `auth_time` claim.
    Missing,
    /// `auth_time` is not a number of seconds.
    Invalid,
    /// The user authenticated longer ago than `max_age` allows (seconds ago).
    TooOld(u64),
}

/// Checks `claims`' `auth_time` against `max_age` seconds at `now`, with `leeway`.
pub(super) fn check_auth_time(
    claims: &Map<String, Value>,
    max_age: u64,
    leeway: Duration,
    now: SystemTime,
) -> Result<(), AuthTimeError> {
    let auth_time = claims.get("auth_time").ok_or(AuthTimeError::Missing)?;
    // A JSON number of seconds; a fraction is allowed by NumericDate, rounded down.
    let auth_time = auth_time
        .as_u64()
        .or_else(|| {
            auth_time
                .as_f64()
                .filter(|t| t.is_finite() && *t >= 0.0 && *t < 1e15)
                .map(|t| t as u64)
        })
        .ok_or(AuthTimeError::Invalid)?;
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let deadline = auth_time
        .saturating_add(max_age)
        .saturating_add(leeway.as_secs());
    if deadline < now {
        return Err(AuthTimeError::TooOld(now - auth_time));
    }
    Ok(())
}

/// The callback's step: the attempt's `max_age` (the value that was sent), if any, against
/// the verified ID token's claims; the failure (the "sign in again" page) when it is not met.
pub(super) fn stale_authentication(
    claims: &Map<String, Value>,
    verified: &Verified,
    leeway: Duration,
) -> Option<Failure> {
    let max_age = verified.attempt.max_age?;
    let error = check_auth_time(claims, max_age, leeway, SystemTime::now()).err()?;
    let detail = match error {
        AuthTimeError::Missing | AuthTimeError::Invalid => {
            tracing::warn!(
                max_age,
                ?error,
                "ID token without a usable auth_time although max_age was sent"
            );
            "The identity provider did not say when you signed in, which this sign-in requires. Please try again; if it keeps happening, contact the administrator."
        }
        AuthTimeError::TooOld(ago) => {
            tracing::warn!(
                max_age,
                authenticated_seconds_ago = ago,
                "ID token auth_time older than the max_age sent"
            );
            "This sign-in requires that you have just entered your credentials, but the identity provider reused an older sign-in. Please sign in again."
        }
    };
    Some(Failure::new(
        LoginFailure::InvalidToken,
        Problem::new(
            StatusCode::FORBIDDEN,
            "A recent sign-in is required",
            detail,
        )
        .with_login_url(verified.retry.clone()),
        Some(&verified.state),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(auth_time: Option<Value>) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("sub".into(), "u".into());
        if let Some(t) = auth_time {
            m.insert("auth_time".into(), t);
        }
        m
    }

    const T: u64 = 1_800_000_000;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn recent_enough_passes_at_the_edge_and_fails_past_it() {
        let c = claims(Some(T.into()));
        let leeway = Duration::from_secs(30);
        assert_eq!(check_auth_time(&c, 300, leeway, at(T + 330)), Ok(()));
        assert_eq!(
            check_auth_time(&c, 300, leeway, at(T + 331)),
            Err(AuthTimeError::TooOld(331))
        );
        // max_age=0: only a sign-in within the leeway counts.
        assert_eq!(check_auth_time(&c, 0, leeway, at(T + 5)), Ok(()));
        assert_eq!(
            check_auth_time(&c, 0, Duration::ZERO, at(T + 1)),
            Err(AuthTimeError::TooOld(1))
        );
        // An auth_time in the future is not "too old" (iat/exp bound the token itself).
        assert_eq!(check_auth_time(&c, 0, Duration::ZERO, at(T - 10)), Ok(()));
        // A fractional NumericDate counts by its whole seconds.
        let frac = claims(Some(serde_json::json!(T as f64 + 0.75)));
        assert_eq!(
            check_auth_time(&frac, 10, Duration::ZERO, at(T + 10)),
            Ok(())
        );
    }

    #[test]
    fn missing_or_malformed_auth_time_is_refused() {
        let now = at(T);
        assert_eq!(
            check_auth_time(&claims(None), 600, Duration::from_secs(30), now),
            Err(AuthTimeError::Missing)
        );
        for bad in [
            serde_json::json!("1800000000"),
            serde_json::json!(-5),
            serde_json::json!(null),
            serde_json::json!([T]),
            serde_json::json!(1e300),
        ] {
            assert_eq!(
                check_auth_time(&claims(Some(bad.clone())), 600, Duration::ZERO, now),
                Err(AuthTimeError::Invalid),
                "{bad}"
            );
        }
        // Huge values do not overflow.
        assert_eq!(
            check_auth_time(
                &claims(Some(u64::MAX.into())),
                u64::MAX,
                Duration::from_secs(u64::MAX),
                now
            ),
            Ok(())
        );
    }
}

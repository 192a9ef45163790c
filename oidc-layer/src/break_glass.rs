//! The break-glass guard ([`BreakGlassGuard`], whose docs say how an app's handler uses it)
//! and [`password_matches`].

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Addresses remembered at once; beyond it, new addresses count only towards the overall limit.
const MAX_ADDRESSES: usize = 10_000;

/// Whether `given` is `expected`, in time that does not depend on where they differ or on
/// their lengths (both are hashed first), so response times tell a guesser nothing.
pub fn password_matches(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    bool::from(given.ct_eq(&expected))
}

/// Why [`BreakGlassGuard::check`] refused a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BreakGlassError {
    /// The credentials are wrong (the guess is counted).
    #[error("wrong username or password")]
    WrongCredentials,
    /// Too many guesses failed recently, from this address or overall: the credentials were
    /// not checked. Answer `429 Too Many Requests` with `Retry-After`.
    #[error("too many failed sign-ins; try again in {} seconds", .retry_after.as_secs().max(1))]
    Throttled {
        /// When the window that counted the failures ends.
        retry_after: Duration,
    },
}

/// A limit: at most `failures` failed guesses within `window`.
#[derive(Debug, Clone, Copy)]
struct Limit {
    failures: u32,
    window: Duration,
}

/// Failures counted since `started`.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl Window {
    fn new(now: Instant) -> Self {
        Self {
            started: now,
            failures: 0,
        }
    }

    /// The window itself, or a fresh one when `limit.window` has passed.
    fn current(self, now: Instant, limit: Limit) -> Self {
        if now.saturating_duration_since(self.started) >= limit.window {
            Self::new(now)
        } else {
            self
        }
    }

    /// `Some(time left)` when the limit is reached.
    fn exhausted(&self, now: Instant, limit: Limit) -> Option<Duration> {
        (self.failures >= limit.failures)
            .then(|| (self.started + limit.window).saturating_duration_since(now))
    }
}

#[derive(Debug)]
struct State {
    /// `None` until the first attempt.
    overall: Option<Window>,
    addresses: HashMap<IpAddr, Window>,
}

/// Throttles password guesses at the app's break-glass login, per client address and overall.
///
/// One guard is shared by every request (it is `Send + Sync`; keep it in an `Arc` or the app
/// state). Each [`check`](Self::check) counts as a failure until the password is proven right,
/// so parallel guesses cannot slip past the limit. When an address has `per_address` failures
/// within the window, its further attempts are refused unchecked until that window ends; the
/// same holds for everyone once `overall` failures came from any addresses (a guesser with
/// many addresses). A right password resets its address's count.
///
/// Defaults: 5 failures per address and 20 overall, per 15 minutes. IPv6 addresses count per
/// /64 network (one host usually has a whole /64).
///
/// Which address to pass is the app's decision: the peer address
/// (`axum::extract::ConnectInfo`), or behind a reverse proxy the client address the proxy
/// forwards (only from a proxy the app trusts; the header is otherwise the guesser's choice).
///
/// What guards the app's break-glass login (a local administrator password, see
/// [`OidcLayer::sign_in_local`](crate::OidcLayer::sign_in_local)): a throttle on password
/// guesses per client address and overall, and a constant-time password comparison.
///
/// The layer never sees the password: the app's own handler checks it. A password that works
/// when the identity provider does not is a target for guessing, so that handler should:
///
/// 1. refuse cross-site posts ([`OidcLayer::is_same_origin`](crate::OidcLayer::is_same_origin));
/// 2. check the password through one shared [`BreakGlassGuard`], which refuses further guesses
///    from an address (and from everyone, for guesses spread over many addresses) once too many
///    have failed, until the window that counted them ends;
/// 3. compare with [`password_matches`] (or a password hash's own verify function), which takes
///    the same time wherever the first wrong character is.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use oidc_layer::{BreakGlassError, BreakGlassGuard, password_matches};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let guard = BreakGlassGuard::new(); // shared by every request (an Arc, or app state)
/// let client = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
/// let expected = "correct horse battery staple";
///
/// for _ in 0..5 {
///     let guess = guard.check(client, async { password_matches("guess", expected) }).await;
///     assert!(matches!(guess, Err(BreakGlassError::WrongCredentials)));
/// }
/// // The sixth try within 15 minutes is refused without looking at the password.
/// let right = guard.check(client, async { password_matches(expected, expected) }).await;
/// assert!(matches!(right, Err(BreakGlassError::Throttled { .. })));
/// # }
/// ```
#[derive(Debug)]
pub struct BreakGlassGuard {
    per_address: Limit,
    overall: Limit,
    state: Mutex<State>,
}

impl Default for BreakGlassGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl BreakGlassGuard {
    /// A guard with the default limits (5 per address, 20 overall, per 15 minutes).
    pub fn new() -> Self {
        let window = Duration::from_secs(15 * 60);
        Self {
            per_address: Limit {
                failures: 5,
                window,
            },
            overall: Limit {
                failures: 20,
                window,
            },
            state: Mutex::new(State {
                overall: None,
                addresses: HashMap::new(),
            }),
        }
    }

    /// At most `failures` failed sign-ins from one address within `window`.
    pub fn per_address(mut self, failures: u32, window: Duration) -> Self {
        self.per_address = Limit { failures, window };
        self
    }

    /// At most `failures` failed sign-ins from all addresses together within `window`.
    pub fn overall(mut self, failures: u32, window: Duration) -> Self {
        self.overall = Limit { failures, window };
        self
    }

    /// Checks a sign-in from `client`: refused unchecked when throttled, else `verify` runs
    /// (the app's password check, e.g. `async { password_matches(&given, &expected) }`) and
    /// decides.
    pub async fn check(
        &self,
        client: IpAddr,
        verify: impl Future<Output = bool>,
    ) -> Result<(), BreakGlassError> {
        let client = network_of(client);
        self.reserve(client, Instant::now())?;
        if verify.await {
            self.succeeded(client, Instant::now());
            Ok(())
        } else {
            tracing::warn!(%client, "break-glass sign-in failed");
            Err(BreakGlassError::WrongCredentials)
        }
    }

    /// Counts an attempt of `client` as a failure, unless a limit is reached.
    fn reserve(&self, client: IpAddr, now: Instant) -> Result<(), BreakGlassError> {
        let mut state = self.lock();
        let mut overall = state
            .overall
            .map_or_else(|| Window::new(now), |w| w.current(now, self.overall));
        let address = state
            .addresses
            .get(&client)
            .map(|w| w.current(now, self.per_address));
        let throttled = address
            .and_then(|w| w.exhausted(now, self.per_address))
            .into_iter()
            .chain(overall.exhausted(now, self.overall))
            .max();
        if let Some(retry_after) = throttled {
            tracing::warn!(%client, "break-glass sign-in throttled");
            return Err(BreakGlassError::Throttled { retry_after });
        }
        if address.is_none() && state.addresses.len() >= MAX_ADDRESSES {
            let window = self.per_address.window;
            state
                .addresses
                .retain(|_, w| now.saturating_duration_since(w.started) < window);
        }
        if address.is_some() || state.addresses.len() < MAX_ADDRESSES {
            let mut window = address.unwrap_or_else(|| Window::new(now));
            window.failures += 1;
            state.addresses.insert(client, window);
        }
        overall.failures += 1;
        state.overall = Some(overall);
        Ok(())
    }

    /// Takes back the attempt [`reserve`](Self::reserve) counted, and clears `client`'s count.
    fn succeeded(&self, client: IpAddr, now: Instant) {
        let mut state = self.lock();
        state.addresses.remove(&client);
        if let Some(overall) = &mut state.overall {
            *overall = overall.current(now, self.overall);
            overall.failures = overall.failures.saturating_sub(1);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change is a few plain assignments: a poisoned state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The unit an address is counted as: itself for IPv4, its /64 network for IPv6.
fn network_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, last))
    }

    /// One failed or right attempt at `now`, as [`BreakGlassGuard::check`] makes it.
    fn attempt(guard: &BreakGlassGuard, client: IpAddr, now: Instant, right: bool) -> String {
        let client = network_of(client);
        match guard.reserve(client, now) {
            Err(BreakGlassError::Throttled { retry_after }) => {
                format!("throttled {}s", retry_after.as_secs())
            }
            Err(other) => panic!("reserve refuses only by throttling: {other}"),
            Ok(()) if right => {
                guard.succeeded(client, now);
                "ok".to_owned()
            }
            Ok(()) => "wrong".to_owned(),
        }
    }

    #[test]
    fn passwords_compare_whole() {
        assert!(password_matches("s3cret", "s3cret"));
        for wrong in ["", "s3cre", "s3cret ", "S3cret", "s3cret\0"] {
            assert!(!password_matches(wrong, "s3cret"), "{wrong:?}");
        }
    }

    #[test]
    fn an_address_is_throttled_after_its_failures_until_the_window_ends() {
        let guard = BreakGlassGuard::new().per_address(3, 10 * MINUTE);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(attempt(&guard, v4(1), start, false), "wrong");
        }
        // Even the right password is not checked now.
        assert_eq!(
            attempt(&guard, v4(1), start + MINUTE, true),
            "throttled 540s"
        );
        // Another address is not affected.
        assert_eq!(attempt(&guard, v4(2), start + MINUTE, true), "ok");
        // Once the window has passed, the address may try again.
        assert_eq!(attempt(&guard, v4(1), start + 10 * MINUTE, true), "ok");
    }

    #[test]
    fn a_right_password_clears_its_address() {
        let guard = BreakGlassGuard::new().per_address(3, 10 * MINUTE);
        let now = Instant::now();
        for _ in 0..2 {
            assert_eq!(attempt(&guard, v4(1), now, false), "wrong");
        }
        assert_eq!(attempt(&guard, v4(1), now, true), "ok");
        for _ in 0..3 {
            assert_eq!(attempt(&guard, v4(1), now, false), "wrong");
        }
        assert_eq!(attempt(&guard, v4(1), now, false), "throttled 600s");
    }

    #[test]
    fn guesses_spread_over_addresses_hit_the_overall_limit() {
        let guard = BreakGlassGuard::new()
            .per_address(3, 10 * MINUTE)
            .overall(4, 5 * MINUTE);
        let now = Instant::now();
        for last in 1..=4 {
            assert_eq!(attempt(&guard, v4(last), now, false), "wrong");
        }
        assert_eq!(attempt(&guard, v4(9), now, true), "throttled 300s");
        assert_eq!(attempt(&guard, v4(9), now + 5 * MINUTE, true), "ok");
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address() {
        let guard = BreakGlassGuard::new().per_address(2, 10 * MINUTE);
        let now = Instant::now();
        let host = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last));
        assert_eq!(attempt(&guard, host(1), now, false), "wrong");
        assert_eq!(attempt(&guard, host(2), now, false), "wrong");
        assert_eq!(attempt(&guard, host(3), now, true), "throttled 600s");
        let other = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert_eq!(attempt(&guard, other, now, true), "ok");
        // An IPv4-mapped address is the IPv4 address.
        let mapped = IpAddr::V6(Ipv4Addr::new(198, 51, 100, 1).to_ipv6_mapped());
        assert_eq!(network_of(mapped), v4(1));
    }

    #[tokio::test]
    async fn check_runs_the_verification_only_when_not_throttled() {
        let guard = BreakGlassGuard::new().per_address(1, 10 * MINUTE);
        let ran = std::sync::atomic::AtomicUsize::new(0);
        let verify = |right: bool| {
            let ran = &ran;
            async move {
                ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                right
            }
        };
        assert_eq!(
            guard.check(v4(1), verify(false)).await,
            Err(BreakGlassError::WrongCredentials)
        );
        assert!(matches!(
            guard.check(v4(1), verify(true)).await,
            Err(BreakGlassError::Throttled { .. })
        ));
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(guard.check(v4(2), verify(true)).await, Ok(()));
    }
}

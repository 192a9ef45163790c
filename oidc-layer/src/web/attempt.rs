//! The pending login: state, nonce, PKCE verifier and return-to path, kept in the browser in a
//! short-lived encrypted cookie (AES-256-GCM, the cookie crate's private jar), one per attempt.
//!
//! Keeping it client-side means anonymous traffic never writes to the session store and many
//! tabs can log in at once. The cookie name carries a prefix of the `state`, so the callback
//! finds its attempt directly; the full state is checked in constant time inside the sealed
//! value. At most [`MAX_ATTEMPTS`] attempt cookies are kept: starting another drops the oldest.
//!
//! Every cookie of the host travels in every request's `Cookie` header, which servers and
//! proxies cap (nginx: 8 KB by default). Logins started at once (a browser restoring ten tabs)
//! each add a cookie before any can drop another, so each attempt cookie is kept under
//! [`MAX_ATTEMPT_COOKIE`] bytes (a return-to path too long for it becomes `/`), and at most
//! [`MAX_SCANNED`] attempt cookies of a request are opened.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use cookie::{Cookie, CookieJar, Key};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::cookies::{CookieSettings, request_cookies};
use super::random::random_token;

/// How long a login attempt may take (provider login page included).
pub(crate) const ATTEMPT_TTL: Duration = Duration::from_secs(10 * 60);
/// Attempt cookies kept at once (tabs logging in concurrently).
pub(crate) const MAX_ATTEMPTS: usize = 4;
/// Longest attempt cookie (`name=value`) sent: ten of them, the session cookie and a few more
/// stay under nginx's 8 KB header limit.
pub(crate) const MAX_ATTEMPT_COOKIE: usize = 700;
/// Attempt cookies of one request opened (decrypted) at most; as many more are removed
/// unopened per response (the rest at the next login).
pub(crate) const MAX_SCANNED: usize = 16;
/// Characters of the state that name the cookie (96 bits).
const NAME_CHARS: usize = 16;
/// Length of a state we issued: 32 random bytes, base64url without padding.
const STATE_LEN: usize = 43;

/// One login in flight. `Debug` shows neither the state, the nonce nor the PKCE verifier.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Attempt {
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) pkce_verifier: String,
    pub(crate) return_to: String,
    /// The slug of the provider this login went to: its callback is accepted only at that
    /// provider's callback path (mix-up defence).
    pub(crate) provider: String,
    /// When set, the login links the provider identity to this account of the app instead of
    /// signing anyone in (sealed, so the browser cannot change it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) link_to: Option<String>,
    /// The `max_age` (seconds) the authorization request sent: the ID token's `auth_time`
    /// is checked against this value, not against today's configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_age: Option<u64>,
    /// Whether the request asked for `prompt=none`: the provider's "cannot sign in silently"
    /// answers send the browser back to `return_to` unauthenticated, without an error page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) silent: bool,
    /// Seconds since the Unix epoch.
    pub(crate) created: u64,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .field("link_to", &self.link_to)
            .field("max_age", &self.max_age)
            .field("silent", &self.silent)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Attempt {
    /// A fresh attempt with 256-bit state, nonce and PKCE verifier.
    pub(crate) fn new(
        provider: &str,
        return_to: String,
        link_to: Option<String>,
    ) -> Result<Self, getrandom::Error> {
        Ok(Self {
            state: random_token::<32>()?,
            nonce: random_token::<32>()?,
            pkce_verifier: random_token::<32>()?,
            return_to,
            provider: provider.to_owned(),
            link_to,
            max_age: None,
            silent: false,
            created: unix_now(),
        })
    }

    /// RFC 7636 S256 challenge of the verifier.
    pub(crate) fn pkce_challenge(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(self.pkce_verifier.as_bytes()))
    }

    fn is_expired(&self) -> bool {
        unix_now().saturating_sub(self.created) >= ATTEMPT_TTL.as_secs()
            || self.created > unix_now() + 60
    }
}

/// What `cookie` adds to a `Cookie` header: `name=value`.
fn cookie_len(cookie: &Cookie<'_>) -> usize {
    cookie.name().len() + 1 + cookie.value().len()
}

/// Seals and opens attempt cookies.
pub(crate) struct AttemptCookies {
    /// The first key seals; every key opens (rotation).
    keys: Vec<Key>,
    settings: CookieSettings,
}

impl AttemptCookies {
    pub(crate) fn new(keys: Vec<Key>, settings: CookieSettings) -> Self {
        Self { keys, settings }
    }

    /// The cookie name for a state we could have issued, or `None` for anything else.
    pub(crate) fn name_for(&self, state: &str) -> Option<String> {
        let well_formed = state.len() == STATE_LEN
            && state
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| format!("{}{}", self.settings.attempt_prefix, &state[..NAME_CHARS]))
    }

    /// The `Set-Cookie` carrying `attempt`, encrypted and authenticated (the name is bound in),
    /// at most [`MAX_ATTEMPT_COOKIE`] bytes: with a return-to path too long for that, the
    /// attempt returns to `/`. `None` when even that is too long (or sealing failed).
    pub(crate) fn seal(&self, attempt: &Attempt) -> Option<Cookie<'static>> {
        let sealed = self.seal_as_is(attempt)?;
        if cookie_len(&sealed) <= MAX_ATTEMPT_COOKIE {
            return Some(sealed);
        }
        tracing::warn!(
            return_to_len = attempt.return_to.len(),
            "return-to path too long for the login-attempt cookie; the login returns to /"
        );
        let shorter = Attempt {
            return_to: "/".to_owned(),
            ..attempt.clone()
        };
        let sealed = self.seal_as_is(&shorter)?;
        if cookie_len(&sealed) <= MAX_ATTEMPT_COOKIE {
            return Some(sealed);
        }
        tracing::error!(
            len = cookie_len(&sealed),
            "the login-attempt cookie is too long even without its return-to path"
        );
        None
    }

    fn seal_as_is(&self, attempt: &Attempt) -> Option<Cookie<'static>> {
        let name = self.name_for(&attempt.state)?;
        let json = serde_json::to_string(attempt).ok()?;
        let key = self.keys.first()?;
        let mut jar = CookieJar::new();
        jar.private_mut(key)
            .add(self.settings.build(name, json, ATTEMPT_TTL));
        jar.delta().next().cloned()
    }

    fn open_value(&self, name: &str, value: &str) -> Option<Attempt> {
        let jar = CookieJar::new();
        let plain = self.keys.iter().find_map(|key| {
            jar.private(key)
                .decrypt(Cookie::new(name.to_owned(), value.to_owned()))
        })?;
        serde_json::from_str(plain.value()).ok()
    }

    /// The unexpired attempt whose state equals `state`, from the request's cookies (at most
    /// [`MAX_SCANNED`] of that name are opened: more come only from a tampered header).
    pub(crate) fn open(&self, headers: &HeaderMap, state: &str) -> Option<Attempt> {
        let name = self.name_for(state)?;
        let mut candidates = request_cookies(headers).filter(|(n, _)| *n == name);
        let found = candidates
            .by_ref()
            .take(MAX_SCANNED)
            .filter_map(|(n, v)| self.open_value(n, v))
            .find(|a| bool::from(a.state.as_bytes().ct_eq(state.as_bytes())) && !a.is_expired());
        if found.is_none() && candidates.next().is_some() {
            tracing::warn!(
                scanned = MAX_SCANNED,
                "more login-attempt cookies of one name than are opened; the rest were ignored"
            );
        }
        found
    }

    /// Removals for attempt cookies to drop before adding one more, so at most
    /// [`MAX_ATTEMPTS`] exist: unreadable and expired ones first, then the oldest. Only the
    /// first [`MAX_SCANNED`] are opened; up to as many further ones are removed unopened (the
    /// scan stops there: a header stuffed with thousands costs no more).
    pub(crate) fn evictions(&self, headers: &HeaderMap) -> Vec<Cookie<'static>> {
        // Each name once (the first value of a name counts), with its creation time; 0 for
        // an unreadable or expired one.
        let mut present: Vec<(&str, u64)> = Vec::new();
        let mut unopened: Vec<&str> = Vec::new();
        for (name, value) in
            request_cookies(headers).filter(|(n, _)| n.starts_with(&self.settings.attempt_prefix))
        {
            if present.iter().any(|(n, _)| *n == name) || unopened.contains(&name) {
                continue;
            }
            if present.len() == MAX_SCANNED {
                if unopened.len() == MAX_SCANNED {
                    break;
                }
                unopened.push(name);
                continue;
            }
            let created = self
                .open_value(name, value)
                .filter(|a| !a.is_expired())
                .map_or(0, |a| a.created);
            present.push((name, created));
        }
        if !unopened.is_empty() {
            tracing::warn!(
                opened = MAX_SCANNED,
                removed_unopened = unopened.len(),
                "too many login-attempt cookies; removing some beyond the cap unopened"
            );
        }
        present.sort_by_key(|(_, created)| *created);
        let stale = present
            .iter()
            .take_while(|(_, created)| *created == 0)
            .count();
        let over = (present.len() + 1).saturating_sub(MAX_ATTEMPTS);
        present
            .into_iter()
            .take(stale.max(over))
            .map(|(name, _)| name)
            .chain(unopened)
            .map(|name| self.settings.removal(name.to_owned()))
            .collect()
    }

    /// The `Set-Cookie` removing the attempt cookie of `state`.
    pub(crate) fn removal(&self, state: &str) -> Option<Cookie<'static>> {
        self.name_for(state).map(|n| self.settings.removal(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "oidc_session_0a1b2c3d";
    const PREFIX: &str = "__Host-oidc_session_0a1b2c3d-attempt-";

    fn cookies() -> AttemptCookies {
        AttemptCookies::new(vec![Key::generate()], CookieSettings::new(APP, true))
    }

    fn headers_with(cookies: &[Cookie<'static>]) -> HeaderMap {
        let mut h = HeaderMap::new();
        let line = cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ");
        h.insert(http::header::COOKIE, line.parse().unwrap());
        h
    }

    #[test]
    fn debug_shows_no_secret() {
        let attempt = Attempt::new("kc", "/x".into(), Some("acct-7".into())).unwrap();
        let printed = format!("{attempt:?}");
        for secret in [&attempt.state, &attempt.nonce, &attempt.pkce_verifier] {
            assert!(!printed.contains(secret.as_str()), "{printed}");
        }
        assert!(printed.contains("acct-7"), "{printed}");
    }

    #[test]
    fn roundtrip_and_tamper() {
        let jar = cookies();
        let attempt = Attempt::new("kc", "/whoami?x=1".into(), None).unwrap();
        let sealed = jar.seal(&attempt).unwrap();
        assert!(sealed.name().starts_with(PREFIX), "{}", sealed.name());
        assert!(!sealed.value().contains("whoami"), "the value is encrypted");
        let opened = jar
            .open(&headers_with(std::slice::from_ref(&sealed)), &attempt.state)
            .unwrap();
        assert_eq!(opened.return_to, "/whoami?x=1");
        assert_eq!(opened.nonce, attempt.nonce);

        // Same 16-char prefix, different state: refused.
        let mut other = attempt.state.clone();
        other.replace_range(30..31, if &other[30..31] == "A" { "B" } else { "A" });
        assert!(
            jar.open(&headers_with(std::slice::from_ref(&sealed)), &other)
                .is_none()
        );
        // Another key cannot open it; a flipped byte cannot either.
        assert!(
            cookies()
                .open(&headers_with(std::slice::from_ref(&sealed)), &attempt.state)
                .is_none()
        );
        let mut bad = sealed.clone();
        let mut v = bad.value().to_owned();
        v.replace_range(5..6, if &v[5..6] == "A" { "B" } else { "A" });
        bad.set_value(v);
        assert!(jar.open(&headers_with(&[bad]), &attempt.state).is_none());
        // A cookie value moved under another attempt's name fails (name is associated data).
        let second = Attempt::new("kc", "/".into(), None).unwrap();
        let moved = Cookie::new(
            jar.name_for(&second.state).unwrap(),
            sealed.value().to_owned(),
        );
        assert!(jar.open(&headers_with(&[moved]), &second.state).is_none());
    }

    #[test]
    fn a_previous_key_still_opens_what_it_sealed() {
        let (old, new) = (Key::generate(), Key::generate());
        let settings = || CookieSettings::new(APP, true);
        let before = AttemptCookies::new(vec![old.clone()], settings());
        let during = AttemptCookies::new(vec![new.clone(), old], settings());
        let after = AttemptCookies::new(vec![new], settings());
        let attempt = Attempt::new("kc", "/".into(), None).unwrap();
        let sealed_before = headers_with(&[before.seal(&attempt).unwrap()]);
        assert!(during.open(&sealed_before, &attempt.state).is_some());
        assert!(after.open(&sealed_before, &attempt.state).is_none());
        // New cookies are sealed with the new key: instances still on the old key alone
        // cannot open them (roll out the new key as a previous key first).
        let sealed_during = headers_with(&[during.seal(&attempt).unwrap()]);
        assert!(after.open(&sealed_during, &attempt.state).is_some());
        assert!(before.open(&sealed_during, &attempt.state).is_none());
    }

    #[test]
    fn garbage_states_have_no_cookie_name() {
        let jar = cookies();
        for s in [
            "",
            "short",
            &"a".repeat(44),
            &"a/".repeat(22)[..43],
            "../../../../../../../../../../../../../../..",
        ] {
            assert!(jar.name_for(s).is_none(), "{s}");
        }
    }

    #[test]
    fn expired_attempt_is_refused() {
        let jar = cookies();
        let mut attempt = Attempt::new("kc", "/".into(), None).unwrap();
        attempt.created -= ATTEMPT_TTL.as_secs() + 1;
        let sealed = jar.seal(&attempt).unwrap();
        assert!(jar.open(&headers_with(&[sealed]), &attempt.state).is_none());
    }

    #[test]
    fn cap_evicts_oldest() {
        let jar = cookies();
        let mut sealed = Vec::new();
        for i in 0..MAX_ATTEMPTS as u64 {
            let mut a = Attempt::new("kc", "/".into(), None).unwrap();
            a.created -= 100 - i;
            sealed.push(jar.seal(&a).unwrap());
        }
        let evicted = jar.evictions(&headers_with(&sealed));
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].name(), sealed[0].name());
        assert!(jar.evictions(&headers_with(&sealed[1..])).is_empty());
        let garbage = Cookie::new(format!("{PREFIX}{}", "x".repeat(16)), "garbage");
        let evicted = jar.evictions(&headers_with(&[garbage.clone(), sealed[3].clone()]));
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].name(), garbage.name());
    }

    #[test]
    fn ten_logins_at_once_send_a_cookie_header_under_8_kb() {
        let jar = cookies();
        let session = format!("{}={}", jar.settings.session_name, "A".repeat(43));
        // The longest return-to a browser can ask for, with the characters JSON escapes.
        let longest = format!("/{}", "\"".repeat(crate::web::return_to::MAX_RETURN_TO - 1));
        assert!(crate::web::return_to::sanitize(&longest).is_some());
        for return_to in ["/", "/inbox?page=2", longest.as_str()] {
            let sealed: Vec<Cookie<'static>> = (0..10)
                .map(|_| {
                    let a = Attempt::new("kc", return_to.into(), Some("x".repeat(64))).unwrap();
                    jar.seal(&a).expect("sealed")
                })
                .collect();
            let pairs: Vec<String> = sealed
                .iter()
                .map(|c| format!("{}={}", c.name(), c.value()))
                .chain([session.clone()])
                .collect();
            let header = format!("Cookie: {}", pairs.join("; "));
            assert!(header.len() < 8192, "{} bytes", header.len());
            let opened = jar
                .open(&headers_with(&sealed[..1]), &state_of(&jar, &sealed[0]))
                .expect("opens");
            let expected = if return_to.len() < 200 {
                return_to
            } else {
                "/"
            };
            assert_eq!(opened.return_to, expected, "{return_to:.20}");
        }
    }

    /// The state of a sealed attempt (test helper: opens it with the jar's key).
    fn state_of(jar: &AttemptCookies, sealed: &Cookie<'static>) -> String {
        jar.open_value(sealed.name(), sealed.value()).unwrap().state
    }

    #[test]
    fn at_most_max_scanned_attempt_cookies_are_opened() {
        let jar = cookies();
        let garbage = |i: usize| Cookie::new(format!("{PREFIX}{i:016}"), "garbage");
        let live = jar
            .seal(&Attempt::new("kc", "/".into(), None).unwrap())
            .unwrap();
        // A live attempt within the cap is kept; the garbage around it goes.
        let mut within: Vec<Cookie<'static>> = (0..MAX_SCANNED - 1).map(garbage).collect();
        within.push(live.clone());
        let evicted = jar.evictions(&headers_with(&within));
        assert_eq!(evicted.len(), MAX_SCANNED - 1);
        assert!(evicted.iter().all(|c| c.name() != live.name()));
        // Beyond the cap nothing is opened: what comes next goes, the live one too, and no more
        // than the cap again per response (a stuffed header costs no more).
        let mut beyond: Vec<Cookie<'static>> = (0..MAX_SCANNED + 5).map(garbage).collect();
        beyond.push(live.clone());
        let evicted = jar.evictions(&headers_with(&beyond));
        assert_eq!(evicted.len(), MAX_SCANNED + 6);
        assert!(evicted.iter().any(|c| c.name() == live.name()));
        let stuffed: Vec<Cookie<'static>> = (0..1000).map(garbage).collect();
        assert_eq!(
            jar.evictions(&headers_with(&stuffed)).len(),
            2 * MAX_SCANNED
        );
        // Another app's attempt cookies on the same host are not this app's to remove.
        let other = AttemptCookies::new(
            vec![Key::generate()],
            CookieSettings::new("oidc_session_99999999", true),
        );
        let theirs = other
            .seal(&Attempt::new("kc", "/".into(), None).unwrap())
            .unwrap();
        let evicted = jar.evictions(&headers_with(&[theirs, garbage(1)]));
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].name(), garbage(1).name());
    }

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        let mut a = Attempt::new("kc", "/".into(), None).unwrap();
        a.pkce_verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into();
        assert_eq!(
            a.pkce_challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}

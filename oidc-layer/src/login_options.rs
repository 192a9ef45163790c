//! What an app may ask of one login: [`LoginOptions`] for
//! [`OidcLayer::login_url`](crate::OidcLayer::login_url), and the same parameters as
//! `{prefix}/login` reads them (`login_hint`, `prompt`, `max_age`), validated in one place.
//!
//! ```
//! use std::time::Duration;
//! use oidc_layer::{LoginOptions, OidcConfig, OidcLayer, Prompt};
//!
//! let config = OidcConfig::builder()
//!     .issuer("https://id.example.com")
//!     .client_id("app")
//!     .external_url("https://app.example.com")
//!     .build()
//!     .expect("valid");
//! let layer = OidcLayer::new(config);
//! // "Switch account": the provider asks which account, whatever session it has.
//! let switch = layer
//!     .login_url(&LoginOptions::new("/inbox").prompt(Prompt::SelectAccount))
//!     .expect("valid options");
//! assert_eq!(switch, "/auth/login?return_to=%2Finbox&prompt=select_account");
//! // Step-up before a sensitive action: the provider must authenticate the user now.
//! let step_up = layer
//!     .login_url(&LoginOptions::new("/settings/delete").max_age(Duration::ZERO).login_hint("alice"))
//!     .expect("valid options");
//! assert_eq!(step_up, "/auth/login?return_to=%2Fsettings%2Fdelete&login_hint=alice&max_age=0");
//! ```

use std::time::Duration;

use crate::web::return_to;

/// The longest `login_hint` passed on (an email address or a user name; 256 characters).
pub const MAX_LOGIN_HINT: usize = 256;

/// The longest `max_age` that can be asked for: one year, in seconds.
pub const MAX_MAX_AGE_SECONDS: u64 = 366 * 24 * 3600;

/// The OpenID Connect `prompt` a login asks the provider for (Core 3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Prompt {
    /// `login`: a fresh sign-in, even with a session at the provider (at Google, which knows
    /// no `login`, `select_account` is sent instead).
    Login,
    /// `consent`: ask the user to consent again.
    Consent,
    /// `select_account`: let the user choose (or add) the account to sign in with.
    SelectAccount,
    /// `none`: no page at the provider; signed in when the provider has a session it can
    /// use, else back to the return-to path unauthenticated (no error page).
    None,
}

impl Prompt {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Consent => "consent",
            Self::SelectAccount => "select_account",
            Self::None => "none",
        }
    }

    /// The prompt a `prompt=` value names; `None` for anything else.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        [Self::Login, Self::Consent, Self::SelectAccount, Self::None]
            .into_iter()
            .find(|p| p.as_str() == value)
    }
}

/// Why [`OidcLayer::login_url`](crate::OidcLayer::login_url) refused its options.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginUrlError {
    /// The return-to path is not a same-origin relative path (`/...`, at most 2 KiB).
    #[error("the return-to path must be a same-origin path starting with `/`")]
    ReturnTo,
    /// No provider has this slug.
    #[error("no provider has the slug `{0}`")]
    UnknownProvider(String),
    /// The login hint is empty, longer than [`MAX_LOGIN_HINT`] or holds control characters.
    #[error("the login hint must be 1 to {MAX_LOGIN_HINT} printable characters")]
    LoginHint,
    /// `max_age` is longer than [`MAX_MAX_AGE_SECONDS`].
    #[error("max_age must be at most {MAX_MAX_AGE_SECONDS} seconds")]
    MaxAge,
}

/// One login's options, turned into a same-origin URL of the layer's login route by
/// [`OidcLayer::login_url`](crate::OidcLayer::login_url) (see the [module docs](self)).
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    pub(crate) return_to: String,
    pub(crate) provider: Option<String>,
    pub(crate) params: AuthRequest,
}

impl LoginOptions {
    /// A login that returns to `return_to` (a path of this app, `/...`).
    pub fn new(return_to: impl Into<String>) -> Self {
        Self {
            return_to: return_to.into(),
            ..Self::default()
        }
    }
    /// Signs in with the provider of this slug (default: the only provider, or the chooser).
    pub fn provider(mut self, slug: impl Into<String>) -> Self {
        self.provider = Some(slug.into());
        self
    }
    /// Who is expected to sign in (`login_hint`: an email or user name the provider fills in).
    pub fn login_hint(mut self, hint: impl Into<String>) -> Self {
        self.params.login_hint = Some(hint.into());
        self
    }
    /// The `prompt` to send.
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.params.prompt = Some(prompt);
        self
    }
    /// `max_age`: the user must have authenticated at the provider at most this long ago
    /// (whole seconds; `Duration::ZERO` asks for authentication now, a "step-up"). The ID
    /// token's `auth_time` is checked against it. A provider's own `max_age_seconds`, when
    /// shorter, wins.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.params.max_age = Some(age.as_secs());
        self
    }
}

/// The per-login authorization parameters the login route passes to the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AuthRequest {
    pub(crate) prompt: Option<Prompt>,
    pub(crate) login_hint: Option<String>,
    /// Seconds.
    pub(crate) max_age: Option<u64>,
}

/// Why a login request's parameters were refused (the login route's 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadParam {
    Prompt,
    LoginHint,
    MaxAge,
}

impl BadParam {
    /// What the 400 page says.
    pub(crate) fn detail(&self) -> &'static str {
        match self {
            Self::Prompt => {
                "The sign-in link asks for an unknown prompt (login, consent, select_account or none)."
            }
            Self::LoginHint => "The sign-in link carries an invalid login hint.",
            Self::MaxAge => "The sign-in link carries an invalid max_age.",
        }
    }
}

fn valid_login_hint(hint: &str) -> bool {
    !hint.is_empty()
        && hint.chars().count() <= MAX_LOGIN_HINT
        && !hint.chars().any(char::is_control)
}

impl AuthRequest {
    /// A plain login (no prompt, hint or age).
    pub(crate) fn plain() -> Self {
        Self::default()
    }

    /// One with `prompt` only.
    pub(crate) fn prompting(prompt: Prompt) -> Self {
        Self {
            prompt: Some(prompt),
            ..Self::default()
        }
    }

    /// Reads one query parameter into `self`: `Ok(false)` when it is not one of these.
    pub(crate) fn read(&mut self, key: &str, value: &str) -> Result<bool, BadParam> {
        match key {
            "prompt" => self.prompt = Some(Prompt::parse(value).ok_or(BadParam::Prompt)?),
            "login_hint" => {
                if !valid_login_hint(value) {
                    return Err(BadParam::LoginHint);
                }
                self.login_hint = Some(value.to_owned());
            }
            "max_age" => {
                let age = value
                    .parse::<u64>()
                    .ok()
                    .filter(|a| {
                        *a <= MAX_MAX_AGE_SECONDS && value.bytes().all(|b| b.is_ascii_digit())
                    })
                    .ok_or(BadParam::MaxAge)?;
                self.max_age = Some(age);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The checks [`read`](Self::read) makes, on values set in code.
    fn check(&self) -> Result<(), LoginUrlError> {
        if self
            .login_hint
            .as_deref()
            .is_some_and(|h| !valid_login_hint(h))
        {
            return Err(LoginUrlError::LoginHint);
        }
        if self.max_age.is_some_and(|a| a > MAX_MAX_AGE_SECONDS) {
            return Err(LoginUrlError::MaxAge);
        }
        Ok(())
    }

    /// `&login_hint=..&prompt=..&max_age=..` (those set), percent-encoded, for a login URL.
    pub(crate) fn query_suffix(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        if let Some(hint) = &self.login_hint {
            out.append_pair("login_hint", hint);
        }
        if let Some(prompt) = self.prompt {
            out.append_pair("prompt", prompt.as_str());
        }
        if let Some(age) = self.max_age {
            out.append_pair("max_age", &age.to_string());
        }
        let query = out.finish();
        if query.is_empty() {
            query
        } else {
            format!("&{query}")
        }
    }
}

impl LoginOptions {
    /// Checks the options: the return-to path as the login route would sanitize it.
    pub(crate) fn checked(&self) -> Result<String, LoginUrlError> {
        self.params.check()?;
        return_to::sanitize(&self.return_to).ok_or(LoginUrlError::ReturnTo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_round_trip_and_unknown_ones_are_refused() {
        for p in [
            Prompt::Login,
            Prompt::Consent,
            Prompt::SelectAccount,
            Prompt::None,
        ] {
            assert_eq!(Prompt::parse(p.as_str()), Some(p));
        }
        let mut r = AuthRequest::plain();
        for bad in ["", "LOGIN", "login consent", "none login", "create"] {
            assert_eq!(r.read("prompt", bad), Err(BadParam::Prompt), "{bad}");
        }
    }

    #[test]
    fn login_hints_are_bounded_and_printable() {
        let mut r = AuthRequest::plain();
        assert_eq!(r.read("login_hint", "alice@example.com"), Ok(true));
        assert_eq!(r.login_hint.as_deref(), Some("alice@example.com"));
        let longest = "é".repeat(MAX_LOGIN_HINT);
        assert_eq!(r.read("login_hint", &longest), Ok(true));
        for bad in [
            String::new(),
            "x".repeat(MAX_LOGIN_HINT + 1),
            "a\nb".into(),
            "a\u{0}".into(),
        ] {
            assert_eq!(
                r.read("login_hint", &bad),
                Err(BadParam::LoginHint),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn max_age_is_whole_seconds_within_a_year() {
        let mut r = AuthRequest::plain();
        assert_eq!(r.read("max_age", "0"), Ok(true));
        assert_eq!(r.max_age, Some(0));
        assert_eq!(
            r.read("max_age", &MAX_MAX_AGE_SECONDS.to_string()),
            Ok(true)
        );
        for bad in [
            "",
            "-1",
            "+5",
            "1.5",
            "1e3",
            "99999999999999999999",
            &(MAX_MAX_AGE_SECONDS + 1).to_string(),
        ] {
            assert_eq!(r.read("max_age", bad), Err(BadParam::MaxAge), "{bad}");
        }
        assert_eq!(r.read("return_to", "/x"), Ok(false));
    }

    #[test]
    fn query_suffix_encodes_every_value() {
        assert_eq!(AuthRequest::plain().query_suffix(), "");
        let r = AuthRequest {
            prompt: Some(Prompt::SelectAccount),
            login_hint: Some("a b&c=d+é".into()),
            max_age: Some(0),
        };
        assert_eq!(
            r.query_suffix(),
            "&login_hint=a+b%26c%3Dd%2B%C3%A9&prompt=select_account&max_age=0"
        );
        // What the login route reads back is what was set.
        let mut back = AuthRequest::plain();
        for (k, v) in url::form_urlencoded::parse(&r.query_suffix().as_bytes()[1..]) {
            assert_eq!(back.read(&k, &v), Ok(true));
        }
        assert_eq!(back, r);
    }

    #[test]
    fn options_are_checked_like_the_route_checks_them() {
        assert_eq!(LoginOptions::new("/a?b=1").checked(), Ok("/a?b=1".into()));
        for bad in ["https://evil.example/", "//evil.example", "relative"] {
            assert_eq!(
                LoginOptions::new(bad).checked(),
                Err(LoginUrlError::ReturnTo),
                "{bad}"
            );
        }
        assert_eq!(
            LoginOptions::new("/").login_hint("a\r\nb").checked(),
            Err(LoginUrlError::LoginHint)
        );
        assert_eq!(
            LoginOptions::new("/")
                .max_age(Duration::from_secs(MAX_MAX_AGE_SECONDS + 1))
                .checked(),
            Err(LoginUrlError::MaxAge)
        );
    }
}

//! Why a presented access token is not accepted, and the answer each reason gets (RFC 6750
//! section 3, RFC 9449 section 7.1): a `WWW-Authenticate` challenge with `error` and
//! `error_description`, and a problem+json body. Descriptions are short, fixed texts: never
//! the token, never a piece of it.

use std::borrow::Cow;

use http::{HeaderValue, Response, StatusCode, header};

use super::dpop::{DpopError, challenge_algs};
use super::header::Scheme;
use crate::pages::{PageBody, Problem};

/// Why the bearer path answers instead of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BearerError {
    /// `400 invalid_request`: the `Authorization` header cannot be read.
    InvalidRequest(&'static str),
    /// `401 invalid_token`: the token is malformed, expired, not for this API, badly signed...
    InvalidToken(Cow<'static, str>),
    /// `401 invalid_dpop_proof`: the DPoP proof is missing, malformed, replayed or does not
    /// match the request or the token (RFC 9449 section 7.1).
    InvalidProof(Cow<'static, str>),
    /// `403`: the token is valid but its user may not come in (a required claim, no role, the
    /// account resolver's refusal): the reason is shown.
    Forbidden(String),
    /// `503`: the provider (its keys, its introspection endpoint) or the account store cannot
    /// be reached; not the token's fault.
    Unavailable,
}

impl BearerError {
    pub(crate) fn invalid_token(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidToken(description.into())
    }
    pub(crate) fn invalid_proof(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidProof(description.into())
    }

    /// The answer: `realm` is the app's external URL; `scheme` the one the request used, and
    /// `bound` whether the token is DPoP-bound (then the challenge is a DPoP one).
    pub(crate) fn into_response(
        self,
        realm: &str,
        scheme: Option<Scheme>,
        bound: bool,
    ) -> Response<PageBody> {
        let dpop = bound || scheme == Some(Scheme::Dpop);
        let (status, title, error, detail): (_, _, Option<&str>, Cow<'_, str>) = match &self {
            Self::InvalidRequest(why) => (
                StatusCode::BAD_REQUEST,
                "Invalid request",
                Some("invalid_request"),
                Cow::Borrowed(*why),
            ),
            Self::InvalidToken(why) => (
                StatusCode::UNAUTHORIZED,
                "Invalid access token",
                Some("invalid_token"),
                Cow::Borrowed(why.as_ref()),
            ),
            Self::InvalidProof(why) => (
                StatusCode::UNAUTHORIZED,
                "Invalid DPoP proof",
                Some("invalid_dpop_proof"),
                Cow::Borrowed(why.as_ref()),
            ),
            Self::Forbidden(why) => (
                StatusCode::FORBIDDEN,
                "Access denied",
                None,
                Cow::Borrowed(why.as_str()),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
                None,
                Cow::Borrowed(
                    "The access token cannot be checked right now. Please try again in a moment.",
                ),
            ),
        };
        let mut response =
            Problem::new(status, title, detail.clone().into_owned()).into_json_response();
        if let Some(error) = error {
            let challenge = challenge(
                if dpop { Scheme::Dpop } else { Scheme::Bearer },
                Some(realm),
                Some((error, &detail)),
            );
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response
                    .headers_mut()
                    .append(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// A proof's refusal: `invalid_token` when the token's binding is at fault, else
/// `invalid_dpop_proof` (the classification is `dpop`'s).
impl From<DpopError> for BearerError {
    fn from(e: DpopError) -> Self {
        if e.error_code() == "invalid_token" {
            Self::InvalidToken(e.to_string().into())
        } else {
            Self::InvalidProof(e.to_string().into())
        }
    }
}

/// A `WWW-Authenticate` challenge of `scheme` (RFC 6750 section 3): the `realm` when known, and
/// with an error its `error` and `error_description` (characters outside the quoted-string
/// subset RFC 6750 allows are dropped). A DPoP challenge names the accepted proof algorithms.
pub(crate) fn challenge(
    scheme: Scheme,
    realm: Option<&str>,
    error: Option<(&str, &str)>,
) -> String {
    let mut params = Vec::with_capacity(4);
    if let Some(realm) = realm {
        params.push(format!("realm=\"{}\"", quoted(realm)));
    }
    if scheme == Scheme::Dpop {
        params.push(format!("algs=\"{}\"", challenge_algs()));
    }
    if let Some((error, description)) = error {
        params.push(format!("error=\"{}\"", quoted(error)));
        params.push(format!("error_description=\"{}\"", quoted(description)));
    }
    let name = match scheme {
        Scheme::Bearer => "Bearer",
        Scheme::Dpop => "DPoP",
    };
    if params.is_empty() {
        name.to_owned()
    } else {
        format!("{name} {}", params.join(", "))
    }
}

/// `%x20-21 / %x23-5B / %x5D-7E` only (RFC 6750 section 3): no quote, no backslash, no
/// control or non-ASCII character.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|&c| matches!(c, ' '..='~') && c != '"' && c != '\\')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge_of(response: &Response<PageBody>) -> Option<&str> {
        response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap())
    }

    #[test]
    fn each_error_gets_its_status_and_challenge() {
        let realm = "https://app.example.com";
        let r = BearerError::invalid_token("the access token has expired").into_response(
            realm,
            Some(Scheme::Bearer),
            false,
        );
        assert_eq!(r.status(), 401);
        assert_eq!(
            challenge_of(&r),
            Some(
                "Bearer realm=\"https://app.example.com\", error=\"invalid_token\", error_description=\"the access token has expired\""
            )
        );
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let r = BearerError::InvalidRequest("more than one Authorization header")
            .into_response(realm, None, false);
        assert_eq!(r.status(), 400);
        assert!(
            challenge_of(&r)
                .unwrap()
                .contains("error=\"invalid_request\"")
        );
        // The DPoP scheme, or a bound token under Bearer, gets a DPoP challenge.
        let r =
            BearerError::invalid_proof("replayed").into_response(realm, Some(Scheme::Dpop), true);
        assert_eq!(
            challenge_of(&r),
            Some(format!("DPoP realm=\"https://app.example.com\", algs=\"{}\", error=\"invalid_dpop_proof\", error_description=\"replayed\"", challenge_algs()).as_str())
        );
        let r =
            BearerError::invalid_token("bound").into_response(realm, Some(Scheme::Bearer), true);
        assert!(challenge_of(&r).unwrap().starts_with("DPoP "));
        let r =
            BearerError::Forbidden("no".into()).into_response(realm, Some(Scheme::Bearer), false);
        assert_eq!(
            (r.status(), challenge_of(&r)),
            (StatusCode::FORBIDDEN, None)
        );
        let r = BearerError::Unavailable.into_response(realm, Some(Scheme::Bearer), false);
        assert_eq!(
            (r.status(), challenge_of(&r)),
            (StatusCode::SERVICE_UNAVAILABLE, None)
        );
    }

    #[test]
    fn descriptions_cannot_break_out_of_the_quoted_string() {
        assert_eq!(
            challenge(
                Scheme::Bearer,
                Some("r\"x"),
                Some(("invalid_token", "a\"b\\c\nd\u{e9}"))
            ),
            "Bearer realm=\"rx\", error=\"invalid_token\", error_description=\"abcd\""
        );
        assert_eq!(challenge(Scheme::Bearer, None, None), "Bearer");
        assert_eq!(
            challenge(Scheme::Dpop, None, None),
            format!("DPoP algs=\"{}\"", challenge_algs())
        );
    }
}

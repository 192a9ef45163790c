//! `GET {prefix}/oidc`: the redirect URI. Checks the authorization response against the
//! login attempt (state, RFC 9207 `iss`), exchanges the code with its PKCE verifier, validates
//! the ID token, and only then creates a session under a fresh id.
//!
//! Every failure answers 4xx (or 502/503 when the provider is at fault or down), removes the
//! attempt cookie, writes nothing to the store, and leaves an existing session as it was.

mod admit;
mod create;
mod exchange;
mod hook;
mod max_age;
mod verify;

use http::{HeaderMap, Response, StatusCode};

use super::common::login_url;
use crate::admission::Admitted;
use crate::metrics::{self, LoginFailure};
use crate::pages::after_login;
use crate::pages::{PageBody, Problem};
use crate::state::Shared;
use crate::web::negotiate::wants_html;
use crate::web::{cookies, redirect, silent};
use verify::Checked;

/// A failed callback: why (the metrics' reason), the problem to show and whether the attempt
/// cookie must be removed.
struct Failure {
    reason: LoginFailure,
    problem: Problem,
    state: Option<String>,
}

impl Failure {
    fn new(reason: LoginFailure, problem: Problem, state: Option<&str>) -> Self {
        Self {
            reason,
            problem,
            state: state.map(str::to_owned),
        }
    }
}

fn bad_request(detail: &str, shared: &Shared) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "Sign-in failed", detail)
        .with_login_url(login_url(shared, "/"))
}

/// Handles the callback; never panics and never touches the store on failure.
#[tracing::instrument(name = "oidc.callback", level = "info", skip_all)]
pub(crate) async fn callback(
    shared: &Shared,
    index: usize,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<PageBody> {
    let html = wants_html(headers);
    let started = metrics::Timer::start();
    let slug = shared
        .providers
        .get(index)
        .map_or("unknown", |p| p.settings.slug.as_str());
    let outcome = complete(shared, index, query.unwrap_or(""), headers).await;
    metrics::callback_finished(slug, started);
    match outcome {
        Ok(Completed::Home(response)) => response,
        Ok(Completed::SignedIn(mut response)) => {
            metrics::login_completed(slug);
            // Signed in: once this session ends, a silent sign-in may be tried again.
            if silent::has_marker(headers, &shared.cookies) {
                cookies::append_set_cookie(
                    response.headers_mut(),
                    &silent::marker_removal(&shared.cookies),
                );
            }
            response
        }
        Err(Failure {
            reason,
            problem,
            state,
        }) => {
            metrics::login_failed(slug, reason);
            tracing::warn!(
                status = problem.status().as_u16(),
                reason = reason.as_str(),
                "login rejected"
            );
            // Nobody asked for a silent sign-in: its failure shows no page, the browser goes
            // back where it was, unauthenticated.
            let silent_return = state
                .as_deref()
                .and_then(|s| shared.attempts.open(headers, s))
                .filter(|a| a.silent)
                .map(|a| a.return_to);
            let mut response = match silent_return {
                Some(return_to) => {
                    redirect(&format!("{}{return_to}", shared.config.external.base_path))
                }
                None => problem.into_response(html),
            };
            if let Some(removal) = state.as_deref().and_then(|s| shared.attempts.removal(s)) {
                cookies::append_set_cookie(response.headers_mut(), &removal);
            }
            response
        }
    }
}

/// How a callback that did not fail ended.
enum Completed {
    /// Signed in (or linked): the browser goes where the login started.
    SignedIn(Response<PageBody>),
    /// A stale callback of a signed-in browser: no login happened.
    Home(Response<PageBody>),
}

/// The callback's steps: verify the response, exchange the code, admit the identity, create
/// its session (or finish a link).
async fn complete(
    shared: &Shared,
    index: usize,
    query: &str,
    headers: &HeaderMap,
) -> Result<Completed, Failure> {
    let Some(provider) = shared.providers.get(index) else {
        return Err(Failure::new(
            LoginFailure::BadResponse,
            bad_request("Unknown identity provider.", shared),
            None,
        ));
    };
    let verified = match verify::verify(shared, provider, query, headers).await? {
        Checked::Verified(verified) => verified,
        Checked::Home(response) => return Ok(Completed::Home(response)),
    };
    let mut tokens = exchange::exchange(shared, provider, &verified).await?;
    if let Some(failure) =
        max_age::stale_authentication(&tokens.claims, &verified, shared.config.clock_leeway)
    {
        return Err(failure);
    }
    let claims = std::mem::take(&mut tokens.claims);
    let identity = match admit::admit(shared, provider, &verified, claims).await? {
        Admitted::Identity(identity) => identity,
        Admitted::Linked => {
            // The provider identity now belongs to the signed-in account: nobody else signs in.
            let mut response = after_login(
                &format!(
                    "{}{}",
                    shared.config.external.base_path, verified.attempt.return_to
                ),
                shared.cookies.session_is_strict(),
            );
            if let Some(removal) = shared.attempts.removal(&verified.state) {
                cookies::append_set_cookie(response.headers_mut(), &removal);
            }
            return Ok(Completed::SignedIn(response));
        }
    };
    let additions = hook::run(shared, provider, &verified, &identity, &tokens, headers).await?;
    create::sign_in(
        shared, provider, headers, &verified, identity, tokens, additions,
    )
    .await
    .map(Completed::SignedIn)
}

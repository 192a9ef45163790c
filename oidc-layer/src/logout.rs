//! Logout. `GET {prefix}/logout` shows a confirm button (a link or an image must not be able to
//! log anyone out); `POST {prefix}/logout` from this app's own pages deletes the session and
//! clears the cookie. Provider (RP-initiated) logout builds on this.

use http::{HeaderMap, Response, StatusCode, header};
use session_store::SessionId;

use crate::callback::redirect;
use crate::cookies;
use crate::layer::Shared;
use crate::login::login_url;
use crate::pages::{self, PageBody, Problem, escape};

/// Whether a state-changing request comes from this app's own pages: `Sec-Fetch-Site:
/// same-origin` when the browser sends it, else an `Origin` equal to the external origin.
pub(crate) fn is_same_origin(shared: &Shared, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    headers
        .get(header::ORIGIN)
        .is_some_and(|o| o.as_bytes() == shared.config.external.origin.as_bytes())
}

/// `GET {prefix}/logout`: the confirm page.
pub(crate) fn confirm_page(shared: &Shared) -> Response<PageBody> {
    let action = format!(
        "{}{}/logout",
        shared.config.external.base_path, shared.routes.prefix
    );
    let body = format!(
        "<h1>Sign out?</h1><p>You will be signed out of this app.</p>\
<form id=\"logout\" method=\"post\" action=\"{}\"><div class=\"actions\"><button type=\"submit\">Sign out</button>\
<a class=\"button secondary\" href=\"{}/\">Cancel</a></div></form>",
        escape(&action),
        escape(&shared.config.external.base_path)
    );
    pages::html_response(StatusCode::OK, pages::page("Sign out", &body))
}

/// `GET {prefix}/logged-out`: shown after logout; does not log the user straight back in.
pub(crate) fn logged_out_page(shared: &Shared) -> Response<PageBody> {
    let body = format!(
        "<h1>You are signed out</h1><p>You have been signed out of this app.</p>\
<div class=\"actions\"><a class=\"button\" id=\"login\" href=\"{}\">Sign in again</a>\
<a class=\"button secondary\" href=\"{}/\">Home</a></div>",
        escape(&login_url(shared, "/")),
        escape(&shared.config.external.base_path)
    );
    pages::html_response(StatusCode::OK, pages::page("Signed out", &body))
}

/// `POST {prefix}/logout`: ends the session of this browser.
pub(crate) async fn logout(shared: &Shared, headers: &HeaderMap) -> Response<PageBody> {
    let span = tracing::info_span!("oidc.logout");
    let _guard = span.enter();
    let html = crate::challenge::wants_html(headers);
    if !is_same_origin(shared, headers) {
        tracing::warn!("cross-site logout refused");
        return Problem::new(
            StatusCode::FORBIDDEN,
            "Sign-out refused",
            "Sign-out must be started from this app's own pages.",
        )
        .with_link(
            "Sign out",
            format!(
                "{}{}/logout",
                shared.config.external.base_path, shared.routes.prefix
            ),
        )
        .into_response(html);
    }
    if let Some(id) =
        cookies::find(headers, &shared.cookies.session_name).and_then(SessionId::parse)
    {
        if let Err(e) = shared.store.delete(&id).await {
            tracing::error!(error = %e, "session store failed during logout");
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-out failed",
                "Sessions cannot be changed right now. Please try again.",
            )
            .into_response(html);
        }
        tracing::info!(session = %id, "logged out");
    }
    let target = match &shared.config.post_logout_path {
        Some(path) => format!("{}{path}", shared.config.external.base_path),
        None => format!(
            "{}{}/logged-out",
            shared.config.external.base_path, shared.routes.prefix
        ),
    };
    let mut response = redirect(&target);
    let removal = shared.cookies.removal(shared.cookies.session_name.clone());
    cookies::append_set_cookie(response.headers_mut(), &removal);
    response
}

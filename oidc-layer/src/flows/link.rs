//! Linking a provider identity to an account of the app (Jellyseerr's "Link account" button).
//!
//! A link starts from a signed-in user only: `POST {prefix}/link?provider=slug&return_to=/path`
//! from the app's own pages (same-origin) for users with a session of this layer, or
//! [`OidcLayer::start_link`](crate::OidcLayer::start_link) from the app's own handler for users
//! signed in some other way (a local password). The account id travels sealed in the login
//! attempt, so the browser cannot change whose account gets the link; after the provider
//! login, the account resolver links `(provider, sub)` to it and nobody else is signed in.

use http::{HeaderMap, Response, StatusCode};

use super::authorize;
use super::common::login_url;
use crate::pages::{PageBody, Problem};
use crate::session::current::{self, Expired};
use crate::state::Shared;
use crate::web::negotiate::wants_html;
use crate::web::origin::is_same_origin;
use crate::web::{query, return_to};

/// `POST {prefix}/link?provider=slug[&return_to=/path]`.
pub(crate) async fn link_route(
    shared: &Shared,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<PageBody> {
    let html = wants_html(headers);
    if !is_same_origin(headers, &shared.config.external.origin) {
        tracing::warn!("cross-site link request refused");
        return Problem::new(
            StatusCode::FORBIDDEN,
            "Linking refused",
            "Linking must be started from this app's own pages.",
        )
        .into_response(html);
    }
    let (mut provider, mut return_to) = (None, None);
    for (key, value) in query::pairs(query) {
        match key.as_ref() {
            "provider" => provider = Some(value.into_owned()),
            "return_to" => {
                return_to =
                    return_to::sanitize(&value).map(|path| shared.config.return_to_in_app(path));
            }
            _ => {}
        }
    }
    let return_to = return_to.unwrap_or_else(|| "/".to_owned());
    // As linking always did: the account of the record, whatever its deadline.
    let session = current::find(shared, headers, Expired::Included)
        .await
        .ok()
        .flatten();
    let Some(account) = session
        .as_ref()
        .and_then(|(_, s)| s.data.identity.account().map(str::to_owned))
    else {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "Sign in first",
            "Only a signed-in user can link another sign-in method.",
        )
        .with_login_url(login_url(shared, &return_to))
        .into_response(html);
    };
    start(shared, headers, account, provider.as_deref(), return_to).await
}

/// Starts a link of provider `slug` to `account` (also behind [`OidcLayer::start_link`]).
pub(crate) async fn start(
    shared: &Shared,
    headers: &HeaderMap,
    account: String,
    slug: Option<&str>,
    return_to: String,
) -> Response<PageBody> {
    let html = wants_html(headers);
    let index = match slug {
        Some(slug) => shared.provider(slug).map(|(i, _)| i),
        None if shared.providers.len() == 1 => Some(0),
        None => None,
    };
    let Some(index) = index else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "Unknown sign-in provider",
            "Name the provider to link with `provider=`.",
        )
        .into_response(html);
    };
    authorize::start(shared, index, headers, return_to, Some(account)).await
}

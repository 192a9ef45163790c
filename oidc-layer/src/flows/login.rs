//! `GET {prefix}/login`: starting a login, with the provider chooser when there are several
//! providers (the redirect itself is [`authorize`](super::authorize)'s).

use http::{HeaderMap, Response, StatusCode};

use super::authorize::start_with;
use super::common::{login_url, provider_login_url};
use crate::custom_pages::{ChooserPage, ProviderChoice};
use crate::login_options::AuthRequest;
use crate::pages::frame::Frame;
use crate::pages::{LayerPage, PageBody, PageContent, Problem};
use crate::state::Shared;
use crate::web::{query, redirect, return_to};

/// `GET {prefix}/login?return_to=/path[&provider=slug][&backup=1][&prompt=..][&login_hint=..][&max_age=..]`.
pub(crate) async fn login_route(
    shared: &Shared,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<PageBody> {
    let (mut return_to, mut provider, mut backup) = (None, None, false);
    let mut request = AuthRequest::plain();
    let html = crate::web::negotiate::wants_html(headers);
    for (key, value) in query::pairs(query) {
        match key.as_ref() {
            "return_to" => {
                return_to =
                    return_to::sanitize(&value).map(|path| shared.config.return_to_in_app(path));
            }
            "provider" => provider = Some(value.into_owned()),
            "backup" => backup = value == "1" || value == "true",
            other => {
                if let Err(bad) = request.read(other, &value) {
                    tracing::info!(
                        parameter = other,
                        "login request refused: invalid parameter"
                    );
                    return Problem::new(
                        StatusCode::BAD_REQUEST,
                        "Invalid sign-in link",
                        bad.detail(),
                    )
                    .with_link("Sign in", login_url(shared, "/"))
                    .into_response(html);
                }
            }
        }
    }
    let return_to = return_to.unwrap_or_else(|| "/".to_owned());
    if backup {
        return match &shared.config.backup_login_path {
            Some(path) => redirect(&format!("{}{path}", shared.config.external.base_path)),
            None => Problem::new(
                StatusCode::NOT_FOUND,
                "No backup login",
                "This app has no backup login configured.",
            )
            .into_response(html),
        };
    }
    match provider {
        Some(slug) => match shared.provider(&slug) {
            Some((index, _)) => start_with(shared, index, headers, return_to, None, &request).await,
            None => Problem::new(
                StatusCode::BAD_REQUEST,
                "Unknown sign-in provider",
                "There is no such sign-in provider.",
            )
            .with_link("Choose a provider", login_url(shared, &return_to))
            .into_response(html),
        },
        None if shared.providers.len() == 1 => {
            start_with(shared, 0, headers, return_to, None, &request).await
        }
        None => chooser_page(shared, &return_to, &request),
    }
}

/// The provider chooser: one accessible link per provider, with its logo.
pub(crate) fn chooser(shared: &Shared, return_to: &str) -> Response<PageBody> {
    chooser_page(shared, return_to, &AuthRequest::plain())
}

/// [`chooser`]; its links carry the login's parameters (`prompt`, `login_hint`, `max_age`).
fn chooser_page(shared: &Shared, return_to: &str, request: &AuthRequest) -> Response<PageBody> {
    let suffix = request.query_suffix();
    // A `/path` logo is the app's own file: behind the external URL's prefix.
    let base = &shared.config.external.base_path;
    let providers = shared
        .providers
        .iter()
        .map(|p| {
            let mut href = provider_login_url(shared, &p.settings.slug, return_to);
            href.push_str(&suffix);
            ProviderChoice {
                name: p.settings.name.clone(),
                slug: p.settings.slug.clone(),
                href,
                logo: p.settings.logo.as_deref().map(|src| {
                    if src.starts_with('/') {
                        format!("{base}{src}")
                    } else {
                        src.to_owned()
                    }
                }),
            }
        })
        .collect();
    let page = ChooserPage {
        frame: Frame::default(),
        providers,
        backup_login: shared
            .config
            .backup_login_path
            .as_ref()
            .map(|path| format!("{base}{path}")),
    };
    // The page's CSP allows images from these origins too, so logos at https URLs show.
    let logo_origins: Vec<String> = shared
        .providers
        .iter()
        .filter_map(|p| p.settings.logo.as_deref())
        .filter(|logo| logo.starts_with("http"))
        .filter_map(|logo| url::Url::parse(logo).ok())
        .map(|url| url.origin().ascii_serialization())
        .collect();
    LayerPage::new(StatusCode::OK, PageContent::Chooser(page))
        .allow_images_from(logo_origins)
        .into_response()
}

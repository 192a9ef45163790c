//! `/preferences`: the app's own data in the session. The after-login hook ([`after_login`])
//! puts the person's preferences in their new session (and refuses anyone whose username
//! starts with `blocked`); the page reads them with the `AppData` extractor and a same-origin
//! form changes them through `AppSession` (written only when they change).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use oidc_layer::{
    AfterLoginError, AppData, AppSession, Identity, Login, LoginAdditions, OidcLayer,
};
use serde::{Deserialize, Serialize};

/// What the demo keeps in a session besides the identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    /// `light` or `dark`.
    pub theme: String,
    /// The provider the person signed in with (the hook's `Login::provider`).
    pub signed_in_with: String,
    /// When, in seconds since the Unix epoch.
    pub signed_in_at: u64,
}

/// The demo's after-login hook: refuses usernames starting with `blocked` (with a message
/// shown on the refusal page), and gives everyone else's session its [`Preferences`].
pub async fn after_login(login: Login) -> Result<LoginAdditions, AfterLoginError> {
    if login.identity().username().starts_with("blocked") {
        return Err(AfterLoginError::refused(
            "This demo refuses accounts whose username starts with \"blocked\".",
        ));
    }
    let signed_in_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    LoginAdditions::new().app_data(&Preferences {
        theme: "light".into(),
        signed_in_with: login.provider().to_owned(),
        signed_in_at,
    })
}

pub(crate) async fn show(
    identity: Identity,
    AppData(preferences): AppData<Preferences>,
) -> Html<String> {
    let body = html! {
        h1 { "Preferences" }
        p { "Signed in as " strong id="name" { (crate::display_name(&identity)) } "." }
        @match &preferences {
            Some(p) => {
                p id="signed-in-with" {
                    "You signed in with " code { (p.signed_in_with) }
                    " (Unix time " (p.signed_in_at) ")."
                }
                form method="post" action="/preferences" {
                    label for="theme" { "Theme " }
                    select id="theme" name="theme" {
                        @for theme in ["light", "dark"] {
                            option value=(theme) selected[p.theme == theme] { (theme) }
                        }
                    }
                    " "
                    button type="submit" id="save" { "Save" }
                }
                p id="theme-now" { "Your theme: " strong { (p.theme) } }
            }
            None => p id="none" { "This session has no preferences (it began before the after-login hook was installed)." }
        }
        p { a href="/" { "Home" } }
    };
    crate::page("Preferences", body)
}

#[derive(Deserialize)]
pub(crate) struct ThemeForm {
    theme: String,
}

pub(crate) async fn save(
    State(layer): State<OidcLayer>,
    session: AppSession,
    headers: HeaderMap,
    Form(form): Form<ThemeForm>,
) -> Response {
    if !layer.is_same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin form refused").into_response();
    }
    let theme = form.theme;
    if theme != "light" && theme != "dark" {
        return (StatusCode::BAD_REQUEST, "theme: light or dark").into_response();
    };
    let saved = session
        .update(|preferences: Option<Preferences>| preferences.map(|p| Preferences { theme, ..p }))
        .await;
    match saved {
        Ok(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/preferences")]).into_response(),
        Err(e) => e.into_response(),
    }
}

//! The app's own versions of the layer's pages: implement [`PageRenderer`] for the pages to
//! replace and install it with [`OidcLayer::with_pages`](crate::OidcLayer::with_pages); every
//! method left out renders the built-in page (with the configured [`Branding`]).
//!
//! ```
//! use oidc_layer::custom_pages::{PageRenderer, SignedOutPage};
//! use oidc_layer::{OidcConfig, OidcLayer};
//!
//! /// Replaces the signed-out page; every other page stays the layer's.
//! struct MyPages;
//!
//! impl PageRenderer for MyPages {
//!     fn signed_out(&self, page: &SignedOutPage) -> String {
//!         // Values from the page are HTML-escaped by the template engine (maud here).
//!         maud::html! {
//!             (maud::DOCTYPE)
//!             html lang="en" {
//!                 head { title { "Goodbye" } link rel="stylesheet" href="/static/app.css"; }
//!                 body {
//!                     h1 { "See you soon" }
//!                     a href=(page.sign_in_href()) { "Sign in again" }
//!                 }
//!             }
//!         }
//!         .into_string()
//!     }
//! }
//!
//! let config = OidcConfig::builder()
//!     .issuer("https://id.example.com")
//!     .client_id("app")
//!     .external_url("https://app.example.com")
//!     .build()
//!     .expect("valid");
//! let layer = OidcLayer::new(config).with_pages(MyPages);
//! ```
//!
//! # What a page's HTML must respect
//!
//! The layer keeps every protective header on a replaced page: `Cache-Control: no-store`,
//! `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and this
//! `Content-Security-Policy`:
//!
//! ```text
//! default-src 'none'; style-src 'self' 'sha256-<the layer's stylesheet>';
//! img-src 'self' data: <logo origins>; form-action 'self' <end-session origins>;
//! frame-ancestors 'none'
//! ```
//!
//! So a page runs no script, loads stylesheets and images from the app's own origin (or the
//! configured logo origins, or `data:` images), and may embed the layer's own stylesheet with
//! [`ProblemPage::style_element`] (and the same method on the other pages) but no other inline
//! `<style>` or `style=""`. Escape every value you put in the HTML (use a template engine
//! that escapes by default). The chooser's and the logout form's URLs are the layer's routes:
//! keep them as given. API clients keep getting `application/problem+json`, which is not
//! replaced.

use http::StatusCode;
use maud::{Markup, html};

use crate::config::Branding;
use crate::pages::frame::Frame;
use crate::pages::with_code;

/// Replaces any of the layer's pages. Each method gets what its page shows (never a token
/// or a secret) and returns a complete HTML document; the default renders the built-in page.
/// The layer sets the status and the protective headers (see the [module docs](self)).
pub trait PageRenderer: Send + Sync + 'static {
    /// The provider chooser (`GET {prefix}/login` with several providers).
    fn chooser(&self, page: &ChooserPage) -> String {
        page.default_html()
    }
    /// A request or a sign-in that failed (400, 401, 404: a bad link, an expired attempt,
    /// a provider's `error=`).
    fn error(&self, page: &ProblemPage) -> String {
        page.default_html()
    }
    /// A sign-in that succeeded at the provider but is not allowed into the app (403: no
    /// role, a required claim, the account resolver's refusal).
    fn refusal(&self, page: &ProblemPage) -> String {
        page.default_html()
    }
    /// A signed-in person who may not open a page (403 of `RequireRole`, `RequireClaim`,
    /// `RequireIdentity`; `RequireScope` answers problem+json only).
    fn forbidden(&self, page: &ProblemPage) -> String {
        page.default_html()
    }
    /// The provider or a store failing (503 unreachable, 502 unusable answers or metadata).
    fn unavailable(&self, page: &ProblemPage) -> String {
        page.default_html()
    }
    /// The logout confirmation (`GET {prefix}/logout`): a form that POSTs to
    /// [`LogoutConfirmPage::form_action`].
    fn logout_confirm(&self, page: &LogoutConfirmPage) -> String {
        page.default_html()
    }
    /// The signed-out page (`GET {prefix}/logged-out`).
    fn signed_out(&self, page: &SignedOutPage) -> String {
        page.default_html()
    }
}

/// An app's pages shared behind an `Arc` (one renderer for several layers, or chosen at run
/// time as `Arc<dyn PageRenderer>`).
impl<T: PageRenderer + ?Sized> PageRenderer for std::sync::Arc<T> {
    fn chooser(&self, page: &ChooserPage) -> String {
        (**self).chooser(page)
    }
    fn error(&self, page: &ProblemPage) -> String {
        (**self).error(page)
    }
    fn refusal(&self, page: &ProblemPage) -> String {
        (**self).refusal(page)
    }
    fn forbidden(&self, page: &ProblemPage) -> String {
        (**self).forbidden(page)
    }
    fn unavailable(&self, page: &ProblemPage) -> String {
        (**self).unavailable(page)
    }
    fn logout_confirm(&self, page: &LogoutConfirmPage) -> String {
        (**self).logout_confirm(page)
    }
    fn signed_out(&self, page: &SignedOutPage) -> String {
        (**self).signed_out(page)
    }
}

/// What all pages share: the branding, and the layer's stylesheet.
macro_rules! frame_accessors {
    ($($page:ident),*) => {$(
        impl $page {
            /// The configured branding (app name, logo, colours, help link).
            pub fn branding(&self) -> &Branding {
                &self.frame.branding
            }
            /// The layer's `<style>` element (the page's CSP allows exactly this inline
            /// style), for a page that wants the built-in look.
            pub fn style_element(&self) -> String {
                self.frame.style_element().into_string()
            }
            /// A configured `/path` (logo, help link) as the browser requests it: behind the
            /// external URL's path prefix. Other URLs are returned as they are.
            pub fn app_url(&self, url: &str) -> String {
                self.frame.app_url(url)
            }
        }
    )*};
}
frame_accessors!(ChooserPage, ProblemPage, LogoutConfirmPage, SignedOutPage);

/// The provider chooser's content.
#[derive(Debug, Clone)]
pub struct ChooserPage {
    pub(crate) frame: Frame,
    pub(crate) providers: Vec<ProviderChoice>,
    pub(crate) backup_login: Option<String>,
}

/// One provider on the chooser.
#[derive(Debug, Clone)]
pub struct ProviderChoice {
    pub(crate) name: String,
    pub(crate) slug: String,
    pub(crate) href: String,
    pub(crate) logo: Option<String>,
}

impl ProviderChoice {
    /// The name shown to people ("Sign in with {name}").
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The provider's slug (stable, URL-safe: good for element ids).
    pub fn slug(&self) -> &str {
        &self.slug
    }
    /// Where its sign-in starts (the layer's route, with the return path).
    pub fn href(&self) -> &str {
        &self.href
    }
    /// Its logo URL as the browser requests it, if one is configured.
    pub fn logo(&self) -> Option<&str> {
        self.logo.as_deref()
    }
}

/// The first letter or digit of `name`, upper-cased (the chooser's stand-in for a logo).
fn initial(name: &str) -> String {
    name.chars()
        .find(|c| c.is_alphanumeric())
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}

impl ChooserPage {
    /// The providers, in configuration order.
    pub fn providers(&self) -> &[ProviderChoice] {
        &self.providers
    }
    /// The app's backup (administrator) login, when configured.
    pub fn backup_login(&self) -> Option<&str> {
        self.backup_login.as_deref()
    }
    /// The built-in chooser.
    pub fn default_html(&self) -> String {
        // The link text names the provider, so the logo is decorative (empty alt). Without a
        // logo, the name's first letter (drawn by CSS, hidden from screen readers) keeps the
        // rows aligned.
        let body = html! {
            h1 { "Sign in" }
            p { "Choose how you want to sign in." }
            nav aria-label="Sign-in providers" {
                ul class="providers" {
                    @for p in &self.providers {
                        li {
                            a class="provider" id={ "provider-" (p.slug) } href=(p.href) {
                                @match &p.logo {
                                    Some(src) => {
                                        img class="logo" src=(src) alt="" width="28" height="28";
                                    }
                                    None => {
                                        span class="logo" aria-hidden="true"
                                            data-initial=(initial(&p.name)) {}
                                    }
                                }
                                span { "Sign in with " (p.name) }
                            }
                        }
                    }
                }
            }
            @if let Some(href) = &self.backup_login {
                p class="backup" {
                    a href=(href) id="backup-login" { "Administrator sign-in" }
                }
            }
        };
        self.frame.page("Sign in", body)
    }
}

/// Which kind of failure a [`ProblemPage`] shows (which [`PageRenderer`] method renders it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// [`PageRenderer::error`].
    Error,
    /// [`PageRenderer::refusal`].
    Refusal,
    /// [`PageRenderer::forbidden`].
    Forbidden,
    /// [`PageRenderer::unavailable`].
    Unavailable,
}

/// A link or button on a failure page.
#[derive(Debug, Clone)]
pub struct PageAction {
    pub(crate) label: String,
    pub(crate) href: String,
    pub(crate) backup_login: bool,
}

impl PageAction {
    /// The button's text ("Try again", "Sign in with another account", "Home", ...).
    pub fn label(&self) -> &str {
        &self.label
    }
    /// Where it leads.
    pub fn href(&self) -> &str {
        &self.href
    }
    /// Whether this is the app's backup (administrator) login, offered only while the
    /// provider is failing.
    pub fn is_backup_login(&self) -> bool {
        self.backup_login
    }
}

/// A failure explained to a person: the error, refusal, forbidden and unavailable pages.
#[derive(Debug, Clone)]
pub struct ProblemPage {
    pub(crate) frame: Frame,
    pub(crate) kind: ProblemKind,
    pub(crate) status: StatusCode,
    pub(crate) title: String,
    pub(crate) detail: String,
    pub(crate) actions: Vec<PageAction>,
}

impl ProblemPage {
    /// Which kind of failure this is.
    pub fn kind(&self) -> ProblemKind {
        self.kind
    }
    /// The response's status (the layer sets it; this is for the page's wording).
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The heading ("No access to this app", ...).
    pub fn title(&self) -> &str {
        &self.title
    }
    /// The explanation, as plain text; names in backticks (a claim, a role) are what the
    /// built-in page shows as code.
    pub fn detail(&self) -> &str {
        &self.detail
    }
    /// The ways out, the main one first.
    pub fn actions(&self) -> &[PageAction] {
        &self.actions
    }
    /// The built-in page.
    pub fn default_html(&self) -> String {
        let body = html! {
            h1 { (self.title) }
            p class="detail" id="detail" { (with_code(&self.detail)) }
            div class="actions" {
                @for (i, action) in self.actions.iter().enumerate() {
                    a class=(if i == 0 { "button" } else { "button secondary" }) href=(action.href) {
                        (action.label)
                    }
                }
            }
        };
        self.frame.page(&self.title, body)
    }
}

/// The logout confirmation: a button that POSTs the form (a link or an image must not be
/// able to sign anyone out).
#[derive(Debug, Clone)]
pub struct LogoutConfirmPage {
    pub(crate) frame: Frame,
    pub(crate) form_action: String,
    pub(crate) cancel_href: String,
}

impl LogoutConfirmPage {
    /// The form's `action`: `<form method="post" action="...">` with a submit button (no
    /// fields needed; the layer accepts the POST from this app's own pages only).
    pub fn form_action(&self) -> &str {
        &self.form_action
    }
    /// Where "Cancel" leads (the app's home).
    pub fn cancel_href(&self) -> &str {
        &self.cancel_href
    }
    /// The built-in page.
    pub fn default_html(&self) -> String {
        let body: Markup = html! {
            h1 { "Sign out?" }
            p { "You will be signed out of this app." }
            form id="logout" method="post" action=(self.form_action) {
                div class="actions" {
                    button type="submit" { "Sign out" }
                    a class="button secondary" href=(self.cancel_href) { "Cancel" }
                }
            }
        };
        self.frame.page("Sign out", body)
    }
}

/// The signed-out page.
#[derive(Debug, Clone)]
pub struct SignedOutPage {
    pub(crate) frame: Frame,
    pub(crate) sign_in_href: String,
    pub(crate) home_href: String,
}

impl SignedOutPage {
    /// Where "Sign in again" leads (the layer's login route).
    pub fn sign_in_href(&self) -> &str {
        &self.sign_in_href
    }
    /// The app's home.
    pub fn home_href(&self) -> &str {
        &self.home_href
    }
    /// The built-in page.
    pub fn default_html(&self) -> String {
        let body = html! {
            h1 { "You are signed out" }
            p { "You have been signed out of this app." }
            div class="actions" {
                a class="button" id="login" href=(self.sign_in_href) { "Sign in again" }
                a class="button secondary" href=(self.home_href) { "Home" }
            }
        };
        self.frame.page("Signed out", body)
    }
}

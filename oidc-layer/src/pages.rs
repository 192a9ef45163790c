//! The small HTML pages people see (chooser, errors, refusals, logout confirm, signed out)
//! and the `application/problem+json` (RFC 9457) answers API clients get. Neither ever
//! contains a token, a secret, or internal error details beyond a short reason.
//!
//! A page is built as a [`LayerPage`] (what it shows) and rendered with the default look at
//! once, so it is complete wherever it is answered (a guard without the layer in front). The
//! page also travels in the response's extensions: [`OidcService`](crate::OidcService)
//! renders it again on the way out with the app's [`Branding`](crate::Branding) and
//! [`PageRenderer`], when the app has either ([`rebrand`]).

#[cfg(test)]
mod branded_tests;
pub(crate) mod frame;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use maud::{Markup, html};

use crate::custom_pages::{
    ChooserPage, LogoutConfirmPage, PageAction, PageRenderer, ProblemKind, ProblemPage,
    SignedOutPage,
};
use crate::state::Shared;
use frame::{Frame, style_hash};

pub(crate) use crate::web::redirect::PageBody;

/// `text` whose backtick-quoted names (a claim, a role, a parameter) show as code, as the
/// same text reads in problem+json and logs. An unpaired backtick stays as it is.
pub(crate) fn with_code(text: &str) -> Markup {
    let parts: Vec<&str> = text.split('`').collect();
    let paired = parts.len() - (parts.len() + 1) % 2;
    html! {
        @for (i, part) in parts.iter().enumerate() {
            @if i >= paired {
                "`" (part)
            } @else if i % 2 == 1 {
                code { (part) }
            } @else {
                (part)
            }
        }
    }
}

/// What a page of the layer shows.
#[derive(Debug, Clone)]
pub(crate) enum PageContent {
    Chooser(ChooserPage),
    Problem(ProblemPage),
    LogoutConfirm(LogoutConfirmPage),
    SignedOut(SignedOutPage),
}

impl PageContent {
    fn set_frame(&mut self, frame: Frame) {
        match self {
            Self::Chooser(p) => p.frame = frame,
            Self::Problem(p) => p.frame = frame,
            Self::LogoutConfirm(p) => p.frame = frame,
            Self::SignedOut(p) => p.frame = frame,
        }
    }

    fn frame(&self) -> &Frame {
        match self {
            Self::Chooser(p) => &p.frame,
            Self::Problem(p) => &p.frame,
            Self::LogoutConfirm(p) => &p.frame,
            Self::SignedOut(p) => &p.frame,
        }
    }

    /// The HTML: the app's renderer for this kind of page, or the built-in page.
    fn html(&self, renderer: Option<&dyn PageRenderer>) -> String {
        let Some(r) = renderer else {
            return match self {
                Self::Chooser(p) => p.default_html(),
                Self::Problem(p) => p.default_html(),
                Self::LogoutConfirm(p) => p.default_html(),
                Self::SignedOut(p) => p.default_html(),
            };
        };
        match self {
            Self::Chooser(p) => r.chooser(p),
            Self::Problem(p) => match p.kind {
                ProblemKind::Error => r.error(p),
                ProblemKind::Refusal => r.refusal(p),
                ProblemKind::Forbidden => r.forbidden(p),
                ProblemKind::Unavailable => r.unavailable(p),
            },
            Self::LogoutConfirm(p) => r.logout_confirm(p),
            Self::SignedOut(p) => r.signed_out(p),
        }
    }
}

/// A page the layer answers with: its status, what it shows, and what its CSP must allow
/// besides the app's own origin.
#[derive(Debug, Clone)]
pub(crate) struct LayerPage {
    status: StatusCode,
    content: PageContent,
    /// Image origins besides `'self'`, `data:` and the logo's (the chooser's provider logos).
    img_origins: Vec<String>,
    /// Where its forms (and the redirects answering them, which browsers check against
    /// `form-action` too) may go besides `'self'`: the providers' end-session origins.
    form_origins: Vec<String>,
}

impl LayerPage {
    pub(crate) fn new(status: StatusCode, content: PageContent) -> Self {
        Self {
            status,
            content,
            img_origins: Vec::new(),
            form_origins: Vec::new(),
        }
    }

    /// Lets the page also show images from `origins` (the chooser's provider logos at https
    /// URLs).
    pub(crate) fn allow_images_from(mut self, origins: Vec<String>) -> Self {
        self.img_origins = origins;
        self
    }

    /// Lets the page's forms also go to `origins` (the logout form, whose POST is answered
    /// with a redirect to the provider's end-session endpoint).
    pub(crate) fn allow_form_targets(mut self, origins: Vec<String>) -> Self {
        self.form_origins = origins;
        self
    }

    /// The page in the default look with the protective headers; the page itself rides in
    /// the extensions for [`rebrand`].
    pub(crate) fn into_response(self) -> Response<PageBody> {
        let mut response = Response::new(PageBody::default());
        *response.status_mut() = self.status;
        protect(&mut response, "text/html; charset=utf-8");
        *response.body_mut() = self.render(None, response.headers_mut());
        response.extensions_mut().insert(self);
        response
    }

    /// The body, and the CSP that goes with it.
    fn render(&self, renderer: Option<&dyn PageRenderer>, headers: &mut HeaderMap) -> PageBody {
        let frame = self.content.frame();
        let csp = csp(
            &style_hash(&frame.stylesheet()),
            frame.logo_origin().iter().chain(&self.img_origins),
            &self.form_origins,
        );
        match HeaderValue::from_str(&csp) {
            Ok(value) => headers.insert(header::CONTENT_SECURITY_POLICY, value),
            // Origins are serialized URL origins: never reached. Fall back to the strictest.
            Err(_) => headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(STRICT_CSP),
            ),
        };
        Full::new(Bytes::from(self.content.html(renderer)))
    }
}

/// The policy of every page: no scripts, no frames, styles and images from the app's origin
/// (plus the stylesheet's hash, `data:` images and the given origins), forms to the app.
fn csp<'a>(
    style_hash: &str,
    img_origins: impl Iterator<Item = &'a String>,
    form_origins: &[String],
) -> String {
    let mut images: Vec<&str> = img_origins.map(String::as_str).collect();
    images.sort_unstable();
    images.dedup();
    let mut csp =
        format!("default-src 'none'; style-src 'self' {style_hash}; img-src 'self' data:");
    for origin in images {
        csp.push(' ');
        csp.push_str(origin);
    }
    csp.push_str("; form-action 'self'");
    for origin in form_origins {
        csp.push(' ');
        csp.push_str(origin);
    }
    csp.push_str("; frame-ancestors 'none'");
    csp
}

/// The CSP of answers that are no page (problem+json): nothing may load at all.
const STRICT_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Whether the app has its own branding or pages (else the default rendering stands).
fn customised(shared: &Shared) -> bool {
    shared.durable.pages.is_some() || shared.config.branding != Default::default()
}

/// Renders a page of the layer again with the app's branding and [`PageRenderer`], when
/// `response` is one and the app has either: the new body (the CSP in `response` updated to
/// it; the status and every other header kept, e.g. a cookie removal or `Retry-After`).
/// `None` leaves the response as it is.
pub(crate) fn rebrand<B>(shared: &Shared, response: &mut Response<B>) -> Option<PageBody> {
    let mut page = response.extensions_mut().remove::<LayerPage>()?;
    if !customised(shared) {
        return None;
    }
    page.content.set_frame(Frame {
        branding: shared.config.branding.clone(),
        base_path: shared.config.external.base_path.clone(),
    });
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    Some(page.render(shared.durable.pages.as_deref(), headers))
}

/// Headers every page and problem answer carries: never cached, never framed, no scripts
/// (the pages' CSP is set with their body).
fn protect<B>(response: &mut Response<B>, content_type: &'static str) {
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(STRICT_CSP),
    );
}

/// Where a finished login sends the browser: the return-to `path` (same-origin).
///
/// With a `SameSite=Strict` session cookie (`same_site_hop`) a redirect is not enough: the
/// browser treats the whole redirect chain that began at the provider as cross-site and would
/// not send the new session cookie on the request for `path`, so the person would look signed
/// out right after signing in. The answer is then a small page that moves on by itself
/// (`<meta http-equiv="refresh">`, allowed by the pages' script-free CSP, with a link for
/// browsers that do not follow it): a navigation this origin's page starts is same-site.
pub(crate) fn after_login(path: &str, same_site_hop: bool) -> Response<PageBody> {
    if !same_site_hop {
        return crate::web::redirect::redirect(path);
    }
    let refresh = format!("0;url={path}");
    let body = maud::html! {
        meta http-equiv="refresh" content=(refresh);
        h1 { "Signed in" }
        p { "Continuing to the app…" }
        div class="actions" { a class="button" id="continue" href=(path) { "Continue" } }
    };
    // Unbranded: a page shown for an instant between the provider and the app.
    let frame = Frame::default();
    let mut response = Response::new(PageBody::default());
    protect(&mut response, "text/html; charset=utf-8");
    let policy = csp(&style_hash(&frame.stylesheet()), std::iter::empty(), &[]);
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    *response.body_mut() = Full::new(Bytes::from(frame.page("Signed in", body)));
    response
}

/// A failure explained to a person (HTML) or a program (problem+json).
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
    login_url: Option<String>,
    actions: Vec<PageAction>,
    /// Which page it is for the app's renderer (by default from the status).
    kind: Option<ProblemKind>,
    /// The app's backup (break-glass) login, offered only when the provider is failing.
    backup_login: Option<String>,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            login_url: None,
            actions: Vec::new(),
            kind: None,
            backup_login: None,
        }
    }

    /// Marks the page as a refusal or a forbidden page (an error or, for 5xx, an
    /// unavailable page otherwise).
    pub(crate) fn kind(mut self, kind: ProblemKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Where to start a login (a JSON member for programs, a button for people).
    pub(crate) fn with_login_url(self, url: String) -> Self {
        self.with_login_action("Sign in", url)
    }

    /// Like [`Problem::with_login_url`], with another label for the button.
    pub(crate) fn with_login_action(mut self, label: &'static str, url: String) -> Self {
        self.actions.push(action(label, url.clone(), false));
        self.login_url = Some(url);
        self
    }

    /// Adds a link for people (e.g. back to the home page).
    pub(crate) fn with_link(mut self, label: &'static str, href: String) -> Self {
        self.actions.push(action(label, href, false));
        self
    }

    /// Offers the app's backup login at `href` ("Administrator sign-in", after the other
    /// actions). Only for pages saying the provider is failing: elsewhere it would advertise a
    /// password login to everyone who hits an ordinary error.
    pub(crate) fn with_backup_login(mut self, href: String) -> Self {
        self.backup_login = Some(href);
        self
    }

    /// Whether the page offers the backup login.
    #[cfg(test)]
    pub(crate) fn offers_backup_login(&self) -> bool {
        self.backup_login.is_some()
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn into_response(self, html: bool) -> Response<PageBody> {
        if html {
            self.into_html_response()
        } else {
            self.into_json_response()
        }
    }

    pub(crate) fn into_html_response(self) -> Response<PageBody> {
        let kind = self.kind.unwrap_or(if self.status.is_server_error() {
            ProblemKind::Unavailable
        } else {
            ProblemKind::Error
        });
        let mut actions = self.actions;
        if let Some(href) = self.backup_login {
            actions.push(action("Administrator sign-in", href, true));
        }
        let page = ProblemPage {
            frame: Frame::default(),
            kind,
            status: self.status,
            title: self.title.to_owned(),
            detail: self.detail,
            actions,
        };
        retry_after(LayerPage::new(self.status, PageContent::Problem(page)).into_response())
    }

    pub(crate) fn into_json_response(self) -> Response<PageBody> {
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let (Some(url), Some(obj)) = (&self.login_url, body.as_object_mut()) {
            obj.insert("login_url".into(), url.clone().into());
        }
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        *response.status_mut() = self.status;
        protect(&mut response, "application/problem+json");
        retry_after(response)
    }
}

fn action(label: &str, href: String, backup_login: bool) -> PageAction {
    PageAction {
        label: label.to_owned(),
        href,
        backup_login,
    }
}

/// A `503` tells clients when to come back (RFC 9110 section 10.2.3): the provider is retried
/// every few seconds.
fn retry_after(mut response: Response<PageBody>) -> Response<PageBody> {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(r: Response<PageBody>) -> String {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[test]
    fn backtick_quoted_names_show_as_code_and_stay_escaped() {
        let code = |text: &str| with_code(text).into_string();
        assert_eq!(
            code("its `is_admin` claim"),
            "its <code>is_admin</code> claim"
        );
        assert_eq!(code("a `<b>` and `x"), "a <code>&lt;b&gt;</code> and `x");
        assert_eq!(code("`"), "`");
        assert_eq!(code("``"), "<code></code>");
        assert_eq!(code("no code"), "no code");
        assert_eq!(code("`a` `b` `c"), "<code>a</code> <code>b</code> `c");
    }

    #[tokio::test]
    async fn the_backup_login_shows_only_when_offered() {
        let plain = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Down", "d")
            .with_login_action("Try again", "/auth/login".into());
        let html = text(plain.clone().into_response(true)).await;
        assert!(!html.contains("Administrator sign-in"), "{html}");
        let offered = plain.with_backup_login("/base/login/local".into());
        let html = text(offered.into_response(true)).await;
        assert!(
            html.contains(
                "<a class=\"button secondary\" href=\"/base/login/local\">Administrator sign-in</a>"
            ),
            "{html}"
        );
        assert!(
            html.find("Try again") < html.find("Administrator sign-in"),
            "after the other actions: {html}"
        );
    }

    #[tokio::test]
    async fn html_escapes_and_json_has_login_url() {
        let p = Problem::new(StatusCode::BAD_REQUEST, "Bad", "<script>alert(1)</script>")
            .with_login_url("/auth/login?return_to=%2F\"".into());
        let html = text(p.clone().into_response(true)).await;
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        let r = p.into_response(false);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        let v: serde_json::Value = serde_json::from_str(&text(r).await).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["login_url"], "/auth/login?return_to=%2F\"");
    }
}

#[cfg(test)]
mod after_login_tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn a_strict_session_lands_through_a_page_of_this_origin() {
        let plain = after_login("/a?b=1&c=<x>", false);
        assert_eq!(plain.status(), StatusCode::SEE_OTHER);

        let hop = after_login("/a?b=1&c=\"x\"", true);
        assert_eq!(hop.status(), StatusCode::OK);
        assert!(hop.headers().get(header::LOCATION).is_none());
        assert_eq!(hop.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(hop.headers()[header::REFERRER_POLICY], "no-referrer");
        let csp = hop.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        let body = hop.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        // The path is escaped in both attributes (a `"` cannot end them).
        assert!(
            body.contains(
                r#"<meta http-equiv="refresh" content="0;url=/a?b=1&amp;c=&quot;x&quot;">"#
            ),
            "{body}"
        );
        assert!(
            body.contains(r#"href="/a?b=1&amp;c=&quot;x&quot;""#),
            "{body}"
        );
        assert!(!body.contains("<script"), "{body}");
    }
}

//! The small HTML pages people see (errors, logout confirm, signed out) and the
//! `application/problem+json` (RFC 9457) answers API clients get. Neither ever contains a
//! token, a secret, or internal error details beyond a short reason.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// A response body the layer writes itself.
pub(crate) type PageBody = Full<Bytes>;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;padding:0 1rem;background:#f4f5f7;color:#1c1e21}\
main{max-width:32rem;margin:12vh auto;background:#fff;border-radius:12px;padding:2rem 2.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}\
h1{font-size:1.4rem;margin:0 0 .75rem}p{line-height:1.5}\
.actions{margin-top:1.5rem;display:flex;gap:.75rem;flex-wrap:wrap}\
a.button,button{font:inherit;display:inline-block;padding:.55rem 1.1rem;border-radius:8px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;text-decoration:none;cursor:pointer}\
a.secondary{background:#fff;color:#0b57d0}\
a.button:focus,button:focus{outline:3px solid #f5b400;outline-offset:2px}\
.detail{color:#555;font-size:.95rem}a{color:#0b57d0}\
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;background:#f0f1f3;padding:.05em .3em;border-radius:4px}\
.providers{list-style:none;margin:1.25rem 0 0;padding:0;display:flex;flex-direction:column;gap:.6rem}\
a.provider{display:flex;align-items:center;gap:.85rem;line-height:1.35;padding:.7rem 1rem;border:1px solid #c4c7c5;border-radius:8px;background:#fff;color:#1c1e21;text-decoration:none;font-weight:500}\
a.provider:hover{border-color:#0b57d0;background:#f3f7fe}\
a.provider:focus{outline:3px solid #f5b400;outline-offset:2px}\
.provider .logo{width:28px;height:28px;flex:none;object-fit:contain}\
span.logo{display:flex;align-items:center;justify-content:center;border-radius:50%;background:#e8eef9;color:#0b57d0;font-weight:600}\
span.logo::before{content:attr(data-initial)}\
.backup{margin:1.5rem 0 0;padding-top:1rem;border-top:1px solid #e3e5e8;font-size:.95rem}";

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

/// A complete, self-contained HTML document with the layer's look.
pub(crate) fn page(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
    .into_string()
}

/// Headers every page and problem answer carries: never cached, never framed, no scripts.
fn protect<B>(mut response: Response<B>, content_type: &'static str) -> Response<B> {
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
        HeaderValue::from_static(CSP),
    );
    response
}

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'";

/// Lets a page also show images from `origins` (the chooser's provider logos at https URLs).
pub(crate) fn allow_images_from(
    mut response: Response<PageBody>,
    origins: &[String],
) -> Response<PageBody> {
    if origins.is_empty() {
        return response;
    }
    let csp = CSP.replace(
        "img-src 'self' data:",
        &format!("img-src 'self' data: {}", origins.join(" ")),
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// Lets a page's forms (and the redirects that follow their submission, which browsers check
/// against `form-action` too) also go to `origins`: the logout form, whose POST is answered
/// with a redirect to the provider's end-session endpoint.
pub(crate) fn allow_form_targets(
    mut response: Response<PageBody>,
    origins: &[String],
) -> Response<PageBody> {
    if origins.is_empty() {
        return response;
    }
    let current = response
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(CSP)
        .to_owned();
    let csp = current.replace(
        "form-action 'self'",
        &format!("form-action 'self' {}", origins.join(" ")),
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// An HTML response with the layer's protective headers.
pub(crate) fn html_response(status: StatusCode, html: String) -> Response<PageBody> {
    let mut response = Response::new(Full::new(Bytes::from(html)));
    *response.status_mut() = status;
    protect(response, "text/html; charset=utf-8")
}

/// A link or button on an error page.
#[derive(Debug, Clone)]
pub(crate) struct Action {
    label: &'static str,
    href: String,
}

/// A failure explained to a person (HTML) or a program (problem+json).
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
    login_url: Option<String>,
    actions: Vec<Action>,
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
            backup_login: None,
        }
    }

    /// Where to start a login (a JSON member for programs, a button for people).
    pub(crate) fn with_login_url(self, url: String) -> Self {
        self.with_login_action("Sign in", url)
    }

    /// Like [`Problem::with_login_url`], with another label for the button.
    pub(crate) fn with_login_action(mut self, label: &'static str, url: String) -> Self {
        self.actions.push(Action {
            label,
            href: url.clone(),
        });
        self.login_url = Some(url);
        self
    }

    /// Adds a link for people (e.g. back to the home page).
    pub(crate) fn with_link(mut self, label: &'static str, href: String) -> Self {
        self.actions.push(Action { label, href });
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
        let backup = self.backup_login.map(|href| Action {
            label: "Administrator sign-in",
            href,
        });
        let body = html! {
            h1 { (self.title) }
            p class="detail" id="detail" { (with_code(&self.detail)) }
            div class="actions" {
                @for (i, action) in self.actions.iter().chain(&backup).enumerate() {
                    a class=(if i == 0 { "button" } else { "button secondary" }) href=(action.href) {
                        (action.label)
                    }
                }
            }
        };
        retry_after(html_response(self.status, page(self.title, body)))
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
        retry_after(protect(response, "application/problem+json"))
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
    fn logo_origins_extend_only_img_src() {
        let page = html_response(StatusCode::OK, String::new());
        let same = allow_images_from(page, &[]);
        assert_eq!(same.headers()[header::CONTENT_SECURITY_POLICY], CSP);
        let logos = allow_images_from(same, &["https://cdn.example.com".to_owned()]);
        assert_eq!(
            logos.headers()[header::CONTENT_SECURITY_POLICY],
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https://cdn.example.com; form-action 'self'; frame-ancestors 'none'"
        );
    }

    #[test]
    fn form_targets_extend_only_form_action() {
        let page = html_response(StatusCode::OK, String::new());
        let logout = allow_form_targets(page, &["https://id.example.com".to_owned()]);
        assert_eq!(
            logout.headers()[header::CONTENT_SECURITY_POLICY],
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self' https://id.example.com; frame-ancestors 'none'"
        );
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

//! Responses as the browser saw them ([`Page`]), walks through several of them ([`Journey`]),
//! and the bits of HTML and URL handling the tests need.

use std::fmt;

use regex::Regex;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use url::{Origin, Url};

use crate::{Cookie, MAX_HOPS};

/// The navigation a request belongs to: who started it and the URLs it went through. Used to
/// compute `Sec-Fetch-Site` the way browsers do (the whole redirect chain counts).
#[derive(Debug, Clone)]
pub(crate) struct Navigation {
    /// `None` for a navigation the user typed (address bar): `Sec-Fetch-Site: none`.
    pub(crate) initiator: Option<Origin>,
    pub(crate) chain: Vec<Url>,
}

impl Navigation {
    pub(crate) fn sec_fetch_site(&self) -> &'static str {
        let Some(initiator) = &self.initiator else {
            return "none";
        };
        let mut value = "same-origin";
        for url in &self.chain {
            if url.origin() == *initiator {
                continue;
            }
            value = "same-site";
            if !same_site(&url.origin(), initiator) {
                return "cross-site";
            }
        }
        value
    }
}

/// Same scheme and same host (ports do not count). The host stands in for the registrable
/// domain, which is exact for 127.0.0.1 and stricter than browsers for subdomains.
fn same_site(a: &Origin, b: &Origin) -> bool {
    match (a, b) {
        (Origin::Tuple(scheme_a, host_a, _), Origin::Tuple(scheme_b, host_b, _)) => {
            scheme_a == scheme_b && host_a == host_b
        }
        _ => false,
    }
}

/// One response, fully read, with the request that produced it.
#[derive(Debug, Clone)]
pub struct Page {
    /// The request method.
    pub method: Method,
    /// The request URL.
    pub url: Url,
    /// The request headers this browser set (the `Cookie` header included when known).
    pub request_headers: HeaderMap,
    /// The response status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The response body (lossy UTF-8).
    pub body: String,
    pub(crate) nav: Navigation,
}

impl Page {
    /// A response header as text (the first one when repeated).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a response header.
    pub fn headers_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The `Content-Type` header, or "".
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// Whether the status is 3xx.
    pub fn is_redirect(&self) -> bool {
        self.status.is_redirection()
    }

    /// The `Location` header resolved against the request URL the way a browser does
    /// (backslashes and tabs included), or `None`.
    pub fn location(&self) -> Option<Url> {
        let raw = self.headers.get("location")?;
        let raw = String::from_utf8_lossy(raw.as_bytes());
        self.url.join(&raw).ok()
    }

    /// The raw `Set-Cookie` header values.
    pub fn set_cookie_headers(&self) -> Vec<String> {
        self.headers_all("set-cookie")
    }

    /// The parsed `Set-Cookie` headers (unparseable ones are skipped; see
    /// [`Page::set_cookie_headers`] for the raw values).
    pub fn set_cookies(&self) -> Vec<Cookie<'static>> {
        self.set_cookie_headers()
            .into_iter()
            .filter_map(|raw| Cookie::parse(raw).ok())
            .collect()
    }

    /// The parsed `Set-Cookie` for `name`, if this response sets it.
    pub fn set_cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.set_cookies().into_iter().find(|c| c.name() == name)
    }

    /// The parsed `Set-Cookie` of the first cookie whose name passes `is` (e.g.
    /// [`is_session_cookie`](crate::is_session_cookie)), if this response sets one.
    pub fn find_set_cookie(&self, is: impl Fn(&str) -> bool) -> Option<Cookie<'static>> {
        self.set_cookies().into_iter().find(|c| is(c.name()))
    }

    /// The body parsed as JSON; panics with the page when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}):\n{self}\n{}", self.body))
    }

    /// The body of an `application/problem+json` answer with `status` (checked, with the
    /// `status` member); panics with the page otherwise.
    pub fn problem(&self, status: u16) -> serde_json::Value {
        assert_eq!(self.status.as_u16(), status, "{self}\n{}", self.body);
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "{self}: content type {:?}, body {}",
            self.content_type(),
            self.body
        );
        let problem = self.json();
        assert_eq!(problem["status"], status, "{problem}");
        problem
    }

    /// A query parameter of the request URL.
    pub fn query(&self, name: &str) -> Option<String> {
        query_param(&self.url, name)
    }

    /// The `<form id="...">` of an HTML page: its action (resolved), method and hidden inputs.
    pub fn form(&self, id: &str) -> Option<Form> {
        let form_re = Regex::new(&format!(
            r#"(?is)<form\b([^>]*\bid\s*=\s*["']{}["'][^>]*)>(.*?)</form>"#,
            regex::escape(id)
        ))
        .expect("valid regex");
        let captures = form_re.captures(&self.body)?;
        let attributes = parse_attributes(&captures[1]);
        let action = attributes
            .iter()
            .find(|(k, _)| k == "action")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let method = attributes
            .iter()
            .find(|(k, _)| k == "method")
            .map(|(_, v)| v.to_ascii_uppercase())
            .unwrap_or_else(|| "GET".to_string());
        let input_re = Regex::new(r"(?is)<input\b([^>]*)>").expect("valid regex");
        let hidden = input_re
            .captures_iter(&captures[2])
            .map(|c| parse_attributes(&c[1]))
            .filter(|attrs| {
                attrs
                    .iter()
                    .any(|(k, v)| k == "type" && v.eq_ignore_ascii_case("hidden"))
            })
            .filter_map(|attrs| {
                let name = attrs.iter().find(|(k, _)| k == "name")?.1.clone();
                let value = attrs
                    .iter()
                    .find(|(k, _)| k == "value")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                Some((name, value))
            })
            .collect();
        Some(Form {
            action: self.url.join(&action).ok()?,
            method: Method::from_bytes(method.as_bytes()).ok()?,
            hidden,
        })
    }

    /// The `href` of `<a id="...">`, resolved against the page URL.
    pub fn link(&self, id: &str) -> Option<Url> {
        let re = Regex::new(r"(?is)<a\b([^>]*)>").expect("valid regex");
        re.captures_iter(&self.body)
            .map(|c| parse_attributes(&c[1]))
            .find_map(|attrs| {
                attrs
                    .iter()
                    .any(|(k, v)| k == "id" && v == id)
                    .then_some(())?;
                let href = &attrs.iter().find(|(k, _)| k == "href")?.1;
                self.url.join(href).ok()
            })
    }

    /// Whether the HTML has an element with `id="..."`.
    pub fn has_element_id(&self, id: &str) -> bool {
        let re = Regex::new(&format!(r#"\bid\s*=\s*["']{}["']"#, regex::escape(id)))
            .expect("valid regex");
        re.is_match(&self.body)
    }

    /// The `Sec-Fetch-Site` value this request was sent with.
    pub fn sec_fetch_site(&self) -> Option<&str> {
        self.request_headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
    }
}

impl fmt::Display for Page {
    /// `GET http://... -> 302 Found (Location: ...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.method, self.url, self.status)?;
        if let Some(location) = self.headers.get("location") {
            write!(
                f,
                " (Location: {})",
                String::from_utf8_lossy(location.as_bytes())
            )?;
        } else if !self.status.is_success() && !self.body.is_empty() {
            let body: String = self.body.chars().take(300).collect();
            write!(f, " body: {}", body.replace('\n', " "))?;
        }
        Ok(())
    }
}

/// A form found by [`Page::form`].
#[derive(Debug, Clone)]
pub struct Form {
    /// The resolved `action` URL.
    pub action: Url,
    /// The form method (GET when absent).
    pub method: Method,
    /// The hidden inputs, in order.
    pub hidden: Vec<(String, String)>,
}

fn parse_attributes(raw: &str) -> Vec<(String, String)> {
    let re = Regex::new(
        r#"(?s)([A-Za-z_:][-A-Za-z0-9_:.]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?"#,
    )
    .expect("valid regex");
    re.captures_iter(raw)
        .map(|c| {
            let value = c
                .get(2)
                .or(c.get(3))
                .or(c.get(4))
                .map(|m| html_unescape(m.as_str()))
                .unwrap_or_default();
            (c[1].to_ascii_lowercase(), value)
        })
        .collect()
}

/// Decodes the entities the provider's templates produce.
fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// A query parameter of `url` (decoded), if present.
pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `url` with query parameter `name` removed (`value: None`) or replaced/added.
pub fn with_query_param(url: &Url, name: &str, value: Option<&str>) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = url.clone();
    out.set_query(None);
    {
        let mut query = out.query_pairs_mut();
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    if out.query() == Some("") {
        out.set_query(None);
    }
    out
}

/// Every hop of a walk through redirects and provider pages, in order.
#[derive(Debug, Clone)]
pub struct Journey {
    /// The responses, starting with the page the walk started from.
    pub hops: Vec<Page>,
    /// The URL the walk stopped in front of ([`Browser::follow_until`](crate::Browser::follow_until)), not requested.
    pub pending: Option<Url>,
    /// Whether the walk was cut off after [`MAX_HOPS`] hops (a redirect loop).
    pub truncated: bool,
}

impl Journey {
    /// The last response.
    pub fn last(&self) -> &Page {
        self.hops
            .last()
            .expect("a journey has at least its first page")
    }

    /// The first hop whose URL path is `path`.
    pub fn hop(&self, path: &str) -> Option<&Page> {
        self.hops.iter().find(|p| p.url.path() == path)
    }

    /// Every hop whose URL path is `path`.
    pub fn hops_to(&self, path: &str) -> Vec<&Page> {
        self.hops.iter().filter(|p| p.url.path() == path).collect()
    }

    /// Every URL requested, in order.
    pub fn urls(&self) -> Vec<&Url> {
        self.hops.iter().map(|p| &p.url).collect()
    }

    /// Panics (with the journey) if any hop answered 5xx.
    pub fn assert_no_server_error(&self) {
        if let Some(page) = self.hops.iter().find(|p| p.status.is_server_error()) {
            panic!(
                "server error at {page}\njourney:\n{self}\nbody:\n{}",
                page.body
            );
        }
    }
}

impl fmt::Display for Journey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, page) in self.hops.iter().enumerate() {
            writeln!(f, "  {i:>2}. {page}")?;
        }
        if let Some(pending) = &self.pending {
            writeln!(f, "  stopped before {pending}")?;
        }
        if self.truncated {
            writeln!(f, "  ... cut off after {MAX_HOPS} hops (redirect loop?)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn origin(url: &str) -> Origin {
        Url::parse(url).expect("url").origin()
    }

    #[test]
    fn sec_fetch_site_follows_the_whole_chain() {
        let app = "http://127.0.0.1:3000/x";
        let op = "http://127.0.0.1:9400/auth";
        let nav = |initiator: Option<&str>, chain: &[&str]| Navigation {
            initiator: initiator.map(origin),
            chain: chain.iter().map(|u| Url::parse(u).expect("url")).collect(),
        };
        assert_eq!(nav(None, &[app, op]).sec_fetch_site(), "none");
        assert_eq!(nav(Some(app), &[app]).sec_fetch_site(), "same-origin");
        assert_eq!(nav(Some(op), &[op, app]).sec_fetch_site(), "same-site");
        assert_eq!(
            nav(Some("https://evil.example"), &[app]).sec_fetch_site(),
            "cross-site"
        );
        assert_eq!(
            nav(Some(app), &["https://evil.example/", app]).sec_fetch_site(),
            "cross-site"
        );
    }

    #[test]
    fn finds_forms_links_and_hidden_inputs() {
        let page = Page {
            method: Method::GET,
            url: Url::parse("http://127.0.0.1:9400/interaction/abc").expect("url"),
            request_headers: HeaderMap::new(),
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: r#"<form id="login" method="post" action="/interaction/abc/login">
                <input type="hidden" name="xsrf" value="a&amp;b"><input type="text" name="username"></form>
                <a id="abort" href="/interaction/abc/abort">Cancel</a>"#
                .into(),
            nav: Navigation { initiator: None, chain: vec![] },
        };
        let form = page.form("login").expect("login form");
        assert_eq!(
            form.action.as_str(),
            "http://127.0.0.1:9400/interaction/abc/login"
        );
        assert_eq!(form.method, Method::POST);
        assert_eq!(form.hidden, vec![("xsrf".to_string(), "a&b".to_string())]);
        assert!(page.form("consent").is_none());
        assert_eq!(
            page.link("abort").expect("abort").path(),
            "/interaction/abc/abort"
        );
    }

    #[test]
    fn location_resolves_like_a_browser() {
        let mut headers = HeaderMap::new();
        headers.insert("location", HeaderValue::from_static("/\\evil.example"));
        let page = Page {
            method: Method::GET,
            url: Url::parse("http://127.0.0.1:3000/auth/oidc").expect("url"),
            request_headers: HeaderMap::new(),
            status: StatusCode::SEE_OTHER,
            headers,
            body: String::new(),
            nav: Navigation {
                initiator: None,
                chain: vec![],
            },
        };
        assert_eq!(
            page.location().expect("location").host_str(),
            Some("evil.example")
        );
    }

    #[test]
    fn query_param_editing() {
        let url = Url::parse("http://h/cb?code=c&state=s&iss=i").expect("url");
        assert_eq!(
            with_query_param(&url, "state", None).as_str(),
            "http://h/cb?code=c&iss=i"
        );
        assert_eq!(
            query_param(&with_query_param(&url, "state", Some("x")), "state").as_deref(),
            Some("x")
        );
    }
}

//! The scripted browser.

use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use url::{Origin, Url};

use crate::REQUEST_TIMEOUT;
use crate::page::{Journey, Navigation, Page};

/// [`Browser::follow`] gives up after this many hops (a redirect loop).
pub const MAX_HOPS: usize = 30;

/// What [`Browser::follow_with`] does on the provider's pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtProvider {
    /// Log in as this user (password `<name>-password`) and confirm the consent page.
    LogIn(String),
    /// Log in as this user, then cancel on the consent page (`access_denied`).
    LogInThenCancelConsent(String),
    /// Cancel on the first provider page (the `<a id="abort">` link): `access_denied`.
    Cancel,
    /// Stop on the first provider page (login or consent) without acting.
    Stay,
}

impl AtProvider {
    /// `LogIn(user)`.
    pub fn log_in(user: &str) -> AtProvider {
        AtProvider::LogIn(user.to_string())
    }
}

const NAVIGATE_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) oidc-e2e/0.1 (scripted browser)";

/// A scripted browser: one cookie jar (shared across ports of a host, like real browsers),
/// redirects not followed automatically, browser-like request headers.
///
/// Navigations send `Accept: text/html,...`, `Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest:
/// document` and a `Sec-Fetch-Site` computed from the navigation's initiator and redirect chain;
/// form posts also send `Origin`. [`Browser::fetch`] sends what `fetch()` from a page of the
/// same origin sends. `SameSite` is not enforced by the jar (everything is on 127.0.0.1, which
/// browsers treat as one site anyway).
#[derive(Debug, Clone)]
pub struct Browser {
    client: reqwest::Client,
    jar: Arc<Jar>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// A browser with an empty cookie jar.
    pub fn new() -> Browser {
        Self::resolving(&[])
    }

    /// A browser that resolves each `(host, address)` of `hosts` to that address (the URL's
    /// port is used): apps on names such as `a.example.test` served on loopback, where a
    /// `Domain` cookie is shared between them as between real subdomains.
    pub fn resolving(hosts: &[(&str, std::net::SocketAddr)]) -> Browser {
        let jar = Arc::new(Jar::default());
        let mut builder = reqwest::Client::builder();
        for (host, addr) in hosts {
            builder = builder.resolve(host, *addr);
        }
        let client = builder
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()
            .expect("build the reqwest client");
        Browser { client, jar }
    }

    // ---- navigations -----------------------------------------------------------------------

    /// Navigates to `url` as if typed in the address bar (`Sec-Fetch-Site: none`); one
    /// request, redirects not followed.
    pub async fn get(&self, url: impl AsRef<str>) -> Page {
        self.get_with(url, &[]).await
    }

    /// [`Browser::get`] with extra headers (replacing the defaults of the same name).
    pub async fn get_with(&self, url: impl AsRef<str>, headers: &[(&str, &str)]) -> Page {
        let url = parse_url(url.as_ref());
        let nav = Navigation {
            initiator: None,
            chain: vec![url.clone()],
        };
        self.navigation(Method::GET, url, None, nav, headers).await
    }

    /// Clicks a link to `url` on `from` (a same-document navigation initiated by `from`'s origin).
    pub async fn click(&self, from: &Page, url: Url) -> Page {
        let nav = Navigation {
            initiator: Some(from.url.origin()),
            chain: vec![url.clone()],
        };
        self.navigation(Method::GET, url, None, nav, &[]).await
    }

    /// [`Browser::get`], then [`Browser::follow`] (logging in as alice when asked to).
    pub async fn navigate(&self, url: impl AsRef<str>) -> Journey {
        let first = self.get(url).await;
        self.follow(first).await
    }

    /// Submits `<form id=form_id>` of `page` with its hidden inputs plus `fields`, from the
    /// page's origin (`Origin` header and `Sec-Fetch-Site` accordingly). Panics if the page has
    /// no such form.
    pub async fn submit(&self, page: &Page, form_id: &str, fields: &[(&str, &str)]) -> Page {
        let form = page
            .form(form_id)
            .unwrap_or_else(|| panic!("no <form id={form_id:?}> on {page}\n{}", page.body));
        let mut data: Vec<(String, String)> = form.hidden.clone();
        data.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let encoded = encode_form(&data);
        let nav = Navigation {
            initiator: Some(page.url.origin()),
            chain: vec![form.action.clone()],
        };
        if form.method == Method::GET {
            let mut url = form.action.clone();
            url.set_query(Some(&encoded));
            return self.navigation(Method::GET, url, None, nav, &[]).await;
        }
        self.navigation(form.method, form.action, Some(encoded), nav, &[])
            .await
    }

    /// POSTs an `application/x-www-form-urlencoded` form to `url` as a form on a page of `url`'s
    /// own origin would (`Origin` = that origin, `Sec-Fetch-Site: same-origin`).
    pub async fn post_form(&self, url: impl AsRef<str>, fields: &[(&str, &str)]) -> Page {
        self.post_form_with(url, fields, &[]).await
    }

    /// [`Browser::post_form`] with extra headers replacing the defaults of the same name, e.g.
    /// `[("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")]`. An empty value
    /// removes the default header (`("origin", "")` sends no `Origin`).
    pub async fn post_form_with(
        &self,
        url: impl AsRef<str>,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let url = parse_url(url.as_ref());
        let data: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let nav = Navigation {
            initiator: Some(url.origin()),
            chain: vec![url.clone()],
        };
        self.navigation(Method::POST, url, Some(encode_form(&data)), nav, headers)
            .await
    }

    /// Walks redirects from `page` and acts on the provider's pages as [`AtProvider::LogIn`]
    /// `("alice")`, until a page that is neither a redirect nor a provider form (usually back on
    /// the app), or [`MAX_HOPS`].
    pub async fn follow(&self, page: Page) -> Journey {
        self.follow_with(page, AtProvider::log_in("alice")).await
    }

    /// [`Browser::follow`] with another behaviour on the provider's pages.
    pub async fn follow_with(&self, page: Page, at_provider: AtProvider) -> Journey {
        self.follow_until(page, at_provider, |_| false).await
    }

    /// [`Browser::follow_with`] that stops before requesting a URL for which `stop_before` is
    /// true; that URL is left in [`Journey::pending`] (e.g. to tamper with the callback).
    pub async fn follow_until(
        &self,
        page: Page,
        at_provider: AtProvider,
        stop_before: impl Fn(&Url) -> bool,
    ) -> Journey {
        let mut journey = Journey {
            hops: vec![page],
            pending: None,
            truncated: false,
        };
        let mut logins = 0;
        loop {
            if journey.hops.len() >= MAX_HOPS {
                journey.truncated = true;
                return journey;
            }
            let current = journey.last().clone();
            let next = if current.is_redirect() {
                let Some(location) = current.location() else {
                    return journey;
                };
                if stop_before(&location) {
                    journey.pending = Some(location);
                    return journey;
                }
                let mut nav = current.nav.clone();
                nav.chain.push(location.clone());
                // 301/302/303 after a POST become a GET, like browsers (307/308 do not occur here).
                self.navigation(Method::GET, location, None, nav, &[]).await
            } else if current.status == StatusCode::OK
                && current.form("login").is_some()
                && !current.has_element_id("error")
            {
                match &at_provider {
                    AtProvider::LogIn(user) | AtProvider::LogInThenCancelConsent(user)
                        if logins < 3 =>
                    {
                        logins += 1;
                        let password = format!("{user}-password");
                        let form = current.form("login").expect("checked above");
                        if stop_before(&form.action) {
                            journey.pending = Some(form.action);
                            return journey;
                        }
                        self.submit(
                            &current,
                            "login",
                            &[("username", user), ("password", &password)],
                        )
                        .await
                    }
                    AtProvider::Cancel => match current.link("abort") {
                        Some(abort) => self.click(&current, abort).await,
                        None => return journey,
                    },
                    _ => return journey,
                }
            } else if current.status == StatusCode::OK && current.form("consent").is_some() {
                match &at_provider {
                    AtProvider::LogIn(_) => {
                        let form = current.form("consent").expect("checked above");
                        if stop_before(&form.action) {
                            journey.pending = Some(form.action);
                            return journey;
                        }
                        self.submit(&current, "consent", &[]).await
                    }
                    AtProvider::LogInThenCancelConsent(_) | AtProvider::Cancel => {
                        match current.link("abort") {
                            Some(abort) => self.click(&current, abort).await,
                            None => return journey,
                        }
                    }
                    AtProvider::Stay => return journey,
                }
            } else {
                return journey;
            };
            journey.hops.push(next);
        }
    }

    // ---- non-navigation requests -------------------------------------------------------------

    /// A `fetch()`/XHR GET from a page of `url`'s own origin: `Accept: application/json`,
    /// `Sec-Fetch-Mode: cors`, `Sec-Fetch-Dest: empty`, `Sec-Fetch-Site: same-origin`.
    /// Redirects are not followed.
    pub async fn fetch(&self, url: impl AsRef<str>) -> Page {
        self.fetch_with(Method::GET, url, &[]).await
    }

    /// [`Browser::fetch`] with another method and extra headers (replacing the defaults of the
    /// same name; an empty value removes the default).
    pub async fn fetch_with(
        &self,
        method: Method,
        url: impl AsRef<str>,
        headers: &[(&str, &str)],
    ) -> Page {
        let url = parse_url(url.as_ref());
        let mut map = HeaderMap::new();
        map.insert("accept", HeaderValue::from_static("application/json"));
        map.insert("sec-fetch-mode", HeaderValue::from_static("cors"));
        map.insert("sec-fetch-dest", HeaderValue::from_static("empty"));
        map.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        map.insert("user-agent", HeaderValue::from_static(USER_AGENT));
        if method != Method::GET && method != Method::HEAD {
            map.insert("origin", header_value(&url.origin().ascii_serialization()));
        }
        apply_overrides(&mut map, headers);
        let nav = Navigation {
            initiator: Some(url.origin()),
            chain: vec![url.clone()],
        };
        self.send(method, url, map, None, nav).await
    }

    /// A request with exactly `headers` (no browser defaults) and the jar's cookies unless
    /// `headers` has a `Cookie` header of its own (then the jar is not consulted for it, but
    /// still stores the response's cookies). Header values may be arbitrary bytes.
    pub async fn raw(&self, method: Method, url: impl AsRef<str>, headers: HeaderMap) -> Page {
        let url = parse_url(url.as_ref());
        let nav = Navigation {
            initiator: None,
            chain: vec![url.clone()],
        };
        self.send(method, url, headers, None, nav).await
    }

    // ---- cookies -------------------------------------------------------------------------

    /// The value of cookie `name` the jar would send to `url`.
    pub fn cookie(&self, url: &Url, name: &str) -> Option<String> {
        self.cookies(url)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The value of the first cookie the jar would send to `url` whose name passes `is`
    /// (e.g. [`is_session_cookie`](crate::is_session_cookie)).
    pub fn find_cookie(&self, url: &Url, is: impl Fn(&str) -> bool) -> Option<String> {
        self.cookies(url)
            .into_iter()
            .find(|(n, _)| is(n))
            .map(|(_, v)| v)
    }

    /// Every `(name, value)` the jar would send to `url`.
    pub fn cookies(&self, url: &Url) -> Vec<(String, String)> {
        let Some(header) = self.jar.cookies(url) else {
            return Vec::new();
        };
        String::from_utf8_lossy(header.as_bytes())
            .split("; ")
            .filter_map(|pair| {
                pair.split_once('=')
                    .map(|(n, v)| (n.to_string(), v.to_string()))
            })
            .collect()
    }

    /// The names of the cookies the jar would send to `url`.
    pub fn cookie_names(&self, url: &Url) -> Vec<String> {
        self.cookies(url).into_iter().map(|(n, _)| n).collect()
    }

    /// Stores a cookie as if `url` had answered `Set-Cookie: <set_cookie>`.
    pub fn add_cookie(&self, url: &Url, set_cookie: &str) {
        self.jar.add_cookie_str(set_cookie, url);
    }

    /// Removes cookie `name` (path `/`) for `url`'s host.
    pub fn remove_cookie(&self, url: &Url, name: &str) {
        self.jar
            .add_cookie_str(&format!("{name}=; Path=/; Max-Age=0"), url);
    }

    // ---- plumbing --------------------------------------------------------------------------

    async fn navigation(
        &self,
        method: Method,
        url: Url,
        form_body: Option<String>,
        nav: Navigation,
        overrides: &[(&str, &str)],
    ) -> Page {
        let mut headers = HeaderMap::new();
        headers.insert("accept", HeaderValue::from_static(NAVIGATE_ACCEPT));
        headers.insert(
            "accept-language",
            HeaderValue::from_static("en-US,en;q=0.9"),
        );
        headers.insert("user-agent", HeaderValue::from_static(USER_AGENT));
        headers.insert("upgrade-insecure-requests", HeaderValue::from_static("1"));
        headers.insert("sec-fetch-mode", HeaderValue::from_static("navigate"));
        headers.insert("sec-fetch-dest", HeaderValue::from_static("document"));
        headers.insert("sec-fetch-user", HeaderValue::from_static("?1"));
        headers.insert(
            "sec-fetch-site",
            HeaderValue::from_static(nav.sec_fetch_site()),
        );
        if method == Method::POST {
            let origin = nav
                .initiator
                .as_ref()
                .map(Origin::ascii_serialization)
                .unwrap_or_else(|| "null".to_string());
            headers.insert("origin", header_value(&origin));
            headers.insert(
                "content-type",
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        apply_overrides(&mut headers, overrides);
        self.send(method, url, headers, form_body, nav).await
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<String>,
        nav: Navigation,
    ) -> Page {
        let mut request_headers = headers.clone();
        if !request_headers.contains_key("cookie")
            && let Some(cookies) = self.jar.cookies(&url)
        {
            request_headers.insert("cookie", cookies);
        }
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap_or_else(|err| {
            panic!("{method} {url}: request failed: {err} (is the server up?)")
        });
        let status = response.status();
        let response_headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_else(|err| {
            panic!("{method} {url} -> {status}: reading the body failed: {err}")
        });
        Page {
            method,
            url,
            request_headers,
            status,
            headers: response_headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            nav,
        }
    }
}

fn parse_url(raw: &str) -> Url {
    Url::parse(raw).unwrap_or_else(|err| panic!("bad URL {raw:?}: {err}"))
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|err| panic!("bad header value {value:?}: {err}"))
}

fn apply_overrides(headers: &mut HeaderMap, overrides: &[(&str, &str)]) {
    for (name, value) in overrides {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|err| panic!("bad header name {name:?}: {err}"));
        if value.is_empty() {
            headers.remove(&name);
        } else {
            headers.insert(name, header_value(value));
        }
    }
}

fn encode_form(fields: &[(String, String)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        serializer.append_pair(k, v);
    }
    serializer.finish()
}

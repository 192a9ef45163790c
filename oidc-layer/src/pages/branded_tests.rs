//! Every page in the app's branding, the CSP that goes with it, and an app's own pages
//! replacing some pages while the others fall back to the built-in ones.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use tower::{Layer as _, ServiceExt as _};

use super::*;
use crate::config::test_base;
use crate::custom_pages::{PageRenderer, ProblemKind, ProblemPage, SignedOutPage};
use crate::flows::{login, logout};
use crate::{BrandingConfig, OidcConfigBuilder, OidcLayer, ProviderBuilder};

fn acme() -> BrandingConfig {
    BrandingConfig::new()
        .app_name("Acme <b>Portal</b>")
        .logo("https://cdn.acme.example/brand/logo.svg")
        .primary_color("#7B1FA2")
        .background_color("#f3e5f5")
        .text_color("#212121")
        .support_url("/help")
        .support_label("Contact IT")
}

fn shared_of(builder: OidcConfigBuilder, pages: Option<Arc<dyn PageRenderer>>) -> Arc<Shared> {
    let mut layer = OidcLayer::new(builder.build().expect("a valid configuration"));
    if let Some(pages) = pages {
        layer = layer.with_pages(pages);
    }
    layer.current()
}

async fn text(response: Response<PageBody>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn branded(shared: &Shared, mut response: Response<PageBody>) -> Response<PageBody> {
    let body = rebrand(shared, &mut response).expect("a page of the layer, rendered again");
    *response.body_mut() = body;
    response
}

fn csp(response: &Response<PageBody>) -> String {
    response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `'sha256-...'` source of the one `<style>` element in `html`.
fn hash_of_style(html: &str) -> String {
    let start = html.find("<style>").expect("a style element") + "<style>".len();
    let end = html[start..].find("</style>").expect("its end") + start;
    frame::style_hash(&html[start..end])
}

#[tokio::test]
async fn a_branded_page_shows_the_name_logo_colours_and_help_link_escaped() {
    let shared = shared_of(test_base().branding(acme()), None);
    let problem = Problem::new(StatusCode::BAD_REQUEST, "Bad link", "It `expired`.")
        .with_login_url("/auth/login".into())
        .into_response(true);
    let response = branded(&shared, problem);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let policy = csp(&response);
    let html = text(response).await;
    // The name is text, never markup, in the title and the header.
    assert!(
        html.contains("<title>Bad link · Acme &lt;b&gt;Portal&lt;/b&gt;</title>"),
        "{html}"
    );
    assert!(
        html.contains(
            "<span class=\"brand-name\" id=\"app-name\">Acme &lt;b&gt;Portal&lt;/b&gt;</span>"
        ),
        "{html}"
    );
    assert!(!html.contains("<b>Portal"), "{html}");
    assert!(
        html.contains(
            "<img class=\"brand-logo\" src=\"https://cdn.acme.example/brand/logo.svg\" alt=\"\""
        ),
        "{html}"
    );
    assert!(
        html.contains("<a id=\"support\" href=\"/help\">Contact IT</a>"),
        "{html}"
    );
    assert!(html.contains("background:#7b1fa2;color:#ffffff"), "{html}");
    assert!(html.contains("background:#f3e5f5;color:#212121"), "{html}");
    assert!(html.contains("<html lang=\"en\">"), "{html}");
    // The CSP allows exactly this stylesheet and the logo's origin, nothing else.
    assert_eq!(
        policy,
        format!(
            "default-src 'none'; style-src 'self' {}; img-src 'self' data: https://cdn.acme.example; form-action 'self'; frame-ancestors 'none'",
            hash_of_style(&html)
        )
    );
}

#[tokio::test]
async fn default_pages_are_left_alone_and_their_csp_names_their_stylesheet() {
    let shared = shared_of(test_base(), None);
    let mut response = Problem::new(StatusCode::NOT_FOUND, "Nope", "d").into_response(true);
    // Nothing to brand: the default rendering stands.
    assert!(rebrand(&shared, &mut response).is_none());
    let policy = csp(&response);
    let html = text(response).await;
    assert!(!html.contains("class=\"brand\""), "{html}");
    assert!(!html.contains("id=\"support\""), "{html}");
    assert!(html.contains("<title>Nope</title>"), "{html}");
    assert_eq!(
        policy,
        format!(
            "default-src 'none'; style-src 'self' {}; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
            hash_of_style(&html)
        )
    );
    assert!(!policy.contains("unsafe-inline"));
}

#[tokio::test]
async fn a_path_logo_is_the_apps_own_and_behind_the_prefix() {
    let shared = shared_of(
        test_base()
            .external_url("https://example.com/app")
            .branding(BrandingConfig::new().app_name("Acme").logo("/static/a.png")),
        None,
    );
    let response = branded(
        &shared,
        logout::logged_out_page(&shared, None, &HeaderMap::new()),
    );
    let policy = csp(&response);
    let html = text(response).await;
    assert!(html.contains("src=\"/app/static/a.png\""), "{html}");
    assert!(policy.contains("img-src 'self' data:;"), "{policy}");
}

#[tokio::test]
async fn the_chooser_keeps_provider_logo_origins_beside_the_apps() {
    let builder = test_base()
        .logo("https://logos.example.org/id.svg")
        .provider(
            ProviderBuilder::new("Other")
                .issuer("https://other.example.com")
                .client_id("o"),
        )
        .branding(acme());
    let shared = shared_of(builder, None);
    let response = branded(&shared, login::chooser(&shared, "/"));
    let policy = csp(&response);
    assert!(
        policy.contains("img-src 'self' data: https://cdn.acme.example https://logos.example.org;"),
        "{policy}"
    );
    let html = text(response).await;
    assert!(html.contains("Sign in with Other"), "{html}");
    assert!(html.contains("Acme &lt;b&gt;Portal"), "{html}");
}

/// Replaces the signed-out page and the refusals; the rest falls back.
struct SomePages;
impl PageRenderer for SomePages {
    fn signed_out(&self, page: &SignedOutPage) -> String {
        maud::html! {
            html { body { h1 { "Bye from " (page.branding().app_name().unwrap_or("?")) }
                a href=(page.sign_in_href()) { "again" } } }
        }
        .into_string()
    }
    fn refusal(&self, page: &ProblemPage) -> String {
        format!("refusal {} {:?}", page.status().as_u16(), page.kind())
    }
}

#[tokio::test]
async fn an_apps_page_replaces_one_kind_and_the_others_fall_back() {
    let shared = shared_of(test_base().branding(acme()), Some(Arc::new(SomePages)));
    let out = branded(
        &shared,
        logout::logged_out_page(&shared, None, &HeaderMap::new()),
    );
    assert_eq!(out.status(), StatusCode::OK);
    assert_eq!(out.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(out.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(csp(&out).starts_with("default-src 'none'; style-src 'self' 'sha256-"));
    let html = text(out).await;
    assert!(
        html.contains("Bye from Acme &lt;b&gt;Portal&lt;/b&gt;"),
        "{html}"
    );
    assert!(
        html.contains("href=\"/auth/login?return_to=%2F\""),
        "{html}"
    );

    let refused = Problem::new(StatusCode::FORBIDDEN, "No access to this app", "d")
        .kind(ProblemKind::Refusal)
        .into_response(true);
    let refused = branded(&shared, refused);
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(text(refused).await, "refusal 403 Refusal");

    // Not replaced: the built-in pages, branded.
    let confirm = branded(&shared, logout::confirm_page(&shared).await);
    let html = text(confirm).await;
    assert!(
        html.contains("<form id=\"logout\" method=\"post\" action=\"/auth/logout\">"),
        "{html}"
    );
    assert!(html.contains("Acme &lt;b&gt;Portal"), "{html}");
    let forbidden = branded(&shared, crate::guard::forbidden("no role", true, "/admin"));
    let html = text(forbidden).await;
    assert!(
        html.contains("You do not have access to this page"),
        "{html}"
    );
    let down = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Down", "d").into_response(true);
    let down = branded(&shared, down);
    assert_eq!(down.headers()[header::RETRY_AFTER], "5");
    assert!(text(down).await.contains("<h1>Down</h1>"));
}

#[tokio::test]
async fn programs_keep_problem_json_whatever_the_pages() {
    let shared = shared_of(test_base().branding(acme()), Some(Arc::new(SomePages)));
    let mut json = Problem::new(StatusCode::FORBIDDEN, "No", "d")
        .kind(ProblemKind::Refusal)
        .into_response(false);
    assert!(
        rebrand(&shared, &mut json).is_none(),
        "problem+json is never a page"
    );
    assert_eq!(
        json.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(
        json.headers()[header::CONTENT_SECURITY_POLICY],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert!(text(json).await.starts_with('{'));
}

/// A guard's `403` is answered inside the app: the layer's service renders it in the app's
/// branding on the way out, and leaves the app's own responses alone.
#[tokio::test]
async fn the_service_brands_pages_answered_inside_the_app() {
    let config = test_base()
        .public_paths(["/*"])
        .branding(acme())
        .build()
        .expect("valid");
    let layer = OidcLayer::new(config);
    let app = tower::service_fn(|request: Request<Full<Bytes>>| async move {
        let response = if request.uri().path() == "/admin" {
            crate::guard::forbidden("This page needs the `admin` role.", true, "/admin")
        } else {
            Response::new(Full::new(Bytes::from_static(b"the app's own")))
        };
        Ok::<_, Infallible>(response)
    });
    let service = layer.layer(app);
    let get = |path: &str| Request::get(path).body(Full::new(Bytes::new())).unwrap();
    let forbidden = service.clone().oneshot(get("/admin")).await.unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert!(
        forbidden.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("https://cdn.acme.example")
    );
    let body = forbidden.into_body().collect().await.unwrap().to_bytes();
    let html = String::from_utf8(body.to_vec()).unwrap();
    assert!(html.contains("id=\"app-name\""), "{html}");
    assert!(html.contains("<code>admin</code>"), "{html}");
    let own = service.oneshot(get("/")).await.unwrap();
    assert!(own.headers().get(header::CONTENT_SECURITY_POLICY).is_none());
    let body = own.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"the app's own");
}

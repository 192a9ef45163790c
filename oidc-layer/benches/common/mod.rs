//! What the benches share: logging alice in through the layer and the in-process test
//! provider, in process.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};

pub mod cookies;

use cookies::cookie_pairs;
use http_body_util::Full;
use tower::{Service, ServiceExt};

/// Logs alice in through the layer (starting at protected `path`) and the test provider, which
/// must sign her in at once; returns the session cookie pair (`oidc_session_<tag>=...`: the
/// layer's default name).
pub async fn login<S>(service: &S, path: &str) -> String
where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<oidc_layer::ResponseBody<Full<Bytes>>>,
            Error = Infallible,
        > + Clone,
{
    let start = Request::get(path)
        .header(header::ACCEPT, "text/html")
        .body(Full::default())
        .expect("request");
    let response = service.clone().oneshot(start).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::FOUND);
    let attempt = cookie_pairs(&response).join("; ");
    let authorize = response.headers()[header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let to_callback = http.get(&authorize).send().await.expect("provider");
    let callback = url::Url::parse(
        to_callback.headers()[header::LOCATION]
            .to_str()
            .expect("location"),
    )
    .expect("url");
    let request = Request::get(format!(
        "{}?{}",
        callback.path(),
        callback.query().unwrap_or("")
    ))
    .header(header::ACCEPT, "text/html")
    .header(header::COOKIE, attempt)
    .body(Full::default())
    .expect("request");
    let response = service.clone().oneshot(request).await.expect("infallible");
    if response.status() != StatusCode::SEE_OTHER {
        use http_body_util::BodyExt;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        panic!("login failed: {status} {}", String::from_utf8_lossy(&body));
    }
    cookie_pairs(&response)
        .into_iter()
        .find(|c| {
            c.split_once('=')
                .is_some_and(|(name, _)| name.starts_with("oidc_session_") && !name.contains('-'))
        })
        .expect("session cookie")
}

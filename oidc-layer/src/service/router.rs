//! The layer's own routes under its prefix (`{prefix}/login`, the callbacks, `/logout`,
//! `/logged-out`, `/link`, `/backchannel-logout`), each sent to its flow.

use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};

use super::body::BoxError;
use crate::flows::{backchannel, callback, link, login, logout};
use crate::pages::{PageBody, Problem};
use crate::state::Shared;

/// A request under the prefix: answered by the layer, or handed back (not one of its routes).
pub(super) enum Routed<B> {
    Answered(Response<PageBody>),
    Passed(Request<B>),
}

/// Routes a request whose path starts with the prefix. Cold: the caller boxes this future, so
/// the hot path's future stays small (the callback's state machine is kilobytes; inlining it
/// would make every authenticated request allocate and move it). The request is split: only
/// its head is borrowed across the awaits (the body need not be `Sync`).
pub(super) async fn route<B>(shared: &Shared, request: Request<B>) -> Routed<B>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    if shared.config.app_path(parts.uri.path()) == Some(&shared.routes.backchannel_logout) {
        // The only route of the layer that reads a body (the provider's logout token).
        return Routed::Answered(backchannel_route(shared, &parts, body).await);
    }
    match reserved_route(shared, &parts).await {
        Some(response) => Routed::Answered(response),
        None => Routed::Passed(Request::from_parts(parts, body)),
    }
}

/// `POST {prefix}/backchannel-logout`: reads the (bounded) form body, then hands it over.
async fn backchannel_route<B>(shared: &Shared, parts: &Parts, body: B) -> Response<PageBody>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    if parts.method != Method::POST {
        return method_not_allowed("POST");
    }
    let limited = http_body_util::Limited::new(body, backchannel::MAX_BODY_BYTES);
    match http_body_util::BodyExt::collect(limited).await {
        Ok(collected) => {
            backchannel::backchannel_logout(shared, &parts.headers, &collected.to_bytes()).await
        }
        // A 400 with the JSON error body of every other refusal (Back-Channel Logout 2.8).
        Err(_) => backchannel::invalid("the request body is too large or unreadable"),
    }
}

/// The layer's own routes under the prefix; `None` for every other path.
async fn reserved_route(shared: &Shared, request: &Parts) -> Option<Response<PageBody>> {
    let path = shared.config.app_path(request.uri.path())?;
    if !path.starts_with(&shared.routes.prefix) {
        return None;
    }
    let routes = &shared.routes;
    let method = &request.method;
    let headers = &request.headers;
    let query = request.uri.query();
    let get = method == Method::GET || method == Method::HEAD;
    if let Some(index) = shared
        .providers
        .iter()
        .position(|p| p.callback_path == path)
    {
        if !get {
            return Some(method_not_allowed("GET"));
        }
        return Some(callback::callback(shared, index, query, headers).await);
    }
    let response = if path == routes.login {
        if !get {
            return Some(method_not_allowed("GET"));
        }
        login::login_route(shared, query, headers).await
    } else if path == routes.logout {
        match *method {
            Method::GET | Method::HEAD => logout::confirm_page(shared).await,
            Method::POST => logout::logout(shared, headers).await,
            _ => return Some(method_not_allowed("GET, POST")),
        }
    } else if path == routes.logged_out {
        logout::logged_out_page(shared, query, headers)
    } else if path == routes.link {
        if method != Method::POST {
            return Some(method_not_allowed("POST"));
        }
        link::link_route(shared, query, headers).await
    } else {
        return None;
    };
    Some(response)
}

fn method_not_allowed(allow: &'static str) -> Response<PageBody> {
    let mut response = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        format!("Use {allow}."),
    )
    .into_response(false);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

//! The layer's own redirects.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// A response body the layer writes itself (redirects here, pages in `crate::pages`, which
/// re-exports it: `web` imports nothing from `pages`).
pub(crate) type PageBody = Full<Bytes>;

/// `303 See Other` to a same-origin path, never cached, never leaking the callback URL.
pub(crate) fn redirect(path: &str) -> Response<PageBody> {
    let mut response = Response::new(PageBody::default());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(path) {
        h.insert(header::LOCATION, v);
    } else {
        h.insert(header::LOCATION, HeaderValue::from_static("/"));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

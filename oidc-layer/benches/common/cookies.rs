//! The cookies a response sets, as the benches send them back.

use http::{Response, header};

/// The `name=value` pairs of the cookies `response` sets (removals left out).
pub fn cookie_pairs(response: &Response<impl Sized>) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|line| !line.contains("Max-Age=0"))
        .filter_map(|line| line.split(';').next().map(str::to_owned))
        .collect()
}

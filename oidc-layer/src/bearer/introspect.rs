//! OAuth 2.0 Token Introspection (RFC 7662) client: asks a provider whether an opaque access
//! token is active.
//!
//! The request (RFC 7662 section 2.1) is a form POST of `token` and
//! `token_type_hint=access_token`, authenticated as the app's client: HTTP Basic with the id
//! and secret each form-urlencoded first (RFC 6749 section 2.3.1, which many clients forget:
//! a secret with `:` or `%` otherwise fails or, worse, authenticates as something else), or
//! `client_id`/`client_secret` in the body (`client_secret_post`).
//!
//! The answer (section 2.2) is read strictly: a bounded body, `application/json`, one JSON
//! object without duplicate members, `active` the JSON boolean `true` (not `"true"`, not `1`),
//! and the members the layer reads of the right JSON type. Anything else is a
//! [`IntrospectError::BadResponse`], never an active token. Nulls are dropped (they say
//! nothing). The JWT form of the answer (RFC 9701) is not asked for.
//!
//! Errors never carry the token: not in their text, not echoed from the provider's body.

use std::fmt;

use http::{HeaderValue, Method, StatusCode, header};
use openidconnect::AsyncHttpClient as _;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use url::form_urlencoded;

use crate::http_client::{HttpClient, HttpError};

/// Introspection answers larger than this are refused: a real one is a few hundred bytes
/// (a few KB with many groups); the cached claims of every token must stay small.
pub(crate) const MAX_RESPONSE_BYTES: usize = 128 * 1024;

/// Tokens longer than this are not sent to the provider (an access token is a few hundred
/// bytes to a few KB; the bearer path refuses longer ones before this): they are inactive.
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// How to reach one provider's introspection endpoint as the app's client.
pub(crate) struct IntrospectionClient<'a> {
    /// The layer's HTTP client (timeouts, no redirects, bounded bodies).
    pub(crate) http: &'a HttpClient,
    /// The provider's `introspection_endpoint`.
    pub(crate) endpoint: &'a url::Url,
    /// The app's client id at this provider.
    pub(crate) client_id: &'a str,
    /// The app's client secret (none for a public client: only `client_id` is sent).
    pub(crate) client_secret: Option<&'a str>,
    /// `client_secret_post`: credentials in the form body instead of HTTP Basic.
    pub(crate) post_auth: bool,
}

impl fmt::Debug for IntrospectionClient<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.map(|_| "***"))
            .field("post_auth", &self.post_auth)
            .finish()
    }
}

/// The provider's verdict on a token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Introspection {
    /// `active: true`, with the answer's members (including `active`). Those the layer reads
    /// have been checked: `exp`/`iat`/`nbf` are non-negative integers; `scope`, `client_id`,
    /// `username`, `token_type`, `sub`, `iss`, `jti` strings; `aud` a string or a list of
    /// strings; `cnf` an object. Null members are removed.
    Active(Map<String, Value>),
    /// `active: false`: unknown, expired, revoked, or not for this client.
    Inactive,
}

/// Why the provider's verdict could not be had. The text is safe to log (no token, no secret).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IntrospectError {
    /// The endpoint could not be reached, timed out, answered 5xx or 429 (overloaded): try
    /// again later; the token may well be good.
    #[error("the introspection endpoint is unavailable: {0}")]
    Unavailable(String),
    /// The endpoint answered something that is not an RFC 7662 answer (not JSON, no boolean
    /// `active`, a member of the wrong type, too large, a redirect, 404, ...).
    #[error("the introspection endpoint's answer is unusable: {0}")]
    BadResponse(String),
    /// The endpoint refused the request (400, 401 or 403): the app's client credentials are
    /// wrong or the client may not introspect. A configuration problem, not the token's.
    #[error("the introspection endpoint refused the request: {0}")]
    Refused(String),
}

/// Asks `client.endpoint` whether `token` is an active access token.
pub(crate) async fn introspect(
    client: &IntrospectionClient<'_>,
    token: &str,
) -> Result<Introspection, IntrospectError> {
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Ok(Introspection::Inactive);
    }
    let request = build_request(client, token)?;
    let response = client.http.call(request).await.map_err(|e| match e {
        HttpError::TooLarge => IntrospectError::BadResponse(e.to_string()),
        HttpError::ServerError(status) => {
            IntrospectError::Unavailable(format!("it answered {status}"))
        }
        HttpError::Transport(_) | HttpError::Build(_) => {
            IntrospectError::Unavailable(e.to_string())
        }
    })?;
    let outcome = read_response(response.status(), response.headers(), response.body());
    // The caller logs the failure with its provider at warn level; this adds the endpoint.
    if let Err(error) = &outcome {
        tracing::debug!(endpoint = %client.endpoint, %error, "token introspection failed");
    }
    outcome
}

fn build_request(
    client: &IntrospectionClient<'_>,
    token: &str,
) -> Result<http::Request<Vec<u8>>, IntrospectError> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token);
    form.append_pair("token_type_hint", "access_token");
    let mut builder = http::Request::builder()
        .method(Method::POST)
        .uri(client.endpoint.as_str())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    match client.client_secret {
        Some(secret) if !client.post_auth => {
            builder = builder.header(
                header::AUTHORIZATION,
                basic_credentials(client.client_id, secret)?,
            );
        }
        secret => {
            form.append_pair("client_id", client.client_id);
            if let Some(secret) = secret {
                form.append_pair("client_secret", secret);
            }
        }
    }
    builder
        .body(form.finish().into_bytes())
        .map_err(|e| IntrospectError::Unavailable(format!("could not build the request: {e}")))
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 section 2.3.1).
fn basic_credentials(client_id: &str, secret: &str) -> Result<HeaderValue, IntrospectError> {
    crate::http_client::basic_credentials(client_id, secret)
        .ok_or_else(|| IntrospectError::Unavailable("could not build the request".into()))
}

fn read_response(
    status: StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Introspection, IntrospectError> {
    match status {
        StatusCode::OK => {}
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            return Err(IntrospectError::Refused(match oauth_error_code(body) {
                Some(code) => format!("{status} {code}"),
                None => status.to_string(),
            }));
        }
        StatusCode::TOO_MANY_REQUESTS => {
            return Err(IntrospectError::Unavailable(format!(
                "it answered {status}"
            )));
        }
        s if s.is_server_error() => {
            return Err(IntrospectError::Unavailable(format!(
                "it answered {status}"
            )));
        }
        s if s.is_redirection() => {
            return Err(IntrospectError::BadResponse(format!(
                "it answered {status} (redirects are not followed)"
            )));
        }
        _ => {
            return Err(IntrospectError::BadResponse(format!(
                "it answered {status}"
            )));
        }
    }
    if !is_json(headers) {
        return Err(IntrospectError::BadResponse(
            "its Content-Type is not application/json".into(),
        ));
    }
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(IntrospectError::BadResponse(format!(
            "it is larger than {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    let StrictObject(mut members) = serde_json::from_slice(body).map_err(|e| {
        IntrospectError::BadResponse(format!("not a JSON object: {}", e.classify_text()))
    })?;
    match members.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Ok(Introspection::Inactive),
        Some(_) => {
            return Err(IntrospectError::BadResponse(
                "`active` is not a JSON boolean".into(),
            ));
        }
        None => return Err(IntrospectError::BadResponse("`active` is missing".into())),
    }
    members.retain(|_, value| !value.is_null());
    check_members(&members)?;
    Ok(Introspection::Active(members))
}

/// The media type is `application/json` (parameters such as `charset` allowed).
fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The `error` code of an OAuth error body, when it is one (RFC 6749 section 5.2 charset, short):
/// never free text from the provider, which could echo the token.
fn oauth_error_code(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let code = value.get("error")?.as_str()?;
    let safe = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    safe.then(|| code.to_owned())
}

enum Kind {
    Text,
    Time,
    Audience,
    Object,
}

/// The RFC 7662 section 2.2 members (and RFC 9449's `cnf`) and the JSON type each must have.
const MEMBERS: &[(&str, Kind)] = &[
    ("scope", Kind::Text),
    ("client_id", Kind::Text),
    ("username", Kind::Text),
    ("token_type", Kind::Text),
    ("exp", Kind::Time),
    ("iat", Kind::Time),
    ("nbf", Kind::Time),
    ("sub", Kind::Text),
    ("aud", Kind::Audience),
    ("iss", Kind::Text),
    ("jti", Kind::Text),
    ("cnf", Kind::Object),
];

fn check_members(members: &Map<String, Value>) -> Result<(), IntrospectError> {
    for (name, kind) in MEMBERS {
        let Some(value) = members.get(*name) else {
            continue;
        };
        let ok = match kind {
            Kind::Text => value.is_string(),
            // RFC 7662: "Integer timestamp, measured in the number of seconds since January 1
            // 1970 UTC".
            Kind::Time => value.is_u64(),
            Kind::Audience => {
                value.is_string()
                    || value
                        .as_array()
                        .is_some_and(|list| list.iter().all(Value::is_string))
            }
            Kind::Object => value.is_object(),
        };
        if !ok {
            let expected = match kind {
                Kind::Text => "a string",
                Kind::Time => "a non-negative integer",
                Kind::Audience => "a string or a list of strings",
                Kind::Object => "a JSON object",
            };
            return Err(IntrospectError::BadResponse(format!(
                "`{name}` is not {expected}"
            )));
        }
    }
    Ok(())
}

/// A JSON object whose top-level members are unique: `{"active":false,"active":true}` is
/// ambiguous (parsers disagree on which wins) and refused.
struct StrictObject(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut members = Map::new();
                while let Some(name) = access.next_key::<String>()? {
                    let value: Value = access.next_value()?;
                    if members.contains_key(&name) {
                        return Err(de::Error::custom("a member appears twice"));
                    }
                    members.insert(name, value);
                }
                Ok(StrictObject(members))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// A short description of a JSON error without the input (serde_json's messages can quote it).
trait ClassifyText {
    fn classify_text(&self) -> &'static str;
}

impl ClassifyText for serde_json::Error {
    fn classify_text(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "wrong shape",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::Router;
    use axum::body::{Body, Bytes};
    use axum::extract::State;
    use axum::routing::post;
    use serde_json::json;

    use super::*;

    /// A token with the characters form encoding must protect (`+`, `&`, `=`, `%`, space).
    const TOKEN: &str = "opaque+token&with=odd%chars and/slashes";

    /// What the endpoint received.
    #[derive(Clone, Debug, Default)]
    struct Seen {
        authorization: Option<String>,
        content_type: Option<String>,
        accept: Option<String>,
        form: Vec<(String, String)>,
    }

    impl Seen {
        fn field(&self, name: &str) -> Option<&str> {
            self.form
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// What the endpoint answers.
    #[derive(Clone)]
    struct Answer {
        status: u16,
        content_type: Option<&'static str>,
        body: Vec<u8>,
        delay: Duration,
    }

    impl Answer {
        fn json(value: serde_json::Value) -> Self {
            Self::raw(200, Some("application/json"), value.to_string())
        }
        fn raw(status: u16, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Self {
            Self {
                status,
                content_type,
                body: body.into(),
                delay: Duration::ZERO,
            }
        }
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    /// An introspection endpoint on 127.0.0.1 that records each request and gives `answer`.
    async fn endpoint(answer: Answer) -> (url::Url, Log) {
        let log = Log::default();
        let app = Router::new()
            .route("/introspect", post(respond))
            .with_state((log.clone(), answer));
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound listener's address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = format!("http://{addr}/introspect").parse().expect("a URL");
        (url, log)
    }

    async fn respond(
        State((log, answer)): State<(Log, Answer)>,
        headers: http::HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        log.lock().expect("the log").push(Seen {
            authorization: text(header::AUTHORIZATION),
            content_type: text(header::CONTENT_TYPE),
            accept: text(header::ACCEPT),
            form: form_urlencoded::parse(&body).into_owned().collect(),
        });
        tokio::time::sleep(answer.delay).await;
        let mut response = http::Response::builder().status(answer.status);
        if let Some(content_type) = answer.content_type {
            response = response.header(header::CONTENT_TYPE, content_type);
        }
        response.body(Body::from(answer.body)).expect("a response")
    }

    fn http() -> HttpClient {
        HttpClient::new(Duration::from_secs(2), Duration::from_secs(2)).expect("an HTTP client")
    }

    async fn ask(answer: Answer) -> Result<Introspection, IntrospectError> {
        let (url, _) = endpoint(answer).await;
        let http = http();
        let client = IntrospectionClient {
            http: &http,
            endpoint: &url,
            client_id: "app",
            client_secret: Some("secret"),
            post_auth: false,
        };
        introspect(&client, TOKEN).await
    }

    fn bad_response(result: Result<Introspection, IntrospectError>) -> String {
        match result {
            Err(IntrospectError::BadResponse(why)) => why,
            other => panic!("expected BadResponse, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn basic_auth_form_encodes_id_and_secret_and_the_request_is_rfc_7662() {
        let (url, log) = endpoint(Answer::json(json!({"active": false}))).await;
        let http = http();
        // RFC 6749 2.3.1: each part form-urlencoded before base64, so a `:` in the id cannot
        // move the split and `+`/`%`/non-ASCII survive.
        let client = IntrospectionClient {
            http: &http,
            endpoint: &url,
            client_id: "my app:1",
            client_secret: Some("s3cr%t+é:x"),
            post_auth: false,
        };
        assert_eq!(
            introspect(&client, TOKEN).await,
            Ok(Introspection::Inactive)
        );
        let seen = log.lock().expect("the log")[0].clone();
        let expected = format!(
            "Basic {}",
            STANDARD.encode("my+app%3A1:s3cr%25t%2B%C3%A9%3Ax")
        );
        assert_eq!(seen.authorization.as_deref(), Some(expected.as_str()));
        assert_eq!(
            seen.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(seen.accept.as_deref(), Some("application/json"));
        assert_eq!(seen.field("token"), Some(TOKEN), "the token arrives intact");
        assert_eq!(seen.field("token_type_hint"), Some("access_token"));
        assert_eq!(
            seen.field("client_id"),
            None,
            "Basic: no credentials in the body"
        );
        assert_eq!(seen.field("client_secret"), None);
        assert_eq!(seen.form.len(), 2);
    }

    #[tokio::test]
    async fn client_secret_post_puts_the_credentials_in_the_body_only() {
        let (url, log) = endpoint(Answer::json(json!({"active": false}))).await;
        let http = http();
        let client = IntrospectionClient {
            http: &http,
            endpoint: &url,
            client_id: "my app",
            client_secret: Some("s&cret="),
            post_auth: true,
        };
        assert_eq!(
            introspect(&client, TOKEN).await,
            Ok(Introspection::Inactive)
        );
        let seen = log.lock().expect("the log")[0].clone();
        assert_eq!(seen.authorization, None);
        assert_eq!(seen.field("client_id"), Some("my app"));
        assert_eq!(seen.field("client_secret"), Some("s&cret="));
        assert_eq!(seen.field("token"), Some(TOKEN));
    }

    #[tokio::test]
    async fn a_public_client_sends_its_id_and_no_secret() {
        let (url, log) = endpoint(Answer::json(json!({"active": false}))).await;
        let http = http();
        let client = IntrospectionClient {
            http: &http,
            endpoint: &url,
            client_id: "spa",
            client_secret: None,
            post_auth: false,
        };
        assert_eq!(
            introspect(&client, TOKEN).await,
            Ok(Introspection::Inactive)
        );
        let seen = log.lock().expect("the log")[0].clone();
        assert_eq!(seen.authorization, None);
        assert_eq!(seen.field("client_id"), Some("spa"));
        assert_eq!(seen.field("client_secret"), None);
    }

    #[tokio::test]
    async fn an_active_answer_gives_its_members_without_nulls() {
        let answer = json!({
            "active": true, "sub": "alice", "client_id": "cli", "scope": "read write",
            "exp": 2_000_000_000u64, "iat": 1_700_000_000u64, "aud": ["api", "other"],
            "cnf": {"jkt": "abc"}, "username": null, "groups": ["admins"],
        });
        let Ok(Introspection::Active(members)) = ask(Answer::json(answer)).await else {
            panic!("expected an active token");
        };
        assert_eq!(members["sub"], "alice");
        assert_eq!(members["scope"], "read write");
        assert_eq!(members["exp"], 2_000_000_000u64);
        assert_eq!(
            members["groups"],
            json!(["admins"]),
            "other members are kept"
        );
        assert!(!members.contains_key("username"), "nulls are dropped");
    }

    #[tokio::test]
    async fn json_with_a_charset_parameter_is_json() {
        let answer = Answer::raw(
            200,
            Some("Application/JSON; charset=utf-8"),
            r#"{"active":true}"#,
        );
        assert!(matches!(ask(answer).await, Ok(Introspection::Active(_))));
    }

    #[tokio::test]
    async fn an_inactive_answer_is_inactive_whatever_else_it_says() {
        let answer = json!({"active": false, "sub": "alice", "exp": "garbage"});
        assert_eq!(ask(Answer::json(answer)).await, Ok(Introspection::Inactive));
    }

    #[tokio::test]
    async fn active_must_be_the_json_boolean_true() {
        for body in [
            json!({"active": "true"}),
            json!({"active": 1}),
            json!({"active": null}),
            json!({"active": [true]}),
            json!({"sub": "alice"}),
            json!({}),
        ] {
            let why = bad_response(ask(Answer::json(body.clone())).await);
            assert!(why.contains("`active`"), "{body}: {why}");
        }
    }

    #[tokio::test]
    async fn a_duplicated_member_is_refused() {
        for body in [
            r#"{"active":false,"active":true}"#,
            r#"{"active":true,"sub":"a","sub":"b"}"#,
        ] {
            let answer = Answer::raw(200, Some("application/json"), body);
            let why = bad_response(ask(answer).await);
            assert!(why.contains("JSON object"), "{body}: {why}");
        }
    }

    #[tokio::test]
    async fn what_is_not_one_json_object_is_refused() {
        for body in [
            "",
            "active=true",
            "[{\"active\":true}]",
            "\"active\"",
            "true",
            "{\"active\":true} trailing",
            "{\"active\":true",
            "<html>login</html>",
        ] {
            let answer = Answer::raw(200, Some("application/json"), body);
            bad_response(ask(answer).await);
        }
    }

    #[tokio::test]
    async fn members_of_the_wrong_type_are_refused() {
        for (member, value) in [
            ("exp", json!("2000000000")),
            ("exp", json!(-1)),
            ("exp", json!(1.5e9)),
            ("iat", json!(true)),
            ("nbf", json!({})),
            ("scope", json!(["read"])),
            ("client_id", json!(7)),
            ("sub", json!(["alice"])),
            ("aud", json!(7)),
            ("aud", json!(["api", 7])),
            ("iss", json!({})),
            ("username", json!(false)),
            ("token_type", json!(1)),
            ("jti", json!(1)),
            ("cnf", json!("jkt")),
        ] {
            let mut body = json!({"active": true});
            body[member] = value.clone();
            let why = bad_response(ask(Answer::json(body)).await);
            assert!(
                why.contains(&format!("`{member}`")),
                "{member}={value}: {why}"
            );
        }
    }

    #[tokio::test]
    async fn a_content_type_other_than_json_is_refused() {
        for content_type in [
            Some("text/html"),
            Some("application/token-introspection+jwt"),
            Some("application/jsonx"),
            None,
        ] {
            let answer = Answer::raw(200, content_type, r#"{"active":true}"#);
            let why = bad_response(ask(answer).await);
            assert!(why.contains("Content-Type"), "{content_type:?}: {why}");
        }
    }

    #[tokio::test]
    async fn a_large_answer_is_refused() {
        let padding = "x".repeat(MAX_RESPONSE_BYTES);
        let answer = Answer::json(json!({"active": true, "padding": padding}));
        let why = bad_response(ask(answer).await);
        assert!(why.contains("larger"), "{why}");
        // Past the HTTP client's own bound, the body is not even read whole.
        let huge = Answer::raw(
            200,
            Some("application/json"),
            vec![b' '; crate::http_client::MAX_BODY_BYTES + 1],
        );
        bad_response(ask(huge).await);
    }

    #[tokio::test]
    async fn refusals_of_the_client_are_refused_with_the_error_code_only() {
        for status in [400, 401, 403] {
            let body = json!({"error": "invalid_client", "error_description": TOKEN});
            let answer = Answer::raw(status, Some("application/json"), body.to_string());
            match ask(answer).await {
                Err(IntrospectError::Refused(why)) => {
                    assert!(why.contains(&status.to_string()), "{why}");
                    assert!(why.contains("invalid_client"), "{why}");
                    assert!(!why.contains("opaque"), "never the description: {why}");
                }
                other => panic!("{status}: expected Refused, got {other:?}"),
            }
        }
        // An `error` that is not an OAuth code (it could be anything, the token too) is left out.
        let answer = Answer::raw(
            401,
            Some("application/json"),
            json!({"error": TOKEN}).to_string(),
        );
        assert_eq!(
            ask(answer).await,
            Err(IntrospectError::Refused("401 Unauthorized".into()))
        );
    }

    #[tokio::test]
    async fn server_errors_and_throttling_are_unavailable() {
        for status in [500, 502, 503, 429] {
            let answer = Answer::raw(status, Some("text/plain"), "down");
            assert!(
                matches!(ask(answer).await, Err(IntrospectError::Unavailable(_))),
                "{status}"
            );
        }
    }

    #[tokio::test]
    async fn redirects_and_other_statuses_are_bad_responses() {
        for status in [302, 307, 404, 405, 201, 204] {
            let mut answer = Answer::json(json!({"active": true}));
            answer.status = status;
            let why = bad_response(ask(answer).await);
            assert!(why.contains(&status.to_string()), "{status}: {why}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_or_hanging_endpoint_is_unavailable() {
        // A port nobody listens on (bound, then closed).
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("an address");
        drop(listener);
        let url: url::Url = format!("http://{addr}/introspect").parse().expect("a URL");
        let http = http();
        let client = IntrospectionClient {
            http: &http,
            endpoint: &url,
            client_id: "app",
            client_secret: Some("secret"),
            post_auth: false,
        };
        assert!(matches!(
            introspect(&client, TOKEN).await,
            Err(IntrospectError::Unavailable(_))
        ));
        // An endpoint slower than the client's timeout (2 s here).
        let mut slow = Answer::json(json!({"active": true}));
        slow.delay = Duration::from_secs(5);
        assert!(matches!(
            ask(slow).await,
            Err(IntrospectError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn an_empty_or_oversized_token_is_inactive_without_asking() {
        let (url, log) = endpoint(Answer::json(json!({"active": true}))).await;
        let http = http();
        let client = IntrospectionClient {
            http: &http,
            endpoint: &url,
            client_id: "app",
            client_secret: Some("secret"),
            post_auth: false,
        };
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(introspect(&client, "").await, Ok(Introspection::Inactive));
        assert_eq!(
            introspect(&client, &long).await,
            Ok(Introspection::Inactive)
        );
        assert!(log.lock().expect("the log").is_empty(), "no request made");
        let fits = "a".repeat(MAX_TOKEN_BYTES);
        assert!(matches!(
            introspect(&client, &fits).await,
            Ok(Introspection::Active(_))
        ));
    }

    #[tokio::test]
    async fn no_error_repeats_the_token() {
        // An endpoint that echoes the token wherever it can.
        for answer in [
            Answer::raw(200, Some("application/json"), format!("\"{TOKEN}\"")),
            Answer::raw(200, Some("application/json"), format!("{{\"{TOKEN}\": ")),
            Answer::raw(
                200,
                Some("application/json"),
                json!({"active": TOKEN}).to_string(),
            ),
            Answer::raw(
                200,
                Some("application/json"),
                json!({"active": true, "exp": TOKEN}).to_string(),
            ),
            Answer::raw(
                400,
                Some("application/json"),
                json!({"error": "x", "error_description": TOKEN}).to_string(),
            ),
            Answer::raw(500, Some("text/plain"), TOKEN),
            Answer::raw(200, Some("text/plain"), TOKEN),
        ] {
            let error = ask(answer).await.expect_err("an error");
            let text = format!("{error} {error:?}");
            assert!(!text.contains("opaque"), "{text}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let http = http();
        let url: url::Url = "https://id.example.com/introspect".parse().expect("a URL");
        let client = IntrospectionClient {
            http: &http,
            endpoint: &url,
            client_id: "app",
            client_secret: Some("hunter2"),
            post_auth: false,
        };
        let text = format!("{client:?}");
        assert!(text.contains("app") && !text.contains("hunter2"), "{text}");
    }
}

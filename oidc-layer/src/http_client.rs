//! The one HTTP client the layer uses to talk to identity providers.
//!
//! A small adapter over `reqwest` that openidconnect calls through its `AsyncHttpClient` trait:
//! connect and overall timeouts, no redirects (a provider endpoint that redirects is a
//! misconfiguration or an attack, never followed), and a cap on response body size so a hostile
//! or broken provider cannot make the app buffer gigabytes.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::BytesMut;
use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// Response bodies larger than this are refused (discovery, JWKS and token responses are a few KB).
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a call to the provider failed. Never contains a token or a secret.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("request to the provider failed: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("the provider's response is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// The provider answered a POST (the token endpoint) with a server error: it is down or
    /// overloaded, not refusing the request (refusals are 400/401 per RFC 6749 section 5.2).
    #[error("the provider answered {0}")]
    ServerError(http::StatusCode),
    #[error("could not build the request: {0}")]
    Build(String),
}

/// HTTP client for provider calls: timeouts, no redirects, bounded bodies.
#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    inner: reqwest::Client,
}

impl HttpClient {
    pub(crate) fn new(connect_timeout: Duration, timeout: Duration) -> Result<Self, HttpError> {
        let inner = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("oidc-layer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(HttpError::Transport)?;
        Ok(Self { inner })
    }

    /// GET `url` expecting JSON; returns the status and the (bounded) body.
    pub(crate) async fn get_json(
        &self,
        url: &str,
    ) -> Result<(http::StatusCode, Vec<u8>), HttpError> {
        self.get(url, None).await
    }

    /// GET `url` with `Authorization: Bearer {token}` expecting JSON.
    pub(crate) async fn get_json_authorized(
        &self,
        url: &str,
        token: &str,
    ) -> Result<(http::StatusCode, Vec<u8>), HttpError> {
        self.get(url, Some(token)).await
    }

    /// GET `url` (no redirects followed) and return the status, the response headers (the
    /// configuration doctor reads `Date` and `Location`) and the (bounded) body.
    pub(crate) async fn get_with_headers(
        &self,
        url: &str,
    ) -> Result<(http::StatusCode, http::HeaderMap, Vec<u8>), HttpError> {
        let response = self
            .inner
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(HttpError::Transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_bounded(response).await?;
        Ok((status, headers, body))
    }

    async fn get(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<(http::StatusCode, Vec<u8>), HttpError> {
        let mut request = self
            .inner
            .get(url)
            .header(http::header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(HttpError::Transport)?;
        let status = response.status();
        let body = read_bounded(response).await?;
        Ok((status, body))
    }

    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let mut builder = self.inner.request(parts.method, url).body(body);
        for (name, value) in &parts.headers {
            builder = builder.header(name, value);
        }
        let response = builder.send().await.map_err(HttpError::Transport)?;
        if response.status().is_server_error() {
            return Err(HttpError::ServerError(response.status()));
        }
        let mut out = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            out = out.header(name, value);
        }
        let body = read_bounded(response).await?;
        out.body(body).map_err(|e| HttpError::Build(e.to_string()))
    }
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`, each part
/// form-urlencoded first (RFC 6749 section 2.3.1, which many clients forget: a `:` in the id
/// would split it), marked sensitive (never logged by the HTTP stack). `None` only if the
/// header cannot be built (it always can: base64 is ASCII).
pub(crate) fn basic_credentials(client_id: &str, secret: &str) -> Option<http::HeaderValue> {
    use base64::Engine as _;
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(client_id), encode(secret));
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value = http::HeaderValue::try_from(format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return Err(HttpError::TooLarge);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(HttpError::Transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.to_vec())
}

impl<'c> AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}

impl HttpClient {
    /// A client that trusts no system roots (used only when the system store is unusable).
    pub(crate) fn without_native_roots() -> Self {
        let inner = reqwest::Client::builder()
            .tls_built_in_native_certs(false)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        Self { inner }
    }
}

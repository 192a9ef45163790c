//! The metrics of the feature `metrics`, read through `metrics-util`'s debugging recorder
//! while a real login, a failed login (a tampered state), a token refresh and a logout run
//! against the in-process test provider. Each step checks what moved since the previous one
//! (the recorder's snapshot resets counters and drains histograms), with the labels.

#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use oidc_layer::{Identity, OidcConfig, OidcLayer, ResponseBody, metrics as names};
use oidc_testkit::TestProvider;
use tower::{Layer, Service, ServiceExt};

const ORIGIN: &str = "http://127.0.0.1:8080";

/// What moved since the last snapshot: counters by (name, sorted labels), and histograms as
/// the number of values recorded.
#[derive(Debug, Default)]
struct Moved {
    counters: BTreeMap<(String, Vec<(String, String)>), u64>,
    histograms: BTreeMap<(String, Vec<(String, String)>), usize>,
}

impl Moved {
    fn of(snapshotter: &Snapshotter) -> Self {
        let mut moved = Moved::default();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let mut labels: Vec<(String, String)> = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            let name = (key.key().name().to_owned(), labels);
            match value {
                DebugValue::Counter(n) if n > 0 => {
                    moved.counters.insert(name, n);
                }
                DebugValue::Histogram(values) if !values.is_empty() => {
                    moved.histograms.insert(name, values.len());
                }
                _ => {}
            }
        }
        moved
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        self.counters
            .get(&(name.to_owned(), labels))
            .copied()
            .unwrap_or(0)
    }

    /// Values recorded in histogram `name` under a label set that holds `label`.
    fn histogram(&self, name: &str, label: (&str, &str)) -> usize {
        self.histograms
            .iter()
            .filter(|((n, l), _)| n == name && l.iter().any(|(k, v)| k == label.0 && v == label.1))
            .map(|(_, c)| c)
            .sum()
    }

    fn counters_named(&self, name: &str) -> Vec<&Vec<(String, String)>> {
        self.counters
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, l)| l)
            .collect()
    }
}

async fn whoami(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let sub = request
        .extensions()
        .get::<Identity>()
        .map(|id| id.sub().to_owned())
        .unwrap_or_default();
    Ok(Response::new(Full::from(sub)))
}

fn cookie_pairs(response: &Response<impl Sized>) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|line| !line.contains("Max-Age=0"))
        .filter_map(|line| line.split(';').next().map(str::to_owned))
        .collect()
}

fn get(path: &str, cookie: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::get(path).header(header::ACCEPT, "text/html");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Full::default()).unwrap()
}

/// The callback path and query the provider sends the browser to for a login started at
/// `service`, and the attempt cookie.
async fn to_callback<S>(service: &S) -> (String, String)
where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<ResponseBody<Full<Bytes>>>,
            Error = Infallible,
        > + Clone,
{
    let response = service.clone().oneshot(get("/whoami", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let attempt = cookie_pairs(&response).join("; ");
    let authorize = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = http.get(&authorize).send().await.unwrap();
    let callback = url::Url::parse(answer.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    (
        format!("{}?{}", callback.path(), callback.query().unwrap_or("")),
        attempt,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_refreshes_and_logouts_are_counted_with_their_labels() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let ttl = Duration::from_secs(2);
    let provider = TestProvider::builder()
        .auto_login("alice")
        .allow_any_loopback_redirect()
        .access_token_ttl(ttl)
        .start()
        .await
        .unwrap();
    let config = OidcConfig::builder()
        .issuer(provider.issuer())
        .client_id(provider.client_id())
        .client_secret(provider.client_secret())
        .external_url(ORIGIN)
        .refresh_margin(Duration::from_secs(3600))
        .build()
        .unwrap();
    let session_name = config.cookie_names().session().to_owned();
    let layer = OidcLayer::new(config);
    let slug = layer.registrations()[0].slug.clone();
    let service = layer.layer(tower::service_fn(whoami));
    Moved::of(&snapshotter);

    // A login whose state was tampered with: started, then failed as unknown_state.
    let (callback, attempt) = to_callback(&service).await;
    let state = url::Url::parse(&format!("{ORIGIN}{callback}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    // Another first character (a state that already starts with `x` would stay the same).
    let first = if state.starts_with('x') { 'y' } else { 'x' };
    let tampered = callback.replace(&state, &format!("{first}{}", &state[1..]));
    let response = service
        .clone()
        .oneshot(get(&tampered, Some(&attempt)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let moved = Moved::of(&snapshotter);
    assert_eq!(
        moved.counter(names::LOGINS_STARTED, &[("provider", &slug)]),
        1
    );
    assert_eq!(
        moved.counter(
            names::LOGINS_FAILED,
            &[("provider", &slug), ("reason", "unknown_state")]
        ),
        1,
        "{moved:#?}"
    );
    assert_eq!(
        moved.counter(names::LOGINS_COMPLETED, &[("provider", &slug)]),
        0
    );
    assert_eq!(
        moved.histogram(names::CALLBACK_DURATION, ("provider", &slug)),
        1
    );
    // Discovery and keys were fetched for the login start.
    assert!(moved.histogram(names::PROVIDER_REQUEST_DURATION, ("endpoint", "discovery")) >= 1);
    assert_eq!(
        moved.histogram(names::PROVIDER_REQUEST_DURATION, ("endpoint", "jwks")),
        1
    );

    // A login that succeeds: started, completed, the token endpoint timed, nothing failed.
    let (callback, attempt) = to_callback(&service).await;
    let response = service
        .clone()
        .oneshot(get(&callback, Some(&attempt)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let logged_in = std::time::Instant::now();
    let cookie = cookie_pairs(&response)
        .into_iter()
        .find(|c| c.starts_with(&format!("{session_name}=")))
        .unwrap();
    let moved = Moved::of(&snapshotter);
    assert_eq!(
        moved.counter(names::LOGINS_STARTED, &[("provider", &slug)]),
        1
    );
    assert_eq!(
        moved.counter(names::LOGINS_COMPLETED, &[("provider", &slug)]),
        1
    );
    assert!(
        moved.counters_named(names::LOGINS_FAILED).is_empty(),
        "{moved:#?}"
    );
    assert_eq!(
        moved.histogram(names::PROVIDER_REQUEST_DURATION, ("endpoint", "token")),
        1
    );
    assert_eq!(
        moved.histogram(names::CALLBACK_DURATION, ("provider", &slug)),
        1
    );
    assert_eq!(
        moved.histogram(names::STORE_DURATION, ("operation", "create")),
        1
    );
    assert!(moved.counters_named(names::STORE_ERRORS).is_empty());

    // Past the access token's expiry the next request waits for the refresh.
    tokio::time::sleep_until((logged_in + ttl + Duration::from_millis(200)).into()).await;
    let response = service
        .clone()
        .oneshot(get("/whoami", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let moved = Moved::of(&snapshotter);
    assert_eq!(
        moved.counter(
            names::REFRESHES,
            &[("provider", &slug), ("outcome", "refreshed")]
        ),
        1,
        "{moved:#?}"
    );
    assert_eq!(
        moved.histogram(names::STORE_DURATION, ("operation", "save")),
        1
    );
    assert_eq!(
        moved.histogram(names::PROVIDER_REQUEST_DURATION, ("endpoint", "token")),
        1
    );

    // The logout (the provider has an end-session endpoint: kind=provider).
    let logout = Request::post("/auth/logout")
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, ORIGIN)
        .header("sec-fetch-site", "same-origin")
        .body(Full::default())
        .unwrap();
    let response = service.clone().oneshot(logout).await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let moved = Moved::of(&snapshotter);
    assert_eq!(
        moved.counter(names::LOGOUTS, &[("kind", "provider")]),
        1,
        "{moved:#?}"
    );

    // No label carries a user, a session or a URL.
    for (_, labels) in moved.counters.keys().chain(moved.histograms.keys()) {
        for (_, value) in labels {
            assert!(!value.contains("alice") && !value.contains('/'), "{value}");
        }
    }
}

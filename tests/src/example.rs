//! The example apps (examples/*) run as their own processes, as `cargo run -p NAME` runs
//! them, for their end-to-end tests: started with `PORT=0` (a free port the app picks and
//! prints), killed when dropped. Their embedded provider is the in-process `TestProvider`,
//! whose sign-in page [`sign_in_at_test_provider`] uses like a person would.

use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

use crate::{Browser, Journey, Page};

/// How long an example may take to print its URL.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running example app.
#[derive(Debug)]
pub struct Example {
    child: Child,
    base: Url,
    /// Every line it printed on stdout so far.
    output: Arc<Mutex<Vec<String>>>,
}

impl Example {
    /// Starts the example binary at `binary` (`env!("CARGO_BIN_EXE_<name>")` in the example's
    /// own tests) on a free port, with `env` set, and waits until it prints the line with its
    /// URL (`... open http://127.0.0.1:PORT/...`). Its further output is passed on to this
    /// process's stderr.
    pub async fn start(binary: &str, env: &[(&str, &str)]) -> Example {
        let mut child = Command::new(binary)
            .env("PORT", "0")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let output = Arc::new(Mutex::new(Vec::new()));
        let keep = output.clone();
        let base = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await.expect("read the example's output") {
                eprintln!("{line}");
                keep.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line.clone());
                if let Some(url) = printed_url(&line) {
                    return url;
                }
            }
            panic!("{binary} ended without printing its URL");
        })
        .await
        .unwrap_or_else(|_| panic!("{binary} printed no URL within {START_TIMEOUT:?}"));
        // Keep reading: a full pipe would block the app's logging.
        let keep = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{line}");
                keep.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        Example {
            child,
            base,
            output,
        }
    }

    /// `path_and_query` on the app.
    pub fn url(&self, path_and_query: &str) -> Url {
        self.base.join(path_and_query).expect("a valid path")
    }

    /// Every line the example printed on stdout so far (its start-up lines at least).
    pub fn output(&self) -> Vec<String> {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// The app's origin in a start-up line such as `open http://127.0.0.1:3001/whoami`.
fn printed_url(line: &str) -> Option<Url> {
    let at = line.find("open http://")? + "open ".len();
    let text = line[at..].split_whitespace().next()?;
    let url = Url::parse(text).ok()?;
    url.join("/").ok()
}

/// On `page`, the `TestProvider`'s sign-in page (one button per user, the authorization
/// request in hidden inputs), clicks `user`'s button: posts the request's parameters and
/// `user` back to the page's address, then follows the redirects (back to the app). Panics
/// when the page offers no button for `user`.
pub async fn sign_in_at_test_provider(browser: &Browser, page: &Page, user: &str) -> Journey {
    assert!(
        page.status == 200 && page.body.contains(&format!("id=\"user-{user}\"")),
        "expected the test provider's sign-in page with a button for {user}: {page}\n{}",
        page.body
    );
    let mut fields: Vec<(String, String)> = page.url.query_pairs().into_owned().collect();
    fields.push(("user".into(), user.into()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut action = page.url.clone();
    action.set_query(None);
    let answer = browser.post_form(action, &fields).await;
    browser.follow(answer).await
}

#[cfg(test)]
mod tests {
    use super::printed_url;

    #[test]
    fn finds_the_url_an_example_prints() {
        for line in [
            "open http://127.0.0.1:3001/whoami",
            "accounts demo: open http://127.0.0.1:3001/",
            "open http://127.0.0.1:3001/whoami to log in",
        ] {
            assert_eq!(
                printed_url(line).map(String::from).as_deref(),
                Some("http://127.0.0.1:3001/"),
                "{line}"
            );
        }
        assert_eq!(printed_url("listening on 127.0.0.1:3001"), None);
    }
}

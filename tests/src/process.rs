//! A test provider as a child process: started with piped stdio, ready when it prints
//! `OP_READY {"issuer": ..., "port": ...}` on stdout, its discovery document fetched, its output
//! kept (for failure messages and log assertions) and forwarded to the test output. Killed when
//! dropped. Shared by [`Op`](crate::Op) (node, op.mjs) and [`DjangoOp`](crate::DjangoOp)
//! (python, django-oidc-provider).

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use url::{Origin, Url};

use crate::REQUEST_TIMEOUT;

/// How long the provider may take to print its `OP_READY` line.
const OP_READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How many lines of the provider's output are kept for failure messages.
const OP_LOG_TAIL: usize = 200;
/// How long [`ProviderProcess::sync_log`] waits for the provider's log line of its marker request.
const OP_LOG_SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// What the failure messages of [`ProviderProcess::start`] say.
pub(crate) struct Launch<'a> {
    /// The prefix of the provider's lines in the test output (`op`, `django-op`).
    pub prefix: &'static str,
    /// The program, for "could not start" messages.
    pub program: &'a str,
    /// The message when `program` does not exist.
    pub missing: &'a str,
    /// Appended when the provider exits before it is ready (how to reinstall it).
    pub stale: &'a str,
}

/// A running provider process. Killed when dropped.
pub(crate) struct ProviderProcess {
    issuer: String,
    port: u16,
    prefix: &'static str,
    /// The `OP_READY` line's JSON.
    ready: serde_json::Value,
    discovery: serde_json::Value,
    log: Arc<Mutex<VecDeque<String>>>,
    /// Every line since the start (the tail above is for failure messages).
    history: Arc<Mutex<Vec<String>>>,
    child: Child,
}

impl ProviderProcess {
    /// Spawns `command` (stdin, stdout and stderr piped: the providers exit on stdin EOF, so no
    /// orphan survives even a SIGKILLed test process), waits at most 20 s for its `OP_READY`
    /// line, then fetches its discovery document. Panics with `launch`'s messages and the
    /// provider's output when it cannot start, exits or does not become ready in time.
    pub(crate) async fn start(mut command: Command, launch: Launch<'_>) -> ProviderProcess {
        let prefix = launch.prefix;
        let mut child = match command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!("{}", launch.missing),
            Err(err) => panic!("could not start `{}`: {err}", launch.program),
        };

        let log = Arc::new(Mutex::new(VecDeque::with_capacity(OP_LOG_TAIL)));
        let history = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        tokio::spawn(forward_lines(stderr, prefix, log.clone(), history.clone()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stdout = BufReader::new(stdout).lines();

        let ready = tokio::time::timeout(OP_READY_TIMEOUT, async {
            while let Ok(Some(line)) = stdout.next_line().await {
                if let Some(json) = line.strip_prefix("OP_READY ") {
                    return Some(json.to_string());
                }
                push_log(&log, &history, prefix, line);
            }
            None
        })
        .await;
        let ready = match ready {
            Ok(Some(json)) => json,
            Ok(None) => {
                let status = child.wait().await;
                tokio::time::sleep(Duration::from_millis(100)).await; // let stderr drain
                panic!(
                    "the test OpenID provider ({prefix}) exited before it was ready ({status:?}); its output:\n{}\n{}",
                    tail(&log),
                    launch.stale
                );
            }
            Err(_) => panic!(
                "the test OpenID provider ({prefix}) printed no OP_READY line within {OP_READY_TIMEOUT:?}; its output:\n{}",
                tail(&log)
            ),
        };
        let info: serde_json::Value = serde_json::from_str(&ready)
            .unwrap_or_else(|err| panic!("bad OP_READY line {ready:?}: {err}"));
        let issuer = info["issuer"]
            .as_str()
            .expect("OP_READY has an issuer")
            .to_string();
        let port = info["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("OP_READY has a port");
        let log_for_stdout = log.clone();
        let history_for_stdout = history.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                push_log(&log_for_stdout, &history_for_stdout, prefix, line);
            }
        });

        let discovery_url = format!("{issuer}/.well-known/openid-configuration");
        let discovery = async {
            reqwest::Client::new()
                .get(&discovery_url)
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        }
        .await
        .unwrap_or_else(|err: reqwest::Error| {
            panic!(
                "GET {discovery_url}: {err}; provider output:\n{}",
                tail(&log)
            )
        });

        ProviderProcess {
            issuer,
            port,
            prefix,
            ready: info,
            discovery,
            log,
            history,
            child,
        }
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn origin(&self) -> Origin {
        Url::parse(&self.issuer).expect("issuer is a URL").origin()
    }

    /// The JSON of the provider's `OP_READY` line.
    pub(crate) fn ready(&self) -> &serde_json::Value {
        &self.ready
    }

    pub(crate) fn discovery(&self) -> &serde_json::Value {
        &self.discovery
    }

    pub(crate) fn endpoint(&self, name: &str) -> Url {
        let url = self.discovery[name]
            .as_str()
            .unwrap_or_else(|| panic!("discovery has no {name}"));
        Url::parse(url).unwrap_or_else(|err| panic!("discovery {name} {url:?}: {err}"))
    }

    pub(crate) fn log_tail(&self) -> String {
        tail(&self.log)
    }

    pub(crate) fn log_lines(&self) -> Vec<String> {
        self.history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn count_log_lines(&self, needle: &str) -> usize {
        self.log_lines()
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// Requests a unique marker path on the provider's origin and waits for its request log
    /// line: every line the provider printed before is then in [`ProviderProcess::log_lines`].
    pub(crate) async fn sync_log(&self) {
        let marker = format!(
            "/__log-sync/{}",
            SYNC_MARKER.fetch_add(1, Ordering::Relaxed)
        );
        let origin = self.origin().ascii_serialization();
        let url = format!("{origin}{marker}");
        let _ = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("build the reqwest client")
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {url}: {err}"));
        let needle = format!(" {marker} ");
        let seen = tokio::time::timeout(OP_LOG_SYNC_TIMEOUT, async {
            while self.count_log_lines(&needle) == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(
            seen.is_ok(),
            "the provider ({}) never logged {marker} (does it log requests?); its output:\n{}",
            self.prefix,
            self.log_tail()
        );
    }

    /// Stops the process gracefully (SIGTERM) and waits for it to exit; SIGKILL after 10 s.
    pub(crate) async fn terminate(&mut self) {
        terminate(&mut self.child).await;
    }

    pub(crate) async fn stop(&mut self) {
        if let Err(err) = self.child.kill().await {
            panic!("could not stop the test OpenID provider: {err}");
        }
    }
}

/// Makes [`ProviderProcess::sync_log`] markers unique within the process.
static SYNC_MARKER: AtomicU64 = AtomicU64::new(0);

async fn forward_lines(
    stream: impl AsyncRead + Unpin,
    prefix: &'static str,
    log: Arc<Mutex<VecDeque<String>>>,
    history: Arc<Mutex<Vec<String>>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        push_log(&log, &history, prefix, line);
    }
}

fn push_log(
    log: &Mutex<VecDeque<String>>,
    history: &Mutex<Vec<String>>,
    prefix: &str,
    line: String,
) {
    // eprintln! is captured per test (tokio's worker threads inherit the test thread's capture).
    eprintln!("[{prefix}] {line}");
    history
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(line.clone());
    let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if log.len() == OP_LOG_TAIL {
        log.pop_front();
    }
    log.push_back(line);
}

fn tail(log: &Mutex<VecDeque<String>>) -> String {
    let log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    log.iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Stops `child` gracefully: SIGTERM, then waits for it to exit; SIGKILL after 10 s. (Test
/// providers write their state on SIGTERM; `Child::kill` would not let them.)
pub async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    if tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

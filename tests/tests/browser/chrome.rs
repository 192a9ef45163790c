//! Headless Chromium driven over WebDriver: one chromedriver and one browser (with a fresh
//! profile) per test, both killed when the test ends, even when it fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use url::Url;

/// What to run when the browser is missing (Debian packages).
pub const INSTALL: &str = "apt-get update && apt-get install -y chromium chromium-driver";

/// How long a page may take to show what a test waits for.
pub const WAIT: Duration = Duration::from_secs(15);

/// The flags of every browser the suite starts.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1000,760",
    "--lang=en-US",
    // Nothing outside loopback: a page's external font or image fails at once instead of
    // waiting for DNS (the provider's logout page imports a web font). Names under
    // `example.test` are loopback too: apps on a site other than the provider's
    // (`SameSite`), and on subdomains of one domain (`Domain` cookies).
    "--host-resolver-rules=MAP *.example.test 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

static PROFILE: AtomicU64 = AtomicU64::new(0);

/// `name` on `PATH` (or the path in `$env_var`), else a panic saying how to install it.
fn find_binary(env_var: &str, names: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{env_var}={} does not exist; unset it or install the browser:\n    {INSTALL}",
            path.display()
        );
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the real-browser tests need {} on PATH (or {env_var}=/path/to/it); it is missing.\n\
         Install Chromium and its WebDriver (Debian), then rerun:\n    {INSTALL}\n    cargo test -p oidc-e2e --test browser\n\
         (`bash scripts/test.sh` installs them when missing.) These tests never skip.",
        names.join(" or ")
    );
}

/// A headless Chromium under chromedriver, with its own temporary profile.
pub struct Chrome {
    client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Chrome {
    /// Starts chromedriver on a free loopback port and a headless Chromium with a fresh
    /// profile. Panics with the install command when either is missing.
    pub async fn start() -> Chrome {
        let chromium = find_binary("CHROMIUM", &["chromium", "chromium-browser"]);
        let chromedriver = find_binary("CHROMEDRIVER", &["chromedriver"]);
        let profile = std::env::temp_dir().join(format!(
            "oidc-e2e-chromium-{}-{}",
            std::process::id(),
            PROFILE.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("create the browser profile folder");

        let mut last_error = String::new();
        // A port picked free can be taken before chromedriver binds it: try a few.
        for _ in 0..3 {
            let port = {
                let listener =
                    std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
                listener.local_addr().expect("local addr").port()
            };
            let log = profile.join("chromedriver.log");
            let mut driver = Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "could not start {}: {e}\n    {INSTALL}",
                        chromedriver.display()
                    )
                });
            let webdriver = format!("http://127.0.0.1:{port}");
            if !wait_ready(&webdriver, &mut driver).await {
                last_error = format!(
                    "chromedriver did not become ready on port {port}; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                let _ = driver.kill().await;
                continue;
            }
            let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
            args.push(format!(
                "--user-data-dir={}",
                profile.join("data").display()
            ));
            let mut caps = serde_json::Map::new();
            caps.insert("browserName".into(), json!("chrome"));
            caps.insert(
                "goog:chromeOptions".into(),
                json!({ "binary": chromium, "args": args }),
            );
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&webdriver)
                .await
            {
                Ok(client) => {
                    return Chrome {
                        client,
                        driver,
                        profile,
                    };
                }
                Err(e) => {
                    last_error = format!(
                        "chromedriver could not start {}: {e}; its log:\n{}",
                        chromium.display(),
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                    let _ = driver.kill().await;
                }
            }
        }
        panic!("{last_error}\nIs the browser installed and working?\n    {INSTALL}");
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Ends the browser session (closes Chromium) and stops chromedriver.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        let _ = self.driver.kill().await;
    }

    // ---- navigation and reading ------------------------------------------------------------

    /// Navigates to `url` (like typing it) and returns once the page has loaded.
    pub async fn goto(&self, url: &Url) {
        self.client
            .goto(url.as_str())
            .await
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
    }

    /// The address bar.
    pub async fn url(&self) -> Url {
        self.client.current_url().await.expect("current URL")
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The text of the first `<h1>`, or "" when there is none.
    pub async fn heading(&self) -> String {
        match self.client.find(Locator::Css("h1")).await {
            Ok(h1) => h1.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits (at most [`WAIT`]) until `css` matches an element.
    pub async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "waited {WAIT:?} for `{css}` on {}: {e}\npage text:\n{}",
                self.url().await,
                self.text().await
            ),
        }
    }

    /// The element matching `css` now, if any.
    pub async fn find(&self, css: &str) -> Option<Element> {
        self.client.find(Locator::Css(css)).await.ok()
    }

    /// Waits (at most [`WAIT`]) until the address bar satisfies `done`; returns it.
    pub async fn wait_for_url(&self, what: &str, done: impl Fn(&Url) -> bool) -> Url {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.url().await;
            if done(&url) {
                return url;
            }
            if Instant::now() > deadline {
                panic!(
                    "waited {WAIT:?} for {what}; the browser is at {url}; page text:\n{}",
                    self.text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the element matching `css` (waiting for it first).
    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// Clicks the element matching `css` and waits (at most [`WAIT`]) until another document
    /// is loaded: a form whose answer comes back to the same URL (a POST, then a redirect to
    /// the page) cannot be waited for by its address, and reading the old page while it goes
    /// away gives stale elements.
    pub async fn click_to_next_page(&self, css: &str) {
        const MARK: &str = "window.__oidcE2eBeforeClick = true; return true;";
        const GONE: &str = "return window.__oidcE2eBeforeClick === undefined \
            && document.readyState === 'complete';";
        self.client
            .execute(MARK, vec![])
            .await
            .unwrap_or_else(|e| panic!("mark the page: {e}"));
        self.click(css).await;
        let deadline = Instant::now() + WAIT;
        loop {
            // During the navigation the script may fail: not yet.
            if let Ok(Value::Bool(true)) = self.client.execute(GONE, vec![]).await {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "waited {WAIT:?} for a new page after clicking `{css}`; the browser is at {}",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `text` into the element matching `css` (waiting for it first).
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        element.clear().await.ok();
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into `{css}`: {e}"));
    }

    /// Runs `script` (an async function body whose last statement calls
    /// `arguments[arguments.length - 1](result)`) in the page.
    pub async fn run_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    // ---- tabs --------------------------------------------------------------------------------

    /// Opens a new tab and switches to it; returns its handle.
    pub async fn new_tab(&self) -> fantoccini::wd::WindowHandle {
        let tab = self.client.new_window(true).await.expect("open a tab");
        self.client
            .switch_to_window(tab.handle.clone())
            .await
            .expect("switch to the new tab");
        tab.handle
    }

    /// The handle of the current tab.
    pub async fn tab(&self) -> fantoccini::wd::WindowHandle {
        self.client.window().await.expect("the current tab")
    }

    /// Switches to tab `handle`.
    pub async fn switch_to(&self, handle: &fantoccini::wd::WindowHandle) {
        self.client
            .switch_to_window(handle.clone())
            .await
            .expect("switch tabs");
    }

    // ---- cookies -------------------------------------------------------------------------------

    /// Every cookie the current page's URL gets (HttpOnly ones included: WebDriver sees them).
    pub async fn cookies(&self) -> Vec<cookie::Cookie<'static>> {
        self.client
            .get_all_cookies()
            .await
            .expect("read cookies")
            .into_iter()
            .map(|c| c.into_owned())
            .collect()
    }

    /// Deletes cookie `name` of the current page's host.
    pub async fn delete_cookie(&self, name: &str) {
        self.client
            .delete_cookie(name)
            .await
            .unwrap_or_else(|e| panic!("delete cookie {name}: {e}"));
    }

    // ---- screenshots ------------------------------------------------------------------------

    /// Saves a PNG of the viewport as `{screenshot_dir()}/{name}.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("take a screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("create the screenshot folder");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        eprintln!("[browser] screenshot {}", path.display());
        path
    }

    /// Resizes the window (screenshots for the README are small).
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("resize the window");
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // A failed test never reaches `quit`: kill the browser processes of this profile (and
        // only those), then chromedriver (kill_on_drop), then remove the profile.
        kill_processes_using(&self.profile);
        let _ = self.driver.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where screenshots go: `$SCREENSHOT_DIR`, else `{CARGO_TARGET_TMPDIR}/screenshots`.
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"))
}

async fn wait_ready(webdriver: &str, driver: &mut Child) -> bool {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("build the reqwest client");
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = driver.try_wait() {
            return false;
        }
        if let Ok(response) = client.get(format!("{webdriver}/status")).send().await
            && let Ok(status) = response.json::<Value>().await
            && status["value"]["ready"] == true
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// SIGKILLs every process whose command line mentions `profile` (the browser and its helpers).
fn kill_processes_using(profile: &Path) {
    let needle = profile.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let pids: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.to_owned();
            pid.bytes().all(|b| b.is_ascii_digit()).then_some(pid)
        })
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        })
        .collect();
    if !pids.is_empty() {
        let _ = std::process::Command::new("kill")
            .arg("-KILL")
            .args(&pids)
            .stderr(Stdio::null())
            .status();
    }
}

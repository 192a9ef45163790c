//! [`RedisServer`]: a throwaway `redis-server` on a free loopback port, for tests and
//! benchmarks (features `conformance` and `redis`).
//!
//! Never the machine's shared instance: every server is started here, with no persistence
//! (`--save '' --appendonly no`), bound to 127.0.0.1, and killed when dropped. When the binary
//! is missing, [`RedisServer::start`] panics with the command that installs it: the tests that
//! need Redis fail, they never skip.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `redis-server` package installs the server.
const DEFAULT_BINARY: &str = "/usr/bin/redis-server";

/// How to install the server, quoted in every "cannot start" message.
const INSTALL_HINT: &str = "apt-get install redis-server (scripts/test.sh installs it), or set REDIS_SERVER=/path/to/redis-server";

/// How long a server may take to answer `PING` after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` child process on `127.0.0.1:<port>`. Killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
    tls: Option<TlsListener>,
}

/// What [`RedisServer::start_tls`] serves TLS with (PEM text). `Debug` omits the private key.
#[derive(Clone)]
pub struct ServerTls {
    /// The server's certificate (for `127.0.0.1`).
    pub certificate_pem: String,
    /// The server certificate's private key.
    pub key_pem: String,
    /// The CA that client certificates must chain to (Redis requires one by default).
    pub client_ca_pem: String,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("certificate_pem", &self.certificate_pem)
            .field("client_ca_pem", &self.client_ca_pem)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct TlsListener {
    port: u16,
    /// Certificate, key and client CA, in files for `redis-server`.
    files: [PathBuf; 3],
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers `PING`.
    ///
    /// The binary is `$REDIS_SERVER`, else `/usr/bin/redis-server`, else `redis-server` on the
    /// `PATH`.
    ///
    /// # Panics
    ///
    /// When no binary is found (the message says how to install one), or the server does not
    /// start.
    pub fn start() -> RedisServer {
        Self::start_with(None)
    }

    /// [`start`](Self::start), plus a TLS port on 127.0.0.1 serving `tls` (see
    /// [`tls_url`](Self::tls_url)); the plain port stays, for set-up and [`command`](Self::command).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start), or when the certificate files cannot be written.
    pub fn start_tls(tls: &ServerTls) -> RedisServer {
        Self::start_with(Some(tls))
    }

    fn start_with(tls: Option<&ServerTls>) -> RedisServer {
        let binary = binary();
        let mut last_error = String::new();
        // A port found free can be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let base = std::env::temp_dir()
                .join(format!("session-store-redis-{}-{port}", std::process::id()));
            let tls = tls.map(|tls| {
                let files = [
                    (&tls.certificate_pem, "cert.pem"),
                    (&tls.key_pem, "key.pem"),
                    (&tls.client_ca_pem, "ca.pem"),
                ]
                .map(|(pem, name)| {
                    let path = base.with_extension(name);
                    std::fs::write(&path, pem)
                        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
                    path
                });
                TlsListener {
                    port: free_port(),
                    files,
                }
            });
            let mut server = RedisServer {
                binary: binary.clone(),
                port,
                log: base.with_extension("log"),
                child: None,
                tls,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("could not start {}: {last_error}", binary.display());
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rediss://127.0.0.1:<tls port>/` for a server made by [`start_tls`](Self::start_tls).
    pub fn tls_url(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|tls| format!("rediss://127.0.0.1:{}/", tls.port))
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (SIGKILL, like a crash) and waits until it has exited. Its data is
    /// gone (no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a new, empty server on the same port (after [`stop`](Self::stop)).
    ///
    /// # Panics
    ///
    /// When the server does not start (e.g. another process took the port meanwhile).
    pub fn restart(&mut self) {
        self.stop();
        let mut last_error = String::new();
        for _ in 0..20 {
            match self.spawn() {
                Ok(()) => return,
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "could not restart {} on port {}: {last_error}",
            self.binary.display(),
            self.port
        );
    }

    /// Sends one command (inline form) and returns the first line of the answer, e.g.
    /// `command("CLIENT KILL TYPE pubsub")` → `:1`.
    ///
    /// # Panics
    ///
    /// When the server cannot be reached.
    pub fn command(&self, command: &str) -> String {
        match send(self.port, command) {
            Ok(line) => line,
            Err(e) => panic!("`{command}` on redis port {}: {e}", self.port),
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let _ = std::fs::remove_file(&self.log);
        let mut command = Command::new(&self.binary);
        if let Some(tls) = &self.tls {
            let [certificate, key, ca] = &tls.files;
            command
                .args(["--tls-port", &tls.port.to_string()])
                .args(["--tls-cert-file", &certificate.display().to_string()])
                .args(["--tls-key-file", &key.display().to_string()])
                .args(["--tls-ca-cert-file", &ca.display().to_string()]);
        }
        let mut child = command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .args(["--dir", &std::env::temp_dir().display().to_string()])
            .args(["--logfile", &self.log.display().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}; {INSTALL_HINT}", self.binary.display()))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server exited ({status}) on port {}; its log:\n{}",
                    self.port,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                ));
            }
            if send(self.port, "PING").is_ok_and(|line| line == "+PONG") {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "redis-server did not answer PING on port {} within {READY_TIMEOUT:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
        for file in self.tls.iter().flat_map(|tls| &tls.files) {
            let _ = std::fs::remove_file(file);
        }
    }
}

pub(crate) fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return PathBuf::from(path);
    }
    if Path::new(DEFAULT_BINARY).is_file() {
        return PathBuf::from(DEFAULT_BINARY);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!("redis-server is not installed (looked for $REDIS_SERVER, {DEFAULT_BINARY} and the PATH): {INSTALL_HINT}")
    })
}

pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"))
        .port()
}

pub(crate) fn send(port: u16, command: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(500),
    )?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(format!("{command}\r\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim_end().to_owned())
}

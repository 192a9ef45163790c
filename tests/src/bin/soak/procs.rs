//! The processes of the soak: redis-server (persistent, restartable on its port) and the demo
//! instances (killed with SIGKILL and restarted), each with its log in the work directory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use oidc_e2e::terminate;
use tokio::process::{Child, Command};

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits until `port` accepts connections (or `limit` passes).
pub async fn until_listening(port: u16, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn log_file(dir: &Path, name: &str) -> (Stdio, Stdio) {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .expect("create a log file in the work directory");
    let err = file.try_clone().expect("clone a log file handle");
    (Stdio::from(file), Stdio::from(err))
}

/// redis-server with an append-only file in the work directory: a restart keeps the sessions,
/// as a production Redis with persistence does.
pub struct Redis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Redis {
    pub async fn start(dir: &Path) -> Redis {
        let mut redis = Redis {
            port: free_port(),
            dir: dir.to_path_buf(),
            child: None,
        };
        redis.spawn().await;
        redis
    }

    async fn spawn(&mut self) {
        let (out, err) = log_file(&self.dir, "redis");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &self.dir.display().to_string()])
            .args(["--appendonly", "yes", "--appendfsync", "everysec"])
            .args(["--save", ""])
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("start redis-server (apt-get install redis-server)");
        self.child = Some(child);
        assert!(
            until_listening(self.port, Duration::from_secs(10)).await,
            "redis-server did not listen on {}",
            self.port
        );
    }

    /// SIGTERM (Redis flushes its append-only file and exits), `down` of outage, start again.
    pub async fn restart(&mut self, down: Duration) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child).await;
        }
        tokio::time::sleep(down).await;
        self.spawn().await;
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// One instance of the demo binary.
pub struct Instance {
    pub name: &'static str,
    pub port: u16,
    binary: PathBuf,
    env: Vec<(String, String)>,
    dir: PathBuf,
    child: Option<Child>,
}

impl Instance {
    pub async fn start(
        name: &'static str,
        binary: &Path,
        env: Vec<(String, String)>,
        dir: &Path,
    ) -> Instance {
        let mut instance = Instance {
            name,
            port: free_port(),
            binary: binary.to_path_buf(),
            env,
            dir: dir.to_path_buf(),
            child: None,
        };
        instance.spawn().await;
        instance
    }

    async fn spawn(&mut self) {
        let (out, err) = log_file(&self.dir, self.name);
        let child = Command::new(&self.binary)
            .envs(self.env.iter().cloned())
            .env("PORT", self.port.to_string())
            .env("BIND", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.binary.display()));
        self.child = Some(child);
        assert!(
            until_listening(self.port, Duration::from_secs(30)).await,
            "{} did not listen on {} (see {}/{}.log)",
            self.name,
            self.port,
            self.dir.display(),
            self.name
        );
    }

    /// SIGKILL (a crash: nothing is flushed), `down` of outage, start again.
    pub async fn crash_and_restart(&mut self, down: Duration) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        tokio::time::sleep(down).await;
        self.spawn().await;
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }
}

//! [`PostgresServer`]: a throwaway PostgreSQL server on a free loopback port, for tests and
//! benchmarks (features `conformance` and `postgres`).
//!
//! Never the machine's shared server: every server is a fresh cluster made by `initdb` in a
//! temporary directory, started by `pg_ctl` on 127.0.0.1 (and a Unix socket in that
//! directory), with trust authentication for the `postgres` role, `fsync` off (a test survives a crash of
//! the server, which [`PostgresServer::stop`] is, but not of the machine), and stopped and removed
//! when dropped. When the binaries are missing, [`PostgresServer::start`] panics with the
//! command that installs them: the tests that need PostgreSQL fail, they never skip.
//!
//! `initdb` refuses to run as root: as root the server runs as the `postgres` user (which
//! Debian's package creates), through `runuser`.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// How to install the server, quoted in every "cannot start" message.
const INSTALL_HINT: &str = "apt-get install postgresql (scripts/test.sh installs it), or set PG_BIN=/path/to/postgresql/bin";

/// Where Debian's packages install the server's programs: `/usr/lib/postgresql/<major>/bin`.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// A PostgreSQL server on `127.0.0.1:<port>`, its data in a temporary directory. Stopped and
/// removed when dropped.
#[derive(Debug)]
pub struct PostgresServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    running: bool,
    /// `Some("postgres")` when the programs run as that user (we are root).
    run_as: Option<&'static str>,
}

impl PostgresServer {
    /// Makes a new cluster (`initdb`) and starts it on a free loopback port; returns once it
    /// accepts connections.
    ///
    /// The programs are taken from `$PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`,
    /// else the `PATH`.
    ///
    /// # Panics
    ///
    /// When the programs are missing (the message says how to install them), or the server
    /// does not start.
    pub fn start() -> PostgresServer {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let bin = bin_dir();
        let run_as = is_root().then_some("postgres");
        let dir = std::env::temp_dir().join(format!(
            "session-store-pg-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data"))
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        if let Some(user) = run_as {
            chown_to(&dir, user);
        }
        let mut server = PostgresServer {
            bin,
            dir,
            port: 0,
            running: false,
            run_as,
        };
        let data = server.data_dir();
        server.run_checked(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ],
        );
        // A port found free can be taken before the server binds it: try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("could not start PostgreSQL: {last_error}");
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`: the server's default database.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The URL of database `name` on this server (see [`create_database`](Self::create_database)).
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates database `name` (letters, digits and `_`) and returns its URL: a clean
    /// database per test.
    ///
    /// # Panics
    ///
    /// On any other name, or when the server refuses.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "database names here are letters, digits and _: {name:?}"
        );
        self.psql(&format!("CREATE DATABASE {name}"));
        self.database_url(name)
    }

    /// Runs one SQL statement with `psql` on the default database and returns what it printed
    /// (unaligned, tuples only), e.g. `psql("SELECT count(*) FROM pg_stat_activity")`.
    ///
    /// # Panics
    ///
    /// When the statement fails.
    pub fn psql(&self, sql: &str) -> String {
        let port = self.port.to_string();
        let output = self.run_checked(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Whether the server is running.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: connections are cut, like a
    /// crash; committed data survives, it is replayed at the next start).
    pub fn stop(&mut self) {
        if self.running {
            let data = self.data_dir();
            let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
            self.running = false;
        }
    }

    /// Starts the server again on the same port, with its data (after [`stop`](Self::stop)).
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
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "could not restart PostgreSQL on port {}: {last_error}",
            self.port
        );
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let data = self.data_dir();
        let log = self.dir.join("server.log").display().to_string();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off \
             -c full_page_writes=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let output = self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-w", "-t", "30", "-o", &options, "start",
            ],
        )?;
        if output.status.success() {
            self.running = true;
            Ok(())
        } else {
            Err(format!(
                "pg_ctl start failed on port {} ({}); the server's log:\n{}",
                self.port,
                output.status,
                std::fs::read_to_string(&log).unwrap_or_default()
            ))
        }
    }

    /// Runs one of the server's programs (as the `postgres` user when we are root).
    fn run(&self, program: &str, args: &[&str]) -> Result<Output, String> {
        let path = self.bin.join(program);
        let mut command = match self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&path);
                command
            }
            None => Command::new(&path),
        };
        command
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}; {INSTALL_HINT}", path.display()))
    }

    fn run_checked(&self, program: &str, args: &[&str]) -> Output {
        let output = self.run(program, args).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            output.status.success(),
            "{program} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bin_dir() -> PathBuf {
    if let Some(path) = std::env::var_os("PG_BIN") {
        return PathBuf::from(path);
    }
    let newest = std::fs::read_dir(DEBIAN_ROOT).ok().and_then(|entries| {
        entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let major: u32 = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").is_file().then_some((major, bin))
            })
            .max_by_key(|(major, _)| *major)
            .map(|(_, bin)| bin)
    });
    if let Some(bin) = newest {
        return bin;
    }
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).find(|dir| dir.join("initdb").is_file()));
    on_path.unwrap_or_else(|| {
        panic!("PostgreSQL's initdb is not installed (looked in $PG_BIN, {DEBIAN_ROOT}/*/bin and the PATH): {INSTALL_HINT}")
    })
}

fn is_root() -> bool {
    // The effective user id without libc: `id -u` is in every Debian image.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

fn chown_to(dir: &Path, user: &str) {
    let status = Command::new("chown")
        .args(["-R", user])
        .arg(dir)
        .status()
        .unwrap_or_else(|e| panic!("cannot run chown: {e}"));
    assert!(status.success(), "chown -R {user} {} failed", dir.display());
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"))
        .port()
}

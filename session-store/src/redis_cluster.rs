//! [`RedisCluster`]: a throwaway Redis Cluster of three masters and three replicas on free
//! loopback ports, for tests (features `conformance` and `redis`).
//!
//! Like [`RedisServer`](crate::redis_server::RedisServer): never the machine's shared
//! instance, no persistence, bound to 127.0.0.1, killed when dropped, and a panic with the
//! install command when `redis-server` or `redis-cli` is missing. The nodes time each other
//! out after [`NODE_TIMEOUT`], so a killed master's replica takes over within a few seconds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_server::{binary, free_port, send};

/// `cluster-node-timeout`: how long a node may be unreachable before it is failed over.
pub const NODE_TIMEOUT: Duration = Duration::from_millis(1000);

/// How to install `redis-cli`, quoted when it is missing.
const CLI_INSTALL_HINT: &str = "apt-get install redis-tools (comes with redis-server; scripts/test.sh installs it), or set REDIS_CLI=/path/to/redis-cli";

/// How long forming the cluster, or a failover, may take.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One node of a [`RedisCluster`].
#[derive(Debug)]
struct Node {
    port: u16,
    child: Option<Child>,
}

/// Three masters with one replica each, on 127.0.0.1. Killed when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    dir: PathBuf,
    nodes: Vec<Node>,
}

impl RedisCluster {
    /// Starts six nodes, joins them with `redis-cli --cluster create ... --cluster-replicas 1`
    /// and waits until every node reports `cluster_state:ok`, knows all six and every replica
    /// is in sync with its master.
    ///
    /// # Panics
    ///
    /// When `redis-server` or `redis-cli` is missing (the message says how to install them),
    /// or the cluster does not form.
    pub fn start() -> RedisCluster {
        let server = binary();
        let cli = cli_binary(&server);
        let dir = std::env::temp_dir().join(format!(
            "session-store-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let mut cluster = RedisCluster {
            dir,
            nodes: Vec::new(),
        };
        for _ in 0..6 {
            let node = cluster.spawn_node(&server);
            cluster.nodes.push(node);
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let output = Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; {CLI_INSTALL_HINT}", cli.display()));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.wait_settled(None);
        cluster
    }

    fn spawn_node(&self, server: &Path) -> Node {
        let mut last_error = String::new();
        // A port found free can be taken before the server binds it: try a few.
        for _ in 0..5 {
            let (port, bus_port) = (free_port(), free_port());
            let mut child = Command::new(server)
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-port", &bus_port.to_string()])
                .args([
                    "--cluster-config-file",
                    &self
                        .dir
                        .join(format!("nodes-{port}.conf"))
                        .display()
                        .to_string(),
                ])
                .args([
                    "--cluster-node-timeout",
                    &NODE_TIMEOUT.as_millis().to_string(),
                ])
                // A replica may take over however long it was cut off (tests kill masters).
                .args(["--cluster-replica-validity-factor", "0"])
                .args(["--save", ""])
                .args(["--appendonly", "no"])
                .args(["--daemonize", "no"])
                .args(["--dir", &self.dir.display().to_string()])
                .args([
                    "--logfile",
                    &self.dir.join(format!("{port}.log")).display().to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {}: {e}; apt-get install redis-server, or set REDIS_SERVER",
                        server.display()
                    )
                });
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!(
                        "redis-server exited ({status}) on port {port}; its log:\n{}",
                        std::fs::read_to_string(self.dir.join(format!("{port}.log")))
                            .unwrap_or_default()
                    );
                    break;
                }
                if send(port, "PING").is_ok_and(|line| line == "+PONG") {
                    return Node {
                        port,
                        child: Some(child),
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = format!("redis-server did not answer PING on port {port}");
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("could not start a cluster node: {last_error}");
    }

    /// `redis://127.0.0.1:<port>` of every node (masters and replicas), for
    /// [`RedisConfig::cluster`](crate::RedisConfig::cluster).
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("redis://127.0.0.1:{}", node.port))
            .collect()
    }

    /// The ports of the nodes that are running.
    pub fn running_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some())
            .map(|node| node.port)
            .collect()
    }

    /// The ports of the masters that serve slots now (as a running node sees them).
    pub fn masters(&self) -> Vec<u16> {
        self.view(self.any_running_port())
            .into_iter()
            .filter(|line| line.is_master() && !line.failed() && line.has_slots())
            .filter_map(|line| line.port())
            .collect()
    }

    /// The port of the master that serves `key` now (asked of a running node).
    ///
    /// # Panics
    ///
    /// When no running node answers, or no master serves the key's slot.
    pub fn master_of(&self, key: &[u8]) -> u16 {
        let port = self.any_running_port();
        let mut command = b"*3\r\n$7\r\nCLUSTER\r\n$7\r\nKEYSLOT\r\n".to_vec();
        command.extend_from_slice(format!("${}\r\n", key.len()).as_bytes());
        command.extend_from_slice(key);
        command.extend_from_slice(b"\r\n");
        let slot: u16 = query_raw(port, &command)
            .ok()
            .and_then(|reply| reply.strip_prefix(':').and_then(|n| n.parse().ok()))
            .unwrap_or_else(|| panic!("CLUSTER KEYSLOT failed on port {port}"));
        self.view(port)
            .into_iter()
            .find(|line| line.is_master() && !line.failed() && line.serves(slot))
            .and_then(|line| line.port())
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// Kills the node on `port` (SIGKILL, like a crash) and waits until it has exited.
    ///
    /// # Panics
    ///
    /// When no running node has that port.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.port == port && node.child.is_some())
            .unwrap_or_else(|| panic!("no running node on port {port}"));
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the killed node on `port` is marked failed by the others and the cluster is
    /// whole again (a replica took over its slots): `cluster_state:ok` everywhere.
    ///
    /// # Panics
    ///
    /// When that takes longer than 30 s.
    pub fn wait_failed_over(&self, port: u16) {
        self.wait_settled(Some(port));
    }

    /// Sends `command` (inline form) to the node on `port` and returns its answer (a bulk
    /// reply's text, or the first line of any other reply).
    ///
    /// # Panics
    ///
    /// When the node cannot be reached.
    pub fn command(&self, port: u16, command: &str) -> String {
        query_raw(port, format!("{command}\r\n").as_bytes())
            .unwrap_or_else(|e| panic!("`{command}` on redis port {port}: {e}"))
    }

    fn any_running_port(&self) -> u16 {
        self.running_ports()
            .first()
            .copied()
            .unwrap_or_else(|| panic!("no cluster node is running"))
    }

    /// `CLUSTER NODES` as seen by the node on `port`.
    fn view(&self, port: u16) -> Vec<NodeLine> {
        query_raw(port, b"CLUSTER NODES\r\n")
            .unwrap_or_default()
            .lines()
            .map(|line| NodeLine(line.to_owned()))
            .collect()
    }

    fn wait_settled(&self, killed: Option<u16>) {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let Err(last) = self.settled(killed) else {
                return;
            };
            assert!(
                Instant::now() < deadline,
                "the cluster did not settle within {SETTLE_TIMEOUT:?}: {last}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether every running node sees a whole cluster (and, after a kill, the killed node
    /// failed and slot-less); why not otherwise.
    fn settled(&self, killed: Option<u16>) -> Result<(), String> {
        let running = self.running_ports();
        for &port in &running {
            let info = query_raw(port, b"CLUSTER INFO\r\n").map_err(|e| e.to_string())?;
            if !info.contains("cluster_state:ok") {
                return Err(format!("port {port}: not cluster_state:ok"));
            }
            let view = self.view(port);
            if view.len() != self.nodes.len() {
                return Err(format!("port {port} knows {} nodes", view.len()));
            }
            if let Some(killed) = killed {
                let line = view
                    .iter()
                    .find(|line| line.port() == Some(killed))
                    .ok_or_else(|| format!("port {port} forgot {killed}"))?;
                if !line.failed() || line.has_slots() {
                    return Err(format!("port {port} does not see {killed} failed over"));
                }
            }
            let replication =
                query_raw(port, b"INFO replication\r\n").map_err(|e| e.to_string())?;
            if replication.contains("role:slave") && !replication.contains("master_link_status:up")
            {
                return Err(format!("replica {port} not in sync"));
            }
        }
        Ok(())
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One line of `CLUSTER NODES`: `id host:port@bus flags master ping pong epoch link slot...`.
struct NodeLine(String);

impl NodeLine {
    fn fields(&self) -> Vec<&str> {
        self.0.split(' ').collect()
    }

    fn port(&self) -> Option<u16> {
        let address = *self.fields().get(1)?;
        let host_port = address.split('@').next()?;
        host_port.rsplit(':').next()?.parse().ok()
    }

    fn flags(&self) -> Vec<String> {
        self.fields()
            .get(2)
            .map(|flags| flags.split(',').map(str::to_owned).collect())
            .unwrap_or_default()
    }

    fn is_master(&self) -> bool {
        self.flags().iter().any(|flag| flag == "master")
    }

    fn failed(&self) -> bool {
        self.flags().iter().any(|flag| flag == "fail")
    }

    fn slot_ranges(&self) -> Vec<(u16, u16)> {
        self.fields()
            .iter()
            .skip(8)
            .filter(|field| !field.starts_with('['))
            .filter_map(|field| match field.split_once('-') {
                Some((start, end)) => Some((start.parse().ok()?, end.parse().ok()?)),
                None => field.parse().ok().map(|slot| (slot, slot)),
            })
            .collect()
    }

    fn has_slots(&self) -> bool {
        !self.slot_ranges().is_empty()
    }

    fn serves(&self, slot: u16) -> bool {
        self.slot_ranges()
            .iter()
            .any(|&(start, end)| (start..=end).contains(&slot))
    }
}

fn cli_binary(server: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os("REDIS_CLI") {
        return PathBuf::from(path);
    }
    let beside = server.with_file_name("redis-cli");
    if beside.is_file() {
        return beside;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-cli"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!("redis-cli is not installed (looked for $REDIS_CLI, beside redis-server and on the PATH): {CLI_INSTALL_HINT}")
    })
}

/// Sends `command` (raw bytes) and reads one reply: a bulk string's content, or the first
/// line of anything else.
fn query_raw(port: u16, command: &[u8]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(500),
    )?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(command)?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end();
    let Some(length) = line.strip_prefix('$') else {
        return Ok(line.to_owned());
    };
    let Ok(length) = length.parse::<usize>() else {
        return Ok(String::new());
    };
    let mut body = vec![0u8; length + 2];
    reader.read_exact(&mut body)?;
    body.truncate(length);
    Ok(String::from_utf8_lossy(&body).into_owned())
}

//! The soak: `bash scripts/soak.sh [minutes]` (default 10). Not part of the test suite.
//!
//! Two instances of the demo (release build) share their sessions in Redis behind the
//! in-process tier, behind a load balancer on one external URL; the npm provider issues
//! access tokens that live `SOAK_TOKEN_TTL` seconds (10), so sessions refresh all the time.
//! `SOAK_USERS` simulated users (24) sign in, browse, call JSON endpoints, sign out through the
//! app or at the provider (back-channel logout), and abandon logins. Meanwhile the provider is
//! restarted twice (its grants kept, as a provider on a database keeps them), Redis once (its
//! append-only file kept), and one instance is killed (SIGKILL) and started again.
//!
//! Each minute it prints the requests, the responses by status, logins completed and failed,
//! refreshes, sessions ended on purpose, sessions lost (a signed-in user found signed out
//! without a logout: must be 0), 5xx in and outside the announced outage windows (outside
//! must be 0), p50/p99 latency at the balancer, and each instance's resident memory. Exits 1
//! when a session was lost, a back-channel logout missed, or a 5xx came outside a window.
//!
//! Everything listens on 127.0.0.1 on free ports; the work directory (logs, Redis's file, the
//! provider's state) is printed at the start and kept.

mod lb;
mod procs;
mod stats;
mod users;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use oidc_e2e::{Op, OpOptions};

use crate::procs::{Instance, Redis, free_port};
use crate::stats::{Stats, header};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let minutes: u64 = std::env::args()
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(10);
    let users = env_num("SOAK_USERS", 24) as usize;
    let token_ttl = env_num("SOAK_TOKEN_TTL", 10);
    let demo = std::env::var("SOAK_DEMO")
        .expect("SOAK_DEMO: the path of the demo's release binary (scripts/soak.sh sets it)");
    let work = std::env::temp_dir().join(format!("oidc-soak-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("create the work directory");
    quiet_panics(&work);
    println!(
        "soak: {minutes} min, {users} users, access tokens live {token_ttl} s; work directory {}",
        work.display()
    );

    let stats = Arc::new(Stats::new());
    let mut redis = Redis::start(&work).await;

    let lb_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the balancer");
    let app = format!(
        "http://127.0.0.1:{}",
        lb_listener.local_addr().expect("balancer address").port()
    );
    // One account per simulated user: the layer caps sessions per account (10 by default),
    // and a few people sharing three accounts would run into it.
    let users_file = work.join("users.json");
    let accounts: Vec<serde_json::Value> = (0..users)
        .map(|n| {
            let name = users::account(n);
            let groups: &[&str] = match n % 3 {
                0 => &["admins", "users"],
                1 => &["users"],
                _ => &[],
            };
            serde_json::json!({
                "username": name,
                "password": format!("{name}-password"),
                "claims": {
                    "sub": format!("u-soak-{n}"),
                    "email": format!("{name}@example.test"),
                    "email_verified": true,
                    "preferred_username": name,
                    "name": name,
                    "groups": groups,
                }
            })
        })
        .collect();
    std::fs::write(
        &users_file,
        serde_json::to_vec(&accounts).expect("users as JSON"),
    )
    .expect("write the users file");
    let op_options = OpOptions {
        users_file: Some(users_file),
        redirect_uris: vec![format!("{app}/auth/oidc")],
        post_logout_redirect_uris: vec![
            format!("{app}/"),
            format!("{app}/logged-out"),
            format!("{app}/auth/logged-out"),
        ],
        access_token_ttl: Some(token_ttl),
        backchannel_logout_uri: Some(format!("{app}/auth/backchannel-logout")),
        log_requests: false,
        env: vec![
            ("OP_PORT".into(), free_port().to_string()),
            // Only the errors: the harness echoes each line (to stderr here).
            ("OP_LOG_SUCCESS".into(), "0".into()),
            (
                "OP_STATE_FILE".into(),
                work.join("op-state.json").display().to_string(),
            ),
        ],
        ..OpOptions::default()
    };
    let mut op = Op::start(op_options.clone()).await;

    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("system randomness");
    let app_env = vec![
        ("APP_URL".to_string(), app.clone()),
        ("OIDC_ISSUER".to_string(), op.issuer().to_string()),
        ("OIDC_CLIENT_ID".to_string(), op.client_id().to_string()),
        (
            "OIDC_CLIENT_SECRET".to_string(),
            op.client_secret().to_string(),
        ),
        (
            "OIDC_COOKIE_KEY".to_string(),
            base64::engine::general_purpose::STANDARD.encode(key),
        ),
        ("REDIS_URL".to_string(), redis.url()),
        (
            "RUST_LOG".to_string(),
            "oidc_layer=info,session_store=info,warn".to_string(),
        ),
    ];
    let a = Instance::start("app-a", demo.as_ref(), app_env.clone(), &work).await;
    let mut b = Instance::start("app-b", demo.as_ref(), app_env, &work).await;
    let ports = [a.port, b.port];
    let pids = Arc::new([
        AtomicU32::new(a.pid().unwrap_or(0)),
        AtomicU32::new(b.pid().unwrap_or(0)),
    ]);
    tokio::spawn(lb::serve(lb_listener, ports.to_vec(), Arc::clone(&stats)));
    for port in ports {
        ready(port).await;
    }

    let deadline = Instant::now() + Duration::from_secs(minutes * 60);
    let world = Arc::new(users::World {
        app: app.clone(),
        end_session: op.endpoint("end_session_endpoint"),
        stats: Arc::clone(&stats),
        deadline,
    });
    let users: Vec<_> = (0..users)
        .map(|n| tokio::spawn(users::user(Arc::clone(&world), n)))
        .collect();

    // The faults, at fixed shares of the run.
    let chaos = {
        let stats = Arc::clone(&stats);
        let pids = Arc::clone(&pids);
        let total = Duration::from_secs(minutes * 60);
        tokio::spawn(async move {
            let at = |share: f64| total.mul_f64(share);
            let start = stats.start;
            let until = |d: Duration| tokio::time::sleep_until((start + d).into());
            until(at(0.25)).await;
            let w = stats.window_opens("provider restart (1/2)");
            op.shutdown().await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            op = Op::start(op_options.clone()).await;
            stats.window_closes(w);

            until(at(0.45)).await;
            let w = stats.window_opens("Redis restart");
            redis.restart(Duration::from_secs(2)).await;
            stats.window_closes(w);

            until(at(0.6)).await;
            let w = stats.window_opens("provider restart (2/2)");
            op.shutdown().await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            op = Op::start(op_options.clone()).await;
            stats.window_closes(w);

            until(at(0.75)).await;
            let w = stats.window_opens("app-b killed (SIGKILL) and restarted");
            b.crash_and_restart(Duration::from_secs(5)).await;
            pids[1].store(b.pid().unwrap_or(0), Ordering::Relaxed);
            ready(b.port).await;
            stats.window_closes(w);
            (op, redis, b)
        })
    };

    // One line a minute.
    println!("{}", header());
    let reporter = {
        let stats = Arc::clone(&stats);
        let pids = Arc::clone(&pids);
        tokio::spawn(async move {
            let mut refreshed = [0u64; 2];
            let mut minute = 0usize;
            loop {
                let end = stats.start + Duration::from_secs(60 * (minute as u64 + 1));
                tokio::time::sleep_until(end.into()).await;
                let mut delta = 0;
                let mut rss = Vec::new();
                for (i, port) in ports.iter().enumerate() {
                    if let Some(now) = refreshes(*port).await {
                        // A restarted instance starts counting from 0 again.
                        delta += if now >= refreshed[i] {
                            now - refreshed[i]
                        } else {
                            now
                        };
                        refreshed[i] = now;
                    }
                    rss.push(rss_kib(pids[i].load(Ordering::Relaxed)));
                }
                stats.minute_sample(delta, rss);
                println!("{}", stats.report_minute(minute));
                minute += 1;
            }
        })
    };

    for user in users {
        let _ = user.await;
    }
    let kept = chaos.await;
    reporter.abort();
    let (total, totals) = stats.report_total();
    println!("{total}");
    let chaos_ok = match kept {
        Ok(kept) => {
            drop(kept);
            true
        }
        Err(e) => {
            println!("the fault schedule failed: {e} (see panics.log)");
            false
        }
    };
    let _ = a;
    let failed = totals.lost > 0
        || totals.missed > 0
        || totals.errors_outside > 0
        || totals.not_503 > 0
        || totals.logins == 0
        || !chaos_ok;
    println!(
        "soak {}: {} sessions lost, {} back-channel logouts missed, {} errors outside the outage windows, {} 5xx other than 503, {} logins; logs in {}",
        if failed { "FAILED" } else { "passed" },
        totals.lost,
        totals.missed,
        totals.errors_outside,
        totals.not_503,
        totals.logins,
        work.display()
    );
    std::process::exit(i32::from(failed));
}

/// Waits for the instance's readiness (`/health/ready` 200), at most 60 s.
async fn ready(port: u16) {
    let started = Instant::now();
    let client = reqwest::Client::new();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the instance on {port} did not become ready within 60 s");
}

/// The instance's `oidc_layer_refreshes_total{outcome="refreshed"}`, summed over providers.
async fn refreshes(port: u16) -> Option<u64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(
        text.lines()
            .filter(|l| {
                l.starts_with("oidc_layer_refreshes_total{") && l.contains("outcome=\"refreshed\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64,
    )
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The scripted browser panics on transport errors (the app or the provider down): such a
/// panic ends one action and is counted; its message goes to `panics.log`, not the screen.
/// Panics of the main task still print.
fn quiet_panics(work: &std::path::Path) {
    let log = work.join("panics.log");
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            default(info);
            return;
        }
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
        {
            use std::io::Write as _;
            let _ = writeln!(file, "{info}");
        }
    }));
}

//! The server under test: spawned through the shared harness (`chatpulse-testkit`) on a
//! fresh temporary database for every run, or one already running (`--url`).
use std::process::Command;
use std::sync::Arc;

use chatpulse_testkit::{ServerLog, ServerProcess, ServerSettings};

use crate::prelude::*;

pub(crate) struct Server {
    /// `None` for a server given by `--url`, which this tool does not own.
    process: Option<ServerProcess>,
    pub(crate) base: String,
    /// For CPU time and resident memory from /proc.
    pid: Option<u32>,
    /// Holds the spawned server's database until the run ends.
    _dir: Option<tempfile::TempDir>,
}

/// A fresh temporary directory for one run's database.
pub(crate) fn temp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("chatpulse-bench-{tag}-"))
        .tempdir()
        .expect("create temp dir")
}

impl Server {
    /// The server of one run, serving at least `max_connections` live connections when given.
    pub(crate) async fn start(common: &Common, max_connections: Option<usize>) -> Server {
        if let Some(url) = &common.url {
            let url = url.trim_end_matches('/').to_string();
            let host = url.trim_start_matches("http://");
            assert!(
                host.starts_with("127.") || host.starts_with("localhost"),
                "--url must be a loopback address (127.0.0.x): {url}"
            );
            return Server::at(url, common.server_pid);
        }
        let bin = common.server_bin.clone().unwrap_or_else(|| {
            let me = std::env::current_exe().expect("current exe");
            me.with_file_name("chatpulse")
        });
        let mut settings = ServerSettings::default();
        if let Some(n) = max_connections {
            settings = settings.max_connections(n);
        }
        let settings = settings.raw_args(common.server_args.iter().cloned());
        let dir = temp_dir("server");
        let db = dir.path().join("bench.db");
        let log = Arc::new(ServerLog::default());
        let process = settings.launch(&bin, "127.0.0.1:0", &db, log).await;
        Server {
            base: process.base.clone(),
            pid: Some(process.pid()),
            process: Some(process),
            _dir: Some(dir),
        }
    }

    /// A server this tool did not start and will not stop.
    pub(crate) fn at(base: String, pid: Option<u32>) -> Server {
        Server {
            process: None,
            base,
            pid,
            _dir: None,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub(crate) fn cpu_secs(&self) -> Option<f64> {
        self.pid.and_then(proc_cpu_secs)
    }

    pub(crate) fn rss_bytes(&self) -> Option<f64> {
        self.pid.and_then(proc_rss_bytes)
    }

    /// SIGTERM, up to 20 s of graceful shutdown, then SIGKILL.
    pub(crate) fn stop(mut self) {
        if let Some(p) = self.process.as_mut() {
            p.stop(Duration::from_secs(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(p) = self.process.as_mut() {
            if std::thread::panicking() {
                eprintln!("server log tail:\n{}", p.log.tail(200));
            }
            p.stop(Duration::from_secs(20));
        }
    }
}

pub(crate) fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in seconds.
pub(crate) fn proc_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clk_tck())
}

pub(crate) fn proc_rss_bytes(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

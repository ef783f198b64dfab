//! The command line as an operator uses it: the real binary, run in a scratch working
//! directory so that any database file it creates there is seen.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::WAIT;

/// `chatpulse ARGS` in `cwd`, with none of the caller's `CHATPULSE_*` variables.
fn chatpulse(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatpulse"));
    cmd.current_dir(cwd).args(args).env("RUST_LOG", "info");
    for (key, _) in std::env::vars() {
        if key.starts_with("CHATPULSE_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A server started from the command line, read until it is listening.
struct Running {
    child: Child,
    log: Vec<String>,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chatpulse");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut running = Running {
            child,
            log: Vec::new(),
            lines,
        };
        running.until("listening on http://");
        running
    }

    /// Reads the log until a line contains `mark`.
    fn until(&mut self, mark: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.log.iter().any(|l| l.contains(mark)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(_) => panic!("no `{mark}` in the log:\n{}", self.log.join("\n")),
            }
        }
    }

    /// SIGTERM, then waits for the graceful shutdown to finish.
    fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.until("shutdown complete");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}:\n{}", self.log.join("\n"));
        std::mem::take(&mut self.log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run chatpulse")
}

#[test]
fn a_bind_that_is_not_an_address_is_refused_before_anything_is_created() {
    let cwd = tempfile::tempdir().unwrap();
    let out = run(&mut chatpulse(cwd.path(), &["serve", "--bind", "8080"], &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "`--bind 8080` was accepted: {stderr}");
    assert!(stderr.contains("8080"), "the error should name the value: {stderr}");
    assert!(!stderr.contains("panicked"), "a panic is not an answer: {stderr}");
    assert_eq!(files_in(cwd.path()), Vec::<String>::new(), "{stderr}");
}

#[test]
fn an_empty_ingest_token_is_refused_at_start() {
    let cwd = tempfile::tempdir().unwrap();
    let out = run(&mut chatpulse(cwd.path(), &["--ingest-token", ""], &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an empty ingest token was accepted: {stderr}");
    assert!(
        stderr.contains("--ingest-token"),
        "the error should name the setting: {stderr}"
    );
    assert_eq!(files_in(cwd.path()), Vec::<String>::new(), "{stderr}");
}

#[test]
fn demo_variable_that_is_not_a_boolean_is_refused() {
    let cwd = tempfile::tempdir().unwrap();
    let out = run(&mut chatpulse(cwd.path(), &[], &[("CHATPULSE_DEMO", "maybe")]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "CHATPULSE_DEMO=maybe was accepted: {stderr}");
    assert!(stderr.contains("maybe"), "{stderr}");
    assert_eq!(files_in(cwd.path()), Vec::<String>::new(), "{stderr}");
}

/// Flags before `serve` used to be dropped, so the server ran on ./chatpulse.db.
#[test]
fn flags_before_serve_are_used() {
    let cwd = tempfile::tempdir().unwrap();
    let server = Running::start(chatpulse(
        cwd.path(),
        &["--bind", "127.0.0.1:0", "--database", "chosen.db", "serve"],
        &[],
    ));
    assert!(cwd.path().join("chosen.db").exists(), "{:?}", files_in(cwd.path()));
    assert!(!cwd.path().join("chatpulse.db").exists());
    server.stop();
}

/// A demo must never write into a real database: without `--database` it runs on a
/// throwaway one, removed at exit. `CHATPULSE_DEMO=1` means the same as `true`.
#[test]
fn demo_without_database_runs_on_a_throwaway_database() {
    let cwd = tempfile::tempdir().unwrap();
    let mut server = Running::start(chatpulse(
        cwd.path(),
        &["--bind", "127.0.0.1:0"],
        &[("CHATPULSE_DEMO", "1")],
    ));
    server.until("demo=true");
    let line = server
        .log
        .iter()
        .find(|l| l.contains("throwaway database in "))
        .unwrap_or_else(|| panic!("the log should say which database:\n{}", server.log.join("\n")))
        .clone();
    let dir = line
        .split("throwaway database in ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert!(Path::new(dir).exists(), "{dir}");
    std::thread::sleep(Duration::from_millis(300)); // let the demo write something
    server.stop();
    assert_eq!(
        files_in(cwd.path()),
        Vec::<String>::new(),
        "the demo wrote into the working directory"
    );
    assert!(
        !Path::new(dir).exists(),
        "the throwaway database outlived the server: {dir}"
    );
}

//! Smoke test of the benchmark tool: a tiny run of every scenario of `chatpulse-bench`
//! against the real `chatpulse` binary, checking that the tool works end to end and
//! reports zero loss, duplicates and reordering. No timing is asserted: the benchmark
//! is a tool, not a test (BENCHMARKS.md holds the figures).
//!
//! The tool is this crate's binary; the server is the root crate's, which `cargo test` at
//! the workspace root builds alongside (`chatpulse_testkit::server_bin` finds it in the
//! same target directory).
use std::process::Command;

use serde_json::Value;

/// Runs `chatpulse-bench --json <args>` and returns its report.
fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_chatpulse-bench"))
        .arg("--server-bin")
        .arg(chatpulse_testkit::server_bin())
        .arg("--json")
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("run chatpulse-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("chatpulse-bench {args:?} printed no JSON ({e}):\n{stdout}\nstderr:\n{stderr}"));
    assert!(
        out.status.success(),
        "chatpulse-bench {args:?} exited with {}: {report:#}\nstderr:\n{stderr}",
        out.status
    );
    assert_eq!(report["integrity_ok"], Value::Bool(true), "{args:?}: {report:#}");
    report
}

fn fig(report: &Value, name: &str) -> f64 {
    report["figures"][name]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("figure `{name}` missing or not a number: {report:#}"))
}

fn assert_zero(report: &Value, names: &[&str]) {
    for name in names {
        assert_eq!(fig(report, name), 0.0, "`{name}` must be 0: {report:#}");
    }
}

const LOSS: &[&str] = &[
    "missing (all subscribers)",
    "subscribers with missing",
    "duplicated",
    "out of order",
];

#[test]
fn ingest_batch_stores_every_acknowledged_message() {
    let r = bench(&["ingest-batch", "--writers", "2", "--batch", "50", "--duration", "1"]);
    assert!(fig(&r, "stored msg/s") > 0.0, "{r:#}");
    assert!(fig(&r, "raw store msg/s (1 thread)") > 0.0, "{r:#}");
    assert!(fig(&r, "overhead ratio (HTTP / raw)") > 0.0, "{r:#}");
    assert_zero(&r, &["failed requests", "acked but not stored"]);
}

#[test]
fn ingest_single_stores_every_acknowledged_message() {
    let r = bench(&["ingest-single", "--concurrency", "4", "--duration", "1"]);
    assert!(fig(&r, "requests") > 0.0, "{r:#}");
    assert_zero(&r, &["failed requests", "acked but not stored"]);
}

fn fanout(transport: &str) {
    let r = bench(&[
        "fanout",
        "--transport",
        transport,
        "--subscribers",
        "5",
        "--rate",
        "50",
        "--duration",
        "1",
    ]);
    let sent = fig(&r, "messages sent");
    assert!(sent >= 40.0, "{r:#}");
    assert_eq!(
        fig(&r, "deliveries"),
        sent * 5.0,
        "every subscriber gets every message: {r:#}"
    );
    assert!(fig(&r, "latency p99").is_finite(), "{r:#}");
    assert_zero(&r, LOSS);
    assert_zero(&r, &["overflows", "failed connects", "failed ingest requests"]);
}

#[test]
fn fanout_over_websocket_loses_nothing() {
    fanout("ws");
}

#[test]
fn fanout_over_sse_loses_nothing() {
    fanout("sse");
}

#[test]
fn slow_consumers_do_not_cost_the_healthy_ones_messages() {
    // Big texts and a short write timeout, so the stalled clients are cut off within the run.
    let r = bench(&[
        "slow-consumers",
        "--healthy",
        "4",
        "--stalled",
        "2",
        "--rate",
        "200",
        "--duration",
        "1.5",
        "--text-bytes",
        "4000",
        "--server-arg=--write-timeout-ms=300",
    ]);
    assert_eq!(fig(&r, "healthy live"), 4.0, "{r:#}");
    assert_eq!(fig(&r, "stalled live"), 2.0, "{r:#}");
    assert_eq!(fig(&r, "stalled cut off (overflow or write timeout)"), 2.0, "{r:#}");
    assert_zero(&r, LOSS);
    assert_zero(&r, &["healthy overflowed", "failed ingest requests"]);
}

#[test]
fn reconnect_storm_catches_every_client_up() {
    let r = bench(&["reconnect-storm", "--clients", "20", "--behind", "300"]);
    assert_eq!(fig(&r, "clients caught up and live"), 20.0, "{r:#}");
    assert_zero(&r, LOSS);
    assert_zero(&r, &["fallbacks", "failed connects", "not live in time"]);
}

#[test]
fn connections_opens_every_connection() {
    let r = bench(&["connections", "--count", "50", "--hold", "0.2"]);
    assert_eq!(fig(&r, "connections live"), 50.0, "{r:#}");
    assert_zero(&r, &["failed connects"]);
}

// The modes on PostgreSQL (127.0.0.1:5432, user postgres) and Redis (127.0.0.1:6379),
// which run on this machine and in CI.

#[test]
fn fanout_over_two_nodes_loses_nothing() {
    let r = bench(&[
        "fanout",
        "--nodes",
        "2",
        "--subscribers",
        "10",
        "--rate",
        "50",
        "--duration",
        "1",
    ]);
    let sent = fig(&r, "messages sent");
    assert!(sent >= 40.0, "{r:#}");
    assert_eq!(
        fig(&r, "deliveries"),
        sent * 10.0,
        "every subscriber on either node gets every message: {r:#}"
    );
    assert!(fig(&r, "remote latency p99").is_finite(), "{r:#}");
    assert_zero(&r, LOSS);
    assert_zero(&r, &["overflows", "failed connects", "failed ingest requests"]);
}

#[test]
fn ingest_batch_on_postgres_keeps_counts_and_search_exact() {
    let r = bench(&[
        "ingest-batch",
        "--backend",
        "postgres",
        "--writers",
        "2",
        "--batch",
        "50",
        "--duration",
        "1",
    ]);
    assert!(fig(&r, "stored msg/s") > 0.0, "{r:#}");
    assert!(fig(&r, "raw store msg/s (1 thread)") > 0.0, "{r:#}");
    assert_zero(&r, &["failed requests", "acked but not stored", "count mismatches"]);
}

#[test]
fn node_kill_resumes_every_subscriber_on_a_survivor() {
    let r = bench(&[
        "node-kill",
        "--subscribers",
        "10",
        "--rate",
        "50",
        "--duration",
        "2",
        "--kill-after",
        "0.7",
    ]);
    assert_eq!(fig(&r, "subscribers live again"), 10.0, "{r:#}");
    assert_zero(&r, LOSS);
    assert_zero(
        &r,
        &[
            "not live again",
            "fallbacks",
            "failed connects",
            "failed ingest requests",
        ],
    );
}

#[test]
fn soak_leaves_no_session_behind_and_loses_nothing() {
    let r = bench(&[
        "soak",
        "--readers",
        "6",
        "--stalled",
        "2",
        "--rate",
        "40",
        "--duration",
        "4",
    ]);
    assert!(fig(&r, "connections churned") > 0.0, "{r:#}");
    assert!(fig(&r, "RSS max") > 0.0, "{r:#}");
    assert_zero(&r, LOSS);
    assert_zero(
        &r,
        &[
            "sessions left after every client left",
            "5xx answers",
            "churned connections that did not get live",
            "failed ingest requests",
        ],
    );
}

#[test]
fn irc_stores_every_line_once_and_delivers_it_live() {
    let r = bench(&[
        "irc",
        "--rate",
        "2000",
        "--channels",
        "10",
        "--subscribers",
        "4",
        "--duration",
        "2",
    ]);
    assert!(fig(&r, "lines sent") >= 3000.0, "{r:#}");
    assert!(fig(&r, "send to live latency p99") > 0.0, "{r:#}");
    assert_zero(&r, LOSS);
    assert_zero(&r, &["lines not stored", "lines stored twice"]);
}

#[test]
fn stream_delivers_every_event_of_the_stream_and_the_v1_view() {
    let r = bench(&["stream", "--subscribers", "5", "--rate", "50", "--duration", "1"]);
    let (v1, stream) = (fig(&r, "v1 messages view: events"), fig(&r, "stream view: events"));
    assert!(v1 >= 40.0, "{r:#}");
    assert!(
        stream >= 35.0 && stream < v1,
        "thread replies go to the thread, not the stream: {r:#}"
    );
    assert!(
        fig(&r, "CPU per delivery, stream / v1 (goal ≤ 1.2)").is_finite(),
        "{r:#}"
    );
    for what in ["v1", "stream"] {
        let names: Vec<String> = LOSS
            .iter()
            .chain(&["failed connects", "failed requests"])
            .map(|n| format!("{what}: {n}"))
            .collect();
        assert_zero(&r, &names.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

#[test]
fn pages_reads_every_route_over_a_filled_database() {
    let r = bench(&[
        "pages",
        "--messages",
        "3000",
        "--users",
        "300",
        "--requests",
        "2",
        "--rate",
        "50",
    ]);
    assert_eq!(fig(&r, "messages stored"), 3000.0, "{r:#}");
    assert!(fig(&r, "/api/activity?window=30d p99").is_finite(), "{r:#}");
    assert!(fig(&r, "worst p99 (goal ≤ 100 ms on SQLite)").is_finite(), "{r:#}");
    assert_zero(&r, &["failed reads", "failed ingest requests during the reads"]);
}

#[test]
fn bootstrap_answers_every_stream_with_exact_badges() {
    bootstrap("sqlite");
}

#[test]
fn bootstrap_on_postgres_answers_every_stream_with_exact_badges() {
    bootstrap("postgres");
}

fn bootstrap(backend: &str) {
    let r = bench(&[
        "bootstrap",
        "--backend",
        backend,
        "--streams",
        "20",
        "--messages",
        "4000",
        "--mentions",
        "40",
        "--requests",
        "3",
        "--rate",
        "200",
    ]);
    assert_eq!(fig(&r, "streams in the answer"), 20.0, "{r:#}");
    let unread = fig(&r, "unread_count summed over the answer");
    assert!(unread > 1000.0, "half the log and the mentions are unread: {r:#}");
    assert_eq!(
        unread,
        fig(
            &r,
            "messages by others after the read cursors, not deleted (the tool's count)"
        ),
        "{r:#}"
    );
    // 40 mentions, every tenth deleted again.
    assert_eq!(fig(&r, "mention_count summed over the answer"), 36.0, "{r:#}");
    assert!(fig(&r, "messages ingested during the reads") > 0.0, "{r:#}");
    assert!(fig(&r, "quiet: bootstrap p99").is_finite(), "{r:#}");
    assert!(fig(&r, "during ingest: bootstrap p99").is_finite(), "{r:#}");
    assert_zero(
        &r,
        &[
            "streams with a wrong unread_count",
            "streams with a wrong mention_count",
            "streams missing or extra",
            "after ingest: streams with a wrong unread_count",
            "after ingest: streams with a wrong mention_count",
            "after ingest: streams missing or extra",
            "failed bootstrap requests",
            "failed ingest requests during the reads",
        ],
    );
}

#[test]
fn badges_reach_every_member_and_stay_exact() {
    let r = bench(&[
        "badges",
        "--people",
        "12",
        "--streams",
        "8",
        "--members",
        "3",
        "--rate",
        "40",
        "--duration",
        "1",
    ]);
    assert_eq!(fig(&r, "people with the workspace view live"), 12.0, "{r:#}");
    let due = fig(&r, "badge updates due (post × member but its author)");
    assert!(due >= 60.0, "40 posts, two other members each: {r:#}");
    assert!(fig(&r, "unread envelopes received") > 0.0, "{r:#}");
    assert!(
        fig(&r, "badge latency (post answered → unread envelope) p99").is_finite(),
        "{r:#}"
    );
    assert!(fig(&r, "server CPU per unread envelope (all)").is_finite(), "{r:#}");
    assert_zero(
        &r,
        &[
            "failed connects",
            "failed posts",
            "badge updates never delivered",
            "last live badges not exact",
            "bootstrap badges not exact",
        ],
    );
}

#[test]
fn typing_reaches_the_others_and_no_message_is_lost() {
    let r = bench(&[
        "typing",
        "--subscribers",
        "6",
        "--typists",
        "3",
        "--rate",
        "40",
        "--duration",
        "1",
    ]);
    assert_eq!(fig(&r, "subscribers live"), 6.0, "{r:#}");
    assert!(fig(&r, "events without typing") >= 35.0, "{r:#}");
    assert!(fig(&r, "events with typing") >= 35.0, "{r:#}");
    assert!(fig(&r, "typing envelopes received") > 0.0, "{r:#}");
    assert_eq!(fig(&r, "subscribers that missed a typist"), 0.0, "{r:#}");
    assert!(
        fig(&r, "message p99 with typing / without (goal ≤ 1.1)").is_finite(),
        "{r:#}"
    );
    assert_zero(&r, LOSS);
    assert_zero(
        &r,
        &[
            "typing envelopes to their own typist",
            "failed connects",
            "failed posts",
        ],
    );
}

#[test]
fn files_move_while_messages_flow_and_nothing_is_lost() {
    let r = bench(&[
        "files",
        "--subscribers",
        "4",
        "--rate",
        "40",
        "--duration",
        "1",
        "--workers",
        "3",
        "--file-mib",
        "1",
    ]);
    assert_eq!(fig(&r, "subscribers live"), 4.0, "{r:#}");
    assert!(fig(&r, "uploads") >= 1.0, "{r:#}");
    assert!(fig(&r, "downloads") >= 1.0, "{r:#}");
    assert!(
        fig(&r, "fan-out p99 with files / without (goal ≤ 1.2)").is_finite(),
        "{r:#}"
    );
    assert!(fig(&r, "server RSS growth (goal ≤ 64 MiB)").is_finite(), "{r:#}");
    assert_zero(&r, LOSS);
    assert_zero(
        &r,
        &[
            "corrupt downloads",
            "failed file requests",
            "failed connects",
            "failed ingest requests",
        ],
    );
}

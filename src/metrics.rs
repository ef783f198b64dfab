//! Process-wide Prometheus metrics. Labels are bounded sets; never a user or channel name.
use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramTimer, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry,
};

pub struct Metrics {
    pub registry: Registry,
    pub ingest_requests: IntCounterVec,
    pub ingest_messages: IntCounter,
    pub ingest_duplicates: IntCounter,
    pub ingest_rejected: IntCounterVec,
    pub ingest_queue_depth: IntGauge,
    pub ingest_batch_size: Histogram,
    pub ingest_commit_seconds: Histogram,
    pub live_connections: IntGaugeVec,
    pub live_connections_opened: IntCounterVec,
    pub live_connections_closed: IntCounterVec,
    pub live_events_sent: IntCounterVec,
    pub live_catchup_batch_size: Histogram,
    pub live_catchup_events: IntCounter,
    pub live_fallbacks: IntCounterVec,
    pub live_typing_dropped: IntCounter,
    pub store_pruned: IntCounter,
    pub live_delivery_seconds: Histogram,
    pub live_rooms: IntGauge,
    pub bus_published: IntCounter,
    pub bus_publish_failed: IntCounter,
    pub bus_read: IntCounter,
    pub bus_up: IntGauge,
    pub gap_fill_reads: IntCounter,
    pub gap_fill_events: IntCounter,
    pub delivery_lag: IntGauge,
    pub ingest_request_seconds: Histogram,
    pub http_requests: IntCounterVec,
    pub http_request_seconds: HistogramVec,
    pub store_rows: IntGaugeVec,
    pub store_file_bytes: IntGaugeVec,
    pub store_read_seconds: HistogramVec,
    pub irc_connected: IntGauge,
    pub irc_lines: IntCounterVec,
    pub irc_reconnects: IntCounterVec,
    pub irc_channels_read: IntGauge,
    pub irc_takeovers: IntCounter,
}

/// The `kind` label values of `chatpulse_irc_lines_total`.
pub const IRC_LINE_KINDS: &[&str] = &[
    "message",
    "usernotice",
    "moderation",
    "control",
    "malformed",
    "invalid",
    "too_long",
];
/// The `reason` label values of `chatpulse_irc_reconnects_total`.
pub const IRC_RECONNECT_REASONS: &[&str] = &["reconnect_command", "closed", "timeout", "error"];

/// The `query` label values of `chatpulse_store_read_duration_seconds`: one per read
/// function in `store`, so the set is fixed at compile time.
pub const READ_QUERIES: &[&str] = &[
    "totals",
    "list_messages",
    "backlog_exceeds",
    "list_channels",
    "list_users",
    "channel_by_name",
    "user_by_name",
    "channels_changed_after",
    "users_changed_after",
    "search_messages",
    "rate_per_second",
    "user_channels",
    "stream_by_id",
    "list_streams",
    "list_events",
    "count_matches",
    "export_page",
    "activity",
    "memberships",
];

/// Label values created at start-up with a zero value, so that every dashboard query
/// has a series to show before the first event of its kind happens.
const INGEST_OUTCOMES: &[&str] = &["stored", "rejected"];
const INGEST_REJECT_REASONS: &[&str] = &[
    "unauthorized",
    "unsupported_media_type",
    "too_large",
    "invalid_message",
    "overloaded",
];
const TRANSPORTS: &[&str] = &["ws", "sse"];
const VIEW_KINDS: &[&str] = &[
    "home",
    "messages",
    "channels",
    "users",
    "user",
    "channel",
    "stream",
    "workspace",
    "streams",
    "me",
];
const CLOSE_REASONS: &[&str] = &[
    "normal",
    "overflow",
    "timeout",
    "shutdown",
    "fallback",
    "refused",
    "bad_request",
    "server_error",
    "membership_changed",
];
const FALLBACK_REASONS: &[&str] = &["backlog_too_large", "epoch_changed", "pruned"];
pub const STORE_TABLES: &[&str] = &["messages", "channels", "users"];
pub const STORE_FILES: &[&str] = &["database", "wal"];

/// Starts timing one store read; the time is recorded when the timer is dropped.
/// `query` must be one of [`READ_QUERIES`].
pub fn read_timer(query: &'static str) -> HistogramTimer {
    debug_assert!(READ_QUERIES.contains(&query), "unknown read query {query}");
    METRICS.store_read_seconds.with_label_values(&[query]).start_timer()
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    r.register(Box::new(c.clone())).expect("metric names are unique");
    c
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let r = Registry::new();
    #[cfg(target_os = "linux")]
    r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
        .ok();
    let build = IntGaugeVec::new(Opts::new("chatpulse_build_info", "Build information"), &["version"]).unwrap();
    build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    reg(&r, build);
    Metrics {
        ingest_requests: reg(
            &r,
            IntCounterVec::new(
                Opts::new("chatpulse_ingest_requests_total", "Ingest requests by outcome"),
                &["outcome"],
            )
            .unwrap(),
        ),
        ingest_messages: reg(
            &r,
            IntCounter::new("chatpulse_ingest_messages_total", "Messages stored").unwrap(),
        ),
        ingest_duplicates: reg(
            &r,
            IntCounter::new(
                "chatpulse_ingest_duplicates_total",
                "Messages skipped as duplicates of a stored event_id",
            )
            .unwrap(),
        ),
        ingest_rejected: reg(
            &r,
            IntCounterVec::new(
                Opts::new("chatpulse_ingest_rejected_total", "Ingest requests rejected, by reason"),
                &["reason"],
            )
            .unwrap(),
        ),
        ingest_queue_depth: reg(
            &r,
            IntGauge::new(
                "chatpulse_ingest_queue_depth",
                "Messages accepted and waiting for commit",
            )
            .unwrap(),
        ),
        ingest_batch_size: reg(
            &r,
            Histogram::with_opts(
                HistogramOpts::new("chatpulse_ingest_batch_size", "Messages per group-commit transaction")
                    .buckets(vec![1.0, 10.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, 50000.0]),
            )
            .unwrap(),
        ),
        ingest_commit_seconds: reg(
            &r,
            Histogram::with_opts(
                HistogramOpts::new(
                    "chatpulse_ingest_commit_duration_seconds",
                    "Time to run and commit one group-commit transaction",
                )
                .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
            )
            .unwrap(),
        ),
        live_connections: reg(
            &r,
            IntGaugeVec::new(
                Opts::new("chatpulse_live_connections", "Open live connections"),
                &["transport", "view"],
            )
            .unwrap(),
        ),
        live_connections_opened: reg(
            &r,
            IntCounterVec::new(
                Opts::new("chatpulse_live_connections_opened_total", "Live connections opened"),
                &["transport"],
            )
            .unwrap(),
        ),
        live_connections_closed: reg(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "chatpulse_live_connections_closed_total",
                    "Live connections closed, by reason",
                ),
                &["reason"],
            )
            .unwrap(),
        ),
        live_events_sent: reg(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "chatpulse_live_events_sent_total",
                    "Envelopes written to live connections",
                ),
                &["type", "transport"],
            )
            .unwrap(),
        ),
        live_catchup_batch_size: reg(
            &r,
            Histogram::with_opts(
                HistogramOpts::new("chatpulse_live_catchup_batch_size", "Events per catch-up batch")
                    .buckets(vec![1.0, 10.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0]),
            )
            .unwrap(),
        ),
        live_catchup_events: reg(
            &r,
            IntCounter::new(
                "chatpulse_live_catchup_events_total",
                "Events sent from catch-up backlogs",
            )
            .unwrap(),
        ),
        live_fallbacks: reg(
            &r,
            IntCounterVec::new(
                Opts::new("chatpulse_live_fallbacks_total", "Clients told to fall back, by reason"),
                &["reason"],
            )
            .unwrap(),
        ),
        store_pruned: reg(
            &r,
            IntCounter::new("chatpulse_store_pruned_total", "Events deleted by --retention").unwrap(),
        ),
        live_typing_dropped: reg(
            &r,
            IntCounter::new(
                "chatpulse_live_typing_dropped_total",
                "Typing notices not sent to a connection that was behind",
            )
            .unwrap(),
        ),
        live_delivery_seconds: reg(
            &r,
            Histogram::with_opts(
                HistogramOpts::new("chatpulse_live_delivery_seconds", "Ingest commit to socket write")
                    .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 1.0, 2.0]),
            )
            .unwrap(),
        ),
        live_rooms: reg(&r, IntGauge::new("chatpulse_live_rooms", "Room actors alive").unwrap()),
        bus_published: reg(
            &r,
            IntCounter::new("chatpulse_bus_entries_published_total", "Commits appended to the bus stream").unwrap(),
        ),
        bus_publish_failed: reg(
            &r,
            IntCounter::new(
                "chatpulse_bus_publish_failed_total",
                "Commits not appended to the bus (Redis down or the queue full); other nodes read them from the database",
            )
            .unwrap(),
        ),
        bus_read: reg(
            &r,
            IntCounter::new("chatpulse_bus_entries_read_total", "Other nodes' commits read from the bus").unwrap(),
        ),
        bus_up: reg(
            &r,
            IntGauge::new(
                "chatpulse_bus_up",
                "1 while the node reads the bus, 0 while Redis is unreachable, -1 without a bus",
            )
            .unwrap(),
        ),
        gap_fill_reads: reg(
            &r,
            IntCounter::new("chatpulse_gap_fill_reads_total", "Ranges of commits read from the database to fill a gap").unwrap(),
        ),
        gap_fill_events: reg(
            &r,
            IntCounter::new("chatpulse_gap_fill_events_total", "Messages delivered from the database to fill a gap").unwrap(),
        ),
        delivery_lag: reg(
            &r,
            IntGauge::new(
                "chatpulse_delivery_lag_cursors",
                "The database's newest cursor minus the newest this node delivered to its live views",
            )
            .unwrap(),
        ),
        ingest_request_seconds: reg(
            &r,
            Histogram::with_opts(
                HistogramOpts::new(
                    "chatpulse_ingest_request_duration_seconds",
                    "POST /api/messages from request to response, including the wait for commit",
                )
                .buckets(vec![
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
            )
            .unwrap(),
        ),
        http_requests: reg(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "chatpulse_http_requests_total",
                    "HTTP requests by route template, method and status",
                ),
                &["route", "method", "status"],
            )
            .unwrap(),
        ),
        http_request_seconds: reg(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "chatpulse_http_request_duration_seconds",
                    "HTTP request to response head, by route template and method",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                &["route", "method"],
            )
            .unwrap(),
        ),
        store_rows: reg(
            &r,
            IntGaugeVec::new(
                Opts::new(
                    "chatpulse_store_rows",
                    "Rows stored, by table (sampled from the meta table)",
                ),
                &["table"],
            )
            .unwrap(),
        ),
        store_file_bytes: reg(
            &r,
            IntGaugeVec::new(
                Opts::new(
                    "chatpulse_store_file_size_bytes",
                    "Size of the SQLite database and WAL files (sampled)",
                ),
                &["file"],
            )
            .unwrap(),
        ),
        store_read_seconds: reg(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "chatpulse_store_read_duration_seconds",
                    "Time to run one store read, by query",
                )
                .buckets(vec![
                    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
                ]),
                &["query"],
            )
            .unwrap(),
        ),
        irc_connected: reg(
            &r,
            IntGauge::new(
                "chatpulse_irc_connected",
                "1 while the IRC connection is up, 0 while it is down (and without IRC)",
            )
            .unwrap(),
        ),
        irc_lines: reg(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "chatpulse_irc_lines_total",
                    "IRC lines read, by kind: stored (message, usernotice, moderation), control, or skipped (malformed, invalid, too_long)",
                ),
                &["kind"],
            )
            .unwrap(),
        ),
        irc_reconnects: reg(
            &r,
            IntCounterVec::new(
                Opts::new("chatpulse_irc_reconnects_total", "IRC reconnections, by reason"),
                &["reason"],
            )
            .unwrap(),
        ),
        irc_channels_read: reg(
            &r,
            IntGauge::new("chatpulse_irc_channels_read", "IRC channels this node holds the lease of and reads").unwrap(),
        ),
        irc_takeovers: reg(
            &r,
            IntCounter::new(
                "chatpulse_irc_takeovers_total",
                "IRC channels this node took over from a node whose lease ran out",
            )
            .unwrap(),
        ),
        registry: r,
    }
    .with_known_labels()
});

impl Metrics {
    fn with_known_labels(self) -> Self {
        for o in INGEST_OUTCOMES {
            self.ingest_requests.with_label_values(&[*o]);
        }
        for r in INGEST_REJECT_REASONS {
            self.ingest_rejected.with_label_values(&[*r]);
        }
        for t in TRANSPORTS {
            self.live_connections_opened.with_label_values(&[*t]);
            for v in VIEW_KINDS {
                self.live_connections.with_label_values(&[*t, *v]);
            }
        }
        for r in CLOSE_REASONS {
            self.live_connections_closed.with_label_values(&[*r]);
        }
        for r in FALLBACK_REASONS {
            self.live_fallbacks.with_label_values(&[*r]);
        }
        for t in STORE_TABLES {
            self.store_rows.with_label_values(&[*t]);
        }
        for f in STORE_FILES {
            self.store_file_bytes.with_label_values(&[*f]);
        }
        for q in READ_QUERIES {
            self.store_read_seconds.with_label_values(&[*q]);
        }
        for k in IRC_LINE_KINDS {
            self.irc_lines.with_label_values(&[*k]);
        }
        for r in IRC_RECONNECT_REASONS {
            self.irc_reconnects.with_label_values(&[*r]);
        }
        self
    }
}

pub fn render() -> String {
    let mut buf = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&METRICS.registry.gather(), &mut buf)
        .ok();
    String::from_utf8(buf).unwrap_or_default()
}

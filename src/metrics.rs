//! Process-wide Prometheus metrics. Labels are bounded sets; never a user or channel name.
use std::sync::LazyLock;

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

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
    pub live_delivery_seconds: Histogram,
    pub live_rooms: IntGauge,
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
        live_delivery_seconds: reg(
            &r,
            Histogram::with_opts(
                HistogramOpts::new("chatpulse_live_delivery_seconds", "Ingest commit to socket write")
                    .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 1.0, 2.0]),
            )
            .unwrap(),
        ),
        live_rooms: reg(&r, IntGauge::new("chatpulse_live_rooms", "Room actors alive").unwrap()),
        registry: r,
    }
});

pub fn render() -> String {
    let mut buf = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&METRICS.registry.gather(), &mut buf)
        .ok();
    String::from_utf8(buf).unwrap_or_default()
}

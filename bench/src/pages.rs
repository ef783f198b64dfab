//! `pages`: a database of N messages over C channels and U users, spread over the last D
//! days, then every page and analytics route read R times each while R msg/s are ingested:
//! p50 and p99 per route (issue 16's benchmark).
use crate::prelude::*;

/// Messages per ingest request while filling.
const FILL_BATCH: u64 = 5000;
/// Concurrent requests while filling.
const FILL_WRITERS: usize = 4;

pub(crate) struct PagesArgs {
    pub(crate) messages: u64,
    pub(crate) channels: u64,
    pub(crate) users: u64,
    pub(crate) days: u64,
    pub(crate) rate: u64,
    pub(crate) requests: usize,
}

/// The `i`th fill message: channel and user by `i`, `sent_at` spread evenly over the days.
fn fill_message(i: u64, a: &PagesArgs, now_ms: i64) -> String {
    const WORDS: [&str; 8] = ["deploy", "error", "rust", "coffee", "review", "merge", "lunch", "alert"];
    let span = (a.days * 86_400_000) as i64;
    let sent = now_ms - span + (i as i64 * span) / a.messages.max(1) as i64;
    format!(
        r#"{{"channel":"c{}","user":"u{}","text":"{} {} {}","sent_at":"{}"}}"#,
        i % a.channels,
        (i * 7919) % a.users,
        WORDS[(i % 8) as usize],
        WORDS[((i / 8) % 8) as usize],
        i,
        chatpulse::time::format_ms(sent)
    )
}

/// Fills the database through ingest, `FILL_WRITERS` requests at a time.
async fn fill(server: &Server, a: &PagesArgs) -> f64 {
    let client = http_client(FILL_WRITERS + 2, Some(Duration::from_secs(120)), None);
    let url = server.url("/api/messages");
    let now_ms = now_us() / 1000;
    let start = Instant::now();
    let batches: Vec<u64> = (0..a.messages.div_ceil(FILL_BATCH)).collect();
    for group in batches.chunks(FILL_WRITERS) {
        let mut tasks = Vec::new();
        for &b in group {
            let from = b * FILL_BATCH;
            let to = (from + FILL_BATCH).min(a.messages);
            let body = format!(
                "[{}]",
                (from..to)
                    .map(|i| fill_message(i, a, now_ms))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let (client, url) = (client.clone(), url.clone());
            tasks.push(actix_rt::spawn(
                async move { post(&client, &url, Bytes::from(body)).await },
            ));
        }
        for t in tasks {
            match t.await {
                Ok(Ok((201, _))) => {}
                other => panic!("filling failed: {other:?}"),
            }
        }
    }
    start.elapsed().as_secs_f64()
}

/// Every page and analytics route, at every window where it takes one.
fn routes(a: &PagesArgs) -> Vec<String> {
    let mut r: Vec<String> = [
        "/",
        "/messages",
        "/channels",
        "/users",
        "/channels/c1",
        "/users/u1",
        "/search?q=rust+deploy",
        "/incidents",
        "/api/metrics",
        "/api/messages",
        "/api/channels",
        "/api/users",
        "/api/users?sort=recent",
        "/api/users?prefix=u12",
        "/api/channels?prefix=c1",
        "/api/users/u1",
        "/api/search?q=rust",
        "/api/search?q=rust+deploy&channel=c1",
        "/api/search?q=co*",
        "/api/search?q=coff*",
        "/api/search?q=coffe*",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for w in ["5m", "1h", "24h", "7d", "30d"] {
        r.push(format!("/api/activity?window={w}"));
        r.push(format!("/api/activity?window={w}&channel=c1"));
        r.push(format!("/api/activity?window={w}&user=u1"));
    }
    if a.days > 30 {
        r.push("/api/activity?window=30d&bucket=hour".into());
    }
    r.extend(top_routes());
    r
}

/// The top lists of every window: everything's, a channel's users, a user's channels.
fn top_routes() -> Vec<String> {
    ["5m", "1h", "24h", "7d", "30d"]
        .iter()
        .flat_map(|w| {
            [
                format!("/api/top?window={w}"),
                format!("/api/top?window={w}&channel=c1"),
                format!("/api/top?window={w}&user=u1"),
            ]
        })
        .collect()
}

pub(crate) async fn run(common: &Common, a: PagesArgs) -> Run {
    let server = Server::start(common, None).await;
    let probe = http_client(4, Some(Duration::from_secs(120)), None);
    let filled = fill(&server, &a).await;
    debug(&format!("filled {} messages in {filled:.1} s", a.messages));
    let stored = api_metrics(&probe, &server).await["total_messages"]
        .as_i64()
        .unwrap_or(0);
    let routes = routes(&a);
    // Ingest goes on while every route is read.
    let duration = (routes.len() * a.requests) as f64 * 0.05 + 5.0;
    let sender = {
        let server = Server::at(server.base.clone(), None);
        let rate = a.rate;
        actix_rt::spawn(async move { send_steady(&server, rate, duration, 0, 1 << 40).await })
    };
    let mut run = Run::default();
    run.add("messages stored", stored as f64, "");
    run.add("fill rate", a.messages as f64 / filled, "msg/s");
    if let Some(bytes) = server.database_bytes() {
        run.add("database size after the fill", bytes as f64 / (1 << 20) as f64, "MiB");
    }
    // A top list's first request reads its window from the rollups (the room then keeps
    // it): timed on its own, before the routes are read over and over.
    for route in top_routes() {
        let t0 = Instant::now();
        let ok = matches!(probe.get(server.url(&route)).send().await, Ok(r) if r.status().is_success());
        assert!(ok, "{route} failed");
        run.add(
            &format!("{route} first read"),
            t0.elapsed().as_secs_f64() * 1000.0,
            "ms",
        );
    }
    let mut worst = 0.0f64;
    let mut errors = 0u64;
    for route in &routes {
        let mut lat_us: Vec<u32> = Vec::with_capacity(a.requests);
        for _ in 0..a.requests {
            let t0 = Instant::now();
            match probe.get(server.url(route)).send().await {
                Ok(mut res) => {
                    let ok = res.status().is_success();
                    let _ = res.body().limit(64 << 20).await;
                    if !ok {
                        errors += 1;
                    }
                }
                Err(_) => errors += 1,
            }
            lat_us.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
        }
        lat_us.sort_unstable();
        let p = |q: f64| lat_us[((q / 100.0) * (lat_us.len() - 1) as f64).round() as usize] as f64 / 1000.0;
        worst = worst.max(p(99.0));
        run.add(&format!("{route} p50"), p(50.0), "ms");
        run.add(&format!("{route} p99"), p(99.0), "ms");
    }
    run.add("worst p99 (goal ≤ 100 ms on SQLite)", worst, "ms");
    let sent = sender.await.expect("the sender");
    run.zero("failed reads", errors as f64);
    run.zero("failed ingest requests during the reads", sent.errors as f64);
    server.stop();
    run
}

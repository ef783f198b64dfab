//! `soak`: everything at once for a long time — steady ingest, readers over WebSocket and
//! SSE that must miss nothing, connections opened and closed all along, and clients that
//! stop reading — while the server's resident memory is sampled. After it: how much RSS
//! grew after warm-up, sessions left once every client is gone, 5xx answers, lost messages.
use crate::prelude::*;

/// Connections opened (and closed once live) per second by the churn.
const CHURN_PER_S: u64 = 10;

/// One churned connection: opened, read until `connected`, closed. `false` when it did
/// not get live within 10 s.
async fn churn_once(base: &str, transport: Transport, view: &str) -> bool {
    let Ok(mut conn) = Conn::open(&live_url(base, transport, view, None), transport, None).await else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut events = Vec::new();
    while Instant::now() < deadline {
        if conn.next(Duration::from_millis(500), &mut events).await.is_err() {
            return false;
        }
        if events
            .iter()
            .any(|e| matches!(e, Ev::Status { state, .. } if state == "connected"))
        {
            conn.close().await;
            return true;
        }
    }
    false
}

/// Sum of the samples of `name` whose `label` starts with `prefix`.
async fn prom_sum_prefix(client: &awc::Client, server: &Server, name: &str, label: &str, prefix: &str) -> f64 {
    let Ok(text) = get_text(client, &server.url("/metrics")).await else {
        return f64::NAN;
    };
    chatpulse_testkit::prometheus::samples(&text)
        .into_iter()
        .filter(|s| s.name == name && s.labels.iter().any(|(k, v)| k == label && v.starts_with(prefix)))
        .filter_map(|s| s.value)
        .sum()
}

pub(crate) async fn run(common: &Common, readers: usize, stalled: usize, rate: u64, duration: f64) -> Run {
    let server = Server::start(common, Some(readers + stalled + 512)).await;
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let id_base = api_metrics(&probe, &server).await["cursor"].as_i64().unwrap_or(0);
    let shared = new_shared(&server.base, id_base);
    // Half the readers over WebSocket, half over SSE; every one must get every message.
    let spec = |transport| ClientSpec {
        transport,
        view: "messages".into(),
        after: None,
        role: Role::Reader,
        source_addrs: 1,
    };
    let half = readers / 2;
    let mut handles = spawn_clients(common.client_threads, half, 0, 256, spec(Transport::Ws), shared.clone());
    handles.extend(spawn_clients(
        1,
        readers - half,
        half,
        256,
        spec(Transport::Sse),
        shared.clone(),
    ));
    let live_readers = wait_connected(&shared, readers, Duration::from_secs(120)).await;
    let rss_start = server.rss_bytes().unwrap_or(f64::NAN);

    let stop = Rc::new(std::cell::Cell::new(false));
    // Churn: connections opened and closed all along, WebSocket and SSE in turn.
    let churn = {
        let (base, stop) = (server.base.clone(), stop.clone());
        actix_rt::spawn(async move {
            let (mut opened, mut failed) = (0u64, 0u64);
            let every = Duration::from_millis(1000 / CHURN_PER_S);
            while !stop.get() {
                let transport = if opened % 2 == 0 { Transport::Ws } else { Transport::Sse };
                let view = ["home", "messages", "channels", "users"][(opened / 2 % 4) as usize];
                if !churn_once(&base, transport, view).await {
                    failed += 1;
                }
                opened += 1;
                actix_rt::time::sleep(every).await;
            }
            (opened, failed)
        })
    };
    // Memory, sampled all along.
    let sampler = {
        let (stop, pid_server) = (stop.clone(), Server::at(server.base.clone(), server.pid()));
        let every = Duration::from_secs_f64((duration / 30.0).clamp(0.5, 30.0));
        actix_rt::spawn(async move {
            let mut samples = Vec::new();
            let start = Instant::now();
            while !stop.get() {
                actix_rt::time::sleep(every).await;
                if let Some(rss) = pid_server.rss_bytes() {
                    samples.push((start.elapsed().as_secs_f64(), rss));
                }
            }
            samples
        })
    };
    // Clients that stop reading join a third of the way in, and must be cut off.
    let stall = {
        let (shared, stop) = (shared.clone(), stop.clone());
        let at = Duration::from_secs_f64(duration / 3.0);
        actix_rt::spawn(async move {
            actix_rt::time::sleep(at).await;
            if stop.get() {
                return Vec::new();
            }
            let spec = ClientSpec {
                transport: Transport::Ws,
                view: "messages".into(),
                after: None,
                role: Role::Stalled,
                source_addrs: 1,
            };
            spawn_clients(1, stalled, 1_000_000, 64, spec, shared)
        })
    };
    let cut0 = cut_off_total(&probe, &server).await;
    let sent = send_steady(&server, rate, duration, 64, 0).await;
    stop.set(true);
    let (churned, churn_failed) = churn.await.unwrap_or((0, 0));
    let rss = sampler.await.unwrap_or_default();
    let stalled_handles = stall.await.unwrap_or_default();
    let cut = cut_off_total(&probe, &server).await - cut0;

    let last = sent.ids.last().copied().unwrap_or(id_base);
    let subs = finish_readers(&shared, last, Duration::from_secs(20), handles).await;
    let _ = actix_rt::task::spawn_blocking(move || join_clients(stalled_handles)).await;
    // Every client is gone: no session may be left.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut left = prom_sum(&probe, &server, "chatpulse_live_connections").await;
    while left > 0.0 && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(250)).await;
        left = prom_sum(&probe, &server, "chatpulse_live_connections").await;
    }
    let errors_5xx = prom_sum_prefix(&probe, &server, "chatpulse_http_requests_total", "status", "5").await;
    server.stop();

    // Growth after warm-up: the newest third's median against the first third after
    // warm-up (the middle third), so one slow sample does not decide it.
    let median = |v: &[(f64, f64)]| {
        let mut r: Vec<f64> = v.iter().map(|s| s.1).collect();
        r.sort_by(f64::total_cmp);
        r.get(r.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let third = rss.len() / 3;
    let (middle, last) = (&rss[third..(2 * third).max(third)], &rss[(2 * third).min(rss.len())..]);
    let (rss_mid, rss_end) = (median(middle), median(last));
    let mut run = Run::default();
    run.add("readers live (WS + SSE)", live_readers as f64, "");
    run.add("messages sent", sent.ids.len() as f64, "");
    run.add("connections churned", churned as f64, "");
    run.add("stalled clients cut off", cut, "");
    run.add("RSS at start", rss_start / 1_048_576.0, "MiB");
    run.add("RSS, median of the middle third", rss_mid / 1_048_576.0, "MiB");
    run.add("RSS, median of the last third", rss_end / 1_048_576.0, "MiB");
    run.add("RSS growth after warm-up", (rss_end / rss_mid - 1.0) * 100.0, "%");
    run.add(
        "RSS max",
        rss.iter().map(|s| s.1).fold(0.0, f64::max) / 1_048_576.0,
        "MiB",
    );
    integrity(&mut run, &subs, &sent.ids, id_base);
    run.zero("sessions left after every client left", left);
    run.zero("5xx answers", errors_5xx);
    run.zero("churned connections that did not get live", churn_failed as f64);
    run.zero("failed ingest requests", sent.errors as f64);
    run
}

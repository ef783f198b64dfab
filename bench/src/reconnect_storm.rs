//! `reconnect-storm`: K clients M messages behind resume at once.
use crate::prelude::*;

pub(crate) async fn run(common: &Common, clients: usize, behind: usize, transport: Transport, source_addrs: u8) -> Run {
    let server = Server::start(common, Some(clients + 64)).await;
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let m = api_metrics(&probe, &server).await;
    let id_base = m["cursor"].as_i64().unwrap_or(0);
    let epoch = m["epoch"].as_str().unwrap_or("").to_string();
    // The clients were live at `id_base`; `behind` messages arrive while they are away.
    let mut ids = Vec::new();
    let mut seq = 0u64;
    while ids.len() < behind {
        let n = (behind - ids.len()).min(1000);
        let (status, v) = post(
            &probe,
            &server.url("/api/messages"),
            batch_body(seq, n, Some(now_us()), 0),
        )
        .await
        .expect("ingest backlog");
        assert_eq!(status, 201, "ingest backlog: {v}");
        ids.extend(v["ids"].as_array().unwrap().iter().filter_map(|x| x.as_i64()));
        seq += n as u64;
    }
    let shared = new_shared(&server.base, id_base);
    shared.last_id.store(*ids.last().unwrap_or(&id_base), Ordering::SeqCst);
    shared.drain_deadline_us.store(now_us() + 60_000_000, Ordering::SeqCst);
    let cpu0 = server.cpu_secs();
    let spec = ClientSpec {
        transport,
        view: "messages".into(),
        after: Some((id_base, epoch)),
        role: Role::UntilLive,
        source_addrs,
    };
    let start = shared.start;
    let handles = spawn_clients(common.client_threads, clients, 0, clients, spec, shared.clone());
    let subs = actix_rt::task::spawn_blocking(move || join_clients(handles))
        .await
        .unwrap();
    let all = start.elapsed();
    let cpu1 = server.cpu_secs();
    let fallbacks = prom_sum(&probe, &server, "chatpulse_live_fallbacks_total").await;
    server.stop();

    let mut run = Run::default();
    let live: Vec<f64> = {
        let mut v: Vec<f64> = subs
            .iter()
            .filter(|s| s.max_id >= *ids.last().unwrap_or(&0))
            .filter_map(|s| s.live_after.map(|d| d.as_secs_f64()))
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    run.add("clients caught up and live", live.len() as f64, "");
    run.add("time until all live", live.last().copied().unwrap_or(f64::NAN), "s");
    run.add("per-client time to live p50", pct(&live, 50.0), "s");
    run.add("per-client time to live p99", pct(&live, 99.0), "s");
    run.add("wall time of the storm", all.as_secs_f64(), "s");
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        run.add(
            "server CPU per caught-up message",
            (b - a) / (clients * behind).max(1) as f64 * 1e6,
            "µs",
        );
    }
    run.zero(
        "fallbacks",
        fallbacks.max(subs.iter().filter(|s| s.fallback).count() as f64),
    );
    run.zero(
        "failed connects",
        subs.iter().filter(|s| s.connect_err.is_some()).count() as f64,
    );
    run.zero("not live in time", (clients - live.len()) as f64);
    integrity(&mut run, &subs, &ids, id_base);
    run
}

//! `fanout`: S subscribers on a view while R msg/s are ingested.
use crate::prelude::*;

pub(crate) async fn run(
    common: &Common,
    subscribers: usize,
    rate: u64,
    duration: f64,
    transport: Transport,
    view: &str,
    text_bytes: usize,
) -> Run {
    let server = Server::start(common, Some(subscribers + 64)).await;
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let id_base = api_metrics(&probe, &server).await["cursor"].as_i64().unwrap_or(0);
    let shared = new_shared(&server.base, id_base);
    let spec = ClientSpec {
        transport,
        view: view.to_string(),
        after: None,
        role: Role::Reader,
        source_addrs: 1,
    };
    let handles = spawn_clients(common.client_threads, subscribers, 0, 256, spec, shared.clone());
    let connected = wait_connected(&shared, subscribers, Duration::from_secs(120)).await;
    debug(&format!("{connected} subscribers live"));
    let overflow0 = prom_sum(
        &probe,
        &server,
        r#"chatpulse_live_connections_closed_total{reason="overflow"}"#,
    )
    .await;
    let cpu0 = server.cpu_secs();
    let t0 = Instant::now();
    let sent = send_steady(&server, rate, duration, text_bytes, 0).await;
    debug(&format!("sent {} messages", sent.ids.len()));
    shared
        .last_id
        .store(sent.ids.last().copied().unwrap_or(id_base), Ordering::SeqCst);
    shared.drain_deadline_us.store(now_us() + 10_000_000, Ordering::SeqCst);
    shared.stop.store(true, Ordering::SeqCst);
    let subs = actix_rt::task::spawn_blocking(move || join_clients(handles))
        .await
        .unwrap();
    let last_rx = subs.iter().filter_map(|s| s.last_rx).max().unwrap_or_else(Instant::now);
    let cpu1 = server.cpu_secs();
    let overflow1 = prom_sum(
        &probe,
        &server,
        r#"chatpulse_live_connections_closed_total{reason="overflow"}"#,
    )
    .await;
    server.stop();

    let window = (last_rx.max(t0) - t0).as_secs_f64().max(1e-3);
    let deliveries: u64 = subs.iter().map(|s| s.received).sum();
    let mut run = Run::default();
    run.add("subscribers live", connected as f64, "");
    run.add("messages sent", sent.ids.len() as f64, "");
    run.add("deliveries", deliveries as f64, "");
    run.add("deliveries/s", deliveries as f64 / window, "/s");
    let mut lat: Vec<u32> = subs
        .iter()
        .flat_map(|s| s.lat_a.iter().chain(&s.lat_b).copied())
        .collect();
    lat_figures(&mut run, "", &mut lat);
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        run.add(
            "server CPU per delivery",
            (b - a) / deliveries.max(1) as f64 * 1e6,
            "µs",
        );
        run.add("server CPU use", (b - a) / window * 100.0, "% of a core");
    }
    integrity(&mut run, &subs, &sent.ids, id_base);
    run.zero(
        "overflows",
        (overflow1 - overflow0).max(subs.iter().filter(|s| s.overflowed).count() as f64),
    );
    run.zero("failed connects", (subscribers - connected) as f64);
    run.zero("failed ingest requests", sent.errors as f64);
    run
}

//! `connections`: K idle live connections, memory per connection and connect time.
use crate::prelude::*;

pub(crate) async fn run(
    common: &Common,
    count: usize,
    transport: Transport,
    source_addrs: u8,
    in_flight: usize,
    hold: f64,
) -> Run {
    let server = Server::start(common, Some(count + 64)).await;
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let _ = api_metrics(&probe, &server).await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let rss0 = server.rss_bytes();
    let shared = new_shared(&server.base, 0);
    let spec = ClientSpec {
        transport,
        view: "messages".into(),
        after: None,
        role: Role::Idle,
        source_addrs,
    };
    let start = Instant::now();
    let handles = spawn_clients(common.client_threads, count, 0, in_flight, spec, shared.clone());
    let live = wait_connected(&shared, count, Duration::from_secs(300)).await;
    let all_in = start.elapsed();
    actix_rt::time::sleep(Duration::from_secs(1)).await;
    let rss1 = server.rss_bytes();
    actix_rt::time::sleep(Duration::from_secs_f64(hold)).await;
    shared.stop.store(true, Ordering::SeqCst);
    let subs = actix_rt::task::spawn_blocking(move || join_clients(handles))
        .await
        .unwrap();
    server.stop();

    let mut run = Run::default();
    run.add("connections live", live as f64, "");
    run.add("time to open all", all_in.as_secs_f64(), "s");
    let mut ct: Vec<f64> = subs
        .iter()
        .filter_map(|s| s.connect_time.map(|d| d.as_secs_f64() * 1000.0))
        .collect();
    ct.sort_by(f64::total_cmp);
    run.add("connect time p50", pct(&ct, 50.0), "ms");
    run.add("connect time p99", pct(&ct, 99.0), "ms");
    if let (Some(a), Some(b)) = (rss0, rss1) {
        run.add("server RSS before", a / 1048576.0, "MiB");
        run.add("server RSS with all open", b / 1048576.0, "MiB");
        run.add(
            "server memory per connection",
            (b - a) / live.max(1) as f64 / 1024.0,
            "KiB",
        );
    }
    let errs: Vec<&String> = subs.iter().filter_map(|s| s.connect_err.as_ref()).collect();
    if let Some(e) = errs.first() {
        eprintln!("{} connects failed, first: {e}", errs.len());
    }
    run.zero("failed connects", (count - live) as f64);
    run
}

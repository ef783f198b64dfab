//! `slow-consumers`: clients that stop reading among healthy ones.
use crate::prelude::*;

pub(crate) async fn run(
    common: &Common,
    healthy: usize,
    stalled: usize,
    rate: u64,
    duration: f64,
    transport: Transport,
    text_bytes: usize,
) -> Run {
    let server = Server::start(common, Some(healthy + stalled + 64)).await;
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let id_base = api_metrics(&probe, &server).await["cursor"].as_i64().unwrap_or(0);
    let shared = new_shared(&server.base, id_base);
    let spec = ClientSpec {
        transport,
        view: "messages".into(),
        after: None,
        role: Role::Reader,
        source_addrs: 1,
    };
    let handles = spawn_clients(common.client_threads, healthy, 0, 256, spec.clone(), shared.clone());
    let live_healthy = wait_connected(&shared, healthy, Duration::from_secs(120)).await;
    // Phase A: healthy clients only.
    let a = send_steady(&server, rate, duration, text_bytes, 0).await;
    shared
        .phase_split
        .store(a.ids.last().copied().unwrap_or(id_base), Ordering::SeqCst);
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    // Phase B: the stalled ones join and stop reading.
    let overflow0 = cut_off_total(&probe, &server).await;
    let stall_spec = ClientSpec {
        role: Role::Stalled,
        ..spec
    };
    let stalled_handles = spawn_clients(1, stalled, healthy, 256, stall_spec, shared.clone());
    let live_all = wait_connected(&shared, healthy + stalled, Duration::from_secs(60)).await;
    let stall_start = Instant::now();
    let stop_polling = Rc::new(std::cell::Cell::new(false));
    let disconnected_after: Rc<RefCell<Option<Duration>>> = Default::default();
    let last_seen = Rc::new(std::cell::Cell::new(0.0f64));
    let poller = {
        let (probe, base, stop, out, seen) = (
            probe.clone(),
            server.base.clone(),
            stop_polling.clone(),
            disconnected_after.clone(),
            last_seen.clone(),
        );
        let want = (live_all - live_healthy) as f64;
        actix_rt::spawn(async move {
            let fake = Server::at(base, None);
            while !stop.get() {
                let n = cut_off_total(&probe, &fake).await - overflow0;
                seen.set(n);
                if n >= want && out.borrow().is_none() {
                    *out.borrow_mut() = Some(stall_start.elapsed());
                    break;
                }
                actix_rt::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let b = send_steady(&server, rate, duration, text_bytes, 1_000_000).await;
    // Give the stalled ones up to 10 s more to be cut off.
    let wait_until = Instant::now() + Duration::from_secs(10);
    while disconnected_after.borrow().is_none() && Instant::now() < wait_until {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    stop_polling.set(true);
    let _ = poller.await;
    let mut expected = a.ids.clone();
    expected.extend(&b.ids);
    expected.sort_unstable();
    let last = expected.last().copied().unwrap_or(id_base);
    let subs = finish_readers(&shared, last, Duration::from_secs(10), handles).await;
    let _ = actix_rt::task::spawn_blocking(move || join_clients(stalled_handles)).await;
    server.stop();

    let mut run = Run::default();
    run.add("healthy live", live_healthy as f64, "");
    run.add("stalled live", (live_all - live_healthy) as f64, "");
    let mut la: Vec<u32> = subs.iter().flat_map(|s| s.lat_a.iter().copied()).collect();
    let mut lb: Vec<u32> = subs.iter().flat_map(|s| s.lat_b.iter().copied()).collect();
    lat_figures(&mut run, "healthy without stalled: ", &mut la);
    lat_figures(&mut run, "healthy with stalled: ", &mut lb);
    let p99 = |v: &[u32]| {
        v.get(((v.len().max(1) - 1) as f64 * 0.99).round() as usize)
            .copied()
            .unwrap_or(0) as f64
    };
    run.add("p99 ratio (with / without)", p99(&lb) / p99(&la).max(1.0), "");
    run.add("stalled cut off (overflow or write timeout)", last_seen.get(), "");
    run.add(
        "time until all stalled cut off",
        disconnected_after.borrow().map(|d| d.as_secs_f64()).unwrap_or(f64::NAN),
        "s",
    );
    integrity(&mut run, &subs, &expected, id_base);
    run.zero(
        "healthy overflowed",
        subs.iter().filter(|s| s.overflowed).count() as f64,
    );
    run.zero("failed ingest requests", (a.errors + b.errors) as f64);
    run
}

//! `fanout`: S subscribers on a view while R msg/s are ingested; with `--nodes N`, N
//! nodes on one PostgreSQL database and a Redis bus, ingest on node 0 and the subscribers
//! spread round-robin over all nodes.
use crate::prelude::*;

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    common: &Common,
    subscribers: usize,
    rate: u64,
    duration: f64,
    transport: Transport,
    view: &str,
    text_bytes: usize,
    nodes: usize,
    backend: DbBackend,
) -> Run {
    let cluster = Cluster::start(common, nodes, backend, Some(subscribers + 64)).await;
    let server = cluster.node(0);
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let id_base = api_metrics(&probe, server).await["cursor"].as_i64().unwrap_or(0);
    let bases: Vec<String> = if cluster.len() > 1 {
        cluster.nodes().iter().map(|n| n.base.clone()).collect()
    } else {
        Vec::new()
    };
    let shared = new_shared_nodes(&server.base, bases, Vec::new(), id_base);
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
    let overflow0 = overflows(&probe, &cluster).await;
    let cpu0: Vec<Option<f64>> = cluster.nodes().iter().map(Server::cpu_secs).collect();
    let t0 = Instant::now();
    let sent = send_steady(server, rate, duration, text_bytes, 0).await;
    debug(&format!("sent {} messages", sent.ids.len()));
    let last = sent.ids.last().copied().unwrap_or(id_base);
    let subs = finish_readers(&shared, last, Duration::from_secs(10), handles).await;
    let last_rx = subs.iter().filter_map(|s| s.last_rx).max().unwrap_or_else(Instant::now);
    let cpu1: Vec<Option<f64>> = cluster.nodes().iter().map(Server::cpu_secs).collect();
    let overflow1 = overflows(&probe, &cluster).await;
    let mut gap_fills = 0.0;
    if cluster.len() > 1 {
        for node in cluster.nodes() {
            gap_fills += prom_sum(&probe, node, "chatpulse_gap_fill_events_total").await;
        }
    }
    let n = cluster.len();
    cluster.stop();

    let window = (last_rx.max(t0) - t0).as_secs_f64().max(1e-3);
    let deliveries: u64 = subs.iter().map(|s| s.received).sum();
    let mut run = Run::default();
    run.add("subscribers live", connected as f64, "");
    run.add("messages sent", sent.ids.len() as f64, "");
    run.add("deliveries", deliveries as f64, "");
    run.add("deliveries/s", deliveries as f64 / window, "/s");
    let lat_of = |pick: &dyn Fn(&SubStats) -> bool| -> Vec<u32> {
        subs.iter()
            .filter(|s| pick(s))
            .flat_map(|s| s.lat_a.iter().chain(&s.lat_b).copied())
            .collect()
    };
    lat_figures(&mut run, "", &mut lat_of(&|_| true));
    // CPU of each node over the window; `None` where a node's is unknown.
    let used: Vec<Option<f64>> = cpu0.iter().zip(&cpu1).map(|(a, b)| Some((*b)? - (*a)?)).collect();
    let total: Option<f64> = used.iter().copied().sum();
    if let Some(cpu) = total {
        run.add("server CPU per delivery", cpu / deliveries.max(1) as f64 * 1e6, "µs");
        run.add("server CPU use", cpu / window * 100.0, "% of a core");
    }
    if n > 1 {
        // The ingest node's subscribers get their events from its own commits; the
        // others' come over the bus: the difference is the bus hop.
        let mut local = lat_of(&|s| s.node == 0);
        let mut remote = lat_of(&|s| s.node != 0);
        lat_figures(&mut run, "local ", &mut local);
        lat_figures(&mut run, "remote ", &mut remote);
        let p99 = |name: &str| {
            run.figures
                .iter()
                .find(|f| f.name == name)
                .map_or(f64::NAN, |f| f.value)
        };
        let hop = p99("remote latency p99") - p99("local latency p99");
        run.add("bus hop (remote − local p99)", hop, "ms");
        // Events a node read from the database instead of taking them off the bus.
        run.add("gap-fill events (all nodes)", gap_fills, "");
        for (i, cpu) in used.iter().enumerate() {
            let mine: u64 = subs.iter().filter(|s| s.node == i).map(|s| s.received).sum();
            let role = if i == 0 { "ingest" } else { "remote" };
            let dups: u64 = subs.iter().filter(|s| s.node == i).map(|s| s.dups).sum();
            debug(&format!("node {i}: {mine} deliveries, {dups} duplicated"));
            run.add(
                &format!("node {i} ({role}) CPU per own delivery"),
                cpu.map_or(f64::NAN, |c| c / mine.max(1) as f64 * 1e6),
                "µs",
            );
            run.add(
                &format!("node {i} ({role}) CPU use"),
                cpu.map_or(f64::NAN, |c| c / window * 100.0),
                "% of a core",
            );
        }
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

/// Live connections closed for overflow, summed over the nodes.
async fn overflows(probe: &awc::Client, cluster: &Cluster) -> f64 {
    let mut sum = 0.0;
    for node in cluster.nodes() {
        sum += prom_sum(
            probe,
            node,
            r#"chatpulse_live_connections_closed_total{reason="overflow"}"#,
        )
        .await;
    }
    sum
}

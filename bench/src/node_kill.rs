//! `node-kill`: N nodes on one PostgreSQL database and a Redis bus, S subscribers on node
//! 1 while R msg/s are ingested on node 0; node 1 gets SIGKILL, and each subscriber
//! resumes on a survivor (round-robin) with its `after_id` and epoch, as a client does
//! after its connection dropped. Measures the time from the kill until each is live
//! again, and loss, duplicates and reordering over the whole stream.
use crate::prelude::*;

/// The node that is killed; node 0 takes the ingest.
const VICTIM: usize = 1;

pub(crate) async fn run(
    common: &Common,
    nodes: usize,
    subscribers: usize,
    rate: u64,
    duration: f64,
    kill_after: f64,
    transport: Transport,
) -> Run {
    assert!(nodes >= 2, "node-kill needs at least 2 nodes");
    let cluster = Cluster::start(common, nodes, DbBackend::Postgres, Some(subscribers + 64)).await;
    let server = cluster.node(0);
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let id_base = api_metrics(&probe, server).await["cursor"].as_i64().unwrap_or(0);
    let survivors: Vec<String> = (0..nodes)
        .filter(|i| *i != VICTIM)
        .map(|i| cluster.node(i).base.clone())
        .collect();
    let victim = cluster.node(VICTIM).base.clone();
    let shared = new_shared_nodes(&victim, vec![victim.clone()], survivors, id_base);
    let spec = ClientSpec {
        transport,
        view: "messages".into(),
        after: None,
        role: Role::Reader,
        source_addrs: 1,
    };
    let handles = spawn_clients(common.client_threads, subscribers, 0, 256, spec, shared.clone());
    let connected = wait_connected(&shared, subscribers, Duration::from_secs(120)).await;
    debug(&format!("{connected} subscribers live on node {VICTIM}"));
    let fallbacks0 = fallbacks(&probe, &cluster, VICTIM).await;
    let killed_at = Rc::new(RefCell::new(None::<i64>));
    let kill = {
        let (cluster, killed_at) = (&cluster, killed_at.clone());
        async move {
            actix_rt::time::sleep(Duration::from_secs_f64(kill_after)).await;
            *killed_at.borrow_mut() = Some(now_us());
            cluster.kill9(VICTIM);
            debug(&format!("node {VICTIM} killed"));
        }
    };
    let (sent, ()) = futures_util::future::join(send_steady(server, rate, duration, 0, 0), kill).await;
    debug(&format!("sent {} messages", sent.ids.len()));
    let last = sent.ids.last().copied().unwrap_or(id_base);
    let subs = finish_readers(&shared, last, Duration::from_secs(20), handles).await;
    let fallbacks1 = fallbacks(&probe, &cluster, VICTIM).await;
    cluster.stop();

    let killed_at = killed_at.borrow().expect("the kill ran");
    let deliveries: u64 = subs.iter().map(|s| s.received).sum();
    let mut run = Run::default();
    run.add("subscribers live", connected as f64, "");
    run.add("messages sent", sent.ids.len() as f64, "");
    run.add("deliveries", deliveries as f64, "");
    let mut relive: Vec<f64> = subs
        .iter()
        .filter(|s| s.drops > 0)
        .filter_map(|s| s.relive_us)
        .map(|t| (t - killed_at) as f64 / 1000.0)
        .collect();
    relive.sort_by(f64::total_cmp);
    run.add("subscribers live again", relive.len() as f64, "");
    run.add("kill to live again p50", pct(&relive, 50.0), "ms");
    run.add("kill to live again p99", pct(&relive, 99.0), "ms");
    run.add("kill to live again max", pct(&relive, 100.0), "ms");
    run.add(
        "all live again within",
        if relive.len() == connected {
            pct(&relive, 100.0) / 1000.0
        } else {
            f64::NAN
        },
        "s",
    );
    run.add(
        "resume connect errors",
        subs.iter().map(|s| s.resume_errors as f64).sum(),
        "",
    );
    let mut lat: Vec<u32> = subs
        .iter()
        .flat_map(|s| s.lat_a.iter().chain(&s.lat_b).copied())
        .collect();
    lat_figures(&mut run, "", &mut lat);
    integrity(&mut run, &subs, &sent.ids, id_base);
    run.zero("not live again", (connected - relive.len()) as f64);
    run.zero(
        "fallbacks",
        (fallbacks1 - fallbacks0).max(subs.iter().filter(|s| s.fallback).count() as f64),
    );
    run.zero("failed connects", (subscribers - connected) as f64);
    run.zero("failed ingest requests", sent.errors as f64);
    run
}

/// Fallbacks the surviving nodes counted.
async fn fallbacks(probe: &awc::Client, cluster: &Cluster, victim: usize) -> f64 {
    let mut sum = 0.0;
    for (i, node) in cluster.nodes().iter().enumerate() {
        if i != victim {
            sum += prom_sum(probe, node, "chatpulse_live_fallbacks_total").await;
        }
    }
    sum
}

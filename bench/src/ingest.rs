//! `ingest-batch` and `ingest-single`: writers posting back to back, and the raw
//! baseline through `chatpulse::store`.
use crate::prelude::*;

pub(crate) struct IngestResult {
    pub(crate) acked: u64,
    pub(crate) errors: u64,
    pub(crate) overloaded: u64,
    pub(crate) elapsed: f64,
    pub(crate) lat_ms: Vec<f64>,
    /// Messages acknowledged per body (`bodies[k]`), for the exact-count checks.
    pub(crate) acked_per_body: Vec<u64>,
}

/// How many distinct request bodies the writers cycle through.
const BODIES: usize = 8;

/// The sequence number of the `j`th message of body `k` (see `ingest_load`).
fn seq_of(k: usize, j: usize, batch: usize) -> u64 {
    if batch == 1 {
        k as u64 * 7919
    } else {
        (k * batch + j) as u64
    }
}

/// `writers` tasks each post batches of `batch` back to back until `duration` is over.
pub(crate) async fn ingest_load(server: &Server, writers: usize, batch: usize, duration: f64) -> IngestResult {
    // A few distinct bodies, built before the clock starts.
    let bodies: Rc<Vec<Bytes>> = Rc::new(
        (0..BODIES)
            .map(|k| {
                if batch == 1 {
                    Bytes::from(message_json(seq_of(k, 0, 1), None, 0))
                } else {
                    batch_body(seq_of(k, 0, batch), batch, None, 0)
                }
            })
            .collect(),
    );
    let client = http_client(writers + 8, Some(Duration::from_secs(60)), None);
    let url = server.url("/api/messages");
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(duration);
    let result = Rc::new(RefCell::new(IngestResult {
        acked: 0,
        errors: 0,
        overloaded: 0,
        elapsed: 0.0,
        lat_ms: Vec::new(),
        acked_per_body: vec![0; BODIES],
    }));
    let last_done = Rc::new(RefCell::new(start));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (client, url, bodies, result, last_done) = (
            client.clone(),
            url.clone(),
            bodies.clone(),
            result.clone(),
            last_done.clone(),
        );
        tasks.push(actix_rt::spawn(async move {
            let mut k = w;
            while Instant::now() < deadline {
                let body_k = k % bodies.len();
                let body = bodies[body_k].clone();
                k += 1;
                let t0 = Instant::now();
                let r = post(&client, &url, body).await;
                let done = Instant::now();
                let overloaded = {
                    let mut res = result.borrow_mut();
                    match r {
                        Ok((201, v)) => {
                            let inserted = v["inserted"].as_u64().unwrap_or(0);
                            res.acked += inserted;
                            res.acked_per_body[body_k] += inserted;
                            res.lat_ms.push((done - t0).as_secs_f64() * 1000.0);
                            *last_done.borrow_mut() = done;
                            false
                        }
                        Ok((503, _)) => {
                            res.overloaded += 1;
                            true
                        }
                        _ => {
                            res.errors += 1;
                            false
                        }
                    }
                };
                if overloaded {
                    actix_rt::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = (*last_done.borrow() - start).as_secs_f64();
    let mut r = Rc::try_unwrap(result).ok().unwrap().into_inner();
    r.elapsed = elapsed;
    r.lat_ms.sort_by(f64::total_cmp);
    r
}

/// The same rows written through `chatpulse::store` in one thread on a fresh database
/// (a SQLite file, or a fresh database on the PostgreSQL of `--pg-admin-url`).
pub(crate) fn raw_baseline(common: &Common, backend: DbBackend, rows: u64, batch: usize, pragma: Option<&str>) -> f64 {
    use chatpulse::store::{NewMessage, Store};
    use diesel::connection::SimpleConnection;
    let dir = temp_dir("raw");
    let (database, pg) = match backend {
        DbBackend::Sqlite => (dir.path().join("raw.db").to_str().unwrap().to_string(), None),
        DbBackend::Postgres => {
            let db = pg_database(common);
            (db.url(), Some(db))
        }
    };
    // One connection: the one thread that writes, as the ingest actor does.
    let store = Store::open(&database, 1).expect("open raw store");
    if let Some(sql) = pragma {
        store
            .conn()
            .expect("raw conn")
            .batch_execute(sql)
            .expect("--raw-pragma");
    }
    let batches: Vec<Vec<NewMessage>> = (0..8u64)
        .map(|k| {
            (0..batch as u64)
                .map(|i| {
                    let (channel, user, text) = message_parts(k * batch as u64 + i, None, 0);
                    NewMessage {
                        channel,
                        user,
                        text,
                        sent_at: now_us() / 1000,
                        tags: None,
                        display_name: None,
                        event_id: None,
                    }
                })
                .collect()
        })
        .collect();
    let n = (rows as usize).div_ceil(batch).max(1);
    let start = Instant::now();
    for k in 0..n {
        let (outcomes, _) = store
            .insert_batches(std::slice::from_ref(&batches[k % batches.len()]))
            .expect("raw insert");
        for o in outcomes {
            o.expect("raw request");
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    drop(store);
    drop(pg);
    drop(dir);
    (n * batch) as f64 / elapsed
}

pub(crate) async fn run(
    common: &Common,
    writers: usize,
    batch: usize,
    duration: f64,
    raw: bool,
    raw_pragma: Option<&str>,
    backend: DbBackend,
) -> Run {
    let cluster = Cluster::start(common, 1, backend, None).await;
    let server = cluster.node(0);
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let before = api_metrics(&probe, server).await["total_messages"]
        .as_u64()
        .unwrap_or(0);
    let cpu0 = server.cpu_secs();
    let r = ingest_load(server, writers, batch, duration).await;
    let cpu1 = server.cpu_secs();
    let after = api_metrics(&probe, server).await["total_messages"]
        .as_u64()
        .unwrap_or(0);
    let mismatches = match backend {
        DbBackend::Sqlite => None,
        DbBackend::Postgres => Some(count_mismatches(&probe, server, &r, batch, after.saturating_sub(before)).await),
    };
    cluster.stop();
    let mut run = Run::default();
    let rate = r.acked as f64 / r.elapsed;
    run.add("stored msg/s", rate, "msg/s");
    run.add("requests", r.lat_ms.len() as f64, "");
    run.add("request p50", pct(&r.lat_ms, 50.0), "ms");
    run.add("request p99", pct(&r.lat_ms, 99.0), "ms");
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        run.add("server CPU per message", (b - a) / r.acked.max(1) as f64 * 1e6, "µs");
        run.add("server CPU use", (b - a) / r.elapsed * 100.0, "% of a core");
    }
    run.add("503 overloaded answers", r.overloaded as f64, "");
    run.zero("failed requests", r.errors as f64);
    run.zero(
        "acked but not stored",
        (r.acked as i64 - (after - before) as i64).unsigned_abs() as f64,
    );
    if let Some(m) = mismatches {
        run.zero("count mismatches", m as f64);
    }
    if raw {
        let raw_rate = raw_baseline(common, backend, r.acked.max(batch as u64), batch, raw_pragma);
        run.add("raw store msg/s (1 thread)", raw_rate, "msg/s");
        run.add("overhead ratio (HTTP / raw)", rate / raw_rate, "");
    }
    run
}

/// After the load, on a database the run started empty: the channels' and the users'
/// `total_messages` each sum to the stored count (`stored`, from `/api/metrics`), and a
/// search for the text of a few known messages finds each exactly as often as it was
/// acknowledged (up to the search limit). Returns the sum of the differences.
async fn count_mismatches(probe: &awc::Client, server: &Server, r: &IngestResult, batch: usize, stored: u64) -> u64 {
    const LIMIT: u64 = 1000;
    let mut off = 0u64;
    for (list, field) in [("channels", "channels"), ("users", "users")] {
        let t = get_text(probe, &server.url(&format!("/api/{list}?limit={LIMIT}")))
            .await
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
        let sum: u64 = v[field]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["total_messages"].as_u64()).sum())
            .unwrap_or(0);
        if sum != stored {
            debug(&format!("{list}: total_messages sum to {sum}, stored {stored}"));
        }
        off += sum.abs_diff(stored);
    }
    off += stored.abs_diff(r.acked);
    // The last message of the first four bodies: each text is unique within its body.
    for k in 0..4.min(BODIES) {
        let seq = seq_of(k, batch - 1, batch);
        let (_, _, text) = message_parts(seq, None, 0);
        let q = chatpulse_testkit::enc(&format!("\"s={seq}\""));
        let t = get_text(probe, &server.url(&format!("/api/search?q={q}&limit={LIMIT}")))
            .await
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
        let found = v["messages"]
            .as_array()
            .map(|a| a.iter().filter(|m| m["text"].as_str() == Some(&text)).count() as u64)
            .unwrap_or(0);
        let expected = r.acked_per_body[k] / batch as u64;
        debug(&format!("search {text:?}: found {found}, expected {expected}"));
        off += found.min(LIMIT).abs_diff(expected.min(LIMIT));
    }
    off
}

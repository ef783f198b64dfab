//! `files`: S subscribers on the `messages` view while R msg/s are ingested, first without
//! files, then while W workers (50) each upload a file of M MiB (5) into a stream, download
//! it whole and delete it, over and over. Issue 17's goals: the server's memory stays within
//! 64 MiB of what it held before the files (bytes are streamed a chunk at a time, never held
//! whole), and the message fan-out p99 with files is within 1.2 × the p99 without, in the
//! same run.
use std::cell::Cell;
use std::sync::atomic::AtomicU64;

use crate::people::*;
use crate::prelude::*;

pub(crate) struct FilesArgs {
    pub(crate) subscribers: usize,
    pub(crate) rate: u64,
    pub(crate) duration: f64,
    pub(crate) workers: usize,
    pub(crate) file_mib: usize,
}

#[derive(Default)]
struct Traffic {
    uploads: AtomicU64,
    downloads: AtomicU64,
    bytes: AtomicU64,
    failures: AtomicU64,
    /// A download whose bytes differ from the upload's.
    corrupt: AtomicU64,
}

/// One worker: upload, download, delete, until `stop`.
async fn worker(base: String, stream: i64, token: String, body: Bytes, stop: Rc<Cell<bool>>, t: Rc<Traffic>) {
    let client = http_client(2, Some(Duration::from_secs(120)), None);
    let auth = format!("Bearer {token}");
    while !stop.get() {
        let up = client
            .post(format!("{base}/api/streams/{stream}/files?name=bench.bin"))
            .insert_header(("Authorization", auth.as_str()))
            .insert_header(("Content-Type", "application/octet-stream"))
            .send_body(body.clone())
            .await;
        let event: Value = match up {
            Ok(mut res) if res.status().as_u16() == 201 => {
                match res.body().limit(1 << 20).await.map(|b| serde_json::from_slice(&b)) {
                    Ok(Ok(v)) => v,
                    _ => {
                        t.failures.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
            }
            _ => {
                t.failures.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        t.uploads.fetch_add(1, Ordering::Relaxed);
        t.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        let url = event["file"]["url"].as_str().unwrap_or_default().to_owned();
        // Read as it comes, a piece at a time: the client holds no more than the server.
        match client.get(format!("{base}{url}")).send().await {
            Ok(mut res) if res.status().is_success() => {
                let (mut got, mut same) = (0usize, true);
                while let Some(piece) = res.next().await {
                    match piece {
                        Ok(p) => {
                            same &= body.get(got..got + p.len()) == Some(&p[..]);
                            got += p.len();
                        }
                        Err(_) => {
                            same = false;
                            break;
                        }
                    }
                }
                if !same || got != body.len() {
                    t.corrupt.fetch_add(1, Ordering::Relaxed);
                }
                t.downloads.fetch_add(1, Ordering::Relaxed);
                t.bytes.fetch_add(got as u64, Ordering::Relaxed);
            }
            _ => {
                t.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        let id = event["event_id"].as_i64().unwrap_or(0);
        let gone = client
            .delete(format!("{base}/api/streams/{stream}/events/{id}"))
            .insert_header(("Authorization", auth.as_str()))
            .send()
            .await;
        if !matches!(gone, Ok(r) if r.status().as_u16() == 204) {
            t.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub(crate) async fn run(common: &Common, a: FilesArgs) -> Run {
    let common = with_tokens(common);
    let server = Server::start(&common, Some(a.subscribers + 64)).await;
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let minter = Minter::new();
    let token = minter.token("uploader");
    let stream = api_ok(
        &probe,
        &server.base,
        &token,
        "POST",
        "/api/streams",
        Some(json!({"kind": "channel", "name": "uploads"})),
    )
    .await["id"]
        .as_i64()
        .expect("a stream id");
    let id_base = api_metrics(&probe, &server).await["cursor"].as_i64().unwrap_or(0);
    let shared = new_shared(&server.base, id_base);
    let spec = ClientSpec {
        transport: Transport::Ws,
        view: "messages".into(),
        after: None,
        role: Role::Reader,
        source_addrs: 1,
    };
    let handles = spawn_clients(common.client_threads, a.subscribers, 0, 256, spec, shared.clone());
    let connected = wait_connected(&shared, a.subscribers, Duration::from_secs(120)).await;

    // Phase A: messages only.
    let without = send_steady(&server, a.rate, a.duration, 0, 0).await;
    let split = without.ids.last().copied().unwrap_or(id_base);
    shared.phase_split.store(split, Ordering::SeqCst);
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = server.rss_bytes();

    // Phase B: the same messages while the workers move files.
    let body = Bytes::from(
        (0..a.file_mib << 20)
            .map(|i| (mix(i as u64) & 0xff) as u8)
            .collect::<Vec<u8>>(),
    );
    let stop = Rc::new(Cell::new(false));
    let traffic = Rc::new(Traffic::default());
    let workers: Vec<_> = (0..a.workers)
        .map(|_| {
            actix_rt::spawn(worker(
                server.base.clone(),
                stream,
                token.clone(),
                body.clone(),
                stop.clone(),
                traffic.clone(),
            ))
        })
        .collect();
    let peak = Rc::new(Cell::new(0.0f64));
    let sampler = {
        let (stop, peak, pid) = (stop.clone(), peak.clone(), server.pid());
        actix_rt::spawn(async move {
            while !stop.get() {
                if let Some(rss) = pid.and_then(proc_rss_bytes) {
                    peak.set(peak.get().max(rss));
                }
                actix_rt::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    // The workers get going before the measured messages.
    actix_rt::time::sleep(Duration::from_secs(1)).await;
    let t0 = Instant::now();
    let with = send_steady(&server, a.rate, a.duration, 0, without.ids.len() as u64).await;
    let window = t0.elapsed().as_secs_f64();
    stop.set(true);
    for w in workers {
        let _ = w.await;
    }
    let _ = sampler.await;
    let last = with.ids.last().copied().unwrap_or(split);
    let subs = finish_readers(&shared, last, Duration::from_secs(10), handles).await;
    server.stop();

    let mut run = Run::default();
    run.add("subscribers live", connected as f64, "");
    let mut lat_a: Vec<u32> = subs.iter().flat_map(|s| s.lat_a.iter().copied()).collect();
    let mut lat_b: Vec<u32> = subs.iter().flat_map(|s| s.lat_b.iter().copied()).collect();
    lat_figures(&mut run, "without files: ", &mut lat_a);
    lat_figures(&mut run, "with files: ", &mut lat_b);
    let p99 = |run: &Run, name: &str| {
        run.figures
            .iter()
            .find(|f| f.name == name)
            .map_or(f64::NAN, |f| f.value)
    };
    let ratio = p99(&run, "with files: latency p99") / p99(&run, "without files: latency p99");
    run.add("fan-out p99 with files / without (goal ≤ 1.2)", ratio, "×");
    let t = &traffic;
    run.add("uploads", t.uploads.load(Ordering::Relaxed) as f64, "");
    run.add("downloads", t.downloads.load(Ordering::Relaxed) as f64, "");
    run.add(
        "file throughput (up + down)",
        t.bytes.load(Ordering::Relaxed) as f64 / window / (1 << 20) as f64,
        "MiB/s",
    );
    if let Some(idle) = idle_rss {
        run.add("server RSS before files", idle / (1 << 20) as f64, "MiB");
        run.add("server RSS peak with files", peak.get() / (1 << 20) as f64, "MiB");
        run.add(
            "server RSS growth (goal ≤ 64 MiB)",
            (peak.get() - idle).max(0.0) / (1 << 20) as f64,
            "MiB",
        );
    }
    let mut all = without.ids.clone();
    all.extend(&with.ids);
    integrity(&mut run, &subs, &all, id_base);
    run.zero("corrupt downloads", t.corrupt.load(Ordering::Relaxed) as f64);
    run.zero("failed file requests", t.failures.load(Ordering::Relaxed) as f64);
    run.zero("failed connects", (a.subscribers - connected) as f64);
    run.zero("failed ingest requests", (without.errors + with.errors) as f64);
    run
}

//! The live clients every live scenario runs: cheap envelope scanning, client threads,
//! the steady sender and the integrity figures.
use crate::prelude::*;

pub(crate) enum Conn {
    // The client is kept alive with its connection.
    #[allow(dead_code)]
    Ws(Box<dyn WsIo>, awc::Client),
    Sse {
        stream: Pin<Box<dyn Stream<Item = Result<Bytes, awc::error::PayloadError>>>>,
        buf: Vec<u8>,
        _client: awc::Client,
    },
}

pub(crate) enum Ev {
    Message {
        id: i64,
        t_us: Option<i64>,
    },
    Status {
        state: String,
        reason: String,
        /// The `connected` status's cursor and epoch: where a resume starts.
        cursor: Option<i64>,
        epoch: Option<String>,
    },
    Other,
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn int_at(b: &[u8]) -> Option<i64> {
    let end = b.iter().position(|c| !c.is_ascii_digit()).unwrap_or(b.len());
    std::str::from_utf8(&b[..end]).ok()?.parse().ok()
}

/// Reads one envelope cheaply: message events (and a stream view's `event`s, by their
/// `event_id`) are scanned, not parsed.
pub(crate) fn scan(json: &[u8]) -> Ev {
    let logged = if json.starts_with(br#"{"type":"message""#) {
        Some(find(json, br#""message_id":"#).map(|i| i + 13))
    } else if json.starts_with(br#"{"type":"event""#) {
        Some(find(json, br#""event_id":"#).map(|i| i + 11))
    } else {
        None
    };
    if let Some(at) = logged {
        let id = at.and_then(|i| int_at(&json[i..]));
        let t = find(json, b"\"text\":\"bench t=").and_then(|i| int_at(&json[i + 16..]));
        match id {
            Some(id) => Ev::Message { id, t_us: t },
            None => Ev::Other,
        }
    } else if find(json, br#""type":"status""#).is_some() {
        let v: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
        Ev::Status {
            state: v["state"].as_str().unwrap_or("").into(),
            reason: v["reason"].as_str().unwrap_or("").into(),
            cursor: v["cursor"].as_i64(),
            epoch: v["epoch"].as_str().map(String::from),
        }
    } else {
        Ev::Other
    }
}

pub(crate) fn live_url(base: &str, transport: Transport, view: &str, after: Option<(i64, &str)>) -> String {
    let path = match transport {
        Transport::Ws => "/live/ws",
        Transport::Sse => "/live/sse",
    };
    let mut u = format!("{base}{path}?view={}", view.replace('/', "%2F"));
    if let Some((a, e)) = after {
        u.push_str(&format!("&after_id={a}&epoch={e}"));
    }
    u
}

pub(crate) fn source_ip(i: usize, addrs: u8) -> Option<IpAddr> {
    if addrs <= 1 {
        None
    } else {
        Some(IpAddr::from([127, 0, 0, 1 + (i % addrs as usize) as u8]))
    }
}

impl Conn {
    pub(crate) async fn open(url: &str, transport: Transport, local: Option<IpAddr>) -> Result<Conn, String> {
        match transport {
            Transport::Ws => {
                let client = http_client(1, Some(Duration::from_secs(30)), local);
                let (_res, framed) = client
                    .ws(url)
                    .max_frame_size(64 << 20)
                    .connect()
                    .await
                    .map_err(|e| format!("ws connect: {e}"))?;
                Ok(Conn::Ws(Box::new(framed), client))
            }
            Transport::Sse => {
                let client = http_client(1, None, local);
                let res = client
                    .get(url)
                    .insert_header(("Accept", "text/event-stream"))
                    .send()
                    .await
                    .map_err(|e| format!("sse connect: {e}"))?;
                if res.status().as_u16() != 200 {
                    return Err(format!("sse HTTP {}", res.status().as_u16()));
                }
                Ok(Conn::Sse {
                    stream: Box::pin(res),
                    buf: Vec::new(),
                    _client: client,
                })
            }
        }
    }

    /// Appends what arrives within `wait` to `out`; `Err` when the connection ended.
    pub(crate) async fn next(&mut self, wait: Duration, out: &mut Vec<Ev>) -> Result<(), String> {
        match self {
            Conn::Ws(io, _) => {
                let item = match actix_rt::time::timeout(wait, io.next()).await {
                    Err(_) => return Ok(()),
                    Ok(item) => item,
                };
                match item {
                    None => Err("eof".into()),
                    Some(Err(e)) => Err(format!("ws error: {e}")),
                    Some(Ok(ws::Frame::Text(b))) => {
                        out.push(scan(&b));
                        Ok(())
                    }
                    Some(Ok(ws::Frame::Ping(b))) => {
                        let _ = io.send(ws::Message::Pong(b)).await;
                        Ok(())
                    }
                    Some(Ok(ws::Frame::Close(reason))) => {
                        let _ = io.send(ws::Message::Close(None)).await;
                        Err(format!("closed {:?}", reason.map(|r| u16::from(r.code))))
                    }
                    Some(Ok(_)) => Ok(()),
                }
            }
            Conn::Sse { stream, buf, .. } => {
                let item = match actix_rt::time::timeout(wait, stream.next()).await {
                    Err(_) => return Ok(()),
                    Ok(item) => item,
                };
                match item {
                    None => Err("eof".into()),
                    Some(Err(e)) => Err(format!("sse error: {e}")),
                    Some(Ok(chunk)) => {
                        buf.extend_from_slice(&chunk);
                        let mut start = 0;
                        while let Some(nl) = buf[start..].iter().position(|c| *c == b'\n') {
                            let line = &buf[start..start + nl];
                            if let Some(data) = line.strip_prefix(b"data: ") {
                                out.push(scan(data));
                            }
                            start += nl + 1;
                        }
                        buf.drain(..start);
                        Ok(())
                    }
                }
            }
        }
    }

    pub(crate) async fn close(&mut self) {
        if let Conn::Ws(io, _) = self {
            let _ = io.send(ws::Message::Close(Some(ws::CloseCode::Normal.into()))).await;
        }
    }
}

/// What the main thread and the client threads share.
pub(crate) struct Shared {
    pub(crate) base: String,
    /// Ids above this are the benchmark's messages.
    pub(crate) id_base: i64,
    pub(crate) connected: AtomicUsize,
    pub(crate) failed: AtomicUsize,
    /// Set once sending is over and `last_id` is known.
    pub(crate) stop: AtomicBool,
    pub(crate) last_id: AtomicI64,
    /// Subscribers give up waiting for `last_id` at this time (µs since the epoch).
    pub(crate) drain_deadline_us: AtomicI64,
    /// Latencies of ids at or below this go to phase A, above it to phase B.
    pub(crate) phase_split: AtomicI64,
    /// When the scenario started (time to live is measured from here).
    pub(crate) start: Instant,
    /// Several nodes: client `i` connects to `nodes[i % len]` (empty: `base`).
    pub(crate) nodes: Vec<String>,
    /// Several nodes: a client whose connection drops after it was live resumes with its
    /// `after_id` and epoch on `failover[(i + attempt) % len]`, as a real client would
    /// (empty: it stops there, as before).
    pub(crate) failover: Vec<String>,
}

#[derive(Default)]
pub(crate) struct SubStats {
    pub(crate) received: u64,
    pub(crate) dups: u64,
    pub(crate) out_of_order: u64,
    pub(crate) overflowed: bool,
    pub(crate) fallback: bool,
    pub(crate) connect_err: Option<String>,
    /// Time from the start of the scenario to the `connected` status.
    pub(crate) live_after: Option<Duration>,
    /// Time from this client's own connect call to `connected`.
    pub(crate) connect_time: Option<Duration>,
    pub(crate) lat_a: Vec<u32>,
    pub(crate) lat_b: Vec<u32>,
    pub(crate) seen: Vec<u8>,
    pub(crate) max_id: i64,
    pub(crate) last_rx: Option<Instant>,
    /// The index in `Shared::nodes` of the node this client first connected to.
    pub(crate) node: usize,
    /// Connections that dropped after being live (then resumed on a failover node).
    pub(crate) drops: u32,
    /// When the last resumed connection was live again (µs since the epoch).
    pub(crate) relive_us: Option<i64>,
    /// Connection attempts to failover nodes that failed.
    pub(crate) resume_errors: u32,
    /// The connection dropped and no failover node took the client before the deadline.
    pub(crate) resume_failed: bool,
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Role {
    /// Reads until it has `last_id` (or the drain deadline).
    Reader,
    /// Reads until `connected` and past `last_id` (set before start), then leaves.
    UntilLive,
    /// Stops reading after `connected`; holds the socket until stop.
    Stalled,
    /// Reads (answers pings) until stop.
    Idle,
}

#[derive(Clone)]
pub(crate) struct ClientSpec {
    pub(crate) transport: Transport,
    pub(crate) view: String,
    pub(crate) after: Option<(i64, String)>,
    pub(crate) role: Role,
    pub(crate) source_addrs: u8,
}

pub(crate) async fn live_client(
    i: usize,
    spec: ClientSpec,
    shared: Arc<Shared>,
    sem: Rc<tokio::sync::Semaphore>,
) -> SubStats {
    let mut st = SubStats::default();
    // Bounds the handshakes in flight; released once this client is live (or failed).
    let mut permit = sem.acquire().await.ok();
    let base = match shared.nodes.len() {
        0 => shared.base.clone(),
        n => {
            st.node = i % n;
            shared.nodes[st.node].clone()
        }
    };
    let url = live_url(
        &base,
        spec.transport,
        &spec.view,
        spec.after.as_ref().map(|(a, e)| (*a, e.as_str())),
    );
    let t0 = Instant::now();
    debug(&format!("client {i} connecting {url}"));
    let mut conn = match Conn::open(&url, spec.transport, source_ip(i, spec.source_addrs)).await {
        Ok(c) => c,
        Err(e) => {
            shared.failed.fetch_add(1, Ordering::SeqCst);
            st.connect_err = Some(e);
            return st;
        }
    };
    let mut evs = Vec::new();
    // Live on the current connection; `ever`: live on any (the first counts as connected).
    let mut connected = false;
    let mut ever = false;
    let mut resume_from: Option<(i64, String)> = None;
    loop {
        evs.clear();
        let r = conn.next(Duration::from_millis(100), &mut evs).await;
        let now = now_us();
        let rx = Instant::now();
        let split = shared.phase_split.load(Ordering::Relaxed);
        for ev in evs.drain(..) {
            match ev {
                Ev::Message { id, t_us } => {
                    st.received += 1;
                    st.last_rx = Some(rx);
                    let idx = id - shared.id_base - 1;
                    if idx >= 0 {
                        let idx = idx as usize;
                        if st.seen.len() <= idx {
                            st.seen.resize(idx + 1024, 0);
                        }
                        if st.seen[idx] != 0 {
                            st.dups += 1;
                        } else if id < st.max_id {
                            st.out_of_order += 1;
                        }
                        st.seen[idx] = 1;
                    }
                    st.max_id = st.max_id.max(id);
                    if let Some(t) = t_us {
                        let lat = (now - t).clamp(0, u32::MAX as i64) as u32;
                        if id <= split {
                            st.lat_a.push(lat);
                        } else {
                            st.lat_b.push(lat);
                        }
                    }
                }
                Ev::Status {
                    state,
                    reason,
                    cursor,
                    epoch,
                } => {
                    debug(&format!("client {i} status {state} {reason}"));
                    if state == "connected" && !connected {
                        connected = true;
                        permit.take();
                        if let (Some(c), Some(e)) = (cursor, epoch) {
                            resume_from = Some((c, e));
                        }
                        if ever {
                            st.relive_us = Some(now);
                        } else {
                            ever = true;
                            st.live_after = Some(shared.start.elapsed());
                            st.connect_time = Some(t0.elapsed());
                            shared.connected.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    if reason == "overflow" {
                        st.overflowed = true;
                    }
                    if state == "fallback" {
                        st.fallback = true;
                    }
                }
                Ev::Other => {}
            }
        }
        if let Err(e) = r {
            if !ever {
                shared.failed.fetch_add(1, Ordering::SeqCst);
                st.connect_err = Some(e);
                break;
            }
            // A fallback is final; past the deadline there is nothing left to wait for.
            if shared.failover.is_empty()
                || spec.role != Role::Reader
                || st.fallback
                || now >= shared.drain_deadline_us.load(Ordering::SeqCst)
            {
                break;
            }
            // Dropped after being live: resume elsewhere from what was applied.
            debug(&format!("client {i} dropped ({e}); resuming"));
            st.drops += 1;
            connected = false;
            let (cursor, epoch) = resume_from.clone().unwrap_or((shared.id_base, String::new()));
            match resume(i, &spec, &shared, (cursor.max(st.max_id), &epoch), &mut st).await {
                Some(c) => {
                    conn = c;
                    continue;
                }
                None => {
                    st.resume_failed = true;
                    return st;
                }
            }
        }
        if connected && spec.role == Role::Stalled {
            while !shared.stop.load(Ordering::SeqCst) {
                actix_rt::time::sleep(Duration::from_millis(50)).await;
            }
            break;
        }
        let stop = shared.stop.load(Ordering::SeqCst);
        match spec.role {
            Role::Reader => {
                if stop
                    && (st.max_id >= shared.last_id.load(Ordering::SeqCst)
                        || now >= shared.drain_deadline_us.load(Ordering::SeqCst))
                {
                    break;
                }
            }
            Role::UntilLive => {
                if connected && st.max_id >= shared.last_id.load(Ordering::SeqCst) {
                    break;
                }
                if now >= shared.drain_deadline_us.load(Ordering::SeqCst) {
                    break;
                }
            }
            Role::Idle | Role::Stalled => {
                if stop {
                    break;
                }
            }
        }
    }
    conn.close().await;
    st
}

/// Opens a resumed connection for client `i` on a failover node, trying the next one
/// every 100 ms until the drain deadline; `None` when none took it.
async fn resume(i: usize, spec: &ClientSpec, shared: &Shared, after: (i64, &str), st: &mut SubStats) -> Option<Conn> {
    for attempt in 0.. {
        let base = &shared.failover[(i + attempt) % shared.failover.len()];
        let url = live_url(base, spec.transport, &spec.view, Some(after));
        match Conn::open(&url, spec.transport, source_ip(i, spec.source_addrs)).await {
            Ok(c) => return Some(c),
            Err(e) => {
                debug(&format!("client {i} resume on {base}: {e}"));
                st.resume_errors += 1;
            }
        }
        if now_us() >= shared.drain_deadline_us.load(Ordering::SeqCst) {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Runs `count` live clients spread over `threads` threads; returns the threads' handles.
pub(crate) fn spawn_clients(
    threads: usize,
    count: usize,
    first_index: usize,
    in_flight: usize,
    spec: ClientSpec,
    shared: Arc<Shared>,
) -> Vec<std::thread::JoinHandle<Vec<SubStats>>> {
    let threads = threads.max(1).min(count.max(1));
    (0..threads)
        .map(|t| {
            let (spec, shared) = (spec.clone(), shared.clone());
            let mine: Vec<usize> = (0..count)
                .filter(|i| i % threads == t)
                .map(|i| i + first_index)
                .collect();
            let permits = (in_flight / threads).max(1);
            std::thread::spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let sem = Rc::new(tokio::sync::Semaphore::new(permits));
                    let handles: Vec<_> = mine
                        .into_iter()
                        .map(|i| {
                            let (spec, shared, sem) = (spec.clone(), shared.clone(), sem.clone());
                            actix_rt::spawn(live_client(i, spec, shared, sem))
                        })
                        .collect();
                    let mut out = Vec::with_capacity(handles.len());
                    for h in handles {
                        out.push(h.await.unwrap_or_default());
                    }
                    out
                })
            })
        })
        .collect()
}

/// Sending is over: tells the readers the last id to wait for, gives them `drain` to get
/// it, and collects what each saw.
pub(crate) async fn finish_readers(
    shared: &Shared,
    last_id: i64,
    drain: Duration,
    handles: Vec<std::thread::JoinHandle<Vec<SubStats>>>,
) -> Vec<SubStats> {
    shared.last_id.store(last_id, Ordering::SeqCst);
    shared
        .drain_deadline_us
        .store(now_us() + drain.as_micros() as i64, Ordering::SeqCst);
    shared.stop.store(true, Ordering::SeqCst);
    actix_rt::task::spawn_blocking(move || join_clients(handles))
        .await
        .unwrap()
}

pub(crate) fn join_clients(handles: Vec<std::thread::JoinHandle<Vec<SubStats>>>) -> Vec<SubStats> {
    handles
        .into_iter()
        .flat_map(|h| h.join().expect("client thread panicked"))
        .collect()
}

pub(crate) fn new_shared(base: &str, id_base: i64) -> Arc<Shared> {
    new_shared_nodes(base, Vec::new(), Vec::new(), id_base)
}

/// Shared state of clients spread round-robin over `nodes`, resuming on `failover`.
pub(crate) fn new_shared_nodes(base: &str, nodes: Vec<String>, failover: Vec<String>, id_base: i64) -> Arc<Shared> {
    Arc::new(Shared {
        base: base.to_string(),
        id_base,
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        last_id: AtomicI64::new(i64::MAX),
        drain_deadline_us: AtomicI64::new(i64::MAX),
        phase_split: AtomicI64::new(i64::MAX),
        start: Instant::now(),
        nodes,
        failover,
    })
}

pub(crate) async fn wait_connected(shared: &Shared, n: usize, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let c = shared.connected.load(Ordering::SeqCst);
        let f = shared.failed.load(Ordering::SeqCst);
        if c + f >= n || Instant::now() > deadline {
            return c;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) struct Sent {
    pub(crate) ids: Vec<i64>,
    pub(crate) errors: u64,
}

/// Posts `rate` msg/s for `duration`, `per_tick` messages per request, each stamped
/// with the time of sending. Returns the stored ids.
pub(crate) async fn send_steady(server: &Server, rate: u64, duration: f64, text_bytes: usize, seq0: u64) -> Sent {
    let per_tick = rate.div_ceil(100).max(1);
    let interval = Duration::from_secs_f64(per_tick as f64 / rate as f64);
    let ticks = ((duration * rate as f64) / per_tick as f64).round() as u64;
    let client = http_client(64, Some(Duration::from_secs(30)), None);
    let url = server.url("/api/messages");
    let out = Rc::new(RefCell::new(Sent {
        ids: Vec::new(),
        errors: 0,
    }));
    let start = actix_rt::time::Instant::now();
    let mut tasks = Vec::new();
    for k in 0..ticks {
        actix_rt::time::sleep_until(start + interval * k as u32).await;
        let body = batch_body(seq0 + k * per_tick, per_tick as usize, Some(now_us()), text_bytes);
        let (client, url, out) = (client.clone(), url.clone(), out.clone());
        tasks.push(actix_rt::spawn(async move {
            match post(&client, &url, body).await {
                Ok((201, v)) => {
                    let ids = v["ids"].as_array().cloned().unwrap_or_default();
                    out.borrow_mut().ids.extend(ids.iter().filter_map(|x| x.as_i64()));
                }
                _ => out.borrow_mut().errors += 1,
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut s = Rc::try_unwrap(out).ok().unwrap().into_inner();
    s.ids.sort_unstable();
    s
}

pub(crate) fn missing_of(st: &SubStats, expected: &[i64], id_base: i64) -> u64 {
    expected
        .iter()
        .filter(|id| {
            let idx = (**id - id_base - 1) as usize;
            st.seen.get(idx).copied().unwrap_or(0) == 0
        })
        .count() as u64
}

pub(crate) fn lat_figures(run: &mut Run, prefix: &str, lat_us: &mut [u32]) {
    lat_us.sort_unstable();
    let p = |q: f64| -> f64 {
        if lat_us.is_empty() {
            return f64::NAN;
        }
        let i = ((q / 100.0) * (lat_us.len() - 1) as f64).round() as usize;
        lat_us[i] as f64 / 1000.0
    };
    run.add(&format!("{prefix}latency p50"), p(50.0), "ms");
    run.add(&format!("{prefix}latency p95"), p(95.0), "ms");
    run.add(&format!("{prefix}latency p99"), p(99.0), "ms");
    run.add(&format!("{prefix}latency max"), p(100.0), "ms");
}

pub(crate) fn integrity(run: &mut Run, subs: &[SubStats], expected: &[i64], id_base: i64) {
    let missing: Vec<u64> = subs.iter().map(|s| missing_of(s, expected, id_base)).collect();
    run.zero("missing (all subscribers)", missing.iter().sum::<u64>() as f64);
    run.zero(
        "subscribers with missing",
        missing.iter().filter(|m| **m > 0).count() as f64,
    );
    run.zero("duplicated", subs.iter().map(|s| s.dups).sum::<u64>() as f64);
    run.zero("out of order", subs.iter().map(|s| s.out_of_order).sum::<u64>() as f64);
}

//! `typing`: S signed-in subscribers (1,000) on one stream's view (`stream/<id>`) while R
//! messages/s are posted into it through the stream API, one request each, in slices that
//! alternate without and with typing (same server, same subscribers): while typing, T of
//! them (50) send a typing frame every 300 ms. Issue 13's goal: typing never delays a
//! message event, so the message p99 with typing is within 1.1 × the p99 without, in the
//! same run. Alternating slices keep load that drifts over the run (other processes on the
//! machine) out of the ratio. Also: typing envelopes per subscriber per second, and none
//! reaches its own typist.
use std::collections::HashSet;
use std::sync::atomic::AtomicU64;

use crate::people::*;
use crate::prelude::*;

pub(crate) struct TypingArgs {
    pub(crate) subscribers: usize,
    pub(crate) typists: usize,
    pub(crate) rate: u64,
    pub(crate) duration: f64,
    pub(crate) typing_every_ms: u64,
    pub(crate) slices: usize,
}

/// Between slices: the typists start this long before a typing slice's messages, and the
/// last notices pass this long before a slice without typing.
const SETTLE: Duration = Duration::from_millis(300);
/// How long typing goes on alone, with no message, first.
const TYPING_ALONE: Duration = Duration::from_secs(2);

fn subscriber(i: usize) -> String {
    format!("s{i:04}")
}

struct Shared {
    base: String,
    view: String,
    stream: i64,
    /// Event ids above this are the benchmark's.
    id_base: i64,
    connected: AtomicUsize,
    failed: AtomicUsize,
    /// The typists type while this is set.
    typing: AtomicBool,
    stop: AtomicBool,
    last_id: AtomicI64,
    deadline_us: AtomicI64,
    every: Duration,
    /// Typing envelopes received by every subscriber so far.
    typing_rx: AtomicU64,
}

#[derive(Default)]
struct Stats {
    sub: SubStats,
    typing_rx: u64,
    /// Typing envelopes naming this subscriber itself.
    own_typing: u64,
    typists_seen: HashSet<String>,
    frames_sent: u64,
    /// Latency (µs) per event id above `id_base`; `u32::MAX`: not received.
    lat: Vec<u32>,
}

/// The `"user":"…"` of a typing envelope.
fn typist_of(frame: &[u8]) -> Option<String> {
    let at = find(frame, br#""user":""#)? + 8;
    let end = frame[at..].iter().position(|c| *c == b'"')?;
    Some(String::from_utf8_lossy(&frame[at..at + end]).into_owned())
}

async fn client(i: usize, typist: bool, token: String, shared: Arc<Shared>, sem: Rc<tokio::sync::Semaphore>) -> Stats {
    let mut st = Stats::default();
    let me = subscriber(i);
    let mut permit = sem.acquire().await.ok();
    let mut ws = match PersonWs::open(&shared.base, &shared.view, &token).await {
        Ok(ws) => ws,
        Err(e) => {
            shared.failed.fetch_add(1, Ordering::SeqCst);
            st.sub.connect_err = Some(e);
            return st;
        }
    };
    // The typists start out of step, spread over one interval.
    let offset = shared.every.mul_f64((i % 50) as f64 / 50.0);
    let mut next_typing: Option<Instant> = None;
    let frame = format!(r#"{{"type":"typing","stream_id":{}}}"#, shared.stream);
    loop {
        let typing_on = typist && shared.typing.load(Ordering::SeqCst);
        if typing_on && next_typing.is_none() {
            next_typing = Some(Instant::now() + offset);
        } else if !typing_on {
            next_typing = None;
        }
        if next_typing.is_some_and(|at| at <= Instant::now()) {
            if ws.send_text(frame.clone()).await.is_ok() {
                st.frames_sent += 1;
            }
            // From when it went out, so two frames are never closer than the interval.
            next_typing = Some(Instant::now() + shared.every);
        }
        let wait = next_typing
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(100))
            .min(Duration::from_millis(100));
        match ws.next_text(wait).await {
            Ok(Some(frame)) => {
                // Events lead with their type; the server's other envelopes come with
                // their keys in alphabetical order.
                if !frame.starts_with(br#"{"type":"event""#) && find(&frame, br#""type":"typing""#).is_some() {
                    st.typing_rx += 1;
                    shared.typing_rx.fetch_add(1, Ordering::Relaxed);
                    if let Some(u) = typist_of(&frame) {
                        if u == me {
                            st.own_typing += 1;
                        }
                        st.typists_seen.insert(u);
                    }
                    continue;
                }
                let now = now_us();
                match scan(&frame) {
                    Ev::Message { id, t_us } => {
                        let s = &mut st.sub;
                        s.received += 1;
                        s.last_rx = Some(Instant::now());
                        let idx = id - shared.id_base - 1;
                        if idx >= 0 {
                            let idx = idx as usize;
                            if s.seen.len() <= idx {
                                s.seen.resize(idx + 1024, 0);
                            }
                            if s.seen[idx] != 0 {
                                s.dups += 1;
                            } else if id < s.max_id {
                                s.out_of_order += 1;
                            }
                            s.seen[idx] = 1;
                        }
                        s.max_id = s.max_id.max(id);
                        if let (Some(t), Ok(idx)) = (t_us, usize::try_from(id - shared.id_base - 1)) {
                            if st.lat.len() <= idx {
                                st.lat.resize(idx + 1024, u32::MAX);
                            }
                            st.lat[idx] = (now - t).clamp(0, u32::MAX as i64 - 1) as u32;
                        }
                    }
                    Ev::Status { state, .. } => {
                        if state == "connected" && permit.is_some() {
                            permit.take();
                            shared.connected.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Ev::Other => {}
                }
            }
            Ok(None) => {}
            Err(e) => {
                if permit.is_some() {
                    shared.failed.fetch_add(1, Ordering::SeqCst);
                    st.sub.connect_err = Some(e);
                }
                return st;
            }
        }
        if shared.stop.load(Ordering::SeqCst)
            && (st.sub.max_id >= shared.last_id.load(Ordering::SeqCst)
                || now_us() >= shared.deadline_us.load(Ordering::SeqCst))
        {
            break;
        }
    }
    ws.close().await;
    st
}

/// `rate` posts/s into `stream` for `duration`, one request each, stamped with the time
/// of sending. Answers the newest event id and the failed requests.
async fn send_posts(base: &str, token: &str, stream: i64, rate: u64, duration: f64, seq0: u64) -> (i64, u64) {
    let client = http_client(64, Some(Duration::from_secs(30)), None);
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let total = (duration * rate as f64).round() as u64;
    let start = actix_rt::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for k in 0..total {
        actix_rt::time::sleep_until(start + interval * k as u32).await;
        let text = format!("bench t={} #{}", now_us(), seq0 + k);
        let (client, base, token) = (client.clone(), base.to_owned(), token.to_owned());
        tasks.push(actix_rt::spawn(async move {
            let path = format!("/api/streams/{stream}/events");
            match api(
                &client,
                &base,
                Some(&token),
                "POST",
                &path,
                Some(json!({ "text": text })),
            )
            .await
            {
                Ok((201, v)) => v["event_id"].as_i64(),
                _ => None,
            }
        }));
    }
    let (mut newest, mut failed) = (0, 0);
    for t in tasks {
        match t.await.ok().flatten() {
            Some(id) => newest = newest.max(id),
            None => failed += 1,
        }
    }
    (newest, failed)
}

pub(crate) async fn run(common: &Common, a: TypingArgs) -> Run {
    assert!(a.typists <= a.subscribers, "--typists is at most --subscribers");
    let common = with_tokens(common);
    let server = Server::start(&common, Some(a.subscribers + 64)).await;
    let base = server.base.clone();
    let minter = Minter::new();
    let poster = minter.token("poster");
    let probe = http_client(4, Some(Duration::from_secs(60)), None);
    let stream = api_ok(
        &probe,
        &base,
        &poster,
        "POST",
        "/api/streams",
        Some(json!({"kind": "channel", "name": "typing"})),
    )
    .await["id"]
        .as_i64()
        .expect("a stream id");
    let id_base = api_metrics(&probe, &server).await["cursor"].as_i64().unwrap_or(0);
    let shared = Arc::new(Shared {
        base: base.clone(),
        view: format!("stream/{stream}"),
        stream,
        id_base,
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        typing: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        last_id: AtomicI64::new(i64::MAX),
        deadline_us: AtomicI64::new(i64::MAX),
        every: Duration::from_millis(a.typing_every_ms),
        typing_rx: AtomicU64::new(0),
    });
    let tokens: Arc<Vec<String>> = Arc::new((0..a.subscribers).map(|i| minter.token(&subscriber(i))).collect());
    let clients = {
        let (shared, tokens, typists) = (shared.clone(), tokens.clone(), a.typists);
        run_clients(common.client_threads, a.subscribers, 256, move |i, sem| {
            client(i, i < typists, tokens[i].clone(), shared.clone(), sem)
        })
    };
    let live = wait_for(
        &shared.connected,
        &shared.failed,
        a.subscribers,
        Duration::from_secs(120),
    )
    .await;
    debug(&format!("{live} subscribers live on stream/{stream}"));
    let typing_metric = r#"chatpulse_live_typing_dropped_total"#;

    let dropped0 = prom_sum(&probe, &server, typing_metric).await;
    // Typing alone, no messages: what it costs the server.
    shared.typing.store(true, Ordering::SeqCst);
    actix_rt::time::sleep(SETTLE).await;
    let (cpu0, rx0) = (server.cpu_secs(), shared.typing_rx.load(Ordering::SeqCst));
    actix_rt::time::sleep(TYPING_ALONE).await;
    let typing_alone_cpu = cpu_between(cpu0, server.cpu_secs());
    let typing_alone_rx = shared.typing_rx.load(Ordering::SeqCst) - rx0;
    // Slices without and with typing, in turn.
    let slices = a.slices.max(1);
    let slice_secs = a.duration / slices as f64;
    // The newest event id of each slice, and whether it had typing.
    let mut bounds: Vec<(i64, bool)> = Vec::with_capacity(2 * slices);
    // Typing was on since the typing-alone window began.
    let mut typing_secs = (SETTLE + TYPING_ALONE).as_secs_f64();
    let (mut cpu, mut failed, mut newest) = ([0.0f64; 2], 0u64, id_base);
    // This tool's own CPU and the seconds of each phase; the server's delivery histogram
    // (commit to socket write), read at the start of each slice and once after the last.
    let (mut own_cpu, mut secs, mut hist) = ([0.0f64; 2], [0.0f64; 2], [[0.0f64; 3]; 2]);
    let mut hist_at = delivery_histogram(&probe, &server).await;
    let mut previous: Option<bool> = None;
    for k in 0..slices {
        for typing in [false, true] {
            shared.typing.store(typing, Ordering::SeqCst);
            actix_rt::time::sleep(SETTLE).await;
            let now = delivery_histogram(&probe, &server).await;
            if let Some(p) = previous {
                (0..3).for_each(|b| hist[usize::from(p)][b] += now[b] - hist_at[b]);
            }
            (hist_at, previous) = (now, Some(typing));
            let (t0, cpu0, own0) = (Instant::now(), server.cpu_secs(), proc_cpu_secs(std::process::id()));
            let seq0 = ((2 * k + usize::from(typing)) as u64) << 32;
            let (last, f) = send_posts(&base, &poster, stream, a.rate, slice_secs, seq0).await;
            cpu[usize::from(typing)] += cpu_between(cpu0, server.cpu_secs());
            own_cpu[usize::from(typing)] += cpu_between(own0, proc_cpu_secs(std::process::id()));
            secs[usize::from(typing)] += t0.elapsed().as_secs_f64();
            if typing {
                typing_secs += SETTLE.as_secs_f64() + t0.elapsed().as_secs_f64();
            }
            failed += f;
            newest = newest.max(last);
            bounds.push((newest, typing));
        }
    }
    shared.typing.store(false, Ordering::SeqCst);
    actix_rt::time::sleep(SETTLE).await;
    let now = delivery_histogram(&probe, &server).await;
    (0..3).for_each(|b| hist[1][b] += now[b] - hist_at[b]);
    let dropped = prom_sum(&probe, &server, typing_metric).await - dropped0;

    let expected = crate::stream::stream_log(&probe, &server, stream, id_base).await;
    shared.last_id.store(newest, Ordering::SeqCst);
    shared.deadline_us.store(now_us() + 10_000_000, Ordering::SeqCst);
    shared.stop.store(true, Ordering::SeqCst);
    let stats = clients.join().await;
    server.stop();

    let mut run = Run::default();
    // Whether event `id` was posted in a slice with typing.
    let typed = |id: i64| bounds.iter().find(|(last, _)| id <= *last).is_some_and(|(_, t)| *t);
    let events_b = expected.iter().filter(|id| typed(**id)).count() as f64;
    let events_a = expected.len() as f64 - events_b;
    let (mut lat_a, mut lat_b): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    for st in &stats {
        for (idx, l) in st.lat.iter().enumerate() {
            if *l != u32::MAX {
                if typed(id_base + 1 + idx as i64) {
                    lat_b.push(*l);
                } else {
                    lat_a.push(*l);
                }
            }
        }
    }
    let (deliveries_a, deliveries_b) = (lat_a.len(), lat_b.len());
    let p99 = |v: &mut Vec<u32>| {
        v.sort_unstable();
        v.get(((v.len().max(1) - 1) as f64 * 0.99).round() as usize)
            .map(|x| *x as f64 / 1000.0)
            .unwrap_or(f64::NAN)
    };
    let ratio = p99(&mut lat_b) / p99(&mut lat_a);
    run.add("subscribers live", live as f64, "");
    run.add("events without typing", events_a, "");
    run.add("events with typing", events_b, "");
    ms_figures(&mut run, "without typing: message latency ", &mut lat_a);
    ms_figures(&mut run, "with typing: message latency ", &mut lat_b);
    run.add("message p99 with typing / without (goal ≤ 1.1)", ratio, "×");
    let typing_rx: u64 = stats.iter().map(|s| s.typing_rx).sum();
    run.add(
        "typing frames sent",
        stats.iter().map(|s| s.frames_sent).sum::<u64>() as f64,
        "",
    );
    run.add("typing envelopes received", typing_rx as f64, "");
    run.add(
        "typing envelopes per subscriber per second",
        typing_rx as f64 / live.max(1) as f64 / typing_secs,
        "/s",
    );
    run.add("typing envelopes dropped by the server (behind)", dropped, "");
    run.add(
        "server CPU, typing alone (no messages)",
        typing_alone_cpu / TYPING_ALONE.as_secs_f64() * 100.0,
        "% of a core",
    );
    run.add(
        "server CPU per typing envelope delivered (typing alone)",
        typing_alone_cpu / typing_alone_rx.max(1) as f64 * 1e6,
        "µs",
    );
    // What each subscriber saw of the other typists.
    let (mut saw_none, mut missed) = (0u64, 0u64);
    for (i, s) in stats.iter().enumerate() {
        let others = a.typists - usize::from(i < a.typists);
        let seen = s.typists_seen.iter().filter(|u| **u != subscriber(i)).count();
        saw_none += u64::from(others > 0 && seen == 0);
        missed += u64::from(seen < others);
    }
    run.add("subscribers that saw no typist", saw_none as f64, "");
    run.add("subscribers that missed a typist", missed as f64, "");
    run.add(
        "server CPU per message delivery, without typing",
        cpu[0] / deliveries_a.max(1) as f64 * 1e6,
        "µs",
    );
    run.add(
        "server CPU per message delivery, with typing (typing included)",
        cpu[1] / deliveries_b.max(1) as f64 * 1e6,
        "µs",
    );
    for (i, what) in ["without typing", "with typing"].iter().enumerate() {
        let [under_10ms, under_50ms, all] = hist[i];
        run.add(
            &format!("server: deliveries written > 10 ms after commit, {what}"),
            (all - under_10ms) / all.max(1.0) * 100.0,
            "%",
        );
        run.add(
            &format!("server: deliveries written > 50 ms after commit, {what}"),
            (all - under_50ms) / all.max(1.0) * 100.0,
            "%",
        );
        run.add(
            &format!("load generator CPU, {what}"),
            own_cpu[i] / secs[i].max(1e-3) * 100.0,
            "% of a core",
        );
    }
    run.zero(
        "typing envelopes to their own typist",
        stats.iter().map(|s| s.own_typing).sum::<u64>() as f64,
    );
    let subs: Vec<SubStats> = stats.into_iter().map(|s| s.sub).collect();
    integrity(&mut run, &subs, &expected, id_base);
    run.zero("failed connects", (a.subscribers - live) as f64);
    run.zero("failed posts", failed as f64);
    run
}

/// The server's `chatpulse_live_delivery_seconds` so far: deliveries within 10 ms, within
/// 50 ms, and all (commit to socket write, every session's, messages only).
async fn delivery_histogram(probe: &awc::Client, server: &Server) -> [f64; 3] {
    let text = get_text(probe, &server.url("/metrics")).await.unwrap_or_default();
    let m = |q: &str| chatpulse_testkit::parse_metric(&text, q).unwrap_or(0.0);
    [
        m(r#"chatpulse_live_delivery_seconds_bucket{le="0.01"}"#),
        m(r#"chatpulse_live_delivery_seconds_bucket{le="0.05"}"#),
        m("chatpulse_live_delivery_seconds_count"),
    ]
}

//! `stream`: S subscribers on one busy stream (`stream/<id>`) while R events/s go into it
//! through the stream API — posts, with edits of earlier posts and replies in a thread
//! branched from it mixed in — and, on the same server in the same run, S subscribers on
//! the v1 `messages` view while R msg/s are ingested: server CPU per delivery of each, and
//! their ratio. Both get one event per request, as a chat client sends them (so one
//! commit, and one live batch, per event on both sides).
use crate::prelude::*;

const SECRET: &str = "chatpulse-bench-token-secret";

/// Of every ten events, one is an edit of an earlier post and one a thread reply.
const EDIT_EVERY: u64 = 10;
const REPLY_EVERY: u64 = 10;

pub(crate) async fn run(common: &Common, subscribers: usize, rate: u64, duration: f64, transport: Transport) -> Run {
    let mut common = common.clone();
    common.server_args.push(format!("--token-secret={SECRET}"));
    let server = Server::start(&common, Some(subscribers + 64)).await;
    let token = user_token(&common, SECRET, "bench");
    let client = http_client(64, Some(Duration::from_secs(30)), None);
    let mut run = Run::default();

    // The v1 firehose, for comparison.
    let v1 = phase(&common, &server, subscribers, transport, "messages", None, || async {
        let base = api_metrics(&client, &server).await["cursor"].as_i64().unwrap_or(0);
        let (ids, errors) = send_singly(&server, rate, duration).await;
        (base, ids, errors)
    })
    .await;

    // The stream: a channel with one message and a thread branched from it.
    let stream = call(
        &client,
        &server,
        &token,
        "POST",
        "/api/streams",
        json!({"kind": "channel", "name": "bench"}),
    )
    .await;
    let id = stream["id"].as_i64().expect("a stream id");
    let first = call(
        &client,
        &server,
        &token,
        "POST",
        &format!("/api/streams/{id}/events"),
        json!({"text": "first"}),
    )
    .await;
    let thread = call(
        &client,
        &server,
        &token,
        "POST",
        &format!("/api/streams/{id}/thread"),
        json!({"event_id": first["event_id"]}),
    )
    .await;
    let thread = thread["id"].as_i64().expect("a thread id");
    let view = format!("stream/{id}");
    let st = phase(&common, &server, subscribers, transport, &view, Some(id), || async {
        let base = api_metrics(&client, &server).await["cursor"].as_i64().unwrap_or(0);
        let errors = send_events(&server, &token, id, thread, rate, duration).await;
        (base, stream_log(&client, &server, id, base).await, errors)
    })
    .await;
    server.stop();

    for (name, p) in [("v1 messages view", &v1), ("stream view", &st)] {
        run.add(&format!("{name}: events"), p.events as f64, "");
        run.add(&format!("{name}: deliveries/s"), p.deliveries as f64 / p.window, "/s");
        run.add(&format!("{name}: server CPU per delivery"), p.cpu_per_delivery, "µs");
        lat_figures(&mut run, &format!("{name}: "), &mut p.latencies.clone());
    }
    run.add(
        "CPU per delivery, stream / v1 (goal ≤ 1.2)",
        st.cpu_per_delivery / v1.cpu_per_delivery,
        "×",
    );
    for p in [&v1, &st] {
        for f in &p.integrity.figures {
            run.figures.push(f.clone());
        }
    }
    run
}

/// What one phase measured.
struct Phase {
    events: usize,
    deliveries: u64,
    window: f64,
    cpu_per_delivery: f64,
    latencies: Vec<u32>,
    integrity: Run,
}

/// S subscribers on `view`, then `send` (which answers the cursor before it, the events
/// the view must deliver, and failed requests), then every subscriber drained.
async fn phase<F, Fut>(
    common: &Common,
    server: &Server,
    subscribers: usize,
    transport: Transport,
    view: &str,
    stream: Option<i64>,
    send: F,
) -> Phase
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = (i64, Vec<i64>, u64)>,
{
    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let id_base = api_metrics(&probe, server).await["cursor"].as_i64().unwrap_or(0);
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
    debug(&format!("{connected} subscribers live on {view}"));
    let cpu0 = server.cpu_secs();
    let t0 = Instant::now();
    let (_, expected, errors) = send().await;
    let last = expected.last().copied().unwrap_or(id_base);
    let subs = finish_readers(&shared, last, Duration::from_secs(10), handles).await;
    let cpu1 = server.cpu_secs();
    let last_rx = subs.iter().filter_map(|s| s.last_rx).max().unwrap_or_else(Instant::now);
    let window = (last_rx.max(t0) - t0).as_secs_f64().max(1e-3);
    let deliveries: u64 = subs.iter().map(|s| s.received).sum();
    let mut checks = Run::default();
    let what = if stream.is_some() { "stream" } else { "v1" };
    integrity(&mut checks, &subs, &expected, id_base);
    for f in &mut checks.figures {
        f.name = format!("{what}: {}", f.name);
    }
    checks.zero(&format!("{what}: failed connects"), (subscribers - connected) as f64);
    checks.zero(&format!("{what}: failed requests"), errors as f64);
    Phase {
        events: expected.len(),
        deliveries,
        window,
        cpu_per_delivery: match (cpu0, cpu1) {
            (Some(a), Some(b)) => (b - a) / deliveries.max(1) as f64 * 1e6,
            _ => f64::NAN,
        },
        latencies: subs
            .iter()
            .flat_map(|s| s.lat_a.iter().chain(&s.lat_b).copied())
            .collect(),
        integrity: checks,
    }
}

/// One request of the stream API; panics on anything but a 2xx (the setup must work).
async fn call(client: &awc::Client, server: &Server, token: &str, method: &str, path: &str, body: Value) -> Value {
    let (status, v) = send(client, server, token, method, path, body)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
    v
}

async fn send(
    client: &awc::Client,
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> Result<(u16, Value), String> {
    let method = awc::http::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut res = client
        .request(method, server.url(path))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .send_json(&body)
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let bytes = res.body().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// `rate` v1 messages/s for `duration`, one per request, stamped with the time of sending.
/// Returns the stored ids, ascending, and failed requests.
async fn send_singly(server: &Server, rate: u64, duration: f64) -> (Vec<i64>, u64) {
    let client = http_client(64, Some(Duration::from_secs(30)), None);
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let total = (duration * rate as f64).round() as u64;
    let ids: Rc<RefCell<Vec<i64>>> = Rc::default();
    let errors: Rc<RefCell<u64>> = Rc::default();
    let start = actix_rt::time::Instant::now();
    let mut tasks = Vec::new();
    for k in 0..total {
        actix_rt::time::sleep_until(start + interval * k as u32).await;
        let body = Bytes::from(message_json(k, Some(now_us()), 0));
        let (client, url, ids, errors) = (client.clone(), server.url("/api/messages"), ids.clone(), errors.clone());
        tasks.push(actix_rt::spawn(async move {
            match post(&client, &url, body).await {
                Ok((201, v)) => ids.borrow_mut().extend(v["ids"][0].as_i64()),
                _ => *errors.borrow_mut() += 1,
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut ids = Rc::try_unwrap(ids).ok().unwrap().into_inner();
    ids.sort_unstable();
    let n = *errors.borrow();
    (ids, n)
}

/// `rate` events/s into stream `id` for `duration`: posts stamped with the time of
/// sending, every tenth an edit of an earlier post (stamped too), every tenth a reply in
/// `thread`. One request per event, as a chat client makes them. Returns failed requests.
async fn send_events(server: &Server, token: &str, id: i64, thread: i64, rate: u64, duration: f64) -> u64 {
    let client = http_client(64, Some(Duration::from_secs(30)), None);
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let total = (duration * rate as f64).round() as u64;
    let posts: Rc<RefCell<Vec<i64>>> = Rc::default();
    let errors: Rc<RefCell<u64>> = Rc::default();
    let start = actix_rt::time::Instant::now();
    let mut tasks = Vec::new();
    for k in 0..total {
        actix_rt::time::sleep_until(start + interval * k as u32).await;
        let text = format!("bench t={} #{k}", now_us());
        let edit = posts.borrow().last().copied().filter(|_| k % EDIT_EVERY == 3);
        let (method, path) = match edit {
            Some(post) => ("PATCH", format!("/api/streams/{id}/events/{post}")),
            None if k % REPLY_EVERY == 7 => ("POST", format!("/api/streams/{thread}/events")),
            None => ("POST", format!("/api/streams/{id}/events")),
        };
        let is_post = edit.is_none() && k % REPLY_EVERY != 7;
        let (client, token, posts, errors) = (client.clone(), token.to_owned(), posts.clone(), errors.clone());
        let server = Server::at(server.base.clone(), None);
        tasks.push(actix_rt::spawn(async move {
            match send(&client, &server, &token, method, &path, json!({"text": text})).await {
                Ok((s, v)) if (200..300).contains(&s) => {
                    if is_post {
                        posts.borrow_mut().extend(v["event_id"].as_i64());
                    }
                }
                _ => *errors.borrow_mut() += 1,
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let n = *errors.borrow();
    n
}

/// The cursors of stream `id`'s events after `after`, from the read API: what its
/// subscribers must have received.
pub(crate) async fn stream_log(client: &awc::Client, server: &Server, id: i64, after: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut from = after;
    loop {
        let url = server.url(&format!("/api/streams/{id}/events?after_id={from}&limit=1000"));
        let v: Value = match client.get(url).send().await {
            Ok(mut r) => {
                serde_json::from_slice(&r.body().limit(64 << 20).await.unwrap_or_default()).unwrap_or_default()
            }
            Err(e) => panic!("reading the stream's log: {e}"),
        };
        let page: Vec<i64> = v["events"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["cursor"].as_i64()).collect())
            .unwrap_or_default();
        match page.last() {
            Some(last) => from = *last,
            None => return out,
        }
        out.extend(page);
    }
}

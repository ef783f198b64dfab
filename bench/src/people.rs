//! What the people scenarios (`bootstrap`, `badges`, `typing`: issue 13) share: user
//! tokens, the stream API called as a person, a person's WebSocket, and client threads.
use crate::prelude::*;

/// The spawned servers' `--token-secret` (a server given by `--url` must run with it).
pub(crate) const SECRET: &str = "chatpulse-bench-token-secret";

/// `common` with the token secret added to the spawned servers' flags.
pub(crate) fn with_tokens(common: &Common) -> Common {
    let mut c = common.clone();
    c.server_args.push(format!("--token-secret={SECRET}"));
    c
}

/// User tokens signed in this process: the same HS256 claims (`sub`, `exp`) as
/// `chatpulse token NAME`, without spawning the binary once per person.
pub(crate) struct Minter(chatpulse::auth::Tokens);

impl Minter {
    pub(crate) fn new() -> Minter {
        Minter(chatpulse::auth::Tokens::new(SECRET.as_bytes()))
    }

    pub(crate) fn token(&self, name: &str) -> String {
        self.0.issue(name, Duration::from_secs(86_400), false)
    }
}

/// A well-mixed 64-bit hash of `x` (the synthetic traffic's choices, reproducible).
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One HTTP request as `token`'s person (none: anonymous); the status and the JSON answer
/// (`Null` when there is none).
pub(crate) async fn api(
    client: &awc::Client,
    base: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let method = awc::http::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client.request(method, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let sent = match body {
        Some(b) => req.send_json(&b).await,
        None => req.send().await,
    };
    let mut res = sent.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let bytes = res.body().limit(64 << 20).await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// [`api`] for the setup, which must work: panics on anything but a 2xx.
pub(crate) async fn api_ok(
    client: &awc::Client,
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    match api(client, base, Some(token), method, path, body).await {
        Ok((s, v)) if (200..300).contains(&s) => v,
        Ok((s, v)) => panic!("{method} {path}: {s} {v}"),
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

/// Runs `f` over `items`, `n` at a time, answering in the items' order.
pub(crate) async fn in_parallel<T, F, Fut>(n: usize, items: Vec<T>, f: F) -> Vec<Fut::Output>
where
    F: FnMut(T) -> Fut,
    Fut: std::future::Future,
{
    futures_util::stream::iter(items.into_iter().map(f))
        .buffered(n.max(1))
        .collect()
        .await
}

/// A person's WebSocket on a live view, signed in with `?token=`.
pub(crate) struct PersonWs {
    io: Box<dyn WsIo>,
    _client: awc::Client,
}

impl PersonWs {
    pub(crate) async fn open(base: &str, view: &str, token: &str) -> Result<PersonWs, String> {
        let url = format!("{base}/live/ws?view={}&token={token}", view.replace('/', "%2F"));
        let client = http_client(1, Some(Duration::from_secs(30)), None);
        let (_res, framed) = client
            .ws(url)
            .max_frame_size(64 << 20)
            .connect()
            .await
            .map_err(|e| format!("ws connect: {e}"))?;
        Ok(PersonWs {
            io: Box::new(framed),
            _client: client,
        })
    }

    /// The next text frame within `wait` (`None`: nothing came); `Err` once the connection
    /// has ended. Pings are answered.
    pub(crate) async fn next_text(&mut self, wait: Duration) -> Result<Option<Bytes>, String> {
        let item = match actix_rt::time::timeout(wait, self.io.next()).await {
            Err(_) => return Ok(None),
            Ok(item) => item,
        };
        match item {
            None => Err("eof".into()),
            Some(Err(e)) => Err(format!("ws error: {e}")),
            Some(Ok(ws::Frame::Text(b))) => Ok(Some(b)),
            Some(Ok(ws::Frame::Ping(b))) => {
                let _ = self.io.send(ws::Message::Pong(b)).await;
                Ok(None)
            }
            Some(Ok(ws::Frame::Close(reason))) => Err(format!("closed {:?}", reason.map(|r| u16::from(r.code)))),
            Some(Ok(_)) => Ok(None),
        }
    }

    pub(crate) async fn send_text(&mut self, text: String) -> Result<(), String> {
        self.io
            .send(ws::Message::Text(text.into()))
            .await
            .map_err(|e| e.to_string())
    }

    pub(crate) async fn close(&mut self) {
        let _ = self
            .io
            .send(ws::Message::Close(Some(ws::CloseCode::Normal.into())))
            .await;
    }
}

/// Whether a live envelope is the status that says the connection is live (a status's
/// keys come in alphabetical order; an event's text cannot hold an unescaped quote).
pub(crate) fn is_connected(frame: &[u8]) -> bool {
    find(frame, br#""type":"status""#).is_some() && find(frame, br#""state":"connected""#).is_some()
}

/// Runs `client(i, handshakes)` for `i` in `0..count` on `threads` threads, each its own
/// event loop; `handshakes` bounds the connects in flight on that thread. Answers in
/// index order once every client has finished.
pub(crate) fn run_clients<T, F, Fut>(threads: usize, count: usize, in_flight: usize, client: F) -> ClientThreads<T>
where
    T: Send + 'static,
    F: Fn(usize, Rc<tokio::sync::Semaphore>) -> Fut + Send + Clone + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    let threads = threads.max(1).min(count.max(1));
    let handles = (0..threads)
        .map(|t| {
            let client = client.clone();
            let permits = (in_flight / threads).max(1);
            std::thread::spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let sem = Rc::new(tokio::sync::Semaphore::new(permits));
                    let tasks: Vec<_> = (0..count)
                        .filter(|i| i % threads == t)
                        .map(|i| (i, actix_rt::spawn(client(i, sem.clone()))))
                        .collect();
                    let mut out = Vec::with_capacity(tasks.len());
                    for (i, task) in tasks {
                        out.push((i, task.await.expect("a client task panicked")));
                    }
                    out
                })
            })
        })
        .collect();
    ClientThreads { handles }
}

pub(crate) struct ClientThreads<T> {
    handles: Vec<std::thread::JoinHandle<Vec<(usize, T)>>>,
}

impl<T: Send + 'static> ClientThreads<T> {
    /// Waits (off the caller's event loop) for every client; their results by index.
    pub(crate) async fn join(self) -> Vec<T> {
        let handles = self.handles;
        let mut all: Vec<(usize, T)> = actix_rt::task::spawn_blocking(move || {
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("client thread panicked"))
                .collect()
        })
        .await
        .expect("joining the client threads");
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, t)| t).collect()
    }
}

/// Waits until `connected + failed` reaches `n` (or `timeout`); answers `connected`.
pub(crate) async fn wait_for(connected: &AtomicUsize, failed: &AtomicUsize, n: usize, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let c = connected.load(Ordering::SeqCst);
        if c + failed.load(Ordering::SeqCst) >= n || Instant::now() > deadline {
            return c;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Percentile figures (ms) of latencies in µs, named `{prefix}p50` and so on.
pub(crate) fn ms_figures(run: &mut Run, prefix: &str, lat_us: &mut [u32]) {
    lat_us.sort_unstable();
    for (name, q) in [("p50", 50.0), ("p95", 95.0), ("p99", 99.0), ("max", 100.0)] {
        let v = if lat_us.is_empty() {
            f64::NAN
        } else {
            lat_us[((q / 100.0) * (lat_us.len() - 1) as f64).round() as usize] as f64 / 1000.0
        };
        run.add(&format!("{prefix}{name}"), v, "ms");
    }
}

/// The server's CPU seconds between two readings (NaN when either is missing).
pub(crate) fn cpu_between(a: Option<f64>, b: Option<f64>) -> f64 {
    match (a, b) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    }
}

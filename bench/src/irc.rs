//! `irc`: a Twitch-like IRC server in this process sends R lines/s over C channels to the
//! server's IRC reader (`--irc-server irc://127.0.0.1:<port>`), with S live subscribers on
//! `messages`. Each line's text carries its send time, so a subscriber's latency is the
//! lag from the line leaving the IRC server to its delivery on a live view: an upper bound
//! of send → commit. Every line has its own `id` tag, so every line must be stored once.
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::prelude::*;

/// Lines are written in ticks of this many milliseconds.
const TICK_MS: u64 = 10;
/// Distinct users the lines come from.
const USERS: u64 = 1000;

pub(crate) async fn run(common: &Common, rate: u64, channels: usize, subscribers: usize, duration: f64) -> Run {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the IRC server");
    let port = listener.local_addr().unwrap().port();
    let names: Vec<String> = (0..channels).map(|c| format!("c{c}")).collect();
    let mut common = common.clone();
    common.server_args.extend([
        format!("--irc-server=irc://127.0.0.1:{port}"),
        format!("--irc-channels={}", names.join(",")),
    ]);
    let server = Server::start(&common, Some(subscribers + 64)).await;
    let (stream, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
        .await
        .expect("the server connects to the IRC server within 30 s")
        .expect("accept");
    stream.set_nodelay(true).unwrap();
    let (read, mut write) = stream.into_split();
    // Wait for the registration; the joins are paced (20 per 10 s) and need not be waited
    // for: the reader stores every channel's lines it is sent.
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.starts_with("NICK ") {
            break;
        }
    }
    // The rest of what the client sends (JOINs) is read and dropped.
    let drain = actix_rt::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let probe = http_client(4, Some(Duration::from_secs(30)), None);
    let id_base = api_metrics(&probe, &server).await["cursor"].as_i64().unwrap_or(0);
    let shared = new_shared(&server.base, id_base);
    let spec = ClientSpec {
        transport: Transport::Ws,
        view: "messages".into(),
        after: None,
        role: Role::Reader,
        source_addrs: 1,
    };
    let handles = spawn_clients(common.client_threads, subscribers, 0, 256, spec, shared.clone());
    let connected = wait_connected(&shared, subscribers, Duration::from_secs(120)).await;
    let cpu0 = server.cpu_secs();

    let t0 = Instant::now();
    let per_tick = (rate * TICK_MS / 1000).max(1);
    let ticks = (duration * 1000.0 / TICK_MS as f64).round() as u64;
    let mut sent = 0u64;
    let mut buf = String::new();
    for tick in 0..ticks {
        let due = t0 + Duration::from_millis(tick * TICK_MS);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            actix_rt::time::sleep(wait).await;
        }
        buf.clear();
        let t_us = now_us();
        for _ in 0..per_tick {
            let n = sent;
            let user = n % USERS;
            let channel = &names[(n % channels as u64) as usize];
            buf.push_str(&format!(
                "@display-name=User{user};id=bench-{n};tmi-sent-ts={} :u{user}!u{user}@u{user}.tmi.twitch.tv PRIVMSG #{channel} :bench t={t_us} line {n}\r\n",
                t_us / 1000
            ));
            sent += 1;
        }
        // A slow reader slows this down (TCP back-pressure): the rate achieved says so.
        write
            .write_all(buf.as_bytes())
            .await
            .expect("write to the server's IRC reader");
    }
    let send_secs = t0.elapsed().as_secs_f64();
    let last = id_base + sent as i64;
    let subs = finish_readers(&shared, last, Duration::from_secs(30), handles).await;
    let stored = api_metrics(&probe, &server).await["total_messages"]
        .as_i64()
        .unwrap_or(0)
        - id_base;
    let cpu = server.cpu_secs().zip(cpu0).map(|(b, a)| b - a);
    drain.abort();
    server.stop();

    let mut run = Run::default();
    run.add("subscribers live", connected as f64, "");
    run.add("lines sent", sent as f64, "");
    run.add("lines/s sent", sent as f64 / send_secs, "/s");
    run.zero("lines not stored", (sent as i64 - stored).max(0) as f64);
    run.zero("lines stored twice", (stored - sent as i64).max(0) as f64);
    let mut lat: Vec<u32> = subs
        .iter()
        .flat_map(|s| s.lat_a.iter().chain(&s.lat_b).copied())
        .collect();
    lat_figures(&mut run, "send to live ", &mut lat);
    let expected: Vec<i64> = (id_base + 1..=last).collect();
    integrity(&mut run, &subs, &expected, id_base);
    if let Some(cpu) = cpu {
        run.add("server CPU per line", cpu / sent.max(1) as f64 * 1e6, "µs");
    }
    run
}

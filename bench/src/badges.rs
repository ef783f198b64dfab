//! `badges`: P people (1,000), each in a few streams of M members (public channels, DMs
//! and private channels), posting into them through the stream API at R posts/s. First
//! with no view open (the write path alone), then with every person's `workspace` view
//! open over WebSocket: the time from a post's answer to the `unread` envelope that covers
//! it at each other member (issue 13's goal: p99 ≤ 250 ms), and the server's CPU per
//! badge update. Every person's last badges, live and from `GET /api/bootstrap`, must
//! equal the tool's own count (posts by others; every fifth post mentions a member).
use std::collections::HashMap;
use std::sync::OnceLock;

use crate::people::*;
use crate::prelude::*;

/// Every this many posts, one mentions another member of its stream.
const MENTION_EVERY: u64 = 5;

pub(crate) struct BadgesArgs {
    pub(crate) people: usize,
    pub(crate) streams: usize,
    pub(crate) members: usize,
    pub(crate) rate: u64,
    pub(crate) duration: f64,
}

fn person(i: usize) -> String {
    format!("p{i:04}")
}

/// The people of stream `s`: M consecutive people, wrapping around.
fn members_of(s: usize, a: &BadgesArgs) -> Vec<usize> {
    (0..a.members).map(|j| (s * a.members + j) % a.people).collect()
}

/// One post of the plan, and what came of it.
#[derive(Clone)]
struct Post {
    stream: usize,
    /// Index into the stream's members.
    author: usize,
    mentions: Option<usize>,
    /// Its event id and when its answer arrived (µs since the epoch); `None`: failed.
    done: Option<(i64, i64)>,
}

fn plan(k: u64, a: &BadgesArgs) -> Post {
    let stream = (mix(k) % a.streams as u64) as usize;
    let author = (mix(k ^ 0x5EED) % a.members as u64) as usize;
    let mentions = k.is_multiple_of(MENTION_EVERY).then_some((author + 1) % a.members);
    Post {
        stream,
        author,
        mentions,
        done: None,
    }
}

/// Creates the streams, each by its first member: a public channel the others join, a
/// DM, or a private channel its creator adds the others to. Answers their ids.
async fn setup(base: &str, tokens: &[String], a: &BadgesArgs) -> Vec<i64> {
    let client = http_client(32, Some(Duration::from_secs(60)), None);
    in_parallel(32, (0..a.streams).collect(), |s| {
        let (client, base) = (client.clone(), base.to_owned());
        let members = members_of(s, a);
        let toks: Vec<String> = members.iter().map(|m| tokens[*m].clone()).collect();
        let names: Vec<String> = members.iter().map(|m| person(*m)).collect();
        async move {
            let body = match s % 4 {
                0 => json!({"kind": "channel", "name": format!("b{s:04}")}),
                1 => json!({"kind": "dm", "members": names[1..]}),
                _ => json!({"kind": "channel", "name": format!("b{s:04}"), "visibility": "private"}),
            };
            let v = api_ok(&client, &base, &toks[0], "POST", "/api/streams", Some(body)).await;
            let id = v["id"].as_i64().expect("a stream id");
            for j in 1..names.len() {
                match s % 4 {
                    0 => {
                        api_ok(
                            &client,
                            &base,
                            &toks[j],
                            "POST",
                            &format!("/api/streams/{id}/join"),
                            None,
                        )
                        .await
                    }
                    1 => Value::Null,
                    _ => {
                        api_ok(
                            &client,
                            &base,
                            &toks[0],
                            "POST",
                            &format!("/api/streams/{id}/members"),
                            Some(json!({"user": names[j]})),
                        )
                        .await
                    }
                };
            }
            id
        }
    })
    .await
}

/// Posts `posts` at `rate`/s, one request each, as their authors; fills in `done`.
async fn send_posts(base: &str, tokens: &[String], ids: &[i64], a: &BadgesArgs, posts: &mut [Post]) -> u64 {
    let client = http_client(64, Some(Duration::from_secs(30)), None);
    let interval = Duration::from_secs_f64(1.0 / a.rate.max(1) as f64);
    let start = actix_rt::time::Instant::now();
    let mut tasks = Vec::with_capacity(posts.len());
    for (k, p) in posts.iter().enumerate() {
        actix_rt::time::sleep_until(start + interval * k as u32).await;
        let members = members_of(p.stream, a);
        let token = tokens[members[p.author]].clone();
        let text = match p.mentions {
            Some(m) => format!("@{} badge post {k}", person(members[m])),
            None => format!("badge post {k}"),
        };
        let (client, base, id) = (client.clone(), base.to_owned(), ids[p.stream]);
        tasks.push(actix_rt::spawn(async move {
            let r = api(
                &client,
                &base,
                Some(&token),
                "POST",
                &format!("/api/streams/{id}/events"),
                Some(json!({ "text": text })),
            )
            .await;
            let at = now_us();
            match r {
                Ok((201, v)) => v["event_id"].as_i64().map(|e| (e, at)),
                _ => None,
            }
        }));
    }
    let mut failed = 0;
    for (p, t) in posts.iter_mut().zip(tasks) {
        p.done = t.await.ok().flatten();
        failed += u64::from(p.done.is_none());
    }
    failed
}

/// One `unread` envelope as a person received it.
struct Unread {
    stream_id: i64,
    cursor: i64,
    unread: i64,
    mentions: i64,
    at_us: i64,
}

#[derive(Default)]
struct PersonStats {
    unread: Vec<Unread>,
    other_envelopes: u64,
    connect_err: Option<String>,
}

struct Shared {
    base: String,
    connected: AtomicUsize,
    failed: AtomicUsize,
    stop: AtomicBool,
    /// Per person, the newest post per stream of theirs (stream id, event id): a person
    /// stops reading once its badges have got that far, or at the deadline.
    targets: OnceLock<Vec<Vec<(i64, i64)>>>,
    deadline_us: AtomicI64,
}

async fn person_client(i: usize, token: String, shared: Arc<Shared>, sem: Rc<tokio::sync::Semaphore>) -> PersonStats {
    let mut st = PersonStats::default();
    // Bounds the handshakes in flight; released once this person is live (or failed).
    let mut permit = sem.acquire().await.ok();
    let mut ws = match PersonWs::open(&shared.base, "workspace", &token).await {
        Ok(ws) => ws,
        Err(e) => {
            shared.failed.fetch_add(1, Ordering::SeqCst);
            st.connect_err = Some(e);
            return st;
        }
    };
    let mut newest: HashMap<i64, i64> = HashMap::new();
    loop {
        match ws.next_text(Duration::from_millis(100)).await {
            Ok(Some(frame)) => {
                let at_us = now_us();
                // The server writes this envelope's keys in alphabetical order.
                if find(&frame, br#""type":"unread""#).is_some() {
                    let v: Value = serde_json::from_slice(&frame).unwrap_or(Value::Null);
                    let u = Unread {
                        stream_id: v["stream_id"].as_i64().unwrap_or(0),
                        cursor: v["cursor"].as_i64().unwrap_or(0),
                        unread: v["unread_count"].as_i64().unwrap_or(-1),
                        mentions: v["mention_count"].as_i64().unwrap_or(-1),
                        at_us,
                    };
                    let n = newest.entry(u.stream_id).or_default();
                    *n = (*n).max(u.cursor);
                    st.unread.push(u);
                } else if permit.is_some() && is_connected(&frame) {
                    permit.take();
                    shared.connected.fetch_add(1, Ordering::SeqCst);
                } else {
                    st.other_envelopes += 1;
                }
            }
            Ok(None) => {}
            Err(e) => {
                if permit.is_some() {
                    shared.failed.fetch_add(1, Ordering::SeqCst);
                    st.connect_err = Some(e);
                }
                return st;
            }
        }
        if shared.stop.load(Ordering::SeqCst) {
            let done = shared
                .targets
                .get()
                .is_some_and(|t| t[i].iter().all(|(s, e)| newest.get(s).is_some_and(|c| c >= e)));
            if done || now_us() >= shared.deadline_us.load(Ordering::SeqCst) {
                break;
            }
        }
    }
    ws.close().await;
    st
}

/// What a person's badge on a stream must say.
#[derive(Clone, Copy, Default, PartialEq, Debug)]
struct Expected {
    unread: i64,
    mentions: i64,
}

pub(crate) async fn run(common: &Common, a: BadgesArgs) -> Run {
    assert!(a.members >= 2 && a.members <= a.people, "--members is 2 to --people");
    assert!(a.members < 16, "a DM has at most 16 people");
    let common = with_tokens(common);
    let server = Server::start(&common, Some(a.people + 64)).await;
    let base = server.base.clone();
    let minter = Minter::new();
    let tokens: Vec<String> = (0..a.people).map(|i| minter.token(&person(i))).collect();
    let mut run = Run::default();
    let t0 = Instant::now();
    let ids = setup(&base, &tokens, &a).await;
    debug(&format!(
        "{} streams set up in {:.1} s",
        a.streams,
        t0.elapsed().as_secs_f64()
    ));
    let total = (a.duration * a.rate as f64).round() as u64;

    // Phase A: nobody has a view open; the write path alone.
    let mut before: Vec<Post> = (0..total).map(|k| plan(k, &a)).collect();
    let cpu0 = server.cpu_secs();
    let failed_a = send_posts(&base, &tokens, &ids, &a, &mut before).await;
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let cpu_a = cpu_between(cpu0, server.cpu_secs());

    // Phase B: every person's workspace view open.
    let shared = Arc::new(Shared {
        base: base.clone(),
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        targets: OnceLock::new(),
        deadline_us: AtomicI64::new(i64::MAX),
    });
    let clients = {
        let (shared, tokens) = (shared.clone(), Arc::new(tokens.clone()));
        run_clients(common.client_threads, a.people, 256, move |i, sem| {
            person_client(i, tokens[i].clone(), shared.clone(), sem)
        })
    };
    let live = wait_for(&shared.connected, &shared.failed, a.people, Duration::from_secs(120)).await;
    debug(&format!("{live} workspace views live"));
    // What the open views cost with nothing happening (each room's merge tick).
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let idle0 = server.cpu_secs();
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    let idle = cpu_between(idle0, server.cpu_secs()) / 2.0;
    let mut after: Vec<Post> = (total..2 * total).map(|k| plan(k, &a)).collect();
    let cpu1 = server.cpu_secs();
    let t_send = Instant::now();
    let failed_b = send_posts(&base, &tokens, &ids, &a, &mut after).await;
    let send_secs = t_send.elapsed().as_secs_f64();

    // Each person reads until its badges cover the newest post of each of its streams.
    let mut newest: Vec<i64> = vec![0; a.streams];
    for p in &after {
        if let Some((e, _)) = p.done {
            newest[p.stream] = newest[p.stream].max(e);
        }
    }
    let mut targets: Vec<Vec<(i64, i64)>> = vec![Vec::new(); a.people];
    for s in 0..a.streams {
        if newest[s] > 0 {
            for m in members_of(s, &a) {
                targets[m].push((ids[s], newest[s]));
            }
        }
    }
    let _ = shared.targets.set(targets);
    shared.deadline_us.store(now_us() + 10_000_000, Ordering::SeqCst);
    shared.stop.store(true, Ordering::SeqCst);
    let people = clients.join().await;
    let cpu_b = cpu_between(cpu1, server.cpu_secs());

    // Latency: a post's answer to the first envelope of its stream at that cursor or later,
    // at each member but its author.
    let mut lat_us: Vec<u32> = Vec::new();
    let mut never = 0u64;
    let by_stream: Vec<HashMap<i64, Vec<&Unread>>> = people
        .iter()
        .map(|p| {
            let mut m: HashMap<i64, Vec<&Unread>> = HashMap::new();
            for u in &p.unread {
                m.entry(u.stream_id).or_default().push(u);
            }
            m
        })
        .collect();
    for p in &after {
        let Some((event, answered)) = p.done else {
            continue;
        };
        for (j, m) in members_of(p.stream, &a).into_iter().enumerate() {
            if j == p.author {
                continue;
            }
            let first = by_stream[m]
                .get(&ids[p.stream])
                .and_then(|us| us.iter().find(|u| u.cursor >= event));
            match first {
                Some(u) => lat_us.push((u.at_us - answered).clamp(0, u32::MAX as i64) as u32),
                None => never += 1,
            }
        }
    }

    // The badges every person must end with: posts by others, mentions of them.
    let mut expected: Vec<HashMap<i64, Expected>> = vec![HashMap::new(); a.people];
    for (s, &id) in ids.iter().enumerate().take(a.streams) {
        for m in members_of(s, &a) {
            expected[m].insert(id, Expected::default());
        }
    }
    for p in before.iter().chain(&after).filter(|p| p.done.is_some()) {
        let members = members_of(p.stream, &a);
        for (j, m) in members.iter().enumerate() {
            let e = expected[*m].get_mut(&ids[p.stream]).expect("a member's stream");
            if j != p.author {
                e.unread += 1;
            }
            if p.mentions == Some(j) {
                e.mentions += 1;
            }
        }
    }
    // Live: the last envelope per stream (the newest cursor) of every stream with a post.
    let mut wrong_live = 0u64;
    for (m, st) in by_stream.iter().enumerate() {
        for (stream, us) in st {
            let last = us.iter().max_by_key(|u| (u.cursor, u.at_us)).expect("at least one");
            let got = Expected {
                unread: last.unread,
                mentions: last.mentions,
            };
            if expected[m].get(stream) != Some(&got) {
                wrong_live += 1;
            }
        }
    }
    // And from every person's bootstrap.
    let client = http_client(16, Some(Duration::from_secs(60)), None);
    let answers = in_parallel(16, (0..a.people).collect(), |m| {
        let (client, base, token) = (client.clone(), base.clone(), tokens[m].clone());
        async move { api(&client, &base, Some(&token), "GET", "/api/bootstrap", None).await }
    })
    .await;
    let mut wrong_boot = 0u64;
    for (m, answer) in answers.into_iter().enumerate() {
        let mut got: HashMap<i64, Expected> = HashMap::new();
        if let Ok((200, v)) = answer {
            for s in v["streams"].as_array().into_iter().flatten() {
                got.insert(
                    s["id"].as_i64().unwrap_or(0),
                    Expected {
                        unread: s["unread_count"].as_i64().unwrap_or(-1),
                        mentions: s["mention_count"].as_i64().unwrap_or(-1),
                    },
                );
            }
        }
        wrong_boot += expected[m].iter().filter(|(s, e)| got.get(s) != Some(e)).count() as u64;
        wrong_boot += got.keys().filter(|s| !expected[m].contains_key(s)).count() as u64;
    }
    server.stop();

    let envelopes: u64 = people.iter().map(|p| p.unread.len() as u64).sum();
    let posts_b = after.iter().filter(|p| p.done.is_some()).count() as f64;
    let posts_a = before.iter().filter(|p| p.done.is_some()).count() as f64;
    run.add("people with the workspace view live", live as f64, "");
    run.add("posts/s sent (views open)", posts_b / send_secs, "/s");
    run.add(
        "badge updates due (post × member but its author)",
        (lat_us.len() as u64 + never) as f64,
        "",
    );
    run.add("unread envelopes received", envelopes as f64, "");
    run.add(
        "other envelopes received (stream_updated, ...)",
        people.iter().map(|p| p.other_envelopes).sum::<u64>() as f64,
        "",
    );
    ms_figures(
        &mut run,
        "badge latency (post answered → unread envelope) ",
        &mut lat_us,
    );
    let per_post_a = cpu_a / posts_a.max(1.0) * 1e6;
    let per_post_b = cpu_b / posts_b.max(1.0) * 1e6;
    run.add("server CPU, idle with every view open", idle * 100.0, "% of a core");
    run.add("server CPU per post, no view open", per_post_a, "µs");
    run.add("server CPU per post, views open", per_post_b, "µs");
    run.add(
        "server CPU per unread envelope (all)",
        cpu_b / envelopes.max(1) as f64 * 1e6,
        "µs",
    );
    run.add(
        "server CPU per unread envelope (above the posts without views)",
        (cpu_b - cpu_a * posts_b / posts_a.max(1.0)) / envelopes.max(1) as f64 * 1e6,
        "µs",
    );
    run.zero("failed connects", (a.people - live) as f64);
    run.zero("failed posts", (failed_a + failed_b) as f64);
    run.zero("badge updates never delivered", never as f64);
    run.zero("last live badges not exact", wrong_live as f64);
    run.zero("bootstrap badges not exact", wrong_boot as f64);
    run
}

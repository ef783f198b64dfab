//! `bootstrap`: a person in S streams (1,000) of a log of N events (1,000,000): p50/p99 of
//! `GET /api/bootstrap`, first on a quiet server, then while v1 ingest goes on into those
//! streams; and every answer checked against the badges the tool worked out itself
//! (issue 13's benchmark).
//!
//! The log is filled through v1 ingest (batches of 5,000, 4 at a time) into channels
//! `c0000`.. spread unevenly (a few busy, most quiet); the person joins every channel
//! halfway through, so only the second half counts as unread. Then the person reads every
//! tenth channel up to its newest message, and other people post `@person` mentions
//! through the stream API (a tenth of them deleted again) before the last quarter of v1
//! messages. Every stream's `unread_count` (messages by others after the read cursor, not
//! deleted) and `mention_count` must equal the tool's own count, in every answer.
use crate::people::*;
use crate::prelude::*;

/// Messages per ingest request while filling.
const FILL_BATCH: u64 = 5000;
/// Ingest requests in flight while filling.
const FILL_WRITERS: usize = 4;
/// The person whose bootstrap is read.
const PERSON: &str = "person";
/// Authors of the v1 messages (`u0`..) and of the mentions (`m0`..).
const AUTHORS: u64 = 5000;
const MENTIONERS: u64 = 50;
/// Every this many streams, the person reads one up to its newest message.
const READ_EVERY: usize = 10;
/// Every this many mentions, one is deleted again.
const DELETE_EVERY: u64 = 10;

pub(crate) struct BootstrapArgs {
    pub(crate) streams: usize,
    pub(crate) messages: u64,
    pub(crate) mentions: u64,
    pub(crate) requests: usize,
    pub(crate) rate: u64,
    pub(crate) backend: DbBackend,
}

/// The channel of the `seq`th v1 message: the first S name every channel once, the rest
/// fall unevenly (the square of a uniform draw: channel 0 gets about 3 % of them at
/// S = 1,000, the last ones a few hundredths of a percent).
fn channel_of(seq: u64, streams: usize) -> usize {
    if seq < streams as u64 {
        return seq as usize;
    }
    let h = (mix(seq) >> 11) as f64 / (1u64 << 53) as f64;
    ((h * h * streams as f64) as usize).min(streams - 1)
}

fn channel_name(i: usize) -> String {
    format!("c{i:04}")
}

/// What the person's badge on one channel must say, as the tool counts it.
#[derive(Clone, Default)]
struct Badge {
    unread: i64,
    mentions: i64,
    /// The channel's newest message so far (where a read goes).
    last_id: i64,
}

/// The badges while filling: `counting` once the person has joined.
struct Expect {
    badges: Vec<Badge>,
    counting: bool,
}

impl Expect {
    fn stored(&mut self, channel: usize, id: i64) {
        let b = &mut self.badges[channel];
        b.last_id = b.last_id.max(id);
        if self.counting {
            b.unread += 1;
        }
    }
}

/// The body of one ingest request: v1 messages `from..to`.
fn batch(from: u64, to: u64, streams: usize) -> (Bytes, Vec<usize>) {
    let mut body = String::with_capacity(((to - from) * 80) as usize);
    let mut channels = Vec::with_capacity((to - from) as usize);
    body.push('[');
    for seq in from..to {
        if seq > from {
            body.push(',');
        }
        let c = channel_of(seq, streams);
        channels.push(c);
        let w = |k: u64| WORDS[(mix(seq ^ k) % WORDS.len() as u64) as usize];
        body.push_str(&format!(
            r#"{{"channel":"{}","user":"u{}","text":"seed {seq} {} {} {}"}}"#,
            channel_name(c),
            mix(seq) % AUTHORS,
            w(1),
            w(2),
            w(3)
        ));
    }
    body.push(']');
    (Bytes::from(body), channels)
}

/// Ingests v1 messages `from..to`, `FILL_WRITERS` requests at a time, counting each stored
/// one into `expect`. Answers the seconds it took.
async fn fill(server: &Server, from: u64, to: u64, streams: usize, expect: &mut Expect) -> f64 {
    let client = http_client(FILL_WRITERS + 2, Some(Duration::from_secs(300)), None);
    let url = server.url("/api/messages");
    let t0 = Instant::now();
    let starts: Vec<u64> = (from..to).step_by(FILL_BATCH as usize).collect();
    let answers = in_parallel(FILL_WRITERS, starts, |a| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let (body, channels) = batch(a, (a + FILL_BATCH).min(to), streams);
            match post(&client, &url, body).await {
                Ok((201, v)) => {
                    let ids: Vec<i64> = v["ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_i64)
                        .collect();
                    assert_eq!(ids.len(), channels.len(), "one id per message: {v}");
                    (channels, ids)
                }
                other => panic!("filling failed: {other:?}"),
            }
        }
    })
    .await;
    for (channels, ids) in answers {
        for (c, id) in channels.into_iter().zip(ids) {
            expect.stored(c, id);
        }
    }
    t0.elapsed().as_secs_f64()
}

/// The ids of channels `c0000`.. by index, from the stream list.
async fn channel_ids(client: &awc::Client, base: &str, token: &str, streams: usize) -> Vec<i64> {
    let v = api_ok(
        client,
        base,
        token,
        "GET",
        &format!("/api/streams?kind=channel&limit={streams}"),
        None,
    )
    .await;
    let mut ids = vec![0i64; streams];
    for s in v["streams"].as_array().into_iter().flatten() {
        let name = s["name"].as_str().unwrap_or("");
        if let Some(i) = name.strip_prefix('c').and_then(|n| n.parse::<usize>().ok()) {
            if i < streams {
                ids[i] = s["id"].as_i64().unwrap_or(0);
            }
        }
    }
    assert!(ids.iter().all(|id| *id > 0), "every channel c0000.. is listed");
    ids
}

/// How one bootstrap answer compares with the tool's badges.
#[derive(Default)]
struct Check {
    streams: usize,
    unread_sum: i64,
    mention_sum: i64,
    wrong_unread: usize,
    wrong_mentions: usize,
    /// Streams of ours missing from the answer, or streams in it that are not ours.
    wrong_streams: usize,
}

fn check(answer: &Value, ids: &[i64], badges: &[Badge]) -> Check {
    let by_id: std::collections::HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut c = Check::default();
    let mut seen = vec![false; ids.len()];
    for s in answer["streams"].as_array().into_iter().flatten() {
        c.streams += 1;
        let (unread, mentions) = (
            s["unread_count"].as_i64().unwrap_or(-1),
            s["mention_count"].as_i64().unwrap_or(-1),
        );
        c.unread_sum += unread;
        c.mention_sum += mentions;
        let Some(&i) = s["id"].as_i64().and_then(|id| by_id.get(&id)) else {
            c.wrong_streams += 1;
            continue;
        };
        seen[i] = true;
        c.wrong_unread += usize::from(unread != badges[i].unread);
        c.wrong_mentions += usize::from(mentions != badges[i].mentions);
    }
    c.wrong_streams += seen.iter().filter(|s| !**s).count();
    c
}

/// One `GET /api/bootstrap`: its time (µs, to the last byte), status and answer.
async fn bootstrap(client: &awc::Client, base: &str, token: &str) -> (u32, u16, Bytes) {
    let t0 = Instant::now();
    let res = client
        .get(format!("{base}/api/bootstrap"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .send()
        .await;
    let (status, body) = match res {
        Ok(mut r) => (r.status().as_u16(), r.body().limit(64 << 20).await.unwrap_or_default()),
        Err(_) => (0, Bytes::new()),
    };
    (t0.elapsed().as_micros().min(u32::MAX as u128) as u32, status, body)
}

/// `requests` bootstraps one after another; every answer checked against `badges` when
/// given. Answers the latencies, failed requests and the worst check.
async fn measure(
    client: &awc::Client,
    base: &str,
    token: &str,
    requests: usize,
    expect: Option<(&[i64], &[Badge])>,
) -> (Vec<u32>, u64, Option<Check>, usize) {
    let (mut lat, mut failed, mut worst, mut bytes) = (Vec::with_capacity(requests), 0u64, None::<Check>, 0usize);
    for _ in 0..requests {
        let (us, status, body) = bootstrap(client, base, token).await;
        lat.push(us);
        bytes = body.len();
        if status != 200 {
            failed += 1;
            continue;
        }
        if let Some((ids, badges)) = expect {
            let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let c = check(&answer, ids, badges);
            let bad = |c: &Check| c.wrong_unread + c.wrong_mentions + c.wrong_streams;
            if worst.as_ref().is_none_or(|w| bad(&c) >= bad(w)) {
                worst = Some(c);
            }
        }
    }
    (lat, failed, worst, bytes)
}

/// The channels of the messages each acknowledged request stored, with their ids, and how
/// many requests failed.
type Sent = (Vec<(usize, i64)>, u64);

/// v1 ingest into the channels at `rate` msg/s (a request every 10 ms) until `stop`:
/// answers each stored message's channel and id, and failed requests.
async fn ingest_until(server: String, rate: u64, streams: usize, seq0: u64, stop: Rc<AtomicBool>) -> Sent {
    let per_tick = rate.div_ceil(100).max(1);
    let interval = Duration::from_secs_f64(per_tick as f64 / rate.max(1) as f64);
    let client = http_client(16, Some(Duration::from_secs(30)), None);
    let url = format!("{server}/api/messages");
    let out: Rc<RefCell<Sent>> = Rc::default();
    let start = actix_rt::time::Instant::now();
    let mut tasks = Vec::new();
    let mut k = 0u64;
    while !stop.load(Ordering::SeqCst) {
        actix_rt::time::sleep_until(start + interval * k as u32).await;
        let from = seq0 + k * per_tick;
        let (body, channels) = batch(from, from + per_tick, streams);
        let (client, url, out) = (client.clone(), url.clone(), out.clone());
        tasks.push(actix_rt::spawn(async move {
            match post(&client, &url, body).await {
                Ok((201, v)) => {
                    let ids = v["ids"].as_array().cloned().unwrap_or_default();
                    let mut o = out.borrow_mut();
                    o.0.extend(channels.into_iter().zip(ids.iter().filter_map(Value::as_i64)));
                }
                _ => out.borrow_mut().1 += 1,
            }
        }));
        k += 1;
    }
    for t in tasks {
        let _ = t.await;
    }
    Rc::try_unwrap(out).expect("every request answered").into_inner()
}

pub(crate) async fn run(common: &Common, a: BootstrapArgs) -> Run {
    assert!(
        (1..=1000).contains(&a.streams),
        "--streams is 1-1000 (the stream list answers at most 1,000)"
    );
    let common = with_tokens(common);
    let cluster = Cluster::start(&common, 1, a.backend, None).await;
    let server = cluster.node(0);
    let base = server.base.clone();
    let minter = Minter::new();
    let me = minter.token(PERSON);
    let client = http_client(32, Some(Duration::from_secs(120)), None);
    let mut expect = Expect {
        badges: vec![Badge::default(); a.streams],
        counting: false,
    };
    let mut run = Run::default();

    // Half the log, then the person joins every channel.
    let half = (a.messages / 2).max(a.streams as u64);
    let fill_before = fill(server, 0, half, a.streams, &mut expect).await;
    let ids = channel_ids(&client, &base, &me, a.streams).await;
    let joins: Vec<i64> = ids.clone();
    let t0 = Instant::now();
    in_parallel(16, joins, |id| {
        let (client, base, me) = (client.clone(), base.clone(), me.clone());
        async move { api_ok(&client, &base, &me, "POST", &format!("/api/streams/{id}/join"), None).await }
    })
    .await;
    run.add("joins/s", a.streams as f64 / t0.elapsed().as_secs_f64(), "/s");
    expect.counting = true;

    // A quarter more, then the person reads every tenth channel up to its newest message.
    let three_quarters = half + (a.messages - half.min(a.messages)) / 2;
    let mut fill_after = fill(server, half, three_quarters, a.streams, &mut expect).await;
    let reads: Vec<usize> = (0..a.streams).step_by(READ_EVERY).collect();
    for &i in &reads {
        expect.badges[i].unread = 0;
        expect.badges[i].mentions = 0;
    }
    in_parallel(16, reads, |i| {
        let (client, base, me, id, last) = (
            client.clone(),
            base.clone(),
            me.clone(),
            ids[i],
            expect.badges[i].last_id,
        );
        async move {
            api_ok(
                &client,
                &base,
                &me,
                "POST",
                &format!("/api/streams/{id}/read"),
                Some(json!({"event_id": last})),
            )
            .await
        }
    })
    .await;

    // Mentions of the person through the stream API, a tenth of them deleted again.
    let mentioners: Vec<String> = (0..MENTIONERS).map(|k| minter.token(&format!("m{k}"))).collect();
    let posts: Vec<u64> = (0..a.mentions).collect();
    let posted = in_parallel(16, posts, |k| {
        let (client, base) = (client.clone(), base.clone());
        let c = channel_of((1 << 40) + k, a.streams);
        let (id, token) = (ids[c], mentioners[(k % MENTIONERS) as usize].clone());
        async move {
            let v = api_ok(
                &client,
                &base,
                &token,
                "POST",
                &format!("/api/streams/{id}/events"),
                Some(json!({"text": format!("@{PERSON} have a look at {k}")})),
            )
            .await;
            (k, c, v["event_id"].as_i64().expect("an event id"))
        }
    })
    .await;
    let mut deletes = Vec::new();
    for (k, c, event) in posted {
        let b = &mut expect.badges[c];
        b.last_id = b.last_id.max(event);
        if k % DELETE_EVERY == 0 {
            deletes.push((k, c, event));
        } else {
            b.unread += 1;
            b.mentions += 1;
        }
    }
    in_parallel(16, deletes, |(k, c, event)| {
        let (client, base, id) = (client.clone(), base.clone(), ids[c]);
        let token = mentioners[(k % MENTIONERS) as usize].clone();
        async move {
            api_ok(
                &client,
                &base,
                &token,
                "DELETE",
                &format!("/api/streams/{id}/events/{event}"),
                None,
            )
            .await
        }
    })
    .await;

    // The last quarter.
    fill_after += fill(server, three_quarters, a.messages.max(half), a.streams, &mut expect).await;
    let probe = http_client(4, Some(Duration::from_secs(60)), None);
    let log = api_metrics(&probe, server).await["cursor"].as_i64().unwrap_or(0);
    run.add("events in the log", log as f64, "");
    // Once the person is in every channel, each commit also counts their unread messages.
    run.add(
        "v1 ingest while filling, before the join",
        half as f64 / fill_before,
        "msg/s",
    );
    run.add(
        "v1 ingest while filling, after the join",
        (a.messages.max(half) - half) as f64 / fill_after,
        "msg/s",
    );

    // Quiet: one bootstrap after another, every answer checked.
    let (mut quiet, failed_quiet, check_quiet, bytes) =
        measure(&client, &base, &me, a.requests, Some((&ids, &expect.badges))).await;
    let c = check_quiet.unwrap_or_default();
    run.add("streams in the answer", c.streams as f64, "");
    run.add("answer size", bytes as f64, "bytes");
    run.add("unread_count summed over the answer", c.unread_sum as f64, "");
    run.add(
        "messages by others after the read cursors, not deleted (the tool's count)",
        expect.badges.iter().map(|b| b.unread).sum::<i64>() as f64,
        "",
    );
    run.add("mention_count summed over the answer", c.mention_sum as f64, "");
    ms_figures(&mut run, "quiet: bootstrap ", &mut quiet);

    // While v1 ingest goes on into the person's streams; checked again once it stopped.
    let stop = Rc::new(AtomicBool::new(false));
    let sender = actix_rt::spawn(ingest_until(base.clone(), a.rate, a.streams, 1 << 41, stop.clone()));
    // Ingest is flowing before the first read.
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    let (mut busy, failed_busy, _, _) = measure(&client, &base, &me, a.requests, None).await;
    stop.store(true, Ordering::SeqCst);
    let (stored, failed_ingest) = sender.await.expect("the sender");
    for (c, id) in &stored {
        expect.stored(*c, *id);
    }
    run.add("messages ingested during the reads", stored.len() as f64, "");
    ms_figures(&mut run, "during ingest: bootstrap ", &mut busy);
    let (_, failed_after, check_after, _) = measure(&client, &base, &me, 1, Some((&ids, &expect.badges))).await;
    let after = check_after.unwrap_or_default();

    for (what, c) in [("", &c), ("after ingest: ", &after)] {
        run.zero(
            &format!("{what}streams with a wrong unread_count"),
            c.wrong_unread as f64,
        );
        run.zero(
            &format!("{what}streams with a wrong mention_count"),
            c.wrong_mentions as f64,
        );
        run.zero(&format!("{what}streams missing or extra"), c.wrong_streams as f64);
    }
    run.zero(
        "failed bootstrap requests",
        (failed_quiet + failed_busy + failed_after) as f64,
    );
    run.zero("failed ingest requests during the reads", failed_ingest as f64);
    drop(cluster);
    run
}

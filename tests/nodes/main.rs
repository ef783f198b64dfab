//! Several nodes on one PostgreSQL database and a Redis Streams bus (PROTOCOL.md section 7):
//! real server processes, real PostgreSQL and Redis, real sockets. Each test makes its own
//! database (and its own `redis-server` where it must kill Redis).
use std::collections::BTreeMap;
use std::time::Duration;

use chatpulse_testkit::*;
use serde_json::{json, Value};

const CHANNELS: [&str; 3] = ["general", "random", "ops"];
const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

/// `n` messages spread over the channels and users, texts tagged with `tag`.
fn spread(tag: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| msg(CHANNELS[i % 3], USERS[(i / 3) % 4], &format!("{tag} {i}")))
        .collect()
}

/// A subscriber that collects the message ids and counts it is given.
struct Watcher {
    what: String,
    live: Live,
    ids: Vec<i64>,
    counts: Counts,
    metrics_total: i64,
}

impl Watcher {
    async fn open(node: &TestApp, t: Transport, view: &str, what: &str) -> Watcher {
        let mut live = node.live(t, view, None, None).await;
        let (initial, _) = live.until_connected(WAIT).await;
        let mut w = Watcher {
            what: format!("{what} [{t}] {view}"),
            live,
            ids: Vec::new(),
            counts: Counts::default(),
            metrics_total: 0,
        };
        for e in &initial {
            w.apply(e);
        }
        w
    }

    fn apply(&mut self, e: &Value) {
        match e["type"].as_str() {
            Some("message") => self.ids.push(mid(e)),
            Some("metrics") => self.metrics_total = self.metrics_total.max(e["total_messages"].as_i64().unwrap_or(0)),
            _ => self.counts.apply(e),
        }
    }

    /// Reads until `done` holds, failing on any error status or the end of the stream.
    async fn until(&mut self, timeout: Duration, done: impl Fn(&Watcher) -> bool) {
        let deadline = std::time::Instant::now() + timeout;
        while !done(self) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.live.next(left).await {
                Next::Event(e) => {
                    assert!(
                        !matches!(state_of(&e), Some("error" | "fallback" | "reconnecting")),
                        "{}: {e}",
                        self.what
                    );
                    self.apply(&e);
                }
                other => panic!("{}: {other:?} with {} messages seen", self.what, self.ids.len()),
            }
        }
    }

    async fn until_messages(&mut self, n: usize) {
        self.until(LONG_WAIT, |w| w.ids.len() >= n).await;
    }
}

/// Stored counts per channel and per user, from the read API of `node`.
async fn stored_counts(node: &TestApp) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let by = |key: &str, list: Vec<Value>| -> BTreeMap<String, i64> {
        list.iter()
            .map(|v| {
                (
                    v[key].as_str().unwrap().to_owned(),
                    v["total_messages"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let channels = node.all_pages("/api/channels", "channels").await;
    let users = node.all_pages("/api/users", "users").await;
    (by("name", channels), by("username", users))
}

fn expected_counts(messages: &[Value]) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let mut channels = BTreeMap::new();
    let mut users = BTreeMap::new();
    for m in messages {
        *channels.entry(m["channel"].as_str().unwrap().to_owned()).or_insert(0) += 1;
        *users.entry(m["user"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    (channels, users)
}

/// A top list's entries as `/api/top` gives them for `counts`: most first, then by name.
fn top_of(counts: &BTreeMap<String, i64>) -> Value {
    let mut all: Vec<(i64, &String)> = counts.iter().map(|(k, n)| (*n, k)).collect();
    all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    json!(all
        .iter()
        .map(|(n, k)| json!({"name": k, "messages": n}))
        .collect::<Vec<_>>())
}

/// A top list's entries without their rates.
fn strip(list: &Value) -> Value {
    json!(list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!({"name": e["name"], "messages": e["messages"]}))
        .collect::<Vec<_>>())
}

#[actix_rt::test]
async fn ingest_on_one_node_is_live_on_every_view_of_the_others() {
    let redis = RedisServer::start();
    let cluster = TestCluster::builder().nodes(3).bus(redis.url()).start().await;
    let mut watchers = Vec::new();
    for node in [1, 2] {
        for t in [Transport::Ws, Transport::Sse] {
            for view in ["messages", "home", "channels", "users", "user/alice", "channel/ops"] {
                watchers.push(Watcher::open(cluster.node(node), t, view, &format!("node {node}")).await);
            }
        }
    }
    // The other nodes' top lists of the hour, read (so kept) before anything is stored.
    for node in [1, 2] {
        let top = cluster.node(node).get_json("/api/top?window=1h").await;
        assert_eq!(top["users"], json!([]), "{top}");
    }
    let sent = spread("a", 120);
    let mut ids = Vec::new();
    for part in sent.chunks(7) {
        ids.extend(cluster.node(0).ingest_ids(part).await);
    }
    assert_same_ids("ids from node 0", &ids, &(1..=120).collect::<Vec<_>>());
    let alice: Vec<i64> = ids
        .iter()
        .zip(&sent)
        .filter(|(_, m)| m["user"] == "alice")
        .map(|(i, _)| *i)
        .collect();
    let ops: Vec<i64> = ids
        .iter()
        .zip(&sent)
        .filter(|(_, m)| m["channel"] == "ops")
        .map(|(i, _)| *i)
        .collect();
    let (channels, users) = expected_counts(&sent);
    for w in &mut watchers {
        let view = w.what.rsplit(' ').next().unwrap().to_owned();
        match view.as_str() {
            "messages" | "home" => {
                w.until_messages(ids.len()).await;
                assert_same_ids(&w.what, &w.ids, &ids);
            }
            "user/alice" => {
                w.until_messages(alice.len()).await;
                assert_same_ids(&w.what, &w.ids, &alice);
            }
            "channel/ops" => {
                w.until_messages(ops.len()).await;
                assert_same_ids(&w.what, &w.ids, &ops);
            }
            "channels" => {
                w.until(LONG_WAIT, |w| w.counts.totals == channels).await;
            }
            "users" => {
                w.until(LONG_WAIT, |w| w.counts.totals == users).await;
            }
            _ => unreachable!(),
        }
        if view == "home" {
            w.until(LONG_WAIT, |w| w.metrics_total == 120).await;
        }
    }
    for node in cluster.nodes() {
        assert_eq!(
            stored_counts(node).await,
            (channels.clone(), users.clone()),
            "counts on {}",
            node.base()
        );
        assert_eq!(node.total_messages().await, 120);
    }
    // Their top lists followed node 0's commits: exact, most first, then by name.
    for node in [1, 2] {
        eventually(&format!("node {node}'s top list"), LONG_WAIT, || async {
            let top = cluster.node(node).get_json("/api/top?window=1h").await;
            (strip(&top["users"]) == top_of(&users) && strip(&top["channels"]) == top_of(&channels)).then_some(())
        })
        .await;
    }
    // Nothing came twice or late: the bus carried it, the database was not needed.
    for node in [1, 2] {
        let read = cluster.node(node).metric("chatpulse_bus_entries_read_total").await;
        assert!(read >= 1.0, "node {node} read nothing from the bus");
    }
}

/// A node answers as of the database even before it has routed a commit to its rooms (a
/// commit is acknowledged first; here node 1 has no bus and finds node 0's commits by its
/// position check, up to 500 ms later): a subscriber without `after_id` gets none of the
/// messages stored before it came, live or otherwise, and its first top list, like
/// `GET /api/top`, counts all of them.
#[actix_rt::test]
async fn a_node_answers_as_of_the_database_before_it_routed_the_commits() {
    let cluster = TestCluster::builder().nodes(2).start().await;
    let (writer, reader) = (cluster.node(0), cluster.node(1));
    let mut stored = Vec::new();
    for (round, t) in [Transport::Ws, Transport::Sse, Transport::Ws].into_iter().enumerate() {
        let sent = spread(&format!("round {round}"), 7 + round);
        let ids = writer.ingest_ids(&sent).await;
        stored.extend(sent);
        let (_, users) = expected_counts(&stored);
        let mut messages = reader.live(t, "messages", None, None).await;
        let mut top = reader.live(t, "top/1h", None, None).await;
        let read = reader.get_json("/api/top?window=1h").await;
        assert_eq!(strip(&read["users"]), top_of(&users), "[{t}] /api/top: {read}");
        let (_, connected) = messages.until_connected(WAIT).await;
        assert_eq!(connected["cursor"], json!(ids.last().unwrap()), "[{t}] {connected}");
        top.until_connected(WAIT).await;
        let first = top.read_of_type("top", 1, WAIT).await;
        let first = first.iter().find(|e| e["type"] == "top").expect("a first top list");
        assert_eq!(strip(&first["users"]), top_of(&users), "[{t}] first list: {first}");
        // Node 1 routes the commit meanwhile: none of it comes as a live message.
        let late = messages.read_for(Duration::from_millis(1_200)).await;
        assert!(
            late.iter().all(|e| !is_message(e)),
            "[{t}] old messages sent live: {late:?}"
        );
    }
    // What comes after the subscription still does.
    let mut messages = reader.live(Transport::Ws, "messages", None, None).await;
    messages.until_connected(WAIT).await;
    let ids = writer.ingest_ids(&spread("after", 3)).await;
    let got = messages.read_of_type("message", 3, LONG_WAIT).await;
    let got: Vec<i64> = got.iter().filter(|e| is_message(e)).map(mid).collect();
    assert_same_ids("messages after the subscription", &got, &ids);
}

#[actix_rt::test]
async fn writers_on_every_node_give_one_dense_order_everywhere() {
    let redis = RedisServer::start();
    let cluster = TestCluster::builder().nodes(3).bus(redis.url()).start().await;
    let mut watchers = Vec::new();
    for node in 0..3 {
        for t in [Transport::Ws, Transport::Sse] {
            watchers.push(Watcher::open(cluster.node(node), t, "messages", &format!("node {node}")).await);
        }
    }
    let writers: Vec<_> = (0..3)
        .map(|node| {
            let api = cluster.node(node).api.clone();
            actix_rt::spawn(async move {
                let mut ids = Vec::new();
                for round in 0..20 {
                    let batch = spread(&format!("w{node} r{round}"), 1 + (round % 5));
                    ids.extend(api.ingest_ids(&batch).await);
                }
                ids
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.unwrap());
    }
    acknowledged.sort_unstable();
    let n = acknowledged.len() as i64;
    assert_same_ids("acknowledged ids", &acknowledged, &(1..=n).collect::<Vec<_>>());
    for w in &mut watchers {
        w.until_messages(n as usize).await;
        assert_same_ids(&w.what, &w.ids, &(1..=n).collect::<Vec<_>>());
    }
}

#[actix_rt::test]
async fn a_node_killed_mid_stream_loses_nothing_and_its_clients_resume_elsewhere() {
    let redis = RedisServer::start();
    let mut cluster = TestCluster::builder().nodes(3).bus(redis.url()).start().await;
    let epoch = cluster.node(0).epoch().await;
    let mut victim_client = Watcher::open(cluster.node(1), Transport::Ws, "messages", "on the victim").await;
    let mut witness = Watcher::open(cluster.node(2), Transport::Sse, "messages", "witness").await;

    // Writers on the victim and on node 0; the victim's stop when it dies.
    let victim_api = cluster.node(1).api.clone();
    let victim_writer = actix_rt::spawn(async move {
        let mut acked = Vec::new();
        for i in 0..400 {
            match victim_api
                .try_post_json(&Value::Array(spread(&format!("v{i}"), 3)))
                .await
            {
                Ok(r) if r.status == 201 => acked.extend(ids_of(&r.json)),
                _ => break,
            }
        }
        acked
    });
    let mut acked = cluster.node(0).ingest_ids(&spread("before", 30)).await;
    victim_client.until_messages(30).await;
    cluster.kill9(1);
    acked.extend(victim_writer.await.unwrap());
    acked.extend(cluster.node(0).ingest_ids(&spread("after", 30)).await);
    acked.sort_unstable();

    // Every acknowledged message is stored, and ids stay dense.
    let stored = cluster.node(0).stored_ids().await;
    for id in &acked {
        assert!(stored.binary_search(id).is_ok(), "acknowledged id {id} is not stored");
    }
    let n = stored.len() as i64;
    assert_same_ids("stored ids", &stored, &(1..=n).collect::<Vec<_>>());

    // The victim's client saw a prefix; it resumes on node 2 from the last id it applied.
    let (_, _) = victim_client.live.read_to_end(WAIT).await;
    let last = *victim_client.ids.last().expect("the victim's client saw messages");
    let mut resumed = cluster.node(2).ws("messages", Some(last), Some(&epoch)).await;
    let (backlog, _) = resumed.until_connected(WAIT).await;
    let mut ids = victim_client.ids.clone();
    ids.extend(message_ids(&backlog));
    let more = n as usize - ids.len();
    ids.extend(message_ids(&resumed.read_messages(more, LONG_WAIT).await));
    assert_same_ids(
        "the victim's client, resumed on node 2",
        &ids,
        &(1..=n).collect::<Vec<_>>(),
    );
    witness.until_messages(n as usize).await;
    assert_same_ids(
        "a client of a surviving node",
        &witness.ids,
        &(1..=n).collect::<Vec<_>>(),
    );
}

#[actix_rt::test]
async fn redis_killed_and_restarted_loses_duplicates_and_reorders_nothing() {
    let redis = RedisServer::start();
    let cluster = TestCluster::builder().nodes(3).bus(redis.url()).start().await;
    let mut watchers = Vec::new();
    for node in 0..3 {
        watchers.push(Watcher::open(cluster.node(node), Transport::Ws, "messages", &format!("node {node}")).await);
    }
    let mut ids = cluster.node(0).ingest_ids(&spread("up", 20)).await;
    redis.stop();
    for node in 0..3 {
        // Ingest keeps answering 2xx on every node while Redis is down.
        ids.extend(
            cluster
                .node(node)
                .ingest_ids(&spread(&format!("down {node}"), 10))
                .await,
        );
    }
    for node in 0..3 {
        let health = eventually("the bus reported down", WAIT, || async {
            let h = cluster.node(node).get_json("/healthz").await;
            (h["bus"] == "down").then_some(h)
        })
        .await;
        assert_eq!(health["database"], "ok", "{health}");
        assert_eq!(cluster.node(node).metric("chatpulse_bus_up").await, 0.0);
    }
    redis.restart();
    for node in 0..3 {
        eventually("the bus back up", LONG_WAIT, || async {
            (cluster.node(node).get_json("/healthz").await["bus"] == "ok").then_some(())
        })
        .await;
    }
    ids.extend(cluster.node(1).ingest_ids(&spread("again", 20)).await);
    ids.sort_unstable();
    let n = ids.len() as i64;
    assert_same_ids("acknowledged ids", &ids, &(1..=n).collect::<Vec<_>>());
    for w in &mut watchers {
        w.until_messages(n as usize).await;
        assert_same_ids(&w.what, &w.ids, &(1..=n).collect::<Vec<_>>());
    }
    for node in 1..3 {
        let filled = cluster.node(node).metric("chatpulse_gap_fill_events_total").await;
        assert!(
            filled >= 10.0,
            "node {node} filled {filled} messages from the database while Redis was down"
        );
    }
}

#[actix_rt::test]
async fn a_bus_entry_that_never_arrives_is_read_from_the_database() {
    let redis = RedisServer::start();
    let cluster = TestCluster::builder().nodes(2).bus(redis.url()).start().await;
    // A writer on the same database that publishes nothing: its commits are entries that
    // never arrive, each followed by one that does.
    let silent = TestApp::builder().database_url(cluster.database_url()).start().await;
    let mut watchers = Vec::new();
    for node in 0..2 {
        for t in [Transport::Ws, Transport::Sse] {
            watchers.push(Watcher::open(cluster.node(node), t, "messages", &format!("node {node}")).await);
        }
    }
    let mut ids = Vec::new();
    for round in 0..10 {
        ids.extend(silent.ingest_ids(&spread(&format!("lost {round}"), 2)).await);
        ids.extend(cluster.node(0).ingest_ids(&spread(&format!("sent {round}"), 2)).await);
    }
    assert_same_ids("acknowledged ids", &ids, &(1..=40).collect::<Vec<_>>());
    for w in &mut watchers {
        w.until_messages(40).await;
        assert_same_ids(&w.what, &w.ids, &ids);
    }
    let filled = cluster.node(1).metric("chatpulse_gap_fill_events_total").await;
    assert!(filled >= 20.0, "node 1 filled only {filled} messages from the database");
}

#[actix_rt::test]
async fn one_event_id_sent_to_two_nodes_at_once_is_stored_once() {
    let cluster = TestCluster::builder().nodes(2).start().await;
    for round in 0..30 {
        let m = json!({"channel": "general", "user": "alice", "text": format!("once {round}"), "event_id": format!("e-{round}")});
        let (a, b) = (cluster.node(0).api.clone(), cluster.node(1).api.clone());
        let (ma, mb) = (m.clone(), m.clone());
        let (ra, rb) =
            futures_util::future::join(
                async move { a.post_json(&ma).await },
                async move { b.post_json(&mb).await },
            )
            .await;
        assert_eq!((ra.status, rb.status), (201, 201), "{ra} / {rb}");
        assert_eq!(
            ids_of(&ra.json),
            ids_of(&rb.json),
            "round {round}: both answer the same id"
        );
        assert_eq!(
            ra.json["inserted"].as_i64().unwrap() + rb.json["inserted"].as_i64().unwrap(),
            1
        );
    }
    assert_eq!(cluster.node(1).total_messages().await, 30);
    assert_eq!(cluster.node(0).stored_ids().await, (1..=30).collect::<Vec<_>>());
}

#[actix_rt::test]
async fn three_nodes_started_at_once_on_an_empty_database_share_one_epoch() {
    let cluster = TestCluster::builder().nodes(3).start().await;
    let mut epochs = Vec::new();
    for node in cluster.nodes() {
        let health = node.get_json("/healthz").await;
        assert_eq!(
            (health["database"].as_str(), health["bus"].as_str()),
            (Some("ok"), Some("off")),
            "{health}"
        );
        epochs.push(node.epoch().await);
    }
    assert!(epochs.windows(2).all(|w| w[0] == w[1]), "one epoch: {epochs:?}");
    let ids = cluster.node(2).ingest_ids(&spread("first", 3)).await;
    assert_eq!(ids, vec![1, 2, 3]);
}

/// Two nodes follow one IRC channel: exactly one of them reads it; when it is killed the
/// other takes the channel over within 10 s, and a line both saw is stored once.
#[actix_rt::test]
async fn one_node_reads_each_irc_channel_and_another_takes_it_over_when_it_dies() {
    use std::io::{BufRead, BufReader, Write};
    use std::time::Instant;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("irc://{}", listener.local_addr().unwrap());
    // Each connection that joins #dallas is announced with a way to write to it.
    let (joined_tx, mut joined) = tokio::sync::mpsc::unbounded_channel::<std::sync::mpsc::Sender<String>>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let joined_tx = joined_tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line.trim_end() == "JOIN #dallas" {
                        break;
                    }
                }
                let (tx, rx) = std::sync::mpsc::channel::<String>();
                let _ = joined_tx.send(tx);
                std::thread::spawn(move || while reader.read_line(&mut line).unwrap_or(0) > 0 {});
                for l in rx {
                    if stream.write_all(format!("{l}\r\n").as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let irc_url = url.clone();
    let mut cluster = TestCluster::builder()
        .nodes(2)
        .settings(move |s| s.raw_args(["--irc-server", &irc_url, "--irc-channels", "dallas"]))
        .start()
        .await;
    let first = tokio::time::timeout(WAIT, joined.recv())
        .await
        .expect("one node joins")
        .unwrap();
    // Only one: the other node must not join while the first holds the lease.
    assert!(
        tokio::time::timeout(Duration::from_secs(5), joined.recv())
            .await
            .is_err(),
        "both nodes joined #dallas"
    );
    let channel = cluster.node(0).get_json("/api/irc/channels").await["channels"][0].clone();
    let reader = channel["reader"].as_str().expect("a reader").to_owned();
    let (victim, survivor) = if reader == "node-0" { (0, 1) } else { (1, 0) };
    let line = |n: u32| {
        format!("@id=takeover-{n};tmi-sent-ts=1700000000000 :alice!alice@alice.tmi.twitch.tv PRIVMSG #dallas :line {n}")
    };
    first.send(line(1)).unwrap();
    eventually("the first line stored", WAIT, || async {
        (cluster.node(survivor).total_messages().await == 1).then_some(())
    })
    .await;

    cluster.kill9(victim);
    let killed = Instant::now();
    let second = tokio::time::timeout(Duration::from_secs(15), joined.recv())
        .await
        .expect("the survivor joins")
        .unwrap();
    let takeover = killed.elapsed();
    assert!(takeover < Duration::from_secs(10), "taken over after {takeover:?}");
    // The server replays the first line (as a second reader would see it) and a new one.
    second.send(line(1)).unwrap();
    second.send(line(2)).unwrap();
    let node = cluster.node(survivor);
    eventually("the new line stored", WAIT, || async {
        (node.total_messages().await == 2).then_some(())
    })
    .await;
    let texts: Vec<String> = node.get_json("/api/messages?after_id=0").await["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["line 1", "line 2"], "each line once");
    let channel = node.get_json("/api/irc/channels").await["channels"][0].clone();
    assert_eq!(channel["reader"], format!("node-{survivor}"), "{channel}");
    assert_eq!(node.metric("chatpulse_irc_takeovers_total").await, 1.0);
    assert_eq!(node.metric("chatpulse_irc_channels_read").await, 1.0);
    eprintln!("irc takeover after {takeover:?}");
}

/// A steady stream in a channel while the node reading it is killed: how many lines the
/// takeover misses (IRC keeps no history: a line sent while no node is in the channel is
/// gone), and that none is stored twice. The IRC server is the test's own, sending each
/// line to every connection in the channel, as a real one does (ngircd's flood control
/// would throttle a steady poster).
#[actix_rt::test]
async fn an_irc_takeover_under_a_steady_stream_misses_only_the_seconds_without_a_reader() {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpStream;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    /// One line every this many milliseconds.
    const EVERY_MS: u64 = 20;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("irc://{}", listener.local_addr().unwrap());
    // The connections in #stream; a line goes to each.
    let members: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    {
        let members = members.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let members = members.clone();
                std::thread::spawn(move || {
                    let mut r = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    while r.read_line(&mut line).unwrap_or(0) > 0 {
                        if line.trim_end() == "JOIN #stream" {
                            members.lock().unwrap().push(stream.try_clone().unwrap());
                        }
                        line.clear();
                    }
                });
            }
        });
    }
    let (stop, sent, unheard) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let streamer = {
        let (members, stop, sent, unheard) = (members.clone(), stop.clone(), sent.clone(), unheard.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let n = sent.load(Ordering::SeqCst);
                let line = format!(
                    "@id=stream-{n};tmi-sent-ts=1700000000000 :poster!poster@poster.tmi.twitch.tv PRIVMSG #stream :line {n}\r\n"
                );
                let mut m = members.lock().unwrap();
                m.retain_mut(|s| s.write_all(line.as_bytes()).is_ok());
                if m.is_empty() {
                    unheard.fetch_add(1, Ordering::SeqCst);
                }
                drop(m);
                sent.store(n + 1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(EVERY_MS));
            }
        })
    };
    let irc_url = url.clone();
    let mut cluster = TestCluster::builder()
        .nodes(2)
        .settings(move |s| s.raw_args(["--irc-server", &irc_url, "--irc-channels", "stream"]))
        .start()
        .await;
    // Only the node reading a channel knows it is live in it.
    let reader_of = |node: &TestApp| {
        let node = node.api.clone();
        async move {
            let list = node.get_json("/api/irc/channels").await;
            let c = &list["channels"][0];
            (c["state"] == "live").then(|| c["reader"].as_str().unwrap_or_default().to_owned())
        }
    };
    let reader = eventually("a node live in #stream", WAIT, || async {
        match reader_of(cluster.node(0)).await {
            Some(r) => Some(r),
            None => reader_of(cluster.node(1)).await,
        }
    })
    .await;
    let (victim, survivor) = if reader == "node-0" { (0, 1) } else { (1, 0) };
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    let unheard_before = unheard.load(Ordering::SeqCst);
    cluster.kill9(victim);
    let killed = Instant::now();
    let node = cluster.node(survivor);
    let name = format!("node-{survivor}");
    eventually("the survivor live in #stream", Duration::from_secs(15), || async {
        (reader_of(node).await.as_deref() == Some(name.as_str())).then_some(())
    })
    .await;
    let takeover = killed.elapsed();
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    actix_rt::task::spawn_blocking(move || streamer.join().unwrap())
        .await
        .unwrap();
    let (sent, unheard) = (
        sent.load(Ordering::SeqCst),
        unheard.load(Ordering::SeqCst) - unheard_before,
    );
    actix_rt::time::sleep(Duration::from_millis(500)).await;

    let stored: Vec<u64> = node
        .stored_messages_after(0)
        .await
        .iter()
        .filter(|m| m["channel"] == "stream")
        .map(|m| m["text"].as_str().unwrap().trim_start_matches("line ").parse().unwrap())
        .collect();
    let distinct: std::collections::BTreeSet<u64> = stored.iter().copied().collect();
    assert_eq!(distinct.len(), stored.len(), "a line stored twice");
    let first = *distinct.first().expect("lines stored");
    let missed = (sent - first) - stored.len() as u64;
    eprintln!(
        "irc takeover under a stream: {} lines from the first stored, {} stored, {missed} missed; \
         {unheard} sent while no node was in the channel; takeover after {takeover:?}",
        sent - first,
        stored.len()
    );
    assert!(takeover < Duration::from_secs(10), "taken over after {takeover:?}");
    // What is missed is what nobody was in the channel to hear, and what the killed node
    // had read but not stored: not more than a second of lines beyond the gap.
    assert!(
        missed >= unheard,
        "{missed} missed, fewer than the {unheard} nobody heard"
    );
    assert!(
        missed <= unheard + 1000 / EVERY_MS,
        "{missed} missed, {unheard} unheard"
    );
    assert!(distinct.contains(&(sent - 1)), "the last line is stored");
}

/// The stream model across nodes (PROTOCOL.md section 9): a thread branched on node A, its
/// replies, promotion, an edit and a delete are live for subscribers of the parent, the
/// thread and the workspace on B and C, in cursor order, and every node reads the same log.
#[actix_rt::test]
async fn a_thread_branched_on_one_node_is_live_on_the_others() {
    const SECRET: &str = "nodes-test-secret-0123";
    let redis = RedisServer::start();
    let cluster = TestCluster::builder()
        .nodes(3)
        .bus(redis.url())
        .settings(|s| s.token_secret(SECRET))
        .start()
        .await;
    let (alice, bob) = (user_token(SECRET, "alice", false), user_token(SECRET, "bob", true));
    let a = cluster.node(0);
    let call = |node: &TestApp, method: &'static str, path: String, token: String, body: Value| {
        let api = node.api.clone();
        async move {
            let r = api.request(method, &path, Some(&token), Some(&body)).await;
            assert!(r.status < 300, "{method} {path}: {r}");
            r.json
        }
    };
    let eng = call(
        a,
        "POST",
        "/api/streams".into(),
        alice.clone(),
        json!({"kind": "channel", "name": "eng"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let m = call(
        a,
        "POST",
        format!("/api/streams/{eng}/events"),
        bob.clone(),
        json!({"text": "errors!"}),
    )
    .await;
    let m = m["event_id"].as_i64().unwrap();
    // Subscribed from the cursor seen, as a page does: node 0's post may reach B and C
    // after the subscription, and is then not sent again.
    let epoch = a.epoch().await;
    let mut parents = Vec::new();
    for (node, t) in [(1, Transport::Ws), (2, Transport::Sse)] {
        let mut live = cluster
            .node(node)
            .live(t, &format!("stream/{eng}"), Some(m), Some(&epoch))
            .await;
        live.until_connected(WAIT).await;
        let mut ws = cluster.node(node).live(t, "workspace", Some(m), Some(&epoch)).await;
        ws.until_connected(WAIT).await;
        parents.push((node, live, ws));
    }

    let thread = call(
        a,
        "POST",
        format!("/api/streams/{eng}/thread"),
        alice.clone(),
        json!({"event_id": m}),
    )
    .await;
    let th = thread["id"].as_i64().unwrap();
    for (node, live, _) in &mut parents {
        let seen = live.read_of_type("event", 1, LONG_WAIT).await;
        let started = seen.iter().find(|e| e["type"] == "event").unwrap();
        assert_eq!(
            (
                &started["event_type"],
                &started["thread_stream_id"],
                &started["branched_from_event_id"]
            ),
            (&json!("thread_started"), &json!(th), &json!(m)),
            "node {node}: {seen:?}"
        );
    }
    let started = a.cursor().await;
    let mut threads = Vec::new();
    for (node, t) in [(1, Transport::Sse), (2, Transport::Ws)] {
        let mut live = cluster
            .node(node)
            .live(t, &format!("stream/{th}"), Some(started), Some(&epoch))
            .await;
        live.until_connected(WAIT).await;
        threads.push((node, live));
    }
    let r1 = call(
        a,
        "POST",
        format!("/api/streams/{th}/events"),
        bob.clone(),
        json!({"text": "500s"}),
    )
    .await;
    call(
        a,
        "POST",
        format!("/api/streams/{th}/promote"),
        alice.clone(),
        json!({"kind": "incident", "name": "Outage"}),
    )
    .await;
    let r2 = call(
        a,
        "POST",
        format!("/api/streams/{th}/events"),
        alice.clone(),
        json!({"text": "rollbak"}),
    )
    .await;
    let (r1, r2) = (r1["event_id"].as_i64().unwrap(), r2["event_id"].as_i64().unwrap());
    call(
        a,
        "PATCH",
        format!("/api/streams/{th}/events/{r2}"),
        alice.clone(),
        json!({"text": "rollback"}),
    )
    .await;
    let r = a
        .request("DELETE", &format!("/api/streams/{th}/events/{r1}"), Some(&bob), None)
        .await;
    assert_eq!(r.status, 204, "{r}");

    let log = a.get_json(&format!("/api/streams/{th}/events?after_id=0")).await["events"].clone();
    let log: Vec<Value> = log.as_array().unwrap().clone();
    let cursors = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["type"] == "event")
            .map(|e| e["cursor"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(log.len(), 5, "message, promoted, message, edited, deleted: {log:?}");
    for (node, live) in &mut threads {
        let seen = live.read_of_type("event", log.len(), LONG_WAIT).await;
        assert_eq!(
            cursors(&seen),
            cursors(&log),
            "node {node}: the thread's log, live, in order"
        );
        let other = cluster
            .node(*node)
            .get_json(&format!("/api/streams/{th}/events?after_id=0"))
            .await;
        assert_eq!(
            other["events"].as_array().unwrap(),
            &log,
            "node {node} reads the same log"
        );
    }
    for (node, _, ws) in &mut parents {
        let deadline = std::time::Instant::now() + LONG_WAIT;
        let mut last = Value::Null;
        while !(last["kind"] == "incident" && last["total_events"] == 1) && std::time::Instant::now() < deadline {
            for e in ws.read_for(Duration::from_millis(300)).await {
                if e["stream_id"] == th {
                    last = e;
                }
            }
        }
        assert_eq!(
            (&last["type"], &last["kind"], &last["name"], &last["total_events"]),
            (
                &json!("stream_updated"),
                &json!("incident"),
                &json!("Outage"),
                &json!(1)
            ),
            "node {node}: the workspace view hears of the promotion and the count"
        );
    }
}

/// A live view as the holder of `token` on `node`.
async fn live_as(node: &TestApp, t: Transport, view: &str, token: &str) -> Live {
    let q = format!("{}&token={}", Api::live_query(view, None, None), enc(token));
    let mut live = match t {
        Transport::Ws => Live::Ws(node.ws_connect(&q, None).await.expect("ws")),
        Transport::Sse => Live::Sse(node.sse_connect(&q, &[]).await),
    };
    live.until_connected(WAIT).await;
    live
}

/// Private content made on one node: its people's badges, notifications, read cursors and
/// typing reach them on the other nodes; an outsider there sees none of it.
#[actix_rt::test]
async fn badges_reads_and_typing_cross_nodes_and_private_content_does_not() {
    const SECRET: &str = "nodes-test-secret-0123";
    let redis = RedisServer::start();
    let cluster = TestCluster::builder()
        .nodes(3)
        .bus(redis.url())
        .settings(|s| s.token_secret(SECRET))
        .start()
        .await;
    let [alice, bob, eve] = ["alice", "bob", "eve"].map(|n| user_token(SECRET, n, false));
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let ok = |node: &TestApp, method: &'static str, path: String, token: &str, body: Value| {
        let (api, token) = (node.api.clone(), token.to_owned());
        async move {
            let body = (!body.is_null()).then_some(body);
            let r = api.request(method, &path, Some(&token), body.as_ref()).await;
            assert!(r.status < 300, "{method} {path}: {r}");
            r.json
        }
    };
    let ch = ok(
        a,
        "POST",
        "/api/streams".into(),
        &alice,
        json!({"kind": "channel", "name": "vaultplans", "visibility": "private"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    ok(
        a,
        "POST",
        format!("/api/streams/{ch}/members"),
        &alice,
        json!({"user": "bob"}),
    )
    .await;
    let mut bob_workspace = live_as(b, Transport::Ws, "workspace", &bob).await;
    let mut bob_me = live_as(b, Transport::Sse, "me", &bob).await;
    let mut bob_stream = live_as(c, Transport::Sse, &format!("stream/{ch}"), &bob).await;
    let mut alice_stream = live_as(a, Transport::Ws, &format!("stream/{ch}"), &alice).await;
    let mut eve_views = Vec::new();
    for view in ["messages", "workspace", "me", "home"] {
        eve_views.push(live_as(c, Transport::Ws, view, &eve).await);
    }

    let mut last = 0;
    for i in 0..5 {
        let text = if i == 2 {
            "vaulttext @bob".to_owned()
        } else {
            format!("vaulttext {i}")
        };
        last = ok(
            a,
            "POST",
            format!("/api/streams/{ch}/events"),
            &alice,
            json!({"text": text}),
        )
        .await["event_id"]
            .as_i64()
            .unwrap();
    }
    let badge = |events: &[Value]| {
        events
            .iter()
            .rfind(|e| e["type"] == "unread" && e["stream_id"] == ch)
            .map(|e| {
                (
                    e["unread_count"].as_i64().unwrap(),
                    e["mention_count"].as_i64().unwrap(),
                )
            })
    };
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + LONG_WAIT;
    while badge(&seen) != Some((5, 1)) && std::time::Instant::now() < deadline {
        seen.extend(bob_workspace.read_for(Duration::from_millis(200)).await);
    }
    assert_eq!(badge(&seen), Some((5, 1)), "node 1's workspace: {seen:?}");
    let notes = bob_me.read_of_type("notification", 1, LONG_WAIT).await;
    assert!(notes
        .iter()
        .any(|e| e["type"] == "notification" && e["stream_id"] == ch));

    // Bob reads on node 2: node 1 hears it.
    ok(
        c,
        "POST",
        format!("/api/streams/{ch}/read"),
        &bob,
        json!({"event_id": last}),
    )
    .await;
    let reads = bob_me.read_of_type("read_cursor", 1, LONG_WAIT).await;
    assert!(reads
        .iter()
        .any(|e| e["type"] == "read_cursor" && e["last_read_event_id"] == last));
    let deadline = std::time::Instant::now() + LONG_WAIT;
    while badge(&seen) != Some((0, 0)) && std::time::Instant::now() < deadline {
        seen.extend(bob_workspace.read_for(Duration::from_millis(200)).await);
    }
    assert_eq!(badge(&seen), Some((0, 0)), "cleared on node 1: {seen:?}");

    // Alice types on node 0; bob sees it on node 2.
    alice_stream
        .ws_mut()
        .send_text(&json!({"type": "typing", "stream_id": ch}).to_string())
        .await;
    let typing = bob_stream.read_of_type("typing", 1, LONG_WAIT).await;
    assert!(typing.iter().any(|e| e["type"] == "typing" && e["user"] == "alice"));

    // A public sentinel: once eve's views on node 2 have it, they had every chance.
    let pub_id = ok(
        a,
        "POST",
        "/api/streams".into(),
        &alice,
        json!({"kind": "channel", "name": "lobby"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    ok(
        a,
        "POST",
        format!("/api/streams/{pub_id}/events"),
        &alice,
        json!({"text": "sentinel"}),
    )
    .await;
    let seen_messages = eve_views[0].read_messages(1, LONG_WAIT).await;
    for (i, live) in eve_views.iter_mut().enumerate() {
        let mut events = live.read_for(Duration::from_millis(500)).await;
        if i == 0 {
            events.extend(seen_messages.clone());
        }
        let text = serde_json::to_string(&events).unwrap();
        assert!(!text.contains("vault"), "eve's view {i} on node 2: {text}");
        assert!(
            events.iter().all(|e| e["stream_id"] != ch && e["channel_id"] != ch),
            "{text}"
        );
    }
}

/// Issue 17: people vote at once on every node; every node's tally is exact, and a stream
/// view on each node ends on the exact tally, merged (far fewer envelopes than votes).
#[actix_rt::test]
async fn votes_on_every_node_give_one_exact_tally_everywhere() {
    const SECRET: &str = "nodes-test-secret-0123";
    let redis = RedisServer::start();
    let cluster = TestCluster::builder()
        .nodes(2)
        .bus(redis.url())
        .settings(|s| s.token_secret(SECRET))
        .start()
        .await;
    let alice = user_token(SECRET, "alice", false);
    let a = cluster.node(0);
    let r = a
        .request(
            "POST",
            "/api/streams",
            Some(&alice),
            Some(&json!({"kind": "channel", "name": "release"})),
        )
        .await;
    let stream = r.json["id"].as_i64().unwrap();
    let r = a
        .request(
            "POST",
            &format!("/api/streams/{stream}/polls"),
            Some(&alice),
            Some(&json!({"question": "Roll back now?", "options": ["yes", "no", "wait"], "multiple": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{r}");
    let poll = r.json["event_id"].as_i64().unwrap();
    let mut views = Vec::new();
    for node in cluster.nodes() {
        let mut l = node.ws(&format!("stream/{stream}"), None, None).await;
        l.until_connected(WAIT).await;
        views.push(l);
    }
    // 24 people, each votes five times on alternating nodes; their last choice counts.
    let mut expected = [0i64; 3];
    let mut tasks = Vec::new();
    for i in 0..24usize {
        let token = user_token(SECRET, &format!("p{i:02}"), false);
        let last: Vec<usize> = if i % 4 == 0 { vec![0, 2] } else { vec![i % 3] };
        for o in &last {
            expected[*o] += 1;
        }
        let apis: Vec<Api> = cluster.nodes().iter().map(|n| n.api.clone()).collect();
        tasks.push(actix_rt::spawn(async move {
            for round in 0..5usize {
                let choice = if round == 4 {
                    last.clone()
                } else {
                    vec![(i + round) % 3]
                };
                let r = apis[(i + round) % 2]
                    .request(
                        "POST",
                        &format!("/api/streams/{stream}/polls/{poll}/vote"),
                        Some(&token),
                        Some(&json!({ "options": choice })),
                    )
                    .await;
                assert_eq!(r.status, 200, "{r}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The last vote on node 0: node 1 learns it over the bus only.
    let p01 = user_token(SECRET, "p01", false);
    let r = a
        .request(
            "POST",
            &format!("/api/streams/{stream}/polls/{poll}/vote"),
            Some(&p01),
            Some(&json!({"options": [2]})),
        )
        .await;
    assert_eq!(r.status, 200, "{r}");
    expected[1] -= 1;
    expected[2] += 1;
    let counts = |v: &Value| -> Vec<i64> {
        v["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_i64().unwrap())
            .collect()
    };
    for (n, node) in cluster.nodes().iter().enumerate() {
        let read = node.get_json(&format!("/api/streams/{stream}/polls/{poll}")).await;
        assert_eq!(
            (counts(&read), &read["voters"]),
            (expected.to_vec(), &json!(24)),
            "node {n}: {read}"
        );
    }
    for (n, view) in views.iter_mut().enumerate() {
        let mut seen = 0;
        loop {
            let events = view.read_of_type("poll_tally", 1, LONG_WAIT).await;
            let tally = events.iter().rev().find(|e| e["type"] == "poll_tally").unwrap();
            seen += 1;
            if counts(tally) == expected {
                break;
            }
        }
        assert!(seen < 120, "node {n}: {seen} tallies for 120 votes");
    }
}

//! IRC ingest (issue 15) against a scripted Twitch-like server on loopback: the server
//! process connects to it, and every line the script writes is checked in what the API
//! then answers.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::json;

use crate::common::*;

/// What the client sent on one connection, up to and including its JOIN.
fn accept_until_joined(listener: &TcpListener) -> (TcpStream, BufReader<TcpStream>, Vec<String>) {
    let (stream, _) = listener.accept().expect("chatpulse connects");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut sent = Vec::new();
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "closed before JOIN: {sent:?}");
        let line = line.trim_end().to_owned();
        let joined = line.starts_with("JOIN ");
        sent.push(line);
        if joined {
            return (stream, reader, sent);
        }
    }
}

fn write_lines(stream: &mut TcpStream, lines: &[&str]) {
    for l in lines {
        stream.write_all(format!("{l}\r\n").as_bytes()).unwrap();
    }
}

const A1: &str = "@badge-info=;badges=broadcaster/1;color=#FF0000;display-name=Alice\\sA;emotes=25:0-4;id=11111111-aaaa-4bbb-8ccc-000000000001;\
                  mod=0;room-id=1337;subscriber=0;tmi-sent-ts=1700000000123;turbo=0;user-id=42;user-type= \
                  :alice!alice@alice.tmi.twitch.tv PRIVMSG #dallas :Kappa hello chat";
const A2: &str = "@display-name=Bob;id=11111111-aaaa-4bbb-8ccc-000000000002;tmi-sent-ts=1700000001000 \
                  :bob!bob@bob.tmi.twitch.tv PRIVMSG #dallas :second line";
const A3: &str = "@display-name=Carol;id=11111111-aaaa-4bbb-8ccc-000000000003;tmi-sent-ts=1700000002000 \
                  :carol!carol@carol.tmi.twitch.tv PRIVMSG #dallas :after the drop";
const SUB: &str = "@id=11111111-aaaa-4bbb-8ccc-000000000004;login=dave;display-name=Dave;msg-id=sub;\
                   system-msg=Dave\\ssubscribed\\sat\\sTier\\s1.;tmi-sent-ts=1700000000500 \
                   :tmi.twitch.tv USERNOTICE #dallas :first sub!";
const CLEARCHAT: &str = "@ban-duration=600;room-id=1337;target-user-id=99;tmi-sent-ts=1700000000950 \
                         :tmi.twitch.tv CLEARCHAT #dallas :spammer";
const SPAM: &str = "@display-name=Mallory;id=11111111-aaaa-4bbb-8ccc-000000000005;tmi-sent-ts=1700000000800 \
                    :mallory!mallory@mallory.tmi.twitch.tv PRIVMSG #dallas :buy followers";
const CLEARMSG: &str = "@login=mallory;target-msg-id=11111111-aaaa-4bbb-8ccc-000000000005;tmi-sent-ts=1700000000900 \
                        :tmi.twitch.tv CLEARMSG #dallas :buy followers";

#[actix_rt::test]
async fn irc_lines_are_stored_exactly_and_reconnects_repeat_and_lose_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("irc://{}", listener.local_addr().unwrap());
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (seen_tx, seen_rx) = mpsc::channel::<Vec<String>>();
    let script = thread::spawn(move || {
        // First connection: chat lines, a malformed line, a PING, then RECONNECT.
        let (mut s, mut r, sent) = accept_until_joined(&listener);
        seen_tx.send(sent).unwrap();
        write_lines(
            &mut s,
            &[
                ":tmi.twitch.tv 001 justinfan1 :Welcome, GLHF!",
                A1,
                SUB,
                SPAM,
                CLEARMSG,
                CLEARCHAT,
                ":::",
                "PING :tmi.twitch.tv",
            ],
        );
        let mut pong = String::new();
        r.read_line(&mut pong).unwrap();
        seen_tx.send(vec![pong.trim_end().to_owned()]).unwrap();
        write_lines(&mut s, &[":tmi.twitch.tv RECONNECT"]);
        drop((s, r));
        // Second: the same first line again (a replay), a new one, then the socket drops.
        let (mut s, r, _) = accept_until_joined(&listener);
        write_lines(&mut s, &[A1, A2]);
        thread::sleep(Duration::from_millis(300));
        drop((s, r));
        // Third, after the reconnect's backoff: one more line; kept open until the test ends.
        let (mut s, _r, _) = accept_until_joined(&listener);
        write_lines(&mut s, &[A3]);
        let _ = done_rx.recv_timeout(LONG_WAIT);
    });
    let app = TestApp::builder()
        .raw_args(["--irc-server", &server, "--irc-channels", "#Dallas"])
        .start()
        .await;

    let (hello, seen_rx) = actix_rt::task::spawn_blocking(move || (seen_rx.recv_timeout(WAIT), seen_rx))
        .await
        .unwrap();
    let hello = hello.expect("the client joined");
    assert_eq!(
        hello.first().map(String::as_str),
        Some("CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership"),
        "{hello:?}"
    );
    assert!(
        hello.iter().any(|l| l.starts_with("NICK justinfan")),
        "anonymous login: {hello:?}"
    );
    assert_eq!(hello.last().map(String::as_str), Some("JOIN #dallas"), "{hello:?}");

    // Seven stored; the CLEARMSG deleted the spam once its record was committed.
    eventually("all seven IRC messages stored, one of them deleted", WAIT, || async {
        // Until the first line is stored, #dallas (stream 1) does not exist: 404.
        let log = app.get("/api/streams/1/events?after_id=0").await;
        let stored = log.json["events"].as_array().map_or(0, Vec::len);
        (stored == 8 && app.total_messages().await == 6).then_some(())
    })
    .await;
    let log = app.get_json("/api/streams/1/events?after_id=0").await["events"].clone();
    let spam = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["deleted"] == true)
        .expect("the spam, deleted");
    let deleted = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "event_deleted")
        .unwrap();
    assert_eq!(
        (&deleted["target_event_id"], &deleted["actor"]),
        (&spam["event_id"], &json!("tmi.twitch.tv"))
    );
    assert!(spam.get("text").is_none(), "{spam}");
    let pong = actix_rt::task::spawn_blocking(move || seen_rx.recv_timeout(WAIT).unwrap())
        .await
        .unwrap();
    assert_eq!(pong, ["PONG :tmi.twitch.tv"]);

    let messages = app.get_json("/api/messages?channel=dallas&after_id=0").await["messages"].clone();
    let by_event: Vec<(&str, &str)> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user"].as_str().unwrap(), m["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        by_event,
        [
            ("alice", "Kappa hello chat"),
            ("dave", "Dave subscribed at Tier 1. first sub!"),
            ("tmi.twitch.tv", "a message by mallory was deleted: buy followers"),
            (
                "tmi.twitch.tv",
                "spammer was timed out for 600 s; their messages were cleared"
            ),
            ("bob", "second line"),
            ("carol", "after the drop"),
        ],
        "each line once, in order: the replayed first line was not stored again"
    );
    let a1 = &messages[0];
    assert_eq!(a1["channel"], "dallas");
    assert_eq!(a1["display_name"], "Alice A");
    assert_eq!(a1["sent_at"], "2023-11-14T22:13:20.123Z");
    assert_eq!(
        a1["tags"],
        json!({"badge-info": "", "badges": "broadcaster/1", "color": "#FF0000", "emotes": "25:0-4", "mod": "0",
               "room-id": "1337", "subscriber": "0", "turbo": "0", "user-id": "42", "user-type": ""})
    );
    assert_eq!(messages[1]["tags"]["msg-id"], "sub");
    assert_eq!(messages[2]["tags"]["irc_command"], "CLEARMSG");
    assert_eq!(
        messages[2]["tags"]["target-msg-id"],
        "11111111-aaaa-4bbb-8ccc-000000000005"
    );
    assert_eq!(messages[3]["tags"]["irc_command"], "CLEARCHAT");
    assert_eq!(messages[3]["tags"]["target-user-id"], "99");
    assert_eq!(messages[3]["sent_at"], "2023-11-14T22:13:20.950Z");
    assert_eq!(app.metric("chatpulse_irc_lines_total{kind=\"malformed\"}").await, 1.0);
    assert_eq!(
        app.metric("chatpulse_irc_lines_total{kind=\"message\"}").await,
        5.0,
        "A1 twice, the spam, A2, A3"
    );
    assert_eq!(
        app.metric("chatpulse_irc_reconnects_total{reason=\"reconnect_command\"}")
            .await,
        1.0
    );
    assert_eq!(
        app.metric("chatpulse_irc_reconnects_total{reason=\"closed\"}").await,
        1.0
    );
    assert_eq!(app.metric("chatpulse_irc_connected").await, 1.0);
    done_tx.send(()).unwrap();
    actix_rt::task::spawn_blocking(move || script.join().unwrap())
        .await
        .unwrap();
}

/// The flags are checked before anything starts.
#[actix_rt::test]
async fn irc_settings_are_checked_at_start() {
    for (args, says) in [
        (vec!["--irc-channels", "no spaces"], "not a channel name"),
        (vec!["--irc-server", "http://x", "--irc-channels", "a"], "irc://host"),
        (vec!["--irc-token", "t", "--irc-channels", "a"], "--irc-nick"),
    ] {
        let out = std::process::Command::new(server_bin())
            .args(&args)
            .output()
            .expect("the server runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// A scripted IRC server: what the clients send arrives on `received`, what the test sends
/// on `send` is written to the newest connection.
struct ScriptedServer {
    url: String,
    received: tokio::sync::mpsc::UnboundedReceiver<String>,
    send: std::sync::mpsc::Sender<String>,
}

impl ScriptedServer {
    fn start() -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("irc://{}", listener.local_addr().unwrap());
        let (received_tx, received) = tokio::sync::mpsc::unbounded_channel();
        let (send, send_rx) = mpsc::channel::<String>();
        let newest = std::sync::Arc::new(std::sync::Mutex::new(None::<TcpStream>));
        let writer = newest.clone();
        thread::spawn(move || {
            for line in send_rx {
                if let Some(stream) = writer.lock().unwrap().as_mut() {
                    let _ = stream.write_all(format!("{line}\r\n").as_bytes());
                }
            }
        });
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let reader = BufReader::new(stream.try_clone().unwrap());
                *newest.lock().unwrap() = Some(stream);
                let received_tx = received_tx.clone();
                thread::spawn(move || {
                    for line in reader.lines() {
                        let Ok(line) = line else { break };
                        if received_tx.send(line).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        ScriptedServer { url, received, send }
    }

    /// The next line the client sent that `pred` accepts (skipping others).
    async fn expect(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.received.recv()).await {
                Ok(Some(line)) if pred(&line) => return line,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the client closed the connection before {what}"),
                Err(_) => panic!("no {what} within {WAIT:?}"),
            }
        }
    }

    fn write(&self, line: &str) {
        self.send.send(line.to_owned()).unwrap();
    }
}

async fn irc_state(app: &TestApp, name: &str) -> serde_json::Value {
    let list = app.get_json("/api/irc/channels").await;
    list["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

/// POST /api/irc/channels, with the test's token or without.
async fn follow_on(app: &TestApp, body: serde_json::Value, auth: bool) -> (u16, serde_json::Value) {
    let client = awc::Client::default();
    let mut req = client.post(app.api.url("/api/irc/channels"));
    if auth {
        req = req.insert_header(("Authorization", "Bearer t0ken"));
    }
    let mut res = req.send_json(&body).await.unwrap();
    let json: serde_json::Value = res.json().await.unwrap_or_default();
    (res.status().as_u16(), json)
}

#[actix_rt::test]
async fn channels_are_followed_paused_and_unfollowed_through_the_api_while_lines_flow() {
    let mut irc = ScriptedServer::start();
    let mut app = TestApp::builder()
        .ingest_token("t0ken")
        .raw_args(["--irc-server", &irc.url])
        .start()
        .await;
    let auth = [("Authorization", "Bearer t0ken")];
    let list = app.get_json("/api/irc/channels").await;
    assert_eq!(list["channels"], json!([]), "{list}");
    assert_eq!(list["server"], irc.url.as_str());

    // Changes need the token; a bad name is refused and changes nothing.
    assert_eq!(follow_on(&app, json!({"name": "dallas"}), false).await.0, 401);
    let (status, body) = follow_on(&app, json!({"name": "no spaces"}), true).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_parameter")),
        "{body}"
    );
    assert_eq!(app.get_json("/api/irc/channels").await["channels"], json!([]));

    let (status, body) = follow_on(&app, json!({"name": "#Dallas"}), true).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["name"].as_str(), body["paused"].as_bool()),
        (Some("dallas"), Some(false))
    );
    let nick = irc.expect("NICK", |l| l.starts_with("NICK ")).await["NICK ".len()..].to_owned();
    irc.expect("JOIN #dallas", |l| l == "JOIN #dallas").await;
    irc.write(&format!(":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #dallas"));
    irc.write(A1);
    eventually("the channel live, its line stored", WAIT, || async {
        let c = irc_state(&app, "dallas").await;
        (c["state"] == "live" && app.total_messages().await == 1).then_some(c)
    })
    .await;
    let c = irc_state(&app, "dallas").await;
    assert!(c["messages_per_second"].as_f64().unwrap() > 0.0, "{c}");
    assert_eq!(c["last_message_at"].as_str().map(str::len), Some(24), "{c}");
    assert!(c["reader"].is_string(), "{c}");

    // A second channel joins at once (well under the join limit); a refused one says why.
    assert_eq!(follow_on(&app, json!({"name": "rust"}), true).await.0, 201);
    irc.expect("JOIN #rust", |l| l == "JOIN #rust").await;
    assert_eq!(follow_on(&app, json!({"name": "gone"}), true).await.0, 201);
    irc.expect("JOIN #gone", |l| l == "JOIN #gone").await;
    irc.write(
        "@msg-id=msg_channel_suspended :tmi.twitch.tv NOTICE #gone :This channel does not exist or has been suspended.",
    );
    let gone = eventually("the refused channel failed", WAIT, || async {
        let c = irc_state(&app, "gone").await;
        (c["state"] == "failed").then_some(c)
    })
    .await;
    assert_eq!(gone["reason"], "This channel does not exist or has been suspended.");

    // Pausing parts the channel and keeps it followed; resuming joins it again.
    let (status, body) = follow_on(&app, json!({"name": "dallas", "paused": true}), true).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("paused")), "{body}");
    irc.expect("PART #dallas", |l| l == "PART #dallas").await;
    assert_eq!(follow_on(&app, json!({"name": "dallas"}), true).await.0, 200);
    irc.expect("JOIN #dallas again", |l| l == "JOIN #dallas").await;

    // The followed channels are stored: a restart keeps them (and their paused flags).
    assert_eq!(
        follow_on(&app, json!({"name": "rust", "paused": true}), true).await.0,
        200
    );
    irc.expect("PART #rust", |l| l == "PART #rust").await;
    let before = app.get_json("/api/irc/channels").await["channels"].clone();
    app.restart().await;
    irc.expect("the restarted server joining #dallas", |l| l == "JOIN #dallas,#gone")
        .await;
    let after = app.get_json("/api/irc/channels").await["channels"].clone();
    let names_and_paused = |list: &serde_json::Value| -> Vec<(String, bool)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap().to_owned(), c["paused"].as_bool().unwrap()))
            .collect()
    };
    assert_eq!(names_and_paused(&after), names_and_paused(&before));
    assert_eq!(
        names_and_paused(&after),
        [("dallas".into(), false), ("gone".into(), false), ("rust".into(), true)]
    );

    // Unfollowing parts; the last one gone, the connection is closed.
    let client = awc::Client::default();
    for name in ["gone", "rust", "dallas"] {
        let res = client
            .delete(app.api.url(&format!("/api/irc/channels/{name}")))
            .insert_header(auth[0])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 204, "DELETE {name}");
    }
    irc.expect("QUIT", |l| l == "QUIT").await;
    let res = client
        .delete(app.api.url("/api/irc/channels/dallas"))
        .insert_header(auth[0])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    assert_eq!(app.get_json("/api/irc/channels").await["channels"], json!([]));
    assert_eq!(app.total_messages().await, 1);
}

/// A real IRC server (Debian's ngircd) on loopback: chatpulse joins, a second client's
/// PRIVMSGs are stored and reach a live view of the channel.
#[actix_rt::test]
async fn a_real_irc_server_lines_are_stored_and_live() {
    let ircd = IrcdServer::start();
    let app = TestApp::builder()
        .raw_args(["--irc-server", &ircd.url(), "--irc-channels", "chatroom"])
        .start()
        .await;
    let mut live = app.ws("channel/chatroom", None, None).await;
    live.until_connected(WAIT).await;
    eventually("chatpulse in #chatroom", WAIT, || async {
        (irc_state(&app, "chatroom").await["state"] == "live").then_some(())
    })
    .await;

    let port = ircd.port();
    let poster = actix_rt::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        s.write_all(b"NICK poster\r\nUSER poster 0 * :A Poster\r\nJOIN #chatroom\r\n")
            .unwrap();
        let mut line = String::new();
        // Joined once the server names the channel's members (353/366).
        loop {
            line.clear();
            assert!(r.read_line(&mut line).unwrap() > 0, "ngircd closed the poster");
            if line.contains(" 366 ") {
                break;
            }
        }
        s.write_all(b"PRIVMSG #chatroom :hello from a real server\r\nPRIVMSG #chatroom :\x01ACTION waves\x01\r\n")
            .unwrap();
        s
    })
    .await
    .unwrap();
    let got = live.read_messages(2, WAIT).await;
    let texts: Vec<&str> = got.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hello from a real server", "waves"], "{got:?}");
    assert_eq!(got[0]["user"], "poster");
    assert_eq!(got[0]["channel"], "chatroom");
    let stored = app.get_json("/api/messages?channel=chatroom&after_id=0").await;
    assert_eq!(stored["messages"][1]["tags"]["action"], "1", "{stored}");
    assert_eq!(app.total_messages().await, 2);
    drop(poster);
}

//! Synthetic chat for `--demo`: a few channels, a long tail of users, quiet spells and
//! bursts, fed through the same validation and ingest actor as `POST /api/messages`.
use std::time::Duration;

use actix::Addr;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::validate::{parse_body, BodyFormat};
use super::{Ingest, IngestActor, Operate};
use crate::store::{Actor, ChannelId, MessageId, OpOutcome, StreamKind, StreamOp, StreamStatus};

const CHANNELS: &[&str] = &[
    "general",
    "random",
    "rust",
    "gaming",
    "music",
    "support",
    "announcements",
    "offtopic",
];
const WORDS: &[&str] = &[
    "hello", "anyone", "here", "what", "a", "great", "stream", "today", "lol", "gg", "that", "was", "close", "nice",
    "play", "did", "you", "see", "the", "last", "round", "rust", "compiler", "is", "happy", "again", "music", "loud",
    "please", "help", "how", "do", "I", "reset", "my", "settings", "thanks", "pog", "wow", "new", "record", "chat",
    "fast",
];
/// How many distinct users the demo invents; activity falls off steeply with rank.
const USERS: u32 = 2000;
const TICK: Duration = Duration::from_millis(100);

pub fn start(ingest: Addr<IngestActor>) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut rng = SmallRng::from_os_rng();
        let mut burst_left = 0u32;
        loop {
            actix_web::rt::time::sleep(TICK).await;
            if burst_left == 0 && rng.random_ratio(1, 150) {
                burst_left = rng.random_range(10..40);
            }
            let per_tick = if burst_left > 0 {
                burst_left -= 1;
                rng.random_range(20..80)
            } else {
                rng.random_range(0..6)
            };
            if per_tick == 0 {
                continue;
            }
            let batch: Vec<serde_json::Value> = (0..per_tick).map(|_| message(&mut rng)).collect();
            let body = serde_json::to_vec(&batch).expect("demo messages serialize");
            let Ok(messages) = parse_body(&body, BodyFormat::Json, usize::MAX) else {
                continue;
            };
            if let Ok(Ok(answer)) = ingest.send(Ingest(messages)).await {
                let _ = answer.await;
            }
        }
    })
}

fn message(rng: &mut SmallRng) -> serde_json::Value {
    // A Zipf-like rank: the first few users write most of the messages.
    let rank = ((USERS as f64).powf(rng.random::<f64>()) as u32).clamp(1, USERS);
    let channel = CHANNELS[((CHANNELS.len() as f64).powf(rng.random::<f64>()) as usize).min(CHANNELS.len()) - 1];
    let n = rng.random_range(1..14);
    let text: Vec<&str> = (0..n).map(|_| WORDS[rng.random_range(0..WORDS.len())]).collect();
    serde_json::json!({
        "channel": channel,
        "user": format!("viewer{rank}"),
        "display_name": format!("Viewer {rank}"),
        "text": text.join(" "),
    })
}

/// How long the demo's story waits between its steps, and between two tellings.
const STORY_STEP: Duration = Duration::from_millis(1500);
const STORY_PAUSE: Duration = Duration::from_secs(20);

/// The stream model moving, for `--demo` (PROTOCOL.md section 9): again and again, the seed
/// story in #engineering — a deploy, errors, a thread, replies, the thread promoted to an
/// incident, a typo edited, a message deleted, the incident resolved and shared back.
pub fn start_story(ingest: Addr<IngestActor>) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        // #engineering, or a fresh name where a database given to the demo has one.
        let mut eng = None;
        for name in [
            "engineering".to_owned(),
            format!("engineering-{}", rand::random::<u16>()),
        ] {
            let create = StreamOp::Create {
                kind: StreamKind::Channel,
                name,
                description: Some("Where deploys and their aftermath are discussed".into()),
                private: false,
                members: Vec::new(),
            };
            if let Ok(done) = change(&ingest, "alice", create).await {
                eng = Some(done.stream);
                break;
            }
        }
        let Some(eng) = eng else {
            return log::warn!("demo story: no channel could be created");
        };
        // The visitor the demo signs in is in the story: a member of #engineering, of a
        // private channel, and in a DM with alice, so their badges and mentions move.
        let people = match people(&ingest, eng).await {
            Ok(p) => p,
            Err(e) => return log::warn!("demo story: the visitor's streams were refused: {e}"),
        };
        let mut telling = 1u32;
        loop {
            if let Err(e) = tell(&ingest, eng, telling).await {
                log::warn!("demo story step refused: {e}");
            }
            if let Err(e) = tell_visitor(&ingest, people, telling).await {
                log::warn!("demo story step refused: {e}");
            }
            telling += 1;
            actix_web::rt::time::sleep(STORY_PAUSE).await;
        }
    })
}

/// The name the demo's sign-in link is for.
pub const VISITOR: &str = "visitor";

/// The visitor's private streams: a private channel and a DM with alice.
#[derive(Clone, Copy)]
struct Visitor {
    core: ChannelId,
    dm: ChannelId,
}

async fn people(ingest: &Addr<IngestActor>, eng: ChannelId) -> Result<Visitor, String> {
    let add = |stream, user: &str| StreamOp::AddMember {
        stream,
        user: user.to_owned(),
    };
    change(ingest, "alice", add(eng, VISITOR)).await?;
    let core = StreamOp::Create {
        kind: StreamKind::Channel,
        name: "core-team".into(),
        description: Some("On-call handovers (private)".into()),
        private: true,
        members: Vec::new(),
    };
    let core = change(ingest, "alice", core).await?.stream;
    change(ingest, "alice", add(core, "bob")).await?;
    change(ingest, "alice", add(core, VISITOR)).await?;
    let dm = StreamOp::Create {
        kind: StreamKind::Dm,
        name: String::new(),
        description: None,
        private: true,
        members: vec![VISITOR.to_owned()],
    };
    let dm = change(ingest, "alice", dm).await?.stream;
    Ok(Visitor { core, dm })
}

/// The visitor's part of one telling: a DM and a mention in the private channel.
async fn tell_visitor(ingest: &Addr<IngestActor>, v: Visitor, n: u32) -> Result<(), String> {
    say(
        ingest,
        "bob",
        v.core,
        &format!("Handover #{n}: @{VISITOR} has the pager tonight"),
    )
    .await?;
    say(ingest, "alice", v.dm, "Can you keep an eye on the checkout graphs?").await?;
    say(ingest, "bob", v.core, "Nothing else pending").await?;
    Ok(())
}

/// One change through the ingest actor, as the stream API makes it.
async fn change(ingest: &Addr<IngestActor>, who: &str, op: StreamOp) -> Result<OpOutcome, String> {
    actix_web::rt::time::sleep(STORY_STEP).await;
    let actor = Actor {
        name: who.to_owned(),
        admin: false,
    };
    let answer = ingest
        .send(Operate(actor, op))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{e:?}"))?;
    answer.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
}

async fn say(ingest: &Addr<IngestActor>, who: &str, stream: ChannelId, text: &str) -> Result<MessageId, String> {
    let op = StreamOp::Post {
        stream,
        text: text.to_owned(),
        client_temp_id: None,
        event_id: None,
    };
    change(ingest, who, op).await?.event.ok_or_else(|| "no event".into())
}

async fn tell(ingest: &Addr<IngestActor>, eng: ChannelId, n: u32) -> Result<(), String> {
    say(ingest, "alice", eng, "Deploy went out").await?;
    let errors = say(ingest, "bob", eng, "Seeing errors in Sentry").await?;
    let thread = change(
        ingest,
        "alice",
        StreamOp::Thread {
            stream: eng,
            event: errors,
        },
    )
    .await?
    .stream;
    say(ingest, "alice", thread, "What errors?").await?;
    say(ingest, "bob", thread, "500s on checkout").await?;
    let outage = say(ingest, "carol", thread, "This is an outage! @alice").await?;
    let promote = StreamOp::Promote {
        stream: thread,
        kind: StreamKind::Incident,
        name: format!("Checkout Outage #{n}"),
    };
    change(ingest, "alice", promote).await?;
    let cause = say(ingest, "bob", thread, "Root cause: DB pool exhausted").await?;
    let typo = say(ingest, "alice", thread, "Mitigation deployd").await?;
    let edit = StreamOp::Edit {
        stream: thread,
        event: typo,
        text: "Mitigation deployed".into(),
    };
    change(ingest, "alice", edit).await?;
    let noise = say(ingest, "carol", thread, "wrong window, sorry").await?;
    change(
        ingest,
        "carol",
        StreamOp::Delete {
            stream: thread,
            event: noise,
        },
    )
    .await?;
    let resolve = StreamOp::Update {
        stream: thread,
        name: None,
        description: None,
        status: Some(StreamStatus::Resolved),
    };
    change(ingest, "alice", resolve).await?;
    let share = StreamOp::Share {
        stream: eng,
        event: outage,
        context: Some(format!("Postmortem of Checkout Outage #{n}: see event {cause}")),
    };
    change(ingest, "bob", share).await?;
    Ok(())
}

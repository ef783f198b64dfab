//! Synthetic chat for `--demo`: a few channels, a long tail of users, quiet spells and
//! bursts, fed through the same validation and ingest actor as `POST /api/messages`.
use std::time::Duration;

use actix::Addr;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::validate::{parse_body, BodyFormat};
use super::{Ingest, IngestActor};

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

//! Many writers and many subscribers at once: everyone sees the one order.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

const WRITERS: usize = 8;
const REQUESTS_PER_WRITER: usize = 25;
const MESSAGES_PER_REQUEST: usize = 12;
const SUBSCRIBERS: usize = 50;

#[actix_rt::test]
async fn eight_writers_fifty_subscribers_one_order() {
    let app = TestApp::builder().catchup_batch(50).start().await;
    app.ingest(&numbered("general", "alice", "before", 100)).await;
    let epoch = app.epoch().await;
    let c0 = app.cursor().await;
    let total = WRITERS * REQUESTS_PER_WRITER * MESSAGES_PER_REQUEST;

    // Subscribers connect while the writers run; all start from c0, so late
    // ones catch up and switch to live in the middle of the traffic.
    let mut subscribers = Vec::new();
    for s in 0..SUBSCRIBERS {
        let api = app.api.clone();
        let epoch = epoch.clone();
        subscribers.push(actix_rt::spawn(async move {
            let (t, view) = match s % 4 {
                0 => (Transport::Ws, "messages"),
                1 => (Transport::Sse, "messages"),
                2 => (Transport::Ws, "home"),
                _ => (Transport::Sse, "home"),
            };
            // Spread the connects over the write phase.
            actix_rt::time::sleep(Duration::from_millis((s as u64 % 10) * 30)).await;
            let mut live = api.live(t, view, Some(c0), Some(&epoch)).await;
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut ids = Vec::new();
            while ids.len() < total {
                let left = deadline.saturating_duration_since(Instant::now());
                match live.next(left).await {
                    Next::Event(e) if is_message(&e) => ids.push(mid(&e)),
                    Next::Event(e) if matches!(state_of(&e), Some("error" | "fallback" | "reconnecting")) => {
                        panic!("subscriber {s} ({t} {view}): {e} after {} messages", ids.len())
                    }
                    Next::Event(_) => {}
                    other => panic!(
                        "subscriber {s} ({t} {view}): {other:?} after {} of {total} messages",
                        ids.len()
                    ),
                }
            }
            // Anything more would be a duplicate.
            let extra = live.read_for(Duration::from_millis(300)).await;
            ids.extend(message_ids(&extra));
            (s, t, view, ids)
        }));
    }

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let api = app.api.clone();
        writers.push(actix_rt::spawn(async move {
            let mut ids = Vec::new();
            for r in 0..REQUESTS_PER_WRITER {
                let batch: Vec<Value> = (0..MESSAGES_PER_REQUEST)
                    .map(|i| {
                        msg(
                            &format!("ch{}", (w + i) % 5),
                            &format!("w{w}u{}", i % 4),
                            &format!("writer {w} request {r} message {i}"),
                        )
                    })
                    .collect();
                ids.extend(api.ingest_ids(&batch).await);
            }
            ids
        }));
    }
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert_eq!(acked.len(), total);

    let stored = app.stored_ids_after(c0).await;
    acked.sort();
    assert_eq!(stored, acked, "stored ids after c0 are exactly the acknowledged ones");

    for sub in subscribers {
        let (s, t, view, ids) = sub.await.unwrap();
        assert_same_ids(&format!("subscriber {s} ({t} {view})"), &ids, &stored);
    }
}

//! The synthetic messages every scenario sends.
use crate::prelude::*;

pub(crate) const WORDS: &[&str] = &[
    "hello", "world", "stream", "pog", "gg", "nice", "play", "lol", "clip", "raid", "emote", "chat", "wave", "hype",
    "boss", "speedrun", "patch", "build", "meta", "queue", "lag", "ping", "cheers", "follow",
];

pub(crate) fn debug(what: &str) {
    if std::env::var_os("BENCH_DEBUG").is_some() {
        eprintln!("[bench] {what}");
    }
}

pub(crate) fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

/// Channel, user and text of the `seq`th synthetic message. With `stamp`, the text
/// starts with `bench t=<µs since the epoch>` for the ingest-to-receive latency.
pub(crate) fn message_parts(seq: u64, stamp: Option<i64>, text_bytes: usize) -> (String, String, String) {
    let channel = format!("ch{}", seq % 16);
    let user = format!("u{}", seq % 500);
    let mut text = match stamp {
        Some(t) => format!("bench t={t} s={seq}"),
        None => format!("bench s={seq}"),
    };
    let mut i = seq as usize;
    for _ in 0..6 {
        text.push(' ');
        text.push_str(WORDS[i % WORDS.len()]);
        i = i / 3 + 7;
    }
    while text.len() < text_bytes {
        text.push_str(" pad");
    }
    (channel, user, text)
}

pub(crate) fn message_json(seq: u64, stamp: Option<i64>, text_bytes: usize) -> String {
    let (c, u, t) = message_parts(seq, stamp, text_bytes);
    format!(r#"{{"channel":"{c}","user":"{u}","text":"{t}"}}"#)
}

pub(crate) fn batch_body(seq0: u64, n: usize, stamp: Option<i64>, text_bytes: usize) -> Bytes {
    let mut s = String::with_capacity(n * 80);
    s.push('[');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&message_json(seq0 + i as u64, stamp, text_bytes));
    }
    s.push(']');
    Bytes::from(s)
}

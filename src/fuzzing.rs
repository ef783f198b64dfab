//! Entry points for the fuzz targets in `fuzz/` (`cargo fuzz`) and for the replay of their
//! corpus in the test suite: the parsers that take what a client sends, driven with any
//! bytes. Each must answer or refuse, never panic.
use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::ingest::validate::{parse_body, BodyFormat};
use crate::live::protocol::{ClientFrame, View};

/// Most messages a fuzzed body may hold (the default `--max-batch`).
const MAX_BATCH: usize = 5000;

/// An ingest body, read as JSON and as NDJSON.
pub fn ingest_body(data: &[u8]) {
    for format in [BodyFormat::Json, BodyFormat::NdJson] {
        let _ = parse_body(data, format, MAX_BATCH);
    }
}

/// A search as typed, parsed and rendered for both backends.
pub fn search_query(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(query) = crate::store::parse_query(text) {
            let (fts5, tsquery) = query.renderings();
            assert!(!fts5.is_empty() && !tsquery.is_empty(), "{text:?} rendered to nothing");
        }
    }
}

/// Bytes a WebSocket client sends: frames decoded as the server decodes them, text frames
/// read as client frames, their views and cursors parsed; the bytes also as a view name.
pub fn client_frames(data: &[u8]) {
    let mut codec = actix_http::ws::Codec::new().max_size(crate::web::live::WS_MAX_FRAME);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        if let actix_http::ws::Frame::Text(text) = frame {
            if let Ok(ClientFrame::Subscribe { view, .. }) = serde_json::from_slice::<ClientFrame>(&text) {
                let _ = View::parse(&view);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = View::parse(text);
        let _ = text.parse::<i64>();
    }
}

/// What an IRC server sends, line by line: parsed, and a chat line mapped and validated as
/// a message.
pub fn irc_line(data: &[u8]) {
    use crate::irc::line::{parse, Line};
    for line in String::from_utf8_lossy(data).split('\n') {
        if let Ok(Line::Store { message, .. }) = parse(line.trim_end_matches('\r')) {
            let _ = crate::ingest::validate::message(message);
        }
    }
}

/// Replays the fuzz corpus kept in the repository (`fuzz/corpus/<target>/`): what the
/// fuzzer found interesting, and every input that once crashed a target, stays a test.
#[cfg(test)]
mod tests {
    use std::path::Path;

    fn replay(target: &str, run: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut n = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target} panics on {}", path.display());
            n += 1;
        }
        assert!(n > 0, "no corpus for {target} in {}", dir.display());
    }

    #[test]
    fn the_fuzz_corpus_replays_without_a_panic() {
        replay("ingest_body", super::ingest_body);
        replay("search_query", super::search_query);
        replay("client_frames", super::client_frames);
        replay("irc_line", super::irc_line);
    }
}

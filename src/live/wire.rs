//! The bytes live events go out as: WebSocket text frames and SSE events (PROTOCOL.md
//! section 5). A room encodes each batch once per transport into shared [`Bytes`], and
//! every subscriber writes those same bytes to its socket: fan-out costs a reference count
//! per subscriber, not an encoding.
use std::fmt::Write;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser};
use bytes::{BufMut, Bytes, BytesMut};

use super::protocol::{Event, Kind, View};
use crate::store::{Cursor, MessageId};

/// A server's WebSocket text frame (unmasked) carrying `json`.
pub fn ws_text(buf: &mut BytesMut, json: &[u8]) {
    Parser::write_message(buf, json, OpCode::Text, true, false);
}

pub fn ws_ping(buf: &mut BytesMut) {
    Parser::write_message(buf, b"", OpCode::Ping, true, false);
}

pub fn ws_pong(buf: &mut BytesMut, payload: &[u8]) {
    Parser::write_message(buf, payload, OpCode::Pong, true, false);
}

/// A close frame with the status `reason` as its text.
pub fn ws_close(buf: &mut BytesMut, code: u16, reason: &str) {
    let reason = CloseReason {
        code: CloseCode::from(code),
        description: Some(reason.to_owned()),
    };
    Parser::write_close(buf, Some(reason), false);
}

/// One SSE event; `id` is the stream's highest cursor so far (no `id:` line before any).
pub fn sse_event(buf: &mut BytesMut, event: &Event, id: Cursor) {
    buf.put_slice(b"event: ");
    buf.put_slice(event.kind.as_str().as_bytes());
    buf.put_slice(b"\ndata: ");
    buf.put_slice(event.json.as_bytes());
    if id.0 > 0 {
        let _ = write!(buf, "\nid: {id}");
    }
    buf.put_slice(b"\n\n");
}

pub fn sse_keepalive(buf: &mut BytesMut) {
    buf.put_slice(b": keep-alive\n\n");
}

/// How many events of each type: adds `n` of `kind`.
pub fn count_kind(kinds: &mut Vec<(Kind, u64)>, kind: Kind, n: u64) {
    match kinds.iter_mut().find(|(k, _)| *k == kind) {
        Some((_, m)) => *m += n,
        None => kinds.push((kind, n)),
    }
}

/// What a room sends all its subscribers for one commit or one count flush: the events,
/// and each transport's encoding of them, made at most once and shared.
pub struct Batch {
    pub events: Box<[Event]>,
    /// When the messages behind these events were committed (for the delivery histogram).
    pub committed_at: Option<Instant>,
    /// The events' JSON bytes: what a session's bounded queue counts.
    pub json_bytes: usize,
    /// The highest cursor among the events.
    pub newest: Cursor,
    /// The lowest cursor among the message events (`MessageId(i64::MAX)` without any).
    pub oldest_message: Cursor,
    /// How many events of each type.
    pub kinds: Vec<(Kind, u64)>,
    /// Whether each event moves the SSE id on (see [`View::advances_id`]).
    advances: Box<[bool]>,
    /// The room's SSE id before this batch, which its shared SSE encoding starts from.
    sse_from: Cursor,
    ws: OnceLock<Bytes>,
    sse: OnceLock<Bytes>,
}

impl Batch {
    /// Whether it holds typing notices only (dropped first, never an overflow).
    pub fn is_typing(&self) -> bool {
        self.events.iter().all(|e| e.kind == Kind::Typing)
    }

    pub fn new(view: &View, events: Vec<Event>, committed_at: Option<Instant>, sse_from: Cursor) -> Arc<Batch> {
        let mut kinds: Vec<(Kind, u64)> = Vec::new();
        for e in &events {
            count_kind(&mut kinds, e.kind, 1);
        }
        Arc::new(Batch {
            json_bytes: events.iter().map(|e| e.json.len()).sum(),
            newest: events.iter().map(|e| e.cursor).max().unwrap_or_default(),
            oldest_message: events
                .iter()
                .filter(|e| e.kind.is_logged())
                .map(|e| e.cursor)
                .min()
                .unwrap_or(MessageId(i64::MAX)),
            kinds,
            advances: events.iter().map(|e| view.advances_id(e)).collect(),
            events: events.into(),
            committed_at,
            sse_from,
            ws: OnceLock::new(),
            sse: OnceLock::new(),
        })
    }

    /// The SSE id after this batch, for a stream whose id was `from` before it.
    pub fn sse_id_after(&self, from: Cursor) -> Cursor {
        self.events
            .iter()
            .zip(self.advances.iter())
            .filter(|(_, advances)| **advances)
            .fold(from, |id, (e, _)| id.max(e.cursor))
    }

    /// Whether a stream whose id is `from` would give these events the same `id:` lines as
    /// the shared encoding: either it stands where the room's stream stood, or the first
    /// event resets both to the same cursor.
    pub fn sse_agrees(&self, from: Cursor) -> bool {
        from == self.sse_from
            || matches!(
                (self.events.first(), self.advances.first()),
                (Some(e), Some(true)) if e.cursor >= from && e.cursor >= self.sse_from
            )
    }

    /// The events as WebSocket text frames.
    pub fn ws(&self) -> &Bytes {
        self.ws.get_or_init(|| {
            let mut buf = BytesMut::with_capacity(self.json_bytes + 10 * self.events.len());
            for e in self.events.iter() {
                ws_text(&mut buf, e.json.as_bytes());
            }
            buf.freeze()
        })
    }

    /// The events as SSE events, ids counted from the room's stream.
    pub fn sse(&self) -> &Bytes {
        self.sse.get_or_init(|| {
            let mut buf = BytesMut::with_capacity(self.json_bytes + 48 * self.events.len());
            self.encode_sse(&mut buf, self.sse_from);
            buf.freeze()
        })
    }

    /// Appends the events as SSE events to `buf`, ids counted from `from`; returns the id after.
    pub fn encode_sse(&self, buf: &mut BytesMut, from: Cursor) -> Cursor {
        let mut id = from;
        for (e, advances) in self.events.iter().zip(self.advances.iter()) {
            if *advances {
                id = id.max(e.cursor);
            }
            sse_event(buf, e, id);
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_http::ws::{Codec, Frame};
    use bytestring::ByteString;
    use tokio_util::codec::Decoder;

    fn event(kind: Kind, cursor: i64) -> Event {
        Event {
            kind,
            cursor: MessageId(cursor),
            json: ByteString::from(format!(r#"{{"type":"{}","cursor":{cursor}}}"#, kind.as_str())),
        }
    }

    /// What a session writes for `events` one by one, its SSE id starting at `from`.
    fn one_by_one(view: &View, events: &[Event], from: Cursor) -> (Bytes, Cursor) {
        let mut buf = BytesMut::new();
        let mut id = from;
        for e in events {
            if view.advances_id(e) {
                id = id.max(e.cursor);
            }
            sse_event(&mut buf, e, id);
        }
        (buf.freeze(), id)
    }

    #[test]
    fn ws_bytes_are_one_text_frame_per_event() {
        let events = vec![
            event(Kind::Message, 7),
            event(Kind::Metrics, 7),
            event(Kind::Message, 9),
        ];
        let batch = Batch::new(&View::Home, events.clone(), None, MessageId(0));
        let mut buf = BytesMut::from(&batch.ws()[..]);
        let mut codec = Codec::new().client_mode();
        let mut texts = Vec::new();
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            match frame {
                Frame::Text(t) => texts.push(String::from_utf8(t.to_vec()).unwrap()),
                other => panic!("not a text frame: {other:?}"),
            }
        }
        let want: Vec<String> = events.iter().map(|e| e.json.to_string()).collect();
        assert_eq!(texts, want);
        assert!(buf.is_empty(), "bytes left over after the frames");
    }

    #[test]
    fn shared_sse_bytes_are_used_only_where_they_match_the_stream() {
        let batches = [
            (
                View::Home,
                vec![
                    event(Kind::Metrics, 5),
                    event(Kind::Message, 6),
                    event(Kind::Metrics, 6),
                ],
            ),
            (View::Home, vec![event(Kind::Message, 6), event(Kind::Metrics, 6)]),
            (View::Messages, vec![event(Kind::Message, 4), event(Kind::Message, 8)]),
            (
                View::User("ann".into()),
                vec![event(Kind::UserProfile, 8), event(Kind::Message, 8)],
            ),
            (
                View::Channels,
                vec![event(Kind::ChannelCount, 3), event(Kind::ChannelCount, 9)],
            ),
        ];
        for (view, events) in &batches {
            for room in (0..10).map(MessageId) {
                let batch = Batch::new(view, events.clone(), None, room);
                let (want, id) = one_by_one(view, events, room);
                assert_eq!(batch.sse(), &want, "{view:?} from the room's own id {room}");
                assert_eq!(batch.sse_id_after(room), id);
                for from in (0..10).map(MessageId) {
                    let (want, id) = one_by_one(view, events, from);
                    let mut buf = BytesMut::new();
                    assert_eq!(batch.encode_sse(&mut buf, from), id);
                    assert_eq!(buf.freeze(), want, "{view:?} from {from}");
                    if batch.sse_agrees(from) {
                        assert_eq!(batch.sse(), &want, "{view:?}: room at {room}, stream at {from}");
                    }
                }
                assert!(
                    batch.sse_agrees(room),
                    "a stream where the room stands shares its bytes"
                );
            }
        }
    }

    #[test]
    fn a_batch_knows_its_sizes_cursors_and_kinds() {
        let events = vec![
            event(Kind::Message, 7),
            event(Kind::Metrics, 7),
            event(Kind::Message, 9),
        ];
        let json: usize = events.iter().map(|e| e.json.len()).sum();
        let batch = Batch::new(&View::Home, events, None, MessageId(0));
        assert_eq!(batch.json_bytes, json);
        assert_eq!((batch.newest, batch.oldest_message), (MessageId(9), MessageId(7)));
        assert_eq!(batch.kinds, vec![(Kind::Message, 2), (Kind::Metrics, 1)]);
        let counts = Batch::new(&View::Channels, vec![event(Kind::ChannelCount, 3)], None, MessageId(0));
        assert_eq!(counts.oldest_message, MessageId(i64::MAX), "no message to skip");
    }
}

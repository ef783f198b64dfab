//! Every message between the live actors. The hub, the rooms and the sessions depend on
//! this file and never on each other's types: a room reaches the hub and a session reaches
//! its room only through the recipients carried here.
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::protocol::View;
use super::wire::Batch;
use crate::store::Committed;

/// What one transaction stored, published by the ingest actor after its commit.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Inserted {
    pub committed: Arc<Committed>,
    /// Every commit up to this cursor has been delivered, this one included.
    pub upto: crate::store::Cursor,
    /// When the commit returned: the start of the delivery-latency histogram.
    pub at: Instant,
}

/// A session asks the hub for a place in its view's room. Answered once the room has the
/// session as a subscriber, with the room's address for leaving it again.
#[derive(Message)]
#[rtype(result = "Result<Recipient<Leave>, ShuttingDown>")]
pub struct Subscribe {
    pub view: View,
    pub session: u64,
    pub subscription: u64,
    pub recipient: Recipient<Deliver>,
    /// The connection's signed-in person, if any.
    pub user: Option<String>,
}

/// The server is stopping: no new subscriptions.
#[derive(Debug)]
pub struct ShuttingDown;

/// The hub hands a subscriber to a room.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    pub session: u64,
    pub subscription: u64,
    pub recipient: Recipient<Deliver>,
    pub user: Option<String>,
}

/// These people left a private stream: the hub tells every stream room, which ends their
/// sessions (they subscribe again and are checked again).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Revoke {
    pub users: Arc<[String]>,
}

/// Someone is typing in a stream (from a session of this node, or from the bus).
#[derive(Message, Clone, Debug, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct Typing {
    pub stream: crate::store::ChannelId,
    pub user: String,
    /// When it stops showing, in milliseconds since the epoch.
    pub expires_at: i64,
}

/// A session leaves its room (it switched views or ended).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub session: u64,
}

/// A room tells the hub it has no subscriber left, after `joins` joins in all. The hub
/// stops it only if it forwarded no join since (otherwise one is on its way).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Vacant {
    pub view: View,
    pub joins: u64,
}

/// The hub stops a vacant room.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// The server is stopping: the hub tells every room, every room its sessions.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// What a room sends a session.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Deliver {
    /// Which of the session's subscriptions this is for: a session that switched views
    /// ignores what its old room still sends.
    pub subscription: u64,
    pub payload: Payload,
}

#[derive(Clone)]
pub enum Payload {
    Events(Arc<Batch>),
    /// The session's mailbox was full: it was dropped from the room.
    Overflowed,
    Shutdown,
    /// Its person left a private stream: it was dropped from the room.
    Revoked,
}

/// A commit to deliver, from this node's ingest, the bus, or the database. The sequencer
/// hands commits to the hub in cursor order, each once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Sequence {
    pub committed: Arc<Committed>,
    /// When the commit returned on this node, or when it arrived here from elsewhere.
    pub at: Instant,
}

/// `GET /api/top` (and a page) asks for a `top` view's list: the hub hands it to the
/// view's room (made if there is none), which answers once it has read its window; `None`
/// if that read failed.
#[derive(Message)]
#[rtype(result = "Option<super::top::TopList>")]
pub struct TopNow {
    pub view: View,
}

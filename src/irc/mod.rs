//! Ingest straight from Twitch-style IRC: one connection reads the followed channels and
//! hands every chat line to the same ingest actor as `POST /api/messages` (group commit,
//! counts, search, live views, the bus). `line` maps lines to messages, `client` keeps the
//! connection (capabilities, login, paced joins, PING/PONG, reconnects).
pub mod client;
pub mod line;

pub use client::{start, IrcSettings, ServerAddr};

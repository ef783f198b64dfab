//! Catch-up: a resuming client's view state and backlog, read from the store in capped
//! batches before it goes live. Batches are shared between sessions through
//! [`BatchCache`], so a reconnect storm reads and serializes each batch once.
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::protocol::{self, Event, Status, View};
use crate::store::{self, people, Cursor, MessageFilter, MessageId, Rows, Store, StoreResult};

/// Catch-up batches kept for other sessions resuming from the same place.
pub const CATCHUP_CACHE_BATCHES: usize = 64;

/// One catch-up read: the rows of `filter` after `after`, up to `upto`, at most `limit`.
/// A row read later may show a newer state (an edit, a delete), and then the event that
/// changed it follows with its own, later cursor: a batch read once serves everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchKey {
    pub filter: MessageFilter,
    pub after: Cursor,
    pub upto: Cursor,
    pub limit: i64,
}

/// The last [`CATCHUP_CACHE_BATCHES`] catch-up batches, serialized: when many clients
/// resume from the same cursor at once (a reconnect storm after a restart or a network
/// blip), each batch is read from the store and serialized once instead of once per client.
#[derive(Default)]
pub struct BatchCache {
    entries: Mutex<BatchEntries>,
}

#[derive(Default)]
struct BatchEntries {
    batches: HashMap<BatchKey, Arc<[Event]>>,
    /// Insertion order, oldest first: the next to evict.
    order: VecDeque<BatchKey>,
}

impl BatchCache {
    /// The entries. Nothing done under the lock can panic, so a poisoned lock (a panic
    /// elsewhere in that thread) never means half-changed entries: it is used as is,
    /// and a reading session never panics on it.
    fn entries(&self) -> std::sync::MutexGuard<'_, BatchEntries> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &BatchKey) -> Option<Arc<[Event]>> {
        self.entries().batches.get(key).cloned()
    }

    fn put(&self, key: BatchKey, batch: Arc<[Event]>) {
        let mut entries = self.entries();
        if entries.batches.insert(key, batch).is_none() {
            entries.order.push_back(key);
            if entries.order.len() > CATCHUP_CACHE_BATCHES {
                if let Some(oldest) = entries.order.pop_front() {
                    entries.batches.remove(&oldest);
                }
            }
        }
    }

    /// One catch-up batch, from the cache or read and serialized (then cached).
    pub fn read(&self, store: &Store, key: BatchKey) -> StoreResult<Arc<[Event]>> {
        if let Some(events) = self.get(&key) {
            return Ok(events);
        }
        let mut conn = store.conn()?;
        let rows = store::list_messages(
            &mut conn,
            key.filter,
            Some(key.after),
            Some(MessageId(key.upto.0 + 1)),
            key.limit,
        )?;
        let events: Arc<[Event]> = match key.filter.rows {
            Rows::Events => {
                let extras = store::streams::extras(&mut conn, &rows)?;
                rows.iter().map(|m| protocol::stream_event(m, Some(&extras))).collect()
            }
            // The filter chose the rows: every envelope of them, as the firehose shows it.
            Rows::MessagesAndChanges | Rows::LiveMessages => {
                rows.iter().filter_map(|m| View::Messages.envelope(m)).collect()
            }
        };
        self.put(key, events.clone());
        Ok(events)
    }
}

/// What is left of a catch-up: events read but not yet queued, and where to read on.
pub struct Catchup {
    ready: VecDeque<Event>,
    /// The cursor the next backlog read starts after; `None` once the backlog is read.
    next_after: Option<Cursor>,
    /// The newest cursor when the catch-up began: live batches cover what comes later.
    pub upto: Cursor,
    filter: MessageFilter,
    /// Whether a backlog read is under way.
    reading: bool,
}

impl Catchup {
    /// Reads the view's initial state and checks the backlog size, or the status that
    /// refuses the catch-up (a cursor from another epoch, a backlog over `max`).
    pub fn begin(
        store: &Store,
        view: &View,
        after_id: Option<Cursor>,
        max: i64,
        user: Option<&str>,
    ) -> StoreResult<Result<Catchup, Status>> {
        let mut conn = store.conn()?;
        let totals = store::totals(&mut conn)?;
        if after_id.is_some_and(|a| a > totals.cursor || a.0 < 0) {
            return Ok(Err(Status::EpochChanged));
        }
        // What a view of events missed before the oldest kept may be gone: start over.
        if let (true, Some(after)) = (view.has_messages(), after_id) {
            if after < store::retention::pruned_upto(&mut conn)? {
                return Ok(Err(Status::Pruned));
            }
        }
        let mut ready = VecDeque::new();
        // The rows the backlog holds; `None` where nothing can be in it.
        let v1 = MessageFilter {
            rows: Rows::MessagesAndChanges,
            ..Default::default()
        };
        let mut filter = Some(v1);
        match view {
            View::Home => ready.push_back(protocol::metrics_event(&totals)),
            // Its room sends the whole list to a newcomer.
            View::Top(..) => filter = None,
            View::Messages => {}
            View::Channels => {
                let rows = store::channels_changed_after(&mut conn, after_id.unwrap_or_default(), max + 1)?;
                if rows.len() as i64 > max {
                    return Ok(Err(Status::BacklogTooLarge));
                }
                ready.extend(rows.iter().map(|c| protocol::channel_count_event(Some(c), &c.name)));
            }
            View::Workspace(None) | View::Streams => {
                if let Some(after) = after_id {
                    let rows = store::channels::streams_changed_after(&mut conn, after, max + 1)?;
                    if rows.len() as i64 > max {
                        return Ok(Err(Status::BacklogTooLarge));
                    }
                    ready.extend(rows.iter().map(protocol::stream_state_event));
                }
            }
            View::Workspace(Some(name)) => {
                let me = store::user_by_name(&mut conn, name)?;
                if let (Some(after), Some(me)) = (after_id, me) {
                    let rows = people::badges_after(&mut conn, me.id, after, max + 1)?;
                    if rows.len() as i64 > max {
                        return Ok(Err(Status::BacklogTooLarge));
                    }
                    for (badge, stream) in &rows {
                        ready.push_back(protocol::stream_state_event(stream));
                        ready.push_back(protocol::unread_event(badge));
                    }
                }
            }
            View::Me(name) => {
                filter = None;
                let me = store::user_by_name(&mut conn, name)?;
                if let (Some(after), Some(me)) = (after_id, me) {
                    if people::inbox_exceeds(&mut conn, me.id, after, max)? {
                        return Ok(Err(Status::BacklogTooLarge));
                    }
                    let upto = totals.cursor;
                    let entries = people::inbox_of(&mut conn, me.id, None, Some(after), None, max)?;
                    // Later ones come live.
                    for e in entries.into_iter().filter(|e| e.cursor <= upto) {
                        let row = match e.kind {
                            people::Inbox::Mention => store::streams::event_by_id(&mut conn, e.cursor)?,
                            _ => None,
                        };
                        ready.push_back(protocol::inbox_event(&e, row.as_ref()));
                    }
                }
            }
            View::Users => {
                let rows = store::users_changed_after(&mut conn, after_id.unwrap_or_default(), max + 1)?;
                if rows.len() as i64 > max {
                    return Ok(Err(Status::BacklogTooLarge));
                }
                ready.extend(rows.iter().map(protocol::user_count_event));
            }
            View::User(name) => {
                let user = store::user_by_name(&mut conn, name)?;
                ready.push_back(protocol::user_profile_event(user.as_ref(), name));
                filter = user.map(|u| MessageFilter {
                    user_id: Some(u.id),
                    ..v1
                });
            }
            View::Channel(name) => {
                let channel = store::channel_by_name(&mut conn, name)?;
                ready.push_back(protocol::channel_count_event(channel.as_ref(), name));
                filter = channel.map(|c| MessageFilter {
                    channel_id: Some(c.id),
                    ..v1
                });
            }
            View::Stream(id) => {
                // A stream that does not exist is not a view, nor one the caller may not
                // see: the answer is the same.
                let me = match user {
                    Some(name) => store::user_by_name(&mut conn, name)?.map(|u| u.id),
                    None => None,
                };
                match store::streams::stream_by_id(&mut conn, *id)? {
                    Some(s) if people::can_see(&mut conn, &s, me)? => {}
                    _ => return Ok(Err(Status::BadRequest)),
                }
                filter = Some(MessageFilter {
                    channel_id: Some(*id),
                    user_id: None,
                    rows: Rows::Events,
                });
                // Reply counts that moved since: the threads branched from its messages.
                if let Some(after) = after_id {
                    let threads = store::streams::threads_changed_after(&mut conn, *id, after, max + 1)?;
                    if threads.len() as i64 > max {
                        return Ok(Err(Status::BacklogTooLarge));
                    }
                    ready.extend(threads.iter().map(protocol::reply_count_event));
                    let tallies = store::polls::changed_after(&mut conn, *id, after, max + 1)?;
                    if tallies.len() as i64 > max {
                        return Ok(Err(Status::BacklogTooLarge));
                    }
                    ready.extend(tallies.iter().map(protocol::poll_tally_event));
                }
            }
        }
        let mut next_after = None;
        if let (true, Some(after), Some(filter)) = (view.has_messages(), after_id, filter) {
            if store::backlog_exceeds(&mut conn, filter, after, max)? {
                return Ok(Err(Status::BacklogTooLarge));
            }
            next_after = Some(after);
        }
        Ok(Ok(Catchup {
            ready,
            next_after,
            upto: totals.cursor,
            filter: filter.unwrap_or_default(),
            reading: false,
        }))
    }

    /// Up to `n` events read and not yet sent.
    pub fn take_ready(&mut self, n: usize) -> Option<Vec<Event>> {
        if self.ready.is_empty() {
            return None;
        }
        let n = self.ready.len().min(n);
        Some(self.ready.drain(..n).collect())
    }

    /// The next backlog read to make, unless one is under way or the backlog is read.
    pub fn next_read(&mut self, limit: i64) -> Option<BatchKey> {
        let after = self.next_after.filter(|_| !self.reading)?;
        self.reading = true;
        Some(BatchKey {
            filter: self.filter,
            after,
            upto: self.upto,
            limit,
        })
    }

    /// A backlog read came back with `events`; a short batch was the last.
    pub fn read_done(&mut self, events: &[Event], limit: i64) {
        self.reading = false;
        self.next_after = if events.len() as i64 == limit {
            events.last().map(|e| e.cursor)
        } else {
            None
        };
        self.ready.extend(events.iter().cloned());
    }

    /// Whether everything was read and sent.
    pub fn is_done(&self) -> bool {
        self.ready.is_empty() && self.next_after.is_none()
    }
}

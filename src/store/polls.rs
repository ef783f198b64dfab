//! Polls (issue 17): a `poll` event, its options and a tally kept exact by the vote and
//! close operations in the transaction that logs them. A vote is a `poll_vote` row of the
//! log (so it takes a cursor, crosses nodes and moves the tally's `changed_id`), shown in
//! no stream's events: the stream view gets the merged `poll_tally` instead.
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::ids::{ChannelId, Cursor, MessageId, UserId};
use super::schema::{poll_votes, polls, users};
use super::DbConnection;

/// Options a poll offers: at least, at most.
pub const POLL_OPTIONS_MIN: usize = 2;
pub const POLL_OPTIONS_MAX: usize = 10;
/// Longest option text, in Unicode scalar values (the question follows the message text's).
pub const POLL_OPTION_MAX: usize = 200;

/// A poll's tally as the stream view pushes it (`poll_tally`, merged per poll) and every
/// node learns it from a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tally {
    /// The poll event.
    #[schema(value_type = i64)]
    pub event_id: MessageId,
    #[schema(value_type = i64)]
    pub stream_id: ChannelId,
    /// Votes for each option, in the options' order.
    pub counts: Vec<i64>,
    /// People who voted.
    pub voters: i64,
    #[serde(serialize_with = "crate::time::serialize_opt_ms", deserialize_with = "opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null)]
    pub closes_at: Option<i64>,
    #[serde(serialize_with = "crate::time::serialize_opt_ms", deserialize_with = "opt_ms")]
    #[schema(schema_with = crate::json_schema::time_or_null)]
    pub closed_at: Option<i64>,
    /// The cursor of its last change (its creation, a vote, its close).
    #[schema(value_type = i64)]
    pub cursor: Cursor,
}

/// Reads back what `serialize_opt_ms` wrote (the bus carries tallies as JSON).
fn opt_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| crate::time::parse_rfc3339_ms(&s).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 time")))
        .transpose()
}

impl Tally {
    /// Whether it takes no votes at `now`: closed, or past its closing time.
    pub fn is_closed(&self, now: i64) -> bool {
        self.closed_at.is_some() || self.closes_at.is_some_and(|at| at <= now)
    }
}

/// A poll: what it asks and its tally.
#[derive(Debug, Clone)]
pub struct Poll {
    pub question: String,
    pub options: Vec<String>,
    pub multiple: bool,
    pub tally: Tally,
}

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    bool,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
);

const COLUMNS: (
    polls::event_id,
    polls::stream_id,
    polls::question,
    polls::options,
    polls::counts,
    polls::multiple,
    polls::closes_at,
    polls::closed_at,
    polls::voters,
    polls::changed_id,
) = (
    polls::event_id,
    polls::stream_id,
    polls::question,
    polls::options,
    polls::counts,
    polls::multiple,
    polls::closes_at,
    polls::closed_at,
    polls::voters,
    polls::changed_id,
);

fn poll_of(r: Row) -> Poll {
    let (event_id, stream_id, question, options, counts, multiple, closes_at, closed_at, voters, changed) = r;
    Poll {
        question,
        options: serde_json::from_str(&options).unwrap_or_default(),
        multiple,
        tally: Tally {
            event_id: MessageId(event_id),
            stream_id: ChannelId(stream_id),
            counts: serde_json::from_str(&counts).unwrap_or_default(),
            voters,
            closes_at,
            closed_at,
            cursor: MessageId(changed),
        },
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain values serialize")
}

/// Stores the poll of event `event`.
pub(super) fn create(
    conn: &mut DbConnection,
    event: MessageId,
    stream: ChannelId,
    question: &str,
    options: &[String],
    multiple: bool,
    closes_at: Option<i64>,
) -> QueryResult<()> {
    diesel::insert_into(polls::table)
        .values((
            polls::event_id.eq(event.0),
            polls::stream_id.eq(stream.0),
            polls::question.eq(question),
            polls::options.eq(json(&options)),
            polls::counts.eq(json(&vec![0i64; options.len()])),
            polls::multiple.eq(multiple),
            polls::closes_at.eq(closes_at),
            polls::voters.eq(0),
            polls::changed_id.eq(event.0),
        ))
        .execute(conn)?;
    Ok(())
}

/// The poll of event `event`, if it is one (and not deleted).
pub fn get(conn: &mut DbConnection, event: MessageId) -> QueryResult<Option<Poll>> {
    Ok(polls::table
        .find(event.0)
        .select(COLUMNS)
        .first::<Row>(conn)
        .optional()?
        .map(poll_of))
}

/// Records `user`'s vote (replacing theirs, if any) as of event `cursor`: the tally moves
/// by the difference.
pub(super) fn vote(
    conn: &mut DbConnection,
    poll: &Poll,
    user: UserId,
    chosen: &[usize],
    now: i64,
    cursor: MessageId,
) -> QueryResult<()> {
    let id = poll.tally.event_id.0;
    let mut counts = poll.tally.counts.clone();
    let mut voters = poll.tally.voters;
    match vote_of(conn, poll.tally.event_id, user)? {
        Some(old) => {
            for i in old {
                if let Some(c) = counts.get_mut(i) {
                    *c -= 1;
                }
            }
        }
        None => voters += 1,
    }
    for i in chosen {
        if let Some(c) = counts.get_mut(*i) {
            *c += 1;
        }
    }
    diesel::delete(poll_votes::table.find((id, user.0))).execute(conn)?;
    diesel::insert_into(poll_votes::table)
        .values((
            poll_votes::poll_id.eq(id),
            poll_votes::user_id.eq(user.0),
            poll_votes::options.eq(json(&chosen)),
            poll_votes::voted_at.eq(now),
        ))
        .execute(conn)?;
    diesel::update(polls::table.find(id))
        .set((
            polls::counts.eq(json(&counts)),
            polls::voters.eq(voters),
            polls::changed_id.eq(cursor.0),
        ))
        .execute(conn)?;
    Ok(())
}

/// Closes the poll as of event `cursor`.
pub(super) fn close(conn: &mut DbConnection, poll: MessageId, now: i64, cursor: MessageId) -> QueryResult<()> {
    diesel::update(polls::table.find(poll.0))
        .set((polls::closed_at.eq(now), polls::changed_id.eq(cursor.0)))
        .execute(conn)?;
    Ok(())
}

/// Forgets a deleted poll and its votes.
pub(super) fn remove(conn: &mut DbConnection, poll: MessageId) -> QueryResult<()> {
    diesel::delete(poll_votes::table.filter(poll_votes::poll_id.eq(poll.0))).execute(conn)?;
    diesel::delete(polls::table.find(poll.0)).execute(conn)?;
    Ok(())
}

/// The polls of pruned events (retention): their votes go with them.
pub(super) fn pruned(conn: &mut DbConnection, events: &[MessageId]) -> QueryResult<()> {
    let events: Vec<i64> = events.iter().map(|e| e.0).collect();
    diesel::delete(poll_votes::table.filter(poll_votes::poll_id.eq_any(&events))).execute(conn)?;
    diesel::delete(polls::table.filter(polls::event_id.eq_any(&events))).execute(conn)?;
    Ok(())
}

/// The tallies whose last change is in `first..=last` (a commit's).
pub fn between(conn: &mut DbConnection, first: MessageId, last: MessageId) -> QueryResult<Vec<Tally>> {
    let rows: Vec<Row> = polls::table
        .filter(polls::changed_id.between(first.0, last.0))
        .select(COLUMNS)
        .order(polls::changed_id.asc())
        .load(conn)?;
    Ok(rows.into_iter().map(|r| poll_of(r).tally).collect())
}

/// A stream's tallies that changed after `after`, oldest change first, at most `limit`.
pub fn changed_after(conn: &mut DbConnection, stream: ChannelId, after: Cursor, limit: i64) -> QueryResult<Vec<Tally>> {
    let rows: Vec<Row> = polls::table
        .filter(polls::stream_id.eq(stream.0))
        .filter(polls::changed_id.gt(after.0))
        .select(COLUMNS)
        .order(polls::changed_id.asc())
        .limit(limit)
        .load(conn)?;
    Ok(rows.into_iter().map(|r| poll_of(r).tally).collect())
}

/// The polls of these events (a page's or a catch-up batch's).
pub fn of_events(conn: &mut DbConnection, events: &[MessageId]) -> QueryResult<Vec<Poll>> {
    let mut out = Vec::new();
    for chunk in events.chunks(500) {
        let ids: Vec<i64> = chunk.iter().map(|m| m.0).collect();
        let rows: Vec<Row> = polls::table
            .filter(polls::event_id.eq_any(ids))
            .select(COLUMNS)
            .load(conn)?;
        out.extend(rows.into_iter().map(poll_of));
    }
    Ok(out)
}

/// One person's choice in a poll, if they voted.
pub fn vote_of(conn: &mut DbConnection, poll: MessageId, user: UserId) -> QueryResult<Option<Vec<usize>>> {
    let options: Option<String> = poll_votes::table
        .find((poll.0, user.0))
        .select(poll_votes::options)
        .first(conn)
        .optional()?;
    Ok(options.map(|o| serde_json::from_str(&o).unwrap_or_default()))
}

/// Who voted for what, by name.
pub fn votes(conn: &mut DbConnection, poll: MessageId) -> QueryResult<Vec<(String, Vec<usize>)>> {
    let rows: Vec<(String, String)> = poll_votes::table
        .inner_join(users::table.on(users::id.eq(poll_votes::user_id)))
        .filter(poll_votes::poll_id.eq(poll.0))
        .select((users::username, poll_votes::options))
        .order(users::username.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(name, options)| (name, serde_json::from_str(&options).unwrap_or_default()))
        .collect())
}

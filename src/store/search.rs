//! Full-text search. What a person types becomes a list of terms: every word must match,
//! `word*` matches a prefix, `"two words"` matches a phrase. Each backend renders the
//! terms in its own syntax, every term quoted (`sqlite::match_string` for FTS5,
//! `postgres::tsquery` for `to_tsquery`), so none of that syntax comes from the user.
use diesel::prelude::*;

use super::ids::MessageId;
use super::messages::{Message, MessageFilter, MESSAGE_COLUMNS};
use super::schema::{channels, messages, users};
use super::{postgres, sqlite, DbConnection};

#[derive(Debug, PartialEq, Eq)]
pub struct InvalidQuery(pub &'static str);

/// A word, or the words of a phrase, that must appear in this order; `prefix`: the last
/// one may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub text: String,
    pub prefix: bool,
}

/// A parsed search: terms that must all match. Made only by [`parse_query`], so it is
/// never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery(Vec<Term>);

impl SearchQuery {
    pub fn terms(&self) -> &[Term] {
        &self.0
    }

    /// What each backend is asked: the FTS5 MATCH string and the `to_tsquery` text
    /// (for the fuzz targets and their tests; the store renders them itself).
    pub fn renderings(&self) -> (String, String) {
        (sqlite::match_string(self), postgres::tsquery(self))
    }
}

pub fn parse_query(q: &str) -> Result<SearchQuery, InvalidQuery> {
    // U+0000 separates words like any other non-alphanumeric character; kept in a term it
    // would end SQLite's FTS5 query string early and be refused by PostgreSQL.
    let q = q.replace('\0', " ");
    let mut terms = Vec::new();
    let mut rest = q.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('"') {
            let end = after.find('"').ok_or(InvalidQuery("unbalanced quote"))?;
            let phrase = &after[..end];
            if has_token(phrase) {
                terms.push(Term {
                    text: phrase.to_owned(),
                    prefix: false,
                });
            }
            rest = after[end + 1..].trim_start();
            continue;
        }
        let end = rest.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(rest.len());
        let word = &rest[..end];
        rest = rest[end..].trim_start();
        let (word, prefix) = match word.strip_suffix('*') {
            Some(w) => (w, true),
            None => (word, false),
        };
        if has_token(word) {
            terms.push(Term {
                text: word.to_owned(),
                prefix,
            });
        }
    }
    if terms.is_empty() {
        return Err(InvalidQuery("nothing to search for"));
    }
    Ok(SearchQuery(terms))
}

/// Both backends' tokenizers split on everything but letters and digits.
fn has_token(s: &str) -> bool {
    s.chars().any(char::is_alphanumeric)
}

/// Which messages a search or an export reads: those of `filter`, matching `query` when
/// there is one, sent in `since..until`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Find<'a> {
    pub query: Option<&'a SearchQuery>,
    pub filter: MessageFilter,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// Most matches a search counts exactly; beyond, its total says "more than" this.
pub const SEARCH_COUNT_MAX: i64 = 10_000;

/// Narrows a boxed query over `messages` to `$find` (the match rendered for `$conn`'s
/// backend: FTS5 or a `tsvector`).
macro_rules! narrow {
    ($q:expr, $conn:expr, $find:expr) => {{
        let find: &Find = $find;
        let mut q = find.filter.apply($q);
        if let Some(query) = find.query {
            let ((before, after), rendered) = match $conn {
                DbConnection::Sqlite(_) => (sqlite::MATCHES, sqlite::match_string(query)),
                DbConnection::Pg(_) => (postgres::MATCHES, postgres::tsquery(query)),
            };
            q = q.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(before)
                    .bind::<diesel::sql_types::Text, _>(rendered)
                    .sql(after),
            );
        }
        if let Some(s) = find.since {
            q = q.filter(messages::sent_at.ge(s));
        }
        if let Some(u) = find.until {
            q = q.filter(messages::sent_at.lt(u));
        }
        q
    }};
}

/// Full-text search, newest first, before `before` when given. `query` comes from
/// [`parse_query`].
pub fn search_messages(
    conn: &mut DbConnection,
    find: &Find,
    before: Option<MessageId>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let _timer = crate::metrics::read_timer("search_messages");
    if let (DbConnection::Sqlite(_), Some(query)) = (&*conn, find.query) {
        let matching = sqlite::scoped_match_string(query, find.filter.channel_id, find.filter.user_id);
        return newest_matches(conn, find, &matching, before, limit);
    }
    let mut q = narrow!(
        messages::table
            .inner_join(channels::table)
            .inner_join(users::table)
            .select(MESSAGE_COLUMNS)
            .order(messages::id.desc())
            .limit(limit)
            .into_boxed(),
        conn,
        find
    );
    if let Some(b) = before {
        q = q.filter(messages::id.lt(b));
    }
    q.load(conn)
}

/// A search's page (newest first, below `before`, at most `limit`) and its total up to
/// `upto` (the cursor it is read at; see [`count_matches`]). On SQLite, a first page
/// without a time filter comes from the same FTS5 pass as the total: every match in the
/// mirror counts as it is, so the newest matches up to the cap are the total and the page
/// at once (a prefix query made FTS5 merge its terms' matches once per pass; two passes took
/// 150 ms over 1.25 M matches at 10 M messages).
pub fn search_with_total(
    conn: &mut DbConnection,
    find: &Find,
    before: Option<MessageId>,
    limit: i64,
    upto: MessageId,
) -> QueryResult<(Vec<Message>, (i64, bool))> {
    let first_page = before.is_none() && find.since.is_none() && find.until.is_none();
    if let (DbConnection::Sqlite(_), Some(query), true) = (&*conn, find.query, first_page) {
        let _timer = crate::metrics::read_timer("search_messages");
        let matching = sqlite::scoped_match_string(query, find.filter.channel_id, find.filter.user_id);
        let ids = fts_below(
            conn,
            &matching,
            MessageId(upto.0.saturating_add(1)),
            SEARCH_COUNT_MAX + 1,
        )?;
        let n = ids.len() as i64;
        let page = &ids[..(limit.max(0) as usize).min(ids.len())];
        let rows = narrowed(conn, &Find { query: None, ..*find }, page, limit)?;
        return Ok((rows, (n.min(SEARCH_COUNT_MAX), n <= SEARCH_COUNT_MAX)));
    }
    Ok((
        search_messages(conn, find, before, limit)?,
        count_matches(conn, find, upto)?,
    ))
}

/// The messages of `ids` that `unmatched` (a [`Find`] without its words) keeps, newest
/// first, at most `limit`.
fn narrowed(conn: &mut DbConnection, unmatched: &Find, ids: &[MessageId], limit: i64) -> QueryResult<Vec<Message>> {
    narrow!(
        messages::table
            .inner_join(channels::table)
            .inner_join(users::table)
            .select(MESSAGE_COLUMNS)
            .filter(messages::id.eq_any(ids))
            .order(messages::id.desc())
            .limit(limit)
            .into_boxed(),
        conn,
        unmatched
    )
    .load(conn)
}

/// Matches FTS5 hands over at a time, newest first, for [`newest_matches`] to narrow.
const FTS_CHUNK: i64 = 1000;

/// SQLite's search, newest first: FTS5 walks its matches from the newest rowid down and
/// stops after a chunk, and only those rows are narrowed and read, until `limit` are found
/// or the matches end. (Asked as `id IN (every match)`, a common word had SQLite collect
/// every matching rowid first: about a second over ten million messages.)
fn newest_matches(
    conn: &mut DbConnection,
    find: &Find,
    matching: &str,
    before: Option<MessageId>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let mut out: Vec<Message> = Vec::new();
    let mut below = before.unwrap_or(MessageId(i64::MAX));
    let chunk = FTS_CHUNK.max(limit);
    while (out.len() as i64) < limit {
        let ids = fts_below(conn, matching, below, chunk)?;
        let Some(&lowest) = ids.last() else {
            break;
        };
        let rows = narrowed(conn, &Find { query: None, ..*find }, &ids, limit - out.len() as i64)?;
        out.extend(rows);
        if (ids.len() as i64) < chunk {
            break;
        }
        below = lowest;
    }
    Ok(out)
}

/// Up to `n` rowids FTS5 matches below `below`, newest first.
fn fts_below(conn: &mut DbConnection, matching: &str, below: MessageId, n: i64) -> QueryResult<Vec<MessageId>> {
    Ok(diesel::sql_query(
        "SELECT rowid AS id FROM messages_fts WHERE messages_fts MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?",
    )
    .bind::<diesel::sql_types::Text, _>(matching)
    .bind::<diesel::sql_types::BigInt, _>(below)
    .bind::<diesel::sql_types::BigInt, _>(n)
    .load::<RowId>(conn)?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

/// SQLite's count: the FTS mirror holds public live messages only, with their channel and
/// user (`matching` narrows to them), so without a time filter every match counts as it is
/// and FTS5 counts them itself, in one pass up to the cap; with one, a chunk of matches at
/// a time is narrowed (see [`newest_matches`]).
fn count_newest_matches(conn: &mut DbConnection, find: &Find, matching: &str, upto: MessageId) -> QueryResult<i64> {
    if find.since.is_none() && find.until.is_none() {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        return Ok(diesel::sql_query(
            "SELECT count(*) AS n FROM (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? AND rowid <= ? LIMIT ?)",
        )
        .bind::<diesel::sql_types::Text, _>(matching)
        .bind::<diesel::sql_types::BigInt, _>(upto)
        .bind::<diesel::sql_types::BigInt, _>(SEARCH_COUNT_MAX + 1)
        .get_result::<Count>(conn)?
        .n);
    }
    let unmatched = Find { query: None, ..*find };
    let mut below = MessageId(upto.0.saturating_add(1));
    let mut n = 0;
    while n <= SEARCH_COUNT_MAX {
        let ids = fts_below(conn, matching, below, FTS_CHUNK)?;
        let Some(&lowest) = ids.last() else {
            break;
        };
        n += narrow!(
            messages::table
                .select(messages::id)
                .filter(messages::id.eq_any(&ids))
                .into_boxed(),
            conn,
            &unmatched
        )
        .load::<MessageId>(conn)?
        .len() as i64;
        if (ids.len() as i64) < FTS_CHUNK {
            break;
        }
        below = lowest;
    }
    Ok(n)
}

#[derive(QueryableByName)]
struct RowId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: MessageId,
}

/// How many messages `find` matches up to `upto` (the cursor a search was read at): the
/// exact number up to [`SEARCH_COUNT_MAX`], and whether it is exact (beyond, the count
/// stops there).
pub fn count_matches(conn: &mut DbConnection, find: &Find, upto: MessageId) -> QueryResult<(i64, bool)> {
    let _timer = crate::metrics::read_timer("count_matches");
    if let (DbConnection::Sqlite(_), Some(query)) = (&*conn, find.query) {
        let matching = sqlite::scoped_match_string(query, find.filter.channel_id, find.filter.user_id);
        let n = count_newest_matches(conn, find, &matching, upto)?;
        return Ok((n.min(SEARCH_COUNT_MAX), n <= SEARCH_COUNT_MAX));
    }
    let ids = narrow!(
        messages::table
            .select(messages::id)
            .filter(messages::id.le(upto))
            .limit(SEARCH_COUNT_MAX + 1)
            .into_boxed(),
        conn,
        find
    );
    // At most SEARCH_COUNT_MAX + 1 ids (80 KB): the cap bounds the read, not just the answer.
    let n = ids.load::<MessageId>(conn)?.len() as i64;
    Ok((n.min(SEARCH_COUNT_MAX), n <= SEARCH_COUNT_MAX))
}

/// The messages of channels `find` matches after `after` up to `upto`, oldest first, at
/// most `limit`: one page of an export.
pub fn export_page(
    conn: &mut DbConnection,
    find: &Find,
    after: MessageId,
    upto: MessageId,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let _timer = crate::metrics::read_timer("export_page");
    narrow!(
        messages::table
            .inner_join(channels::table)
            .inner_join(users::table)
            .select(MESSAGE_COLUMNS)
            .filter(messages::id.gt(after))
            .filter(messages::id.le(upto))
            // Threads' and incidents' messages have no place in the ingest format.
            .filter(channels::kind.eq(super::channels::CHANNEL))
            .order(messages::id.asc())
            .limit(limit)
            .into_boxed(),
        conn,
        find
    )
    .load(conn)
}

/// Takes a message's text out of the search index before it is edited or deleted.
pub(super) fn unindex(conn: &mut DbConnection, m: &Message) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(c) => sqlite::unindex(c, m),
        // The `search` column is generated from the text.
        DbConnection::Pg(_) => Ok(()),
    }
}

/// Puts a message's new text in the search index.
pub(super) fn index(conn: &mut DbConnection, m: &Message, text: &str) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(c) => sqlite::index(c, m, text),
        DbConnection::Pg(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fts5(q: &str) -> String {
        sqlite::match_string(&parse_query(q).unwrap())
    }

    fn tsquery(q: &str) -> String {
        postgres::tsquery(&parse_query(q).unwrap())
    }

    #[test]
    fn words_prefixes_and_phrases() {
        assert_eq!(fts5("hello wor*"), r#"text : ("hello" "wor"*)"#);
        assert_eq!(fts5(r#"say "good day" now"#), r#"text : ("say" "good day" "now")"#);
        assert_eq!(fts5("NEAR(a b)"), r#"text : ("NEAR(a" "b)")"#);
        assert_eq!(fts5(r#"say "a""#), r#"text : ("say" "a")"#);
    }

    #[test]
    fn tsquery_quotes_every_term() {
        assert_eq!(tsquery("hello wor*"), "'hello' & 'wor':*");
        assert_eq!(tsquery(r#"say "good day""#), "'say' & 'good day'");
        assert_eq!(tsquery(r"it's a\\b | !x"), r"'it''s' & 'a\\\\b' & '!x'");
        assert_eq!(tsquery("x:* <-> (y)"), "'x:':* & '(y)'");
    }

    #[test]
    fn rejects_unbalanced_and_empty() {
        assert_eq!(parse_query(r#""open"#), Err(InvalidQuery("unbalanced quote")));
        assert_eq!(parse_query("  "), Err(InvalidQuery("nothing to search for")));
        assert_eq!(parse_query("* -- ()"), Err(InvalidQuery("nothing to search for")));
    }

    #[test]
    fn nul_separates_words() {
        // Found by schemathesis: kept, it ended FTS5's query string early (a 500).
        assert_eq!(fts5("YG\0x"), r#"text : ("YG" "x")"#);
        assert_eq!(fts5("\"a\0b\""), r#"text : ("a b")"#);
        assert_eq!(parse_query("\0"), Err(InvalidQuery("nothing to search for")));
    }
}

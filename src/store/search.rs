//! Full-text search. What a person types becomes a safe FTS5 query: every word must
//! match, `word*` matches a prefix, `"two words"` matches a phrase. Nothing of FTS5's own
//! syntax (NEAR, column filters, operators) gets through unquoted.
use diesel::prelude::*;

use super::messages::{Message, MessageFilter, MESSAGE_COLUMNS};
use super::schema::{channels, messages, users};

#[derive(Debug, PartialEq, Eq)]
pub struct InvalidQuery(pub &'static str);

pub fn parse_query(q: &str) -> Result<String, InvalidQuery> {
    let mut terms = Vec::new();
    let mut rest = q.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('"') {
            let end = after.find('"').ok_or(InvalidQuery("unbalanced quote"))?;
            let phrase = &after[..end];
            if has_token(phrase) {
                terms.push(quote(phrase, false));
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
            terms.push(quote(word, prefix));
        }
    }
    if terms.is_empty() {
        return Err(InvalidQuery("nothing to search for"));
    }
    Ok(terms.join(" "))
}

/// FTS5's default tokenizer splits on everything but letters and digits.
fn has_token(s: &str) -> bool {
    s.chars().any(char::is_alphanumeric)
}

fn quote(s: &str, prefix: bool) -> String {
    let mut out = String::with_capacity(s.len() + 3);
    out.push('"');
    out.push_str(&s.replace('"', "\"\""));
    out.push('"');
    if prefix {
        out.push('*');
    }
    out
}

/// Full-text search, newest first. `fts_query` comes from [`parse_query`].
pub fn search_messages(
    conn: &mut SqliteConnection,
    fts_query: &str,
    filter: MessageFilter,
    since: Option<i64>,
    until: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let _timer = crate::metrics::read_timer("search_messages");
    let matching = diesel::dsl::sql::<diesel::sql_types::Bool>(
        "messages.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ",
    )
    .bind::<diesel::sql_types::Text, _>(fts_query.to_owned())
    .sql(")");
    let mut q = filter.apply(
        messages::table
            .inner_join(channels::table)
            .inner_join(users::table)
            .select(MESSAGE_COLUMNS)
            .filter(matching)
            .order(messages::id.desc())
            .limit(limit)
            .into_boxed(),
    );
    if let Some(s) = since {
        q = q.filter(messages::sent_at.ge(s));
    }
    if let Some(u) = until {
        q = q.filter(messages::sent_at.lt(u));
    }
    q.load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_prefixes_and_phrases() {
        assert_eq!(parse_query("hello wor*").unwrap(), r#""hello" "wor"*"#);
        assert_eq!(
            parse_query(r#"say "good day" now"#).unwrap(),
            r#""say" "good day" "now""#
        );
        assert_eq!(parse_query("NEAR(a b)").unwrap(), r#""NEAR(a" "b)""#);
    }

    #[test]
    fn rejects_unbalanced_and_empty() {
        assert_eq!(parse_query(r#""open"#), Err(InvalidQuery("unbalanced quote")));
        assert_eq!(parse_query("  "), Err(InvalidQuery("nothing to search for")));
        assert_eq!(parse_query("* -- ()"), Err(InvalidQuery("nothing to search for")));
    }
}

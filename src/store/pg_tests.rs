//! The store on PostgreSQL: search, and what several nodes on one database rely on (one
//! dense commit order, `event_id` once, migrations once). Each test runs on a fresh
//! database of the server at [`ADMIN_URL`], dropped after.
use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;

use super::schema::messages;
use super::search::Find;
use super::*;

/// A PostgreSQL server where the tests may create and drop databases (trust auth).
const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh, empty database, dropped (whoever is still connected) when this is dropped.
pub(super) struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        let name = format!("chatpulse_t_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::establish(ADMIN_URL).expect("connect to the test PostgreSQL");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        TestDb {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(ADMIN_URL) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

fn message(channel: &str, user: &str, text: &str, event_id: Option<String>) -> NewMessage {
    NewMessage {
        channel: channel.into(),
        user: user.into(),
        text: text.into(),
        sent_at: 1_700_000_000_000,
        tags: None,
        display_name: None,
        event_id,
    }
}

fn search(store: &Store, q: &str) -> Vec<String> {
    let query = parse_query(q).unwrap();
    let mut conn = store.conn().unwrap();
    let mut found: Vec<String> = search_messages(
        &mut conn,
        &Find {
            query: Some(&query),
            ..Default::default()
        },
        None,
        100,
    )
    .unwrap_or_else(|e| panic!("{q}: {e}"))
    .into_iter()
    .map(|m| m.text)
    .collect();
    found.sort();
    found
}

#[test]
fn search_words_prefixes_and_phrases() {
    let db = TestDb::new();
    let store = Store::open(&db.url, 2).unwrap();
    let texts = [
        "hello world",
        "help wanted",
        "say good day now",
        "good and bad day",
        "it's a test",
        "nothing here",
    ];
    let batch: Vec<NewMessage> = texts.iter().map(|t| message("c", "u", t, None)).collect();
    store.insert_batches(&[batch]).unwrap();

    assert_eq!(search(&store, "hello"), ["hello world"]);
    assert_eq!(search(&store, "HELLO World"), ["hello world"], "case folds");
    assert_eq!(search(&store, "hel*"), ["hello world", "help wanted"]);
    assert_eq!(search(&store, "hel"), Vec::<String>::new(), "a word is not a prefix");
    assert_eq!(search(&store, "good day"), ["good and bad day", "say good day now"]);
    assert_eq!(
        search(&store, r#""good day""#),
        ["say good day now"],
        "a phrase keeps its order"
    );
    assert_eq!(search(&store, r#"say "good day" now"#), ["say good day now"]);
    assert_eq!(search(&store, "it's"), ["it's a test"]);
    // tsquery's own syntax typed as text is searched for as text, never an error.
    for hostile in [r"a\b", "'", "x:*", "!(a|b)", "good & !day", "<-> day", r"\'"] {
        if let Ok(q) = parse_query(hostile) {
            let mut conn = store.conn().unwrap();
            search_messages(
                &mut conn,
                &Find {
                    query: Some(&q),
                    ..Default::default()
                },
                None,
                10,
            )
            .unwrap_or_else(|e| panic!("{hostile:?}: {e}"));
        }
    }
    assert_eq!(parse_query(r#""open"#), Err(InvalidQuery("unbalanced quote")));
    assert_eq!(parse_query("* ()"), Err(InvalidQuery("nothing to search for")));

    let query = parse_query("hel* day").unwrap();
    let mut conn = store.conn().unwrap();
    let found = search_messages(
        &mut conn,
        &Find {
            query: Some(&query),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert!(found.is_empty(), "every term must match");
    let query = parse_query("wor* hello").unwrap();
    let found = search_messages(
        &mut conn,
        &Find {
            query: Some(&query),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    let texts: Vec<&str> = found.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hello world"], "every term matches, a prefix included");
}

/// Every id the store answered, with the commit each came in.
fn ids_of(outcomes: &[StoreResult<RequestOutcome>]) -> Vec<MessageId> {
    outcomes
        .iter()
        .flat_map(|o| o.as_ref().expect("a request failed").ids.clone())
        .collect()
}

#[test]
fn two_nodes_writing_at_once_get_dense_ids_in_commit_order() {
    let db = TestDb::new();
    let (commits, requests, per_request) = (25, 3, 40);
    let start = Arc::new(Barrier::new(2));
    let writers: Vec<_> = (0..2)
        .map(|node| {
            let (url, start) = (db.url.clone(), start.clone());
            thread::spawn(move || {
                let store = Store::open(&url, 1).unwrap();
                start.wait();
                (0..commits)
                    .map(|k| {
                        let batches: Vec<Vec<NewMessage>> = (0..requests)
                            .map(|r| {
                                (0..per_request)
                                    .map(|i| message(&format!("c{}", i % 5), &format!("n{node}u{r}"), "x", None))
                                    .collect()
                            })
                            .collect();
                        let (outcomes, committed) = store.insert_batches(&batches).unwrap();
                        let ids = ids_of(&outcomes);
                        let got: Vec<MessageId> = committed.messages.iter().map(|m| m.id).collect();
                        assert_eq!(got, ids, "node {node} commit {k}: committed is what it inserted");
                        ids
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    let mut all = BTreeSet::new();
    for w in writers {
        for ids in w.join().unwrap() {
            // Each commit's rows are one run of ids.
            for pair in ids.windows(2) {
                assert_eq!(pair[1].0, pair[0].0 + 1, "a commit's ids are consecutive: {ids:?}");
            }
            ranges.push((ids[0].0, ids[ids.len() - 1].0));
            all.extend(ids.iter().map(|id| id.0));
        }
    }
    let n = (2 * commits * requests * per_request) as i64;
    assert_eq!(all.len() as i64, n, "every message got its own id");
    assert_eq!(
        all.iter().copied().collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>(),
        "ids are 1..=N"
    );
    // Commits do not interleave: sorted by first id, each starts right after the last.
    ranges.sort();
    for pair in ranges.windows(2) {
        assert_eq!(pair[1].0, pair[0].1 + 1, "commits {pair:?} interleave or leave a gap");
    }
    let store = Store::open(&db.url, 1).unwrap();
    let mut conn = store.conn().unwrap();
    let t = totals(&mut conn).unwrap();
    assert_eq!((t.total_messages, t.cursor.0), (n, n));
    assert_eq!((t.total_channels, t.total_users), (5, 6));
    let counted: i64 = messages::table.count().get_result(&mut conn).unwrap();
    assert_eq!(counted, n);
    let channel_sum: i64 = list_channels(&mut conn, 100, 0, true, None)
        .unwrap()
        .iter()
        .map(|c| c.total_messages)
        .sum();
    assert_eq!(channel_sum, n, "channel counts add up to the rows");
}

#[test]
fn one_event_id_sent_to_two_nodes_at_once_is_stored_once() {
    let db = TestDb::new();
    let rounds = 40;
    let start = Arc::new(Barrier::new(2));
    let nodes: Vec<_> = (0..2)
        .map(|node| {
            let (url, start) = (db.url.clone(), start.clone());
            thread::spawn(move || {
                let store = Store::open(&url, 1).unwrap();
                (0..rounds)
                    .map(|i| {
                        let batch = vec![message("c", &format!("u{node}"), "x", Some(format!("e{i}")))];
                        start.wait();
                        // A failure is kept, not raised: the other node must not wait
                        // at the barrier for a thread that is gone.
                        match store.insert_batches(&[batch]) {
                            Ok((mut outcomes, _)) => outcomes.remove(0).map(|o| o.ids[0]).map_err(|e| e.to_string()),
                            Err(e) => Err(e.to_string()),
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
        })
        .collect();
    let answers: Vec<Vec<MessageId>> = nodes
        .into_iter()
        .map(|n| n.join().unwrap().expect("an insert failed"))
        .collect();
    assert_eq!(answers[0], answers[1], "both nodes answer each event with the same id");
    let store = Store::open(&db.url, 1).unwrap();
    let mut conn = store.conn().unwrap();
    let counted: i64 = messages::table.count().get_result(&mut conn).unwrap();
    assert_eq!(counted, rounds as i64, "each event stored once");
    assert_eq!(totals(&mut conn).unwrap().total_messages, rounds as i64);
}

#[test]
fn three_nodes_starting_at_once_on_an_empty_database_migrate_it_once() {
    let db = TestDb::new();
    let start = Arc::new(Barrier::new(3));
    let nodes: Vec<_> = (0..3)
        .map(|_| {
            let (url, start) = (db.url.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                Store::open(&url, 1).map(|s| s.epoch().to_owned())
            })
        })
        .collect();
    let epochs: Vec<String> = nodes
        .into_iter()
        .map(|n| n.join().unwrap().expect("a node failed to open the database"))
        .collect();
    assert!(!epochs[0].is_empty());
    assert_eq!(epochs[1], epochs[0], "one epoch per database");
    assert_eq!(epochs[2], epochs[0], "one epoch per database");
    let mut conn = PgConnection::establish(&db.url).unwrap();
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = |conn: &mut PgConnection, table: &str| {
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result::<Count>(conn)
            .unwrap()
            .n
    };
    assert_eq!(count(&mut conn, "meta"), 1);
    let migrations = diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&super::postgres::MIGRATIONS)
        .unwrap()
        .len() as i64;
    assert_eq!(
        count(&mut conn, "__diesel_schema_migrations"),
        migrations,
        "each migration run once"
    );
}

//! The command line: `chatpulse [serve] [FLAGS]`. Every limit is a named setting with a
//! default; each flag also reads the environment variable shown in `--help`, and is
//! read the same before or after `serve` (one set of settings, every flag global).
use std::net::ToSocketAddrs;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};
use tempfile::TempDir;

/// The database without `--database` (and without `--demo`).
pub const DEFAULT_DATABASE: &str = "chatpulse.db";

#[derive(Parser, Debug)]
#[command(name = "chatpulse", version, about = "Live chat-analytics engine")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Run the server (the default command).
    Serve,
    /// Print a user token for NAME, signed with --token-secret (for scripts and demos;
    /// an application that embeds chatpulse issues its own).
    Token {
        /// The user (1-64 of A-Z a-z 0-9 _ . -).
        #[arg(value_parser = user_name)]
        name: String,
        /// How long it is valid: 45s, 30m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = crate::auth::parse_ttl)]
        ttl: std::time::Duration,
        /// The token may delete any message and manage any stream.
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// Address to listen on (HOST:PORT); port 0 picks a free port.
    #[arg(long, global = true, env = "CHATPULSE_BIND", default_value = "127.0.0.1:8080", value_parser = bind_address)]
    pub bind: String,
    /// The database: a SQLite file (a path, or `sqlite://PATH`), created with its schema on
    /// first start, or `postgres://USER@HOST:PORT/DB` (also `postgresql://`) for PostgreSQL,
    /// whose schema is created on first start too. Default: chatpulse.db, except that
    /// `--demo` without it runs on a throwaway SQLite database removed at exit.
    #[arg(long, global = true, env = "CHATPULSE_DATABASE")]
    pub database: Option<String>,
    /// Connections in the database pool (reads, and the one writer). Default: one per HTTP
    /// worker, plus 8 for live sessions' catch-up reads.
    #[arg(long, global = true, env = "CHATPULSE_DB_POOL", value_parser = clap::value_parser!(u32).range(1..))]
    pub db_pool: Option<u32>,
    /// SQLite's page cache per pooled connection, in KiB (its `cache_size`): the memory
    /// each connection may keep of the database file. Ignored on PostgreSQL.
    #[arg(long, global = true, env = "CHATPULSE_SQLITE_CACHE_KIB", default_value_t = crate::store::SQLITE_CACHE_KIB, value_parser = clap::value_parser!(u32).range(1..))]
    pub sqlite_cache_kib: u32,
    /// Bearer token required on every write (POST /api/messages). Unset: ingest is open.
    /// An empty token is refused (it would make ingest impossible).
    #[arg(long, global = true, env = "CHATPULSE_INGEST_TOKEN", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub ingest_token: Option<String>,
    /// The secret user tokens are signed with (JWT HS256; at least 16 bytes). Unset: no
    /// user tokens, so only anonymous reads and v1 ingest (except with `--demo`, which makes
    /// one at start).
    #[arg(long, global = true, env = "CHATPULSE_TOKEN_SECRET", hide_env_values = true, value_parser = token_secret)]
    pub token_secret: Option<String>,
    /// A private deployment: every read, page and live view needs a user token (pages send
    /// a person without one to /signin). `/healthz` stays open; `/metrics` then takes the
    /// ingest token as a bearer when one is set. Needs `--token-secret` (or `--demo`).
    /// The variable takes true/false, 1/0, yes/no or on/off.
    #[arg(long, global = true, env = "CHATPULSE_REQUIRE_TOKEN", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub require_token: bool,
    /// Keep events this long (`90m`, `30d`; by the time they were sent), then delete them in
    /// the background. Counts and per-minute rollups are kept (all-time). Unset: keep
    /// everything.
    #[arg(long, global = true, env = "CHATPULSE_RETENTION", value_parser = crate::time::parse_duration)]
    pub retention: Option<std::time::Duration>,
    /// Events one prune transaction deletes at most: ingest waits for one batch at most.
    #[arg(long, global = true, env = "CHATPULSE_RETENTION_BATCH", default_value_t = crate::store::retention::RETENTION_BATCH, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub retention_batch: u32,
    /// Largest file one upload may store, in bytes (a larger one is refused with 413 and
    /// nothing is kept).
    #[arg(long, global = true, env = "CHATPULSE_MAX_FILE_BYTES", default_value_t = crate::store::files::MAX_FILE_BYTES, value_parser = clap::value_parser!(u64).range(1..=(1 << 40)))]
    pub max_file_bytes: u64,
    /// What all stored files may hold together, in bytes: an upload that would pass it is
    /// refused with 413.
    #[arg(long, global = true, env = "CHATPULSE_MAX_FILES_BYTES", default_value_t = crate::store::files::MAX_FILES_BYTES, value_parser = clap::value_parser!(u64).range(1..=(1 << 50)))]
    pub max_files_bytes: u64,
    /// What uploads and downloads move per second on this node, all together, in bytes:
    /// file transfers take their turns so that messages never wait for them.
    #[arg(long, global = true, env = "CHATPULSE_FILE_BYTES_PER_SECOND", default_value_t = crate::store::files::FILE_BYTES_PER_SECOND, value_parser = clap::value_parser!(u64).range((64 << 10)..=(1 << 40)))]
    pub file_bytes_per_second: u64,
    /// The origins people reach this server by, comma-separated (`https://chat.example.com`),
    /// when that is not an IP address or localhost: requests for any other host name are
    /// refused (421), so a page elsewhere cannot reach the server through DNS rebinding.
    #[arg(long, global = true, env = "CHATPULSE_PUBLIC_ORIGIN", value_delimiter = ',', value_parser = origin_url)]
    pub public_origin: Vec<String>,
    /// Comma-separated addresses of reverse proxies whose `Forwarded` and `X-Forwarded-*`
    /// headers are believed; from anyone else they are ignored.
    #[arg(long, global = true, env = "CHATPULSE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Comma-separated origins allowed to open WebSockets besides the server's own.
    #[arg(long, global = true, env = "CHATPULSE_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Events per catch-up batch read from the database for a resuming client.
    #[arg(long, global = true, env = "CHATPULSE_CATCHUP_BATCH", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub catchup_batch: u32,
    /// Largest backlog sent to a resuming client; beyond it the client is told to reload.
    #[arg(long, global = true, env = "CHATPULSE_CATCHUP_MAX", default_value_t = 5000)]
    pub catchup_max: u32,
    /// Bytes of unsent envelopes one live connection may hold before it is closed as overflowed.
    #[arg(long, global = true, env = "CHATPULSE_QUEUE_BYTES", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub queue_bytes: u64,
    /// A live connection whose socket accepts nothing for this long while events wait for it
    /// is disconnected: its client stopped reading. Past the kernel's buffers (see
    /// `--send-buffer-bytes`), this is what bounds how long a stalled client holds anything.
    #[arg(long, global = true, env = "CHATPULSE_WRITE_TIMEOUT_MS", default_value_t = 1_500, value_parser = clap::value_parser!(u64).range(1..))]
    pub write_timeout_ms: u64,
    /// Kernel send buffer of each live connection's socket (SO_SNDBUF), so that a client that
    /// stops reading is noticed within `--write-timeout-ms` rather than after megabytes of
    /// kernel buffering. 0 leaves the kernel's automatic sizing.
    #[arg(long, global = true, env = "CHATPULSE_SEND_BUFFER_BYTES", default_value_t = 64 * 1024)]
    pub send_buffer_bytes: usize,
    /// Window in which count updates (channels, users, metrics) are merged per entity.
    #[arg(long, global = true, env = "CHATPULSE_COALESCE_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub coalesce_ms: u64,
    /// A live connection with no event for this long is sent an `idle` status.
    #[arg(long, global = true, env = "CHATPULSE_IDLE_AFTER_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_after_ms: u64,
    /// Live connections (WebSocket and SSE together) served at once.
    #[arg(long, global = true, env = "CHATPULSE_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Messages accepted and waiting for commit; past it ingest answers 503.
    #[arg(long, global = true, env = "CHATPULSE_INGEST_QUEUE", default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub ingest_queue: u64,
    /// Largest request body accepted by ingest.
    #[arg(long, global = true, env = "CHATPULSE_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Bytes all ingest request bodies being read and parsed may hold at once; past it
    /// ingest answers 503 before reading more. At least `--max-body-bytes`.
    #[arg(long, global = true, env = "CHATPULSE_MAX_BODIES_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_bodies_bytes: usize,
    /// Most messages in one ingest request.
    #[arg(long, global = true, env = "CHATPULSE_MAX_BATCH", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_batch: u64,
    /// Feed synthetic chat through the ingest path, so a fresh install has something to show.
    /// The variable takes true/false, 1/0, yes/no or on/off.
    #[arg(long, global = true, env = "CHATPULSE_DEMO", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub demo: bool,
    /// HTTP worker threads (default: one per core).
    #[arg(long, global = true, env = "CHATPULSE_WORKERS")]
    pub workers: Option<usize>,
    /// The Redis Streams bus shared by the nodes of one database, `redis://HOST:PORT[/N]`.
    /// Unset: this node hears of other nodes' commits only from the database (once a second).
    #[arg(long, global = true, env = "CHATPULSE_BUS", value_parser = redis_url)]
    pub bus: Option<String>,
    /// Entries kept in the bus stream (trimmed approximately as it grows).
    #[arg(long, global = true, env = "CHATPULSE_BUS_MAXLEN", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub bus_maxlen: u64,
    /// Names this node in logs, bus entries and `/healthz` (default: random at start).
    #[arg(long, global = true, env = "CHATPULSE_NODE_ID")]
    pub node_id: Option<String>,
    /// Twitch-style IRC channels to follow, comma-separated (`#` optional): every chat line
    /// is stored like an ingested message. They are added at start to the channels already
    /// followed (stored in the database, managed through /api/irc/channels).
    #[arg(long, global = true, env = "CHATPULSE_IRC_CHANNELS", value_delimiter = ',', value_parser = irc_channel)]
    pub irc_channels: Vec<String>,
    /// The IRC server: `ircs://HOST[:PORT]` (TLS, port 6697) or `irc://HOST[:PORT]` (6667).
    #[arg(long, global = true, env = "CHATPULSE_IRC_SERVER", default_value = "ircs://irc.chat.twitch.tv:6697", value_parser = clap::value_parser!(crate::irc::ServerAddr))]
    pub irc_server: crate::irc::ServerAddr,
    /// The IRC account to log in as, with `--irc-token`. Without both: anonymous and
    /// read-only, as `justinfan<digits>`.
    #[arg(long, global = true, env = "CHATPULSE_IRC_NICK", requires = "irc_token")]
    pub irc_nick: Option<String>,
    /// The account's OAuth token (`oauth:` optional).
    #[arg(long, global = true, env = "CHATPULSE_IRC_TOKEN", hide_env_values = true, requires = "irc_nick", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub irc_token: Option<String>,
}

fn user_name(s: &str) -> Result<String, String> {
    if crate::domain::valid_name(s) {
        Ok(s.to_owned())
    } else {
        Err(format!("a user name is {}", crate::domain::NAME_RULE))
    }
}

fn token_secret(s: &str) -> Result<String, String> {
    if s.len() < crate::auth::SECRET_MIN_BYTES {
        Err(format!("at least {} bytes", crate::auth::SECRET_MIN_BYTES))
    } else {
        Ok(s.to_owned())
    }
}

/// Refuses an address that cannot be listened on (such as a bare port) before anything
/// is created; a host name such as `localhost:8080` is resolved here.
fn bind_address(s: &str) -> Result<String, String> {
    match s.to_socket_addrs().map(|mut addrs| addrs.next()) {
        Ok(Some(_)) => Ok(s.to_owned()),
        Ok(_) => Err(format!("`{s}` resolves to no address")),
        Err(e) => Err(format!("`{s}` is not HOST:PORT, such as 127.0.0.1:8080 ({e})")),
    }
}

/// An origin is `http://` or `https://` and a host, with nothing after it.
fn origin_url(s: &str) -> Result<String, String> {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    match rest.map(|r| r.trim_end_matches('/')) {
        Some(host) if !host.is_empty() && !host.contains('/') => Ok(s.trim_end_matches('/').to_owned()),
        _ => Err(format!("`{s}` is not an origin such as https://chat.example.com")),
    }
}

/// A channel to follow, spaces around it allowed (`a, b`).
fn irc_channel(s: &str) -> Result<String, String> {
    crate::irc::channel_name(s.trim())
}

/// Refuses a bus that is not a Redis URL before anything starts.
fn redis_url(s: &str) -> Result<String, String> {
    redis::Client::open(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("`{s}` is not a Redis URL such as redis://127.0.0.1:6379 ({e})"))
}

/// The database a server runs on.
pub struct Database {
    pub path: String,
    /// The temporary directory of a demo's throwaway database: removed when dropped.
    pub throwaway: Option<TempDir>,
}

impl Settings {
    /// `--database`, else a throwaway for a demo (so a demo never writes into a real
    /// database), else [`DEFAULT_DATABASE`].
    pub fn database(&self) -> std::io::Result<Database> {
        if let Some(path) = &self.database {
            return Ok(Database {
                path: path.clone(),
                throwaway: None,
            });
        }
        if !self.demo {
            return Ok(Database {
                path: DEFAULT_DATABASE.to_owned(),
                throwaway: None,
            });
        }
        let dir = tempfile::Builder::new().prefix("chatpulse-demo-").tempdir()?;
        Ok(Database {
            path: dir.path().join("demo.db").to_string_lossy().into_owned(),
            throwaway: Some(dir),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, clap::Error> {
        Cli::try_parse_from(std::iter::once("chatpulse").chain(args.iter().copied())).map(|c| c.settings)
    }

    #[test]
    fn flags_work_before_and_after_serve() {
        for args in [
            &["--bind", "127.0.0.1:9", "--database", "x.db", "serve"][..],
            &["serve", "--bind", "127.0.0.1:9", "--database", "x.db"],
            &["--bind", "127.0.0.1:9", "serve", "--database", "x.db"],
            &["--bind", "127.0.0.1:9", "--database", "x.db"],
        ] {
            let s = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(s.bind, "127.0.0.1:9", "{args:?}");
            assert_eq!(s.database.as_deref(), Some("x.db"), "{args:?}");
        }
        let s = parse(&["--demo", "serve", "--catchup-batch", "7"]).unwrap();
        assert!(s.demo);
        assert_eq!(s.catchup_batch, 7);
    }

    #[test]
    fn db_pool_is_a_count_of_at_least_one() {
        assert_eq!(parse(&[]).unwrap().db_pool, None);
        assert_eq!(parse(&["serve", "--db-pool", "3"]).unwrap().db_pool, Some(3));
        assert_eq!(parse(&[]).unwrap().sqlite_cache_kib, crate::store::SQLITE_CACHE_KIB);
        assert_eq!(parse(&["--sqlite-cache-kib", "2000"]).unwrap().sqlite_cache_kib, 2000);
        assert!(parse(&["--sqlite-cache-kib", "0"]).is_err());
        assert!(parse(&["--db-pool", "0"]).is_err());
    }

    #[test]
    fn a_bind_that_is_not_an_address_is_refused_naming_it() {
        let e = parse(&["serve", "--bind", "8080"]).unwrap_err();
        assert!(e.to_string().contains("8080"), "{e}");
        assert!(parse(&["--bind", "localhost:0"]).is_ok());
    }

    #[test]
    fn demo_without_database_runs_on_a_throwaway() {
        let s = parse(&["--demo"]).unwrap();
        let db = s.database().unwrap();
        let dir = db.throwaway.as_ref().expect("a throwaway directory").path().to_owned();
        assert!(db.path.starts_with(dir.to_str().unwrap()), "{}", db.path);
        drop(db);
        assert!(!dir.exists(), "the throwaway directory outlived the server");
        let s = parse(&["--demo", "--database", "real.db"]).unwrap();
        assert_eq!(s.database().unwrap().path, "real.db");
        assert_eq!(parse(&[]).unwrap().database().unwrap().path, DEFAULT_DATABASE);
    }
}

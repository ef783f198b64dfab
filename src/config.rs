//! The command line. Every limit is a named setting with a default; each flag also
//! reads the environment variable shown in `--help`.
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "chatpulse", version, about = "Live chat-analytics engine")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: Settings,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default command).
    Serve(Settings),
}

#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "CHATPULSE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// SQLite database file; created with its schema on first start.
    #[arg(long, env = "CHATPULSE_DATABASE", default_value = "chatpulse.db")]
    pub database: String,
    /// Bearer token required on every write (POST /api/messages). Unset: ingest is open.
    #[arg(long, env = "CHATPULSE_INGEST_TOKEN")]
    pub ingest_token: Option<String>,
    /// Comma-separated origins allowed to open WebSockets besides the server's own.
    #[arg(long, env = "CHATPULSE_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Events per catch-up batch read from the database for a resuming client.
    #[arg(long, env = "CHATPULSE_CATCHUP_BATCH", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub catchup_batch: u32,
    /// Largest backlog sent to a resuming client; beyond it the client is told to reload.
    #[arg(long, env = "CHATPULSE_CATCHUP_MAX", default_value_t = 5000)]
    pub catchup_max: u32,
    /// Bytes of unsent envelopes one live connection may hold before it is closed as overflowed.
    #[arg(long, env = "CHATPULSE_QUEUE_BYTES", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub queue_bytes: u64,
    /// A live connection whose socket accepts nothing for this long while events wait for it
    /// is disconnected: its client stopped reading. Past the kernel's buffers (see
    /// `--send-buffer-bytes`), this is what bounds how long a stalled client holds anything.
    #[arg(long, env = "CHATPULSE_WRITE_TIMEOUT_MS", default_value_t = 1_500, value_parser = clap::value_parser!(u64).range(1..))]
    pub write_timeout_ms: u64,
    /// Kernel send buffer of each live connection's socket (SO_SNDBUF), so that a client that
    /// stops reading is noticed within `--write-timeout-ms` rather than after megabytes of
    /// kernel buffering. 0 leaves the kernel's automatic sizing.
    #[arg(long, env = "CHATPULSE_SEND_BUFFER_BYTES", default_value_t = 64 * 1024)]
    pub send_buffer_bytes: usize,
    /// Window in which count updates (channels, users, metrics) are merged per entity.
    #[arg(long, env = "CHATPULSE_COALESCE_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub coalesce_ms: u64,
    /// A live connection with no event for this long is sent an `idle` status.
    #[arg(long, env = "CHATPULSE_IDLE_AFTER_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_after_ms: u64,
    /// Live connections (WebSocket and SSE together) served at once.
    #[arg(long, env = "CHATPULSE_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Messages accepted and waiting for commit; past it ingest answers 503.
    #[arg(long, env = "CHATPULSE_INGEST_QUEUE", default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub ingest_queue: u64,
    /// Largest request body accepted by ingest.
    #[arg(long, env = "CHATPULSE_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most messages in one ingest request.
    #[arg(long, env = "CHATPULSE_MAX_BATCH", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_batch: u64,
    /// Feed synthetic chat through the ingest path, so a fresh install has something to show.
    #[arg(long, env = "CHATPULSE_DEMO", default_value_t = false)]
    pub demo: bool,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "CHATPULSE_WORKERS")]
    pub workers: Option<usize>,
}

impl Cli {
    pub fn settings(self) -> Settings {
        match self.command {
            Some(Command::Serve(s)) => s,
            None => self.serve,
        }
    }
}

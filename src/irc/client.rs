//! The IRC connection: connect (TLS for `ircs://`), request the Twitch capabilities, log in
//! (anonymously as `justinfan<digits>` without a token), join the followed channels paced
//! under the server's join limit, answer PING, and reconnect with backoff and jitter when
//! the connection drops or the server says `RECONNECT`. Chat lines go to a bounded queue;
//! one writer task drains it into ingest in batches, so a busy channel is stored in
//! group commits, and a full queue stops reading (TCP back-pressure) instead of growing.
use std::collections::{BTreeSet, VecDeque};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use rand::Rng;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, sleep_until, Instant};

use super::follow::{State, Status};
use super::line::{parse, Line};
use crate::ingest::validate::message;
use crate::ingest::{Ingest, IngestActor, IngestError, Operate};
use crate::metrics::METRICS;
use crate::store::{Actor as StreamActor, NewMessage, StreamOp};
use crate::time::now_ms;

/// Longest line read: IRCv3 allows 8191 bytes of tags and 512 of message.
pub const IRC_MAX_LINE: usize = 16 * 1024;
/// Messages read and not yet handed to ingest; past it the reader waits.
pub const IRC_QUEUE: usize = 10_000;
/// Most messages in one ingest request from the reader.
pub const IRC_BATCH: usize = 1_000;
/// Channels joined per `IRC_JOIN_WINDOW` (Twitch allows 20 per 10 s to a normal account).
pub const IRC_JOINS_PER_WINDOW: usize = 20;
pub const IRC_JOIN_WINDOW: Duration = Duration::from_secs(10);
/// Silence after which the reader sends a PING, and how long it then waits for anything.
pub const IRC_IDLE_PING: Duration = Duration::from_secs(240);
pub const IRC_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Reconnect delays: the first, the longest; each is jittered by ±50 %.
pub const IRC_BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const IRC_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Longest wait for the TCP connection and the TLS handshake.
pub const IRC_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that lasted this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// `irc://host[:port]` (plain, port 6667) or `ircs://host[:port]` (TLS, port 6697).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl FromStr for ServerAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = s.strip_prefix("ircs://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("irc://") {
            (false, r)
        } else {
            return Err(format!("`{s}` is not irc://host[:port] or ircs://host[:port]"));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| format!("`{p}` is not a port"))?),
            None => (rest, if tls { 6697 } else { 6667 }),
        };
        if host.is_empty() {
            return Err(format!("`{s}` names no host"));
        }
        Ok(ServerAddr {
            tls,
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "ircs" } else { "irc" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone)]
pub struct IrcSettings {
    pub server: ServerAddr,
    /// With `token`: the account to log in as. Without: anonymous, read-only.
    pub nick: Option<String>,
    pub token: Option<String>,
}

/// Reads the channels in `channels` (while there are any) until the process stops.
pub(super) async fn read(
    settings: IrcSettings,
    mut channels: watch::Receiver<BTreeSet<String>>,
    status: Status,
    tx: mpsc::Sender<NewMessage>,
) {
    let mut backoff = IRC_BACKOFF_MIN;
    loop {
        while channels.borrow_and_update().is_empty() {
            if channels.changed().await.is_err() {
                return;
            }
        }
        let started = Instant::now();
        let why = match connect_and_read(&settings, &mut channels, &status, &tx).await {
            Ok(Ended::Reconnect) => {
                backoff = IRC_BACKOFF_MIN;
                METRICS.irc_reconnects.with_label_values(&["reconnect_command"]).inc();
                log::info!("irc server asked to reconnect server={}", settings.server);
                continue;
            }
            Ok(Ended::Unneeded) => {
                METRICS.irc_connected.set(0);
                log::info!("irc disconnected server={}: no channel left to read", settings.server);
                continue;
            }
            Ok(Ended::Closed) => "closed",
            Ok(Ended::Silent) => "timeout",
            Err(e) => {
                log::warn!("irc connection failed server={} error={e}", settings.server);
                "error"
            }
        };
        METRICS.irc_connected.set(0);
        METRICS.irc_reconnects.with_label_values(&[why]).inc();
        if started.elapsed() >= STABLE_AFTER {
            backoff = IRC_BACKOFF_MIN;
        }
        let wait = backoff.mul_f64(rand::rng().random_range(0.5..1.5));
        log::info!(
            "irc reconnecting server={} reason={why} in_ms={}",
            settings.server,
            wait.as_millis()
        );
        sleep(wait).await;
        backoff = (backoff * 2).min(IRC_BACKOFF_MAX);
    }
}

/// How a connection ended without an I/O error.
enum Ended {
    /// The server sent `RECONNECT`.
    Reconnect,
    /// The server closed the connection.
    Closed,
    /// Nothing came back to a PING.
    Silent,
    /// No channel is left to read.
    Unneeded,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn open(server: &ServerAddr) -> std::io::Result<Box<dyn Stream>> {
    let tcp = tokio::net::TcpStream::connect((server.host.as_str(), server.port)).await?;
    tcp.set_nodelay(true)?;
    if !server.tls {
        return Ok(Box::new(tcp));
    }
    let roots = tokio_rustls::rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // The one crypto provider built in (ring) is the default.
    let config = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name =
        tokio_rustls::rustls::pki_types::ServerName::try_from(server.host.clone()).map_err(std::io::Error::other)?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    Ok(Box::new(tls))
}

/// The next line, without its line ending; `Ok(None)` at the end of the stream and
/// `Ok(Some(Err(n)))` for a line of `n` bytes over [`IRC_MAX_LINE`], which is skipped.
async fn next_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Result<String, usize>>> {
    buf.clear();
    let mut over = 0usize;
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(None);
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let n = chunk.len();
        if over > 0 || buf.len() + n > IRC_MAX_LINE {
            over += buf.len() + n;
            buf.clear();
        } else {
            buf.extend_from_slice(chunk);
        }
        r.consume(n);
        if done {
            if over > 0 {
                return Ok(Some(Err(over)));
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            return Ok(Some(Ok(String::from_utf8_lossy(buf).into_owned())));
        }
    }
}

async fn connect_and_read(
    settings: &IrcSettings,
    channels: &mut watch::Receiver<BTreeSet<String>>,
    status: &Status,
    tx: &mpsc::Sender<NewMessage>,
) -> std::io::Result<Ended> {
    let stream = tokio::time::timeout(IRC_CONNECT_TIMEOUT, open(&settings.server))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no connection within 10 s"))??;
    let (read, mut write) = tokio::io::split(stream);
    let mut read = BufReader::new(read);
    let nick = match (&settings.token, &settings.nick) {
        (Some(_), Some(nick)) => nick.to_ascii_lowercase(),
        _ => format!("justinfan{}", rand::rng().random_range(10_000..100_000)),
    };
    let mut hello = String::from("CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership\r\n");
    if let (Some(token), Some(_)) = (&settings.token, &settings.nick) {
        let token = token.strip_prefix("oauth:").unwrap_or(token);
        hello.push_str(&format!("PASS oauth:{token}\r\n"));
    }
    // USER and CAP END complete the registration on a standard server (Twitch needs
    // neither and ignores both).
    hello.push_str(&format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nCAP END\r\n"));
    write.write_all(hello.as_bytes()).await?;
    log::info!("irc connected server={} nick={nick}", settings.server);
    METRICS.irc_connected.set(1);
    status.rejoining();
    // Channels joined (JOIN sent) on this connection, and those waiting for the join pace.
    let mut joined: BTreeSet<String> = BTreeSet::new();
    let mut to_join: VecDeque<String> = VecDeque::new();
    // When the joins of the last `IRC_JOIN_WINDOW` were sent: at most
    // `IRC_JOINS_PER_WINDOW` of them in any window.
    let mut recent_joins: VecDeque<Instant> = VecDeque::new();
    let mut next_join = Instant::now();
    let mut buf = Vec::new();
    let mut last_heard = Instant::now();
    let mut pinged = false;
    let mut wanted_changed = true;
    loop {
        if wanted_changed {
            wanted_changed = false;
            let wanted = channels.borrow_and_update().clone();
            if wanted.is_empty() {
                write.write_all(b"QUIT\r\n").await?;
                return Ok(Ended::Unneeded);
            }
            status.reading(&wanted);
            let gone: Vec<String> = joined.difference(&wanted).cloned().collect();
            for c in gone {
                write.write_all(format!("PART #{c}\r\n").as_bytes()).await?;
                joined.remove(&c);
            }
            to_join.retain(|c| wanted.contains(c));
            for c in &wanted {
                if !joined.contains(c) && !to_join.contains(c) {
                    to_join.push_back(c.clone());
                }
            }
        }
        let quiet_until = last_heard
            + if pinged {
                IRC_IDLE_PING + IRC_PING_TIMEOUT
            } else {
                IRC_IDLE_PING
            };
        let line = tokio::select! {
            line = next_line(&mut read, &mut buf) => line?,
            changed = channels.changed() => {
                if changed.is_err() {
                    return Ok(Ended::Unneeded);
                }
                wanted_changed = true;
                continue;
            }
            _ = sleep_until(next_join), if !to_join.is_empty() => {
                let now = Instant::now();
                while recent_joins.front().is_some_and(|t| now.duration_since(*t) >= IRC_JOIN_WINDOW) {
                    recent_joins.pop_front();
                }
                let room = IRC_JOINS_PER_WINDOW - recent_joins.len();
                let batch: Vec<String> = (0..room).map_while(|_| to_join.pop_front()).collect();
                if !batch.is_empty() {
                    let list: Vec<String> = batch.iter().map(|c| format!("#{c}")).collect();
                    write.write_all(format!("JOIN {}\r\n", list.join(",")).as_bytes()).await?;
                    recent_joins.extend(std::iter::repeat_n(now, batch.len()));
                    joined.extend(batch);
                }
                // The next join may go when the oldest of the window leaves it.
                next_join = match recent_joins.len() {
                    n if n < IRC_JOINS_PER_WINDOW => now,
                    _ => recent_joins[0] + IRC_JOIN_WINDOW,
                };
                continue;
            }
            _ = sleep_until(quiet_until) => {
                if pinged {
                    return Ok(Ended::Silent);
                }
                write.write_all(b"PING :chatpulse\r\n").await?;
                pinged = true;
                continue;
            }
        };
        let Some(line) = line else {
            return Ok(Ended::Closed);
        };
        last_heard = Instant::now();
        pinged = false;
        let line = match line {
            Ok(line) => line,
            Err(bytes) => {
                METRICS.irc_lines.with_label_values(&["too_long"]).inc();
                log::info!("irc line skipped reason=too_long bytes={bytes}");
                continue;
            }
        };
        match parse(&line) {
            Ok(Line::Store { kind, message: m }) => match message(m) {
                Ok(m) => {
                    METRICS.irc_lines.with_label_values(&[kind.as_str()]).inc();
                    status.message(&m.channel, now_ms());
                    if tx.send(m).await.is_err() {
                        return Ok(Ended::Unneeded);
                    }
                }
                Err(e) => {
                    METRICS.irc_lines.with_label_values(&["invalid"]).inc();
                    log::info!("irc line skipped reason=invalid error={e}");
                }
            },
            Ok(Line::Ping(server)) => {
                write.write_all(format!("PONG :{server}\r\n").as_bytes()).await?;
                METRICS.irc_lines.with_label_values(&["control"]).inc();
            }
            Ok(Line::Reconnect) => return Ok(Ended::Reconnect),
            Ok(Line::Notice { target, text }) => {
                METRICS.irc_lines.with_label_values(&["control"]).inc();
                log::warn!("irc notice target={target} text={text:?}");
                // Before the channel is joined, a notice about it is its refusal.
                if status.state(&target) == Some(State::Joining) {
                    status.set(&target, State::Failed(text));
                }
            }
            Ok(Line::Joined { channel, nick: who }) => {
                METRICS.irc_lines.with_label_values(&["control"]).inc();
                if who == nick {
                    status.set(&channel, State::Live);
                }
            }
            Ok(Line::RoomState { channel }) => {
                METRICS.irc_lines.with_label_values(&["control"]).inc();
                status.set(&channel, State::Live);
            }
            Ok(Line::Other) => METRICS.irc_lines.with_label_values(&["control"]).inc(),
            Err(e) => {
                METRICS.irc_lines.with_label_values(&["malformed"]).inc();
                log::info!("irc line skipped reason=malformed error={e}");
            }
        }
    }
}

/// Drains the queue into ingest, as many as are waiting (up to [`IRC_BATCH`]) per request.
/// A refused batch is retried: lines are not dropped while the store is busy or failing.
pub(super) async fn write_to_ingest(mut rx: mpsc::Receiver<NewMessage>, ingest: Addr<IngestActor>) {
    let mut batch = Vec::with_capacity(IRC_BATCH);
    while rx.recv_many(&mut batch, IRC_BATCH).await > 0 {
        let mut wait = IRC_BACKOFF_MIN;
        loop {
            let outcome = match ingest.send(Ingest(batch.clone())).await {
                Ok(Ok(answer)) => answer
                    .await
                    .map_err(|_| "interrupted".to_owned())
                    .and_then(|r| r.map_err(|e| e.to_string())),
                Ok(Err(IngestError::Overloaded)) => Err("the ingest queue is full".into()),
                Ok(Err(IngestError::TooLarge)) => Err("the batch is larger than the ingest queue".into()),
                Err(_) => return,
            };
            match outcome {
                Ok(_) => {
                    moderate(&batch, &ingest).await;
                    break;
                }
                Err(e) => {
                    log::warn!("irc ingest failed messages={} error={e}; retrying", batch.len());
                    sleep(wait).await;
                    wait = (wait * 2).min(IRC_BACKOFF_MAX);
                }
            }
        }
        batch.clear();
    }
}

/// The messages a committed batch's `CLEARMSG` lines removed are deleted (a delete event
/// each, as a moderator's): by their `irc:<id>` key, once they are stored. A message that
/// was never stored here (sent before the channel was followed) is left alone.
async fn moderate(batch: &[NewMessage], ingest: &Addr<IngestActor>) {
    for m in batch {
        let Some(target) = cleared_message(m) else {
            continue;
        };
        let actor = StreamActor {
            name: m.user.clone(),
            admin: true,
        };
        let event_id = format!("irc:{target}");
        let outcome = match ingest.send(Operate(actor, StreamOp::DeleteByKey { event_id })).await {
            Ok(Ok(answer)) => answer
                .await
                .map_err(|_| "interrupted".to_owned())
                .and_then(|r| r.map_err(|e| e.to_string())),
            Ok(Err(e)) => Err(format!("{e:?}")),
            Err(_) => return,
        };
        match outcome {
            Ok(_) => log::info!("irc CLEARMSG applied target={target}"),
            Err(e) => log::info!("irc CLEARMSG not applied target={target} reason={e}"),
        }
    }
}

/// The Twitch id of the message a `CLEARMSG` line removed (see `line.rs`).
fn cleared_message(m: &NewMessage) -> Option<String> {
    let tags: serde_json::Map<String, serde_json::Value> = serde_json::from_str(m.tags.as_deref()?).ok()?;
    if tags.get("irc_command")?.as_str()? != "CLEARMSG" {
        return None;
    }
    Some(tags.get("target-msg-id")?.as_str()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        let a: ServerAddr = "ircs://irc.chat.twitch.tv".parse().unwrap();
        assert_eq!((a.tls, a.host.as_str(), a.port), (true, "irc.chat.twitch.tv", 6697));
        let a: ServerAddr = "irc://127.0.0.1:7000".parse().unwrap();
        assert_eq!((a.tls, a.port), (false, 7000));
        assert!("http://x".parse::<ServerAddr>().is_err());
        assert!("irc://:1".parse::<ServerAddr>().is_err());
        assert!("irc://h:port".parse::<ServerAddr>().is_err());
    }

    #[actix_rt::test]
    async fn lines_over_the_limit_are_skipped_and_reading_goes_on() {
        let long = "x".repeat(IRC_MAX_LINE + 10);
        let input = format!("one\r\n{long}\r\ntwo\n");
        let mut r = BufReader::with_capacity(64, input.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(next_line(&mut r, &mut buf).await.unwrap(), Some(Ok("one".into())));
        assert!(matches!(next_line(&mut r, &mut buf).await.unwrap(), Some(Err(n)) if n > IRC_MAX_LINE));
        assert_eq!(next_line(&mut r, &mut buf).await.unwrap(), Some(Ok("two".into())));
        assert_eq!(next_line(&mut r, &mut buf).await.unwrap(), None);
    }
}

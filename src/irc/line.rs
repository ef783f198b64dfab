//! One line from a Twitch-style IRC server, read into what chatpulse does with it. Parsing
//! is `irc-proto`'s (IRCv3 tags included, their values unescaped); this file is the mapping.
//!
//! - `PRIVMSG` is a message: the channel without `#`, the sender's login, `display-name`,
//!   the text (a `/me` action without its `\x01ACTION` wrapper, tagged `action`),
//!   `tmi-sent-ts` as `sent_at`, the `id` tag as `event_id` (`irc:<id>`), every other tag
//!   in `tags`.
//! - `USERNOTICE` (subscriptions, raids) is a message of the `login` tag's user: the
//!   `system-msg` text, then the user's own words if any, with the `msg-id` and every
//!   other tag.
//! - `CLEARMSG` and `CLEARCHAT` (moderation) are recorded as messages of the server (the
//!   line's prefix, for Twitch `tmi.twitch.tv`) in that channel saying what was removed,
//!   with `irc_command`, `login` / `target-msg-id` or the ban's tags. A `CLEARMSG` also
//!   deletes the message it names, once its record is stored (`client::moderate`: an
//!   `event_deleted` by the server's user, as a moderator); a `CLEARCHAT` deletes nothing
//!   (a timeout hides a user's messages in Twitch's own client, it does not remove them).
//!
//! Every message then goes through the same validation as an ingest request.
use irc_proto::{Command, Message, Prefix};
use serde_json::{Map, Value};

use crate::time::format_ms;

/// What a line asks of the reader.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// A message to store, as the JSON an ingest request would carry.
    Store { kind: Kind, message: Value },
    /// Answer `PONG` with this.
    Ping(String),
    /// The server is going away: reconnect now.
    Reconnect,
    /// A `NOTICE` (a failed join, a rate limit): logged, and a channel still joining is
    /// marked failed with its text.
    Notice { target: String, text: String },
    /// Someone joined a channel (with the membership capability, the reader sees its own).
    Joined { channel: String, nick: String },
    /// The channel's settings: sent to the reader once it is in the channel.
    RoomState { channel: String },
    /// Welcome numerics, `JOIN`, `ROOMSTATE` and the rest: nothing to do.
    Other,
}

/// What kind of chat line a stored message came from (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Message,
    UserNotice,
    Moderation,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::UserNotice => "usernotice",
            Kind::Moderation => "moderation",
        }
    }
}

/// Why a line is skipped.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error("not an IRC line: {0}")]
    Malformed(String),
    #[error("a {0} without the {1} it needs")]
    Incomplete(&'static str, &'static str),
}

/// Reads one line (without its line ending).
pub fn parse(line: &str) -> Result<Line, Skip> {
    let msg: Message = line
        .parse()
        .map_err(|e: irc_proto::error::ProtocolError| Skip::Malformed(e.to_string()))?;
    let mut tags = tags(&msg);
    Ok(match &msg.command {
        Command::PRIVMSG(target, text) => {
            let user = match &msg.prefix {
                Some(Prefix::Nickname(nick, _, _)) if !nick.is_empty() => nick.clone(),
                _ => return Err(Skip::Incomplete("PRIVMSG", "sender")),
            };
            let text = match text.strip_prefix("\u{1}ACTION ") {
                Some(action) => {
                    tags.insert("action".into(), "1".into());
                    action.strip_suffix('\u{1}').unwrap_or(action).to_owned()
                }
                None => text.clone(),
            };
            store(Kind::Message, target, user, text, tags)
        }
        Command::Raw(cmd, args) if cmd == "USERNOTICE" => {
            let target = args.first().ok_or(Skip::Incomplete("USERNOTICE", "channel"))?;
            let user = take(&mut tags, "login").ok_or(Skip::Incomplete("USERNOTICE", "login tag"))?;
            let system = take(&mut tags, "system-msg").unwrap_or_default();
            let text = match (system.is_empty(), args.get(1)) {
                (true, Some(own)) => own.clone(),
                (false, Some(own)) => format!("{system} {own}"),
                (_, None) => system,
            };
            store(Kind::UserNotice, target, user, text, tags)
        }
        Command::Raw(cmd, args) if cmd == "CLEARMSG" => {
            let target = args.first().ok_or(Skip::Incomplete("CLEARMSG", "channel"))?;
            let login = tags.get("login").and_then(Value::as_str).unwrap_or_default().to_owned();
            let removed = args.get(1).map(String::as_str).unwrap_or_default();
            let id = tags
                .get("target-msg-id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(Skip::Incomplete("CLEARMSG", "target-msg-id tag"))?;
            tags.insert("irc_command".into(), "CLEARMSG".into());
            tags.insert("id".into(), format!("CLEARMSG:{id}").into());
            let text = format!("a message by {login} was deleted: {removed}");
            store(Kind::Moderation, target, server(&msg)?, text, tags)
        }
        Command::Raw(cmd, args) if cmd == "CLEARCHAT" => {
            let target = args.first().ok_or(Skip::Incomplete("CLEARCHAT", "channel"))?;
            let sent = tags.get("tmi-sent-ts").cloned().unwrap_or(Value::Null);
            let room = tags.get("room-id").cloned().unwrap_or(Value::Null);
            let (text, who) = match (args.get(1), tags.get("ban-duration").and_then(Value::as_str)) {
                (Some(user), Some(s)) => (
                    format!("{user} was timed out for {s} s; their messages were cleared"),
                    user.clone(),
                ),
                (Some(user), None) => (format!("{user} was banned; their messages were cleared"), user.clone()),
                (None, _) => ("the chat was cleared".to_owned(), "*".to_owned()),
            };
            let (sent, room) = (sent.as_str().unwrap_or_default(), room.as_str().unwrap_or_default());
            tags.insert("irc_command".into(), "CLEARCHAT".into());
            tags.insert("id".into(), format!("CLEARCHAT:{room}:{who}:{sent}").into());
            store(Kind::Moderation, target, server(&msg)?, text, tags)
        }
        Command::PING(server, _) => Line::Ping(server.clone()),
        Command::Raw(cmd, _) if cmd == "RECONNECT" => Line::Reconnect,
        Command::NOTICE(target, text) => Line::Notice {
            target: target.trim_start_matches('#').to_owned(),
            text: text.clone(),
        },
        Command::JOIN(channel, _, _) => match &msg.prefix {
            Some(Prefix::Nickname(nick, _, _)) => Line::Joined {
                channel: channel.trim_start_matches('#').to_owned(),
                nick: nick.clone(),
            },
            _ => Line::Other,
        },
        Command::Raw(cmd, args) if cmd == "ROOMSTATE" && !args.is_empty() => Line::RoomState {
            channel: args[0].trim_start_matches('#').to_owned(),
        },
        // A command is letters or a three-digit numeric; irc-proto keeps anything else raw.
        Command::Raw(cmd, _) if cmd.is_empty() || !cmd.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            return Err(Skip::Malformed(format!("no command in {line:?}")))
        }
        _ => Line::Other,
    })
}

/// The line's tags; a tag without a value is `""`.
fn tags(msg: &Message) -> Map<String, Value> {
    msg.tags
        .iter()
        .flatten()
        .map(|t| (t.0.clone(), Value::String(t.1.clone().unwrap_or_default())))
        .collect()
}

fn take(tags: &mut Map<String, Value>, key: &str) -> Option<String> {
    match tags.remove(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// The server a moderation line came from, as a user name.
fn server(msg: &Message) -> Result<String, Skip> {
    match &msg.prefix {
        Some(Prefix::ServerName(name)) if !name.is_empty() => Ok(name.clone()),
        _ => Err(Skip::Incomplete("moderation line", "server prefix")),
    }
}

/// A message to store, its mapped tags taken out of `tags` and the rest kept there.
fn store(kind: Kind, target: &str, user: String, text: String, mut tags: Map<String, Value>) -> Line {
    let mut m = Map::new();
    m.insert("channel".into(), target.trim_start_matches('#').to_owned().into());
    m.insert("user".into(), user.into());
    m.insert("text".into(), text.into());
    if let Some(name) = take(&mut tags, "display-name") {
        m.insert("display_name".into(), name.into());
    }
    if let Some(ms) = take(&mut tags, "tmi-sent-ts").and_then(|t| t.parse::<i64>().ok()) {
        m.insert("sent_at".into(), format_ms(ms).into());
    }
    if let Some(id) = take(&mut tags, "id") {
        m.insert("event_id".into(), format!("irc:{id}").into());
    }
    m.insert("tags".into(), Value::Object(tags));
    Line::Store {
        kind,
        message: Value::Object(m),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stored(line: &str) -> Value {
        match parse(line) {
            Ok(Line::Store { message, .. }) => message,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn privmsg_maps_every_field() {
        let m = stored(
            "@badge-info=;badges=moderator/1;color=#FF4500;display-name=Ronni\\sB;emotes=;id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;\
             mod=1;room-id=1337;tmi-sent-ts=1507246572675;user-id=1337 :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #dallas :Kappa Keepo Kappa",
        );
        assert_eq!(
            m,
            json!({
                "channel": "dallas", "user": "ronni", "text": "Kappa Keepo Kappa", "display_name": "Ronni B",
                "sent_at": "2017-10-05T23:36:12.675Z", "event_id": "irc:b34ccfc7-4977-403a-8a94-33c6bac34fb8",
                "tags": {"badge-info": "", "badges": "moderator/1", "color": "#FF4500", "emotes": "", "mod": "1",
                         "room-id": "1337", "user-id": "1337"},
            })
        );
    }

    #[test]
    fn an_action_loses_its_wrapper() {
        let m = stored(":a!a@a PRIVMSG #c :\u{1}ACTION waves\u{1}");
        assert_eq!(
            (m["text"].as_str(), m["tags"]["action"].as_str()),
            (Some("waves"), Some("1"))
        );
    }

    #[test]
    fn usernotice_and_moderation() {
        let m = stored(
            "@id=x1;login=ronni;msg-id=resub;system-msg=ronni\\shas\\ssubscribed\\sfor\\s6\\smonths!;tmi-sent-ts=1507246572675 \
             :tmi.twitch.tv USERNOTICE #dallas :Great stream",
        );
        assert_eq!(m["user"], "ronni");
        assert_eq!(m["text"], "ronni has subscribed for 6 months! Great stream");
        assert_eq!(m["tags"]["msg-id"], "resub");
        let m = stored("@login=ronni;target-msg-id=abc;tmi-sent-ts=1 :tmi.twitch.tv CLEARMSG #dallas :bad words");
        assert_eq!(
            (m["user"].as_str(), m["event_id"].as_str()),
            (Some("tmi.twitch.tv"), Some("irc:CLEARMSG:abc"))
        );
        assert_eq!(m["text"], "a message by ronni was deleted: bad words");
        let m = stored("@ban-duration=60;room-id=7;tmi-sent-ts=5 :tmi.twitch.tv CLEARCHAT #dallas :ronni");
        assert_eq!(m["event_id"], "irc:CLEARCHAT:7:ronni:5");
        assert_eq!(m["tags"]["irc_command"], "CLEARCHAT");
    }

    #[test]
    fn control_lines_and_skips() {
        assert_eq!(parse("PING :tmi.twitch.tv"), Ok(Line::Ping("tmi.twitch.tv".into())));
        assert_eq!(parse(":tmi.twitch.tv RECONNECT"), Ok(Line::Reconnect));
        assert_eq!(parse(":tmi.twitch.tv 001 justinfan1 :Welcome, GLHF!"), Ok(Line::Other));
        assert_eq!(
            parse(":justinfan1!justinfan1@justinfan1.tmi.twitch.tv JOIN #dallas"),
            Ok(Line::Joined {
                channel: "dallas".into(),
                nick: "justinfan1".into()
            })
        );
        assert_eq!(
            parse("@room-id=1;slow=0 :tmi.twitch.tv ROOMSTATE #dallas"),
            Ok(Line::RoomState {
                channel: "dallas".into()
            })
        );
        for line in ["", ":onlyprefix", "@a=b", "  ", "\u{1}"] {
            assert!(
                matches!(parse(line), Err(Skip::Malformed(_))),
                "{line:?}: {:?}",
                parse(line)
            );
        }
        assert!(matches!(parse("PRIVMSG #c :no sender"), Err(Skip::Incomplete(..))));
    }
}

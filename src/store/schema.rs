// Written by hand to match migrations/sqlite and migrations/postgresql (diesel maps SQLite
// INTEGER to i32 by default; ids are i64). PostgreSQL's generated `messages.search`
// tsvector is left out: only `postgres.rs` reads it, in SQL.
diesel::table! {
    meta (id) {
        id -> BigInt,
        epoch -> Text,
        total_messages -> BigInt,
        total_channels -> BigInt,
        total_users -> BigInt,
        pruned_upto -> BigInt,
    }
}

diesel::table! {
    channels (id) {
        id -> BigInt,
        name -> Text,
        total_messages -> BigInt,
        last_message_at -> Nullable<BigInt>,
        last_message_id -> BigInt,
        kind -> Text,
        title -> Nullable<Text>,
        description -> Nullable<Text>,
        visibility -> Text,
        status -> Text,
        parent_stream_id -> Nullable<BigInt>,
        branched_from_event_id -> Nullable<BigInt>,
        promoted_at -> Nullable<BigInt>,
        promoted_by -> Nullable<Text>,
        metadata -> Nullable<Text>,
        created_at -> Nullable<BigInt>,
        archived_at -> Nullable<BigInt>,
        private -> Bool,
        access_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        display_name -> Nullable<Text>,
        total_messages -> BigInt,
        first_seen_at -> Nullable<BigInt>,
        last_seen_at -> Nullable<BigInt>,
        last_message_at -> Nullable<BigInt>,
        last_message_id -> BigInt,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        channel_id -> BigInt,
        user_id -> BigInt,
        text -> Text,
        sent_at -> BigInt,
        tags -> Nullable<Text>,
        event_id -> Nullable<Text>,
        kind -> Text,
        payload -> Nullable<Text>,
        target_id -> Nullable<BigInt>,
        edited_at -> Nullable<BigInt>,
        deleted -> Bool,
        private -> Bool,
    }
}

diesel::table! {
    stream_members (stream_id, user_id) {
        stream_id -> BigInt,
        user_id -> BigInt,
        role -> Text,
        joined_at -> BigInt,
        last_read_id -> BigInt,
        unread_count -> BigInt,
        mention_count -> BigInt,
        badge_id -> BigInt,
    }
}

diesel::table! {
    inbox (user_id, cursor) {
        user_id -> BigInt,
        cursor -> BigInt,
        kind -> Text,
        stream_id -> BigInt,
        event_id -> BigInt,
    }
}

diesel::table! {
    irc_channels (name) {
        name -> Text,
        paused -> Bool,
        added_at -> BigInt,
        lease_node -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    channel_minutes (channel_id, minute) {
        channel_id -> BigInt,
        minute -> BigInt,
        messages -> BigInt,
    }
}

diesel::table! {
    all_minutes (minute) {
        minute -> BigInt,
        messages -> BigInt,
    }
}

diesel::table! {
    user_minutes (user_id, minute) {
        user_id -> BigInt,
        minute -> BigInt,
        messages -> BigInt,
    }
}

diesel::table! {
    polls (event_id) {
        event_id -> BigInt,
        stream_id -> BigInt,
        question -> Text,
        options -> Text,
        counts -> Text,
        multiple -> Bool,
        closes_at -> Nullable<BigInt>,
        closed_at -> Nullable<BigInt>,
        voters -> BigInt,
        changed_id -> BigInt,
    }
}

diesel::table! {
    poll_votes (poll_id, user_id) {
        poll_id -> BigInt,
        user_id -> BigInt,
        options -> Text,
        voted_at -> BigInt,
    }
}

diesel::table! {
    files (id) {
        id -> BigInt,
        event_id -> Nullable<BigInt>,
        stream_id -> BigInt,
        name -> Text,
        content_type -> Text,
        size -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    file_chunks (file_id, seq) {
        file_id -> BigInt,
        seq -> BigInt,
        data -> Binary,
    }
}

diesel::joinable!(messages -> channels (channel_id));
diesel::joinable!(messages -> users (user_id));
diesel::joinable!(stream_members -> users (user_id));
diesel::joinable!(stream_members -> channels (stream_id));
diesel::joinable!(inbox -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    meta,
    channels,
    users,
    messages,
    irc_channels,
    stream_members,
    channel_minutes,
    user_minutes,
    all_minutes,
    inbox,
    polls,
    poll_votes,
    files,
    file_chunks
);

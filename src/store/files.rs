//! Files (issue 17): the bytes in the database, in chunks of [`FILE_CHUNK`], so every node
//! serves every file and neither an upload nor a download ever holds more than a chunk.
//! An upload writes its chunks in short transactions of its own (not the event log's
//! writer: a 25 MiB upload never holds up ingest), then the write path commits its `file`
//! event, which attaches it; deleting the event deletes the bytes.
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::ids::{ChannelId, MessageId};
use super::schema::{file_chunks, files};
use super::DbConnection;

/// Bytes per stored chunk: what an upload or a download holds at a time.
pub const FILE_CHUNK: usize = 256 * 1024;

/// File chunks read or written at once, across every transfer (each on a connection of its
/// own): uploads and downloads take turns, so they use at most this many cores and leave
/// the rest to ingest and the live views.
pub const FILE_IO_CONNECTIONS: usize = 1;
/// SQLite's page cache of those connections, in KiB: a chunk passes through, it is not kept.
pub const FILE_IO_CACHE_KIB: u32 = 1024;

/// `--file-bytes-per-second`'s default: 32 MiB/s of file transfers on a node.
pub const FILE_BYTES_PER_SECOND: u64 = 32 << 20;
/// `--max-file-bytes`'s default: one file, 25 MiB.
pub const MAX_FILE_BYTES: u64 = 25 << 20;
/// An upload without its event this old was abandoned (an upload of `--max-file-bytes`
/// takes seconds): dropped when a node starts.
pub const ABANDONED_UPLOAD_MS: i64 = 3_600_000;
/// `--max-files-bytes`'s default: every file together, 10 GiB.
pub const MAX_FILES_BYTES: u64 = 10 << 30;

/// An upload whose bytes are stored and which has no event yet.
#[derive(Debug, Clone)]
pub struct Staged {
    pub name: String,
    pub content_type: String,
    pub size: i64,
}

/// A stored file, as a download needs it.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub id: i64,
    pub stream_id: ChannelId,
    pub name: String,
    pub content_type: String,
    pub size: i64,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Starts an upload into `stream`: its row, with no bytes yet.
pub fn begin(conn: &mut DbConnection, stream: ChannelId, name: &str, content_type: &str, now: i64) -> QueryResult<i64> {
    let row = (
        files::stream_id.eq(stream.0),
        files::name.eq(name),
        files::content_type.eq(content_type),
        files::size.eq(0i64),
        files::created_at.eq(now),
    );
    match conn {
        DbConnection::Sqlite(c) => {
            diesel::insert_into(files::table).values(row).execute(c)?;
            // The connection's own last insert: no other upload's.
            Ok(diesel::sql_query("SELECT last_insert_rowid() AS id")
                .get_result::<Id>(c)?
                .id)
        }
        DbConnection::Pg(c) => diesel::insert_into(files::table)
            .values(row)
            .returning(files::id)
            .get_result(c),
    }
}

/// Stores chunk `seq` of upload `file`; `size` is the bytes stored so far with it.
pub fn put_chunk(conn: &mut DbConnection, file: i64, seq: i64, data: &[u8], size: i64) -> QueryResult<()> {
    diesel::insert_into(file_chunks::table)
        .values((
            file_chunks::file_id.eq(file),
            file_chunks::seq.eq(seq),
            file_chunks::data.eq(data),
        ))
        .execute(conn)?;
    diesel::update(files::table.find(file))
        .set(files::size.eq(size))
        .execute(conn)?;
    Ok(())
}

/// Drops an upload that will not be attached (too large, refused), or a file's bytes.
pub fn discard(conn: &mut DbConnection, file: i64) -> QueryResult<()> {
    diesel::delete(file_chunks::table.filter(file_chunks::file_id.eq(file))).execute(conn)?;
    diesel::delete(files::table.find(file)).execute(conn)?;
    Ok(())
}

/// The upload `file` if it has no event yet.
pub(super) fn staged(conn: &mut DbConnection, file: i64) -> QueryResult<Option<Staged>> {
    Ok(files::table
        .find(file)
        .filter(files::event_id.is_null())
        .select((files::name, files::content_type, files::size))
        .first::<(String, String, i64)>(conn)
        .optional()?
        .map(|(name, content_type, size)| Staged {
            name,
            content_type,
            size,
        }))
}

/// Gives the upload its event.
pub(super) fn attach(conn: &mut DbConnection, file: i64, event: MessageId, stream: ChannelId) -> QueryResult<()> {
    diesel::update(files::table.find(file))
        .set((files::event_id.eq(event.0), files::stream_id.eq(stream.0)))
        .execute(conn)?;
    Ok(())
}

/// Deletes the bytes of the file event `event`.
pub(super) fn remove(conn: &mut DbConnection, event: MessageId) -> QueryResult<()> {
    let id: Option<i64> = files::table
        .filter(files::event_id.eq(event.0))
        .select(files::id)
        .first(conn)
        .optional()?;
    match id {
        Some(id) => discard(conn, id),
        None => Ok(()),
    }
}

/// The file of event `event`.
pub fn by_event(conn: &mut DbConnection, event: MessageId) -> QueryResult<Option<StoredFile>> {
    Ok(files::table
        .filter(files::event_id.eq(event.0))
        .select((
            files::id,
            files::stream_id,
            files::name,
            files::content_type,
            files::size,
        ))
        .first::<(i64, i64, String, String, i64)>(conn)
        .optional()?
        .map(|(id, stream, name, content_type, size)| StoredFile {
            id,
            stream_id: ChannelId(stream),
            name,
            content_type,
            size,
        }))
}

/// Chunk `seq` of file `file`.
pub fn chunk(conn: &mut DbConnection, file: i64, seq: i64) -> QueryResult<Option<Vec<u8>>> {
    file_chunks::table
        .find((file, seq))
        .select(file_chunks::data)
        .first(conn)
        .optional()
}

/// Bytes stored in every file and upload.
pub fn total_bytes(conn: &mut DbConnection) -> QueryResult<i64> {
    Ok(
        diesel::sql_query("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS id FROM files")
            .get_result::<Id>(conn)?
            .id,
    )
}

/// Drops uploads that never got their event (a node that died mid-upload) and began
/// before `before`.
pub fn drop_abandoned(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    let ids: Vec<i64> = files::table
        .filter(files::event_id.is_null())
        .filter(files::created_at.lt(before))
        .select(files::id)
        .load(conn)?;
    for id in &ids {
        discard(conn, *id)?;
    }
    Ok(ids.len())
}

/// The files of pruned events (retention): their bytes go with them.
pub(super) fn pruned(conn: &mut DbConnection, events: &[MessageId]) -> QueryResult<()> {
    let events: Vec<i64> = events.iter().map(|e| e.0).collect();
    let ids: Vec<i64> = files::table
        .filter(files::event_id.eq_any(events))
        .select(files::id)
        .load(conn)?;
    for id in ids {
        discard(conn, id)?;
    }
    Ok(())
}

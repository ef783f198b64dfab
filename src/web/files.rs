//! Files (issue 17, PROTOCOL.md section 9): an upload is the request's raw body, stored a
//! chunk at a time as it arrives, then given its `file` event; a download streams the
//! chunks back (one in memory at a time), honours one `Range`, and is always an
//! attachment that the browser must not sniff or run (an uploaded HTML or SVG file never
//! runs in this origin), except the raster images a page may preview.
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use utoipa::IntoParams;

use super::streams::{actor, event_object, operate, user_id, user_name, visible_stream};
use super::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::store::files::{self, StoredFile, FILE_CHUNK};
use crate::store::streams::EventObject;
use crate::store::{ChannelId, MessageId, StreamOp, StreamStatus};

/// Longest file name and content type, in bytes.
pub const FILE_NAME_MAX: usize = 255;

/// The types a page may show in place (`?inline=true`): raster images only. Anything else,
/// SVG included (it can hold script), is an attachment.
const INLINE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct StreamOnly {
    /// The stream's id.
    id: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct FilePath {
    /// The stream's id.
    id: i64,
    /// The file's event id.
    event_id: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name: 1-255 bytes, no `/`, `\` or control characters.
    name: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// Show a PNG, JPEG, GIF or WebP image in place (`Content-Disposition: inline`);
    /// ignored for any other type.
    inline: Option<bool>,
}

/// The pace of file transfers on this node (`--file-bytes-per-second`): every chunk read or
/// written takes its turn in time, so uploads and downloads together move no more than the
/// setting and the cores stay with ingest and the live views (a message waits for no file).
pub struct FilePace {
    bytes_per_second: f64,
    /// When the next chunk may go.
    next: std::sync::Mutex<tokio::time::Instant>,
}

impl FilePace {
    pub fn new(bytes_per_second: u64) -> FilePace {
        FilePace {
            bytes_per_second: bytes_per_second as f64,
            next: std::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// Waits for `bytes`' turn.
    async fn take(&self, bytes: usize) {
        let at = {
            // Nothing under the lock can panic: a poisoned one is used as it is.
            let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let at = (*next).max(tokio::time::Instant::now());
            *next = at + Duration::from_secs_f64(bytes as f64 / self.bytes_per_second);
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty()
        || name.len() > FILE_NAME_MAX
        || name == "."
        || name == ".."
        || name.chars().any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(ApiError::InvalidParameter(format!(
            "`name` is 1-{FILE_NAME_MAX} bytes, without `/`, `\\` or control characters"
        )));
    }
    Ok(())
}

/// The upload's `Content-Type`, without parameters; `application/octet-stream` if none.
fn content_type(req: &HttpRequest) -> Result<String, ApiError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok("application/octet-stream".into());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| {
            let mut parts = v.splitn(2, '/');
            let token = |s: Option<&str>| {
                s.is_some_and(|s| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
                })
            };
            v.len() <= FILE_NAME_MAX && token(parts.next()) && token(parts.next())
        });
    essence.ok_or_else(|| ApiError::InvalidParameter("`Content-Type` is not a media type (`type/subtype`)".into()))
}

fn too_large(what: &str, limit: u64) -> ApiError {
    ApiError::TooLarge(format!("{what} is over {limit} bytes; nothing was stored"))
}

/// Uploads a file: the raw body, named by `name`, typed by `Content-Type`. Its bytes are
/// stored as they arrive; then its `file` event is added.
#[utoipa::path(post, path = "/api/streams/{id}/files", tag = "streams", params(StreamOnly, UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes, any type (its `Content-Type` is kept)"),
    security(("user_token" = [])),
    responses(
        (status = 201, body = EventObject),
        (status = 400, description = "`invalid_parameter`: no `name`, or one breaking its rule; a `Content-Type` that is no media type", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid user token", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`: no such stream", body = ErrorBody),
        (status = 409, description = "`conflict`: the stream is archived", body = ErrorBody),
        (status = 413, description = "`too_large`: over `--max-file-bytes`, or all files would pass `--max-files-bytes`", body = ErrorBody),
    ))]
pub async fn upload(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<StreamOnly>,
    q: web::Query<UploadQuery>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let actor = actor(&state, &req)?;
    let name = q.into_inner().name;
    check_name(&name)?;
    let kind = content_type(&req)?;
    let (max, max_total) = (state.max_file_bytes, state.max_files_bytes);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large("the file", max));
    }
    // Where it goes, before a byte is stored: the commit checks again.
    let stream = ChannelId(path.id);
    let user = actor.name.clone();
    let stored = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let me = user_id(c, Some(&user))?;
            let s = visible_stream(c, stream, me)?;
            if s.status() == StreamStatus::Archived {
                return Err(ApiError::Conflict("the stream is archived: it takes no changes".into()));
            }
            Ok(files::total_bytes(c)?)
        })
        .await?;
    if stored as u64 + declared.unwrap_or(0) > max_total {
        return Err(too_large("all files together", max_total));
    }
    let now = crate::time::now_ms();
    let file = state
        .store
        .run(move |c| -> Result<_, ApiError> { Ok(files::begin(c, stream, &name, &kind, now)?) })
        .await?;
    let (store, pace) = (state.store.clone(), state.file_pace.clone());
    let stored = async {
        let (mut buf, mut seq, mut size) = (BytesMut::with_capacity(FILE_CHUNK), 0i64, 0u64);
        let put = |part: Bytes, seq: i64, size: u64| {
            let (store, pace) = (store.clone(), pace.clone());
            async move {
                pace.take(part.len()).await;
                store
                    .file_io(move |c| -> Result<_, ApiError> {
                        Ok(files::put_chunk(c, file, seq, &part, size as i64)?)
                    })
                    .await
            }
        };
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| ApiError::InvalidRequest(format!("the body could not be read: {e}")))?;
            size += piece.len() as u64;
            if size > max {
                return Err(too_large("the file", max));
            }
            buf.extend_from_slice(&piece);
            while buf.len() >= FILE_CHUNK {
                let part = buf.split_to(FILE_CHUNK).freeze();
                put(part, seq, size - buf.len() as u64).await?;
                seq += 1;
            }
        }
        if !buf.is_empty() || seq == 0 {
            put(buf.freeze(), seq, size).await?;
        }
        let total = store
            .run(|c| -> Result<_, ApiError> { Ok(files::total_bytes(c)?) })
            .await?;
        if total as u64 > max_total {
            return Err(too_large("all files together", max_total));
        }
        Ok(())
    }
    .await;
    let done = match stored {
        Ok(()) => operate(&state, actor, StreamOp::AttachFile { stream, file }).await,
        Err(e) => Err(e),
    };
    let done = match done {
        Ok(done) => done,
        Err(e) => {
            // Nothing of a refused upload stays.
            let discarded = state
                .store
                .file_io(move |c| -> Result<_, ApiError> { Ok(files::discard(c, file)?) })
                .await;
            if let Err(d) = discarded {
                log::error!("an upload could not be discarded file={file} error={d}");
            }
            return Err(e);
        }
    };
    let event = match &done.row {
        Some(row) => EventObject::new(row, None),
        None => event_object(&state, done.event.expect("a file is an event")).await?,
    };
    Ok(HttpResponse::Created().json(event))
}

/// One byte range `start..end` (end exclusive) of a file of `size` bytes, from a `Range`
/// header: `None` to send the whole file (no header, several ranges, another unit),
/// `Err` when it cannot be satisfied.
fn range(req: &HttpRequest, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (first, last) = spec.split_once('-').ok_or(())?;
    let (first, last) = (first.trim(), last.trim());
    let (start, end) = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(a), Ok(b)) if a <= b => (a, (b + 1).min(size)),
        (Ok(a), Err(_)) if last.is_empty() => (a, size),
        (Err(_), Ok(n)) if first.is_empty() && n > 0 => (size.saturating_sub(n), size),
        _ => return Err(()),
    };
    if start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// `Content-Disposition` with the file's name: an ASCII fallback and the UTF-8 name.
fn disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, NON_ALPHANUMERIC)
    )
}

/// Downloads a file, streamed; one `Range` is honoured (206). Always `nosniff` and a
/// sandboxing `Content-Security-Policy`; an attachment unless `inline=true` asks for one of
/// the raster image types.
#[utoipa::path(get, path = "/api/streams/{id}/files/{event_id}", tag = "streams", params(FilePath, DownloadQuery),
    security((), ("user_token" = [])),
    responses(
        (status = 200, description = "The file's bytes, with its `Content-Type`", content_type = "application/octet-stream"),
        (status = 206, description = "The range asked for, with `Content-Range`", content_type = "application/octet-stream"),
        (status = 400, description = "`invalid_parameter`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: a token that is not valid", body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, description = "`not_found`: no such stream, or no such file in it (or deleted)", body = ErrorBody),
        (status = 416, description = "`range_not_satisfiable`: the range is outside the file", body = ErrorBody, headers(("Content-Range" = String))),
    ))]
pub async fn download(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<FilePath>,
    q: web::Query<DownloadQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = user_name(&req, &state)?;
    let (stream, event) = (ChannelId(path.id), MessageId(path.event_id));
    let f: StoredFile = state
        .store
        .snapshot(move |c| -> Result<_, ApiError> {
            let me = user_id(c, user.as_deref())?;
            visible_stream(c, stream, me)?;
            match files::by_event(c, event)? {
                Some(f) if f.stream_id == stream => Ok(f),
                _ => Err(ApiError::NotFound("no such file in this stream".into())),
            }
        })
        .await?;
    let size = f.size as u64;
    let (start, end, status) = match range(&req, size) {
        Ok(None) => (0, size, actix_web::http::StatusCode::OK),
        Ok(Some((a, b))) => (a, b, actix_web::http::StatusCode::PARTIAL_CONTENT),
        Err(()) => return Err(ApiError::RangeNotSatisfiable(size)),
    };
    let inline = q.inline == Some(true) && INLINE_TYPES.contains(&f.content_type.as_str());
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, f.content_type.clone()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            disposition(if inline { "inline" } else { "attachment" }, &f.name),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox"))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .no_chunking(end - start);
    if status == actix_web::http::StatusCode::PARTIAL_CONTENT {
        res.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{}/{size}", end - 1)));
    }
    // One chunk read at a time, as the client takes them.
    let (store, pace) = (state.store.clone(), state.file_pace.clone());
    let chunk = FILE_CHUNK as u64;
    let body = futures_util::stream::unfold(start, move |at| {
        let (store, pace) = (store.clone(), pace.clone());
        async move {
            if at >= end {
                return None;
            }
            let (seq, skip) = ((at / chunk) as i64, (at % chunk) as usize);
            pace.take((chunk - skip as u64).min(end - at) as usize).await;
            let read = store
                .file_io(move |c| -> Result<_, ApiError> { Ok(files::chunk(c, f.id, seq)?) })
                .await;
            let data = match read {
                Ok(Some(data)) => data,
                Ok(None) => return Some((Err(ApiError::Internal("a file chunk is missing".into())), end)),
                Err(e) => return Some((Err(e), end)),
            };
            let take = (data.len().saturating_sub(skip) as u64).min(end - at) as usize;
            let part = Bytes::from(data).slice(skip..skip + take);
            Some((Ok::<_, ApiError>(part), at + take.max(1) as u64))
        }
    });
    Ok(res.streaming(body))
}

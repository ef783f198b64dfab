//! The shared rules of [`crate::domain`] as JSON Schema, for the OpenAPI document
//! (`web::openapi`). Built from the same constants the server checks with, so the document
//! cannot promise more or less than the server accepts.
use utoipa::openapi::schema::{AdditionalProperties, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{Object, RefOr, Schema};

use crate::domain::{DISPLAY_NAME_MAX, EVENT_ID_MAX, NAME_MAX, NAME_RULE, TAGS_MAX_BYTES, TAGS_MAX_ENTRIES, TEXT_MAX};

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A string an incoming message may hold: anything but U+0000, which PostgreSQL cannot store.
fn no_nul(builder: ObjectBuilder) -> ObjectBuilder {
    builder.pattern(Some(r"^[^\u0000]*$"))
}

/// `builder`'s type, or `null` (an optional field given as `null` counts as absent).
fn or_null(builder: ObjectBuilder, ty: Type) -> ObjectBuilder {
    builder.schema_type(SchemaType::from_iter([ty, Type::Null]))
}

/// The ECMA-262 pattern of [`crate::domain::valid_name`].
pub fn name_pattern() -> String {
    format!(r"^(?!\.\.?$)[A-Za-z0-9_.-]{{1,{NAME_MAX}}}$")
}

/// An IRC channel as a person names it: a channel name, `#` optional.
pub fn irc_channel() -> Object {
    string()
        .pattern(Some(format!("^#?{}", &name_pattern()[1..])))
        .description(Some("a channel name, `#` optional; stored in lowercase"))
        .build()
}

/// A channel or user name.
pub fn name() -> Object {
    string()
        .pattern(Some(name_pattern()))
        .min_length(Some(1))
        .max_length(Some(NAME_MAX))
        .description(Some(NAME_RULE))
        .build()
}

/// A message's text.
pub fn text() -> Object {
    no_nul(string())
        .min_length(Some(1))
        .max_length(Some(TEXT_MAX))
        .description(Some(format!("1-{TEXT_MAX} characters, none of them U+0000")))
        .build()
}

/// A time as the server writes it: RFC 3339 in UTC with milliseconds and `Z`.
pub fn time() -> Object {
    string()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .build()
}

/// A time that may be unknown.
pub fn time_or_null() -> Object {
    or_null(time().into(), Type::String).build()
}

/// `sent_at` of an incoming message: optional, within the years 1 to 9999 once in UTC.
pub fn sent_at() -> Object {
    or_null(string(), Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some(
            "RFC 3339; within the years 1 to 9999 once converted to UTC; the time of arrival when absent",
        ))
        .build()
}

/// An optional display name.
pub fn display_name() -> Object {
    no_nul(or_null(string(), Type::String))
        .min_length(Some(1))
        .max_length(Some(DISPLAY_NAME_MAX))
        .build()
}

/// An optional idempotency key.
pub fn event_id() -> Object {
    no_nul(or_null(string(), Type::String))
        .min_length(Some(1))
        .max_length(Some(EVENT_ID_MAX))
        .description(Some(
            "idempotency key: a message whose event_id is already stored is not stored again",
        ))
        .build()
}

/// String tags: as stored, and as an incoming message may give them.
fn tags_builder() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::<Schema>::from(string())))
}

/// A stored message's tags (`{}` without any).
pub fn tags() -> Object {
    tags_builder().build()
}

/// An incoming message's tags.
pub fn incoming_tags() -> Object {
    or_null(tags_builder(), Type::Object)
        .max_properties(Some(TAGS_MAX_ENTRIES))
        .description(Some(format!(
            "at most {TAGS_MAX_ENTRIES} entries and {TAGS_MAX_BYTES} bytes of keys and values"
        )))
        .build()
}

/// A reference to a component schema.
pub fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(name))
}

/// An optional free text of 1-`max` characters without U+0000 (`null` counts as absent).
fn optional_text(max: usize) -> Object {
    no_nul(or_null(string(), Type::String))
        .min_length(Some(1))
        .max_length(Some(max))
        .build()
}

/// A stream's name: a channel's slug (the name rule) or an incident's or thread's name.
pub fn stream_name() -> Object {
    no_nul(string())
        .min_length(Some(1))
        .max_length(Some(crate::domain::TITLE_MAX))
        .description(Some(format!(
            "a channel's: {NAME_RULE}; an incident's or thread's: 1-{} characters",
            crate::domain::TITLE_MAX
        )))
        .build()
}

pub fn description() -> Object {
    optional_text(crate::domain::DESCRIPTION_MAX)
}

pub fn client_temp_id() -> Object {
    optional_text(crate::domain::CLIENT_TEMP_ID_MAX)
}

pub fn context() -> Object {
    optional_text(crate::domain::CONTEXT_MAX)
}

/// An optional stream name (a change that may leave it).
pub fn optional_stream_name() -> Object {
    optional_text(crate::domain::TITLE_MAX)
}

/// A DM's people besides its creator: 1 to `DM_MEMBERS_MAX - 1` names.
pub fn dm_members() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(name())
        .min_items(Some(1))
        .max_items(Some(crate::domain::DM_MEMBERS_MAX - 1))
        .description(Some("a DM's people besides its creator"))
        .build()
}

//! The write path: validation, the group-committing ingest actor, and demo traffic.
mod actor;
pub mod demo;
pub mod validate;

pub use actor::{Flush, Ingest, IngestActor, IngestError, Operate, WriteHealth};

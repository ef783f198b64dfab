//! Typed ids. A `MessageId` is also a cursor: the one order every view shares (a cursor is
//! the id of the newest message something includes; 0 before any).
use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, DieselNewType, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A stored message, and the cursor of everything up to it.
    MessageId
);
id_type!(ChannelId);
id_type!(UserId);

/// A position in the one order of all views: the id of the newest message included.
pub type Cursor = MessageId;

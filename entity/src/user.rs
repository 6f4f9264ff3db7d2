//! `users`: callers known by the `sub` claim of their JWT, created on first sight.

use sea_orm::entity::prelude::*;

use crate::enums::Role;

/// One row of `users`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// wavegate's own id (UUIDv7, so ids sort by creation time).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The `sub` claim: the user's id in the identity provider, any string.
    #[sea_orm(unique)]
    pub subject: String,
    /// The role of the most recent token seen for this subject.
    pub role: Role,
    /// Stored bytes this user may hold; `None` means the server default.
    pub quota_bytes: Option<i64>,
    /// When the subject was first seen.
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::audio_file::Entity")]
    AudioFile,
}

impl Related<super::audio_file::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AudioFile.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

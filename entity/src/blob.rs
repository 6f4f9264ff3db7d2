//! `blobs`: stored bytes, one row per distinct content, shared by every file with those bytes.

use sea_orm::entity::prelude::*;

/// One row of `blobs`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "blobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Lower-case hex SHA-256 of the bytes; unique, so the same bytes are stored once.
    #[sea_orm(unique)]
    pub sha256: String,
    /// Length of the object in bytes.
    pub size_bytes: i64,
    /// Object key in the bucket, derived from the hash alone (never from client text).
    pub object_key: String,
    /// When the bytes were verified and the row written.
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

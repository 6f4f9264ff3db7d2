//! sea-orm entities of wavegate's database.
//!
//! # Layout
//!
//! - [`user`]: people and services known by the `sub` of their JWT.
//! - [`blob`]: stored bytes, keyed by content (SHA-256), shared by files with the same bytes.
//! - [`audio_file`]: an uploaded audio file, its technical metadata and its visibility.
//! - [`rendition`]: a derived encoding of an audio file (for example an MP3 at 128 kbit/s).
//! - [`processing_job`]: one step of the processing pipeline for a file.
//! - [`processing_log`]: ordered log lines of a job.
//! - [`rendition_upload`]: an output a running job declared and is uploading.
//! - [`upload`]: a file awaiting its bytes straight from the client to storage.
//! - [`storage_deletion`]: the durable queue of objects to remove.
//! - [`enums`]: the string-backed enums shared by the tables above.

pub mod audio_file;
pub mod blob;
pub mod enums;
pub mod processing_job;
pub mod processing_log;
pub mod rendition;
pub mod rendition_upload;
pub mod storage_deletion;
pub mod upload;
pub mod user;

pub mod prelude {
    //! The entities under short names, for `use entity::prelude::*`.
    pub use super::audio_file::Entity as AudioFile;
    pub use super::blob::Entity as Blob;
    pub use super::processing_job::Entity as ProcessingJob;
    pub use super::processing_log::Entity as ProcessingLog;
    pub use super::rendition::Entity as Rendition;
    pub use super::user::Entity as User;
}

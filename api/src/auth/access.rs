//! The access rules of the public contract, in one place.
//!
//! | who | may read | may write |
//! |---|---|---|
//! | anonymous | `PUBLIC` files | nothing |
//! | user | own files, `PUBLIC` and `UNLISTED` files by id | own files |
//! | worker | what jobs need (every file, to process it) | job status, logs, renditions |
//! | admin | everything | everything |
//!
//! A file the caller may not read must look exactly like a missing one.

use entity::audio_file;
use entity::enums::{AudioStatus, Role, Visibility};

use super::Caller;
use crate::error::{ApiError, ApiResult};

/// Whether `caller` may read `file` when it asks for it by id. Other people's files are
/// readable only once `READY`: an upload in progress or a rejected one stays private.
pub fn can_read_by_id(caller: &Caller, file: &audio_file::Model) -> bool {
    if file.status == AudioStatus::Deleted {
        return false;
    }
    let shared_and_ready = |shared: bool| shared && file.status == AudioStatus::Ready;
    match caller {
        Caller::Anonymous => shared_and_ready(file.visibility == Visibility::Public),
        Caller::Authenticated(p) => match p.role {
            Role::Admin | Role::Worker => true,
            Role::User => {
                p.user_id == file.owner_id
                    || shared_and_ready(file.visibility != Visibility::Private)
            }
        },
    }
}

/// Whether `caller` may change or delete `file`.
pub fn can_write(caller: &Caller, file: &audio_file::Model) -> bool {
    match caller {
        Caller::Anonymous => false,
        Caller::Authenticated(p) => match p.role {
            Role::Admin => true,
            Role::User => p.user_id == file.owner_id,
            Role::Worker => false,
        },
    }
}

/// Checks that `caller` may change `file`: `NOT_FOUND` when it may not even see it,
/// `FORBIDDEN` when it may see but not change it.
pub fn ensure_write(caller: &Caller, file: &audio_file::Model) -> ApiResult<()> {
    if !can_read_by_id(caller, file) {
        return Err(ApiError::NotFound);
    }
    if !can_write(caller, file) {
        return Err(ApiError::Forbidden);
    }
    Ok(())
}

/// Which files a listing shows to `caller` without ids: its own and public ones, all for
/// an admin or a worker, public ones for anonymous callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListScope {
    /// Every file that is not deleted.
    All,
    /// `PUBLIC` files, plus the given user's own files.
    PublicAndOwn(Option<uuid::Uuid>),
}

/// The listing scope of `caller`.
pub fn list_scope(caller: &Caller) -> ListScope {
    match caller {
        Caller::Anonymous => ListScope::PublicAndOwn(None),
        Caller::Authenticated(p) => match p.role {
            Role::Admin | Role::Worker => ListScope::All,
            Role::User => ListScope::PublicAndOwn(Some(p.user_id)),
        },
    }
}

/// Checks that `caller` may write at all (anonymous callers may not).
pub fn ensure_authenticated(caller: &Caller) -> ApiResult<&super::Principal> {
    match caller {
        Caller::Anonymous => Err(ApiError::Unauthenticated("sign in to do this".to_owned())),
        Caller::Authenticated(p) => Ok(p),
    }
}

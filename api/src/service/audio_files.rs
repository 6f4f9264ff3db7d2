//! Audio files: read by id, listed in keyset pages, updated and deleted.

use chrono::{DateTime, Utc};
use entity::audio_file::{self, Column};
use entity::enums::{AudioStatus, Visibility};
use entity::{blob, user};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait,
    Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::cursor::{Cursor, SortKey};
use crate::auth::access::ListScope;
use crate::error::{ApiError, ApiResult};

/// Page size when the client names none.
pub const DEFAULT_PAGE_SIZE: i32 = 20;

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: i32 = 100;

/// Orders a listing may be sorted in; every order ends with the id as tie-breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOrder {
    /// Newest first.
    CreatedAtDesc,
    /// Oldest first.
    CreatedAtAsc,
    /// By title, A to Z.
    TitleAsc,
    /// Largest first.
    SizeDesc,
}

impl FileOrder {
    /// The tag cursors of this order carry.
    fn tag(self) -> &'static str {
        match self {
            FileOrder::CreatedAtDesc => "created_at_desc",
            FileOrder::CreatedAtAsc => "created_at_asc",
            FileOrder::TitleAsc => "title_asc",
            FileOrder::SizeDesc => "size_desc",
        }
    }

    /// The sort column and direction.
    fn column(self) -> (Column, Order) {
        match self {
            FileOrder::CreatedAtDesc => (Column::CreatedAt, Order::Desc),
            FileOrder::CreatedAtAsc => (Column::CreatedAt, Order::Asc),
            FileOrder::TitleAsc => (Column::Title, Order::Asc),
            FileOrder::SizeDesc => (Column::SizeBytes, Order::Desc),
        }
    }

    /// The cursor pointing just after `row` in this order.
    pub fn cursor(self, row: &audio_file::Model) -> String {
        let key = match self {
            FileOrder::CreatedAtDesc | FileOrder::CreatedAtAsc => {
                SortKey::Int(row.created_at.timestamp_micros())
            }
            FileOrder::TitleAsc => SortKey::Text(row.title.clone()),
            FileOrder::SizeDesc => SortKey::Int(row.size_bytes),
        };
        Cursor {
            order: self.tag().to_owned(),
            key,
            id: row.id,
        }
        .encode()
    }

    /// Rows strictly after `cursor` in this order.
    fn after(self, cursor: &Cursor) -> ApiResult<Condition> {
        let (col, dir) = self.column();
        let bad = || ApiError::bad_input("after is not a cursor of this list");
        let value: sea_orm::Value = match (self, &cursor.key) {
            (FileOrder::CreatedAtDesc | FileOrder::CreatedAtAsc, SortKey::Int(micros)) => {
                DateTime::<Utc>::from_timestamp_micros(*micros)
                    .ok_or_else(bad)?
                    .into()
            }
            (FileOrder::TitleAsc, SortKey::Text(title)) => title.clone().into(),
            (FileOrder::SizeDesc, SortKey::Int(size)) => (*size).into(),
            _ => return Err(bad()),
        };
        let (beyond, tie) = match dir {
            Order::Desc => (Expr::col(col).lt(value.clone()), Column::Id.lt(cursor.id)),
            _ => (Expr::col(col).gt(value.clone()), Column::Id.gt(cursor.id)),
        };
        Ok(Condition::any()
            .add(beyond)
            .add(Condition::all().add(Expr::col(col).eq(value)).add(tie)))
    }
}

/// Narrowing of a listing, all parts optional and combined with AND.
#[derive(Debug, Clone, Default)]
pub struct FileFilter {
    /// Files of the user with this subject.
    pub owner_subject: Option<String>,
    /// Files of the user with this id (`User.audioFiles`).
    pub owner_id: Option<Uuid>,
    pub visibility: Option<Visibility>,
    pub status: Option<AudioStatus>,
    /// Case-insensitive substring of the title.
    pub title_contains: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// One page of a listing, plus what it takes to count the whole list.
#[derive(Debug, Clone)]
pub struct FilePage {
    /// The rows of this page, in order.
    pub rows: Vec<audio_file::Model>,
    /// Whether rows follow this page.
    pub has_next: bool,
    /// The order the page is in (for cursors).
    pub order: FileOrder,
    /// The listing's condition without the cursor, for `totalCount`.
    pub condition: Condition,
}

/// One file by id, whatever its status (access is the caller's business).
pub async fn find(db: &DatabaseConnection, id: Uuid) -> ApiResult<Option<audio_file::Model>> {
    Ok(audio_file::Entity::find_by_id(id).one(db).await?)
}

/// Files by id, for the file loader.
pub async fn by_ids(db: &DatabaseConnection, ids: &[Uuid]) -> ApiResult<Vec<audio_file::Model>> {
    Ok(audio_file::Entity::find()
        .filter(Column::Id.is_in(super::batch_keys(ids)))
        .all(db)
        .await?)
}

/// Which rows a scope lets the caller list: other people's files only when public and ready.
fn scope_condition(scope: ListScope) -> Condition {
    let public = Condition::all()
        .add(Column::Visibility.eq(Visibility::Public))
        .add(Column::Status.eq(AudioStatus::Ready));
    match scope {
        ListScope::All => Condition::all().add(Column::Status.ne(AudioStatus::Deleted)),
        ListScope::PublicAndOwn(None) => public,
        ListScope::PublicAndOwn(Some(me)) => Condition::any()
            .add(
                Condition::all()
                    .add(Column::OwnerId.eq(me))
                    .add(Column::Status.ne(AudioStatus::Deleted)),
            )
            .add(public),
    }
}

/// The filter as a condition.
fn filter_condition(filter: &FileFilter) -> ApiResult<Condition> {
    let mut cond = Condition::all();
    if let Some(subject) = &filter.owner_subject {
        let owners = Query::select()
            .column(user::Column::Id)
            .from(user::Entity)
            .and_where(user::Column::Subject.eq(subject.as_str()))
            .to_owned();
        cond = cond.add(Column::OwnerId.in_subquery(owners));
    }
    if let Some(owner) = filter.owner_id {
        cond = cond.add(Column::OwnerId.eq(owner));
    }
    if let Some(v) = filter.visibility {
        cond = cond.add(Column::Visibility.eq(v));
    }
    if let Some(s) = filter.status {
        cond = cond.add(Column::Status.eq(s));
    }
    if let Some(text) = &filter.title_contains {
        if text.chars().count() > 200 {
            return Err(ApiError::bad_input(
                "filter.titleContains must be at most 200 characters",
            ));
        }
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = LikeExpr::new(format!("%{escaped}%")).escape('\\');
        cond = cond.add(Expr::from(Func::lower(Expr::col(Column::Title))).like(pattern));
    }
    if let Some(after) = filter.created_after {
        cond = cond.add(Column::CreatedAt.gt(after));
    }
    if let Some(before) = filter.created_before {
        cond = cond.add(Column::CreatedAt.lt(before));
    }
    Ok(cond)
}

/// One page of the files `scope` may list, narrowed by `filter`, in `order`.
#[tracing::instrument(skip(db, filter))]
pub async fn list(
    db: &DatabaseConnection,
    scope: ListScope,
    filter: &FileFilter,
    order: FileOrder,
    first: i32,
    after: Option<&str>,
) -> ApiResult<FilePage> {
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(ApiError::bad_input(format!(
            "first must be between 0 and {MAX_PAGE_SIZE}"
        )));
    }
    let condition = Condition::all()
        .add(scope_condition(scope))
        .add(filter_condition(filter)?);
    let mut query = audio_file::Entity::find().filter(condition.clone());
    if let Some(raw) = after {
        let cursor = Cursor::decode(raw, order.tag())?;
        query = query.filter(order.after(&cursor)?);
    }
    let (col, dir) = order.column();
    let limit = u64::try_from(first).unwrap_or(0) + 1;
    let mut rows = query
        .order_by(col, dir.clone())
        .order_by(Column::Id, dir)
        .limit(limit)
        .all(db)
        .await?;
    let has_next = rows.len() as u64 == limit;
    rows.truncate(limit.saturating_sub(1) as usize);
    Ok(FilePage {
        rows,
        has_next,
        order,
        condition,
    })
}

/// How many files a listing's condition matches.
pub async fn count(db: &DatabaseConnection, condition: Condition) -> ApiResult<u64> {
    Ok(audio_file::Entity::find()
        .filter(condition)
        .count(db)
        .await?)
}

/// Changes the title and visibility of a file.
pub async fn update(
    db: &DatabaseConnection,
    file: audio_file::Model,
    title: Option<String>,
    visibility: Option<Visibility>,
) -> ApiResult<audio_file::Model> {
    let mut row: audio_file::ActiveModel = file.into();
    if let Some(title) = title {
        row.title = Set(super::validate::title(&title)?);
    }
    if let Some(v) = visibility {
        row.visibility = Set(v);
    }
    row.updated_at = Set(super::now());
    Ok(row.update(db).await?)
}

/// Deletes a file with its renditions, jobs, their logs and declared outputs, and queues the removal of the
/// objects no other file uses (its renditions, and its bytes once no file shares them).
///
/// All in one transaction: the rows go and the removals are queued together, and the
/// deletion queue's drainer removes the objects afterwards, with retries.
#[tracing::instrument(skip(db, file), fields(file.id = %file.id))]
pub async fn delete(db: &DatabaseConnection, file: audio_file::Model) -> ApiResult<()> {
    use entity::{rendition, upload};
    use sea_orm::sea_query::LockType;

    let txn = crate::db::begin_write(db).await?;
    let mut rendition_keys: Vec<String> = rendition::Entity::find()
        .select_only()
        .column(rendition::Column::ObjectKey)
        .filter(rendition::Column::AudioFileId.eq(file.id))
        .into_tuple()
        .all(&txn)
        .await?;
    // Outputs a running job declared: their rows go with the job, their objects here.
    let declared: Vec<String> = entity::rendition_upload::Entity::find()
        .select_only()
        .column(entity::rendition_upload::Column::ObjectKey)
        .filter(entity::rendition_upload::Column::AudioFileId.eq(file.id))
        .into_tuple()
        .all(&txn)
        .await?;
    rendition_keys.extend(declared);
    let pending = upload::Entity::find_by_id(file.id).one(&txn).await?;
    // Lock the blob first, so a concurrent upload of the same bytes waits for this.
    let blob = match file.blob_id {
        Some(id) => {
            blob::Entity::find_by_id(id)
                .lock(LockType::Update)
                .one(&txn)
                .await?
        }
        None => None,
    };
    audio_file::Entity::delete_by_id(file.id).exec(&txn).await?;
    for key in &rendition_keys {
        super::deletions::enqueue(&txn, key, None).await?;
    }
    if let Some(up) = pending {
        super::deletions::enqueue(&txn, &up.staging_key, up.multipart_upload_id.as_deref()).await?;
    }
    if let Some(blob) = blob {
        let users = audio_file::Entity::find()
            .filter(Column::BlobId.eq(blob.id))
            .count(&txn)
            .await?;
        if users == 0 {
            blob::Entity::delete_by_id(blob.id).exec(&txn).await?;
            super::deletions::enqueue(&txn, &blob.object_key, None).await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

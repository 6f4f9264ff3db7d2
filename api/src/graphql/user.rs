//! `User` and the `me` query.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::user;

use super::audio_file::AudioFileConnection;
use super::context::ContextExt;
use super::types::{Long, Role};
use crate::auth::access;
use crate::error::ApiResult;
use crate::service::audio_files::{self as files, FileFilter, FileOrder};

/// A caller known by the subject of its token.
pub struct User(pub user::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The `sub` claim: the user's id in the identity provider.
    async fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The role of the latest token seen for this user.
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// This user's files that the caller may see, newest first (`first` is 0 to 100).
    #[graphql(cache_control(private))]
    async fn audio_files(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<AudioFileConnection> {
        let first = first.unwrap_or(files::DEFAULT_PAGE_SIZE);
        let scope = access::list_scope(&ctx.request()?.caller);
        ctx.caller_dependent();
        crate::cache::listing(scope, false)
            .into_iter()
            .for_each(|d| ctx.depends_on(d));
        ctx.depends_on(crate::cache::owner(self.0.id));
        let filter = FileFilter {
            owner_id: Some(self.0.id),
            ..FileFilter::default()
        };
        let page = files::list(
            &ctx.state()?.db,
            scope,
            &filter,
            FileOrder::CreatedAtDesc,
            first,
            after.as_deref(),
        )
        .await?;
        Ok(AudioFileConnection::from_page(ctx, page, after.is_some()))
    }

    /// Bytes this user's files hold (ready or awaiting their bytes).
    async fn storage_used_bytes(&self, ctx: &Context<'_>) -> ApiResult<Long> {
        ctx.depends_on(crate::cache::user(self.0.id));
        let used = ctx
            .request()?
            .loaders
            .storage_used
            .load_one(self.0.id)
            .await?;
        Ok(Long(used.unwrap_or(0)))
    }

    /// Bytes this user may hold; `null` means no limit.
    async fn quota_bytes(&self, ctx: &Context<'_>) -> ApiResult<Option<Long>> {
        Ok(self
            .0
            .quota_bytes
            .or(ctx.state()?.settings.default_quota_bytes)
            .map(Long))
    }
}

/// Queries about the caller.
#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The caller; `null` for anonymous callers.
    #[graphql(cache_control(private))]
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        ctx.caller_dependent();
        let Some(id) = ctx.request()?.caller.user_id() else {
            return Ok(None);
        };
        ctx.depends_on(crate::cache::user(id));
        Ok(ctx.request()?.loaders.users.load_one(id).await?.map(User))
    }
}

//! What a request carries into resolvers.

use async_graphql::Context;

use super::loaders::Loaders;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Per-request data: who calls, and dataloaders whose caches live as long as the request.
pub struct RequestContext {
    /// The caller, resolved from the bearer token before execution.
    pub caller: Caller,
    /// Dataloaders of this request.
    pub loaders: Loaders,
    /// What the answer depends on, for the response cache.
    pub deps: std::sync::Arc<crate::cache::Dependencies>,
}

/// Reaching the shared state and the request's data from a resolver.
///
/// Both are always inserted by `http::graphql`; a missing one is a wiring bug, reported
/// as `INTERNAL` rather than a panic.
pub trait ContextExt {
    /// Shared state of the instance.
    fn state(&self) -> ApiResult<&AppState>;
    /// Data of this request.
    fn request(&self) -> ApiResult<&RequestContext>;

    /// Records that the answer shows data that `dep` covers (for the response cache).
    fn depends_on(&self, dep: String) {
        if let Ok(r) = self.request() {
            r.deps.add(dep);
        }
    }

    /// Records that what this resolver shows is the same for every caller, so the
    /// response cache may share the answer (if nothing else in it depends on the caller).
    fn shown_to_all(&self) {
        if let Ok(r) = self.request() {
            r.deps.shown_to_all();
        }
    }

    /// Records that what this resolver shows depends on the caller: the answer is kept
    /// for this caller alone.
    fn caller_dependent(&self) {
        if let Ok(r) = self.request() {
            r.deps.caller_dependent();
        }
    }
}

impl ContextExt for Context<'_> {
    fn state(&self) -> ApiResult<&AppState> {
        self.data::<AppState>()
            .map_err(|_| ApiError::internal("AppState missing from schema data"))
    }

    fn request(&self) -> ApiResult<&RequestContext> {
        self.data::<RequestContext>()
            .map_err(|_| ApiError::internal("RequestContext missing from request data"))
    }
}

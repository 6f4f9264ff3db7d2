//! Builds the schema from the per-type parts.

use async_graphql::{MergedObject, MergedSubscription, Schema};

use super::audio_file::{AudioFileMutation, AudioFileQuery};
use super::job::{JobMutation, JobQuery, JobSubscription};
use super::upload::{UploadMutation, UploadQuery};
use super::user::UserQuery;
use crate::state::AppState;

/// Every query field, merged from the domain modules.
#[derive(MergedObject, Default)]
pub struct Query(UserQuery, AudioFileQuery, JobQuery, UploadQuery);

/// Every mutation field, merged from the domain modules.
#[derive(MergedObject, Default)]
pub struct Mutation(UploadMutation, AudioFileMutation, JobMutation);

/// Every subscription field.
#[derive(MergedSubscription, Default)]
pub struct Subscription(JobSubscription);

/// The schema wavegate serves.
pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Deepest nesting a query may have, so no query can make the server recurse without end.
const MAX_DEPTH: usize = 16;
/// Largest query complexity accepted (fields, with lists weighted by their page size).
const MAX_COMPLEXITY: usize = 20_000;

/// The schema, holding `state` for every resolver.
pub fn build_schema(state: Option<AppState>) -> AppSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY);
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}

/// The SDL of the schema, as `wavegate export-schema` prints it.
pub fn sdl() -> String {
    build_schema(None).sdl()
}

//! The GraphQL schema: types, resolvers and dataloaders. HTTP wiring lives in `http`.
//!
//! # Layout
//!
//! - [`schema`]: builds the schema and exports its SDL.
//! - [`context`]: what each request carries (caller, loaders) and helpers to reach it.
//! - [`loaders`]: dataloaders that batch every list into one statement per level.
//! - [`audio_file`], [`upload`], [`user`], [`job`], [`rendition`]: one module per domain type, each
//!   with its object type and its part of `Query` and `Mutation`.
//! - [`types`]: scalars, enums, presigned URLs and page info shared by the others.
//!
//! Resolvers check access, call a loader or a service function, and map the result.

pub mod audio_file;
pub mod context;
pub mod job;
pub mod loaders;
pub mod rendition;
pub mod schema;
pub mod types;
pub mod upload;
pub mod user;

pub use context::RequestContext;
pub use schema::{AppSchema, build_schema, sdl};

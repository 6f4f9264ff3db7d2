//! wavegate: a GraphQL data gateway for audio platforms.
//!
//! Frontends and processing workers talk to wavegate; it keeps audio bytes in S3 (MinIO
//! in production, an embedded server by default), metadata, jobs and logs in PostgreSQL
//! (SQLite by default), and hands out presigned URLs after an access check.
//!
//! # Layout
//!
//! - [`config`]: the typed settings, from the environment and `wavegate.toml`.
//! - [`http`]: start-up and routes (`/graphql`, GraphiQL, health, metrics).
//! - [`graphql`]: the schema, one module per domain type, and the dataloaders.
//! - [`auth`]: bearer token verification and the access rules.
//! - [`service`]: domain logic; the only place that queries the database.
//! - [`storage`]: the S3 client, presigned URLs, bucket layout, embedded S3 server.
//! - [`cache`]: the response cache (in process, and shared through Redis).
//! - [`db`], [`redis_conn`]: connections.
//! - [`events`]: job change events, shared between instances through Redis.
//! - [`metrics`]: Prometheus metrics of one instance.
//! - [`error`]: the error type clients see, with its stable codes.
//! - [`cli`]: the `wavegate` command line.
//! - [`state`]: what every request shares.
//! - [`worker`]: `wavegate worker`, the reference processing worker, a client of the API.

pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod redis_conn;
pub mod service;
pub mod state;
pub mod storage;
pub mod worker;

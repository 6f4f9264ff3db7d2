//! HTTP: start-up and routes. The GraphQL schema itself lives in `graphql`.
//!
//! # Layout
//!
//! - [`startup`]: builds an [`Application`] from settings (connections, embedded S3,
//!   migrations, schema) and binds the server.
//! - [`graphql`]: `POST /graphql`, with the caller resolved from the bearer token.
//! - [`multipart`]: the GraphQL multipart request, spooling and hashing uploads in one
//!   pass.
//! - [`graphiql`]: `GET /graphql` and its assets, embedded in the binary.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`log`]: one log line per request, and the HTTP status counter.

pub mod graphiql;
pub mod graphql;
pub mod log;
pub mod multipart;
pub mod ops;
pub mod startup;
pub mod ws;

pub use startup::Application;

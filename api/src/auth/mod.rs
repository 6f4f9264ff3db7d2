//! Identity and access: who the caller is, and what it may read and write.
//!
//! # Layout
//!
//! - [`jwt`]: verifies bearer tokens (and mints development tokens for `wavegate token`).
//! - [`access`]: the access rules of the public contract, as plain functions over a
//!   [`Caller`] and a row.
//!
//! A request with no `Authorization` header is anonymous. A header that is present but
//! bad is an `UNAUTHENTICATED` error, never a silent fall back to anonymous.

pub mod access;
pub mod jwt;

use entity::enums::Role;
use uuid::Uuid;

pub use jwt::{Identity, JwtVerifier};

/// The caller of one request, resolved before the GraphQL operation runs.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No bearer token.
    Anonymous,
    /// A verified token whose subject has a row in `users`.
    Authenticated(Principal),
}

/// A verified caller with its user row.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The caller's row in `users`.
    pub user_id: Uuid,
    /// The `sub` claim.
    pub subject: String,
    /// The role from the token's role claim.
    pub role: Role,
}

impl Caller {
    /// The caller's user id, when authenticated.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Caller::Anonymous => None,
            Caller::Authenticated(p) => Some(p.user_id),
        }
    }

    /// The caller's role, when authenticated.
    pub fn role(&self) -> Option<Role> {
        match self {
            Caller::Anonymous => None,
            Caller::Authenticated(p) => Some(p.role),
        }
    }

    /// Whether the caller is an administrator.
    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    /// A short label for logs and metrics: `anonymous`, `user`, `worker` or `admin`.
    pub fn kind(&self) -> &'static str {
        match self.role() {
            None => "anonymous",
            Some(Role::User) => "user",
            Some(Role::Worker) => "worker",
            Some(Role::Admin) => "admin",
        }
    }
}

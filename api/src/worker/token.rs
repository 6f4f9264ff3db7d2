//! Where the worker's bearer token comes from: given once, or minted from the HS256
//! secret (the development aid of `wavegate worker` without `--token`) and minted again
//! before it expires.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use entity::enums::Role;

use crate::auth::JwtVerifier;

/// Lifetime of a minted token.
const MINTED_TTL: Duration = Duration::from_secs(3600);

/// A minted token is replaced once less than this is left of it.
const REMINT_MARGIN: Duration = Duration::from_secs(600);

/// The source of the `Authorization: Bearer` token.
pub enum Credentials {
    /// A token given by the operator; the worker never renews it.
    Fixed(String),
    /// Tokens signed here, renewed before they expire.
    Minted(Box<Minter>),
}

impl Credentials {
    /// The token to send now.
    pub fn bearer(&self) -> anyhow::Result<String> {
        match self {
            Self::Fixed(token) => Ok(token.clone()),
            Self::Minted(minter) => minter.current(),
        }
    }

    /// Whether the token was minted here rather than given (for the hint on refusal).
    pub fn is_minted(&self) -> bool {
        matches!(self, Self::Minted(_))
    }
}

/// Signs worker tokens with the configured HS256 secret.
pub struct Minter {
    /// Holds the signing key.
    verifier: JwtVerifier,
    /// The `sub` of every token, such as `worker-build-7`.
    subject: String,
    /// The token in use and when it stops being good enough.
    current: Mutex<Option<(String, Instant)>>,
}

impl Minter {
    /// A minter for `subject`; fails when the configuration has no HS256 secret.
    pub fn new(verifier: JwtVerifier, subject: String) -> anyhow::Result<Self> {
        let minter = Self {
            verifier,
            subject,
            current: Mutex::new(None),
        };
        minter.current()?;
        Ok(minter)
    }

    /// The token in use, minted again when it is close to expiry.
    fn current(&self) -> anyhow::Result<String> {
        // A panic while holding the lock cannot leave the pair half-written.
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((token, renew_at)) = current.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let token = self
            .verifier
            .mint(&self.subject, Role::Worker, MINTED_TTL)
            .map_err(anyhow::Error::msg)?;
        let renew_at = Instant::now() + MINTED_TTL.saturating_sub(REMINT_MARGIN);
        *current = Some((token.clone(), renew_at));
        Ok(token)
    }
}

/// The `sub` of minted tokens: `worker-`, the host name and the process id, so that two
/// workers on one host are two holders to the gateway (it tells job holders apart by
/// subject).
pub fn default_subject() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.len() <= 200);
    let pid = std::process::id();
    match host {
        Some(host) => format!("worker-{host}-{pid}"),
        None => format!("worker-{pid}"),
    }
}

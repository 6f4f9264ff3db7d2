//! Bearer token verification, with the algorithm pinned by the configured key.
//!
//! - `WAVEGATE_JWT_SECRET` (or the secret kept in the data dir): HS256 only.
//! - `WAVEGATE_JWT_PUBLIC_KEY_FILE`: RS256, ES256 or EdDSA, chosen by the key's type.
//!
//! `exp` is required; `iss` and `aud` are checked when configured; `alg: none` and any
//! algorithm other than the pinned one are refused.

use std::path::Path;

use chrono::{DateTime, Utc};
use entity::enums::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::config::{ConfigError, JwtSettings};
use crate::error::ApiError;

/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECONDS: u64 = 30;

/// File in the data dir that keeps the generated HS256 secret across restarts.
const SECRET_FILE: &str = "jwt-secret";

/// The verified facts of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The `sub` claim.
    pub subject: String,
    /// The highest known role in the role claim; `user` when absent.
    pub role: Role,
    /// The `exp` claim.
    pub expires_at: DateTime<Utc>,
}

/// Verifies tokens with one key and one algorithm.
pub struct JwtVerifier {
    /// Key that checks signatures.
    decoding: DecodingKey,
    /// Pinned algorithm, required claims, issuer and audience.
    validation: Validation,
    /// Dotted path to the role claim, split.
    role_path: Vec<String>,
    /// Key that signs development tokens; only with an HS256 secret.
    encoding: Option<EncodingKey>,
    /// `iss` put into minted tokens.
    issuer: Option<String>,
    /// `aud` put into minted tokens.
    audience: Option<String>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Builds the verifier from settings; reads (or creates) the secret in `data_dir`
    /// when neither a secret nor a public key is configured.
    pub fn from_settings(settings: &JwtSettings, data_dir: &Path) -> Result<Self, ConfigError> {
        let (decoding, algorithm, encoding) = if let Some(path) = &settings.public_key_file {
            let pem = std::fs::read(path).map_err(|e| {
                ConfigError::invalid(
                    "WAVEGATE_JWT_PUBLIC_KEY_FILE",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let (key, alg) = public_key(&pem).ok_or_else(|| {
                ConfigError::invalid(
                    "WAVEGATE_JWT_PUBLIC_KEY_FILE",
                    "not an RSA, EC (P-256) or Ed25519 public key in PEM",
                )
            })?;
            (key, alg, None)
        } else {
            let secret = match &settings.secret {
                Some(s) => s.expose_secret().as_bytes().to_vec(),
                None => kept_secret(data_dir)?,
            };
            if secret.len() < 32 {
                return Err(ConfigError::invalid(
                    "WAVEGATE_JWT_SECRET",
                    "use at least 32 bytes",
                ));
            }
            let bad = |e: jsonwebtoken::errors::Error| {
                ConfigError::invalid("WAVEGATE_JWT_SECRET", format!("unusable: {e}"))
            };
            let decoding = DecodingKey::from_secret(&secret).map_err(bad)?;
            let encoding = EncodingKey::from_secret(&secret).map_err(bad)?;
            (decoding, Algorithm::HS256, Some(encoding))
        };

        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        if let Some(iss) = &settings.issuer {
            validation.set_issuer(&[iss]);
        }
        match &settings.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }

        Ok(Self {
            decoding,
            validation,
            role_path: settings.role_claim.split('.').map(str::to_owned).collect(),
            encoding,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        })
    }

    /// Verifies `token` and reads its identity.
    pub fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        let data = jsonwebtoken::decode::<Value>(token, &self.decoding, &self.validation).map_err(
            |e| {
                use jsonwebtoken::errors::ErrorKind;
                let why = match e.kind() {
                    ErrorKind::ExpiredSignature => "token expired",
                    ErrorKind::InvalidSignature => "token signature is invalid",
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        "token algorithm is not accepted"
                    }
                    ErrorKind::InvalidIssuer => "token issuer is not accepted",
                    ErrorKind::InvalidAudience => "token audience is not accepted",
                    ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim (exp, sub)",
                    ErrorKind::ImmatureSignature => "token is not valid yet",
                    _ => "token is malformed",
                };
                ApiError::Unauthenticated(why.to_owned())
            },
        )?;
        let claims = data.claims;

        let subject = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => s.clone(),
            _ => {
                return Err(ApiError::Unauthenticated(
                    "token sub must be a string of 1 to 255 characters".to_owned(),
                ));
            }
        };
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let expires_at = DateTime::from_timestamp(exp, 0).unwrap_or_default();
        let role = role_at(&claims, &self.role_path);
        Ok(Identity {
            subject,
            role,
            expires_at,
        })
    }

    /// Signs a development token (`wavegate token`); only with an HS256 secret.
    pub fn mint(
        &self,
        subject: &str,
        role: Role,
        ttl: std::time::Duration,
    ) -> Result<String, String> {
        let key = self
            .encoding
            .as_ref()
            .ok_or("tokens can only be minted with an HS256 secret, not with a public key")?;
        let exp =
            Utc::now().timestamp() + i64::try_from(ttl.as_secs()).map_err(|_| "ttl is too long")?;
        let mut claims = serde_json::json!({
            "sub": subject,
            "role": role_name(role),
            "iat": Utc::now().timestamp(),
            "exp": exp,
        });
        if let Some(iss) = &self.issuer {
            claims["iss"] = Value::from(iss.as_str());
        }
        if let Some(aud) = &self.audience {
            claims["aud"] = Value::from(aud.as_str());
        }
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            .map_err(|e| format!("cannot sign: {e}"))
    }
}

/// The lower-case name of a role, as it appears in claims.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Worker => "worker",
        Role::Admin => "admin",
    }
}

/// Reads the role at `path` (a string or a list of strings); the highest known role wins,
/// and a missing or unknown role means `user`.
fn role_at(claims: &Value, path: &[String]) -> Role {
    let mut node = claims;
    for part in path {
        match node.get(part) {
            Some(next) => node = next,
            None => return Role::User,
        }
    }
    let names: Vec<&str> = match node {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let rank = |r: Role| match r {
        Role::User => 0,
        Role::Worker => 1,
        Role::Admin => 2,
    };
    names
        .into_iter()
        .filter_map(|n| match n.to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "worker" => Some(Role::Worker),
            "user" => Some(Role::User),
            _ => None,
        })
        .max_by_key(|r| rank(*r))
        .unwrap_or(Role::User)
}

/// Recognizes a PEM public key and the one algorithm it is used with.
fn public_key(pem: &[u8]) -> Option<(DecodingKey, Algorithm)> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Some((key, Algorithm::RS256));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return Some((key, Algorithm::ES256));
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        return Some((key, Algorithm::EdDSA));
    }
    None
}

/// Reads the HS256 secret kept in the data dir, creating it (readable by its owner alone)
/// on first use.
fn kept_secret(data_dir: &Path) -> Result<Vec<u8>, ConfigError> {
    let path = data_dir.join(SECRET_FILE);
    let fail = |what: &str, e: std::io::Error| {
        ConfigError::invalid(
            "WAVEGATE_DATA_DIR",
            format!("cannot {what} {}: {e}", path.display()),
        )
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(text.trim().as_bytes().to_vec()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail("read", e)),
        Err(_) => {}
    }
    std::fs::create_dir_all(data_dir).map_err(|e| fail("create the directory of", e))?;
    let secret = hex::encode(rand::random::<[u8; 32]>());
    write_private(&path, secret.as_bytes()).map_err(|e| fail("write", e))?;
    Ok(secret.into_bytes())
}

/// Writes a file that only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn highest_known_role_wins_in_a_list() {
        let claims = json!({"realm_access": {"roles": ["offline_access", "worker", "admin"]}});
        let path = vec!["realm_access".to_owned(), "roles".to_owned()];

        assert_eq!(role_at(&claims, &path), Role::Admin);
    }

    #[test]
    fn missing_or_unknown_role_means_user() {
        let path = vec!["role".to_owned()];

        assert_eq!(role_at(&json!({}), &path), Role::User);
        assert_eq!(role_at(&json!({"role": "superuser"}), &path), Role::User);
    }
}

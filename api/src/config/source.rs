//! Where setting values come from: the environment over an optional TOML file.
//!
//! A hand-written merge of two flat maps rather than a layered-config crate: the keys in
//! the file are the environment variable names themselves, which such crates would split
//! on underscores into nested tables.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

/// A setting that could not be read; its `Display` is the one line start-up prints.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {key}: {message}")]
pub struct ConfigError {
    /// The environment variable (or TOML key) at fault.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// A value that is present but unusable.
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// A value that is required in this configuration but absent.
    pub fn missing(key: &str, why: &str) -> Self {
        Self {
            key: key.to_owned(),
            message: format!("missing ({why})"),
        }
    }
}

/// Merged raw values, by key. Empty strings count as unset.
#[derive(Debug, Default, Clone)]
pub struct Source {
    values: HashMap<String, String>,
}

impl Source {
    /// The TOML file (if any) overlaid by the process environment.
    pub fn from_env_and_file() -> Result<Self, ConfigError> {
        let mut values = HashMap::new();
        let explicit = std::env::var("WAVEGATE_CONFIG")
            .ok()
            .filter(|v| !v.is_empty());
        let path = explicit
            .clone()
            .unwrap_or_else(|| "wavegate.toml".to_owned());
        if explicit.is_some() || Path::new(&path).exists() {
            values = read_toml(&path)?;
        }
        for (key, value) in std::env::vars() {
            if key == "DATABASE_URL" || key == "REDIS_URL" || key.starts_with("WAVEGATE_") {
                values.insert(key, value);
            }
        }
        values.retain(|_, v| !v.is_empty());
        Ok(Self { values })
    }

    /// Only the given pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let values = pairs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self { values }
    }

    /// The raw value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Parses `key` when set.
    pub fn parse_opt<T: FromStr>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(key)
            .map(|raw| {
                raw.parse::<T>()
                    .map_err(|e| ConfigError::invalid(key, format!("{raw:?}: {e}")))
            })
            .transpose()
    }

    /// Parses `key`, or `default` when unset.
    pub fn parse_or<T: FromStr>(&self, key: &str, default: &str) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self.get(key).unwrap_or(default);
        raw.parse::<T>()
            .map_err(|e| ConfigError::invalid(key, format!("{raw:?}: {e}")))
    }

    /// Reads an on/off switch.
    pub fn switch(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("on" | "true" | "1" | "yes") => Ok(true),
            Some("off" | "false" | "0" | "no") => Ok(false),
            Some(other) => Err(ConfigError::invalid(
                key,
                format!("expected on or off, got {other:?}"),
            )),
        }
    }
}

/// Reads a flat TOML table of settings; numbers and booleans are taken as their text.
fn read_toml(path: &str) -> Result<HashMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::invalid("WAVEGATE_CONFIG", format!("cannot read {path}: {e}")))?;
    let table: toml::Table = text.parse().map_err(|e| {
        ConfigError::invalid("WAVEGATE_CONFIG", format!("{path} is not valid TOML: {e}"))
    })?;
    let mut values = HashMap::new();
    for (key, value) in table {
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            _ => {
                return Err(ConfigError::invalid(
                    &key,
                    format!("in {path}: expected a string, number or boolean"),
                ));
            }
        };
        values.insert(key, text);
    }
    Ok(values)
}

//! Opaque keyset cursors: the sort key of the last row seen and its id, tagged with the
//! order they belong to, so a cursor from one order is refused by another.
//!
//! Keyset rather than offset pagination: page 1,000 costs what page 1 costs, and rows
//! added meanwhile never shift a page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Sort key of a row within its order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortKey {
    /// A count (sizes) or a timestamp in microseconds since the epoch.
    Int(i64),
    /// A text key (titles).
    Text(String),
}

/// A decoded cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Which order the cursor belongs to (for example `created_at_desc`).
    pub order: String,
    /// Sort key of the last row seen.
    pub key: SortKey,
    /// Id of the last row seen, the tie-breaker.
    pub id: Uuid,
}

impl Cursor {
    /// The opaque string clients pass back as `after`.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(&(&self.order, &self.key, self.id)).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads an `after` argument, which must come from the same `order`.
    pub fn decode(raw: &str, order: &str) -> ApiResult<Self> {
        let bad = || ApiError::bad_input("after is not a cursor of this list");
        if raw.len() > 1024 {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let (cursor_order, key, id): (String, SortKey, Uuid) =
            serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor_order != order {
            return Err(ApiError::bad_input("after is a cursor of another order"));
        }
        Ok(Cursor {
            order: cursor_order,
            key,
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_other_orders() {
        let cursor = Cursor {
            order: "title_asc".into(),
            key: SortKey::Text("a|b\"c".into()),
            id: Uuid::now_v7(),
        };

        let raw = cursor.encode();

        assert_eq!(Cursor::decode(&raw, "title_asc").ok(), Some(cursor));
        assert!(Cursor::decode(&raw, "size_desc").is_err());
        assert!(Cursor::decode("not a cursor", "title_asc").is_err());
    }
}

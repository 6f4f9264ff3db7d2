//! Bucket layout: what each object key means. No key holds client-supplied text.
//!
//! | prefix | what |
//! |---|---|
//! | `originals/sha256/ab/cd/<sha256>` | verified original bytes, addressed by content |
//! | `renditions/<file id>/<rendition id>` | derived encodings, under their file |
//! | `staging/<file id>` | bytes uploaded but not verified yet |

use uuid::Uuid;

/// Key of verified original bytes with this lower-case hex SHA-256.
pub fn original_key(sha256: &str) -> String {
    let (a, b) = (
        &sha256[..2.min(sha256.len())],
        sha256.get(2..4).unwrap_or("00"),
    );
    format!("originals/sha256/{a}/{b}/{sha256}")
}

/// Key of a rendition of a file.
pub fn rendition_key(file_id: Uuid, rendition_id: Uuid) -> String {
    format!("renditions/{file_id}/{rendition_id}")
}

/// Key where an upload waits until it is verified.
pub fn staging_key(file_id: Uuid) -> String {
    format!("staging/{file_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_keys_fan_out_by_hash_prefix() {
        let sha = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

        assert_eq!(original_key(sha), format!("originals/sha256/ab/cd/{sha}"));
    }
}

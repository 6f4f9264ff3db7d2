//! The GraphQL multipart request (the spec behind `Upload`), received in one pass: each
//! file is spooled to a temporary file and hashed on the way
//! ([`crate::storage::spool`]), so the bytes are never read again just to hash them.
//!
//! async-graphql's own receiver feeds the parser 2 KiB at a time and leaves hashing to a
//! second pass over the spool; for a large upload those two cost more than storing it.

use std::collections::HashMap;

use actix_web::web;
use async_graphql::UploadValue;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};

use crate::error::{ApiError, ApiResult};
use crate::storage::spool::Spool;

/// Largest `operations` or `map` field.
const MAX_JSON_FIELD_BYTES: u64 = 1024 * 1024;
/// Chunks waiting between actix's payload and the parser, beyond one per sender. Kept
/// minimal: the parser takes every chunk waiting at once into one buffer, so a longer
/// queue lets a fast client grow it (to tens of MiB with 16).
const PAYLOAD_QUEUE: usize = 1;

/// Size and SHA-256 of one spooled upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadDigest {
    /// Bytes received.
    pub size: u64,
    /// Lower-case hex SHA-256 of them.
    pub sha256: String,
}

/// The digests of a request's uploads, in the order of its `uploads` (the index an
/// `Upload` value holds); request data for the resolvers that store uploads.
#[derive(Debug, Default, Clone)]
pub struct UploadDigests(pub Vec<UploadDigest>);

impl UploadDigests {
    /// The digest of the upload at `index`.
    pub fn get(&self, index: usize) -> Option<&UploadDigest> {
        self.0.get(index)
    }
}

/// Limits of one multipart request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest file.
    pub max_file_bytes: u64,
    /// Most files.
    pub max_files: usize,
}

/// Reads a multipart GraphQL request from `payload`; `content_type` is the request's.
pub async fn receive(
    payload: web::Payload,
    content_type: &str,
    limits: Limits,
) -> ApiResult<(async_graphql::Request, UploadDigests)> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| ApiError::bad_input(format!("multipart body: {e}")))?;

    // actix's payload is bound to its thread; the parser wants a `Send` stream.
    let (mut tx, rx) =
        futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(PAYLOAD_QUEUE);
    actix_web::rt::spawn(async move {
        let mut payload = payload;
        while let Some(item) = payload.next().await {
            let item = item.map_err(std::io::Error::other);
            if tx.send(item).await.is_err() {
                return;
            }
        }
    });
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .per_field(limits.max_file_bytes.max(MAX_JSON_FIELD_BYTES))
            .for_field("operations", MAX_JSON_FIELD_BYTES)
            .for_field("map", MAX_JSON_FIELD_BYTES),
    );
    let mut multipart = multer::Multipart::with_constraints(rx, boundary, constraints);

    // The fields: `operations`, `map`, then the files (in any order, as the spec allows).
    let mut operations: Option<async_graphql::Request> = None;
    let mut map: Option<HashMap<String, Vec<String>>> = None;
    let mut files: Vec<(String, UploadValue, UploadDigest)> = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(refusal)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "operations" => {
                let bytes = field.bytes().await.map_err(refusal)?;
                operations = Some(serde_json::from_slice(&bytes).map_err(|e| {
                    ApiError::bad_input(format!("operations is not a GraphQL request: {e}"))
                })?);
            }
            "map" => {
                let bytes = field.bytes().await.map_err(refusal)?;
                map = Some(serde_json::from_slice(&bytes).map_err(|e| {
                    ApiError::bad_input(format!("map is not an object of lists of paths: {e}"))
                })?);
            }
            _ => {
                let Some(filename) = field.file_name().map(str::to_owned) else {
                    continue;
                };
                if files.len() == limits.max_files {
                    return Err(ApiError::bad_input(format!(
                        "at most {} files per request",
                        limits.max_files
                    )));
                }
                let content_type = field.content_type().map(ToString::to_string);
                let (content, digest) = spool(&mut field, limits.max_file_bytes).await?;
                let upload = UploadValue {
                    filename,
                    content_type,
                    content,
                };
                files.push((name, upload, digest));
            }
        }
    }

    // Each file goes where the map says; the digests follow the order of `uploads`.
    let mut request =
        operations.ok_or_else(|| ApiError::bad_input("multipart body has no operations field"))?;
    let mut map = map.ok_or_else(|| ApiError::bad_input("multipart body has no map field"))?;
    let mut digests = Vec::new();
    for (name, upload, digest) in files {
        let Some(paths) = map.remove(&name) else {
            continue;
        };
        for path in paths {
            let copy = upload.try_clone().map_err(ApiError::internal)?;
            let before = request.uploads.len();
            request.set_upload(&path, copy);
            // A path that names no variable is ignored, as async-graphql does.
            if request.uploads.len() > before {
                digests.push(digest.clone());
            }
        }
    }
    if let Some(name) = map.keys().next() {
        return Err(ApiError::bad_input(format!(
            "map names file field {name:?}, which the body does not hold"
        )));
    }
    Ok((request, UploadDigests(digests)))
}

/// Writes one file field to a temporary file, hashing it on the way; the file comes back
/// rewound.
async fn spool(
    field: &mut multer::Field<'_>,
    max_bytes: u64,
) -> ApiResult<(std::fs::File, UploadDigest)> {
    // Parse and hand over; a parse error or an oversized field stops the writer too.
    let spool = Spool::start();
    let mut received = 0u64;
    let outcome = loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                received += chunk.len() as u64;
                if received > max_bytes {
                    break Err(too_large(max_bytes));
                }
                if spool.write(chunk).await.is_err() {
                    // The writer stopped on an I/O error, which `finish` returns.
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(refusal(e)),
        }
    };
    let written = spool.finish().await;
    outcome?;
    let written = written.map_err(ApiError::internal)?;
    Ok((
        written.file,
        UploadDigest {
            size: written.size,
            sha256: written.sha256,
        },
    ))
}

fn too_large(max_bytes: u64) -> ApiError {
    ApiError::bad_input(format!("file is larger than {max_bytes} bytes"))
}

/// What a malformed or oversized body tells the client.
fn refusal(e: multer::Error) -> ApiError {
    match e {
        multer::Error::FieldSizeExceeded { limit, field_name }
            if field_name
                .as_deref()
                .is_some_and(|n| n != "operations" && n != "map") =>
        {
            too_large(limit)
        }
        other => ApiError::bad_input(format!("multipart body: {other}")),
    }
}

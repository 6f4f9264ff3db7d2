//! Bytes written to a temporary file and hashed on the way, on a blocking thread beside
//! the task that receives them, so neither the disk nor SHA-256 holds up the network and
//! the bytes are never read again just to hash them. Used by `uploadAudio`'s receiver and
//! by upload verification, which both need the whole file on disk (symphonia seeks).

use std::io::{Seek, Write};

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Chunks in flight between the receiving task and the writing thread.
const QUEUE: usize = 4;
/// Buffer of the file's writer.
const BUFFER_BYTES: usize = 1024 * 1024;

/// A temporary file being written.
pub struct Spool {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    writer: tokio::task::JoinHandle<std::io::Result<Spooled>>,
}

/// A written spool: the file, rewound, with the length and SHA-256 of its bytes.
#[derive(Debug)]
pub struct Spooled {
    /// The bytes, at offset 0; removed by the OS once dropped.
    pub file: std::fs::File,
    /// How many.
    pub size: u64,
    /// Lower-case hex SHA-256 of them.
    pub sha256: String,
}

impl Spool {
    /// Starts a spool in a new temporary file.
    pub fn start() -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(QUEUE);
        let writer = tokio::task::spawn_blocking(move || {
            let mut out = std::io::BufWriter::with_capacity(BUFFER_BYTES, tempfile::tempfile()?);
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = rx.blocking_recv() {
                hasher.update(&chunk);
                out.write_all(&chunk)?;
                size += chunk.len() as u64;
            }
            let mut file = out.into_inner().map_err(|e| e.into_error())?;
            file.rewind()?;
            Ok(Spooled {
                file,
                size,
                sha256: hex::encode(hasher.finalize()),
            })
        });
        Self { tx, writer }
    }

    /// Hands over the next chunk; an error means the writer has stopped (`finish` says
    /// why).
    pub async fn write(&self, chunk: Bytes) -> Result<(), Stopped> {
        self.tx.send(chunk).await.map_err(|_| Stopped)
    }

    /// Waits for every chunk to be written.
    pub async fn finish(self) -> std::io::Result<Spooled> {
        drop(self.tx);
        self.writer.await.map_err(std::io::Error::other)?
    }
}

/// The writing thread has stopped, on an I/O error.
#[derive(Debug)]
pub struct Stopped;

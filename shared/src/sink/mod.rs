//! Sinks: the only code that talks to a service. A sink takes a batch and says
//! which entries failed; the caller (the batch driver) decides what that means.
//!
//! Network sinks retry the entries a service rejected inside a successful
//! response (see [`retry`]); the AWS SDK retries whole requests; Lambda retries
//! the batch. One owner per kind of retry.

use async_trait::async_trait;
use bytes::Bytes;
pub use compact_str::CompactString;

use crate::deadline::Deadline;
use crate::limits::ServiceLimits;

pub mod dir;
pub mod firehose;
pub mod kinesis;
pub mod memory;
pub mod retry;
pub mod s3;
pub mod tee;
pub mod timed;

pub use dir::DirSink;
pub use firehose::FirehoseSink;
pub use kinesis::KinesisSink;
pub use memory::MemorySink;
pub use s3::S3Sink;
pub use tee::TeeSink;
pub use timed::{CpuMeter, TimedSink};

/// One entry for a sink: bytes and the partition key streams need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkRecord {
    /// Kinesis partition key (ignored by sinks without one); kept inline,
    /// without an allocation per record, up to 24 bytes.
    pub partition_key: CompactString,
    /// The payload; for line-oriented sinks one NDJSON line, ending in `\n`.
    /// Cheap to share: the batch driver cuts a batch's entries out of one buffer.
    pub data: Bytes,
}

impl SinkRecord {
    /// An entry from its key and bytes.
    pub fn new(partition_key: impl Into<CompactString>, data: impl Into<Bytes>) -> Self {
        Self { partition_key: partition_key.into(), data: data.into() }
    }
}

/// A batch handed to a sink.
#[derive(Debug, Clone, Copy)]
pub struct SinkBatch<'a> {
    /// Object key (without extension) for sinks that write whole objects,
    /// derived from the source batch so a retry overwrites instead of duplicating;
    /// e.g. `2024/05/01/13/shardId-000000000000-4954...`.
    pub key: &'a str,
    /// The entries, in order.
    pub records: &'a [SinkRecord],
}

/// What became of a batch: the indices (into `SinkBatch::records`) that did not
/// reach the service, with the last error seen for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Indices of entries that still failed when the sink gave up, ascending.
    pub failed: Vec<usize>,
    /// The last error message seen, for logs.
    pub last_error: Option<String>,
}

impl SendReport {
    /// Every entry in `0..n` failed with `error`.
    pub fn all_failed(n: usize, error: impl Into<String>) -> Self {
        Self { failed: (0..n).collect(), last_error: Some(error.into()) }
    }

    /// Whether every entry arrived.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// The records as NDJSON: each record's data, with a `\n` added to those not
/// already ending in one; gzip-compressed (fast level) when `gzip`. The one
/// place the line-oriented sinks ([`DirSink`], [`S3Sink`]) build their bytes.
pub fn ndjson_bytes(records: &[SinkRecord], gzip: bool) -> std::io::Result<Vec<u8>> {
    use std::io::Write;

    let mut bytes = Vec::with_capacity(records.iter().map(|r| r.data.len() + 1).sum());
    for record in records {
        bytes.extend_from_slice(&record.data);
        if !record.data.ends_with(b"\n") {
            bytes.push(b'\n');
        }
    }
    if gzip {
        // one write of the whole text: cheaper than feeding the encoder line by line
        let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 4), flate2::Compression::fast());
        gz.write_all(&bytes)?;
        bytes = gz.finish()?;
    }
    Ok(bytes)
}

/// A destination for a batch of records.
#[async_trait]
pub trait Sink: Send + Sync {
    /// The sink's name, as used for its output folder and in logs (`archive`, `quarantine`, ...).
    fn name(&self) -> &str;

    /// The per-entry limits of the service behind the sink, if any; the batch
    /// driver quarantines entries that could never be accepted before sending.
    fn limits(&self) -> Option<ServiceLimits> {
        None
    }

    /// Sends the batch, retrying what the sink owns until `deadline`, and
    /// reports what did not arrive.
    async fn send(&self, batch: SinkBatch<'_>, deadline: Deadline) -> SendReport;
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for std::sync::Arc<S> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn limits(&self) -> Option<ServiceLimits> {
        (**self).limits()
    }

    async fn send(&self, batch: SinkBatch<'_>, deadline: Deadline) -> SendReport {
        (**self).send(batch, deadline).await
    }
}

/// Errors building or configuring a sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A local folder could not be created or written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

//! Reading a shard: Kinesis GetShardIterator / GetRecords, or an in-memory
//! shard for tests.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_kinesis::error::{DisplayErrorContext, SdkError};
use aws_sdk_kinesis::operation::get_records::GetRecordsError;
use aws_sdk_kinesis::primitives::DateTime as SmithyTime;
use aws_sdk_kinesis::types::ShardIteratorType;

use super::settings::StartingPosition;
use super::shard::StreamRecord;
use crate::local::LocalError;

/// What one read found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read {
    /// The records, in order.
    pub records: Vec<StreamRecord>,
    /// Nothing more to read for now (no records, and not behind the latest).
    pub at_tip: bool,
}

/// A shard to read from.
#[async_trait]
pub trait ShardReader: Send {
    /// Reads up to `limit` records after the last ones read.
    async fn read(&mut self, limit: usize) -> Result<Read, LocalError>;
}

/// One shard of a Kinesis stream.
#[derive(Debug)]
pub struct KinesisReader {
    client: aws_sdk_kinesis::Client,
    stream: String,
    shard_id: String,
    start: StartingPosition,
    iterator: Option<String>,
    last_sequence: Option<String>,
    closed: bool,
}

impl KinesisReader {
    /// A reader of `shard_id` of `stream` from `start`, or right after `after`
    /// (a sequence number) when given.
    pub fn new(
        client: aws_sdk_kinesis::Client,
        stream: impl Into<String>,
        shard_id: impl Into<String>,
        start: StartingPosition,
        after: Option<String>,
    ) -> Self {
        Self {
            client,
            stream: stream.into(),
            shard_id: shard_id.into(),
            start,
            iterator: None,
            last_sequence: after,
            closed: false,
        }
    }

    /// A fresh iterator: after the last record read, else at the starting position.
    async fn open(&mut self) -> Result<String, LocalError> {
        let request = self.client.get_shard_iterator().stream_name(&self.stream).shard_id(&self.shard_id);
        let request = match (&self.last_sequence, self.start) {
            (Some(seq), _) => {
                request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).starting_sequence_number(seq)
            }
            (None, StartingPosition::TrimHorizon) => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            (None, StartingPosition::Latest) => request.shard_iterator_type(ShardIteratorType::Latest),
            (None, StartingPosition::AtTimestamp(seconds)) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(SmithyTime::from_secs_f64(seconds)),
        };
        let out = match request.send().await {
            Ok(out) => out,
            // a checkpoint from another incarnation of the stream: start over from the starting position
            Err(e)
                if self.last_sequence.is_some()
                    && e.as_service_error().is_some_and(|s| s.is_invalid_argument_exception()) =>
            {
                tracing::warn!(stream = %self.stream, shard = %self.shard_id, error = %DisplayErrorContext(&e), "the checkpoint is not in the shard: reading from the starting position");
                self.last_sequence = None;
                return Box::pin(self.open()).await;
            }
            Err(e) => return Err(LocalError::aws("GetShardIterator", &self.stream, e)),
        };
        out.shard_iterator.ok_or_else(|| LocalError::Aws {
            call: "GetShardIterator",
            target: self.stream.clone(),
            message: "no iterator".into(),
        })
    }
}

#[async_trait]
impl ShardReader for KinesisReader {
    async fn read(&mut self, limit: usize) -> Result<Read, LocalError> {
        if self.closed {
            return Ok(Read { records: Vec::new(), at_tip: true });
        }
        let iterator = match self.iterator.take() {
            Some(it) => it,
            None => self.open().await?,
        };
        let limit = i32::try_from(limit.clamp(1, eddy::limits::KINESIS_GET_RECORDS_MAX)).unwrap_or(i32::MAX);
        let out = match self.client.get_records().shard_iterator(&iterator).limit(limit).send().await {
            Ok(out) => out,
            Err(e) if retry_later(&e) => {
                tracing::debug!(stream = %self.stream, shard = %self.shard_id, error = %DisplayErrorContext(&e), "GetRecords: retrying later");
                return Ok(Read::default());
            }
            Err(e) => return Err(LocalError::aws("GetRecords", &self.stream, e)),
        };
        let records: Vec<StreamRecord> = out.records().iter().map(stream_record).collect();
        if let Some(last) = records.last() {
            self.last_sequence = Some(last.sequence_number.clone());
        }
        self.iterator = out.next_shard_iterator().map(str::to_string);
        self.closed = self.iterator.is_none();
        let at_tip = records.is_empty() && out.millis_behind_latest().unwrap_or(0) == 0;
        Ok(Read { records, at_tip })
    }
}

/// Errors after which the read is simply tried again (with a fresh iterator when it expired).
fn retry_later(e: &SdkError<GetRecordsError>) -> bool {
    matches!(
        e.as_service_error(),
        Some(GetRecordsError::ExpiredIteratorException(_) | GetRecordsError::ProvisionedThroughputExceededException(_))
    )
}

fn stream_record(r: &aws_sdk_kinesis::types::Record) -> StreamRecord {
    StreamRecord {
        sequence_number: r.sequence_number().to_string(),
        partition_key: r.partition_key().unwrap_or_default().to_string(),
        data: r.data().as_ref().to_vec(),
        arrival_ms: r.approximate_arrival_timestamp().and_then(|t| t.to_millis().ok()).unwrap_or_default(),
    }
}

/// An in-memory shard: records pushed by a test, read in order.
#[derive(Debug, Clone, Default)]
pub struct MemoryShard {
    records: Arc<Mutex<Vec<StreamRecord>>>,
}

impl MemoryShard {
    /// Appends records to the shard.
    pub fn put(&self, records: impl IntoIterator<Item = StreamRecord>) {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).extend(records);
    }

    /// A reader from the shard's start.
    pub fn reader(&self) -> MemoryReader {
        MemoryReader { shard: self.clone(), position: 0 }
    }
}

/// Reads a [`MemoryShard`].
#[derive(Debug, Clone)]
pub struct MemoryReader {
    shard: MemoryShard,
    position: usize,
}

#[async_trait]
impl ShardReader for MemoryReader {
    async fn read(&mut self, limit: usize) -> Result<Read, LocalError> {
        let records = self.shard.records.lock().unwrap_or_else(|p| p.into_inner());
        let end = (self.position + limit).min(records.len());
        let read: Vec<StreamRecord> = records[self.position..end].to_vec();
        self.position = end;
        Ok(Read { at_tip: read.is_empty(), records: read })
    }
}

//! Service limits and Eddy's own guards, as named constants in one place.
//!
//! Every sink chunks its batches with [`ServiceLimits::chunks`], so a limit is
//! checked by exactly one piece of code.

/// Limits of one batch-put API: how many entries, how many bytes in all, and per entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceLimits {
    /// The service's name, for error messages.
    pub service: &'static str,
    /// Most entries in one request.
    pub max_records: usize,
    /// Most bytes in one request (sum of the counted bytes of its entries).
    pub max_request_bytes: usize,
    /// Most bytes of one entry.
    pub max_record_bytes: usize,
    /// Whether an entry has a partition key, counted in its bytes (Kinesis);
    /// Firehose entries are data alone.
    pub partition_keys: bool,
}

/// Firehose PutRecordBatch: 500 records, 4 MiB per call, 1,000 KiB per record.
pub const FIREHOSE: ServiceLimits = ServiceLimits {
    service: "firehose",
    max_records: 500,
    max_request_bytes: 4 * 1024 * 1024,
    max_record_bytes: 1_000 * 1024,
    partition_keys: false,
};

/// Firehose bills each record it ingests as a whole number of these (5 KB):
/// a 300-byte record is billed as 5 KB, which is why the Firehose sink packs
/// consecutive lines into one record.
pub const FIREHOSE_BILLING_INCREMENT_BYTES: usize = 5 * 1024;

/// Kinesis PutRecords: 500 records, 5 MiB per call, 1 MiB per record
/// (data plus partition key).
pub const KINESIS: ServiceLimits = ServiceLimits {
    service: "kinesis",
    max_records: 500,
    max_request_bytes: 5 * 1024 * 1024,
    max_record_bytes: 1024 * 1024,
    partition_keys: true,
};

/// DynamoDB BatchGetItem: at most 100 keys per request.
pub const DYNAMODB_BATCH_GET_MAX_KEYS: usize = 100;

/// DynamoDB BatchGetItem: at most 16 MB returned per request; beyond it the
/// rest comes back as `UnprocessedKeys` (read again, like throttled keys).
pub const DYNAMODB_BATCH_GET_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// DynamoDB: at most 400 KB per item (attribute names and values together).
pub const DYNAMODB_MAX_ITEM_BYTES: usize = 400 * 1024;

/// DynamoDB: at most 2,048 bytes in a partition key value.
pub const DYNAMODB_MAX_PARTITION_KEY_BYTES: usize = 2048;

/// Eddy's own guard: conditional writes in flight at once per invocation (detect).
pub const DYNAMODB_WRITE_CONCURRENCY: usize = 32;

/// Kinesis partition keys are 1 to 256 Unicode characters.
pub const KINESIS_MAX_PARTITION_KEY_CHARS: usize = 256;

/// Lambda passes tumbling-window state of at most 1 MB between invocations.
pub const LAMBDA_STATE_MAX_BYTES: usize = 1024 * 1024;

/// Lambda's limit on a synchronous invocation's payload (6 MB): an event
/// source mapping's batch never exceeds it.
pub const LAMBDA_MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Most records of a Kinesis event source mapping's batch (`BatchSize`).
pub const LAMBDA_KINESIS_MAX_BATCH_SIZE: usize = 10_000;

/// Longest `MaximumBatchingWindowInSeconds` of an event source mapping.
pub const LAMBDA_MAX_BATCHING_WINDOW_SECONDS: u64 = 300;

/// Longest `TumblingWindowInSeconds` of a Kinesis event source mapping.
pub const LAMBDA_MAX_TUMBLING_WINDOW_SECONDS: u64 = 900;

/// Most `MaximumRetryAttempts` of a Kinesis event source mapping (-1 means no limit).
pub const LAMBDA_MAX_RETRY_ATTEMPTS: i64 = 10_000;

/// `MaximumRecordAgeInSeconds` of a Kinesis event source mapping: -1 (no
/// limit) or between these two.
pub const LAMBDA_RECORD_AGE_SECONDS: std::ops::RangeInclusive<i64> = 60..=604_800;

/// Most concurrent batches per shard of a Kinesis event source mapping (`ParallelizationFactor`).
pub const LAMBDA_MAX_PARALLELIZATION_FACTOR: i64 = 10;

/// Longest Lambda function timeout, seconds.
pub const LAMBDA_MAX_TIMEOUT_SECONDS: u64 = 900;

/// Most records one Kinesis GetRecords call returns.
pub const KINESIS_GET_RECORDS_MAX: usize = 10_000;

/// Largest SQS message body (256 KiB): an on-failure record sent to a queue.
pub const SQS_MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Default cap on the bytes one gzip record may decompress to.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 8 * 1024 * 1024;

/// Default cap on JSON nesting (objects and arrays inside each other).
pub const DEFAULT_MAX_JSON_DEPTH: usize = 64;

/// Time kept back from the invocation deadline to answer Lambda after the last retry.
pub const DEADLINE_SAFETY_MARGIN_MS: u64 = 1_500;

/// First backoff step of a sink's entry retries; doubled each attempt, then jittered.
pub const RETRY_BASE_DELAY_MS: u64 = 50;

/// Cap of one backoff step.
pub const RETRY_MAX_DELAY_MS: u64 = 2_000;

impl ServiceLimits {
    /// Splits `sizes` (the counted bytes of each entry, in order) into index ranges
    /// that each fit one request. Entries over `max_record_bytes` must be removed
    /// before (see [`ServiceLimits::check_record`]); one still here gets a chunk of its own.
    pub fn chunks(&self, sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
        let mut chunks = Vec::new();
        let mut start = 0;
        let mut bytes = 0;
        for (i, &size) in sizes.iter().enumerate() {
            let full = i - start == self.max_records || bytes + size > self.max_request_bytes;
            if full && i > start {
                chunks.push(start..i);
                start = i;
                bytes = 0;
            }
            bytes += size;
        }
        if start < sizes.len() {
            chunks.push(start..sizes.len());
        }
        chunks
    }

    /// Says why an entry of `size` counted bytes can never be accepted, if it cannot.
    pub fn check_record(&self, size: usize) -> Result<(), String> {
        if size > self.max_record_bytes {
            Err(format!(
                "record of {size} bytes exceeds the {} limit of {} bytes per record",
                self.service, self.max_record_bytes
            ))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_at_exactly_500_records() {
        let sizes = vec![10; 1001];
        let chunks = FIREHOSE.chunks(&sizes);
        assert_eq!(chunks, vec![0..500, 500..1000, 1000..1001]);
    }

    #[test]
    fn chunks_split_at_exactly_the_request_byte_limit() {
        // 4 records of exactly 1 MiB fill a Firehose request; the fifth starts a new one.
        let sizes = vec![1024 * 1024; 5];
        assert_eq!(FIREHOSE.chunks(&sizes), vec![0..4, 4..5]);
        // one byte more than the limit in the fourth record pushes it out.
        let sizes = vec![1024 * 1024, 1024 * 1024, 1024 * 1024, 1024 * 1024 + 1];
        assert_eq!(FIREHOSE.chunks(&sizes), vec![0..3, 3..4]);
        // Kinesis allows 5 MiB.
        assert_eq!(KINESIS.chunks(&[1024 * 1024; 6]), vec![0..5, 5..6]);
    }

    #[test]
    fn chunks_of_nothing_is_nothing() {
        assert!(KINESIS.chunks(&[]).is_empty());
    }

    #[test]
    fn check_record_accepts_the_limit_and_refuses_one_byte_more() {
        assert!(FIREHOSE.check_record(1_000 * 1024).is_ok());
        let err = FIREHOSE.check_record(1_000 * 1024 + 1).unwrap_err();
        assert!(err.contains("firehose"), "{err}");
        assert!(KINESIS.check_record(1024 * 1024).is_ok());
        assert!(KINESIS.check_record(1024 * 1024 + 1).is_err());
    }
}

//! The archive function: every decoded event of the raw stream becomes one
//! NDJSON line for Firehose (and so S3, queryable by Athena); undecodable
//! records go to the quarantine with their reason.

use aws_lambda_events::streams::KinesisEventResponse;

use std::path::Path;

use aws_config::SdkConfig;

use crate::aws::{firehose_client, s3_client};
use crate::batch::{
    parse_kinesis_event, write_coords, BatchError, BatchReport, Driver, DropReason, Outputs, Processor,
};
use crate::config::{ArchiveConfig, ConfigError};
use crate::deadline::Deadline;
use crate::decode::DecodeLimits;
use crate::event::Event;
use crate::json::{write_i64, write_key, write_str};
use crate::limits::FIREHOSE;
use crate::sink::{DirSink, FirehoseSink, MemorySink, S3Sink, Sink};

/// The archive sink's slot in the processor's outputs.
pub const ARCHIVE_SLOT: usize = 0;

/// Turns each event into its archive line.
#[derive(Debug, Default, Clone, Copy)]
pub struct ArchiveProcessor;

impl Processor for ArchiveProcessor {
    fn name(&self) -> &'static str {
        "archive"
    }

    fn process(&mut self, event: &Event<'_>, out: &mut Outputs) -> Result<(), DropReason> {
        out.write(ARCHIVE_SLOT, event.coords.partition_key, |line| write_archive_line(event, line));
        Ok(())
    }
}

/// Appends the archive line of an event: `data` (the JSON object, or the text as a
/// string), the record coordinates, and for log events the log group, stream
/// and timestamp; ends in a newline.
pub fn write_archive_line(event: &Event<'_>, out: &mut Vec<u8>) {
    out.push(b'{');
    write_key(out, "data");
    event.data.write_json(out);
    write_coords(out, &event.coords);
    if let Some(log) = event.log {
        out.push(b',');
        write_key(out, "log_group");
        write_str(out, &log.log_group);
        out.push(b',');
        write_key(out, "log_stream");
        write_str(out, &log.log_stream);
        out.push(b',');
        write_key(out, "timestamp");
        write_i64(out, log.timestamp_ms);
    }
    out.extend_from_slice(b"}\n");
}

/// The archive function: its sinks and guards, built once at init.
pub struct Archive {
    /// Where archive lines go (Firehose in Lambda).
    pub archive: Box<dyn Sink>,
    /// Where undecodable records go (S3 in Lambda).
    pub quarantine: Box<dyn Sink>,
    /// Decoding guards.
    pub limits: DecodeLimits,
}

impl Archive {
    /// The archive as deployed: Firehose for the lines, S3 for the quarantine.
    pub fn with_aws(config: &ArchiveConfig, sdk: &SdkConfig) -> Result<Self, ConfigError> {
        let quarantine = config.require_quarantine()?;
        Ok(Self {
            archive: Box::new(FirehoseSink::new(firehose_client(sdk), config.require_delivery_stream()?)),
            quarantine: Box::new(
                S3Sink::new(s3_client(sdk), &quarantine.bucket, &quarantine.prefix, false).with_name("quarantine"),
            ),
            limits: config.limits,
        })
    }

    /// The archive writing under a local folder: `root/archive/` (gzip NDJSON,
    /// as Firehose would) and `root/quarantine/`.
    pub fn with_dir(config: &ArchiveConfig, root: &Path) -> Self {
        Self {
            archive: Box::new(DirSink::new(root, "archive", true).with_limits(crate::limits::FIREHOSE)),
            quarantine: Box::new(DirSink::new(root, "quarantine", false)),
            limits: config.limits,
        }
    }

    /// The archive with counting in-memory sinks (benchmarks, `--repeat`).
    pub fn in_memory(limits: DecodeLimits) -> Self {
        Self {
            archive: Box::new(MemorySink::counting("archive").with_limits(FIREHOSE)),
            quarantine: Box::new(MemorySink::counting("quarantine")),
            limits,
        }
    }

    /// Handles one Lambda Kinesis event given as its raw JSON.
    pub async fn handle(&self, payload: &[u8], deadline: Deadline) -> Result<KinesisEventResponse, BatchError> {
        self.run(payload, deadline).await.map(|r| r.response)
    }

    /// Like [`Archive::handle`], returning the whole report (counts included).
    pub async fn run(&self, payload: &[u8], deadline: Deadline) -> Result<BatchReport, BatchError> {
        let records = parse_kinesis_event(payload)?;
        let driver =
            Driver { sinks: vec![self.archive.as_ref()], quarantine: self.quarantine.as_ref(), limits: self.limits };
        driver.run(&records, &mut ArchiveProcessor, deadline).await
    }
}

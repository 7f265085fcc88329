//! The detect function: enriched stream -> alerts stream, with per-key state
//! in DynamoDB. One invocation:
//!
//! 1. parses the Kinesis event and finds the keys of its logins and
//!    transactions ([`batch_keys`]);
//! 2. reads their state: one `BatchGetItem` per 100 keys ([`UserState::load`]);
//! 3. runs the batch driver with [`DetectProcessor`]: events applied in
//!    order, alerts and quarantined records sent to their sinks;
//! 4. fails the records whose state could not be read, then writes each
//!    key's state up to the first failed record ([`super::commit`]);
//! 5. fails the records whose state could not be written, and answers.

use std::collections::BTreeMap;
use std::path::Path;

use aws_config::SdkConfig;
use aws_lambda_events::streams::KinesisEventResponse;

use super::commit::{commit_all, plan, CommitReport, WriteSettings};
use super::config::DetectConfig;
use super::dynamo::DynamoUserState;
use super::memory::MemoryUserState;
use super::processor::{batch_keys, DetectProcessor};
use super::store::UserState;
use crate::aws::{dynamodb_client, kinesis_client, s3_client};
use crate::batch::{compare_sequence, parse_kinesis_event, BatchError, BatchReport, Driver, InRecord};
use crate::config::ConfigError;
use crate::deadline::Deadline;
use crate::limits::KINESIS;
use crate::sink::{DirSink, KinesisSink, MemorySink, S3Sink, Sink};

/// What one invocation came to.
#[derive(Debug, Clone, Default)]
pub struct DetectReport {
    /// The batch's outcomes and response.
    pub batch: BatchReport,
    /// Findings per detector name.
    pub findings: BTreeMap<&'static str, usize>,
    /// Keys whose state was read.
    pub keys_read: usize,
    /// Keys whose state could not be read.
    pub keys_unavailable: usize,
    /// The state writes.
    pub writes: CommitReport,
}

/// The detect function: its configuration, state and sinks, built once at init.
pub struct Detect {
    /// The configuration.
    pub config: DetectConfig,
    /// The per-key state.
    pub state: Box<dyn UserState>,
    /// Where alerts go (a Kinesis stream in Lambda).
    pub alerts: Box<dyn Sink>,
    /// Where undecodable records go (S3 in Lambda).
    pub quarantine: Box<dyn Sink>,
}

impl Detect {
    /// Detect as deployed: state in the table `EDDY_FRAUD_TABLE`, alerts to
    /// the Kinesis stream `EDDY_ALERTS_STREAM`, the quarantine in S3.
    pub fn with_aws(config: DetectConfig, sdk: &SdkConfig) -> Result<Self, ConfigError> {
        let table = config.require_table()?;
        let quarantine = config.require_quarantine()?;
        let state = DynamoUserState::new(dynamodb_client(sdk), table, config.max_state_bytes());
        let alerts = KinesisSink::new(kinesis_client(sdk), config.require_alerts_stream()?).with_name("alerts");
        let quarantine =
            S3Sink::new(s3_client(sdk), &quarantine.bucket, &quarantine.prefix, false).with_name("quarantine");
        Ok(Self { state: Box::new(state), alerts: Box::new(alerts), quarantine: Box::new(quarantine), config })
    }

    /// Detect writing under a local folder (`root/alerts/`, `root/quarantine/`):
    /// what `eddy invoke detect` runs without an alerts stream. The state is
    /// the table `EDDY_FRAUD_TABLE` when it is set (through `sdk`), else the
    /// in-memory twin.
    pub fn with_dir(config: DetectConfig, root: &Path, sdk: Option<&SdkConfig>) -> Self {
        let state: Box<dyn UserState> = match (&config.table, sdk) {
            (Some(table), Some(sdk)) => {
                Box::new(DynamoUserState::new(dynamodb_client(sdk), table, config.max_state_bytes()))
            }
            _ => Box::new(MemoryUserState::new()),
        };
        Self {
            config,
            state,
            alerts: Box::new(DirSink::new(root, "alerts", false).with_limits(crate::limits::KINESIS)),
            quarantine: Box::new(DirSink::new(root, "quarantine", false)),
        }
    }

    /// Detect over `state`, with counting in-memory sinks (`--repeat`).
    pub fn in_memory(config: DetectConfig, state: Box<dyn UserState>) -> Self {
        Self {
            config,
            state,
            alerts: Box::new(MemorySink::counting("alerts").with_limits(KINESIS)),
            quarantine: Box::new(MemorySink::counting("quarantine")),
        }
    }

    /// Handles one Lambda Kinesis event given as its raw JSON.
    pub async fn handle(&self, payload: &[u8], deadline: Deadline) -> Result<KinesisEventResponse, BatchError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        self.run(payload, deadline, now_ms).await.map(|r| r.batch.response)
    }

    /// Like [`Detect::handle`] at `now_ms` (the items' expiry counts from it),
    /// returning the whole report.
    pub async fn run(&self, payload: &[u8], deadline: Deadline, now_ms: i64) -> Result<DetectReport, BatchError> {
        let records = parse_kinesis_event(payload)?;
        let loaded = self.state.load(&batch_keys(&records, &self.config.limits), deadline).await;
        let (keys_read, keys_unavailable) = (loaded.states.len(), loaded.unavailable.len());
        for (key, error) in &loaded.unavailable {
            tracing::warn!(key = %key.pk(), error, "state not read: its records will be retried");
        }
        let mut processor = DetectProcessor::new(&self.config.thresholds, loaded.states);
        let driver = Driver {
            sinks: vec![self.alerts.as_ref()],
            quarantine: self.quarantine.as_ref(),
            limits: self.config.limits,
        };
        let mut sent = driver.run_until_answer(&records, &mut processor, deadline).await;
        for &record in processor.failed_records() {
            sent.fail_record(record);
        }
        let findings = processor.findings().iter().map(|(d, n)| (d.name(), *n)).collect();
        let cut = sent.first_failed_record(&records);
        let writes = self.write_state(processor, |record| before(&records, record, cut), deadline, now_ms).await;
        for &record in &writes.failed_records {
            sent.fail_record(record);
        }
        let batch = sent.answer(&records)?;
        Ok(DetectReport { batch, findings, keys_read, keys_unavailable, writes })
    }

    /// Writes each key's state with the events of the records `keep` keeps.
    async fn write_state(
        &self,
        processor: DetectProcessor<'_>,
        keep: impl Fn(usize) -> bool,
        deadline: Deadline,
        now_ms: i64,
    ) -> CommitReport {
        let thresholds = &self.config.thresholds;
        let commits = plan(processor.into_work(), keep, thresholds);
        let settings = WriteSettings {
            thresholds,
            conflict_retries: self.config.conflict_retries,
            expires_at_s: self.config.expires_at_s(now_ms),
            deadline,
        };
        let writes = commit_all(self.state.as_ref(), commits, settings).await;
        for (key, error) in &writes.failed {
            tracing::warn!(key = %key.pk(), error, "state not written: its records will be retried");
        }
        tracing::info!(
            keys_written = writes.written,
            conflicts = writes.conflicts,
            keys_failed = writes.failed.len(),
            "detect state written"
        );
        writes
    }
}

/// Whether `record` comes before the first failed record `cut` (every record does when none failed).
fn before(records: &[InRecord<'_>], record: usize, cut: Option<usize>) -> bool {
    match cut {
        None => true,
        Some(cut) => compare_sequence(&records[record].sequence_number, &records[cut].sequence_number).is_lt(),
    }
}

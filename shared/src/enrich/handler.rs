//! The enrich function: its sinks, lookups and caches, built once at init,
//! and the handler run on each Lambda Kinesis event.

use std::path::Path;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_lambda_events::streams::KinesisEventResponse;

use crate::aws::{kinesis_client, s3_client};
use crate::batch::{parse_kinesis_event, BatchError, BatchReport, Driver};
use crate::deadline::Deadline;
use crate::decode::DecodeLimits;
use crate::limits::KINESIS;
use crate::sink::{DirSink, KinesisSink, MemorySink, S3Sink, Sink};

use super::config::EnrichConfig;
use super::load::EnrichError;
use super::processor::{EnrichProcessor, EnrichState, Enricher};

/// The enrich function.
pub struct Enrich {
    /// Where enriched events go (the `enriched` Kinesis stream in Lambda).
    pub enriched: Box<dyn Sink>,
    /// Where undecodable records go (S3 in Lambda).
    pub quarantine: Box<dyn Sink>,
    /// Decoding guards.
    pub limits: DecodeLimits,
    /// The lookups loaded at init (shared, read-only, by the pipelines of a
    /// multi-threaded `eddy run`).
    pub enricher: Arc<Enricher>,
    /// Lookup caches, kept across invocations of a warm function.
    state: Mutex<EnrichState>,
}

impl Enrich {
    /// The function from its parts; caches hold up to `cache_entries` entries each.
    pub fn new(
        enricher: impl Into<Arc<Enricher>>,
        enriched: Box<dyn Sink>,
        quarantine: Box<dyn Sink>,
        limits: DecodeLimits,
        cache_entries: usize,
    ) -> Self {
        Self {
            enriched,
            quarantine,
            limits,
            enricher: enricher.into(),
            state: Mutex::new(EnrichState::new(cache_entries)),
        }
    }

    /// Enrich as deployed: lookups loaded (S3 objects fetched once), the
    /// `enriched` Kinesis stream, and the S3 quarantine.
    pub async fn with_aws(config: &EnrichConfig, sdk: &SdkConfig) -> Result<Self, EnrichError> {
        let stream = config.require_enriched_stream()?;
        let quarantine = config.require_quarantine()?;
        let s3 = s3_client(sdk);
        let enricher = Enricher::load(config, Some(&s3)).await?;
        Ok(Self::new(
            enricher,
            Box::new(KinesisSink::new(kinesis_client(sdk), stream).with_name("enriched")),
            Box::new(S3Sink::new(s3, &quarantine.bucket, &quarantine.prefix, false).with_name("quarantine")),
            config.limits,
            config.cache_entries,
        ))
    }

    /// Enrich writing under a local folder: `root/enriched/` and `root/quarantine/` (NDJSON).
    pub fn with_dir(config: &EnrichConfig, root: &Path, enricher: Enricher) -> Self {
        Self::new(
            enricher,
            Box::new(DirSink::new(root, "enriched", false).with_limits(crate::limits::KINESIS)),
            Box::new(DirSink::new(root, "quarantine", false)),
            config.limits,
            config.cache_entries,
        )
    }

    /// Enrich with counting in-memory sinks (benchmarks, `--repeat`).
    pub fn in_memory(enricher: Enricher, limits: DecodeLimits, cache_entries: usize) -> Self {
        Self::new(
            enricher,
            Box::new(MemorySink::counting("enriched").with_limits(KINESIS)),
            Box::new(MemorySink::counting("quarantine")),
            limits,
            cache_entries,
        )
    }

    /// Handles one Lambda Kinesis event given as its raw JSON.
    pub async fn handle(&self, payload: &[u8], deadline: Deadline) -> Result<KinesisEventResponse, BatchError> {
        self.run(payload, deadline).await.map(|r| r.response)
    }

    /// Like [`Enrich::handle`], returning the whole report (counts included).
    pub async fn run(&self, payload: &[u8], deadline: Deadline) -> Result<BatchReport, BatchError> {
        let records = parse_kinesis_event(payload)?;
        // The caches leave the mutex for the batch (no lock is held across an
        // await) and come back after it.
        let mut state = std::mem::replace(&mut *self.lock_state(), EnrichState::new(0));
        let driver =
            Driver { sinks: vec![self.enriched.as_ref()], quarantine: self.quarantine.as_ref(), limits: self.limits };
        let report = driver.run(&records, &mut EnrichProcessor::new(&self.enricher, &mut state), deadline).await;
        *self.lock_state() = state;
        report
    }

    /// Entries in the lookup caches now (user agents, geo records).
    pub fn cached(&self) -> (usize, usize) {
        let state = self.lock_state();
        (state.ua.len(), state.geo.len())
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, EnrichState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

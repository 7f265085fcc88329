//! Helpers of the end-to-end tests of `eddy local`: a stack of the
//! repository's template under a unique prefix, mixed input put into its
//! `raw` stream, the local event source mapping run until idle, and what came
//! out read back from S3 and the streams.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use async_trait::async_trait;
use aws_config::SdkConfig;
use eddy::deadline::Deadline;
use eddy::gen::{Generator, GroundTruth, Packing, Scenario};
use eddy::sink::{KinesisSink, Sink, SinkBatch, SinkRecord};
use eddy_cli::local::esm::checkpoint::Checkpoints;
use eddy_cli::local::esm::poller::{now_ms, Control};
use eddy_cli::local::put::{put_generated, Producer, PutSummary};
use eddy_cli::local::registry::{Invocation, LocalFunction};
use eddy_cli::local::run::{LocalRun, RunSummary};
use eddy_cli::local::{provision, Clients, Stack, StackOptions, Template};
use serde_json::Value;

use crate::{fixture, unique_name, Env};

/// How often idle shards are read in the tests (the emulators take it; Lambda polls about once a second).
pub const TEST_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// The repository's SAM template.
pub fn template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

/// A stack of the repository's template in the emulators, under a unique prefix.
pub struct TestStack {
    /// The resolved stack.
    pub stack: Stack,
    /// The emulators' clients (direct, never through a proxy).
    pub clients: Clients,
}

impl TestStack {
    /// Resolves the template under a unique prefix starting with `name`, with
    /// `parameters`, and creates it (twice: `up` must be idempotent).
    pub async fn up(env: &Env, name: &str, parameters: &[(&str, &str)]) -> Result<Self> {
        let template = Template::load(&template_path())?;
        let options = StackOptions {
            prefix: Some(unique_name(name)),
            parameters: parameters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            region: env.sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into()),
            ..StackOptions::default()
        };
        let stack = Stack::resolve(&template, &options)?;
        let clients = Clients::new(&env.sdk);
        let first = provision::up(&stack, &clients).await?;
        anyhow::ensure!(first.iter().all(|p| p.created), "a fresh stack already existed: {first:?}");
        let again = provision::up(&stack, &clients).await?;
        anyhow::ensure!(again.iter().all(|p| !p.created), "up is not idempotent: {again:?}");
        Ok(Self { stack, clients })
    }

    /// The local name of the stream with this logical id.
    pub fn stream<'a>(&'a self, logical_id: &'a str) -> &'a str {
        self.stack.stream(logical_id).map(|s| s.name.as_str()).unwrap_or(logical_id)
    }

    /// The data bucket (archive, quarantine, reports, failed batches).
    pub fn data_bucket(&self) -> &str {
        self.stack.bucket("DataBucket").map(|b| b.name.as_str()).unwrap_or("DataBucket")
    }

    /// Plans the mappings of `only` (all when empty), the functions' clients built from `function_sdk`.
    pub async fn plan(&self, function_sdk: &SdkConfig, only: &[&str]) -> Result<LocalRun> {
        let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
        Ok(LocalRun::plan(&self.stack, &self.clients, function_sdk, &only).await?)
    }

    /// Runs `plan` from `checkpoints` until every shard is drained and every window closed
    /// (idle shards read every [`TEST_POLL_INTERVAL`]).
    pub async fn run_until_idle(&self, plan: LocalRun, checkpoints: &Checkpoints) -> RunSummary {
        let control = Control::new(TEST_POLL_INTERVAL);
        plan.run(control, &self.clients.kinesis, true, checkpoints).await
    }

    /// Every record of every shard of the stream with this logical id, by shard, in order.
    pub async fn read_stream(&self, logical_id: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let stream = self.stream(logical_id).to_string();
        let (_, shards) = self.clients.stream_shards(&stream).await?;
        let mut records = Vec::new();
        for shard in shards {
            let it = self
                .clients
                .kinesis
                .get_shard_iterator()
                .stream_name(&stream)
                .shard_id(&shard)
                .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .context("GetShardIterator")?;
            let mut iterator = it.shard_iterator().map(str::to_string);
            while let Some(current) = iterator.take() {
                let got =
                    self.clients.kinesis.get_records().shard_iterator(current).send().await.context("GetRecords")?;
                if got.records().is_empty() {
                    break;
                }
                records.extend(got.records().iter().map(|r| (shard.clone(), r.data().as_ref().to_vec())));
                iterator = got.next_shard_iterator().map(str::to_string);
            }
        }
        Ok(records)
    }

    /// Deletes the stack's streams, delivery streams, queues and buckets (cleanup; errors ignored).
    pub async fn delete(&self, env: &Env) {
        for d in &self.stack.delivery_streams {
            env.delete_delivery_stream(&d.name).await;
        }
        for s in &self.stack.streams {
            env.delete_kinesis_stream(&s.name).await;
        }
        for q in &self.stack.queues {
            if let Ok(url) = self.clients.queue_url(&q.name).await {
                let _ = self.clients.sqs.delete_queue().queue_url(url).send().await;
            }
        }
        for b in &self.stack.buckets {
            env.delete_bucket(&b.name).await;
        }
    }
}

/// What [`put_mixed`] put into `raw`.
#[derive(Debug, Clone)]
pub struct MixedInput {
    /// The generator's ground truth of the generated events.
    pub truth: GroundTruth,
    /// Generated events (plain, KPL and CloudWatch Logs).
    pub events: u64,
    /// Kinesis records holding them.
    pub records: u64,
    /// Malformed records (each quarantined once per function reading `raw`).
    pub malformed: usize,
}

/// Puts `count` security events into `stream` (a third plain, a third
/// KPL-aggregated, a third in gzip CloudWatch Logs payloads), then the
/// undecodable records of `events/kinesis-malformed.json`.
pub async fn put_mixed(clients: &Clients, stream: &str, count: u64, seed: u64) -> Result<MixedInput> {
    let mut generator = Generator::new(Scenario::Security, seed, count).with_start_ms(now_ms());
    let third = count / 3;
    let mut summaries: Vec<PutSummary> = Vec::new();
    for (packing, n) in [(Packing::Plain, third), (Packing::Kpl, third), (Packing::CloudWatch, count - 2 * third)] {
        let mut producer = Producer::new(clients.kinesis.clone(), stream, packing);
        for event in generator.by_ref().take(n as usize) {
            producer.push(event).await?;
        }
        summaries.push(producer.finish().await?);
    }
    let malformed = malformed_records()?;
    let sink = KinesisSink::new(clients.kinesis.clone(), stream);
    let report = sink
        .send(SinkBatch { key: "", records: &malformed }, Deadline::after(std::time::Duration::from_secs(30)))
        .await;
    anyhow::ensure!(report.is_ok(), "putting the malformed records: {report:?}");
    anyhow::ensure!(summaries.iter().all(|s| s.failed == 0), "puts failed: {summaries:?}");
    Ok(MixedInput {
        truth: generator.truth(),
        events: summaries.iter().map(|s| s.events).sum(),
        records: summaries.iter().map(|s| s.records).sum::<u64>() + malformed.len() as u64,
        malformed: malformed.len(),
    })
}

/// Puts `count` plain security events (and a ground truth) into `stream`.
pub async fn put_security(
    clients: &Clients,
    stream: &str,
    count: u64,
    seed: u64,
    packing: Packing,
) -> Result<GroundTruth> {
    let mut generator = Generator::new(Scenario::Security, seed, count).with_start_ms(now_ms());
    let summary = put_generated(Producer::new(clients.kinesis.clone(), stream, packing), &mut generator).await?;
    anyhow::ensure!(summary.failed == 0 && summary.events == count, "put: {summary:?}");
    Ok(generator.truth())
}

/// The undecodable records of `events/kinesis-malformed.json` (its two good events left out).
pub fn malformed_records() -> Result<Vec<SinkRecord>> {
    let event: Value = serde_json::from_slice(&fixture("kinesis-malformed.json")?)?;
    let records = event["Records"].as_array().context("no Records")?;
    records
        .iter()
        .map(|r| (r["kinesis"]["partitionKey"].as_str().unwrap_or("k"), r["kinesis"]["data"].as_str().unwrap_or("")))
        .filter(|(key, _)| !key.starts_with("u-"))
        .map(|(key, data)| {
            let data = base64_simd::STANDARD.decode_to_vec(data).context("fixture data is not base64")?;
            Ok(SinkRecord::new(key, data))
        })
        .collect()
}

/// Every object under `prefix` of `bucket`, oldest first: (key, its non-empty lines).
pub async fn read_objects(env: &Env, bucket: &str, prefix: &str) -> Result<Vec<(String, Vec<String>)>> {
    let mut objects = Vec::new();
    for key in env.list_keys(bucket, prefix).await? {
        let bytes = env.read_object(bucket, &key).await?;
        let text = String::from_utf8(bytes).with_context(|| format!("s3://{bucket}/{key} is not UTF-8"))?;
        objects.push((key, text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect()));
    }
    Ok(objects)
}

/// Parses JSON lines (panicking on one that is not JSON).
pub fn parse_lines<'a>(lines: impl IntoIterator<Item = &'a String>) -> Vec<Value> {
    lines.into_iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

/// How many times each event id occurs (`id` of the object, or of its `data`).
pub fn count_ids<'a>(values: impl IntoIterator<Item = &'a Value>) -> HashMap<String, u32> {
    let mut counts = HashMap::new();
    for v in values {
        let id = v["id"].as_str().or_else(|| v["data"]["id"].as_str()).unwrap_or("(no id)");
        *counts.entry(id.to_string()).or_default() += 1;
    }
    counts
}

/// A function wrapped to count how many times each record (by sequence number) was handed to it.
pub struct Counting {
    inner: Arc<dyn LocalFunction>,
    seen: Mutex<HashMap<String, u32>>,
}

impl Counting {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn LocalFunction>) -> Arc<Self> {
        Arc::new(Self { inner, seen: Mutex::new(HashMap::new()) })
    }

    /// Invocations that held each sequence number.
    pub fn invocations(&self) -> HashMap<String, u32> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl LocalFunction for Counting {
    async fn invoke(&self, payload: &[u8], deadline: Deadline) -> Result<Invocation, String> {
        if let Ok(event) = serde_json::from_slice::<Value>(payload) {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            for r in event["Records"].as_array().into_iter().flatten() {
                if let Some(seq) = r["kinesis"]["sequenceNumber"].as_str() {
                    *seen.entry(seq.to_string()).or_default() += 1;
                }
            }
        }
        self.inner.invoke(payload, deadline).await
    }
}

/// A function whose every invocation fails.
pub struct Failing;

#[async_trait]
impl LocalFunction for Failing {
    async fn invoke(&self, _payload: &[u8], _deadline: Deadline) -> Result<Invocation, String> {
        Err("this function always fails".into())
    }
}

/// Puts `handler` in place of the handler of the planned mappings of the function whose name ends with `suffix`.
pub fn replace_handler(plan: &mut LocalRun, suffix: &str, handler: Arc<dyn LocalFunction>) {
    for mapping in plan.mappings.iter_mut().filter(|m| m.runtime.function.ends_with(suffix)) {
        mapping.runtime.handler = handler.clone();
    }
}

/// Wraps the handlers of the planned mappings of `function` in a [`Counting`]; returns it.
pub fn count_invocations(plan: &mut LocalRun, function_binary_suffix: &str) -> Option<Arc<Counting>> {
    let mapping = plan.mappings.iter_mut().find(|m| m.runtime.function.ends_with(function_binary_suffix))?;
    let counting = Counting::new(mapping.runtime.handler.clone());
    mapping.runtime.handler = counting.clone();
    Some(counting)
}

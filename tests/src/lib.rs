//! Shared helpers for the integration tests against the local emulators
//! (LocalStack for Kinesis, Firehose and S3; moto for DynamoDB), started by
//! `scripts/emulators.sh`.
//!
//! Every test begins with `let Some(env) = eddy_tests::emulators().await else { return };`:
//! - with `AWS_ENDPOINT_URL` set and answering, it gets SDK clients built the
//!   way the functions build them ([`eddy::aws`]: endpoints from the standard
//!   variables, no emulator-specific branch);
//! - without emulators, a developer's plain `cargo test` prints a skip message
//!   and the test passes;
//! - when emulators are required (`EDDY_EMULATORS=1`, as `scripts/test.sh`
//!   sets, or `CI` set) and not reachable, the test fails with a message
//!   saying how to start them.
//!
//! Resource names are unique per call ([`unique_name`]), so tests run in
//! parallel and can be re-run against the same emulators.

pub mod local;
pub mod proxy;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification,
};
use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamStatus, DeliveryStreamType, ExtendedS3DestinationConfiguration,
};
use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

/// Env var: the endpoint every AWS client is pointed at (set by `scripts/emulators.sh env`).
pub const ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL";
/// Env var: `1` means the emulators must be up (set by `scripts/test.sh`).
pub const REQUIRE_VAR: &str = "EDDY_EMULATORS";
/// Env var: set by CI systems; also makes the emulators required.
pub const CI_VAR: &str = "CI";

/// The IAM role Firehose delivery streams are created with (emulators do not check it).
pub const FIREHOSE_ROLE_ARN: &str = "arn:aws:iam::000000000000:role/firehose";

/// How long [`Env::wait_for_lines`] waits by default for Firehose to deliver:
/// LocalStack writes each PutRecordBatch to S3 at once, real Firehose after its
/// buffering interval (60 s at least for S3).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(90);

/// How long the endpoint has to accept a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What to do about the emulators, decided from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// The endpoint answers: run the test against it.
    Ready {
        /// The endpoint URL.
        endpoint: String,
    },
    /// No emulators and none required: skip the test, saying why.
    Skip(String),
    /// Emulators required but not reachable: fail the test with this message.
    Fail(String),
}

/// Decides whether the tests run, skip or fail: `endpoint` is `AWS_ENDPOINT_URL`,
/// `required` whether emulators are mandatory, `probe` checks that an endpoint answers.
pub fn availability(
    endpoint: Option<&str>,
    required: bool,
    probe: impl Fn(&str) -> Result<(), String>,
) -> Availability {
    let problem = match endpoint.map(str::trim).filter(|e| !e.is_empty()) {
        None => format!(": {ENDPOINT_VAR} is not set"),
        Some(endpoint) => match probe(endpoint) {
            Ok(()) => return Availability::Ready { endpoint: endpoint.to_string() },
            Err(why) => format!(" at {endpoint} ({why})"),
        },
    };
    if required {
        Availability::Fail(format!(
            "emulators not reachable{problem}: run scripts/emulators.sh start and \
             eval \"$(scripts/emulators.sh env)\", or use scripts/test.sh \
             ({REQUIRE_VAR}=1 or {CI_VAR} set: the integration tests must not be skipped)"
        ))
    } else {
        Availability::Skip(format!(
            "eddy-tests: skipping the integration tests: emulators not reachable{problem}; \
             run scripts/emulators.sh start and eval \"$(scripts/emulators.sh env)\", or use scripts/test.sh"
        ))
    }
}

/// Whether the environment makes the emulators mandatory (`EDDY_EMULATORS=1`, or `CI` set
/// to anything but empty, `0` or `false`).
pub fn emulators_required(get: impl Fn(&str) -> Option<String>) -> bool {
    let truthy = |v: Option<String>| {
        v.map(|v| v.trim().to_ascii_lowercase()).is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
    };
    get(REQUIRE_VAR).is_some_and(|v| v.trim() == "1") || truthy(get(CI_VAR))
}

/// The `host:port` of an endpoint URL (`http://127.0.0.1:4566/` -> `127.0.0.1:4566`;
/// the scheme's port when none is given).
pub fn host_port(endpoint: &str) -> Result<String, String> {
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(|| format!("{endpoint:?} is not a URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("{endpoint:?} has no host"));
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    if has_port {
        return Ok(authority.to_string());
    }
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Ok(format!("{authority}:80")),
        "https" => Ok(format!("{authority}:443")),
        other => Err(format!("{endpoint:?}: unknown scheme {other:?}")),
    }
}

/// Checks that something accepts TCP connections at the endpoint's host and port.
pub fn tcp_probe(endpoint: &str) -> Result<(), String> {
    let target = host_port(endpoint)?;
    let addrs: Vec<SocketAddr> =
        target.to_socket_addrs().map_err(|e| format!("cannot resolve {target}: {e}"))?.collect();
    let mut last = format!("{target} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// The emulators' clients, or `None` (after printing why) when the test should be
/// skipped. Panics with instructions when the emulators are required but not reachable.
pub async fn emulators() -> Option<Env> {
    let get = |k: &str| std::env::var(k).ok();
    match availability(get(ENDPOINT_VAR).as_deref(), emulators_required(get), tcp_probe) {
        Availability::Ready { endpoint } => Some(Env::load(endpoint).await),
        Availability::Skip(message) => {
            // once per test binary, and straight to stderr: libtest hides what
            // `eprintln!` prints in passing tests
            static ONCE: Once = Once::new();
            ONCE.call_once(|| {
                let _ = writeln!(std::io::stderr(), "{message}");
            });
            None
        }
        Availability::Fail(message) => panic!("{message}"),
    }
}

/// SDK configuration and clients for the emulators, built as the functions build them.
#[derive(Debug, Clone)]
pub struct Env {
    /// The endpoint they answer at.
    pub endpoint: String,
    /// The shared SDK configuration ([`eddy::aws::load_config`]).
    pub sdk: SdkConfig,
    /// Firehose.
    pub firehose: aws_sdk_firehose::Client,
    /// S3 (path-style, as [`eddy::aws::s3_client`] makes it for an overridden endpoint).
    pub s3: aws_sdk_s3::Client,
    /// Kinesis.
    pub kinesis: aws_sdk_kinesis::Client,
    /// DynamoDB (moto, at `AWS_ENDPOINT_URL_DYNAMODB`).
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Env {
    /// Loads the SDK configuration from the environment and builds the clients.
    pub async fn load(endpoint: String) -> Self {
        let sdk = eddy::aws::load_config().await;
        Self {
            endpoint,
            firehose: eddy::aws::firehose_client(&sdk),
            s3: eddy::aws::s3_client(&sdk),
            kinesis: eddy::aws::kinesis_client(&sdk),
            dynamodb: eddy::aws::dynamodb_client(&sdk),
            sdk,
        }
    }

    /// Creates a bucket with a unique name starting with `prefix`; returns its name.
    pub async fn create_bucket(&self, prefix: &str) -> Result<String> {
        let bucket = unique_name(prefix);
        let mut request = self.s3.create_bucket().bucket(&bucket);
        let region = self.sdk.region().map(|r| r.as_ref().to_string()).unwrap_or_default();
        if !region.is_empty() && region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        request.send().await.with_context(|| format!("CreateBucket {bucket}"))?;
        Ok(bucket)
    }

    /// Creates a DirectPut delivery stream (unique name starting with `prefix`)
    /// writing gzip objects to `bucket` under `s3_prefix`, with the smallest
    /// buffering AWS allows for S3 (1 MiB / 60 s), and waits until it is active.
    pub async fn create_delivery_stream(&self, prefix: &str, bucket: &str, s3_prefix: &str) -> Result<String> {
        let name = unique_name(prefix);
        let destination = ExtendedS3DestinationConfiguration::builder()
            .role_arn(FIREHOSE_ROLE_ARN)
            .bucket_arn(format!("arn:aws:s3:::{bucket}"))
            .prefix(s3_prefix)
            .buffering_hints(BufferingHints::builder().size_in_mbs(1).interval_in_seconds(60).build())
            .compression_format(CompressionFormat::Gzip)
            .build()
            .context("ExtendedS3DestinationConfiguration")?;
        self.firehose
            .create_delivery_stream()
            .delivery_stream_name(&name)
            .delivery_stream_type(DeliveryStreamType::DirectPut)
            .extended_s3_destination_configuration(destination)
            .send()
            .await
            .with_context(|| format!("CreateDeliveryStream {name}"))?;
        let started = Instant::now();
        loop {
            let described = self
                .firehose
                .describe_delivery_stream()
                .delivery_stream_name(&name)
                .send()
                .await
                .with_context(|| format!("DescribeDeliveryStream {name}"))?;
            let status = described.delivery_stream_description().map(|d| d.delivery_stream_status().clone());
            if status == Some(DeliveryStreamStatus::Active) {
                return Ok(name);
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("delivery stream {name} not active after 60 s (status {status:?})");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Creates a Kinesis stream (unique name starting with `prefix`) with `shards`
    /// shards and waits until it is active.
    pub async fn create_kinesis_stream(&self, prefix: &str, shards: i32) -> Result<String> {
        let name = unique_name(prefix);
        self.kinesis
            .create_stream()
            .stream_name(&name)
            .shard_count(shards)
            .send()
            .await
            .with_context(|| format!("CreateStream {name}"))?;
        let started = Instant::now();
        loop {
            let summary = self
                .kinesis
                .describe_stream_summary()
                .stream_name(&name)
                .send()
                .await
                .with_context(|| format!("DescribeStreamSummary {name}"))?;
            let status = summary.stream_description_summary().map(|s| s.stream_status().clone());
            if status == Some(StreamStatus::Active) {
                return Ok(name);
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("stream {name} not active after 60 s (status {status:?})");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every record of every shard of `stream` from its start, waiting up to
    /// `timeout` for at least `expected` of them: (shard id, partition key, data),
    /// in order within each shard.
    pub async fn read_stream(
        &self,
        stream: &str,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<(String, String, Vec<u8>)>> {
        let shards = self.kinesis.list_shards().stream_name(stream).send().await.context("ListShards")?;
        let mut iterators = Vec::new();
        for shard in shards.shards() {
            let it = self
                .kinesis
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(shard.shard_id())
                .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .context("GetShardIterator")?;
            iterators.push((shard.shard_id().to_string(), it.shard_iterator().map(str::to_string)));
        }
        let started = Instant::now();
        let mut records = Vec::new();
        loop {
            for (shard, iterator) in &mut iterators {
                let Some(current) = iterator.take() else { continue };
                let got = self.kinesis.get_records().shard_iterator(current).send().await.context("GetRecords")?;
                for r in got.records() {
                    records.push((
                        shard.clone(),
                        r.partition_key().unwrap_or_default().to_string(),
                        r.data().as_ref().to_vec(),
                    ));
                }
                *iterator = got.next_shard_iterator().map(str::to_string);
            }
            if records.len() >= expected {
                return Ok(records);
            }
            if started.elapsed() > timeout {
                bail!("{stream}: {} of {expected} records after {timeout:?}", records.len());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The keys of every object in `bucket` under `prefix`, oldest first (then by key).
    pub async fn list_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        let mut objects = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .with_context(|| format!("ListObjectsV2 s3://{bucket}/{prefix}"))?;
            for o in page.contents() {
                let modified = o.last_modified().map(|t| (t.secs(), t.subsec_nanos())).unwrap_or_default();
                objects.push((modified, o.key().unwrap_or_default().to_string()));
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        objects.sort();
        Ok(objects.into_iter().map(|(_, key)| key).collect())
    }

    /// The bytes of one object, gunzipped when it is gzip.
    pub async fn read_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        let object = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("GetObject s3://{bucket}/{key}"))?;
        let body = object.body.collect().await.with_context(|| format!("reading s3://{bucket}/{key}"))?;
        gunzip_if_gzip(body.into_bytes().to_vec()).with_context(|| format!("gunzip s3://{bucket}/{key}"))
    }

    /// Every non-empty line of every object under `prefix`, objects oldest first.
    pub async fn read_lines(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        for key in self.list_keys(bucket, prefix).await? {
            let bytes = self.read_object(bucket, &key).await?;
            let text = String::from_utf8(bytes).with_context(|| format!("s3://{bucket}/{key} is not UTF-8"))?;
            lines.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
        }
        Ok(lines)
    }

    /// Polls [`Env::read_lines`] until at least `expected` lines are there (Firehose
    /// delivers asynchronously), or fails after `timeout` saying how many arrived.
    pub async fn wait_for_lines(
        &self,
        bucket: &str,
        prefix: &str,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<String>> {
        let started = Instant::now();
        loop {
            let lines = self.read_lines(bucket, prefix).await?;
            if lines.len() >= expected {
                return Ok(lines);
            }
            if started.elapsed() > timeout {
                bail!("s3://{bucket}/{prefix}: {} of {expected} lines after {timeout:?}: {lines:?}", lines.len());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Creates detect's state table as `template.yaml` declares it (unique name
    /// starting with `prefix`): partition key `pk` (string), on-demand
    /// capacity, TTL on `expires_at`; waits until it is active.
    pub async fn create_state_table(&self, prefix: &str) -> Result<String> {
        use eddy::fraud::dynamo::{EXPIRES_AT, PK};
        let name = unique_name(prefix);
        self.dynamodb
            .create_table()
            .table_name(&name)
            .attribute_definitions(
                AttributeDefinition::builder().attribute_name(PK).attribute_type(ScalarAttributeType::S).build()?,
            )
            .key_schema(KeySchemaElement::builder().attribute_name(PK).key_type(KeyType::Hash).build()?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .with_context(|| format!("CreateTable {name}"))?;
        let started = Instant::now();
        loop {
            let described = self.dynamodb.describe_table().table_name(&name).send().await.context("DescribeTable")?;
            let status = described.table().and_then(|t| t.table_status().cloned());
            if status == Some(TableStatus::Active) {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("table {name} not active after 60 s (status {status:?})");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.dynamodb
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name(EXPIRES_AT).enabled(true).build()?,
            )
            .send()
            .await
            .with_context(|| format!("UpdateTimeToLive {name}"))?;
        Ok(name)
    }

    /// Deletes a DynamoDB table, ignoring errors (cleanup).
    pub async fn delete_table(&self, name: &str) {
        let _ = self.dynamodb.delete_table().table_name(name).send().await;
    }

    /// Deletes a delivery stream, ignoring errors (cleanup).
    pub async fn delete_delivery_stream(&self, name: &str) {
        let _ = self.firehose.delete_delivery_stream().delivery_stream_name(name).send().await;
    }

    /// Deletes a Kinesis stream, ignoring errors (cleanup).
    pub async fn delete_kinesis_stream(&self, name: &str) {
        let _ = self.kinesis.delete_stream().stream_name(name).enforce_consumer_deletion(true).send().await;
    }

    /// Deletes every object of a bucket and the bucket, ignoring errors (cleanup).
    pub async fn delete_bucket(&self, bucket: &str) {
        if let Ok(keys) = self.list_keys(bucket, "").await {
            for key in keys {
                let _ = self.s3.delete_object().bucket(bucket).key(key).send().await;
            }
        }
        let _ = self.s3.delete_bucket().bucket(bucket).send().await;
    }
}

/// Decompresses `bytes` when they start with the gzip magic (all members);
/// returns them unchanged otherwise.
pub fn gunzip_if_gzip(bytes: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice()).read_to_end(&mut out)?;
    Ok(out)
}

/// A name unique to this call, valid for buckets, delivery streams and Kinesis
/// streams: `prefix` (lowercase letters, digits, `-`), `-`, the time in
/// milliseconds in base 36 and 8 random characters.
pub fn unique_name(prefix: &str) -> String {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let random: String = (0..8).map(|_| base36(fastrand::u8(0..36))).collect();
    format!("{prefix}-{}-{random}", to_base36(millis))
}

fn base36(d: u8) -> char {
    char::from_digit(u32::from(d), 36).unwrap_or('0')
}

fn to_base36(mut n: u128) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(base36((n % 36) as u8));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// The repository's `events/` folder.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// The bytes of a fixture in `events/`.
pub fn fixture(name: &str) -> Result<Vec<u8>> {
    let path = events_dir().join(name);
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    fn up(_: &str) -> Result<(), String> {
        Ok(())
    }

    fn down(_: &str) -> Result<(), String> {
        Err("connection refused".into())
    }

    #[test]
    fn given_no_endpoint_and_nothing_required_when_deciding_then_the_test_is_skipped_with_instructions() {
        let Availability::Skip(message) = availability(None, false, up) else { panic!("not a skip") };
        assert!(message.contains("emulators not reachable: AWS_ENDPOINT_URL is not set;"), "{message}");
        assert!(message.contains("scripts/emulators.sh start") && message.contains("scripts/test.sh"), "{message}");
        assert!(matches!(availability(Some("  "), false, up), Availability::Skip(_)));
    }

    #[test]
    fn given_an_endpoint_that_does_not_answer_when_not_required_then_skip_else_fail_naming_it() {
        let Availability::Skip(skip) = availability(Some("http://127.0.0.1:4566"), false, down) else { panic!() };
        assert!(skip.contains("http://127.0.0.1:4566") && skip.contains("connection refused"), "{skip}");
        let Availability::Fail(fail) = availability(Some("http://127.0.0.1:4566"), true, down) else { panic!() };
        assert!(fail.starts_with("emulators not reachable at http://127.0.0.1:4566 (connection refused): "), "{fail}");
        assert!(fail.contains("scripts/emulators.sh start") && fail.contains("scripts/test.sh"), "{fail}");
    }

    #[test]
    fn given_required_emulators_and_no_endpoint_when_deciding_then_the_test_fails() {
        let Availability::Fail(fail) = availability(None, true, up) else { panic!("not a failure") };
        assert!(fail.starts_with("emulators not reachable: AWS_ENDPOINT_URL is not set: "), "{fail}");
    }

    #[test]
    fn given_an_answering_endpoint_when_deciding_then_the_test_runs_against_it() {
        let got = availability(Some("http://127.0.0.1:4566"), true, up);
        assert_eq!(got, Availability::Ready { endpoint: "http://127.0.0.1:4566".into() });
    }

    #[test]
    fn eddy_emulators_1_or_ci_make_the_emulators_required() {
        assert!(!emulators_required(vars(&[])));
        assert!(emulators_required(vars(&[(REQUIRE_VAR, "1")])));
        assert!(!emulators_required(vars(&[(REQUIRE_VAR, "0")])));
        assert!(emulators_required(vars(&[(CI_VAR, "true")])));
        assert!(!emulators_required(vars(&[(CI_VAR, "false")])));
        assert!(!emulators_required(vars(&[(CI_VAR, "")])));
    }

    #[test]
    fn host_port_of_endpoint_urls() {
        assert_eq!(host_port("http://127.0.0.1:4566").unwrap(), "127.0.0.1:4566");
        assert_eq!(host_port("http://localhost:4566/").unwrap(), "localhost:4566");
        assert_eq!(host_port("https://s3.example.com/x?y").unwrap(), "s3.example.com:443");
        assert_eq!(host_port("http://[::1]").unwrap(), "[::1]:80");
        assert_eq!(host_port("http://[::1]:4566").unwrap(), "[::1]:4566");
        assert!(host_port("localhost:4566").is_err());
        assert!(host_port("http://").is_err());
    }

    #[test]
    fn a_closed_port_does_not_answer() {
        // bind then drop: the port is (almost certainly) closed afterwards
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = tcp_probe(&format!("http://127.0.0.1:{port}")).unwrap_err();
        assert!(err.contains("cannot connect"), "{err}");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(tcp_probe(&format!("http://127.0.0.1:{port}")), Ok(()));
    }

    #[test]
    fn unique_names_are_unique_and_valid_bucket_names() {
        let a = unique_name("eddy-it");
        let b = unique_name("eddy-it");
        assert_ne!(a, b);
        assert!(a.starts_with("eddy-it-") && a.len() <= 63, "{a}");
        assert!(a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{a}");
    }

    #[test]
    fn gzip_is_unpacked_and_plain_bytes_pass_through() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"a\":1}\n").unwrap();
        let mut twice = gz.finish().unwrap();
        twice.extend_from_within(..);
        assert_eq!(gunzip_if_gzip(twice).unwrap(), b"{\"a\":1}\n{\"a\":1}\n");
        assert_eq!(gunzip_if_gzip(b"plain\n".to_vec()).unwrap(), b"plain\n");
        assert!(gunzip_if_gzip(vec![0x1f, 0x8b, 0, 0]).is_err());
    }
}

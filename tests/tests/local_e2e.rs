//! `eddy local` end to end against the emulators: the repository's template
//! provisioned under a unique prefix, mixed input put into `raw`, the local
//! event source mapping run until idle, everything read back and accounted
//! for; then the same through a fault-injecting proxy.
//!
//! Fails (never skips) when `EDDY_EMULATORS=1` and the emulators are down: see
//! `eddy_tests::emulators`.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use eddy::batch::compare_sequence;
use eddy::gen::{GroundTruth, Packing};
use std::sync::Arc;

use eddy_cli::local::esm::checkpoint::Checkpoints;
use eddy_cli::local::put::Producer;
use eddy_cli::local::run::{FunctionSummary, LocalRun, RunSummary};
use eddy_cli::local::{provision, Clients, Stack, StackOptions, Template};
use eddy_tests::local::{
    count_ids, count_invocations, parse_lines, put_mixed, put_security, read_objects, replace_handler, template_path,
    Counting, Failing, TestStack,
};
use eddy_tests::proxy::{FaultPlan, FaultProxy};
use eddy_tests::Env;
use serde_json::Value;

fn function<'a>(summary: &'a RunSummary, binary: &str) -> &'a FunctionSummary {
    let suffix = format!("-{binary}");
    summary.functions.iter().find(|f| f.function.ends_with(&suffix)).unwrap_or_else(|| panic!("no {binary}: {summary}"))
}

/// The ids the generator gave its `count` events.
fn generated_ids(truth: &GroundTruth) -> BTreeSet<String> {
    (0..truth.count).map(|i| format!("{}-{i:010}", truth.scenario.id_prefix())).collect()
}

fn expected_alerts(truth: &GroundTruth) -> BTreeSet<String> {
    assert!(truth.alert_ids_complete());
    truth.expected_alert_ids.values().flatten().cloned().collect()
}

/// Where an archived event was in its shard: the record's sequence number, and its subsequence number (KPL).
type Position = (String, u64);

/// Archive lines of one shard are in stream order: ascending within each
/// object (the events of one record, KPL or CloudWatch Logs, in their own
/// order), and the objects of a shard cover ranges that do not interleave.
fn assert_archive_order(objects: &[(String, Vec<String>)]) {
    let mut ranges: HashMap<String, Vec<(Position, Position)>> = HashMap::new();
    for (key, lines) in objects {
        let mut by_shard: HashMap<String, Vec<Position>> = HashMap::new();
        for line in parse_lines(lines) {
            let position = (
                line["sequence_number"].as_str().unwrap().to_string(),
                line["subsequence_number"].as_u64().unwrap_or(0),
            );
            by_shard.entry(line["shard_id"].as_str().unwrap().to_string()).or_default().push(position);
        }
        for (shard, positions) in by_shard {
            for pair in positions.windows(2) {
                let order = compare_sequence(&pair[0].0, &pair[1].0).then(pair[0].1.cmp(&pair[1].1));
                assert!(order.is_le(), "{key}: shard {shard} out of order: {:?} then {:?}", pair[0], pair[1]);
            }
            let range = (positions[0].clone(), positions[positions.len() - 1].clone());
            ranges.entry(shard).or_default().push(range);
        }
    }
    for (shard, mut ranges) in ranges {
        ranges.sort_by(|a, b| compare_sequence(&a.0 .0, &b.0 .0).then(a.0 .1.cmp(&b.0 .1)));
        for pair in ranges.windows(2) {
            let after = compare_sequence(&pair[1].0 .0, &pair[0].1 .0).then(pair[1].0 .1.cmp(&pair[0].1 .1));
            assert!(after.is_ge(), "shard {shard}: objects interleave: {:?} and {:?}", pair[0], pair[1]);
        }
    }
}

fn ids_of(records: &[(String, Vec<u8>)]) -> Vec<Value> {
    records.iter().map(|(_, data)| serde_json::from_slice(data).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_mixed_input_when_the_local_mapping_runs_until_idle_then_every_record_is_accounted_for_exactly() {
    let Some(env) = eddy_tests::emulators().await else { return };
    let stack = TestStack::up(&env, "e2e", &[("ShardCount", "2")]).await.unwrap();
    let input = put_mixed(&stack.clients, stack.stream("RawStream"), 1500, 7).await.unwrap();
    let (good, bad) = (input.events as usize, input.malformed);

    let started = Instant::now();
    let summary = stack.run_until_idle(stack.plan(&env.sdk, &[]).await.unwrap(), &Checkpoints::default()).await;
    eprintln!("{summary}ran until idle in {:?}", started.elapsed());
    assert!(summary.ok(), "{summary}");
    // a second run resumes at the checkpoints: nothing is handled twice
    let again = stack.run_until_idle(stack.plan(&env.sdk, &[]).await.unwrap(), &summary.checkpoints).await;
    assert!(again.functions.iter().all(|f| f.stats.invocations == 0), "{again}");
    assert_eq!(again.checkpoints, summary.checkpoints);

    // the functions reading raw: every good event delivered, every malformed record quarantined, once
    for binary in ["archive", "enrich"] {
        let f = function(&summary, binary);
        let c = &f.counts;
        assert_eq!((c.delivered, c.dropped, c.quarantined, c.failed), (good, 0, bad, 0), "{f}");
        assert_eq!(f.stats.records_invoked, input.records, "{f}");
        assert_eq!((f.shards, f.stats.retries, f.stats.discarded_records), (2, 0, 0), "{f}");
    }
    // the functions reading enriched: one record per good event; in = delivered + dropped + quarantined
    let filter = function(&summary, "filter");
    let passed = good - filter.stats.filtered_out as usize;
    assert!(passed < good / 2, "the FilterCriteria keep most events from the filter function: {filter}");
    assert_eq!(filter.counts.items, passed, "{filter}");
    assert_eq!(filter.counts.delivered as u64, input.truth.alert_events, "{filter}");
    assert_eq!(filter.counts.delivered + filter.counts.dropped + filter.counts.quarantined, passed, "{filter}");
    let aggregate = function(&summary, "aggregate");
    assert_eq!((aggregate.counts.items, aggregate.counts.failed), (good, 0), "{aggregate}");
    assert!(aggregate.stats.windows_closed >= 2, "a window per shard at least: {aggregate}");

    // S3 archive: every good event exactly once, in stream order per shard
    let bucket = stack.data_bucket();
    let archive = read_objects(&env, bucket, "raw/").await.unwrap();
    let archived = parse_lines(archive.iter().flat_map(|(_, lines)| lines));
    let counts = count_ids(&archived);
    assert_eq!(archived.len(), good);
    assert!(counts.values().all(|&n| n == 1), "duplicates in the archive");
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), generated_ids(&input.truth));
    let kinds = (
        archived.iter().filter(|l| l.get("subsequence_number").is_some()).count(),
        archived.iter().filter(|l| l.get("log_group").is_some()).count(),
    );
    assert!(kinds.0 > 0 && kinds.1 > 0, "KPL and CloudWatch Logs events archived: {kinds:?}");
    assert_archive_order(&archive);
    // the malformed records, in each quarantine of the functions reading raw, with their reasons
    for function in ["archive", "enrich"] {
        let quarantined = env.read_lines(bucket, &format!("quarantine/{function}/")).await.unwrap();
        assert_eq!(quarantined.len(), bad, "{function}: {quarantined:#?}");
        for q in parse_lines(&quarantined) {
            assert!(q["reason"].as_str().is_some_and(|r| !r.is_empty()) && q["data_base64"].is_string(), "{q}");
        }
    }
    assert!(env.list_keys(bucket, "quarantine/filter/").await.unwrap().is_empty());
    assert!(env.list_keys(bucket, "aws/lambda/").await.unwrap().is_empty(), "no failed batch");

    // the enriched stream: one record per good event
    let enriched = ids_of(&stack.read_stream("EnrichedStream").await.unwrap());
    let counts = count_ids(&enriched);
    assert_eq!(enriched.len(), good);
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), generated_ids(&input.truth));
    // the alerts stream: exactly the events the rules must match, once each
    let alerts = ids_of(&stack.read_stream("AlertsStream").await.unwrap());
    let counts = count_ids(&alerts);
    assert_eq!(alerts.len() as u64, input.truth.alert_events);
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), expected_alerts(&input.truth));
    assert!(alerts.iter().all(|a| a["alert"]["rules"].as_array().is_some_and(|r| !r.is_empty())));
    // the reports: their events add up to the enriched records, and the stream has every line
    let reports = read_objects(&env, bucket, "reports/").await.unwrap();
    let lines = parse_lines(reports.iter().flat_map(|(_, lines)| lines));
    let summaries: Vec<&Value> = lines.iter().filter(|l| l["type"] == "summary").collect();
    assert_eq!(summaries.len(), reports.len(), "one summary per report");
    let events: u64 = summaries.iter().map(|s| s["events"].as_u64().unwrap()).sum();
    let late: u64 = summaries.iter().map(|s| s["late"].as_u64().unwrap()).sum();
    assert_eq!((events, late), (good as u64, 0));
    let streamed = stack.read_stream("ReportsStream").await.unwrap();
    assert_eq!(streamed.len(), lines.len());
    stack.delete(&env).await;
}

/// Each copy of an event downstream needs an invocation of the function with
/// its record: copies beyond the invocations would be the sinks duplicating.
/// Returns (events missing, extra copies, extra invocations).
fn check_copies(
    copies: &HashMap<String, u32>,
    ids: &BTreeSet<String>,
    sequence_of: &HashMap<String, String>,
    invocations: &HashMap<String, u32>,
) -> (usize, u32, u32) {
    let missing = ids.iter().filter(|id| !copies.contains_key(*id)).count();
    let mut extra_copies = 0;
    let mut extra_invocations = 0;
    for (id, &n) in copies {
        let Some(seq) = sequence_of.get(id) else { continue };
        let invoked = invocations.get(seq).copied().unwrap_or(0);
        assert!(n <= invoked, "{id}: {n} copies from {invoked} invocations of record {seq}: a sink duplicated it");
        extra_copies += n - 1;
        extra_invocations += invoked.saturating_sub(1);
    }
    (missing, extra_copies, extra_invocations)
}

/// Event id -> the raw record it came in (from the archive lines).
fn sequences(archived: &[Value]) -> HashMap<String, String> {
    archived
        .iter()
        .filter_map(|l| Some((l["data"]["id"].as_str()?.to_string(), l["sequence_number"].as_str()?.to_string())))
        .collect()
}

/// Every event of `ids` is in the archive and the enriched stream, and no
/// copy there lacks an invocation of the function with its record.
async fn assert_delivered_without_sink_duplicates(
    env: &Env,
    stack: &TestStack,
    ids: &BTreeSet<String>,
    archive_calls: &Counting,
    enrich_calls: &Counting,
) {
    let archived = parse_lines(&env.read_lines(stack.data_bucket(), "raw/").await.unwrap());
    let sequence_of = sequences(&archived);
    let enriched = ids_of(&stack.read_stream("EnrichedStream").await.unwrap());
    for (name, copies, calls) in [("archive", &archived, archive_calls), ("enriched", &enriched, enrich_calls)] {
        let (missing, extra, reinvoked) = check_copies(&count_ids(copies), ids, &sequence_of, &calls.invocations());
        assert_eq!(missing, 0, "events lost in the {name}");
        eprintln!("{name}: {extra} duplicates, from {reinvoked} re-invocations of records by the mapping");
    }
}

/// A proxy in front of LocalStack, and the functions' SDK configuration pointing at it
/// (set in code, so it wins over `AWS_ENDPOINT_URL`; the tests' own clients stay direct).
async fn fault_proxy(env: &Env, plan: FaultPlan) -> (FaultProxy, aws_config::SdkConfig) {
    let moto = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| env.endpoint.clone());
    let proxy = FaultProxy::start(&env.endpoint, &[("DynamoDB_", &moto)], plan).await.unwrap();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(&proxy.url).load().await;
    (proxy, sdk)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_30_percent_of_put_entries_failing_and_throttles_then_nothing_is_lost_and_the_sinks_never_duplicate() {
    let Some(env) = eddy_tests::emulators().await else { return };
    // small batches: more requests to break
    let stack = TestStack::up(&env, "e2e-faults", &[("BatchSize", "50")]).await.unwrap();
    let input = put_mixed(&stack.clients, stack.stream("RawStream"), 600, 11).await.unwrap();
    let plan =
        FaultPlan { seed: 30, entry_failure: 0.3, firehose_failing_requests: 0, throttle: 0.1, unavailable: 0.08 };
    let (proxy, function_sdk) = fault_proxy(&env, plan).await;
    let mut run = stack.plan(&function_sdk, &[]).await.unwrap();
    let archive_calls = count_invocations(&mut run, "-archive").unwrap();
    let enrich_calls = count_invocations(&mut run, "-enrich").unwrap();

    let summary = stack.run_until_idle(run, &Checkpoints::default()).await;
    let stats = proxy.stats();
    eprintln!("{summary}proxy: {stats:?}");
    assert!(summary.ok(), "{summary}");
    assert!(summary.functions.iter().all(|f| f.stats.discarded_records == 0), "{summary}");
    assert!(stats.entries_failed as f64 > 0.25 * stats.entries as f64, "{stats:?}");
    assert!(stats.throttled > 0 && stats.unavailable > 0, "{stats:?}");

    assert_delivered_without_sink_duplicates(&env, &stack, &generated_ids(&input.truth), &archive_calls, &enrich_calls)
        .await;
    let alerts = ids_of(&stack.read_stream("AlertsStream").await.unwrap());
    assert_eq!(count_ids(&alerts).keys().cloned().collect::<BTreeSet<_>>(), expected_alerts(&input.truth));
    stack.delete(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_short_deadline_then_failed_entries_come_back_as_batch_item_failures_and_are_delivered_on_the_mappings_retry(
) {
    let Some(env) = eddy_tests::emulators().await else { return };
    let parameters = [("BatchSize", "50"), ("MaximumRetryAttempts", "-1")];
    let stack = TestStack::up(&env, "e2e-deadline", &parameters).await.unwrap();
    let truth = put_security(&stack.clients, stack.stream("RawStream"), 300, 13, Packing::Plain).await.unwrap();
    // a Firehose entry holds a whole batch's lines: the first requests fail whole, past a deadline
    let plan =
        FaultPlan { seed: 50, entry_failure: 0.3, firehose_failing_requests: 12, throttle: 0.0, unavailable: 0.0 };
    let (proxy, function_sdk) = fault_proxy(&env, plan).await;
    let mut run = stack.plan(&function_sdk, &["archive", "enrich"]).await.unwrap();
    for mapping in &mut run.mappings {
        // 1.9 s timeout: the sinks stop retrying 1.5 s before it, after ~400 ms
        mapping.runtime.timeout = Duration::from_millis(1900);
    }
    let archive_calls = count_invocations(&mut run, "-archive").unwrap();
    let enrich_calls = count_invocations(&mut run, "-enrich").unwrap();

    let summary = stack.run_until_idle(run, &Checkpoints::default()).await;
    eprintln!("{summary}proxy: {:?}", proxy.stats());
    for binary in ["archive", "enrich"] {
        let f = function(&summary, binary);
        assert!(f.stats.partial_responses > 0 && f.counts.failed > 0, "failures came back as batch item failures: {f}");
        assert!(f.stats.retries > 0 && f.stats.discarded_records == 0, "{f}");
    }

    assert_delivered_without_sink_duplicates(&env, &stack, &generated_ids(&truth), &archive_calls, &enrich_calls).await;
    stack.delete(&env).await;
}

#[tokio::test]
async fn given_a_stack_that_was_not_created_then_run_and_put_say_to_run_up_first() {
    let Some(env) = eddy_tests::emulators().await else { return };
    let template = Template::load(&template_path()).unwrap();
    let options = StackOptions { prefix: Some(eddy_tests::unique_name("e2e-none")), ..StackOptions::default() };
    let stack = Stack::resolve(&template, &options).unwrap();
    let clients = Clients::new(&env.sdk);
    let Err(err) = LocalRun::plan(&stack, &clients, &env.sdk, &[]).await else { panic!("planned a missing stack") };
    let err = err.to_string();
    assert!(err.contains("does not exist in the emulators: run `eddy local up` first"), "{err}");
    let raw = stack.stream("RawStream").unwrap().name.clone();
    let mut producer = Producer::new(clients.kinesis.clone(), &raw, Packing::Plain);
    producer.push(eddy::gen::Generator::new(eddy::gen::Scenario::Security, 1, 1).next().unwrap()).await.unwrap();
    let err = producer.finish().await.unwrap_err().to_string();
    assert!(err.contains(&format!("Kinesis stream {raw} does not exist")), "{err}");
}

#[tokio::test]
async fn given_a_template_with_a_dynamodb_table_when_up_then_moto_has_it_with_its_key_and_ttl() {
    let Some(env) = eddy_tests::emulators().await else { return };
    let text = r#"
Resources:
  StateTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: at, KeyType: RANGE}]
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: at, AttributeType: N}]
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
"#;
    let template = Template::parse(text, std::path::PathBuf::new()).unwrap();
    let options = StackOptions { prefix: Some(eddy_tests::unique_name("e2e-table")), ..StackOptions::default() };
    let stack = Stack::resolve(&template, &options).unwrap();
    let clients = Clients::new(&env.sdk);
    let first = provision::up(&stack, &clients).await.unwrap();
    let again = provision::up(&stack, &clients).await.unwrap();
    assert!(first[0].created && !again[0].created, "{first:?} {again:?}");
    let name = &stack.tables[0].name;
    let described = clients.dynamodb.describe_table().table_name(name).send().await.unwrap();
    let table = described.table().unwrap();
    let keys: Vec<(String, String)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_string(), k.key_type().as_str().to_string()))
        .collect();
    assert_eq!(keys, [("pk".to_string(), "HASH".to_string()), ("at".to_string(), "RANGE".to_string())]);
    let ttl = clients.dynamodb.describe_time_to_live().table_name(name).send().await.unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires"));
    let _ = clients.dynamodb.delete_table().table_name(name).send().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_functions_that_always_fail_then_their_batches_go_to_their_on_failure_destinations() {
    let Some(env) = eddy_tests::emulators().await else { return };
    let stack = TestStack::up(&env, "e2e-dest", &[("MaximumRetryAttempts", "0"), ("BatchSize", "4")]).await.unwrap();
    put_security(&stack.clients, stack.stream("RawStream"), 5, 3, Packing::Plain).await.unwrap();
    let mut run = stack.plan(&env.sdk, &["archive", "enrich"]).await.unwrap();
    replace_handler(&mut run, "-archive", Arc::new(Failing));
    replace_handler(&mut run, "-enrich", Arc::new(Failing));
    let summary = stack.run_until_idle(run, &Checkpoints::default()).await;
    eprintln!("{summary}");
    for binary in ["archive", "enrich"] {
        let f = function(&summary, binary);
        // bisected down to single records (no retry consumed), each then given up on at once
        assert_eq!((f.stats.discarded_records, f.stats.discarded_batches), (5, 5), "{f}");
        assert_eq!(f.destination_errors, 0, "{f}");
    }
    // archive: the failed batches whole in S3 under aws/lambda/, payload included
    let bucket = stack.data_bucket();
    let failed = parse_lines(&env.read_lines(bucket, "aws/lambda/").await.unwrap());
    assert_eq!(failed.len(), 5);
    let mut ids = BTreeSet::new();
    for record in &failed {
        assert_eq!(record["requestContext"]["condition"], "RetryAttemptsExhausted");
        assert_eq!(record["KinesisBatchInfo"]["batchSize"], 1);
        let payload: aws_lambda_events::event::kinesis::KinesisEvent =
            serde_json::from_str(record["payload"].as_str().unwrap()).unwrap();
        let data: Value = serde_json::from_slice(&payload.records[0].kinesis.data.0).unwrap();
        ids.insert(data["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 5, "every record's bytes are in the destination");
    // enrich: the failed batches' coordinates on the queue
    let queue = stack.clients.queue_url(&stack.stack.queues[0].name).await.unwrap();
    let mut messages = Vec::new();
    while messages.len() < 5 {
        let got =
            stack.clients.sqs.receive_message().queue_url(&queue).max_number_of_messages(10).send().await.unwrap();
        if got.messages().is_empty() {
            break;
        }
        messages.extend(got.messages().iter().map(|m| serde_json::from_str::<Value>(m.body().unwrap()).unwrap()));
    }
    assert_eq!(messages.len(), 5, "{messages:#?}");
    assert!(messages.iter().all(|m| m["KinesisBatchInfo"]["streamArn"].as_str().unwrap().ends_with("-raw")));
    assert!(messages.iter().all(|m| m.get("payload").is_none()));
    stack.delete(&env).await;
}

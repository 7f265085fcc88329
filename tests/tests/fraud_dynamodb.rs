//! detect with its state in DynamoDB (moto), through the real SDK: the fraud
//! scenario of `eddy gen` through the handler alerts every injected incident
//! (precision and recall printed, `--nocapture`); two concurrent handler
//! calls on one user lose no update; a replayed batch is not applied twice;
//! items carry their version and TTL.
//!
//! Skipped (with a message) without emulators, unless `EDDY_EMULATORS=1` or `CI`
//! is set: see `eddy_tests::emulators`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use eddy::deadline::Deadline;
use eddy::fraud::codec::decode;
use eddy::fraud::dynamo::{EXPIRES_AT, PK, STATE, VERSION};
use eddy::fraud::processor::ALREADY_APPLIED;
use eddy::fraud::score::{read_alert, score, AlertedEvent};
use eddy::fraud::state::{Key, KeyState, Profile};
use eddy::fraud::{Detect, DetectConfig, DynamoUserState, Loaded, Save, StateError, Stored, UserState};
use eddy::gen::{Generator, Scenario};
use eddy::limits::KINESIS;
use eddy::sink::MemorySink;
use eddy::workload::{kinesis_event, shard_batches, TestRecord};
use eddy_tests::Env;
use serde_json::json;
use tokio::sync::Barrier;

const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/enriched";
/// 20,000 events at 100 a second: 200 s of event time, long enough for most
/// incidents to finish; seed 14 injects every kind.
const COUNT: u64 = 20_000;
const RATE: u32 = 100;
const SEED: u64 = 14;
const NOW_MS: i64 = 1_767_225_600_000;

fn minute() -> Deadline {
    Deadline::after(Duration::from_secs(60))
}

fn detect(table: &str, state: Box<dyn UserState>, alerts: Arc<MemorySink>) -> Detect {
    let config = DetectConfig { table: Some(table.to_string()), ..DetectConfig::default() };
    Detect { config, state, alerts: Box::new(alerts), quarantine: Box::new(MemorySink::new("quarantine")) }
}

fn table_state(env: &Env, table: &str) -> DynamoUserState {
    DynamoUserState::new(eddy::aws::dynamodb_client(&env.sdk), table, DetectConfig::default().max_state_bytes())
}

/// The item of `key`: its version, expiry and state.
async fn item(env: &Env, table: &str, key: &Key) -> (u64, i64, KeyState) {
    let got = env
        .dynamodb
        .get_item()
        .table_name(table)
        .key(PK, AttributeValue::S(key.pk()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let item = got.item().unwrap();
    let number = |name: &str| item[name].as_n().unwrap().parse::<i64>().unwrap();
    let state = decode(item[STATE].as_b().unwrap().as_ref()).unwrap();
    (number(VERSION) as u64, number(EXPIRES_AT), state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_the_fraud_scenario_when_detected_with_state_in_dynamodb_then_every_injected_incident_is_alerted() {
    let Some(env) = eddy_tests::emulators().await else { return };
    let table = env.create_state_table("eddy-it-fraud").await.unwrap();
    let (records, truth) = Generator::new(Scenario::Fraud, SEED, COUNT).with_rate(RATE).into_records();
    let alerts = Arc::new(MemorySink::new("alerts").with_limits(KINESIS));
    let app = detect(&table, Box::new(table_state(&env, &table)), alerts.clone());

    let started = std::time::Instant::now();
    let (mut keys_read, mut written) = (0, 0);
    for batch in shard_batches(records, 2, 500, ARN) {
        let report = app.run(&batch.event, minute(), NOW_MS).await.unwrap();
        assert!(report.batch.response.batch_item_failures.is_empty(), "{:?}", report.writes.failed);
        assert!(report.batch.counts.adds_up());
        assert_eq!(report.keys_unavailable, 0);
        keys_read += report.keys_read;
        written += report.writes.written;
    }
    let elapsed = started.elapsed();

    let alerted: Vec<AlertedEvent> = alerts.records().iter().filter_map(|r| read_alert(&r.data)).collect();
    let result = score(&truth, &alerted);
    println!(
        "fraud scenario, {COUNT} events at {RATE}/s, seed {SEED}, state in DynamoDB (moto): \
         {keys_read} keys read, {written} items written in {elapsed:.1?}\n{result}"
    );
    for (kind, k) in &result.kinds {
        assert!(k.incidents > 0, "{kind}: the run finishes incidents of every kind");
        assert!(k.missed.is_empty(), "{kind}: incidents {:?} not alerted\n{result}", k.missed);
    }
    // an item: its version counts its writes, its TTL is 90 days from the invocation
    let ttl = env.dynamodb.describe_time_to_live().table_name(&table).send().await.unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some(EXPIRES_AT));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    let (version, expires_at, state) = item(&env, &table, &Key::User("u-0000000".into())).await;
    assert!(version >= 1);
    assert_eq!(expires_at, NOW_MS / 1000 + 90 * 86_400);
    assert!(matches!(state.profile, Profile::User(_)));
    env.delete_table(&table).await;
}

/// The table, holding every invocation after its reads until the other one has read too.
struct ReadTogether {
    inner: DynamoUserState,
    barrier: Arc<Barrier>,
}

#[async_trait]
impl UserState for ReadTogether {
    async fn load(&self, keys: &[Key], deadline: Deadline) -> Loaded {
        let loaded = self.inner.load(keys, deadline).await;
        self.barrier.wait().await;
        loaded
    }

    async fn reload(&self, key: &Key) -> Result<Stored, StateError> {
        self.inner.reload(key).await
    }

    async fn save(&self, save: Save<'_>) -> Result<(), StateError> {
        self.inner.save(save).await
    }
}

fn logins(user: &str, prefix: &str, n: i64, from_second: i64) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            let second = from_second + i;
            let time = format!("2024-11-25T01:{:02}:{:02}Z", second / 60, second % 60);
            let event = json!({"id": format!("{prefix}{i}"), "kind": "login", "user": user, "time": time,
                "outcome": "success", "device_id": "dev-1", "ip": "198.51.100.7",
                "location": {"country": "US", "city": "New York", "lat": 40.7128, "lon": -74.006}});
            TestRecord { partition_key: user.to_string(), data: event.to_string().into_bytes() }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_two_concurrent_handler_calls_on_one_user_when_both_write_then_no_update_is_lost() {
    let Some(env) = eddy_tests::emulators().await else { return };
    let table = env.create_state_table("eddy-it-fraud").await.unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let gate = || Box::new(ReadTogether { inner: table_state(&env, &table), barrier: barrier.clone() });
    let (one, two) = (detect(&table, gate(), Arc::default()), detect(&table, gate(), Arc::default()));
    let a = kinesis_event(&logins("u-both", "a", 4, 0), "shardId-000000000000", ARN, 0, 0.0);
    let b = kinesis_event(&logins("u-both", "b", 3, 100), "shardId-000000000001", ARN, 0, 0.0);

    let (ra, rb) = tokio::join!(one.run(&a, minute(), NOW_MS), two.run(&b, minute(), NOW_MS));

    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.batch.response.batch_item_failures.is_empty() && rb.batch.response.batch_item_failures.is_empty());
    assert_eq!(ra.writes.conflicts + rb.writes.conflicts, 1, "both read the user before either wrote");
    let (version, _, state) = item(&env, &table, &Key::User("u-both".into())).await;
    assert_eq!(version, 2);
    let Profile::User(user) = state.profile else { panic!() };
    assert_eq!(user.logins, 7, "4 + 3 logins, none lost");
    assert_eq!(state.applied.len(), 7);
    env.delete_table(&table).await;
}

#[tokio::test]
async fn given_a_batch_written_to_dynamodb_when_it_is_delivered_again_then_nothing_is_applied_twice() {
    let Some(env) = eddy_tests::emulators().await else { return };
    let table = env.create_state_table("eddy-it-fraud").await.unwrap();
    let app = detect(&table, Box::new(table_state(&env, &table)), Arc::default());
    let batch = kinesis_event(&logins("u-again", "r", 5, 0), "shardId-000000000000", ARN, 0, 0.0);

    let first = app.run(&batch, minute(), NOW_MS).await.unwrap();
    let again = app.run(&batch, minute(), NOW_MS).await.unwrap();

    assert_eq!(first.writes.written, 1);
    assert_eq!(again.batch.counts.dropped_by_reason[ALREADY_APPLIED], 5);
    assert_eq!(again.writes.written, 0);
    let (version, _, state) = item(&env, &table, &Key::User("u-again".into())).await;
    let Profile::User(user) = state.profile else { panic!() };
    assert_eq!((version, user.logins), (1, 5));
    env.delete_table(&table).await;
}

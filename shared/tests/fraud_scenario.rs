//! The fraud scenario of `eddy gen` through the detect handler, with the
//! in-memory state twin: every injected account takeover, impossible travel
//! and card-velocity burst is alerted (recall 1.0 per incident kind);
//! precision and recall per detector are printed (`--nocapture`). The same
//! run against moto's DynamoDB is `tests/tests/fraud_dynamodb.rs`.
//!
//! The generated events already carry what enrich leaves a login with when
//! no geo database is configured (`id`, `kind`, `time`, the login service's
//! `location`), so they go to detect as they are.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use eddy::deadline::Deadline;
use eddy::fraud::score::{read_alert, score, AlertedEvent};
use eddy::fraud::{Detect, DetectConfig, MemoryUserState};
use eddy::gen::{Generator, Scenario};
use eddy::limits::KINESIS;
use eddy::sink::MemorySink;
use eddy::workload::shard_batches;

const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/enriched";

#[tokio::test]
async fn given_the_fraud_scenario_when_detected_then_every_injected_incident_is_alerted() {
    let (records, truth) = Generator::new(Scenario::Fraud, 7, 200_000).into_records();
    let alerts = Arc::new(MemorySink::new("alerts").with_limits(KINESIS));
    let detect = Detect {
        config: DetectConfig::default(),
        state: Box::new(MemoryUserState::new()),
        alerts: Box::new(alerts.clone()),
        quarantine: Box::new(MemorySink::new("quarantine")),
    };

    for batch in shard_batches(records, 2, 1_000, ARN) {
        let report = detect.run(&batch.event, Deadline::after(Duration::from_secs(60)), 0).await.unwrap();
        assert!(report.batch.response.batch_item_failures.is_empty());
        assert!(report.batch.counts.adds_up());
    }

    let alerted: Vec<AlertedEvent> = alerts.records().iter().filter_map(|r| read_alert(&r.data)).collect();
    assert_eq!(alerted.len(), alerts.count(), "every alert names its event and detectors");
    let result = score(&truth, &alerted);
    println!("fraud scenario, 200,000 events, seed 7, in-memory state:\n{result}");
    assert!(result.complete);
    for (kind, k) in &result.kinds {
        assert!(k.incidents > 0, "{kind}: the run injects every kind");
        assert!(k.missed.is_empty(), "{kind}: incidents {:?} not alerted\n{result}", k.missed);
    }
    assert!(result.all_detected());
}

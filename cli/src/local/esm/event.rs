//! The Lambda event of an invocation: a `KinesisEvent`, or for a
//! tumbling-window mapping a `KinesisTimeWindowEvent` (the same records plus
//! `window`, `state`, `shardId`, `eventSourceARN`, `isFinalInvokeForWindow`
//! and `isWindowTerminatedEarly`), shaped as Lambda builds them.

use chrono::{DateTime, SecondsFormat, Utc};
use eddy::workload::{lambda_kinesis_event, LambdaRecord};

use super::shard::{Invoke, Source, StreamRecord, WindowCall};

/// The event JSON for `invoke` of records read from `source`.
pub fn payload(invoke: &Invoke, source: &Source) -> Vec<u8> {
    records_payload(&invoke.batch.records, invoke.window.as_ref(), source)
}

/// The event JSON holding `records` (and `window`'s members) from `source`.
pub fn records_payload(records: &[StreamRecord], window: Option<&WindowCall>, source: &Source) -> Vec<u8> {
    let records: Vec<LambdaRecord<'_>> = records
        .iter()
        .map(|r| LambdaRecord {
            partition_key: &r.partition_key,
            sequence_number: &r.sequence_number,
            data: &r.data,
            arrival: r.arrival_ms as f64 / 1000.0,
        })
        .collect();
    let extra = window.map(|w| window_members(w, source)).unwrap_or_default();
    lambda_kinesis_event(&records, &source.event_source(), &extra)
}

/// The tumbling-window members of a `KinesisTimeWindowEvent`, as JSON texts.
fn window_members(window: &WindowCall, source: &Source) -> Vec<(&'static str, String)> {
    let json = |v: serde_json::Value| v.to_string();
    vec![
        ("window", json(serde_json::json!({ "start": rfc3339(window.start_ms), "end": rfc3339(window.end_ms) }))),
        ("state", json(serde_json::json!(window.state))),
        ("shardId", json(serde_json::json!(source.shard_id))),
        ("eventSourceARN", json(serde_json::json!(source.stream_arn))),
        ("isFinalInvokeForWindow", window.is_final.to_string()),
        ("isWindowTerminatedEarly", window.terminated_early.to_string()),
    ]
}

/// RFC 3339 in UTC, `Z`, seconds (milliseconds when the time has some).
pub fn rfc3339(ms: i64) -> String {
    let time = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    let format = if ms % 1000 == 0 { SecondsFormat::Secs } else { SecondsFormat::Millis };
    time.to_rfc3339_opts(format, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::esm::shard::Batch;
    use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisTimeWindowEvent};
    use std::collections::BTreeMap;

    fn source() -> Source {
        Source {
            shard_id: "shardId-000000000003".into(),
            stream_arn: "arn:aws:kinesis:eu-west-1:000000000000:stream/t-enriched".into(),
            region: "eu-west-1".into(),
            role_arn: "arn:aws:iam::000000000000:role/t-aggregate".into(),
        }
    }

    fn records() -> Vec<StreamRecord> {
        vec![
            StreamRecord {
                sequence_number: "49680683850277071159527914580806840450237464877385908226".into(),
                partition_key: "user-1".into(),
                data: br#"{"id":"a"}"#.to_vec(),
                arrival_ms: 1_795_978_506_166,
            },
            StreamRecord {
                sequence_number: "49680683850277071159527914580806840450237464877385908227".into(),
                partition_key: "user-2".into(),
                data: vec![0x1f, 0x8b, 0],
                arrival_ms: 1_795_978_507_000,
            },
        ]
    }

    #[test]
    fn given_a_batch_then_the_event_parses_as_lambdas_kinesis_event_with_the_real_coordinates() {
        let invoke = Invoke { batch: Batch { records: records(), ..Batch::default() }, window: None };
        let event: KinesisEvent = serde_json::from_slice(&payload(&invoke, &source())).unwrap();
        assert_eq!(event.records.len(), 2);
        let r = &event.records[1];
        assert_eq!(
            r.event_id.as_deref(),
            Some("shardId-000000000003:49680683850277071159527914580806840450237464877385908227")
        );
        assert_eq!(r.event_source_arn.as_deref(), Some("arn:aws:kinesis:eu-west-1:000000000000:stream/t-enriched"));
        assert_eq!(r.aws_region.as_deref(), Some("eu-west-1"));
        assert_eq!(r.event_name.as_deref(), Some("aws:kinesis:record"));
        assert_eq!(r.kinesis.data.0, [0x1f, 0x8b, 0]);
        assert_eq!(r.kinesis.partition_key, "user-2");
        assert_eq!(event.records[0].kinesis.approximate_arrival_timestamp.0.timestamp_millis(), 1_795_978_506_166);
        // and the handlers' own envelope reader agrees
        let bytes = payload(&invoke, &source());
        let parsed = eddy::batch::parse_kinesis_event(&bytes).unwrap();
        assert_eq!(parsed[0].shard_id, "shardId-000000000003");
    }

    #[test]
    fn given_a_window_then_the_event_parses_as_lambdas_time_window_event() {
        let state: BTreeMap<String, String> = [("w".to_string(), "abc\"".to_string())].into();
        let window = WindowCall {
            start_ms: 1_795_978_500_000,
            end_ms: 1_795_978_560_000,
            state,
            is_final: true,
            terminated_early: false,
        };
        let invoke = Invoke { batch: Batch::default(), window: Some(window) };
        let bytes = payload(&invoke, &source());
        let event: KinesisTimeWindowEvent = serde_json::from_slice(&bytes).unwrap();
        let props = &event.time_window_properties;
        assert_eq!(props.shard_id.as_deref(), Some("shardId-000000000003"));
        assert!(props.is_final_invoke_for_window && !props.is_window_terminated_early);
        assert_eq!(props.state.get("w").map(String::as_str), Some("abc\""));
        assert!(event.kinesis_event.records.is_empty());
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["window"]["start"], "2026-11-29T18:55:00Z");
        assert_eq!(v["window"]["end"], "2026-11-29T18:56:00Z");
        // the aggregate handler reads it
        let (_, props) = eddy::window::handler::parse_window_event(&bytes).unwrap();
        assert_eq!((props.window.start_ms, props.window.end_ms), (1_795_978_500_000, 1_795_978_560_000));
        assert!(props.is_final);
    }
}

//! Reading a function's response as Lambda's event source mapping does.
//!
//! Without `ReportBatchItemFailures` any response is a success. With it, an
//! absent, null or empty `batchItemFailures` is a success; otherwise every
//! entry must carry an `itemIdentifier` that is the sequence number of a
//! record of the batch, and the lowest one is where the batch is retried
//! from. An entry without one, an empty one, or one naming no record of the
//! batch fails the whole batch. A tumbling-window function's `state` (a map of
//! strings) is kept for its next invocation.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::settings::EsmSettings;
use super::shard::{Outcome, StreamRecord};

/// The outcome of an invocation of `batch` that answered `result` (the
/// response JSON, or the function's error).
pub fn outcome(result: Result<Json, String>, batch: &[StreamRecord], settings: &EsmSettings) -> Outcome {
    let response = match result {
        Ok(response) => response,
        Err(error) => return Outcome::Failed { error },
    };
    let state = match window_state(&response, settings) {
        Ok(state) => state,
        Err(error) => return Outcome::Failed { error },
    };
    if !settings.report_batch_item_failures {
        return Outcome::Success { state };
    }
    match first_failed(&response, batch) {
        Ok(None) => Outcome::Success { state },
        Ok(Some(from)) => Outcome::Partial { from, state },
        Err(error) => Outcome::Failed { error },
    }
}

/// The `state` of a tumbling-window response (empty for other mappings).
fn window_state(response: &Json, settings: &EsmSettings) -> Result<BTreeMap<String, String>, String> {
    if settings.tumbling_window.is_none() {
        return Ok(BTreeMap::new());
    }
    match response.get("state") {
        None | Some(Json::Null) => Ok(BTreeMap::new()),
        Some(Json::Object(map)) => Ok(map
            .iter()
            .map(|(k, v)| match v {
                Json::String(s) => (k.clone(), s.clone()),
                other => (k.clone(), other.to_string()),
            })
            .collect()),
        Some(other) => Err(format!("invalid response: state is not an object: {other}")),
    }
}

/// The index of the lowest reported record, `None` when none is reported.
fn first_failed(response: &Json, batch: &[StreamRecord]) -> Result<Option<usize>, String> {
    let failures = match response.get("batchItemFailures") {
        None | Some(Json::Null) => return Ok(None),
        Some(Json::Array(items)) => items,
        Some(other) => return Err(format!("invalid response: batchItemFailures is not a list: {other}")),
    };
    let mut lowest: Option<usize> = None;
    for failure in failures {
        let id = match failure.get("itemIdentifier") {
            Some(Json::String(id)) if !id.is_empty() => id,
            _ => return Err(format!("invalid batch item failure {failure}: no itemIdentifier")),
        };
        let index = batch
            .iter()
            .position(|r| &r.sequence_number == id)
            .ok_or_else(|| format!("invalid batch item failure: {id} is not a sequence number of the batch"))?;
        lowest = Some(lowest.map_or(index, |l| l.min(index)));
    }
    Ok(lowest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn batch() -> Vec<StreamRecord> {
        (1..=3)
            .map(|i| StreamRecord {
                sequence_number: format!("49{i}"),
                partition_key: "k".into(),
                data: Vec::new(),
                arrival_ms: 0,
            })
            .collect()
    }

    fn rbif() -> EsmSettings {
        EsmSettings { report_batch_item_failures: true, ..EsmSettings::default() }
    }

    fn failed(o: &Outcome) -> &str {
        match o {
            Outcome::Failed { error } => error,
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn empty_null_or_absent_failures_are_a_success() {
        for response in [json!({}), json!(null), json!({"batchItemFailures": []}), json!({"batchItemFailures": null})] {
            assert_eq!(
                outcome(Ok(response.clone()), &batch(), &rbif()),
                Outcome::Success { state: BTreeMap::new() },
                "{response}"
            );
        }
    }

    #[test]
    fn the_lowest_reported_sequence_number_is_where_the_retry_starts() {
        let response = json!({"batchItemFailures": [{"itemIdentifier": "493"}, {"itemIdentifier": "492"}]});
        assert_eq!(outcome(Ok(response), &batch(), &rbif()), Outcome::Partial { from: 1, state: BTreeMap::new() });
    }

    #[test]
    fn a_missing_empty_or_unknown_identifier_or_an_error_fails_the_whole_batch() {
        let cases = [
            json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
            json!({"batchItemFailures": [{"itemIdentifier": null}]}),
            json!({"batchItemFailures": [{"itemId": "491"}]}),
            json!({"batchItemFailures": [{"itemIdentifier": "999"}]}),
            json!({"batchItemFailures": "491"}),
        ];
        for response in cases {
            let o = outcome(Ok(response.clone()), &batch(), &rbif());
            assert!(failed(&o).contains("invalid"), "{response}: {o:?}");
        }
        let o = outcome(Err("handler panicked".into()), &batch(), &rbif());
        assert_eq!(failed(&o), "handler panicked");
    }

    #[test]
    fn without_report_batch_item_failures_the_response_is_ignored() {
        let response = json!({"batchItemFailures": [{"itemIdentifier": "492"}]});
        assert_eq!(
            outcome(Ok(response), &batch(), &EsmSettings::default()),
            Outcome::Success { state: BTreeMap::new() }
        );
    }

    #[test]
    fn a_window_response_keeps_its_state() {
        let settings = EsmSettings { tumbling_window: Some(Duration::from_secs(60)), ..rbif() };
        let response = json!({"state": {"w": "abc", "n": 3}, "batchItemFailures": []});
        let want: BTreeMap<String, String> = [("n".into(), "3".into()), ("w".into(), "abc".into())].into();
        assert_eq!(outcome(Ok(response), &batch(), &settings), Outcome::Success { state: want });
        let o = outcome(Ok(json!({"state": "abc"})), &batch(), &settings);
        assert!(failed(&o).contains("state is not an object"));
        // the final invoke has no records: any reported item is invalid
        let o = outcome(Ok(json!({"batchItemFailures": [{"itemIdentifier": "491"}]})), &[], &settings);
        assert!(failed(&o).contains("not a sequence number of the batch"));
    }
}

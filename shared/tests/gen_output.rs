//! What `eddy gen` writes: NDJSON and Lambda event files (plain, KPL,
//! CloudWatch Logs) that hold every event once, in Lambda's limits, the same
//! bytes for the same seed; and a generator and truth that stay bounded.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use eddy::decode::{decode_record, DecodeLimits, UnitOutcome};
use eddy::event::Data;
use eddy::gen::lambda::{LAMBDA_MAX_PAYLOAD_BYTES, SHARD_ID};
use eddy::gen::output::{batch_path, write_lambda_events, write_ndjson, LAMBDA_DIR};
use eddy::gen::{GeneratedEvent, Generator, Packer, Packing, Scenario};

/// A fresh folder under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("eddy-gen-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn files(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir.join(LAMBDA_DIR)).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// A Lambda Kinesis event's records (eventID, sequence number, data), parsed with the typed model.
fn parse_kinesis_event(payload: &[u8]) -> Result<Vec<Record>, serde_json::Error> {
    let event: aws_lambda_events::event::kinesis::KinesisEvent = serde_json::from_slice(payload)?;
    Ok(event
        .records
        .into_iter()
        .map(|r| Record {
            event_id: r.event_id.unwrap_or_default(),
            sequence_number: r.kinesis.sequence_number,
            data: r.kinesis.data.0,
        })
        .collect())
}

struct Record {
    event_id: String,
    sequence_number: String,
    data: Vec<u8>,
}

/// The events' data, in order, as the decoder finds them in the Lambda event files.
fn decoded(payloads: &[Vec<u8>]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for payload in payloads {
        for record in parse_kinesis_event(payload).unwrap() {
            for unit in decode_record(&record.data, &DecodeLimits::default()) {
                let UnitOutcome::Events(payloads) = unit.outcome else { panic!("not decoded: {:?}", unit.outcome) };
                for p in payloads {
                    let text = match p.data {
                        Data::Json(t) | Data::Text(t) => t.into_owned(),
                    };
                    out.push((text, p.log.map(|i| unit.logs[i].id.clone())));
                }
            }
        }
    }
    out
}

#[test]
fn given_plain_packing_when_written_then_files_hold_each_event_once_in_order_within_batch_size() {
    let dir = temp_dir("plain");
    let events: Vec<GeneratedEvent> = Generator::new(Scenario::Security, 1, 1_050).collect();
    let written = write_lambda_events(events.clone().into_iter(), &dir, Packing::Plain, 100).unwrap();
    assert_eq!((written.events, written.records, written.files), (1_050, 1_050, 11));
    let payloads = files(&dir);
    assert_eq!(payloads.len(), 11);
    let mut last_seq = String::new();
    for (i, p) in payloads.iter().enumerate() {
        let records = parse_kinesis_event(p).unwrap();
        assert_eq!(records.len(), if i < 10 { 100 } else { 50 });
        for r in &records {
            assert!(r.event_id.starts_with(SHARD_ID), "{}", r.event_id);
            assert_eq!(eddy::batch::compare_sequence(&last_seq, &r.sequence_number), std::cmp::Ordering::Less);
            last_seq = r.sequence_number.clone();
        }
    }
    let data: Vec<String> = decoded(&payloads).into_iter().map(|(d, _)| d).collect();
    let want: Vec<String> = events.iter().map(|e| String::from_utf8(e.data.clone()).unwrap()).collect();
    assert_eq!(data, want);
    assert!(batch_path(&dir, 1).ends_with("lambda-events/batch-00001.json"));
}

#[test]
fn given_kpl_packing_when_written_then_aggregates_deaggregate_to_the_events_and_files_stay_under_6_mb() {
    let dir = temp_dir("kpl");
    let events: Vec<GeneratedEvent> = Generator::new(Scenario::Clickstream, 2, 30_000).collect();
    let written = write_lambda_events(events.clone().into_iter(), &dir, Packing::Kpl, 100).unwrap();
    assert_eq!(written.events, 30_000);
    assert!(written.records < 30_000 / 50, "about 150 events per 50 KB aggregate: {} records", written.records);
    let payloads = files(&dir);
    for p in &payloads {
        assert!(p.len() <= LAMBDA_MAX_PAYLOAD_BYTES, "{} bytes", p.len());
        for r in parse_kinesis_event(p).unwrap() {
            assert!(eddy::decode::kpl::is_aggregated(&r.data));
            assert!(r.data.len() <= 1024 * 1024, "a Kinesis record holds at most 1 MiB");
        }
    }
    let keys: Vec<String> = payloads
        .iter()
        .flat_map(|p| parse_kinesis_event(p).unwrap())
        .flat_map(|r| eddy::decode::kpl::deaggregate(&r.data).unwrap())
        .map(|u| u.partition_key)
        .collect();
    assert_eq!(
        keys,
        events.iter().map(|e| e.partition_key.clone()).collect::<Vec<_>>(),
        "user records keep their keys"
    );
    let data: Vec<String> = decoded(&payloads).into_iter().map(|(d, _)| d).collect();
    assert_eq!(data, events.iter().map(|e| String::from_utf8(e.data.clone()).unwrap()).collect::<Vec<_>>());
}

#[test]
fn given_cloudwatch_packing_when_written_then_every_log_event_arrives_once_with_its_id() {
    let dir = temp_dir("cwlogs");
    let events: Vec<GeneratedEvent> = Generator::new(Scenario::Logs, 3, 5_000).collect();
    let written = write_lambda_events(events.clone().into_iter(), &dir, Packing::CloudWatch, 100).unwrap();
    assert_eq!(written.events, 5_000);
    let got = decoded(&files(&dir));
    assert_eq!(got.len(), 5_000);
    let ids: BTreeSet<String> = got.iter().map(|(_, id)| id.clone().unwrap()).collect();
    let want: BTreeSet<String> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, want, "every log event once, its id the event's");
    let flows = got.iter().filter(|(d, _)| d.starts_with("{\"version\":2")).count();
    assert!(flows > 1_000, "flow log lines decode to their fields: {flows}");
}

#[test]
fn given_the_same_seed_when_written_twice_then_the_files_are_the_same_bytes_and_another_seed_differs() {
    for packing in [Packing::Plain, Packing::Kpl, Packing::CloudWatch] {
        let scenario = if packing == Packing::CloudWatch { Scenario::Logs } else { Scenario::Fraud };
        let write = |seed: u64, name: &str| {
            let dir = temp_dir(&format!("{name}-{packing:?}"));
            write_lambda_events(Generator::new(scenario, seed, 2_000), &dir, packing, 100).unwrap();
            files(&dir)
        };
        assert_eq!(write(7, "a"), write(7, "b"), "{packing:?}");
        assert_ne!(write(7, "a"), write(8, "c"), "{packing:?}");
    }
    let ndjson = |seed| {
        let mut out = Vec::new();
        write_ndjson(Generator::new(Scenario::Ads, seed, 2_000), &mut out).unwrap();
        out
    };
    assert_eq!(ndjson(1), ndjson(1));
    assert_ne!(ndjson(1), ndjson(2));
    assert_eq!(ndjson(1).iter().filter(|b| **b == b'\n').count(), 2_000);
}

#[test]
fn given_old_batch_files_when_written_again_then_only_the_new_run_is_left() {
    let dir = temp_dir("stale");
    write_lambda_events(Generator::new(Scenario::Iot, 1, 1_000), &dir, Packing::Plain, 10).unwrap();
    std::fs::write(dir.join(LAMBDA_DIR).join("notes.txt"), "kept").unwrap();
    let written = write_lambda_events(Generator::new(Scenario::Iot, 1, 1_000), &dir, Packing::Plain, 100).unwrap();
    assert_eq!(written.files, 10);
    assert_eq!(files(&dir).len(), 11, "10 batches and the file that is not a batch");
}

#[test]
fn given_long_runs_when_generated_then_the_generator_and_packers_hold_a_bounded_number_of_items() {
    // (bound, events): incidents in progress, or ad views and clicks in their rings
    for (scenario, bound) in [
        (Scenario::Security, 4),
        (Scenario::Clickstream, 0),
        (Scenario::Logs, 4),
        (Scenario::Fraud, 8),
        (Scenario::Iot, 16),
        (Scenario::Ads, 4_096 + 1_024 + 2),
    ] {
        let mut generator = Generator::new(scenario, 5, 60_000);
        let mut packer = Packer::new(if scenario == Scenario::Logs { Packing::CloudWatch } else { Packing::Kpl });
        let mut records = Vec::new();
        let (mut held, mut packed) = (0, 0);
        while let Some(e) = generator.next() {
            held = held.max(generator.held());
            packer.push(e, &mut records);
            packed = packed.max(packer.held());
            records.clear();
        }
        assert!(held <= bound, "{scenario}: held {held} > {bound}");
        let packed_bound = if scenario == Scenario::Logs { 143 * 50 } else { 51_200 / 100 };
        assert!(packed <= packed_bound, "{scenario}: the packer held {packed}");
        let truth = generator.truth();
        assert!(truth.window_counts.len() <= 143 * 3, "{scenario}: windows x sources: {}", truth.window_counts.len());
    }
}

#[test]
fn given_an_id_cap_when_generated_then_ids_stop_at_a_whole_event_and_counts_go_on() {
    let full = {
        let mut g = Generator::new(Scenario::Security, 6, 30_000);
        g.by_ref().for_each(drop);
        g.truth()
    };
    let capped = {
        let mut g = Generator::new(Scenario::Security, 6, 30_000).with_id_cap(40);
        g.by_ref().for_each(drop);
        g.truth()
    };
    assert!(full.alert_ids_complete() && full.alert_events > 100);
    assert!(!capped.alert_ids_complete());
    assert_eq!(capped.alerts_by_rule, full.alerts_by_rule, "counts are always kept");
    assert_eq!(capped.window_counts, full.window_counts);
    let listed: usize = capped.expected_alert_ids.values().map(Vec::len).sum();
    assert!(listed <= 40, "{listed} ids listed");
    for (rule, ids) in &full.expected_alert_ids {
        let within: Vec<&String> = ids.iter().filter(|id| capped.covers(id)).collect();
        assert_eq!(
            within,
            capped.expected_alert_ids[rule].iter().collect::<Vec<_>>(),
            "{rule}: complete below the cover"
        );
    }
    // scoring ignores what the cover does not say
    let raised: Vec<&str> = full.expected_ids().into_iter().collect();
    let score = capped.score(None, raised.iter().copied());
    assert!(score.is_exact(), "{score:?}");
    assert!(!capped.covers("log-0000000001"), "another scenario's ids are not covered");
    for incidents in capped.incidents.values() {
        assert!(incidents.ids.len() <= 40);
    }
}

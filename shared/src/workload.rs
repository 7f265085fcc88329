//! Building Lambda Kinesis events and reference workloads, for benchmarks,
//! tests and the local runners.

use serde_json::json;

use crate::json;

/// One record to put in a synthetic Lambda Kinesis event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRecord {
    /// The partition key.
    pub partition_key: String,
    /// The record's bytes.
    pub data: Vec<u8>,
}

/// A 56-digit sequence number, increasing with `n`, shaped like Kinesis's.
pub fn sequence_number(n: u64) -> String {
    format!("4959033827149025660855969253836157109592157598{:010}", n)
}

/// A Lambda Kinesis event (the JSON Lambda sends) holding `records`, from
/// `shard_id` of the stream `stream_arn`, numbered from `first_seq`, the i-th
/// arriving `i` milliseconds after `arrival` (seconds since the epoch).
pub fn kinesis_event(
    records: &[TestRecord],
    shard_id: &str,
    stream_arn: &str,
    first_seq: u64,
    arrival: f64,
) -> Vec<u8> {
    let arrivals: Vec<f64> = (0..records.len()).map(|i| arrival + i as f64 / 1000.0).collect();
    kinesis_event_at(records, &arrivals, shard_id, stream_arn, first_seq, &[])
}

/// An upper bound of the bytes of a Lambda Kinesis event besides its records
/// and its tumbling-window `state`: the braces, `Records`, the other window members.
pub const EVENT_OVERHEAD_BYTES: usize = 512;

/// The event source [`kinesis_event_at`] names: `shard_id` of `stream_arn`.
fn test_source<'a>(shard_id: &'a str, stream_arn: &'a str) -> EventSource<'a> {
    EventSource {
        shard_id,
        stream_arn,
        region: "us-east-1",
        invoke_identity_arn: "arn:aws:iam::123456789012:role/eddy",
    }
}

/// The bytes a tumbling-window `state` takes in an event (as a JSON object of strings).
pub fn state_bytes(state: &std::collections::BTreeMap<String, String>) -> usize {
    state.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>() + 2
}

/// An upper bound of the bytes `record` takes in an event [`kinesis_event_at`]
/// builds for `shard_id` of `stream_arn` (what an event source mapping counts
/// against Lambda's 6 MB payload).
pub fn test_record_bytes(record: &TestRecord, shard_id: &str, stream_arn: &str) -> usize {
    let r = LambdaRecord {
        partition_key: &record.partition_key,
        sequence_number: SEQUENCE_NUMBER_SHAPE,
        data: &record.data,
        arrival: 0.0,
    };
    lambda_record_bytes(&r, &test_source(shard_id, stream_arn))
}

/// As long as the sequence numbers [`sequence_number`] makes (56 digits).
const SEQUENCE_NUMBER_SHAPE: &str = "49590338271490256608559692538361571095921575980000000000";

/// Like [`kinesis_event`] with each record's own arrival time, and `extra`
/// top-level members appended verbatim (e.g. `"window":{...}` for a tumbling-window event).
pub fn kinesis_event_at(
    records: &[TestRecord],
    arrivals: &[f64],
    shard_id: &str,
    stream_arn: &str,
    first_seq: u64,
    extra: &[(&str, String)],
) -> Vec<u8> {
    let numbered: Vec<(u64, &TestRecord)> =
        records.iter().enumerate().map(|(i, r)| (first_seq + i as u64, r)).collect();
    numbered_kinesis_event(&numbered, arrivals, shard_id, stream_arn, extra)
}

/// Like [`kinesis_event_at`], each record numbered by its own `n` (its
/// [`sequence_number`]): the records of a batch an event source mapping's
/// `FilterCriteria` left, with the gaps of those it kept from the function.
pub fn numbered_kinesis_event(
    records: &[(u64, &TestRecord)],
    arrivals: &[f64],
    shard_id: &str,
    stream_arn: &str,
    extra: &[(&str, String)],
) -> Vec<u8> {
    let sequence_numbers: Vec<String> = records.iter().map(|(n, _)| sequence_number(*n)).collect();
    let lambda_records: Vec<LambdaRecord<'_>> = records
        .iter()
        .zip(&sequence_numbers)
        .enumerate()
        .map(|(i, ((_, r), seq))| LambdaRecord {
            partition_key: &r.partition_key,
            sequence_number: seq,
            data: &r.data,
            arrival: arrivals.get(i).copied().unwrap_or_default(),
        })
        .collect();
    lambda_kinesis_event(&lambda_records, &test_source(shard_id, stream_arn), extra)
}

/// One Kinesis record as it is read from a shard, for [`lambda_kinesis_event`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LambdaRecord<'a> {
    /// The partition key.
    pub partition_key: &'a str,
    /// The sequence number Kinesis gave the record.
    pub sequence_number: &'a str,
    /// The record's bytes (sent base64-encoded).
    pub data: &'a [u8],
    /// `ApproximateArrivalTimestamp`, seconds since the epoch.
    pub arrival: f64,
}

/// Where the records of a Lambda Kinesis event come from, and who reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSource<'a> {
    /// The shard, e.g. `shardId-000000000000` (the `eventID` is `shard:sequence`).
    pub shard_id: &'a str,
    /// The stream's ARN (`eventSourceARN`).
    pub stream_arn: &'a str,
    /// The region (`awsRegion`).
    pub region: &'a str,
    /// The role the event source mapping reads with (`invokeIdentityArn`).
    pub invoke_identity_arn: &'a str,
}

/// The Lambda Kinesis event (the JSON Lambda sends) holding `records` read
/// from `source`, with `extra` top-level members appended verbatim (the
/// tumbling-window members). Every field Lambda sets is there, in its order.
pub fn lambda_kinesis_event(
    records: &[LambdaRecord<'_>],
    source: &EventSource<'_>,
    extra: &[(&str, String)],
) -> Vec<u8> {
    let b64 = base64_simd::STANDARD;
    let size: usize = records.iter().map(|r| lambda_record_bytes(r, source)).sum();
    let mut out = Vec::with_capacity(size + 64 + extra.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>());
    out.extend_from_slice(b"{\"Records\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":");
        json::write_str(&mut out, r.partition_key);
        out.extend_from_slice(b",\"sequenceNumber\":");
        json::write_str(&mut out, r.sequence_number);
        out.extend_from_slice(b",\"data\":\"");
        b64.encode_append(r.data, &mut out);
        out.extend_from_slice(b"\",\"approximateArrivalTimestamp\":");
        json::write_f64(&mut out, r.arrival);
        out.extend_from_slice(b"},\"eventSource\":\"aws:kinesis\",\"eventVersion\":\"1.0\",\"eventID\":");
        json::write_str(&mut out, &format!("{}:{}", source.shard_id, r.sequence_number));
        out.extend_from_slice(b",\"eventName\":\"aws:kinesis:record\",\"invokeIdentityArn\":");
        json::write_str(&mut out, source.invoke_identity_arn);
        out.extend_from_slice(b",\"awsRegion\":");
        json::write_str(&mut out, source.region);
        out.extend_from_slice(b",\"eventSourceARN\":");
        json::write_str(&mut out, source.stream_arn);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    with_members(out, extra)
}

/// `event` (a JSON object) with `extra` members appended verbatim before its
/// closing brace: the tumbling-window members added to the same records.
pub fn with_members(mut event: Vec<u8>, extra: &[(&str, String)]) -> Vec<u8> {
    if extra.is_empty() || event.last() != Some(&b'}') {
        return event;
    }
    event.pop();
    for (key, value) in extra {
        event.push(b',');
        json::write_str(&mut event, key);
        event.push(b':');
        event.extend_from_slice(value.as_bytes());
    }
    event.push(b'}');
    event
}

/// One Lambda Kinesis event of a simulated shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardBatch {
    /// The shard's index.
    pub shard: usize,
    /// The event's JSON.
    pub event: Vec<u8>,
}

/// The Lambda Kinesis events an event source mapping would deliver for
/// `records` (with their arrival times, seconds) put into a stream of `shards`
/// shards: each record goes to the shard of its partition key's MD5 (as
/// Kinesis does), each shard's records are numbered in order and cut into
/// events of `batch_size`. The events are listed by the position of their
/// first record, so replaying them in order keeps each shard's order.
pub fn shard_batches(
    records: Vec<(TestRecord, f64)>,
    shards: u32,
    batch_size: usize,
    stream_arn: &str,
) -> Vec<ShardBatch> {
    let map = crate::pipeline::shards::ShardMap::new(shards);
    let mut per_shard: Vec<Vec<(usize, TestRecord, f64)>> = vec![Vec::new(); map.len()];
    for (position, (record, arrival)) in records.into_iter().enumerate() {
        per_shard[map.shard_for(&record.partition_key)].push((position, record, arrival));
    }
    let mut batches = Vec::new();
    for (shard, list) in per_shard.iter().enumerate() {
        let shard_id = crate::pipeline::shards::ShardMap::shard_id(shard);
        for (n, chunk) in list.chunks(batch_size.max(1)).enumerate() {
            let recs: Vec<TestRecord> = chunk.iter().map(|(_, r, _)| r.clone()).collect();
            let arrivals: Vec<f64> = chunk.iter().map(|(_, _, a)| *a).collect();
            let first_seq = (n * batch_size.max(1)) as u64;
            let event = kinesis_event_at(&recs, &arrivals, &shard_id, stream_arn, first_seq, &[]);
            batches.push((chunk[0].0, ShardBatch { shard, event }));
        }
    }
    batches.sort_by_key(|(first, _)| *first);
    batches.into_iter().map(|(_, b)| b).collect()
}

/// An upper bound of the bytes `record` takes in a Lambda Kinesis event from
/// `source`: its data in base64, its key as a JSON string,
/// its sequence number twice (`sequenceNumber` and `eventID`), the ARNs, the
/// region and the field names.
pub fn lambda_record_bytes(record: &LambdaRecord<'_>, source: &EventSource<'_>) -> usize {
    /// The field names, quotes and punctuation of one record (274 bytes), and
    /// its arrival time (at most 24 characters, as `serde_json` writes an `f64`).
    const ENVELOPE: usize = 274 + 24;
    record.data.len().div_ceil(3) * 4
        + crate::json::quoted_len(record.partition_key)
        + 2 * record.sequence_number.len()
        + source.shard_id.len()
        + source.stream_arn.len()
        + source.region.len()
        + source.invoke_identity_arn.len()
        + ENVELOPE
}

const SERVICES: [&str; 8] = ["auth", "checkout", "search", "catalog", "payments", "profile", "cart", "shipping"];
const PATHS: [&str; 6] = ["/login", "/api/v1/orders", "/api/v1/items/42", "/admin/users", "/health", "/api/v1/cart"];
const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "curl/8.4.0",
];

/// A deterministic JSON access event of about `target_bytes` bytes (record `i`).
pub fn access_event(i: u64, target_bytes: usize) -> Vec<u8> {
    let status = match i % 20 {
        0 => 503,
        1 => 401,
        2 | 3 => 404,
        _ => 200,
    };
    let mut event = json!({
        "id": format!("evt-{i:012}"),
        "kind": "access",
        "source": format!("svc-{}", SERVICES[(i % 8) as usize]),
        "time": format!("2024-11-25T01:{:02}:{:02}.{:03}Z", (i / 60_000) % 60, (i / 1000) % 60, i % 1000),
        "user": format!("user-{}", i % 997),
        "ip": format!("{}.{}.{}.{}", 11 + i % 200, (i / 7) % 256, (i / 13) % 256, 1 + i % 250),
        "http": {"method": if i % 5 == 0 { "POST" } else { "GET" }, "path": PATHS[(i % 6) as usize], "status": status, "latency_ms": 3 + (i * 37) % 900},
        "ua": AGENTS[(i % 3) as usize],
    });
    let base = serde_json::to_vec(&event).unwrap_or_default().len();
    if target_bytes > base + 12 {
        event["pad"] = json!("x".repeat(target_bytes - base - 10));
    }
    serde_json::to_vec(&event).unwrap_or_default()
}

/// A Lambda Kinesis event of `records` access events of about `record_bytes`
/// each; with [`REFERENCE_RECORDS`] and [`REFERENCE_RECORD_BYTES`], DESIGN.md's
/// reference batch at Lambda's 6 MB limit.
pub fn reference_event(records: usize, record_bytes: usize) -> Vec<u8> {
    let recs: Vec<TestRecord> = (0..records as u64)
        .map(|i| TestRecord { partition_key: format!("user-{}", i % 997), data: access_event(i, record_bytes) })
        .collect();
    kinesis_event(
        &recs,
        "shardId-000000000000",
        "arn:aws:kinesis:us-east-1:123456789012:stream/raw",
        1,
        1_732_496_400.0,
    )
}

/// Records in DESIGN.md's reference batch ("about 6,700"): as many of these
/// access events as fit one Lambda invocation ([`crate::limits::LAMBDA_MAX_PAYLOAD_BYTES`], 6 MB).
pub const REFERENCE_RECORDS: usize = 6_400;
/// Payload bytes per record in DESIGN.md's reference batch: access events
/// without padding (~320 bytes). Lambda's envelope adds ~520 bytes per record
/// (56-digit sequence numbers twice, ARNs, base64 growth), so 6,400 of them
/// make ~6.2 MB, just under the limit.
pub const REFERENCE_RECORD_BYTES: usize = 320;
/// Payload bytes per record of the heavier batch the benchmarks also report:
/// 6,700 records of 500 bytes ([`HEAVY_RECORDS`]) make 8.0 MB, over Lambda's
/// limit (a stress figure, and the benchmarks' reference before they were held to the limit).
pub const HEAVY_RECORD_BYTES: usize = 500;
/// Records of the heavier batch.
pub const HEAVY_RECORDS: usize = 6_700;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::LAMBDA_MAX_PAYLOAD_BYTES;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_record_takes_at_most_its_estimate_and_not_much_less(
            key in any::<String>().prop_filter("1-256 characters", |k| (1..=256).contains(&k.chars().count())),
            data in proptest::collection::vec(any::<u8>(), 0..3000),
            arrival in prop_oneof![0.0f64..4e9, any::<f64>().prop_filter("finite", |x| x.is_finite())],
            seq in any::<u32>(),
        ) {
            let (shard, arn) = ("shardId-000000000003", "arn:aws:kinesis:us-east-1:123456789012:stream/raw");
            let one = TestRecord { partition_key: key, data };
            let pair = [one.clone(), one.clone()];
            let single = kinesis_event_at(&pair[..1], &[arrival], shard, arn, u64::from(seq), &[]).len();
            let double = kinesis_event_at(&pair, &[arrival, arrival], shard, arn, u64::from(seq), &[]).len();
            let estimate = test_record_bytes(&one, shard, arn);
            prop_assert!(single <= EVENT_OVERHEAD_BYTES + estimate, "{single} > {EVENT_OVERHEAD_BYTES} + {estimate}");
            // batches fill close to Lambda's 6 MB, as an event source mapping fills them
            let added = double - single;
            prop_assert!(added <= estimate && estimate - added <= 32, "a record adds {added}, estimated {estimate}");
        }
    }

    #[test]
    fn the_reference_event_fits_one_lambda_invocation_and_the_heavy_one_does_not() {
        let event = reference_event(REFERENCE_RECORDS, REFERENCE_RECORD_BYTES);
        assert!(event.len() <= LAMBDA_MAX_PAYLOAD_BYTES, "{} bytes", event.len());
        assert!(event.len() > LAMBDA_MAX_PAYLOAD_BYTES * 9 / 10, "{} bytes: near the limit", event.len());
        let heavy = reference_event(HEAVY_RECORDS, HEAVY_RECORD_BYTES);
        assert!((7_500_000..8_500_000).contains(&heavy.len()), "{} bytes", heavy.len());
        let parsed: aws_lambda_events::event::kinesis::KinesisEvent = serde_json::from_slice(&event).unwrap();
        assert_eq!(parsed.records.len(), REFERENCE_RECORDS);
        let mean = parsed.records.iter().map(|r| r.kinesis.data.0.len()).sum::<usize>() / REFERENCE_RECORDS;
        assert!(mean.abs_diff(REFERENCE_RECORD_BYTES) < 20, "mean payload {mean} bytes");
    }

    #[test]
    fn events_parse_as_lambda_kinesis_events_with_every_field() {
        let recs = vec![
            TestRecord { partition_key: "k\"1".into(), data: b"{\"a\":1}".to_vec() },
            TestRecord { partition_key: "k2".into(), data: vec![0xff, 0] },
        ];
        let event =
            kinesis_event(&recs, "shardId-000000000002", "arn:aws:kinesis:us-east-1:1:stream/raw", 5, 1732500000.0);
        let parsed: aws_lambda_events::event::kinesis::KinesisEvent = serde_json::from_slice(&event).unwrap();
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.records[0].kinesis.partition_key, "k\"1");
        assert_eq!(parsed.records[1].kinesis.data.0, vec![0xff, 0]);
        assert_eq!(parsed.records[1].kinesis.sequence_number, sequence_number(6));
        assert_eq!(
            parsed.records[0].event_id.as_deref(),
            Some(format!("shardId-000000000002:{}", sequence_number(5)).as_str())
        );
        let window = kinesis_event_at(&recs, &[1.0, 2.0], "s", "arn", 1, &[("isFinalInvokeForWindow", "true".into())]);
        let v: serde_json::Value = serde_json::from_slice(&window).unwrap();
        assert_eq!(v["isFinalInvokeForWindow"], true);
        assert_eq!(v["Records"][1]["kinesis"]["approximateArrivalTimestamp"], 2.0);
    }

    #[test]
    fn members_appended_to_an_event_give_the_event_built_with_them() {
        let recs = vec![TestRecord { partition_key: "k".into(), data: b"{\"a\":1}".to_vec() }];
        let extra = [("window", r#"{"start":"a","end":"b"}"#.to_string()), ("state", "{}".to_string())];
        let plain = kinesis_event_at(&recs, &[1.0], "s", "arn", 1, &[]);
        let built = kinesis_event_at(&recs, &[1.0], "s", "arn", 1, &extra);
        assert_ne!(plain, built);
        assert_eq!(with_members(plain.clone(), &extra), built);
        assert_eq!(with_members(plain.clone(), &[]), plain);
        let v: serde_json::Value = serde_json::from_slice(&built).unwrap();
        assert_eq!((v["window"]["end"].as_str(), v["Records"].as_array().map(Vec::len)), (Some("b"), Some(1)));
    }

    #[test]
    fn shard_batches_keep_each_partition_key_on_one_shard_in_order() {
        let recs: Vec<(TestRecord, f64)> = (0..50)
            .map(|i| {
                (
                    TestRecord { partition_key: format!("k{}", i % 7), data: format!("{{\"n\":{i}}}").into_bytes() },
                    i as f64,
                )
            })
            .collect();
        let batches = shard_batches(recs, 3, 4, "arn");
        let mut seen: std::collections::HashMap<String, (usize, i64)> = Default::default();
        let mut total = 0;
        for b in &batches {
            let parsed = crate::batch::parse_kinesis_event(&b.event).unwrap();
            assert!(parsed.len() <= 4);
            for r in parsed {
                total += 1;
                let n: serde_json::Value =
                    serde_json::from_slice(&base64_simd::STANDARD.decode_to_vec(&r.data).unwrap()).unwrap();
                let n = n["n"].as_i64().unwrap();
                let (shard, last) = seen.entry(r.partition_key.to_string()).or_insert((b.shard, -1));
                assert_eq!(*shard, b.shard, "a key stays on its shard");
                assert!(n > *last, "in order");
                *last = n;
            }
        }
        assert_eq!(total, 50);
        assert!(batches.iter().map(|b| b.shard).collect::<std::collections::HashSet<_>>().len() > 1);
    }

    #[test]
    fn lambda_events_carry_the_real_coordinates_and_stay_within_their_size_bound() {
        let keys = ["plain", "k\"ey\u{1}", &"x".repeat(256)];
        let datas: [&[u8]; 3] = [b"{\"a\":1}", &[0xff, 0, 1], &[7u8; 3000]];
        let seqs = ["49", "49590338271490256608559692538361571095921575989136588898", "1"];
        let records: Vec<LambdaRecord<'_>> = (0..3)
            .map(|i| LambdaRecord {
                partition_key: keys[i],
                sequence_number: seqs[i],
                data: datas[i],
                arrival: 1_795_978_506.166 + i as f64,
            })
            .collect();
        let source = EventSource {
            shard_id: "shardId-000000000001",
            stream_arn: "arn:aws:kinesis:eu-west-1:000000000000:stream/t-raw",
            region: "eu-west-1",
            invoke_identity_arn: "arn:aws:iam::000000000000:role/archive",
        };
        let event = lambda_kinesis_event(&records, &source, &[]);
        let bound: usize = records.iter().map(|r| lambda_record_bytes(r, &source)).sum();
        assert!(event.len() <= bound + 16, "{} > {bound}", event.len());
        let parsed: aws_lambda_events::event::kinesis::KinesisEvent = serde_json::from_slice(&event).unwrap();
        for (i, r) in parsed.records.iter().enumerate() {
            assert_eq!(r.kinesis.sequence_number, seqs[i]);
            assert_eq!(r.kinesis.partition_key, keys[i]);
            assert_eq!(r.kinesis.data.0, datas[i]);
            assert_eq!(r.event_id.as_deref(), Some(format!("shardId-000000000001:{}", seqs[i]).as_str()));
            assert_eq!(r.aws_region.as_deref(), Some("eu-west-1"));
            assert_eq!(r.event_source_arn.as_deref(), Some(source.stream_arn));
            assert_eq!(r.invoke_identity_arn.as_deref(), Some(source.invoke_identity_arn));
            assert_eq!(r.event_source.as_deref(), Some("aws:kinesis"));
        }
        assert_eq!(parsed.records[2].kinesis.approximate_arrival_timestamp.0.timestamp_millis(), 1_795_978_508_166);
    }

    #[test]
    fn sequence_numbers_increase_and_have_56_digits() {
        let a = sequence_number(9);
        let b = sequence_number(10);
        assert_eq!(a.len(), 56);
        assert_eq!(crate::batch::compare_sequence(&a, &b), std::cmp::Ordering::Less);
    }
}

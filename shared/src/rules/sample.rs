//! Enriched-looking sample events (what the enrich function writes to the
//! `enriched` stream), for the filter's fixtures, tests and benchmarks.

use serde_json::{json, Value};

use crate::workload::{kinesis_event, TestRecord};

const SERVICES: [(&str, &str, u8); 8] = [
    ("auth", "identity", 1),
    ("checkout", "payments", 1),
    ("search", "discovery", 2),
    ("catalog", "discovery", 2),
    ("payments", "payments", 1),
    ("profile", "identity", 3),
    ("cart", "payments", 2),
    ("shipping", "logistics", 3),
];
const PATHS: [&str; 6] = ["/login", "/api/v1/orders", "/api/v1/items/42", "/admin/users", "/health", "/api/v1/cart"];
const PLACES: [(&str, &str, f64, f64); 5] = [
    ("DE", "Berlin", 52.52, 13.405),
    ("US", "Seattle", 47.61, -122.33),
    ("FR", "Paris", 48.857, 2.352),
    ("JP", "Tokyo", 35.68, 139.69),
    ("BR", "São Paulo", -23.55, -46.63),
];
const AGENTS: [(&str, &str, &str); 3] =
    [("Chrome", "Windows 10", "desktop"), ("Safari", "iOS", "smartphone"), ("curl", "UNKNOWN", "crawler")];

/// An enriched access event (record `i`) of about `target_bytes` bytes: the
/// payload's `id`, `kind`, `source`, `time`, `user`, `ip`, `http{...}`, plus
/// `geo{...}`, `ua{...}` and `service{...}` as enrich adds them. One event in
/// 20 is a 503, one a 401, one in 6 hits `/admin/users`; the addresses are
/// spread over public and private networks.
pub fn enriched_access_event(i: u64, target_bytes: usize) -> Value {
    let (service, team, tier) = SERVICES[(i % 8) as usize];
    let (country, city, lat, lon) = PLACES[(i % 5) as usize];
    let (browser, os, device) = AGENTS[(i % 3) as usize];
    let status = match i % 20 {
        0 => 503,
        1 => 401,
        2 | 3 => 404,
        _ => 200,
    };
    let ip = if i % 4 == 0 {
        format!("10.{}.{}.{}", (i / 7) % 256, (i / 13) % 256, 1 + i % 250)
    } else {
        format!("{}.{}.{}.{}", 11 + i % 200, (i / 7) % 256, (i / 13) % 256, 1 + i % 250)
    };
    let mut event = json!({
        "id": format!("evt-{i:012}"),
        "kind": "access",
        "source": format!("svc-{service}"),
        "time": format!("2024-11-25T01:{:02}:{:02}.{:03}Z", (i / 60_000) % 60, (i / 1000) % 60, i % 1000),
        "time_source": "event",
        "user": format!("user-{}", i % 997),
        "ip": ip,
        "http": {
            "method": if i % 5 == 0 { "POST" } else { "GET" },
            "path": PATHS[(i % 6) as usize],
            "status": status,
            "latency_ms": 3 + (i * 37) % 900,
        },
        "geo": {"country": country, "city": city, "lat": lat, "lon": lon, "asn": 3320 + (i % 7)},
        "ua": {"browser": browser, "os": os, "device": device},
        "service": {"name": format!("svc-{service}"), "team": team, "tier": tier, "owner": format!("{team}@example.com")},
    });
    let base = event.to_string().len();
    if target_bytes > base + 12 {
        event["pad"] = json!("x".repeat(target_bytes - base - 10));
    }
    event
}

/// A Lambda Kinesis event from the `enriched` stream holding `records`
/// enriched access events of about `record_bytes` each (6,700 of 500 bytes:
/// the size of `workload::reference_event`, ~8 MB with the envelope).
pub fn enriched_batch(records: usize, record_bytes: usize) -> Vec<u8> {
    let recs: Vec<TestRecord> = (0..records as u64)
        .map(|i| TestRecord {
            partition_key: format!("user-{}", i % 997),
            data: enriched_access_event(i, record_bytes).to_string().into_bytes(),
        })
        .collect();
    kinesis_event(
        &recs,
        "shardId-000000000000",
        "arn:aws:kinesis:us-east-1:123456789012:stream/enriched",
        1,
        1_732_496_400.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_reference_size_when_built_then_the_batch_is_the_reference_batchs_size() {
        let payload = enriched_batch(6_700, 500);
        let mb = payload.len() as f64 / 1e6;
        // like `workload::reference_event`: 6,700 records of 500 bytes make ~8 MB with Lambda's envelope
        assert!((7.5..8.5).contains(&mb), "{mb} MB");
        let e = enriched_access_event(20, 500);
        assert_eq!(e["http"]["status"], 503);
        assert_eq!(e["service"]["tier"], 1);
        assert!(e.to_string().len().abs_diff(500) < 20);
    }
}

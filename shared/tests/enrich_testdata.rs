//! The enrich test data, built from code: two small MaxMind DB format
//! databases (a GeoIP2-City-shaped one and a GeoLite2-ASN-shaped one, written
//! with the `mmdb-writer` crate) in `shared/testdata/enrich/`, and the Lambda
//! event fixtures `events/enrich-*.json`. The tests check that the committed
//! copies are what this code builds; to rewrite them after a change:
//!
//! ```sh
//! EDDY_REGENERATE=1 cargo test -p eddy --test enrich_testdata
//! ```
//!
//! The databases cover documentation networks (192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24, 2001:db8:1::/48, 2001:db8:2::/48) and the /8 networks the
//! reference workload's client IPs fall in (11.0.0.0/8 to 210.0.0.0/8, less
//! 127, 192, 198 and 203), so benchmarks exercise real lookups.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use eddy::workload::{kinesis_event, TestRecord};
use mmdb_writer::ipnet::IpNet;
use mmdb_writer::Writer;
use serde::Serialize;
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where the committed copies live, relative to the repository root.
const CITY_DB: &str = "shared/testdata/enrich/geo-city.mmdb";
const ASN_DB: &str = "shared/testdata/enrich/geo-asn.mmdb";
const CLICKSTREAM: &str = "events/enrich-clickstream.json";
const LOGS: &str = "events/enrich-logs.json";

#[derive(Serialize)]
struct Place {
    #[serde(skip_serializing_if = "Option::is_none")]
    iso_code: Option<&'static str>,
    names: BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

/// A GeoIP2 City record, reduced to what enrich reads (plus names in two languages).
#[derive(Serialize)]
struct City {
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<Place>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_country: Option<Place>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<Place>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location>,
}

#[derive(Serialize)]
struct Asn {
    autonomous_system_number: u32,
    autonomous_system_organization: String,
}

fn place(iso: &'static str, en: &'static str) -> Place {
    Place { iso_code: Some(iso), names: BTreeMap::from([("en", en), ("de", en)]) }
}

fn city(iso: &'static str, country: &'static str, name: &'static str, lat: f64, lon: f64) -> City {
    City {
        country: Some(place(iso, country)),
        registered_country: None,
        city: Some(Place { iso_code: None, names: BTreeMap::from([("en", name)]) }),
        location: Some(Location { latitude: lat, longitude: lon }),
    }
}

const CITIES: [(&str, &str, &str, f64, f64); 8] = [
    ("US", "United States", "New York", 40.7128, -74.006),
    ("US", "United States", "Seattle", 47.6062, -122.3321),
    ("GB", "United Kingdom", "London", 51.5142, -0.0931),
    ("DE", "Germany", "Frankfurt am Main", 50.1109, 8.6821),
    ("FR", "France", "Paris", 48.8566, 2.3522),
    ("JP", "Japan", "Tokyo", 35.6762, 139.6503),
    ("BR", "Brazil", "São Paulo", -23.5505, -46.6333),
    ("IN", "India", "Mumbai", 19.076, 72.8777),
];

/// First octets of the reference workload's IPs that get a /8 record.
fn workload_octets() -> impl Iterator<Item = u8> {
    (11..=210u8).filter(|o| ![127, 192, 198, 203].contains(o))
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn writer(database_type: &str) -> Writer {
    Writer::builder(database_type)
        .description(&[("en", "Eddy enrich test data (not real locations)")])
        .build_epoch(UNIX_EPOCH + Duration::from_secs(1_732_406_400))
        .build()
}

/// The city database.
fn city_db() -> Vec<u8> {
    let mut w = writer("Eddy-Test-City");
    for o in workload_octets() {
        let (iso, country, name, lat, lon) = CITIES[usize::from(o) % CITIES.len()];
        w.insert(net(&format!("{o}.0.0.0/8")), &city(iso, country, name, lat, lon)).unwrap();
    }
    w.insert(net("192.0.2.0/24"), &city("US", "United States", "Mountain View", 37.386, -122.0838)).unwrap();
    w.insert(net("198.51.100.0/24"), &city("GB", "United Kingdom", "London", 51.5142, -0.0931)).unwrap();
    let country_only =
        City { country: Some(place("JP", "Japan")), registered_country: None, city: None, location: None };
    w.insert(net("203.0.113.0/24"), &country_only).unwrap();
    w.insert(net("2001:db8:1::/48"), &city("DE", "Germany", "Berlin", 52.52, 13.405)).unwrap();
    let registered_only =
        City { country: None, registered_country: Some(place("FR", "France")), city: None, location: None };
    w.insert(net("2001:db8:2::/48"), &registered_only).unwrap();
    w.to_bytes().unwrap()
}

/// The ASN database (no record for 198.51.100.0/24 and 203.0.113.0/24).
fn asn_db() -> Vec<u8> {
    let mut w = writer("Eddy-Test-ASN");
    for o in workload_octets() {
        let n = 64_500 + u32::from(o) % 16;
        w.insert(
            net(&format!("{o}.0.0.0/8")),
            &Asn { autonomous_system_number: n, autonomous_system_organization: format!("Example AS {n}") },
        )
        .unwrap();
    }
    let transit = Asn { autonomous_system_number: 64_496, autonomous_system_organization: "Example Transit".into() };
    w.insert(net("192.0.2.0/24"), &transit).unwrap();
    let v6 = Asn { autonomous_system_number: 64_497, autonomous_system_organization: "Example IPv6 Net".into() };
    w.insert(net("2001:db8:1::/48"), &v6).unwrap();
    w.to_bytes().unwrap()
}

const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/raw";
const SHARD: &str = "shardId-000000000000";
/// 2024-11-25T02:00:00.123Z
const ARRIVAL: f64 = 1_732_500_000.123;
const CHROME: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

fn record(key: &str, data: impl Into<Vec<u8>>) -> TestRecord {
    TestRecord { partition_key: key.into(), data: data.into() }
}

fn compact(v: Value) -> String {
    serde_json::to_string(&v).unwrap()
}

/// `events/enrich-clickstream.json`: web and app events, one kind of case per record.
fn clickstream() -> Vec<u8> {
    let records = vec![
        // 1. IPv4 in both databases, desktop Chrome, RFC 3339 time with an offset, catalog hit by source
        record(
            "user-1",
            compact(
                json!({"id": "click-1", "kind": "pageview", "source": "svc-auth", "time": "2024-11-25T02:00:00.250+01:00",
                "ip": "192.0.2.10", "ua": CHROME, "http": {"method": "GET", "path": "/login", "status": 200}}),
            ),
        ),
        // 2. IPv6, iPhone, epoch milliseconds, no id (derived), the service field wins over source
        record(
            "user-2",
            compact(
                json!({"kind": "add_to_cart", "source": "web", "service": "svc-cart", "timestamp": 1_732_496_400_123u64,
                "client_ip": "2001:db8:1::20", "user_agent": IPHONE, "item": "sku-42"}),
            ),
        ),
        // 3. an IP no database knows, a crawler, @timestamp; the producer's own geo stays
        record(
            "user-3",
            compact(
                json!({"id": "click-3", "kind": "pageview", "source": "svc-search", "@timestamp": "2024-11-25T01:00:00Z",
                "ip": "10.1.2.3", "ua": GOOGLEBOT, "geo": {"from": "producer"}}),
            ),
        ),
        // 4. nothing to look up: arrival time, unknown source, a service the catalog does not list
        record("user-4", compact(json!({"msg": "heartbeat", "service": "svc-unlisted"}))),
        // 5. NDJSON: two events of one record (derived ids count them)
        record(
            "user-5",
            format!(
                "{}\n{}\n",
                compact(json!({"kind": "view", "source": "svc-catalog", "ip": "203.0.113.9"})),
                compact(json!({"kind": "view", "source": "svc-catalog", "ip": "198.51.100.7"}))
            ),
        ),
        // 6. every added name already in the payload: the added members win, no key twice
        record(
            "user-6",
            compact(
                json!({"id": 42, "kind": "login", "source": "svc-auth", "time": 1_732_496_400, "time_source": "producer",
                "geo": "somewhere", "ip": "2001:db8:2::1", "ua": "curl/8.4.0", "service": "svc-auth", "user": "u-6"}),
            ),
        ),
        // 7. truncated JSON: quarantined
        record("user-7", br#"{"id": "click-7", "kind": "pagev"#.to_vec()),
    ];
    kinesis_event(&records, SHARD, ARN, 100, ARRIVAL)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// `events/enrich-logs.json`: CloudWatch Logs and plain text lines.
fn logs() -> Vec<u8> {
    let message = json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/lambda/svc-checkout",
        "logStream": "2024/11/25/[$LATEST]0123456789abcdef",
        "subscriptionFilters": ["eddy"],
        "logEvents": [
            {"id": "38000000000000000000000000000000000000000000000000000001", "timestamp": 1_732_496_400_500u64,
             "message": compact(json!({"level": "ERROR", "msg": "payment declined", "order": "o-17"}))},
            {"id": "38000000000000000000000000000000000000000000000000000002", "timestamp": 1_732_496_401_000u64,
             "message": "START RequestId: 8f5b Version: $LATEST"},
        ]
    });
    let records = vec![
        record("logs-1", gzip(compact(message).as_bytes())),
        record("app-2", "2024-11-25 01:00:02 INFO checkout started\n\n2024-11-25 01:00:03 WARN slow payment\n"),
    ];
    kinesis_event(&records, SHARD, ARN, 200, ARRIVAL)
}

/// A fixture's meaning: each record's partition key, sequence number, arrival
/// and bytes (gunzipped), so a different gzip encoder does not count as a change.
fn meaning(event: &[u8]) -> Vec<(String, String, f64, Vec<u8>)> {
    let v: Value = serde_json::from_slice(event).unwrap();
    v["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let k = &r["kinesis"];
            let mut data = base64_simd::STANDARD.decode_to_vec(k["data"].as_str().unwrap()).unwrap();
            if data.starts_with(&[0x1f, 0x8b]) {
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&data[..]).read_to_end(&mut plain).unwrap();
                data = plain;
            }
            (
                k["partitionKey"].as_str().unwrap().to_string(),
                k["sequenceNumber"].as_str().unwrap().to_string(),
                k["approximateArrivalTimestamp"].as_f64().unwrap(),
                data,
            )
        })
        .collect()
}

fn regenerate() -> bool {
    std::env::var("EDDY_REGENERATE").is_ok_and(|v| v == "1")
}

/// Writes `built` to `path` when regenerating; otherwise checks the committed copy.
fn check(path: &str, built: &[u8], same: impl Fn(&[u8], &[u8]) -> bool) {
    let file = root().join(path);
    if regenerate() {
        std::fs::write(&file, built).unwrap();
        return;
    }
    let committed = std::fs::read(&file).unwrap_or_default();
    assert!(
        same(&committed, built),
        "{path} is not what shared/tests/enrich_testdata.rs builds: \
         run EDDY_REGENERATE=1 cargo test -p eddy --test enrich_testdata and commit the result"
    );
}

#[test]
fn the_test_databases_are_up_to_date_and_small() {
    let (city, asn) = (city_db(), asn_db());
    assert_eq!(city, city_db(), "the writer is deterministic");
    check(CITY_DB, &city, |a, b| a == b);
    check(ASN_DB, &asn, |a, b| a == b);
    assert!(city.len() < 64 * 1024 && asn.len() < 64 * 1024, "{} and {} bytes", city.len(), asn.len());
}

#[test]
fn the_enrich_fixtures_are_up_to_date() {
    check(CLICKSTREAM, &clickstream(), |a, b| meaning(a) == meaning(b));
    check(LOGS, &logs(), |a, b| meaning(a) == meaning(b));
}

#[test]
fn the_test_databases_answer_as_designed() {
    let city = eddy::enrich::GeoDb::from_bytes(city_db()).unwrap();
    assert_eq!(city.database_type(), "Eddy-Test-City");
    let reader = maxminddb::Reader::from_source(city_db()).unwrap();
    let look = |ip: &str| {
        let r = reader.lookup(ip.parse().unwrap()).unwrap();
        r.decode::<maxminddb::geoip2::City>().unwrap().and_then(|c| c.country.iso_code.map(str::to_string))
    };
    assert_eq!(look("192.0.2.1").as_deref(), Some("US"));
    assert_eq!(look("11.1.2.3").as_deref(), Some("DE"), "11 % 8 = 3: Frankfurt");
    assert_eq!(look("2001:db8:1::1").as_deref(), Some("DE"));
    assert_eq!(look("10.0.0.1"), None);
    assert_eq!(look("127.0.0.1"), None);
}

/// Writes DESIGN.md's reference batch to `target/reference-batch.json`, for
/// `eddy invoke enrich --event target/reference-batch.json --repeat 20`:
///
/// ```sh
/// cargo test -p eddy --test enrich_testdata -- --ignored write_the_reference_batch
/// ```
#[test]
#[ignore = "writes a 6 MB file on request"]
fn write_the_reference_batch() {
    let path = root().join("target/reference-batch.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let event =
        eddy::workload::reference_event(eddy::workload::REFERENCE_RECORDS, eddy::workload::REFERENCE_RECORD_BYTES);
    std::fs::write(&path, event).unwrap();
    eprintln!("wrote {}", path.display());
}

//! Helpers shared by the fixture tests (`mod support;` in each test file).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Checks that the `events/` fixtures named `prefix*.json` are exactly
/// `generated` (file name, bytes), each with its line in `events/README.md`;
/// with `EDDY_REGEN_FIXTURES=1` it writes them first.
pub fn check_generated_fixtures(prefix: &str, generated: Vec<(&str, Vec<u8>)>) {
    let regen = std::env::var("EDDY_REGEN_FIXTURES").is_ok_and(|v| v == "1");
    let readme = std::fs::read_to_string(repo().join("events/README.md")).unwrap();
    let mut names = Vec::new();
    for (file, bytes) in generated {
        let path = repo().join("events").join(file);
        if regen {
            std::fs::write(&path, &bytes).unwrap();
        }
        let on_disk: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let generated: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(on_disk, generated, "{file} is stale: run with EDDY_REGEN_FIXTURES=1");
        assert!(readme.contains(&format!("`{file}`")), "{file} has no line in events/README.md");
        names.push(file.to_string());
    }
    // every such fixture on disk is one of these (so each is read by a test)
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".json"))
        .collect();
    on_disk.sort();
    names.sort();
    assert_eq!(on_disk, names);
}

/// The Lambda Kinesis event of a fixture on the `enriched` stream: its records
/// (partition key, data) on `shard`, sequence numbers from `first_seq`.
pub fn enriched_event<'a>(
    records: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    shard: &str,
    first_seq: u64,
) -> Vec<u8> {
    let records: Vec<eddy::workload::TestRecord> = records
        .into_iter()
        .map(|(key, data)| eddy::workload::TestRecord { partition_key: key.to_string(), data: data.to_vec() })
        .collect();
    eddy::workload::kinesis_event(
        &records,
        shard,
        "arn:aws:kinesis:us-east-1:123456789012:stream/enriched",
        first_seq,
        1_732_496_400.0,
    )
}

/// Every file below `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

//! What `eddy gen` writes: `events.ndjson` (one record's data per line), or
//! Lambda Kinesis event files (`lambda-events/batch-00001.json`, ...), plus
//! `truth.json` and `catalog.json`. Streaming: nothing grows with the count.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::lambda::{lambda_event, LambdaBatcher, PackedRecord, Packer, Packing};
use super::GeneratedEvent;

/// The events file in an output folder.
pub const EVENTS_FILE: &str = "events.ndjson";
/// The ground truth file in an output folder.
pub const TRUTH_FILE: &str = "truth.json";
/// The service catalog file in an output folder.
pub const CATALOG_FILE: &str = "catalog.json";
/// The folder of Lambda event files in an output folder.
pub const LAMBDA_DIR: &str = "lambda-events";

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Generated events.
    pub events: u64,
    /// Kinesis records (events, KPL aggregates or CloudWatch payloads).
    pub records: u64,
    /// Lambda event files (0 for NDJSON).
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes each event's `data` as one line (a JSON object, so the file is NDJSON).
pub fn write_ndjson(events: impl Iterator<Item = GeneratedEvent>, out: impl Write) -> io::Result<Written> {
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let mut written = Written::default();
    for event in events {
        out.write_all(&event.data)?;
        out.write_all(b"\n")?;
        written.events += 1;
        written.bytes += event.data.len() as u64 + 1;
    }
    written.records = written.events;
    out.flush()?;
    Ok(written)
}

/// The path of Lambda event file `n` (from 1) under `dir`.
pub fn batch_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(LAMBDA_DIR).join(format!("batch-{n:05}.json"))
}

/// Writes the events as Lambda Kinesis event files under `dir/lambda-events/`
/// (earlier `batch-*.json` files there are removed first), records packed by
/// `packing`, `batch_size` records per file at most (and 6 MB).
pub fn write_lambda_events(
    events: impl Iterator<Item = GeneratedEvent>,
    dir: &Path,
    packing: Packing,
    batch_size: usize,
) -> io::Result<Written> {
    let folder = dir.join(LAMBDA_DIR);
    fs::create_dir_all(&folder)?;
    for entry in fs::read_dir(&folder)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with("batch-") && name.ends_with(".json") {
            fs::remove_file(&path)?;
        }
    }
    let mut packer = Packer::new(packing);
    let mut batcher = LambdaBatcher::new(batch_size);
    let mut records = Vec::new();
    let mut written = Written::default();
    let write = |batch: Vec<PackedRecord>, written: &mut Written| -> io::Result<()> {
        written.files += 1;
        let first_seq = written.records + 1;
        written.records += batch.len() as u64;
        written.events += batch.iter().map(|r| u64::from(r.events)).sum::<u64>();
        let payload = lambda_event(batch, first_seq);
        written.bytes += payload.len() as u64;
        fs::write(batch_path(dir, written.files), payload)
    };
    for event in events {
        packer.push(event, &mut records);
        for record in records.drain(..) {
            if let Some(batch) = batcher.push(record) {
                write(batch, &mut written)?;
            }
        }
    }
    packer.finish(&mut records);
    for record in records.drain(..) {
        if let Some(batch) = batcher.push(record) {
            write(batch, &mut written)?;
        }
    }
    if let Some(batch) = batcher.finish() {
        write(batch, &mut written)?;
    }
    Ok(written)
}

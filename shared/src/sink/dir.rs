//! `DirSink`: writes batches as files under a local folder, in the same layout
//! the S3 sinks use, so `eddy invoke` and `eddy run` need no AWS at all.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{ndjson_bytes, SendReport, Sink, SinkBatch, SinkError};
use crate::deadline::Deadline;
use crate::limits::ServiceLimits;

/// A sink writing each batch to `ROOT/NAME/<key>.ndjson` (or `.ndjson.gz`).
#[derive(Debug, Clone)]
pub struct DirSink {
    name: String,
    dir: PathBuf,
    gzip: bool,
    limits: Option<ServiceLimits>,
}

impl DirSink {
    /// A sink named `name` writing under `root/name/`; gzip-compressed when `gzip`.
    pub fn new(root: &Path, name: impl Into<String>, gzip: bool) -> Self {
        let name = name.into();
        Self { dir: root.join(&name), name, gzip, limits: None }
    }

    /// Declares the limits of the service this folder stands in for (Firehose,
    /// Kinesis): entries it could never accept are quarantined, as in AWS.
    pub fn with_limits(mut self, limits: ServiceLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// The folder this sink writes into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a batch with `key` is written to.
    pub fn path_for(&self, key: &str) -> PathBuf {
        let ext = if self.gzip { "ndjson.gz" } else { "ndjson" };
        self.dir.join(format!("{key}.{ext}"))
    }

    fn write(&self, batch: SinkBatch<'_>) -> Result<(), SinkError> {
        let path = self.path_for(batch.key);
        let io = |source| SinkError::Io { path: path.display().to_string(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let bytes = ndjson_bytes(batch.records, self.gzip).map_err(io)?;
        // write then rename, so a reader never sees half a file
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

#[async_trait]
impl Sink for DirSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn limits(&self) -> Option<ServiceLimits> {
        self.limits
    }

    async fn send(&self, batch: SinkBatch<'_>, _deadline: Deadline) -> SendReport {
        if batch.records.is_empty() {
            return SendReport::default();
        }
        match self.write(batch) {
            Ok(()) => SendReport::default(),
            Err(e) => SendReport::all_failed(batch.records.len(), e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::SinkRecord;
    use std::io::Read;
    use std::time::Duration;

    fn records() -> Vec<SinkRecord> {
        vec![SinkRecord::new("a", b"{\"x\":1}\n".to_vec()), SinkRecord::new("b", b"{\"x\":2}".to_vec())]
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("eddy-dir-{tag}-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[tokio::test]
    async fn writes_one_line_per_record_under_name_and_key() {
        let root = tempdir("plain");
        let sink = DirSink::new(&root, "archive", false);
        let recs = records();
        let report = sink
            .send(SinkBatch { key: "2024/01/02/shard-1", records: &recs }, Deadline::after(Duration::from_secs(1)))
            .await;
        assert!(report.is_ok());
        let text = std::fs::read_to_string(root.join("archive/2024/01/02/shard-1.ndjson")).unwrap();
        assert_eq!(text, "{\"x\":1}\n{\"x\":2}\n");
        std::fs::remove_dir_all(root).ok();
    }

    #[tokio::test]
    async fn gzip_files_decompress_to_the_lines_and_a_retry_overwrites() {
        let root = tempdir("gz");
        let sink = DirSink::new(&root, "archive", true);
        let recs = records();
        for _ in 0..2 {
            let r = sink.send(SinkBatch { key: "k", records: &recs }, Deadline::after(Duration::from_secs(1))).await;
            assert!(r.is_ok());
        }
        let gz = std::fs::read(root.join("archive/k.ndjson.gz")).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
        assert_eq!(text.lines().count(), 2);
        std::fs::remove_dir_all(root).ok();
    }

    #[tokio::test]
    async fn an_unwritable_folder_fails_every_entry() {
        let root = tempdir("bad");
        std::fs::write(root.join("archive"), b"a file, not a folder").unwrap();
        let sink = DirSink::new(&root, "archive", false);
        let recs = records();
        let report = sink.send(SinkBatch { key: "k", records: &recs }, Deadline::after(Duration::from_secs(1))).await;
        assert_eq!(report.failed, vec![0, 1]);
        assert!(report.last_error.unwrap().contains("cannot write"));
        std::fs::remove_dir_all(root).ok();
    }
}

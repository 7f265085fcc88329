//! Where each (mapping, shard) stopped, kept between runs of `eddy local run`
//! in a JSON file, as Lambda keeps a mapping's checkpoints: a new run resumes
//! right after the last record done, with the open tumbling window's state,
//! instead of reading the stream again from its starting position.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::local::LocalError;

/// A tumbling window left open, with its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedWindow {
    /// Window start, ms.
    pub start_ms: i64,
    /// Window end, ms.
    pub end_ms: i64,
    /// The state to hand to the window's next invocation.
    pub state: BTreeMap<String, String>,
}

/// Where one (mapping, shard) stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCheckpoint {
    /// The last record done; the next run reads after it.
    pub sequence_number: Option<String>,
    /// The open window, if any.
    pub window: Option<SavedWindow>,
}

/// The checkpoints of a stack's mappings, by `mapping/shard`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoints {
    /// By [`Checkpoints::key`].
    pub shards: BTreeMap<String, ShardCheckpoint>,
}

impl Checkpoints {
    /// The key of a mapping's shard.
    pub fn key(mapping: &str, shard: &str) -> String {
        format!("{mapping}/{shard}")
    }

    /// The checkpoint of a mapping's shard.
    pub fn get(&self, mapping: &str, shard: &str) -> Option<&ShardCheckpoint> {
        self.shards.get(&Self::key(mapping, shard))
    }

    /// Records where a mapping's shard stopped (nothing when it did nothing).
    pub fn set(&mut self, mapping: &str, shard: &str, checkpoint: ShardCheckpoint) {
        if checkpoint != ShardCheckpoint::default() {
            self.shards.insert(Self::key(mapping, shard), checkpoint);
        }
    }

    /// Reads the file at `path` (no file: no checkpoints).
    pub fn load(path: &Path) -> Result<Self, LocalError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(LocalError::Io { path: path.display().to_string(), source }),
        };
        serde_json::from_str(&text).map_err(|e| {
            LocalError::Input(format!("{}: not a checkpoint file ({e}); remove it to start over", path.display()))
        })
    }

    /// Writes them to `path` (creating its folder).
    pub fn save(&self, path: &Path) -> Result<(), LocalError> {
        let io = |source| LocalError::Io { path: path.display().to_string(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| LocalError::Input(e.to_string()))?;
        std::fs::write(path, text).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_through_their_file_and_a_missing_file_is_none() {
        let dir = std::env::temp_dir().join(format!("eddy-checkpoints-{}", std::process::id()));
        let path = dir.join("stack.json");
        assert_eq!(Checkpoints::load(&path).unwrap(), Checkpoints::default());
        let mut checkpoints = Checkpoints::default();
        let window = SavedWindow { start_ms: 60_000, end_ms: 120_000, state: [("s".into(), "x".into())].into() };
        checkpoints.set(
            "agg/Enriched",
            "shardId-000000000001",
            ShardCheckpoint { sequence_number: Some("49".into()), window: Some(window) },
        );
        checkpoints.set("archive/Raw", "shardId-000000000000", ShardCheckpoint::default());
        checkpoints.save(&path).unwrap();
        let loaded = Checkpoints::load(&path).unwrap();
        assert_eq!(loaded, checkpoints);
        assert_eq!(loaded.shards.len(), 1, "a shard that did nothing has no checkpoint");
        assert_eq!(loaded.get("agg/Enriched", "shardId-000000000001").unwrap().sequence_number.as_deref(), Some("49"));
        std::fs::write(&path, "not json").unwrap();
        assert!(Checkpoints::load(&path).unwrap_err().to_string().contains("remove it to start over"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

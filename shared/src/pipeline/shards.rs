//! Simulated Kinesis shards: a partition key goes to the shard whose hash key
//! range holds the MD5 of the key, as Kinesis does, with the 128-bit key space
//! split evenly (a new stream's layout).

use md5::{Digest, Md5};

/// An evenly split stream of `n` shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardMap {
    shards: u32,
}

impl ShardMap {
    /// A stream of `shards` shards (at least one).
    pub fn new(shards: u32) -> Self {
        Self { shards: shards.max(1) }
    }

    /// How many shards.
    pub fn len(&self) -> usize {
        self.shards as usize
    }

    /// Always false: a stream has at least one shard.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The shard (0-based) that holds `partition_key`.
    pub fn shard_for(&self, partition_key: &str) -> usize {
        if self.shards == 1 {
            return 0;
        }
        let hash = u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into());
        let width = u128::MAX / u128::from(self.shards) + 1;
        ((hash / width) as usize).min(self.len() - 1)
    }

    /// The Kinesis shard id of shard `index`, e.g. `shardId-000000000003`.
    pub fn shard_id(index: usize) -> String {
        format!("shardId-{index:012}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_over_every_shard_and_stay_put() {
        let map = ShardMap::new(4);
        let mut seen = [0usize; 4];
        for i in 0..4000 {
            let key = format!("user-{i}");
            let shard = map.shard_for(&key);
            assert_eq!(shard, map.shard_for(&key));
            seen[shard] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
    }

    #[test]
    fn one_shard_takes_everything_and_ids_look_like_kinesis() {
        assert_eq!(ShardMap::new(1).shard_for("anything"), 0);
        assert_eq!(ShardMap::new(0).len(), 1);
        assert_eq!(ShardMap::shard_id(3), "shardId-000000000003");
    }

    #[test]
    fn the_top_of_the_hash_space_lands_in_the_last_shard() {
        // MD5("") = d41d8cd9...: in the top 1/4 of the space -> shard 3 of 4
        assert_eq!(ShardMap::new(4).shard_for(""), 3);
        assert_eq!(ShardMap::new(2).shard_for(""), 1);
    }
}

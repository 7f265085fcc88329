//! Rule 2: KPL aggregated records: magic `F3 89 9A C2`, a protobuf
//! `AggregatedRecord`, then the MD5 of the protobuf (16 bytes).

use md5::{Digest, Md5};
use prost::Message;

use super::DecodeError;

/// The KPL aggregation magic.
pub const MAGIC: [u8; 4] = [0xf3, 0x89, 0x9a, 0xc2];
const DIGEST_LEN: usize = 16;

/// The protobuf of an aggregated record (KPL's `messages.proto`).
#[derive(Clone, PartialEq, Message)]
pub struct AggregatedRecord {
    /// Partition keys, referenced by index.
    #[prost(string, repeated, tag = "1")]
    pub partition_key_table: Vec<String>,
    /// Explicit hash keys, referenced by index.
    #[prost(string, repeated, tag = "2")]
    pub explicit_hash_key_table: Vec<String>,
    /// The user records.
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<Record>,
}

/// One user record inside an aggregated record.
#[derive(Clone, PartialEq, Message)]
pub struct Record {
    /// Index into the partition key table.
    #[prost(uint64, required, tag = "1")]
    pub partition_key_index: u64,
    /// Index into the explicit hash key table.
    #[prost(uint64, optional, tag = "2")]
    pub explicit_hash_key_index: Option<u64>,
    /// The user record's bytes.
    #[prost(bytes = "vec", required, tag = "3")]
    pub data: Vec<u8>,
    /// Tags (unused by Eddy).
    #[prost(message, repeated, tag = "4")]
    pub tags: Vec<Tag>,
}

/// A KPL tag.
#[derive(Clone, PartialEq, Message)]
pub struct Tag {
    /// Key.
    #[prost(string, required, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// A user record taken out of an aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Its own partition key.
    pub partition_key: String,
    /// Its position in the aggregate.
    pub subsequence_number: u64,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// Whether `bytes` start with the KPL magic.
pub fn is_aggregated(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Splits an aggregated record into its user records, verifying the MD5 trailer.
pub fn deaggregate(bytes: &[u8]) -> Result<Vec<UserRecord>, DecodeError> {
    if bytes.len() < MAGIC.len() + DIGEST_LEN {
        return Err(DecodeError::Kpl(format!("{} bytes is too short", bytes.len())));
    }
    let (body, digest) = bytes[MAGIC.len()..].split_at(bytes.len() - MAGIC.len() - DIGEST_LEN);
    if Md5::digest(body).as_slice() != digest {
        return Err(DecodeError::Kpl("MD5 mismatch".into()));
    }
    let aggregate = AggregatedRecord::decode(body).map_err(|e| DecodeError::Kpl(format!("bad protobuf: {e}")))?;
    aggregate
        .records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            let key = usize::try_from(record.partition_key_index)
                .ok()
                .and_then(|k| aggregate.partition_key_table.get(k))
                .ok_or_else(|| {
                    DecodeError::Kpl(format!(
                        "user record {i} names partition key {} of {}",
                        record.partition_key_index,
                        aggregate.partition_key_table.len()
                    ))
                })?;
            Ok(UserRecord { partition_key: key.clone(), subsequence_number: i as u64, data: record.data })
        })
        .collect()
}

/// Builds an aggregated record (for the generator and `eddy local put`); the
/// decoder's tests use fixtures from the independent `aws_kinesis_agg` encoder.
pub fn aggregate(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut table: Vec<String> = Vec::new();
    let mut users = Vec::with_capacity(records.len());
    for (key, data) in records {
        let index = match table.iter().position(|k| k == key) {
            Some(i) => i,
            None => {
                table.push(key.clone());
                table.len() - 1
            }
        };
        users.push(Record {
            partition_key_index: index as u64,
            explicit_hash_key_index: None,
            data: data.clone(),
            tags: Vec::new(),
        });
    }
    let body = AggregatedRecord { partition_key_table: table, explicit_hash_key_table: Vec::new(), records: users }
        .encode_to_vec();
    let mut out = Vec::with_capacity(MAGIC.len() + body.len() + DIGEST_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&body);
    out.extend_from_slice(&Md5::digest(&body));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_records_are_refused() {
        let err = deaggregate(&[0xf3, 0x89, 0x9a, 0xc2, 1, 2]).unwrap_err();
        assert!(err.to_string().contains("too short"), "{err}");
    }

    #[test]
    fn a_flipped_byte_fails_the_md5() {
        let mut agg = aggregate(&[("k".into(), b"{}".to_vec())]);
        agg[6] ^= 1;
        assert_eq!(deaggregate(&agg).unwrap_err(), DecodeError::Kpl("MD5 mismatch".into()));
    }

    #[test]
    fn a_valid_digest_over_bad_protobuf_is_refused() {
        let body = vec![0xff, 0xff, 0xff];
        let mut agg = MAGIC.to_vec();
        agg.extend_from_slice(&body);
        agg.extend_from_slice(&Md5::digest(&body));
        let err = deaggregate(&agg).unwrap_err();
        assert!(err.to_string().contains("bad protobuf"), "{err}");
    }

    #[test]
    fn a_partition_key_index_out_of_range_is_refused() {
        let body = AggregatedRecord {
            partition_key_table: vec!["a".into()],
            explicit_hash_key_table: vec![],
            records: vec![Record {
                partition_key_index: 3,
                explicit_hash_key_index: None,
                data: b"x".to_vec(),
                tags: vec![],
            }],
        }
        .encode_to_vec();
        let mut agg = MAGIC.to_vec();
        agg.extend_from_slice(&body);
        agg.extend_from_slice(&Md5::digest(&body));
        assert!(deaggregate(&agg).unwrap_err().to_string().contains("partition key 3 of 1"));
    }
}

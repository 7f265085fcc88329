//! The state item's bytes: a version byte, then the [`KeyState`] in postcard
//! (compact binary: varints, no field names). Every list is capped, so
//! [`max_encoded_bytes`] bounds an item whatever the traffic; the
//! configuration refuses caps whose bound would not fit a DynamoDB item.

use super::state::{Caps, KeyState, MAX_NAME_BYTES};

/// Version of the encoded state; a state of another version is not read
/// (the key then starts afresh, see [`super::store`]).
pub const CODEC_VERSION: u8 = 1;

/// Why a state's bytes cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// No bytes at all.
    #[error("empty state")]
    Empty,
    /// Written by another version of the codec.
    #[error("state of codec version {0}, expected {CODEC_VERSION}")]
    Version(u8),
    /// The bytes do not decode.
    #[error("damaged state: {0}")]
    Damaged(String),
}

/// The state's bytes.
pub fn encode(state: &KeyState) -> Vec<u8> {
    let mut out = vec![CODEC_VERSION];
    // serialising plain data into a Vec cannot fail; an error would leave the version byte alone,
    // which `decode` refuses (the key then starts afresh) rather than panicking here
    if let Ok(bytes) = postcard::to_allocvec(state) {
        out.extend_from_slice(&bytes);
    }
    out
}

/// Reads bytes written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<KeyState, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != CODEC_VERSION {
        return Err(CodecError::Version(version));
    }
    postcard::from_bytes(body).map_err(|e| CodecError::Damaged(e.to_string()))
}

/// Most bytes [`encode`] writes for a state within `caps` (a safe overestimate:
/// every varint at its longest, every name at [`MAX_NAME_BYTES`]).
pub fn max_encoded_bytes(caps: &Caps) -> usize {
    const VARINT: usize = 10; // u64 / i64 at their longest
    const LEN: usize = 5; // a list's length
    const OPTION_I64: usize = 1 + VARINT;
    const NAME: usize = 2 + MAX_NAME_BYTES; // length + bytes
    let seen = 2 * VARINT;
    let user = OPTION_I64
        + VARINT
        + 2 * (LEN + caps.known * seen)
        + LEN
        + caps.known * (NAME + VARINT)
        + LEN
        + caps.locations * (VARINT + 16 + 2 * (1 + NAME))
        + LEN
        + caps.window_events * VARINT
        + OPTION_I64;
    let card = LEN + caps.window_events * (VARINT + 8) + (VARINT + 16) + OPTION_I64;
    let ip = LEN + caps.window_events * 2 * VARINT + OPTION_I64;
    1 + LEN + caps.applied * VARINT + 1 + user.max(card).max(ip)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::state::Key;
    use super::*;

    #[test]
    fn a_new_state_round_trips_and_is_a_few_bytes() {
        let state = KeyState::new(&Key::User("u-1".into()));
        let bytes = encode(&state);
        assert!(bytes.len() < 16, "{}", bytes.len());
        assert_eq!(decode(&bytes).unwrap(), state);
    }

    #[test]
    fn bytes_of_another_version_or_damaged_are_refused_with_the_reason() {
        assert_eq!(decode(&[]), Err(CodecError::Empty));
        assert_eq!(decode(&[9, 0]), Err(CodecError::Version(9)));
        assert!(matches!(decode(&[CODEC_VERSION, 200]), Err(CodecError::Damaged(_))));
    }

    #[test]
    fn the_default_caps_fit_a_few_kilobytes() {
        let bound = max_encoded_bytes(&Caps::default());
        assert!((2_000..16_000).contains(&bound), "{bound}");
    }
}

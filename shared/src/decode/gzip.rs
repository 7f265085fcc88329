//! Rule 3: gzip records, decompressed within a size limit so a gzip bomb is
//! refused without allocating past the limit.

use std::io::Read;

use flate2::read::MultiGzDecoder;

use super::DecodeError;

/// The gzip magic bytes.
pub const MAGIC: [u8; 2] = [0x1f, 0x8b];

const CHUNK: usize = 64 * 1024;

/// Whether `bytes` start with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Decompresses `bytes` (one or more gzip members), failing once the output
/// would pass `limit` bytes. Memory grows by at most one 64 KiB step past what
/// is already decompressed, and never past `limit`.
///
/// Never inlined: its 64 KiB read buffer would otherwise widen the stack frame
/// (and its page probes) of the decoder every record goes through.
#[inline(never)]
pub fn decompress(bytes: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut decoder = MultiGzDecoder::new(bytes);
    let mut out: Vec<u8> = Vec::with_capacity((bytes.len() * 4).min(limit));
    let mut chunk = [0u8; CHUNK];
    loop {
        let n = match decoder.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DecodeError::Gzip(e.to_string())),
        };
        if out.len() + n > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        if out.capacity() < out.len() + n {
            let want = (out.capacity() * 2).max(out.len() + n).min(limit);
            out.reserve_exact(want - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn round_trips_within_the_limit() {
        let data = b"hello\nworld\n".repeat(1000);
        assert_eq!(decompress(&gz(&data), data.len()).unwrap(), data);
    }

    #[test]
    fn a_bomb_is_refused_without_growing_past_the_limit() {
        let bomb = gz(&vec![0u8; 20 * 1024 * 1024]);
        assert!(bomb.len() < 100 * 1024, "{}", bomb.len());
        let err = decompress(&bomb, 1024 * 1024).unwrap_err();
        assert_eq!(err, DecodeError::TooLarge { limit: 1024 * 1024 });
    }

    #[test]
    fn corrupt_data_is_an_error_not_a_panic() {
        let mut bad = gz(b"some text that is long enough to matter");
        let n = bad.len();
        bad[12] ^= 0xff;
        bad.truncate(n - 4);
        assert!(matches!(decompress(&bad, 1 << 20), Err(DecodeError::Gzip(_))));
        assert!(matches!(decompress(&[0x1f, 0x8b, 1, 2, 3], 1 << 20), Err(DecodeError::Gzip(_))));
    }
}

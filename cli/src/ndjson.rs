//! NDJSON input as Kinesis records: each line is bytes, as a record is, so a
//! line that is not UTF-8 reaches the decoders (which quarantine it) instead of
//! ending the read. Shared by `eddy run --input` and `eddy local put --input`.

use std::io::BufRead;

/// The byte order mark some editors put at the start of a UTF-8 file.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The non-blank lines of `input` with their index (from 0): without their
/// `\n` or `\r\n`, and the first without the file's byte order mark.
pub fn lines(input: impl BufRead) -> impl Iterator<Item = (usize, std::io::Result<Vec<u8>>)> {
    input.split(b'\n').enumerate().filter_map(|(n, line)| match line {
        Ok(line) => {
            let line = record_bytes(n, line);
            (!line.trim_ascii().is_empty()).then_some((n, Ok(line)))
        }
        Err(e) => Some((n, Err(e))),
    })
}

/// Line `n` without its `\r` and, for the first, the byte order mark.
fn record_bytes(n: usize, mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if n == 0 && line.starts_with(UTF8_BOM) {
        line.drain(..UTF8_BOM.len());
    }
    line
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bytes_without_their_ends_blank_ones_left_out() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\n  \n\xff\xfe not UTF-8\n{\"b\":2}";
        let lines: Vec<(usize, Vec<u8>)> = lines(&input[..]).map(|(n, l)| (n, l.unwrap())).collect();
        assert_eq!(
            lines,
            [(0, b"{\"a\":1}".to_vec()), (3, b"\xff\xfe not UTF-8".to_vec()), (4, b"{\"b\":2}".to_vec())]
        );
    }
}

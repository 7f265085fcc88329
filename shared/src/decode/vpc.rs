//! VPC flow log lines (version 2 default format, 14 fields) -> a JSON object of
//! named fields; numbers as numbers, `-` as null.

use crate::json::{write_key, write_str};

/// The field names of the default version 2 format, in order.
pub const FIELDS: [&str; 14] = [
    "version",
    "account_id",
    "interface_id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log_status",
];

const NUMERIC: [bool; 14] = [true, false, false, false, false, true, true, true, true, true, true, true, false, false];

/// The line as a JSON object, if it is a version 2 default-format flow log record.
pub fn parse_line(line: &str) -> Option<String> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    if fields.len() != FIELDS.len()
        || fields[0] != "2"
        || !matches!(fields[12], "ACCEPT" | "REJECT" | "-")
        || !matches!(fields[13], "OK" | "NODATA" | "SKIPDATA")
    {
        return None;
    }
    let mut out = Vec::with_capacity(line.len() * 2 + 160);
    out.push(b'{');
    for (i, value) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_key(&mut out, FIELDS[i]);
        if *value == "-" {
            out.extend_from_slice(b"null");
        } else if NUMERIC[i] {
            let n: u64 = value.parse().ok()?;
            crate::json::write_u64(&mut out, n);
        } else {
            write_str(&mut out, value);
        }
    }
    out.push(b'}');
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accepted_flow_becomes_named_fields_with_numbers() {
        let got =
            parse_line("2 123456789012 eni-0a1b 10.0.1.5 10.0.2.9 443 49152 6 10 840 1732500000 1732500060 ACCEPT OK")
                .unwrap();
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["srcaddr"], "10.0.1.5");
        assert_eq!(v["dstport"], 49152);
        assert_eq!(v["bytes"], 840);
        assert_eq!(v["action"], "ACCEPT");
        assert_eq!(v["log_status"], "OK");
        assert_eq!(v["account_id"], "123456789012");
    }

    #[test]
    fn dashes_become_null() {
        let got = parse_line("2 123456789012 eni-0a1b - - - - - - - 1732500000 1732500060 - NODATA").unwrap();
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert!(v["srcaddr"].is_null());
        assert!(v["packets"].is_null());
        assert_eq!(v["start"], 1732500000);
    }

    #[test]
    fn other_lines_are_not_flow_logs() {
        assert!(parse_line("ERROR something broke").is_none());
        assert!(parse_line("3 a b c d e f g h i j k ACCEPT OK").is_none());
        assert!(parse_line("2 123 eni-1 a b x 1 6 1 1 1 1 ACCEPT OK").is_none(), "non-numeric port");
    }
}

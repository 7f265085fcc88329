//! CloudWatch Logs subscription messages (gzip JSON) arriving through Kinesis:
//! `DATA_MESSAGE` -> one event per log event; `CONTROL_MESSAGE` -> skipped, counted.

use std::borrow::Cow;

use serde::Deserialize;

use super::{json, vpc, DecodeError, Payload};
use crate::event::{Data, LogContext};
use crate::limits::DEFAULT_MAX_JSON_DEPTH;

/// A decoded subscription message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A health check from CloudWatch Logs; carries no events.
    Control,
    /// Log events: one payload per log event, each pointing at its context.
    Data {
        /// One context per log event.
        logs: Vec<LogContext>,
        /// One payload per log event, in order.
        payloads: Vec<Payload<'static>>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    message_type: String,
    #[serde(default)]
    log_group: String,
    #[serde(default)]
    log_stream: String,
    #[serde(default)]
    log_events: Vec<LogEvent>,
}

#[derive(Deserialize)]
struct LogEvent {
    #[serde(default)]
    id: String,
    #[serde(default)]
    timestamp: i64,
    message: String,
}

/// Parses decompressed bytes as a subscription message; `None` when they are
/// not one (then the ordinary text and JSON rules apply).
pub fn parse(inflated: &[u8]) -> Option<Result<Message, DecodeError>> {
    let head = inflated.iter().position(|b| !b.is_ascii_whitespace())?;
    if inflated[head] != b'{' || memchr::memmem::find(inflated, b"\"messageType\"").is_none() {
        return None;
    }
    let envelope: Envelope = match serde_json::from_slice(inflated) {
        Ok(e) => e,
        Err(e) => return Some(Err(DecodeError::CloudWatch(e.to_string()))),
    };
    Some(match envelope.message_type.as_str() {
        "CONTROL_MESSAGE" => Ok(Message::Control),
        "DATA_MESSAGE" => Ok(data_message(envelope)),
        other => Err(DecodeError::CloudWatch(format!("unknown messageType {other:?}"))),
    })
}

fn data_message(envelope: Envelope) -> Message {
    let mut logs = Vec::with_capacity(envelope.log_events.len());
    let mut payloads = Vec::with_capacity(envelope.log_events.len());
    for (i, event) in envelope.log_events.into_iter().enumerate() {
        payloads.push(Payload { data: message_data(event.message), log: Some(i), members: Vec::new() });
        logs.push(LogContext {
            log_group: envelope.log_group.clone(),
            log_stream: envelope.log_stream.clone(),
            timestamp_ms: event.timestamp,
            id: event.id,
        });
    }
    Message::Data { logs, payloads }
}

/// A log message: a JSON object when it is one, a flow log record's fields when
/// it is one, else the text (without its trailing newline).
pub fn message_data(message: String) -> Data<'static> {
    if json::looks_like_json(&message) {
        if let Ok(objects) = json::objects(&message, DEFAULT_MAX_JSON_DEPTH) {
            if let [one] = objects.as_slice() {
                return Data::Json(Cow::Owned(one.text.to_string()));
            }
        }
    } else if let Some(fields) = vpc::parse_line(&message) {
        return Data::Json(Cow::Owned(fields));
    }
    let trimmed_len = message.trim_end_matches(['\n', '\r']).len();
    let mut text = message;
    text.truncate(trimmed_len);
    Data::Text(Cow::Owned(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_carry_no_events() {
        let msg = br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#;
        assert_eq!(parse(msg).unwrap().unwrap(), Message::Control);
    }

    #[test]
    fn data_messages_become_one_payload_per_log_event() {
        let msg = br#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"/aws/lambda/x","logStream":"s","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1732500000000,"message":"{\"level\":\"ERROR\"}"},{"id":"2","timestamp":1732500000001,"message":"plain text\n"},{"id":"3","timestamp":1732500000002,"message":"{broken"}]}"#;
        let Message::Data { logs, payloads } = parse(msg).unwrap().unwrap() else { panic!("not data") };
        assert_eq!(logs.len(), 3);
        assert_eq!(logs[1].log_group, "/aws/lambda/x");
        assert_eq!(logs[1].timestamp_ms, 1732500000001);
        assert_eq!(payloads[0].data, Data::Json(Cow::Borrowed(r#"{"level":"ERROR"}"#)));
        assert_eq!(payloads[1].data, Data::Text(Cow::Borrowed("plain text")));
        assert_eq!(payloads[2].data, Data::Text(Cow::Borrowed("{broken")), "JSON-looking but broken stays text");
    }

    #[test]
    fn other_json_is_not_a_subscription_message() {
        assert!(parse(br#"{"a":1}"#).is_none());
        assert!(parse(b"plain").is_none());
    }

    #[test]
    fn a_broken_subscription_message_is_an_error() {
        assert!(matches!(parse(br#"{"messageType": 5}"#), Some(Err(DecodeError::CloudWatch(_)))));
        assert!(matches!(parse(br#"{"messageType":"OTHER","logEvents":[]}"#), Some(Err(DecodeError::CloudWatch(_)))));
    }
}

//! The enrich function: raw stream -> `enriched` stream, one record per event,
//! with the event's partition key.
//!
//! # Output
//!
//! The event's own JSON object, with these top-level members added:
//!
//! ```json
//! {"...the payload's members...",
//!  "id": "evt-1", "kind": "access", "source": "svc-auth",
//!  "time": "2024-11-25T01:00:00.123Z", "time_source": "event",
//!  "geo": {"country": "US", "city": "Mountain View", "lat": 37.386, "lon": -122.0838, "asn": 64496, "as_org": "Example Transit"},
//!  "ua": {"original": "Mozilla/5.0 ...", "browser": "Chrome", "browser_version": "120.0.0.0", "os": "Windows 10", "os_version": "NT 10.0", "device": "desktop"},
//!  "service": {"name": "svc-auth", "team": "identity", "tier": 1, "owner": "alice@example.com"}}
//! ```
//!
//! A text event (a plain log line) becomes `{"message": "<the line>"}` plus the same members.
//!
//! - `id` (always, a string): the payload's `id` (a number becomes its text), else a
//!   CloudWatch log event's id, else `shard:sequence:subsequence` (subsequence 0 for
//!   plain records) with `:n` added for the n-th (n >= 1) event of one record.
//! - `kind` (always): the payload's `kind`, else `log` for log events and text lines, else `event`.
//! - `source` (always): the payload's `source`, else its `service`, else the log group, else `unknown`.
//! - `time` (always, RFC 3339 UTC with milliseconds) and `time_source`: `event` when
//!   taken from the payload (`time`, `timestamp`, `@timestamp`: RFC 3339, ISO, RFC 2822,
//!   common log format, or epoch seconds / millis / micros / nanos) or from a CloudWatch
//!   log event's timestamp; `arrival` when it fell back to the record's arrival time.
//! - `geo`: when a database knows the client IP (`ip`, `client_ip`, `clientIp`,
//!   `source_ip`, `sourceIPAddress`, `remote_addr`, `srcaddr`); only what it knows.
//! - `ua`: when the event has a user agent (`ua`, `user_agent`, `userAgent`,
//!   `http_user_agent`); `original` always, the rest when recognised.
//! - `service`: the catalog entry of the payload's `service` (else its `source`,
//!   else the log group or its last part); `{"name": ..}` alone when the payload
//!   names a service the catalog does not list.
//!
//! Enrichment never fails a record: a lookup that finds nothing leaves its
//! member out. Records that cannot be decoded are quarantined by the driver.
//!
//! # Names already in the payload
//!
//! No key appears twice: where the payload has a top-level member with the
//! name of a member enrich writes, enrich's wins and the payload's is left out.
//! In detail: `id`, `kind` and `source` holding strings are the normalised
//! values already, so they stay where they are, untouched; otherwise (absent,
//! or not a string, e.g. a numeric `id`) enrich writes them. `time` and
//! `time_source` are always written: the payload's `time` reformatted, or, when
//! it cannot be read as a time, replaced (`time_source` then says `arrival`).
//! `geo`, `ua` and `service` replace the payload's member only when enrich
//! writes them, and keep what they replace: `ua.original` is the user-agent
//! string and `service.name` the service name.
//!
//! # Cost
//!
//! Each event's JSON is walked once, for member boundaries only (see
//! [`fields::scan`]; the decoder has already validated it); the output is the
//! original text minus replaced members plus the added ones, never a DOM.
//! Rendered user agents and geo records are cached ([`cache::BoundedCache`]),
//! catalog entries rendered at load.

pub mod cache;
pub mod catalog;
pub mod config;
pub mod fields;
pub mod geo;
pub mod handler;
pub mod load;
pub mod processor;
pub mod ua;

pub use catalog::Catalog;
pub use config::EnrichConfig;
pub use geo::{Geo, GeoDb};
pub use handler::Enrich;
pub use load::EnrichError;
pub use processor::{EnrichProcessor, EnrichState, Enricher, ENRICHED_SLOT};

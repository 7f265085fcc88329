//! The enrich processor: one event in, its enriched JSON line out.

use crate::batch::{DropReason, Outputs, Processor};
use crate::event::{Data, Event};
use crate::json::write_str;

use super::cache::BoundedCache;
use super::catalog::Catalog;
use super::fields::{
    canonical_time, from_epoch_seconds, parse_time, scan_into, write_time, Added, Fields, Member, Scalar, TimeSource,
};
use super::geo::{parse_ip, Geo, GeoCaches};
use super::ua;

/// The enriched stream's slot in the processor's outputs.
pub const ENRICHED_SLOT: usize = 0;

/// `source` when neither the payload nor the record says where an event comes from.
pub const UNKNOWN_SOURCE: &str = "unknown";

/// The lookups loaded at init (immutable, shared by every invocation).
#[derive(Debug, Default)]
pub struct Enricher {
    /// Geo databases (none: geo is skipped).
    pub geo: Geo,
    /// The service catalog (none: catalog lookups are skipped).
    pub catalog: Option<Catalog>,
}

/// What enrich remembers between events and invocations: the lookup caches.
#[derive(Debug, Clone)]
pub struct EnrichState {
    /// Rendered `ua` members by user-agent string.
    pub ua: BoundedCache<Box<str>, Box<[u8]>>,
    /// Rendered geo records by data offset.
    pub geo: GeoCaches,
}

impl EnrichState {
    /// Caches of at most `capacity` entries each.
    pub fn new(capacity: usize) -> Self {
        Self { ua: BoundedCache::new(capacity), geo: GeoCaches::new(capacity) }
    }
}

impl Default for EnrichState {
    fn default() -> Self {
        Self::new(super::config::DEFAULT_CACHE_ENTRIES)
    }
}

/// Enriches the events of one batch, in order.
pub struct EnrichProcessor<'a> {
    enricher: &'a Enricher,
    state: &'a mut EnrichState,
    members: Vec<Member>,
    tail: Vec<u8>,
    /// The last event's unit (record index, subsequence number) and its position in that unit.
    position: Option<((usize, Option<u64>), u64)>,
}

impl<'a> EnrichProcessor<'a> {
    /// A processor for one batch, over the loaded lookups and the caches.
    pub fn new(enricher: &'a Enricher, state: &'a mut EnrichState) -> Self {
        Self { enricher, state, members: Vec::new(), tail: Vec::with_capacity(512), position: None }
    }

    /// The enriched JSON object of `event` (see [`crate::enrich`] for its shape).
    /// Events must be given in batch order: a derived `id` counts the events of one record.
    pub fn enrich(&mut self, event: &Event<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(data_len(&event.data) + 512);
        self.write_enriched(event, &mut out);
        out
    }

    /// Appends [`EnrichProcessor::enrich`]'s object to `out`.
    pub fn write_enriched(&mut self, event: &Event<'_>, out: &mut Vec<u8>) {
        let nth = self.advance(event);
        self.members.clear();
        let object = match &event.data {
            Data::Json(text) => json_object(text),
            Data::Text(_) => None,
        };
        // the decoder's index holds offsets into the text as it gave it
        let index = match (&event.data, object) {
            (Data::Json(text), Some(t)) if t.len() == text.len() => event.members,
            _ => &[],
        };
        let mut f = Fields::default();
        let object = object.filter(|text| scan_into(text, index, &mut self.members, &mut f).is_some());
        if object.is_none() {
            // not an object, or one the scan gave up on: its fields are not read
            self.members.clear();
            f = Fields::default();
        }
        let f = &f;
        out.push(b'{');
        match object {
            Some(text) if !self.waits_on_lookups() => {
                // which members give way is known before the lookups: the
                // kept ones first, then the added ones straight after them
                let kept = copy_kept(text, &self.members, Written::all(f), out);
                let tail_start = out.len();
                self.write_tail(event, f, nth, out);
                if !kept && out.len() > tail_start {
                    out.remove(tail_start); // the first added member's comma
                }
            }
            _ => {
                let mut tail = std::mem::take(&mut self.tail);
                tail.clear();
                let written = self.write_tail(event, f, nth, &mut tail);
                let kept = match (object, &event.data) {
                    (Some(text), _) => copy_kept(text, &self.members, written, out),
                    (None, Data::Json(text) | Data::Text(text)) => {
                        out.extend_from_slice(b"\"message\":");
                        write_str(out, text);
                        true
                    }
                };
                out.extend_from_slice(if kept { &tail[..] } else { tail.get(1..).unwrap_or_default() });
                self.tail = tail;
            }
        }
        out.push(b'}');
    }

    /// Whether a payload member gives way to an added one only if a lookup
    /// finds something (a `geo` or `service` of its own).
    fn waits_on_lookups(&self) -> bool {
        self.members.iter().any(|m| matches!(m.name, Added::Geo | Added::Service))
    }

    /// The event's position among the events of its record (KPL user record).
    fn advance(&mut self, event: &Event<'_>) -> u64 {
        let unit = (event.coords.record, event.coords.subsequence_number);
        let nth = match self.position {
            Some((last, n)) if last == unit => n + 1,
            _ => 0,
        };
        self.position = Some((unit, nth));
        nth
    }

    /// Appends the added members, each starting with a comma, to `tail`;
    /// returns which optional ones were written.
    fn write_tail(&mut self, event: &Event<'_>, f: &Fields<'_>, nth: u64, tail: &mut Vec<u8>) -> Written {
        let log = event.log;

        // `id`, `kind` and `source` strings stay where they are in the payload
        match (&f.id, log) {
            (Some(Scalar::Str(_)), _) => {}
            (Some(Scalar::Number(n)), _) => {
                tail.extend_from_slice(b",\"id\":");
                write_str(tail, n);
            }
            (None, Some(log)) if !log.id.is_empty() => {
                tail.extend_from_slice(b",\"id\":");
                write_str(tail, &log.id);
            }
            (None, _) => {
                tail.extend_from_slice(b",\"id\":");
                write_derived_id(tail, event, nth);
            }
        }
        if f.kind.is_none() {
            tail.extend_from_slice(b",\"kind\":");
            let default_kind = if log.is_some() || matches!(event.data, Data::Text(_)) { "log" } else { "event" };
            write_str(tail, default_kind);
        }
        if f.source.is_none() {
            tail.extend_from_slice(b",\"source\":");
            let source = f.service.as_deref().or(log.map(|l| l.log_group.as_str()));
            write_str(tail, source.unwrap_or(UNKNOWN_SOURCE));
        }

        write_time_members(event, f, tail);

        let mut written = Written::default();
        if self.enricher.geo.is_enabled() {
            if let Some(ip) = f.ip.as_deref().and_then(parse_ip) {
                tail.push(b',');
                written.geo = self.enricher.geo.write(ip, &mut self.state.geo, tail);
                if !written.geo {
                    tail.pop();
                }
            }
        }
        if let Some(agent) = f.ua.as_deref() {
            tail.push(b',');
            ua::write_cached(agent, &mut self.state.ua, tail);
            written.ua = true;
        }
        written.service = write_service(self.enricher.catalog.as_ref(), f, log.map(|l| l.log_group.as_str()), tail);
        written
    }
}

/// Appends `,"time":..,"time_source":..`: the event's own time (copied as it
/// came when already in the form written), else its log event's, else the
/// record's arrival.
fn write_time_members(event: &Event<'_>, f: &Fields<'_>, tail: &mut Vec<u8>) {
    /// A time to write: its text as it came, or one to write in that form.
    enum Time<'t> {
        AsWritten(&'t str),
        Parsed(chrono::DateTime<chrono::Utc>),
    }
    let as_written = match &f.time {
        Some(Scalar::Str(text)) => canonical_time(text).map(Time::AsWritten),
        _ => None,
    };
    let event_time = || f.time.as_ref().and_then(parse_time).map(Time::Parsed);
    let log_time = || event.log.and_then(|l| chrono::DateTime::from_timestamp_millis(l.timestamp_ms)).map(Time::Parsed);
    let arrival = || from_epoch_seconds(event.coords.approximate_arrival.seconds()).map(Time::Parsed);
    let found = as_written.or_else(event_time).or_else(log_time).map(|t| (t, TimeSource::Event));
    let Some((time, from)) = found.or_else(|| arrival().map(|t| (t, TimeSource::Arrival))) else {
        return;
    };
    tail.extend_from_slice(b",\"time\":");
    match time {
        Time::AsWritten(text) => {
            tail.push(b'"');
            tail.extend_from_slice(text.as_bytes());
            tail.push(b'"');
        }
        Time::Parsed(time) => write_time(tail, &time),
    }
    tail.extend_from_slice(b",\"time_source\":\"");
    tail.extend_from_slice(from.as_str().as_bytes());
    tail.push(b'"');
}

/// The added members whose presence depends on the lookups.
#[derive(Debug, Default, Clone, Copy)]
struct Written {
    geo: bool,
    ua: bool,
    service: bool,
}

impl Written {
    /// As if every lookup found something: what gives way when no payload
    /// member waits on a lookup's outcome (`ua` gives way whenever there is a user agent).
    fn all(f: &Fields<'_>) -> Self {
        Self { geo: true, ua: f.ua.is_some(), service: true }
    }

    /// Whether a payload member named `name` gives way to an added one.
    fn replaces(self, name: Added) -> bool {
        match name {
            Added::Geo => self.geo,
            Added::Ua => self.ua,
            Added::Service => self.service,
            Added::Id | Added::Kind | Added::Source | Added::Time | Added::TimeSource => true,
        }
    }
}

/// Appends `,"service":{...}`: the catalog entry of the payload's `service`,
/// else of its `source`, else of the log group (whole, then its last part);
/// without a hit, `{"name":..}` when the payload named a service. Returns
/// whether it wrote one.
fn write_service(catalog: Option<&Catalog>, f: &Fields<'_>, log_group: Option<&str>, tail: &mut Vec<u8>) -> bool {
    if let Some(catalog) = catalog {
        let last_part = log_group.and_then(|g| g.rsplit('/').next());
        let keys = [f.service.as_deref(), f.source.as_deref(), log_group, last_part];
        let hit = if let Some(service) = f.service.as_deref() {
            catalog.get(service)
        } else {
            keys.into_iter().flatten().find_map(|k| catalog.get(k))
        };
        if let Some(member) = hit {
            tail.push(b',');
            tail.extend_from_slice(member);
            return true;
        }
    }
    match f.service.as_deref() {
        Some(name) => {
            tail.extend_from_slice(b",\"service\":{\"name\":");
            write_str(tail, name);
            tail.push(b'}');
            true
        }
        None => false,
    }
}

/// `shard:sequence:subsequence` (0 for plain records), plus `:n` for the n-th
/// (n >= 1) event of one record (NDJSON, arrays, text lines, log events).
fn write_derived_id(out: &mut Vec<u8>, event: &Event<'_>, nth: u64) {
    let c = &event.coords;
    let mut id = String::with_capacity(c.shard_id.len() + c.sequence_number.len() + 24);
    id.push_str(c.shard_id);
    id.push(':');
    id.push_str(c.sequence_number);
    id.push(':');
    id.push_str(itoa::Buffer::new().format(c.subsequence_number.unwrap_or(0)));
    if nth > 0 {
        id.push(':');
        id.push_str(itoa::Buffer::new().format(nth));
    }
    write_str(out, &id);
}

/// The text of a JSON object, if `text` is one (`{` ... `}`).
fn json_object(text: &str) -> Option<&str> {
    let t = text.trim();
    (t.len() >= 2 && t.starts_with('{') && t.ends_with('}')).then_some(t)
}

fn data_len(data: &Data<'_>) -> usize {
    match data {
        Data::Json(s) | Data::Text(s) => s.len(),
    }
}

/// Copies the object's members except those replaced by added ones (no
/// braces); returns whether any member was copied.
fn copy_kept(text: &str, members: &[Member], written: Written, out: &mut Vec<u8>) -> bool {
    let inner_end = text.len() - 1;
    let mut from = 1;
    let mut kept = false;
    let bytes = text.as_bytes();
    let mut piece = |from: usize, to: usize, out: &mut Vec<u8>| {
        let segment = bytes.get(from..to).unwrap_or_default().trim_ascii();
        let segment = segment.strip_prefix(b",").unwrap_or(segment).trim_ascii_start();
        let segment = segment.strip_suffix(b",").unwrap_or(segment).trim_ascii_end();
        if !segment.is_empty() {
            if kept {
                out.push(b',');
            }
            out.extend_from_slice(segment);
            kept = true;
        }
    };
    for m in members.iter().filter(|m| written.replaces(m.name)) {
        piece(from, m.start, out);
        from = m.end;
    }
    piece(from, inner_end, out);
    kept
}

impl Processor for EnrichProcessor<'_> {
    fn name(&self) -> &'static str {
        "enrich"
    }

    fn process(&mut self, event: &Event<'_>, out: &mut Outputs) -> Result<(), DropReason> {
        out.write(ENRICHED_SLOT, event.coords.partition_key, |line| self.write_enriched(event, line));
        Ok(())
    }
}

//! The state of one window on one shard: groups of summaries, service-flow
//! edges and counters; how partial states merge; and the codec that carries it
//! in Lambda's `state` map, bounded below [`LAMBDA_STATE_MAX_BYTES`].
//!
//! Bounds, whatever the input's cardinality:
//! - at most `max_groups` groups (and `max_edges` edges); the events of any
//!   further key fold into one `__other__` group, and the state counts how
//!   many events and (approximately, with a HyperLogLog) how many keys folded;
//! - every summary in a group has a bounded size (DDSketch bins, HyperLogLog
//!   registers, top-k counters, values clipped to 256 bytes);
//! - [`WindowState::encode`] checks the encoded size against
//!   [`STATE_BUDGET_BYTES`] and, while it is over, folds the smallest groups
//!   (or edges) into `__other__`, as many as the excess asks, reported like
//!   any other fold.
//!
//! Encoding: postcard (compact binary, varints) -> zlib (its Adler-32 checksum
//! rejects a damaged state; stored without compression while the text fits
//! the budget, compressed when it must be) -> base64, under the state map key
//! [`STATE_KEY`]. The reader takes either.

use std::collections::HashMap;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::sketch::{Distinct, Quantiles, TopK};
use crate::batch::compare_sequence;
use crate::limits::LAMBDA_STATE_MAX_BYTES;

/// The key of the aggregate's entry in Lambda's state map.
pub const STATE_KEY: &str = "eddy.aggregate";

/// Most bytes the encoded state may take: Lambda's 1 MB less room for the map's JSON.
pub const STATE_BUDGET_BYTES: usize = LAMBDA_STATE_MAX_BYTES - 4 * 1024;

/// The name of the group (and edge) that keys beyond the caps fold into.
pub const OTHER: &str = "__other__";

/// Version of the encoded state; a state of another version is not read.
const STATE_VERSION: u8 = 1;

/// Cap on the decompressed size of a state (a damaged state cannot balloon).
const MAX_DECODED_BYTES: u64 = 64 * 1024 * 1024;

/// Separates the parts of a group key.
const SEP: char = '\u{1f}';

/// What every group holds, from the configuration (not encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Numeric fields summarised.
    pub metrics: usize,
    /// Fields counted distinct.
    pub distinct: usize,
    /// Top-k counters per group (0: no top-k).
    pub top_capacity: usize,
    /// Most groups.
    pub max_groups: usize,
    /// Most flow edges.
    pub max_edges: usize,
}

/// The summaries of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Events in the group.
    pub count: u64,
    /// One sketch per configured metric (count, sum, min, max, quantiles).
    pub metrics: Vec<Quantiles>,
    /// One distinct counter per configured field.
    pub distinct: Vec<Distinct>,
    /// The top-k counter, when configured.
    pub top: Option<TopK>,
}

impl Group {
    /// An empty group of `shape`.
    pub fn new(shape: &Shape) -> Self {
        Self {
            count: 0,
            metrics: vec![Quantiles::new(); shape.metrics],
            distinct: vec![Distinct::new(); shape.distinct],
            top: (shape.top_capacity > 0).then(|| TopK::new(shape.top_capacity)),
        }
    }

    /// Adds `other`'s events to this group.
    pub fn merge(&mut self, other: &Group) {
        self.count += other.count;
        for (i, m) in other.metrics.iter().enumerate() {
            match self.metrics.get_mut(i) {
                Some(mine) => mine.merge(m),
                None => self.metrics.push(m.clone()),
            }
        }
        for (i, d) in other.distinct.iter().enumerate() {
            match self.distinct.get_mut(i) {
                Some(mine) => mine.merge(d),
                None => self.distinct.push(d.clone()),
            }
        }
        match (&mut self.top, &other.top) {
            (Some(mine), Some(t)) => mine.merge(t),
            (None, Some(t)) => self.top = Some(t.clone()),
            _ => {}
        }
    }
}

/// One service-flow edge (caller -> callee).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// Calls seen.
    pub calls: u64,
    /// Calls that failed (status >= 500 or an error word, or an error log level).
    pub errors: u64,
    /// Latency sketch of the calls that had one.
    pub latency: Quantiles,
}

impl Edge {
    /// Adds `other`'s calls.
    pub fn merge(&mut self, other: &Edge) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.latency.merge(&other.latency);
    }
}

/// What was folded into `__other__` because of the caps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overflow {
    /// Events (or calls) folded.
    pub events: u64,
    /// The keys folded (approximate distinct count).
    pub keys: Distinct,
}

/// Counters of the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Invocations that contributed.
    pub invocations: u64,
    /// Kinesis records that contributed.
    pub records: u64,
    /// Events aggregated (the sum of the group counts).
    pub events: u64,
    /// Events older than the allowed lateness, routed to the late output.
    pub late: u64,
    /// Items dropped (not a JSON object, CloudWatch control messages).
    pub dropped: u64,
    /// Items quarantined (undecodable).
    pub quarantined: u64,
    /// Events without a readable time of their own (bucketed by arrival time).
    pub time_from_arrival: u64,
    /// Times a state could not be read and the window restarted from empty.
    pub state_resets: u64,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.invocations += o.invocations;
        self.records += o.records;
        self.events += o.events;
        self.late += o.late;
        self.dropped += o.dropped;
        self.quarantined += o.quarantined;
        self.time_from_arrival += o.time_from_arrival;
        self.state_resets += o.state_resets;
    }
}

/// Why a state could not be read or written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    /// Not base64, not zlib, or not a state.
    #[error("window state is damaged: {0}")]
    Damaged(String),
    /// Written by another version of the code.
    #[error("window state has version {0}, expected {STATE_VERSION}")]
    Version(u8),
    /// Written under another configuration (dimensions, fields, buckets).
    #[error("window state was written under another aggregate configuration")]
    Configuration,
    /// Written for another window.
    #[error("window state is for window {found:?}, not {expected:?}")]
    Window {
        /// The state's window (start, end) in milliseconds.
        found: (i64, i64),
        /// The event's window.
        expected: (i64, i64),
    },
    /// Even with every group folded the state does not fit (cannot happen with
    /// the built-in bounds; kept as an error rather than a panic).
    #[error("window state of {0} bytes does not fit Lambda's state limit even with all groups folded")]
    TooLarge(usize),
}

/// The aggregate state of one window on one shard.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowState {
    /// The configuration fingerprint the state was built under.
    pub fingerprint: u64,
    /// Window start, milliseconds since the Unix epoch.
    pub window_start_ms: i64,
    /// Window end, milliseconds since the Unix epoch.
    pub window_end_ms: i64,
    /// The lowest sequence number that contributed (names a window part when
    /// Lambda terminates a window early).
    pub first_sequence: Option<String>,
    /// Counters.
    pub totals: Totals,
    /// Groups by key (see [`group_key`]).
    pub groups: HashMap<String, Group>,
    /// The `__other__` group.
    pub other: Option<Group>,
    /// What folded into `__other__`.
    pub folded: Overflow,
    /// Flow edges by key (see [`edge_key`]).
    pub edges: HashMap<String, Edge>,
    /// The `__other__` edge.
    pub other_edge: Option<Edge>,
    /// What folded into the `__other__` edge.
    pub folded_edges: Overflow,
    shape: Shape,
}

#[derive(Serialize)]
struct WireOut<'a> {
    version: u8,
    fingerprint: u64,
    window_start_ms: i64,
    window_end_ms: i64,
    first_sequence: &'a Option<String>,
    totals: &'a Totals,
    groups: Vec<(&'a str, &'a Group)>,
    other: &'a Option<Group>,
    folded: &'a Overflow,
    edges: Vec<(&'a str, &'a Edge)>,
    other_edge: &'a Option<Edge>,
    folded_edges: &'a Overflow,
}

#[derive(Deserialize)]
struct WireIn {
    version: u8,
    fingerprint: u64,
    window_start_ms: i64,
    window_end_ms: i64,
    first_sequence: Option<String>,
    totals: Totals,
    groups: Vec<(String, Group)>,
    other: Option<Group>,
    folded: Overflow,
    edges: Vec<(String, Edge)>,
    other_edge: Option<Edge>,
    folded_edges: Overflow,
}

/// Appends the key of a group: the event-time bucket start (ms), then each
/// dimension's value (`None` when the event lacks it).
pub fn group_key<S: AsRef<str>>(out: &mut String, bucket_ms: i64, dims: impl IntoIterator<Item = Option<S>>) {
    out.clear();
    out.push_str(itoa::Buffer::new().format(bucket_ms));
    for dim in dims {
        out.push(SEP);
        match dim {
            // `=` marks a present value, `-` a missing one
            Some(v) => {
                out.push('=');
                push_clean(out, v.as_ref());
            }
            None => out.push('-'),
        }
    }
}

/// A group key's parts: the bucket start and the dimension values.
pub fn split_group_key(key: &str) -> (Option<i64>, Vec<Option<&str>>) {
    let mut parts = key.split(SEP);
    let bucket = parts.next().and_then(|b| b.parse::<i64>().ok());
    let dims = parts.map(|p| p.strip_prefix('=')).collect();
    (bucket, dims)
}

/// Appends the key of a flow edge.
pub fn edge_key(out: &mut String, caller: &str, callee: &str) {
    out.clear();
    push_clean(out, caller);
    out.push(SEP);
    push_clean(out, callee);
}

/// A flow edge key's caller and callee.
pub fn split_edge_key(key: &str) -> (&str, &str) {
    key.split_once(SEP).unwrap_or((key, ""))
}

fn push_clean(out: &mut String, value: &str) {
    let value = super::sketch::clip(value);
    if value.contains(SEP) {
        out.extend(value.chars().map(|c| if c == SEP { ' ' } else { c }));
    } else {
        out.push_str(value);
    }
}

impl WindowState {
    /// An empty state for the window `[start_ms, end_ms)`.
    pub fn new(shape: Shape, fingerprint: u64, window_start_ms: i64, window_end_ms: i64) -> Self {
        Self {
            fingerprint,
            window_start_ms,
            window_end_ms,
            first_sequence: None,
            totals: Totals::default(),
            groups: HashMap::new(),
            other: None,
            folded: Overflow::default(),
            edges: HashMap::new(),
            other_edge: None,
            folded_edges: Overflow::default(),
            shape,
        }
    }

    /// What every group holds.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Runs `f` on the group of `key`: created if there is room, else the
    /// `__other__` group (counting the fold).
    pub fn with_group(&mut self, key: &str, f: impl FnOnce(&mut Group)) {
        if let Some(g) = self.groups.get_mut(key) {
            f(g);
            return;
        }
        let shape = self.shape;
        if self.groups.len() < shape.max_groups {
            let mut g = Group::new(&shape);
            f(&mut g);
            self.groups.insert(key.to_string(), g);
        } else {
            let other = self.other.get_or_insert_with(|| Group::new(&shape));
            let before = other.count;
            f(other);
            self.folded.events += other.count - before;
            self.folded.keys.insert(key);
        }
    }

    /// Runs `f` on the edge of `key`, or the `__other__` edge past the cap.
    pub fn with_edge(&mut self, key: &str, f: impl FnOnce(&mut Edge)) {
        if let Some(e) = self.edges.get_mut(key) {
            f(e);
            return;
        }
        if self.edges.len() < self.shape.max_edges {
            let mut e = Edge::default();
            f(&mut e);
            self.edges.insert(key.to_string(), e);
        } else {
            let other = self.other_edge.get_or_insert_with(Edge::default);
            let before = other.calls;
            f(other);
            self.folded_edges.events += other.calls - before;
            self.folded_edges.keys.insert(key);
        }
    }

    /// Adds `other` (a later part of the same window) to this state. Keys
    /// new to this state are taken in key order while there is room, so the
    /// result does not depend on hash order.
    pub fn merge(&mut self, other: WindowState) {
        self.totals.add(&other.totals);
        self.first_sequence = match (self.first_sequence.take(), other.first_sequence) {
            (Some(a), Some(b)) => Some(if compare_sequence(&b, &a).is_lt() { b } else { a }),
            (a, b) => a.or(b),
        };
        let mut groups: Vec<(String, Group)> = other.groups.into_iter().collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, group) in groups {
            if let Some(mine) = self.groups.get_mut(&key) {
                mine.merge(&group);
            } else if self.groups.len() < self.shape.max_groups {
                self.groups.insert(key, group);
            } else {
                self.fold_group(&key, &group);
            }
        }
        if let Some(o) = other.other {
            self.other.get_or_insert_with(|| Group::new(&self.shape)).merge(&o);
        }
        self.folded.events += other.folded.events;
        self.folded.keys.merge(&other.folded.keys);

        let mut edges: Vec<(String, Edge)> = other.edges.into_iter().collect();
        edges.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, edge) in edges {
            if let Some(mine) = self.edges.get_mut(&key) {
                mine.merge(&edge);
            } else if self.edges.len() < self.shape.max_edges {
                self.edges.insert(key, edge);
            } else {
                self.fold_edge(&key, &edge);
            }
        }
        if let Some(o) = other.other_edge {
            self.other_edge.get_or_insert_with(Edge::default).merge(&o);
        }
        self.folded_edges.events += other.folded_edges.events;
        self.folded_edges.keys.merge(&other.folded_edges.keys);
    }

    fn fold_group(&mut self, key: &str, group: &Group) {
        self.other.get_or_insert_with(|| Group::new(&self.shape)).merge(group);
        self.folded.events += group.count;
        self.folded.keys.insert(key);
    }

    fn fold_edge(&mut self, key: &str, edge: &Edge) {
        self.other_edge.get_or_insert_with(Edge::default).merge(edge);
        self.folded_edges.events += edge.calls;
        self.folded_edges.keys.insert(key);
    }

    /// Folds the smallest groups (fewest events; ties by key) or, when edges
    /// outnumber groups, the smallest edges into `__other__`, keeping about
    /// `keep` (0..1) of them, and always folding at least one.
    fn shed(&mut self, keep: f64) {
        let kept = |len: usize| ((len as f64 * keep) as usize).min(len.saturating_sub(1));
        if self.groups.len() >= self.edges.len() {
            let mut keys: Vec<(u64, String)> = self.groups.iter().map(|(k, g)| (g.count, k.clone())).collect();
            keys.sort();
            let fold = keys.len() - kept(keys.len());
            for (_, key) in keys.into_iter().take(fold) {
                if let Some(g) = self.groups.remove(&key) {
                    self.fold_group(&key, &g);
                }
            }
        } else {
            let mut keys: Vec<(u64, String)> = self.edges.iter().map(|(k, e)| (e.calls, k.clone())).collect();
            keys.sort();
            let fold = keys.len() - kept(keys.len());
            for (_, key) in keys.into_iter().take(fold) {
                if let Some(e) = self.edges.remove(&key) {
                    self.fold_edge(&key, &e);
                }
            }
        }
    }

    /// The groups in key order.
    pub fn sorted_groups(&self) -> Vec<(&str, &Group)> {
        let mut groups: Vec<(&str, &Group)> = self.groups.iter().map(|(k, g)| (k.as_str(), g)).collect();
        groups.sort_by(|a, b| a.0.cmp(b.0));
        groups
    }

    /// The edges in key order.
    pub fn sorted_edges(&self) -> Vec<(&str, &Edge)> {
        let mut edges: Vec<(&str, &Edge)> = self.edges.iter().map(|(k, e)| (k.as_str(), e)).collect();
        edges.sort_by(|a, b| a.0.cmp(b.0));
        edges
    }

    /// Encodes the state once, compressed, without checking its size: the
    /// smallest text this state can have.
    pub fn encode_unbounded(&self) -> Result<String, StateError> {
        zlib_base64(&self.wire_bytes()?, flate2::Compression::fast())
    }

    /// Encodes the state within `budget` bytes: stored (zlib without
    /// compression) while that fits, which costs a copy instead of a deflate
    /// on every invocation; compressed when it must be; folding groups into
    /// `__other__` while even that does not fit (the folds are counted in the state).
    pub fn encode(&mut self, budget: usize) -> Result<String, StateError> {
        loop {
            let bytes = self.wire_bytes()?;
            // base64 alone makes the stored text 4/3 of the bytes
            if bytes.len().div_ceil(3) * 4 <= budget {
                let stored = zlib_base64(&bytes, flate2::Compression::none())?;
                if stored.len() <= budget {
                    return Ok(stored);
                }
            }
            let text = zlib_base64(&bytes, flate2::Compression::fast())?;
            if text.len() <= budget {
                return Ok(text);
            }
            if self.groups.is_empty() && self.edges.is_empty() {
                return Err(StateError::TooLarge(text.len()));
            }
            tracing::warn!(
                bytes = text.len(),
                budget,
                groups = self.groups.len(),
                "window state over budget: folding groups"
            );
            // keep the share of groups that should fit, with a 10% margin
            self.shed(0.9 * budget as f64 / text.len() as f64);
        }
    }

    /// The state in postcard, groups and edges in key order.
    fn wire_bytes(&self) -> Result<Vec<u8>, StateError> {
        let wire = WireOut {
            version: STATE_VERSION,
            fingerprint: self.fingerprint,
            window_start_ms: self.window_start_ms,
            window_end_ms: self.window_end_ms,
            first_sequence: &self.first_sequence,
            totals: &self.totals,
            groups: self.sorted_groups(),
            other: &self.other,
            folded: &self.folded,
            edges: self.sorted_edges(),
            other_edge: &self.other_edge,
            folded_edges: &self.folded_edges,
        };
        postcard::to_allocvec(&wire).map_err(|e| StateError::Damaged(e.to_string()))
    }

    /// Reads a state written by [`WindowState::encode`], checking it was
    /// written for `fingerprint` and the window `[start_ms, end_ms)`.
    pub fn decode(
        text: &str,
        shape: Shape,
        fingerprint: u64,
        window_start_ms: i64,
        window_end_ms: i64,
    ) -> Result<Self, StateError> {
        let compressed = base64_simd::STANDARD
            .decode_to_vec(text.trim().as_bytes())
            .map_err(|e| StateError::Damaged(format!("not base64: {e}")))?;
        let mut bytes = Vec::with_capacity(compressed.len() * 3);
        flate2::read::ZlibDecoder::new(&compressed[..])
            .take(MAX_DECODED_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| StateError::Damaged(format!("not zlib: {e}")))?;
        if bytes.first().is_some_and(|&v| v != STATE_VERSION) {
            return Err(StateError::Version(bytes[0]));
        }
        let wire: WireIn = postcard::from_bytes(&bytes).map_err(|e| StateError::Damaged(e.to_string()))?;
        if wire.version != STATE_VERSION {
            return Err(StateError::Version(wire.version));
        }
        if wire.fingerprint != fingerprint {
            return Err(StateError::Configuration);
        }
        if (wire.window_start_ms, wire.window_end_ms) != (window_start_ms, window_end_ms) {
            return Err(StateError::Window {
                found: (wire.window_start_ms, wire.window_end_ms),
                expected: (window_start_ms, window_end_ms),
            });
        }
        let mut state = Self {
            fingerprint,
            window_start_ms,
            window_end_ms,
            first_sequence: wire.first_sequence,
            totals: wire.totals,
            groups: HashMap::with_capacity(wire.groups.len()),
            other: wire.other,
            folded: wire.folded,
            edges: HashMap::with_capacity(wire.edges.len()),
            other_edge: wire.other_edge,
            folded_edges: wire.folded_edges,
            shape,
        };
        // a lower cap than when the state was written folds the excess
        for (key, group) in wire.groups {
            if state.groups.len() < shape.max_groups {
                state.groups.insert(key, group);
            } else {
                state.fold_group(&key, &group);
            }
        }
        for (key, edge) in wire.edges {
            if state.edges.len() < shape.max_edges {
                state.edges.insert(key, edge);
            } else {
                state.fold_edge(&key, &edge);
            }
        }
        Ok(state)
    }
}

/// `bytes` in a zlib stream at `level` (its Adler-32 checksum rejects a
/// damaged state whatever the level), in base64.
fn zlib_base64(bytes: &[u8], level: flate2::Compression) -> Result<String, StateError> {
    let capacity = match level.level() {
        0 => bytes.len() + bytes.len() / 1024 + 64,
        _ => bytes.len() / 2 + 64,
    };
    let mut z = flate2::write::ZlibEncoder::new(Vec::with_capacity(capacity), level);
    z.write_all(bytes).map_err(|e| StateError::Damaged(e.to_string()))?;
    let zlib = z.finish().map_err(|e| StateError::Damaged(e.to_string()))?;
    Ok(base64_simd::STANDARD.encode_to_string(&zlib))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape { metrics: 1, distinct: 1, top_capacity: 8, max_groups: 3, max_edges: 2 };

    fn add(state: &mut WindowState, key: &str, latency: f64, user: &str) {
        state.with_group(key, |g| {
            g.count += 1;
            g.metrics[0].add(latency);
            g.distinct[0].insert(user);
            if let Some(t) = &mut g.top {
                t.insert("/x");
            }
        });
        state.totals.events += 1;
    }

    #[test]
    fn given_more_keys_than_the_cap_when_folding_then_the_excess_goes_to_other_and_is_counted() {
        let mut s = WindowState::new(SHAPE, 7, 0, 60_000);
        for (i, key) in ["a", "b", "c", "d", "e", "d"].iter().enumerate() {
            add(&mut s, key, i as f64, "u");
        }
        assert_eq!(s.groups.len(), 3);
        assert_eq!(s.other.as_ref().unwrap().count, 3);
        assert_eq!(s.folded.events, 3);
        assert_eq!(s.folded.keys.estimate(), 2, "d and e");
        let sum: u64 = s.groups.values().map(|g| g.count).sum::<u64>() + s.other.as_ref().unwrap().count;
        assert_eq!(sum, s.totals.events);
    }

    #[test]
    fn given_a_state_when_encoded_and_decoded_then_it_is_the_same_state() {
        let mut s = WindowState::new(SHAPE, 7, 0, 60_000);
        s.first_sequence = Some("123".into());
        for (i, key) in ["a", "b", "a", "c", "d"].iter().enumerate() {
            add(&mut s, key, i as f64 * 1.5, &format!("u{i}"));
        }
        let mut k = String::new();
        edge_key(&mut k, "web", "auth");
        s.with_edge(&k, |e| {
            e.calls += 2;
            e.errors += 1;
            e.latency.add(12.0);
        });
        let text = s.clone().encode(STATE_BUDGET_BYTES).unwrap();
        let back = WindowState::decode(&text, SHAPE, 7, 0, 60_000).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn given_a_state_of_another_window_or_configuration_when_decoding_then_a_clear_error() {
        let text = WindowState::new(SHAPE, 7, 0, 60_000).encode(STATE_BUDGET_BYTES).unwrap();
        assert_eq!(WindowState::decode(&text, SHAPE, 8, 0, 60_000), Err(StateError::Configuration));
        assert!(matches!(WindowState::decode(&text, SHAPE, 7, 60_000, 120_000), Err(StateError::Window { .. })));
        for bad in ["", "!!!", "aGVsbG8=", &text[..text.len() / 2]] {
            assert!(matches!(WindowState::decode(bad, SHAPE, 7, 0, 60_000), Err(StateError::Damaged(_))), "{bad}");
        }
    }

    #[test]
    fn given_two_states_when_merged_then_counts_add_and_caps_hold() {
        let mut a = WindowState::new(SHAPE, 7, 0, 60_000);
        let mut b = WindowState::new(SHAPE, 7, 0, 60_000);
        add(&mut a, "a", 1.0, "u1");
        add(&mut a, "b", 2.0, "u2");
        add(&mut b, "b", 3.0, "u3");
        add(&mut b, "c", 4.0, "u4");
        add(&mut b, "d", 5.0, "u5");
        b.first_sequence = Some("5".into());
        a.first_sequence = Some("10".into());
        a.merge(b);
        assert_eq!(a.totals.events, 5);
        assert_eq!(a.groups["b"].count, 2);
        assert_eq!(a.groups["b"].distinct[0].estimate(), 2);
        assert_eq!(a.groups.len(), 3, "a, b and c; d folded (key order)");
        assert!(!a.groups.contains_key("d"));
        assert_eq!(a.other.as_ref().unwrap().count, 1);
        assert_eq!(a.first_sequence.as_deref(), Some("5"), "the lowest sequence number");
    }

    #[test]
    fn given_a_tiny_budget_when_encoding_then_groups_fold_until_it_fits() {
        let mut s = compressible(2_000);
        let full = s.encode_unbounded().unwrap().len();
        let text = s.encode(full / 4).unwrap();
        assert!(text.len() <= full / 4, "{} > {}", text.len(), full / 4);
        assert!(s.groups.len() < 2_000);
        let kept: u64 = s.groups.values().map(|g| g.count).sum();
        assert_eq!(kept + s.other.as_ref().unwrap().count, 2_000);
        assert_eq!(s.folded.events, s.other.as_ref().unwrap().count);
    }

    /// A state of `n` groups with long, alike keys: it compresses well.
    fn compressible(n: usize) -> WindowState {
        let mut s = WindowState::new(Shape { max_groups: 10_000, ..SHAPE }, 7, 0, 60_000);
        for i in 0..n {
            add(&mut s, &format!("key-{i:05}-{}", "x".repeat(40)), i as f64, &format!("user-{i}"));
        }
        s
    }

    #[test]
    fn given_a_state_that_fits_when_encoding_then_it_is_stored_uncompressed_and_reads_back() {
        let s = compressible(200);
        let text = s.clone().encode(STATE_BUDGET_BYTES).unwrap();
        let compressed = s.encode_unbounded().unwrap();
        assert!(text.len() > 2 * compressed.len(), "stored {} vs compressed {}", text.len(), compressed.len());
        assert_eq!(WindowState::decode(&text, s.shape, 7, 0, 60_000).unwrap(), s);
        // what earlier versions wrote (always compressed) still reads
        assert_eq!(WindowState::decode(&compressed, s.shape, 7, 0, 60_000).unwrap(), s);
    }

    #[test]
    fn given_a_state_too_large_stored_but_not_compressed_when_encoding_then_it_is_compressed_whole() {
        let mut s = compressible(2_000);
        let compressed = s.encode_unbounded().unwrap().len();
        let budget = 2 * compressed;
        let text = s.encode(budget).unwrap();
        assert_eq!(text.len(), compressed, "the compressed text, since stored it takes more than {budget}");
        assert_eq!(s.groups.len(), 2_000, "nothing folded");
        assert!(s.other.is_none());
        assert_eq!(WindowState::decode(&text, s.shape, 7, 0, 60_000).unwrap(), s);
    }

    #[test]
    fn group_keys_round_trip_with_missing_values_and_separators() {
        let mut k = String::new();
        group_key(&mut k, 60_000, [Some("svc\u{1f}a"), None, Some("")]);
        let (bucket, dims) = split_group_key(&k);
        assert_eq!(bucket, Some(60_000));
        assert_eq!(dims, vec![Some("svc a"), None, Some("")]);
        edge_key(&mut k, "web", "db");
        assert_eq!(split_edge_key(&k), ("web", "db"));
    }
}

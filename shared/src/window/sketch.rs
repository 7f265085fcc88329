//! Mergeable summaries, each with a compact serde form for the window state:
//! [`Quantiles`] (DDSketch, 1% relative error, with exact count/sum/min/max),
//! [`Distinct`] (HyperLogLog++, exact for small sets) and [`TopK`]
//! (space-saving heavy hitters, exact while the distinct values fit).

use std::fmt;

use cardinality_estimator::CardinalityEstimator;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use sketches_ddsketch::{Config, DDSketch};

/// A quantile sketch of one numeric field: DDSketch with 1% relative accuracy
/// (the crate's default mapping), plus the exact count, sum, min and max.
///
/// Serialized as DDSketch's standard binary encoding (the one DataDog's Java
/// and Go libraries read), so it is compact (varint bin counts) and validated
/// when read back.
#[derive(Clone)]
pub struct Quantiles(DDSketch);

impl Default for Quantiles {
    fn default() -> Self {
        Self(DDSketch::new(Config::defaults()))
    }
}

impl fmt::Debug for Quantiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quantiles").field("count", &self.count()).field("sum", &self.sum()).finish()
    }
}

impl Quantiles {
    /// An empty sketch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one value (non-finite values are ignored).
    pub fn add(&mut self, v: f64) {
        if v.is_finite() {
            self.0.add(v);
        }
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: &Quantiles) {
        // both sketches use the default configuration, so merging cannot fail
        let _ = self.0.merge(&other.0);
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.0.count() as u64
    }

    /// Their sum (0 when empty).
    pub fn sum(&self) -> f64 {
        self.0.sum().unwrap_or(0.0)
    }

    /// The smallest value.
    pub fn min(&self) -> Option<f64> {
        self.0.min()
    }

    /// The largest value.
    pub fn max(&self) -> Option<f64> {
        self.0.max()
    }

    /// The mean.
    pub fn mean(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.sum() / self.count() as f64)
    }

    /// The `q` quantile (0..=1) by nearest rank (the value of rank ⌈q·n⌉, so
    /// p99 of two values is the larger), within 1% of that value; exact at
    /// the extremes (the min and max are kept exactly).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n) - 1;
        if rank == 0 {
            return self.min();
        }
        if rank == n - 1 {
            return self.max();
        }
        // DDSketch ranks by ⌊q'·(n-1)⌋: aim at the middle of the wanted rank
        let q = (rank as f64 + 0.5) / (n - 1) as f64;
        let value = self.0.quantile(q).ok().flatten()?;
        Some(value.clamp(self.min()?, self.max()?))
    }

    /// The encoded bytes (DDSketch binary format).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_java_bytes()
    }

    /// Reads [`Quantiles::to_bytes`]'s output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let sketch = DDSketch::from_java_bytes(bytes).map_err(|e| format!("bad quantile sketch: {e:?}"))?;
        if sketch.count() == 0 {
            // the encoding of an empty sketch carries no min/max: start clean
            return Ok(Self::default());
        }
        Ok(Self(sketch))
    }
}

impl PartialEq for Quantiles {
    /// Two sketches are equal when they encode to the same bytes (same bins,
    /// count, sum, min and max).
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Serialize for Quantiles {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.to_bytes())
    }
}

impl<'de> Deserialize<'de> for Quantiles {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = deserializer.deserialize_bytes(BytesVisitor)?;
        Quantiles::from_bytes(&bytes).map_err(de::Error::custom)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}

/// HyperLogLog++ precision of [`Distinct`]: 2^10 registers of 6 bits (768
/// bytes once dense), about 3.2% standard error; exact below ~100 values.
pub const DISTINCT_PRECISION: usize = 10;

type Hll = CardinalityEstimator<str, wyhash::WyHash, DISTINCT_PRECISION, 6>;

/// An approximate distinct count (HyperLogLog++ from `cardinality-estimator`:
/// exact for small sets, 8 bytes for up to 2 values).
#[derive(Clone, Serialize, Deserialize)]
pub struct Distinct(Hll);

impl Default for Distinct {
    fn default() -> Self {
        Self(Hll::new())
    }
}

impl fmt::Debug for Distinct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Distinct(~{})", self.estimate())
    }
}

impl PartialEq for Distinct {
    /// Equal estimates (the registers are not comparable across representations).
    fn eq(&self, other: &Self) -> bool {
        self.estimate() == other.estimate()
    }
}

impl Distinct {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `value`.
    pub fn insert(&mut self, value: &str) {
        self.0.insert(value);
    }

    /// Adds everything `other` counted.
    pub fn merge(&mut self, other: &Distinct) {
        self.0.merge(&other.0);
    }

    /// The estimated number of distinct values.
    pub fn estimate(&self) -> u64 {
        self.0.estimate() as u64
    }
}

/// Longest value (in bytes) kept by [`TopK`] and used as a group dimension;
/// longer ones are cut at a character boundary.
pub const MAX_VALUE_BYTES: usize = 256;

/// `value` cut to at most [`MAX_VALUE_BYTES`] bytes, at a character boundary.
pub fn clip(value: &str) -> &str {
    if value.len() <= MAX_VALUE_BYTES {
        return value;
    }
    let mut end = MAX_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// One heavy-hitter candidate: its value, counted occurrences and the most
/// that count may overstate the truth by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopEntry {
    /// The value.
    pub value: String,
    /// Its (over-)estimated count.
    pub count: u64,
    /// Upper bound of the overestimate (0 while the counter never overflowed).
    pub error: u64,
}

/// The most frequent values of a field: the space-saving algorithm with
/// `capacity` counters (a multiple of the k reported). Counts are exact while
/// fewer than `capacity` distinct values were seen; beyond, an entry's count
/// overstates by at most its `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopK {
    capacity: u32,
    entries: Vec<TopEntry>,
}

impl TopK {
    /// An empty counter keeping `capacity` candidates.
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.clamp(1, 4096) as u32, entries: Vec::new() }
    }

    fn full(&self) -> bool {
        self.entries.len() >= self.capacity as usize
    }

    /// Counts one occurrence of `value`.
    pub fn insert(&mut self, value: &str) {
        let value = clip(value);
        if let Some(e) = self.entries.iter_mut().find(|e| e.value == value) {
            e.count += 1;
            return;
        }
        if !self.full() {
            self.entries.push(TopEntry { value: value.to_string(), count: 1, error: 0 });
            return;
        }
        // replace the smallest candidate (the last such in order, deterministic)
        if let Some(min) = self.entries.iter_mut().min_by(|a, b| a.count.cmp(&b.count).then(b.value.cmp(&a.value))) {
            min.error = min.count;
            min.count += 1;
            min.value.clear();
            min.value.push_str(value);
        }
    }

    /// Merges `other` (mergeable summaries, Agarwal et al.): a value missing
    /// from a full side may have occurred up to that side's smallest count.
    pub fn merge(&mut self, other: &TopK) {
        let floor = |t: &TopK| if t.full() { t.entries.iter().map(|e| e.count).min().unwrap_or(0) } else { 0 };
        let (mine, theirs) = (floor(self), floor(other));
        // in place: the (usually many) entries of the state are not copied for
        // the (usually few) of a batch's part
        let known = self.entries.len();
        for e in &mut self.entries {
            let (count, error) = match other.entries.iter().find(|o| o.value == e.value) {
                Some(o) => (o.count, o.error),
                None => (theirs, theirs),
            };
            e.count += count;
            e.error += error;
        }
        for o in &other.entries {
            if !self.entries[..known].iter().any(|e| e.value == o.value) {
                self.entries.push(TopEntry { value: o.value.clone(), count: o.count + mine, error: o.error + mine });
            }
        }
        sort_entries(&mut self.entries);
        self.capacity = self.capacity.max(other.capacity);
        self.entries.truncate(self.capacity as usize);
    }

    /// The `k` most frequent values, most frequent first (ties by value).
    pub fn top(&self, k: usize) -> Vec<TopEntry> {
        let mut entries = self.entries.clone();
        sort_entries(&mut entries);
        entries.truncate(k);
        entries
    }
}

fn sort_entries(entries: &mut [TopEntry]) {
    entries.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_values_when_sketched_then_quantiles_are_within_one_percent_and_stats_exact() {
        let mut q = Quantiles::new();
        for v in 1..=1000 {
            q.add(v as f64);
        }
        q.add(f64::NAN);
        assert_eq!(q.count(), 1000);
        assert_eq!(q.sum(), 500_500.0);
        assert_eq!((q.min(), q.max()), (Some(1.0), Some(1000.0)));
        for (p, want) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
            let got = q.quantile(p).unwrap();
            assert!((got - want).abs() / want <= 0.011, "p{p}: {got} vs {want}");
        }
    }

    #[test]
    fn given_few_values_when_asking_quantiles_then_nearest_rank_is_used() {
        let mut q = Quantiles::new();
        for v in [80.0, 120.0] {
            q.add(v);
        }
        assert_eq!((q.quantile(0.5), q.quantile(0.99)), (Some(80.0), Some(120.0)));
        let mut q = Quantiles::new();
        for v in [1.0, 2.0, 3.0, 4.0, 1000.0] {
            q.add(v);
        }
        let p50 = q.quantile(0.5).unwrap();
        assert!((p50 - 3.0).abs() <= 0.03, "{p50}");
        assert_eq!(q.quantile(0.9), Some(1000.0));
        assert_eq!(Quantiles::new().quantile(0.5), None);
        assert_eq!(q.quantile(1.5), None);
    }

    #[test]
    fn given_a_sketch_when_encoded_and_read_back_then_it_is_the_same_sketch() {
        let mut q = Quantiles::new();
        for v in [0.0, 3.0, 3.0, 250.5, -2.0] {
            q.add(v);
        }
        let back = Quantiles::from_bytes(&q.to_bytes()).unwrap();
        assert_eq!(back, q);
        assert_eq!(back.quantile(0.5), q.quantile(0.5));
        assert_eq!(Quantiles::from_bytes(&Quantiles::new().to_bytes()).unwrap(), Quantiles::new());
        assert!(Quantiles::from_bytes(&[0xff, 0x01]).is_err());
    }

    #[test]
    fn given_split_input_when_merged_then_the_sketch_equals_the_whole() {
        let (mut a, mut b, mut all) = (Quantiles::new(), Quantiles::new(), Quantiles::new());
        for v in 0..500 {
            let x = (v * 37 % 911) as f64;
            all.add(x);
            if v % 3 == 0 {
                a.add(x)
            } else {
                b.add(x)
            }
        }
        a.merge(&b);
        assert_eq!(a, all);
    }

    #[test]
    fn given_many_values_when_counting_distinct_then_the_estimate_is_close_and_merges() {
        let (mut a, mut b) = (Distinct::new(), Distinct::new());
        for i in 0..20_000 {
            a.insert(&format!("user-{i}"));
        }
        for i in 10_000..30_000 {
            b.insert(&format!("user-{i}"));
        }
        a.merge(&b);
        let est = a.estimate() as f64;
        assert!((est - 30_000.0).abs() / 30_000.0 < 0.1, "{est}");
        let mut small = Distinct::new();
        for v in ["a", "b", "a", "c"] {
            small.insert(v);
        }
        assert_eq!(small.estimate(), 3, "exact for small sets");
    }

    #[test]
    fn given_few_values_when_counting_top_k_then_counts_are_exact_and_ordered() {
        let mut t = TopK::new(8);
        for v in ["/a", "/b", "/a", "/c", "/a", "/b"] {
            t.insert(v);
        }
        let top = t.top(2);
        assert_eq!(top[0], TopEntry { value: "/a".into(), count: 3, error: 0 });
        assert_eq!(top[1], TopEntry { value: "/b".into(), count: 2, error: 0 });
    }

    #[test]
    fn given_more_values_than_capacity_when_counting_then_heavy_hitters_survive_with_bounded_error() {
        let mut t = TopK::new(10);
        for i in 0..5_000u32 {
            let v = if i % 2 == 0 { "hot".to_string() } else { format!("cold-{i}") };
            t.insert(&v);
        }
        let top = t.top(1);
        assert_eq!(top[0].value, "hot");
        assert!(top[0].count >= 2_500 && top[0].count - top[0].error <= 2_500, "{:?}", top[0]);
    }

    #[test]
    fn given_two_counters_when_merged_then_counts_add() {
        let (mut a, mut b) = (TopK::new(8), TopK::new(8));
        for v in ["x", "y", "x"] {
            a.insert(v);
        }
        for v in ["y", "z", "y"] {
            b.insert(v);
        }
        a.merge(&b);
        let top = a.top(3);
        let counts: Vec<(&str, u64)> = top.iter().map(|e| (e.value.as_str(), e.count)).collect();
        assert_eq!(counts, vec![("y", 3), ("x", 2), ("z", 1)]);
    }

    /// The merge as the mergeable-summaries paper states it: a new list of
    /// every value of either side, then the largest `capacity` kept.
    fn merged_by_the_book(a: &TopK, b: &TopK) -> TopK {
        let floor = |t: &TopK| if t.full() { t.entries.iter().map(|e| e.count).min().unwrap_or(0) } else { 0 };
        let find = |t: &TopK, v: &str| t.entries.iter().find(|e| e.value == v).map(|e| (e.count, e.error));
        let mut entries: Vec<TopEntry> = a
            .entries
            .iter()
            .map(|e| {
                let (count, error) = find(b, &e.value).unwrap_or((floor(b), floor(b)));
                TopEntry { value: e.value.clone(), count: e.count + count, error: e.error + error }
            })
            .collect();
        for o in b.entries.iter().filter(|o| find(a, &o.value).is_none()) {
            entries.push(TopEntry { value: o.value.clone(), count: o.count + floor(a), error: o.error + floor(a) });
        }
        sort_entries(&mut entries);
        let capacity = a.capacity.max(b.capacity);
        entries.truncate(capacity as usize);
        TopK { capacity, entries }
    }

    proptest::proptest! {
        #[test]
        fn merging_in_place_gives_the_merge_by_the_book(
            a in proptest::collection::vec(0u8..12, 0..40),
            b in proptest::collection::vec(0u8..12, 0..40),
            capacities in (1usize..10, 1usize..10),
        ) {
            let sketch = |values: &[u8], capacity| {
                let mut t = TopK::new(capacity);
                values.iter().for_each(|v| t.insert(&format!("v{v}")));
                t
            };
            let (mut a, b) = (sketch(&a, capacities.0), sketch(&b, capacities.1));
            let want = merged_by_the_book(&a, &b);
            a.merge(&b);
            proptest::prop_assert_eq!(a, want);
        }
    }

    #[test]
    fn long_values_are_clipped_at_a_character_boundary() {
        let long = "é".repeat(200);
        let c = clip(&long);
        assert!(c.len() <= MAX_VALUE_BYTES && c.len() >= MAX_VALUE_BYTES - 1);
        assert!(long.starts_with(c));
    }
}

//! The ground truth of a generated run: the alerts the shipped rules must
//! raise, the incidents injected, and the events per event-time window.
//!
//! `truth.json` is this struct as JSON. Windows are listed as
//! `{"start": "2024-11-25T01:00:00.000Z", "start_ms": .., "source": "svc-auth-api", "count": 12}`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Label, Scenario, WINDOW_MS};

/// What a run of the generator must produce downstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The scenario.
    pub scenario: Scenario,
    /// The seed.
    pub seed: u64,
    /// Events described (the whole run once generation is over).
    pub count: u64,
    /// Where event time starts, ms since the epoch.
    pub start_ms: i64,
    /// Events per second of event time.
    pub rate_per_second: u32,
    /// The rule pack the alerts are for (path from the repository root), if any.
    pub rule_pack: Option<String>,
    /// The rule ids covered: every rule of the pack. Rules of other packs, or
    /// added to the pack later, are not predicted.
    pub rules: Vec<String>,
    /// Events each covered rule must match (every covered rule is listed, 0 included).
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Events at least one covered rule must match (the alerts the filter function emits).
    pub alert_events: u64,
    /// Ids of the events each rule must match, for the events with an index
    /// below [`GroundTruth::alert_ids_cover`] (all of them unless the id cap was reached).
    pub expected_alert_ids: BTreeMap<String, Vec<String>>,
    /// The expected ids are complete for events `0..alert_ids_cover` (see [`GroundTruth::covers`]).
    pub alert_ids_cover: u64,
    /// Injected incidents by kind.
    pub incidents: BTreeMap<String, IncidentTruth>,
    /// Width of the event-time windows, ms (windows are aligned to the epoch).
    pub window_ms: i64,
    /// The field events are grouped by within a window: `source` (as enrich leaves it).
    pub window_group: String,
    /// Events per (window start ms, source).
    #[serde(with = "windows")]
    pub window_counts: BTreeMap<(i64, String), u64>,
}

/// The injected incidents of one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentTruth {
    /// Incidents started.
    pub incidents: u64,
    /// Events they produced.
    pub events: u64,
    /// Ids of those events (up to the id cap).
    pub ids: Vec<String>,
    /// The incident each of `ids` belongs to (same order and length): its
    /// number in the run, incidents being numbered from 0 in the order they
    /// start, across kinds. Empty in truth files written before it existed.
    #[serde(default)]
    pub incident_of: Vec<u64>,
    /// Incidents (numbers, as in `incident_of`) still in progress when the
    /// run ended: their later events were never generated, so what they
    /// would have shown may be missing (an impossible travel's second login).
    #[serde(default)]
    pub unfinished: Vec<u64>,
    /// Whether `ids` holds every event of this kind.
    pub ids_complete: bool,
}

impl IncidentTruth {
    /// The listed ids grouped by incident (incident number -> its event ids, in
    /// order): what a per-incident score needs. Empty when the truth predates
    /// [`IncidentTruth::incident_of`].
    pub fn by_incident(&self) -> BTreeMap<u64, Vec<&str>> {
        let mut out: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
        for (id, serial) in self.ids.iter().zip(&self.incident_of) {
            out.entry(*serial).or_default().push(id);
        }
        out
    }
}

/// How a set of raised alerts compares with the expected ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Score {
    /// Expected and raised.
    pub true_positives: u64,
    /// Raised, not expected.
    pub false_positives: u64,
    /// Expected, not raised.
    pub false_negatives: u64,
}

impl Score {
    /// Share of raised alerts that were expected (1.0 when none was raised).
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }

    /// Share of expected alerts that were raised (1.0 when none was expected).
    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_negatives)
    }

    /// Whether the raised alerts are exactly the expected ones.
    pub fn is_exact(&self) -> bool {
        self.false_positives == 0 && self.false_negatives == 0
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// The index in the run of a generated event id (`sec-0000000042` -> 42).
pub fn event_index(id: &str) -> Option<u64> {
    let (_, digits) = id.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl GroundTruth {
    /// Whether every expected alert id is listed (the cap was not reached).
    pub fn alert_ids_complete(&self) -> bool {
        self.alert_ids_cover >= self.count
    }

    /// Whether the expected ids say all there is about the event `id`: it
    /// belongs to this scenario and comes before [`GroundTruth::alert_ids_cover`].
    /// Compare raised alerts with the expected ids only for such events.
    pub fn covers(&self, id: &str) -> bool {
        let prefix = self.scenario.id_prefix();
        id.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('-'))
            && event_index(id).is_some_and(|i| i < self.alert_ids_cover && i < self.count)
    }

    /// Ids of the events at least one covered rule must match (within the cover).
    pub fn expected_ids(&self) -> BTreeSet<&str> {
        self.expected_alert_ids.values().flatten().map(String::as_str).collect()
    }

    /// Compares `raised` event ids with the expected ones: of `rule` when
    /// given, else of any covered rule. Ids outside the cover are ignored.
    pub fn score<'a>(&self, rule: Option<&str>, raised: impl IntoIterator<Item = &'a str>) -> Score {
        let expected: BTreeSet<&str> = match rule {
            Some(rule) => self.expected_alert_ids.get(rule).map(|ids| ids.iter().map(String::as_str).collect()),
            None => Some(self.expected_ids()),
        }
        .unwrap_or_default();
        let raised: BTreeSet<&str> = raised.into_iter().filter(|id| self.covers(id)).collect();
        let true_positives = raised.intersection(&expected).count() as u64;
        Score {
            true_positives,
            false_positives: raised.len() as u64 - true_positives,
            false_negatives: expected.len() as u64 - true_positives,
        }
    }

    /// Events per source over the whole run (the windows added up).
    pub fn events_by_source(&self) -> BTreeMap<&str, u64> {
        let mut out = BTreeMap::new();
        for ((_, source), n) in &self.window_counts {
            *out.entry(source.as_str()).or_default() += n;
        }
        out
    }

    /// The truth as pretty JSON (`truth.json`).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads `truth.json`.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

mod windows {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Row {
        #[serde(default, skip_deserializing)]
        start: String,
        start_ms: i64,
        source: String,
        count: u64,
    }

    pub fn serialize<S: Serializer>(map: &BTreeMap<(i64, String), u64>, s: S) -> Result<S::Ok, S::Error> {
        let rows: Vec<Row> = map
            .iter()
            .map(|((start_ms, source), count)| Row {
                start: chrono::DateTime::from_timestamp_millis(*start_ms)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_default(),
                start_ms: *start_ms,
                source: source.clone(),
                count: *count,
            })
            .collect();
        rows.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<(i64, String), u64>, D::Error> {
        let rows = Vec::<Row>::deserialize(d)?;
        let mut map = BTreeMap::new();
        for row in rows {
            *map.entry((row.start_ms, row.source)).or_default() += row.count;
        }
        Ok(map)
    }
}

/// Capped lists of ids, complete for a prefix of the run.
#[derive(Debug, Clone)]
struct CappedIds {
    lists: Vec<Vec<String>>,
    entries: usize,
    /// `Some(i)`: the cap was reached at event `i`; nothing from it on is listed.
    cut_at: Option<u64>,
}

impl CappedIds {
    fn new(lists: usize) -> Self {
        Self { lists: vec![Vec::new(); lists], entries: 0, cut_at: None }
    }

    /// Adds `id` to the lists whose bit is set in `mask`, all or none; says whether it did.
    fn add(&mut self, index: u64, id: &str, mask: u32, cap: usize) -> bool {
        if self.cut_at.is_some() {
            return false;
        }
        let n = mask.count_ones() as usize;
        if self.entries + n > cap {
            self.cut_at = Some(index);
            return false;
        }
        for (bit, list) in self.lists.iter_mut().enumerate() {
            if mask & (1 << bit) != 0 {
                list.push(id.to_string());
            }
        }
        self.entries += n;
        true
    }
}

/// Builds the truth as events are generated (counts per rule, capped ids,
/// per-window counts: the current window in a vector, earlier ones in a map).
#[derive(Debug, Clone)]
pub(crate) struct TruthBuilder {
    scenario: Scenario,
    seed: u64,
    start_ms: i64,
    rate: u32,
    sources: Vec<String>,
    id_cap: usize,
    alerts: Vec<u64>,
    alert_events: u64,
    alert_ids: CappedIds,
    incidents: Vec<(u64, u64)>,
    incident_ids: CappedIds,
    /// Per kind, the incident number of each listed id (parallel to `incident_ids`).
    incident_serials: Vec<Vec<u64>>,
    window: Option<i64>,
    window_counts: Vec<u64>,
    windows: BTreeMap<(i64, String), u64>,
}

impl TruthBuilder {
    pub fn new(scenario: Scenario, seed: u64, sources: Vec<String>, id_cap: usize) -> Self {
        let rules = scenario.rule_ids().len();
        let kinds = scenario.incident_kinds().len();
        Self {
            scenario,
            seed,
            start_ms: super::DEFAULT_START_MS,
            rate: scenario.default_rate(),
            window_counts: vec![0; sources.len()],
            sources,
            id_cap,
            alerts: vec![0; rules],
            alert_events: 0,
            alert_ids: CappedIds::new(rules),
            incidents: vec![(0, 0); kinds],
            incident_ids: CappedIds::new(kinds),
            incident_serials: vec![Vec::new(); kinds],
            window: None,
            windows: BTreeMap::new(),
        }
    }

    pub fn set_time(&mut self, start_ms: i64, rate: u32) {
        self.start_ms = start_ms;
        self.rate = rate;
    }

    pub fn set_id_cap(&mut self, cap: usize) {
        self.id_cap = cap;
    }

    /// Takes one event into account.
    pub fn record(&mut self, index: u64, id: &str, time_ms: i64, label: Label) {
        let mask = u32::from(label.rules);
        if mask != 0 {
            self.alert_events += 1;
            for (bit, n) in self.alerts.iter_mut().enumerate() {
                if mask & (1 << bit) != 0 {
                    *n += 1;
                }
            }
            self.alert_ids.add(index, id, mask, self.id_cap);
        }
        if let Some(mark) = label.incident {
            let kind = usize::from(mark.kind);
            if let Some((incidents, events)) = self.incidents.get_mut(kind) {
                *incidents += u64::from(mark.first);
                *events += 1;
                if self.incident_ids.add(index, id, 1 << kind, self.id_cap) {
                    self.incident_serials[kind].push(mark.serial);
                }
            }
        }
        let window = time_ms.div_euclid(WINDOW_MS) * WINDOW_MS;
        match self.window {
            Some(w) if w == window => {}
            Some(w) if window < w => {
                // never happens (times do not go back); counted all the same
                if let Some(source) = self.sources.get(usize::from(label.source)) {
                    *self.windows.entry((window, source.clone())).or_default() += 1;
                }
                return;
            }
            _ => {
                self.flush_window();
                self.window = Some(window);
            }
        }
        if let Some(n) = self.window_counts.get_mut(usize::from(label.source)) {
            *n += 1;
        }
    }

    fn flush_window(&mut self) {
        if let Some(w) = self.window {
            for (i, n) in self.window_counts.iter_mut().enumerate() {
                if *n > 0 {
                    *self.windows.entry((w, self.sources[i].clone())).or_default() += *n;
                    *n = 0;
                }
            }
        }
    }

    /// The truth of the first `generated` events, with the incidents `in_progress` (their numbers).
    pub fn snapshot(&self, generated: u64, in_progress: &[u64]) -> GroundTruth {
        let mut current = self.clone();
        current.flush_window();
        let rules = self.scenario.rule_ids();
        let kinds = self.scenario.incident_kinds();
        let cover = |ids: &CappedIds| ids.cut_at.unwrap_or(generated).min(generated);
        GroundTruth {
            scenario: self.scenario,
            seed: self.seed,
            count: generated,
            start_ms: self.start_ms,
            rate_per_second: self.rate,
            rule_pack: self.scenario.rule_pack().map(str::to_string),
            rules: rules.iter().map(|r| r.to_string()).collect(),
            alerts_by_rule: rules.iter().zip(&self.alerts).map(|(r, n)| (r.to_string(), *n)).collect(),
            alert_events: self.alert_events,
            expected_alert_ids: rules
                .iter()
                .zip(&self.alert_ids.lists)
                .map(|(r, ids)| (r.to_string(), ids.clone()))
                .collect(),
            alert_ids_cover: cover(&self.alert_ids),
            incidents: kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| {
                    let (incidents, events) = self.incidents[i];
                    let ids = self.incident_ids.lists[i].clone();
                    let incident_of = self.incident_serials[i].clone();
                    let mut unfinished: Vec<u64> =
                        in_progress.iter().copied().filter(|s| incident_of.contains(s)).collect();
                    unfinished.sort_unstable();
                    let ids_complete = ids.len() as u64 == events;
                    let truth = IncidentTruth { incidents, events, ids, incident_of, unfinished, ids_complete };
                    (kind.to_string(), truth)
                })
                .collect(),
            window_ms: WINDOW_MS,
            window_group: "source".to_string(),
            window_counts: current.windows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_indexes_come_from_the_id_suffix() {
        assert_eq!(event_index("sec-0000000042"), Some(42));
        assert_eq!(event_index("shardId-0001:495:0"), None);
        assert_eq!(event_index("x-"), None);
    }

    #[test]
    fn capped_ids_stop_at_a_whole_event() {
        let mut ids = CappedIds::new(2);
        assert!(ids.add(0, "a-0", 0b11, 3));
        assert!(!ids.add(1, "a-1", 0b11, 3));
        assert!(!ids.add(2, "a-2", 0b01, 3));
        assert_eq!(ids.cut_at, Some(1));
        assert_eq!(ids.lists, vec![vec!["a-0".to_string()], vec!["a-0".to_string()]]);
    }

    #[test]
    fn scores_count_both_ways() {
        let s = Score { true_positives: 3, false_positives: 1, false_negatives: 0 };
        assert_eq!((s.precision(), s.recall(), s.is_exact()), (0.75, 1.0, false));
        assert_eq!(Score::default().precision(), 1.0);
    }
}

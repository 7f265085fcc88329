//! `eddy gen`: deterministic synthetic workloads for DESIGN.md's six
//! scenarios, with the ground truth a run is checked against.
//!
//! A [`Generator`] is an iterator of [`GeneratedEvent`]s (one Kinesis record's
//! bytes each, a partition key and the event time) for a [`Scenario`], a seed
//! and a count. It streams: it holds a few bounded buffers (incidents in
//! progress, recent ad views), never the events it made, so memory does not
//! grow with the count. The same seed gives the same bytes; the only source of
//! randomness is one `fastrand::Rng` seeded from it.
//!
//! Time: event `i` happens at `start + (i * 1000 + jitter) / rate` ms
//! (`jitter` < 1000), so times never go backwards and a run of `count` events
//! spans `count / rate` seconds from [`DEFAULT_START_MS`] (2024-11-25T01:00:00Z).
//!
//! While it generates, the generator keeps the [`GroundTruth`]: which events
//! the shipped rule packs (`rules/*.yaml`) must alert on, by rule, and how many
//! events each 60-second event-time window holds per `source`. The truth is
//! derived from what the generator decided (a status code, a network class, a
//! level, a reading in tenths), never by running the rule engine; the tests
//! check that the engine agrees.
//!
//! ```
//! use eddy::gen::{Generator, Scenario};
//!
//! let mut generator = Generator::new(Scenario::Security, 7, 1_000);
//! let first = generator.next().unwrap();
//! assert!(first.data.starts_with(b"{\"id\":\"sec-0000000000\""));
//! let rest = generator.by_ref().count();
//! assert_eq!(rest, 999);
//! let truth = generator.truth();
//! assert_eq!(truth.count, 1_000);
//! assert_eq!(truth.window_counts.values().sum::<u64>(), 1_000);
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod ads;
mod clickstream;
mod fraud;
mod incidents;
mod iot;
pub mod lambda;
mod logs;
pub mod output;
mod pools;
mod security;
pub mod truth;
mod writer;

pub use lambda::{LambdaBatcher, PackedRecord, Packer, Packing};
pub use truth::GroundTruth;

use truth::TruthBuilder;
use writer::Clock;

/// 2024-11-25T01:00:00Z, where generated time starts unless told otherwise.
pub const DEFAULT_START_MS: i64 = 1_732_496_400_000;
/// The width of the ground truth's event-time windows, milliseconds.
pub const WINDOW_MS: i64 = 60_000;
/// How many expected alert ids (and incident ids) the truth keeps at most, by default.
pub const DEFAULT_ID_CAP: usize = 100_000;

/// One of DESIGN.md's workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Access and metric events from 100 microservices, with injected incidents
    /// (auth failure bursts, 5xx outages, admin pages from unknown networks,
    /// traffic from block-listed networks). Rules: `rules/security.yaml`.
    Security,
    /// Web, mobile app and smart-TV events with real-looking user agents and IPs.
    Clickstream,
    /// Application logs (caller, callee, latency, level) and VPC flow logs,
    /// with error bursts and crashes. Rules: `rules/logs.yaml`.
    Logs,
    /// Logins and card transactions with injected account takeovers,
    /// impossible travel and card velocity.
    Fraud,
    /// A reading per device per second, with sensor faults. Rules: `rules/iot.yaml`.
    Iot,
    /// Ad views, clicks and add-to-cart events, with click floods.
    Ads,
}

/// A scenario name that is not one of the six.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scenario {0:?} (expected one of security, clickstream, logs, fraud, iot, ads)")]
pub struct UnknownScenario(pub String);

impl Scenario {
    /// Every scenario, in DESIGN.md's order.
    pub const ALL: [Scenario; 6] =
        [Scenario::Security, Scenario::Clickstream, Scenario::Logs, Scenario::Fraud, Scenario::Iot, Scenario::Ads];

    /// The lowercase name (`security`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Security => "security",
            Scenario::Clickstream => "clickstream",
            Scenario::Logs => "logs",
            Scenario::Fraud => "fraud",
            Scenario::Iot => "iot",
            Scenario::Ads => "ads",
        }
    }

    /// The prefix of the scenario's event ids (`sec-0000000042`).
    pub fn id_prefix(self) -> &'static str {
        match self {
            Scenario::Security => "sec",
            Scenario::Clickstream => "clk",
            Scenario::Logs => "log",
            Scenario::Fraud => "frd",
            Scenario::Iot => "iot",
            Scenario::Ads => "ads",
        }
    }

    /// Events per second of event time unless told otherwise (for `iot`, the
    /// number of devices: each reads once a second).
    pub fn default_rate(self) -> u32 {
        match self {
            Scenario::Security | Scenario::Logs => 2_000,
            Scenario::Clickstream | Scenario::Ads => 1_000,
            Scenario::Fraud | Scenario::Iot => 500,
        }
    }

    /// The shipped rule pack the truth's alerts are for, as a path from the
    /// repository's root; `None` when no pack covers the scenario.
    pub fn rule_pack(self) -> Option<&'static str> {
        match self {
            Scenario::Security => Some("rules/security.yaml"),
            Scenario::Logs => Some("rules/logs.yaml"),
            Scenario::Iot => Some("rules/iot.yaml"),
            Scenario::Clickstream | Scenario::Fraud | Scenario::Ads => None,
        }
    }

    /// The text of [`Scenario::rule_pack`], built into the library.
    pub fn rule_pack_yaml(self) -> Option<&'static str> {
        match self {
            Scenario::Security => Some(include_str!("../../../rules/security.yaml")),
            Scenario::Logs => Some(include_str!("../../../rules/logs.yaml")),
            Scenario::Iot => Some(include_str!("../../../rules/iot.yaml")),
            Scenario::Clickstream | Scenario::Fraud | Scenario::Ads => None,
        }
    }

    /// The rule ids whose alerts the ground truth predicts (every rule of the pack).
    pub fn rule_ids(self) -> &'static [&'static str] {
        match self {
            Scenario::Security => &security::RULES,
            Scenario::Logs => &logs::RULES,
            Scenario::Iot => &iot::RULES,
            Scenario::Clickstream | Scenario::Fraud | Scenario::Ads => &[],
        }
    }

    /// The kinds of incident the scenario injects (counted in the truth).
    pub fn incident_kinds(self) -> &'static [&'static str] {
        match self {
            Scenario::Security => &security::INCIDENTS,
            Scenario::Clickstream => &[],
            Scenario::Logs => &logs::INCIDENTS,
            Scenario::Fraud => &fraud::INCIDENTS,
            Scenario::Iot => &iot::INCIDENTS,
            Scenario::Ads => &ads::INCIDENTS,
        }
    }

    /// Whether the enrich function needs [`catalog_json`] for the truth to
    /// hold (the logs pack reads `service.tier`, which enrich takes from it).
    pub fn needs_catalog(self) -> bool {
        self == Scenario::Logs
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownScenario(s.to_string()))
    }
}

/// The service catalog the generated services are described in (enrich's
/// `EDDY_SERVICE_CATALOG` format: `{"services": [{"name", "team", "tier", "owner"}]}`).
/// Enrich needs it for the logs truth (`service.tier`); `eddy gen` writes it
/// as `catalog.json`.
pub fn catalog_json() -> String {
    pools::catalog_json()
}

/// How a logs-scenario event travels in a CloudWatch Logs subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOrigin {
    /// The log group (`/ecs/svc-auth-api`, `vpc-flow-logs`).
    pub group: Arc<str>,
    /// The log stream.
    pub stream: Arc<str>,
    /// The log event's message when it differs from the event's `data`: a VPC
    /// flow log line (whose `data` is the same record as a JSON object).
    pub message: Option<Vec<u8>>,
}

/// One generated event: a Kinesis record's bytes and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedEvent {
    /// Position in the run, from 0.
    pub index: u64,
    /// The event's id (also inside `data`): the scenario's prefix and the index, `sec-0000000042`.
    pub id: String,
    /// The Kinesis partition key (a user, device or service).
    pub partition_key: String,
    /// One compact JSON object with `id`, `kind`, `source` and `time`.
    pub data: Vec<u8>,
    /// The event time (`time` in `data`), milliseconds since the epoch.
    pub time_ms: i64,
    /// For the logs scenario: the CloudWatch Logs group and stream (and message) of the event.
    pub log: Option<LogOrigin>,
}

impl GeneratedEvent {
    /// The CloudWatch Logs message of the event: the flow log line, or `data`.
    pub fn log_message(&self) -> &[u8] {
        match self.log.as_ref().and_then(|l| l.message.as_deref()) {
            Some(message) => message,
            None => &self.data,
        }
    }
}

/// What the scenario decided about one event, for the truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Label {
    /// Index into the scenario's source table.
    pub source: u16,
    /// Bit `i`: the event matches the scenario's rule `i`.
    pub rules: u8,
    /// The incident the event belongs to.
    pub incident: Option<IncidentMark>,
}

/// Which injected incident an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IncidentMark {
    /// The index of its kind in [`Scenario::incident_kinds`].
    pub kind: u8,
    /// The incident's number in the run (from 0, in the order incidents start, across kinds).
    pub serial: u64,
    /// Whether the event is the incident's first.
    pub first: bool,
}

/// What a scenario sees of the event it is to write.
pub(crate) struct Ctx<'a> {
    pub rng: &'a mut fastrand::Rng,
    pub seed: u64,
    pub index: u64,
    pub time_ms: i64,
    pub start_ms: i64,
    pub rate: u32,
    pub id: &'a str,
    pub clock: &'a mut Clock,
}

impl Ctx<'_> {
    /// Writes `{"id":..,"kind":..,"source":..,"time":..` (the object stays open).
    pub fn head<'o>(&mut self, out: &'o mut Vec<u8>, kind: &str, source: &str) -> writer::Obj<'o> {
        let mut obj = writer::Obj::new(out);
        obj.safe("id", self.id).safe("kind", kind).safe("source", source);
        obj.key("time");
        self.clock.write(obj.buf(), self.time_ms);
        obj
    }
}

enum Script {
    Security(security::Security),
    Clickstream(clickstream::Clickstream),
    Logs(logs::Logs),
    Fraud(fraud::Fraud),
    Iot(iot::Iot),
    Ads(ads::Ads),
}

impl Script {
    fn new(scenario: Scenario, seed: u64) -> Self {
        match scenario {
            Scenario::Security => Script::Security(security::Security::new(seed)),
            Scenario::Clickstream => Script::Clickstream(clickstream::Clickstream::new()),
            Scenario::Logs => Script::Logs(logs::Logs::new(seed)),
            Scenario::Fraud => Script::Fraud(fraud::Fraud::new()),
            Scenario::Iot => Script::Iot(iot::Iot::new()),
            Scenario::Ads => Script::Ads(ads::Ads::new()),
        }
    }

    fn sources(&self) -> Vec<String> {
        match self {
            Script::Security(s) => s.sources(),
            Script::Clickstream(_) => clickstream::SOURCES.iter().map(|s| s.to_string()).collect(),
            Script::Logs(s) => s.sources(),
            Script::Fraud(_) => fraud::SOURCES.iter().map(|s| s.to_string()).collect(),
            Script::Iot(_) => iot::sources(),
            Script::Ads(_) => ads::SOURCES.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn emit(&mut self, ctx: &mut Ctx<'_>, event: &mut GeneratedEvent) -> Label {
        match self {
            Script::Security(s) => s.emit(ctx, event),
            Script::Clickstream(s) => s.emit(ctx, event),
            Script::Logs(s) => s.emit(ctx, event),
            Script::Fraud(s) => s.emit(ctx, event),
            Script::Iot(s) => s.emit(ctx, event),
            Script::Ads(s) => s.emit(ctx, event),
        }
    }

    /// The numbers of the incidents in progress (their later events not generated yet).
    fn in_progress(&self) -> Vec<u64> {
        match self {
            Script::Security(s) => s.in_progress(),
            Script::Clickstream(_) => Vec::new(),
            Script::Logs(s) => s.in_progress(),
            Script::Fraud(s) => s.in_progress(),
            Script::Iot(s) => s.in_progress(),
            Script::Ads(s) => s.in_progress(),
        }
    }

    fn held(&self) -> usize {
        match self {
            Script::Security(s) => s.held(),
            Script::Clickstream(_) => 0,
            Script::Logs(s) => s.held(),
            Script::Fraud(s) => s.held(),
            Script::Iot(s) => s.held(),
            Script::Ads(s) => s.held(),
        }
    }
}

/// Generates one scenario's events, deterministically from a seed, and keeps
/// their ground truth (see the module docs).
pub struct Generator {
    scenario: Scenario,
    seed: u64,
    count: u64,
    index: u64,
    rate: u32,
    start_ms: i64,
    rng: fastrand::Rng,
    script: Script,
    clock: Clock,
    truth: TruthBuilder,
    id: String,
}

impl Generator {
    /// `count` events of `scenario` from `seed`, at the scenario's default rate from [`DEFAULT_START_MS`].
    pub fn new(scenario: Scenario, seed: u64, count: u64) -> Self {
        let script = Script::new(scenario, seed);
        let truth = TruthBuilder::new(scenario, seed, script.sources(), DEFAULT_ID_CAP);
        let mut generator = Self {
            scenario,
            seed,
            count,
            index: 0,
            rate: scenario.default_rate(),
            start_ms: DEFAULT_START_MS,
            rng: fastrand::Rng::with_seed(seed),
            script,
            clock: Clock::default(),
            truth,
            id: String::with_capacity(16),
        };
        generator.truth.set_time(generator.start_ms, generator.rate);
        generator
    }

    /// Events per second of event time (at least 1); for `iot`, the number of
    /// devices. Set it before taking events.
    pub fn with_rate(mut self, per_second: u32) -> Self {
        self.rate = per_second.max(1);
        self.truth.set_time(self.start_ms, self.rate);
        self
    }

    /// Where event time starts, milliseconds since the epoch. Set it before taking events.
    pub fn with_start_ms(mut self, start_ms: i64) -> Self {
        self.start_ms = start_ms;
        self.truth.set_time(self.start_ms, self.rate);
        self
    }

    /// Keeps at most `cap` expected alert ids (and as many incident ids) in the truth; counts are always kept.
    pub fn with_id_cap(mut self, cap: usize) -> Self {
        self.truth.set_id_cap(cap);
        self
    }

    /// The scenario.
    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Events per second of event time.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// How many events the run makes in all.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// How many events were taken so far.
    pub fn generated(&self) -> u64 {
        self.index
    }

    /// The ground truth of the events taken so far (of the whole run once the iterator is exhausted).
    pub fn truth(&self) -> GroundTruth {
        self.truth.snapshot(self.index, &self.script.in_progress())
    }

    /// Takes the remaining events as Kinesis records (partition key and
    /// bytes), each with its event time as its arrival (seconds), and returns
    /// them with the truth of the whole run (for tests that replay a run).
    pub fn into_records(mut self) -> (Vec<(crate::workload::TestRecord, f64)>, GroundTruth) {
        let records = self
            .by_ref()
            .map(|e| {
                (
                    crate::workload::TestRecord { partition_key: e.partition_key, data: e.data },
                    e.time_ms as f64 / 1000.0,
                )
            })
            .collect();
        (records, self.truth())
    }

    /// How many items the generator holds in its bounded buffers (incidents in
    /// progress, recent views, faulty devices): bounded whatever the count.
    /// The truth's ids are capped separately ([`Generator::with_id_cap`]).
    pub fn held(&self) -> usize {
        self.script.held()
    }

    fn time_of(&mut self, index: u64) -> i64 {
        let jitter = self.rng.u64(0..1000);
        let offset = match index.checked_mul(1000).and_then(|ms| ms.checked_add(jitter)) {
            Some(scaled) => scaled / u64::from(self.rate),
            None => ((u128::from(index) * 1000 + u128::from(jitter)) / u128::from(self.rate)) as u64,
        };
        self.start_ms.saturating_add(i64::try_from(offset).unwrap_or(i64::MAX / 2))
    }
}

impl Iterator for Generator {
    type Item = GeneratedEvent;

    fn next(&mut self) -> Option<GeneratedEvent> {
        if self.index >= self.count {
            return None;
        }
        let index = self.index;
        let time_ms = self.time_of(index);
        self.id.clear();
        writer::push_id(&mut self.id, self.scenario.id_prefix(), index);
        let mut event = GeneratedEvent {
            index,
            id: self.id.clone(),
            partition_key: String::new(),
            data: Vec::with_capacity(480),
            time_ms,
            log: None,
        };
        let mut ctx = Ctx {
            rng: &mut self.rng,
            seed: self.seed,
            index,
            time_ms,
            start_ms: self.start_ms,
            rate: self.rate,
            id: &self.id,
            clock: &mut self.clock,
        };
        let label = self.script.emit(&mut ctx, &mut event);
        self.truth.record(index, &self.id, time_ms, label);
        self.index += 1;
        Some(event)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.count - self.index).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Generator {}

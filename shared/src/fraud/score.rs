//! Scoring detect's alerts against the fraud scenario's ground truth
//! (`truth.json` of `eddy gen --scenario fraud`).
//!
//! - Recall is per incident: an injected incident (an account takeover, an
//!   impossible travel, a card-velocity burst) counts as detected when at
//!   least one of its events was alerted. Incidents the run ended in the
//!   middle of (the truth's `unfinished`: an impossible travel without its
//!   second login) are not scored, only counted. Per kind, by any detector (what
//!   must be 1.0), and per detector over the kinds it is meant for
//!   ([`targets`]): a takeover of a user with no history cannot look
//!   unfamiliar, so `unfamiliar-login` alone does not reach 1.0.
//! - Precision is per alerted event: the share of a detector's alerts that
//!   fell on an event of some injected incident. The scenario's honest users
//!   can look suspicious (its busiest cards make dozens of transactions a
//!   minute): those alerts count against it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use super::detect::Detector;
use crate::gen::GroundTruth;

/// One alerted event: its id and the detectors that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertedEvent {
    /// The event's id.
    pub id: String,
    /// The detectors' names.
    pub detectors: Vec<String>,
}

#[derive(Deserialize)]
struct AlertLine {
    id: String,
    alert: AlertMember,
}

#[derive(Deserialize)]
struct AlertMember {
    detectors: Vec<String>,
}

/// Reads an alert line (detect's output) into its event id and detectors;
/// `None` when it is not one.
pub fn read_alert(line: &[u8]) -> Option<AlertedEvent> {
    let line: AlertLine = serde_json::from_slice(line).ok()?;
    Some(AlertedEvent { id: line.id, detectors: line.alert.detectors })
}

/// The incident kinds of the fraud scenario a detector is meant to catch.
pub fn targets(detector: Detector) -> &'static [&'static str] {
    match detector {
        Detector::UnfamiliarLogin | Detector::BruteForce => &["account-takeover"],
        Detector::ImpossibleTravel => &["impossible-travel"],
        Detector::CardVelocity => &["card-velocity"],
        Detector::CardAmount => &["card-velocity", "account-takeover"],
    }
}

/// How one kind of incident was caught.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindScore {
    /// Incidents injected and finished within the run (the ones scored).
    pub incidents: usize,
    /// Incidents still in progress when the run ended (not scored).
    pub unfinished: usize,
    /// Of those, incidents alerted all the same.
    pub unfinished_detected: usize,
    /// Incidents with at least one alerted event.
    pub detected: usize,
    /// Incidents each detector alerted on.
    pub by_detector: BTreeMap<String, usize>,
    /// Numbers of the incidents no alert touched.
    pub missed: Vec<u64>,
}

impl KindScore {
    /// Incidents detected per incident injected (1.0 when none).
    pub fn recall(&self) -> f64 {
        share(self.detected, self.incidents)
    }
}

/// How one detector did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectorScore {
    /// Events it alerted on.
    pub alerts: usize,
    /// Of those, events of an injected incident.
    pub on_incidents: usize,
    /// Incidents of its target kinds.
    pub target_incidents: usize,
    /// Of those, incidents it alerted on.
    pub target_detected: usize,
}

impl DetectorScore {
    /// Alerts on incident events per alert (1.0 when none).
    pub fn precision(&self) -> f64 {
        share(self.on_incidents, self.alerts)
    }

    /// Target incidents it alerted on per target incident (1.0 when none).
    pub fn recall(&self) -> f64 {
        share(self.target_detected, self.target_incidents)
    }
}

/// `hits / out_of`, 1.0 when there is nothing to count.
fn share(hits: usize, out_of: usize) -> f64 {
    if out_of == 0 {
        1.0
    } else {
        hits as f64 / out_of as f64
    }
}

/// The alerts of a run against its truth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FraudScore {
    /// Per incident kind.
    pub kinds: BTreeMap<String, KindScore>,
    /// Per detector (every detector listed).
    pub detectors: BTreeMap<String, DetectorScore>,
    /// Distinct events alerted.
    pub alerted_events: usize,
    /// Whether the truth lists every incident event (else the score covers what it lists).
    pub complete: bool,
}

impl FraudScore {
    /// Whether every injected incident of every kind was alerted.
    pub fn all_detected(&self) -> bool {
        self.kinds.values().all(|k| k.missed.is_empty())
    }
}

/// Scores `alerts` against `truth` (see the module docs).
pub fn score(truth: &GroundTruth, alerts: &[AlertedEvent]) -> FraudScore {
    let mut by_event: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for alert in alerts {
        by_event.entry(alert.id.as_str()).or_default().extend(alert.detectors.iter().map(String::as_str));
    }
    let incident_events: BTreeSet<&str> =
        truth.incidents.values().flat_map(|k| k.ids.iter().map(String::as_str)).collect();
    let mut result = FraudScore {
        alerted_events: by_event.len(),
        complete: truth.incidents.values().all(|k| k.ids_complete),
        ..FraudScore::default()
    };
    for (kind, incidents) in &truth.incidents {
        let mut k = KindScore::default();
        for (serial, ids) in incidents.by_incident() {
            let fired: BTreeSet<&str> = ids.iter().filter_map(|id| by_event.get(id)).flatten().copied().collect();
            if incidents.unfinished.contains(&serial) {
                k.unfinished += 1;
                k.unfinished_detected += usize::from(!fired.is_empty());
                continue;
            }
            k.incidents += 1;
            if fired.is_empty() {
                k.missed.push(serial);
            } else {
                k.detected += 1;
            }
            for detector in fired {
                *k.by_detector.entry(detector.to_string()).or_default() += 1;
            }
        }
        result.kinds.insert(kind.clone(), k);
    }
    for detector in Detector::ALL {
        let name = detector.name();
        let mut d = DetectorScore::default();
        for (id, fired) in &by_event {
            if fired.contains(name) {
                d.alerts += 1;
                d.on_incidents += usize::from(incident_events.contains(id));
            }
        }
        for kind in targets(detector) {
            if let Some(k) = result.kinds.get(*kind) {
                d.target_incidents += k.incidents;
                d.target_detected += k.by_detector.get(name).copied().unwrap_or(0);
            }
        }
        result.detectors.insert(name.to_string(), d);
    }
    result
}

impl fmt::Display for FraudScore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "per incident kind (an incident is detected when any of its events is alerted):")?;
        for (kind, k) in &self.kinds {
            let by: Vec<String> = k.by_detector.iter().map(|(d, n)| format!("{d} {n}")).collect();
            writeln!(
                f,
                "  {kind:<18} incidents {:>4}  detected {:>4}  recall {:.3}  (+{} unfinished, {} of them alerted)  by detector: {}",
                k.incidents,
                k.detected,
                k.recall(),
                k.unfinished,
                k.unfinished_detected,
                if by.is_empty() { "-".to_string() } else { by.join(", ") }
            )?;
        }
        writeln!(f, "per detector (precision per alerted event; recall per incident of its target kinds):")?;
        for (name, d) in &self.detectors {
            writeln!(
                f,
                "  {name:<18} alerts {:>5}  on incident events {:>5}  precision {:.3}  recall {:.3} ({} of {})",
                d.alerts,
                d.on_incidents,
                d.precision(),
                d.recall(),
                d.target_detected,
                d.target_incidents
            )?;
        }
        write!(f, "alerted events: {}{}", self.alerted_events, if self.complete { "" } else { " (truth ids capped)" })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::gen::{Generator, Scenario};

    fn alert(id: &str, detector: &str) -> AlertedEvent {
        AlertedEvent { id: id.to_string(), detectors: vec![detector.to_string()] }
    }

    #[test]
    fn incidents_are_detected_by_any_one_of_their_events_and_stray_alerts_lower_precision() {
        let mut generator = Generator::new(Scenario::Fraud, 3, 60_000);
        generator.by_ref().for_each(drop);
        let truth = generator.truth();
        let takeovers = &truth.incidents["account-takeover"];
        let groups = takeovers.by_incident();
        let finished: Vec<&Vec<&str>> =
            groups.iter().filter(|(s, _)| !takeovers.unfinished.contains(s)).map(|(_, ids)| ids).collect();
        assert!(finished.len() >= 2, "{groups:?}");
        // the last event of every finished takeover but the first, and one event of no incident
        let mut alerts: Vec<AlertedEvent> =
            finished[1..].iter().map(|ids| alert(ids[ids.len() - 1], "brute-force")).collect();
        let stray = (0..truth.count).map(|i| format!("frd-{i:010}")).find(|id| !takeovers.ids.contains(id)).unwrap();
        alerts.push(alert(&stray, "brute-force"));

        let result = score(&truth, &alerts);

        let k = &result.kinds["account-takeover"];
        assert_eq!((k.incidents, k.detected, k.missed.len()), (finished.len(), finished.len() - 1, 1));
        assert_eq!(k.by_detector["brute-force"], finished.len() - 1);
        let d = &result.detectors["brute-force"];
        assert_eq!((d.alerts, d.on_incidents), (finished.len(), finished.len() - 1));
        assert!(d.precision() < 1.0 && d.recall() < 1.0);
        assert!(!result.all_detected());
        assert_eq!(result.detectors["unfamiliar-login"].alerts, 0);
        assert!(result.to_string().contains("account-takeover"));
    }

    #[test]
    fn alert_lines_give_their_event_id_and_detectors() {
        let line =
            br#"{"id":"frd-0000000007","user":"u","alert":{"detectors":["card-velocity","card-amount"],"score":0.9}}"#;
        let got = read_alert(line).unwrap();
        assert_eq!(got.id, "frd-0000000007");
        assert_eq!(got.detectors, ["card-velocity", "card-amount"]);
        assert_eq!(read_alert(b"{\"id\":\"x\"}"), None);
    }
}

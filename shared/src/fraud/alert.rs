//! The alert detect puts on the `alerts` stream: the event's JSON object with
//! an `alert` member added last (as the filter function does), naming the
//! detectors, the highest score, a severity and each finding's evidence:
//!
//! ```json
//! {"...the event...",
//!  "alert": {"function": "detect", "detectors": ["impossible-travel"], "score": 0.987,
//!            "severity": "critical", "tags": ["fraud"],
//!            "findings": [{"detector": "impossible-travel", "score": 0.987,
//!                          "evidence": {"from": {"time": "...", "lat": 40.71, "lon": -74.0, "country": "US", "city": "New York"},
//!                                       "to": {...}, "distance_km": 5570.2, "seconds": 95.0,
//!                                       "speed_kmh": 211082.1, "max_kmh": 900.0}}]}}
//! ```
//!
//! Severity from the highest score: `critical` from 0.9, `high` from 0.75,
//! `medium` from 0.5.

use chrono::{DateTime, SecondsFormat};

use super::detect::{Evidence, Finding};
use super::state::Place;
use crate::json::{write_f64, write_key, write_str, write_u64};

/// The `alert` member's value for `findings` (at least one).
pub fn alert_json(findings: &[Finding]) -> Vec<u8> {
    let score = findings.iter().map(|f| f.score).fold(0.0, f64::max);
    let mut out = Vec::with_capacity(256 * findings.len());
    out.extend_from_slice(b"{\"function\":\"detect\",");
    write_key(&mut out, "detectors");
    out.push(b'[');
    let mut names: Vec<&str> = findings.iter().map(|f| f.detector.name()).collect();
    names.dedup();
    for (i, name) in names.iter().enumerate() {
        comma(&mut out, i);
        write_str(&mut out, name);
    }
    out.extend_from_slice(b"],");
    write_key(&mut out, "score");
    write_f64(&mut out, round3(score));
    out.push(b',');
    write_key(&mut out, "severity");
    write_str(&mut out, severity(score));
    out.extend_from_slice(b",\"tags\":[\"fraud\"],");
    write_key(&mut out, "findings");
    out.push(b'[');
    for (i, finding) in findings.iter().enumerate() {
        comma(&mut out, i);
        write_finding(&mut out, finding);
    }
    out.extend_from_slice(b"]}");
    out
}

/// The severity of a score.
pub fn severity(score: f64) -> &'static str {
    if score >= 0.9 {
        "critical"
    } else if score >= 0.75 {
        "high"
    } else if score >= 0.5 {
        "medium"
    } else {
        "low"
    }
}

fn write_finding(out: &mut Vec<u8>, finding: &Finding) {
    out.push(b'{');
    write_key(out, "detector");
    write_str(out, finding.detector.name());
    out.push(b',');
    write_key(out, "score");
    write_f64(out, round3(finding.score));
    out.push(b',');
    write_key(out, "evidence");
    write_evidence(out, &finding.evidence);
    out.push(b'}');
}

fn write_evidence(out: &mut Vec<u8>, evidence: &Evidence) {
    let mut o = Members::open(out);
    match evidence {
        Evidence::Unfamiliar {
            new_device,
            new_ip,
            new_country,
            known_countries,
            known_devices,
            known_ips,
            logins,
            previous,
        } => {
            o.boolean("new_device", *new_device).boolean("new_ip", *new_ip);
            if let Some(country) = new_country {
                o.text("new_country", country);
            }
            o.key("known_countries");
            o.out.push(b'[');
            for (i, c) in known_countries.iter().enumerate() {
                comma(o.out, i);
                write_str(o.out, c);
            }
            o.out.push(b']');
            o.count("known_devices", *known_devices as u64).count("known_ips", *known_ips as u64);
            o.count("logins", u64::from(*logins));
            if let Some(place) = previous {
                o.place("previous", place);
            }
        }
        Evidence::Travel { from, to, distance_km, seconds, speed_kmh, max_kmh } => {
            o.place("from", from).place("to", to);
            o.number("distance_km", *distance_km).number("seconds", *seconds);
            o.number("speed_kmh", *speed_kmh).number("max_kmh", *max_kmh);
        }
        Evidence::BruteForce { scope, failures, users, period_s, threshold } => {
            o.text("scope", scope).count("failures", *failures as u64);
            if let Some(users) = users {
                o.count("users", *users as u64);
            }
            o.count("period_s", (*period_s).max(0) as u64).count("threshold", *threshold as u64);
        }
        Evidence::Velocity { transactions, amount, period_s, max_transactions, max_amount } => {
            o.count("transactions", *transactions as u64).number("amount", *amount);
            o.count("period_s", (*period_s).max(0) as u64).count("max_transactions", *max_transactions as u64);
            o.number("max_amount", *max_amount);
        }
        Evidence::Amount { amount, mean, std_dev, samples, z } => {
            o.number("amount", *amount).number("mean", *mean).number("std_dev", *std_dev);
            o.count("samples", *samples).number("z", *z);
        }
    }
    o.close();
}

/// An open JSON object being written member by member.
struct Members<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Members<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    fn key(&mut self, key: &str) -> &mut Self {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_key(self.out, key);
        self
    }

    fn text(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        write_str(self.out, value);
        self
    }

    fn boolean(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    fn count(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        write_u64(self.out, value);
        self
    }

    /// A number rounded to 3 decimals (`null` when infinite, e.g. a speed over 0 s).
    fn number(&mut self, key: &str, value: f64) -> &mut Self {
        self.key(key);
        write_f64(self.out, round3(value));
        self
    }

    fn place(&mut self, key: &str, place: &Place) -> &mut Self {
        self.key(key);
        let mut p = Members::open(self.out);
        let time = DateTime::from_timestamp_millis(place.time_ms)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_default();
        p.text("time", &time).number("lat", place.lat).number("lon", place.lon);
        if let Some(country) = &place.country {
            p.text("country", country);
        }
        if let Some(city) = &place.city {
            p.text("city", city);
        }
        p.close();
        self
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

fn comma(out: &mut Vec<u8>, index: usize) {
    if index > 0 {
        out.push(b',');
    }
}

fn round3(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1000.0).round() / 1000.0
    } else {
        x
    }
}

//! The detect function's configuration, from `EDDY_*` environment variables
//! read once at init (`from_lookup`, so tests need no environment). Every
//! variable is optional except, in Lambda, the table, the alerts stream and
//! the quarantine bucket; the table of all of them is in the module docs of
//! [`crate::fraud`].

use super::codec::max_encoded_bytes;
use super::detect::Thresholds;
use super::state::Caps;
use super::store::ITEM_OVERHEAD_BYTES;
use crate::config::{decimal_number, whole_number, ArchiveConfig, ConfigError, QuarantineConfig, QUARANTINE_BUCKET};
use crate::decode::DecodeLimits;
use crate::limits::DYNAMODB_MAX_ITEM_BYTES;
use crate::rules::handler::ALERTS_STREAM;

/// Env var: the DynamoDB table of the per-user, per-card and per-IP state.
pub const TABLE: &str = "EDDY_FRAUD_TABLE";
/// Env var: impossible travel above this speed, km/h (default 900).
pub const MAX_SPEED_KMH: &str = "EDDY_FRAUD_MAX_SPEED_KMH";
/// Env var: impossible travel only over at least this distance, km (default 500).
pub const MIN_TRAVEL_KM: &str = "EDDY_FRAUD_MIN_TRAVEL_KM";
/// Env var: card velocity above this many transactions in the period (default 5).
pub const VELOCITY_COUNT: &str = "EDDY_FRAUD_VELOCITY_COUNT";
/// Env var: card velocity above this amount in the period (default 2000).
pub const VELOCITY_AMOUNT: &str = "EDDY_FRAUD_VELOCITY_AMOUNT";
/// Env var: card velocity's sliding period, seconds (default 60).
pub const VELOCITY_SECONDS: &str = "EDDY_FRAUD_VELOCITY_SECONDS";
/// Env var: card amount alerts from this many standard deviations above the mean (default 4).
pub const AMOUNT_Z: &str = "EDDY_FRAUD_AMOUNT_Z";
/// Env var: card amount alerts from this many times the mean too (default 3).
pub const AMOUNT_MULTIPLE: &str = "EDDY_FRAUD_AMOUNT_MULTIPLE";
/// Env var: card amount judged once the card has this many transactions (default 10).
pub const AMOUNT_MIN_SAMPLES: &str = "EDDY_FRAUD_AMOUNT_MIN_SAMPLES";
/// Env var: brute force from this many failed logins of one user in the period (default 3).
pub const FAILED_LOGINS_USER: &str = "EDDY_FRAUD_FAILED_LOGINS_USER";
/// Env var: brute force from this many failed logins from one IP in the period (default 10).
pub const FAILED_LOGINS_IP: &str = "EDDY_FRAUD_FAILED_LOGINS_IP";
/// Env var: brute force's sliding period, seconds (default 60).
pub const FAILED_LOGINS_SECONDS: &str = "EDDY_FRAUD_FAILED_LOGINS_SECONDS";
/// Env var: successful logins that establish a user's baseline (default 5).
pub const WARMUP_LOGINS: &str = "EDDY_FRAUD_WARMUP_LOGINS";
/// Env var: days since first seen that establish a user's baseline too (default 0).
pub const WARMUP_DAYS: &str = "EDDY_FRAUD_WARMUP_DAYS";
/// Env var: days an untouched item lives (the table's TTL; default 90).
pub const TTL_DAYS: &str = "EDDY_FRAUD_TTL_DAYS";
/// Env var: known devices, IPs and countries kept per user, each (default 16).
pub const MAX_KNOWN: &str = "EDDY_FRAUD_MAX_KNOWN";
/// Env var: recent login places kept per user (default 8).
pub const MAX_LOCATIONS: &str = "EDDY_FRAUD_MAX_LOCATIONS";
/// Env var: failed logins / transactions kept per key within a period (default 64).
pub const MAX_WINDOW_EVENTS: &str = "EDDY_FRAUD_MAX_WINDOW_EVENTS";
/// Env var: fingerprints of applied events kept per key, to skip replays (default 256).
pub const MAX_APPLIED: &str = "EDDY_FRAUD_MAX_APPLIED";
/// Env var: re-reads and re-applies of a key after a write conflict, before giving up (default 5).
pub const CONFLICT_RETRIES: &str = "EDDY_FRAUD_CONFLICT_RETRIES";

const DAY_MS: i64 = 86_400_000;

/// The detect function's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectConfig {
    /// The state table, when set (else the in-memory twin, for `eddy invoke`).
    pub table: Option<String>,
    /// The alerts stream, when set.
    pub alerts_stream: Option<String>,
    /// Where undecodable records go in S3.
    pub quarantine: Option<QuarantineConfig>,
    /// Decoding guards.
    pub limits: DecodeLimits,
    /// The detectors' thresholds and the state's caps.
    pub thresholds: Thresholds,
    /// Days an item lives after its last write.
    pub ttl_days: u32,
    /// Conflict retries per key and invocation.
    pub conflict_retries: u32,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            table: None,
            alerts_stream: None,
            quarantine: None,
            limits: DecodeLimits::default(),
            thresholds: Thresholds::default(),
            ttl_days: 90,
            conflict_retries: 5,
        }
    }
}

impl DetectConfig {
    /// Reads the configuration from `get` (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let common = ArchiveConfig::from_lookup(&get)?;
        let d = Self::default();
        let non_empty = |name| get(name).map(|v: String| v.trim().to_string()).filter(|v| !v.is_empty());
        let config = Self {
            table: non_empty(TABLE),
            alerts_stream: non_empty(ALERTS_STREAM),
            quarantine: common.quarantine,
            limits: common.limits,
            thresholds: thresholds(&get)?,
            ttl_days: whole_number(&get, TTL_DAYS, 1, 3_650)?.map_or(d.ttl_days, |n| n as u32),
            conflict_retries: whole_number(&get, CONFLICT_RETRIES, 0, 50)?.map_or(d.conflict_retries, |n| n as u32),
        };
        config.check()?;
        Ok(config)
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The table, or the error naming the variable to set.
    pub fn require_table(&self) -> Result<&str, ConfigError> {
        self.table.as_deref().ok_or(ConfigError::Missing(TABLE))
    }

    /// The alerts stream, or the error naming the variable to set.
    pub fn require_alerts_stream(&self) -> Result<&str, ConfigError> {
        self.alerts_stream.as_deref().ok_or(ConfigError::Missing(ALERTS_STREAM))
    }

    /// The quarantine location, or the error naming the variable to set.
    pub fn require_quarantine(&self) -> Result<&QuarantineConfig, ConfigError> {
        self.quarantine.as_ref().ok_or(ConfigError::Missing(QUARANTINE_BUCKET))
    }

    /// Most bytes of an item's encoded state under these caps.
    pub fn max_state_bytes(&self) -> usize {
        max_encoded_bytes(&self.thresholds.caps)
    }

    /// The item's expiry for a write at `now_ms`, seconds since the epoch.
    pub fn expires_at_s(&self, now_ms: i64) -> i64 {
        (now_ms + i64::from(self.ttl_days) * DAY_MS) / 1000
    }

    /// Refuses thresholds the caps cannot count up to, and caps whose items could exceed DynamoDB's limit.
    fn check(&self) -> Result<(), ConfigError> {
        let t = &self.thresholds;
        let window = t.caps.window_events;
        let over = |name: &'static str, value: usize| ConfigError::Invalid {
            name,
            value: value.to_string(),
            problem: format!("must be below {MAX_WINDOW_EVENTS} ({window}), which caps what a period counts"),
        };
        if t.velocity_count >= window {
            return Err(over(VELOCITY_COUNT, t.velocity_count));
        }
        if t.failures_per_user > window {
            return Err(over(FAILED_LOGINS_USER, t.failures_per_user));
        }
        if t.failures_per_ip > window {
            return Err(over(FAILED_LOGINS_IP, t.failures_per_ip));
        }
        let bytes = self.max_state_bytes() + ITEM_OVERHEAD_BYTES;
        if bytes > DYNAMODB_MAX_ITEM_BYTES {
            return Err(ConfigError::Invalid {
                name: MAX_APPLIED,
                value: t.caps.applied.to_string(),
                problem: format!(
                    "with these caps an item could take {bytes} bytes, over DynamoDB's {DYNAMODB_MAX_ITEM_BYTES}: lower the EDDY_FRAUD_MAX_* caps"
                ),
            });
        }
        Ok(())
    }
}

fn thresholds(get: &impl Fn(&str) -> Option<String>) -> Result<Thresholds, ConfigError> {
    let d = Thresholds::default();
    let whole = |name, min, max, default: usize| -> Result<usize, ConfigError> {
        Ok(whole_number(get, name, min, max)?.map_or(default, |n| n as usize))
    };
    let decimal = |name, min, max, default: f64| -> Result<f64, ConfigError> {
        Ok(decimal_number(get, name, min, max)?.unwrap_or(default))
    };
    let seconds = |name, default_ms: i64| -> Result<i64, ConfigError> {
        Ok(whole_number(get, name, 1, 30 * 86_400)?.map_or(default_ms, |s| s as i64 * 1000))
    };
    let caps = Caps {
        known: whole(MAX_KNOWN, 1, 1_000, d.caps.known)?,
        locations: whole(MAX_LOCATIONS, 1, 1_000, d.caps.locations)?,
        window_events: whole(MAX_WINDOW_EVENTS, 2, 10_000, d.caps.window_events)?,
        applied: whole(MAX_APPLIED, 1, 100_000, d.caps.applied)?,
    };
    Ok(Thresholds {
        max_speed_kmh: decimal(MAX_SPEED_KMH, 1.0, 1e6, d.max_speed_kmh)?,
        min_travel_km: decimal(MIN_TRAVEL_KM, 0.0, 20_000.0, d.min_travel_km)?,
        velocity_count: whole(VELOCITY_COUNT, 1, 10_000, d.velocity_count)?,
        velocity_amount: decimal(VELOCITY_AMOUNT, 0.01, 1e12, d.velocity_amount)?,
        velocity_period_ms: seconds(VELOCITY_SECONDS, d.velocity_period_ms)?,
        amount_z: decimal(AMOUNT_Z, 0.1, 1_000.0, d.amount_z)?,
        amount_multiple: decimal(AMOUNT_MULTIPLE, 1.0, 1e6, d.amount_multiple)?,
        amount_min_samples: whole(AMOUNT_MIN_SAMPLES, 2, 1_000_000, d.amount_min_samples as usize)? as u64,
        failures_per_user: whole(FAILED_LOGINS_USER, 1, 10_000, d.failures_per_user)?,
        failures_per_ip: whole(FAILED_LOGINS_IP, 1, 10_000, d.failures_per_ip)?,
        failures_period_ms: seconds(FAILED_LOGINS_SECONDS, d.failures_period_ms)?,
        warmup_logins: whole(WARMUP_LOGINS, 0, 10_000, d.warmup_logins as usize)? as u32,
        warmup_ms: whole(WARMUP_DAYS, 0, 3_650, 0)? as i64 * DAY_MS,
        caps,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn given_nothing_set_when_read_then_the_defaults_hold_and_the_missing_names_are_reported() {
        let c = DetectConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c, DetectConfig::default());
        assert_eq!(c.require_table(), Err(ConfigError::Missing(TABLE)));
        assert_eq!(c.require_alerts_stream(), Err(ConfigError::Missing(ALERTS_STREAM)));
        assert_eq!(c.require_quarantine(), Err(ConfigError::Missing(QUARANTINE_BUCKET)));
    }

    #[test]
    fn given_every_variable_when_read_then_each_is_kept() {
        let c = DetectConfig::from_lookup(lookup(&[
            (TABLE, "eddy-fraud"),
            (ALERTS_STREAM, "alerts"),
            (MAX_SPEED_KMH, "1000.5"),
            (MIN_TRAVEL_KM, "100"),
            (VELOCITY_COUNT, "7"),
            (VELOCITY_AMOUNT, "500"),
            (VELOCITY_SECONDS, "120"),
            (AMOUNT_Z, "3"),
            (AMOUNT_MULTIPLE, "2"),
            (AMOUNT_MIN_SAMPLES, "20"),
            (FAILED_LOGINS_USER, "4"),
            (FAILED_LOGINS_IP, "20"),
            (FAILED_LOGINS_SECONDS, "300"),
            (WARMUP_LOGINS, "2"),
            (WARMUP_DAYS, "7"),
            (TTL_DAYS, "30"),
            (MAX_KNOWN, "8"),
            (MAX_LOCATIONS, "4"),
            (MAX_WINDOW_EVENTS, "32"),
            (MAX_APPLIED, "64"),
            (CONFLICT_RETRIES, "3"),
        ]))
        .unwrap();
        let t = &c.thresholds;
        assert_eq!(c.require_table(), Ok("eddy-fraud"));
        assert_eq!((t.max_speed_kmh, t.min_travel_km), (1000.5, 100.0));
        assert_eq!((t.velocity_count, t.velocity_amount, t.velocity_period_ms), (7, 500.0, 120_000));
        assert_eq!((t.amount_z, t.amount_multiple, t.amount_min_samples), (3.0, 2.0, 20));
        assert_eq!((t.failures_per_user, t.failures_per_ip, t.failures_period_ms), (4, 20, 300_000));
        assert_eq!((t.warmup_logins, t.warmup_ms), (2, 7 * DAY_MS));
        assert_eq!(t.caps, Caps { known: 8, locations: 4, window_events: 32, applied: 64 });
        assert_eq!((c.ttl_days, c.conflict_retries), (30, 3));
        assert_eq!(c.expires_at_s(1_000), 30 * 86_400 + 1);
    }

    #[test]
    fn given_bad_values_when_read_then_the_error_names_the_variable() {
        for (name, value) in [
            (MAX_SPEED_KMH, "fast"),
            (VELOCITY_COUNT, "0"),
            (TTL_DAYS, "-1"),
            (AMOUNT_Z, "NaN"),
            // thresholds the window cap cannot count up to
            (VELOCITY_COUNT, "64"),
            (FAILED_LOGINS_IP, "65"),
            // caps whose items would pass DynamoDB's 400 KB
            (MAX_APPLIED, "100000"),
        ] {
            let err = DetectConfig::from_lookup(lookup(&[(name, value)])).unwrap_err().to_string();
            assert!(err.contains(name), "{name}={value}: {err}");
        }
    }
}

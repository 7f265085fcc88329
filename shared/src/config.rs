//! Typed configuration from the environment, read once at init.

use crate::decode::DecodeLimits;

/// Errors reading configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A variable the function needs is not set.
    #[error("environment variable {0} must be set")]
    Missing(&'static str),
    /// A variable has a value that does not parse.
    #[error("environment variable {name}={value:?}: {problem}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        problem: String,
    },
}

/// Env var: the Firehose delivery stream of the archive.
pub const DELIVERY_STREAM: &str = "EDDY_DELIVERY_STREAM";
/// Env var: the bucket of the quarantine.
pub const QUARANTINE_BUCKET: &str = "EDDY_QUARANTINE_BUCKET";
/// Env var: the key prefix of the quarantine (default `quarantine/`).
pub const QUARANTINE_PREFIX: &str = "EDDY_QUARANTINE_PREFIX";
/// Env var: the decompressed-size limit per record, in bytes.
pub const MAX_DECOMPRESSED_BYTES: &str = "EDDY_MAX_DECOMPRESSED_BYTES";
/// Env var: the JSON nesting limit.
pub const MAX_JSON_DEPTH: &str = "EDDY_MAX_JSON_DEPTH";

/// Where the quarantine goes in S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineConfig {
    /// The bucket.
    pub bucket: String,
    /// The key prefix, ending in `/`.
    pub prefix: String,
}

/// The archive function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// The Firehose delivery stream, when set.
    pub delivery_stream: Option<String>,
    /// The quarantine location, when set.
    pub quarantine: Option<QuarantineConfig>,
    /// Decoding guards.
    pub limits: DecodeLimits,
}

impl ArchiveConfig {
    /// Reads the configuration from `get` (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            delivery_stream: non_empty(get(DELIVERY_STREAM)),
            quarantine: quarantine(&get),
            limits: decode_limits(&get)?,
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The delivery stream, or the error naming the variable to set.
    pub fn require_delivery_stream(&self) -> Result<&str, ConfigError> {
        self.delivery_stream.as_deref().ok_or(ConfigError::Missing(DELIVERY_STREAM))
    }

    /// The quarantine location, or the error naming the variable to set.
    pub fn require_quarantine(&self) -> Result<&QuarantineConfig, ConfigError> {
        self.quarantine.as_ref().ok_or(ConfigError::Missing(QUARANTINE_BUCKET))
    }
}

/// The value without surrounding white space, or `None` when unset or blank.
pub(crate) fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The quarantine location from `EDDY_QUARANTINE_BUCKET` / `EDDY_QUARANTINE_PREFIX`.
pub(crate) fn quarantine(get: &impl Fn(&str) -> Option<String>) -> Option<QuarantineConfig> {
    let bucket = non_empty(get(QUARANTINE_BUCKET))?;
    let mut prefix = non_empty(get(QUARANTINE_PREFIX)).unwrap_or_else(|| "quarantine/".into());
    if !prefix.ends_with('/') {
        prefix.push('/');
    }
    Some(QuarantineConfig { bucket, prefix })
}

/// Reads the decoding guards (defaults when unset).
pub fn decode_limits(get: &impl Fn(&str) -> Option<String>) -> Result<DecodeLimits, ConfigError> {
    let defaults = DecodeLimits::default();
    Ok(DecodeLimits {
        max_decompressed_bytes: positive(get, MAX_DECOMPRESSED_BYTES)?.unwrap_or(defaults.max_decompressed_bytes),
        max_json_depth: positive(get, MAX_JSON_DEPTH)?.unwrap_or(defaults.max_json_depth),
    })
}

/// The whole number in `name`, from `min` to `max`; `None` when unset or blank.
pub(crate) fn whole_number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ConfigError> {
    number_in(get, name, min, max, "a whole number")
}

/// The decimal number in `name`, from `min` to `max`; `None` when unset or blank.
pub(crate) fn decimal_number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, ConfigError> {
    number_in(get, name, min, max, "a number")
}

/// The number in `name` if it parses and lies in `min..=max` (so never NaN); `None` when unset or blank.
fn number_in<T>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    min: T,
    max: T,
    what: &str,
) -> Result<Option<T>, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let Some(value) = non_empty(get(name)) else {
        return Ok(None);
    };
    match value.parse::<T>() {
        Ok(n) if min <= n && n <= max => Ok(Some(n)),
        _ => Err(ConfigError::Invalid { name, value, problem: format!("expected {what} from {min} to {max}") }),
    }
}

fn positive(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<Option<usize>, ConfigError> {
    let Some(value) = non_empty(get(name)) else {
        return Ok(None);
    };
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(ConfigError::Invalid { name, value, problem: "expected a whole number greater than 0".into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = ArchiveConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.delivery_stream, None);
        assert_eq!(c.limits, DecodeLimits::default());
        assert_eq!(c.require_delivery_stream(), Err(ConfigError::Missing(DELIVERY_STREAM)));
    }

    #[test]
    fn reads_names_and_limits() {
        let c = ArchiveConfig::from_lookup(lookup(&[
            (DELIVERY_STREAM, "raw-archive"),
            (QUARANTINE_BUCKET, "b"),
            (QUARANTINE_PREFIX, "q"),
            (MAX_JSON_DEPTH, "10"),
        ]))
        .unwrap();
        assert_eq!(c.require_delivery_stream(), Ok("raw-archive"));
        assert_eq!(c.require_quarantine().unwrap().prefix, "q/");
        assert_eq!(c.limits.max_json_depth, 10);
    }

    #[test]
    fn a_bad_number_names_the_variable() {
        let err = ArchiveConfig::from_lookup(lookup(&[(MAX_DECOMPRESSED_BYTES, "lots")])).unwrap_err();
        assert!(err.to_string().contains(MAX_DECOMPRESSED_BYTES), "{err}");
    }
}

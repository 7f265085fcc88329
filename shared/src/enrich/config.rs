//! The enrich function's configuration, read once at init from `EDDY_*`
//! variables (through a lookup function, so tests need no environment).

use crate::config::{decode_limits, non_empty, quarantine, ConfigError, QuarantineConfig, QUARANTINE_BUCKET};
use crate::decode::DecodeLimits;

/// Env var: the Kinesis stream enriched events go to.
pub const ENRICHED_STREAM: &str = "EDDY_ENRICHED_STREAM";
/// Env var: a MaxMind DB format city (or country) database, as a local path or `s3://bucket/key`.
pub const GEO_DB: &str = "EDDY_GEO_DB";
/// Env var: the same database as an S3 object, `s3://bucket/key`.
pub const GEO_DB_S3: &str = "EDDY_GEO_DB_S3";
/// Env var: an optional separate ASN database (MaxMind DB format), a path or `s3://bucket/key`.
pub const ASN_DB: &str = "EDDY_ASN_DB";
/// Env var: the ASN database as an S3 object, `s3://bucket/key`.
pub const ASN_DB_S3: &str = "EDDY_ASN_DB_S3";
/// Env var: the service catalog (JSON), a path or `s3://bucket/key`.
pub const SERVICE_CATALOG: &str = "EDDY_SERVICE_CATALOG";
/// Env var: the service catalog as an S3 object, `s3://bucket/key`.
pub const SERVICE_CATALOG_S3: &str = "EDDY_SERVICE_CATALOG_S3";
/// Env var: how many distinct user agents (and geo records) the lookup caches
/// hold before they are cleared (default [`DEFAULT_CACHE_ENTRIES`]; 0 turns caching off).
pub const CACHE_ENTRIES: &str = "EDDY_ENRICH_CACHE_ENTRIES";

/// Default capacity of each lookup cache.
pub const DEFAULT_CACHE_ENTRIES: usize = 16_384;

/// Where a resource loaded at init lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file.
    Path(String),
    /// An S3 object, fetched once at init.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
}

impl Location {
    /// Parses `s3://bucket/key` as an S3 object and anything else as a path.
    pub fn parse(value: &str) -> Option<Self> {
        match value.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, key) = rest.split_once('/')?;
                (!bucket.is_empty() && !key.is_empty())
                    .then(|| Location::S3 { bucket: bucket.to_string(), key: key.to_string() })
            }
            None => Some(Location::Path(value.to_string())),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Path(p) => f.write_str(p),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// The enrich function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrichConfig {
    /// The `enriched` Kinesis stream, when set.
    pub enriched_stream: Option<String>,
    /// The quarantine location, when set.
    pub quarantine: Option<QuarantineConfig>,
    /// The geo (city or country) database; `None` skips geo lookups.
    pub geo_db: Option<Location>,
    /// A separate ASN database, if any.
    pub asn_db: Option<Location>,
    /// The service catalog; `None` skips catalog lookups.
    pub service_catalog: Option<Location>,
    /// Capacity of each lookup cache (0: no caching).
    pub cache_entries: usize,
    /// Decoding guards.
    pub limits: DecodeLimits,
}

impl EnrichConfig {
    /// Reads the configuration from `get` (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            enriched_stream: non_empty(get(ENRICHED_STREAM)),
            quarantine: quarantine(&get),
            geo_db: location(&get, GEO_DB, GEO_DB_S3)?,
            asn_db: location(&get, ASN_DB, ASN_DB_S3)?,
            service_catalog: location(&get, SERVICE_CATALOG, SERVICE_CATALOG_S3)?,
            cache_entries: cache_entries(&get)?,
            limits: decode_limits(&get)?,
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Whether a lookup is configured as an S3 object (init then needs an S3 client).
    pub fn uses_s3(&self) -> bool {
        [&self.geo_db, &self.asn_db, &self.service_catalog]
            .into_iter()
            .flatten()
            .any(|l| matches!(l, Location::S3 { .. }))
    }

    /// The enriched stream, or the error naming the variable to set.
    pub fn require_enriched_stream(&self) -> Result<&str, ConfigError> {
        self.enriched_stream.as_deref().ok_or(ConfigError::Missing(ENRICHED_STREAM))
    }

    /// The quarantine location, or the error naming the variable to set.
    pub fn require_quarantine(&self) -> Result<&QuarantineConfig, ConfigError> {
        self.quarantine.as_ref().ok_or(ConfigError::Missing(QUARANTINE_BUCKET))
    }
}

/// A resource named by a path-or-URL variable or by its `_S3` twin (not both).
fn location(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    s3_name: &'static str,
) -> Result<Option<Location>, ConfigError> {
    let invalid = |name, value: String, problem: &str| ConfigError::Invalid { name, value, problem: problem.into() };
    match (non_empty(get(name)), non_empty(get(s3_name))) {
        (Some(_), Some(value)) => Err(invalid(s3_name, value, &format!("set {name} or {s3_name}, not both"))),
        (Some(value), None) => match Location::parse(&value) {
            Some(l) => Ok(Some(l)),
            None => Err(invalid(name, value, "expected a path or s3://bucket/key")),
        },
        (None, Some(value)) => match Location::parse(&value) {
            Some(l @ Location::S3 { .. }) => Ok(Some(l)),
            _ => Err(invalid(s3_name, value, "expected s3://bucket/key")),
        },
        (None, None) => Ok(None),
    }
}

fn cache_entries(get: &impl Fn(&str) -> Option<String>) -> Result<usize, ConfigError> {
    let Some(value) = non_empty(get(CACHE_ENTRIES)) else {
        return Ok(DEFAULT_CACHE_ENTRIES);
    };
    value.parse::<usize>().map_err(|_| ConfigError::Invalid {
        name: CACHE_ENTRIES,
        value,
        problem: "expected a whole number (0 turns caching off)".into(),
    })
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
    fn given_nothing_set_when_read_then_every_lookup_is_off() {
        let c = EnrichConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!((&c.geo_db, &c.asn_db, &c.service_catalog), (&None, &None, &None));
        assert_eq!(c.cache_entries, DEFAULT_CACHE_ENTRIES);
        assert_eq!(c.require_enriched_stream(), Err(ConfigError::Missing(ENRICHED_STREAM)));
    }

    #[test]
    fn given_paths_and_s3_urls_when_read_then_locations_are_typed() {
        let c = EnrichConfig::from_lookup(lookup(&[
            (ENRICHED_STREAM, "enriched"),
            (GEO_DB, "/opt/GeoLite2-City.mmdb"),
            (ASN_DB_S3, "s3://geo-bucket/GeoLite2-ASN.mmdb"),
            (SERVICE_CATALOG, "s3://cfg/catalog/services.json"),
            (CACHE_ENTRIES, "0"),
            (QUARANTINE_BUCKET, "b"),
        ]))
        .unwrap();
        assert_eq!(c.require_enriched_stream(), Ok("enriched"));
        assert_eq!(c.geo_db, Some(Location::Path("/opt/GeoLite2-City.mmdb".into())));
        assert_eq!(c.asn_db, Some(Location::S3 { bucket: "geo-bucket".into(), key: "GeoLite2-ASN.mmdb".into() }));
        assert_eq!(c.service_catalog.as_ref().unwrap().to_string(), "s3://cfg/catalog/services.json");
        assert_eq!(c.cache_entries, 0);
        assert_eq!(c.require_quarantine().unwrap().prefix, "quarantine/");
        assert!(c.uses_s3());
        assert!(!EnrichConfig::from_lookup(lookup(&[(GEO_DB, "/opt/a.mmdb")])).unwrap().uses_s3());
    }

    #[test]
    fn given_bad_values_when_read_then_the_error_names_the_variable() {
        let err = EnrichConfig::from_lookup(lookup(&[(GEO_DB_S3, "/local/path.mmdb")])).unwrap_err();
        assert!(err.to_string().contains(GEO_DB_S3), "{err}");
        let err = EnrichConfig::from_lookup(lookup(&[(GEO_DB, "s3://bucket-only")])).unwrap_err();
        assert!(err.to_string().contains(GEO_DB), "{err}");
        let err = EnrichConfig::from_lookup(lookup(&[(GEO_DB, "a.mmdb"), (GEO_DB_S3, "s3://b/k")])).unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        let err = EnrichConfig::from_lookup(lookup(&[(CACHE_ENTRIES, "many")])).unwrap_err();
        assert!(err.to_string().contains(CACHE_ENTRIES), "{err}");
    }
}

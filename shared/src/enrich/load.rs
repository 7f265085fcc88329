//! Loading the lookups at init: geo databases and the service catalog, from
//! local files or S3 objects (fetched once). Nothing configured: that lookup is
//! skipped. Configured but unreadable or invalid: init fails with the location
//! and the reason, so a bad deployment shows at once instead of as missing fields.

use aws_sdk_s3::error::DisplayErrorContext;

use crate::config::ConfigError;

use super::catalog::{Catalog, CatalogError};
use super::config::{EnrichConfig, Location};
use super::geo::{Geo, GeoDb};
use super::processor::Enricher;

/// Errors building the enrich function at init.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The configuration is incomplete or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A configured file or S3 object could not be read.
    #[error("cannot read {location}: {message}")]
    Read {
        /// The path or `s3://` URL.
        location: String,
        /// Why.
        message: String,
    },
    /// A geo database is not a valid MaxMind DB file.
    #[error("{location} is not a usable MaxMind DB database: {message}")]
    GeoDb {
        /// The path or `s3://` URL.
        location: String,
        /// The reader's complaint.
        message: String,
    },
    /// The service catalog is invalid.
    #[error("service catalog {location}: {source}")]
    Catalog {
        /// The path or `s3://` URL.
        location: String,
        /// What is wrong with it.
        source: CatalogError,
    },
    /// A resource is in S3 but no S3 client was given to fetch it.
    #[error("{0} is an S3 object but no S3 client is configured")]
    NoS3Client(String),
}

/// The bytes of a file or S3 object.
pub async fn fetch(location: &Location, s3: Option<&aws_sdk_s3::Client>) -> Result<Vec<u8>, EnrichError> {
    let read_error = |message: String| EnrichError::Read { location: location.to_string(), message };
    match location {
        Location::Path(path) => std::fs::read(path).map_err(|e| read_error(e.to_string())),
        Location::S3 { bucket, key } => {
            let client = s3.ok_or_else(|| EnrichError::NoS3Client(location.to_string()))?;
            let object = client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| read_error(DisplayErrorContext(&e).to_string()))?;
            let body = object.body.collect().await.map_err(|e| read_error(e.to_string()))?;
            Ok(body.into_bytes().to_vec())
        }
    }
}

async fn geo_db(location: &Option<Location>, s3: Option<&aws_sdk_s3::Client>) -> Result<Option<GeoDb>, EnrichError> {
    let Some(location) = location else {
        return Ok(None);
    };
    let bytes = fetch(location, s3).await?;
    GeoDb::from_bytes(bytes)
        .map(Some)
        .map_err(|e| EnrichError::GeoDb { location: location.to_string(), message: e.to_string() })
}

impl Enricher {
    /// Loads what `config` names (paths read from disk, `s3://` objects with `s3`).
    pub async fn load(config: &EnrichConfig, s3: Option<&aws_sdk_s3::Client>) -> Result<Self, EnrichError> {
        let geo = Geo { city: geo_db(&config.geo_db, s3).await?, asn: geo_db(&config.asn_db, s3).await? };
        let catalog = match &config.service_catalog {
            Some(location) => {
                let bytes = fetch(location, s3).await?;
                let catalog = Catalog::from_json(&bytes)
                    .map_err(|source| EnrichError::Catalog { location: location.to_string(), source })?;
                Some(catalog)
            }
            None => None,
        };
        tracing::info!(
            geo = geo.city.as_ref().map(|d| d.database_type()).unwrap_or("off"),
            asn = geo.asn.as_ref().map(|d| d.database_type()).unwrap_or("off"),
            services = catalog.as_ref().map_or(0, Catalog::len),
            "enrich lookups loaded"
        );
        Ok(Self { geo, catalog })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::error::NoSuchKey;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn config(catalog: Option<Location>) -> EnrichConfig {
        let mut c = EnrichConfig::from_lookup(|_| None).unwrap();
        c.service_catalog = catalog;
        c
    }

    #[tokio::test]
    async fn given_nothing_configured_when_loaded_then_every_lookup_is_skipped() {
        let e = Enricher::load(&config(None), None).await.unwrap();
        assert!(!e.geo.is_enabled());
        assert!(e.catalog.is_none());
    }

    #[tokio::test]
    async fn given_a_catalog_in_s3_when_loaded_then_it_is_fetched_once() {
        let rule = mock!(aws_sdk_s3::Client::get_object)
            .match_requests(|r| r.bucket() == Some("cfg") && r.key() == Some("services.json"))
            .then_output(|| {
                GetObjectOutput::builder()
                    .body(ByteStream::from_static(br#"{"services":[{"name":"svc-auth","team":"identity"}]}"#))
                    .build()
            });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
        let location = Location::S3 { bucket: "cfg".into(), key: "services.json".into() };
        let e = Enricher::load(&config(Some(location)), Some(&client)).await.unwrap();
        assert_eq!(e.catalog.unwrap().len(), 1);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn given_a_missing_object_or_file_when_loaded_then_init_fails_naming_it() {
        let rule = mock!(aws_sdk_s3::Client::get_object)
            .then_error(|| GetObjectError::NoSuchKey(NoSuchKey::builder().build()));
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
        let location = Location::S3 { bucket: "cfg".into(), key: "gone.json".into() };
        let err = Enricher::load(&config(Some(location.clone())), Some(&client)).await.unwrap_err();
        assert!(err.to_string().contains("s3://cfg/gone.json"), "{err}");
        let err = Enricher::load(&config(Some(location)), None).await.unwrap_err();
        assert!(matches!(err, EnrichError::NoS3Client(_)), "{err}");
        let err =
            Enricher::load(&config(Some(Location::Path("/no/such/catalog.json".into()))), None).await.unwrap_err();
        assert!(err.to_string().contains("/no/such/catalog.json"), "{err}");
    }

    #[tokio::test]
    async fn given_a_file_that_is_not_a_database_when_loaded_then_init_fails() {
        let dir = std::env::temp_dir().join(format!("eddy-enrich-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.mmdb");
        std::fs::write(&path, b"not a database").unwrap();
        let mut c = config(None);
        c.geo_db = Some(Location::Path(path.to_string_lossy().into()));
        let err = Enricher::load(&c, None).await.unwrap_err();
        assert!(matches!(err, EnrichError::GeoDb { .. }), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

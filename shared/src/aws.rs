//! Building AWS SDK clients, once per process (in a function's `main`, never per
//! invocation).
//!
//! Endpoints come only from the standard configuration: `AWS_ENDPOINT_URL` and
//! the per-service `AWS_ENDPOINT_URL_<SERVICE>` variables (or the shared config
//! file). There is no emulator-specific branch: pointing those variables at
//! LocalStack is all local development needs. The one adjustment is that S3
//! clients use path-style addressing when the endpoint is overridden, since a
//! custom endpoint rarely resolves `bucket.host` names.

use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the shared SDK configuration (region, credentials, endpoints, retries)
/// from the environment with the latest behaviour version.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// A Firehose client for `cfg` (endpoint from `AWS_ENDPOINT_URL_FIREHOSE` or `AWS_ENDPOINT_URL`).
pub fn firehose_client(cfg: &SdkConfig) -> aws_sdk_firehose::Client {
    aws_sdk_firehose::Client::new(cfg)
}

/// A DynamoDB client for `cfg` (endpoint from `AWS_ENDPOINT_URL_DYNAMODB` or `AWS_ENDPOINT_URL`).
pub fn dynamodb_client(cfg: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(cfg)
}

/// A Kinesis client for `cfg` (endpoint from `AWS_ENDPOINT_URL_KINESIS` or `AWS_ENDPOINT_URL`).
pub fn kinesis_client(cfg: &SdkConfig) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(cfg)
}

/// An S3 client for `cfg`, with path-style addressing (`endpoint/bucket/key`)
/// when the endpoint is overridden: `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3`
/// set in the environment, or an endpoint URL in `cfg`.
pub fn s3_client(cfg: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(s3_config(cfg, |name| std::env::var(name).ok()).build())
}

/// The S3 client configuration for `cfg`, reading variables with `env`.
fn s3_config(cfg: &SdkConfig, env: impl Fn(&str) -> Option<String>) -> aws_sdk_s3::config::Builder {
    let builder = aws_sdk_s3::config::Builder::from(cfg);
    if s3_endpoint_overridden(cfg.endpoint_url(), env) {
        builder.force_path_style(true)
    } else {
        builder
    }
}

/// Whether S3 requests go to an endpoint other than AWS's default one.
fn s3_endpoint_overridden(cfg_endpoint: Option<&str>, env: impl Fn(&str) -> Option<String>) -> bool {
    cfg_endpoint.is_some()
        || ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
            .iter()
            .any(|name| env(name).is_some_and(|v| !v.trim().is_empty()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
    use aws_sdk_s3::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents, SharedCredentialsProvider};
    use aws_sdk_s3::error::BoxError;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn an_endpoint_in_the_env_or_the_config_counts_as_overridden() {
        assert!(!s3_endpoint_overridden(None, env(&[])));
        assert!(!s3_endpoint_overridden(None, env(&[("AWS_ENDPOINT_URL", "")])));
        assert!(!s3_endpoint_overridden(None, env(&[("AWS_ENDPOINT_URL_KINESIS", "http://x:1")])));
        assert!(s3_endpoint_overridden(None, env(&[("AWS_ENDPOINT_URL", "http://localhost:4566")])));
        assert!(s3_endpoint_overridden(None, env(&[("AWS_ENDPOINT_URL_S3", "http://localhost:4566")])));
        assert!(s3_endpoint_overridden(Some("http://localhost:4566"), env(&[])));
    }

    /// Records the URI of every request about to be sent.
    #[derive(Debug, Clone, Default)]
    struct Uris(Arc<Mutex<Vec<String>>>);

    impl Intercept for Uris {
        fn name(&self) -> &'static str {
            "Uris"
        }

        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            _runtime_components: &RuntimeComponents,
            _cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            self.0.lock().unwrap().push(context.request().uri().to_string());
            Ok(())
        }
    }

    /// The URI (without query) a GetObject of `bucket/key` is sent to by a client built like `s3_client`.
    async fn get_object_uri(endpoint: Option<&str>, vars: &[(&str, &str)]) -> String {
        let mut sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKID", "SECRET", None, None, "test",
            )))
            .http_client(aws_smithy_mocks::create_mock_http_client());
        if let Some(url) = endpoint {
            sdk = sdk.endpoint_url(url);
        }
        let uris = Uris::default();
        let config = s3_config(&sdk.build(), env(vars)).interceptor(uris.clone()).build();
        let client = aws_sdk_s3::Client::from_conf(config);
        // the mock HTTP client answers 418: only the request matters here
        let _ = client.get_object().bucket("eddy-data").key("raw/a.ndjson").send().await;
        let uris = uris.0.lock().unwrap();
        // without the query (`?x-id=GetObject`)
        uris[0].split('?').next().unwrap().to_string()
    }

    #[tokio::test]
    async fn an_overridden_endpoint_uses_path_style_addressing() {
        let uri = get_object_uri(Some("http://localhost:4566"), &[]).await;
        assert_eq!(uri, "http://localhost:4566/eddy-data/raw/a.ndjson");
        // the variable alone (cfg without the endpoint) also switches to path style
        let uri = get_object_uri(None, &[("AWS_ENDPOINT_URL_S3", "http://localhost:4566")]).await;
        assert_eq!(uri, "https://s3.eu-west-1.amazonaws.com/eddy-data/raw/a.ndjson");
    }

    #[tokio::test]
    async fn the_default_endpoint_uses_virtual_host_addressing() {
        let uri = get_object_uri(None, &[]).await;
        assert_eq!(uri, "https://eddy-data.s3.eu-west-1.amazonaws.com/raw/a.ndjson");
    }
}

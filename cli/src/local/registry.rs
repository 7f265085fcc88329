//! The functions the local mapping can run, by their template binary name
//! (`Metadata.BuildProperties.Binary`), each built as its Lambda `main`
//! builds it: configuration from the function's environment (the template's
//! `Environment.Variables`, resolved to local names), SDK clients from the
//! given configuration. Adding a function is adding one entry to [`HANDLERS`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use eddy::archive::Archive;
use eddy::batch::{BatchError, BatchReport, Counts};
use eddy::config::ArchiveConfig;
use eddy::deadline::Deadline;
use eddy::enrich::{Enrich, EnrichConfig};
use eddy::fraud::{Detect, DetectConfig};
use eddy::rules::{Filter, FilterConfig};
use eddy::window::{Aggregate, AggregateConfig};
use futures_util::future::BoxFuture;
use serde_json::Value as Json;

/// What one invocation answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Invocation {
    /// The response, as Lambda would receive it.
    pub response: Json,
    /// The handler's outcome counts.
    pub counts: Counts,
}

/// A function's handler, invoked with the raw Lambda event.
#[async_trait]
pub trait LocalFunction: Send + Sync {
    /// Handles one event (its JSON); an error fails the whole invocation.
    async fn invoke(&self, payload: &[u8], deadline: Deadline) -> Result<Invocation, String>;
}

/// What a handler is built from.
#[derive(Debug, Clone, Copy)]
pub struct BuildContext<'a> {
    /// The function's environment variables.
    pub env: &'a BTreeMap<String, String>,
    /// The SDK configuration its clients are built from.
    pub sdk: &'a SdkConfig,
}

impl BuildContext<'_> {
    /// The environment as the functions' `from_lookup` reads it.
    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| self.env.get(name).cloned()
    }
}

/// Builds a handler (or says why it cannot start).
pub type Builder = for<'a> fn(BuildContext<'a>) -> BoxFuture<'a, Result<Arc<dyn LocalFunction>, String>>;

/// Every function the local mapping knows, by binary name.
pub const HANDLERS: [(&str, Builder); 5] = [
    ("archive", build_archive),
    ("enrich", build_enrich),
    ("filter", build_filter),
    ("aggregate", build_aggregate),
    ("detect", build_detect),
];

/// The builder of `binary`, if the local mapping knows it.
pub fn builder(binary: &str) -> Option<Builder> {
    HANDLERS.iter().find(|(name, _)| *name == binary).map(|(_, build)| *build)
}

/// The binaries the local mapping knows.
pub fn known_binaries() -> Vec<&'static str> {
    HANDLERS.iter().map(|(name, _)| *name).collect()
}

fn build_archive(ctx: BuildContext<'_>) -> BoxFuture<'_, Result<Arc<dyn LocalFunction>, String>> {
    Box::pin(async move {
        let config = ArchiveConfig::from_lookup(ctx.lookup()).map_err(|e| e.to_string())?;
        let app = Archive::with_aws(&config, ctx.sdk).map_err(|e| e.to_string())?;
        Ok(Arc::new(app) as Arc<dyn LocalFunction>)
    })
}

fn build_enrich(ctx: BuildContext<'_>) -> BoxFuture<'_, Result<Arc<dyn LocalFunction>, String>> {
    Box::pin(async move {
        let config = EnrichConfig::from_lookup(ctx.lookup()).map_err(|e| e.to_string())?;
        let app = Enrich::with_aws(&config, ctx.sdk).await.map_err(|e| e.to_string())?;
        Ok(Arc::new(app) as Arc<dyn LocalFunction>)
    })
}

fn build_filter(ctx: BuildContext<'_>) -> BoxFuture<'_, Result<Arc<dyn LocalFunction>, String>> {
    Box::pin(async move {
        let config = FilterConfig::from_lookup(ctx.lookup()).map_err(|e| e.to_string())?;
        let app = Filter::with_aws(&config, ctx.sdk).map_err(|e| e.to_string())?;
        Ok(Arc::new(app) as Arc<dyn LocalFunction>)
    })
}

fn build_aggregate(ctx: BuildContext<'_>) -> BoxFuture<'_, Result<Arc<dyn LocalFunction>, String>> {
    Box::pin(async move {
        let config = AggregateConfig::from_lookup(ctx.lookup()).map_err(|e| e.to_string())?;
        let app = Aggregate::with_aws(config, ctx.sdk).map_err(|e| e.to_string())?;
        Ok(Arc::new(app) as Arc<dyn LocalFunction>)
    })
}

fn build_detect(ctx: BuildContext<'_>) -> BoxFuture<'_, Result<Arc<dyn LocalFunction>, String>> {
    Box::pin(async move {
        let config = DetectConfig::from_lookup(ctx.lookup()).map_err(|e| e.to_string())?;
        let app = Detect::with_aws(config, ctx.sdk).map_err(|e| e.to_string())?;
        Ok(Arc::new(app) as Arc<dyn LocalFunction>)
    })
}

/// The invocation of a handler from its run's `result`: `parts` gives the
/// response for Lambda and the outcome counts; an error fails the invocation.
fn invocation<R, E: std::fmt::Display>(
    result: Result<R, E>,
    parts: impl FnOnce(R) -> (Result<Json, serde_json::Error>, Counts),
) -> Result<Invocation, String> {
    let (response, counts) = parts(result.map_err(|e| e.to_string())?);
    let response = response.map_err(|e| format!("the response does not serialise: {e}"))?;
    Ok(Invocation { response, counts })
}

fn batch_invocation(result: Result<BatchReport, BatchError>) -> Result<Invocation, String> {
    invocation(result, |r| (serde_json::to_value(&r.response), r.counts))
}

#[async_trait]
impl LocalFunction for Archive {
    async fn invoke(&self, payload: &[u8], deadline: Deadline) -> Result<Invocation, String> {
        batch_invocation(self.run(payload, deadline).await)
    }
}

#[async_trait]
impl LocalFunction for Enrich {
    async fn invoke(&self, payload: &[u8], deadline: Deadline) -> Result<Invocation, String> {
        batch_invocation(self.run(payload, deadline).await)
    }
}

#[async_trait]
impl LocalFunction for Filter {
    async fn invoke(&self, payload: &[u8], deadline: Deadline) -> Result<Invocation, String> {
        batch_invocation(self.run(payload, deadline).await)
    }
}

#[async_trait]
impl LocalFunction for Detect {
    async fn invoke(&self, payload: &[u8], deadline: Deadline) -> Result<Invocation, String> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        batch_invocation(self.run(payload, deadline, now_ms).await.map(|report| report.batch))
    }
}

#[async_trait]
impl LocalFunction for Aggregate {
    async fn invoke(&self, payload: &[u8], deadline: Deadline) -> Result<Invocation, String> {
        invocation(self.run(payload, deadline).await, |o| (serde_json::to_value(&o.response), o.counts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_functions_are_known_and_others_are_not() {
        assert_eq!(known_binaries(), ["archive", "enrich", "filter", "aggregate", "detect"]);
        assert!(builder("archive").is_some());
        assert!(builder("transform").is_none());
    }

    #[tokio::test]
    async fn a_function_missing_its_configuration_says_which_variable() {
        let sdk = SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
        let env = BTreeMap::new();
        let build = builder("archive").unwrap();
        let Err(err) = build(BuildContext { env: &env, sdk: &sdk }).await else { panic!("built without config") };
        assert!(err.contains("EDDY_QUARANTINE_BUCKET") || err.contains("EDDY_DELIVERY_STREAM"), "{err}");
    }
}

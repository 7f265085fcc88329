//! A template's function with Kinesis events: its handler (by binary), its
//! timeout and role, its environment resolved to local names, and each event
//! source mapping's settings, on-failure destination and filter criteria.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use eddy::limits::{
    LAMBDA_KINESIS_MAX_BATCH_SIZE, LAMBDA_MAX_BATCHING_WINDOW_SECONDS, LAMBDA_MAX_PARALLELIZATION_FACTOR,
    LAMBDA_MAX_RETRY_ATTEMPTS, LAMBDA_MAX_TIMEOUT_SECONDS, LAMBDA_MAX_TUMBLING_WINDOW_SECONDS,
    LAMBDA_RECORD_AGE_SECONDS,
};
use serde_json::Value as Json;
use yaml_serde::{Mapping, Value};

use super::esm::settings::{EsmSettings, StartingPosition};
use super::intrinsics::{scalar_string, Resolver};
use super::props::{arn_name, Props};
use super::stack::local_name;
use super::template::{Template, TemplateError};
use eddy::rules::Patterns;

/// Lambda's default function timeout (SAM's `Timeout` default), seconds.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 3;
/// Where a Lambda layer's content appears in the function.
pub const LAYER_MOUNT: &str = "/opt/";

/// Where a mapping sends what it gives up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// None: Lambda discards the records (the local mapping logs them).
    None,
    /// An S3 bucket: the failed batch's record, invocation payload included.
    Bucket(String),
    /// An SQS queue: the failed batch's record (coordinates only).
    Queue(String),
    /// A destination the emulators do not run (SNS, Kafka); logged.
    Unsupported(String),
}

/// A function's Kinesis event: its event source mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingSpec {
    /// The event's name in the template (`Raw`, `Enriched`).
    pub event: String,
    /// The source stream's local name.
    pub stream: String,
    /// The mapping's settings.
    pub settings: EsmSettings,
    /// The on-failure destination.
    pub destination: Destination,
}

/// A function with at least one Kinesis event.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// Logical id.
    pub logical_id: String,
    /// Local name (`[prefix-]archive`).
    pub name: String,
    /// `Metadata.BuildProperties.Binary`: which handler runs it.
    pub binary: String,
    /// `Timeout`.
    pub timeout: Duration,
    /// `Role`: the execution role's ARN (the events' `invokeIdentityArn`).
    pub role_arn: String,
    /// `Environment.Variables`, resolved (layer paths under `/opt/` point into the template's folder).
    pub env: BTreeMap<String, String>,
    /// Its Kinesis event source mappings.
    pub mappings: Vec<MappingSpec>,
}

/// Function properties: `Globals.Function` under the function's own (environment variables merged).
fn merged_function_properties(template: &Template, id: &str) -> Mapping {
    let mut merged = template.function_globals.clone();
    let own = &template.resources[id].properties;
    let global_vars = template.function_globals.get("Environment").and_then(|e| e.get("Variables")).cloned();
    for (key, value) in own {
        merged.insert(key.clone(), value.clone());
    }
    if let (Some(Value::Mapping(globals)), Some(Value::Mapping(env))) = (global_vars, merged.get_mut("Environment")) {
        if let Some(Value::Mapping(vars)) = env.get_mut("Variables") {
            for (k, v) in globals {
                vars.entry(k).or_insert(v);
            }
        }
    }
    merged
}

/// The function `id` (local name `name`), if it has a Kinesis event.
pub fn function(
    resolver: &Resolver<'_>,
    template: &Template,
    id: &str,
    name: &str,
) -> Result<Option<FunctionSpec>, TemplateError> {
    let raw = merged_function_properties(template, id);
    let at = format!("Resources.{id}.Properties");
    let Some(Value::Mapping(events)) = raw.get("Events") else { return Ok(None) };
    let mut mappings = Vec::new();
    for (event_name, event) in events {
        let event_name = scalar_string(resolver.eval(event_name, &at)?.as_ref());
        let event_at = format!("{at}.Events.{event_name}");
        let event = resolver.eval_some(event, &event_at)?;
        if event.get("Type").and_then(Json::as_str) != Some("Kinesis") {
            continue;
        }
        let props =
            Props { json: event.get("Properties").unwrap_or(&Json::Null), at: format!("{event_at}.Properties") };
        if props.path(&["Enabled"]).is_some() && !props.bool("Enabled")? {
            continue;
        }
        mappings.push(mapping(&props, event_name)?);
    }
    if mappings.is_empty() {
        return Ok(None);
    }
    let layers = layer_dirs(template, raw.get("Layers"));
    let env = match raw.get("Environment").and_then(|e| e.get("Variables")) {
        None => BTreeMap::new(),
        Some(vars) => environment(resolver, vars, &format!("{at}.Environment.Variables"), &layers)?,
    };
    let metadata = &template.resources[id].metadata;
    let binary = metadata.get("BuildProperties").and_then(|b| b.get("Binary")).and_then(Value::as_str);
    let timeout = match raw.get("Timeout") {
        None => DEFAULT_TIMEOUT_SECONDS,
        Some(value) => {
            let value = resolver.eval_some(value, &format!("{at}.Timeout"))?;
            let seconds = Props { json: &serde_json::json!({ "Timeout": value }), at: at.clone() };
            seconds.in_range("Timeout", DEFAULT_TIMEOUT_SECONDS as i64, 1..=LAMBDA_MAX_TIMEOUT_SECONDS as i64)? as u64
        }
    };
    let role_arn = match raw.get("Role") {
        Some(role) => scalar_string(Some(&resolver.eval_some(role, &format!("{at}.Role"))?)),
        None => resolver.context().arn("AWS::IAM::Role", &format!("{name}-role")),
    };
    Ok(Some(FunctionSpec {
        logical_id: id.to_string(),
        name: name.to_string(),
        role_arn,
        binary: binary.map(str::to_string).unwrap_or_else(|| local_name(id, "AWS::Serverless::Function", None)),
        timeout: Duration::from_secs(timeout),
        env,
        mappings,
    }))
}

/// The folders of the function's layers (`ContentUri` of the template's `AWS::Serverless::LayerVersion`s).
fn layer_dirs(template: &Template, layers: Option<&Value>) -> Vec<PathBuf> {
    let Some(Value::Sequence(layers)) = layers else { return Vec::new() };
    layers
        .iter()
        .filter_map(|layer| match layer {
            Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
            Value::Mapping(m) => m.get("Ref").and_then(Value::as_str),
            _ => None,
        })
        .filter_map(|id| template.resources.get(id))
        .filter_map(|r| r.properties.get("ContentUri").and_then(Value::as_str))
        .map(|uri| template.dir.join(uri))
        .collect()
}

fn environment(
    resolver: &Resolver<'_>,
    vars: &Value,
    at: &str,
    layers: &[PathBuf],
) -> Result<BTreeMap<String, String>, TemplateError> {
    let Some(Json::Object(vars)) = resolver.eval(vars, at)? else {
        return Err(TemplateError::shape(at, "not a mapping"));
    };
    Ok(vars.iter().map(|(k, v)| (k.clone(), in_layers(&scalar_string(Some(v)), layers))).collect())
}

/// A path under `/opt/` (where Lambda mounts layers) as the file in the layer folder that has it.
fn in_layers(value: &str, layers: &[PathBuf]) -> String {
    let Some(relative) = value.strip_prefix(LAYER_MOUNT) else { return value.to_string() };
    let found = layers.iter().map(|dir| dir.join(relative)).find(|p| p.exists());
    match found.or_else(|| layers.first().map(|dir| dir.join(relative))) {
        Some(path) => path.display().to_string(),
        None => value.to_string(),
    }
}

fn mapping(props: &Props<'_>, event: String) -> Result<MappingSpec, TemplateError> {
    let stream_arn = props.text("Stream").ok_or_else(|| props.error("Stream", "missing".into()))?;
    let settings = esm_settings(props)?;
    let destination = match props.path(&["DestinationConfig", "OnFailure", "Destination"]) {
        None => Destination::None,
        Some(arn) => destination(&scalar_string(Some(arn))),
    };
    Ok(MappingSpec { event, stream: stream_name(&stream_arn), settings, destination })
}

/// The stream's name in a stream (or consumer) ARN, or the value itself when it is a name.
fn stream_name(arn: &str) -> String {
    match arn.split_once(":stream/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest).to_string(),
        None => arn.to_string(),
    }
}

fn destination(arn: &str) -> Destination {
    match arn.split(':').nth(2) {
        _ if arn.is_empty() => Destination::None,
        Some("s3") => Destination::Bucket(arn_name(arn).to_string()),
        Some("sqs") => Destination::Queue(arn.rsplit(':').next().unwrap_or(arn).to_string()),
        _ => Destination::Unsupported(arn.to_string()),
    }
}

fn esm_settings(props: &Props<'_>) -> Result<EsmSettings, TemplateError> {
    let defaults = EsmSettings::default();
    let starting_position = match props.text("StartingPosition").as_deref() {
        Some("TRIM_HORIZON") => StartingPosition::TrimHorizon,
        Some("LATEST") => StartingPosition::Latest,
        Some("AT_TIMESTAMP") => {
            let at = props.i64("StartingPositionTimestamp")?;
            StartingPosition::AtTimestamp(
                at.ok_or_else(|| props.error("StartingPositionTimestamp", "missing".into()))? as f64,
            )
        }
        Some(other) => {
            return Err(
                props.error("StartingPosition", format!("{other:?} is not TRIM_HORIZON, LATEST or AT_TIMESTAMP"))
            )
        }
        None => return Err(props.error("StartingPosition", "missing (Kinesis events need one)".into())),
    };
    let retries = props.in_range("MaximumRetryAttempts", -1, -1..=LAMBDA_MAX_RETRY_ATTEMPTS)?;
    let age = props.in_range("MaximumRecordAgeInSeconds", -1, -1..=*LAMBDA_RECORD_AGE_SECONDS.end())?;
    if age != -1 && !LAMBDA_RECORD_AGE_SECONDS.contains(&age) {
        return Err(props.error("MaximumRecordAgeInSeconds", format!("{age}: -1 or {LAMBDA_RECORD_AGE_SECONDS:?}")));
    }
    let window = props.in_range("TumblingWindowInSeconds", 0, 0..=LAMBDA_MAX_TUMBLING_WINDOW_SECONDS as i64)?;
    let response_types = props.path(&["FunctionResponseTypes"]).and_then(Json::as_array);
    Ok(EsmSettings {
        batch_size: props.in_range("BatchSize", defaults.batch_size as i64, 1..=LAMBDA_KINESIS_MAX_BATCH_SIZE as i64)?
            as usize,
        batching_window: Duration::from_secs(props.in_range(
            "MaximumBatchingWindowInSeconds",
            0,
            0..=LAMBDA_MAX_BATCHING_WINDOW_SECONDS as i64,
        )? as u64),
        starting_position,
        report_batch_item_failures: response_types
            .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("ReportBatchItemFailures"))),
        bisect_on_error: props.bool("BisectBatchOnFunctionError")?,
        max_retries: (retries >= 0).then_some(retries as u32),
        max_record_age: (age >= 0).then_some(Duration::from_secs(age as u64)),
        tumbling_window: (window > 0).then_some(Duration::from_secs(window as u64)),
        parallelization_factor: props.in_range("ParallelizationFactor", 1, 1..=LAMBDA_MAX_PARALLELIZATION_FACTOR)?
            as u32,
        filter: filter_criteria(props)?,
    })
}

/// `FilterCriteria.Filters[].Pattern`, parsed; `None` without filters.
fn filter_criteria(props: &Props<'_>) -> Result<Option<Patterns>, TemplateError> {
    let Some(filters) = props.path(&["FilterCriteria", "Filters"]).and_then(Json::as_array) else { return Ok(None) };
    let patterns: Vec<String> =
        filters.iter().filter_map(|f| f.get("Pattern")).map(|p| scalar_string(Some(p))).collect();
    if patterns.is_empty() {
        return Ok(None);
    }
    Patterns::parse(&patterns).map(Some).map_err(|e| props.error("FilterCriteria", e.to_string()))
}

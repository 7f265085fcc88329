//! The local stack: a template's resources resolved to local names and typed
//! settings, ready to be provisioned in the emulators and run.
//!
//! CloudFormation names most resources itself, so local names come from the
//! logical ids: the type's suffix is dropped and the rest kebab-cased
//! (`RawStream` -> `raw`, `ArchiveDeliveryStream` -> `archive`,
//! `FailureQueue` -> `failure`), after `<prefix>-` when a prefix (the stack
//! name) is given. Buckets always carry the stack name (`eddy-data` by
//! default): bucket names are global in AWS. A resource that names itself
//! (`BucketName`, `Name`, ...) keeps that name.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use yaml_serde::Value;

use super::function::function;
pub use super::function::{Destination, FunctionSpec, MappingSpec};
use super::intrinsics::{scalar_string, Context, Physical, Resolver};
use super::props::{arn_name, Props};
use super::template::{Template, TemplateError};

/// The account LocalStack and moto use unless told otherwise.
pub const LOCAL_ACCOUNT: &str = "000000000000";
/// `AWS::StackName` when no prefix is given (and the prefix of bucket names).
pub const DEFAULT_STACK_NAME: &str = "eddy";

/// How to resolve a template into a local stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackOptions {
    /// Prefix of every local name (and `AWS::StackName`); `None` for the plain names.
    pub prefix: Option<String>,
    /// Parameter values overriding the defaults.
    pub parameters: BTreeMap<String, String>,
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId`.
    pub account: String,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self { prefix: None, parameters: BTreeMap::new(), region: "us-east-1".into(), account: LOCAL_ACCOUNT.into() }
    }
}

/// A Kinesis data stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// Logical id.
    pub logical_id: String,
    /// Local name.
    pub name: String,
    /// Shards (provisioned mode).
    pub shards: Option<u32>,
    /// On-demand capacity mode.
    pub on_demand: bool,
}

/// An S3 bucket or an SQS queue: just a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedSpec {
    /// Logical id.
    pub logical_id: String,
    /// Local name.
    pub name: String,
}

/// A DirectPut Firehose delivery stream to S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStreamSpec {
    /// Logical id.
    pub logical_id: String,
    /// Local name.
    pub name: String,
    /// The destination bucket's local name.
    pub bucket: String,
    /// Key prefix of delivered objects.
    pub prefix: Option<String>,
    /// Key prefix of failed deliveries.
    pub error_prefix: Option<String>,
    /// `GZIP`, `UNCOMPRESSED`, ...
    pub compression: Option<String>,
    /// Buffering interval, seconds.
    pub buffer_seconds: Option<i32>,
    /// Buffering size, MB.
    pub buffer_mb: Option<i32>,
    /// The role Firehose writes with.
    pub role_arn: String,
}

/// Key attributes and their roles: (attribute, `HASH` or `RANGE`), or types: (attribute, `S`, `N` or `B`).
pub type KeySchema = Vec<(String, String)>;

/// A global secondary index of a DynamoDB table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// `IndexName`.
    pub name: String,
    /// Its key.
    pub key_schema: KeySchema,
    /// `Projection.ProjectionType` (`ALL`, `KEYS_ONLY`, `INCLUDE`).
    pub projection: String,
}

/// A DynamoDB table's key and TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Logical id.
    pub logical_id: String,
    /// Local name.
    pub name: String,
    /// `KeySchema`: (attribute, `HASH` or `RANGE`).
    pub key_schema: KeySchema,
    /// `AttributeDefinitions`: (attribute, `S`, `N` or `B`).
    pub attributes: KeySchema,
    /// `GlobalSecondaryIndexes`.
    pub indexes: Vec<IndexSpec>,
    /// `ProvisionedThroughput` (read, write), else on-demand.
    pub provisioned: Option<(i64, i64)>,
    /// The TTL attribute, when enabled.
    pub ttl_attribute: Option<String>,
}

/// A template resolved to local names and settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// `AWS::StackName`.
    pub name: String,
    /// The region.
    pub region: String,
    /// The account.
    pub account: String,
    /// Kinesis streams.
    pub streams: Vec<StreamSpec>,
    /// S3 buckets.
    pub buckets: Vec<NamedSpec>,
    /// SQS queues.
    pub queues: Vec<NamedSpec>,
    /// Firehose delivery streams.
    pub delivery_streams: Vec<DeliveryStreamSpec>,
    /// DynamoDB tables.
    pub tables: Vec<TableSpec>,
    /// Functions with Kinesis events.
    pub functions: Vec<FunctionSpec>,
    /// What the local stack leaves out, and why (one line each).
    pub notes: Vec<String>,
}

impl Stack {
    /// Resolves `template` with `options`.
    pub fn resolve(template: &Template, options: &StackOptions) -> Result<Self, TemplateError> {
        let stack_name = stack_name(options.prefix.as_deref())?;
        let parameters = parameter_values(template, &options.parameters)?;
        let mut ctx = Context {
            stack_name: stack_name.clone(),
            region: options.region.clone(),
            account: options.account.clone(),
            parameters,
            resources: BTreeMap::new(),
        };
        ctx.resources = derived_names(template, options.prefix.as_deref());
        ctx.resources = explicit_names(template, &ctx)?;
        let resolver = Resolver::new(template, &ctx);
        let mut stack = Stack {
            name: stack_name,
            region: options.region.clone(),
            account: options.account.clone(),
            streams: Vec::new(),
            buckets: Vec::new(),
            queues: Vec::new(),
            delivery_streams: Vec::new(),
            tables: Vec::new(),
            functions: Vec::new(),
            notes: Vec::new(),
        };
        for (id, resource) in &template.resources {
            if let Some(condition) = &resource.condition {
                if !resolver.condition(condition, &format!("Resources.{id}.Condition"))? {
                    continue;
                }
            }
            stack.add(&resolver, template, id)?;
        }
        Ok(stack)
    }

    /// The function with this local name, logical id or binary.
    pub fn function(&self, name: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.name == name || f.logical_id == name || f.binary == name)
    }

    /// The stream with this logical id.
    pub fn stream(&self, logical_id: &str) -> Option<&StreamSpec> {
        self.streams.iter().find(|s| s.logical_id == logical_id)
    }

    /// The bucket with this logical id.
    pub fn bucket(&self, logical_id: &str) -> Option<&NamedSpec> {
        self.buckets.iter().find(|b| b.logical_id == logical_id)
    }

    fn add(&mut self, resolver: &Resolver<'_>, template: &Template, id: &str) -> Result<(), TemplateError> {
        let resource = &template.resources[id];
        let name = resolver.context().resources[id].name.clone();
        let at = format!("Resources.{id}.Properties");
        let props = resolver.eval_some(&Value::Mapping(resource.properties.clone()), &at)?;
        let props = Props { json: &props, at };
        let (logical_id, named) = (id.to_string(), || NamedSpec { logical_id: id.to_string(), name: name.clone() });
        match resource.kind.as_str() {
            "AWS::Kinesis::Stream" => self.streams.push(StreamSpec {
                logical_id,
                name: name.clone(),
                shards: props.u64("ShardCount")?.map(|n| n as u32),
                on_demand: props.path(&["StreamModeDetails", "StreamMode"]).is_some_and(|m| m == "ON_DEMAND"),
            }),
            "AWS::S3::Bucket" => self.buckets.push(named()),
            "AWS::SQS::Queue" => self.queues.push(named()),
            "AWS::KinesisFirehose::DeliveryStream" => match delivery_stream(&props, id, &name)? {
                Some(spec) => self.delivery_streams.push(spec),
                None => self.notes.push(format!("{id}: only DirectPut delivery streams to S3 are created locally")),
            },
            "AWS::DynamoDB::Table" => self.tables.push(table(&props, id, &name)?),
            "AWS::Serverless::Function" => {
                if let Some(function) = function(resolver, template, id, &name)? {
                    self.functions.push(function);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The stack name: the prefix (lowercase letters, digits, `-`), or [`DEFAULT_STACK_NAME`].
fn stack_name(prefix: Option<&str>) -> Result<String, TemplateError> {
    let Some(prefix) = prefix else { return Ok(DEFAULT_STACK_NAME.to_string()) };
    let valid = !prefix.is_empty()
        && prefix.len() <= 40
        && prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(TemplateError::Parameter {
            name: "--prefix".into(),
            problem: format!(
                "{prefix:?}: use 1 to 40 lowercase letters, digits and '-', starting with a letter (it begins bucket names)"
            ),
        });
    }
    Ok(prefix.to_string())
}

/// Defaults, overridden; an override must name a parameter and meet its constraints.
fn parameter_values(
    template: &Template,
    overrides: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, TemplateError> {
    for (name, value) in overrides {
        let parameter = template.parameters.get(name).ok_or_else(|| TemplateError::Parameter {
            name: name.clone(),
            problem: "the template has no such parameter".into(),
        })?;
        parameter.check(value).map_err(|problem| TemplateError::Parameter { name: name.clone(), problem })?;
    }
    Ok(template
        .parameters
        .iter()
        .filter_map(|(name, p)| overrides.get(name).or(p.default.as_ref()).map(|v| (name.clone(), v.clone())))
        .collect())
}

/// The type suffix dropped from logical ids to make local names.
fn type_suffix(kind: &str) -> &'static str {
    match kind {
        "AWS::Kinesis::Stream" => "Stream",
        "AWS::KinesisFirehose::DeliveryStream" => "DeliveryStream",
        "AWS::S3::Bucket" => "Bucket",
        "AWS::SQS::Queue" => "Queue",
        "AWS::SNS::Topic" => "Topic",
        "AWS::DynamoDB::Table" => "Table",
        "AWS::Serverless::Function" | "AWS::Lambda::Function" => "Function",
        "AWS::IAM::Role" => "Role",
        "AWS::Logs::LogGroup" => "LogGroup",
        "AWS::Serverless::LayerVersion" => "Layer",
        _ => "",
    }
}

/// The local name of a resource: its logical id without the type's suffix,
/// kebab-cased, after `prefix-` (buckets: after the stack name in any case).
pub fn local_name(logical_id: &str, kind: &str, prefix: Option<&str>) -> String {
    let base = match logical_id.strip_suffix(type_suffix(kind)) {
        Some(stem) if !stem.is_empty() => kebab(stem),
        _ => kebab(logical_id),
    };
    match (prefix, kind) {
        (Some(prefix), _) => format!("{prefix}-{base}"),
        (None, "AWS::S3::Bucket") => format!("{DEFAULT_STACK_NAME}-{base}"),
        (None, _) => base,
    }
}

/// `AccessLogs` -> `access-logs`, `S3Data` -> `s3-data`.
fn kebab(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 4);
    let chars: Vec<char> = id.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let after_lower = i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let before_lower = i > 0 && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if after_lower || (before_lower && chars[i - 1].is_ascii_uppercase()) {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out
}

fn derived_names(template: &Template, prefix: Option<&str>) -> BTreeMap<String, Physical> {
    template
        .resources
        .iter()
        .map(|(id, r)| (id.clone(), Physical { kind: r.kind.clone(), name: local_name(id, &r.kind, prefix) }))
        .collect()
}

/// The property naming a resource of `kind` (`BucketName`, ...).
fn name_property(kind: &str) -> Option<&'static str> {
    match kind {
        "AWS::Kinesis::Stream" => Some("Name"),
        "AWS::S3::Bucket" => Some("BucketName"),
        "AWS::SQS::Queue" => Some("QueueName"),
        "AWS::SNS::Topic" => Some("TopicName"),
        "AWS::KinesisFirehose::DeliveryStream" => Some("DeliveryStreamName"),
        "AWS::DynamoDB::Table" => Some("TableName"),
        "AWS::Serverless::Function" | "AWS::Lambda::Function" => Some("FunctionName"),
        _ => None,
    }
}

/// Replaces derived names by the names resources give themselves.
fn explicit_names(template: &Template, ctx: &Context) -> Result<BTreeMap<String, Physical>, TemplateError> {
    let resolver = Resolver::new(template, ctx);
    let mut names = ctx.resources.clone();
    for (id, resource) in &template.resources {
        let Some(property) = name_property(&resource.kind) else { continue };
        let Some(value) = resource.properties.get(property) else { continue };
        let at = format!("Resources.{id}.Properties.{property}");
        if let Some(name) = resolver.eval(value, &at)? {
            if let Some(physical) = names.get_mut(id) {
                physical.name = scalar_string(Some(&name));
            }
        }
    }
    Ok(names)
}

fn delivery_stream(props: &Props<'_>, id: &str, name: &str) -> Result<Option<DeliveryStreamSpec>, TemplateError> {
    let kind = props.text("DeliveryStreamType").unwrap_or_else(|| "DirectPut".into());
    let destination =
        props.path(&["ExtendedS3DestinationConfiguration"]).or(props.path(&["S3DestinationConfiguration"]));
    let (true, Some(destination)) = (kind == "DirectPut", destination) else { return Ok(None) };
    let dest = Props { json: destination, at: format!("Resources.{id}.Properties.ExtendedS3DestinationConfiguration") };
    let bucket_arn = dest.text("BucketARN").ok_or_else(|| dest.error("BucketARN", "missing".into()))?;
    Ok(Some(DeliveryStreamSpec {
        logical_id: id.to_string(),
        name: name.to_string(),
        bucket: arn_name(&bucket_arn).to_string(),
        prefix: dest.text("Prefix"),
        error_prefix: dest.text("ErrorOutputPrefix"),
        compression: dest.text("CompressionFormat"),
        buffer_seconds: dest.i64_at(&["BufferingHints", "IntervalInSeconds"])?.map(|n| n as i32),
        buffer_mb: dest.i64_at(&["BufferingHints", "SizeInMBs"])?.map(|n| n as i32),
        role_arn: dest.text("RoleARN").unwrap_or_default(),
    }))
}

fn key_schema(value: Option<&Json>, at: &str) -> Result<KeySchema, TemplateError> {
    let Some(items) = value.and_then(Json::as_array) else {
        return Err(TemplateError::shape(at, "missing or not a list"));
    };
    items
        .iter()
        .map(|item| match (item.get("AttributeName"), item.get("KeyType").or(item.get("AttributeType"))) {
            (Some(a), Some(k)) => Ok((scalar_string(Some(a)), scalar_string(Some(k)))),
            _ => Err(TemplateError::shape(at, format!("{item} lacks AttributeName or its type"))),
        })
        .collect()
}

fn table(props: &Props<'_>, id: &str, name: &str) -> Result<TableSpec, TemplateError> {
    let at = &props.at;
    let indexes = match props.path(&["GlobalSecondaryIndexes"]).and_then(Json::as_array) {
        None => Vec::new(),
        Some(items) => items
            .iter()
            .map(|index| {
                let name = index.get("IndexName").map(|n| scalar_string(Some(n))).unwrap_or_default();
                let keys = key_schema(index.get("KeySchema"), &format!("{at}.GlobalSecondaryIndexes.{name}"))?;
                let projection = index.pointer("/Projection/ProjectionType").map(|p| scalar_string(Some(p)));
                Ok(IndexSpec { name, key_schema: keys, projection: projection.unwrap_or_else(|| "ALL".into()) })
            })
            .collect::<Result<_, TemplateError>>()?,
    };
    let read = props.i64_at(&["ProvisionedThroughput", "ReadCapacityUnits"])?;
    let write = props.i64_at(&["ProvisionedThroughput", "WriteCapacityUnits"])?;
    let ttl_enabled =
        props.path(&["TimeToLiveSpecification", "Enabled"]).is_some_and(|e| scalar_string(Some(e)) == "true");
    Ok(TableSpec {
        logical_id: id.to_string(),
        name: name.to_string(),
        key_schema: key_schema(props.path(&["KeySchema"]), &format!("{at}.KeySchema"))?,
        attributes: key_schema(props.path(&["AttributeDefinitions"]), &format!("{at}.AttributeDefinitions"))?,
        indexes,
        provisioned: read.zip(write),
        ttl_attribute: props
            .path(&["TimeToLiveSpecification", "AttributeName"])
            .filter(|_| ttl_enabled)
            .map(|a| scalar_string(Some(a))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::esm::settings::StartingPosition;
    use crate::local::function::DEFAULT_TIMEOUT_SECONDS;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    fn repo_template() -> Template {
        Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")).unwrap()
    }

    fn resolve(options: StackOptions) -> Stack {
        Stack::resolve(&repo_template(), &options).unwrap()
    }

    #[test]
    fn local_names_drop_the_type_suffix_and_take_the_prefix() {
        assert_eq!(local_name("RawStream", "AWS::Kinesis::Stream", None), "raw");
        assert_eq!(local_name("ArchiveDeliveryStream", "AWS::KinesisFirehose::DeliveryStream", None), "archive");
        assert_eq!(local_name("DataBucket", "AWS::S3::Bucket", None), "eddy-data");
        assert_eq!(local_name("AccessLogsBucket", "AWS::S3::Bucket", Some("t1")), "t1-access-logs");
        assert_eq!(local_name("FailureQueue", "AWS::SQS::Queue", Some("t1")), "t1-failure");
        assert_eq!(local_name("Stream", "AWS::Kinesis::Stream", None), "stream");
        assert_eq!(local_name("DDBStateTable", "AWS::DynamoDB::Table", None), "ddb-state");
    }

    #[test]
    fn given_the_repository_template_when_resolved_then_the_stack_is_the_deployed_one() {
        let stack = resolve(StackOptions::default());
        let streams: Vec<(&str, Option<u32>)> = stack.streams.iter().map(|s| (s.name.as_str(), s.shards)).collect();
        assert_eq!(streams, [("alerts", Some(1)), ("enriched", Some(1)), ("raw", Some(1)), ("reports", Some(1))]);
        let buckets: Vec<&str> = stack.buckets.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(buckets, ["eddy-access-logs", "eddy-data"]);
        assert_eq!(stack.queues[0].name, "failure");
        let firehose = &stack.delivery_streams[0];
        assert_eq!((firehose.name.as_str(), firehose.bucket.as_str()), ("archive", "eddy-data"));
        assert_eq!(firehose.prefix.as_deref(), Some("raw/!{timestamp:yyyy/MM/dd/HH}/"));
        assert_eq!(firehose.compression.as_deref(), Some("GZIP"));
        let binaries: Vec<&str> = stack.functions.iter().map(|f| f.binary.as_str()).collect();
        assert_eq!(binaries, ["aggregate", "archive", "detect", "enrich", "filter"]);
        let tables: Vec<&str> = stack.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(tables, ["fraud-state"]);
    }

    #[test]
    fn given_the_repository_template_then_each_mapping_has_its_settings_and_destination() {
        let stack = resolve(StackOptions::default());
        let archive = stack.function("archive").unwrap();
        assert_eq!(archive.timeout, Duration::from_secs(60));
        let m = &archive.mappings[0];
        assert_eq!((m.event.as_str(), m.stream.as_str()), ("Raw", "raw"));
        assert_eq!(m.destination, Destination::Bucket("eddy-data".into()));
        let s = &m.settings;
        assert_eq!(
            (s.batch_size, s.batching_window, s.starting_position),
            (1000, Duration::from_secs(1), StartingPosition::TrimHorizon)
        );
        assert!(s.report_batch_item_failures && s.bisect_on_error);
        assert_eq!((s.max_retries, s.max_record_age), (Some(5), Some(Duration::from_secs(21600))));
        assert_eq!(s.tumbling_window, None);
        let aggregate = stack.function("aggregate").unwrap();
        assert_eq!(aggregate.mappings[0].stream, "enriched");
        assert_eq!(aggregate.mappings[0].settings.tumbling_window, Some(Duration::from_secs(60)));
        assert_eq!(aggregate.mappings[0].destination, Destination::Queue("failure".into()));
        let filter = stack.function("filter").unwrap();
        let criteria = filter.mappings[0].settings.filter.as_ref().expect("the filter's FilterCriteria");
        assert!(criteria.matches(br#"{"http":{"status":503}}"#) && !criteria.matches(br#"{"http":{"status":200}}"#));
        assert!(stack.function("archive").unwrap().mappings[0].settings.filter.is_none());
    }

    #[test]
    fn given_the_repository_template_then_environments_name_the_local_resources() {
        let stack = resolve(StackOptions { prefix: Some("t1".into()), ..StackOptions::default() });
        let archive = &stack.function("archive").unwrap().env;
        assert_eq!(archive["EDDY_DELIVERY_STREAM"], "t1-archive");
        assert_eq!(archive["EDDY_QUARANTINE_BUCKET"], "t1-data");
        assert_eq!(archive["EDDY_QUARANTINE_PREFIX"], "quarantine/archive/");
        let enrich = &stack.function("enrich").unwrap().env;
        assert_eq!(enrich["EDDY_ENRICHED_STREAM"], "t1-enriched");
        assert!(!enrich.contains_key("EDDY_GEO_DB_S3"), "AWS::NoValue leaves the variable out: {enrich:?}");
        let filter = &stack.function("filter").unwrap().env;
        assert!(filter["EDDY_RULES_FILE"].ends_with("rules/security.yaml"), "{filter:?}");
        assert!(Path::new(&filter["EDDY_RULES_FILE"]).exists(), "the layer's file: {filter:?}");
        let aggregate = &stack.function("aggregate").unwrap().env;
        assert_eq!(aggregate["EDDY_REPORTS_STREAM"], "t1-reports");
        assert_eq!(aggregate["EDDY_GROUP_BY"], "source,http.status_class");
    }

    #[test]
    fn given_parameter_overrides_then_they_change_the_stack_within_their_constraints() {
        let parameters = [("ShardCount", "2"), ("BatchSize", "50"), ("GeoDbKey", "lookups/geo.mmdb")];
        let options = StackOptions {
            parameters: parameters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..StackOptions::default()
        };
        let stack = resolve(options);
        assert!(stack.streams.iter().all(|s| s.shards == Some(2)));
        assert_eq!(stack.function("enrich").unwrap().mappings[0].settings.batch_size, 50);
        assert_eq!(stack.function("enrich").unwrap().env["EDDY_GEO_DB_S3"], "s3://eddy-data/lookups/geo.mmdb");
        let on_demand = StackOptions {
            parameters: [("StreamMode".to_string(), "ON_DEMAND".to_string())].into(),
            ..StackOptions::default()
        };
        let stack = resolve(on_demand);
        assert!(stack.streams.iter().all(|s| s.on_demand && s.shards.is_none()), "{:?}", stack.streams);

        let bad = |k: &str, v: &str| {
            let options =
                StackOptions { parameters: [(k.to_string(), v.to_string())].into(), ..StackOptions::default() };
            Stack::resolve(&repo_template(), &options).unwrap_err().to_string()
        };
        assert!(bad("ShardCnt", "2").contains("no such parameter"));
        assert!(bad("BatchSize", "0").contains("outside"));
        assert!(bad("StreamMode", "FAST").contains("allowed values"));
        let err =
            Stack::resolve(&repo_template(), &StackOptions { prefix: Some("Bad_Prefix".into()), ..Default::default() });
        assert!(err.unwrap_err().to_string().contains("--prefix"));
    }

    #[test]
    fn given_small_templates_then_tables_unknown_binaries_and_bad_settings_are_handled() {
        let text = r#"
Resources:
  StateTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: sk, AttributeType: N}]
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
  InStream: {Type: AWS::Kinesis::Stream, Properties: {ShardCount: 3}}
  DetectFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: detect}}
    Properties:
      Environment: {Variables: {TABLE: !Ref StateTable}}
      Events:
        In: {Type: Kinesis, Properties: {Stream: !GetAtt InStream.Arn, StartingPosition: LATEST, BatchSize: 10}}
        Api: {Type: Api, Properties: {Path: /, Method: get}}
  OtherFunction:
    Type: AWS::Serverless::Function
    Properties: {Events: {}}
"#;
        let template = Template::parse(text, PathBuf::new()).unwrap();
        let stack = Stack::resolve(&template, &StackOptions::default()).unwrap();
        let table = &stack.tables[0];
        assert_eq!(table.name, "state");
        assert_eq!(table.key_schema, [("pk".into(), "HASH".into()), ("sk".into(), "RANGE".into())]);
        assert_eq!(table.ttl_attribute.as_deref(), Some("expires"));
        assert_eq!(table.provisioned, None);
        assert_eq!(stack.functions.len(), 1, "only functions with a Kinesis event");
        let detect = &stack.functions[0];
        assert_eq!((detect.binary.as_str(), detect.env["TABLE"].as_str()), ("detect", "state"));
        assert_eq!(detect.timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECONDS));
        assert_eq!(detect.mappings[0].settings.starting_position, StartingPosition::Latest);
        assert_eq!(detect.mappings[0].settings.max_retries, None);

        let broken = text.replace("BatchSize: 10", "BatchSize: 20000");
        let err =
            Stack::resolve(&Template::parse(&broken, PathBuf::new()).unwrap(), &StackOptions::default()).unwrap_err();
        assert!(err.to_string().contains("Events.In.Properties.BatchSize: 20000 is outside 1..=10000"), "{err}");
        let broken = text.replace("StartingPosition: LATEST, ", "");
        let err =
            Stack::resolve(&Template::parse(&broken, PathBuf::new()).unwrap(), &StackOptions::default()).unwrap_err();
        assert!(err.to_string().contains("StartingPosition: missing"), "{err}");
    }
}

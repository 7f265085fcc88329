//! `eddy local up`: creates the local stack's buckets, Kinesis streams, SQS
//! queues, Firehose delivery streams (DirectPut to S3) and DynamoDB tables in
//! the emulators, and waits until they are active. Idempotent: what already
//! exists is left as it is and reported as such.
//!
//! Not created locally: KMS keys, IAM roles and policies, log groups, alarms
//! and topics (the emulators do not enforce them, and nothing local uses them).

use std::fmt;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ProvisionedThroughput, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamStatus, DeliveryStreamType, ExtendedS3DestinationConfiguration,
};
use aws_sdk_kinesis::types::{StreamMode, StreamModeDetails, StreamStatus};
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use super::stack::{DeliveryStreamSpec, Stack, StreamSpec, TableSpec};
use super::{Clients, LocalError};

/// How long a new stream or delivery stream may take to become active.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often its status is checked meanwhile.
const ACTIVE_POLL: Duration = Duration::from_millis(200);

/// One resource `up` looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// What it is (`Kinesis stream`, `S3 bucket`, ...).
    pub kind: &'static str,
    /// Its local name.
    pub name: String,
    /// Created now (else it existed).
    pub created: bool,
    /// A detail (shards, destination).
    pub detail: String,
}

impl fmt::Display for Provisioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.created { "created" } else { "exists " };
        write!(f, "{verb} {} {}", self.kind, self.name)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// Creates what `stack` needs that does not exist yet.
pub async fn up(stack: &Stack, clients: &Clients) -> Result<Vec<Provisioned>, LocalError> {
    let mut done = Vec::new();
    for bucket in &stack.buckets {
        done.push(create_bucket(clients, &bucket.name, &stack.region).await?);
    }
    for stream in &stack.streams {
        done.push(create_stream(clients, stream).await?);
    }
    for queue in &stack.queues {
        done.push(create_queue(clients, &queue.name).await?);
    }
    for delivery in &stack.delivery_streams {
        done.push(create_delivery_stream(clients, delivery).await?);
    }
    for table in &stack.tables {
        done.push(create_table(clients, table).await?);
    }
    Ok(done)
}

/// Creates a bucket (with the location constraint outside us-east-1).
pub async fn create_bucket(clients: &Clients, bucket: &str, region: &str) -> Result<Provisioned, LocalError> {
    // us-east-1 answers CreateBucket of a bucket one already owns with a success: ask first
    if clients.s3.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(Provisioned { kind: "S3 bucket", name: bucket.to_string(), created: false, detail: String::new() });
    }
    let mut request = clients.s3.create_bucket().bucket(bucket);
    if !region.is_empty() && region != "us-east-1" {
        let location = BucketLocationConstraint::from(region);
        request = request
            .create_bucket_configuration(CreateBucketConfiguration::builder().location_constraint(location).build());
    }
    let created = match request.send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()) =>
        {
            false
        }
        Err(e) => return Err(LocalError::aws("CreateBucket", bucket, e)),
    };
    Ok(Provisioned { kind: "S3 bucket", name: bucket.to_string(), created, detail: String::new() })
}

async fn create_queue(clients: &Clients, queue: &str) -> Result<Provisioned, LocalError> {
    // CreateQueue succeeds for an existing queue with the same attributes: ask first
    let created = clients.sqs.get_queue_url().queue_name(queue).send().await.is_err();
    if created {
        clients
            .sqs
            .create_queue()
            .queue_name(queue)
            .send()
            .await
            .map_err(|e| LocalError::aws("CreateQueue", queue, e))?;
    }
    Ok(Provisioned { kind: "SQS queue", name: queue.to_string(), created, detail: String::new() })
}

async fn create_stream(clients: &Clients, stream: &StreamSpec) -> Result<Provisioned, LocalError> {
    let mut request = clients.kinesis.create_stream().stream_name(&stream.name);
    let detail = if stream.on_demand {
        let mode = StreamModeDetails::builder().stream_mode(StreamMode::OnDemand).build();
        request = request.stream_mode_details(mode.map_err(|e| LocalError::aws("CreateStream", &stream.name, e))?);
        "on demand".to_string()
    } else {
        let shards = stream.shards.unwrap_or(1);
        request = request.shard_count(shards as i32);
        format!("{shards} shard{}", if shards == 1 { "" } else { "s" })
    };
    let created = match request.send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => false,
        Err(e) => return Err(LocalError::aws("CreateStream", &stream.name, e)),
    };
    wait_until(&stream.name, || async {
        let summary = clients
            .kinesis
            .describe_stream_summary()
            .stream_name(&stream.name)
            .send()
            .await
            .map_err(|e| LocalError::aws("DescribeStreamSummary", &stream.name, e))?;
        Ok(summary.stream_description_summary().is_some_and(|s| s.stream_status() == &StreamStatus::Active))
    })
    .await?;
    Ok(Provisioned { kind: "Kinesis stream", name: stream.name.clone(), created, detail })
}

/// Firehose's `!{namespace:...}` prefix expressions, which LocalStack does
/// not evaluate (it puts objects under `<prefix>YYYY/MM/DD/HH/` itself), removed.
pub fn local_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    let mut rest = prefix;
    while let Some(start) = rest.find("!{") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after.find('}').map_or(after.len(), |e| e + 1);
        rest = after[end..].strip_prefix('/').unwrap_or(&after[end..]);
    }
    out.push_str(rest);
    out
}

async fn create_delivery_stream(clients: &Clients, spec: &DeliveryStreamSpec) -> Result<Provisioned, LocalError> {
    let compression = spec.compression.as_deref().map(CompressionFormat::from);
    let hints =
        BufferingHints::builder().set_interval_in_seconds(spec.buffer_seconds).set_size_in_mbs(spec.buffer_mb).build();
    let prefix = spec.prefix.as_deref().map(local_prefix);
    let destination = ExtendedS3DestinationConfiguration::builder()
        .role_arn(&spec.role_arn)
        .bucket_arn(format!("arn:aws:s3:::{}", spec.bucket))
        .set_prefix(prefix.clone())
        .set_error_output_prefix(spec.error_prefix.as_deref().map(local_prefix))
        .set_compression_format(compression)
        .buffering_hints(hints)
        .build()
        .map_err(|e| LocalError::aws("CreateDeliveryStream", &spec.name, e))?;
    let created = match clients
        .firehose
        .create_delivery_stream()
        .delivery_stream_name(&spec.name)
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(destination)
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => false,
        Err(e) => return Err(LocalError::aws("CreateDeliveryStream", &spec.name, e)),
    };
    wait_until(&spec.name, || async {
        let described = clients
            .firehose
            .describe_delivery_stream()
            .delivery_stream_name(&spec.name)
            .send()
            .await
            .map_err(|e| LocalError::aws("DescribeDeliveryStream", &spec.name, e))?;
        Ok(described
            .delivery_stream_description()
            .is_some_and(|d| d.delivery_stream_status() == &DeliveryStreamStatus::Active))
    })
    .await?;
    let detail = format!("to s3://{}/{}", spec.bucket, prefix.unwrap_or_default());
    Ok(Provisioned { kind: "Firehose delivery stream", name: spec.name.clone(), created, detail })
}

fn key_element(name: &str, key_type: &str) -> Result<KeySchemaElement, LocalError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(KeyType::from(key_type))
        .build()
        .map_err(|e| LocalError::aws("CreateTable", name, e))
}

async fn create_table(clients: &Clients, spec: &TableSpec) -> Result<Provisioned, LocalError> {
    let keys = spec.key_schema.iter().map(|(n, t)| key_element(n, t)).collect::<Result<Vec<_>, _>>()?;
    let attributes = spec
        .attributes
        .iter()
        .map(|(n, t)| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::from(t.as_str()))
                .build()
                .map_err(|e| LocalError::aws("CreateTable", &spec.name, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let throughput = |(read, write): (i64, i64)| {
        ProvisionedThroughput::builder()
            .read_capacity_units(read)
            .write_capacity_units(write)
            .build()
            .map_err(|e| LocalError::aws("CreateTable", &spec.name, e))
    };
    let mut indexes = Vec::new();
    for spec_index in &spec.indexes {
        let keys = spec_index.key_schema.iter().map(|(n, t)| key_element(n, t)).collect::<Result<Vec<_>, _>>()?;
        let projection =
            Projection::builder().projection_type(ProjectionType::from(spec_index.projection.as_str())).build();
        let mut index = GlobalSecondaryIndex::builder()
            .index_name(&spec_index.name)
            .set_key_schema(Some(keys))
            .projection(projection);
        if let Some(p) = spec.provisioned {
            index = index.provisioned_throughput(throughput(p)?);
        }
        indexes.push(index.build().map_err(|e| LocalError::aws("CreateTable", &spec.name, e))?);
    }
    let mut request = clients
        .dynamodb
        .create_table()
        .table_name(&spec.name)
        .set_key_schema(Some(keys))
        .set_attribute_definitions(Some(attributes))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes));
    request = match spec.provisioned {
        Some(p) => request.billing_mode(BillingMode::Provisioned).provisioned_throughput(throughput(p)?),
        None => request.billing_mode(BillingMode::PayPerRequest),
    };
    let created = match request.send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => false,
        Err(e) => return Err(LocalError::aws("CreateTable", &spec.name, e)),
    };
    let mut detail = spec.key_schema.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>().join(", ");
    if let (true, Some(attribute)) = (created, &spec.ttl_attribute) {
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(attribute)
            .enabled(true)
            .build()
            .map_err(|e| LocalError::aws("UpdateTimeToLive", &spec.name, e))?;
        clients
            .dynamodb
            .update_time_to_live()
            .table_name(&spec.name)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| LocalError::aws("UpdateTimeToLive", &spec.name, e))?;
        detail.push_str(&format!("; TTL on {attribute}"));
    }
    Ok(Provisioned { kind: "DynamoDB table", name: spec.name.clone(), created, detail })
}

/// Polls `active` until it says so, for up to [`ACTIVE_TIMEOUT`].
async fn wait_until<F, Fut>(name: &str, active: F) -> Result<(), LocalError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, LocalError>>,
{
    let started = Instant::now();
    while !active().await? {
        if started.elapsed() > ACTIVE_TIMEOUT {
            return Err(LocalError::Aws {
                call: "waiting",
                target: name.to_string(),
                message: format!("not active after {ACTIVE_TIMEOUT:?}"),
            });
        }
        tokio::time::sleep(ACTIVE_POLL).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firehose_prefix_expressions_are_left_to_localstacks_own_hour_folders() {
        assert_eq!(local_prefix("raw/!{timestamp:yyyy/MM/dd/HH}/"), "raw/");
        assert_eq!(
            local_prefix("firehose-errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"),
            "firehose-errors/"
        );
        assert_eq!(local_prefix("plain/"), "plain/");
        assert_eq!(local_prefix("a/!{x"), "a/");
    }
}

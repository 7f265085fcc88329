//! `eddy local`: the whole stack on a laptop, against LocalStack (Kinesis,
//! Firehose, S3, SQS) and moto (DynamoDB), with the functions' real handlers
//! run in-process by a local event source mapping, since the emulators run no
//! Lambda functions here.
//!
//! - [`template`], [`intrinsics`], [`stack`], [`function`]: `template.yaml`
//!   read and resolved to local names and settings, so the local stack is the
//!   deployed one.
//! - [`provision`]: `eddy local up`, creating the stack's resources (idempotent).
//! - [`esm`], [`registry`], [`run`]: `eddy local run`, the event source mapping.
//! - [`put`]: `eddy local put`, a producer into the `raw` stream.

use aws_config::SdkConfig;
use aws_sdk_kinesis::error::DisplayErrorContext;

pub mod esm;
pub mod function;
pub mod intrinsics;
mod props;
pub mod provision;
pub mod put;
pub mod registry;
pub mod run;
pub mod stack;
pub mod template;

pub use stack::{Stack, StackOptions};
pub use template::{Template, TemplateError};

/// Why a local command failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The template cannot be read or resolved.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A call to an emulator failed.
    #[error("{call} {target}: {message}")]
    Aws {
        /// The API call.
        call: &'static str,
        /// What it was about.
        target: String,
        /// The error, with its causes.
        message: String,
    },
    /// A resource the command needs is not in the emulators.
    #[error(
        "{what} does not exist in the emulators: run `eddy local up` first (same --template, --prefix and --parameter)"
    )]
    Missing {
        /// The resource.
        what: String,
    },
    /// A function cannot start (its configuration, its rules...).
    #[error("function {function} cannot start: {message}")]
    Function {
        /// The function.
        function: String,
        /// Why.
        message: String,
    },
    /// Bad input: an option, an input file.
    #[error("{0}")]
    Input(String),
    /// A file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl LocalError {
    /// A failed call `call` about `target` (saying to start the emulators when nothing answered).
    pub fn aws(call: &'static str, target: impl Into<String>, error: impl std::error::Error) -> Self {
        let mut message = DisplayErrorContext(&error).to_string();
        if message.contains("dispatch failure") {
            message.push_str(" (are the emulators running? scripts/emulators.sh start)");
        }
        Self::Aws { call, target: target.into(), message }
    }
}

/// The emulators' clients the local commands use (not the functions': those
/// are built by each function from its own configuration).
#[derive(Debug, Clone)]
pub struct Clients {
    /// Kinesis.
    pub kinesis: aws_sdk_kinesis::Client,
    /// Firehose.
    pub firehose: aws_sdk_firehose::Client,
    /// S3 (path-style for an overridden endpoint).
    pub s3: aws_sdk_s3::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB (endpoint from `AWS_ENDPOINT_URL_DYNAMODB`: moto).
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Clients {
    /// Clients for `sdk` (endpoints from the standard `AWS_ENDPOINT_URL*` variables).
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            kinesis: eddy::aws::kinesis_client(sdk),
            firehose: eddy::aws::firehose_client(sdk),
            s3: eddy::aws::s3_client(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
        }
    }

    /// The ARN and shard ids of `stream`.
    pub async fn stream_shards(&self, stream: &str) -> Result<(String, Vec<String>), LocalError> {
        let summary = self.kinesis.describe_stream_summary().stream_name(stream).send().await.map_err(|e| {
            if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) {
                LocalError::Missing { what: format!("Kinesis stream {stream}") }
            } else {
                LocalError::aws("DescribeStreamSummary", stream, e)
            }
        })?;
        let arn = summary.stream_description_summary().map(|s| s.stream_arn().to_string()).unwrap_or_default();
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = match &token {
                Some(token) => self.kinesis.list_shards().next_token(token),
                None => self.kinesis.list_shards().stream_name(stream),
            };
            let page = request.send().await.map_err(|e| LocalError::aws("ListShards", stream, e))?;
            shards.extend(page.shards().iter().map(|s| s.shard_id().to_string()));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok((arn, shards));
            }
        }
    }

    /// The URL of the queue named `queue`.
    pub async fn queue_url(&self, queue: &str) -> Result<String, LocalError> {
        let out = self.sqs.get_queue_url().queue_name(queue).send().await.map_err(|e| {
            if e.as_service_error().is_some_and(|s| s.is_queue_does_not_exist()) {
                LocalError::Missing { what: format!("SQS queue {queue}") }
            } else {
                LocalError::aws("GetQueueUrl", queue, e)
            }
        })?;
        out.queue_url().map(str::to_string).ok_or_else(|| LocalError::Missing { what: format!("SQS queue {queue}") })
    }
}

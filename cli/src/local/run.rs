//! `eddy local run`: the stack's functions driven from the emulator's shards,
//! one loop per (function's Kinesis event, shard), until Ctrl-C or, with
//! `--until-idle`, until every shard is drained and every window closed.
//! Each function's event source mapping reads with its own iterators, so
//! functions reading the same stream are independent consumers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use eddy::batch::Counts;
use futures_util::future::join_all;

use super::esm::checkpoint::Checkpoints;
use super::esm::destination::{stable_uuid, LogOnFailure, OnFailure, S3OnFailure, SqsOnFailure};
use super::esm::poller::{Control, MappingRuntime, ShardPoller, ShardReport};
use super::esm::shard::{ShardState, ShardStats, Source};
use super::esm::source::KinesisReader;
use super::registry::{builder, known_binaries, BuildContext, LocalFunction};
use super::stack::{Destination, FunctionSpec, MappingSpec, Stack};
use super::{Clients, LocalError};
use crate::local::template::TemplateError;

/// How often `--until-idle` checks whether everything is drained.
const IDLE_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// What `eddy local run` is asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Only these functions (local names, logical ids or binaries); all when empty.
    pub only: Vec<String>,
    /// Stop when every shard is drained and every window closed.
    pub until_idle: bool,
}

/// One mapping ready to run: its runtime and the shards of its stream.
pub struct PlannedMapping {
    /// The runtime (tests may swap its handler before running).
    pub runtime: MappingRuntime,
    /// The source stream's local name.
    pub stream: String,
    /// Where the events say the records come from (the shard id is filled per shard).
    pub source: Source,
    /// The stream's shards.
    pub shards: Vec<String>,
}

/// The mappings of a stack, with their functions built.
pub struct LocalRun {
    /// The mappings.
    pub mappings: Vec<PlannedMapping>,
    /// Functions left out, and why.
    pub skipped: Vec<String>,
}

impl LocalRun {
    /// Builds the functions of `stack` (their SDK clients from `function_sdk`,
    /// as in Lambda) and their mappings (reading and sending failures with `clients`).
    pub async fn plan(
        stack: &Stack,
        clients: &Clients,
        function_sdk: &SdkConfig,
        only: &[String],
    ) -> Result<Self, LocalError> {
        if stack.functions.is_empty() {
            return Err(TemplateError::NoFunction.into());
        }
        for name in only {
            if stack.function(name).is_none() {
                let names: Vec<&str> = stack.functions.iter().map(|f| f.name.as_str()).collect();
                return Err(LocalError::Input(format!(
                    "--function {name}: the stack's functions are {}",
                    names.join(", ")
                )));
            }
        }
        let mut run = LocalRun { mappings: Vec::new(), skipped: Vec::new() };
        for function in &stack.functions {
            if !only.is_empty()
                && !only.iter().any(|n| stack.function(n).is_some_and(|f| f.logical_id == function.logical_id))
            {
                continue;
            }
            let Some(build) = builder(&function.binary) else {
                let why = format!(
                    "{}: binary {:?} is not one the local mapping runs ({}): skipped",
                    function.name,
                    function.binary,
                    known_binaries().join(", ")
                );
                tracing::warn!("{why}");
                run.skipped.push(why);
                continue;
            };
            let handler = build(BuildContext { env: &function.env, sdk: function_sdk })
                .await
                .map_err(|message| LocalError::Function { function: function.name.clone(), message })?;
            for mapping in &function.mappings {
                run.mappings.push(plan_mapping(stack, clients, function, mapping, handler.clone()).await?);
            }
        }
        Ok(run)
    }

    /// Runs every mapping until `control` stops them (or, with `until_idle`,
    /// until everything is drained); reads with `kinesis`, from `checkpoints`
    /// where a shard has one (else from the mapping's starting position).
    pub async fn run(
        self,
        control: Arc<Control>,
        kinesis: &aws_sdk_kinesis::Client,
        until_idle: bool,
        checkpoints: &Checkpoints,
    ) -> RunSummary {
        let mut loops = Vec::new();
        let mut functions: Vec<String> = Vec::new();
        for mapping in self.mappings {
            let runtime = Arc::new(mapping.runtime);
            if !functions.contains(&runtime.function) {
                functions.push(runtime.function.clone());
            }
            for shard in mapping.shards {
                let settings = runtime.settings.clone();
                let saved = checkpoints.get(&runtime.name, &shard).cloned().unwrap_or_default();
                let start = settings.starting_position;
                let after = saved.sequence_number.clone();
                let reader = KinesisReader::new(kinesis.clone(), &mapping.stream, &shard, start, after);
                let source = Source { shard_id: shard, ..mapping.source.clone() };
                let mut state = ShardState::new(settings, source);
                state.resume(&saved);
                let poller = ShardPoller::new(runtime.clone(), Box::new(reader), state);
                let id = control.register();
                let names = (runtime.function.clone(), runtime.name.clone());
                let control = control.clone();
                loops.push(async move { (names, poller.run(control, id).await) });
            }
        }
        let watch = watch_idle(&control, until_idle);
        let (results, ()) = futures_util::future::join(join_all(loops), watch).await;
        summarise(functions, results, self.skipped, checkpoints.clone())
    }
}

async fn watch_idle(control: &Control, until_idle: bool) {
    loop {
        tokio::time::sleep(IDLE_CHECK_INTERVAL).await;
        if control.stopped() || control.all_finished() || (until_idle && control.stop_when_idle()) {
            return;
        }
    }
}

async fn plan_mapping(
    stack: &Stack,
    clients: &Clients,
    function: &FunctionSpec,
    mapping: &MappingSpec,
    handler: Arc<dyn LocalFunction>,
) -> Result<PlannedMapping, LocalError> {
    let (stream_arn, shards) = clients.stream_shards(&mapping.stream).await?;
    let name = format!("{}/{}", function.name, mapping.event);
    let destination = destination(stack, clients, &name, &mapping.destination).await?;
    let function_arn = format!("arn:aws:lambda:{}:{}:function:{}", stack.region, stack.account, function.name);
    Ok(PlannedMapping {
        runtime: MappingRuntime {
            name,
            function: function.name.clone(),
            function_arn,
            handler,
            settings: mapping.settings.clone(),
            timeout: function.timeout,
            destination,
        },
        stream: mapping.stream.clone(),
        source: Source {
            shard_id: String::new(),
            stream_arn,
            region: stack.region.clone(),
            role_arn: function.role_arn.clone(),
        },
        shards,
    })
}

async fn destination(
    stack: &Stack,
    clients: &Clients,
    mapping: &str,
    destination: &Destination,
) -> Result<Arc<dyn OnFailure>, LocalError> {
    Ok(match destination {
        Destination::None => Arc::new(LogOnFailure { why: "the mapping has no on-failure destination".into() }),
        Destination::Unsupported(arn) => {
            Arc::new(LogOnFailure { why: format!("{arn} is not a destination the emulators run (S3 or SQS)") })
        }
        Destination::Bucket(bucket) => {
            Arc::new(S3OnFailure::new(clients.s3.clone(), bucket, stable_uuid(&format!("{}/{mapping}", stack.name))))
        }
        Destination::Queue(queue) => Arc::new(SqsOnFailure::new(clients.sqs.clone(), clients.queue_url(queue).await?)),
    })
}

/// What one function's mappings did over a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionSummary {
    /// The function.
    pub function: String,
    /// Shard loops.
    pub shards: usize,
    /// The handler's outcome counts, over every invocation.
    pub counts: Counts,
    /// The mappings' counters.
    pub stats: ShardStats,
    /// Batches the on-failure destination did not take.
    pub destination_errors: u64,
}

impl FunctionSummary {
    /// Whether the outcomes add up and nothing was lost by the mapping.
    pub fn ok(&self) -> bool {
        self.counts.adds_up() && self.destination_errors == 0 && self.stats.windows_dropped == 0
    }
}

impl fmt::Display for FunctionSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, s) = (&self.counts, &self.stats);
        write!(
            f,
            "{}: {} shard(s), {} invocations, {} records in; items {} = delivered {} + dropped {} + quarantined {} + failed {} ({}); \
             retries {}, bisections {}, partial responses {}, errors {}; on-failure destination: {} batches ({} records)",
            self.function,
            self.shards,
            s.invocations,
            s.records_invoked,
            c.items,
            c.delivered,
            c.dropped,
            c.quarantined,
            c.failed,
            if c.adds_up() { "adds up" } else { "DOES NOT ADD UP" },
            s.retries,
            s.bisections,
            s.partial_responses,
            s.function_errors,
            s.discarded_batches,
            s.discarded_records,
        )?;
        if s.filtered_out > 0 {
            write!(f, "; filtered out {}", s.filtered_out)?;
        }
        if s.windows_closed > 0 || s.windows_dropped > 0 {
            write!(f, "; windows closed {}, dropped {}", s.windows_closed, s.windows_dropped)?;
        }
        if self.destination_errors > 0 {
            write!(f, "; {} batches LOST (the destination failed)", self.destination_errors)?;
        }
        Ok(())
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Per function, in the stack's order.
    pub functions: Vec<FunctionSummary>,
    /// Functions left out.
    pub skipped: Vec<String>,
    /// Shard loops that gave up, with why.
    pub errors: Vec<String>,
    /// Where every shard stopped (the checkpoints given, updated).
    pub checkpoints: Checkpoints,
}

impl RunSummary {
    /// The summary of `function`.
    pub fn function(&self, function: &str) -> Option<&FunctionSummary> {
        self.functions.iter().find(|f| f.function == function)
    }

    /// Whether every loop ran to its end and every function's outcomes add up.
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.functions.iter().all(FunctionSummary::ok)
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for function in &self.functions {
            writeln!(f, "{function}")?;
        }
        for skipped in &self.skipped {
            writeln!(f, "skipped {skipped}")?;
        }
        for error in &self.errors {
            writeln!(f, "error: {error}")?;
        }
        Ok(())
    }
}

fn summarise(
    functions: Vec<String>,
    results: Vec<((String, String), Result<ShardReport, LocalError>)>,
    skipped: Vec<String>,
    checkpoints: Checkpoints,
) -> RunSummary {
    let mut summary = RunSummary {
        functions: functions.into_iter().map(|function| FunctionSummary { function, ..Default::default() }).collect(),
        skipped,
        errors: Vec::new(),
        checkpoints,
    };
    for ((function, mapping), result) in results {
        let Some(total) = summary.functions.iter_mut().find(|f| f.function == function) else { continue };
        total.shards += 1;
        match result {
            Ok(report) => {
                summary.checkpoints.set(&mapping, &report.shard_id, report.checkpoint.clone());
                total.counts.merge(&report.counts);
                total.stats.merge(&report.stats);
                total.destination_errors += report.destination_errors;
            }
            Err(e) => summary.errors.push(format!("{function}: {e}")),
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::{StackOptions, Template};
    use std::path::PathBuf;

    fn plan_of(template: &str, only: &[&str]) -> Result<LocalRun, LocalError> {
        let template = Template::parse(template, PathBuf::new()).unwrap();
        let stack = Stack::resolve(&template, &StackOptions::default()).unwrap();
        let sdk = SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
        let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(LocalRun::plan(&stack, &Clients::new(&sdk), &sdk, &only))
    }

    const UNKNOWN: &str = r#"
Resources:
  InStream: {Type: AWS::Kinesis::Stream}
  TransformFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: transform}}
    Properties:
      Events:
        In: {Type: Kinesis, Properties: {Stream: !GetAtt InStream.Arn, StartingPosition: LATEST}}
"#;

    #[test]
    fn given_a_template_without_functions_then_run_says_there_is_nothing_to_run() {
        let Err(err) = plan_of(
            "Resources:
  S: {Type: AWS::Kinesis::Stream}
",
            &[],
        ) else {
            panic!()
        };
        assert!(err.to_string().contains("no AWS::Serverless::Function with a Kinesis event"), "{err}");
    }

    #[test]
    fn given_an_unknown_binary_then_its_function_is_skipped_with_the_reason() {
        let plan = plan_of(UNKNOWN, &[]).unwrap();
        assert!(plan.mappings.is_empty());
        assert_eq!(plan.skipped.len(), 1);
        assert!(
            plan.skipped[0].contains("binary \"transform\"") && plan.skipped[0].contains("archive, enrich"),
            "{:?}",
            plan.skipped
        );
    }

    #[test]
    fn given_an_unknown_function_name_then_run_lists_the_functions() {
        let Err(err) = plan_of(UNKNOWN, &["nope"]) else { panic!() };
        assert_eq!(err.to_string(), "--function nope: the stack's functions are transform");
    }
}

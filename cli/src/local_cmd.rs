//! `eddy local up | run | put`: the command line of [`eddy_cli::local`].

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use eddy::gen::{Generator, Packing, Scenario};
use eddy_cli::local::esm::checkpoint::Checkpoints;
use eddy_cli::local::esm::poller::{now_ms, Control, POLL_INTERVAL};
use eddy_cli::local::put::{put_generated, put_ndjson, Producer, PutSummary};
use eddy_cli::local::run::{LocalRun, RunSummary};
use eddy_cli::local::{provision, Clients, Stack, StackOptions, Template};

/// The template and how to name its local stack.
#[derive(Debug, Clone, clap::Args)]
pub struct StackArgs {
    /// The SAM template the stack is read from.
    #[arg(long, default_value = "template.yaml")]
    pub template: PathBuf,
    /// Prefix of every local name (the stack's name), to keep stacks apart in shared emulators.
    #[arg(long)]
    pub prefix: Option<String>,
    /// A template parameter, NAME=VALUE (repeatable), like `sam deploy --parameter-overrides`.
    #[arg(long = "parameter", value_name = "NAME=VALUE")]
    pub parameters: Vec<String>,
}

/// `eddy local` subcommands.
#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Creates the stack's streams, buckets, queues, delivery streams and tables in the emulators (idempotent).
    Up {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Runs the functions' real handlers on the emulator's shards, as Lambda's event source mappings would.
    Run {
        #[command(flatten)]
        stack: StackArgs,
        /// Stops when every shard is drained and every window closed (else: Ctrl-C).
        #[arg(long)]
        until_idle: bool,
        /// Runs only this function (local name, logical id or binary; repeatable).
        #[arg(long = "function", value_name = "NAME")]
        functions: Vec<String>,
        /// Where the mappings' checkpoints are kept between runs (default: .eddy-local/<stack>.json).
        #[arg(long)]
        state: Option<PathBuf>,
        /// Ignores the saved checkpoints: every mapping starts at its StartingPosition, as a new one would.
        #[arg(long)]
        from_start: bool,
    },
    /// Puts events into the raw stream: a generated scenario, or an NDJSON file.
    Put(PutArgs),
}

/// Options of `eddy local put`.
#[derive(Debug, clap::Args)]
pub struct PutArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// Generates this scenario (security, clickstream, logs, fraud, iot, ads).
    #[arg(long)]
    scenario: Option<Scenario>,
    /// How many events to generate.
    #[arg(long, default_value_t = 10_000)]
    count: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Writes the generator's ground truth here.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Puts the lines of this NDJSON file (or `-`) instead.
    #[arg(long)]
    input: Option<PathBuf>,
    /// With --input: the field (dotted path) whose value is the partition key (else the line number).
    #[arg(long)]
    partition_key: Option<String>,
    /// KPL-aggregates the events (up to 50 KB per record).
    #[arg(long)]
    kpl: bool,
    /// Sends the events as gzip CloudWatch Logs subscription payloads.
    #[arg(long)]
    cloudwatch: bool,
    /// The stream (logical id or local name); default: RawStream.
    #[arg(long)]
    stream: Option<String>,
}

/// Runs an `eddy local` subcommand.
pub async fn run(command: LocalCommand) -> anyhow::Result<()> {
    let sdk = eddy::aws::load_config().await;
    anyhow::ensure!(
        sdk.endpoint_url().is_some(),
        "eddy local works against the emulators, and AWS_ENDPOINT_URL is not set: \
         run scripts/emulators.sh start and eval \"$(scripts/emulators.sh env)\" (this guards a real account)"
    );
    let clients = Clients::new(&sdk);
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    match command {
        LocalCommand::Up { stack } => {
            let stack = resolve(&stack, &region)?;
            for done in provision::up(&stack, &clients).await? {
                println!("{done}");
            }
            describe(&stack);
        }
        LocalCommand::Run { stack, until_idle, functions, state, from_start } => {
            let stack = resolve(&stack, &region)?;
            let state = state.unwrap_or_else(|| PathBuf::from(".eddy-local").join(format!("{}.json", stack.name)));
            let checkpoints = if from_start { Checkpoints::default() } else { Checkpoints::load(&state)? };
            let plan = LocalRun::plan(&stack, &clients, &sdk, &functions).await?;
            let mappings = plan.mappings.iter().map(|m| format!("{} ({} shards)", m.runtime.name, m.shards.len()));
            eprintln!("eddy local run: {}", mappings.collect::<Vec<_>>().join(", "));
            let summary = run_until_ctrl_c(plan, &clients, until_idle, &checkpoints).await;
            print!("{summary}");
            summary.checkpoints.save(&state)?;
            eprintln!(
                "checkpoints saved to {} (the next run resumes there; --from-start to ignore them)",
                state.display()
            );
            anyhow::ensure!(summary.ok(), "the run did not end cleanly (see above)");
        }
        LocalCommand::Put(args) => {
            let stack = resolve(&args.stack, &region)?;
            let summary = put(&args, &stack, &clients).await?;
            println!(
                "put {} events in {} records ({:.1} MB); {} records failed; {} input lines skipped",
                summary.events,
                summary.records,
                summary.bytes as f64 / 1e6,
                summary.failed,
                summary.skipped.len()
            );
            anyhow::ensure!(summary.failed == 0, "{} records could not be put", summary.failed);
        }
    }
    Ok(())
}

/// Runs the mappings; a first Ctrl-C stops them after the invocations in flight, a second one kills.
async fn run_until_ctrl_c(
    plan: LocalRun,
    clients: &Clients,
    until_idle: bool,
    checkpoints: &Checkpoints,
) -> RunSummary {
    let control = Control::new(POLL_INTERVAL);
    let run = plan.run(control.clone(), &clients.kinesis, until_idle, checkpoints);
    tokio::pin!(run);
    tokio::select! {
        summary = &mut run => return summary,
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("eddy local run: stopping after the invocations in flight (Ctrl-C again to kill)");
    control.stop();
    tokio::select! {
        summary = &mut run => summary,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("eddy local run: killed; the checkpoints of this run are not saved");
            std::process::exit(130)
        }
    }
}

fn resolve(args: &StackArgs, region: &str) -> anyhow::Result<Stack> {
    let template = Template::load(&args.template)?;
    let mut parameters = BTreeMap::new();
    for pair in &args.parameters {
        let (name, value) = pair.split_once('=').with_context(|| format!("--parameter {pair}: expected NAME=VALUE"))?;
        parameters.insert(name.trim().to_string(), value.to_string());
    }
    let options =
        StackOptions { prefix: args.prefix.clone(), parameters, region: region.to_string(), ..StackOptions::default() };
    Ok(Stack::resolve(&template, &options)?)
}

/// Prints the functions and their mappings, and what the local stack leaves out.
fn describe(stack: &Stack) {
    for function in &stack.functions {
        for m in &function.mappings {
            let s = &m.settings;
            println!(
                "function {} ({}) <- {}: batch {} / {:?}, retries {:?}, bisect {}, window {:?}",
                function.name,
                function.binary,
                m.stream,
                s.batch_size,
                s.batching_window,
                s.max_retries,
                s.bisect_on_error,
                s.tumbling_window
            );
        }
    }
    for note in &stack.notes {
        println!("note: {note}");
    }
}

async fn put(args: &PutArgs, stack: &Stack, clients: &Clients) -> anyhow::Result<PutSummary> {
    anyhow::ensure!(!(args.kpl && args.cloudwatch), "--kpl and --cloudwatch exclude each other");
    let packing = match (args.kpl, args.cloudwatch) {
        (true, _) => Packing::Kpl,
        (_, true) => Packing::CloudWatch,
        _ => Packing::Plain,
    };
    let wanted = args.stream.as_deref().unwrap_or("RawStream");
    let stream = stack
        .streams
        .iter()
        .find(|s| s.logical_id == wanted || s.name == wanted)
        .with_context(|| format!("the stack has no stream {wanted} (--stream)"))?;
    let producer = Producer::new(clients.kinesis.clone(), &stream.name, packing);
    match (&args.scenario, &args.input) {
        (Some(_), Some(_)) => anyhow::bail!("--scenario and --input exclude each other"),
        (None, None) => anyhow::bail!("say what to put: --scenario NAME [--count N], or --input FILE.ndjson (or -)"),
        (Some(scenario), None) => {
            let mut generator = Generator::new(*scenario, args.seed, args.count).with_start_ms(now_ms());
            let summary = put_generated(producer, &mut generator).await?;
            if let Some(path) = &args.truth {
                std::fs::write(path, generator.truth().to_json())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            Ok(summary)
        }
        (None, Some(path)) => {
            let key = args.partition_key.as_deref();
            if path.as_os_str() == "-" {
                return Ok(put_ndjson(producer, std::io::stdin().lock(), key, now_ms()).await?);
            }
            let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            Ok(put_ndjson(producer, BufReader::new(file), key, now_ms()).await?)
        }
    }
}

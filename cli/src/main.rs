//! The `eddy` command: run a function's real handler on a Lambda event file
//! (`eddy invoke`), the embedded pipeline (`eddy run`), generated workloads
//! (`eddy gen`), rules tooling (`eddy rules`) and the local stack against the
//! emulators (`eddy local`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The allocator of every Eddy binary (the Lambda functions use it too).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod gen;
mod invoke;
mod local_cmd;
mod rules;
mod run;

/// Eddy: serverless stream processors, run locally.
#[derive(Debug, Parser)]
#[command(name = "eddy", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs one function's handler on a Lambda event JSON file and prints its response.
    Invoke {
        /// The function to run.
        function: invoke::Function,
        /// The Lambda event (SAM-shaped JSON), e.g. events/kinesis-mixed.json.
        #[arg(long)]
        event: PathBuf,
        /// Where local sinks write (when no AWS endpoint and names are configured).
        #[arg(long, default_value = "eddy-out")]
        out: PathBuf,
        /// Runs N warm invocations with in-memory sinks and prints timing on stderr.
        #[arg(long)]
        repeat: Option<usize>,
    },
    /// Runs archive, enrich, filter and aggregate in-process on NDJSON or a generated scenario.
    Run(run::RunArgs),
    /// Generates a scenario's events (NDJSON or Lambda events) and their ground truth.
    Gen(gen::GenArgs),
    /// Writes DESIGN.md's reference batch (a Lambda Kinesis event of access events) to a file.
    ReferenceBatch {
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// How many records.
        #[arg(long, default_value_t = eddy::workload::REFERENCE_RECORDS)]
        records: usize,
        /// Payload bytes per record.
        #[arg(long, default_value_t = eddy::workload::REFERENCE_RECORD_BYTES)]
        record_bytes: usize,
    },
    /// Checks rule files and turns them into Lambda FilterCriteria.
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// The stack in LocalStack and moto: create it, put events, run the functions on its shards.
    Local {
        #[command(subcommand)]
        command: local_cmd::LocalCommand,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // a closed reader ends the command quietly, as for other Unix tools
    sigpipe::reset();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("EDDY_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    match Cli::parse().command {
        Command::Invoke { function, event, out, repeat } => invoke::run(function, &event, &out, repeat).await,
        Command::Rules { command } => rules::run(command),
        Command::Run(args) => run::run(args).await,
        Command::Gen(args) => gen::run(args),
        Command::Local { command } => local_cmd::run(command).await,
        Command::ReferenceBatch { out, records, record_bytes } => {
            let event = eddy::workload::reference_event(records, record_bytes);
            std::fs::write(&out, &event).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            eprintln!("wrote {} ({records} records, {} bytes)", out.display(), event.len());
            Ok(())
        }
    }
}

//! `eddy gen`: writes a generated scenario (NDJSON or Lambda Kinesis event
//! files) and its ground truth.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use eddy::gen::output::{self, Written, CATALOG_FILE, EVENTS_FILE, TRUTH_FILE};
use eddy::gen::{GeneratedEvent, Generator, Packing, Scenario};

/// Options of `eddy gen`.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// The scenario: security, clickstream, logs, fraud, iot or ads.
    #[arg(long)]
    pub scenario: Scenario,
    /// How many events.
    #[arg(long)]
    pub count: u64,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output folder (events.ndjson, truth.json, catalog.json), or `-` for NDJSON on stdout.
    #[arg(long, default_value = "eddy-gen")]
    pub out: String,
    /// Where to write the ground truth when --out is `-` (else not written).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Events per second of event time (iot: the number of devices). Default: the scenario's.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Writes Lambda Kinesis events (OUT/lambda-events/batch-00001.json, ...) instead of NDJSON.
    #[arg(long)]
    pub lambda_events: bool,
    /// Records per Lambda event (with --lambda-events); 6 MB at most in any case.
    #[arg(long, default_value_t = eddy::gen::lambda::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// KPL-aggregates the records (with --lambda-events).
    #[arg(long)]
    pub kpl: bool,
    /// Sends the events as CloudWatch Logs subscription payloads (gzip; with --lambda-events, logs scenario).
    #[arg(long)]
    pub cloudwatch: bool,
}

/// `eddy gen`.
pub fn run(args: GenArgs) -> anyhow::Result<()> {
    let packing = packing(&args)?;
    let mut generator = Generator::new(args.scenario, args.seed, args.count);
    if let Some(rate) = args.rate {
        anyhow::ensure!(rate > 0, "--rate must be at least 1");
        generator = generator.with_rate(rate);
    }
    let started = Instant::now();
    let total = args.count;
    let mut progress = Progress::new(total);
    let events = (&mut generator).inspect(|e: &GeneratedEvent| progress.tick(e.index));

    let (written, dir) = if args.out == "-" {
        anyhow::ensure!(packing.is_none(), "--lambda-events writes files: give --out a folder");
        let stdout = std::io::stdout().lock();
        (output::write_ndjson(events, stdout).context("cannot write to stdout")?, None)
    } else {
        let dir = PathBuf::from(&args.out);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let written = match packing {
            None => {
                let path = dir.join(EVENTS_FILE);
                let file = std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
                output::write_ndjson(events, file).with_context(|| format!("cannot write {}", path.display()))?
            }
            Some(packing) => output::write_lambda_events(events, &dir, packing, args.batch_size)
                .with_context(|| format!("cannot write Lambda events under {}", dir.display()))?,
        };
        (written, Some(dir))
    };
    let elapsed = started.elapsed();
    progress.done();

    let truth = generator.truth();
    let truth_path = match (&dir, &args.truth) {
        (_, Some(path)) => Some(path.clone()),
        (Some(dir), None) => Some(dir.join(TRUTH_FILE)),
        (None, None) => None,
    };
    if let Some(path) = &truth_path {
        write(path, truth.to_json().as_bytes())?;
    }
    if let Some(dir) = &dir {
        write(&dir.join(CATALOG_FILE), eddy::gen::catalog_json().as_bytes())?;
    }
    summary(&args, &written, dir.as_deref(), truth_path.as_deref(), &truth, elapsed.as_secs_f64());
    Ok(())
}

fn packing(args: &GenArgs) -> anyhow::Result<Option<Packing>> {
    anyhow::ensure!(!(args.kpl && args.cloudwatch), "--kpl and --cloudwatch exclude each other");
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    if !args.lambda_events {
        anyhow::ensure!(!args.kpl && !args.cloudwatch, "--kpl and --cloudwatch go with --lambda-events");
        return Ok(None);
    }
    if args.cloudwatch {
        anyhow::ensure!(
            args.scenario == Scenario::Logs,
            "--cloudwatch is for the logs scenario (application and VPC flow logs)"
        );
        return Ok(Some(Packing::CloudWatch));
    }
    Ok(Some(if args.kpl { Packing::Kpl } else { Packing::Plain }))
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// A progress line on stderr every million events.
struct Progress {
    total: u64,
    started: Instant,
    shown: bool,
}

impl Progress {
    fn new(total: u64) -> Self {
        Self { total, started: Instant::now(), shown: false }
    }

    fn tick(&mut self, index: u64) {
        if index > 0 && index % 1_000_000 == 0 {
            let rate = index as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            eprint!("\rgenerated {index} / {} events ({:.0} events/s)", self.total, rate);
            self.shown = true;
        }
    }

    fn done(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

fn summary(
    args: &GenArgs,
    written: &Written,
    dir: Option<&Path>,
    truth_path: Option<&Path>,
    truth: &eddy::gen::GroundTruth,
    seconds: f64,
) {
    let rate = written.events as f64 / seconds.max(1e-9);
    let target = match dir {
        Some(dir) if args.lambda_events => {
            format!("{} Lambda events ({} records) under {}", written.files, written.records, dir.display())
        }
        Some(dir) => dir.join(EVENTS_FILE).display().to_string(),
        None => "stdout".to_string(),
    };
    eprintln!(
        "{} {} events (seed {}), {:.1} MB to {target} in {seconds:.2} s ({rate:.0} events/s)",
        args.scenario,
        written.events,
        args.seed,
        written.bytes as f64 / 1e6,
    );
    if let Some(pack) = &truth.rule_pack {
        let by_rule: Vec<String> = truth.alerts_by_rule.iter().map(|(r, n)| format!("{r} {n}")).collect();
        eprintln!("expected alerts ({pack}): {} events; {}", truth.alert_events, by_rule.join(", "));
    }
    if !truth.incidents.is_empty() {
        let incidents: Vec<String> =
            truth.incidents.iter().map(|(k, i)| format!("{k} {} ({} events)", i.incidents, i.events)).collect();
        eprintln!("incidents: {}", incidents.join(", "));
    }
    if let Some(path) = truth_path {
        eprintln!("truth: {} ({} windows x sources)", path.display(), truth.window_counts.len());
    }
}

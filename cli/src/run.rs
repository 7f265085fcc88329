//! `eddy run`: the whole pipeline in-process, no AWS and no emulator.

use std::borrow::Cow;
use std::io::BufRead;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use eddy::batch::Counts;
use std::collections::BTreeMap;

use eddy::enrich::{EnrichConfig, Enricher};
use eddy::gen::{Generator, GroundTruth, Scenario};
use eddy::limits::{LAMBDA_KINESIS_MAX_BATCH_SIZE, LAMBDA_MAX_TUMBLING_WINDOW_SECONDS};
use eddy::pipeline::parallel::{default_threads, Parallel, Parts};
use eddy::pipeline::run::{RawEvent, Settings, Totals, FUNCTIONS};
use eddy::rules::{mapping_patterns, Format, Patterns, RuleSet};
use eddy::sink::kinesis::check_partition_key;
use eddy::window::AggregateConfig;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

/// The rule packs shipped in `rules/`, built into the binary.
const PACKS: [(&str, &str); 3] = [
    ("security", include_str!("../../rules/security.yaml")),
    ("iot", include_str!("../../rules/iot.yaml")),
    ("logs", include_str!("../../rules/logs.yaml")),
];

/// The pack `eddy run` filters with when nothing says otherwise.
const DEFAULT_PACK: &str = "security";

/// Options of `eddy run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// NDJSON input file, or `-` for standard input.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Output tree (S3-like: archive/, enriched/, alerts/, reports/, late/, quarantine/).
    #[arg(long, default_value = "eddy-out")]
    pub out: PathBuf,
    /// Generate this scenario in-process (security, clickstream, logs, fraud, iot, ads).
    #[arg(long)]
    pub scenario: Option<eddy::gen::Scenario>,
    /// Events to generate.
    #[arg(long, default_value_t = 200_000)]
    pub count: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Rules: a shipped pack (security, iot, logs) or a rule file
    /// (default: the scenario's pack, else security).
    #[arg(long)]
    pub rules: Option<String>,
    /// Service catalog JSON for enrich (else EDDY_SERVICE_CATALOG, else none).
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// MaxMind-format geo database for enrich (else EDDY_GEO_DB, else no geo).
    #[arg(long)]
    pub geo_db: Option<PathBuf>,
    /// Simulated shards per stream.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: u32,
    /// Records per invocation (BatchSize, 1 to 10,000; the default is template.yaml's).
    #[arg(long, default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=LAMBDA_KINESIS_MAX_BATCH_SIZE as i64))]
    pub batch_size: u32,
    /// Tumbling window of the aggregate function, seconds (1 to 900, as Lambda allows).
    #[arg(long, default_value_t = 60,
          value_parser = clap::value_parser!(i64).range(1..=LAMBDA_MAX_TUMBLING_WINDOW_SECONDS as i64))]
    pub window_seconds: i64,
    /// Threads running the functions, each on its own shards (default: the
    /// cores this process may use, at most one per shard; 1 runs everything on one thread).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Give filter every enriched record, as an event source mapping without
    /// FilterCriteria would (by default its mapping has the rules' FilterCriteria,
    /// as deployed: records matching none of them never reach it).
    #[arg(long)]
    pub no_filter_criteria: bool,
    /// The ground truth to compare an `--input` run with (`truth.json` from
    /// `eddy gen`; by default the one beside the input file, if there is one).
    #[arg(long)]
    pub truth: Option<PathBuf>,
}

/// `eddy run`: the pipeline on the chosen input, then the summary (and, for
/// a generated scenario or an input with a ground truth, the comparison with it).
pub async fn run(mut args: RunArgs) -> anyhow::Result<()> {
    let threads = args.threads.map_or_else(default_threads, |n| n as usize);
    args.threads = Some(threads.min(args.shards as usize) as u32);
    if let Some(scenario) = args.scenario {
        return run_scenario(&mut args, scenario).await;
    }
    let Some(input) = args.input.clone() else {
        anyhow::bail!("say what to run on: --scenario NAME [--count N], or --input FILE.ndjson (or -)");
    };
    let truth_path = args.truth.clone().or_else(|| truth_beside(&input));
    // read now when it is there (its scenario sets the defaults); a truth still
    // being written by `eddy gen ... --out - --truth FILE | eddy run --input -` is read at the end
    let early = match &truth_path {
        Some(path) if path.is_file() => Some(read_truth(path)?),
        Some(path) if input != Path::new("-") => anyhow::bail!("no ground truth at {}", path.display()),
        _ => None,
    };
    if let Some(truth) = &early {
        let beside = input.parent().map(|dir| dir.join(eddy::gen::output::CATALOG_FILE)).filter(|c| c.is_file());
        use_scenario_defaults(&mut args, truth.scenario, beside)?;
    }
    args.rules.get_or_insert_with(|| DEFAULT_PACK.to_string());
    let events = ndjson_events(&input)?;
    let (totals, elapsed) = run_events(&args, events, None).await?;
    print_summary(&args, &totals, elapsed);
    check_outcomes(&totals)?;
    let truth = match (early, &truth_path) {
        // from standard input, the generator feeding the pipe writes (or rewrites an
        // older) truth as it ends: compare with the file as it is now
        (_, Some(path)) if input == Path::new("-") => read_truth(path)?,
        (Some(truth), _) => truth,
        (None, Some(path)) => read_truth(path)?,
        (None, None) => return Ok(()),
    };
    if let Some(path) = &truth_path {
        println!("ground truth: {}", path.display());
    }
    compare_with_truth(&args, &totals, &truth)
}

async fn run_scenario(args: &mut RunArgs, scenario: Scenario) -> anyhow::Result<()> {
    if args.input.is_some() {
        anyhow::bail!("--scenario and --input exclude each other");
    }
    if args.truth.is_some() {
        anyhow::bail!("--truth goes with --input: a generated scenario brings its own ground truth");
    }
    use_scenario_defaults(args, scenario, None)?;
    let mut generator = Generator::new(scenario, args.seed, args.count);
    let events = generator
        .by_ref()
        .map(|e| Ok(RawEvent { partition_key: e.partition_key, data: e.data, arrival_ms: e.time_ms }));
    let (totals, elapsed) = run_events(args, events, Some(args.count)).await?;
    let truth = generator.truth();
    std::fs::write(args.out.join(eddy::gen::output::TRUTH_FILE), truth.to_json())?;
    print_summary(args, &totals, elapsed);
    check_outcomes(&totals)?;
    compare_with_truth(args, &totals, &truth)
}

/// What a scenario's run needs unless told otherwise: the scenario's rule
/// pack, and for scenarios whose rules read the service catalog, `catalog`
/// (the one `eddy gen` wrote) or else the generator's own, written under `--out`.
fn use_scenario_defaults(args: &mut RunArgs, scenario: Scenario, catalog: Option<PathBuf>) -> anyhow::Result<()> {
    if args.rules.is_none() {
        args.rules = Some(scenario.rule_pack().map_or(DEFAULT_PACK, pack_name).to_string());
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    if scenario.needs_catalog() && args.catalog.is_none() {
        args.catalog = Some(match catalog {
            Some(path) => path,
            None => {
                let path = args.out.join(eddy::gen::output::CATALOG_FILE);
                std::fs::write(&path, eddy::gen::catalog_json())?;
                path
            }
        });
    }
    Ok(())
}

/// The `truth.json` that `eddy gen` wrote beside `input`, if there is one.
fn truth_beside(input: &Path) -> Option<PathBuf> {
    if input == Path::new("-") {
        return None;
    }
    let path = input.parent()?.join(eddy::gen::output::TRUTH_FILE);
    path.is_file().then_some(path)
}

/// Reads a ground truth written by `eddy gen`.
fn read_truth(path: &Path) -> anyhow::Result<GroundTruth> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the ground truth {}", path.display()))?;
    GroundTruth::from_json(&text)
        .with_context(|| format!("{} is not a ground truth written by `eddy gen`", path.display()))
}

/// `rules/security.yaml` -> `security`.
fn pack_name(path: &str) -> &str {
    path.rsplit('/').next().and_then(|f| f.strip_suffix(".yaml")).unwrap_or(path)
}

/// Prints precision and recall per rule and the report counts against the
/// truth; fails when they disagree.
fn compare_with_truth(args: &RunArgs, totals: &Totals, truth: &GroundTruth) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let pack_matches = truth.rule_pack.as_deref().map(pack_name) == args.rules.as_deref().map(pack_name);
    if truth.rules.is_empty() || !pack_matches {
        println!("ground truth: no alerts predicted for these rules (scenario {})", truth.scenario.name());
    } else {
        println!(
            "ground truth: alerts expected vs raised (ids {}complete)",
            if truth.alert_ids_complete() { "" } else { "in-" }
        );
        println!("  {:<32} {:>9} {:>9} {:>9} {:>7}", "rule", "expected", "raised", "precision", "recall");
        for rule in &truth.rules {
            let expected = truth.alerts_by_rule.get(rule).copied().unwrap_or(0);
            let raised = totals.alerts_by_rule.get(rule).copied().unwrap_or(0);
            let ids = totals.alert_ids_by_rule.get(rule).map(Vec::as_slice).unwrap_or_default();
            let score = truth.score(Some(rule), ids.iter().map(String::as_str));
            println!("  {rule:<32} {expected:>9} {raised:>9} {:>9.3} {:>7.3}", score.precision(), score.recall());
            if expected != raised || !score.is_exact() {
                problems.push(format!("rule {rule}: expected {expected} alerts, raised {raised}"));
            }
        }
    }
    let produced = report_counts_by_window(totals);
    let mut mismatched = 0;
    for ((start_ms, source), expected) in &truth.window_counts {
        let got = produced.get(&(*start_ms, source.clone())).copied().unwrap_or(0);
        if got != *expected {
            mismatched += 1;
        }
    }
    let expected_total: u64 = truth.window_counts.values().sum();
    let produced_total: u64 = produced.values().sum();
    println!(
        "ground truth: report counts per (window, source): {} expected, {} mismatched; events {} expected, {} reported",
        truth.window_counts.len(),
        mismatched,
        expected_total,
        produced_total
    );
    if mismatched > 0 || expected_total != produced_total {
        problems.push(format!("{mismatched} report counts differ from the truth"));
    }
    if problems.is_empty() {
        println!("ground truth: all agree");
        return Ok(());
    }
    if truth.scenario.needs_catalog() && args.catalog.is_none() {
        problems.push(format!(
            "the {} scenario's rules read the service catalog, and this run had none: give it --catalog \
             (`eddy gen --out DIR` writes DIR/catalog.json)",
            truth.scenario.name()
        ));
    }
    anyhow::bail!("the run disagrees with the ground truth: {}", problems.join("; "))
}

/// The reports' counts per (truth window start, source); buckets are parsed from RFC 3339.
fn report_counts_by_window(totals: &Totals) -> BTreeMap<(i64, String), u64> {
    let mut out = BTreeMap::new();
    for ((bucket, source), n) in &totals.report_counts {
        let Ok(start) = chrono::DateTime::parse_from_rfc3339(bucket) else { continue };
        let start_ms = start.timestamp_millis().div_euclid(eddy::gen::WINDOW_MS) * eddy::gen::WINDOW_MS;
        *out.entry((start_ms, source.clone())).or_default() += n;
    }
    out
}

/// Fails the command when a function's outcomes do not add up, records
/// failed, or records of `enriched` (one per event enrich delivered) did not
/// all reach filter (or its FilterCriteria) and aggregate.
fn check_outcomes(totals: &Totals) -> anyhow::Result<()> {
    for (name, c) in [
        ("archive", &totals.archive),
        ("enrich", &totals.enrich),
        ("filter", &totals.filter),
        ("aggregate", &totals.aggregate),
    ] {
        if !c.adds_up() {
            anyhow::bail!("{name}: outcomes do not add up: {c:?}");
        }
        if c.failed > 0 {
            anyhow::bail!("{name}: {} items failed to reach their sinks", c.failed);
        }
    }
    let enriched = totals.enrich.delivered as u64;
    let filter_saw = totals.filter.records as u64 + totals.filtered_out;
    if filter_saw != enriched || totals.aggregate.records as u64 != enriched {
        anyhow::bail!(
            "the enriched stream's {enriched} records did not all arrive: filter got {} and its FilterCriteria \
             kept {}, aggregate got {}",
            totals.filter.records,
            totals.filtered_out,
            totals.aggregate.records
        );
    }
    Ok(())
}

/// Runs the pipeline on `events`, printing progress and the summary; returns the totals.
pub async fn run_events(
    args: &RunArgs,
    events: impl Iterator<Item = anyhow::Result<RawEvent>>,
    expected: Option<u64>,
) -> anyhow::Result<(Totals, Duration)> {
    let threads = args.threads.unwrap_or(1) as usize;
    let rules = load_rules(args.rules.as_deref().unwrap_or(DEFAULT_PACK))?;
    let aggregate = AggregateConfig::from_env()?;
    let enricher = Arc::new(load_enricher(args).await?);
    let parts = (0..threads)
        .map(|_| Parts { enricher: enricher.clone(), rules: rules.clone(), aggregate: aggregate.clone() })
        .collect();
    let settings = Settings {
        shards: args.shards,
        batch_size: args.batch_size as usize,
        window_seconds: args.window_seconds,
        out: args.out.clone(),
        filter_criteria: filter_criteria(&rules, args.no_filter_criteria),
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut pipeline = Parallel::new(settings, parts)?;
    let bar = progress(expected);
    let start = Instant::now();
    for (n, event) in events.enumerate() {
        pipeline.push(event?).await?;
        if n % 4096 == 0 {
            bar.set_position(n as u64);
        }
    }
    let totals = pipeline.finish().await?;
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Ok((totals, elapsed))
}

/// The progress shown on standard error while the pipeline runs (indicatif
/// draws nothing when it is not a terminal): a bar for long generated runs,
/// a counter for input of unknown length, nothing for short generated runs.
fn progress(expected: Option<u64>) -> ProgressBar {
    let (bar, template) = match expected {
        Some(n) if n >= 100_000 => (ProgressBar::new(n), "{bar:40} {human_pos}/{human_len} events, {rate} eta {eta}"),
        Some(_) => return ProgressBar::hidden(),
        None => (ProgressBar::new_spinner(), "{spinner} {human_pos} events, {rate}"),
    };
    // events per second as a whole number (indicatif's `per_sec` shows four decimals)
    let rate = |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{}/s", indicatif::HumanCount(state.per_sec() as u64));
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.with_key("rate", rate));
    }
    bar
}

/// The FilterCriteria of filter's mapping: the rules' as deployed (`eddy
/// rules filter-criteria`), none with `--no-filter-criteria` or when the
/// rules have none (then said, with the reason).
fn filter_criteria(rules: &RuleSet, off: bool) -> Option<Patterns> {
    if off {
        return None;
    }
    mapping_patterns(rules)
        .inspect_err(|e| eprintln!("filter: no FilterCriteria, every enriched record reaches it: {e}"))
        .ok()
}

/// Reads a shipped pack by name, or a rule file.
fn load_rules(name: &str) -> anyhow::Result<RuleSet> {
    if let Some((_, text)) = PACKS.iter().find(|(pack, _)| *pack == name) {
        return RuleSet::parse(text, Format::Yaml).with_context(|| format!("the shipped rule pack {name}"));
    }
    RuleSet::load(Path::new(name)).map_err(|e| anyhow::anyhow!("{e} (shipped packs: security, iot, logs)"))
}

async fn load_enricher(args: &RunArgs) -> anyhow::Result<Enricher> {
    let mut config = EnrichConfig::from_env()?;
    let set = |v: &Option<PathBuf>| v.as_ref().map(|p| p.display().to_string());
    let lookup = |key: &str| -> Option<String> {
        match key {
            eddy::enrich::config::SERVICE_CATALOG => set(&args.catalog),
            eddy::enrich::config::GEO_DB => set(&args.geo_db),
            _ => None,
        }
    };
    let overrides = EnrichConfig::from_lookup(lookup)?;
    if overrides.service_catalog.is_some() {
        config.service_catalog = overrides.service_catalog;
    }
    if overrides.geo_db.is_some() {
        config.geo_db = overrides.geo_db;
    }
    Ok(Enricher::load(&config, None).await?)
}

#[derive(Deserialize)]
struct Keys<'a> {
    #[serde(borrow, default)]
    user: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    device_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
}

/// NDJSON lines as raw events: the partition key is the line's `user`,
/// `device_id` or `id`, the first that Kinesis takes as a key (else the line
/// number), the arrival its RFC 3339 `time` (else now). Lines are bytes, as
/// Kinesis records are: a line that is not JSON, or not even UTF-8, still goes
/// in, and the decoders quarantine it with its reason.
pub fn ndjson_events(input: &Path) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<RawEvent>>>> {
    let reader: Box<dyn BufRead> = if input == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, file))
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    Ok(Box::new(eddy_cli::ndjson::lines(reader).map(move |(n, line)| match line {
        Ok(line) => Ok(raw_event(n, line, now_ms)),
        Err(e) => Err(anyhow::anyhow!("reading line {}: {e}", n + 1)),
    })))
}

/// One NDJSON line (number `n`, from 0) as the record a producer would put.
fn raw_event(n: usize, line: Vec<u8>, now_ms: i64) -> RawEvent {
    let keys: Option<Keys<'_>> = serde_json::from_slice(&line).ok();
    let partition_key = keys
        .as_ref()
        .and_then(|k| [&k.user, &k.device_id, &k.id].into_iter().flatten().find(|key| check_partition_key(key).is_ok()))
        .map(|key| key.to_string())
        .unwrap_or_else(|| format!("line-{n}"));
    let arrival_ms = keys
        .as_ref()
        .and_then(|k| k.time.as_deref())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
        .unwrap_or(now_ms);
    RawEvent { partition_key, data: line, arrival_ms }
}

/// Prints what the run did: outcomes per function (adding up), alerts per rule,
/// the last report's top rows, throughput.
pub fn print_summary(args: &RunArgs, totals: &Totals, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!(
        "eddy run: {} events in {:.2} s ({:.0} events/s), {} shards, batch {}, window {} s, {} thread{}",
        totals.events_in,
        secs,
        totals.events_in as f64 / secs,
        args.shards,
        args.batch_size,
        args.window_seconds,
        args.threads.unwrap_or(1),
        if args.threads.unwrap_or(1) == 1 { "" } else { "s" }
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>8}  adds up",
        "function", "records", "items", "delivered", "dropped", "quarantined", "failed"
    );
    for (name, c) in [
        ("archive", &totals.archive),
        ("enrich", &totals.enrich),
        ("filter", &totals.filter),
        ("aggregate", &totals.aggregate),
    ] {
        print_counts(name, c);
    }
    if !totals.rejected.is_empty() {
        let refused: Vec<String> = totals.rejected.iter().map(|(r, n)| format!("{r}: {n}")).collect();
        println!("refused by Kinesis PutRecords, kept under rejected/: {}", refused.join(", "));
    }
    print_filter_criteria(totals);
    let dropped: Vec<String> = totals.filter.dropped_by_reason.iter().map(|(r, n)| format!("{r}: {n}")).collect();
    if !dropped.is_empty() {
        println!("filter dropped: {}", dropped.join(", "));
    }
    println!("alerts per rule:");
    if totals.alerts_by_rule.is_empty() {
        println!("  (none)");
    }
    for (rule, n) in &totals.alerts_by_rule {
        println!("  {rule:<32} {n:>8}");
    }
    println!("reports written: {}; last report, top rows:", totals.reports_written);
    for line in totals.last_report.iter().take(5) {
        let short: String = line.chars().take(160).collect();
        println!("  {short}{}", if line.len() > 160 { " ..." } else { "" });
    }
    print_cpu(totals);
    println!("output: {}/{{archive,enriched,alerts,reports,late,quarantine,rejected}}", args.out.display());
}

/// What filter's FilterCriteria kept from it (the records of `enriched` its
/// mapping read that match no pattern), or that it had none.
fn print_filter_criteria(totals: &Totals) {
    if totals.filter_patterns == 0 {
        println!("filter's mapping: no FilterCriteria, every enriched record reached it");
        return;
    }
    println!(
        "filter's mapping: {} of {} enriched records matched none of its {} FilterCriteria patterns; \
         Lambda drops them before invoking",
        totals.filtered_out,
        totals.filtered_out + totals.filter.records as u64,
        totals.filter_patterns
    );
}

/// The run's CPU rates (none with no events) and its peak memory.
fn print_cpu(totals: &Totals) {
    if totals.events_in > 0 {
        print_rates(totals);
    }
    if let Some(peak) = eddy::measure::peak_resident_bytes() {
        println!("peak memory: {:.1} MB resident", peak as f64 / 1048576.0);
    }
}

/// CPU time per function per event, split into the function's own work and
/// that of the local stand-ins for what AWS does (the sinks standing in for
/// Firehose, Kinesis and S3: gzip, files; filter's mapping applying its
/// FilterCriteria), and the throughput per core both make through archive +
/// enrich + filter and through all four.
fn print_rates(totals: &Totals) {
    let events = totals.events_in as f64;
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / events;
    let own = totals.handler_cpu();
    let mut local = totals.cpu;
    local[2] += totals.criteria_cpu;
    let parts: Vec<String> = FUNCTIONS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let criteria = match (i, totals.filter_patterns) {
                (2, 1..) => format!(" + {:.2} FilterCriteria", per_event(totals.criteria_cpu)),
                _ => String::new(),
            };
            format!(
                "{name} {:.2} us/event ({:.2} own + {:.2} local sinks{criteria})",
                per_event(local[i]),
                per_event(own[i]),
                per_event(totals.sink_cpu[i])
            )
        })
        .collect();
    println!("cpu time: {}", parts.join(", "));
    let rate = |d: &[Duration]| events / d.iter().sum::<Duration>().as_secs_f64().max(1e-9);
    println!(
        "throughput per core, the functions' own work: {:.0} events/s through archive + enrich + filter, {:.0} through all four",
        rate(&own[..3]),
        rate(&own)
    );
    println!(
        "throughput per core, with AWS's part done locally: {:.0} events/s through archive + enrich + filter, {:.0} through all four",
        rate(&local[..3]),
        rate(&local)
    );
}

fn print_counts(name: &str, c: &Counts) {
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>8}  {}",
        name,
        c.records,
        c.items,
        c.delivered,
        c.dropped,
        c.quarantined,
        c.failed,
        if c.adds_up() { "yes" } else { "NO" }
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines_get_a_partition_key_kinesis_takes_and_lose_the_files_byte_order_mark() {
        let long = "x".repeat(257);
        let lines = [
            "\u{feff}{\"user\":\"u-1\",\"id\":\"e0\"}".to_string(),
            r#"{"user":"","id":"e1"}"#.to_string(),
            format!(r#"{{"user":"{long}","device_id":"d-2"}}"#),
            format!(r#"{{"user":"{long}"}}"#),
            "not json".to_string(),
        ];
        let path = std::env::temp_dir().join(format!("eddy-run-keys-{}.ndjson", std::process::id()));
        std::fs::write(&path, lines.join("\n")).unwrap();
        let events: Vec<RawEvent> = ndjson_events(&path).unwrap().map(Result::unwrap).collect();
        std::fs::remove_file(&path).unwrap();
        let keys: Vec<&str> = events.iter().map(|e| e.partition_key.as_str()).collect();
        assert_eq!(keys, ["u-1", "e1", "d-2", "line-3", "line-4"]);
        assert!(events[0].data.starts_with(b"{"), "the file's byte order mark is not part of the first record");
    }

    /// Counts of `n` records, all delivered.
    fn delivered(n: usize) -> Counts {
        Counts { records: n, items: n, delivered: n, ..Counts::default() }
    }

    #[test]
    fn given_enriched_records_missing_between_stages_then_the_outcome_check_fails_and_names_them() {
        let mut totals = Totals {
            archive: delivered(10),
            enrich: delivered(10),
            filter: Counts { records: 3, items: 3, delivered: 1, dropped: 2, ..Counts::default() },
            filtered_out: 7,
            aggregate: delivered(10),
            ..Totals::default()
        };
        check_outcomes(&totals).unwrap();

        totals.filtered_out = 6;
        let err = check_outcomes(&totals).unwrap_err().to_string();
        assert!(err.contains("enriched stream's 10 records did not all arrive: filter got 3"), "{err}");
        totals.filtered_out = 7;
        totals.aggregate = delivered(9);
        let err = check_outcomes(&totals).unwrap_err().to_string();
        assert!(err.contains("aggregate got 9"), "{err}");
    }
}

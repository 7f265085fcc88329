//! `eddy invoke FUNCTION --event FILE`: the function's real handler on one
//! Lambda event, like `sam local invoke -e` without Docker. With the function's
//! names configured (e.g. `EDDY_DELIVERY_STREAM`), it sends to AWS or to the
//! endpoint in `AWS_ENDPOINT_URL`; otherwise sinks write under `--out`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use eddy::archive::Archive;
use eddy::config::ArchiveConfig;
use eddy::deadline::Deadline;
use eddy::measure::{median, peak_resident_bytes, Stopwatch};

/// The functions `eddy invoke` can run.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Function {
    /// Raw stream -> Firehose archive and quarantine.
    Archive,
    /// Raw stream -> enriched stream (EDDY_GEO_DB, EDDY_ASN_DB, EDDY_SERVICE_CATALOG, ...).
    Enrich,
    /// Enriched stream -> alerts stream, by the rules in EDDY_RULES_FILE.
    Filter,
    /// Enriched stream -> window reports (tumbling windows; EDDY_GROUP_BY, EDDY_METRICS, ...).
    Aggregate,
    /// Enriched stream -> fraud alerts, state in EDDY_FRAUD_TABLE (in memory when unset).
    Detect,
}

/// Lambda's default timeout for the stack's functions; invocations get this budget.
const INVOKE_BUDGET: Duration = Duration::from_secs(60);

/// Runs the handler once (printing its response), or `repeat` times in memory (printing timings).
pub async fn run(function: Function, event: &Path, out: &Path, repeat: Option<usize>) -> anyhow::Result<()> {
    let payload = std::fs::read(event).with_context(|| format!("cannot read the event file {}", event.display()))?;
    match function {
        Function::Archive => {
            let config = ArchiveConfig::from_env()?;
            if let Some(n) = repeat {
                let app = Archive::in_memory(config.limits);
                return repeat_invocations(n, || async {
                    let report = app.run(&payload, Deadline::after(INVOKE_BUDGET)).await?;
                    Ok(report.counts.records)
                })
                .await;
            }
            let app = if config.delivery_stream.is_some() {
                let sdk = eddy::aws::load_config().await;
                Archive::with_aws(&config, &sdk)?
            } else {
                Archive::with_dir(&config, out)
            };
            let response = app.handle(&payload, Deadline::after(INVOKE_BUDGET)).await?;
            println!("{}", serde_json::to_string(&response)?);
        }
        Function::Enrich => {
            use eddy::enrich::{Enrich, EnrichConfig, Enricher};
            let config = EnrichConfig::from_env()?;
            let to_aws = config.enriched_stream.is_some();
            let sdk = if to_aws || config.uses_s3() { Some(eddy::aws::load_config().await) } else { None };
            if let (true, Some(sdk)) = (to_aws && repeat.is_none(), &sdk) {
                let app = Enrich::with_aws(&config, sdk).await?;
                let response = app.handle(&payload, Deadline::after(INVOKE_BUDGET)).await?;
                println!("{}", serde_json::to_string(&response)?);
                return Ok(());
            }
            let enricher = Enricher::load(&config, sdk.as_ref().map(eddy::aws::s3_client).as_ref()).await?;
            if let Some(n) = repeat {
                let app = Enrich::in_memory(enricher, config.limits, config.cache_entries);
                return repeat_invocations(n, || async {
                    let report = app.run(&payload, Deadline::after(INVOKE_BUDGET)).await?;
                    Ok(report.counts.records)
                })
                .await;
            }
            let app = Enrich::with_dir(&config, out, enricher);
            let report = app.run(&payload, Deadline::after(INVOKE_BUDGET)).await?;
            eprintln!("enriched={} quarantined={}", report.counts.delivered, report.counts.quarantined);
            println!("{}", serde_json::to_string(&report.response)?);
        }
        Function::Filter => {
            let config = eddy::rules::FilterConfig::from_env()?;
            if let Some(n) = repeat {
                let app = eddy::rules::Filter::in_memory(config.load_rules()?, config.limits);
                return repeat_invocations(n, || async {
                    let report = app.run(&payload, Deadline::after(INVOKE_BUDGET)).await?;
                    Ok(report.counts.records)
                })
                .await;
            }
            let app = if config.alerts_stream.is_some() {
                eddy::rules::Filter::with_aws(&config, &eddy::aws::load_config().await)?
            } else {
                eddy::rules::Filter::with_dir(&config, out)?
            };
            let report = app.run(&payload, Deadline::after(INVOKE_BUDGET)).await?;
            eprintln!("alerts={} dropped={:?}", report.counts.delivered, report.counts.dropped_by_reason);
            println!("{}", serde_json::to_string(&report.response)?);
        }
        Function::Aggregate => {
            let config = eddy::window::AggregateConfig::from_env()?;
            if let Some(n) = repeat {
                let app = eddy::window::Aggregate::in_memory(config);
                return repeat_invocations(n, || async {
                    let outcome = app.run(&payload, Deadline::after(INVOKE_BUDGET)).await?;
                    Ok(outcome.counts.records)
                })
                .await;
            }
            let app = if config.reports_bucket.is_some() {
                eddy::window::Aggregate::with_aws(config, &eddy::aws::load_config().await)?
            } else {
                eddy::window::Aggregate::with_dir(config, out)
            };
            let outcome = app.run(&payload, Deadline::after(INVOKE_BUDGET)).await?;
            let t = &outcome.totals;
            eprintln!(
                "events={} late={} groups={} state_bytes={} report={}",
                t.events,
                t.late,
                outcome.groups,
                outcome.state_bytes,
                outcome.report.as_ref().map_or("-", |(key, _)| key.as_str())
            );
            println!("{}", serde_json::to_string(&outcome.response)?);
        }
        Function::Detect => detect(&payload, out, repeat).await?,
    }
    Ok(())
}

/// `eddy invoke detect`: alerts to `EDDY_ALERTS_STREAM` (AWS mode) or under
/// `out`; state in `EDDY_FRAUD_TABLE`, or in memory for this invocation.
async fn detect(payload: &[u8], out: &Path, repeat: Option<usize>) -> anyhow::Result<()> {
    use eddy::fraud::{Detect, DetectConfig, MemoryUserState};
    let config = DetectConfig::from_env()?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    if let Some(n) = repeat {
        // fresh state each time: a second run on the same state would only skip replays
        return repeat_invocations(n, || async {
            let app = Detect::in_memory(config.clone(), Box::new(MemoryUserState::new()));
            let report = app.run(payload, Deadline::after(INVOKE_BUDGET), now_ms).await?;
            Ok(report.batch.counts.records)
        })
        .await;
    }
    let sdk = if config.table.is_some() || config.alerts_stream.is_some() {
        Some(eddy::aws::load_config().await)
    } else {
        None
    };
    let app = match (&config.alerts_stream, &sdk) {
        (Some(_), Some(sdk)) => Detect::with_aws(config, sdk)?,
        _ => Detect::with_dir(config, out, sdk.as_ref()),
    };
    let report = app.run(payload, Deadline::after(INVOKE_BUDGET), now_ms).await?;
    eprintln!(
        "alerts={} findings={:?} dropped={:?} keys_read={} keys_written={} conflicts={}",
        report.batch.counts.delivered,
        report.findings,
        report.batch.counts.dropped_by_reason,
        report.keys_read,
        report.writes.written,
        report.writes.conflicts
    );
    println!("{}", serde_json::to_string(&report.batch.response)?);
    Ok(())
}

/// Runs `once` `n` times (after one warm-up) and prints, on stderr, the median
/// wall time and the mean CPU time per invocation, the records/s they make, and the process's
/// peak resident memory: `median_ms=X cpu_ms=C records=N records_per_s=R peak_rss_mb=M`.
async fn repeat_invocations<F, Fut>(n: usize, once: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let records = once().await?;
    let mut times = Vec::with_capacity(n.max(1));
    let watch = Stopwatch::start();
    for _ in 0..n.max(1) {
        let start = Instant::now();
        once().await?;
        times.push(start.elapsed());
    }
    let cpu_ms = watch.elapsed().as_secs_f64() * 1e3 / times.len() as f64;
    let wall = median(&mut times).unwrap_or_default();
    let median_ms = wall.as_secs_f64() * 1e3;
    let per_s = records as f64 / wall.as_secs_f64().max(1e-9);
    let peak_mb =
        peak_resident_bytes().map_or_else(|| "unknown".to_owned(), |b| format!("{:.1}", b as f64 / 1048576.0));
    eprintln!(
        "median_ms={median_ms:.3} cpu_ms={cpu_ms:.3} records={records} records_per_s={per_s:.0} peak_rss_mb={peak_mb}"
    );
    Ok(())
}

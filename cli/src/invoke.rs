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

/// The functions `eddy invoke` can run.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Function {
    /// Raw stream -> Firehose archive and quarantine.
    Archive,
    /// Enriched stream -> alerts stream, by the rules in EDDY_RULES_FILE.
    Filter,
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
    }
    Ok(())
}

/// Runs `once` `n` times (after one warm-up) and prints `median_ms=X records=N records_per_s=R` on stderr.
async fn repeat_invocations<F, Fut>(n: usize, once: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let records = once().await?;
    let mut times = Vec::with_capacity(n.max(1));
    for _ in 0..n.max(1) {
        let start = Instant::now();
        once().await?;
        times.push(start.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let median_ms = median.as_secs_f64() * 1e3;
    let per_s = records as f64 / median.as_secs_f64().max(1e-9);
    eprintln!("median_ms={median_ms:.3} records={records} records_per_s={per_s:.0}");
    Ok(())
}

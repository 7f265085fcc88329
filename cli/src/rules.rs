//! `eddy rules check FILE` and `eddy rules filter-criteria FILE`: validate a
//! rule file, and print the Lambda event-source `FilterCriteria` for it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use eddy::rules::criteria::{Expressed, QUOTA_MAX_FILTERS};
use eddy::rules::{filter_criteria, CriteriaOptions, RuleSet, Severity};

/// The `eddy rules` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Validates a rule file: prints a summary (exit 0) or the error naming the rule and field (exit 1).
    Check {
        /// The rule file (YAML, or JSON when it ends in .json).
        file: PathBuf,
    },
    /// Prints the Lambda event-source FilterCriteria JSON for a rule file, or
    /// says which rules cannot be expressed (exit 1, nothing on stdout).
    FilterCriteria {
        /// The rule file (YAML, or JSON when it ends in .json).
        file: PathBuf,
        /// Filters allowed per event source mapping (5 by default; up to 10 with a quota increase).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=QUOTA_MAX_FILTERS as i64))]
        max_filters: u8,
    },
}

/// Runs one `eddy rules` subcommand; on failure prints `error: ...` and exits with 1.
pub fn run(command: RulesCommand) -> anyhow::Result<()> {
    let result = match command {
        RulesCommand::Check { file } => check(&file),
        RulesCommand::FilterCriteria { file, max_filters } => criteria(&file, max_filters as usize),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

fn load(file: &Path) -> anyhow::Result<RuleSet> {
    RuleSet::load(file).map_err(anyhow::Error::from)
}

fn check(file: &Path) -> anyhow::Result<()> {
    let rules = load(file)?;
    let count = |s: Severity| rules.rules().iter().filter(|r| r.severity == s).count();
    let by_severity: Vec<String> = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low]
        .into_iter()
        .filter(|s| count(*s) > 0)
        .map(|s| format!("{} {s}", count(s)))
        .collect();
    println!(
        "{}: {} rules OK ({}); fields tested: {}",
        file.display(),
        rules.rules().len(),
        by_severity.join(", "),
        rules.fields().join(", ")
    );
    for rule in rules.rules() {
        println!("  {} [{}] {}", rule.id, rule.severity, rule.description.as_deref().unwrap_or(""));
    }
    Ok(())
}

fn criteria(file: &Path, max_filters: usize) -> anyhow::Result<()> {
    let rules = load(file)?;
    let criteria = filter_criteria(&rules, &CriteriaOptions { max_filters })
        .with_context(|| format!("{}: no FilterCriteria printed", file.display()))?;
    for rule in &criteria.rules {
        match &rule.expressed {
            Expressed::Exact => eprintln!("rule \"{}\": exact", rule.id),
            Expressed::Widened(why) => {
                eprintln!(
                    "rule \"{}\": widened (the filter keeps more; the function decides): {}",
                    rule.id,
                    why.join("; ")
                )
            }
            Expressed::No(why) => eprintln!("rule \"{}\": not expressible: {}", rule.id, why.join("; ")),
        }
    }
    eprintln!("{} filter(s) of at most {max_filters}", criteria.patterns.len());
    println!("{criteria}");
    Ok(())
}

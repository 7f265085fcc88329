//! The `eddy` binary as a user runs it: `eddy run` on generated scenarios, on
//! NDJSON with bad lines and on `eddy gen`'s output with its ground truth, `eddy invoke --repeat`'s figures, and clear
//! errors (no panic) for what a user gets wrong or a reader that stops early.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh directory for one test's output, under cargo's scratch space.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-commands").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `eddy ARGS` from the repository's root, without the emulators' or a
/// user's configuration leaking in.
fn eddy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .current_dir(repo())
        .env_remove("EDDY_GEO_DB")
        .env_remove("EDDY_ASN_DB")
        .env_remove("EDDY_SERVICE_CATALOG")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("the eddy binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The per-function rows of the summary all say their outcomes add up.
fn assert_outcomes_add_up(stdout: &str) {
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| ["archive", "enrich", "filter", "aggregate"].iter().any(|f| l.starts_with(f)))
        .filter(|l| l.trim_end().ends_with("yes") || l.trim_end().ends_with("NO"))
        .collect();
    assert_eq!(rows.len(), 4, "one row per function:\n{stdout}");
    assert!(rows.iter().all(|r| r.trim_end().ends_with("yes")), "{stdout}");
}

#[test]
fn given_each_scenario_when_run_then_the_outcomes_add_up_and_agree_with_the_ground_truth() {
    for scenario in ["security", "clickstream", "logs", "fraud", "iot", "ads"] {
        let out = scratch(&format!("run-{scenario}"));
        let run = eddy(&["run", "--scenario", scenario, "--count", "3000", "--out", out.to_str().unwrap()]);
        let stdout = text(&run.stdout);
        assert!(run.status.success(), "{scenario}: {stdout}\n{}", text(&run.stderr));
        assert!(stdout.contains("ground truth: all agree"), "{scenario}: {stdout}");
        assert!(stdout.starts_with("eddy run: 3000 events in"), "{scenario}: {stdout}");
        assert_outcomes_add_up(&stdout);
        for line in ["cpu time: archive", "throughput per core, the functions' own work:", "peak memory:"] {
            assert!(stdout.contains(line), "{scenario}: no {line:?} in\n{stdout}");
        }
        assert!(out.join("truth.json").is_file(), "{scenario}: the ground truth is written beside the output");
        assert!(out.join("archive").is_dir(), "{scenario}: the archive tree");
    }
}

#[test]
fn given_the_security_scenario_when_run_then_alerts_and_reports_are_written_per_rule() {
    let out = scratch("run-security-tree");
    let run = eddy(&["run", "--scenario", "security", "--count", "20000", "--out", out.to_str().unwrap()]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
    let rules = alerts_per_rule(&stdout);
    assert!(rules.len() >= 3, "several security rules fire on 20,000 events:\n{stdout}");
    assert!(!rules.iter().any(|r| r.contains("(none)")), "{stdout}");
    for dir in ["archive", "enriched", "alerts", "reports"] {
        assert!(files_under(&out.join(dir)) > 0, "nothing under {dir}/");
    }
    // `archive 2.91 us/event (1.15 own + 1.76 local sinks), ...`: the parts add up,
    // and archive's local sink (gzip, files: Firehose's work in AWS) takes some
    let cpu = stdout.lines().find_map(|l| l.strip_prefix("cpu time: ")).expect("a cpu time line");
    let archive: Vec<f64> = cpu
        .split(", ")
        .next()
        .unwrap()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|n| n.parse().ok())
        .collect();
    let [total, own, sinks] = archive[..] else { panic!("{cpu}") };
    assert!((own + sinks - total).abs() <= 0.011, "{cpu}");
    assert!(own > 0.0 && sinks > 0.0, "{cpu}");
}

/// The columns of a function's row of the summary (records, items, delivered, dropped, quarantined, failed).
fn row(stdout: &str, function: &str) -> Vec<u64> {
    let line = stdout.lines().find(|l| l.starts_with(&format!("{function} "))).expect("the function's row");
    line.split_whitespace().skip(1).take(6).map(|n| n.parse().unwrap()).collect()
}

/// The lines of the summary's `alerts per rule:` block.
fn alerts_per_rule(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("alerts per rule:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect()
}

#[test]
fn given_filters_mapping_with_and_without_the_rules_filter_criteria_then_the_same_alerts_from_fewer_records() {
    let out = scratch("run-criteria");
    let run = |extra: &[&str], dir: &str| {
        let dir = out.join(dir);
        let mut args = vec!["run", "--scenario", "security", "--count", "6000", "--out", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = eddy(&args);
        let stdout = text(&run.stdout);
        assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
        assert!(stdout.contains("ground truth: all agree"), "{stdout}");
        assert_outcomes_add_up(&stdout);
        stdout
    };
    let with = run(&[], "with");
    let without = run(&["--no-filter-criteria"], "without");

    let (w, wo) = (row(&with, "filter"), row(&without, "filter"));
    assert_eq!(wo[0], 6000, "{without}");
    assert!(w[0] < wo[0] / 4, "most security events match no pattern: {w:?} vs {wo:?}");
    assert_eq!(w[2], wo[2], "the same alerts delivered");
    let mapping = with.lines().find(|l| l.starts_with("filter's mapping: ")).expect("the mapping's line");
    let filtered_out = 6000 - w[0];
    assert!(
        mapping
            .starts_with(&format!("filter's mapping: {filtered_out} of 6000 enriched records matched none of its 4")),
        "{mapping}"
    );
    assert!(without.contains("filter's mapping: no FilterCriteria, every enriched record reached it"), "{without}");
    assert_eq!(alerts_per_rule(&with), alerts_per_rule(&without));
    let cpu = with.lines().find(|l| l.starts_with("cpu time: ")).unwrap();
    assert!(cpu.contains(" FilterCriteria), aggregate"), "the mapping's CPU is shown beside filter's: {cpu}");
}

/// Every file under `dir`, read as text and joined.
fn text_under(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir) else { return String::new() };
    entries
        .flatten()
        .map(|e| if e.path().is_dir() { text_under(&e.path()) } else { text(&std::fs::read(e.path()).unwrap()) })
        .collect()
}

fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.flatten().map(|e| if e.path().is_dir() { files_under(&e.path()) } else { 1 }).sum()
}

#[test]
fn given_ndjson_with_bad_lines_when_run_then_they_are_quarantined_and_the_good_ones_go_on() {
    let out = scratch("run-ndjson");
    let input = out.join("input.ndjson");
    let good = r#"{"id":"e1","source":"auth","kind":"login","time":"2026-11-29T10:00:00Z","ip":"10.0.0.1","http":{"status":401}}"#;
    let good2 = r#"{"id":"e2","source":"api","kind":"request","time":"2026-11-29T10:00:01Z","http":{"status":200}}"#;
    let mut lines = format!("{good}\r\n{{\"id\": oops\n").into_bytes();
    lines.extend_from_slice(b"\xff\xfe not UTF-8\n");
    lines.extend_from_slice(format!("{good2}\n").as_bytes());
    std::fs::write(&input, lines).unwrap();
    let run = eddy(&["run", "--input", input.to_str().unwrap(), "--out", out.join("tree").to_str().unwrap()]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
    assert!(stdout.starts_with("eddy run: 4 events in"), "{stdout}");
    assert_outcomes_add_up(&stdout);
    assert_eq!(row(&stdout, "archive"), [4, 4, 2, 0, 2, 0], "records items delivered dropped quarantined failed");
    let quarantined = text_under(&out.join("tree/quarantine"));
    assert!(quarantined.contains("not UTF-8"), "the bad lines are kept with their reasons: {quarantined}");
    assert!(quarantined.contains("expected value"), "{quarantined}");
}

#[test]
fn given_events_written_by_eddy_gen_when_run_on_them_then_they_are_compared_with_its_truth() {
    let out = scratch("run-gen-input");
    let gen_dir = out.join("gen");
    let generated = eddy(&["gen", "--scenario", "security", "--count", "4000", "--out", gen_dir.to_str().unwrap()]);
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let events = gen_dir.join("events.ndjson");

    // the truth beside the input is found, its scenario picks the rule pack
    let run = eddy(&["run", "--input", events.to_str().unwrap(), "--out", out.join("tree").to_str().unwrap()]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
    assert!(stdout.contains(&format!("ground truth: {}", gen_dir.join("truth.json").display())), "{stdout}");
    assert!(stdout.contains("ground truth: alerts expected vs raised"), "{stdout}");
    assert!(stdout.contains("ground truth: all agree"), "{stdout}");

    // the same truth for a run missing an event: the reports disagree, the command fails
    let short = out.join("short");
    std::fs::create_dir_all(&short).unwrap();
    let all = std::fs::read_to_string(&events).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    std::fs::write(short.join("events.ndjson"), lines[..lines.len() - 1].join("\n")).unwrap();
    let (truth, short_events, tree) = (gen_dir.join("truth.json"), short.join("events.ndjson"), out.join("tree2"));
    let run = eddy(&[
        "run",
        "--input",
        short_events.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
        "--out",
        tree.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert!(!run.status.success(), "{stdout}");
    assert!(stderr.contains("disagrees with the ground truth"), "{stderr}");
    assert!(stdout.contains("events 4000 expected, 3999 reported"), "{stdout}");

    // a truth named but missing: said before anything runs
    let args = ["run", "--input", events.to_str().unwrap(), "--truth", "no-such-truth.json"];
    let run = eddy(&args);
    assert!(!run.status.success());
    assert!(text(&run.stderr).contains("no ground truth at no-such-truth.json"), "{}", text(&run.stderr));
    assert!(text(&run.stdout).is_empty(), "nothing ran: {}", text(&run.stdout));
}

/// `eddy gen --scenario S --count 3000 --out - --truth OUT/truth.json | eddy run
/// --input - --rules S --truth OUT/truth.json`: what the run printed and how it ended.
fn gen_piped_into_run(scenario: &str, out: &Path) -> Output {
    let truth = out.join("truth.json");
    let mut gen = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["gen", "--scenario", scenario, "--count", "3000", "--out", "-", "--truth", truth.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "--input", "-", "--rules", scenario, "--truth", truth.to_str().unwrap()])
        .args(["--out", out.join("tree").to_str().unwrap()])
        .current_dir(repo())
        .env_remove("EDDY_GEO_DB")
        .env_remove("EDDY_ASN_DB")
        .env_remove("EDDY_SERVICE_CATALOG")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(gen.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(gen.wait().unwrap().success());
    run
}

#[test]
fn given_eddy_gen_piped_into_eddy_run_when_the_truth_is_named_then_it_is_read_once_written() {
    let out = scratch("run-gen-pipe");
    let truth = out.join("truth.json");
    // an older truth at that path (another count) is not the one compared with
    let older = eddy(&["gen", "--scenario", "iot", "--count", "500", "--out", "-", "--truth", truth.to_str().unwrap()]);
    assert!(older.status.success() && truth.is_file(), "{}", text(&older.stderr));
    let run = gen_piped_into_run("iot", &out);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
    assert!(stdout.starts_with("eddy run: 3000 events in"), "{stdout}");
    assert!(stdout.contains("ground truth: alerts expected vs raised"), "{stdout}");
    assert!(stdout.contains("ground truth: all agree"), "{stdout}");
}

#[test]
fn given_the_logs_scenario_piped_in_without_its_catalog_when_run_then_the_disagreement_names_the_missing_catalog() {
    let run = gen_piped_into_run("logs", &scratch("run-gen-pipe-logs"));
    assert!(!run.status.success(), "{}", text(&run.stdout));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("the logs scenario's rules read the service catalog"), "{stderr}");
    assert!(stderr.contains("--catalog"), "{stderr}");
}

#[test]
fn given_repeat_when_invoked_then_the_timings_and_peak_memory_are_printed() {
    for function in ["archive", "enrich", "filter"] {
        let run = Command::new(env!("CARGO_BIN_EXE_eddy"))
            .args(["invoke", function, "--event", "events/kinesis-mixed.json", "--repeat", "3"])
            .current_dir(repo())
            .env("EDDY_RULES_FILE", "rules/security.yaml")
            .output()
            .unwrap();
        let stderr = text(&run.stderr);
        assert!(run.status.success(), "{function}: {stderr}");
        let figures: Vec<(&str, f64)> = stderr
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k, v.parse::<f64>().ok()?)))
            .collect();
        let keys: Vec<&str> = figures.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["median_ms", "cpu_ms", "records", "records_per_s", "peak_rss_mb"], "{function}: {stderr}");
        let value = |key: &str| figures.iter().find(|(k, _)| *k == key).unwrap().1;
        assert!(value("records") > 0.0 && value("median_ms") > 0.0, "{function}: {stderr}");
        assert!(value("peak_rss_mb") > 1.0, "{function}: {stderr}");
    }
}

#[test]
fn given_rules_that_miss_what_the_truth_expects_when_run_then_the_command_fails_and_says_which() {
    // the shipped security pack with `server-error` made stricter (599 only):
    // its alerts fall short of the generator's truth
    let out = scratch("run-disagrees");
    let pack = std::fs::read_to_string(repo().join("rules/security.yaml")).unwrap();
    let stricter = pack.replace("range: [500, 599]", "range: [599, 599]");
    assert_ne!(pack, stricter, "the pack still has the server-error range this test edits");
    let rules = out.join("security.yaml");
    std::fs::write(&rules, stricter).unwrap();
    let tree = out.join("tree");
    let args = ["run", "--scenario", "security", "--count", "5000", "--rules"];
    let run = eddy(&[&args[..], &[rules.to_str().unwrap(), "--out", tree.to_str().unwrap()]].concat());
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert!(!run.status.success(), "{stdout}");
    assert!(stderr.contains("disagrees with the ground truth") && stderr.contains("rule server-error"), "{stderr}");
    assert!(!stdout.contains("ground truth: all agree"), "{stdout}");
    assert_outcomes_add_up(&stdout);
}

#[test]
fn given_what_a_user_gets_wrong_when_run_then_a_clear_error_and_no_panic() {
    let cases: [(&[&str], &str); 9] = [
        (&["invoke", "enrich", "--event", "events/no-such-file.json"], "no-such-file.json"),
        (&["run"], "--scenario"),
        (&["run", "--scenario", "security", "--input", "-"], "exclude each other"),
        (&["run", "--scenario", "iot", "--truth", "truth.json"], "--truth goes with --input"),
        (&["run", "--input", "Cargo.toml", "--truth", "README.md"], "not a ground truth written by `eddy gen`"),
        (&["run", "--scenario", "iot", "--shards", "0"], "--shards"),
        (&["run", "--scenario", "iot", "--batch-size", "0"], "--batch-size"),
        (&["run", "--scenario", "iot", "--batch-size", "10001"], "1..=10000"),
        (&["run", "--scenario", "iot", "--window-seconds", "901"], "1..=900"),
    ];
    for (args, says) in cases {
        let run = eddy(args);
        let stderr = text(&run.stderr);
        assert!(!run.status.success(), "{args:?} should fail");
        assert!(stderr.contains(says), "{args:?}: the error should mention {says:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn given_a_reader_that_stops_early_when_eddy_writes_to_it_then_it_ends_quietly_without_a_panic() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut gen = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["gen", "--scenario", "security", "--count", "1000000", "--out", "-"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    gen.stdout.take().unwrap().read_exact(&mut first).unwrap(); // `| head -c 64`: read, then close
    let done = gen.wait_with_output().unwrap();
    let stderr = text(&done.stderr);
    assert!(first.starts_with(b"{"), "{}", text(&first));
    assert_eq!(done.status.signal(), Some(13), "ended by SIGPIPE, as a Unix tool is: {:?} {stderr}", done.status);
    assert!(!stderr.contains("panicked") && !stderr.contains("Error"), "{stderr}");
}

#[test]
fn given_no_events_when_run_then_the_summary_has_nothing_to_rate_and_agrees_with_the_truth() {
    let out = scratch("run-empty");
    let run = eddy(&["run", "--scenario", "security", "--count", "0", "--out", out.to_str().unwrap()]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
    assert!(stdout.starts_with("eddy run: 0 events in"), "{stdout}");
    assert_outcomes_add_up(&stdout);
    assert!(!stdout.contains("throughput per core"), "no rate out of nothing: {stdout}");
    assert!(stdout.contains("peak memory:") && stdout.contains("ground truth: all agree"), "{stdout}");
}

#[test]
fn given_two_threads_when_run_then_the_summary_and_the_output_are_those_of_one_thread() {
    // the lines that measure time and memory differ from run to run
    let measured = ["eddy run:", "cpu time:", "throughput per core", "peak memory:", "output:"];
    let mut summaries = Vec::new();
    for threads in ["1", "2"] {
        let out = scratch(&format!("run-threads-{threads}"));
        let args = ["run", "--scenario", "security", "--count", "20000", "--threads", threads];
        let run = eddy(&[&args[..], &["--out", out.to_str().unwrap()]].concat());
        let stdout = text(&run.stdout);
        assert!(run.status.success(), "{stdout}\n{}", text(&run.stderr));
        let header = stdout.lines().next().unwrap_or_default();
        let named = if threads == "1" { ", 1 thread" } else { ", 2 threads" };
        assert!(header.ends_with(named), "{header}");
        assert!(stdout.contains("ground truth: all agree"), "{stdout}");
        let kept: Vec<String> =
            stdout.lines().filter(|l| !measured.iter().any(|m| l.starts_with(m))).map(str::to_string).collect();
        summaries.push(kept);
    }
    assert!(summaries[0].len() > 10, "{:?}", summaries[0]);
    assert_eq!(summaries[0], summaries[1]);
}

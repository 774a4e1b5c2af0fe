//! Scheduled runs (`scanlake watch`): catch-up after an outage, no duplicate
//! alerts with overlapping windows, concurrent runs or kills, suppression,
//! and the sinks. Time is set with `--now`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{Reply, Server};
use crate::support::{Csv, detect, lake_from, scanlake};

/// Eight hourly scanners (xx:10) and one source that scans three times in two hours.
fn lake() -> (tempfile::TempDir, PathBuf) {
    let mut csv = Csv::new();
    for h in 0..8 {
        csv.scan(&format!("{h:02}:10:00"), &format!("198.51.100.{}", h + 1), 1, 60);
    }
    for start in ["06:20:00", "06:40:00", "07:30:00"] {
        csv.scan(start, "45.33.32.156", 1000, 55);
    }
    lake_from(&csv)
}

struct Runner {
    lake: PathBuf,
    state: PathBuf,
    jsonl: PathBuf,
    args: Vec<String>,
}

impl Runner {
    fn new(dir: &Path, lake: &Path, args: &[&str]) -> Runner {
        Runner {
            lake: lake.to_path_buf(),
            state: dir.join("state.json"),
            jsonl: dir.join("alerts.jsonl"),
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn command(&self, now: &str, extra: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("scanlake"));
        cmd.arg("watch")
            .arg("--lake")
            .arg(&self.lake)
            .arg("--state")
            .arg(&self.state)
            .arg("--jsonl")
            .arg(&self.jsonl)
            .args(["--now", now])
            .args(&self.args)
            .args(extra);
        cmd
    }

    /// One run at `now`; asserts success and returns stdout.
    fn run(&self, now: &str, extra: &[&str]) -> String {
        let out = self.command(now, extra).output().expect("run watch");
        assert!(out.status.success(), "watch failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn spawn(&self, now: &str, extra: &[&str]) -> Child {
        self.command(now, extra).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn watch")
    }

    /// The alert ids in the JSON-lines sink, in order (duplicates kept).
    fn emitted(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.jsonl).unwrap_or_default();
        text.lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).expect("a JSON line")["AlertId"].as_str().expect("id").to_string()
            })
            .collect()
    }
}

fn ids(alerts: &[Value]) -> Vec<String> {
    alerts.iter().map(|a| a["AlertId"].as_str().expect("AlertId").to_string()).collect()
}

fn assert_once(emitted: &[String], expected: &[String]) {
    let unique: BTreeSet<&String> = emitted.iter().collect();
    assert_eq!(unique.len(), emitted.len(), "an alert was emitted twice: {emitted:?}");
    assert_eq!(unique, expected.iter().collect::<BTreeSet<_>>());
}

#[test]
fn a_five_hour_outage_is_caught_up_exactly() {
    let (dir, lake) = lake();
    let runner = Runner::new(dir.path(), &lake, &["--every", "1h"]);
    assert!(runner.run("2024-04-19T01:02:00Z", &[]).starts_with("1 new alerts"));
    // The service was down from 01:02 to 06:30: the next run covers 01:00-06:00 whole.
    assert!(runner.run("2024-04-19T06:30:00Z", &[]).starts_with("5 new alerts"), "01:10 to 05:10");
    let expected = ids(&detect(&lake, &["--from", "2024-04-19T00:00:00Z", "--to", "2024-04-19T06:00:00Z"]));
    assert_eq!(expected.len(), 6, "six hourly scanners before 06:00");
    // 06:20 and 06:40 are after 06:00: not yet evaluated.
    let emitted = runner.emitted();
    assert_eq!(emitted.len(), 6);
    assert_once(&emitted, &expected);
    // The state says where it stopped.
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&runner.state).expect("state")).expect("json");
    assert_eq!(state["processed_until"], "2024-04-19T06:00:00Z");
    assert!(state["outbox"].is_null());
}

#[test]
fn overlapping_windows_and_concurrent_runs_emit_each_alert_once() {
    let (dir, lake) = lake();
    // Every hour over the last three hours, so each bin is evaluated three times.
    let runner = Runner::new(dir.path(), &lake, &["--every", "1h", "--lookback", "3h", "--delay", "5m"]);
    for hour in 1..=8 {
        let now = format!("2024-04-19T{hour:02}:05:00Z");
        // Two runs at once on the same state: the lock makes them take turns.
        let mut twin = runner.spawn(&now, &[]);
        runner.run(&now, &[]);
        assert!(twin.wait().expect("wait").success());
    }
    let expected = ids(&detect(&lake, &["--from", "2024-04-18T22:00:00Z", "--to", "2024-04-19T08:00:00Z"]));
    assert_eq!(expected.len(), 11);
    assert_once(&runner.emitted(), &expected);
}

#[test]
fn suppression_keeps_one_alert_per_source_per_period() {
    let (dir, lake) = lake();
    let runner =
        Runner::new(dir.path(), &lake, &["--every", "1h", "--from", "2024-04-19T06:00:00Z", "--suppress", "1h"]);
    let out = runner.run("2024-04-19T08:00:00Z", &[]);
    assert!(out.starts_with("4 new alerts (5 found, 0 already emitted, 1 suppressed"), "{out}");
    let emitted: Vec<Value> = std::fs::read_to_string(&runner.jsonl)
        .expect("jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let repeat: Vec<&str> = emitted
        .iter()
        .filter(|a| a["SrcIpAddr"] == "45.33.32.156")
        .map(|a| a["TimeGenerated"].as_str().expect("time"))
        .collect();
    // 06:20 emitted; 06:40 within the hour is suppressed; 07:30 is 70 minutes later.
    assert_eq!(repeat, ["2024-04-19T06:20:00Z", "2024-04-19T07:30:00Z"]);
}

#[test]
fn a_killed_run_is_finished_by_the_next_without_duplicates() {
    let (dir, lake) = lake();
    let expected = ids(&detect(&lake, &["--from", "2024-04-19T00:00:00Z", "--to", "2024-04-19T08:00:00Z"]));
    // A webhook that never answers holds the run after its alerts are recorded
    // and written to the file sink; it is killed there.
    let hang = Server::start(&[Reply::Hang]);
    let runner = Runner::new(dir.path(), &lake, &["--every", "1h", "--from", "2024-04-19T00:00:00Z"]);
    let mut child = runner.spawn("2024-04-19T08:00:00Z", &["--webhook", &hang.url]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while hang.received().is_empty() {
        assert!(Instant::now() < deadline, "the run never reached the webhook");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    assert_eq!(runner.emitted().len(), 11, "the file sink was written before the webhook");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&runner.state).expect("state")).expect("json");
    assert_eq!(state["outbox"]["alerts"].as_array().map(Vec::len), Some(11), "the run's alerts are in the outbox");

    // The restart delivers the interrupted run (file rewritten in place, webhook sent) and nothing twice.
    let ok = Server::start(&[]);
    let out = runner.run("2024-04-19T08:00:00Z", &["--webhook", &ok.url]);
    assert!(out.contains("11 delivered for an interrupted run"), "{out}");
    assert_once(&runner.emitted(), &expected);
    let posted: Value = serde_json::from_slice(&ok.received()[0].body).expect("webhook JSON");
    assert_eq!(posted["alerts"].as_array().map(Vec::len), Some(11));

    // Kills at other points, each followed by a restart: always each alert exactly once.
    for (trial, delay_ms) in [0, 30, 60, 90, 120, 150, 200, 250, 300, 400].into_iter().enumerate() {
        let trial_dir = dir.path().join(format!("trial-{trial}"));
        std::fs::create_dir_all(&trial_dir).expect("mkdir");
        let runner = Runner::new(&trial_dir, &lake, &["--every", "1h", "--from", "2024-04-19T00:00:00Z"]);
        let mut child = runner.spawn("2024-04-19T08:00:00Z", &[]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().expect("wait");
        runner.run("2024-04-19T08:00:00Z", &[]);
        runner.run("2024-04-19T09:00:00Z", &[]);
        assert_once(&runner.emitted(), &expected);
    }
}

#[test]
fn the_webhook_is_retried_and_a_failed_delivery_is_sent_next_run() {
    let (dir, lake) = lake();
    let server = Server::start(&[Reply::Status(500), Reply::Status(503)]);
    let runner = Runner::new(
        dir.path(),
        &lake,
        &["--every", "1h", "--from", "2024-04-19T00:00:00Z", "--webhook-backoff", "100ms"],
    );
    runner.run("2024-04-19T02:00:00Z", &["--webhook", &server.url]);
    let received = server.received();
    assert_eq!(received.len(), 3, "two failures, then accepted");
    let body: Value = serde_json::from_slice(&received[2].body).expect("JSON body");
    assert_eq!(body["alerts"].as_array().map(Vec::len), Some(2));
    assert_eq!(body["from"], "2024-04-19T00:00:00Z");
    assert!(received[2].headers.iter().any(|(n, _)| n == "idempotency-key"));

    // A webhook that keeps failing: the alerts wait in the state for the next run.
    let down = Server::start(&[Reply::Status(500); 3]);
    runner.run("2024-04-19T03:00:00Z", &["--webhook", &down.url]);
    assert_eq!(down.received().len(), 3);
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&runner.state).expect("state")).expect("json");
    assert_eq!(state["webhook_backlog"].as_array().map(Vec::len), Some(1));
    let up = Server::start(&[]);
    runner.run("2024-04-19T04:00:00Z", &["--webhook", &up.url]);
    let body: Value = serde_json::from_slice(&up.received()[0].body).expect("JSON body");
    let sent: Vec<&str> =
        body["alerts"].as_array().expect("alerts").iter().map(|a| a["SrcIpAddr"].as_str().unwrap()).collect();
    assert_eq!(sent, ["198.51.100.3", "198.51.100.4"], "the backlog first, then this run's alert");
    assert_eq!(runner.emitted().len(), 4, "the file sink had them all along");
}

#[test]
fn the_alerts_folder_gets_one_file_per_run_with_alerts() {
    let (dir, lake) = lake();
    let folder = dir.path().join("runs");
    let folder_arg = folder.display().to_string();
    let runner = Runner::new(dir.path(), &lake, &["--every", "1h", "--alerts-dir", &folder_arg]);
    runner.run("2024-04-19T01:00:00Z", &[]);
    runner.run("2024-04-19T02:00:00Z", &[]);
    runner.run("2024-04-19T12:00:00Z", &[]);
    runner.run("2024-04-19T13:00:00Z", &[]);
    let mut files: Vec<String> = std::fs::read_dir(&folder)
        .expect("folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    files.sort();
    // The 13:00 run found nothing and wrote nothing.
    assert_eq!(files, ["alerts-20240419T010000Z.json", "alerts-20240419T020000Z.json", "alerts-20240419T120000Z.json"]);
    let last: Value = serde_json::from_slice(&std::fs::read(folder.join(&files[2])).expect("read")).expect("json");
    assert_eq!(last["alerts"].as_array().map(Vec::len), Some(9));
}

#[test]
fn a_state_file_belongs_to_one_lake_and_profile() {
    let (dir, lake) = lake();
    let runner = Runner::new(dir.path(), &lake, &["--every", "1h"]);
    runner.run("2024-04-19T01:00:00Z", &[]);
    let out = runner.command("2024-04-19T02:00:00Z", &["--profile", "sentinel"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("use another state file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = scanlake()
        .args(["watch", "--state", "s.json", "--every", "7m", "--once", "--lake"])
        .arg(&lake)
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("multiple of the bin"));
}

//! Helpers: running the binary, building ASIM CSV fixtures, reading alerts.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The `scanlake` binary under test, with logs kept terse.
pub fn scanlake() -> Command {
    Command::cargo_bin("scanlake").expect("scanlake binary")
}

/// The project's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh temporary folder.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// An ASIM CSV export under construction.
pub struct Csv {
    lines: Vec<String>,
}

/// The header every fixture uses.
pub const HEADER: &str =
    "TimeGenerated [UTC],EventVendor,EventProduct,SrcIpAddr,DstIpAddr,DstPortNumber,NetworkProtocol";

impl Csv {
    /// An export with the fixture header.
    pub fn new() -> Self {
        Self { lines: vec![HEADER.to_string()] }
    }

    /// One event.
    pub fn event(&mut self, time: &str, src: &str, port: Option<i32>) -> &mut Self {
        self.event_by(time, src, port, "TCP", "Corelight", "Zeek")
    }

    /// One event with protocol and reporter.
    pub fn event_by(
        &mut self,
        time: &str,
        src: &str,
        port: Option<i32>,
        proto: &str,
        vendor: &str,
        product: &str,
    ) -> &mut Self {
        let port = port.map(|p| p.to_string()).unwrap_or_default();
        self.lines.push(format!("{time},{vendor},{product},{src},203.0.113.9,{port},{proto}"));
        self
    }

    /// `count` distinct ports (`first..first+count`) from `src`, one event a second from `start` (`HH:MM:SS` on 2024-04-19).
    pub fn scan(&mut self, start: &str, src: &str, first: i32, count: i32) -> &mut Self {
        let base = chrono::NaiveTime::parse_from_str(start, "%H:%M:%S").expect("HH:MM:SS");
        for i in 0..count {
            let t = base + chrono::Duration::seconds(i64::from(i % 60));
            self.event(&format!("2024-04-19T{}Z", t.format("%H:%M:%S")), src, Some(first + i));
        }
        self
    }

    /// A raw line as is.
    pub fn raw(&mut self, line: &str) -> &mut Self {
        self.lines.push(line.to_string());
        self
    }

    /// Writes the export to `dir/name` and returns its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.lines.join("\n") + "\n").expect("write fixture");
        path
    }
}

/// Ingests `inputs` into `lake`, asserting success; returns stdout.
pub fn ingest(lake: &Path, inputs: &[&Path]) -> String {
    let out = scanlake().arg("ingest").arg("--lake").arg(lake).args(inputs).output().expect("run ingest");
    assert!(out.status.success(), "ingest failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `ingest --rejects REJECTS` of `inputs` into `lake`, whatever the outcome.
pub fn ingest_with_rejects(lake: &Path, rejects: &Path, inputs: &[&Path]) -> std::process::Output {
    scanlake()
        .args(["ingest", "--lake"])
        .arg(lake)
        .arg("--rejects")
        .arg(rejects)
        .args(inputs)
        .output()
        .expect("run ingest")
}

/// Runs `detect --format json` with `args`, asserting success; returns the parsed alerts.
pub fn detect(lake: &Path, args: &[&str]) -> Vec<Value> {
    let out = scanlake()
        .arg("detect")
        .arg("--lake")
        .arg(lake)
        .args(["--format", "json"])
        .args(args)
        .output()
        .expect("run detect");
    assert!(out.status.success(), "detect failed: {}", String::from_utf8_lossy(&out.stderr));
    match serde_json::from_slice(&out.stdout).expect("detect prints JSON") {
        Value::Array(alerts) => alerts,
        other => panic!("expected a JSON array, got {other}"),
    }
}

/// Runs `query --format json` with `sql`, asserting success; returns the rows.
pub fn query(lake: &Path, sql: &str) -> Vec<Value> {
    let out = scanlake().args(["query", "--format", "json", "--lake"]).arg(lake).arg(sql).output().expect("run query");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).expect("json").as_array().cloned().unwrap_or_default()
}

/// The (source, bin start, distinct ports) of each alert.
pub fn summary(alerts: &[Value]) -> Vec<(String, String, i64)> {
    alerts
        .iter()
        .map(|a| {
            (
                a["SrcIpAddr"].as_str().expect("SrcIpAddr").to_string(),
                a["TimeGenerated"].as_str().expect("TimeGenerated").to_string(),
                a["AttemptedPortsCount"].as_i64().expect("AttemptedPortsCount"),
            )
        })
        .collect()
}

/// Sources that alerted.
pub fn sources(alerts: &[Value]) -> Vec<String> {
    summary(alerts).into_iter().map(|(s, _, _)| s).collect()
}

/// Builds a lake from one CSV fixture in a fresh temp dir.
pub fn lake_from(csv: &Csv) -> (tempfile::TempDir, PathBuf) {
    let dir = tempdir();
    let input = csv.write(dir.path(), "events.csv");
    let lake = dir.path().join("lake");
    ingest(&lake, &[&input]);
    (dir, lake)
}

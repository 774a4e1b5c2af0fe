//! Partition pruning on a month-long lake, and the memory guard against the
//! literal KQL translation (see issue "Known trap").

use crate::support::{root, scanlake, tempdir};

fn generate(lake: &std::path::Path, rows: &str, days: &str) {
    let out = scanlake()
        .args(["generate", "-q", "--rows", rows, "--days", days, "--lake"])
        .arg(lake)
        .output()
        .expect("run generate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn since_one_day_on_a_30_day_lake_opens_only_that_days_files() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    generate(&lake, "30000", "30");
    let run = |args: &[&str]| {
        let out =
            scanlake().args(["detect", "--format", "jsonl", "--lake"]).arg(&lake).args(args).output().expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8_lossy(&out.stdout).lines().count(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (alerts, log) = run(&[]);
    assert!(log.contains("scans 30 files in 30 partitions"), "{log}");
    assert_eq!(alerts, 30 * 8, "8 planted alerts a day in the default profile");
    // The lake covers 2024-04-19 .. 2024-05-18; the last day alone:
    let (alerts, log) = run(&["--since", "1d", "--now", "2024-05-19T00:00:00Z"]);
    assert!(log.contains("scans 1 files in 1 partitions"), "{log}");
    assert_eq!(alerts, 8);
    let (alerts, log) = run(&["--from", "2024-05-01T00:00:00Z", "--to", "2024-05-03T00:00:00Z"]);
    assert!(log.contains("scans 2 files in 2 partitions"), "{log}");
    assert_eq!(alerts, 16);
}

#[test]
fn detect_stays_within_a_memory_limit_the_literal_translation_exceeds() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    generate(&lake, "1000000", "1");
    let run_with = |query: &std::path::Path, limit: &[&str]| {
        scanlake()
            .args(["detect", "--format", "jsonl", "--lake"])
            .arg(&lake)
            .args(limit)
            .arg("--query")
            .arg(query)
            .output()
            .expect("run detect")
    };
    // Under this limit the session picks 512-row batches and a 256 KiB
    // reservation for merging a sort's spills (engine::session).
    let run = |query: &std::path::Path| run_with(query, &["--memory-limit", "8MB"]);
    let shipped = run(&root().join("queries/port_scan.sql"));
    assert!(shipped.status.success(), "{}", String::from_utf8_lossy(&shipped.stderr));
    assert_eq!(String::from_utf8_lossy(&shipped.stdout).lines().count(), 10 * 8);
    // The same alerts as without a limit.
    let unlimited = run_with(&root().join("queries/port_scan.sql"), &[]);
    assert_eq!(shipped.stdout, unlimited.stdout);
    let literal = run(&root().join("tests/fixtures/literal_kql_port_scan.sql"));
    assert_eq!(literal.status.code(), Some(2));
    let error = String::from_utf8_lossy(&literal.stderr);
    assert!(error.contains("Resources exhausted"), "{error}");
    // The error names the operators that hold the memory.
    assert!(error.contains("top memory consumers") && error.contains("consumed"), "{error}");
}

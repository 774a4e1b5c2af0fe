//! The planted scenarios of the generator give the alerts they promise.

use serde_json::json;

use crate::support::{detect, query, scanlake, tempdir};

/// A one-day generated lake of `rows` rows, with `extra` generator flags.
fn generated(rows: &str, extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let out = scanlake()
        .args(["generate", "-q", "--rows", rows, "--days", "1", "--lake"])
        .arg(&lake)
        .args(extra)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dir, lake)
}

/// Asserts that the lake's alerts are those of one copy of each scenario, in both profiles.
fn assert_planted_alerts(lake: &std::path::Path) {
    let default: u32 = scanlake::generate::SCENARIOS.iter().map(|s| s.default_alerts).sum();
    let sentinel: u32 = scanlake::generate::SCENARIOS.iter().map(|s| s.sentinel_alerts).sum();
    assert_eq!(detect(lake, &[]).len() as u32, default);
    assert_eq!(detect(lake, &["--profile", "sentinel"]).len() as u32, sentinel);
}

#[test]
fn planted_scenarios_alert_as_documented_in_each_profile() {
    let (_dir, lake) = generated("5000", &[]);
    assert_planted_alerts(&lake);
}

#[test]
fn busy_benign_sources_pass_the_candidates_count_but_never_alert() {
    let (_dir, lake) = generated("30000", &["--busy-sources", "5"]);
    assert_planted_alerts(&lake);
    let busy = "SELECT count(*) AS sources, min(n) AS fewest, max(n) AS most FROM \
                (SELECT SrcIpAddr, count(*) AS n FROM network_session WHERE SrcIpAddr LIKE '13.%' GROUP BY SrcIpAddr)";
    assert_eq!(query(&lake, busy), vec![json!({"sources": 5, "fewest": 2000, "most": 2000})]);
    // Taken from the background's rows: the total is as asked.
    assert_eq!(query(&lake, "SELECT count(*) AS n FROM network_session"), vec![json!({"n": 30000})]);
}

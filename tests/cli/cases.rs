//! The planted scenarios of the generator give the alerts they promise.

use crate::support::{detect, scanlake, tempdir};

#[test]
fn planted_scenarios_alert_as_documented_in_each_profile() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let out = scanlake()
        .args(["generate", "-q", "--rows", "5000", "--days", "1", "--lake"])
        .arg(&lake)
        .output()
        .expect("run");
    assert!(out.status.success());
    let default: u32 = scanlake::generate::SCENARIOS.iter().map(|s| s.default_alerts).sum();
    let sentinel: u32 = scanlake::generate::SCENARIOS.iter().map(|s| s.sentinel_alerts).sum();
    assert_eq!(detect(&lake, &[]).len() as u32, default);
    assert_eq!(detect(&lake, &["--profile", "sentinel"]).len() as u32, sentinel);
}

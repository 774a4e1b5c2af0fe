//! The sample in `data/`: it is what the generator makes, and the rule's
//! alerts on it match the golden files exactly, in both profiles.

use std::io::Read;

use crate::support::{root, scanlake, tempdir};

fn gunzip(path: &std::path::Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("open")).read_to_string(&mut text).expect("gunzip");
    text
}

#[test]
fn sample_is_what_the_documented_generator_makes() {
    let dir = tempdir();
    let fresh = dir.path().join("sample.csv.gz");
    let out = scanlake()
        .args(["generate", "-q", "--rows", "10000", "--days", "2", "--seed", "1", "--csv"])
        .arg(&fresh)
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(
        gunzip(&fresh) == gunzip(&root().join("data/sample.csv.gz")),
        "data/sample.csv.gz differs from the generator's output"
    );
}

#[test]
fn sample_alerts_match_the_golden_files() {
    for profile in ["default", "sentinel"] {
        let out = scanlake()
            .args(["detect", "--lake"])
            .arg(root().join("data/lake"))
            .args(["--format", "csv", "--profile", profile])
            .output()
            .expect("run detect");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let golden =
            std::fs::read_to_string(root().join(format!("tests/golden/sample_{profile}.csv"))).expect("golden file");
        assert!(
            String::from_utf8_lossy(&out.stdout) == golden,
            "profile {profile}: alerts differ from tests/golden/sample_{profile}.csv"
        );
    }
}

#[test]
fn sample_lake_is_the_sample_csv_ingested() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    crate::support::ingest(&lake, &[&root().join("data/sample.csv.gz")]);
    for profile in ["default", "sentinel"] {
        let fresh = crate::support::detect(&lake, &["--profile", profile]);
        let shipped = crate::support::detect(&root().join("data/lake"), &["--profile", profile]);
        assert_eq!(fresh, shipped, "{profile}");
    }
}

//! `scanlake compact`: the same rows and alerts in fewer files, no bin
//! spanning two of them, and a SIGKILL at any point never shows a row twice
//! or not at all.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::reliability::{kill_after, lake_rows, parquet_files, zeek_logs};
use crate::s3::S3Server;
use crate::support::{Csv, detect, ingest, scanlake, tempdir};

/// `logs` ingested into `lake` in files of 4,000 rows: every file spans the day.
fn ingest_small_files(lake: &str, logs: &[PathBuf], env: &[(&str, String)]) {
    let out = scanlake()
        .args(["ingest", "--rows-per-file", "4000", "--lake", lake])
        .args(logs)
        .envs(env.iter().cloned())
        .output()
        .expect("ingest");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn compact(lake: &str, env: &[(&str, String)]) -> String {
    let out = scanlake()
        .args(["compact", "--rows-per-file", "25000", "--lake", lake])
        .envs(env.iter().cloned())
        .output()
        .expect("compact");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The alerts of both profiles.
fn alerts(lake: &str, env: &[(&str, String)]) -> Vec<Value> {
    ["default", "sentinel"]
        .iter()
        .flat_map(|profile| {
            let out = scanlake()
                .args(["detect", "--format", "json", "--profile", profile, "--lake", lake])
                .envs(env.iter().cloned())
                .output()
                .expect("detect");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("json")
        })
        .collect()
}

fn journals(lake: &Path) -> Vec<PathBuf> {
    crate::ingest::walk(&lake.join("_compact"))
}

#[test]
fn compacting_keeps_every_row_and_alert_and_no_bin_spans_two_files() {
    let dir = tempdir();
    let logs = zeek_logs(dir.path());
    let lake = dir.path().join("lake");
    let name = lake.to_str().unwrap();
    ingest_small_files(name, &logs, &[]);
    let (rows, alerts_before, files_before) = (lake_rows(name, &[]), alerts(name, &[]), parquet_files(&lake).len());
    assert!(!alerts_before.is_empty() && files_before >= 15, "{files_before} files");

    let out = compact(name, &[]);
    assert_eq!(out, format!("1 of 1 days compacted: {files_before} files → 3 (60000 rows)\n"));
    assert_eq!(lake_rows(name, &[]), rows);
    assert_eq!(alerts(name, &[]), alerts_before);
    assert_eq!(parquet_files(&lake).len(), 3);
    assert!(journals(&lake).is_empty());
    // The rule now reads once: no bin spans two files.
    let out = scanlake().args(["-v", "detect", "--lake", name]).output().expect("detect");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("per_bin: Some(1)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing left to do.
    assert_eq!(compact(name, &[]), "0 of 1 days compacted: 0 files → 0 (0 rows)\n");

    // The manifest lists the new files for every input, which stay ingested once.
    for entry in crate::ingest::walk(&lake.join("_ingest")) {
        let entry: Value = serde_json::from_slice(&std::fs::read(&entry).expect("manifest")).expect("json");
        assert_eq!(entry["compacted"], true);
        let files: Vec<&str> = entry["files"].as_array().expect("files").iter().filter_map(Value::as_str).collect();
        assert_eq!(files.len(), 3);
        assert!(files.iter().all(|file| Path::new("/").join(file).exists()), "{files:?}");
    }
    let again = scanlake().args(["ingest", "--lake", name]).arg(&logs[0]).output().expect("ingest");
    assert!(String::from_utf8_lossy(&again.stdout).contains("1 inputs already in the lake"));
    // Its rows share files with the others': --force cannot replace them alone.
    let forced = scanlake().args(["ingest", "--force", "--lake", name]).arg(&logs[0]).output().expect("ingest");
    assert!(!forced.status.success());
    assert!(String::from_utf8_lossy(&forced.stderr).contains("--force cannot replace its rows"));
    assert_eq!(lake_rows(name, &[]), rows);
}

#[test]
fn files_of_an_ingest_that_has_not_completed_are_left_as_they_are() {
    let dir = tempdir();
    let logs = zeek_logs(dir.path());
    let lake = dir.path().join("lake");
    let name = lake.to_str().unwrap();
    ingest_small_files(name, &logs[..2], &[]);
    // As if killed before its manifest entry: a rerun would write these names again.
    let entries = crate::ingest::walk(&lake.join("_ingest"));
    let entry: Value = serde_json::from_slice(&std::fs::read(&entries[0]).expect("manifest")).expect("json");
    std::fs::remove_file(&entries[0]).expect("remove entry");
    let left: Vec<PathBuf> =
        entry["files"].as_array().unwrap().iter().map(|f| Path::new("/").join(f.as_str().unwrap())).collect();
    let rows = lake_rows(name, &[]);

    let out = scanlake().args(["compact", "--lake", name]).output().expect("compact");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{} files left as they are", left.len())));
    assert!(left.iter().all(|file| file.exists()));
    assert_eq!(parquet_files(&lake).len(), left.len() + 1);
    assert_eq!(lake_rows(name, &[]), rows);
}

#[test]
fn sigkill_during_compact_never_shows_a_row_twice_or_not_at_all() {
    let dir = tempdir();
    let logs = zeek_logs(dir.path());
    let template = dir.path().join("template");
    ingest_small_files(template.to_str().unwrap(), &logs, &[]);
    let expected = lake_rows(template.to_str().unwrap(), &[]);
    let alerts_expected = alerts(template.to_str().unwrap(), &[]);
    let copy = |i: usize| {
        let lake = dir.path().join(format!("lake-{i}"));
        let status = std::process::Command::new("cp").arg("-r").arg(&template).arg(&lake).status().expect("cp");
        assert!(status.success());
        lake
    };
    let clean = copy(0);
    let started = std::time::Instant::now();
    compact(clean.to_str().unwrap(), &[]);
    let duration = started.elapsed();
    let trials = 12;
    for trial in 1..=trials {
        let lake = copy(trial);
        let name = lake.to_str().unwrap();
        kill_after(
            &["compact", "--rows-per-file", "25000", "--lake", name],
            &[],
            duration.mul_f64(trial as f64 / trials as f64 * 1.1),
        );
        assert_eq!(lake_rows(name, &[]), expected, "trial {trial}: after the kill");
        compact(name, &[]);
        assert_eq!(lake_rows(name, &[]), expected, "trial {trial}: compacted again");
        assert_eq!(parquet_files(&lake).len(), 3, "trial {trial}");
        assert!(journals(&lake).is_empty(), "trial {trial}");
    }
    assert_eq!(alerts(dir.path().join(format!("lake-{trials}")).to_str().unwrap(), &[]), alerts_expected);
}

#[test]
fn a_lake_in_s3_compacts_the_same_way() {
    let s3 = S3Server::start(false);
    let dir = tempdir();
    let logs = zeek_logs(dir.path());
    let env = s3.env();
    s3.put("compact", b"");
    let lake = "s3://compact/lake";
    ingest_small_files(lake, &logs, &env);
    let (rows, alerts_before) = (lake_rows(lake, &env), alerts(lake, &env));
    assert!(compact(lake, &env).starts_with("1 of 1 days compacted"));
    assert_eq!(lake_rows(lake, &env), rows);
    assert_eq!(alerts(lake, &env), alerts_before);
}

#[test]
fn a_bin_split_over_inputs_and_small_files_in_time_order_are_merged() {
    let dir = tempdir();
    let mut a = Csv::new();
    a.scan("00:10:00", "198.51.100.6", 1, 26);
    let mut b = Csv::new();
    b.scan("00:12:00", "198.51.100.6", 27, 25); // the same bin: 51 ports in all
    let mut c = Csv::new();
    c.scan("01:00:00", "198.51.100.7", 1, 40);
    let (a, b, c) = (a.write(dir.path(), "a.csv"), b.write(dir.path(), "b.csv"), c.write(dir.path(), "c.csv"));
    // Two files share a bin; then two files that share none but fit in one.
    for (name, inputs, rows, alerts) in [("split", vec![&a, &b, &c], 91, 1), ("apart", vec![&a, &c], 66, 0)] {
        let lake = dir.path().join(name);
        ingest(&lake, &inputs.iter().map(|p| p.as_path()).collect::<Vec<_>>());
        let before = detect(&lake, &[]);
        assert_eq!(before.len(), alerts, "{name}");
        let out = compact(lake.to_str().unwrap(), &[]);
        assert_eq!(out, format!("1 of 1 days compacted: {} files → 1 ({rows} rows)\n", inputs.len()), "{name}");
        assert_eq!(detect(&lake, &[]), before, "{name}");
        assert_eq!(parquet_files(&lake).len(), 1, "{name}");
    }
}

//! Reliability: idempotent and concurrent ingests, SIGKILL in the middle of
//! an ingest, hostile input, damaged lake files.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::s3::S3Server;
use crate::support::{Csv, detect, ingest, scanlake, tempdir};

/// `count(*)` and a checksum of the lake's rows, or the error text.
pub fn lake_rows(lake: &str, env: &[(&str, String)]) -> Result<(i64, i64), String> {
    let sql = "SELECT count(*) AS n, coalesce(sum(DstPortNumber + SrcPortNumber), 0) AS ports FROM network_session";
    let out = scanlake()
        .args(["query", "--format", "json", "--lake", lake, sql])
        .envs(env.iter().cloned())
        .output()
        .expect("run");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let rows: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok((rows[0]["n"].as_i64().unwrap_or(-1), rows[0]["ports"].as_i64().unwrap_or(-1)))
}

pub fn parquet_files(lake: &Path) -> Vec<PathBuf> {
    crate::ingest::walk(&lake.join("network_session"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect()
}

#[test]
fn ingesting_the_same_input_again_is_a_no_op_and_force_replaces_it() {
    let dir = tempdir();
    let mut csv = Csv::new();
    csv.scan("00:10:00", "198.51.100.6", 1, 60);
    let input = csv.write(dir.path(), "e.csv");
    let lake = dir.path().join("lake");
    ingest(&lake, &[&input]);
    let first = parquet_files(&lake);
    let again = ingest(&lake, &[&input]);
    assert!(again.contains("0 written") && again.contains("1 inputs already in the lake"), "{again}");
    assert_eq!(parquet_files(&lake), first);
    // A copy under another name is the same content: still a no-op.
    let copy = dir.path().join("copy.csv");
    std::fs::copy(&input, &copy).expect("copy");
    assert!(ingest(&lake, &[&copy]).contains("1 inputs already in the lake"));
    assert_eq!(detect(&lake, &[]).len(), 1);

    let out = scanlake().args(["ingest", "--force", "--lake"]).arg(&lake).arg(&input).output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("60 rows read, 60 written"));
    let replaced = parquet_files(&lake);
    assert_eq!(replaced.len(), 1);
    assert_ne!(replaced, first, "new files replace the old ones");
    assert_eq!(lake_rows(lake.to_str().unwrap(), &[]).map(|(n, _)| n), Ok(60));
    let manifest = crate::ingest::walk(&lake.join("_ingest"));
    let entry: Value = serde_json::from_slice(&std::fs::read(&manifest[0]).expect("manifest")).expect("json");
    assert_eq!(entry["generation"], 1);
    assert_eq!(entry["rows"], 60);
}

/// Three Zeek logs of one day, 20,000 lines each (planted scans in each).
pub fn zeek_logs(dir: &Path) -> Vec<PathBuf> {
    (0..3)
        .map(|seed| {
            let path = dir.join(format!("conn-{seed}.log"));
            let out = scanlake()
                .args(["generate", "--rows", "20000", "--days", "1", "--seed", &seed.to_string(), "--zeek"])
                .arg(&path)
                .output()
                .expect("generate");
            assert!(out.status.success());
            path
        })
        .collect()
}

#[test]
fn two_ingests_at_once_into_one_lake_store_every_input_once() {
    let dir = tempdir();
    let logs = zeek_logs(dir.path());
    let lake = dir.path().join("lake");
    let spawn = |inputs: &[&PathBuf]| -> Child {
        scanlake_std()
            .args(["ingest", "--rows-per-file", "2000", "--lake"])
            .arg(&lake)
            .args(inputs)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn")
    };
    // Both runs carry conn-1.log: it must still be stored once.
    let mut a = spawn(&[&logs[0], &logs[1]]);
    let mut b = spawn(&[&logs[2], &logs[1]]);
    assert!(a.wait().expect("wait").success() && b.wait().expect("wait").success());
    let (n, _) = lake_rows(lake.to_str().unwrap(), &[]).expect("lake readable");
    assert_eq!(n, 60_000);
}

fn scanlake_std() -> std::process::Command {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("scanlake"))
}

/// Runs `scanlake ARGS` and kills it (SIGKILL) `after` it started.
pub fn kill_after(args: &[&str], env: &[(&str, String)], after: std::time::Duration) {
    let mut child = scanlake_std()
        .args(args)
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(after);
    let _ = child.kill();
    child.wait().expect("wait");
}

/// Kills `ingest` at `trials` points spread over a clean run's duration; after
/// each kill the lake is readable and a rerun gives exactly the clean rows.
fn kill_trials(lake_for: &dyn Fn(usize) -> String, input: &str, env: &[(&str, String)], trials: usize) {
    let run = |lake: &str| {
        let out = scanlake_std()
            .args(["ingest", "--rows-per-file", "4000", "--lake", lake, input])
            .envs(env.iter().cloned())
            .output()
            .expect("ingest");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let clean = lake_for(0);
    let started = std::time::Instant::now();
    run(&clean);
    let duration = started.elapsed();
    let expected = lake_rows(&clean, env).expect("clean lake");
    assert!(expected.0 > 0);
    for trial in 1..=trials {
        let lake = lake_for(trial);
        // Points spread evenly from the start to just past the end of a clean run.
        let after = duration.mul_f64(trial as f64 / trials as f64 * 1.1);
        kill_after(&["ingest", "--rows-per-file", "4000", "--lake", &lake, input], env, after);
        // Readable, whatever the kill left: every visible file is whole.
        match lake_rows(&lake, env) {
            Ok((n, _)) => assert!(n <= expected.0, "trial {trial}: {n} rows after the kill"),
            Err(e) => assert!(e.contains("no such folder"), "trial {trial}: lake unreadable after the kill: {e}"),
        }
        run(&lake);
        assert_eq!(lake_rows(&lake, env), Ok(expected), "trial {trial}: rerun after the kill");
    }
}

fn zeek_log(dir: &Path, rows: &str) -> PathBuf {
    let path = dir.join("conn.log");
    let out =
        scanlake().args(["generate", "--rows", rows, "--days", "2", "--zeek"]).arg(&path).output().expect("generate");
    assert!(out.status.success());
    path
}

#[test]
fn sigkill_during_ingest_leaves_a_readable_lake_and_a_rerun_gives_the_clean_rows() {
    let dir = tempdir();
    let input = zeek_log(dir.path(), "60000");
    let lake_for = |i: usize| dir.path().join(format!("lake-{i}")).display().to_string();
    kill_trials(&lake_for, input.to_str().unwrap(), &[], 20);
    // Staged writes a kill left behind are never Parquet files a query would open.
    for i in 1..=20 {
        let lake = PathBuf::from(lake_for(i));
        for file in crate::ingest::walk(&lake) {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.ends_with(".parquet") || name.ends_with(".json") || name.contains('#'), "{name}");
        }
    }
}

#[test]
fn sigkill_during_an_ingest_into_s3_is_safe_too() {
    let s3 = S3Server::start(false);
    let dir = tempdir();
    let input = zeek_log(dir.path(), "60000");
    let env = s3.env();
    s3.put("kills", b"");
    let lake_for = |i: usize| format!("s3://kills/lake-{i}");
    kill_trials(&lake_for, input.to_str().unwrap(), &env, 6);
}

#[test]
fn hostile_input_is_rejected_line_by_line_and_the_good_rows_around_it_are_kept() {
    let dir = tempdir();
    let good =
        |i: u32| format!("2024-04-19T00:10:{:02}Z,Corelight,Zeek,198.51.100.9,203.0.113.9,{},TCP\n", i % 60, i + 1);
    let mut csv = String::from(crate::support::HEADER) + "\n";
    (0..10).for_each(|i| csv += &good(i));
    csv += "2024-04-19T00:10:00Z,Corelight,Zeek,198.51.100.9,203.0.113.9,99999999999999999999,TCP\n"; // line 12
    csv += "2024-04-19T00:10:00Z,Corelight,Zeek,198.51.100.9,203.0.113.9,70000,TCP\n"; // 13
    csv += "1969-12-31T23:59:59Z,Corelight,Zeek,198.51.100.9,203.0.113.9,80,TCP\n"; // 14
    csv += "9999-12-31T23:59:59Z,Corelight,Zeek,198.51.100.9,203.0.113.9,80,TCP\n"; // 15: a valid time
    csv += "2024-04-19T00:10:00Z,\"Vendor, \"\"quoted\"\"\nover two lines\",Zeek,198.51.100.9,203.0.113.9,8080,TCP\n"; // 16-17
    csv += "2024-04-19T00:10:00Z,Core\0light,Zeek,198.51.100.9,203.0.113.9,81,TCP\n"; // 18
    let mut bytes = csv.into_bytes();
    bytes.extend_from_slice(b"2024-04-19T00:10:00Z,Core\xff\xfelight,Zeek,198.51.100.9,203.0.113.9,82,TCP\n"); // 19
    bytes.extend_from_slice(
        format!("2024-04-19T00:10:00Z,Corelight,Zeek,{},203.0.113.9,83,TCP\n", "A".repeat(10_000_000)).as_bytes(),
    ); // 20
    (10..20).for_each(|i| bytes.extend_from_slice(good(i).as_bytes()));
    let hostile = dir.path().join("hostile.csv");
    std::fs::write(&hostile, &bytes).expect("write");
    let deep = dir.path().join("deep.json");
    let nested = format!("{}1{}", "{\"a\":".repeat(5000), "}".repeat(5000));
    std::fs::write(
        &deep,
        format!(
            "{{\"TimeGenerated\":\"2024-04-19T00:10:00Z\",\"SrcIpAddr\":\"198.51.100.9\",\"DstPortNumber\":1}}\n{nested}\n{{\"TimeGenerated\":\"2024-04-19T00:10:01Z\",\"SrcIpAddr\":\"198.51.100.9\",\"DstPortNumber\":2,\"x\":{}{}}}\n{{\"TimeGenerated\":\"2024-04-19T00:10:02Z\",\"SrcIpAddr\":\"198.51.100.9\",\"DstPortNumber\":3}}\n",
            "[".repeat(5000),
            "]".repeat(5000)
        ),
    )
    .expect("write");
    let lake = dir.path().join("lake");
    let rejects = dir.path().join("rejects.jsonl");
    let out = crate::support::ingest_with_rejects(&lake, &rejects, &[&hostile, &deep]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"));
    // 20 good rows, the quoted multi-line vendor, the NUL vendor, year 9999; two JSON rows.
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("32 rows read, 25 written, 7 rejected"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let reasons: Vec<(u64, String)> = std::fs::read_to_string(&rejects)
        .expect("rejects")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            (v["line"].as_u64().expect("line"), v["reason"].as_str().expect("reason").to_string())
        })
        .collect();
    let expect = [
        (12, "invalid number"),
        (13, "out of range 0..=65535"),
        (14, "before 1970"),
        (19, "invalid UTF-8"),
        (20, "more than a value may have"),
        (2, "recursion limit exceeded"),
        (3, "recursion limit exceeded"),
    ];
    for (line, reason) in expect {
        assert!(reasons.iter().any(|(l, r)| *l == line && r.contains(reason)), "line {line}: {reason} in {reasons:?}");
    }
    let (n, _) = lake_rows(lake.to_str().unwrap(), &[]).expect("readable");
    assert_eq!(n, 25);
}

#[test]
fn truncated_compressed_input_keeps_the_whole_rows_before_the_damage() {
    let dir = tempdir();
    let mut csv = Csv::new();
    for i in 0..5000 {
        csv.event(&format!("2024-04-19T00:{:02}:{:02}Z", (i / 60) % 60, i % 60), "198.51.100.9", Some(i + 1));
    }
    let plain = std::fs::read(csv.write(dir.path(), "e.csv")).expect("read");
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&plain).expect("gzip");
        e.finish().expect("gzip")
    };
    let zst = zstd::encode_all(&plain[..], 3).expect("zstd");
    for (name, bytes) in [("t.csv.gz", gz), ("t.csv.zst", zst)] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes[..bytes.len() * 6 / 10]).expect("write");
        let lake = dir.path().join(format!("lake-{name}"));
        let out = scanlake().args(["ingest", "--lake"]).arg(&lake).arg(&path).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name) && stderr.contains("the rows read were kept"), "{stderr}");
        // The rows kept are whole: ports 1..=n, each once, none cut short.
        let sql =
            "SELECT count(*) AS n, count(DISTINCT DstPortNumber) AS d, max(DstPortNumber) AS m FROM network_session";
        let q = scanlake().args(["query", "--format", "json", "--lake"]).arg(&lake).arg(sql).output().expect("query");
        let v: Value = serde_json::from_slice(&q.stdout).expect("json");
        let n = v[0]["n"].as_i64().expect("n");
        assert!(n > 1000 && n < 5000, "{name}: {n}");
        assert_eq!((v[0]["d"].as_i64(), v[0]["m"].as_i64()), (Some(n), Some(n)), "{name}");
    }
}

#[test]
fn a_damaged_lake_file_is_named_and_can_be_skipped() {
    let dir = tempdir();
    let mut csv = Csv::new();
    csv.scan("00:10:00", "198.51.100.1", 1, 60);
    let lake = dir.path().join("lake");
    ingest(&lake, &[&csv.write(dir.path(), "a.csv")]);
    let mut other = Csv::new();
    other.scan("00:20:00", "198.51.100.2", 1, 60);
    ingest(&lake, &[&other.write(dir.path(), "b.csv")]);
    assert_eq!(detect(&lake, &[]).len(), 2);
    let files = parquet_files(&lake);
    let victim = &files[0];
    let bytes = std::fs::read(victim).expect("read");
    std::fs::write(victim, &bytes[..bytes.len() / 2]).expect("truncate");
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();

    let out = scanlake().args(["detect", "--format", "json", "--lake"]).arg(&lake).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&name) && stderr.contains("--skip-bad-files"), "{stderr}");

    let out =
        scanlake().args(["detect", "--skip-bad-files", "--format", "json", "--lake"]).arg(&lake).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped damaged lake file"));
    let alerts: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(alerts.as_array().map(Vec::len), Some(1), "the other file's alert");
}

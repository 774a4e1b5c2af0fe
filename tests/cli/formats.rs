//! Output formats, exit codes, errors, and values that must not become SQL.

use crate::support::{Csv, lake_from, scanlake};

fn scan_lake() -> (tempfile::TempDir, std::path::PathBuf) {
    let mut csv = Csv::new();
    csv.scan("00:10:00", "198.51.100.1", 1, 51).scan("00:20:00", "198.51.100.2", 1, 10);
    lake_from(&csv)
}

fn detect_output(lake: &std::path::Path, args: &[&str]) -> std::process::Output {
    scanlake().arg("detect").arg("--lake").arg(lake).args(args).output().expect("run detect")
}

#[test]
fn every_output_format_carries_the_alert_fields() {
    let (dir, lake) = scan_lake();
    const FIELDS: [&str; 11] = [
        "SrcIpAddr",
        "TimeGenerated",
        "BinEnd",
        "AttemptedPortsCount",
        "AttemptedPorts",
        "ReportedBy",
        "FirstSeen",
        "LastSeen",
        "EventCount",
        "DistinctTargets",
        "AlertId",
    ];
    let jsonl = detect_output(&lake, &["--format", "jsonl"]);
    let line: serde_json::Value = serde_json::from_slice(&jsonl.stdout).expect("one JSON line");
    let keys: Vec<&str> = line.as_object().expect("object").keys().map(String::as_str).collect();
    let mut expected = FIELDS.to_vec();
    expected.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, expected);
    assert_eq!(line["TimeGenerated"], "2024-04-19T00:10:00Z");
    assert_eq!(line["LastSeen"], "2024-04-19T00:10:50Z");
    assert_eq!(line["DistinctTargets"], 1);

    let csv = detect_output(&lake, &["--format", "csv"]);
    let text = String::from_utf8_lossy(&csv.stdout);
    assert_eq!(text.lines().next(), Some(FIELDS.join(",").as_str()));
    assert!(text.contains("\"[1,2,3,"), "{text}");

    let table = detect_output(&lake, &["--format", "table"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("| 198.51.100.1 "));

    let parquet = dir.path().join("alerts.parquet");
    let out = scanlake().arg("detect").arg("--lake").arg(&lake).arg("--output").arg(&parquet).output().expect("run");
    assert!(out.status.success());
    let file = std::fs::File::open(&parquet).expect("parquet written");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    let schema = reader.schema().clone();
    assert_eq!(schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>(), FIELDS);
    assert!(matches!(
        schema.field_with_name("TimeGenerated").expect("field").data_type(),
        arrow::datatypes::DataType::Timestamp(_, _)
    ));
    let rows: usize = reader.build().expect("reader").map(|b| b.expect("batch").num_rows()).sum();
    assert_eq!(rows, 1);
}

#[test]
fn explain_prints_the_plan_as_it_ran_and_leaves_the_alerts_alone() {
    let (_dir, lake) = scan_lake();
    let plain = detect_output(&lake, &["--format", "csv"]);
    let explained = detect_output(&lake, &["--format", "csv", "--explain", "-q"]);
    assert!(explained.status.success());
    assert_eq!(explained.stdout, plain.stdout);
    let plan = String::from_utf8_lossy(&explained.stderr);
    assert!(plan.starts_with("queries/port_scan.sql: the plan as it ran"), "{plan}");
    // A step per line with its metrics, from the one alert at the top down to the scans of the lake.
    assert!(plan.lines().nth(1).is_some_and(|top| top.contains("output_rows=1,")), "{plan}");
    assert!(plan.contains("DataSourceExec") && plan.contains("elapsed_compute="), "{plan}");
}

#[test]
fn empty_results_are_still_valid_output() {
    let (_dir, lake) = scan_lake();
    let json = detect_output(&lake, &["--format", "json", "--threshold", "1000"]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&json.stdout).expect("json"), serde_json::json!([]));
    let csv = detect_output(&lake, &["--format", "csv", "--threshold", "1000"]);
    assert!(String::from_utf8_lossy(&csv.stdout).starts_with("SrcIpAddr,TimeGenerated,"));
}

#[test]
fn exit_codes() {
    let (_dir, lake) = scan_lake();
    assert_eq!(detect_output(&lake, &["--exit-code", "--format", "csv"]).status.code(), Some(1));
    assert_eq!(detect_output(&lake, &["--format", "csv"]).status.code(), Some(0));
    assert_eq!(detect_output(&lake, &["--exit-code", "--threshold", "100", "--format", "csv"]).status.code(), Some(0));
    let missing = scanlake().args(["detect", "--lake", "/nonexistent/lake"]).output().expect("run");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/lake: no such folder"));
    assert_eq!(detect_output(&lake, &["--bin", "0s"]).status.code(), Some(2));
    assert_eq!(detect_output(&lake, &["--from", "yesterday"]).status.code(), Some(2));
    let reversed = detect_output(&lake, &["--from", "2024-04-20T00:00:00Z", "--to", "2024-04-19T00:00:00Z"]);
    assert_eq!(reversed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&reversed.stderr).contains("--from must be before --to"));
}

#[test]
fn hostile_parameter_values_never_reach_sql() {
    let (_dir, lake) = scan_lake();
    let out = detect_output(&lake, &["--exclude-src", "1.2.3.4'); DROP TABLE x; --"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an address or CIDR network"));
    let out = detect_output(&lake, &["--exclude-port", "80; DROP TABLE x"]);
    assert_eq!(out.status.code(), Some(2));
    // Filters are values compared as data: a quote is just a character.
    let out = detect_output(
        &lake,
        &["--format", "json", "--src-prefix", "198.' OR '1'='1", "--event-result", "x' OR 1=1 --"],
    );
    assert!(out.status.success());
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json"), serde_json::json!([]));
}

#[test]
fn query_runs_sql_read_only() {
    let (dir, lake) = scan_lake();
    let out = scanlake()
        .args(["query", "--format", "json", "--lake"])
        .arg(&lake)
        .arg("SELECT SrcIpAddr, count(DISTINCT DstPortNumber) AS ports FROM network_session GROUP BY SrcIpAddr ORDER BY SrcIpAddr")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        rows,
        serde_json::json!([{"SrcIpAddr": "198.51.100.1", "ports": 51}, {"SrcIpAddr": "198.51.100.2", "ports": 10}])
    );
    for statement in [
        "DROP TABLE network_session",
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO network_session SELECT * FROM network_session",
        "COPY (SELECT 1) TO '/tmp/x.csv'",
    ] {
        let out = scanlake().args(["query", "--lake"]).arg(&lake).arg(statement).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{statement}");
    }
    let sql = dir.path().join("q.sql");
    std::fs::write(&sql, "SELECT count(*) AS n FROM network_session").expect("write");
    let out = scanlake()
        .args(["query", "--format", "csv", "--lake"])
        .arg(&lake)
        .arg("--file")
        .arg(&sql)
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n61\n");
}

#[test]
fn a_custom_rule_file_runs_with_the_same_parameters() {
    let (dir, lake) = scan_lake();
    let sql = dir.path().join("rule.sql");
    std::fs::write(
        &sql,
        "SELECT SrcIpAddr, count(DISTINCT DstPortNumber) AS n FROM im_network_session \
         WHERE SrcIsExternal GROUP BY SrcIpAddr HAVING count(DISTINCT DstPortNumber) > $threshold ORDER BY SrcIpAddr",
    )
    .expect("write");
    let out = detect_output(&lake, &["--format", "csv", "--threshold", "5", "--query", sql.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SrcIpAddr,n\n198.51.100.1,51\n198.51.100.2,10\n");
}

#[test]
fn a_folder_that_is_not_a_lake_is_flagged() {
    let dir = crate::support::tempdir();
    let out = scanlake().args(["detect", "--format", "csv", "--lake"]).arg(dir.path()).output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no network_session/ folder here"));
}

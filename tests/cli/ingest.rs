//! Ingest: formats, compression, stdin, bad rows, and the lake it writes.

use std::io::Write;

use crate::support::{Csv, detect, ingest, scanlake, summary, tempdir};

#[test]
fn malformed_rows_are_rejected_with_line_and_reason_and_good_rows_kept() {
    let dir = tempdir();
    let mut csv = Csv::new();
    csv.scan("00:10:00", "198.51.100.1", 1, 25) // lines 2-26
        .raw("yesterday,Corelight,Zeek,198.51.100.1,203.0.113.9,80,TCP") // line 27: bad time
        .raw("2024-04-19T00:10:30Z,Corelight,Zeek,198.51.100.1") // line 28: too few columns
        .raw("2024-04-19T00:10:30Z,Corelight,Zeek,198.51.100.1,203.0.113.9,http,TCP") // line 29: bad port
        .raw("2024-04-19T00:10:30Z,Corelight,Zeek,198.51.100.1,203.0.113.9,70000,TCP") // line 30: port out of range
        .raw(",Corelight,Zeek,198.51.100.1,203.0.113.9,81,TCP") // line 31: no time
        .scan("00:10:00", "198.51.100.1", 26, 26); // lines 32-57
    let input = csv.write(dir.path(), "mixed.csv");
    let rejects = dir.path().join("rejects.jsonl");
    let lake = dir.path().join("lake");
    let out = crate::support::ingest_with_rejects(&lake, &rejects, &[&input]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("56 rows read, 51 written, 5 rejected, 0 skipped; 1 files in 1 partitions"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mixed.csv:27: rejected: TimeGenerated: unrecognised time `yesterday`"), "{stderr}");
    assert!(stderr.contains("mixed.csv:28: rejected: expected 7 columns, found 4"), "{stderr}");
    assert!(stderr.contains("mixed.csv:29: rejected: DstPortNumber: invalid number `http`"), "{stderr}");
    assert!(stderr.contains("mixed.csv:30: rejected: DstPortNumber: 70000 is out of range 0..=65535"), "{stderr}");
    assert!(stderr.contains("mixed.csv:31: rejected: TimeGenerated is missing"), "{stderr}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&rejects)
        .expect("rejects file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let numbers: Vec<i64> = lines.iter().filter_map(|l| l["line"].as_i64()).collect();
    assert_eq!(numbers, [27, 28, 29, 30, 31]);
    assert_eq!(lines[2]["raw"], "2024-04-19T00:10:30Z,Corelight,Zeek,198.51.100.1,203.0.113.9,http,TCP");
    // All 51 good rows are in: the scan alerts with 51 ports.
    assert_eq!(summary(&detect(&lake, &[])), vec![("198.51.100.1".into(), "2024-04-19T00:10:00Z".into(), 51)]);
}

#[test]
fn json_lines_gzip_and_stdin() {
    let dir = tempdir();
    let mut json = String::new();
    for port in 1..=51 {
        json += &format!(
            "{{\"TimeGenerated\":\"2024-04-19T00:10:{:02}Z\",\"SrcIpAddr\":\"198.51.100.2\",\"DstPortNumber\":{port},\"EventVendor\":\"AWS\",\"EventProduct\":\"VPC\",\"Extra\":1}}\n",
            port % 60
        );
    }
    json += "{\"TimeGenerated\": \"2024-04-19T00:10:00Z\", \"DstPortNumber\": [1]}\n";
    json += "not json\n\n";
    let gz = dir.path().join("events.jsonl.gz");
    let mut encoder =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).expect("create"), flate2::Compression::fast());
    encoder.write_all(json.as_bytes()).expect("write");
    encoder.finish().expect("finish");
    let lake = dir.path().join("lake");
    let stdout = ingest(&lake, &[&gz]);
    assert!(stdout.starts_with("53 rows read, 51 written, 2 rejected"), "{stdout}");
    assert!(stdout.contains("ignored columns: Extra"), "{stdout}");
    let alerts = detect(&lake, &[]);
    assert_eq!(alerts[0]["ReportedBy"], serde_json::json!(["AWS/VPC"]));

    // The same content on stdin, uncompressed, into another lake.
    let lake2 = dir.path().join("lake2");
    let out = scanlake().args(["ingest", "--lake"]).arg(&lake2).arg("-").write_stdin(json).output().expect("run");
    assert!(out.status.success());
    assert_eq!(detect(&lake2, &[]).len(), 1);
}

#[test]
fn zstd_input_and_explicit_format() {
    let dir = tempdir();
    let mut csv = Csv::new();
    csv.scan("00:10:00", "198.51.100.3", 1, 51);
    let plain = csv.write(dir.path(), "events.csv");
    let zst = dir.path().join("events.bin");
    let data = std::fs::read(&plain).expect("read");
    std::fs::write(&zst, zstd::encode_all(&data[..], 3).expect("zstd")).expect("write");
    let lake = dir.path().join("lake");
    let out = scanlake().args(["ingest", "--format", "asim-csv", "--lake"]).arg(&lake).arg(&zst).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(detect(&lake, &[]).len(), 1);
}

#[test]
fn sentinel_portal_export_layout_and_local_time() {
    let dir = tempdir();
    let utc = dir.path().join("utc.csv");
    std::fs::write(
        &utc,
        "\u{feff}\"TimeGenerated [UTC]\",SrcIpAddr,DstPortNumber\n\"4/19/2024, 12:10:03.000 AM\",198.51.100.4,80\n",
    )
    .expect("write");
    let local = dir.path().join("local.csv");
    std::fs::write(
        &local,
        "TimeGenerated [Local Time],SrcIpAddr,DstPortNumber\n\"4/19/2024, 2:10:03.000 AM\",198.51.100.4,81\n",
    )
    .expect("write");
    let lake = dir.path().join("lake");
    // Local times without an offset are rejected unless the zone is given.
    let out = scanlake().args(["ingest", "--lake"]).arg(&lake).arg(&local).output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 rejected"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --local-offset"));
    // The same file again with the zone: --force replaces what the first run stored.
    let out = scanlake()
        .args(["ingest", "--force", "--local-offset", "+02:00", "--lake"])
        .arg(&lake)
        .arg(&local)
        .arg(&utc)
        .output()
        .expect("run");
    assert!(out.status.success());
    let rows = scanlake()
        .args(["query", "--format", "json", "--lake"])
        .arg(&lake)
        .arg("SELECT DstPortNumber, TimeGenerated FROM network_session ORDER BY DstPortNumber")
        .output()
        .expect("run");
    let rows: serde_json::Value = serde_json::from_slice(&rows.stdout).expect("json");
    assert_eq!(
        rows,
        serde_json::json!([
            {"DstPortNumber": 80, "TimeGenerated": "2024-04-19T00:10:03Z"},
            {"DstPortNumber": 81, "TimeGenerated": "2024-04-19T00:10:03Z"}
        ])
    );
}

#[test]
fn lake_files_are_sorted_zstd_parquet_with_page_index() {
    let dir = tempdir();
    let mut csv = Csv::new();
    csv.event("2024-04-19T00:30:00Z", "198.51.100.5", Some(1)).event("2024-04-19T00:10:00Z", "198.51.100.5", Some(2));
    let (_d, lake) = crate::support::lake_from(&csv);
    let files: Vec<_> = walk(&lake.join("network_session"));
    assert_eq!(files.len(), 1);
    assert!(files[0].extension().is_some_and(|e| e == "parquet"));
    let file = std::fs::File::open(&files[0]).expect("open");
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(file).expect("parquet");
    use parquet::file::reader::FileReader;
    let meta = reader.metadata();
    let column = meta.row_group(0).column(0);
    assert_eq!(column.column_path().string(), "TimeGenerated");
    assert!(matches!(column.compression(), parquet::basic::Compression::ZSTD(_)));
    assert!(column.column_index_offset().is_some(), "page index written");
    assert!(meta.row_group(0).sorting_columns().is_some());
    // Statistics where readers skip by them (time, the flags, the reporter), not on per-event values.
    let group = meta.row_group(0);
    let column = |name: &str| group.columns().iter().find(|c| c.column_path().string() == name).expect("column");
    let statistics = |name: &str| column(name).statistics().is_some();
    for name in ["TimeGenerated", "SrcIsExternal", "SrcIsExternalSentinel", "EventProduct", "DvcAction"] {
        assert!(statistics(name), "{name} has statistics");
    }
    for name in ["SrcIpAddr", "DstIpAddr", "DstPortNumber", "SrcIpV4"] {
        assert!(!statistics(name), "{name} has no statistics");
    }
    // Start and end times as deltas from row to row; TimeGenerated plain.
    let encodings = |name: &str| column(name).encodings().collect::<Vec<_>>();
    for name in ["EventStartTime", "EventEndTime"] {
        assert!(encodings(name).contains(&parquet::basic::Encoding::DELTA_BINARY_PACKED), "{name}");
    }
    assert!(!encodings("TimeGenerated").contains(&parquet::basic::Encoding::DELTA_BINARY_PACKED));
    // A column holding one value in the whole file (here the source) is
    // written plain; one whose values vary keeps its dictionary.
    let dictionary = |name: &str| encodings(name).contains(&parquet::basic::Encoding::RLE_DICTIONARY);
    assert!(!dictionary("SrcIpAddr"));
    assert!(dictionary("DstPortNumber"));
    let rows = scanlake()
        .args(["query", "--format", "csv", "--lake"])
        .arg(&lake)
        .arg("SELECT DstPortNumber, EventStartTime, EventEndTime FROM network_session")
        .output()
        .expect("run");
    assert_eq!(
        String::from_utf8_lossy(&rows.stdout),
        "DstPortNumber,EventStartTime,EventEndTime\n2,2024-04-19T00:10:00Z,2024-04-19T00:10:00Z\n1,2024-04-19T00:30:00Z,2024-04-19T00:30:00Z\n"
    );
    drop(dir);
}

#[test]
fn unreadable_and_unrecognised_inputs_fail_with_exit_2() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let missing = dir.path().join("missing.csv");
    let out = scanlake().args(["ingest", "--lake"]).arg(&lake).arg(&missing).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.csv"));
    let odd = dir.path().join("odd.txt");
    std::fs::write(&odd, "hello world\n").expect("write");
    let out = scanlake().args(["ingest", "--lake"]).arg(&lake).arg(&odd).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot tell the format"));
    let no_time = dir.path().join("no_time.csv");
    std::fs::write(&no_time, "SrcIpAddr,DstPortNumber,TimeGenerated_\n").expect("write");
    let out =
        scanlake().args(["ingest", "--format", "asim-csv", "--lake"]).arg(&lake).arg(&no_time).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no TimeGenerated column"));
}

/// Every file below `dir`.
pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() { stack.push(path) } else { out.push(path) }
        }
    }
    out.sort();
    out
}

/// A Zeek log of several parts (parsed side by side, 4 MiB each) with a
/// header block and bad lines in the middle gives what reading it line by
/// line gives: every good row, rejections at their line numbers, and files
/// of exactly `--rows-per-file` rows.
#[test]
fn a_zeek_log_parsed_in_parts_keeps_line_numbers_and_file_sizes() {
    let dir = tempdir();
    let generated = dir.path().join("generated.log");
    let out = scanlake()
        .args(["generate", "--rows", "60000", "--days", "1", "--seed", "3", "--zeek"])
        .arg(&generated)
        .output()
        .expect("generate");
    assert!(out.status.success());
    let text = std::fs::read_to_string(&generated).expect("read");
    let (header, data): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with('#'));
    let (opening, close) = header.split_at(header.len() - 1);
    assert!(close[0].starts_with("#close") && data.len() == 60_000);
    let too_few = "1713520000.000000\tCx\t198.51.100.7\t1\t203.0.113.9";
    let mut lines: Vec<&str> = opening.to_vec();
    lines.extend(&data[..20_000]);
    lines.push(too_few);
    lines.push("");
    lines.extend(&data[20_000..45_000]);
    // A rotated log appended: its header again, then a line of too few fields.
    lines.extend(opening);
    lines.push("not\ta\tconn\tline");
    lines.extend(&data[45_000..]);
    lines.extend(close);
    let first_bad = opening.len() + 20_000 + 1;
    // After it: the blank line, 25,000 rows, the header again.
    let second_bad = first_bad + 1 + 25_000 + opening.len() + 1;
    let input = dir.path().join("conn.log");
    std::fs::write(&input, lines.join("\n") + "\n").expect("write");
    assert!(std::fs::metadata(&input).expect("size").len() > 5 << 20, "more than one part");

    let lake = dir.path().join("lake");
    let rejects = dir.path().join("rejects.jsonl");
    let out = scanlake()
        .args(["ingest", "--rows-per-file", "7000", "--rejects"])
        .arg(&rejects)
        .arg("--lake")
        .arg(&lake)
        .arg(&input)
        .output()
        .expect("ingest");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("60002 rows read, 60000 written, 2 rejected"), "{stdout}");
    let numbers: Vec<(i64, String)> = std::fs::read_to_string(&rejects)
        .expect("rejects")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .map(|v| (v["line"].as_i64().expect("line"), v["reason"].as_str().expect("reason").to_string()))
        .collect();
    assert_eq!(
        numbers,
        [
            (first_bad as i64, "expected 21 fields, found 5".to_string()),
            (second_bad as i64, "expected 21 fields, found 4".to_string())
        ]
    );
    let mut sizes: Vec<i64> = walk(&lake.join("network_session"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| {
            use parquet::file::reader::FileReader;
            let file = std::fs::File::open(p).expect("open");
            parquet::file::reader::SerializedFileReader::new(file)
                .expect("parquet")
                .metadata()
                .file_metadata()
                .num_rows()
        })
        .collect();
    sizes.sort_unstable();
    let mut expected = vec![7000; 60_000 / 7000];
    expected.insert(0, 60_000 % 7000);
    assert_eq!(sizes, expected, "files of exactly --rows-per-file rows (one UTC day)");
    // The same rows as the generated log read as it is.
    let plain = dir.path().join("plain");
    ingest(&plain, &[&generated]);
    let sql = "SELECT count(*) AS n, sum(DstPortNumber) AS ports, sum(SrcBytes) AS bytes, \
               count(DISTINCT SrcIpAddr || DstIpAddr || CAST(TimeGenerated AS VARCHAR)) AS keys FROM network_session";
    let query = |lake: &std::path::Path| {
        let out = scanlake().args(["query", "--format", "json", "--lake"]).arg(lake).arg(sql).output().expect("query");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    assert_eq!(query(&lake), query(&plain));
    assert_eq!(detect(&lake, &[]), detect(&plain, &[]));
}

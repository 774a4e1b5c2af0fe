//! The rule's edge cases (SPEC section 1), with exact expected alerts.

use crate::support::{Csv, detect, lake_from, sources, summary};

const T: &str = "2024-04-19T00:10:00Z";

#[test]
fn fifty_ports_do_not_alert_and_fifty_one_do() {
    let mut csv = Csv::new();
    csv.scan("00:10:00", "198.51.100.50", 1, 50).scan("00:10:00", "198.51.100.51", 1, 51);
    let (_dir, lake) = lake_from(&csv);
    for profile in ["default", "sentinel"] {
        let alerts = detect(&lake, &["--profile", profile]);
        assert_eq!(summary(&alerts), vec![("198.51.100.51".into(), T.into(), 51)], "{profile}");
    }
}

#[test]
fn threshold_is_a_parameter() {
    let mut csv = Csv::new();
    csv.scan("00:10:00", "198.51.100.50", 1, 50).scan("00:10:00", "198.51.100.51", 1, 51);
    let (_dir, lake) = lake_from(&csv);
    assert_eq!(sources(&detect(&lake, &["--threshold", "49"])), ["198.51.100.50", "198.51.100.51"]);
    assert!(detect(&lake, &["--threshold", "51"]).is_empty());
}

#[test]
fn bins_are_aligned_and_half_open() {
    let mut csv = Csv::new();
    // 50 ports inside [00:00, 00:05), the 51st exactly at 00:05:00: two bins, no alert.
    csv.scan("00:00:00", "198.51.100.1", 1, 50).event("2024-04-19T00:05:00Z", "198.51.100.1", Some(999));
    // The same with the 51st one microsecond before the boundary: alert.
    csv.scan("00:00:00", "198.51.100.2", 1, 50).event("2024-04-19T00:04:59.999999Z", "198.51.100.2", Some(999));
    // 30 + 30 ports straddling 00:15: 60 in ten minutes, never 51 in one bin.
    csv.scan("00:14:30", "198.51.100.3", 1, 30).scan("00:15:00", "198.51.100.3", 101, 30);
    let (_dir, lake) = lake_from(&csv);
    let alerts = detect(&lake, &[]);
    assert_eq!(summary(&alerts), vec![("198.51.100.2".into(), "2024-04-19T00:00:00Z".into(), 51)]);
    assert_eq!(alerts[0]["BinEnd"], "2024-04-19T00:05:00Z");
    // A 10-minute bin sees the straddling scan whole.
    let wide = detect(&lake, &["--bin", "10m"]);
    assert_eq!(sources(&wide), ["198.51.100.1", "198.51.100.2", "198.51.100.3"]);
}

#[test]
fn repeated_ports_and_the_same_port_over_tcp_and_udp_count_once() {
    let mut csv = Csv::new();
    for port in 1..=51 {
        for proto in ["TCP", "UDP", "TCP"] {
            csv.event_by("2024-04-19T00:11:00Z", "198.51.100.7", Some(port), proto, "Corelight", "Zeek");
        }
    }
    // 50 distinct ports, each over TCP and UDP: still 50.
    for port in 1..=50 {
        for proto in ["TCP", "UDP"] {
            csv.event_by("2024-04-19T00:11:00Z", "198.51.100.8", Some(port), proto, "Corelight", "Zeek");
        }
    }
    let (_dir, lake) = lake_from(&csv);
    let alerts = detect(&lake, &[]);
    assert_eq!(summary(&alerts), vec![("198.51.100.7".into(), T.into(), 51)]);
    assert_eq!(alerts[0]["EventCount"], 153);
    assert_eq!(alerts[0]["AttemptedPorts"].as_array().map(Vec::len), Some(51));
}

#[test]
fn null_ports_are_ignored() {
    let mut csv = Csv::new();
    csv.scan("00:10:00", "198.51.100.9", 1, 50);
    for _ in 0..20 {
        csv.event_by("2024-04-19T00:10:30Z", "198.51.100.9", None, "ICMP", "Corelight", "Zeek");
    }
    let (_dir, lake) = lake_from(&csv);
    assert!(detect(&lake, &[]).is_empty());
}

/// Every address class of SPEC 1.1 and 1.2, each scanning 51 ports.
const CLASSES: &[(&str, bool, bool)] = &[
    // (source as written, alerts in sentinel, alerts in default)
    ("9.255.255.255", true, true),
    ("10.0.0.1", false, false),
    ("172.15.255.255", true, true),
    ("172.16.0.1", false, false),
    ("172.31.255.255", false, false),
    ("172.32.0.1", true, true),
    ("192.168.1.1", false, false),
    ("192.169.0.1", true, true),
    ("127.0.0.1", false, false),
    ("127.0.0.2", true, false),
    ("0.0.0.0", true, false),
    ("169.254.7.7", true, false),
    ("100.64.0.1", true, true),
    ("8.8.8.8", true, true),
    ("2001:db8:1::1", false, true),
    ("FD00::1", false, false),
    ("fe80::1", false, false),
    ("::1", false, false),
    ("::0:1", false, false),
    ("::", false, false),
    ("::ffff:8.8.4.4", false, true),
    ("::ffff:10.1.1.1", false, false),
    // Kusto's prefix form, judged by its address; it shares the rule's
    // numeric key with the plain address, and each alerts on its own.
    ("203.0.113.9/24", true, true),
    ("203.0.113.9", true, true),
    ("not-an-address", false, false),
];

#[test]
fn every_address_class_in_both_profiles() {
    let mut csv = Csv::new();
    for (src, _, _) in CLASSES {
        csv.scan("00:10:00", src, 1, 51);
    }
    let (_dir, lake) = lake_from(&csv);
    let canonical = |s: &str| match s.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => s.to_string(),
    };
    for (profile, pick) in [("sentinel", 1), ("default", 2)] {
        let mut expected: Vec<String> =
            CLASSES.iter().filter(|c| if pick == 1 { c.1 } else { c.2 }).map(|c| canonical(c.0)).collect();
        expected.sort();
        let mut got = sources(&detect(&lake, &["--profile", profile]));
        got.sort();
        assert_eq!(got, expected, "profile {profile}");
    }
}

#[test]
fn ipv6_is_compared_as_an_address() {
    let mut csv = Csv::new();
    // One scanner written three ways: one source, one alert, canonical text.
    csv.scan("00:10:00", "2001:DB8:0:0:0:0:0:1", 1, 20).scan("00:10:00", "2001:db8::0001", 21, 20).scan(
        "00:10:00",
        "2001:db8::1",
        41,
        11,
    );
    let (_dir, lake) = lake_from(&csv);
    assert_eq!(summary(&detect(&lake, &[])), vec![("2001:db8::1".into(), T.into(), 51)]);
}

#[test]
fn sources_that_share_the_rules_numeric_key_are_still_told_apart() {
    // The rule's first pass counts per SrcKey: the IPv4 address, or the low
    // 64 bits of an IPv6 one. These three sources share the key 5; only
    // 2001:db8:1::5 has more than 50 ports in a bin.
    let mut csv = Csv::new();
    csv.scan("00:10:00", "2001:db8:1::5", 1, 51)
        .scan("00:10:00", "2001:db8:2::5", 1, 30)
        .scan("00:10:00", "2001:db8:3::5", 31, 30)
        .scan("00:20:00", "2001:db8:2::5", 1, 30);
    let (_dir, lake) = lake_from(&csv);
    assert_eq!(summary(&detect(&lake, &[])), vec![("2001:db8:1::5".into(), T.into(), 51)]);
    // Neither has more than 50 ports alone; together they have 90 in one bin.
    let mut csv = Csv::new();
    csv.scan("00:10:00", "2001:db8:2::5", 1, 45).scan("00:10:00", "2001:db8:3::5", 46, 45);
    let (_dir, lake) = lake_from(&csv);
    assert!(detect(&lake, &[]).is_empty());
}

#[test]
fn private_additions_exclusions_and_their_counts() {
    let mut csv = Csv::new();
    csv.scan("00:10:00", "100.64.0.1", 1, 51)
        .scan("00:10:00", "198.51.100.1", 1, 51)
        .scan("00:10:00", "2a01:4f8::5", 1, 51)
        .scan("00:10:00", "203.0.113.77", 1, 51);
    let (_dir, lake) = lake_from(&csv);
    assert_eq!(
        sources(&detect(&lake, &["--private", "100.64.0.0/10"])),
        ["198.51.100.1", "203.0.113.77", "2a01:4f8::5"]
    );
    let out = crate::support::scanlake()
        .args(["detect", "--format", "json", "--lake"])
        .arg(&lake)
        .args(["--exclude-src", "198.51.100.0/24", "--exclude-src", "2a01:4f8::/32", "--exclude-port", "51"])
        .output()
        .expect("run detect");
    assert!(out.status.success());
    let alerts: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    // 203.0.113.77 and 100.64.0.1 lose port 51 and fall to 50 ports.
    assert!(alerts.is_empty(), "{alerts:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exclusion source 198.51.100.0/24: removed 51 events"), "{stderr}");
    assert!(stderr.contains("exclusion source 2a01:4f8::/32: removed 51 events"), "{stderr}");
    assert!(stderr.contains("exclusion port 51: removed 4 events"), "{stderr}");
    // A single address and a /128 work too.
    assert_eq!(
        sources(&detect(&lake, &["--exclude-src", "2a01:4f8::5", "--exclude-src", "203.0.113.77"])),
        ["100.64.0.1", "198.51.100.1"]
    );
}

#[test]
fn more_than_100_ports_keeps_the_lowest_100_sorted() {
    let mut csv = Csv::new();
    // 150 ports in descending order.
    for (i, port) in (1..=150).rev().enumerate() {
        csv.event(&format!("2024-04-19T00:10:{:02}Z", i % 60), "198.51.100.100", Some(port));
    }
    let (_dir, lake) = lake_from(&csv);
    let alerts = detect(&lake, &[]);
    assert_eq!(alerts[0]["AttemptedPortsCount"], 150);
    let ports: Vec<i64> =
        alerts[0]["AttemptedPorts"].as_array().expect("list").iter().filter_map(|p| p.as_i64()).collect();
    assert_eq!(ports, (1..=100).collect::<Vec<_>>());
    let capped = detect(&lake, &["--max-ports", "5"]);
    assert_eq!(capped[0]["AttemptedPorts"], serde_json::json!([1, 2, 3, 4, 5]));
}

#[test]
fn two_reporters_for_one_scanner() {
    let mut csv = Csv::new();
    for port in 1..=60 {
        let (vendor, product) = if port % 2 == 0 { ("Microsoft", "Sysmon") } else { ("Corelight", "Zeek") };
        csv.event_by("2024-04-19T00:12:00Z", "198.51.100.200", Some(port), "TCP", vendor, product);
    }
    let (_dir, lake) = lake_from(&csv);
    let alerts = detect(&lake, &[]);
    assert_eq!(alerts[0]["ReportedBy"], serde_json::json!(["Corelight/Zeek", "Microsoft/Sysmon"]));
    assert_eq!(detect(&lake, &["--max-reporters", "1"])[0]["ReportedBy"], serde_json::json!(["Corelight/Zeek"]));
}

#[test]
fn times_with_offsets_land_in_the_right_bin() {
    let mut csv = Csv::new();
    // 02:13 at +02:00 is 00:13Z; 19:13 at -05:00 the day before is 00:13Z.
    for port in 1..=30 {
        csv.event("2024-04-19T02:13:00+02:00", "198.51.100.30", Some(port));
    }
    for port in 31..=51 {
        csv.event("2024-04-18T19:13:00-05:00", "198.51.100.30", Some(port));
    }
    let (_dir, lake) = lake_from(&csv);
    let alerts = detect(&lake, &[]);
    assert_eq!(summary(&alerts), vec![("198.51.100.30".into(), T.into(), 51)]);
    assert_eq!(alerts[0]["FirstSeen"], "2024-04-19T00:13:00Z");
}

#[test]
fn events_on_both_sides_of_midnight_go_to_two_partitions() {
    let mut csv = Csv::new();
    for port in 1..=51 {
        csv.event("2024-04-19T23:58:00Z", "198.51.100.40", Some(port));
        csv.event("2024-04-20T00:01:00Z", "198.51.100.40", Some(port));
    }
    let (_dir, lake) = lake_from(&csv);
    let mut partitions: Vec<String> = std::fs::read_dir(lake.join("network_session"))
        .expect("table folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    partitions.sort();
    assert_eq!(partitions, ["EventDate=2024-04-19", "EventDate=2024-04-20"]);
    assert_eq!(
        summary(&detect(&lake, &[])),
        vec![
            ("198.51.100.40".into(), "2024-04-19T23:55:00Z".into(), 51),
            ("198.51.100.40".into(), "2024-04-20T00:00:00Z".into(), 51)
        ]
    );
}

#[test]
fn from_is_inclusive_and_to_is_exclusive() {
    let mut csv = Csv::new();
    // 51 ports: the first at 00:10:00 exactly, the last at 00:10:50.
    csv.scan("00:10:00", "198.51.100.60", 1, 51);
    let (_dir, lake) = lake_from(&csv);
    let at = |args: &[&str]| detect(&lake, args).len();
    assert_eq!(at(&["--from", "2024-04-19T00:10:00Z"]), 1);
    assert_eq!(at(&["--from", "2024-04-19T00:10:00.000001Z"]), 0);
    assert_eq!(at(&["--to", "2024-04-19T00:10:50.000001Z"]), 1);
    assert_eq!(at(&["--to", "2024-04-19T00:10:50Z"]), 0);
    assert_eq!(at(&["--from", "2024-04-19T00:00:00Z", "--to", "2024-04-20T00:00:00Z"]), 1);
    assert_eq!(at(&["--since", "1h", "--now", "2024-04-19T01:00:00Z"]), 1);
    // 50 minutes before 01:00 is 00:10:00 exactly, the first event: included.
    assert_eq!(at(&["--since", "50m", "--now", "2024-04-19T01:00:00Z"]), 1);
    assert_eq!(at(&["--since", "49m 59s", "--now", "2024-04-19T01:00:00Z"]), 0);
    assert_eq!(at(&["--since", "1h", "--now", "2024-04-19T00:10:50Z"]), 0);
}

#[test]
fn session_filters_narrow_the_events() {
    let mut csv = Csv::new();
    csv.scan("00:10:00", "198.51.100.61", 1, 51).scan("00:10:00", "203.0.113.61", 1, 51);
    let (_dir, lake) = lake_from(&csv);
    assert_eq!(sources(&detect(&lake, &["--src-prefix", "203.0."])), ["203.0.113.61"]);
    assert!(detect(&lake, &["--dst-prefix", "10."]).is_empty());
    assert!(detect(&lake, &["--event-result", "Success"]).is_empty());
}

#[test]
fn alert_ids_are_stable_and_differ_by_profile() {
    let mut csv = Csv::new();
    csv.scan("00:10:00", "198.51.100.51", 1, 51);
    let (_dir, lake) = lake_from(&csv);
    let a = detect(&lake, &[]);
    let b = detect(&lake, &[]);
    let s = detect(&lake, &["--profile", "sentinel"]);
    assert_eq!(a[0]["AlertId"], b[0]["AlertId"]);
    assert_ne!(a[0]["AlertId"], s[0]["AlertId"]);
    assert_eq!(a[0]["AlertId"].as_str().map(str::len), Some(32));
}

/// A lake built by one ingest per export: each writes its own file for the day.
fn lake_of_files(exports: &[Csv]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = crate::support::tempdir();
    let lake = dir.path().join("lake");
    for (i, csv) in exports.iter().enumerate() {
        let input = csv.write(dir.path(), &format!("part{i}.csv"));
        crate::support::ingest(&lake, &[&input]);
    }
    (dir, lake)
}

/// Per export, the (first port, count) each source scans in the bin at 00:10.
fn exports(scans: &[&[(&str, i32, i32)]]) -> Vec<Csv> {
    scans
        .iter()
        .map(|file| {
            let mut csv = Csv::new();
            for &(src, first, count) in file.iter() {
                csv.scan("00:10:00", src, first, count);
            }
            csv
        })
        .collect()
}

#[test]
fn a_bin_spread_over_several_files_is_counted_whole() {
    // The lake stores each file's count per source and bin; a bin whose
    // events are spread over files has no file with 51 of them.
    let two = exports(&[
        &[("198.51.100.1", 1, 26), ("198.51.100.2", 1, 25), ("198.51.100.3", 1, 1), ("198.51.100.4", 1, 40)],
        &[("198.51.100.1", 27, 25), ("198.51.100.2", 26, 25), ("198.51.100.3", 2, 50), ("198.51.100.4", 11, 40)],
    ]);
    let (_dir, lake) = lake_of_files(&two);
    assert_eq!(std::fs::read_dir(lake.join("network_session/EventDate=2024-04-19")).expect("day").count(), 2);
    for profile in ["default", "sentinel"] {
        let alerts = detect(&lake, &["--profile", profile]);
        assert_eq!(
            summary(&alerts),
            vec![("198.51.100.1".into(), T.into(), 51), ("198.51.100.3".into(), T.into(), 51)],
            "26 + 25, 1 + 50 alert; 25 + 25, and 40 + 40 over 50 ports, do not ({profile})"
        );
    }
    let three = exports(&[
        &[("198.51.100.5", 1, 17), ("198.51.100.6", 1, 17)],
        &[("198.51.100.5", 18, 17), ("198.51.100.6", 18, 17)],
        &[("198.51.100.5", 35, 17), ("198.51.100.6", 35, 16)],
    ]);
    let (_dir, lake) = lake_of_files(&three);
    assert_eq!(summary(&detect(&lake, &[])), vec![("198.51.100.5".into(), T.into(), 51)]);
}

#[test]
fn a_wide_bin_is_counted_whole_across_the_lake_s_5_minute_counts() {
    let mut csv = Csv::new();
    // 25 ports before 00:15 and 26 after: one 10-minute bin, two 5-minute ones.
    csv.scan("00:14:00", "198.51.100.9", 1, 25).scan("00:15:00", "198.51.100.9", 26, 26);
    csv.scan("00:14:00", "198.51.100.10", 1, 25).scan("00:15:00", "198.51.100.10", 26, 25);
    let (_dir, lake) = lake_from(&csv);
    assert!(detect(&lake, &[]).is_empty());
    let wide = detect(&lake, &["--bin", "10m"]);
    assert_eq!(summary(&wide), vec![("198.51.100.9".into(), "2024-04-19T00:10:00Z".into(), 51)]);
    // A 7-minute bin [00:14, 00:21) holds it too.
    assert_eq!(sources(&detect(&lake, &["--bin", "7m"])), ["198.51.100.9"]);
}

#[test]
fn files_written_before_the_derived_columns_existed_are_read_whole() {
    let two = exports(&[
        &[("198.51.100.1", 1, 26), ("198.51.100.2", 1, 25), ("2001:db8::1", 1, 30)],
        &[("198.51.100.1", 27, 25), ("198.51.100.2", 26, 25), ("2001:db8::1", 31, 21)],
    ]);
    let (_dir, lake) = lake_of_files(&two);
    let expected: Vec<(String, String, i64)> =
        vec![("198.51.100.1".into(), T.into(), 51), ("2001:db8::1".into(), T.into(), 51)];
    assert_eq!(summary(&detect(&lake, &[])), expected);
    let day = lake.join("network_session/EventDate=2024-04-19");
    let mut files: Vec<_> = std::fs::read_dir(&day).expect("day").map(|e| e.expect("entry").path()).collect();
    files.sort();
    // Files from before `SrcBin`, then from before all three.
    for columns in [&["SrcBin"][..], &["SrcBin", "SrcBinPortEvents", "SrcKey"]] {
        for (i, file) in files.iter().enumerate() {
            without(file, columns);
            assert_eq!(summary(&detect(&lake, &[])), expected, "{} of 2 files without {columns:?}", i + 1);
        }
    }
}

/// Rewrites a lake file without `columns` (those it has), as lakes
/// written before them were.
fn without(file: &std::path::Path, columns: &[&str]) {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).expect("open"))
        .expect("parquet")
        .build()
        .expect("reader");
    let batches: Vec<_> = reader
        .map(|batch| {
            let mut batch = batch.expect("batch");
            for column in columns {
                if let Ok(index) = batch.schema().index_of(column) {
                    batch.remove_column(index);
                }
            }
            batch
        })
        .collect();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(file).expect("create"), batches[0].schema(), None).expect("writer");
    for batch in &batches {
        writer.write(batch).expect("write");
    }
    writer.close().expect("close");
}

//! Source formats (SPEC section 3): the project's fixtures, and the real
//! logs in ../shared/data.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{detect, query, root, scanlake, summary, tempdir};

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/sources").join(name)
}

fn shared(name: &str) -> PathBuf {
    let path = root().join("../shared/data").join(name);
    assert!(path.exists(), "{} is missing: the real-data tests need ../shared beside the clone", path.display());
    path
}

/// Ingests `inputs` with `--rejects`; returns (stdout, stderr, rejects as JSON).
fn ingest_all(lake: &Path, inputs: &[PathBuf]) -> (String, String, Vec<Value>) {
    let rejects = lake.with_extension("rejects.jsonl");
    let out = scanlake()
        .args(["ingest", "--lake"])
        .arg(lake)
        .arg("--rejects")
        .arg(&rejects)
        .args(inputs)
        .output()
        .expect("run ingest");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rejected = std::fs::read_to_string(&rejects)
        .expect("rejects file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned(), rejected)
}

/// (fixture, format, summary line start, rejected lines with reasons).
const FIXTURES: &[(&str, &str, &str, &[(u64, &str)])] = &[
    (
        "zeek_conn.log",
        "zeek-tsv",
        "105 rows read, 102 written, 3 rejected, 0 skipped",
        &[
            (120, "expected 21 fields, found 4"),
            (121, "id.resp_p: invalid number `http`"),
            (122, "ts: unrecognised time `yesterday`"),
        ],
    ),
    (
        "zeek_conn.json",
        "zeek-json",
        "105 rows read, 102 written, 3 rejected, 0 skipped",
        &[(103, "id.resp_p: 70000 is out of range 0..=65535"), (104, "invalid JSON object"), (105, "ts is missing")],
    ),
    (
        "windows.jsonl",
        "windows-json",
        "107 rows read, 104 written, 2 rejected, 1 skipped",
        &[(106, "SourcePort: invalid number `x1`"), (107, "invalid JSON object")],
    ),
    (
        "windows.xml",
        "windows-xml",
        "105 rows read, 102 written, 2 rejected, 1 skipped",
        &[(103, "SourcePort: 99999 is out of range"), (104, "TimeCreated: unrecognised time `not-a-time`")],
    ),
    (
        "vpc_flow.log",
        "vpc-flow",
        "106 rows read, 102 written, 2 rejected, 2 skipped",
        &[(106, "expected 17 fields, found 16"), (107, "protocol: 256 is out of range")],
    ),
    (
        "vpc_flow_v2.log",
        "vpc-flow",
        "103 rows read, 101 written, 1 rejected, 1 skipped",
        &[(103, "dstport: invalid number `x`")],
    ),
    (
        "ocsf.jsonl",
        "ocsf-json",
        "104 rows read, 101 written, 2 rejected, 1 skipped",
        &[(103, "time: invalid number `soon`"), (104, "src_endpoint.ip is missing")],
    ),
];

#[test]
fn every_fixture_keeps_good_rows_reports_bad_ones_and_finds_the_scan() {
    for (name, format, line, rejected) in FIXTURES {
        let dir = tempdir();
        let lake = dir.path().join("lake");
        let (stdout, stderr, rejects) = ingest_all(&lake, &[fixture(name)]);
        assert!(stdout.starts_with(line), "{name}: {stdout}");
        assert!(stderr.contains(&format!("as {format}:")), "{name} read as {format}: {stderr}");
        let got: Vec<(u64, String)> = rejects
            .iter()
            .map(|r| (r["line"].as_u64().unwrap_or(0), r["reason"].as_str().unwrap_or("").to_string()))
            .collect();
        assert_eq!(got.len(), rejected.len(), "{name}: {got:?}");
        for ((line, reason), (want_line, want_reason)) in got.iter().zip(rejected.iter()) {
            assert_eq!(line, want_line, "{name}");
            assert!(reason.contains(want_reason), "{name}:{line}: `{reason}` lacks `{want_reason}`");
        }
        for profile in ["default", "sentinel"] {
            let alerts = detect(&lake, &["--profile", profile]);
            assert_eq!(
                summary(&alerts),
                vec![("198.51.100.7".into(), "2024-04-19T00:10:00Z".into(), 51)],
                "{name} {profile}"
            );
        }
    }
}

#[test]
fn fixture_fields_are_mapped() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let inputs: Vec<PathBuf> = FIXTURES.iter().map(|f| fixture(f.0)).collect();
    ingest_all(&lake, &inputs);
    let rows = query(
        &lake,
        "SELECT EventVendor, EventProduct, EventType, EventResult, DvcAction, NetworkProtocol, NetworkDirection, Dvc, count(*) AS n \
         FROM network_session WHERE SrcIpAddr = '198.51.100.7' \
         GROUP BY EventVendor, EventProduct, EventType, EventResult, DvcAction, NetworkProtocol, NetworkDirection, Dvc \
         ORDER BY EventVendor, EventProduct, NetworkDirection, Dvc, EventResult",
    );
    assert_eq!(
        rows,
        vec![
            json!({"EventVendor":"AWS","EventProduct":"Amazon VPC","EventType":"NetworkSession","EventResult":"Failure","DvcAction":"Deny","NetworkProtocol":"TCP","NetworkDirection":"Inbound","Dvc":"eni-0a1b2c3d","n":51}),
            json!({"EventVendor":"AWS","EventProduct":"VPC","EventType":"NetworkSession","EventResult":"Failure","DvcAction":"Deny","NetworkProtocol":"TCP","NetworkDirection":"Inbound","Dvc":"eni-0a1b2c3d","n":51}),
            json!({"EventVendor":"AWS","EventProduct":"VPC","EventType":"NetworkSession","EventResult":"Failure","DvcAction":"Deny","NetworkProtocol":"TCP","NetworkDirection":null,"Dvc":"eni-0a1b2c3d","n":51}),
            json!({"EventVendor":"Corelight","EventProduct":"Zeek","EventType":"Flow","EventResult":"Failure","DvcAction":null,"NetworkProtocol":"TCP","NetworkDirection":"Inbound","Dvc":"sensor-1","n":51}),
            json!({"EventVendor":"Corelight","EventProduct":"Zeek","EventType":"Flow","EventResult":"Success","DvcAction":null,"NetworkProtocol":"TCP","NetworkDirection":"Inbound","Dvc":"sensor-2","n":17}),
            json!({"EventVendor":"Corelight","EventProduct":"Zeek","EventType":"Flow","EventResult":"Success","DvcAction":null,"NetworkProtocol":"TCP","NetworkDirection":"Inbound","Dvc":null,"n":34}),
            json!({"EventVendor":"Microsoft","EventProduct":"Windows Firewall","EventType":"EndpointNetworkSession","EventResult":"Failure","DvcAction":"Deny","NetworkProtocol":"TCP","NetworkDirection":"Inbound","Dvc":"DC01.example.corp","n":51}),
            json!({"EventVendor":"Microsoft","EventProduct":"Windows Firewall","EventType":"EndpointNetworkSession","EventResult":"Failure","DvcAction":"Deny","NetworkProtocol":"TCP","NetworkDirection":"Inbound","Dvc":"WS01.example.corp","n":51}),
        ]
    );
    // Times: nxlog local time (UTC-4, recovered from the record), ECS @timestamp, Sysmon UtcTime.
    let sysmon = query(
        &lake,
        "SELECT TimeGenerated, EventStartTime, DstIpAddr, NetworkDirection, SrcProcessName, SrcUsername \
         FROM network_session WHERE EventProduct = 'Sysmon'",
    );
    assert_eq!(
        sysmon,
        vec![
            json!({"TimeGenerated":"2024-04-19T00:13:21Z","EventStartTime":"2024-04-19T00:13:20.750Z","DstIpAddr":"fe80::1:2:3:4",
                    "NetworkDirection":"Outbound","SrcProcessName":"C:\\x.exe","SrcUsername":"CORP\\bob"})
        ]
    );
    let first = query(
        &lake,
        "SELECT TimeGenerated FROM network_session WHERE SrcIpAddr = '198.51.100.7' AND DstPortNumber = 1000 AND EventProduct = 'Windows Firewall' ORDER BY 1",
    );
    assert_eq!(
        first,
        vec![json!({"TimeGenerated":"2024-04-19T00:10:00Z"}), json!({"TimeGenerated":"2024-04-19T00:10:00.500Z"})]
    );
    let listen = query(
        &lake,
        "SELECT SrcIpAddr, DstIpAddr, NetworkDirection, NetworkProtocol FROM network_session WHERE EventOriginalType = '5158'",
    );
    assert_eq!(
        listen,
        vec![json!({"SrcIpAddr":"0.0.0.0","DstIpAddr":null,"NetworkDirection":"Listen","NetworkProtocol":"UDP"})]
    );
    let evtx_shape = query(
        &lake,
        "SELECT TimeGenerated, Dvc, NetworkDirection FROM network_session WHERE EventOriginalType = '5156' AND SrcIpAddr = '10.0.0.6'",
    );
    assert_eq!(
        evtx_shape,
        vec![json!({"TimeGenerated":"2024-04-19T00:13:22.123456Z","Dvc":"WS01","NetworkDirection":"Outbound"})]
    );
}

#[test]
fn ocsf_parquet_reads_through_the_same_mapping() {
    let dir = tempdir();
    // Write the OCSF fixture as Parquet with nested columns, as Security Lake does.
    let file = std::fs::File::open(fixture("ocsf.jsonl")).expect("fixture");
    let good: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).take(101).collect();
    let jsonl = good.join("\n");
    let (schema, _) =
        arrow::json::reader::infer_json_schema(std::io::Cursor::new(jsonl.as_bytes()), None).expect("schema");
    let reader = arrow::json::ReaderBuilder::new(std::sync::Arc::new(schema))
        .build(std::io::Cursor::new(jsonl.as_bytes()))
        .expect("reader");
    let parquet_path = dir.path().join("ocsf.parquet");
    let out = std::fs::File::create(&parquet_path).expect("create");
    let mut writer: Option<parquet::arrow::ArrowWriter<std::fs::File>> = None;
    let mut out = Some(out);
    for batch in reader {
        let batch = batch.expect("batch");
        let w = writer.get_or_insert_with(|| {
            parquet::arrow::ArrowWriter::try_new(out.take().expect("file"), batch.schema(), None).expect("writer")
        });
        w.write(&batch).expect("write");
    }
    writer.expect("one batch").close().expect("close");
    let lake = dir.path().join("lake");
    let (stdout, stderr, _) = ingest_all(&lake, &[parquet_path]);
    assert!(stdout.starts_with("101 rows read, 101 written, 0 rejected"), "{stdout}");
    assert!(stderr.contains("as ocsf-parquet:"), "{stderr}");
    assert_eq!(summary(&detect(&lake, &[])), vec![("198.51.100.7".into(), "2024-04-19T00:10:00Z".into(), 51)]);
}

#[test]
fn folders_and_globs_are_expanded_and_formats_recognised_by_content() {
    let dir = tempdir();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("nested")).expect("mkdir");
    std::fs::copy(fixture("zeek_conn.log"), logs.join("nested/conn.txt")).expect("copy");
    std::fs::copy(fixture("vpc_flow.log"), logs.join("flows.dat")).expect("copy");
    std::fs::write(logs.join("notes.md"), "# not a log\n").expect("write");
    std::fs::write(logs.join(".hidden"), "ignored").expect("write");
    let gz = logs.join("ocsf.gz");
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).expect("create"), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &std::fs::read(fixture("ocsf.jsonl")).expect("read")).expect("write");
    enc.finish().expect("finish");
    let lake = dir.path().join("lake");
    let out = scanlake().args(["ingest", "--lake"]).arg(&lake).arg(&logs).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("315 rows read, 305 written, 7 rejected, 3 skipped"), "{stdout}");
    assert!(stdout.contains("1 files passed over (not logs)"), "{stdout}");
    let lake2 = dir.path().join("lake2");
    let pattern = format!("{}/*.dat", logs.display());
    let out = scanlake().args(["ingest", "--lake"]).arg(&lake2).arg(&pattern).output().expect("run");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("106 rows read"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// ---- ../shared/data ----

#[test]
fn every_shared_file_ingests_with_zero_rejected_rows() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let (stdout, stderr, rejects) = ingest_all(&lake, &[shared("")]);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert!(stdout.contains(" 0 rejected,"), "{stdout}");
    for format in ["evtx: 6 inputs", "windows-json: 2 inputs", "zeek-json: 9 inputs", "zeek-tsv: 24 inputs"] {
        assert!(stderr.contains(format), "{format}: {stderr}");
    }
}

/// Distinct destination ports per (source, 5-minute bin) in the sensor's
/// raw TSV, computed here without scanlake.
fn raw_zeek_ports() -> BTreeMap<(String, i64), BTreeSet<i64>> {
    let mut ports: BTreeMap<(String, i64), BTreeSet<i64>> = BTreeMap::new();
    let dir = shared("zeek-internet-sensor");
    for entry in std::fs::read_dir(&dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "gz") {
            continue;
        }
        let reader = BufReader::new(flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).expect("open")));
        let mut fields: Vec<String> = Vec::new();
        for line in reader.lines() {
            let line = line.expect("line");
            if let Some(names) = line.strip_prefix("#fields\t") {
                fields = names.split('\t').map(String::from).collect();
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let values: Vec<&str> = line.split('\t').collect();
            let get = |name: &str| values[fields.iter().position(|f| f == name).expect("field")];
            let ts: f64 = get("ts").parse().expect("ts");
            let bin = (ts as i64) / 300 * 300;
            let port: i64 = get("id.resp_p").parse().expect("port");
            ports.entry((get("id.orig_h").to_string(), bin)).or_default().insert(port);
        }
    }
    ports
}

#[test]
fn zeek_internet_sensor_gives_exactly_the_two_documented_alerts() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    ingest_all(&lake, &[shared("zeek-internet-sensor")]);
    let raw = raw_zeek_ports();
    for profile in ["default", "sentinel"] {
        let alerts = detect(&lake, &["--profile", profile]);
        assert_eq!(
            summary(&alerts),
            vec![
                ("47.89.128.90".into(), "2024-04-19T00:10:00Z".into(), 61),
                ("47.252.52.245".into(), "2024-04-19T16:05:00Z".into(), 62),
            ],
            "{profile}"
        );
        for alert in &alerts {
            let bin = chrono::DateTime::parse_from_rfc3339(alert["TimeGenerated"].as_str().expect("time"))
                .expect("rfc3339")
                .timestamp();
            let expected: Vec<i64> =
                raw[&(alert["SrcIpAddr"].as_str().expect("src").to_string(), bin)].iter().copied().collect();
            let got: Vec<i64> =
                alert["AttemptedPorts"].as_array().expect("ports").iter().filter_map(Value::as_i64).collect();
            assert_eq!(got, expected);
            assert_eq!(alert["ReportedBy"], json!(["Corelight/Zeek"]));
        }
    }
}

/// Network events per id in the windows-otrf JSON, counted here without scanlake.
fn raw_windows_counts() -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(shared("windows-otrf")).expect("dir") {
        let reader = BufReader::new(flate2::read::MultiGzDecoder::new(
            std::fs::File::open(entry.expect("entry").path()).expect("open"),
        ));
        for line in reader.lines() {
            let event: Value = serde_json::from_str(&line.expect("line")).expect("json");
            let id = event["EventID"].as_u64().unwrap_or(0);
            let sysmon = event["SourceName"] == "Microsoft-Windows-Sysmon";
            if (id == 3 && sysmon) || (id == 5152 || (5154..=5159).contains(&id)) && !sysmon {
                *counts.entry(id.to_string()).or_default() += 1;
            }
        }
    }
    counts
}

fn lake_counts(lake: &Path) -> BTreeMap<String, u64> {
    query(lake, "SELECT EventOriginalType AS id, count(*) AS n FROM network_session GROUP BY 1")
        .into_iter()
        .map(|r| (r["id"].as_str().expect("id").to_string(), r["n"].as_u64().expect("n")))
        .collect()
}

#[test]
fn windows_json_counts_and_fields_match_the_source() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    ingest_all(&lake, &[shared("windows-otrf")]);
    assert_eq!(lake_counts(&lake), raw_windows_counts());
    let row = |sql_where: &str| {
        query(
            &lake,
            &format!(
                "SELECT DISTINCT TimeGenerated, EventStartTime, SrcIpAddr, SrcPortNumber, DstIpAddr, DstPortNumber, NetworkProtocol, NetworkDirection, \
                 DvcAction, EventResult, EventOriginalType, Dvc, EventProduct FROM network_session WHERE {sql_where}"
            ),
        )
    };
    // EventTime is the collector's local time (UTC-4 here): 02:15:59 → 06:15:59Z.
    assert_eq!(
        row("SrcPortNumber = 58009 AND EventOriginalType = '5156'"),
        vec![
            json!({"TimeGenerated":"2020-09-22T06:15:59Z","EventStartTime":"2020-09-22T06:15:59Z","SrcIpAddr":"127.0.0.1","SrcPortNumber":58009,
            "DstIpAddr":"239.255.255.250","DstPortNumber":1900,"NetworkProtocol":"UDP","NetworkDirection":"Inbound","DvcAction":"Allow",
            "EventResult":"Success","EventOriginalType":"5156","Dvc":"WORKSTATION5.theshire.local","EventProduct":"Windows Firewall"})
        ]
    );
    assert_eq!(
        row("SrcPortNumber = 54785 AND EventOriginalType = '5157' AND TimeGenerated = '2020-09-22T06:16:07Z'"),
        vec![
            json!({"TimeGenerated":"2020-09-22T06:16:07Z","EventStartTime":"2020-09-22T06:16:07Z","SrcIpAddr":"172.18.39.5","SrcPortNumber":54785,
            "DstIpAddr":"172.18.38.5","DstPortNumber":49683,"NetworkProtocol":"TCP","NetworkDirection":"Inbound","DvcAction":"Deny",
            "EventResult":"Failure","EventOriginalType":"5157","Dvc":"MORDORDC.theshire.local","EventProduct":"Windows Firewall"})
        ]
    );
    assert_eq!(
        row("SrcPortNumber = 56706 AND EventOriginalType = '5158'"),
        vec![
            json!({"TimeGenerated":"2020-09-22T06:16:00Z","EventStartTime":"2020-09-22T06:16:00Z","SrcIpAddr":"::","SrcPortNumber":56706,
            "DstIpAddr":null,"DstPortNumber":null,"NetworkProtocol":"TCP","NetworkDirection":"Listen","DvcAction":"Allow",
            "EventResult":"Success","EventOriginalType":"5158","Dvc":"MORDORDC.theshire.local","EventProduct":"Windows Firewall"})
        ]
    );
    assert_eq!(
        row(
            "SrcPortNumber = 49664 AND EventOriginalType = '5154' AND SrcIpAddr = '::' AND TimeGenerated < '2020-09-04T07:08:03Z'"
        ),
        vec![
            json!({"TimeGenerated":"2020-09-04T07:08:02Z","EventStartTime":"2020-09-04T07:08:02Z","SrcIpAddr":"::","SrcPortNumber":49664,
            "DstIpAddr":null,"DstPortNumber":null,"NetworkProtocol":"TCP","NetworkDirection":"Listen","DvcAction":"Allow",
            "EventResult":"Success","EventOriginalType":"5154","Dvc":"WORKSTATION5.theshire.local","EventProduct":"Windows Firewall"})
        ]
    );
    assert_eq!(
        row("SrcPortNumber = 54780 AND EventOriginalType = '3'"),
        vec![
            json!({"TimeGenerated":"2020-09-22T06:16:03Z","EventStartTime":"2020-09-22T06:16:02.595Z","SrcIpAddr":"172.18.39.5","SrcPortNumber":54780,
            "DstIpAddr":"52.114.32.24","DstPortNumber":443,"NetworkProtocol":"TCP","NetworkDirection":"Outbound","DvcAction":null,
            "EventResult":"Success","EventOriginalType":"3","Dvc":"WORKSTATION5.theshire.local","EventProduct":"Sysmon"})
        ]
    );
    // The DNS server's ~70 high UDP ports come from a private address: no alert in either profile.
    for profile in ["default", "sentinel"] {
        assert!(detect(&lake, &["--profile", profile]).is_empty());
    }
}

#[test]
fn evtx_counts_and_fields_match_the_files_readme() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let (stdout, _, rejects) = ingest_all(&lake, &[shared("evtx")]);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert!(stdout.starts_with("1983 rows read, 312 written, 0 rejected, 1671 skipped"), "{stdout}");
    // Per-id totals of the README's per-file table.
    let expected: BTreeMap<String, u64> =
        [("3", 42 + 9 + 153), ("5152", 2), ("5156", 63 + 28), ("5157", 1), ("5158", 9 + 5)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    assert_eq!(lake_counts(&lake), expected);
    let cols = "TimeGenerated, SrcIpAddr, SrcPortNumber, DstIpAddr, DstPortNumber, NetworkProtocol, NetworkDirection, DvcAction, EventResult, EventOriginalType, Dvc";
    // The README's expected mapping of DE_RDP_Tunnel_5156.evtx (records 227694, 227698, 227703, 227728, 227731).
    let rows = query(
        &lake,
        &format!(
            "SELECT {cols} FROM network_session WHERE Dvc = 'PC01.example.corp' AND EventProduct = 'Windows Firewall' AND \
             (TimeGenerated IN ('2019-02-13T18:01:47.512340Z', '2019-02-13T18:02:04.426662Z', '2019-02-13T18:02:04.466719Z') OR (SrcPortNumber = 3389 AND DstPortNumber = 49271) OR SrcPortNumber = 55355 AND EventOriginalType = '5158') \
             ORDER BY TimeGenerated, SrcPortNumber"
        ),
    );
    let e = |t: &str,
             src: &str,
             sp: i64,
             dst: Option<&str>,
             dp: Option<i64>,
             proto: &str,
             dir: Option<&str>,
             id: &str| {
        json!({"TimeGenerated": t, "SrcIpAddr": src, "SrcPortNumber": sp, "DstIpAddr": dst, "DstPortNumber": dp, "NetworkProtocol": proto,
               "NetworkDirection": dir, "DvcAction": "Allow", "EventResult": "Success", "EventOriginalType": id, "Dvc": "PC01.example.corp"})
    };
    assert_eq!(
        rows,
        vec![
            e(
                "2019-02-13T18:01:47.512340Z",
                "fe80::80ac:4126:fa58:1b81",
                546,
                Some("ff02::1:2"),
                Some(547),
                "UDP",
                Some("Outbound"),
                "5156"
            ),
            e(
                "2019-02-13T18:02:04.426662Z",
                "10.0.2.17",
                49263,
                Some("10.0.2.15"),
                Some(88),
                "TCP",
                Some("Outbound"),
                "5156"
            ),
            e(
                "2019-02-13T18:02:04.466719Z",
                "10.0.2.17",
                49264,
                Some("10.0.2.15"),
                Some(88),
                "TCP",
                Some("Outbound"),
                "5156"
            ),
            e(
                "2019-02-13T18:04:01.632120Z",
                "127.0.0.2",
                3389,
                Some("127.0.0.1"),
                Some(49271),
                "TCP",
                Some("Inbound"),
                "5156"
            ),
            e("2019-02-13T18:04:01.722250Z", "0.0.0.0", 55355, None, None, "UDP", Some("Listen"), "5158"),
        ]
    );
    // 5152 puts the packet's sender first; Sysmon with Initiated=false puts the local end first.
    let drop = query(
        &lake,
        &format!("SELECT {cols} FROM network_session WHERE EventOriginalType = '5152' AND SrcPortNumber = 59639"),
    );
    assert_eq!(drop[0]["SrcIpAddr"], "23.94.153.202");
    assert_eq!(drop[0]["DstPortNumber"], 3389);
    assert_eq!(drop[0]["DvcAction"], "Deny");
    assert_eq!(drop[0]["Dvc"], "temporal");
    let inbound = query(
        &lake,
        &format!(
            "SELECT {cols} FROM network_session WHERE EventOriginalType = '3' AND SrcPortNumber = 139 AND DstPortNumber = 49184"
        ),
    );
    assert_eq!(inbound[0]["SrcIpAddr"], "10.0.2.17");
    assert_eq!(inbound[0]["DstIpAddr"], "10.0.2.18");
    assert_eq!(inbound[0]["NetworkDirection"], "Inbound");
    // issue_43.evtx: uncompressed IPv6 is stored canonical.
    let v6 = query(
        &lake,
        "SELECT DISTINCT SrcIpAddr FROM network_session WHERE SrcIpAddr LIKE '%:%' AND Dvc = 'DESKTOP-DF4ULDE' ORDER BY 1",
    );
    assert!(v6.contains(&json!({"SrcIpAddr": "::1"})), "{v6:?}");
    assert!(v6.contains(&json!({"SrcIpAddr": "fe80::2076:3774:3f57:c17f"})), "{v6:?}");
    for profile in ["default", "sentinel"] {
        assert!(detect(&lake, &["--profile", profile]).is_empty(), "no scan in the evtx samples");
    }
}

#[test]
fn a_truncated_evtx_file_is_an_error_and_other_inputs_still_go_in() {
    let dir = tempdir();
    let full = std::fs::read(shared("evtx/DE_RDP_Tunnel_5156.evtx")).expect("read");
    let truncated = dir.path().join("cut.evtx");
    std::fs::write(&truncated, &full[..40_000]).expect("write");
    let lake = dir.path().join("lake");
    let out = scanlake()
        .args(["ingest", "--lake"])
        .arg(&lake)
        .arg(&truncated)
        .arg(fixture("zeek_conn.log"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cut.evtx: truncated .evtx: 40000 bytes of the 69632 its header announces"), "{stderr}");
    assert!(stderr.contains("error: 1 of 2 inputs: could not be read completely"), "{stderr}");
    assert_eq!(detect(&lake, &[]).len(), 1, "the Zeek input went in");
}

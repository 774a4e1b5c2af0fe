//! Input formats, and recognising them by content (never by file name).

use serde_json::{Map, Value};

use crate::ingest::input::first_line;
use crate::ingest::{ocsf, vpc, windows, zeek};

/// Input formats `ingest` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// Recognise the format of each input by its content.
    Auto,
    /// ASIM export as CSV (Sentinel / Log Analytics "Export to CSV").
    AsimCsv,
    /// ASIM events as JSON lines.
    AsimJson,
    /// Zeek conn.log, tab-separated with `#` headers.
    ZeekTsv,
    /// Zeek conn.log as JSON lines.
    ZeekJson,
    /// Windows event log file (.evtx): Security 5152, 5154-5159 and Sysmon 3.
    Evtx,
    /// Windows events as JSON lines (nxlog/Logstash, Winlogbeat/ECS, evtx_dump).
    WindowsJson,
    /// Windows events in their XML rendering (wevtutil /f:xml).
    WindowsXml,
    /// AWS VPC Flow Logs (default or custom format).
    VpcFlow,
    /// OCSF Network Activity (4001) as JSON lines.
    OcsfJson,
    /// OCSF Network Activity (4001) as Parquet (Amazon Security Lake).
    OcsfParquet,
}

impl InputFormat {
    /// The format's name as `--format` spells it.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Auto => "auto",
            InputFormat::AsimCsv => "asim-csv",
            InputFormat::AsimJson => "asim-json",
            InputFormat::ZeekTsv => "zeek-tsv",
            InputFormat::ZeekJson => "zeek-json",
            InputFormat::Evtx => "evtx",
            InputFormat::WindowsJson => "windows-json",
            InputFormat::WindowsXml => "windows-xml",
            InputFormat::VpcFlow => "vpc-flow",
            InputFormat::OcsfJson => "ocsf-json",
            InputFormat::OcsfParquet => "ocsf-parquet",
        }
    }

    /// Recognises the format from the first (decompressed) bytes of an input.
    pub fn detect(head: &[u8]) -> Option<InputFormat> {
        if head.starts_with(b"ElfFile\0") {
            return Some(InputFormat::Evtx);
        }
        if head.starts_with(b"PAR1") {
            return Some(InputFormat::OcsfParquet);
        }
        let line = String::from_utf8_lossy(first_line(head));
        let line = line.trim();
        if line.starts_with("#separator") || line.starts_with("#fields") {
            return Some(InputFormat::ZeekTsv);
        }
        if line.starts_with('<') {
            return Some(InputFormat::WindowsXml);
        }
        if line.starts_with('{') {
            return serde_json::from_str::<Map<String, Value>>(line).ok().and_then(|o| json_format(&o));
        }
        if vpc::is_header(line) || vpc::is_default_record(line) {
            return Some(InputFormat::VpcFlow);
        }
        if line.split([',', ';', '\t']).any(|h| h.trim().trim_matches('"').starts_with("TimeGenerated")) {
            return Some(InputFormat::AsimCsv);
        }
        None
    }
}

/// Which JSON-lines format an object belongs to.
fn json_format(object: &Map<String, Value>) -> Option<InputFormat> {
    let asim = object.contains_key("TimeGenerated")
        && ["SrcIpAddr", "DstIpAddr", "DstPortNumber", "EventVendor"].iter().any(|k| object.contains_key(*k));
    if asim {
        Some(InputFormat::AsimJson)
    } else if zeek::is_conn_json(object) {
        Some(InputFormat::ZeekJson)
    } else if windows::json::is_windows_json(object) {
        Some(InputFormat::WindowsJson)
    } else if ocsf::is_ocsf(object) {
        Some(InputFormat::OcsfJson)
    } else if object.contains_key("TimeGenerated") {
        Some(InputFormat::AsimJson)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised_by_content() {
        let cases: &[(&[u8], Option<InputFormat>)] = &[
            (b"ElfFile\0rest", Some(InputFormat::Evtx)),
            (b"PAR1....", Some(InputFormat::OcsfParquet)),
            (b"#separator \\x09\n#fields\tts", Some(InputFormat::ZeekTsv)),
            (b"<Event xmlns='x'>", Some(InputFormat::WindowsXml)),
            (b"{\"ts\":1.5,\"id.orig_h\":\"1.2.3.4\"}\n", Some(InputFormat::ZeekJson)),
            (b"{\"ts\":1.5,\"id_orig_h\":\"1.2.3.4\"}\n", Some(InputFormat::ZeekJson)),
            (b"{\"EventID\":5156,\"Channel\":\"Security\"}\n", Some(InputFormat::WindowsJson)),
            (b"{\"winlog\":{\"event_id\":3}}\n", Some(InputFormat::WindowsJson)),
            (b"{\"class_uid\":4001,\"time\":1}\n", Some(InputFormat::OcsfJson)),
            (b"{\"TimeGenerated\":\"x\",\"SrcIpAddr\":\"1.2.3.4\"}\n", Some(InputFormat::AsimJson)),
            (b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n", Some(InputFormat::VpcFlow)),
            (b"TimeGenerated [UTC],SrcIpAddr\n", Some(InputFormat::AsimCsv)),
            (b"\xef\xbb\xbf\"TimeGenerated [UTC]\",SrcIpAddr\n", Some(InputFormat::AsimCsv)),
            (b"hello world\n", None),
        ];
        for (head, expected) in cases {
            assert_eq!(InputFormat::detect(head), *expected, "{}", String::from_utf8_lossy(head));
        }
    }
}

//! AWS VPC Flow Logs (SPEC 3.3): space-separated records, the default
//! version-2 format, or a custom field list announced by a header line
//! (as S3 delivery writes it). Only `log-status OK` records are events.

use std::borrow::Cow;
use std::io::BufRead;

use crate::error::Result;
use crate::ingest::sink::Sink;
use crate::ingest::values::{Mapped, Record, parse_count, parse_int, parse_port, protocol, text_lines};
use crate::lake::schema::SessionRow;
use crate::time::check_range;

/// The default (version 2) fields, in order.
pub const DEFAULT_FIELDS: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// True when `line` is a flow-log header (names, not values).
pub fn is_header(line: &str) -> bool {
    let mut words = line.split_ascii_whitespace();
    words.clone().any(|w| w == "srcaddr" || w == "log-status")
        && words.all(|w| w.bytes().all(|b| b.is_ascii_lowercase() || b == b'-' || b.is_ascii_digit()))
}

/// True when `line` looks like a default-format record.
pub fn is_default_record(line: &str) -> bool {
    let words: Vec<&str> = line.split_ascii_whitespace().collect();
    words.len() == DEFAULT_FIELDS.len()
        && words[0].bytes().all(|b| b.is_ascii_digit())
        && (words[2].starts_with("eni-") || words[2] == "-")
        && matches!(words[13], "OK" | "NODATA" | "SKIPDATA")
}

fn epoch_seconds(name: &str, text: &str) -> Result<i64, String> {
    let secs = parse_int(text, 0, 253_402_300_799).map_err(|e| format!("{name}: {e}"))?;
    check_range(secs * 1_000_000).map_err(|e| format!("{name} {e}"))
}

fn record<'a>(fields: &[&str], values: &[&'a str]) -> Mapped<'a> {
    let get =
        |name: &str| fields.iter().position(|f| *f == name).map(|i| values[i]).filter(|v| *v != "-").map(Cow::Borrowed);
    match get("log-status").as_deref() {
        Some("OK") | None => {}
        Some(status) => {
            return Ok(Record::Skip(Cow::Owned(format!("VPC flow log-status {status}"))));
        }
    }
    let start = epoch_seconds("start", &get("start").ok_or("start is missing")?)?;
    let end = get("end").map(|e| epoch_seconds("end", &e)).transpose()?;
    let port = |name: &str| get(name).as_deref().map(parse_port).transpose().map_err(|e| format!("{name}: {e}"));
    let count = |name: &str| get(name).as_deref().map(parse_count).transpose().map_err(|e| format!("{name}: {e}"));
    let (action, result) = match get("action").as_deref() {
        Some("ACCEPT") => (Some("Allow"), "Success"),
        Some("REJECT") => (Some("Deny"), "Failure"),
        _ => (None, "NA"),
    };
    let direction = match get("flow-direction").as_deref() {
        Some("ingress") => Some("Inbound"),
        Some("egress") => Some("Outbound"),
        _ => None,
    };
    Ok(Record::Row(SessionRow {
        time_generated: start,
        event_start_time: Some(start),
        event_end_time: end,
        event_type: Some(Cow::Borrowed("NetworkSession")),
        event_result: Some(Cow::Borrowed(result)),
        event_vendor: Some(Cow::Borrowed("AWS")),
        event_product: Some(Cow::Borrowed("VPC")),
        dvc: get("interface-id").or_else(|| get("vpc-id")).or_else(|| get("instance-id")),
        dvc_action: action.map(Cow::Borrowed),
        src_ip_addr: Some(get("srcaddr").ok_or("srcaddr is missing")?),
        src_port_number: port("srcport")?,
        dst_ip_addr: get("dstaddr"),
        dst_port_number: port("dstport")?,
        network_protocol: get("protocol").as_deref().map(protocol).transpose().map_err(|e| format!("protocol: {e}"))?,
        network_direction: direction.map(Cow::Borrowed),
        src_bytes: count("bytes")?,
        src_packets: count("packets")?,
        ..Default::default()
    }))
}

/// Reads VPC flow log records; a header line sets the field list for the
/// lines after it.
pub fn read(reader: impl BufRead, sink: &mut Sink<'_>) -> Result<()> {
    sink.counts.format = "vpc-flow";
    let mut fields: Vec<String> = DEFAULT_FIELDS.iter().map(|f| f.to_string()).collect();
    text_lines(reader, sink, true, |line_no, line, raw, sink| {
        if is_header(line) {
            fields = line.split_ascii_whitespace().map(str::to_string).collect();
            return Ok(());
        }
        let values: Vec<&str> = line.split_ascii_whitespace().collect();
        let names: Vec<&str> = fields.iter().map(String::as_str).collect();
        let mapped = if values.len() == names.len() {
            record(&names, &values)
        } else {
            Err(format!("expected {} fields, found {}", names.len(), values.len()))
        };
        sink.take(line_no, raw, mapped)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_records_are_told_apart() {
        assert!(is_header(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
        ));
        assert!(is_header(
            "version vpc-id srcaddr dstaddr srcport dstport protocol start end action log-status flow-direction pkt-srcaddr"
        ));
        let line = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";
        assert!(!is_header(line));
        assert!(is_default_record(line));
    }
}

//! ASIM exports (SPEC 3.1): CSV as Sentinel / Log Analytics exports it and
//! JSON lines, with ASIM column names, any subset in any order.

use std::borrow::Cow;
use std::io::BufRead;

use chrono::FixedOffset;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ingest::sink::Sink;
use crate::ingest::values::{Record, json_lines, parse_count, parse_int, parse_port};
use crate::lake::schema::SessionRow;
use crate::time::parse_timestamp;

/// An ASIM column the lake stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Column {
    TimeGenerated,
    EventStartTime,
    EventEndTime,
    EventCount,
    EventType,
    EventResult,
    EventVendor,
    EventProduct,
    EventOriginalType,
    EventSchemaVersion,
    Dvc,
    DvcAction,
    SrcIpAddr,
    SrcPortNumber,
    DstIpAddr,
    DstPortNumber,
    NetworkProtocol,
    NetworkDirection,
    NetworkApplicationProtocol,
    SrcHostname,
    DstHostname,
    SrcBytes,
    DstBytes,
    SrcPackets,
    DstPackets,
    SrcUsername,
    SrcProcessName,
}

const COLUMNS: &[(&str, Column)] = &[
    ("TimeGenerated", Column::TimeGenerated),
    ("EventStartTime", Column::EventStartTime),
    ("EventEndTime", Column::EventEndTime),
    ("EventCount", Column::EventCount),
    ("EventType", Column::EventType),
    ("EventResult", Column::EventResult),
    ("EventVendor", Column::EventVendor),
    ("EventProduct", Column::EventProduct),
    ("EventOriginalType", Column::EventOriginalType),
    ("EventSchemaVersion", Column::EventSchemaVersion),
    ("Dvc", Column::Dvc),
    ("DvcAction", Column::DvcAction),
    ("SrcIpAddr", Column::SrcIpAddr),
    ("SrcPortNumber", Column::SrcPortNumber),
    ("DstIpAddr", Column::DstIpAddr),
    ("DstPortNumber", Column::DstPortNumber),
    ("NetworkProtocol", Column::NetworkProtocol),
    ("NetworkDirection", Column::NetworkDirection),
    ("NetworkApplicationProtocol", Column::NetworkApplicationProtocol),
    ("SrcHostname", Column::SrcHostname),
    ("DstHostname", Column::DstHostname),
    ("SrcBytes", Column::SrcBytes),
    ("DstBytes", Column::DstBytes),
    ("SrcPackets", Column::SrcPackets),
    ("DstPackets", Column::DstPackets),
    ("SrcUsername", Column::SrcUsername),
    ("SrcProcessName", Column::SrcProcessName),
];

/// The ASIM column called `name` (letter case ignored).
pub fn column(name: &str) -> Option<Column> {
    COLUMNS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, c)| *c)
}

/// How a CSV header names a column: `TimeGenerated [UTC]` and
/// `TimeGenerated [Local Time]` are both TimeGenerated; the second is not UTC.
fn split_header(header: &str) -> (&str, bool) {
    let header = header.trim().trim_start_matches('\u{feff}');
    match header.split_once('[') {
        Some((name, suffix)) => (name.trim(), suffix.to_ascii_lowercase().starts_with("local")),
        None => (header, false),
    }
}

/// How times without an offset are read.
#[derive(Debug, Clone, Copy)]
pub struct TimeRules {
    /// Offset of times that carry none, for UTC columns (`+00:00` unless the user says otherwise).
    pub utc_columns: FixedOffset,
    /// Offset of `[Local Time]` columns; `None` means such times must carry an offset.
    pub local_columns: Option<FixedOffset>,
}

impl Default for TimeRules {
    fn default() -> Self {
        Self { utc_columns: crate::time::utc(), local_columns: None }
    }
}

/// Sets `column` of `row` from text; empty text leaves it null.
fn set<'a>(
    row: &mut SessionRow<'a>,
    column: Column,
    value: Cow<'a, str>,
    local: bool,
    rules: TimeRules,
) -> Result<(), String> {
    if value.trim().is_empty() {
        return Ok(());
    }
    let time = |v: &str| {
        let offset = if local {
            rules.local_columns.or_else(|| has_offset(v).then_some(rules.utc_columns)).ok_or_else(|| {
                format!("local time `{v}` has no UTC offset; pass --local-offset to say which zone the export used")
            })?
        } else {
            rules.utc_columns
        };
        parse_timestamp(v, offset)
    };
    let port = parse_port;
    let count = parse_count;
    let named = |name: &str, r: Result<i64, String>| r.map_err(|e| format!("{name}: {e}"));
    match column {
        Column::TimeGenerated => row.time_generated = time(&value).map_err(|e| format!("TimeGenerated: {e}"))?,
        Column::EventStartTime => {
            row.event_start_time = Some(time(&value).map_err(|e| format!("EventStartTime: {e}"))?)
        }
        Column::EventEndTime => row.event_end_time = Some(time(&value).map_err(|e| format!("EventEndTime: {e}"))?),
        Column::EventCount => {
            row.event_count = Some(named("EventCount", parse_int(&value, 0, i64::from(i32::MAX)))? as i32)
        }
        Column::SrcPortNumber => row.src_port_number = Some(port(&value).map_err(|e| format!("SrcPortNumber: {e}"))?),
        Column::DstPortNumber => row.dst_port_number = Some(port(&value).map_err(|e| format!("DstPortNumber: {e}"))?),
        Column::SrcBytes => row.src_bytes = Some(named("SrcBytes", count(&value))?),
        Column::DstBytes => row.dst_bytes = Some(named("DstBytes", count(&value))?),
        Column::SrcPackets => row.src_packets = Some(named("SrcPackets", count(&value))?),
        Column::DstPackets => row.dst_packets = Some(named("DstPackets", count(&value))?),
        Column::EventType => row.event_type = Some(value),
        Column::EventResult => row.event_result = Some(value),
        Column::EventVendor => row.event_vendor = Some(value),
        Column::EventProduct => row.event_product = Some(value),
        Column::EventOriginalType => row.event_original_type = Some(value),
        Column::EventSchemaVersion => row.event_schema_version = Some(value),
        Column::Dvc => row.dvc = Some(value),
        Column::DvcAction => row.dvc_action = Some(value),
        Column::SrcIpAddr => row.src_ip_addr = Some(value),
        Column::DstIpAddr => row.dst_ip_addr = Some(value),
        Column::NetworkProtocol => row.network_protocol = Some(value),
        Column::NetworkDirection => row.network_direction = Some(value),
        Column::NetworkApplicationProtocol => row.network_application_protocol = Some(value),
        Column::SrcHostname => row.src_hostname = Some(value),
        Column::DstHostname => row.dst_hostname = Some(value),
        Column::SrcUsername => row.src_username = Some(value),
        Column::SrcProcessName => row.src_process_name = Some(value),
    }
    Ok(())
}

/// True when a time text ends with an explicit offset (`Z`, `+02:00`, `-0500`).
fn has_offset(text: &str) -> bool {
    let t = text.trim();
    if t.ends_with(['Z', 'z']) {
        return true;
    }
    let tail = t.len().saturating_sub(6);
    t.get(tail..).is_some_and(|s| s.contains(['+', '-']) && t.contains(['T', ' ']) && t.contains(':'))
}

/// Reads an ASIM CSV export.
pub fn read_csv(reader: impl BufRead, sink: &mut Sink<'_>, rules: TimeRules) -> Result<()> {
    sink.counts.format = "asim-csv";
    let mut csv = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(reader);
    let headers = csv.byte_headers().map_err(|e| input_error(sink, e))?.clone();
    let mut columns = Vec::with_capacity(headers.len());
    for raw in headers.iter() {
        let text = String::from_utf8_lossy(raw);
        let (name, local) = split_header(&text);
        let mapped = column(name);
        if mapped.is_none() {
            sink.unknown_column(name);
        }
        columns.push(mapped.map(|c| (c, local)));
    }
    if !columns.iter().flatten().any(|(c, _)| *c == Column::TimeGenerated) {
        return Err(Error::Input {
            input: sink.input.clone(),
            reason: "no TimeGenerated column in the CSV header".into(),
        });
    }
    let mut record = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(input_error(sink, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let result = if record.len() == columns.len() {
            csv_row(&record, &columns, rules)
        } else {
            Err(format!("expected {} columns, found {}", columns.len(), record.len()))
        };
        match result {
            Ok(row) => sink.take(line, &[], Ok(Record::Row(row)))?,
            Err(reason) => sink.reject(line, &reason, &csv_line(&record))?,
        }
    }
    Ok(())
}

fn csv_row<'a>(
    record: &'a csv::ByteRecord,
    columns: &[Option<(Column, bool)>],
    rules: TimeRules,
) -> Result<SessionRow<'a>, String> {
    let mut row = SessionRow { time_generated: i64::MIN, ..Default::default() };
    for (field, mapped) in record.iter().zip(columns) {
        let Some((column, local)) = *mapped else {
            continue;
        };
        let text = std::str::from_utf8(field).map_err(|_| format!("{column:?}: invalid UTF-8"))?;
        set(&mut row, column, Cow::Borrowed(text), local, rules)?;
    }
    require_time(&row)?;
    Ok(row)
}

/// The record as CSV text again, for the rejects report.
fn csv_line(record: &csv::ByteRecord) -> Vec<u8> {
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b' ')).from_writer(Vec::new());
    let _ = out.write_byte_record(record);
    let mut text = out.into_inner().unwrap_or_default();
    text.pop();
    text
}

fn require_time(row: &SessionRow<'_>) -> Result<(), String> {
    if row.time_generated == i64::MIN { Err("TimeGenerated is missing".into()) } else { Ok(()) }
}

fn input_error(sink: &Sink<'_>, e: csv::Error) -> Error {
    Error::Input { input: sink.input.clone(), reason: e.to_string() }
}

/// Reads ASIM JSON lines: one object per line with ASIM field names.
pub fn read_json(reader: impl BufRead, sink: &mut Sink<'_>, rules: TimeRules) -> Result<()> {
    sink.counts.format = "asim-json";
    json_lines(reader, sink, |object, sink| {
        for key in object.keys() {
            if column(key).is_none() {
                sink.unknown_column(key);
            }
        }
        json_row(object, rules).map(Record::Row)
    })
}

fn json_row(object: &serde_json::Map<String, Value>, rules: TimeRules) -> Result<SessionRow<'_>, String> {
    let mut row = SessionRow { time_generated: i64::MIN, ..Default::default() };
    for (key, value) in object {
        let Some(column) = column(key) else { continue };
        let text = match value {
            Value::Null => continue,
            Value::String(s) => Cow::Borrowed(s.as_str()),
            Value::Number(n) => Cow::Owned(n.to_string()),
            Value::Bool(b) => Cow::Owned(b.to_string()),
            Value::Array(_) | Value::Object(_) => {
                return Err(format!("{key}: expected a scalar, found {value}"));
            }
        };
        set(&mut row, column, text, false, rules)?;
    }
    require_time(&row)?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_with_suffixes() {
        assert_eq!(split_header("TimeGenerated [UTC]"), ("TimeGenerated", false));
        assert_eq!(split_header("TimeGenerated [Local Time]"), ("TimeGenerated", true));
        assert_eq!(split_header("\u{feff}SrcIpAddr"), ("SrcIpAddr", false));
        assert_eq!(column("srcipaddr"), Some(Column::SrcIpAddr));
        assert_eq!(column("Computer"), None);
    }

    #[test]
    fn offsets_are_noticed() {
        assert!(has_offset("2024-04-19T02:10:03+02:00"));
        assert!(has_offset("2024-04-19T00:10:03Z"));
        assert!(has_offset("2024-04-19 02:10:03 -0500"));
        assert!(!has_offset("2024-04-19T00:10:03"));
        assert!(!has_offset("4/19/2024, 12:10:03.000 AM"));
    }
}

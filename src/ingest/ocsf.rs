//! OCSF Network Activity (class 4001, SPEC 3.7), as JSON lines and as the
//! Parquet files Amazon Security Lake writes (nested columns, read through
//! the same mapping).

use std::borrow::Cow;
use std::io::{BufRead, Cursor};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::ingest::sink::Sink;
use crate::ingest::values::{
    Mapped, Record, json_lines, lookup, parse_count, parse_int, parse_port, protocol, protocol_name, scalar,
};
use crate::lake::schema::SessionRow;
use crate::time::{Micros, check_range};

/// True when a JSON object is an OCSF event.
pub fn is_ocsf(object: &Map<String, Value>) -> bool {
    object.contains_key("class_uid") && object.contains_key("time")
}

fn millis(name: &str, text: &str) -> Result<Micros, String> {
    let ms = parse_int(text, 0, 253_402_300_799_999).map_err(|e| format!("{name}: {e}"))?;
    check_range(ms * 1000).map_err(|e| format!("{name} {e}"))
}

fn map(object: &Map<String, Value>) -> Mapped<'_> {
    let get = |path: &str| lookup(object, path).and_then(scalar);
    match get("class_uid").as_deref() {
        Some("4001") => {}
        Some(other) => {
            return Ok(Record::Skip(Cow::Owned(format!("OCSF class {other}, not network activity"))));
        }
        None => return Err("class_uid is missing".into()),
    }
    let time = millis("time", &get("time").ok_or("time is missing")?)?;
    let port = |path: &str| get(path).as_deref().map(parse_port).transpose().map_err(|e| format!("{path}: {e}"));
    let count = |path: &str| get(path).as_deref().map(parse_count).transpose().map_err(|e| format!("{path}: {e}"));
    let proto = match get("connection_info.protocol_num") {
        Some(n) => {
            Some(parse_int(&n, 0, 255).map(protocol_name).map_err(|e| format!("connection_info.protocol_num: {e}"))?)
        }
        None => get("connection_info.protocol_name").as_deref().map(protocol).transpose()?,
    };
    let failed = matches!(get("activity_id").as_deref(), Some("4" | "5"));
    let action = match (get("action_id").as_deref(), get("action").as_deref()) {
        (Some("1"), _) | (_, Some("Allowed")) => Some("Allow"),
        (Some("2"), _) | (_, Some("Denied")) => Some("Deny"),
        _ => None,
    };
    let direction = match get("connection_info.direction_id").as_deref() {
        Some("1") => Some("Inbound"),
        Some("2") => Some("Outbound"),
        Some("3") => Some("Local"),
        _ => None,
    };
    Ok(Record::Row(SessionRow {
        time_generated: time,
        event_start_time: get("start_time").map(|t| millis("start_time", &t)).transpose()?,
        event_end_time: get("end_time").map(|t| millis("end_time", &t)).transpose()?,
        event_count: get("count").as_deref().and_then(|c| parse_int(c, 1, i64::from(i32::MAX)).ok()).map(|c| c as i32),
        event_type: Some(Cow::Borrowed("NetworkSession")),
        event_result: Some(Cow::Borrowed(if failed { "Failure" } else { "Success" })),
        event_vendor: Some(get("metadata.product.vendor_name").unwrap_or(Cow::Borrowed("OCSF"))),
        event_product: Some(get("metadata.product.name").unwrap_or(Cow::Borrowed("Network Activity"))),
        event_original_type: get("activity_id"),
        dvc: get("device.hostname")
            .or_else(|| get("device.name"))
            .or_else(|| get("src_endpoint.interface_uid"))
            .or_else(|| get("dst_endpoint.interface_uid")),
        dvc_action: action.map(Cow::Borrowed),
        src_ip_addr: Some(get("src_endpoint.ip").ok_or("src_endpoint.ip is missing")?),
        src_port_number: port("src_endpoint.port")?,
        src_hostname: get("src_endpoint.hostname"),
        dst_ip_addr: get("dst_endpoint.ip"),
        dst_port_number: port("dst_endpoint.port")?,
        dst_hostname: get("dst_endpoint.hostname"),
        network_protocol: proto,
        network_direction: direction.map(Cow::Borrowed),
        src_bytes: count("traffic.bytes_out")?.or(count("traffic.bytes")?),
        dst_bytes: count("traffic.bytes_in")?,
        src_packets: count("traffic.packets_out")?.or(count("traffic.packets")?),
        dst_packets: count("traffic.packets_in")?,
        ..Default::default()
    }))
}

/// Reads OCSF events as JSON lines.
pub fn read_json(reader: impl BufRead, sink: &mut Sink<'_>) -> Result<()> {
    sink.counts.format = "ocsf-json";
    json_lines(reader, sink, |object, _| map(object))
}

/// Reads an OCSF Parquet file held in memory; rows are numbered from 1.
pub fn read_parquet(bytes: Vec<u8>, sink: &mut Sink<'_>) -> Result<()> {
    sink.counts.format = "ocsf-parquet";
    sink.unit = "row";
    let input = sink.input.clone();
    let input_error = |reason: String| Error::Input { input: input.clone(), reason };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .and_then(|b| b.build())
        .map_err(|e| input_error(format!("not a readable Parquet file: {e}")))?;
    let mut row_no = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| input_error(e.to_string()))?;
        // Nested columns become nested JSON objects: the JSON mapping applies as is.
        let mut lines = Vec::new();
        let mut writer = arrow::json::LineDelimitedWriter::new(&mut lines);
        writer.write(&batch).map_err(|e| input_error(e.to_string()))?;
        writer.finish().map_err(|e| input_error(e.to_string()))?;
        for line in Cursor::new(lines).lines() {
            row_no += 1;
            let line = line.map_err(|e| input_error(e.to_string()))?;
            let mapped = serde_json::from_str::<Map<String, Value>>(&line).map_err(|e| e.to_string());
            match mapped {
                Ok(object) => {
                    let mapped = map(&object);
                    sink.take(row_no, line.as_bytes(), mapped)?;
                }
                Err(reason) => sink.reject(row_no, &reason, line.as_bytes())?,
            }
        }
    }
    Ok(())
}

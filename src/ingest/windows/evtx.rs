//! Windows `.evtx` files, read natively with the `evtx` crate. Records are
//! numbered by EventRecordID in messages. A record the parser cannot decode
//! is rejected; the records around it are kept.

use std::borrow::Cow;
use std::io::Cursor;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::ingest::sink::Sink;
use crate::ingest::values::{lookup, scalar};
use crate::ingest::windows::{WinEvent, map_event};
use crate::time::parse_timestamp;

/// The System part of an event in the JSON form the `evtx` crate (and
/// `evtx_dump -o json`) gives: `{"Event": {"System": …, "EventData": …}}`.
pub fn system(event: &Map<String, Value>) -> WinEvent<'_> {
    let text = |path: &str| {
        lookup(event, path).and_then(|v| match v {
            Value::Object(o) => o.get("#text").and_then(scalar),
            other => scalar(other),
        })
    };
    let utc = crate::time::utc();
    WinEvent {
        id: text("System.EventID").and_then(|id| id.trim().parse().ok()),
        provider: lookup(event, "System.Provider.#attributes.Name").and_then(scalar),
        channel: text("System.Channel"),
        computer: text("System.Computer"),
        time: lookup(event, "System.TimeCreated.#attributes.SystemTime")
            .and_then(scalar)
            .map(|t| parse_timestamp(&t, utc).map_err(|e| format!("TimeCreated: {e}"))),
    }
}

/// A field of `EventData` (named `Data` elements become keys).
pub fn event_data<'a>(event: &'a Map<String, Value>, name: &str) -> Option<Cow<'a, str>> {
    match event.get("EventData")? {
        Value::Object(data) => data.get(name).and_then(scalar),
        _ => None,
    }
}

/// EVTX file header size and chunk size.
const HEADER_BYTES: usize = 4096;
const CHUNK_BYTES: usize = 65_536;

/// Why a file is shorter than its header says, if it is: the parser skips
/// an incomplete chunk without a word, so this is checked up front.
fn truncation(bytes: &[u8]) -> Option<String> {
    let chunks = usize::from(u16::from_le_bytes(bytes.get(42..44)?.try_into().ok()?));
    let expected = HEADER_BYTES + chunks * CHUNK_BYTES;
    (bytes.len() < expected).then(|| {
        format!(
            "truncated .evtx: {} bytes of the {expected} its header announces ({chunks} chunks); records of the incomplete chunk are lost",
            bytes.len()
        )
    })
}

/// Reads an `.evtx` file held in memory. The records of a truncated file are
/// kept up to the incomplete chunk, and the truncation is an error.
pub fn read(bytes: Vec<u8>, sink: &mut Sink<'_>) -> Result<()> {
    sink.counts.format = "evtx";
    sink.unit = "record";
    let truncated = truncation(&bytes);
    let settings = evtx::ParserSettings::new().separate_json_attributes(false);
    let mut parser = evtx::EvtxParser::from_read_seek(Cursor::new(bytes))
        .map_err(|e| Error::Input { input: sink.input.clone(), reason: format!("not a readable .evtx file: {e}") })?
        .with_configuration(settings);
    let mut last_id = 0;
    for record in parser.records_json_value() {
        match record {
            Ok(record) => {
                last_id = record.event_record_id;
                let Some(Value::Object(event)) = record.data.get("Event") else {
                    sink.reject(record.event_record_id, "record has no Event element", b"")?;
                    continue;
                };
                match map_event(system(event), |name| event_data(event, name)) {
                    // The record's text is only needed for the rejects report.
                    Err(reason) => {
                        let raw = serde_json::to_vec(&record.data).unwrap_or_default();
                        sink.reject(record.event_record_id, &reason, &raw)?;
                    }
                    mapped => sink.take(record.event_record_id, b"", mapped)?,
                }
            }
            // The parser names no record id on failure: the one after the last good one.
            Err(e) => sink.reject(last_id + 1, &format!("unreadable record: {e}"), b"")?,
        }
    }
    match truncated {
        Some(reason) => Err(Error::Input { input: sink.input.clone(), reason }),
        None => Ok(()),
    }
}

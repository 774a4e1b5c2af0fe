//! Windows events as JSON lines, as shippers write them:
//! - nxlog / Logstash: flat EventData fields beside `EventID`, `Channel`,
//!   `Hostname`, `EventTime` (host-local) and `@timestamp` (UTC, receive time);
//! - Winlogbeat / Elastic Agent (ECS): `winlog.event_id`,
//!   `winlog.event_data.*`, `@timestamp` (the event's creation time, UTC);
//! - the `evtx_dump -o json` shape: `{"Event": {"System": …, "EventData": …}}`.

use std::io::BufRead;

use chrono::FixedOffset;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::ingest::sink::Sink;
use crate::ingest::values::{Mapped, json_lines, lookup, scalar};
use crate::ingest::windows::{WinEvent, evtx, map_event};
use crate::time::{Micros, parse_timestamp};

/// True when a JSON object looks like a Windows event.
pub fn is_windows_json(object: &Map<String, Value>) -> bool {
    object.contains_key("EventID")
        || lookup(object, "winlog.event_id").is_some()
        || lookup(object, "Event.System").is_some()
}

/// Reads Windows events as JSON lines. `naive_offset` is the offset of
/// local times when the record does not reveal it.
pub fn read(reader: impl BufRead, sink: &mut Sink<'_>, naive_offset: FixedOffset) -> Result<()> {
    sink.counts.format = "windows-json";
    json_lines(reader, sink, |object, _| map_object(object, naive_offset))
}

fn map_object(object: &Map<String, Value>, naive_offset: FixedOffset) -> Mapped<'_> {
    let utc = crate::time::utc();
    if let Some(Value::Object(event)) = object.get("Event") {
        return map_event(evtx::system(event), |name| evtx::event_data(event, name));
    }
    if let Some(Value::Object(winlog)) = object.get("winlog") {
        let event = WinEvent {
            id: lookup(winlog, "event_id").and_then(scalar).and_then(|v| v.trim().parse().ok()),
            provider: lookup(winlog, "provider_name").and_then(scalar),
            channel: lookup(winlog, "channel").and_then(scalar),
            computer: lookup(winlog, "computer_name")
                .and_then(scalar)
                .or_else(|| lookup(object, "host.name").and_then(scalar)),
            time: object
                .get("@timestamp")
                .and_then(scalar)
                .map(|t| parse_timestamp(&t, utc).map_err(|e| format!("@timestamp: {e}"))),
        };
        return map_event(event, |name| lookup(winlog, "event_data").and_then(|d| d.get(name)).and_then(scalar));
    }
    let field = |name: &str| object.get(name).and_then(scalar);
    let event = WinEvent {
        id: field("EventID").and_then(|v| v.trim().parse().ok()),
        provider: field("SourceName").or_else(|| field("ProviderName")),
        channel: field("Channel"),
        computer: field("Hostname").or_else(|| field("Computer")),
        time: nxlog_time(object, naive_offset),
    };
    map_event(event, move |name| object.get(name).and_then(scalar))
}

/// The event's creation time from an nxlog record: `EventTime` is written in
/// the collector's local time without an offset. The offset is recovered from
/// the same record, `@timestamp` (UTC) minus `EventReceivedTime` (local),
/// rounded to 15 minutes; without those, `naive_offset` is used.
fn nxlog_time(object: &Map<String, Value>, naive_offset: FixedOffset) -> Option<Result<Micros, String>> {
    let utc = crate::time::utc();
    let field = |name: &str| object.get(name).and_then(scalar);
    if let Some(t) = field("TimeCreated").or_else(|| field("SystemTime")) {
        return Some(parse_timestamp(&t, utc).map_err(|e| format!("TimeCreated: {e}")));
    }
    let offset = match (field("@timestamp"), field("EventReceivedTime")) {
        (Some(stamp), Some(received)) => match (parse_timestamp(&stamp, utc), parse_timestamp(&received, utc)) {
            (Ok(stamp), Ok(received_as_utc)) => {
                // Only a real UTC offset (within a day) is taken; anything else
                // (clocks decades apart, found by fuzzing) falls back.
                let quarter_hours = ((stamp as f64 - received_as_utc as f64) / 900_000_000.0).round();
                if quarter_hours.abs() <= 96.0 {
                    FixedOffset::east_opt(-(quarter_hours as i32) * 900).unwrap_or(naive_offset)
                } else {
                    naive_offset
                }
            }
            _ => naive_offset,
        },
        _ => naive_offset,
    };
    match field("EventTime") {
        Some(t) => Some(parse_timestamp(&t, offset).map_err(|e| format!("EventTime: {e}"))),
        None => field("@timestamp").map(|t| parse_timestamp(&t, utc).map_err(|e| format!("@timestamp: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_times_decades_off_fall_back_to_the_given_offset() {
        // A fuzzing crash (multiply overflow): @timestamp in 9999, EventReceivedTime in 1970.
        let record: Map<String, Value> = serde_json::from_str(
            r#"{"@timestamp":"9999-01-01T00:00:00Z","EventReceivedTime":"1970-01-02 00:00:00","EventTime":"2024-04-19 00:10:00"}"#,
        )
        .expect("json");
        let t = nxlog_time(&record, crate::time::utc()).expect("a time").expect("parsed");
        assert_eq!(crate::time::format_utc(t), "2024-04-19T00:10:00Z");
    }

    #[test]
    fn nxlog_local_time_is_converted_with_the_records_own_offset() {
        let v = serde_json::json!({
            "EventTime": "2020-09-04 03:06:08", "EventReceivedTime": "2020-09-04 03:06:11",
            "@timestamp": "2020-09-04T07:06:11.273Z"
        });
        let t = nxlog_time(v.as_object().unwrap(), FixedOffset::east_opt(0).unwrap()).unwrap().unwrap();
        assert_eq!(crate::time::format_utc(t), "2020-09-04T07:06:08Z");
    }
}

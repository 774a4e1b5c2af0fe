//! Alerts as typed records (SPEC section 4), for the scheduled runner and
//! reports. They are read from the rule's result exactly as `detect --format
//! jsonl` writes it, so every consumer sees the same fields.

use serde::{Deserialize, Serialize};

use crate::engine::QueryResult;
use crate::error::{Error, Result};
use crate::output::text::{Lists, for_text};
use crate::time::Micros;

/// One alert: a source above the threshold in one bin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alert {
    /// The scanner.
    pub src_ip_addr: String,
    /// Bin start, RFC 3339 UTC.
    pub time_generated: String,
    /// Bin end, RFC 3339 UTC.
    pub bin_end: String,
    /// Exact number of distinct destination ports.
    pub attempted_ports_count: i64,
    /// Up to `max_ports` of them, ascending.
    pub attempted_ports: Vec<i64>,
    /// Up to `max_reporters` `Vendor/Product`, sorted.
    pub reported_by: Vec<String>,
    /// First event in the bin, RFC 3339 UTC.
    pub first_seen: String,
    /// Last event in the bin, RFC 3339 UTC.
    pub last_seen: String,
    /// Events behind the alert.
    pub event_count: i64,
    /// Distinct destination addresses.
    pub distinct_targets: i64,
    /// Stable id of (rule, profile, source, bin).
    pub alert_id: String,
}

impl Alert {
    /// Reads the alerts of a rule result; `query` names it in errors.
    pub fn from_result(result: &QueryResult, query: &str) -> Result<Vec<Alert>> {
        let (_, batches) = for_text(&result.schema, &result.batches, Lists::Keep)?;
        let mut json = Vec::new();
        let mut writer = arrow::json::LineDelimitedWriter::new(&mut json);
        for batch in &batches {
            writer.write(batch)?;
        }
        writer.finish()?;
        json.split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                let alert: Alert = serde_json::from_slice(line).map_err(|e| not_alerts(query, e.to_string()))?;
                match chrono::DateTime::parse_from_rfc3339(&alert.time_generated) {
                    Ok(_) => Ok(alert),
                    Err(e) => Err(not_alerts(query, format!("TimeGenerated `{}`: {e}", alert.time_generated))),
                }
            })
            .collect()
    }

    /// Bin start in microseconds.
    pub fn bin_start(&self) -> Micros {
        parse_utc(&self.time_generated)
    }
}

/// Parses an RFC 3339 time [`Alert::from_result`] checked.
fn parse_utc(text: &str) -> Micros {
    chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_micros()).unwrap_or_default()
}

fn not_alerts(query: &str, reason: String) -> Error {
    Error::Input {
        input: query.to_string(),
        reason: format!("its result is not the alert shape of SPEC section 4: {reason}"),
    }
}

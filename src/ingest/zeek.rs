//! Zeek `conn.log` (SPEC 3.2), as TSV with `#` headers and as JSON lines.

use std::borrow::Cow;
use std::io::BufRead;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::ingest::sink::Sink;
use crate::ingest::values::{
    Mapped, Record, json_lines, lookup, parse_bool, parse_count, parse_port, scalar, text_lines,
};
use crate::lake::schema::SessionRow;
use crate::time::{Micros, check_range, parse_epoch_seconds, parse_timestamp};

/// The conn fields scanlake maps, as text (`None` when unset or empty).
#[derive(Debug, Default)]
struct Conn<'a> {
    ts: Option<Cow<'a, str>>,
    orig_h: Option<Cow<'a, str>>,
    orig_p: Option<Cow<'a, str>>,
    resp_h: Option<Cow<'a, str>>,
    resp_p: Option<Cow<'a, str>>,
    proto: Option<Cow<'a, str>>,
    service: Option<Cow<'a, str>>,
    duration: Option<Cow<'a, str>>,
    orig_bytes: Option<Cow<'a, str>>,
    resp_bytes: Option<Cow<'a, str>>,
    conn_state: Option<Cow<'a, str>>,
    local_orig: Option<Cow<'a, str>>,
    local_resp: Option<Cow<'a, str>>,
    orig_pkts: Option<Cow<'a, str>>,
    resp_pkts: Option<Cow<'a, str>>,
    sensor: Option<Cow<'a, str>>,
}

/// Zeek field names, in the order of [`Conn`]'s fields.
const FIELDS: [&str; 16] = [
    "ts",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "orig_pkts",
    "resp_pkts",
    "_node_name",
];

impl<'a> Conn<'a> {
    fn from_values(mut values: impl FnMut(usize) -> Option<Cow<'a, str>>) -> Self {
        Conn {
            ts: values(0),
            orig_h: values(1),
            orig_p: values(2),
            resp_h: values(3),
            resp_p: values(4),
            proto: values(5),
            service: values(6),
            duration: values(7),
            orig_bytes: values(8),
            resp_bytes: values(9),
            conn_state: values(10),
            local_orig: values(11),
            local_resp: values(12),
            orig_pkts: values(13),
            resp_pkts: values(14),
            sensor: values(15),
        }
    }
}

/// `conn_state` → EventResult: the states of a connection that was
/// answered are Success, refused or torn-down attempts Failure.
fn event_result(state: Option<&str>) -> &'static str {
    match state {
        Some("S0" | "S1" | "SF" | "OTH") => "Success",
        Some("REJ" | "S2" | "S3" | "RSTO" | "RSTR" | "RSTOS0" | "RSTRH" | "SH" | "SHR") => "Failure",
        _ => "NA",
    }
}

/// `tcp` → `TCP`, without allocating for the usual protocols.
fn upper_case(text: Cow<'_, str>) -> Cow<'_, str> {
    match text.as_ref() {
        "tcp" => Cow::Borrowed("TCP"),
        "udp" => Cow::Borrowed("UDP"),
        "icmp" => Cow::Borrowed("ICMP"),
        t if !t.bytes().any(|b| b.is_ascii_lowercase()) => text,
        t => Cow::Owned(t.to_ascii_uppercase()),
    }
}

fn parse_ts(text: &str) -> Result<Micros, String> {
    let micros = match parse_epoch_seconds(text.trim()) {
        Some(m) => m,
        None => parse_timestamp(text, crate::time::utc()).map_err(|e| format!("ts: {e}"))?,
    };
    check_range(micros).map_err(|e| format!("ts `{text}` {e}"))
}

fn conn_row(conn: Conn<'_>) -> Mapped<'_> {
    let ts = parse_ts(conn.ts.as_deref().ok_or("ts is missing")?)?;
    let src = conn.orig_h.ok_or("id.orig_h is missing")?;
    let port = |name: &str, v: &Option<Cow<'_, str>>| {
        v.as_deref().map(parse_port).transpose().map_err(|e| format!("{name}: {e}"))
    };
    let count = |name: &str, v: &Option<Cow<'_, str>>| {
        v.as_deref().map(parse_count).transpose().map_err(|e| format!("{name}: {e}"))
    };
    let end = match conn.duration.as_deref() {
        Some(d) => {
            let micros = parse_epoch_seconds(d.trim()).ok_or_else(|| format!("duration: invalid number `{d}`"))?;
            Some(ts.checked_add(micros).ok_or("duration: out of range")?)
        }
        None => None,
    };
    let direction =
        match (conn.local_orig.as_deref().and_then(parse_bool), conn.local_resp.as_deref().and_then(parse_bool)) {
            (Some(false), Some(true)) => "Inbound",
            (Some(true), Some(false)) => "Outbound",
            (Some(_), Some(_)) => "Local",
            _ => "NA",
        };
    Ok(Record::Row(SessionRow {
        time_generated: ts,
        event_start_time: Some(ts),
        event_end_time: end,
        event_count: Some(1),
        event_type: Some(Cow::Borrowed("Flow")),
        event_result: Some(Cow::Borrowed(event_result(conn.conn_state.as_deref()))),
        event_vendor: Some(Cow::Borrowed("Corelight")),
        event_product: Some(Cow::Borrowed("Zeek")),
        event_original_type: conn.conn_state,
        dvc: conn.sensor,
        src_port_number: port("id.orig_p", &conn.orig_p)?,
        dst_port_number: port("id.resp_p", &conn.resp_p)?,
        src_ip_addr: Some(src),
        dst_ip_addr: conn.resp_h,
        network_protocol: conn.proto.map(upper_case),
        network_direction: Some(Cow::Borrowed(direction)),
        network_application_protocol: conn.service,
        src_bytes: count("orig_bytes", &conn.orig_bytes)?,
        dst_bytes: count("resp_bytes", &conn.resp_bytes)?,
        src_packets: count("orig_pkts", &conn.orig_pkts)?,
        dst_packets: count("resp_pkts", &conn.resp_pkts)?,
        ..Default::default()
    }))
}

/// The header state of a Zeek TSV stream; a new `#fields` line starts a new block.
struct Header {
    separator: Vec<u8>,
    unset: String,
    empty: String,
    path: Option<String>,
    /// Position of each of [`FIELDS`] in the data lines.
    index: Option<[Option<usize>; 16]>,
    columns: usize,
}

impl Default for Header {
    fn default() -> Self {
        Self {
            separator: b"\t".to_vec(),
            unset: "-".into(),
            empty: "(empty)".into(),
            path: None,
            index: None,
            columns: 0,
        }
    }
}

/// `\x09` → tab, as Zeek writes its separator.
fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && bytes.get(i + 1) == Some(&b'x')
            && let Some(v) = text.get(i + 2..i + 4).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Hands each field of `line` to `each`, in order.
fn split_each<'l>(line: &'l str, separator: &[u8], mut each: impl FnMut(&'l str)) {
    match (separator, std::str::from_utf8(separator)) {
        // An ASCII separator (Zeek's tab): cut at each byte memchr finds.
        (&[byte], _) if byte.is_ascii() => {
            let mut start = 0;
            for end in memchr::memchr_iter(byte, line.as_bytes()) {
                each(&line[start..end]);
                start = end + 1;
            }
            each(&line[start..]);
        }
        (_, Ok(sep)) if !sep.is_empty() => line.split(sep).for_each(each),
        _ => each(line),
    }
}

fn split<'l>(line: &'l str, separator: &[u8]) -> Vec<&'l str> {
    let mut fields = Vec::new();
    split_each(line, separator, |field| fields.push(field));
    fields
}

/// The byte ranges of `line`'s fields into `spans` (reused from line to line: no allocation).
fn field_spans(line: &str, separator: &[u8], spans: &mut Vec<std::ops::Range<usize>>) {
    spans.clear();
    let base = line.as_ptr() as usize;
    split_each(line, separator, |field| {
        let start = field.as_ptr() as usize - base;
        spans.push(start..start + field.len());
    });
}

impl Header {
    fn directive(&mut self, line: &str) -> Result<(), String> {
        if let Some(rest) = line.strip_prefix("#separator") {
            self.separator = unescape(rest.trim_start_matches([' ', '\t']));
            return Ok(());
        }
        let parts = split(line, &self.separator);
        let value = || parts.get(1).map(|s| s.to_string()).unwrap_or_default();
        match parts[0] {
            "#unset_field" => self.unset = value(),
            "#empty_field" => self.empty = value(),
            "#path" => self.path = Some(value()),
            "#fields" => {
                let names = &parts[1..];
                let mut index = [None; 16];
                for (slot, field) in index.iter_mut().zip(FIELDS) {
                    *slot = names.iter().position(|n| *n == field);
                }
                // Zeek writers that add a sensor column name it differently.
                if index[15].is_none() {
                    index[15] = names.iter().position(|n| matches!(*n, "_system_name" | "_hostname" | "sensor"));
                }
                for (required, name) in [(0, "ts"), (1, "id.orig_h")] {
                    if index[required].is_none() {
                        return Err(format!("#fields has no `{name}`"));
                    }
                }
                self.columns = names.len();
                self.index = Some(index);
            }
            _ => {}
        }
        Ok(())
    }

    fn value<'l>(&self, raw: &'l str) -> Option<Cow<'l, str>> {
        if raw == self.unset || raw == self.empty || raw.is_empty() { None } else { Some(Cow::Borrowed(raw)) }
    }
}

/// Reads Zeek conn.log TSV: `#separator`, `#unset_field`, `#empty_field`,
/// `#fields` (any order, extra columns), several header blocks in one
/// stream (rotated files concatenated), `#close` lines.
pub fn read_tsv(reader: impl BufRead, sink: &mut Sink<'_>) -> Result<()> {
    sink.counts.format = "zeek-tsv";
    let mut header = Header::default();
    // Where each field of a data line is; kept from line to line.
    let mut spans = Vec::new();
    text_lines(reader, sink, false, |line_no, line, raw, sink| {
        if line.starts_with('#') {
            if let Err(reason) = header.directive(line) {
                sink.reject(line_no, &reason, raw)?;
            }
            return Ok(());
        }
        let mapped = match (&header.index, header.path.as_deref()) {
            (_, Some(path)) if path != "conn" => Ok(Record::Skip(Cow::Owned(format!("zeek {path} log, not conn")))),
            (None, _) => Err("data line before a #fields header".to_string()),
            (Some(index), _) => {
                field_spans(line, &header.separator, &mut spans);
                if spans.len() != header.columns {
                    Err(format!("expected {} fields, found {}", header.columns, spans.len()))
                } else {
                    conn_row(Conn::from_values(|i| index[i].and_then(|at| header.value(&line[spans[at].clone()]))))
                }
            }
        };
        sink.take(line_no, raw, mapped)
    })
}

/// A conn field of a JSON record: `id.orig_h`, `id_orig_h`, or `{"id": {"orig_h": …}}`.
fn json_field<'o>(object: &'o Map<String, Value>, name: &str) -> Option<Cow<'o, str>> {
    lookup(object, name)
        .or_else(|| name.contains('.').then(|| object.get(&name.replace('.', "_"))).flatten())
        .and_then(scalar)
}

/// Reads Zeek conn JSON lines.
pub fn read_json(reader: impl BufRead, sink: &mut Sink<'_>) -> Result<()> {
    sink.counts.format = "zeek-json";
    json_lines(reader, sink, |object, _| {
        let mut conn = Conn::from_values(|i| json_field(object, FIELDS[i]));
        if conn.sensor.is_none() {
            conn.sensor = ["_system_name", "@system", "_node_name"].iter().find_map(|k| json_field(object, k));
        }
        conn_row(conn)
    })
}

/// True when a JSON object looks like a Zeek conn record.
pub fn is_conn_json(object: &Map<String, Value>) -> bool {
    object.contains_key("ts") && ["id.orig_h", "id_orig_h", "id"].iter().any(|k| object.contains_key(*k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_unescaped() {
        assert_eq!(unescape("\\x09"), b"\t");
        assert_eq!(unescape(","), b",");
        assert_eq!(unescape("\\x2c"), b",");
    }

    #[test]
    fn states_map_to_results() {
        assert_eq!(event_result(Some("REJ")), "Failure");
        assert_eq!(event_result(Some("S0")), "Success");
        assert_eq!(event_result(Some("RSTOS0")), "Failure");
        assert_eq!(event_result(None), "NA");
    }
}

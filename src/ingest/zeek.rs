//! Zeek `conn.log` (SPEC 3.2), as TSV with `#` headers and as JSON lines.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::{Arc, mpsc};

use arrow::array::RecordBatch;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::ingest::sink::{Part, Sink};
use crate::ingest::values::{
    Mapped, Record, each_line, json_lines, lookup, parse_bool, parse_count, parse_port, read_block, scalar, trimmed,
};
use crate::lake::schema::{SessionBatchBuilder, SessionRow};
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
    let micros = match parse_epoch_seconds(trimmed(text)) {
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
            let micros = parse_epoch_seconds(trimmed(d)).ok_or_else(|| format!("duration: invalid number `{d}`"))?;
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
#[derive(Clone)]
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
        // The first byte first: most values differ there, and a call to memcmp per field costs.
        let is = |marker: &str| raw.len() == marker.len() && raw.as_bytes()[0] == marker.as_bytes()[0] && raw == marker;
        if raw.is_empty() || is(&self.unset) || is(&self.empty) { None } else { Some(Cow::Borrowed(raw)) }
    }
}

/// Input bytes parsed as one part, side by side with the next ones.
const PART_BYTES: usize = 4 << 20;
/// Parts being parsed ahead of the one the sink takes next.
const PARTS_AHEAD: usize = 4;

/// Reads Zeek conn.log TSV: `#separator`, `#unset_field`, `#empty_field`,
/// `#fields` (any order, extra columns), several header blocks in one
/// stream (rotated files concatenated), `#close` lines.
///
/// The input is cut into parts of about [`PART_BYTES`] at line ends; header
/// lines are applied here, in order, and the data lines between them are
/// parsed on every core with the header in force. The sink takes the parts
/// in input order, so rows, files and line numbers are what reading line by
/// line gives.
pub fn read_tsv(mut reader: impl BufRead, sink: &mut Sink<'_>) -> Result<()> {
    sink.counts.format = "zeek-tsv";
    let mut header = Arc::new(Header::default());
    let mut parts = Parts::default();
    loop {
        let (block, read_error) = read_block(&mut reader, PART_BYTES);
        let block = Arc::new(block);
        let directives = (block.first() == Some(&b'#'))
            .then_some(0)
            .into_iter()
            .chain(memchr::memmem::find_iter(&block[..], b"\n#").map(|at| at + 1));
        let mut start = 0;
        for at in directives {
            if at > start {
                parts.parse(&sink.input, block.clone(), start..at, header.clone());
            }
            let end = memchr::memchr(b'\n', &block[at..]).map_or(block.len(), |i| at + i + 1);
            let header = Arc::make_mut(&mut header);
            parts.ready(Sink::part(&sink.input, SessionBatchBuilder::default(), |sink| {
                each_line(&block[at..end], false, sink, |line_no, line, raw, sink| match header.directive(line) {
                    Ok(()) => Ok(()),
                    Err(reason) => sink.reject(line_no, &reason, raw),
                })
            }));
            start = end;
        }
        if start < block.len() {
            parts.parse(&sink.input, block.clone(), start..block.len(), header.clone());
        }
        let last = read_error.is_some() || block.is_empty();
        while parts.queue.len() > if last { 0 } else { PARTS_AHEAD } {
            parts.absorb_next(sink)?;
        }
        if last {
            return match read_error {
                Some(e) => {
                    Err(Error::Input { input: sink.input.clone(), reason: format!("line {}: {e}", parts.lines + 1) })
                }
                None => Ok(()),
            };
        }
    }
}

/// Parts of a Zeek TSV input on their way to the sink, in input order.
#[derive(Default)]
struct Parts {
    /// Each part as it will arrive, with its size in bytes.
    queue: VecDeque<(mpsc::Receiver<Result<Part>>, usize)>,
    /// Lines the sink has taken.
    lines: u64,
    /// The rows of a part taken and its size in bytes: new parts' builders
    /// are sized from it (growing a builder copies it).
    like: Option<(RecordBatch, usize)>,
}

impl Parts {
    /// Parses the data lines `range` of `block` with `header` on rayon's pool.
    fn parse(&mut self, input: &str, block: Arc<Vec<u8>>, range: std::ops::Range<usize>, header: Arc<Header>) {
        let (done, ready) = mpsc::sync_channel(1);
        let input = input.to_string();
        let bytes = range.len();
        let builder = match &self.like {
            Some((rows, like_bytes)) => SessionBatchBuilder::sized_like(
                rows,
                rows.num_rows() * bytes / like_bytes.max(&1) + rows.num_rows() / 16,
            ),
            None => SessionBatchBuilder::default(),
        };
        rayon::spawn(move || {
            let parse = || {
                Sink::part(&input, builder, |sink| {
                    let mut spans = Vec::new();
                    each_line(&block[range], false, sink, |line_no, line, raw, sink| {
                        data_line(&header, &mut spans, line_no, line, raw, sink)
                    })
                })
            };
            let part = std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).unwrap_or_else(|_| {
                Err(Error::Input { input: input.clone(), reason: "the parser failed on this input (a bug)".into() })
            });
            // The reader may have stopped (an error elsewhere): then nobody waits.
            let _ = done.send(part);
        });
        self.queue.push_back((ready, bytes));
    }

    /// Queues a part parsed already (a header line's outcome).
    fn ready(&mut self, part: Result<Part>) {
        let (done, ready) = mpsc::sync_channel(1);
        let _ = done.send(part);
        self.queue.push_back((ready, 0));
    }

    /// Waits for the oldest part and hands it to `sink`.
    fn absorb_next(&mut self, sink: &mut Sink<'_>) -> Result<()> {
        let Some((part, bytes)) = self.queue.pop_front() else { return Ok(()) };
        let stopped = || Error::Input { input: sink.input.clone(), reason: "a parser stopped".into() };
        let part = part.recv().map_err(|_| stopped())??;
        if let Some((rows, _)) = part.rows.as_ref().filter(|(rows, _)| rows.num_rows() > 1000) {
            self.like = Some((rows.clone(), bytes));
        }
        let lines = part.lines;
        sink.absorb(self.lines + 1, part)?;
        self.lines += lines;
        Ok(())
    }
}

/// Maps one data line with `header` in force and hands the outcome to `sink`.
fn data_line(
    header: &Header,
    spans: &mut Vec<std::ops::Range<usize>>,
    line_no: u64,
    line: &str,
    raw: &[u8],
    sink: &mut Sink<'_>,
) -> Result<()> {
    let mapped = match (&header.index, header.path.as_deref()) {
        (_, Some(path)) if path != "conn" => Ok(Record::Skip(Cow::Owned(format!("zeek {path} log, not conn")))),
        (None, _) => Err("data line before a #fields header".to_string()),
        (Some(index), _) => {
            field_spans(line, &header.separator, spans);
            if spans.len() != header.columns {
                Err(format!("expected {} fields, found {}", header.columns, spans.len()))
            } else {
                conn_row(Conn::from_values(|i| index[i].and_then(|at| header.value(&line[spans[at].clone()]))))
            }
        }
    };
    // Every text value is a field of the line, a constant or the protocol upper-cased.
    sink.take_parts_of(line_no, raw, mapped)
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

//! Value parsing shared by the source adapters: numbers, ports, protocol
//! numbers, flags, and the JSON-lines loop.

use std::borrow::Cow;
use std::io::{BufRead, Read};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::ingest::sink::Sink;
use crate::lake::schema::SessionRow;

/// What an adapter makes of one record.
pub enum Record<'a> {
    /// A network-session event.
    Row(SessionRow<'a>),
    /// Not an event of this schema (another Windows event id, a NODATA
    /// flow record): counted by reason, not rejected.
    Skip(Cow<'static, str>),
}

/// One record's outcome: a row, a skip, or a rejection reason.
pub type Mapped<'a> = Result<Record<'a>, String>;

/// `text` without surrounding white space; the usual field, with none, is
/// returned as it is without looking at its characters.
pub fn trimmed(text: &str) -> &str {
    let bytes = text.as_bytes();
    let plain = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b < 0x80);
    if plain(bytes.first()) && plain(bytes.last()) { text } else { text.trim() }
}

/// An integer in `min..=max`. Whole numbers written as `443.0` are accepted.
pub fn parse_int(text: &str, min: i64, max: i64) -> Result<i64, String> {
    let t = trimmed(text);
    let value = t
        .parse::<i64>()
        .ok()
        .or_else(|| t.parse::<f64>().ok().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64));
    match value {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => Err(format!("{v} is out of range {min}..={max}")),
        None => Err(format!("invalid number `{t}`")),
    }
}

/// A port number 0..=65535 (also ICMP type and code).
pub fn parse_port(text: &str) -> Result<i32, String> {
    parse_int(text, 0, 65_535).map(|p| p as i32)
}

/// A non-negative counter (bytes, packets).
pub fn parse_count(text: &str) -> Result<i64, String> {
    parse_int(text, 0, i64::MAX)
}

/// The IANA name of an IP protocol number, upper case (`6` → `TCP`);
/// unknown numbers stay numbers.
pub fn protocol_name(number: i64) -> Cow<'static, str> {
    let name = match number {
        0 => "HOPOPT",
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPV4",
        6 => "TCP",
        17 => "UDP",
        41 => "IPV6",
        43 => "IPV6-ROUTE",
        44 => "IPV6-FRAG",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "IPV6-ICMP",
        59 => "IPV6-NONXT",
        60 => "IPV6-OPTS",
        88 => "EIGRP",
        89 => "OSPF",
        103 => "PIM",
        112 => "VRRP",
        132 => "SCTP",
        136 => "UDPLITE",
        _ => return Cow::Owned(number.to_string()),
    };
    Cow::Borrowed(name)
}

/// A protocol written as a number or a name, as its upper-case IANA name.
pub fn protocol(text: &str) -> Result<Cow<'static, str>, String> {
    let t = trimmed(text);
    if t.bytes().all(|b| b.is_ascii_digit()) {
        parse_int(t, 0, 255).map(protocol_name)
    } else {
        Ok(Cow::Owned(t.to_ascii_uppercase()))
    }
}

/// `true`/`false`, `T`/`F`, `1`/`0`.
pub fn parse_bool(text: &str) -> Option<bool> {
    match trimmed(text) {
        t if t.eq_ignore_ascii_case("true") || t == "T" || t == "1" => Some(true),
        t if t.eq_ignore_ascii_case("false") || t == "F" || t == "0" => Some(false),
        _ => None,
    }
}

/// A JSON scalar as text (`None` for null, empty text, or the usual
/// "unset" markers `-`).
pub fn scalar(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) if s.is_empty() || s == "-" => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// Follows `path` (`a.b.c`) through nested objects; a flat key with dots
/// (`"id.orig_h"`) is found too.
pub fn lookup<'v>(object: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    if let Some(v) = object.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    match object.get(head)? {
        Value::Object(inner) => lookup(inner, rest),
        _ => None,
    }
}

/// Bytes of input read at a time by [`text_lines`].
const BLOCK_BYTES: usize = 1 << 20;

/// Reads text lines, numbered from 1, and hands each non-blank one to
/// `each` as text (and raw bytes, for a rejection). Lines that are not
/// UTF-8 are rejected. With `trim`, surrounding white space is dropped;
/// without, only the line ending (tab-separated formats keep empty edge fields).
pub fn text_lines(
    mut reader: impl BufRead,
    sink: &mut Sink<'_>,
    trim: bool,
    mut each: impl FnMut(u64, &str, &[u8], &mut Sink<'_>) -> Result<()>,
) -> Result<()> {
    let mut lines = 0;
    loop {
        let (block, read_error) = read_block(&mut reader, BLOCK_BYTES);
        let before = lines;
        lines += each_line(&block, trim, sink, |line, text, raw, sink| each(before + line, text, raw, sink))?;
        match read_error {
            Some(e) => {
                return Err(Error::Input { input: sink.input.clone(), reason: format!("line {}: {e}", lines + 1) });
            }
            None if block.is_empty() => return Ok(()),
            None => {}
        }
    }
}

/// Reads about `size` bytes of whole lines. A read error ends the block at
/// the last whole line before it and is returned with it.
pub fn read_block(reader: &mut impl BufRead, size: usize) -> (Vec<u8>, Option<std::io::Error>) {
    let mut block = Vec::with_capacity(size + 64 * 1024);
    let read = reader.by_ref().take(size as u64).read_to_end(&mut block).and_then(|_| match block.last() {
        Some(&last) if last != b'\n' => reader.read_until(b'\n', &mut block).map(|_| ()),
        _ => Ok(()),
    });
    match read {
        Ok(()) => (block, None),
        Err(e) => {
            block.truncate(memchr::memrchr(b'\n', &block).map_or(0, |i| i + 1));
            (block, Some(e))
        }
    }
}

/// A line without its ending; with `trim`, without surrounding white space.
fn line_bytes(line: &[u8], trim: bool) -> &[u8] {
    if trim {
        line.trim_ascii()
    } else {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        line.strip_suffix(b"\r").unwrap_or(line)
    }
}

/// Hands each non-blank line of `bytes` to `each` as [`text_lines`] does,
/// numbered from 1 (lines that are not UTF-8 are rejected). Returns the
/// number of lines, blank ones too.
pub fn each_line(
    bytes: &[u8],
    trim: bool,
    sink: &mut Sink<'_>,
    mut each: impl FnMut(u64, &str, &[u8], &mut Sink<'_>) -> Result<()>,
) -> Result<u64> {
    let mut line = 0;
    let mut start = 0;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i + 1);
        line += 1;
        let raw = line_bytes(&bytes[start..end], trim);
        start = end;
        if raw.is_empty() {
            continue;
        }
        match std::str::from_utf8(raw) {
            Ok(text) => each(line, text, raw, sink)?,
            Err(_) => sink.reject(line, "invalid UTF-8", raw)?,
        }
    }
    Ok(line)
}

/// Reads JSON lines: each non-blank line must be a JSON object, handed to
/// `map`. Lines that are not objects, or that `map` refuses, are rejected
/// with their line number.
pub fn json_lines(
    reader: impl BufRead,
    sink: &mut Sink<'_>,
    mut map: impl for<'o> FnMut(&'o Map<String, Value>, &mut Sink<'_>) -> Mapped<'o>,
) -> Result<()> {
    text_lines(reader, sink, true, |line, text, raw, sink| match serde_json::from_str::<Map<String, Value>>(text) {
        Ok(object) => {
            let mapped = map(&object, sink);
            sink.take(line, raw, mapped)
        }
        Err(e) => sink.reject(line, &format!("invalid JSON object: {e}"), raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_int("443", 0, 65535), Ok(443));
        assert_eq!(parse_int("443.0", 0, 65535), Ok(443));
        assert!(parse_int("65536", 0, 65535).is_err());
        assert!(parse_int("-1", 0, 65535).is_err());
        assert!(parse_int("4x", 0, 65535).is_err());
        assert!(parse_int("1.5", 0, 65535).is_err());
    }

    #[test]
    fn protocols() {
        assert_eq!(protocol("6").unwrap(), "TCP");
        assert_eq!(protocol("17").unwrap(), "UDP");
        assert_eq!(protocol("tcp").unwrap(), "TCP");
        assert_eq!(protocol("253").unwrap(), "253");
        assert!(protocol("999").is_err());
    }

    #[test]
    fn nested_and_dotted_lookup() {
        let v: Value = serde_json::json!({"id.orig_h": "1.2.3.4", "id": {"resp_h": "5.6.7.8"}, "a": {"b": {"c": 1}}});
        let o = v.as_object().unwrap();
        assert_eq!(lookup(o, "id.orig_h").and_then(scalar).as_deref(), Some("1.2.3.4"));
        assert_eq!(lookup(o, "id.resp_h").and_then(scalar).as_deref(), Some("5.6.7.8"));
        assert_eq!(lookup(o, "a.b.c").and_then(scalar).as_deref(), Some("1"));
        assert!(lookup(o, "a.x").is_none());
    }
}

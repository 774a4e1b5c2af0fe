//! Windows events in their XML rendering (`wevtutil qe Security /f:xml`,
//! Event Viewer "Save as XML"): a sequence of `<Event>` elements, with or
//! without an enclosing `<Events>`.

use std::borrow::Cow;
use std::io::Read;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::error::{Error, Result};
use crate::ingest::sink::Sink;
use crate::ingest::windows::{WinEvent, map_event};
use crate::time::parse_timestamp;

/// One `<Event>`: System values and named `Data` values.
#[derive(Default)]
struct XmlEvent {
    id: Option<String>,
    provider: Option<String>,
    channel: Option<String>,
    computer: Option<String>,
    time: Option<String>,
    data: Vec<(String, String)>,
}

/// Reads the XML rendering; each event is located by the line it starts on.
pub fn read(mut reader: impl Read, sink: &mut Sink<'_>) -> Result<()> {
    sink.counts.format = "windows-xml";
    let mut text = String::new();
    reader.read_to_string(&mut text).map_err(|e| Error::Input { input: sink.input.clone(), reason: e.to_string() })?;
    let line_of =
        |pos: u64| 1 + text.as_bytes()[..(pos as usize).min(text.len())].iter().filter(|b| **b == b'\n').count() as u64;
    let mut xml = Reader::from_str(&text);
    xml.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut current: Option<(u64, XmlEvent)> = None;
    let mut data_name: Option<String> = None;
    let mut value = String::new();
    loop {
        let position = xml.buffer_position();
        let event = match xml.read_event() {
            Ok(e) => e,
            Err(e) => {
                let line = line_of(xml.error_position());
                sink.reject(line, &format!("invalid XML: {e}"), b"")?;
                return Ok(());
            }
        };
        match event {
            Event::Eof => break,
            Event::Start(e) if e.local_name().as_ref() == b"Event" && current.is_none() => {
                current = Some((line_of(position), XmlEvent::default()));
                path.clear();
                path.push("Event".into());
            }
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let Some((_, ev)) = current.as_mut() {
                    attributes(&e, &name, ev);
                    if name == "Data" {
                        data_name = attribute(&e, b"Name");
                    }
                }
                value.clear();
                path.push(name);
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let Some((_, ev)) = current.as_mut() {
                    attributes(&e, &name, ev);
                }
            }
            Event::Text(t) => value.push_str(&t.xml_content().unwrap_or_default()),
            Event::CData(t) => value.push_str(&t.decode().unwrap_or_default()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    _ => match r.as_ref() {
                        b"amp" => Some("&".into()),
                        b"lt" => Some("<".into()),
                        b"gt" => Some(">".into()),
                        b"quot" => Some("\"".into()),
                        b"apos" => Some("'".into()),
                        _ => None,
                    },
                };
                value.push_str(&resolved.unwrap_or_default());
            }
            Event::End(e) => {
                let name = e.local_name();
                if name.as_ref() == b"Event" {
                    if let Some((line, ev)) = current.take() {
                        emit(ev, line, sink)?;
                    }
                    path.clear();
                    continue;
                }
                if let Some((_, ev)) = current.as_mut() {
                    let parent = path.len().checked_sub(2).and_then(|i| path.get(i)).map(String::as_str);
                    let v = std::mem::take(&mut value);
                    match (parent, name.as_ref()) {
                        (Some("System"), b"EventID") => ev.id = Some(v),
                        (Some("System"), b"Channel") => ev.channel = Some(v),
                        (Some("System"), b"Computer") => ev.computer = Some(v),
                        (_, b"Data") => {
                            if let Some(n) = data_name.take() {
                                ev.data.push((n, v));
                            }
                        }
                        _ => {}
                    }
                }
                path.pop();
            }
            _ => {}
        }
    }
    if let Some((line, _)) = current {
        sink.reject(line, "event is not closed (truncated XML)", b"")?;
    }
    Ok(())
}

fn attribute(e: &quick_xml::events::BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key)
        .and_then(|a| a.unescape_value().ok().map(Cow::into_owned))
}

fn attributes(e: &quick_xml::events::BytesStart<'_>, name: &str, ev: &mut XmlEvent) {
    match name {
        "Provider" => ev.provider = attribute(e, b"Name"),
        "TimeCreated" => ev.time = attribute(e, b"SystemTime"),
        _ => {}
    }
}

fn emit(ev: XmlEvent, line: u64, sink: &mut Sink<'_>) -> Result<()> {
    let utc = crate::time::utc();
    let event = WinEvent {
        id: ev.id.as_deref().and_then(|id| id.trim().parse().ok()),
        provider: ev.provider.as_deref().map(Cow::Borrowed),
        channel: ev.channel.as_deref().map(Cow::Borrowed),
        computer: ev.computer.as_deref().map(Cow::Borrowed),
        time: ev.time.as_deref().map(|t| parse_timestamp(t, utc).map_err(|e| format!("TimeCreated: {e}"))),
    };
    let data = &ev.data;
    let mapped = map_event(event, |name| {
        data.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty() && *v != "-")
            .map(Cow::Borrowed)
    });
    match mapped {
        Err(reason) => sink.reject(line, &reason, format!("<Event> at line {line}").as_bytes()),
        mapped => sink.take(line, b"", mapped),
    }
}

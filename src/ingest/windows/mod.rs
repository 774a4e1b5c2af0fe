//! Windows Filtering Platform (Security 5152, 5154–5159) and Sysmon event 3
//! (SPEC 3.4–3.6). Every container — `.evtx`, JSON lines from shippers, the
//! XML rendering — turns a record into a [`WinEvent`] and a field getter;
//! [`map_event`] maps both to a lake row, the same way for all of them.

pub mod evtx;
pub mod json;
pub mod xml;

use std::borrow::Cow;

use crate::ingest::values::{Mapped, Record, parse_bool, parse_port, protocol};
use crate::lake::schema::SessionRow;
use crate::time::{Micros, parse_timestamp};

/// The System part of a Windows event, as every container gives it.
#[derive(Debug, Default, Clone)]
pub struct WinEvent<'a> {
    /// EventID.
    pub id: Option<u32>,
    /// Provider name (`Microsoft-Windows-Security-Auditing`, `Microsoft-Windows-Sysmon`).
    pub provider: Option<Cow<'a, str>>,
    /// Channel (`Security`, `security`, `Microsoft-Windows-Sysmon/Operational`).
    pub channel: Option<Cow<'a, str>>,
    /// The computer that logged the event.
    pub computer: Option<Cow<'a, str>>,
    /// When the event was created (System/TimeCreated), UTC, or why it is unknown.
    pub time: Option<Result<Micros, String>>,
}

/// The reason counted for Windows events that are not network sessions.
pub const SKIP_OTHER: &str = "Windows event that is not a network session";

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Wfp(u32),
    Sysmon,
    Other,
}

fn kind(event: &WinEvent<'_>) -> Kind {
    let has =
        |v: &Option<Cow<'_, str>>, needle: &str| v.as_deref().is_some_and(|s| s.to_ascii_lowercase().contains(needle));
    match event.id {
        Some(3) if has(&event.provider, "sysmon") || has(&event.channel, "sysmon") => Kind::Sysmon,
        Some(id @ (5152 | 5154..=5159))
            if has(&event.provider, "security-auditing")
                || event.channel.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("security"))
                || (event.provider.is_none() && event.channel.is_none()) =>
        {
            Kind::Wfp(id)
        }
        _ => Kind::Other,
    }
}

/// Maps one Windows event; `field` reads its EventData by name.
pub fn map_event<'a>(event: WinEvent<'a>, field: impl Fn(&str) -> Option<Cow<'a, str>>) -> Mapped<'a> {
    let kind = kind(&event);
    if kind == Kind::Other {
        return Ok(Record::Skip(Cow::Borrowed(SKIP_OTHER)));
    }
    let time = event.time.clone().ok_or("no TimeCreated")??;
    let port = |name: &str| field(name).as_deref().map(parse_port).transpose().map_err(|e| format!("{name}: {e}"));
    let proto = field("Protocol").as_deref().map(protocol).transpose().map_err(|e| format!("Protocol: {e}"))?;
    let base = SessionRow {
        time_generated: time,
        event_vendor: Some(Cow::Borrowed("Microsoft")),
        event_type: Some(Cow::Borrowed("EndpointNetworkSession")),
        dvc: event.computer.clone(),
        network_protocol: proto,
        ..Default::default()
    };
    match kind {
        Kind::Wfp(id) => {
            let listen = matches!(id, 5154 | 5155 | 5158 | 5159);
            let allowed = matches!(id, 5154 | 5156 | 5158);
            let direction = if listen {
                Some("Listen")
            } else {
                match field("Direction").as_deref() {
                    Some("%%14592" | "Inbound") => Some("Inbound"),
                    Some("%%14593" | "Outbound") => Some("Outbound"),
                    _ => None,
                }
            };
            Ok(Record::Row(SessionRow {
                event_product: Some(Cow::Borrowed("Windows Firewall")),
                event_original_type: Some(Cow::Owned(id.to_string())),
                event_result: Some(Cow::Borrowed(if allowed { "Success" } else { "Failure" })),
                dvc_action: Some(Cow::Borrowed(if allowed { "Allow" } else { "Deny" })),
                src_ip_addr: field("SourceAddress"),
                src_port_number: port("SourcePort")?,
                dst_ip_addr: if listen { None } else { field("DestAddress") },
                dst_port_number: if listen { None } else { port("DestPort")? },
                network_direction: direction.map(Cow::Borrowed),
                ..base
            }))
        }
        Kind::Sysmon => {
            let initiated = field("Initiated").as_deref().and_then(parse_bool);
            let utc = crate::time::utc();
            let start = field("UtcTime")
                .as_deref()
                .map(|t| parse_timestamp(t, utc))
                .transpose()
                .map_err(|e| format!("UtcTime: {e}"))?;
            let local = |name: &str| {
                if initiated == Some(true) { field(name) } else { None }
            };
            Ok(Record::Row(SessionRow {
                event_start_time: start,
                event_product: Some(Cow::Borrowed("Sysmon")),
                event_original_type: Some(Cow::Borrowed("3")),
                event_result: Some(Cow::Borrowed("Success")),
                src_ip_addr: field("SourceIp"),
                src_port_number: port("SourcePort")?,
                src_hostname: field("SourceHostname"),
                dst_ip_addr: field("DestinationIp"),
                dst_port_number: port("DestinationPort")?,
                dst_hostname: field("DestinationHostname"),
                network_direction: initiated.map(|i| Cow::Borrowed(if i { "Outbound" } else { "Inbound" })),
                network_protocol: base.network_protocol.clone().map(|p| Cow::Owned(p.to_ascii_uppercase())),
                src_process_name: local("Image"),
                src_username: local("User"),
                ..base
            }))
        }
        Kind::Other => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u32, provider: &'static str) -> WinEvent<'static> {
        WinEvent { id: Some(id), provider: Some(Cow::Borrowed(provider)), time: Some(Ok(0)), ..Default::default() }
    }

    #[test]
    fn kinds() {
        assert_eq!(kind(&event(5156, "Microsoft-Windows-Security-Auditing")), Kind::Wfp(5156));
        assert_eq!(kind(&event(3, "Microsoft-Windows-Sysmon")), Kind::Sysmon);
        assert_eq!(kind(&event(3, "Microsoft-Windows-Security-Auditing")), Kind::Other);
        assert_eq!(kind(&event(4624, "Microsoft-Windows-Security-Auditing")), Kind::Other);
        assert_eq!(kind(&event(5153, "Microsoft-Windows-Security-Auditing")), Kind::Other);
        let lower = WinEvent { id: Some(5157), channel: Some(Cow::Borrowed("security")), ..Default::default() };
        assert_eq!(kind(&lower), Kind::Wfp(5157));
    }

    #[test]
    fn listen_events_have_no_destination() {
        let fields = |name: &str| match name {
            "SourceAddress" => Some(Cow::Borrowed("0.0.0.0")),
            "SourcePort" => Some(Cow::Borrowed("55355")),
            "DestAddress" => Some(Cow::Borrowed("10.0.0.1")),
            "Protocol" => Some(Cow::Borrowed("17")),
            _ => None,
        };
        let Ok(Record::Row(row)) = map_event(event(5158, "Microsoft-Windows-Security-Auditing"), fields) else {
            panic!("expected a row")
        };
        assert_eq!(row.network_direction.as_deref(), Some("Listen"));
        assert_eq!(row.dst_ip_addr, None);
        assert_eq!(row.network_protocol.as_deref(), Some("UDP"));
        assert_eq!(row.dvc_action.as_deref(), Some("Allow"));
    }
}

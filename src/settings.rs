//! Parsing and validating command-line values: durations, CIDRs, times,
//! sizes, and the time range a command covers.

use std::net::IpAddr;
use std::time::Duration;

use chrono::DateTime;
use ipnet::IpNet;

use crate::detect::TimeRange;
use crate::error::{Error, Result};
use crate::time::Micros;

/// A duration such as `5m`, `1h`, `90d` or `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| e.to_string())?;
    if d.is_zero() { Err("must be longer than zero".into()) } else { Ok(d) }
}

/// A network in CIDR form (`10.0.0.0/8`, `2001:db8::/32`) or a single address.
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let t = text.trim();
    if let Ok(net) = t.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    t.parse::<IpAddr>().map(IpNet::from).map_err(|_| format!("`{t}` is not an address or CIDR network"))
}

/// An RFC 3339 time with an offset, such as `2024-04-19T00:00:00Z`.
pub fn parse_time(text: &str) -> Result<Micros, String> {
    let dt = DateTime::parse_from_rfc3339(text.trim())
        .map_err(|e| format!("{e}; expected RFC 3339 such as 2024-04-19T00:00:00Z"))?;
    crate::time::check_range(dt.timestamp_micros())
}

/// A byte size such as `256MB`, `1.5GiB` or `1048576`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("`{t}` is not a size such as 256MB"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit `{other}`")),
    };
    let bytes = number * scale;
    if bytes < 1.0 || bytes > usize::MAX as f64 { Err(format!("`{t}` is out of range")) } else { Ok(bytes as usize) }
}

/// Resolves `--from/--to` or `--since` (relative to `now`) into a range.
pub fn time_range(from: Option<Micros>, to: Option<Micros>, since: Option<Duration>, now: Micros) -> Result<TimeRange> {
    let range = match since {
        Some(d) => {
            let span = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
            TimeRange { from: Some(now.saturating_sub(span).max(0)), to: Some(now) }
        }
        None => TimeRange { from, to },
    };
    if let (Some(f), Some(t)) = (range.from, range.to)
        && f >= t
    {
        return Err(Error::parameter(
            "time range",
            format!("{} .. {}", crate::time::format_utc(f), crate::time::format_utc(t)),
            "--from must be before --to",
        ));
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn cidrs() {
        assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("8.8.8.8").unwrap().to_string(), "8.8.8.8/32");
        assert_eq!(parse_cidr("2001:DB8::1").unwrap().to_string(), "2001:db8::1/128");
        assert!(parse_cidr("1.2.3.4'); DROP TABLE x; --").is_err());
        assert!(parse_cidr("10.0.0.0/33").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MB"), Ok(256 * 1024 * 1024));
        assert_eq!(parse_size("1.5GiB"), Ok(1536 * 1024 * 1024));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn ranges() {
        let day = 86_400_000_000;
        let r = time_range(None, None, Some(Duration::from_secs(86_400)), 10 * day).unwrap();
        assert_eq!(r, TimeRange { from: Some(9 * day), to: Some(10 * day) });
        assert!(time_range(Some(day), Some(day), None, 0).is_err());
        assert_eq!(time_range(None, None, None, 0).unwrap(), TimeRange::default());
    }
}

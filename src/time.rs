//! Timestamps: parsing what logs write, and the UTC text scanlake prints.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset, SecondsFormat, TimeZone, Utc};

/// Microseconds since the Unix epoch, UTC: the lake's time unit.
pub type Micros = i64;

/// Earliest time accepted in the lake (1970-01-01T00:00:00Z).
pub const MIN_MICROS: Micros = 0;
/// Latest time accepted in the lake (end of year 9999).
pub const MAX_MICROS: Micros = 253_402_300_799_999_999;

/// The UTC offset, for times that carry none.
pub fn utc() -> FixedOffset {
    Utc.fix()
}

/// Naive date-time layouts accepted besides RFC 3339.
const NAIVE_LAYOUTS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    // The Azure portal's CSV export: `4/19/2024, 12:10:03.123 AM`.
    "%m/%d/%Y, %I:%M:%S%.f %p",
    "%m/%d/%Y %I:%M:%S%.f %p",
    "%m/%d/%Y, %H:%M:%S%.f",
    "%m/%d/%Y %H:%M:%S%.f",
];

/// Layouts that carry an offset but are not RFC 3339 to the letter.
const OFFSET_LAYOUTS: &[&str] = &["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f %z"];

/// Parses a timestamp written as RFC 3339 / ISO 8601 (with or without an
/// offset), the Azure portal's export layout, or Unix epoch seconds.
/// Times without an offset are taken to be at `assume_offset`.
pub fn parse_timestamp(text: &str, assume_offset: FixedOffset) -> Result<Micros, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty time".into());
    }
    let micros = if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        dt.timestamp_micros()
    } else if let Some(dt) = OFFSET_LAYOUTS.iter().find_map(|f| DateTime::parse_from_str(t, f).ok()) {
        dt.timestamp_micros()
    } else if let Some(naive) = parse_naive(t) {
        match assume_offset.from_local_datetime(&naive).single() {
            Some(dt) => dt.timestamp_micros(),
            None => {
                return Err(format!("time `{t}` does not exist at offset {assume_offset}"));
            }
        }
    } else if let Some(micros) = parse_epoch_seconds(t) {
        micros
    } else {
        return Err(format!("unrecognised time `{t}`"));
    };
    check_range(micros).map_err(|reason| format!("time `{t}` {reason}"))
}

fn parse_naive(t: &str) -> Option<NaiveDateTime> {
    NAIVE_LAYOUTS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
}

/// Parses Unix epoch seconds with an optional fraction (`1713485403.123456`)
/// exactly, to the microsecond, without going through floating point.
pub fn parse_epoch_seconds(t: &str) -> Option<Micros> {
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() || int.len() > 12 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut micros: i64 = 0;
    for (i, digit) in frac.bytes().take(6).enumerate() {
        micros += i64::from(digit - b'0') * 10_i64.pow(5 - i as u32);
    }
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// Rejects times outside 1970-01-01 … 9999-12-31 (UTC).
pub fn check_range(micros: Micros) -> Result<Micros, String> {
    if micros < MIN_MICROS {
        Err("is before 1970-01-01".into())
    } else if micros > MAX_MICROS {
        Err("is after year 9999".into())
    } else {
        Ok(micros)
    }
}

/// Parses a UTC offset such as `+02:00`, `-0530` or `Z`.
pub fn parse_offset(text: &str) -> Result<FixedOffset, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Ok(utc());
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err("expected +HH:MM or -HH:MM".into()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected +HH:MM or -HH:MM".into());
    }
    let hours: i32 = digits[..2].parse().map_err(|_| "bad hours")?;
    let minutes: i32 = digits[2..].parse().map_err(|_| "bad minutes")?;
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or_else(|| "offset out of range".into())
}

/// RFC 3339 text in UTC with a `Z`, to the second when there is no fraction.
pub fn format_utc(micros: Micros) -> String {
    match Utc.timestamp_micros(micros).single() {
        Some(dt) => dt.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => micros.to_string(),
    }
}

/// The UTC calendar date of a time, `YYYY-MM-DD`: the lake's partition key.
pub fn utc_date(micros: Micros) -> String {
    match Utc.timestamp_micros(micros).single() {
        Some(dt) => dt.format("%Y-%m-%d").to_string(),
        None => "invalid".into(),
    }
}

/// Microseconds in a day.
pub const DAY: Micros = 86_400_000_000;

/// Number of whole days since 1970-01-01 of a time (UTC).
pub fn utc_day(micros: Micros) -> i64 {
    micros.div_euclid(DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(t: &str) -> Result<Micros, String> {
        parse_timestamp(t, FixedOffset::east_opt(0).unwrap())
    }

    const T: Micros = 1_713_485_403_000_000; // 2024-04-19T00:10:03Z

    #[test]
    fn accepted_layouts() {
        for text in [
            "2024-04-19T00:10:03Z",
            "2024-04-19T00:10:03.000Z",
            "2024-04-19 00:10:03Z",
            "2024-04-19T02:10:03+02:00",
            "2024-04-18T19:10:03-05:00",
            "2024-04-19T02:10:03+0200",
            "2024-04-19T00:10:03",
            "2024-04-19 00:10:03.000000",
            "4/19/2024, 12:10:03.000 AM",
            "4/19/2024 12:10:03 AM",
            "1713485403",
            "1713485403.000000",
        ] {
            assert_eq!(utc(text), Ok(T), "{text}");
        }
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(parse_epoch_seconds("1713485403.123456"), Some(T + 123_456));
        assert_eq!(parse_epoch_seconds("1713485403.1"), Some(T + 100_000));
        assert_eq!(parse_epoch_seconds("1713485403.1234567"), Some(T + 123_456));
        assert_eq!(utc("2024-04-19T00:10:03.5Z"), Ok(T + 500_000));
    }

    #[test]
    fn assumed_offset_applies_to_naive_times_only() {
        let plus2 = parse_offset("+02:00").unwrap();
        assert_eq!(parse_timestamp("2024-04-19T02:10:03", plus2), Ok(T));
        assert_eq!(parse_timestamp("2024-04-19T00:10:03Z", plus2), Ok(T));
    }

    #[test]
    fn rejected() {
        for text in ["", "yesterday", "2024-13-01T00:00:00Z", "1969-12-31T23:59:59Z", "-5", "1e9", "12:00"] {
            assert!(utc(text).is_err(), "{text}");
        }
    }

    #[test]
    fn year_9999_is_the_last_accepted() {
        assert!(utc("9999-12-31T23:59:59Z").is_ok());
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("Z").unwrap().local_minus_utc(), 0);
        assert_eq!(parse_offset("-05:30").unwrap().local_minus_utc(), -(5 * 3600 + 1800));
        assert_eq!(parse_offset("+0100").unwrap().local_minus_utc(), 3600);
        assert!(parse_offset("0100").is_err());
        assert!(parse_offset("+25:00").is_err());
    }

    #[test]
    fn utc_text() {
        assert_eq!(format_utc(T), "2024-04-19T00:10:03Z");
        assert_eq!(format_utc(T + 250_000), "2024-04-19T00:10:03.250Z");
        assert_eq!(utc_date(T), "2024-04-19");
    }
}

//! IP address parsing, canonical text, and the "is this source external"
//! decision of each profile (SPEC 1.1 and 1.2).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address as the lake stores it: canonical text plus the numeric forms
/// that detection filters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAddress {
    /// The parsed address, `None` when the text is not an IP address.
    pub ip: Option<IpAddr>,
    /// The IPv4 value when the address is IPv4 or IPv4-mapped IPv6.
    pub v4: Option<u32>,
    /// High and low 64 bits when the address is written as IPv6.
    pub v6: Option<(u64, u64)>,
    /// True when the text is an IPv4 address in dotted form (optionally with
    /// a `/prefix`), the only form Kusto's `ipv4_is_private` accepts.
    pub kusto_ipv4: bool,
}

/// Parses `text` (surrounding spaces ignored; an IPv4 `/prefix` suffix is
/// accepted as Kusto does).
pub fn parse(text: &str) -> ParsedAddress {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return from_ip(ip, matches!(ip, IpAddr::V4(_)));
    }
    if let Some((addr, prefix)) = text.split_once('/')
        && let (Ok(v4), Ok(bits)) = (addr.parse::<Ipv4Addr>(), prefix.parse::<u8>())
        && bits <= 32
    {
        return from_ip(IpAddr::V4(v4), true);
    }
    ParsedAddress { ip: None, v4: None, v6: None, kusto_ipv4: false }
}

fn from_ip(ip: IpAddr, kusto_ipv4: bool) -> ParsedAddress {
    match ip {
        IpAddr::V4(a) => ParsedAddress { ip: Some(ip), v4: Some(a.to_bits()), v6: None, kusto_ipv4 },
        IpAddr::V6(a) => {
            let bits = a.to_bits();
            ParsedAddress {
                ip: Some(ip),
                v4: a.to_ipv4_mapped().map(Ipv4Addr::to_bits),
                v6: Some(((bits >> 64) as u64, bits as u64)),
                kusto_ipv4: false,
            }
        }
    }
}

/// The canonical text of an address and its parsed forms, from one parse.
/// Text that is not an address is kept as written, trimmed.
pub fn parse_canonical(text: &str) -> (Cow<'_, str>, ParsedAddress) {
    let trimmed = text.trim();
    match trimmed.parse::<IpAddr>() {
        Ok(ip) => (shown(text, trimmed, ip), from_ip(ip, matches!(ip, IpAddr::V4(_)))),
        // Not an address, or Kusto's `a.b.c.d/prefix` form, kept as written.
        Err(_) => (Cow::Borrowed(trimmed), parse(trimmed)),
    }
}

/// The canonical text of an address: RFC 5952 for IPv6 (lower case, zeros
/// compressed), dotted quad for IPv4. Text that is not an address is kept
/// as written, trimmed.
pub fn canonical(text: &str) -> Cow<'_, str> {
    let trimmed = text.trim();
    match trimmed.parse::<IpAddr>() {
        Ok(ip) => shown(text, trimmed, ip),
        Err(_) => Cow::Borrowed(trimmed),
    }
}

/// The canonical text of `ip`, parsed from `trimmed` (`text` trimmed),
/// borrowing `text` when it is canonical already. A dotted quad that parsed
/// is (the parser takes no leading zeros or other forms), so only IPv6 is
/// written out again to compare.
fn shown<'t>(text: &'t str, trimmed: &str, ip: IpAddr) -> Cow<'t, str> {
    if ip.is_ipv4() && trimmed.len() == text.len() {
        return Cow::Borrowed(text);
    }
    let canon = ip.to_string();
    if canon == text { Cow::Borrowed(text) } else { Cow::Owned(canon) }
}

/// `ipv4_is_private` of Kusto: 10/8, 172.16/12, 192.168/16.
pub fn is_rfc1918(v4: u32) -> bool {
    Ipv4Addr::from_bits(v4).is_private()
}

/// The `sentinel` profile's source test, exactly as the KQL evaluates it:
/// `ipv4_is_private(SrcIpAddr) == false and SrcIpAddr !in ("127.0.0.1", "::1")`.
/// Text that is not IPv4 makes `ipv4_is_private` null, which drops the row.
pub fn is_external_sentinel(text: &str, parsed: &ParsedAddress) -> bool {
    match (parsed.kusto_ipv4, parsed.v4) {
        (true, Some(v4)) => !is_rfc1918(v4) && text != "127.0.0.1" && text != "::1",
        _ => false,
    }
}

/// The `default` profile's source test under the built-in private list:
/// IPv4 (also inside IPv4-mapped IPv6) outside RFC 1918, 127/8, 0/8 and
/// 169.254/16; IPv6 outside `::1`, `::`, fc00::/7 and fe80::/10.
/// `None` when the text is not an address.
pub fn is_external_default(parsed: &ParsedAddress) -> Option<bool> {
    match (parsed.v4, parsed.ip?) {
        (Some(v4), _) => Some(is_external_v4(Ipv4Addr::from_bits(v4))),
        (None, IpAddr::V6(a)) => Some(is_external_v6(a)),
        (None, IpAddr::V4(a)) => Some(is_external_v4(a)),
    }
}

fn is_external_v4(a: Ipv4Addr) -> bool {
    !(a.is_private() || a.is_loopback() || a.octets()[0] == 0 || a.is_link_local())
}

fn is_external_v6(a: Ipv6Addr) -> bool {
    !(a.is_loopback() || a.is_unspecified() || a.is_unique_local() || a.is_unicast_link_local())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default(text: &str) -> Option<bool> {
        is_external_default(&parse(text))
    }

    fn sentinel(text: &str) -> bool {
        is_external_sentinel(text, &parse(text))
    }

    #[test]
    fn canonical_text_is_what_the_parsed_address_prints() {
        for text in [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3",
            "1.2.3.4.5",
            " 1.2.3.4",
            "1.2.3.4 ",
            "::ffff:1.2.3.4",
            "2001:DB8::1",
            "2001:db8:0:0:0:0:0:1",
            "::1",
            "host",
            "",
        ] {
            let expected = match text.trim().parse::<IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) => text.trim().to_string(),
            };
            assert_eq!(canonical(text), expected, "{text:?}");
            assert_eq!(parse_canonical(text).0, expected, "{text:?}");
        }
    }

    #[test]
    fn rfc1918_edges() {
        for (addr, private) in [
            ("10.0.0.0", true),
            ("10.255.255.255", true),
            ("9.255.255.255", false),
            ("11.0.0.0", false),
            ("172.15.255.255", false),
            ("172.16.0.0", true),
            ("172.31.255.255", true),
            ("172.32.0.0", false),
            ("192.167.255.255", false),
            ("192.168.0.0", true),
            ("192.168.255.255", true),
            ("192.169.0.0", false),
        ] {
            assert_eq!(sentinel(addr), !private, "sentinel {addr}");
            assert_eq!(default(addr), Some(!private), "default {addr}");
        }
    }

    #[test]
    fn special_ipv4_classes_differ_between_profiles() {
        // (address, sentinel external, default external)
        for (addr, s, d) in [
            ("127.0.0.1", false, false),
            ("127.0.0.2", true, false),
            ("0.0.0.0", true, false),
            ("0.1.2.3", true, false),
            ("169.254.1.1", true, false),
            ("100.64.0.1", true, true),
            ("224.0.0.1", true, true),
            ("8.8.8.8", true, true),
        ] {
            assert_eq!(sentinel(addr), s, "sentinel {addr}");
            assert_eq!(default(addr), Some(d), "default {addr}");
        }
    }

    #[test]
    fn ipv6_classes() {
        for (addr, d) in [
            ("::1", false),
            ("::", false),
            ("fc00::1", false),
            ("fd12:3456::1", false),
            ("fe80::1", false),
            ("febf::1", false),
            ("fec0::1", true),
            ("2001:db8::1", true),
            ("2a03:2880::1", true),
            ("::ffff:8.8.8.8", true),
            ("::ffff:10.1.2.3", false),
            ("::ffff:127.0.0.2", false),
        ] {
            assert!(!sentinel(addr), "sentinel never alerts on IPv6 text {addr}");
            assert_eq!(default(addr), Some(d), "default {addr}");
        }
    }

    #[test]
    fn kusto_accepts_a_prefix_suffix() {
        assert!(sentinel("8.8.8.8/32"));
        assert!(!sentinel("10.1.2.3/8"));
        assert!(!sentinel("8.8.8.8/33"));
    }

    #[test]
    fn garbage_is_not_an_address() {
        for text in ["", "garbage", "1.2.3", "256.1.1.1", "::g"] {
            assert_eq!(default(text), None, "{text}");
            assert!(!sentinel(text), "{text}");
        }
    }

    #[test]
    fn canonical_text() {
        assert_eq!(canonical("::0:1"), "::1");
        assert_eq!(canonical("FE80:0:0:0:1:2:3:4"), "fe80::1:2:3:4");
        assert_eq!(canonical("2001:DB8::0001"), "2001:db8::1");
        assert_eq!(canonical(" 8.8.8.8 "), "8.8.8.8");
        assert_eq!(canonical("::ffff:8.8.8.8"), "::ffff:8.8.8.8");
        assert_eq!(canonical("not-an-ip"), "not-an-ip");
    }

    #[test]
    fn one_parse_gives_text_and_numbers() {
        for text in ["::0:1", "FE80:0:0:0:1:2:3:4", " 8.8.8.8 ", "8.8.8.8/32", "not-an-ip", "::ffff:1.2.3.4"] {
            let (shown, parsed) = parse_canonical(text);
            assert_eq!(shown, canonical(text), "{text}");
            assert_eq!(parsed, parse(&shown), "{text}");
        }
    }

    #[test]
    fn numeric_forms() {
        let p = parse("::ffff:1.2.3.4");
        assert_eq!(p.v4, Some(0x01020304));
        assert_eq!(p.v6, Some((0, 0x0000_ffff_0102_0304)));
        let p = parse("2001:db8::1");
        assert_eq!(p.v4, None);
        assert_eq!(p.v6, Some((0x2001_0db8_0000_0000, 1)));
    }
}

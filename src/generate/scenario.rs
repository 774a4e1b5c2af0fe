//! Planted scans and near misses, each with the outcome the rule must give
//! in each profile.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Event;
use crate::time::Micros;

/// The rule's default bin, in microseconds.
pub const BIN: Micros = 300_000_000;

/// A planted pattern of events from one scanner.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Short name.
    pub name: &'static str,
    /// Alerts the default profile must raise for one copy.
    pub default_alerts: u32,
    /// Alerts the sentinel profile must raise for one copy.
    pub sentinel_alerts: u32,
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `ports` distinct ports inside one bin from a source of `class`.
    Vertical { class: Class, ports: i32 },
    /// 50 distinct ports, each sent over TCP and UDP and repeated.
    FiftyRepeated,
    /// `per_bin` ports in the last minute of a bin and `per_bin` others in the first of the next.
    Straddle { per_bin: i32 },
    /// 70 ports, half reported by Zeek and half by the Windows firewall.
    TwoReporters,
    /// 45 distinct ports plus 15 events without a destination port.
    NullPorts,
    /// One port on 80 hosts (a horizontal sweep).
    Horizontal,
}

#[derive(Debug, Clone, Copy)]
enum Class {
    Public,
    Loopback2,
    LinkLocal,
    ZeroNet,
    Cgnat,
    PublicV6,
    MappedPublic,
    Private,
}

macro_rules! scenario {
    ($name:literal, $d:literal, $s:literal, $kind:expr) => {
        Scenario { name: $name, default_alerts: $d, sentinel_alerts: $s, kind: $kind }
    };
}

/// Every planted scenario.
pub const SCENARIOS: &[Scenario] = &[
    scenario!("vertical-120", 1, 1, Kind::Vertical { class: Class::Public, ports: 120 }),
    scenario!("vertical-51", 1, 1, Kind::Vertical { class: Class::Public, ports: 51 }),
    scenario!("near-miss-50", 0, 0, Kind::FiftyRepeated),
    scenario!("straddle-30+30", 0, 0, Kind::Straddle { per_bin: 30 }),
    scenario!("straddle-55+55", 2, 2, Kind::Straddle { per_bin: 55 }),
    scenario!("loopback-127/8", 0, 1, Kind::Vertical { class: Class::Loopback2, ports: 70 }),
    scenario!("link-local", 0, 1, Kind::Vertical { class: Class::LinkLocal, ports: 70 }),
    scenario!("zero-net-0/8", 0, 1, Kind::Vertical { class: Class::ZeroNet, ports: 70 }),
    scenario!("cgnat-100.64", 1, 1, Kind::Vertical { class: Class::Cgnat, ports: 70 }),
    scenario!("public-ipv6", 1, 0, Kind::Vertical { class: Class::PublicV6, ports: 80 }),
    scenario!("ipv4-mapped", 1, 0, Kind::Vertical { class: Class::MappedPublic, ports: 80 }),
    scenario!("private-10", 0, 0, Kind::Vertical { class: Class::Private, ports: 200 }),
    scenario!("two-reporters", 1, 1, Kind::TwoReporters),
    scenario!("null-ports", 0, 0, Kind::NullPorts),
    scenario!("horizontal", 0, 0, Kind::Horizontal),
];

impl Class {
    fn address(self, id: u32) -> String {
        let (a, b, c) = ((id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff);
        match self {
            Class::Public => format!("185.{a}.{b}.{c}"),
            Class::Loopback2 => format!("127.{}.{b}.{c}", a + 1),
            Class::LinkLocal => format!("169.254.{b}.{c}"),
            Class::ZeroNet => format!("0.{}.{b}.{c}", a + 1),
            Class::Cgnat => format!("100.{}.{b}.{c}", 64 + a % 64),
            Class::PublicV6 => format!("2a01:4f8:{a:x}:{b:x}::{c:x}"),
            Class::MappedPublic => format!("::ffff:198.{a}.{b}.{c}"),
            Class::Private => format!("10.99.{b}.{c}"),
        }
    }
}

impl Scenario {
    /// The events of copy `id`, in the bin starting at `anchor`.
    pub fn events(&self, id: u32, anchor: Micros, rng: &mut ChaCha8Rng) -> Vec<Event> {
        // Scenarios of one copy share `id`; give each its own address block.
        let index = SCENARIOS.iter().position(|s| s.name == self.name).unwrap_or(0) as u32;
        let id = id * SCENARIOS.len() as u32 + index;
        let mut at = |from: Micros, span: Micros| from + rng.random_range(0..span);
        let mut events = Vec::new();
        let mut push = |time, src: &str, dst: String, port: Option<i32>, protocol, reporter| {
            events.push(Event { time, src: src.to_string(), dst, dst_port: port, protocol, reporter, success: false });
        };
        let target = format!("203.0.113.{}", 1 + id % 250);
        let minute = 60_000_000;
        match self.kind {
            Kind::Vertical { class, ports } => {
                let src = class.address(id);
                for port in 1..=ports {
                    push(at(anchor, 3 * minute), &src, target.clone(), Some(port * 7 % 1000 + 1), "TCP", 0);
                }
            }
            Kind::FiftyRepeated => {
                let src = Class::Public.address(id);
                for port in 1..=50 {
                    for protocol in ["TCP", "UDP", "TCP"] {
                        push(at(anchor, 4 * minute), &src, target.clone(), Some(1000 + port), protocol, 0);
                    }
                }
            }
            Kind::Straddle { per_bin } => {
                let src = Class::Public.address(id);
                for port in 1..=per_bin {
                    push(at(anchor + BIN - minute, minute), &src, target.clone(), Some(port), "TCP", 0);
                    push(at(anchor + BIN, minute), &src, target.clone(), Some(100 + port), "TCP", 0);
                }
            }
            Kind::TwoReporters => {
                let src = Class::Public.address(id);
                for port in 1..=70 {
                    push(at(anchor, 4 * minute), &src, target.clone(), Some(2000 + port), "TCP", (port % 2) as usize);
                }
            }
            Kind::NullPorts => {
                let src = Class::Public.address(id);
                for port in 1..=45 {
                    push(at(anchor, 4 * minute), &src, target.clone(), Some(3000 + port), "TCP", 0);
                }
                for _ in 0..15 {
                    push(at(anchor, 4 * minute), &src, target.clone(), None, "ICMP", 0);
                }
            }
            Kind::Horizontal => {
                let src = Class::Public.address(id);
                for host in 1..=80 {
                    push(at(anchor, 4 * minute), &src, format!("198.51.100.{host}"), Some(445), "TCP", 0);
                }
            }
        }
        events
    }
}

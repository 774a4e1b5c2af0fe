//! The rule's parameters (SPEC 1.3) and profiles (SPEC 1.1, 1.2).

use std::time::Duration;

use ipnet::IpNet;

use crate::time::Micros;

/// Which semantics decide "external source".
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// The rule's intent: IPv6 evaluated, loopback/link-local/unspecified not external, addresses compared as addresses.
    Default,
    /// Microsoft Sentinel's KQL to the letter: IPv4 text only, RFC 1918 private, only the literal 127.0.0.1 removed.
    Sentinel,
}

impl Profile {
    /// The profile's name as it appears in output and AlertId.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Sentinel => "sentinel",
        }
    }
}

/// A half-open time range `[from, to)` in UTC microseconds; open ends are unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: Option<Micros>,
    /// Exclusive end.
    pub to: Option<Micros>,
}

/// The filters Sentinel's `_Im_NetworkSession` parser takes as parameters.
#[derive(Debug, Clone, Default)]
pub struct SessionFilters {
    /// Keep sources whose address text starts with one of these.
    pub src_prefixes: Vec<String>,
    /// Keep destinations whose address text starts with one of these.
    pub dst_prefixes: Vec<String>,
    /// Keep these destination ports only.
    pub dst_ports: Vec<u16>,
    /// Keep these DvcAction values only.
    pub dvc_actions: Vec<String>,
    /// Keep this EventResult only.
    pub event_result: Option<String>,
}

/// Everything the port-scan rule is run with.
#[derive(Debug, Clone)]
pub struct RuleParams {
    /// Which semantics decide "external".
    pub profile: Profile,
    /// Alert when distinct destination ports exceed this.
    pub threshold: u32,
    /// Bin width.
    pub bin: Duration,
    /// Size cap of AttemptedPorts.
    pub max_ports: u32,
    /// Size cap of ReportedBy.
    pub max_reporters: u32,
    /// Events considered.
    pub range: TimeRange,
    /// Extra ranges treated as private (not external), e.g. 100.64.0.0/10.
    pub private: Vec<IpNet>,
    /// Sources never alerted on (known scanners, monitoring).
    pub exclude_src: Vec<IpNet>,
    /// Destination ports ignored.
    pub exclude_ports: Vec<u16>,
    /// `_Im_NetworkSession` filters.
    pub filters: SessionFilters,
}

impl Default for RuleParams {
    fn default() -> Self {
        Self {
            profile: Profile::Default,
            threshold: 50,
            bin: Duration::from_secs(300),
            max_ports: 100,
            max_reporters: 20,
            range: TimeRange::default(),
            private: Vec::new(),
            exclude_src: Vec::new(),
            exclude_ports: Vec::new(),
            filters: SessionFilters::default(),
        }
    }
}

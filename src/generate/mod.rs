//! A deterministic generator of network-session events: background traffic
//! plus planted scans and near misses with known outcomes. It makes the
//! sample in `data/` and the benchmark lakes. The same seed and sizes give
//! the same events, byte for byte.
//!
//! The mix, per day: background sessions (88 % private IPv4 sources, 9 %
//! public IPv4, 2 % IPv6, 1 % special addresses) to common service ports,
//! and, for every 100,000 rows of the day (at least once), one copy of each
//! planted [`Scenario`]. Optionally, busy benign external sources (content
//! networks, cloud services): [`BUSY_EVENTS_PER_DAY`] events a day each, to
//! a few servers on three ports. They pass any count of events per source,
//! as real ones do, but never alert.

mod scenario;

use std::borrow::Cow;

use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::lake::schema::SessionRow;
use crate::time::{DAY, Micros};
pub use scenario::{SCENARIOS, Scenario};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// Total rows (background plus planted scans).
    pub rows: u64,
    /// Days covered, starting at `start`.
    pub days: u32,
    /// First day (UTC).
    pub start: NaiveDate,
    /// Random seed.
    pub seed: u64,
    /// Busy benign external sources; their events are taken from the background's.
    pub busy_sources: u32,
}

/// Events a day of each busy benign source.
pub const BUSY_EVENTS_PER_DAY: u64 = 2_000;

/// The reporters background events come from (vendor, product).
const REPORTERS: &[(&str, &str, &str)] = &[
    ("Corelight", "Zeek", "Flow"),
    ("Microsoft", "Windows Firewall", "EndpointNetworkSession"),
    ("AWS", "VPC", "NetworkSession"),
    ("Palo Alto Networks", "PAN-OS", "NetworkSession"),
];

/// Common destination ports, most frequent first.
const COMMON_PORTS: &[i32] =
    &[443, 80, 53, 22, 445, 3389, 123, 25, 993, 8080, 389, 636, 135, 139, 88, 5985, 1433, 3306, 5432, 8443];

/// One generated event, owning its text.
#[derive(Debug, Clone)]
pub struct Event {
    /// When.
    pub time: Micros,
    /// Source address.
    pub src: String,
    /// Destination address.
    pub dst: String,
    /// Destination port (`None` for ICMP without a port).
    pub dst_port: Option<i32>,
    /// Protocol name.
    pub protocol: &'static str,
    /// Index into the reporters.
    pub reporter: usize,
    /// Session succeeded.
    pub success: bool,
}

impl Event {
    /// The event as a lake row.
    pub fn row(&self, src_port: i32) -> SessionRow<'_> {
        let (vendor, product, event_type) = REPORTERS[self.reporter % REPORTERS.len()];
        SessionRow {
            time_generated: self.time,
            event_type: Some(Cow::Borrowed(event_type)),
            event_result: Some(Cow::Borrowed(if self.success { "Success" } else { "Failure" })),
            event_vendor: Some(Cow::Borrowed(vendor)),
            event_product: Some(Cow::Borrowed(product)),
            dvc: Some(Cow::Borrowed(product)),
            dvc_action: Some(Cow::Borrowed(if self.success { "Allow" } else { "Deny" })),
            src_ip_addr: Some(Cow::Borrowed(&self.src)),
            src_port_number: Some(src_port),
            dst_ip_addr: Some(Cow::Borrowed(&self.dst)),
            dst_port_number: self.dst_port,
            network_protocol: Some(Cow::Borrowed(self.protocol)),
            network_direction: Some(Cow::Borrowed("Inbound")),
            ..Default::default()
        }
    }
}

/// Generates the events of `config`, day by day, calling `emit` for each.
/// Returns the number of planted scenario copies.
pub fn generate<E>(config: &GeneratorConfig, mut emit: impl FnMut(&Event, i32) -> Result<(), E>) -> Result<u64, E> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let days = u64::from(config.days.max(1));
    let start = config.start.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_micros());
    let mut planted = 0;
    for day in 0..days {
        let day_rows = config.rows / days + u64::from(day < config.rows % days);
        let copies = (day_rows / 100_000).max(1);
        let day_start = start + day as Micros * DAY;
        let mut written = 0u64;
        for copy in 0..copies {
            for scenario in SCENARIOS {
                // Leave the last bins of the day free so no scan crosses midnight.
                let bin = rng.random_range(0..(DAY / scenario::BIN - 4));
                let anchor = day_start + bin * scenario::BIN;
                let id = (day * copies + copy) as u32;
                for event in scenario.events(id, anchor, &mut rng) {
                    emit(&event, rng.random_range(1024..65_535))?;
                    written += 1;
                }
                planted += 1;
            }
        }
        let busy = (u64::from(config.busy_sources) * BUSY_EVENTS_PER_DAY).min(day_rows.saturating_sub(written));
        for i in 0..busy {
            let event = busy_benign(&mut rng, day_start, (i % u64::from(config.busy_sources)) as u32);
            emit(&event, rng.random_range(1024..65_535))?;
        }
        written += busy;
        let sources = (day_rows / 20).max(50) as u32;
        while written < day_rows {
            let event = background(&mut rng, day_start, sources);
            emit(&event, rng.random_range(1024..65_535))?;
            written += 1;
        }
    }
    Ok(planted)
}

/// One background session: few ports per source, so it never alerts.
fn background(rng: &mut ChaCha8Rng, day_start: Micros, sources: u32) -> Event {
    let n = rng.random_range(0..sources);
    let class = rng.random_range(0..100);
    let src = match class {
        0..88 => match n % 3 {
            0 => format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff),
            1 => format!("172.{}.{}.{}", 16 + (n >> 16) % 16, (n >> 8) & 0xff, n & 0xff),
            _ => format!("192.168.{}.{}", (n >> 8) & 0xff, n & 0xff),
        },
        88..97 => format!("{}.{}.{}.{}", 20 + (n >> 24) % 100, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff),
        97..99 => format!("2001:db8:{:x}::{:x}", n >> 16, n & 0xffff),
        _ => ["127.0.0.1", "169.254.3.4", "0.0.0.0", "fe80::1", "::1"][(n % 5) as usize].to_string(),
    };
    let port_pick = rng.random_range(0..100);
    let dst_port = if port_pick < 90 {
        // Zipf-like: low indexes are much more likely.
        let r: f64 = rng.random();
        COMMON_PORTS[((r * r * r) * COMMON_PORTS.len() as f64) as usize % COMMON_PORTS.len()]
    } else {
        rng.random_range(1024..65_536)
    };
    Event {
        time: day_start + rng.random_range(0..DAY),
        src,
        dst: format!("10.0.{}.{}", rng.random_range(0..4), rng.random_range(1..255)),
        dst_port: Some(dst_port),
        protocol: if dst_port == 53 || dst_port == 123 { "UDP" } else { "TCP" },
        reporter: rng.random_range(0..REPORTERS.len()),
        success: rng.random_range(0..10) < 8,
    }
}

/// One session of busy benign source `n`: a public IPv4 address talking to
/// one of 20 servers on 443, 80 or 8443, through the perimeter firewall.
fn busy_benign(rng: &mut ChaCha8Rng, day_start: Micros, n: u32) -> Event {
    Event {
        time: day_start + rng.random_range(0..DAY),
        src: format!("13.{}.{}.{}", 64 + (n >> 16) % 64, (n >> 8) & 0xff, n & 0xff),
        dst: format!("10.1.0.{}", rng.random_range(1..=20)),
        dst_port: Some([443, 80, 8443][rng.random_range(0..3)]),
        protocol: "TCP",
        reporter: 3,
        success: true,
    }
}

/// The columns of the generated ASIM CSV export.
const CSV_HEADER: &[&str] = &[
    "TimeGenerated [UTC]",
    "EventType",
    "EventResult",
    "EventVendor",
    "EventProduct",
    "Dvc",
    "DvcAction",
    "SrcIpAddr",
    "SrcPortNumber",
    "DstIpAddr",
    "DstPortNumber",
    "NetworkProtocol",
    "NetworkDirection",
];

/// A file to write (gzip when the name ends in `.gz`), or stdout for `-`.
fn create(path: &std::path::Path) -> crate::Result<Box<dyn std::io::Write>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::BufWriter::new(std::io::stdout().lock())));
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| crate::Error::io(path, e))?);
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()))
    } else {
        Box::new(file)
    })
}

/// Writes the events of `config` as an ASIM CSV export (gzip when the name
/// ends in `.gz`, stdout for `-`). Returns the number of planted scenarios.
pub fn write_csv(config: &GeneratorConfig, path: &std::path::Path) -> crate::Result<u64> {
    use std::io::Write;
    let io_error = |e: std::io::Error| crate::Error::io(path, e);
    let out = create(path)?;
    let mut csv = csv::Writer::from_writer(out);
    let csv_error = |e: csv::Error| crate::Error::Input { input: path.display().to_string(), reason: e.to_string() };
    csv.write_record(CSV_HEADER).map_err(csv_error)?;
    let planted = generate(config, |event, src_port| {
        let row = event.row(src_port);
        let text = |v: &Option<Cow<'_, str>>| v.as_deref().unwrap_or("").to_string();
        let number = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_default();
        csv.write_record([
            crate::time::format_utc(row.time_generated),
            text(&row.event_type),
            text(&row.event_result),
            text(&row.event_vendor),
            text(&row.event_product),
            text(&row.dvc),
            text(&row.dvc_action),
            text(&row.src_ip_addr),
            number(row.src_port_number),
            text(&row.dst_ip_addr),
            number(row.dst_port_number),
            text(&row.network_protocol),
            text(&row.network_direction),
        ])
        .map_err(csv_error)
    })?;
    let mut out = csv.into_inner().map_err(|e| io_error(e.into_error()))?;
    out.flush().map_err(io_error)?;
    Ok(planted)
}

/// Writes the events of `config` as a Zeek `conn.log` (TSV with `#`
/// headers; gzip when the name ends in `.gz`). Returns the number of
/// planted scenarios.
pub fn write_zeek(config: &GeneratorConfig, path: &std::path::Path) -> crate::Result<u64> {
    use std::io::Write;
    let io_error = |e: std::io::Error| crate::Error::io(path, e);
    let mut out = create(path)?;
    writeln!(
        out,
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t{}\n\
         #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\t\
         conn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n\
         #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\t\
         string\tcount\tcount\tcount\tcount\tset[string]",
        config.start.format("%Y-%m-%d-00-00-00")
    )
    .map_err(io_error)?;
    let mut uid = 0u64;
    let planted = generate(config, |event, src_port| {
        uid += 1;
        let (state, history) = if event.success { ("SF", "ShADadfF") } else { ("REJ", "Sr") };
        let port = event.dst_port.map_or_else(|| "-".to_string(), |p| p.to_string());
        writeln!(
            out,
            "{}.{:06}\tC{uid:x}\t{}\t{src_port}\t{}\t{port}\t{}\t-\t0.000120\t0\t0\t{state}\tF\tT\t0\t{history}\t1\t60\t1\t40\t-",
            event.time.div_euclid(1_000_000),
            event.time.rem_euclid(1_000_000),
            event.src,
            event.dst,
            event.protocol.to_ascii_lowercase(),
        )
        .map_err(io_error)
    })?;
    writeln!(out, "#close\t{}", config.start.format("%Y-%m-%d-23-59-59")).map_err(io_error)?;
    out.flush().map_err(io_error)?;
    Ok(planted)
}

/// Writes the events of `config` straight into `lake`. Returns the number
/// of planted scenarios.
pub async fn write_lake(config: &GeneratorConfig, lake: &crate::lake::LakeLocation) -> crate::Result<u64> {
    use crate::ingest::sink::{Rejects, Sink};
    let config = config.clone();
    let (planted, writer) = crate::lake::writer::write_from(lake, move |tx| {
        let mut rejects = Rejects::new(None)?;
        let mut sink = Sink::new("generator", 1_000_000, &tx, &mut rejects);
        let planted = generate(&config, |event, src_port| sink.row(&event.row(src_port)))?;
        sink.finish()?;
        Ok(planted)
    })
    .await?;
    tracing::info!("wrote {} rows in {} files ({} partitions)", writer.rows, writer.files, writer.partitions.len());
    Ok(planted)
}

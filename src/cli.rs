//! Command-line definitions (clap). Flags shared by several commands are
//! defined once and flattened in, so they mean the same everywhere.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{FixedOffset, NaiveDate};
use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

use crate::detect::Profile;
use crate::ingest::InputFormat;
use crate::output::OutputFormat;
use crate::report::render::ReportFormat;
use crate::settings::{parse_cidr, parse_duration, parse_size, parse_time};
use crate::time::Micros;
use crate::time::parse_offset;

/// Hunt port scans across archived network-session logs.
#[derive(Debug, Parser)]
#[command(name = "scanlake", version, about, propagate_version = true)]
pub struct Cli {
    /// More diagnostics on stderr (-v debug, -vv trace); progress and summaries are shown by default.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// scanlake's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read network-session logs into the lake.
    Ingest(IngestArgs),
    /// Run the port-scan rule over the lake.
    Detect(DetectArgs),
    /// Run ad-hoc SQL over the lake's `network_session` table.
    Query(QueryArgs),
    /// Run the rule on a schedule (or once, from cron) and deliver new alerts exactly once.
    Watch(WatchArgs),
    /// Write an HTML or Markdown report of a time range: summary, alerts, top scanners and ports, charts.
    Report(ReportArgs),
    /// Rewrite each day's files into fewer files in time order, so the rule reads them once.
    Compact(CompactArgs),
    /// Write deterministic sample events (for demos, tests and benchmarks).
    Generate(GenerateArgs),
    /// Run a Ballista scheduler (Ballista 55) that reads lakes like scanlake does.
    #[cfg(feature = "ballista")]
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor (Ballista 55) that reads lakes like scanlake does.
    #[cfg(feature = "ballista")]
    Executor(ExecutorArgs),
}

/// `scanlake scheduler`.
#[cfg(feature = "ballista")]
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "ADDR:PORT")]
    pub bind: std::net::SocketAddr,
    /// Host name executors and clients reach the scheduler by [default: the bind address].
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `scanlake executor`.
#[cfg(feature = "ballista")]
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler's host and port.
    #[arg(long, default_value = "localhost:50050", value_name = "HOST:PORT")]
    pub scheduler: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub bind: String,
    /// Arrow Flight port (shuffle data).
    #[arg(long, default_value_t = 50051, value_name = "PORT")]
    pub port: u16,
    /// gRPC port (tasks).
    #[arg(long, default_value_t = 50052, value_name = "PORT")]
    pub grpc_port: u16,
    /// Host name the scheduler and other executors reach this one by [default: the bind address].
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Tasks run at once [default: the number of cores].
    #[arg(long, value_name = "N")]
    pub concurrent_tasks: Option<usize>,
    /// Folder for shuffle files [default: a temporary folder].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<String>,
    #[command(flatten)]
    pub storage: StorageArgs,
}

impl Command {
    /// True for long-running cluster processes (`scheduler`, `executor`).
    pub fn is_service(&self) -> bool {
        #[cfg(feature = "ballista")]
        if matches!(self, Command::Scheduler(_) | Command::Executor(_)) {
            return true;
        }
        false
    }
}

/// `--lake` and how to reach object storage.
#[derive(Debug, Args)]
pub struct LakeArg {
    /// The lake: a local folder or s3://bucket/prefix.
    #[arg(long, env = "SCANLAKE_LAKE", value_name = "DIR|URL")]
    pub lake: String,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// Object-storage flags; credentials come from the standard `AWS_*` variables.
#[derive(Debug, Args, Clone)]
pub struct StorageArgs {
    /// S3 endpoint for S3-compatible stores [env: AWS_ENDPOINT_URL].
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region [env: AWS_REGION].
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// Allow plain HTTP to the S3 endpoint (a local test server) [env: AWS_ALLOW_HTTP].
    #[arg(long)]
    pub s3_allow_http: bool,
}

impl StorageArgs {
    /// The storage options these flags give.
    pub fn options(&self) -> crate::lake::store::StorageOptions {
        crate::lake::store::StorageOptions {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            allow_http: self.s3_allow_http,
        }
    }
}

/// Result output flags.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format [default: from --output's extension, else table on a terminal, else jsonl].
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Write results to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Where queries run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// In this process (DataFusion).
    Local,
    /// On an Apache DataFusion Ballista cluster (see --scheduler).
    Ballista,
}

/// Query engine flags.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Bound the query engine's memory (e.g. 256MB); larger work spills to disk, and
    /// batches shrink to fit (2048 rows at 256MB, 512 below 192MB).
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub memory_limit: Option<usize>,
    /// Where queries run.
    #[arg(long, value_enum, default_value = "local")]
    pub engine: Engine,
    /// Check the lake's files first and leave damaged ones out (named on stderr).
    #[arg(long)]
    pub skip_bad_files: bool,
    /// The Ballista scheduler, for --engine ballista.
    #[arg(long, env = "SCANLAKE_SCHEDULER", default_value = "df://localhost:50050", value_name = "URL")]
    pub scheduler: String,
}

impl EngineArgs {
    /// The engine settings these flags give.
    pub fn options(&self) -> crate::engine::EngineOptions {
        crate::engine::EngineOptions {
            memory_limit: self.memory_limit,
            scheduler: (self.engine == Engine::Ballista).then(|| self.scheduler.clone()),
            skip_bad_files: self.skip_bad_files,
        }
    }
}

/// Time range flags.
#[derive(Debug, Args)]
pub struct RangeArgs {
    /// Events at or after this time (RFC 3339, e.g. 2024-04-19T00:00:00Z).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub from: Option<Micros>,
    /// Events before this time (RFC 3339).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub to: Option<Micros>,
    /// Events of the last DURATION before now (e.g. 1h, 90d).
    #[arg(long, value_parser = parse_duration, conflicts_with_all = ["from", "to"], value_name = "DURATION")]
    pub since: Option<Duration>,
    /// What "now" is for --since (RFC 3339) [default: the clock].
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub now: Option<Micros>,
}

/// `scanlake ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// Input format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: InputFormat,
    /// Write every rejected line (file, line, reason, text) to FILE as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Offset of times written without one.
    #[arg(long, value_parser = parse_offset, default_value = "+00:00", value_name = "OFFSET")]
    pub utc_offset: FixedOffset,
    /// Offset of `[Local Time]` CSV columns (required unless their values carry one).
    #[arg(long, value_parser = parse_offset, value_name = "OFFSET")]
    pub local_offset: Option<FixedOffset>,
    /// Most rows per lake file.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub rows_per_file: usize,
    /// Ingest inputs again even if the lake's manifest lists them (their earlier files are replaced).
    #[arg(long)]
    pub force: bool,
    /// Input files, folders, globs or s3:// prefixes (plain, gzip or zstd); `-` reads stdin.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
}

/// Rule parameters (SPEC 1.3).
#[derive(Debug, Args)]
pub struct RuleArgs {
    /// Which semantics decide "external source".
    #[arg(long, value_enum, default_value = "default")]
    pub profile: Profile,
    /// Alert when distinct destination ports in a bin exceed N.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub threshold: u32,
    /// Bin width.
    #[arg(long, value_parser = parse_duration, default_value = "5m", value_name = "DURATION")]
    pub bin: Duration,
    /// Size cap of AttemptedPorts (the lowest N ports).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_ports: u32,
    /// Size cap of ReportedBy.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_reporters: u32,
    /// Treat this network as private too (repeatable), e.g. 100.64.0.0/10.
    #[arg(long, value_parser = parse_cidr, value_name = "CIDR")]
    pub private: Vec<IpNet>,
    /// Never alert on sources in this network (repeatable).
    #[arg(long, value_parser = parse_cidr, value_name = "CIDR")]
    pub exclude_src: Vec<IpNet>,
    /// Ignore this destination port (repeatable).
    #[arg(long, value_name = "PORT")]
    pub exclude_port: Vec<u16>,
    /// Only sources whose address starts with PREFIX (repeatable, like srcipaddr_has_any_prefix).
    #[arg(long, value_name = "PREFIX")]
    pub src_prefix: Vec<String>,
    /// Only destinations whose address starts with PREFIX (repeatable).
    #[arg(long, value_name = "PREFIX")]
    pub dst_prefix: Vec<String>,
    /// Only this destination port (repeatable).
    #[arg(long, value_name = "PORT")]
    pub dst_port: Vec<u16>,
    /// Only events with this DvcAction (repeatable).
    #[arg(long, value_name = "ACTION")]
    pub dvc_action: Vec<String>,
    /// Only events with this EventResult.
    #[arg(long, value_name = "RESULT")]
    pub event_result: Option<String>,
}

/// `scanlake detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    #[command(flatten)]
    pub range: RangeArgs,
    #[command(flatten)]
    pub rule: RuleArgs,
    /// Run this SQL file instead of the shipped queries/port_scan.sql.
    #[arg(long, value_name = "FILE")]
    pub query: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Exit 1 when there is at least one alert (0 when none, 2 on errors).
    #[arg(long)]
    pub exit_code: bool,
    /// After the alerts, print the rule's plan as it ran to stderr, each step
    /// with its rows and time (what EXPLAIN ANALYZE shows).
    #[arg(long)]
    pub explain: bool,
}

/// `scanlake watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// The state file: progress, alerts already emitted, undelivered alerts. One per lake and profile.
    #[arg(long, value_name = "FILE")]
    pub state: PathBuf,
    /// Run period; each run evaluates up to a multiple of it.
    #[arg(long, value_parser = parse_duration, default_value = "1h", value_name = "DURATION")]
    pub every: Duration,
    /// Each run re-evaluates at least this much history (late events) [default: --every].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub lookback: Option<Duration>,
    /// Wait this long after a period ends before evaluating it, for late events [default: none].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub delay: Option<Duration>,
    /// Keep one alert per source per DURATION (Sentinel's suppression).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub suppress: Option<Duration>,
    /// Where the very first run starts (RFC 3339) [default: --lookback before its end].
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub from: Option<Micros>,
    /// Run once and exit (for cron and systemd timers).
    #[arg(long)]
    pub once: bool,
    /// What "now" is for a single run (RFC 3339; implies --once) [default: the clock].
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub now: Option<Micros>,
    /// Append new alerts to FILE as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
    /// Write one JSON file per run with alerts into DIR.
    #[arg(long, value_name = "DIR")]
    pub alerts_dir: Option<PathBuf>,
    /// POST new alerts as JSON to URL (retried with backoff; kept for the next run if it keeps failing).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Webhook attempts per run.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub webhook_attempts: u32,
    /// Wait before the second webhook attempt; doubled for each further one.
    #[arg(long, value_parser = parse_duration, default_value = "1s", value_name = "DURATION")]
    pub webhook_backoff: Duration,
    #[command(flatten)]
    pub rule: RuleArgs,
    /// Run this SQL file instead of the shipped queries/port_scan.sql.
    #[arg(long, value_name = "FILE")]
    pub query: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// With --once: exit 1 when the run emitted at least one alert.
    #[arg(long)]
    pub exit_code: bool,
}

/// `scanlake report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    #[command(flatten)]
    pub range: RangeArgs,
    #[command(flatten)]
    pub rule: RuleArgs,
    /// Report format [default: from --output's extension, else html].
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Write the report to FILE.
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
    /// Rows in the alert table (all alerts are counted).
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub max_alerts: usize,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `scanlake query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// The SQL; `network_session` is the lake's table.
    #[arg(value_name = "SQL", required_unless_present = "file")]
    pub sql: Option<String>,
    /// Read the SQL from FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "sql")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `scanlake compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// Only the days this range touches [default: every day].
    #[command(flatten)]
    pub range: RangeArgs,
    /// Rows a new file holds (at least: a file ends where a 5-minute bin ends).
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub rows_per_file: usize,
    /// Bound the memory for sorting a day (e.g. 512MB); larger days spill to disk.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub memory_limit: Option<usize>,
}

/// `scanlake generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Write the events into this lake (a folder or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL", required_unless_present_any = ["csv", "zeek"])]
    pub lake: Option<String>,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Write the events as an ASIM CSV export to FILE instead (`-` for stdout; `.gz` compresses).
    #[arg(long, value_name = "FILE", conflicts_with = "lake")]
    pub csv: Option<PathBuf>,
    /// Write the events as a Zeek conn.log (TSV) to FILE instead.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["lake", "csv"])]
    pub zeek: Option<PathBuf>,
    /// Number of events.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub rows: u64,
    /// Number of days.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub days: u32,
    /// First day (UTC).
    #[arg(long, default_value = "2024-04-19", value_name = "DATE")]
    pub start: NaiveDate,
    /// Random seed.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
    /// Add N busy benign external sources (2,000 events a day each, to 20
    /// servers on ports 443, 80 and 8443), taken from the background's rows.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub busy_sources: u32,
}

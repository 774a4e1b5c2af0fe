//! Ingest: inputs in many formats → lake rows. One parsing thread reads the
//! inputs in turn and hands batches to the lake writer over a bounded channel,
//! so parsing and Parquet encoding overlap.

pub mod asim;
pub mod format;
pub mod input;
pub mod ocsf;
pub mod sink;
pub mod values;
pub mod vpc;
pub mod windows;
pub mod zeek;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::lake::location::LakeLocation;
use crate::lake::manifest;
use crate::lake::writer::{Message, write_from};
pub use format::InputFormat;
use sink::{InputCounts, Rejects, Sink};

/// What `ingest` is asked to do besides the inputs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// How to reach object storage for s3:// inputs.
    pub storage: crate::lake::store::StorageOptions,
    /// Format of the inputs.
    pub format: InputFormat,
    /// Write every rejected line here (JSON lines).
    pub rejects: Option<PathBuf>,
    /// How times without an offset are read.
    pub times: asim::TimeRules,
    /// Rows per lake file (at most; a file never spans two dates).
    pub rows_per_file: usize,
    /// Ingest inputs again even when the manifest says they are in the lake
    /// (their earlier files are replaced).
    pub force: bool,
}

/// What an ingest did.
#[derive(Debug, Default)]
pub struct IngestSummary {
    /// Per input: its name and counts.
    pub inputs: Vec<(String, InputCounts)>,
    /// Inputs that could not be read at all, with the reason.
    pub failed: Vec<Error>,
    /// Inputs tried (after folders and globs were expanded).
    pub attempted: usize,
    /// Files found in folders or by globs that are not logs scanlake reads.
    pub passed_over: Vec<String>,
    /// Rows written to the lake.
    pub rows_written: u64,
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: usize,
    /// Partitions written to.
    pub partitions: BTreeSet<String>,
    /// Inputs the manifest says are in the lake already (not read again).
    pub already: Vec<String>,
    /// Lake files an interrupted earlier run had written already.
    pub existing_files: usize,
}

impl IngestSummary {
    /// Records read across inputs.
    pub fn rows_read(&self) -> u64 {
        self.inputs.iter().map(|(_, c)| c.read()).sum()
    }

    /// Records rejected across inputs.
    pub fn rejected(&self) -> u64 {
        self.inputs.iter().map(|(_, c)| c.rejected).sum()
    }

    /// Records skipped across inputs.
    pub fn skipped(&self) -> u64 {
        self.inputs.iter().map(|(_, c)| c.skipped.values().sum::<u64>()).sum()
    }

    /// Counts per format: inputs, read, accepted, rejected, and skips by reason.
    pub fn by_format(&self) -> BTreeMap<&'static str, (usize, InputCounts)> {
        let mut out: BTreeMap<&'static str, (usize, InputCounts)> = BTreeMap::new();
        for (_, counts) in &self.inputs {
            let (inputs, total) = out.entry(counts.format).or_default();
            *inputs += 1;
            total.format = counts.format;
            total.accepted += counts.accepted;
            total.rejected += counts.rejected;
            for (reason, n) in &counts.skipped {
                *total.skipped.entry(reason.clone()).or_default() += n;
            }
        }
        out
    }

    /// The one-line summary printed at the end of an ingest.
    pub fn line(&self) -> String {
        let unknown: BTreeSet<&str> =
            self.inputs.iter().flat_map(|(_, c)| c.unknown_columns.iter().map(String::as_str)).collect();
        let mut line = format!(
            "{} rows read, {} written, {} rejected, {} skipped; {} files in {} partitions ({:.1} MiB)",
            self.rows_read(),
            self.rows_written,
            self.rejected(),
            self.skipped(),
            self.files,
            self.partitions.len(),
            self.bytes as f64 / (1024.0 * 1024.0)
        );
        if !unknown.is_empty() {
            line += &format!("; ignored columns: {}", unknown.into_iter().collect::<Vec<_>>().join(", "));
        }
        if !self.already.is_empty() {
            line += &format!("; {} inputs already in the lake (--force ingests them again)", self.already.len());
        }
        if self.existing_files > 0 {
            line += &format!("; {} files were already there from an interrupted run", self.existing_files);
        }
        if !self.passed_over.is_empty() {
            line += &format!("; {} files passed over (not logs)", self.passed_over.len());
        }
        if !self.failed.is_empty() {
            line += &format!("; {} inputs failed", self.failed.len());
        }
        line
    }
}

/// Ingests `inputs` into `lake`.
pub async fn ingest(lake: &LakeLocation, inputs: &[String], options: &IngestOptions) -> Result<IngestSummary> {
    keep_freed_memory();
    let inputs = input::expand(inputs, &options.storage).await?;
    let (planned, already) = plan(lake, inputs, options).await?;
    let options = options.clone();
    let (mut summary, writer) = write_from(lake, move |tx| parse_inputs(&planned, &options, tx)).await?;
    summary.already = already;
    summary.existing_files = writer.existing;
    summary.rows_written = writer.rows as u64;
    summary.files = writer.files;
    summary.bytes = writer.bytes;
    summary.partitions = writer.partitions;
    Ok(summary)
}

/// Lets glibc's malloc keep the memory ingest frees (a file's batch, about
/// 150 MB with the default `--rows-per-file`) for the next batch. By default
/// it returns large blocks to the kernel at once and takes fresh pages for the
/// next batch, each faulted in and zeroed again: a sixth of a large ingest's
/// page faults went on that, about 5 % of its time (BENCHMARKS.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // Blocks up to 32 MiB (glibc's most) from the heap, not mmap; 1 GiB
    // free at the heap's top before it is trimmed; grow it 64 MiB at a time.
    for (param, value) in
        [(libc::M_MMAP_THRESHOLD, 32 << 20), (libc::M_TRIM_THRESHOLD, 1 << 30), (libc::M_TOP_PAD, 64 << 20)]
    {
        // SAFETY: mallopt only sets malloc's parameters; it takes malloc's
        // own lock and refuses values out of range (returns 0).
        if unsafe { libc::mallopt(param, value) } == 0 {
            tracing::debug!(param, value, "mallopt refused a setting");
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// An input to read, and what the manifest knows of it.
struct Planned {
    named: input::Named,
    /// Content fingerprint (none for stdin).
    fingerprint: Option<String>,
    /// 0, or one more than the manifest's for `--force`.
    generation: u32,
    /// Files of the generation this one replaces.
    replaces: Vec<String>,
    /// The settings that shape its lake files.
    settings: String,
}

/// Fingerprints the inputs and leaves out those the manifest lists (unless `force`).
async fn plan(
    lake: &LakeLocation,
    inputs: Vec<input::Named>,
    options: &IngestOptions,
) -> Result<(Vec<Planned>, Vec<String>)> {
    // Everything that shapes the files goes into their names.
    let settings = format!("{:?}|{}|{:?}", options.format, options.rows_per_file, options.times);
    let mut planned = Vec::new();
    let mut already = Vec::new();
    for named in inputs {
        let fingerprint = match (&named.fingerprint, named.name.as_str()) {
            (Some(f), _) => Some(f.clone()),
            (None, "-") => None,
            (None, name) => {
                let path = std::path::PathBuf::from(name);
                // Unreadable files are reported when opened.
                tokio::task::spawn_blocking(move || manifest::fingerprint_file(&path)).await.ok().and_then(Result::ok)
            }
        };
        let known = match &fingerprint {
            Some(f) => manifest::read(lake, f).await?,
            None => None,
        };
        let settings = settings.clone();
        match known {
            Some(entry) if !options.force => {
                if entry.settings == settings {
                    tracing::info!(
                        "{}: already in the lake ({} rows, ingested {} as {}); skipped",
                        named.name,
                        entry.rows,
                        entry.ingested_at,
                        entry.input
                    );
                } else {
                    tracing::warn!(
                        "{}: ingested {} with other settings ({}; now {settings}); skipped: --force replaces those rows",
                        named.name,
                        entry.ingested_at,
                        entry.settings
                    );
                }
                already.push(named.name);
            }
            Some(entry) if entry.compacted => {
                return Err(Error::Input {
                    input: named.name,
                    reason: format!(
                        "--force cannot replace its rows: `scanlake compact` stored them in files shared with other \
                         inputs' rows ({} files); delete those days' folders and ingest their inputs again",
                        entry.files.len()
                    ),
                });
            }
            Some(entry) => planned.push(Planned {
                named,
                fingerprint,
                generation: entry.generation + 1,
                replaces: entry.files,
                settings,
            }),
            None => planned.push(Planned { named, fingerprint, generation: 0, replaces: Vec::new(), settings }),
        }
    }
    Ok((planned, already))
}

fn parse_inputs(planned: &[Planned], options: &IngestOptions, tx: mpsc::Sender<Message>) -> Result<IngestSummary> {
    let inputs: Vec<&input::Named> = planned.iter().map(|p| &p.named).collect();
    let mut rejects = Rejects::new(options.rejects.clone())?;
    let mut summary = IngestSummary { attempted: inputs.len(), ..Default::default() };
    let progress = progress_bar(&inputs);
    for (i, planned) in planned.iter().enumerate() {
        let named = &planned.named;
        progress.set_message(format!("{}/{} {}", i + 1, inputs.len(), named.name));
        match parse_input(planned, options, &tx, &mut rejects, &progress) {
            Parsed::Read(counts, error) => {
                summary.inputs.push((named.name.clone(), counts));
                if let Some(e) = error {
                    tracing::error!("{e}");
                    summary.failed.push(e);
                }
            }
            Parsed::Failed(e) => {
                tracing::error!("{e}");
                summary.failed.push(e);
            }
            Parsed::PassedOver => {
                tracing::warn!("{}: not a log format scanlake reads; passed over", named.name);
                summary.passed_over.push(named.name.clone());
            }
        }
    }
    progress.finish_and_clear();
    rejects.finish()?;
    Ok(summary)
}

/// Objects and bytes done, on stderr when it is a terminal (hidden otherwise).
fn progress_bar(inputs: &[&input::Named]) -> indicatif::ProgressBar {
    let total: u64 = inputs.iter().filter_map(|n| n.size).sum();
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {elapsed} {bytes}/{total_bytes} ({bytes_per_sec}) {wide_msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr()).with_style(style)
}

/// What became of one input.
/// Reads `input` as `format` into `sink`.
fn read_as(format: InputFormat, input: input::Input, sink: &mut Sink<'_>, times: asim::TimeRules) -> Result<()> {
    match format {
        InputFormat::AsimCsv => asim::read_csv(input.reader, sink, times),
        InputFormat::AsimJson | InputFormat::Auto => asim::read_json(input.reader, sink, times),
        InputFormat::ZeekTsv => zeek::read_tsv(input.reader, sink),
        InputFormat::ZeekJson => zeek::read_json(input.reader, sink),
        InputFormat::WindowsJson => windows::json::read(input.reader, sink, times.utc_columns),
        InputFormat::WindowsXml => windows::xml::read(input.reader, sink),
        InputFormat::VpcFlow => vpc::read(input.reader, sink),
        InputFormat::OcsfJson => ocsf::read_json(input.reader, sink),
        InputFormat::Evtx => input.into_bytes().and_then(|bytes| windows::evtx::read(bytes, sink)),
        InputFormat::OcsfParquet => input.into_bytes().and_then(|bytes| ocsf::read_parquet(bytes, sink)),
    }
}

/// Parses `bytes` (already decompressed) as `format`, or as the format they
/// look like for `Auto`, and discards the rows: the entry point of the fuzz
/// targets. Returns the counts, or the error that stopped reading.
pub fn parse_bytes(format: InputFormat, bytes: &[u8]) -> Result<InputCounts> {
    let (tx, mut rx) = mpsc::channel(1);
    let drain = std::thread::spawn(move || while rx.blocking_recv().is_some() {});
    let format = match format {
        InputFormat::Auto => InputFormat::detect(&bytes[..bytes.len().min(64 * 1024)]).unwrap_or(InputFormat::AsimJson),
        f => f,
    };
    let mut rejects = Rejects::new(None)?;
    let input = input::Input::from_bytes("bytes", bytes);
    let mut sink = Sink::new("bytes", 1024, &tx, &mut rejects);
    let read = read_as(format, input, &mut sink, asim::TimeRules::default());
    let counts = sink.finish();
    drop(tx);
    let _ = drain.join();
    read.and(counts)
}

enum Parsed {
    /// Read, with its counts; rows read before a failure (a truncated
    /// archive, say) are kept, and the failure comes beside the counts.
    Read(InputCounts, Option<Error>),
    /// Could not be opened or read at all.
    Failed(Error),
    /// Found in a folder or by a glob, and not a format scanlake reads.
    PassedOver,
}

fn parse_input(
    planned: &Planned,
    options: &IngestOptions,
    tx: &mpsc::Sender<Message>,
    rejects: &mut Rejects,
    progress: &indicatif::ProgressBar,
) -> Parsed {
    let named = &planned.named;
    let name = named.name.as_str();
    let input = match input::open(named, progress) {
        Ok(i) => i,
        Err(e) => return Parsed::Failed(e),
    };
    let format = match (options.format, InputFormat::detect(&input.head)) {
        (InputFormat::Auto, Some(f)) => f,
        (InputFormat::Auto, None) if named.found => return Parsed::PassedOver,
        (InputFormat::Auto, None) => {
            let reason = "cannot tell the format from the content; pass --format".into();
            return Parsed::Failed(Error::Input { input: name.to_string(), reason });
        }
        (f, _) => f,
    };
    let stem = planned.fingerprint.as_ref().map(|f| manifest::file_stem(f, planned.generation, &planned.settings));
    let mut sink = Sink::new(name, options.rows_per_file, tx, rejects).with_file_stem(stem);
    sink.counts.format = format.name();
    let read = read_as(format, input, &mut sink, options.times);
    let counts = match sink.finish() {
        Ok(c) => c,
        Err(e) => return Parsed::Failed(e),
    };
    tracing::info!(
        "{name}: {} as {}: {} accepted, {} rejected, {} skipped",
        counts.read(),
        counts.format,
        counts.accepted,
        counts.rejected,
        counts.skipped.values().sum::<u64>()
    );
    let error = read.err();
    if let (None, Some(fingerprint)) = (&error, &planned.fingerprint) {
        let entry = manifest::Entry {
            input: name.to_string(),
            fingerprint: fingerprint.clone(),
            generation: planned.generation,
            settings: planned.settings.clone(),
            format: counts.format.to_string(),
            rows: counts.accepted,
            rejected: counts.rejected,
            files: Vec::new(),
            ingested_at: crate::time::format_utc(chrono::Utc::now().timestamp_micros()),
            compacted: false,
        };
        let done = Message::Done { entry: Box::new(entry), replaces: planned.replaces.clone() };
        if tx.blocking_send(done).is_err() {
            return Parsed::Failed(Error::Input { input: name.to_string(), reason: "the lake writer stopped".into() });
        }
    }
    Parsed::Read(counts, error)
}

#[cfg(test)]
mod mutation_smoke {
    //! A short, deterministic stand-in for the fuzz targets (`tests/fuzz/`),
    //! run by `cargo test`: every fixture, mutated many ways, through every
    //! parser. Nothing may panic; errors and rejections are fine.

    use std::path::PathBuf;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::{InputFormat, parse_bytes};

    const FORMATS: [InputFormat; 10] = [
        InputFormat::AsimCsv,
        InputFormat::AsimJson,
        InputFormat::ZeekTsv,
        InputFormat::ZeekJson,
        InputFormat::WindowsJson,
        InputFormat::WindowsXml,
        InputFormat::VpcFlow,
        InputFormat::OcsfJson,
        InputFormat::Evtx,
        InputFormat::OcsfParquet,
    ];

    fn mutate(rng: &mut ChaCha8Rng, seed: &[u8]) -> Vec<u8> {
        let mut bytes = seed.to_vec();
        for _ in 0..rng.random_range(1..8) {
            let at = rng.random_range(0..=bytes.len());
            match rng.random_range(0..6) {
                0 if !bytes.is_empty() => {
                    let i = at.min(bytes.len() - 1);
                    bytes[i] ^= 1 << rng.random_range(0..8);
                }
                1 => bytes.truncate(at),
                2 => bytes.splice(at..at, (0..rng.random_range(1..64)).map(|_| rng.random::<u8>())).for_each(drop),
                3 => bytes.splice(at..at, [b'"', b'\n', b'\t', b',', b'{', b'[', b'<', 0]).for_each(drop),
                4 if at < bytes.len() => {
                    let end = (at + rng.random_range(1..256)).min(bytes.len());
                    let copy = bytes[at..end].to_vec();
                    bytes.splice(at..at, copy).for_each(drop);
                }
                _ => bytes.splice(at..at, b"99999999999999999999".iter().copied()).for_each(drop),
            }
        }
        bytes
    }

    #[test]
    fn mutated_fixtures_never_panic_any_parser() {
        let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sources");
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&folder)
            .expect("fixtures")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "py"))
            .filter_map(|p| std::fs::read(p).ok())
            .map(|bytes| bytes[..bytes.len().min(16 * 1024)].to_vec())
            .collect();
        seeds.push(
            b"TimeGenerated [UTC],EventVendor,EventProduct,SrcIpAddr,DstIpAddr,DstPortNumber,NetworkProtocol\n\
              2024-04-19T00:10:00Z,Corelight,Zeek,198.51.100.9,203.0.113.9,80,TCP\n\
              \"4/19/2024, 12:10:03.000 AM\",Palo Alto,PAN-OS,2001:db8::1,10.0.0.1,443,UDP\n"
                .to_vec(),
        );
        seeds.push(
            br#"{"TimeGenerated":"2024-04-19T00:10:00+02:00","SrcIpAddr":"::ffff:1.2.3.4","DstPortNumber":22,"EventCount":3}"#
                .to_vec(),
        );
        seeds.sort();
        assert!(seeds.len() >= 9, "seeds: {}", seeds.len());
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let mut runs = 0;
        for seed in &seeds {
            for _ in 0..40 {
                let input = mutate(&mut rng, seed);
                for format in FORMATS.into_iter().chain([InputFormat::Auto]) {
                    let _ = parse_bytes(format, &input);
                    runs += 1;
                }
            }
        }
        assert!(runs > 1000);
    }
}

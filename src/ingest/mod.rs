//! Ingest: inputs in many formats → lake rows. One parsing thread reads the
//! inputs in turn and hands batches to the lake writer over a bounded channel,
//! so parsing and Parquet encoding overlap.

pub mod asim;
pub mod input;
pub mod sink;

use std::collections::BTreeSet;
use std::path::PathBuf;

use arrow::array::RecordBatch;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::lake::location::LakeLocation;
use crate::lake::writer::write_from;
use sink::{InputCounts, Rejects, Sink};

/// Input formats `ingest` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// Recognise the format of each input by its content.
    Auto,
    /// ASIM export as CSV (Sentinel / Log Analytics "Export to CSV").
    AsimCsv,
    /// ASIM events as JSON lines.
    AsimJson,
}

impl InputFormat {
    /// Recognises the format from the first bytes of an input.
    pub fn detect(head: &[u8]) -> Option<InputFormat> {
        let line = input::first_line(head);
        let text = String::from_utf8_lossy(line);
        let text = text.trim_start();
        if text.starts_with('{') {
            Some(InputFormat::AsimJson)
        } else if text
            .split([',', ';', '\t'])
            .any(|h| h.trim().trim_matches('"').starts_with("TimeGenerated"))
        {
            Some(InputFormat::AsimCsv)
        } else {
            None
        }
    }
}

/// What `ingest` is asked to do besides the inputs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Format of the inputs.
    pub format: InputFormat,
    /// Write every rejected line here (JSON lines).
    pub rejects: Option<PathBuf>,
    /// How times without an offset are read.
    pub times: asim::TimeRules,
    /// Rows per lake file (at most; a file never spans two dates).
    pub rows_per_file: usize,
}

/// What an ingest did.
#[derive(Debug, Default)]
pub struct IngestSummary {
    /// Per input: its name and counts.
    pub inputs: Vec<(String, InputCounts)>,
    /// Inputs that could not be read at all, with the reason.
    pub failed: Vec<Error>,
    /// Rows written to the lake.
    pub rows_written: u64,
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: usize,
    /// Partitions written to.
    pub partitions: BTreeSet<String>,
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
        self.inputs
            .iter()
            .map(|(_, c)| c.skipped.values().sum::<u64>())
            .sum()
    }

    /// The one-line summary printed at the end of an ingest.
    pub fn line(&self) -> String {
        let unknown: BTreeSet<&str> = self
            .inputs
            .iter()
            .flat_map(|(_, c)| c.unknown_columns.iter().map(String::as_str))
            .collect();
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
            line += &format!(
                "; ignored columns: {}",
                unknown.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        if !self.failed.is_empty() {
            line += &format!("; {} inputs failed", self.failed.len());
        }
        line
    }
}

/// Ingests `inputs` into `lake`.
pub async fn ingest(
    lake: &LakeLocation,
    inputs: &[String],
    options: &IngestOptions,
) -> Result<IngestSummary> {
    let inputs = inputs.to_vec();
    let options = options.clone();
    let (mut summary, writer) =
        write_from(lake, move |tx| parse_inputs(&inputs, &options, tx)).await?;
    summary.rows_written = writer.rows as u64;
    summary.files = writer.files;
    summary.bytes = writer.bytes;
    summary.partitions = writer.partitions;
    Ok(summary)
}

fn parse_inputs(
    inputs: &[String],
    options: &IngestOptions,
    tx: mpsc::Sender<RecordBatch>,
) -> Result<IngestSummary> {
    let mut rejects = Rejects::new(options.rejects.clone())?;
    let mut summary = IngestSummary::default();
    for name in inputs {
        let (counts, error) = parse_input(name, options, &tx, &mut rejects);
        if let Some(counts) = counts {
            summary.inputs.push((name.clone(), counts));
        }
        if let Some(e) = error {
            tracing::error!("{e}");
            summary.failed.push(e);
        }
    }
    rejects.finish()?;
    Ok(summary)
}

/// Reads one input. Rows read before a failure (a truncated archive, say)
/// are kept, and the failure is returned beside the counts.
fn parse_input(
    name: &str,
    options: &IngestOptions,
    tx: &mpsc::Sender<RecordBatch>,
    rejects: &mut Rejects,
) -> (Option<InputCounts>, Option<Error>) {
    let input = match input::open(name) {
        Ok(i) => i,
        Err(e) => return (None, Some(e)),
    };
    let format = match options.format {
        InputFormat::Auto => match InputFormat::detect(&input.head) {
            Some(f) => f,
            None => {
                let reason = "cannot tell the format from the content; pass --format".into();
                return (
                    None,
                    Some(Error::Input {
                        input: name.to_string(),
                        reason,
                    }),
                );
            }
        },
        f => f,
    };
    let mut sink = Sink::new(name, options.rows_per_file, tx, rejects);
    let read = match format {
        InputFormat::AsimCsv => asim::read_csv(input.reader, &mut sink, options.times),
        InputFormat::AsimJson | InputFormat::Auto => {
            asim::read_json(input.reader, &mut sink, options.times)
        }
    };
    let counts = match sink.finish() {
        Ok(c) => c,
        Err(e) => return (None, Some(e)),
    };
    tracing::info!(
        "{name}: {} as {}: {} accepted, {} rejected, {} skipped",
        counts.read(),
        counts.format,
        counts.accepted,
        counts.rejected,
        counts.skipped.values().sum::<u64>()
    );
    (Some(counts), read.err())
}

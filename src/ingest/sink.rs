//! Where source adapters put their output: accepted rows go to the lake
//! writer in batches, rejected lines go to the rejects report, and skipped
//! records are counted by reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use arrow::array::{AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::kernels::boolean::not;
use arrow::compute::{filter, filter_record_batch};
use tokio::sync::mpsc::Sender;

use crate::error::{Error, Result};
use crate::ingest::values::{Mapped, Record};
use crate::lake::schema::{SessionBatchBuilder, SessionRow};
use crate::lake::writer::{Message, sorted};

/// How many rejected lines are printed to stderr before only counting.
const SHOWN_REJECTS: u64 = 20;
/// The longest text value a lake row may hold; longer ones reject the record.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The longest raw line kept in the rejects file.
const MAX_RAW_BYTES: usize = 1024 * 1024;

/// Counts for one input.
#[derive(Debug, Default, Clone)]
pub struct InputCounts {
    /// The format the input was read as.
    pub format: &'static str,
    /// Records accepted as events.
    pub accepted: u64,
    /// Records rejected (with file, line and reason).
    pub rejected: u64,
    /// Records skipped on purpose, by reason (not events of this schema).
    pub skipped: BTreeMap<String, u64>,
    /// Column or field names that are not ASIM columns and were ignored.
    pub unknown_columns: BTreeSet<String>,
}

impl InputCounts {
    /// Records read: accepted, rejected or skipped.
    pub fn read(&self) -> u64 {
        self.accepted + self.rejected + self.skipped.values().sum::<u64>()
    }
}

/// The rejects report: every rejected line with file, line and reason, on
/// stderr (the first few) and in an optional JSON-lines file (all of them).
pub struct Rejects {
    file: Option<(PathBuf, BufWriter<File>)>,
    /// Rejected lines so far, across inputs.
    pub total: u64,
    /// For a part of an input parsed on another thread: the rejections, kept
    /// for the input's own report (in order, with the right line numbers).
    kept: Option<Vec<Rejected>>,
}

/// One rejected record of a [`Part`].
struct Rejected {
    line: u64,
    reason: String,
    raw: Vec<u8>,
}

impl Rejects {
    /// A report that also writes every rejected line to `path`.
    pub fn new(path: Option<PathBuf>) -> Result<Self> {
        let file = match path {
            Some(p) => {
                let f = File::create(&p).map_err(|e| Error::io(&p, e))?;
                Some((p, BufWriter::new(f)))
            }
            None => None,
        };
        Ok(Self { file, total: 0, kept: None })
    }

    fn record(&mut self, input: &str, unit: &str, line: u64, reason: &str, raw: &[u8]) -> Result<()> {
        if let Some(kept) = &mut self.kept {
            kept.push(Rejected { line, reason: reason.to_string(), raw: raw.to_vec() });
            return Ok(());
        }
        self.total += 1;
        if self.total <= SHOWN_REJECTS {
            if unit == "line" {
                tracing::warn!("{input}:{line}: rejected: {reason}");
            } else {
                tracing::warn!("{input}: {unit} {line}: rejected: {reason}");
            }
        } else if self.total == SHOWN_REJECTS + 1 && self.file.is_none() {
            tracing::warn!("more rejected lines are counted, not shown; --rejects FILE keeps them all");
        }
        if let Some((path, out)) = &mut self.file {
            let truncated = raw.len() > MAX_RAW_BYTES;
            let raw = String::from_utf8_lossy(&raw[..raw.len().min(MAX_RAW_BYTES)]);
            let mut entry = serde_json::Map::new();
            entry.insert("input".into(), input.into());
            entry.insert(unit.into(), line.into());
            entry.insert("reason".into(), reason.into());
            entry.insert("raw".into(), raw.into());
            entry.insert("truncated".into(), truncated.into());
            let entry = serde_json::Value::Object(entry);
            writeln!(out, "{entry}").map_err(|e| Error::io(path.clone(), e))?;
        }
        Ok(())
    }

    /// Flushes the rejects file.
    pub fn finish(&mut self) -> Result<()> {
        if let Some((path, out)) = &mut self.file {
            out.flush().map_err(|e| Error::io(path.clone(), e))?;
        }
        Ok(())
    }
}

/// What a part of an input, parsed on another thread, produced: rows,
/// counts and rejections, with line numbers counted from the part's start.
pub struct Part {
    /// The number of lines in the part.
    pub lines: u64,
    counts: InputCounts,
    /// The rows, if any, in storage order (see [`sorted`]), with each
    /// row's position in the part (its input order).
    pub rows: Option<(RecordBatch, UInt32Array)>,
    rejected: Vec<Rejected>,
}

/// The destination of one input's records.
pub struct Sink<'r> {
    /// The input being read, for messages.
    pub input: String,
    /// What a rejection's number counts: `line`, or `record` for .evtx files.
    pub unit: &'static str,
    /// This input's counts.
    pub counts: InputCounts,
    builder: SessionBatchBuilder,
    /// Rows taken from parts parsed elsewhere, in input order, before the builder's.
    pieces: Vec<RecordBatch>,
    piece_rows: usize,
    batch_rows: usize,
    /// None for a part's sink: its rows are kept, not sent.
    batches: Option<&'r Sender<Message>>,
    rejects: &'r mut Rejects,
    /// Stem of the file names (see `lake::manifest::file_stem`); batches are numbered after it.
    stem: Option<String>,
    sent: u32,
}

impl<'r> Sink<'r> {
    /// A sink for `input` that hands batches of `batch_rows` to the writer.
    pub fn new(input: &str, batch_rows: usize, batches: &'r Sender<Message>, rejects: &'r mut Rejects) -> Self {
        Self {
            input: input.to_string(),
            unit: "line",
            counts: InputCounts::default(),
            builder: SessionBatchBuilder::default(),
            pieces: Vec::new(),
            piece_rows: 0,
            batch_rows: batch_rows.max(1),
            batches: Some(batches),
            rejects,
            stem: None,
            sent: 0,
        }
    }

    /// Names this input's lake files after `stem`, so that the same input
    /// always gives the same file names.
    pub fn with_file_stem(mut self, stem: Option<String>) -> Self {
        self.stem = stem;
        self
    }

    /// Accepts one event.
    pub fn row(&mut self, row: &SessionRow<'_>) -> Result<()> {
        self.builder.append(row);
        self.counts.accepted += 1;
        if self.piece_rows + self.builder.len() >= self.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Rejects the record at `line` for `reason`; `raw` is the line as read.
    pub fn reject(&mut self, line: u64, reason: &str, raw: &[u8]) -> Result<()> {
        self.counts.rejected += 1;
        self.rejects.record(&self.input, self.unit, line, reason, raw)
    }

    /// Applies one record's outcome (`line` and `raw` for a rejection).
    pub fn take(&mut self, line: u64, raw: &[u8], mapped: Mapped<'_>) -> Result<()> {
        // By reference: a row is large, and moving it costs a copy.
        match &mapped {
            Ok(Record::Row(row)) => match row.oversized(MAX_VALUE_BYTES) {
                Some((column, bytes)) => {
                    let reason = format!("{column}: {bytes} bytes, more than a value may have ({MAX_VALUE_BYTES})");
                    // The raw text, unless the caller left it out, is the row's own: too long to keep whole.
                    self.reject(line, &reason, &raw[..raw.len().min(1024)])
                }
                None => self.row(row),
            },
            Ok(Record::Skip(reason)) => {
                self.skip(reason);
                Ok(())
            }
            Err(reason) => self.reject(line, reason, raw),
        }
    }

    /// [`take`](Self::take) for a record whose text values are all parts of
    /// `raw` (or constants): when `raw` is no longer than a value may be,
    /// no value can be, and the lengths are not checked.
    pub fn take_parts_of(&mut self, line: u64, raw: &[u8], mapped: Mapped<'_>) -> Result<()> {
        match &mapped {
            Ok(Record::Row(row)) if raw.len() <= MAX_VALUE_BYTES => self.row(row),
            _ => self.take(line, raw, mapped),
        }
    }

    /// Counts a record that is deliberately not an event (e.g. another
    /// Windows event id, or a NODATA flow record).
    pub fn skip(&mut self, reason: &str) {
        *self.counts.skipped.entry(reason.to_string()).or_default() += 1;
    }

    /// Notes a column that is ignored.
    pub fn unknown_column(&mut self, name: &str) {
        if !self.counts.unknown_columns.contains(name) {
            self.counts.unknown_columns.insert(name.to_string());
        }
    }

    /// Hands the pending rows to the writer.
    pub fn flush(&mut self) -> Result<()> {
        if !self.builder.is_empty() {
            self.pieces.push(self.builder.finish());
        }
        let Some(batches) = self.batches.filter(|_| !self.pieces.is_empty()) else {
            return Ok(());
        };
        let pieces = std::mem::take(&mut self.pieces);
        self.piece_rows = 0;
        let name = self.stem.as_ref().map(|stem| format!("{stem}-{:05}", self.sent));
        self.sent += 1;
        batches
            .blocking_send(Message::Rows { pieces, name })
            .map_err(|_| Error::Input { input: self.input.clone(), reason: "the lake writer stopped".into() })
    }

    /// Parses one part of `input` with `parse` (on any thread) into a
    /// [`Part`], for [`absorb`](Self::absorb). `parse` returns the number of
    /// lines the part has; its line numbers count from 1.
    pub fn part(
        input: &str,
        builder: SessionBatchBuilder,
        parse: impl FnOnce(&mut Sink<'_>) -> Result<u64>,
    ) -> Result<Part> {
        let mut rejects = Rejects { file: None, total: 0, kept: Some(Vec::new()) };
        let mut sink = Sink {
            input: input.to_string(),
            unit: "line",
            counts: InputCounts::default(),
            builder,
            pieces: Vec::new(),
            piece_rows: 0,
            batch_rows: usize::MAX,
            batches: None,
            rejects: &mut rejects,
            stem: None,
            sent: 0,
        };
        let lines = parse(&mut sink)?;
        let Sink { counts, builder, .. } = sink;
        // The part's one batch, without room made for a next one.
        let rows = if builder.is_empty() { None } else { Some(sorted(&builder.into_batch())?) };
        Ok(Part { lines, counts, rows, rejected: rejects.kept.unwrap_or_default() })
    }

    /// Takes in a part parsed by [`part`](Self::part) whose first line is
    /// line `first_line` of the input: its rows (cut where a file ends),
    /// skips and rejections, as if this sink had read those lines.
    pub fn absorb(&mut self, first_line: u64, part: Part) -> Result<()> {
        debug_assert!(self.builder.is_empty(), "rows of parts and rows appended here are not mixed");
        for rejected in part.rejected {
            self.reject(first_line - 1 + rejected.line, &rejected.reason, &rejected.raw)?;
        }
        for (reason, n) in part.counts.skipped {
            *self.counts.skipped.entry(reason).or_default() += n;
        }
        self.counts.unknown_columns.extend(part.counts.unknown_columns);
        if let Some((mut rows, mut positions)) = part.rows {
            // Files hold exactly `batch_rows` rows (the builder is empty
            // between parts), the next ones in input order: of a part cut
            // where a file ends, the rows before the cut, still in order.
            let mut taken = 0;
            while self.piece_rows + rows.num_rows() >= self.batch_rows {
                let fits = self.batch_rows - self.piece_rows;
                let before: BooleanArray =
                    positions.values().iter().map(|&p| Some((p as usize) < taken + fits)).collect();
                let after = not(&before)?;
                self.counts.accepted += fits as u64;
                self.pieces.push(filter_record_batch(&rows, &before)?);
                self.piece_rows += fits;
                self.flush()?;
                rows = filter_record_batch(&rows, &after)?;
                positions = filter(&positions, &after)?.as_primitive().clone();
                taken += fits;
            }
            if rows.num_rows() > 0 {
                self.counts.accepted += rows.num_rows() as u64;
                self.piece_rows += rows.num_rows();
                self.pieces.push(rows);
            }
        }
        Ok(())
    }

    /// Flushes and returns this input's counts.
    pub fn finish(mut self) -> Result<InputCounts> {
        self.flush()?;
        Ok(self.counts)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use arrow::datatypes::Int32Type;

    use super::*;

    /// Rows numbered by their DstPortNumber, at times out of order, from
    /// external and internal sources.
    fn part(first: i32, rows: i32) -> Part {
        Sink::part("input", SessionBatchBuilder::default(), |sink| {
            for n in first..first + rows {
                let row = SessionRow {
                    time_generated: 1_713_484_800_000_000 + i64::from((n * 7_919) % 1_000) * 1_000_000,
                    src_ip_addr: Some(Cow::Borrowed(if n % 3 == 0 { "198.51.100.1" } else { "10.0.0.1" })),
                    dst_port_number: Some(n),
                    ..Default::default()
                };
                sink.row(&row)?;
            }
            Ok(rows as u64)
        })
        .expect("part")
    }

    /// Parts are put in storage order where they are parsed; cut where a
    /// file ends, they still give each file the next rows of the input.
    #[test]
    fn files_hold_the_next_rows_of_the_input_though_parts_are_sorted() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(100);
        let mut rejects = Rejects::new(None).expect("rejects");
        let mut sink = Sink::new("input", 700, &tx, &mut rejects);
        let mut first = 0;
        for rows in [500, 1_000, 1_700, 30, 670] {
            sink.absorb(1, part(first, rows)).expect("absorb");
            first += rows;
        }
        let counts = sink.finish().expect("finish");
        assert_eq!(counts.accepted, first as u64);
        drop(tx);
        let mut next = 0;
        while let Ok(Message::Rows { pieces, .. }) = rx.try_recv() {
            let mut numbers: Vec<i32> = pieces
                .iter()
                .flat_map(|p| {
                    p.column_by_name("DstPortNumber").expect("port").as_primitive::<Int32Type>().values().to_vec()
                })
                .collect();
            numbers.sort_unstable();
            let rows = numbers.len() as i32;
            assert_eq!(numbers, (next..next + rows).collect::<Vec<_>>());
            assert!(rows == 700 || next + rows == first, "a file of {rows} rows");
            next += rows;
        }
        assert_eq!(next, first);
    }
}

//! `scanlake compact`: rewrites each day's files into fewer files, in time
//! order, each ending where a 5-minute bin ends. Ingest writes a file per
//! batch of input, so a day ingested from several inputs (or from one not
//! in time order) has files that overlap in time, and the rule must then
//! read every external row of the bins they share twice (see
//! `detect::Skipping`); after compaction no bin spans two files and the
//! rule reads once. Hourly or 10-minute logs also leave many small files,
//! each costing a query its own listing, footer and page index.
//!
//! Each day is swapped under a journal (see [`crate::lake::journal`]), so
//! readers see its old files or its new ones, never both, and a kill
//! leaves nothing that the next `compact` does not finish or undo.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::logical_expr::ident;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use object_store::path::Path;

use crate::detect::TimeRange;
use crate::detect::scope::{listed_files, most_per_bin, time_span};
use crate::engine::{self, EngineOptions};
use crate::error::{Error, Result};
use crate::lake::LakeLocation;
use crate::lake::journal::{self, Journal};
use crate::lake::manifest;
use crate::lake::schema::{COUNT_BIN, file_schema};
use crate::lake::writer::PartitionWriter;

/// What to compact, and how.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// The days to look at (whole days: those the range touches).
    pub range: TimeRange,
    /// Rows a new file holds at least (all of its last bin's rows go with
    /// it); a day's last file may hold fewer.
    pub rows_per_file: usize,
    /// Memory bound for sorting a day (it spills to disk beyond it).
    pub memory_limit: Option<usize>,
}

/// What a compaction did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactSummary {
    /// Interrupted compactions finished or undone first.
    pub recovered: usize,
    /// Days looked at.
    pub days: usize,
    /// Days rewritten.
    pub compacted: usize,
    /// Files those days had.
    pub files_before: usize,
    /// Files they have now.
    pub files_after: usize,
    /// Rows rewritten.
    pub rows: usize,
    /// Files left as they are because an ingest that has not completed
    /// (or was killed) wrote them: it may write them again.
    pub unfinished_ingest: usize,
}

/// Compacts the days of `options.range` whose files overlap in 5-minute
/// bins or would fit in fewer files.
pub async fn compact(lake: &LakeLocation, options: &CompactOptions) -> Result<CompactSummary> {
    let mut summary = CompactSummary { recovered: journal::recover(lake).await?, ..Default::default() };
    let engine = EngineOptions { memory_limit: options.memory_limit, ..Default::default() };
    let ctx = engine::open(lake, &engine).await?;
    let Some(files) = listed_files(&ctx, options.range).await? else {
        return Ok(summary);
    };
    let entries = manifest::all(lake).await?;
    let ingested: BTreeSet<&str> =
        entries.iter().flat_map(|entry| entry.files.iter().map(|file| manifest::in_table(file))).collect();
    let mut days: BTreeMap<Path, Vec<PartitionedFile>> = BTreeMap::new();
    for file in files {
        let location = &file.object_meta.location;
        if from_unfinished_ingest(location, &ingested) {
            summary.unfinished_ingest += 1;
            continue;
        }
        let folder = location.parts().collect::<Vec<_>>();
        let day = Path::from_iter(folder[..folder.len() - 1].iter().cloned());
        days.entry(day).or_default().push(file);
    }
    summary.days = days.len();
    let mut committed = Vec::new();
    let mut failed = None;
    for (day, files) in days.iter().filter(|(_, files)| worth_compacting(files, options.rows_per_file)) {
        match compact_day(&ctx, lake, day, files, options.rows_per_file).await {
            Ok((journal, rows)) => {
                tracing::info!("{day}: {} files → {} ({rows} rows)", files.len(), journal.new.len());
                summary.compacted += 1;
                summary.files_before += files.len();
                summary.files_after += journal.new.len();
                summary.rows += rows;
                committed.push(journal);
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    // The manifest follows the days compacted, also when a later one failed.
    journal::finish(lake, &committed).await?;
    failed.map_or(Ok(summary), Err)
}

/// Whether `location` is named like an ingest's file (`part-<stem>-<n>`,
/// see `manifest::file_stem`) that no manifest entry lists: its ingest
/// has not completed, and run again it would write that name again.
fn from_unfinished_ingest(location: &Path, ingested: &BTreeSet<&str>) -> bool {
    manifest::is_ingest_file_name(location.filename().unwrap_or_default())
        && !ingested.contains(manifest::in_table(location.as_ref()))
}

/// A day is worth compacting when two of its files hold events of one
/// 5-minute bin, or when its rows fit in fewer files.
fn worth_compacting(files: &[PartitionedFile], rows_per_file: usize) -> bool {
    if files.len() < 2 {
        return false;
    }
    let stats: Option<Vec<_>> = files.iter().map(|file| file.statistics.as_deref()).collect();
    let Some(stats) = stats else { return true };
    let spans: Option<Vec<_>> = stats.iter().map(|s| time_span(s)).collect();
    let rows: usize = stats.iter().map(|s| s.num_rows.get_value().copied().unwrap_or(rows_per_file)).sum();
    spans.is_none_or(|spans| most_per_bin(spans) > 1) || files.len() > rows.div_ceil(rows_per_file.max(1))
}

/// Rewrites `files`, one day's, in time order into files of about
/// `rows_per_file` rows that end at a bin's end, swaps them in and deletes
/// the old ones. Returns the committed journal (for [`journal::finish`])
/// and the rows.
async fn compact_day(
    ctx: &SessionContext,
    lake: &LakeLocation,
    day: &Path,
    files: &[PartitionedFile],
    rows_per_file: usize,
) -> Result<(Journal, usize)> {
    let old: Vec<String> = files.iter().map(|file| file.object_meta.location.to_string()).collect();
    let mut journal = Journal::new(day, old);
    journal.begin(lake).await?;
    let (rows, new) = match rewrite(ctx, lake, &journal, rows_per_file).await {
        Ok(written) => written,
        Err(e) => {
            if let Err(undo) = journal.undo(lake).await {
                tracing::warn!("{day}: could not undo the compaction ({undo}); the next `compact` will");
            }
            return Err(e);
        }
    };
    journal.commit(lake, new).await?;
    journal.delete_old(lake).await?;
    Ok((journal, rows))
}

/// Writes the rows of `journal`'s old files in time order into new files
/// (see [`compact_day`]); returns the rows and the new files.
async fn rewrite(
    ctx: &SessionContext,
    lake: &LakeLocation,
    journal: &Journal,
    rows_per_file: usize,
) -> Result<(usize, Vec<String>)> {
    let base = lake.store_url.as_str().trim_end_matches('/');
    let urls: Vec<String> = journal.old.iter().map(|path| format!("{base}/{path}")).collect();
    // Files written before a column existed read it as null; the writer fills it in.
    let schema = file_schema();
    let rows = ctx
        .read_parquet(urls, ParquetReadOptions::default().schema(&schema))
        .await?
        .sort(vec![ident("TimeGenerated").sort(true, false)])?;
    let mut stream = rows.execute_stream().await?;
    let mut writer = PartitionWriter::new(lake);
    let mut cuts = BinCuts::new(rows_per_file);
    let mut written = 0;
    while let Some(batch) = stream.next().await {
        for file in cuts.push(batch?)? {
            writer.write(file, Some(&journal.file_stem(written))).await?;
            written += 1;
        }
    }
    if let Some(file) = cuts.rest() {
        writer.write(file, Some(&journal.file_stem(written))).await?;
    }
    Ok((writer.rows, writer.written()))
}

/// Cuts rows in time order into files of at least `rows` rows, each cut
/// where a 5-minute bin ([`COUNT_BIN`]) ends, so that no bin spans two files.
struct BinCuts {
    rows: usize,
    file: Vec<RecordBatch>,
    in_file: usize,
    /// The bin of the file's last row.
    last_bin: i64,
}

impl BinCuts {
    fn new(rows: usize) -> Self {
        Self { rows: rows.max(1), file: Vec::new(), in_file: 0, last_bin: 0 }
    }

    /// Takes the next rows; returns the files they complete.
    fn push(&mut self, mut batch: RecordBatch) -> Result<Vec<Vec<RecordBatch>>> {
        let mut done = Vec::new();
        while batch.num_rows() > 0 {
            let times = batch
                .column_by_name("TimeGenerated")
                .and_then(|times| times.as_primitive_opt::<TimestampMicrosecondType>())
                .ok_or_else(|| Error::Lake { lake: "lake schema".into(), reason: "no TimeGenerated column".into() })?;
            let bins: Vec<i64> = times.values().iter().map(|t| t.div_euclid(COUNT_BIN)).collect();
            // Rows up to `full` fill the file; it ends with the bin of the last of them.
            let full = self.rows.saturating_sub(self.in_file);
            let cut = match full {
                _ if full > bins.len() => None,
                0 => Some(self.last_bin),
                _ => Some(bins[full - 1]),
            }
            .and_then(|last| (full..bins.len()).find(|&i| bins[i] != last));
            let taken = cut.unwrap_or(bins.len());
            if taken > 0 {
                self.file.push(batch.slice(0, taken));
                self.in_file += taken;
                self.last_bin = bins[taken - 1];
            }
            batch = batch.slice(taken, batch.num_rows() - taken);
            if cut.is_some() {
                done.push(std::mem::take(&mut self.file));
                self.in_file = 0;
            }
        }
        Ok(done)
    }

    /// The last file's rows, if any.
    fn rest(&mut self) -> Option<Vec<RecordBatch>> {
        (self.in_file > 0).then(|| std::mem::take(&mut self.file))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::TimestampMicrosecondArray;
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;

    fn batch(minutes: &[i64]) -> RecordBatch {
        let schema = Schema::new(vec![Field::new(
            "TimeGenerated",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        )]);
        let times = TimestampMicrosecondArray::from(minutes.iter().map(|m| m * 60_000_000).collect::<Vec<_>>())
            .with_timezone("UTC");
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(times)]).unwrap()
    }

    fn minutes(file: &[RecordBatch]) -> Vec<i64> {
        file.iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<TimestampMicrosecondType>()
                    .values()
                    .iter()
                    .map(|t| t / 60_000_000)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn files_end_where_a_bin_ends() {
        let mut cuts = BinCuts::new(3);
        // Minutes 0-4 are one bin, 5-9 the next.
        let mut files = cuts.push(batch(&[0, 1, 2, 3, 5, 6])).unwrap();
        files.extend(cuts.push(batch(&[7, 9, 10, 10, 11])).unwrap());
        files.extend(cuts.rest());
        let files: Vec<Vec<i64>> = files.iter().map(|f| minutes(f)).collect();
        assert_eq!(files, vec![vec![0, 1, 2, 3], vec![5, 6, 7, 9], vec![10, 10, 11]]);
    }

    #[test]
    fn a_bin_that_runs_past_a_batch_stays_in_one_file() {
        let mut cuts = BinCuts::new(2);
        let mut files = cuts.push(batch(&[0, 1])).unwrap();
        assert!(files.is_empty());
        files.extend(cuts.push(batch(&[2, 4])).unwrap());
        files.extend(cuts.push(batch(&[4, 5])).unwrap());
        files.extend(cuts.rest());
        let files: Vec<Vec<i64>> = files.iter().map(|f| minutes(f)).collect();
        assert_eq!(files, vec![vec![0, 1, 2, 4, 4], vec![5]]);
    }
}

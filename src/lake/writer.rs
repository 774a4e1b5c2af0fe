//! Writes batches of events into the hive-partitioned lake: external
//! sources first (the busiest bins of sources first), then by time, one file per
//! UTC date, zstd, page index, statistics where they prune (see
//! [`WITHOUT_STATISTICS`]). Each file appears whole or not at all, and
//! existing files are never overwritten.

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int64Array, RecordBatch, TimestampMicrosecondArray,
    UInt32Array, UInt64Array, make_array,
};
use arrow::compute::{concat, take};
use arrow::datatypes::{Int32Type, Int64Type, SchemaRef, TimestampMicrosecondType, UInt32Type, UInt64Type};
use arrow::error::ArrowError;
use datafusion::common::HashMap;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, WriteMultipart};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::compute_leaves;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::lake::location::LakeLocation;
use crate::lake::manifest;
use crate::lake::schema::{
    BIN_PORT_EVENTS, COUNT_BIN, EXTERNAL, EXTERNAL_SENTINEL, PARTITION_COLUMN, SCHEMA_VERSION, SOURCE_BIN, SOURCE_KEY,
};
use crate::time::{DAY, utc_date, utc_day};

/// Rows per Parquet data page: small enough for page-index pruning by time.
const PAGE_ROWS: usize = 16 * 1024;

/// Rows per row group.
const ROW_GROUP_ROWS: usize = 256 * 1024;
/// Files larger than this are uploaded in parts of this size.
const MULTIPART_BYTES: usize = 32 * 1024 * 1024;

/// The position of `column` in the lake's file schema, for Parquet's `sorting_columns`.
fn index_of(column: &str) -> i32 {
    crate::lake::schema::file_schema().index_of(column).map_or(-1, |i| i as i32)
}

/// What a producer hands the writer.
#[derive(Debug)]
pub enum Message {
    /// Rows to store, in pieces (parts of the input parsed side by side).
    /// `name` makes the files' names deterministic (a rerun after a crash
    /// then rewrites them instead of storing them twice); without it files
    /// are named by UUIDv7.
    Rows {
        /// The rows, in input order.
        pieces: Vec<RecordBatch>,
        /// File name stem (`part-<name>.parquet` in each date folder).
        name: Option<String>,
    },
    /// An input is complete: record it in the manifest with the files written
    /// since the last `Done`, then delete the files it replaces.
    Done {
        /// The manifest entry (its `files` are filled in by the writer).
        entry: Box<manifest::Entry>,
        /// Files of an earlier generation of the same input (`--force`).
        replaces: Vec<String>,
    },
}

/// Columns written without statistics (min, max, null count, per row group
/// and per page). Their values change from event to event, so in files kept
/// in time order every row group and page spans nearly all of them and the
/// statistics would let a reader skip nothing; computing them took about a
/// tenth of ingest's CPU. Time, the external-source flags and the columns
/// that name the reporter (the same across a source's file) keep theirs:
/// those are what the rule, `--from`/`--to` and per-source hunts skip by.
const WITHOUT_STATISTICS: [&str; 23] = [
    "EventStartTime",
    "EventEndTime",
    "EventCount",
    "EventResult",
    "EventOriginalType",
    "SrcIpAddr",
    "SrcPortNumber",
    "DstIpAddr",
    "DstPortNumber",
    "NetworkProtocol",
    "NetworkDirection",
    "NetworkApplicationProtocol",
    "SrcHostname",
    "DstHostname",
    "SrcBytes",
    "DstBytes",
    "SrcPackets",
    "DstPackets",
    "SrcUsername",
    "SrcProcessName",
    "SrcIpV4",
    "SrcIpV6Hi",
    "SrcIpV6Lo",
];

/// Writes event batches into a lake's partitions.
pub struct PartitionWriter {
    store: Arc<dyn ObjectStore>,
    table: Path,
    props: WriterProperties,
    /// Files written so far.
    pub files: usize,
    /// Rows written so far.
    pub rows: usize,
    /// Bytes written so far.
    pub bytes: usize,
    /// Partitions (dates) written to.
    pub partitions: BTreeSet<String>,
    /// Files already present with the name a write would give (an earlier, interrupted run wrote them).
    pub existing: usize,
    /// Files written (or found) since the last completed input.
    current: Vec<String>,
    /// Bytes per row of the last file encoded, to size the next one's buffer.
    bytes_per_row: Option<f64>,
    lake: LakeLocation,
}

impl PartitionWriter {
    /// A writer into `lake`'s event table.
    pub fn new(lake: &LakeLocation) -> Self {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_data_page_row_count_limit(PAGE_ROWS)
            .set_write_batch_size(PAGE_ROWS.min(8 * 1024))
            .set_sorting_columns(Some(vec![
                SortingColumn { column_idx: index_of(BIN_PORT_EVENTS), descending: true, nulls_first: false },
                SortingColumn { column_idx: index_of(EXTERNAL_SENTINEL), descending: true, nulls_first: false },
                SortingColumn { column_idx: index_of(EXTERNAL), descending: true, nulls_first: false },
                // Then time, but not recorded: the reader's time ranges prune by the page statistics.
            ]))
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "scanlake.schema_version".to_string(),
                SCHEMA_VERSION.to_string(),
            )]));
        // Times, counters and the numeric address columns are nearly unique
        // per row: a dictionary would fill up and be dropped in every row
        // group, after hashing each value. They are written plain.
        let props = [
            "TimeGenerated",
            "EventStartTime",
            "EventEndTime",
            "SrcBytes",
            "DstBytes",
            "SrcPackets",
            "DstPackets",
            "SrcIpV4",
            "SrcIpV6Hi",
            "SrcIpV6Lo",
            SOURCE_KEY,
        ]
        .into_iter()
        .fold(props, |props, column| props.set_column_dictionary_enabled(ColumnPath::from(column), false));
        // The source key prunes nothing, but its null count per row group
        // tells the rule that the file stores it (see `scope::lake_files`).
        let props = [SOURCE_KEY, SOURCE_BIN].into_iter().fold(props, |props, column| {
            props.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::Chunk)
        });
        // Start and end times: the difference from the row before takes a
        // few bits (the rows are in time order), where plain values leave
        // zstd 8 bytes a row to squeeze. Files are about 4 % smaller.
        // TimeGenerated stays plain: the rule reads it. zstd does not shrink
        // the differences any further (it made them 0.02 % larger), so they
        // are stored as they are, and cost no compression or decompression.
        let props = ["EventStartTime", "EventEndTime"].into_iter().fold(props, |props, column| {
            props
                .set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED)
                .set_column_compression(ColumnPath::from(column), Compression::UNCOMPRESSED)
        });
        let props = WITHOUT_STATISTICS
            .into_iter()
            .fold(props, |props, column| {
                props.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None)
            })
            .build();
        Self {
            store: lake.store.clone(),
            table: lake.table_path(),
            props,
            files: 0,
            rows: 0,
            bytes: 0,
            partitions: BTreeSet::new(),
            existing: 0,
            current: Vec::new(),
            bytes_per_row: None,
            lake: lake.clone(),
        }
    }

    /// Handles one message from the producer.
    pub async fn handle(&mut self, message: Message) -> Result<()> {
        match message {
            Message::Rows { pieces, name } => self.write(pieces, name.as_deref()).await,
            Message::Done { mut entry, replaces } => {
                entry.files = self.written();
                for old in replaces.iter().filter(|f| !entry.files.contains(f)) {
                    self.lake.delete_if_present(&Path::from(old.as_str())).await?;
                }
                manifest::write(&self.lake, &entry).await
            }
        }
    }

    /// The files written (or found written) since the last completed input; takes them.
    pub fn written(&mut self) -> Vec<String> {
        std::mem::take(&mut self.current)
    }

    /// Writes one new file per UTC date of the rows in `pieces`, in
    /// storage order (see [`storage_order`]): the rule reads only external
    /// sources; this way whole row groups and pages hold none, and their
    /// statistics let readers skip them.
    pub async fn write(&mut self, pieces: Vec<RecordBatch>, name: Option<&str>) -> Result<()> {
        if pieces.iter().all(|p| p.num_rows() == 0) {
            return Ok(());
        }
        let pieces = with_sources(pieces)?;
        let counts = BinCounts::of(&pieces)?;
        let pieces = counts.filled_in(pieces)?;
        let (order, days) = storage_order(&pieces, Some(&counts.descending()))?;
        let rows = Ordered::new(&pieces, order)?;
        // The pieces' memory is free for the next rows while these are encoded.
        drop(pieces);
        for (day, range) in days {
            self.write_file(&utc_date(day * DAY), &rows, range, name).await?;
        }
        Ok(())
    }

    async fn write_file(&mut self, date: &str, rows: &Ordered, range: Range<usize>, name: Option<&str>) -> Result<()> {
        let count = range.len();
        // Room for the file at once: a buffer that grows copies itself, and
        // one much too large (over 32 MiB) is taken from fresh pages.
        let capacity = match self.bytes_per_row {
            Some(bytes) => (bytes * 1.05 * count as f64) as usize + 64 * 1024,
            None => rows.memory_size() / rows.len() * count / 6,
        };
        let mut buffer = Vec::with_capacity(capacity);
        encode(&mut buffer, rows, range, &self.props)?;
        self.bytes_per_row = Some(buffer.len() as f64 / count as f64);
        let name = match name {
            Some(stem) => format!("part-{stem}.parquet"),
            None => format!("part-{}.parquet", uuid::Uuid::now_v7()),
        };
        let path = self.table.clone().join(format!("{PARTITION_COLUMN}={date}")).join(name);
        self.current.push(path.to_string());
        let bytes = buffer.len();
        if bytes <= MULTIPART_BYTES {
            // `Create` never replaces an object; the store makes the write atomic
            // (a staged file renamed into place locally, a single PUT on S3).
            let put = self.store.put_opts(&path, PutPayload::from(buffer), PutOptions::from(PutMode::Create)).await;
            if let Err(object_store::Error::AlreadyExists { .. }) = put {
                // The same input, batch and date: an interrupted run (or a
                // concurrent one) stored these very rows already.
                tracing::debug!(%path, "already in the lake");
                self.existing += 1;
                self.partitions.insert(date.to_string());
                return Ok(());
            }
            put?;
        } else {
            // A multipart upload is invisible until completed; a same-named
            // object holds the same rows, so replacing it changes nothing.
            let upload = self.store.put_multipart_opts(&path, Default::default()).await?;
            let mut parts = WriteMultipart::new_with_chunk_size(upload, MULTIPART_BYTES);
            parts.write(&buffer);
            parts.finish().await?;
        }
        tracing::debug!(%path, rows = count, bytes, "wrote lake file");
        self.files += 1;
        self.rows += count;
        self.bytes += bytes;
        self.partitions.insert(date.to_string());
        Ok(())
    }
}

/// Each UTC day (days since 1970) of a batch's rows, with the range of the
/// storage order that holds them.
type Days = Vec<(i64, Range<usize>)>;

/// The positions (across `pieces`) of the rows in storage order: by UTC
/// day (one file each); then, given the `bin_counts` (the distinct
/// [`BIN_PORT_EVENTS`], the highest first), the external rows (those with a
/// [`SOURCE_KEY`]) by that column, the highest first, then the other rows;
/// then by `SrcIsExternalSentinel`, then `SrcIsExternal` (true, false,
/// null); then by time; then by position, so that the same rows always
/// give the same files. Also each day and the range of the order that
/// holds its rows. One packed integer per row sorts much faster than a
/// tuple.
///
/// The rule reads whole rows (addresses, reporters) only of the bins with
/// enough port events to alert, found by [`BIN_PORT_EVENTS`]: stored
/// first, those fill a few pages instead of a few rows of every page, and
/// the reader skips the rest unread. Rows of one count stay in time order,
/// so time ranges still prune the pages of the rest.
fn storage_order(pieces: &[RecordBatch], bin_counts: Option<&[u32]>) -> Result<(UInt32Array, Days)> {
    // A count's place among the distinct ones (fewer than 2^17 in 2^32 rows:
    // a count c takes c rows) takes 23 bits; the other rows come after them.
    const NOT_COUNTED: u128 = (1 << 23) - 1;
    let mut keys = Vec::with_capacity(pieces.iter().map(RecordBatch::num_rows).sum());
    for piece in pieces {
        let rows = OrderColumns::of(piece)?;
        let base = keys.len();
        keys.extend(rows.times.values().iter().enumerate().map(|(i, &t)| {
            // The day fits 32 bits for any i64 time; flipping the sign bit keeps the order.
            let day = (utc_day(t) as i32 as u32 ^ 0x8000_0000) as u128;
            let busy = match bin_counts {
                Some(counts) if rows.keys.is_valid(i) => {
                    let count = rows.bin_counts.value(i);
                    counts.partition_point(|&c| c > count) as u128
                }
                Some(_) => NOT_COUNTED,
                None => 0,
            };
            let (sentinel, external) = rows.ranks(i);
            // The time of day takes 37 bits (32 to 68).
            let time_of_day = t.rem_euclid(DAY) as u128;
            day << 96 | busy << 73 | sentinel << 71 | external << 69 | time_of_day << 32 | (base + i) as u128
        }));
    }
    keys.par_sort_unstable();
    let day = |key: u128| i64::from(((key >> 96) as u32 ^ 0x8000_0000) as i32);
    let mut days = Days::new();
    for (i, &key) in keys.iter().enumerate() {
        match days.last_mut() {
            Some((d, range)) if *d == day(key) => range.end = i + 1,
            _ => days.push((day(key), i..i + 1)),
        }
    }
    let order = UInt32Array::from(keys.into_par_iter().map(|key| key as u32).collect::<Vec<_>>());
    Ok((order, days))
}

/// The columns of a piece that decide its rows' storage order and counts.
struct OrderColumns<'b> {
    times: &'b TimestampMicrosecondArray,
    sentinel: &'b BooleanArray,
    external: &'b BooleanArray,
    /// [`SOURCE_KEY`]: set for the external rows (see [`with_sources`]).
    keys: &'b UInt64Array,
    /// [`SOURCE_BIN`]: set with the keys.
    bins: &'b Int64Array,
    /// [`BIN_PORT_EVENTS`]: set with the keys (see [`BinCounts::filled_in`]).
    bin_counts: &'b UInt32Array,
    ports: &'b Int32Array,
}

impl<'b> OrderColumns<'b> {
    fn of(piece: &'b RecordBatch) -> Result<Self> {
        Ok(Self {
            times: lake_column(piece, "TimeGenerated", |c| c.as_primitive_opt::<TimestampMicrosecondType>())?,
            sentinel: lake_column(piece, EXTERNAL_SENTINEL, |c| c.as_boolean_opt())?,
            external: lake_column(piece, EXTERNAL, |c| c.as_boolean_opt())?,
            keys: lake_column(piece, SOURCE_KEY, |c| c.as_primitive_opt::<UInt64Type>())?,
            bins: lake_column(piece, SOURCE_BIN, |c| c.as_primitive_opt::<Int64Type>())?,
            bin_counts: lake_column(piece, BIN_PORT_EVENTS, |c| c.as_primitive_opt::<UInt32Type>())?,
            ports: lake_column(piece, "DstPortNumber", |c| c.as_primitive_opt::<Int32Type>())?,
        })
    }

    /// Row `i`'s ranks by `SrcIsExternalSentinel` and by `SrcIsExternal`: 0 true, 1 false, 2 null.
    fn ranks(&self, i: usize) -> (u128, u128) {
        let rank = |flags: &BooleanArray| if flags.is_null(i) { 2 } else { u128::from(!flags.value(i)) };
        (rank(self.sentinel), rank(self.external))
    }
}

/// `pieces` with [`SOURCE_KEY`] and [`SOURCE_BIN`] set in the rows of
/// sources external under either profile: the rule's numeric key (the IPv4
/// address, else the low 64 bits of the IPv6 one, else 0) and the row's
/// 5-minute bin.
fn with_sources(pieces: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    pieces
        .into_iter()
        .map(|piece| {
            let rows = OrderColumns::of(&piece)?;
            let v4 = lake_column(&piece, "SrcIpV4", |c| c.as_primitive_opt::<UInt32Type>())?;
            let v6_lo = lake_column(&piece, "SrcIpV6Lo", |c| c.as_primitive_opt::<UInt64Type>())?;
            let key = |i: usize| match (v4.is_valid(i), v6_lo.is_valid(i)) {
                (true, _) => u64::from(v4.value(i)),
                (false, true) => v6_lo.value(i),
                (false, false) => 0,
            };
            let external = |i: usize| {
                let (sentinel, external) = rows.ranks(i);
                sentinel == 0 || external == 0
            };
            let keys: UInt64Array = (0..piece.num_rows()).map(|i| external(i).then(|| key(i))).collect();
            let bins: Int64Array =
                (0..piece.num_rows()).map(|i| external(i).then(|| rows.times.value(i).div_euclid(COUNT_BIN))).collect();
            let piece = replaced(piece, SOURCE_KEY, Arc::new(keys))?;
            replaced(piece, SOURCE_BIN, Arc::new(bins))
        })
        .collect()
}

/// `piece` with its column `name` replaced by `values`.
fn replaced(piece: RecordBatch, name: &str, values: ArrayRef) -> Result<RecordBatch> {
    let schema = piece.schema();
    let mut columns = piece.columns().to_vec();
    columns[schema.index_of(name)?] = values;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// A file's external rows (under either profile) with a destination port,
/// counted per source (the rule's numeric key) and 5-minute bin, and
/// stored with each row ([`BIN_PORT_EVENTS`]). A bin with more than 50
/// distinct ports in the lake has, in one of the n files whose events span
/// it, more than 50 / n events with a port, so the rule finds the bins that
/// can alert by reading the rows above that count, and skips the pages
/// below it (see `detect::Skipping`).
struct BinCounts {
    /// (source, bin number since 1970) → events with a port.
    per_bin: HashMap<(u64, i64), u32>,
}

impl BinCounts {
    /// The counts of `pieces`, whose sources are set (see [`with_sources`]).
    fn of(pieces: &[RecordBatch]) -> Result<Self> {
        let mut per_bin: HashMap<(u64, i64), u32> = HashMap::new();
        for piece in pieces {
            let rows = OrderColumns::of(piece)?;
            for (i, (key, bin)) in rows.keys.iter().zip(rows.bins.iter()).enumerate() {
                if let (Some(key), Some(bin)) = (key, bin) {
                    *per_bin.entry((key, bin)).or_default() += u32::from(rows.ports.is_valid(i));
                }
            }
        }
        Ok(Self { per_bin })
    }

    /// The distinct counts, the highest first.
    fn descending(&self) -> Vec<u32> {
        let mut counts: Vec<u32> = self.per_bin.values().copied().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        counts.dedup();
        counts
    }

    /// `pieces` with [`BIN_PORT_EVENTS`] set where the sources are.
    fn filled_in(&self, pieces: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        pieces
            .into_iter()
            .map(|piece| {
                let rows = OrderColumns::of(&piece)?;
                let counts: UInt32Array = rows
                    .keys
                    .iter()
                    .zip(rows.bins.iter())
                    .map(|(key, bin)| Some(self.per_bin.get(&(key?, bin?)).copied().unwrap_or(0)))
                    .collect();
                replaced(piece, BIN_PORT_EVENTS, Arc::new(counts))
            })
            .collect()
    }
}

/// `batch`'s rows in storage order (see [`storage_order`]), with each
/// one's position in `batch`. A part of an input parsed on another thread
/// is put in order there, while its rows are still in that core's cache:
/// the writer, putting the parts' rows in order again, then reads each
/// part from start to end instead of all over memory (the rows of a time
/// come from one part or two), which costs it much less. Constant columns
/// are kept as they are.
pub fn sorted(batch: &RecordBatch) -> Result<(RecordBatch, UInt32Array)> {
    // Busy sources are ranked where the parts are put together, by the file's counts.
    let (order, _) = storage_order(std::slice::from_ref(batch), None)?;
    let columns = batch
        .columns()
        .iter()
        .map(|column| match constant(column.as_ref()) {
            Some(_) => Ok(column.clone()),
            None => take(column, &order, None),
        })
        .collect::<Result<Vec<_>, ArrowError>>()?;
    Ok((RecordBatch::try_new(batch.schema(), columns)?, order))
}

/// The column `name` of `batch` as the lake's type (`as_type` gives it).
fn lake_column<'b, T: ?Sized>(
    batch: &'b RecordBatch,
    name: &str,
    as_type: impl FnOnce(&'b dyn Array) -> Option<&'b T>,
) -> Result<&'b T> {
    batch.column_by_name(name).and_then(|c| as_type(c.as_ref())).ok_or_else(|| not_of_lake_type(name))
}

fn not_of_lake_type(column: &str) -> Error {
    Error::Lake { lake: "lake schema".into(), reason: format!("no {column} column of the lake's type") }
}

/// The rows of a batch's pieces in storage order. Each column's pieces
/// are put together once (cheap); a column is reordered only as it is
/// encoded, a row group at a time, so the reordered values are encoded
/// while still in cache and the batch is never held twice. A column that
/// holds one value (or none) throughout, like the constant columns of a
/// source, is neither put together nor reordered: a row group's worth of
/// its value serves every row group.
struct Ordered {
    schema: SchemaRef,
    columns: Vec<Column>,
    /// Positions in the columns of the rows in storage order.
    order: UInt32Array,
}

/// A column of [`Ordered`].
enum Column {
    /// The column whole, in the pieces' order.
    Whole(ArrayRef),
    /// The one value, repeated for a row group.
    Constant(ArrayRef),
}

impl Ordered {
    /// `pieces` in `order` (positions across the pieces); a column per task on rayon's pool.
    fn new(pieces: &[RecordBatch], order: UInt32Array) -> Result<Self> {
        let repeat = UInt32Array::from(vec![0; order.len().min(ROW_GROUP_ROWS)]);
        let columns = (0..pieces[0].num_columns())
            .into_par_iter()
            .map(|c| {
                let arrays: Vec<&dyn Array> =
                    pieces.iter().map(|p| p.column(c).as_ref()).filter(|a| !a.is_empty()).collect();
                let constants: Option<Vec<Option<Vec<u8>>>> = arrays.iter().map(|a| constant(*a)).collect();
                Ok(match (constants, arrays.as_slice()) {
                    (Some(values), _) if values.iter().all(|v| *v == values[0]) => {
                        Column::Constant(take(arrays[0], &repeat, None)?)
                    }
                    (_, [one]) => Column::Whole(make_array(one.to_data())),
                    _ => Column::Whole(concat(&arrays)?),
                })
            })
            .collect::<Result<Vec<_>, ArrowError>>()?;
        Ok(Self { schema: pieces[0].schema(), columns, order })
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    fn memory_size(&self) -> usize {
        self.columns.iter().map(|c| if let Column::Whole(whole) = c { whole.get_array_memory_size() } else { 0 }).sum()
    }

    /// Column `index`'s values for the rows `range` of the storage order (at most a row group).
    fn column(&self, index: usize, range: Range<usize>) -> Result<ArrayRef, ArrowError> {
        match &self.columns[index] {
            Column::Constant(value) => Ok(value.slice(0, range.len())),
            Column::Whole(whole) => take(whole, &self.order.slice(range.start, range.len()), None),
        }
    }
}

/// `Some` when every row of `column` holds the same value: `Some(None)` when
/// all are null, `Some(Some(bytes))` when all hold a value with these bytes
/// (checked for text and fixed-width columns without nulls).
fn constant(column: &dyn Array) -> Option<Option<Vec<u8>>> {
    if column.null_count() == column.len() {
        return Some(None);
    }
    if column.null_count() > 0 {
        return None;
    }
    if let Some(text) = column.as_string_opt::<i32>() {
        // Every value as long as the first, and the bytes repeating with
        // that period: two passes the compiler vectorises, not a call per row.
        let first = text.value(0).as_bytes();
        let offsets = text.value_offsets();
        let width = first.len() as i32;
        let evenly = offsets.windows(2).fold(true, |even, pair| even & (pair[1] - pair[0] == width));
        let bytes = &text.values()[offsets[0] as usize..offsets[offsets.len() - 1] as usize];
        return (evenly && repeats(bytes, first.len())).then(|| Some(first.to_vec()));
    }
    let width = column.data_type().primitive_width()?;
    let data = column.to_data();
    let start = data.offset() * width;
    let bytes = data.buffers().first()?.as_slice().get(start..start + data.len() * width)?;
    let first = bytes.get(..width)?;
    repeats(bytes, width).then(|| Some(first.to_vec()))
}

/// True when `bytes` (at least `period` long) repeat with that period: one
/// comparison of the buffer with itself shifted (vectorised), not one per value.
fn repeats(bytes: &[u8], period: usize) -> bool {
    bytes[period..] == bytes[..bytes.len() - period]
}

/// Encodes the rows `range` of `rows` as Parquet into `buffer`: every
/// column chunk of every row group on rayon's pool at once (so no core
/// waits for a row group's slowest column while the producer goes on
/// parsing), then the chunks appended in order.
fn encode(buffer: &mut Vec<u8>, rows: &Ordered, range: Range<usize>, props: &WriterProperties) -> Result<()> {
    let fields = rows.schema.fields();
    // A column holding one value throughout (a source's vendor, product,
    // event type) is written plain: zstd squeezes the repeats to nothing,
    // while a dictionary would hash every row's value to find it is the one
    // it already holds.
    let props = rows
        .columns
        .iter()
        .zip(fields)
        .filter(|(column, _)| matches!(column, Column::Constant(value) if value.null_count() == 0))
        .fold(props.clone().into_builder(), |props, (_, field)| {
            props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false)
        })
        .build();
    // ArrowWriter sets up the file (the Arrow schema goes into its metadata); the row groups are ours.
    let (mut file, factory) =
        ArrowWriter::try_new(buffer, rows.schema.clone(), Some(props))?.into_serialized_writer()?;
    let mut work = Vec::new();
    for (index, start) in range.clone().step_by(ROW_GROUP_ROWS).enumerate() {
        let group = start..(start + ROW_GROUP_ROWS).min(range.end);
        let writers = factory.create_column_writers(index)?;
        // One leaf per column: the lake's columns are flat.
        if writers.len() != fields.len() {
            return Err(Error::Lake { lake: "lake schema".into(), reason: "nested columns are not supported".into() });
        }
        work.push(
            writers.into_iter().enumerate().map(|(column, writer)| (writer, column, group.clone())).collect::<Vec<_>>(),
        );
    }
    let row_groups = work
        .into_par_iter()
        .map(|columns| {
            columns
                .into_par_iter()
                .map(|(mut writer, column, group)| {
                    let values = rows.column(column, group)?;
                    for leaf in compute_leaves(&fields[column], &values)? {
                        writer.write(&leaf)?;
                    }
                    writer.close()
                })
                .collect::<parquet::errors::Result<Vec<_>>>()
        })
        .collect::<parquet::errors::Result<Vec<_>>>()?;
    for chunks in row_groups {
        let mut row_group = file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
    }
    file.close()?;
    Ok(())
}

/// Runs `produce` on a blocking thread, writing every batch it sends into
/// the lake as it arrives (parsing and encoding overlap). Returns what
/// `produce` returned and the writer, for its counts.
pub async fn write_from<T, F>(lake: &LakeLocation, produce: F) -> Result<(T, PartitionWriter)>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<Message>) -> Result<T> + Send + 'static,
{
    // Two batches may wait: while the writer does the parts of a file that
    // run on one core (putting its row groups together, storing it), the
    // producer goes on parsing on the other instead of waiting to hand over.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(2);
    let producer = tokio::task::spawn_blocking(move || produce(tx));
    let mut writer = PartitionWriter::new(lake);
    let mut write_error = None;
    while let Some(message) = rx.recv().await {
        if let Err(e) = writer.handle(message).await {
            write_error = Some(e);
            break;
        }
    }
    // Closing the channel stops the producer at its next batch.
    drop(rx);
    let produced = producer.await.map_err(|e| Error::Lake { lake: lake.display.clone(), reason: e.to_string() })?;
    if let Some(e) = write_error {
        return Err(e);
    }
    Ok((produced?, writer))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    use arrow::array::{Array, RecordBatch};
    use arrow::compute::{concat_batches, take_record_batch};

    use super::*;
    use crate::lake::schema::{SessionBatchBuilder, SessionRow, TIME_GENERATED_INDEX};

    /// Rows over two days, from every kind of source (external, private,
    /// none, IPv6), with equal times, cut into three pieces.
    fn pieces() -> Vec<RecordBatch> {
        let sources = ["198.51.100.1", "10.0.0.1", "not an address", "2001:db8::1", "8.8.8.8", "192.168.1.1"];
        let mut builder = SessionBatchBuilder::default();
        let mut out = Vec::new();
        for i in 0..300i64 {
            let row = SessionRow {
                // Out of order, across midnight, many equal times.
                time_generated: 19_832 * DAY + ((i * 7_919) % 50 - 25) * 3_600_000_000 / 10,
                src_ip_addr: Some(Cow::Borrowed(sources[(i % 6) as usize])),
                dst_port_number: Some((i % 97) as i32),
                // Constant in each piece, not across them.
                event_vendor: Some(Cow::Borrowed(if i < 250 { "Zeek" } else { "AWS" })),
                ..Default::default()
            };
            builder.append(&row);
            if i == 99 || i == 249 {
                out.push(builder.finish());
            }
        }
        out.push(builder.finish());
        out
    }

    /// `pieces` with their keys and bin counts, as the writer stores them.
    fn counted(pieces: Vec<RecordBatch>) -> Vec<RecordBatch> {
        let pieces = keyed(pieces);
        BinCounts::of(&pieces).expect("counts").filled_in(pieces).expect("filled")
    }

    fn keyed(pieces: Vec<RecordBatch>) -> Vec<RecordBatch> {
        with_sources(pieces).expect("sources")
    }

    #[test]
    fn each_external_row_holds_its_source_s_key_bin_and_port_events_in_its_bin() {
        let mut builder = SessionBatchBuilder::default();
        let mut row = |second: i64, source: &'static str, port: Option<i32>| {
            builder.append(&SessionRow {
                time_generated: 19_832 * DAY + second * 1_000_000,
                src_ip_addr: Some(Cow::Borrowed(source)),
                dst_port_number: port,
                ..Default::default()
            });
        };
        row(0, "198.51.100.1", Some(1));
        row(299, "198.51.100.1", Some(2)); // the same bin
        row(300, "198.51.100.1", Some(3)); // the next bin
        row(10, "198.51.100.1", None); // no port: counted by nobody, holds its bin's count
        row(20, "::ffff:198.51.100.1", Some(4)); // IPv4-mapped: the same key
        row(30, "10.0.0.1", Some(5)); // internal: null
        row(40, "2001:db8::1", Some(6)); // external under the sentinel profile only
        let pieces = keyed(vec![builder.finish()]);
        let pieces = BinCounts::of(&pieces).expect("counts").filled_in(pieces).expect("filled");
        let column = pieces[0].column_by_name(BIN_PORT_EVENTS).expect("column").as_primitive::<UInt32Type>();
        let values: Vec<Option<u32>> = column.iter().collect();
        assert_eq!(values, [Some(3), Some(3), Some(1), Some(3), Some(3), None, Some(1)]);
        let bins = pieces[0].column_by_name(SOURCE_BIN).expect("column").as_primitive::<Int64Type>();
        let bins: Vec<Option<i64>> = bins.iter().collect();
        let bin = 19_832 * DAY / COUNT_BIN;
        assert_eq!(bins, [Some(bin), Some(bin), Some(bin + 1), Some(bin), Some(bin), None, Some(bin)]);
        let keys = pieces[0].column_by_name(SOURCE_KEY).expect("column").as_primitive::<UInt64Type>();
        let v4 = u64::from(u32::from(std::net::Ipv4Addr::new(198, 51, 100, 1)));
        let keys: Vec<Option<u64>> = keys.iter().collect();
        assert_eq!(keys, [Some(v4), Some(v4), Some(v4), Some(v4), Some(v4), None, Some(1)]);
    }

    #[test]
    fn the_external_rows_of_the_busiest_bins_come_first_then_time() {
        let mut builder = SessionBatchBuilder::default();
        let mut row = |minute: i64, source: &'static str| {
            let time_generated = 19_832 * DAY + minute * 60_000_000;
            builder.append(&SessionRow {
                time_generated,
                src_ip_addr: Some(Cow::Borrowed(source)),
                dst_port_number: Some(80),
                ..Default::default()
            });
        };
        row(0, "198.51.100.1"); // quiet, external: 1 event in its bin
        for _ in 0..3 {
            row(11, "203.0.113.9"); // busier, external: 3 events in a bin
        }
        for _ in 0..60 {
            row(5, "10.0.0.1"); // busy, internal
        }
        row(1, "203.0.113.9"); // its quiet bin: 1 event
        let batch = counted(vec![builder.finish()]).remove(0);
        let (order, _) = storage_order(std::slice::from_ref(&batch), Some(&[3, 1])).expect("order");
        let first: Vec<u32> = order.values()[..5].to_vec();
        assert_eq!(first, [1, 2, 3, 0, 64], "203.0.113.9's busy bin, then the quiet bins in time order");
        let (order, _) = storage_order(std::slice::from_ref(&batch), None).expect("order");
        assert_eq!(order.values()[..5].to_vec(), [0, 64, 1, 2, 3], "by time alone");
    }

    #[test]
    fn constant_columns_are_recognised() {
        use arrow::array::{Int32Array, StringArray};
        let text = |values: &[Option<&str>]| StringArray::from(values.to_vec());
        let bytes = |v: &str| Some(Some(v.as_bytes().to_vec()));
        assert_eq!(constant(&text(&[Some("Zeek"), Some("Zeek"), Some("Zeek")])), bytes("Zeek"));
        assert_eq!(constant(&text(&[Some(""), Some("")])), bytes(""));
        assert_eq!(constant(&text(&[None, None])), Some(None));
        assert_eq!(constant(&text(&[Some("ab"), Some("ba")])), None);
        assert_eq!(constant(&text(&[Some("a"), Some("aa")])), None);
        assert_eq!(constant(&text(&[Some("aa"), Some("a"), Some("a")])), None);
        assert_eq!(constant(&text(&[Some("x"), None])), None);
        // A slice: only its own rows count.
        assert_eq!(constant(&text(&[Some("y"), Some("x"), Some("x")]).slice(1, 2)), bytes("x"));
        assert_eq!(constant(&Int32Array::from(vec![1, 1, 1])), Some(Some(1i32.to_le_bytes().to_vec())));
        assert_eq!(constant(&Int32Array::from(vec![1, 2, 1])), None);
        assert_eq!(constant(&Int32Array::from(vec![1, 1, 2])), None);
        assert_eq!(constant(&Int32Array::from(vec![7])), Some(Some(7i32.to_le_bytes().to_vec())));
        // 0x0101 and 0x01010101: equal bytes, a different value each.
        assert_eq!(constant(&Int32Array::from(vec![257, 16_843_009])), None);
        assert_eq!(constant(&Int32Array::from(vec![2, 1, 1]).slice(1, 2)), Some(Some(1i32.to_le_bytes().to_vec())));
        assert_eq!(constant(&Int32Array::from(vec![1, 1, 2]).slice(1, 2)), None);
    }

    #[test]
    fn pieces_are_stored_in_the_order_of_the_rows_put_together() {
        let pieces = counted(pieces());
        let whole = concat_batches(&pieces[0].schema(), &pieces).expect("concat");
        // The order, as a plain sort of (day, busy rank, sentinel rank,
        // default rank, time, position), the busy rank from the events with
        // a port of an external row's source address in its bin, the most
        // first, and the other rows after all external ones.
        let times = whole.column(TIME_GENERATED_INDEX).as_primitive::<TimestampMicrosecondType>();
        let flag = |name: &str| whole.column_by_name(name).expect("flag").as_boolean().clone();
        let (sentinel, external) = (flag(EXTERNAL_SENTINEL), flag(EXTERNAL));
        let rank = |f: &BooleanArray, i: usize| if f.is_null(i) { 2 } else { u8::from(!f.value(i)) };
        let source = whole.column_by_name("SrcIpAddr").expect("SrcIpAddr").as_string::<i32>().clone();
        let mut per_bin: BTreeMap<(&str, i64), usize> = BTreeMap::new();
        for i in 0..whole.num_rows() {
            *per_bin.entry((source.value(i), times.value(i).div_euclid(300_000_000))).or_default() += 1;
        }
        let busy = |i: usize| {
            let external = rank(&sentinel, i) == 0 || rank(&external, i) == 0;
            let events = per_bin[&(source.value(i), times.value(i).div_euclid(300_000_000))];
            if external { u32::MAX - 1 - events as u32 } else { u32::MAX }
        };
        let mut expected: Vec<(i64, u32, u8, u8, i64, u32)> = (0..whole.num_rows())
            .map(|i| {
                (utc_day(times.value(i)), busy(i), rank(&sentinel, i), rank(&external, i), times.value(i), i as u32)
            })
            .collect();
        expected.sort();
        assert!(expected.iter().any(|k| k.1 < u32::MAX - 2), "a source with more than one event in a bin");
        let counts = BinCounts::of(&pieces).expect("counts").descending();
        let (order, days) = storage_order(&pieces, Some(&counts)).expect("order");
        let positions = order.values().to_vec();
        assert_eq!(positions, expected.iter().map(|k| k.5).collect::<Vec<_>>());
        // One range per day, in order, covering every row.
        let day_of = |i: usize| utc_day(times.value(positions[i] as usize));
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].1.start, 0);
        assert_eq!(days[0].1.end, days[1].1.start);
        assert_eq!(days[1].1.end, whole.num_rows());
        for (day, range) in &days {
            assert!(range.clone().all(|i| day_of(i) == *day));
        }
        // Rows reordered from the pieces are those of the whole, reordered,
        // whatever part of the order is asked for.
        let reordered = take_record_batch(&whole, &order).expect("take");
        let rows = Ordered::new(&pieces, order).expect("ordered");
        for range in [0..whole.num_rows(), 17..250] {
            for c in 0..whole.num_columns() {
                let column = rows.column(c, range.clone()).expect("column");
                assert_eq!(column.as_ref(), reordered.column(c).slice(range.start, range.len()).as_ref(), "column {c}");
            }
        }
        // Both days, and both kinds of rank, are present.
        assert!(expected.first().unwrap().0 != expected.last().unwrap().0);
        assert!(expected.iter().any(|k| k.3 == 2) && expected.iter().any(|k| k.2 == 0));
    }
}

//! The lake's table: ASIM column names and Arrow types (SPEC section 2), plus
//! the derived columns that make the rule fast and exact, and the builder
//! every source adapter appends its rows to.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, AsArray, BooleanBuilder, Int32Builder, Int64Builder, RecordBatch, TimestampMicrosecondBuilder,
    UInt32Builder, UInt64Builder, new_null_array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::address;
use crate::lake::text_builder::TextBuilder;
use crate::time::Micros;

/// Name of the lake's event table, and of its folder in the lake.
pub const TABLE: &str = "network_session";
/// The hive partition column: the event's UTC date, `YYYY-MM-DD`.
pub const PARTITION_COLUMN: &str = "EventDate";
/// The lake format version, stored in every file's key-value metadata.
pub const SCHEMA_VERSION: &str = "1";
/// ASIM schema version written when a source does not name one.
pub const ASIM_SCHEMA_VERSION: &str = "0.2.6";

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let utf8 = |name: &str| Field::new(name, DataType::Utf8, true);
    let i32f = |name: &str| Field::new(name, DataType::Int32, true);
    let i64f = |name: &str| Field::new(name, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        Field::new("TimeGenerated", timestamp(), false),
        Field::new("EventStartTime", timestamp(), true),
        Field::new("EventEndTime", timestamp(), true),
        i32f("EventCount"),
        utf8("EventType"),
        utf8("EventResult"),
        utf8("EventVendor"),
        utf8("EventProduct"),
        utf8("EventOriginalType"),
        utf8("EventSchemaVersion"),
        utf8("Dvc"),
        utf8("DvcAction"),
        utf8("SrcIpAddr"),
        i32f("SrcPortNumber"),
        utf8("DstIpAddr"),
        i32f("DstPortNumber"),
        utf8("NetworkProtocol"),
        utf8("NetworkDirection"),
        utf8("NetworkApplicationProtocol"),
        utf8("SrcHostname"),
        utf8("DstHostname"),
        i64f("SrcBytes"),
        i64f("DstBytes"),
        i64f("SrcPackets"),
        i64f("DstPackets"),
        utf8("SrcUsername"),
        utf8("SrcProcessName"),
        // Derived from SrcIpAddr at ingest (documented in the README).
        Field::new("SrcIpV4", DataType::UInt32, true),
        Field::new("SrcIpV6Hi", DataType::UInt64, true),
        Field::new("SrcIpV6Lo", DataType::UInt64, true),
        Field::new("SrcIsExternal", DataType::Boolean, true),
        Field::new("SrcIsExternalSentinel", DataType::Boolean, false),
        // Filled by the lake writer, per file (see `writer::BinCounts`).
        Field::new(BIN_PORT_EVENTS, DataType::UInt32, true),
        Field::new(SOURCE_KEY, DataType::UInt64, true),
        Field::new(SOURCE_BIN, DataType::Int64, true),
    ]))
});

/// The schema of the lake's Parquet files (the partition column is not in
/// the files; it comes from the folder names).
pub fn file_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Index of `TimeGenerated` in [`file_schema`].
pub const TIME_GENERATED_INDEX: usize = 0;
/// The default profile's external-source flag.
pub const EXTERNAL: &str = "SrcIsExternal";
/// The sentinel profile's external-source flag.
pub const EXTERNAL_SENTINEL: &str = "SrcIsExternalSentinel";
/// Per row of an external source (under either profile): how many events
/// with a destination port the file holds of the row's source (the rule's
/// numeric key) in the row's 5-minute bin. Null for other rows, and in
/// files written before it existed.
pub const BIN_PORT_EVENTS: &str = "SrcBinPortEvents";
/// The bins of [`BIN_PORT_EVENTS`], in microseconds: the rule's default, 5
/// minutes, aligned to 00:00 UTC.
pub const COUNT_BIN: i64 = 5 * 60 * 1_000_000;
/// Per row of an external source (under either profile): the rule's
/// numeric key of the source, the IPv4 address, else the low 64 bits of the
/// IPv6 one, else 0. Null for other rows, and in files written before it
/// existed.
pub const SOURCE_KEY: &str = "SrcKey";
/// Per row of an external source (under either profile): its 5-minute bin
/// ([`COUNT_BIN`]) as a number since 1970 (`TimeGenerated / COUNT_BIN`,
/// rounded down). Null for other rows, and in files written before it
/// existed.
pub const SOURCE_BIN: &str = "SrcBin";

/// One network-session event as a source adapter produces it. Text borrows
/// from the input where it can. Addresses are canonicalised by the builder.
#[derive(Debug, Default, Clone)]
#[allow(missing_docs)]
pub struct SessionRow<'a> {
    pub time_generated: Micros,
    pub event_start_time: Option<Micros>,
    pub event_end_time: Option<Micros>,
    pub event_count: Option<i32>,
    pub event_type: Option<Cow<'a, str>>,
    pub event_result: Option<Cow<'a, str>>,
    pub event_vendor: Option<Cow<'a, str>>,
    pub event_product: Option<Cow<'a, str>>,
    pub event_original_type: Option<Cow<'a, str>>,
    pub event_schema_version: Option<Cow<'a, str>>,
    pub dvc: Option<Cow<'a, str>>,
    pub dvc_action: Option<Cow<'a, str>>,
    pub src_ip_addr: Option<Cow<'a, str>>,
    pub src_port_number: Option<i32>,
    pub dst_ip_addr: Option<Cow<'a, str>>,
    pub dst_port_number: Option<i32>,
    pub network_protocol: Option<Cow<'a, str>>,
    pub network_direction: Option<Cow<'a, str>>,
    pub network_application_protocol: Option<Cow<'a, str>>,
    pub src_hostname: Option<Cow<'a, str>>,
    pub dst_hostname: Option<Cow<'a, str>>,
    pub src_bytes: Option<i64>,
    pub dst_bytes: Option<i64>,
    pub src_packets: Option<i64>,
    pub dst_packets: Option<i64>,
    pub src_username: Option<Cow<'a, str>>,
    pub src_process_name: Option<Cow<'a, str>>,
}

impl SessionRow<'_> {
    /// The first text value longer than `limit` bytes: its column and length.
    pub fn oversized(&self, limit: usize) -> Option<(&'static str, usize)> {
        [
            ("EventType", &self.event_type),
            ("EventResult", &self.event_result),
            ("EventVendor", &self.event_vendor),
            ("EventProduct", &self.event_product),
            ("EventOriginalType", &self.event_original_type),
            ("EventSchemaVersion", &self.event_schema_version),
            ("Dvc", &self.dvc),
            ("DvcAction", &self.dvc_action),
            ("SrcIpAddr", &self.src_ip_addr),
            ("DstIpAddr", &self.dst_ip_addr),
            ("NetworkProtocol", &self.network_protocol),
            ("NetworkDirection", &self.network_direction),
            ("NetworkApplicationProtocol", &self.network_application_protocol),
            ("SrcHostname", &self.src_hostname),
            ("DstHostname", &self.dst_hostname),
            ("SrcUsername", &self.src_username),
            ("SrcProcessName", &self.src_process_name),
        ]
        .into_iter()
        .find_map(|(name, value)| value.as_ref().map(|v| v.len()).filter(|len| *len > limit).map(|len| (name, len)))
    }
}

/// Accumulates [`SessionRow`]s into Arrow columns of [`file_schema`].
pub struct SessionBatchBuilder {
    times: [TimestampMicrosecondBuilder; 3],
    event_count: Int32Builder,
    text: Vec<TextBuilder>,
    ports: [Int32Builder; 2],
    counters: [Int64Builder; 4],
    src_v4: UInt32Builder,
    src_v6: [UInt64Builder; 2],
    src_external: BooleanBuilder,
    src_external_sentinel: BooleanBuilder,
    len: usize,
}

impl Default for SessionBatchBuilder {
    fn default() -> Self {
        Self::with_capacity(0, &[0; TEXT_COLUMNS])
    }
}

/// Number of Utf8 columns in the order `append` and `finish` use.
const TEXT_COLUMNS: usize = 17;

impl SessionBatchBuilder {
    /// A builder with room for `rows` rows and `text_bytes[i]` bytes of
    /// text in the i-th text column, so that it never grows (growing copies
    /// the columns and makes the kernel clear fresh pages, again per batch).
    fn with_capacity(rows: usize, text_bytes: &[usize; TEXT_COLUMNS]) -> Self {
        let ts = || TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC");
        Self {
            times: [ts(), ts(), ts()],
            event_count: Int32Builder::with_capacity(rows),
            text: text_bytes.iter().map(|bytes| TextBuilder::with_capacity(rows, *bytes)).collect(),
            ports: std::array::from_fn(|_| Int32Builder::with_capacity(rows)),
            counters: std::array::from_fn(|_| Int64Builder::with_capacity(rows)),
            src_v4: UInt32Builder::with_capacity(rows),
            src_v6: std::array::from_fn(|_| UInt64Builder::with_capacity(rows)),
            src_external: BooleanBuilder::with_capacity(rows),
            src_external_sentinel: BooleanBuilder::with_capacity(rows),
            len: 0,
        }
    }

    /// A builder with room for `rows` rows like those of `like` (a batch
    /// of the same input, built here): its text columns in proportion.
    pub fn sized_like(like: &RecordBatch, rows: usize) -> Self {
        let mut text_bytes = [0; TEXT_COLUMNS];
        let texts = like.columns().iter().filter_map(|c| c.as_string_opt::<i32>());
        for (bytes, text) in text_bytes.iter_mut().zip(texts) {
            let offsets = text.value_offsets();
            let used = (offsets[offsets.len() - 1] - offsets[0]) as usize;
            *bytes = used * rows / like.num_rows().max(1) + used / 16;
        }
        Self::with_capacity(rows, &text_bytes)
    }

    /// Number of rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no row is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one event. EventStartTime and EventEndTime default to
    /// TimeGenerated and EventCount to 1 (SPEC section 2).
    pub fn append(&mut self, row: &SessionRow<'_>) {
        let t = row.time_generated;
        self.times[0].append_value(t);
        self.times[1].append_value(row.event_start_time.unwrap_or(t));
        self.times[2].append_value(row.event_end_time.unwrap_or(t));
        self.event_count.append_value(row.event_count.unwrap_or(1));

        let (src, parsed) = match row.src_ip_addr.as_deref().map(address::parse_canonical) {
            Some((text, parsed)) => (Some(text), Some(parsed)),
            None => (None, None),
        };
        let dst = row.dst_ip_addr.as_deref().map(address::canonical);
        let texts: [Option<&str>; TEXT_COLUMNS] = [
            row.event_type.as_deref(),
            row.event_result.as_deref(),
            row.event_vendor.as_deref(),
            row.event_product.as_deref(),
            row.event_original_type.as_deref(),
            Some(row.event_schema_version.as_deref().unwrap_or(ASIM_SCHEMA_VERSION)),
            row.dvc.as_deref(),
            row.dvc_action.as_deref(),
            src.as_deref(),
            dst.as_deref(),
            row.network_protocol.as_deref(),
            row.network_direction.as_deref(),
            row.network_application_protocol.as_deref(),
            row.src_hostname.as_deref(),
            row.dst_hostname.as_deref(),
            row.src_username.as_deref(),
            row.src_process_name.as_deref(),
        ];
        for (builder, value) in self.text.iter_mut().zip(texts) {
            builder.append_option(value);
        }
        self.ports[0].append_option(row.src_port_number);
        self.ports[1].append_option(row.dst_port_number);
        for (builder, value) in
            self.counters.iter_mut().zip([row.src_bytes, row.dst_bytes, row.src_packets, row.dst_packets])
        {
            builder.append_option(value);
        }

        self.src_v4.append_option(parsed.as_ref().and_then(|p| p.v4));
        let v6 = parsed.as_ref().and_then(|p| p.v6);
        self.src_v6[0].append_option(v6.map(|(hi, _)| hi));
        self.src_v6[1].append_option(v6.map(|(_, lo)| lo));
        self.src_external.append_option(parsed.as_ref().and_then(address::is_external_default));
        self.src_external_sentinel.append_value(match (&src, &parsed) {
            (Some(text), Some(p)) => address::is_external_sentinel(text, p),
            _ => false,
        });
        self.len += 1;
    }

    /// Builds a batch of the rows appended so far and resets the builder,
    /// with room for a batch like this one (the next is likely the same size).
    pub fn finish(&mut self) -> RecordBatch {
        let text_bytes: [usize; TEXT_COLUMNS] = std::array::from_fn(|i| self.text[i].bytes());
        let next = Self::with_capacity(self.len, &text_bytes);
        std::mem::replace(self, next).into_batch()
    }

    /// Builds a batch of the rows appended (none to follow).
    pub fn into_batch(mut self) -> RecordBatch {
        let mut text = self.text.iter_mut().map(TextBuilder::finish);
        let mut next_text = || text.next().expect("TEXT_COLUMNS text builders");
        let [t0, t1, t2] = &mut self.times;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(t0.finish()),
            Arc::new(t1.finish()),
            Arc::new(t2.finish()),
            Arc::new(self.event_count.finish()),
            next_text(), // EventType
            next_text(), // EventResult
            next_text(), // EventVendor
            next_text(), // EventProduct
            next_text(), // EventOriginalType
            next_text(), // EventSchemaVersion
            next_text(), // Dvc
            next_text(), // DvcAction
            next_text(), // SrcIpAddr
            Arc::new(self.ports[0].finish()),
            next_text(), // DstIpAddr
            Arc::new(self.ports[1].finish()),
            next_text(), // NetworkProtocol
            next_text(), // NetworkDirection
            next_text(), // NetworkApplicationProtocol
            next_text(), // SrcHostname
            next_text(), // DstHostname
            Arc::new(self.counters[0].finish()),
            Arc::new(self.counters[1].finish()),
            Arc::new(self.counters[2].finish()),
            Arc::new(self.counters[3].finish()),
            next_text(), // SrcUsername
            next_text(), // SrcProcessName
            Arc::new(self.src_v4.finish()),
            Arc::new(self.src_v6[0].finish()),
            Arc::new(self.src_v6[1].finish()),
            Arc::new(self.src_external.finish()),
            Arc::new(self.src_external_sentinel.finish()),
            // The writer fills these, once it has all of a file's rows.
            new_null_array(&DataType::UInt32, self.len),
            new_null_array(&DataType::UInt64, self.len),
            new_null_array(&DataType::Int64, self.len),
        ];
        RecordBatch::try_new(file_schema(), columns).expect("builder columns match the lake schema")
    }
}

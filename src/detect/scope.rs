//! `im_network_session`: the lake's events in scope for a detection, like
//! Sentinel's `_Im_NetworkSession(starttime, endtime, …)` parser function.
//! Every filter is a typed DataFusion expression built from validated
//! values; nothing a user types becomes SQL text.

use std::net::IpAddr;
use std::ops::Not;

use datafusion::common::{ScalarValue, Statistics};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::listing::{ListingTable, PartitionedFile};
use datafusion::functions::string::expr_fn::starts_with;
use datafusion::logical_expr::{Expr, ident, lit};
use datafusion::prelude::SessionContext;
use ipnet::IpNet;

use crate::detect::params::{Profile, RuleParams, SessionFilters, TimeRange};
use crate::error::Result;
use crate::lake::schema::{
    COUNT_BIN, EXTERNAL, EXTERNAL_SENTINEL, PARTITION_COLUMN, SOURCE_BIN, SOURCE_KEY, TABLE, TIME_GENERATED_INDEX,
    file_schema,
};
use crate::time::{Micros, utc_date};

/// Name of the scoped view the rule's SQL reads.
pub const VIEW: &str = "im_network_session";

/// What the lake's files in a time range tell the rule before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LakeFiles {
    /// The most files whose events one of the writer's 5-minute bins ([`COUNT_BIN`]) can
    /// hold, each spanning the bins from its first event to its last by its
    /// statistics; `None` when they do not say.
    pub per_bin: Option<usize>,
    /// Whether every file with external rows stores their `SrcKey` (files
    /// written before it existed do not).
    pub stored_keys: bool,
    /// The same for `SrcBin`.
    pub stored_bins: bool,
}

/// The lake's files in the days of `range`, as a scan lists them, with
/// their statistics; `None` if the lake table is not a listing of files.
pub async fn listed_files(ctx: &SessionContext, range: TimeRange) -> Result<Option<Vec<PartitionedFile>>> {
    let provider = ctx.table_provider(TABLE).await?;
    let Some(table) = provider.downcast_ref::<ListingTable>() else {
        return Ok(None);
    };
    let listed = table.list_files_for_scan(&ctx.state(), &date_filters(range), None).await?;
    Ok(Some(listed.file_groups.into_iter().flat_map(|group| group.into_inner()).collect()))
}

/// The lake's files in `range`, listed as the rule's scan lists them.
pub async fn lake_files(ctx: &SessionContext, range: TimeRange) -> Result<LakeFiles> {
    let unknown = LakeFiles { per_bin: None, stored_keys: false, stored_bins: false };
    let Some(listed) = listed_files(ctx, range).await? else {
        return Ok(unknown);
    };
    let files: Vec<&Statistics> = match listed.iter().map(|file| file.statistics.as_deref()).collect() {
        Some(files) => files,
        None => return Ok(unknown),
    };
    let stored_keys = files.iter().all(|file| stores(file, SOURCE_KEY));
    let stored_bins = files.iter().all(|file| stores(file, SOURCE_BIN));
    let per_bin = files.into_iter().map(time_span).collect::<Option<Vec<_>>>().map(most_per_bin);
    Ok(LakeFiles { per_bin, stored_keys, stored_bins })
}

/// The most of `spans` (first and last event times) that one of the
/// writer's 5-minute bins ([`COUNT_BIN`]) meets.
pub fn most_per_bin(spans: Vec<(Micros, Micros)>) -> usize {
    // +1 where a span's bins start, -1 after they end; at one bin the ends come first.
    let mut edges = Vec::with_capacity(2 * spans.len());
    for (first, last) in spans {
        edges.push((first.div_euclid(COUNT_BIN), 1));
        edges.push((last.div_euclid(COUNT_BIN) + 1, -1));
    }
    edges.sort_unstable();
    let (mut open, mut most) = (0_i64, 0_i64);
    for (_, edge) in edges {
        open += edge;
        most = most.max(open);
    }
    most as usize
}

/// The first and last event time of a lake file, by its statistics.
pub fn time_span(file: &Statistics) -> Option<(Micros, Micros)> {
    let column = file.column_statistics.get(TIME_GENERATED_INDEX)?;
    let micros = |value: Option<&ScalarValue>| match value {
        Some(ScalarValue::TimestampMicrosecond(Some(t), _)) => Some(*t),
        _ => None,
    };
    Some((micros(column.min_value.get_value())?, micros(column.max_value.get_value())?))
}

/// Whether a lake file, by its statistics, has `derived` (`SrcKey`,
/// `SrcBin`) for its external rows: a value in some row, or no external
/// row under either profile. A file without the column shows it as null in
/// every row.
fn stores(file: &Statistics, derived: &str) -> bool {
    let schema = file_schema();
    let column = |name: &str| schema.index_of(name).ok().and_then(|i| file.column_statistics.get(i));
    let rows = file.num_rows.get_value();
    let some_value = column(derived)
        .and_then(|values| values.null_count.get_value())
        .is_some_and(|nulls| rows.is_some_and(|rows| nulls < rows));
    let never_external = [EXTERNAL, EXTERNAL_SENTINEL].iter().all(|flag| {
        column(flag).is_some_and(|flags| matches!(flags.max_value.get_value(), Some(ScalarValue::Boolean(Some(false)))))
    });
    some_value || never_external
}

/// One exclusion and the expression that matches the events it removes.
pub struct Exclusion {
    /// How the user wrote it (`src 1.2.3.0/24`, `port 443`).
    pub label: String,
    /// True for the events it removes (never null).
    pub matches: Expr,
}

/// The events in time range and filters, with `SrcIsExternal` set by the
/// profile and the private additions, before exclusions.
pub async fn base(ctx: &SessionContext, params: &RuleParams) -> Result<DataFrame> {
    let mut df = ctx.table(TABLE).await?;
    for filter in range_filters(params.range).into_iter().chain(session_filters(&params.filters)) {
        df = df.filter(filter)?;
    }
    let flag = match params.profile {
        Profile::Default => ident("SrcIsExternal"),
        Profile::Sentinel => ident("SrcIsExternalSentinel"),
    };
    let external = match any(params.private.iter().map(cidr)) {
        Some(private) => flag.and(private.not()),
        None => flag,
    };
    Ok(df.with_column("SrcIsExternal", external)?)
}

/// The exclusions of `params`, each with its matching expression.
pub fn exclusions(params: &RuleParams) -> Vec<Exclusion> {
    let src = params.exclude_src.iter().map(|net| Exclusion { label: format!("source {net}"), matches: cidr(net) });
    let ports = params.exclude_ports.iter().map(|&port| Exclusion {
        label: format!("port {port}"),
        matches: ident("DstPortNumber").is_not_null().and(ident("DstPortNumber").eq(lit(i32::from(port)))),
    });
    src.chain(ports).collect()
}

/// [`base`] minus the exclusions: what the rule's SQL reads.
pub fn apply_exclusions(base: DataFrame, exclusions: &[Exclusion]) -> Result<DataFrame> {
    match any(exclusions.iter().map(|e| e.matches.clone())) {
        Some(excluded) => Ok(base.filter(excluded.not())?),
        None => Ok(base),
    }
}

fn timestamp(micros: Micros) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into())))
}

/// `[from, to)` on TimeGenerated, plus the same bounds on the partition
/// column so only the dates in range are listed and opened.
fn range_filters(range: TimeRange) -> Vec<Expr> {
    let mut filters = Vec::new();
    if let Some(from) = range.from {
        filters.push(ident("TimeGenerated").gt_eq(timestamp(from)));
    }
    if let Some(to) = range.to {
        filters.push(ident("TimeGenerated").lt(timestamp(to)));
    }
    filters.extend(date_filters(range));
    filters
}

/// The dates of `range`, as filters on the partition column.
fn date_filters(range: TimeRange) -> Vec<Expr> {
    let first = range.from.map(utc_date);
    let last = range.to.map(|to| utc_date(to - 1));
    match (first, last) {
        // One day: an equality, so only that day's folder is listed.
        (Some(first), Some(last)) if first == last => vec![ident(PARTITION_COLUMN).eq(lit(first))],
        (first, last) => first
            .map(|d| ident(PARTITION_COLUMN).gt_eq(lit(d)))
            .into_iter()
            .chain(last.map(|d| ident(PARTITION_COLUMN).lt_eq(lit(d))))
            .collect(),
    }
}

fn session_filters(f: &SessionFilters) -> Vec<Expr> {
    let prefixes =
        |column: &str, prefixes: &[String]| any(prefixes.iter().map(|p| starts_with(ident(column), lit(p.clone()))));
    let in_list = |column: &str, values: Vec<Expr>| (!values.is_empty()).then(|| ident(column).in_list(values, false));
    [
        prefixes("SrcIpAddr", &f.src_prefixes),
        prefixes("DstIpAddr", &f.dst_prefixes),
        in_list("DstPortNumber", f.dst_ports.iter().map(|&p| lit(i32::from(p))).collect()),
        in_list("DvcAction", f.dvc_actions.iter().map(|a| lit(a.clone())).collect()),
        f.event_result.as_ref().map(|r| ident("EventResult").eq(lit(r.clone()))),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// OR of `exprs`, `None` when there are none.
fn any(exprs: impl Iterator<Item = Expr>) -> Option<Expr> {
    exprs.reduce(Expr::or)
}

/// True when the source address is inside `net` (false, never null, when
/// the address is of the other family or missing). IPv4 networks also match
/// IPv4-mapped IPv6 sources, which the lake stores with their IPv4 value.
fn cidr(net: &IpNet) -> Expr {
    let between = |column: &str, lo: ScalarValue, hi: ScalarValue| {
        ident(column).is_not_null().and(ident(column).between(lit(lo), lit(hi)))
    };
    match (net.network(), net.broadcast()) {
        (IpAddr::V4(lo), IpAddr::V4(hi)) => {
            between("SrcIpV4", ScalarValue::UInt32(Some(lo.to_bits())), ScalarValue::UInt32(Some(hi.to_bits())))
        }
        (IpAddr::V6(lo), IpAddr::V6(hi)) => {
            let (lo, hi) = (lo.to_bits(), hi.to_bits());
            let (lo_hi, lo_lo, hi_hi, hi_lo) = ((lo >> 64) as u64, lo as u64, (hi >> 64) as u64, hi as u64);
            if net.prefix_len() <= 64 {
                between("SrcIpV6Hi", ScalarValue::UInt64(Some(lo_hi)), ScalarValue::UInt64(Some(hi_hi)))
            } else {
                ident("SrcIpV6Hi")
                    .is_not_null()
                    .and(ident("SrcIpV6Hi").eq(lit(ScalarValue::UInt64(Some(lo_hi)))))
                    .and(between("SrcIpV6Lo", ScalarValue::UInt64(Some(lo_lo)), ScalarValue::UInt64(Some(hi_lo))))
            }
        }
        _ => lit(false),
    }
}

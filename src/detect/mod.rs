//! Detection: the port-scan rule over the lake, with its profiles,
//! parameters and exclusions.

pub mod alert;
pub mod params;
pub mod scope;

use std::collections::HashMap;

use arrow::array::Array;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::{lit, when};
use datafusion::prelude::SessionContext;

use crate::engine::{QueryResult, run_sql};
use crate::error::{Error, Result};
use crate::lake::schema::COUNT_BIN;
pub use alert::Alert;
pub use params::{Profile, RuleParams, SessionFilters, TimeRange};

/// The shipped rule, embedded in the binary.
pub const PORT_SCAN_SQL: &str = include_str!("../../queries/port_scan.sql");

/// The rule's SQL and where it came from.
#[derive(Debug, Clone)]
pub struct RuleQuery {
    /// Name for messages (`port_scan.sql` or the user's file).
    pub name: String,
    /// The SQL text.
    pub sql: String,
}

impl Default for RuleQuery {
    fn default() -> Self {
        Self { name: "queries/port_scan.sql".into(), sql: PORT_SCAN_SQL.into() }
    }
}

/// The alerts and what it took to find them.
#[derive(Debug)]
pub struct Detection {
    /// One row per alert (SPEC section 4), ordered by bin then source.
    pub alerts: QueryResult,
    /// Each exclusion and the number of in-scope external events it removed.
    pub exclusions: Vec<(String, u64)>,
}

/// Runs `query` with `params` against the lake registered in `ctx`.
pub async fn detect(ctx: &SessionContext, query: &RuleQuery, params: &RuleParams) -> Result<Detection> {
    let base = scope::base(ctx, params).await?;
    let exclusions = scope::exclusions(params);
    let removed = count_exclusions(base.clone(), &exclusions).await?;
    let view = scope::apply_exclusions(base, &exclusions)?;
    // A session may run the rule more than once (reports run both profiles).
    ctx.deregister_table(scope::VIEW)?;
    ctx.register_table(scope::VIEW, view.into_view())?;
    crate::engine::session::tune_for_rule(ctx);
    let files = scope::lake_files(ctx, params.range).await?;
    let skip = Skipping::new(params, files.per_bin);
    tracing::debug!(?files, ?skip, "the lake's files, and what the rule's first pass skips");
    let alerts = run_sql(ctx, &query.name, &query.sql, Some(bind(params, &skip, &files)?)).await?;
    Ok(Detection { alerts, exclusions: exclusions.into_iter().map(|e| e.label).zip(removed).collect() })
}

/// What the rule's first pass may leave unread (`$part_min`, `$unseen_max`,
/// `$evidence_min` in its SQL). A part of a bin is what one lake file holds
/// of it in one of the writer's 5-minute bins; the writer stores each
/// part's count of events with a port in its rows (`SrcBinPortEvents`). If
/// a bin can have at most `n` parts and has more than `threshold` events
/// with a port, one part has more than `threshold / n`: the first pass
/// reads only the parts with at least `part_min = threshold / n + 1`, and
/// the others add at most `(n - 1) * (part_min - 1)` events to a bin.
#[derive(Debug, PartialEq)]
struct Skipping {
    part_min: u32,
    unseen_max: i64,
    /// `part_min` when a bin has one part, which then holds the whole bin;
    /// else 0: the evidence reads every part of the bins found.
    evidence_min: u32,
}

impl Skipping {
    /// `files`: the most lake files one writer bin draws on, if known.
    fn new(params: &RuleParams, files: Option<usize>) -> Self {
        let Some(files) = files else {
            return Self { part_min: 0, unseen_max: 0, evidence_min: 0 };
        };
        let (bin, writer_bin) = (params.bin.as_micros(), COUNT_BIN as u128);
        let writer_bins = if bin > 0 && writer_bin % bin == 0 {
            1 // inside one writer bin
        } else if bin % writer_bin == 0 {
            bin / writer_bin
        } else {
            bin.div_ceil(writer_bin) + 1
        };
        let parts = (files.max(1) as u128).saturating_mul(writer_bins);
        let part_min = u32::try_from(u128::from(params.threshold) / parts + 1).unwrap_or(u32::MAX);
        let unseen_max = i64::try_from((parts - 1).saturating_mul(u128::from(part_min - 1))).unwrap_or(i64::MAX);
        Self { part_min, unseen_max, evidence_min: if parts == 1 { part_min } else { 0 } }
    }
}

/// The SQL parameters of the rule.
fn bind(params: &RuleParams, skip: &Skipping, files: &scope::LakeFiles) -> Result<ParamValues> {
    let nanos = i64::try_from(params.bin.as_nanos())
        .map_err(|_| Error::parameter("bin", format!("{:?}", params.bin), "too long"))?;
    let bin = ScalarValue::new_interval_mdn(0, 0, nanos);
    if nanos % 1000 != 0 {
        return Err(Error::parameter("bin", format!("{:?}", params.bin), "not a whole number of microseconds"));
    }
    let values: HashMap<String, ScalarValue> = [
        ("threshold", ScalarValue::Int64(Some(i64::from(params.threshold)))),
        ("bin", bin),
        ("bin_micros", ScalarValue::Int64(Some(nanos / 1000))),
        ("max_ports", ScalarValue::Int64(Some(i64::from(params.max_ports)))),
        ("max_reporters", ScalarValue::Int64(Some(i64::from(params.max_reporters)))),
        ("profile", ScalarValue::Utf8(Some(params.profile.name().to_string()))),
        ("part_min", ScalarValue::UInt32(Some(skip.part_min))),
        ("unseen_max", ScalarValue::Int64(Some(skip.unseen_max))),
        ("evidence_min", ScalarValue::UInt32(Some(skip.evidence_min))),
        ("stored_keys", ScalarValue::Boolean(Some(files.stored_keys))),
        // The stored bins are the rule's only when its bins are the writer's.
        ("stored_bins", ScalarValue::Boolean(Some(files.stored_bins && nanos / 1000 == COUNT_BIN))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Ok(ParamValues::from(values))
}

/// How many external, in-scope events each exclusion matches.
async fn count_exclusions(base: datafusion::dataframe::DataFrame, exclusions: &[scope::Exclusion]) -> Result<Vec<u64>> {
    if exclusions.is_empty() {
        return Ok(Vec::new());
    }
    let counts = exclusions
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let one_if_removed = when(e.matches.clone(), lit(1_i64)).otherwise(lit(0_i64))?;
            Ok(sum(one_if_removed).alias(format!("x{i}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let batches =
        base.filter(datafusion::logical_expr::ident("SrcIsExternal"))?.aggregate(vec![], counts)?.collect().await?;
    let mut removed = vec![0; exclusions.len()];
    if let Some(batch) = batches.first() {
        for (i, slot) in removed.iter_mut().enumerate() {
            let column = batch.column(i);
            if let Some(values) = column.as_any().downcast_ref::<arrow::array::Int64Array>()
                && !values.is_empty()
                && values.is_valid(0)
            {
                *slot = values.value(0) as u64;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn skipping(threshold: u32, bin_seconds: u64, files: Option<usize>) -> (u32, i64, u32) {
        let params = RuleParams { threshold, bin: Duration::from_secs(bin_seconds), ..Default::default() };
        let skip = Skipping::new(&params, files);
        (skip.part_min, skip.unseen_max, skip.evidence_min)
    }

    #[test]
    fn the_first_pass_skips_parts_that_cannot_make_a_bin_alert() {
        // One file per bin: a bin is one part, read whole by both passes.
        assert_eq!(skipping(50, 300, Some(1)), (51, 0, 51));
        assert_eq!(skipping(50, 300, Some(0)), (51, 0, 51));
        // Two files: 51 events have a part of 26 or more; the other adds 25 at most.
        assert_eq!(skipping(50, 300, Some(2)), (26, 25, 0));
        assert_eq!(skipping(50, 300, Some(5)), (11, 40, 0));
        // A 10-minute bin is two writer bins; a 1-minute one lies inside one.
        assert_eq!(skipping(50, 600, Some(1)), (26, 25, 0));
        assert_eq!(skipping(50, 60, Some(1)), (51, 0, 51));
        // A 7-minute bin can touch three writer bins.
        assert_eq!(skipping(50, 420, Some(1)), (17, 32, 0));
        // More parts than the threshold: every part with a port event is read.
        assert_eq!(skipping(50, 300, Some(60)), (1, 0, 0));
        // Unknown: everything is read.
        assert_eq!(skipping(50, 300, None), (0, 0, 0));
    }
}

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
    let alerts = run_sql(ctx, &query.name, &query.sql, Some(bind(params)?)).await?;
    Ok(Detection { alerts, exclusions: exclusions.into_iter().map(|e| e.label).zip(removed).collect() })
}

/// The SQL parameters of the rule.
fn bind(params: &RuleParams) -> Result<ParamValues> {
    let nanos = i64::try_from(params.bin.as_nanos())
        .map_err(|_| Error::parameter("bin", format!("{:?}", params.bin), "too long"))?;
    let bin = ScalarValue::new_interval_mdn(0, 0, nanos);
    let values: HashMap<String, ScalarValue> = [
        ("threshold", ScalarValue::Int64(Some(i64::from(params.threshold)))),
        ("bin", bin),
        ("max_ports", ScalarValue::Int64(Some(i64::from(params.max_ports)))),
        ("max_reporters", ScalarValue::Int64(Some(i64::from(params.max_reporters)))),
        ("profile", ScalarValue::Utf8(Some(params.profile.name().to_string()))),
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

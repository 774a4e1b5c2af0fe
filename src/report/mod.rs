//! `scanlake report`: what the rule found over a time range, for people to
//! read or send on. [`gather`] collects the figures from the lake, [`charts`]
//! draws them as SVG, [`render`] fills the HTML or Markdown template.

pub mod charts;
pub mod render;

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimestampMicrosecondType};
use datafusion::functions_aggregate::expr_fn::{array_agg, count, count_distinct, max, min};
use datafusion::logical_expr::{ExprFunctionExt, ident, lit};
use datafusion::prelude::{SessionContext, in_list};
use serde::Serialize;

use crate::detect::{Alert, Profile, RuleParams, RuleQuery, scope};
use crate::engine::{self, EngineOptions};
use crate::error::Result;
use crate::lake::LakeLocation;
use crate::time::{Micros, format_utc};

/// Rows of the "top" tables.
const TOP: usize = 15;

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The lake, as the user named it.
    pub lake: String,
    /// Requested range start (RFC 3339) or "the beginning".
    pub from: String,
    /// Requested range end (RFC 3339) or "now".
    pub to: String,
    /// When the report was made.
    pub generated: String,
    /// Events in range.
    pub events: i64,
    /// Distinct sources in range.
    pub sources: i64,
    /// First and last event time in range.
    pub first_event: Option<String>,
    /// Last event time in range.
    pub last_event: Option<String>,
    /// The profile of the alert table.
    pub profile: &'static str,
    /// Alert counts by profile.
    pub alerts_by_profile: Vec<(&'static str, usize)>,
    /// Alerts of `profile`.
    pub alerts: Vec<Alert>,
    /// Sources with the most alerts.
    pub scanners: Vec<Scanner>,
    /// Ports listed by the most alerts.
    pub ports: Vec<(i64, usize)>,
    /// The rule's threshold and bin, for the captions.
    pub threshold: u32,
    /// Bin width, e.g. `5m`.
    pub bin: String,
}

/// One scanning source over the range.
#[derive(Debug, Clone, Serialize)]
pub struct Scanner {
    /// Its address.
    pub src: String,
    /// Host names the logs gave it (attacker-controlled text).
    pub hostnames: Vec<String>,
    /// Its alerts.
    pub alerts: usize,
    /// Most distinct ports in one bin.
    pub max_ports: i64,
    /// First alert bin.
    pub first: String,
    /// Last alert bin.
    pub last: String,
}

/// Runs the rule in both profiles over the range and collects the report's figures.
pub async fn gather(lake: &LakeLocation, engine: &EngineOptions, params: &RuleParams, now: Micros) -> Result<Report> {
    let ctx = engine::open(lake, engine).await?;
    let mut alerts_by_profile = Vec::new();
    let mut alerts = Vec::new();
    // The chosen profile last, so its view stays registered for the counts below.
    for profile in
        [Profile::Default, Profile::Sentinel].into_iter().filter(|p| *p != params.profile).chain([params.profile])
    {
        let run = RuleParams { profile, ..params.clone() };
        let query = RuleQuery::default();
        let detection = crate::detect::detect(&ctx, &query, &run).await?;
        let found = Alert::from_result(&detection.alerts, &query.name)?;
        alerts_by_profile.push((profile.name(), found.len()));
        alerts = found;
    }
    alerts_by_profile.sort();
    let (events, sources, first_event, last_event) = totals(&ctx).await?;
    let scanners = scanners(&ctx, &alerts).await?;
    Ok(Report {
        lake: lake.display.clone(),
        from: params.range.from.map_or_else(|| "the first event".into(), format_utc),
        to: params.range.to.map_or_else(|| "the last event".into(), format_utc),
        generated: format_utc(now),
        events,
        sources,
        first_event,
        last_event,
        profile: params.profile.name(),
        alerts_by_profile,
        ports: top_ports(&alerts),
        scanners,
        alerts,
        threshold: params.threshold,
        bin: humantime::format_duration(params.bin).to_string(),
    })
}

/// Events, distinct sources and first/last time of the scoped view.
async fn totals(ctx: &SessionContext) -> Result<(i64, i64, Option<String>, Option<String>)> {
    let batches = ctx
        .table(scope::VIEW)
        .await?
        .aggregate(
            vec![],
            vec![
                count(lit(1)).alias("events"),
                count_distinct(ident("SrcIpAddr")).alias("sources"),
                min(ident("TimeGenerated")).alias("first"),
                max(ident("TimeGenerated")).alias("last"),
            ],
        )?
        .collect()
        .await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else { return Ok((0, 0, None, None)) };
    let time = |i: usize| {
        let column = batch.column(i).as_primitive::<TimestampMicrosecondType>();
        column.is_valid(0).then(|| format_utc(column.value(0)))
    };
    Ok((int(batch, 0), int(batch, 1), time(2), time(3)))
}

fn int(batch: &RecordBatch, i: usize) -> i64 {
    batch.column(i).as_primitive::<Int64Type>().value(0)
}

/// The sources with the most alerts, with the host names the logs gave them.
async fn scanners(ctx: &SessionContext, alerts: &[Alert]) -> Result<Vec<Scanner>> {
    let mut by_src: BTreeMap<&str, Scanner> = BTreeMap::new();
    for alert in alerts {
        let entry = by_src.entry(&alert.src_ip_addr).or_insert_with(|| Scanner {
            src: alert.src_ip_addr.clone(),
            hostnames: Vec::new(),
            alerts: 0,
            max_ports: 0,
            first: alert.time_generated.clone(),
            last: alert.time_generated.clone(),
        });
        entry.alerts += 1;
        entry.max_ports = entry.max_ports.max(alert.attempted_ports_count);
        entry.last = alert.time_generated.clone();
    }
    let mut top: Vec<Scanner> = by_src.into_values().collect();
    top.sort_by(|a, b| b.alerts.cmp(&a.alerts).then(b.max_ports.cmp(&a.max_ports)).then(a.src.cmp(&b.src)));
    top.truncate(TOP);
    if top.is_empty() {
        return Ok(top);
    }
    // Host names: values bound as literals, never SQL text.
    let sources = top.iter().map(|s| lit(s.src.clone())).collect();
    let batches = ctx
        .table(scope::VIEW)
        .await?
        .filter(in_list(ident("SrcIpAddr"), sources, false).and(ident("SrcHostname").is_not_null()))?
        .aggregate(vec![ident("SrcIpAddr")], vec![array_agg(ident("SrcHostname")).distinct().build()?.alias("names")])?
        .collect()
        .await?;
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for batch in &batches {
        let src = cast(batch.column(0), &DataType::Utf8)?;
        let src = src.as_string::<i32>();
        let lists = batch.column(1).as_list::<i32>();
        for row in 0..batch.num_rows() {
            let values = cast(&lists.value(row), &DataType::Utf8)?;
            let mut found: Vec<String> = values.as_string::<i32>().iter().flatten().map(str::to_string).collect();
            found.sort();
            found.truncate(3);
            names.insert(src.value(row).to_string(), found);
        }
    }
    for scanner in &mut top {
        scanner.hostnames = names.remove(&scanner.src).unwrap_or_default();
    }
    Ok(top)
}

/// Ports by the number of alerts that list them.
fn top_ports(alerts: &[Alert]) -> Vec<(i64, usize)> {
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for port in alerts.iter().flat_map(|a| &a.attempted_ports) {
        *counts.entry(*port).or_default() += 1;
    }
    let mut ports: Vec<(i64, usize)> = counts.into_iter().collect();
    ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ports.truncate(TOP);
    ports
}

//! Running SQL read-only against the lake, and reporting what it scanned.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::ParamValues;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::context::SQLOptions;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};

/// What a query's plan reads from the lake.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanStats {
    /// Parquet files the plan opens.
    pub files: usize,
    /// Distinct partitions (dates) those files belong to.
    pub partitions: usize,
}

/// A query's result.
#[derive(Debug)]
pub struct QueryResult {
    /// The result schema (also when there are no rows).
    pub schema: SchemaRef,
    /// The result rows.
    pub batches: Vec<RecordBatch>,
    /// What the plan read.
    pub scan: ScanStats,
    /// The plan as it ran, a step per line with its rows, time and other
    /// metrics: what `EXPLAIN ANALYZE` shows. Text, so that the plan (and
    /// the hash tables its joins keep) is freed when the query ends.
    pub plan: String,
}

impl QueryResult {
    /// Number of result rows.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Runs one SQL statement with `params` bound. Statements that change
/// anything (DDL, DML, `SET`) are refused: hunting never alters the lake.
pub async fn run_sql(ctx: &SessionContext, name: &str, sql: &str, params: Option<ParamValues>) -> Result<QueryResult> {
    let read_only = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    let wrap = |e| Error::query(name, e);
    let mut df = ctx.sql_with_options(sql, read_only).await.map_err(wrap)?;
    if let Some(params) = params {
        df = df.with_param_values(params).map_err(wrap)?;
    }
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await.map_err(wrap)?;
    let scan = scan_stats(&plan);
    if plan.name() == "DistributedQueryExec" {
        tracing::info!("{name}: runs on the Ballista cluster");
    } else {
        tracing::info!("{name}: scans {} files in {} partitions", scan.files, scan.partitions);
    }
    let schema = plan.schema();
    let batches = collect(plan.clone(), task).await.map_err(wrap)?;
    let plan = DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true).to_string();
    Ok(QueryResult { schema, batches, scan, plan })
}

/// Counts the files (and their partitions) every file scan in `plan` reads.
pub fn scan_stats(plan: &Arc<dyn ExecutionPlan>) -> ScanStats {
    let mut files = BTreeSet::new();
    let mut partitions = BTreeSet::new();
    let mut stack = vec![plan.clone()];
    while let Some(node) = stack.pop() {
        if let Some(scan) = node.downcast_ref::<DataSourceExec>()
            && let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>()
        {
            for file in config.file_groups.iter().flat_map(|g| g.files()) {
                files.insert(file.object_meta.location.to_string());
                partitions.insert(format!("{:?}", file.partition_values));
            }
        }
        stack.extend(node.children().into_iter().cloned());
    }
    ScanStats { files: files.len(), partitions: partitions.len() }
}

//! The DataFusion session: configuration, memory limit, and the lake table.

use std::num::NonZeroUsize;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{Error, Result};
use crate::lake::check::damaged_files;
use crate::lake::location::LakeLocation;
use crate::lake::schema::{PARTITION_COLUMN, TABLE, file_schema};

const MIB: usize = 1 << 20;

/// How many of the biggest memory holders an out-of-memory error lists.
const TOP_CONSUMERS: NonZeroUsize = NonZeroUsize::new(5).unwrap();

/// Engine settings shared by every command that queries the lake.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Bound on DataFusion's memory pool in bytes; operators spill to disk beyond it.
    pub memory_limit: Option<usize>,
    /// Run queries on the Ballista cluster with this scheduler (`df://host:port`).
    pub scheduler: Option<String>,
    /// Check every lake file first and leave the damaged ones out.
    pub skip_bad_files: bool,
}

/// A session with the lake's event table registered as `network_session`.
pub async fn open(lake: &LakeLocation, options: &EngineOptions) -> Result<SessionContext> {
    // DATAFUSION_* environment variables tune the engine (e.g.
    // DATAFUSION_EXECUTION_TARGET_PARTITIONS=8); scanlake's settings below win.
    let config = SessionConfig::from_env()?
        .with_information_schema(true)
        // ASIM names are mixed case (`SrcIpAddr`): keep SQL identifiers as written.
        .set_bool("datafusion.sql_parser.enable_ident_normalization", false)
        // Joins keep the sides the SQL gives them: the rule puts its small
        // side (the scanners) first, as the hash join's in-memory build side,
        // which cannot spill; statistics could otherwise pick the events.
        .set_bool("datafusion.optimizer.join_reordering", false);
    // Filters evaluated while decoding (the external-source flag, and the
    // keys the joins of the rule push into the scans) mean other columns are
    // decoded only for rows that pass. Locally that is faster; on object
    // storage it turns one read of a column chunk into several smaller
    // requests, so there it stays off. A DATAFUSION_ variable decides if set.
    let pushdown = "datafusion.execution.parquet.pushdown_filters";
    let mut config =
        if env_sets(pushdown) { config } else { config.set_bool(pushdown, lake.store_url.scheme() == "file") };
    let mut runtime = runtime_builder();
    if let Some(bytes) = options.memory_limit {
        config = fit_to_memory_limit(config, bytes);
        // Tracked, so that a query that still runs out names the operators
        // holding the memory.
        let pool = TrackConsumersPool::new(FairSpillPool::new(bytes), TOP_CONSUMERS);
        runtime = runtime.with_memory_pool(Arc::new(pool));
    }
    let ctx = match &options.scheduler {
        None => SessionContext::new_with_config_rt(config.with_extension(Arc::new(LocalEngine)), runtime.build_arc()?),
        Some(scheduler) => remote(scheduler, config, runtime.build_arc()?).await?,
    };
    lake.check().await?;
    let compacting = crate::lake::journal::hide_unfinished(lake).await?;
    if compacting > 0 && options.scheduler.is_some() {
        // Executors list the lake themselves, past what this process hides.
        return Err(Error::Lake {
            lake: lake.display.clone(),
            reason: format!(
                "{compacting} days are being compacted, or a compaction was interrupted; a cluster would read \
                 them twice: wait, or run `scanlake compact` to finish it"
            ),
        });
    }
    if options.skip_bad_files {
        for (path, reason) in damaged_files(lake).await? {
            tracing::warn!("skipped damaged lake file {path}: {reason}");
            lake.store.hide(&path);
        }
    }
    // DataFusion reads the lake through the same (counting) store.
    ctx.register_object_store(&lake.store_url, lake.store.clone());
    register_lake(&ctx, lake)?;
    Ok(ctx)
}

/// `config` with the sizes that scale with memory set for a limit of
/// `bytes` (unless a `DATAFUSION_*` variable sets them): the batch size,
/// and the memory a sort keeps back to merge what it spilled, which is 10
/// MB by default, whatever the limit: at 16MB that alone can fail a query.
fn fit_to_memory_limit(mut config: SessionConfig, bytes: usize) -> SessionConfig {
    if !env_sets("datafusion.execution.batch_size") {
        config = config.with_batch_size(batch_size_for(bytes));
    }
    let merge = "datafusion.execution.sort_spill_reservation_bytes";
    if !env_sets(merge) {
        let default = config.options().execution.sort_spill_reservation_bytes;
        config = config.set_usize(merge, default.min(bytes / 32));
    }
    config
}

/// The batch size (rows) for a memory limit of `bytes`. On DataFusion 55 an
/// aggregation that replays its spill files reserves room for a spilled
/// batch, twice, in one go, and fails if that is more than one consumer's
/// fair share of the pool, however empty the pool is (BENCHMARKS.md, "What
/// the failure is"). So batches shrink with the limit, down from
/// DataFusion's default of 8192 rows. Measured on 100M rows over 30 days:
/// each size from the smallest limit at which it completed (512 rows at
/// 128MB; at 1024 that limit fails).
fn batch_size_for(bytes: usize) -> usize {
    const SMALLEST_LIMIT: [(usize, usize); 4] =
        [(1024 * MIB, 8192), (512 * MIB, 4096), (256 * MIB, 2048), (192 * MIB, 1024)];
    SMALLEST_LIMIT.iter().find(|&&(limit, _)| bytes >= limit).map_or(512, |&(_, rows)| rows)
}

/// The runtime every scanlake session starts from. DataFusion 55 caches
/// file listings by default: on its first query it lists the whole table,
/// every day of the lake, and serves later listings from memory without
/// ever looking again. A one-day hunt over a year's lake would list 365
/// folders (on S3, every object of the table) instead of one, and a
/// long-lived session would not see files ingested after it started. So
/// each query lists what its partition filters leave, when it runs.
pub fn runtime_builder() -> RuntimeEnvBuilder {
    RuntimeEnvBuilder::new().with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
}

/// Marks a session whose plans run in this process, not on a cluster.
struct LocalEngine;

/// Whether a `DATAFUSION_*` environment variable sets `key`; it then wins over scanlake's choice.
fn env_sets(key: &str) -> bool {
    std::env::var_os(key.replace('.', "_").to_uppercase()).is_some()
}

/// Settings that suit the rule's plan, for the session that runs it (unless
/// a `DATAFUSION_*` variable sets them):
/// - its joins have a small build side (candidate sources, scanners), so one
///   shared hash table beats one per partition, and the filter it pushes
///   into the scan of the events is a single lookup rather than one per
///   partition behind a hash of each row;
/// - when most sources are seen a few times only, a partial aggregation per
///   partition merges too little to pay for itself: it is skipped unless it
///   at least halves the rows (DataFusion's default: a fifth);
/// - with one partition per core, a core idles whenever its partition
///   waits (for a file read, for the other side of a join); two per core
///   keep the cores busier (on 2 cores: 165 % → 176 % CPU, the rule 3–5 %
///   faster, BENCHMARKS.md; DuckDB and Polars gain nothing from more
///   threads than cores). Only for the local engine: on a cluster the
///   partitions are its tasks, and this machine's cores say nothing of them.
pub fn tune_for_rule(ctx: &SessionContext) {
    let state = ctx.state_ref();
    let mut state = state.write();
    let local = state.config().get_extension::<LocalEngine>().is_some();
    let options = state.config_mut().options_mut();
    if !env_sets("datafusion.optimizer.repartition_joins") {
        options.optimizer.repartition_joins = false;
    }
    if !env_sets("datafusion.execution.skip_partial_aggregation_probe_ratio_threshold") {
        options.execution.skip_partial_aggregation_probe_ratio_threshold = 0.5;
    }
    if local && !env_sets("datafusion.execution.target_partitions") {
        options.execution.target_partitions = 2 * std::thread::available_parallelism().map_or(1, |n| n.get());
    }
}

/// Registers the lake's event table: hive partitions `EventDate=YYYY-MM-DD`,
/// only `*.parquet` files (staged writes are invisible), the lake schema.
fn register_lake(ctx: &SessionContext, lake: &LakeLocation) -> Result<()> {
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![(PARTITION_COLUMN.to_string(), DataType::Utf8)]);
    let config = ListingTableConfig::new(lake.table_url()?).with_listing_options(options).with_schema(file_schema());
    let table =
        ListingTable::try_new(config).map_err(|e| Error::Lake { lake: lake.display.clone(), reason: e.to_string() })?;
    ctx.register_table(TABLE, Arc::new(table))?;
    Ok(())
}

#[cfg(feature = "ballista")]
async fn remote(
    scheduler: &str,
    config: SessionConfig,
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
) -> Result<SessionContext> {
    crate::cluster::remote_context(scheduler, config, runtime).await
}

#[cfg(not(feature = "ballista"))]
async fn remote(
    scheduler: &str,
    _: SessionConfig,
    _: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
) -> Result<SessionContext> {
    Err(Error::parameter(
        "engine",
        "ballista",
        format!("this scanlake was built without the `ballista` feature ({scheduler})"),
    ))
}

/// `result`, with a failed query's error given the lake's name, or, when
/// damaged lake files explain it, replaced by one that names them.
pub async fn explained<T>(lake: &LakeLocation, result: Result<T>) -> Result<T> {
    match result {
        Err(error) => Err(explain(lake, error).await),
        ok => ok,
    }
}

async fn explain(lake: &LakeLocation, error: Error) -> Error {
    if !matches!(error, Error::Query { .. } | Error::DataFusion(_)) {
        return error;
    }
    match damaged_files(lake).await {
        Ok(damaged) if !damaged.is_empty() => {
            let names: Vec<String> = damaged.iter().map(|(path, reason)| format!("{path} ({reason})")).collect();
            Error::Lake {
                lake: lake.display.clone(),
                reason: format!("damaged lake files: {}; --skip-bad-files leaves them out", names.join(", ")),
            }
        }
        _ => Error::Lake { lake: lake.display.clone(), reason: error.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_partitions(ctx: &SessionContext) -> usize {
        tune_for_rule(ctx);
        ctx.state().config().target_partitions()
    }

    #[test]
    fn batches_shrink_with_the_memory_limit() {
        let sizes: Vec<usize> = [16, 128, 192, 256, 384, 512, 1024, 4096].map(|m| batch_size_for(m * MIB)).into();
        assert_eq!(sizes, [512, 512, 1024, 2048, 2048, 4096, 8192, 8192]);
        assert_eq!(batch_size_for(usize::MAX), SessionConfig::new().batch_size(), "DataFusion's default");
    }

    #[test]
    fn the_rule_runs_two_partitions_per_core_on_the_local_engine_only() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let lake = LakeLocation::parse(concat!(env!("CARGO_MANIFEST_DIR"), "/data/lake"), false, &Default::default())
            .expect("the sample lake");
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let local = runtime.block_on(open(&lake, &EngineOptions::default())).expect("a local session");
        assert_eq!(rule_partitions(&local), 2 * cores);
        // A session without the local engine's mark, as a cluster client's, keeps DataFusion's own.
        assert_eq!(rule_partitions(&SessionContext::new()), SessionConfig::new().target_partitions());
    }
}

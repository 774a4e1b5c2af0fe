//! What each subcommand does: turns parsed flags into library calls and
//! prints the results.

use std::time::Instant;

use std::path::PathBuf;

use crate::cli::{
    Command, CompactArgs, DetectArgs, GenerateArgs, IngestArgs, QueryArgs, RangeArgs, ReportArgs, RuleArgs, WatchArgs,
};
use crate::detect::{RuleParams, RuleQuery, SessionFilters, TimeRange};
use crate::engine;
use crate::error::{Error, Result};
use crate::generate::{self, GeneratorConfig};
use crate::ingest::{self, IngestOptions, asim::TimeRules};
use crate::lake::LakeLocation;
use crate::output::{self, OutputFormat};
use crate::report::render::ReportFormat;
use crate::settings::time_range;
use crate::watch::sinks::Sinks;
use crate::watch::{Schedule, Watch};

/// How a command ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Finished; nothing to signal.
    Done,
    /// `detect` finished with this many alerts.
    Alerts(usize),
}

/// Runs one command.
pub async fn run(command: Command) -> Result<Outcome> {
    match command {
        Command::Ingest(args) => ingest(args).await,
        Command::Detect(args) => detect(args).await,
        Command::Query(args) => query(args).await,
        Command::Watch(args) => watch(args).await,
        Command::Report(args) => report(args).await,
        Command::Compact(args) => compact(args).await,
        Command::Generate(args) => generate(args).await,
        #[cfg(feature = "ballista")]
        Command::Scheduler(args) => {
            crate::cluster::run_scheduler(args.bind, args.external_host, args.storage.options()).await?;
            Ok(Outcome::Done)
        }
        #[cfg(feature = "ballista")]
        Command::Executor(args) => executor(args).await,
    }
}

#[cfg(feature = "ballista")]
async fn executor(args: crate::cli::ExecutorArgs) -> Result<Outcome> {
    let (host, port) = args
        .scheduler
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| Error::parameter("scheduler", args.scheduler.clone(), "expected HOST:PORT"))?;
    let settings = crate::cluster::ExecutorSettings {
        scheduler: (host, port),
        external_host: args.external_host.or_else(|| Some(args.bind.clone())),
        bind_host: args.bind,
        port: args.port,
        grpc_port: args.grpc_port,
        concurrent_tasks: args
            .concurrent_tasks
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)),
        work_dir: args.work_dir,
    };
    crate::cluster::run_executor(settings, args.storage.options()).await?;
    Ok(Outcome::Done)
}

async fn ingest(args: IngestArgs) -> Result<Outcome> {
    let storage = args.lake.storage.options();
    let lake = LakeLocation::parse(&args.lake.lake, true, &storage)?;
    let options = IngestOptions {
        storage,
        format: args.format,
        rejects: args.rejects,
        times: TimeRules { utc_columns: args.utc_offset, local_columns: args.local_offset },
        rows_per_file: args.rows_per_file,
        force: args.force,
    };
    let started = Instant::now();
    let summary = ingest::ingest(&lake, &args.inputs, &options).await?;
    for (format, (inputs, counts)) in summary.by_format() {
        let skipped: Vec<String> = counts.skipped.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
        tracing::info!(
            "{format}: {inputs} inputs, {} read, {} accepted, {} rejected{}{}",
            counts.read(),
            counts.accepted,
            counts.rejected,
            if skipped.is_empty() { "" } else { ", skipped: " },
            skipped.join(", ")
        );
    }
    println!("{}", summary.line());
    tracing::info!("ingest took {:.2} s; lake store: {}", started.elapsed().as_secs_f64(), lake.store.counts());
    if summary.failed.is_empty() {
        Ok(Outcome::Done)
    } else {
        // Each failure was reported as it happened; the exit says how many.
        Err(Error::Input {
            input: format!("{} of {} inputs", summary.failed.len(), summary.attempted),
            reason: "could not be read completely (see the errors above); the rows read were kept".into(),
        })
    }
}

async fn compact(args: CompactArgs) -> Result<Outcome> {
    let lake = LakeLocation::parse(&args.lake.lake, false, &args.lake.storage.options())?;
    let options = crate::compact::CompactOptions {
        range: resolve_range(&args.range)?,
        rows_per_file: args.rows_per_file,
        memory_limit: args.memory_limit,
    };
    let started = Instant::now();
    let summary = crate::compact::compact(&lake, &options).await?;
    if summary.recovered > 0 {
        println!("{} interrupted compactions finished or undone", summary.recovered);
    }
    println!(
        "{} of {} days compacted: {} files → {} ({} rows)",
        summary.compacted, summary.days, summary.files_before, summary.files_after, summary.rows
    );
    if summary.unfinished_ingest > 0 {
        tracing::warn!(
            "{} files left as they are: an ingest that has not completed wrote them (run it again, then compact)",
            summary.unfinished_ingest
        );
    }
    tracing::info!("compact took {:.2} s; lake store: {}", started.elapsed().as_secs_f64(), lake.store.counts());
    Ok(Outcome::Done)
}

fn resolve_range(range: &RangeArgs) -> Result<TimeRange> {
    let now = range.now.unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
    time_range(range.from, range.to, range.since, now)
}

async fn detect(args: DetectArgs) -> Result<Outcome> {
    let lake = LakeLocation::parse(&args.lake.lake, false, &args.lake.storage.options())?;
    let params = rule_params(args.rule, resolve_range(&args.range)?);
    let query = rule_query(args.query)?;
    let started = Instant::now();
    let ctx = engine::open(&lake, &args.engine.options()).await?;
    let detection = engine::explained(&lake, crate::detect::detect(&ctx, &query, &params).await).await?;
    for (label, removed) in &detection.exclusions {
        tracing::info!("exclusion {label}: removed {removed} events");
    }
    let alerts = &detection.alerts;
    tracing::info!(
        "{} alerts (profile {}) in {:.2} s",
        alerts.rows(),
        params.profile.name(),
        started.elapsed().as_secs_f64()
    );
    tracing::info!("lake store: {}", lake.store.counts());
    let format = OutputFormat::choose(args.output.format, args.output.output.as_deref());
    output::write(&alerts.schema, &alerts.batches, format, args.output.output.as_deref())?;
    if args.explain {
        eprintln!("{}: the plan as it ran\n{}", query.name, alerts.plan);
    }
    Ok(if args.exit_code { Outcome::Alerts(alerts.rows()) } else { Outcome::Done })
}

/// The rule's parameters from its flags.
fn rule_params(rule: RuleArgs, range: TimeRange) -> RuleParams {
    RuleParams {
        profile: rule.profile,
        threshold: rule.threshold,
        bin: rule.bin,
        max_ports: rule.max_ports,
        max_reporters: rule.max_reporters,
        range,
        private: rule.private,
        exclude_src: rule.exclude_src,
        exclude_ports: rule.exclude_port,
        filters: SessionFilters {
            src_prefixes: rule.src_prefix,
            dst_prefixes: rule.dst_prefix,
            dst_ports: rule.dst_port,
            dvc_actions: rule.dvc_action,
            event_result: rule.event_result,
        },
    }
}

/// `--query FILE`, or the shipped rule.
fn rule_query(path: Option<PathBuf>) -> Result<RuleQuery> {
    Ok(match path {
        Some(path) => RuleQuery {
            name: path.display().to_string(),
            sql: std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?,
        },
        None => RuleQuery::default(),
    })
}

async fn watch(args: WatchArgs) -> Result<Outcome> {
    let lake = LakeLocation::parse(&args.lake.lake, false, &args.lake.storage.options())?;
    let watch = Watch {
        lake,
        engine: args.engine.options(),
        query: rule_query(args.query)?,
        params: rule_params(args.rule, TimeRange::default()),
        schedule: Schedule {
            every: args.every,
            lookback: args.lookback.unwrap_or(args.every),
            delay: args.delay.unwrap_or_default(),
            suppress: args.suppress,
            first_start: args.from,
        },
        state: args.state,
        sinks: Sinks {
            jsonl: args.jsonl,
            folder: args.alerts_dir,
            webhook: args.webhook,
            webhook_attempts: args.webhook_attempts,
            webhook_backoff: args.webhook_backoff,
        },
    };
    watch.validate()?;
    if !(args.once || args.now.is_some()) {
        watch.run_forever().await?;
        return Ok(Outcome::Done);
    }
    let now = args.now.unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
    let summary = watch.run_once(now).await?;
    println!(
        "{} new alerts ({} found, {} already emitted, {} suppressed{})",
        summary.emitted,
        summary.found,
        summary.repeated,
        summary.suppressed,
        if summary.recovered > 0 {
            format!(", {} delivered for an interrupted run", summary.recovered)
        } else {
            String::new()
        }
    );
    Ok(if args.exit_code { Outcome::Alerts(summary.emitted) } else { Outcome::Done })
}

async fn report(args: ReportArgs) -> Result<Outcome> {
    let lake = LakeLocation::parse(&args.lake.lake, false, &args.lake.storage.options())?;
    let now = args.range.now.unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
    let params = rule_params(args.rule, resolve_range(&args.range)?);
    let started = Instant::now();
    let engine = args.engine.options();
    let gathered = crate::engine::explained(&lake, crate::report::gather(&lake, &engine, &params, now).await).await?;
    let charts = crate::report::charts::draw(&gathered)?;
    let format = ReportFormat::choose(args.format, &args.output);
    crate::report::render::write(&gathered, &charts, format, &args.output, args.max_alerts)?;
    tracing::info!(
        "report of {} events, {} alerts written to {} in {:.2} s",
        gathered.events,
        gathered.alerts.len(),
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Done)
}

async fn query(args: QueryArgs) -> Result<Outcome> {
    let lake = LakeLocation::parse(&args.lake.lake, false, &args.lake.storage.options())?;
    let (name, sql) = match (&args.file, args.sql) {
        (Some(path), _) => (path.display().to_string(), std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?),
        (None, Some(sql)) => ("ad-hoc query".to_string(), sql),
        (None, None) => return Err(Error::parameter("SQL", "", "give the SQL or --file")),
    };
    let ctx = engine::open(&lake, &args.engine.options()).await?;
    let result = engine::explained(&lake, engine::run_sql(&ctx, &name, &sql, None).await).await?;
    tracing::info!("lake store: {}", lake.store.counts());
    let format = OutputFormat::choose(args.output.format, args.output.output.as_deref());
    output::write(&result.schema, &result.batches, format, args.output.output.as_deref())?;
    Ok(Outcome::Done)
}

async fn generate(args: GenerateArgs) -> Result<Outcome> {
    let config = GeneratorConfig {
        rows: args.rows,
        days: args.days,
        start: args.start,
        seed: args.seed,
        busy_sources: args.busy_sources,
    };
    let planted = match (&args.lake, &args.csv) {
        _ if args.zeek.is_some() => generate::write_zeek(&config, args.zeek.as_deref().unwrap_or("-".as_ref()))?,
        (_, Some(path)) => generate::write_csv(&config, path)?,
        (Some(lake), None) => {
            generate::write_lake(&config, &LakeLocation::parse(lake, true, &args.storage.options())?).await?
        }
        (None, None) => return Err(Error::parameter("output", "", "give --lake or --csv")),
    };
    tracing::info!("generated {} events with {planted} planted scenarios", config.rows);
    Ok(Outcome::Done)
}

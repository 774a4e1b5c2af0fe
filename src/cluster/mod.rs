//! Running on Apache DataFusion Ballista: the client side of `--engine
//! ballista`, and `scanlake scheduler` / `scanlake executor`, which are
//! Ballista 55's scheduler and executor with scanlake's object stores.
//!
//! The shipped queries use only DataFusion's built-in functions (the lake
//! stores the derived address columns), so any Ballista 55 executor can run
//! them; scanlake's own processes add only how the lake is reached.

pub mod stores;

use std::net::SocketAddr;
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use ballista_core::config::BALLISTA_ADAPTIVE_PLANNER_ENABLED;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{Error, Result};
use crate::lake::store::StorageOptions;
use stores::LakeStores;

/// A session whose queries run on the Ballista cluster at `scheduler`
/// (`df://host:port`), planned with `config`.
pub async fn remote_context(
    scheduler: &str,
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
) -> Result<SessionContext> {
    let state = SessionStateBuilder::new()
        .with_default_features()
        // Ballista 55's adaptive planner split the rule's aggregates between
        // tasks (a scanner's 120 ports came back as two alerts of 62 and 58,
        // others went missing); its static planner gives the local engine's
        // alerts exactly, and the cluster test holds it to that.
        .with_config(config.upgrade_for_ballista().set_bool(BALLISTA_ADAPTIVE_PLANNER_ENABLED, false))
        .with_runtime_env(runtime)
        .build();
    SessionContext::remote_with_state(scheduler, state)
        .await
        .map_err(|e| Error::Cluster { what: format!("scheduler {scheduler}"), reason: e.to_string() })
}

/// A runtime whose object stores are opened from `options` and the environment.
fn runtime(options: &StorageOptions) -> datafusion::error::Result<Arc<RuntimeEnv>> {
    crate::engine::session::runtime_builder()
        .with_object_store_registry(Arc::new(LakeStores::new(options.clone())))
        .build_arc()
}

/// Runs a Ballista scheduler on `bind` until the process ends.
pub async fn run_scheduler(bind: SocketAddr, external_host: Option<String>, options: StorageOptions) -> Result<()> {
    let builder_options = options.clone();
    let config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: external_host.unwrap_or_else(|| bind.ip().to_string()),
        ..SchedulerConfig::default()
    }
    .with_override_session_builder(Arc::new(move |config: SessionConfig| {
        let state = ballista_core::utils::default_session_builder(config)?;
        Ok(SessionStateBuilder::new_from_existing(state).with_runtime_env(runtime(&builder_options)?).build())
    }));
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(ballista_error)?;
    tracing::info!("Ballista scheduler listening on df://{bind}");
    start_server(cluster, bind, Arc::new(config)).await.map_err(ballista_error)
}

/// Where an executor listens and whom it serves.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// The scheduler's host and port.
    pub scheduler: (String, u16),
    /// Address to bind.
    pub bind_host: String,
    /// Arrow Flight port (shuffle data).
    pub port: u16,
    /// gRPC port (tasks).
    pub grpc_port: u16,
    /// Host name other processes reach this executor by.
    pub external_host: Option<String>,
    /// Tasks run at once.
    pub concurrent_tasks: usize,
    /// Folder for shuffle files.
    pub work_dir: Option<String>,
}

/// Runs a Ballista executor until the process ends.
pub async fn run_executor(settings: ExecutorSettings, options: StorageOptions) -> Result<()> {
    let config = ExecutorProcessConfig {
        scheduler_host: settings.scheduler.0.clone(),
        scheduler_port: settings.scheduler.1,
        bind_host: settings.bind_host.clone(),
        external_host: settings.external_host.clone(),
        port: settings.port,
        grpc_port: settings.grpc_port,
        vcores: settings.concurrent_tasks,
        work_dir: settings.work_dir.clone(),
        print_thread_info: false,
        override_runtime_producer: Some(Arc::new(move |_| runtime(&options))),
        override_function_registry: Some(Arc::new(functions())),
        ..ExecutorProcessConfig::default()
    };
    tracing::info!(
        "Ballista executor on {}:{} (flight) / {} (grpc), scheduler {}:{}",
        settings.bind_host,
        settings.port,
        settings.grpc_port,
        settings.scheduler.0,
        settings.scheduler.1
    );
    start_executor_process(Arc::new(config)).await.map_err(ballista_error)
}

/// The functions an executor can decode: Ballista's default registry lacks
/// DataFusion's nested (array) functions, which the rule's evidence columns
/// use (`array_slice`, `array_sort`, `array_distinct`).
fn functions() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    for f in ballista_core::extension::ballista_scalar_functions() {
        registry.scalar_functions.insert(f.name().to_string(), f);
    }
    for f in ballista_core::extension::ballista_aggregate_functions() {
        registry.aggregate_functions.insert(f.name().to_string(), f);
    }
    registry
}

fn ballista_error(e: ballista_core::error::BallistaError) -> Error {
    Error::Cluster { what: "process".into(), reason: e.to_string() }
}

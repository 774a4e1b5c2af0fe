//! scanlake: hunt port scans across months of archived network-session logs.
//!
//! Data flows sources → lake → engine → detections → output:
//! [`ingest`] turns logs into lake rows, [`lake`] stores them as
//! hive-partitioned Parquet, [`engine`] runs DataFusion SQL over them,
//! [`detect`] is the port-scan rule, and [`output`] prints the results.

pub mod address;
pub mod cli;
#[cfg(feature = "ballista")]
pub mod cluster;
pub mod commands;
pub mod compact;
pub mod detect;
pub mod engine;
pub mod error;
pub mod generate;
pub mod ingest;
pub mod lake;
pub mod output;
pub mod report;
pub mod settings;
pub mod time;
pub mod watch;

pub use commands::{Outcome, run};
pub use error::{Error, Result};

//! The query engine: DataFusion sessions over the lake and SQL execution.

pub mod run;
pub mod session;

pub use run::{QueryResult, ScanStats, run_sql};
pub use session::{EngineOptions, explained, open};

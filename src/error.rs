//! The library's error type: one enum, with the context a user needs to act.

use std::path::PathBuf;

/// Everything that can go wrong in scanlake, with the file, line, query or
/// parameter it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// An input could not be read as the format it was given or detected as.
    #[error("{input}: {reason}")]
    Input {
        /// The input (file name, or `-` for stdin).
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A command-line value or setting is invalid.
    #[error("invalid {name} `{value}`: {reason}")]
    Parameter {
        /// The flag or setting.
        name: &'static str,
        /// The value given.
        value: String,
        /// Why it is rejected.
        reason: String,
    },

    /// A query failed to plan or run.
    #[error("query {query}: {source}")]
    Query {
        /// Which query (file name or `ad-hoc`).
        query: String,
        /// The DataFusion error.
        source: Box<datafusion::error::DataFusionError>,
    },

    /// The lake could not be opened or is not a scanlake lake.
    #[error("lake {lake}: {reason}")]
    Lake {
        /// The lake location.
        lake: String,
        /// What is wrong.
        reason: String,
    },

    /// The Ballista cluster could not be reached or failed.
    #[error("Ballista {what}: {reason}")]
    Cluster {
        /// The process or address concerned (`scheduler df://host:port`).
        what: String,
        /// What went wrong.
        reason: String,
    },

    /// Apache Arrow failed (building batches, casting, writing text formats).
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),

    /// Parquet encoding failed.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),

    /// DataFusion failed outside a named query.
    #[error(transparent)]
    DataFusion(#[from] Box<datafusion::error::DataFusionError>),

    /// The object store failed.
    #[error(transparent)]
    ObjectStore(#[from] object_store::Error),
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::DataFusion(Box::new(e))
    }
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// An invalid parameter value.
    pub fn parameter(name: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Parameter { name, value: value.into(), reason: reason.into() }
    }

    /// A failure of the query named `query`.
    pub fn query(query: impl Into<String>, source: datafusion::error::DataFusionError) -> Self {
        Error::Query { query: query.into(), source: Box::new(source) }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

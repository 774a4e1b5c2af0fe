//! The Parquet lake: schema, location and partitioned writing.

pub mod location;
pub mod schema;
pub mod store;
pub mod writer;

pub use location::LakeLocation;

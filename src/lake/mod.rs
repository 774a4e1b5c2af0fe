//! The Parquet lake: schema, location and partitioned writing.

pub mod check;
pub mod journal;
pub mod location;
pub mod manifest;
pub mod schema;
pub mod store;
pub mod text_builder;
pub mod writer;

pub use location::LakeLocation;

//! Integration tests: they drive the real `scanlake` binary.

mod cases;
#[cfg(feature = "ballista")]
mod cluster;
mod compact;
mod detect_edges;
mod formats;
mod http;
mod ingest;
mod reliability;
mod report;
mod s3;
mod sample;
mod scale;
mod sources;
mod support;
mod watch;

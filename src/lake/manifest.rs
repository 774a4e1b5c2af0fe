//! The lake's ingest manifest: one small JSON object per ingested input,
//! `<lake>/_ingest/<fingerprint>.json`, written after all of the input's
//! files. Its presence makes a second ingest of the same content a no-op.
//!
//! File names are derived from the fingerprint too (see [`file_stem`]), so
//! an ingest killed half-way and run again writes the same names: files that
//! made it are kept, the rest are written, and nothing is stored twice.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::location::LakeLocation;

/// Folder of the manifest under the lake root.
pub const FOLDER: &str = "_ingest";

/// One ingested input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The input as named when it was ingested.
    pub input: String,
    /// Content fingerprint (BLAKE3 of the bytes, or of an object's ETag, size and key).
    pub fingerprint: String,
    /// Times it was ingested again with `--force` (file names change with it).
    pub generation: u32,
    /// The ingest settings that shaped its files (format flag, rows per file, time rules).
    pub settings: String,
    /// The format it was read as.
    pub format: String,
    /// Rows stored.
    pub rows: u64,
    /// Records rejected.
    pub rejected: u64,
    /// The lake files holding its rows, relative to the store root.
    pub files: Vec<String>,
    /// When (RFC 3339 UTC).
    pub ingested_at: String,
}

fn path(lake: &LakeLocation, fingerprint: &str) -> Path {
    lake.root.clone().join(FOLDER).join(format!("{fingerprint}.json"))
}

/// The manifest entry for `fingerprint`, if that content was ingested.
pub async fn read(lake: &LakeLocation, fingerprint: &str) -> Result<Option<Entry>> {
    let location = path(lake, fingerprint);
    match lake.store.get(&location).await {
        Ok(result) => {
            let bytes = result.bytes().await?;
            serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::Lake {
                lake: lake.display.clone(),
                reason: format!("{location}: not a manifest entry: {e}"),
            })
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Records `entry` (replacing an older one for the same content).
pub async fn write(lake: &LakeLocation, entry: &Entry) -> Result<()> {
    let json = serde_json::to_vec_pretty(entry)
        .map_err(|e| Error::Lake { lake: lake.display.clone(), reason: e.to_string() })?;
    let location = path(lake, &entry.fingerprint);
    lake.store.put_opts(&location, PutPayload::from(json), PutOptions::from(PutMode::Overwrite)).await?;
    Ok(())
}

/// The stem of an input's lake file names: the same content, generation and
/// settings that shape the files give the same names.
pub fn file_stem(fingerprint: &str, generation: u32, settings: &str) -> String {
    let hash = blake3::hash(format!("{fingerprint}|{generation}|{settings}").as_bytes());
    hash.to_hex()[..20].to_string()
}

/// The fingerprint of a local file's content.
pub fn fingerprint_file(path: &std::path::Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    // Memory-mapped and hashed on every core: a gigabyte takes a fraction of a second.
    hasher.update_mmap_rayon(path).map_err(|e| Error::io(path, e))?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// The fingerprint of an object, from what its store says of it.
pub fn fingerprint_object(meta: &object_store::ObjectMeta) -> String {
    let identity = format!(
        "{}|{}|{}|{}",
        meta.location,
        meta.size,
        meta.e_tag.as_deref().unwrap_or(""),
        if meta.e_tag.is_none() { meta.last_modified.to_rfc3339() } else { String::new() }
    );
    blake3::hash(identity.as_bytes()).to_hex().to_string()
}

//! The lake's ingest manifest: one small JSON object per ingested input,
//! `<lake>/_ingest/<fingerprint>.json`, written after all of the input's
//! files. Its presence makes a second ingest of the same content a no-op.
//!
//! File names are derived from the fingerprint too (see [`file_stem`]), so
//! an ingest killed half-way and run again writes the same names: files that
//! made it are kept, the rest are written, and nothing is stored twice.

use object_store::PutMode;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::location::LakeLocation;
use crate::lake::schema::TABLE;

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
    /// Its rows were rewritten by `scanlake compact` into files shared with
    /// other inputs' rows, so `--force` can no longer replace them alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compacted: bool,
}

fn path(lake: &LakeLocation, fingerprint: &str) -> Path {
    lake.root.clone().join(FOLDER).join(format!("{fingerprint}.json"))
}

/// The manifest entry for `fingerprint`, if that content was ingested.
pub async fn read(lake: &LakeLocation, fingerprint: &str) -> Result<Option<Entry>> {
    lake.json_object(&path(lake, fingerprint), "a manifest entry").await
}

/// Every entry of the lake's manifest.
pub async fn all(lake: &LakeLocation) -> Result<Vec<Entry>> {
    lake.json_objects(FOLDER, "a manifest entry").await
}

/// Records `entry` (replacing an older one for the same content).
pub async fn write(lake: &LakeLocation, entry: &Entry) -> Result<()> {
    lake.put_json(&path(lake, &entry.fingerprint), entry, PutMode::Overwrite).await
}

/// `file` (a path an entry lists) from the event table's folder on
/// (`EventDate=…/part-….parquet`): entries list paths from the store's
/// root, which differ once a lake is moved, copied or synced elsewhere.
pub fn in_table(file: &str) -> &str {
    let folder = format!("{TABLE}/");
    match file.rfind(&format!("/{folder}")) {
        Some(at) => &file[at + folder.len() + 1..],
        None => file.strip_prefix(&folder).unwrap_or(file),
    }
}

/// The stem of an input's lake file names: the same content, generation and
/// settings that shape the files give the same names.
pub fn file_stem(fingerprint: &str, generation: u32, settings: &str) -> String {
    let hash = blake3::hash(format!("{fingerprint}|{generation}|{settings}").as_bytes());
    hash.to_hex()[..20].to_string()
}

/// Whether `name` is a name an ingest gives its lake files:
/// `part-<stem>-<batch>.parquet`, the stem from [`file_stem`], the batches
/// numbered from `00000` (see `ingest::sink`).
pub fn is_ingest_file_name(name: &str) -> bool {
    let stem = name.strip_prefix("part-").and_then(|rest| rest.strip_suffix(".parquet")).unwrap_or_default();
    stem.split_once('-').is_some_and(|(hash, batch)| {
        hash.len() == 20
            && hash.bytes().all(|b| b.is_ascii_hexdigit())
            && batch.len() >= 5
            && batch.bytes().all(|b| b.is_ascii_digit())
    })
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

#[cfg(test)]
mod tests {
    use super::in_table;

    #[test]
    fn files_are_compared_from_the_table_s_folder_on() {
        let file = "EventDate=2024-04-19/part-a8e29c677ae7faef3e48-00000.parquet";
        assert_eq!(in_table(&format!("work/main/data/lake/network_session/{file}")), file);
        assert_eq!(in_table(&format!("network_session/{file}")), file);
        // A lake whose own folder is named like the table.
        assert_eq!(in_table(&format!("x/network_session/lake/network_session/{file}")), file);
    }
}

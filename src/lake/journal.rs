//! Compaction journals, `<lake>/_compact/<id>.json`: one per partition
//! being compacted, so that no reader ever sees a day's rows twice or only
//! in part, even if `scanlake compact` is killed half-way.
//!
//! A compaction records the files it replaces (`begin`), writes the new
//! ones under names that start with its id, records them (`commit`, one
//! PUT: the moment the new files take over) and deletes the old files
//! (`delete_old`). Once every day of a run is done, the manifest is
//! pointed at the new files, in one pass for all, and the journals are
//! deleted (`finish`). Until the commit, readers leave the new files out;
//! after it, the old ones. A journal left by a kill is finished (when
//! committed) or undone (when not) by the next `compact`.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::location::LakeLocation;
use crate::lake::manifest;

/// Folder of the journals under the lake root.
pub const FOLDER: &str = "_compact";

/// One partition's compaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// Names the new files (`part-c<id>-<n>.parquet`); a hash of the old files' names.
    pub id: String,
    /// The partition folder, relative to the store root.
    pub partition: String,
    /// The files it replaces.
    pub old: Vec<String>,
    /// The files that replace them; empty until committed.
    pub new: Vec<String>,
    /// Whether the new files are complete and have taken over.
    pub committed: bool,
}

impl Journal {
    /// A compaction of `old`, files of `partition`.
    pub fn new(partition: &Path, mut old: Vec<String>) -> Self {
        old.sort();
        let id = blake3::hash(old.join("\n").as_bytes()).to_hex()[..16].to_string();
        Self { id, partition: partition.to_string(), old, new: Vec::new(), committed: false }
    }

    /// The stem the writer gives the `n`th new file (`part-<stem>.parquet`).
    pub fn file_stem(&self, n: usize) -> String {
        format!("c{}-{n:05}", self.id)
    }

    /// What every new file's location starts with.
    fn new_files_prefix(&self) -> String {
        format!("{}/part-c{}-", self.partition, self.id)
    }

    fn location(&self, lake: &LakeLocation) -> Path {
        lake.root.clone().join(FOLDER).join(format!("{}.json", self.id))
    }

    /// Records the compaction before any new file is written. Fails if one
    /// of the same files is under way.
    pub async fn begin(&self, lake: &LakeLocation) -> Result<()> {
        match lake.put_json(&self.location(lake), self, PutMode::Create).await {
            Err(Error::ObjectStore(object_store::Error::AlreadyExists { .. })) => Err(Error::Lake {
                lake: lake.display.clone(),
                reason: format!("{}: another compaction of these files is under way", self.partition),
            }),
            other => other,
        }
    }

    /// Makes `new` take over from the old files.
    pub async fn commit(&mut self, lake: &LakeLocation, new: Vec<String>) -> Result<()> {
        self.new = new;
        self.committed = true;
        lake.put_json(&self.location(lake), self, PutMode::Overwrite).await
    }

    /// After the commit: deletes the old files.
    pub async fn delete_old(&self, lake: &LakeLocation) -> Result<()> {
        for path in self.old.iter().filter(|path| !self.new.contains(path)) {
            lake.delete_if_present(&Path::from(path.as_str())).await?;
        }
        Ok(())
    }

    /// Before the commit: deletes the new files written so far and the journal.
    pub async fn undo(&self, lake: &LakeLocation) -> Result<()> {
        let prefix = self.new_files_prefix();
        let partition = Path::from(self.partition.as_str());
        let written: Vec<object_store::ObjectMeta> = lake.store.list(Some(&partition)).try_collect().await?;
        for meta in written.iter().filter(|meta| meta.location.as_ref().starts_with(&prefix)) {
            lake.delete_if_present(&meta.location).await?;
        }
        lake.delete_if_present(&self.location(lake)).await
    }
}

/// After the commits and `delete_old` of `journals`: points the manifest's
/// entries that listed their old files at the new ones (the manifest read
/// once for all of them), then deletes the journals.
pub async fn finish(lake: &LakeLocation, journals: &[Journal]) -> Result<()> {
    if journals.is_empty() {
        return Ok(());
    }
    // Each old file (from the table's folder on) and the journal that replaced it.
    let replaced: BTreeMap<&str, &Journal> = journals
        .iter()
        .flat_map(|journal| journal.old.iter().map(move |file| (manifest::in_table(file), journal)))
        .collect();
    for mut entry in manifest::all(lake).await? {
        let by: Vec<&Journal> =
            entry.files.iter().filter_map(|file| replaced.get(manifest::in_table(file))).copied().collect();
        if by.is_empty() {
            continue;
        }
        entry.files.retain(|file| !replaced.contains_key(manifest::in_table(file)));
        entry.files.extend(by.iter().flat_map(|journal| journal.new.iter().cloned()));
        entry.files.sort();
        entry.files.dedup();
        entry.compacted = true;
        manifest::write(lake, &entry).await?;
    }
    for journal in journals {
        lake.delete_if_present(&journal.location(lake)).await?;
    }
    Ok(())
}

/// The journals of compactions not finished: under way, or killed.
pub async fn unfinished(lake: &LakeLocation) -> Result<Vec<Journal>> {
    lake.json_objects(FOLDER, "a compaction journal").await
}

/// Leaves out of this process's listings the files a reader must not see:
/// the old files of committed compactions, the new files of the others.
/// Returns how many compactions are unfinished.
pub async fn hide_unfinished(lake: &LakeLocation) -> Result<usize> {
    let journals = unfinished(lake).await?;
    for journal in &journals {
        if journal.committed {
            tracing::debug!(partition = journal.partition, "reading past a compaction that is finishing");
            journal.old.iter().for_each(|path| lake.store.hide(&Path::from(path.as_str())));
        } else {
            tracing::debug!(partition = journal.partition, "reading past a compaction under way");
            lake.store.hide_prefix(&journal.new_files_prefix());
        }
    }
    Ok(journals.len())
}

/// Finishes the committed compactions a kill interrupted and undoes the
/// others. Returns how many there were.
pub async fn recover(lake: &LakeLocation) -> Result<usize> {
    let journals = unfinished(lake).await?;
    let (committed, unfinished): (Vec<Journal>, Vec<Journal>) = journals.into_iter().partition(|j| j.committed);
    for journal in &unfinished {
        tracing::warn!("{}: undoing a compaction that was interrupted before it completed", journal.partition);
        journal.undo(lake).await?;
    }
    for journal in &committed {
        tracing::warn!("{}: finishing a compaction that was interrupted", journal.partition);
        journal.delete_old(lake).await?;
    }
    finish(lake, &committed).await?;
    Ok(committed.len() + unfinished.len())
}

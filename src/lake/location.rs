//! Where a lake lives: a local folder or an S3 prefix.

use std::sync::Arc;

use datafusion::datasource::listing::ListingTableUrl;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::lake::schema::TABLE;
use crate::lake::store::{CountingStore, StorageOptions, locate};

/// A lake root and the object store that holds it.
#[derive(Debug, Clone)]
pub struct LakeLocation {
    /// What the user wrote, for messages.
    pub display: String,
    /// The store holding the lake, counting its requests.
    pub store: Arc<CountingStore>,
    /// The lake root inside the store.
    pub root: Path,
    /// The store's URL (`s3://bucket` or `file:///`).
    pub store_url: url::Url,
}

impl LakeLocation {
    /// Parses `--lake`: a local folder (created when `create` is true) or `s3://bucket/prefix`.
    pub fn parse(text: &str, create: bool, options: &StorageOptions) -> Result<Self> {
        let located = locate(text, options)?;
        if located.store_url.scheme() == "file" {
            let dir =
                std::path::absolute(text.strip_prefix("file://").unwrap_or(text)).map_err(|e| Error::io(text, e))?;
            if create {
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            } else if !dir.is_dir() {
                return Err(Error::Lake { lake: text.to_string(), reason: "no such folder".into() });
            }
        }
        Ok(Self { display: text.to_string(), store: located.store, root: located.path, store_url: located.store_url })
    }

    /// The folder (prefix) of the event table.
    pub fn table_path(&self) -> Path {
        self.root.clone().join(TABLE)
    }

    /// The event table as a DataFusion listing URL.
    pub fn table_url(&self) -> Result<ListingTableUrl> {
        let base = self.store_url.as_str().trim_end_matches('/');
        Ok(ListingTableUrl::parse(format!("{base}/{}/", self.table_path()))?)
    }

    /// The JSON object at `location`, read as `what` (for messages); `None`
    /// if there is none.
    pub async fn json_object<T: DeserializeOwned>(&self, location: &Path, what: &str) -> Result<Option<T>> {
        let bytes = match self.store.get(location).await {
            Ok(got) => got.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Lake { lake: self.display.clone(), reason: format!("{location}: not {what}: {e}") })
    }

    /// Every JSON object in the lake root's `folder` (`_ingest`,
    /// `_compact`), read as `what`; those deleted since listed are left out.
    pub async fn json_objects<T: DeserializeOwned>(&self, folder: &str, what: &str) -> Result<Vec<T>> {
        let folder = self.root.clone().join(folder);
        let listed: Vec<object_store::ObjectMeta> = self.store.list(Some(&folder)).try_collect().await?;
        let mut objects = Vec::with_capacity(listed.len());
        for meta in listed.iter().filter(|meta| meta.location.as_ref().ends_with(".json")) {
            objects.extend(self.json_object(&meta.location, what).await?);
        }
        Ok(objects)
    }

    /// Stores `value` as JSON at `location` (`mode`: create only, or overwrite).
    pub async fn put_json<T: Serialize>(&self, location: &Path, value: &T, mode: PutMode) -> Result<()> {
        let json = serde_json::to_vec_pretty(value)
            .map_err(|e| Error::Lake { lake: self.display.clone(), reason: e.to_string() })?;
        self.store.put_opts(location, PutPayload::from(json), PutOptions::from(mode)).await?;
        Ok(())
    }

    /// Deletes `location`; one already gone is no error.
    pub async fn delete_if_present(&self, location: &Path) -> Result<()> {
        match self.store.delete(location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks the lake can be listed, so a missing bucket or wrong
    /// credentials fail up front with the lake's name; warns when the lake
    /// holds no event table (a mistyped path would otherwise look clean).
    pub async fn check(&self) -> Result<()> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.root))
            .await
            .map_err(|e| Error::Lake { lake: self.display.clone(), reason: e.to_string() })?;
        if !listing.common_prefixes.contains(&self.table_path()) {
            tracing::warn!("{}: no {TABLE}/ folder here: not a scanlake lake, or nothing ingested yet", self.display);
        }
        Ok(())
    }
}

//! Where a lake lives: a local folder (S3 and other object stores come
//! through the same `ObjectStore` interface).

use std::sync::Arc;

use datafusion::datasource::listing::ListingTableUrl;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use crate::error::{Error, Result};
use crate::lake::schema::TABLE;

/// A lake root and the object store that holds it.
#[derive(Debug, Clone)]
pub struct LakeLocation {
    /// What the user wrote, for messages.
    pub display: String,
    /// The store holding the lake.
    pub store: Arc<dyn ObjectStore>,
    /// The lake root inside the store.
    pub root: Path,
    /// The root as a URL DataFusion understands (ends with `/`).
    pub url: String,
}

impl LakeLocation {
    /// Parses `--lake`: a local folder (created when `create` is true).
    pub fn parse(text: &str, create: bool) -> Result<Self> {
        if let Some((scheme, _)) = text.split_once("://")
            && scheme != "file"
        {
            return Err(Error::Lake {
                lake: text.to_string(),
                reason: format!(
                    "`{scheme}://` lakes are not supported by this build; use a local folder"
                ),
            });
        }
        let local = text.strip_prefix("file://").unwrap_or(text);
        let dir = std::path::absolute(local).map_err(|e| Error::io(local, e))?;
        if create {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        } else if !dir.is_dir() {
            return Err(Error::Lake {
                lake: text.to_string(),
                reason: "no such folder".into(),
            });
        }
        let root = Path::from_absolute_path(&dir).map_err(|e| Error::Lake {
            lake: text.to_string(),
            reason: e.to_string(),
        })?;
        let url = format!("file:///{root}/");
        Ok(Self {
            display: text.to_string(),
            store: Arc::new(LocalFileSystem::new()),
            root,
            url,
        })
    }

    /// The folder of the event table.
    pub fn table_path(&self) -> Path {
        self.root.clone().join(TABLE)
    }

    /// The event table as a DataFusion listing URL.
    pub fn table_url(&self) -> Result<ListingTableUrl> {
        Ok(ListingTableUrl::parse(format!("{}{TABLE}/", self.url))?)
    }
}

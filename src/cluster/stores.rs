//! The object stores a Ballista process reads the lake through: the same
//! stores as the local engine (`AWS_*` variables and the storage flags), made
//! on first use per bucket. Schedulers, executors and the client each build
//! their own from their own environment, so credentials never travel with
//! the query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStore;
use url::Url;

use crate::lake::store::{StorageOptions, locate};

/// Object stores by `scheme://bucket`, created on demand.
#[derive(Debug)]
pub struct LakeStores {
    options: StorageOptions,
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl LakeStores {
    /// A registry that opens stores with `options`.
    pub fn new(options: StorageOptions) -> Self {
        Self { options, stores: Mutex::new(HashMap::new()) }
    }

    fn key(url: &Url) -> String {
        match url.scheme() {
            "file" | "" => "file://".to_string(),
            scheme => format!("{scheme}://{}", url.host_str().unwrap_or_default()),
        }
    }
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.stores.lock().unwrap_or_else(|e| e.into_inner()).insert(Self::key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.stores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&Self::key(url))
            .ok_or_else(|| DataFusionError::Internal(format!("no object store for {url}")))
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        let key = Self::key(url);
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = stores.get(&key) {
            return Ok(store.clone());
        }
        let location = if key == "file://" { "/".to_string() } else { key.clone() };
        let located = locate(&location, &self.options).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let store: Arc<dyn ObjectStore> = located.store;
        stores.insert(key, store.clone());
        Ok(store)
    }
}

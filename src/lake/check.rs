//! Finding damaged lake files (a truncated or overwritten Parquet file): each
//! file's footer is read, as a query would, and the ones that cannot be read
//! are named.

use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaDataReader;

use crate::error::Result;
use crate::lake::location::LakeLocation;

/// Footers read at once.
const CONCURRENT: usize = 16;
/// Bytes read from a file's end first (footers are usually smaller).
const FIRST_READ: u64 = 64 * 1024;

/// The lake's Parquet files that cannot be opened, with the reason.
pub async fn damaged_files(lake: &LakeLocation) -> Result<Vec<(object_store::path::Path, String)>> {
    let files: Vec<object_store::ObjectMeta> = lake
        .store
        .list(Some(&lake.table_path()))
        .try_filter(|meta| futures::future::ready(meta.location.as_ref().ends_with(".parquet")))
        .try_collect()
        .await?;
    let mut damaged = futures::stream::iter(files)
        .map(|meta| async move { footer_problem(lake, &meta).await.map(|reason| (meta.location, reason)) })
        .buffer_unordered(CONCURRENT)
        .filter_map(futures::future::ready)
        .collect::<Vec<_>>()
        .await;
    damaged.sort();
    Ok(damaged)
}

/// Why a file's footer cannot be read, if it cannot.
async fn footer_problem(lake: &LakeLocation, meta: &object_store::ObjectMeta) -> Option<String> {
    let size = meta.size;
    let mut want = size.min(FIRST_READ);
    let mut reader = ParquetMetaDataReader::new();
    loop {
        let tail = match lake.store.get_range(&meta.location, size - want..size).await {
            Ok(bytes) => bytes,
            Err(e) => return Some(e.to_string()),
        };
        match reader.try_parse_sized(&tail, size) {
            Ok(()) => return None,
            Err(ParquetError::NeedMoreData(needed)) if (needed as u64) > want && (needed as u64) <= size => {
                want = needed as u64;
            }
            Err(e) => return Some(e.to_string()),
        }
    }
}

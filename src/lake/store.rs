//! Object stores: local folders and S3 (credentials and endpoint the
//! standard AWS way), each wrapped so every request it serves is counted.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RetryConfig,
};

use crate::error::{Error, Result};

/// How to reach object storage, beyond the `AWS_*` environment variables.
#[derive(Clone, Default)]
pub struct StorageOptions {
    /// S3 endpoint URL, for S3-compatible stores (`AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// S3 region (`AWS_REGION`).
    pub region: Option<String>,
    /// Allow plain HTTP to the endpoint (a local test server).
    pub allow_http: bool,
}

// Never print credentials: only what is not secret.
impl fmt::Debug for StorageOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageOptions").field("endpoint", &self.endpoint).field("region", &self.region).finish()
    }
}

/// A location: which store, and where inside it.
pub struct Located {
    /// The store, counting its requests.
    pub store: Arc<CountingStore>,
    /// The path inside the store.
    pub path: Path,
    /// The store's URL (`s3://bucket`, `file:///`), for registering it with DataFusion.
    pub store_url: url::Url,
}

/// Opens the store behind `location`: `s3://bucket/key…`, `gs://…`,
/// `az://container/…` or a local path.
pub fn locate(location: &str, options: &StorageOptions) -> Result<Located> {
    let Some((scheme, rest)) = location.split_once("://") else { return local(location) };
    if scheme == "file" {
        return local(rest);
    }
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::parameter("location", location, "no bucket named"));
    }
    let built = match scheme {
        "s3" | "s3a" => s3(bucket, options).map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        // Google Cloud Storage and Azure Blob Storage are configured from their
        // usual environment variables (GOOGLE_*, AZURE_STORAGE_*); only S3 is
        // covered by the tests.
        "gs" => GoogleCloudStorageBuilder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry())
            .build()
            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        "az" | "azure" => MicrosoftAzureBuilder::from_env()
            .with_container_name(bucket)
            .with_retry(retry())
            .build()
            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        _ => {
            let reason = format!("`{scheme}://` is not supported; use s3://, gs://, az:// or a local path");
            return Err(Error::parameter("location", location, reason));
        }
    };
    let store = built.map_err(|e| Error::Lake { lake: format!("{scheme}://{bucket}"), reason: e.to_string() })?;
    let store_url = url::Url::parse(&format!("{scheme}://{bucket}"))
        .map_err(|e| Error::parameter("location", location, e.to_string()))?;
    Ok(Located { store: Arc::new(CountingStore::new(store, location)), path: Path::from(key), store_url })
}

fn local(path: &str) -> Result<Located> {
    let absolute = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let path = Path::from_absolute_path(&absolute).map_err(|e| Error::parameter("location", path, e.to_string()))?;
    let store_url = url::Url::parse("file:///").map_err(|e| Error::parameter("location", "file:///", e.to_string()))?;
    Ok(Located { store: Arc::new(CountingStore::new(Arc::new(LocalFileSystem::new()), "local")), path, store_url })
}

/// Three retries with backoff, 30 s at most: a dead endpoint fails in
/// seconds, a passing fault is ridden out.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    }
}

/// An S3 client for `bucket`: `AWS_*` environment variables first, flags
/// over them; bounded retries and timeouts.
fn s3(bucket: &str, options: &StorageOptions) -> object_store::Result<object_store::aws::AmazonS3> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &options.region {
        builder = builder.with_region(region);
    }
    if options.allow_http {
        builder = builder.with_allow_http(true);
    }
    // Set through config keys: `with_client_options` would drop what the
    // environment configured (such as AWS_ALLOW_HTTP).
    builder
        .with_retry(retry())
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "60s")
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout), "5s")
        .build()
}

/// Requests a store served, by kind, and the objects it read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RequestCounts {
    /// LIST requests (each listing call; a paginated listing may send more).
    pub lists: u64,
    /// Objects and folders those listings returned.
    pub listed: u64,
    /// GET requests (whole objects and ranges) and HEAD requests.
    pub gets: u64,
    /// Bytes those GETs returned.
    pub get_bytes: u64,
    /// PUT requests, multipart uploads counted once.
    pub puts: u64,
    /// Objects read.
    pub objects_read: BTreeSet<String>,
}

impl fmt::Display for RequestCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} LIST ({} entries), {} GET ({} bytes) of {} objects, {} PUT",
            self.lists,
            self.listed,
            self.gets,
            self.get_bytes,
            self.objects_read.len(),
            self.puts
        )
    }
}

/// An object store that counts the requests passing through it.
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    name: String,
    lists: AtomicU64,
    /// Shared with the listing streams, which outlive the call that made them.
    listed: Arc<AtomicU64>,
    gets: AtomicU64,
    get_bytes: AtomicU64,
    puts: AtomicU64,
    objects_read: Mutex<BTreeSet<String>>,
    /// Objects listings leave out.
    hidden: Mutex<Arc<Hidden>>,
}

/// What listings leave out: damaged lake files (`--skip-bad-files`), and
/// the files a compaction replaces or has not finished writing.
#[derive(Debug, Clone, Default)]
struct Hidden {
    objects: BTreeSet<String>,
    prefixes: BTreeSet<String>,
}

impl Hidden {
    fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.prefixes.is_empty()
    }

    fn hides(&self, location: &str) -> bool {
        self.objects.contains(location) || self.prefixes.iter().any(|prefix| location.starts_with(prefix.as_str()))
    }
}

impl CountingStore {
    fn new(inner: Arc<dyn ObjectStore>, name: &str) -> Self {
        Self {
            inner,
            name: name.to_string(),
            lists: AtomicU64::new(0),
            listed: Arc::new(AtomicU64::new(0)),
            gets: AtomicU64::new(0),
            get_bytes: AtomicU64::new(0),
            puts: AtomicU64::new(0),
            objects_read: Mutex::new(BTreeSet::new()),
            hidden: Mutex::new(Arc::new(Hidden::default())),
        }
    }

    /// Leaves `location` out of every listing from now on, so queries never open it.
    pub fn hide(&self, location: &Path) {
        if let Ok(mut hidden) = self.hidden.lock() {
            Arc::make_mut(&mut hidden).objects.insert(location.to_string());
        }
    }

    /// Leaves every object whose location starts with `prefix` (text, not
    /// only whole path segments) out of every listing from now on.
    pub fn hide_prefix(&self, prefix: &str) {
        if let Ok(mut hidden) = self.hidden.lock() {
            Arc::make_mut(&mut hidden).prefixes.insert(prefix.to_string());
        }
    }

    /// `stream` without the hidden objects, counted as listed.
    fn visible(
        &self,
        stream: BoxStream<'static, object_store::Result<ObjectMeta>>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.lists.fetch_add(1, Ordering::Relaxed);
        let listed = self.listed.clone();
        let stream = stream
            .inspect(move |item| {
                if item.is_ok() {
                    listed.fetch_add(1, Ordering::Relaxed);
                }
            })
            .boxed();
        let hidden = self.hidden.lock().map(|h| h.clone()).unwrap_or_default();
        if hidden.is_empty() {
            return stream;
        }
        stream
            .filter(move |item| {
                futures::future::ready(!matches!(item, Ok(meta) if hidden.hides(meta.location.as_ref())))
            })
            .boxed()
    }

    /// The counts so far.
    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            lists: self.lists.load(Ordering::Relaxed),
            listed: self.listed.load(Ordering::Relaxed),
            gets: self.gets.load(Ordering::Relaxed),
            get_bytes: self.get_bytes.load(Ordering::Relaxed),
            puts: self.puts.load(Ordering::Relaxed),
            objects_read: self.objects_read.lock().map(|s| s.clone()).unwrap_or_default(),
        }
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)
    }
}

impl fmt::Debug for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountingStore({})", self.name)
    }
}

// `get_ranges` keeps its default, which calls `get_opts` per coalesced
// range, so every ranged read is counted as the GET it is.
#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        let result = self.inner.get_opts(location, options).await?;
        if let Ok(mut read) = self.objects_read.lock() {
            read.insert(location.to_string());
        }
        self.get_bytes.fetch_add(result.range.end.saturating_sub(result.range.start), Ordering::Relaxed);
        Ok(result)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.visible(self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.visible(self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.lists.fetch_add(1, Ordering::Relaxed);
        let mut result = self.inner.list_with_delimiter(prefix).await?;
        self.listed.fetch_add((result.objects.len() + result.common_prefixes.len()) as u64, Ordering::Relaxed);
        if let Ok(hidden) = self.hidden.lock() {
            result.objects.retain(|meta| !hidden.hides(meta.location.as_ref()));
        }
        Ok(result)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

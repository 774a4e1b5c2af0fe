//! Opening an input: a file or stdin, plain, gzip or zstd (recognised by
//! their magic bytes, not by name), with a peek at the first bytes so the
//! format can be recognised by content.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use std::sync::Arc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::error::{Error, Result};
use crate::lake::manifest::fingerprint_object;
use crate::lake::store::{CountingStore, StorageOptions, locate};

/// How many decompressed bytes format detection may look at.
const HEAD_BYTES: usize = 64 * 1024;

/// An opened input: its name for messages, its first bytes, and a reader
/// that yields the whole decompressed content (head included).
pub struct Input {
    /// The name given on the command line (`-` for stdin).
    pub name: String,
    /// Up to 64 KiB of the decompressed content.
    pub head: Vec<u8>,
    /// The decompressed content from the start.
    pub reader: Box<dyn BufRead + Send>,
}

/// Opens an input (a file, stdin, or an object streamed from its store)
/// and undoes gzip or zstd compression. Must run on a blocking thread of
/// the runtime: objects are fetched through it.
/// `progress` advances by the (compressed) bytes read.
pub fn open(named: &Named, progress: &indicatif::ProgressBar) -> Result<Input> {
    let name = named.name.as_str();
    let raw: Box<dyn Read + Send> = match &named.object {
        Some((store, path)) => Box::new(progress.wrap_read(object_reader(store.clone(), path.clone(), name)?)),
        None if name == "-" => Box::new(progress.wrap_read(io::stdin())),
        None => Box::new(progress.wrap_read(File::open(name).map_err(|e| Error::io(name, e))?)),
    };
    let mut raw = BufReader::with_capacity(256 * 1024, raw);
    let magic = raw.fill_buf().map_err(|e| Error::io(name, e))?;
    let decoded: Box<dyn Read + Send> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(raw))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| Error::io(name, e))?)
    } else {
        Box::new(raw)
    };
    let mut head = Vec::with_capacity(HEAD_BYTES);
    let mut decoded = decoded;
    (&mut decoded)
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::Input { input: name.to_string(), reason: format!("cannot read: {e}") })?;
    let reader = BufReader::with_capacity(256 * 1024, Cursor::new(head.clone()).chain(decoded));
    Ok(Input { name: name.to_string(), head, reader: Box::new(reader) })
}

impl Input {
    /// An input over bytes in memory (already decompressed).
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Input {
        let head = bytes[..bytes.len().min(HEAD_BYTES)].to_vec();
        Input { name: name.to_string(), head, reader: Box::new(Cursor::new(bytes.to_vec())) }
    }

    /// The whole decompressed content, for formats that need random access
    /// (.evtx, Parquet).
    pub fn into_bytes(mut self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.reader
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Input { input: self.name.clone(), reason: format!("cannot read: {e}") })?;
        Ok(bytes)
    }
}

/// An input to read, and whether it was found (in a folder, by a glob)
/// rather than named on the command line.
#[derive(Debug, Clone)]
pub struct Named {
    /// The file name, `-`, or the object's URL.
    pub name: String,
    /// True when found by walking a folder, listing a prefix or matching a glob.
    pub found: bool,
    /// For objects: the store and the key.
    pub object: Option<(Arc<CountingStore>, Path)>,
    /// Size in bytes, when known before reading.
    pub size: Option<u64>,
    /// Content fingerprint, when the store gives one (objects); files are hashed when planned.
    pub fingerprint: Option<String>,
}

/// A blocking reader over an object's bytes as they stream in.
fn object_reader(store: Arc<CountingStore>, path: Path, name: &str) -> Result<impl Read + Send + use<>> {
    let handle = tokio::runtime::Handle::current();
    let result = handle
        .block_on(store.get_opts(&path, Default::default()))
        .map_err(|e| Error::Input { input: name.to_string(), reason: e.to_string() })?;
    let stream = result.into_stream().map_err(io::Error::other);
    Ok(SyncIoBridge::new_with_handle(StreamReader::new(stream), handle))
}

/// The objects under an `s3://bucket/prefix` (or one object, or those
/// matching a glob in the key), sorted by key.
async fn list_objects(url: &str, storage: &StorageOptions) -> Result<Vec<Named>> {
    let located = locate(url, storage)?;
    let store = located.store;
    // The key as written: `Path` would percent-encode glob characters.
    let key = url.split_once("://").and_then(|(_, rest)| rest.split_once('/')).map_or("", |(_, k)| k).to_string();
    let bucket_url = located.store_url.as_str().trim_end_matches('/').to_string();
    let list_error = |e: object_store::Error| Error::Input { input: url.to_string(), reason: e.to_string() };
    let glob_at = key.find(['*', '?', '[']);
    let (prefix, pattern) = match glob_at {
        Some(at) => {
            let pattern = glob::Pattern::new(&key).map_err(|e| Error::parameter("input", url, e.to_string()))?;
            (Path::from(&key[..key[..at].rfind('/').unwrap_or(0)]), Some(pattern))
        }
        None => {
            if !key.is_empty()
                && let Ok(meta) = store.head(&located.path).await
            {
                return Ok(vec![Named {
                    name: url.to_string(),
                    found: false,
                    size: Some(meta.size),
                    fingerprint: Some(fingerprint_object(&meta)),
                    object: Some((store, meta.location)),
                }]);
            }
            (located.path.clone(), None)
        }
    };
    let mut objects: Vec<ObjectMeta> = store.list(Some(&prefix)).try_collect().await.map_err(list_error)?;
    objects.retain(|o| pattern.as_ref().is_none_or(|p| p.matches(o.location.as_ref())));
    objects.sort_by(|a, b| a.location.cmp(&b.location));
    if objects.is_empty() {
        return Err(Error::parameter("input", url, "no objects at this prefix"));
    }
    Ok(objects
        .into_iter()
        .map(|o| Named {
            name: format!("{bucket_url}/{}", o.location),
            found: true,
            size: Some(o.size),
            fingerprint: Some(fingerprint_object(&o)),
            object: Some((store.clone(), o.location)),
        })
        .collect())
}

/// Expands the inputs given on the command line: folders are walked (hidden
/// files skipped), globs are matched, `-` is stdin. Results are sorted.
pub async fn expand(inputs: &[String], storage: &StorageOptions) -> Result<Vec<Named>> {
    let mut out = Vec::new();
    for input in inputs {
        let path = std::path::Path::new(input);
        let named = |name: String, found: bool| {
            let size = std::fs::metadata(&name).ok().map(|m| m.len());
            Named { name, found, object: None, size, fingerprint: None }
        };
        if input.starts_with("s3://") || input.starts_with("s3a://") {
            out.extend(list_objects(input, storage).await?);
        } else if input == "-" || path.is_file() {
            out.push(named(input.clone(), false));
        } else if path.is_dir() {
            let mut files: Vec<String> = walkdir::WalkDir::new(path)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_file())
                .map(|e| e.path().display().to_string())
                .collect();
            files.sort();
            out.extend(files.into_iter().map(|f| named(f, true)));
        } else if input.contains(['*', '?', '[']) {
            let pattern = glob::glob(input).map_err(|e| Error::parameter("input", input.clone(), e.to_string()))?;
            let mut files: Vec<String> =
                pattern.filter_map(|p| p.ok()).filter(|p| p.is_file()).map(|p| p.display().to_string()).collect();
            if files.is_empty() {
                return Err(Error::parameter("input", input.clone(), "no files match"));
            }
            files.sort();
            out.extend(files.into_iter().map(|f| named(f, true)));
        } else {
            // Opening it reports what is wrong (missing, unreadable).
            out.push(named(input.clone(), false));
        }
    }
    Ok(out)
}

/// The first line of `head` that is not blank, without its line ending and
/// without a UTF-8 byte-order mark.
pub fn first_line(head: &[u8]) -> &[u8] {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    head.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
        .unwrap_or(&[])
}

//! The scheduled runner's state file: how far the lake has been processed,
//! which alerts went out, and what is still to be delivered. It is replaced
//! atomically (write a temporary file, sync, rename, sync the folder), and a
//! lock file keeps two runners from working on it at once.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::detect::Alert;
use crate::error::{Error, Result};

/// Format version of the state file.
const VERSION: u32 = 1;

/// Everything a runner remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    pub version: u32,
    /// The lake and rule this state belongs to (checked on load).
    pub scope: String,
    /// Events before this time have been evaluated (a bin boundary).
    pub processed_until: Option<DateTime<Utc>>,
    /// Alerts already emitted or suppressed, by AlertId, with their bin start;
    /// kept as long as a later run could see the same bin again.
    pub seen: BTreeMap<String, DateTime<Utc>>,
    /// Per source: no new alert before this time (`--suppress`).
    pub suppressed_until: BTreeMap<String, DateTime<Utc>>,
    /// A run's alerts recorded but not yet delivered to every sink.
    pub outbox: Option<Outbox>,
    /// Alerts the webhook has not accepted yet; sent again next run.
    pub webhook_backlog: Vec<Alert>,
    /// Runs completed.
    pub runs: u64,
}

/// One run's alerts, written to the state before any sink sees them, so a
/// run killed while delivering is finished by the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbox {
    /// Start of the evaluated range.
    pub from: DateTime<Utc>,
    /// End of the evaluated range (exclusive).
    pub to: DateTime<Utc>,
    /// New alerts, in rule order.
    pub alerts: Vec<Alert>,
    /// Length of the JSON-lines sink before this run appended to it; a
    /// redelivery cuts the file back to it first, so lines are never doubled.
    pub jsonl_length: Option<u64>,
}

impl State {
    /// Reads the state at `path`, or a fresh one when there is none.
    pub fn load(path: &Path, scope: &str) -> Result<State> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State { version: VERSION, scope: scope.to_string(), ..State::default() });
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        let state: State = serde_json::from_str(&text).map_err(|e| Error::Input {
            input: path.display().to_string(),
            reason: format!("not a scanlake state file: {e}"),
        })?;
        if state.version != VERSION {
            return Err(Error::Input {
                input: path.display().to_string(),
                reason: format!("state format {} (this scanlake reads {VERSION})", state.version),
            });
        }
        if state.scope != scope {
            return Err(Error::parameter(
                "state",
                path.display().to_string(),
                format!("belongs to `{}`, not `{scope}`; use another state file for another lake or rule", state.scope),
            ));
        }
        Ok(state)
    }

    /// Replaces the state at `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
        write_atomically(path, &json)
    }
}

/// Writes `bytes` to `path` so that readers see the old or the new content,
/// never a part: a synced temporary file renamed over it, then the folder synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e| Error::io(path, e);
    let folder = parent(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = folder.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut file = File::create(&temporary).map_err(io)?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io)?;
    drop(file);
    fs::rename(&temporary, path).map_err(io)?;
    File::open(&folder).and_then(|f| f.sync_all()).map_err(io)
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// An exclusive lock on a state file, held while a run works on it.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock `<state>.lock`, waiting while another runner holds it.
    pub fn acquire(state: &Path) -> Result<StateLock> {
        let path = PathBuf::from(format!("{}.lock", state.display()));
        let io = |e| Error::io(&path, e);
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                tracing::info!("another run holds {}; waiting for it", path.display());
                file.lock().map_err(io)?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        Ok(StateLock { _file: file })
    }
}

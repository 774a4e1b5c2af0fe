//! Where a run's alerts go: a JSON-lines file, a folder with one file per
//! run, and a webhook. Files are delivered exactly once (see
//! [`Outbox::jsonl_length`](super::state::Outbox)); the webhook at least once,
//! with the run's id in an `Idempotency-Key` header so receivers can drop a
//! repeat.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::state::{Outbox, write_atomically};
use crate::detect::Alert;
use crate::error::{Error, Result};

/// The sinks a runner delivers to.
#[derive(Debug, Clone, Default)]
pub struct Sinks {
    /// Append one JSON object per alert to this file.
    pub jsonl: Option<PathBuf>,
    /// Write `alerts-<range end>.json` per run with alerts into this folder.
    pub folder: Option<PathBuf>,
    /// POST the alerts as JSON to this URL.
    pub webhook: Option<String>,
    /// Webhook attempts per run.
    pub webhook_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub webhook_backoff: Duration,
}

/// What a run's webhook POST carries.
#[derive(Debug, Serialize)]
struct Payload<'a> {
    rule: &'static str,
    profile: &'a str,
    from: String,
    to: String,
    alerts: &'a [Alert],
}

impl Sinks {
    /// The current length of the JSON-lines file (0 when it does not exist yet).
    pub fn jsonl_length(&self) -> Result<Option<u64>> {
        let Some(path) = &self.jsonl else { return Ok(None) };
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(0)),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Delivers an outbox to the file sinks. Safe to repeat: the JSON-lines
    /// file is cut back to where this run started before appending, and the
    /// run's file in the folder is replaced whole.
    pub fn deliver_files(&self, outbox: &Outbox, profile: &str) -> Result<()> {
        if let (Some(path), Some(length)) = (&self.jsonl, outbox.jsonl_length) {
            append_lines(path, length, &outbox.alerts)?;
        }
        if let Some(folder) = &self.folder
            && !outbox.alerts.is_empty()
        {
            std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
            let path = folder.join(format!("alerts-{}.json", outbox.to.format("%Y%m%dT%H%M%SZ")));
            let payload = payload(outbox, profile, &outbox.alerts);
            let json = serde_json::to_vec_pretty(&payload).map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
            write_atomically(&path, &json)?;
        }
        Ok(())
    }

    /// POSTs `alerts` to the webhook, retrying with backoff. Returns false
    /// when every attempt failed (the caller keeps the alerts for next run).
    pub async fn deliver_webhook(&self, outbox: &Outbox, profile: &str, alerts: &[Alert]) -> bool {
        let Some(url) = &self.webhook else { return true };
        if alerts.is_empty() {
            return true;
        }
        let body = match serde_json::to_vec(&payload(outbox, profile, alerts)) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!("webhook: cannot encode the alerts: {e}");
                return false;
            }
        };
        let client = match reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
        {
            Ok(client) => client,
            Err(e) => {
                tracing::error!("webhook: {e}");
                return false;
            }
        };
        let key = format!("scanlake-{}-{}", profile, outbox.to.timestamp());
        let mut wait = self.webhook_backoff;
        for attempt in 1..=self.webhook_attempts.max(1) {
            let sent = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("Idempotency-Key", &key)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    tracing::info!("webhook: delivered {} alerts (attempt {attempt})", alerts.len());
                    return true;
                }
                Ok(response) => tracing::warn!("webhook: attempt {attempt} answered {}", response.status()),
                Err(e) => tracing::warn!("webhook: attempt {attempt} failed: {}", without_url(&e)),
            }
            if attempt < self.webhook_attempts {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        tracing::error!("webhook: {} alerts not delivered; they are kept and sent again next run", alerts.len());
        false
    }
}

fn payload<'a>(outbox: &Outbox, profile: &'a str, alerts: &'a [Alert]) -> Payload<'a> {
    Payload {
        rule: "Port scan detected (ASIM Network Session schema)",
        profile,
        from: outbox.from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        to: outbox.to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        alerts,
    }
}

/// The error without its URL, which may carry a token in its query string.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<webhook>");
    }
    text
}

/// Cuts `path` to `length` bytes, appends one line per alert, and syncs.
fn append_lines(path: &Path, length: u64, alerts: &[Alert]) -> Result<()> {
    let io = |e| Error::io(path, e);
    let mut file = OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(io)?;
    file.set_len(length).map_err(io)?;
    file.seek(SeekFrom::Start(length)).map_err(io)?;
    let mut lines = Vec::new();
    for alert in alerts {
        serde_json::to_writer(&mut lines, alert).map_err(|e| io(std::io::Error::other(e)))?;
        lines.push(b'\n');
    }
    file.write_all(&lines).and_then(|()| file.sync_all()).map_err(io)
}

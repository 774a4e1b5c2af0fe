//! Scheduled runs: the rule over each new stretch of the lake, like
//! Sentinel's "run every hour over the last hour", without gaps or duplicates.
//!
//! A run evaluates `[start, horizon)`: `horizon` is `now - delay` rounded
//! down to a multiple of `every` (so to a bin boundary: bins are whole and
//! each is evaluated only once all of it is in range), and `start` is where
//! the last run stopped or `horizon - lookback`, whichever is earlier, so a
//! stopped runner catches up on restart. Alerts already emitted (by AlertId)
//! are not emitted again; the state file records progress atomically, and a
//! run's alerts are recorded in it before any sink sees them (the outbox).

pub mod sinks;
pub mod state;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::detect::{Alert, RuleParams, RuleQuery, TimeRange};
use crate::engine::{self, EngineOptions};
use crate::error::{Error, Result};
use crate::lake::LakeLocation;
use crate::time::Micros;
use sinks::Sinks;
use state::{Outbox, State, StateLock};

/// How long alert ids are remembered beyond the look-back, in case a later
/// run is started with a longer `--lookback`.
const SEEN_MARGIN: Duration = Duration::from_secs(24 * 3600);

/// How a runner schedules its work.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Run period; each run's range ends on a multiple of it.
    pub every: Duration,
    /// Each run re-evaluates at least this much before its end.
    pub lookback: Duration,
    /// Leave this much time for late events before evaluating.
    pub delay: Duration,
    /// One alert per source per this period.
    pub suppress: Option<Duration>,
    /// Where the very first run starts (default: `lookback` before its end).
    pub first_start: Option<Micros>,
}

/// A runner's settings.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The lake.
    pub lake: LakeLocation,
    /// Engine settings.
    pub engine: EngineOptions,
    /// The rule's SQL.
    pub query: RuleQuery,
    /// The rule's parameters (the range is set per run).
    pub params: RuleParams,
    /// When and what to evaluate.
    pub schedule: Schedule,
    /// The state file.
    pub state: PathBuf,
    /// Where alerts go.
    pub sinks: Sinks,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// The evaluated range, if there was anything new to evaluate.
    pub range: Option<(Micros, Micros)>,
    /// Alerts the rule returned for the range.
    pub found: usize,
    /// Alerts emitted by this run.
    pub emitted: usize,
    /// Alerts an earlier run already emitted.
    pub repeated: usize,
    /// Alerts held back by `--suppress`.
    pub suppressed: usize,
    /// Alerts of an interrupted run delivered by this one.
    pub recovered: usize,
}

impl Watch {
    /// Checks that the schedule fits the rule's bins.
    pub fn validate(&self) -> Result<()> {
        let bin = self.params.bin.as_micros();
        for (name, value) in [("every", self.schedule.every), ("lookback", self.schedule.lookback)] {
            if value.as_micros() % bin != 0 {
                return Err(Error::parameter(
                    name,
                    humantime::format_duration(value).to_string(),
                    format!("must be a multiple of the bin ({})", humantime::format_duration(self.params.bin)),
                ));
            }
        }
        Ok(())
    }

    /// The state file's owner: runs for another lake or profile must not share it.
    fn scope(&self) -> String {
        format!("{} profile={} query={}", self.lake.display, self.params.profile.name(), self.query.name)
    }

    /// The range a run at `now` evaluates, given where the last one stopped.
    pub fn range_at(&self, now: Micros, processed_until: Option<Micros>) -> Option<(Micros, Micros)> {
        let every = micros(self.schedule.every);
        let bin = micros(self.params.bin);
        let horizon = (now - micros(self.schedule.delay)).div_euclid(every) * every;
        let lookback_start = horizon - micros(self.schedule.lookback);
        let start = match processed_until {
            Some(done) if done >= horizon => return None,
            Some(done) => done.min(lookback_start),
            None => self.schedule.first_start.unwrap_or(lookback_start),
        };
        let start = start.div_euclid(bin) * bin;
        (start < horizon).then_some((start, horizon))
    }

    /// One run at `now`: finishes an interrupted run's delivery, evaluates
    /// the new range, records it, and delivers the new alerts.
    pub async fn run_once(&self, now: Micros) -> Result<RunSummary> {
        let _lock = StateLock::acquire(&self.state)?;
        let mut state = State::load(&self.state, &self.scope())?;
        let mut summary = RunSummary::default();
        if let Some(outbox) = state.outbox.clone() {
            tracing::info!(
                "finishing the interrupted run over [{}, {}): {} alerts",
                outbox.from,
                outbox.to,
                outbox.alerts.len()
            );
            summary.recovered = outbox.alerts.len();
            self.deliver(&mut state, outbox).await?;
        }
        let processed = state.processed_until.map(|t| t.timestamp_micros());
        let Some((from, to)) = self.range_at(now, processed) else {
            tracing::info!(
                "nothing new to evaluate: the lake is processed up to {}",
                state.processed_until.map_or_else(|| "-".into(), |t| t.to_rfc3339())
            );
            if !state.webhook_backlog.is_empty() {
                let to = state.processed_until.unwrap_or_default();
                self.deliver(&mut state, Outbox { from: to, to, alerts: Vec::new(), jsonl_length: None }).await?;
            }
            return Ok(summary);
        };
        summary.range = Some((from, to));
        let started = Instant::now();
        let alerts = self.evaluate(from, to).await?;
        summary.found = alerts.len();
        let mut fresh = Vec::new();
        for alert in alerts {
            let bin_start = alert.bin_start();
            if state.seen.contains_key(&alert.alert_id) {
                summary.repeated += 1;
                continue;
            }
            state.seen.insert(alert.alert_id.clone(), utc(bin_start));
            if let Some(period) = self.schedule.suppress {
                if state.suppressed_until.get(&alert.src_ip_addr).is_some_and(|until| *until > utc(bin_start)) {
                    summary.suppressed += 1;
                    continue;
                }
                state.suppressed_until.insert(alert.src_ip_addr.clone(), utc(bin_start + micros(period)));
            }
            fresh.push(alert);
        }
        summary.emitted = fresh.len();
        let forget_before = utc(to - micros(self.schedule.lookback) - micros(SEEN_MARGIN));
        state.seen.retain(|_, bin_start| *bin_start >= forget_before);
        state.suppressed_until.retain(|_, until| *until > utc(from));
        state.processed_until = Some(utc(to));
        state.runs += 1;
        let outbox = Outbox { from: utc(from), to: utc(to), alerts: fresh, jsonl_length: self.sinks.jsonl_length()? };
        state.outbox = Some(outbox.clone());
        state.save(&self.state)?;
        tracing::info!(
            "evaluated [{}, {}) in {:.2} s: {} alerts, {} new, {} already emitted, {} suppressed",
            utc(from).to_rfc3339(),
            utc(to).to_rfc3339(),
            started.elapsed().as_secs_f64(),
            summary.found,
            summary.emitted,
            summary.repeated,
            summary.suppressed
        );
        self.deliver(&mut state, outbox).await?;
        Ok(summary)
    }

    /// The rule's alerts over `[from, to)`.
    async fn evaluate(&self, from: Micros, to: Micros) -> Result<Vec<Alert>> {
        let mut params = self.params.clone();
        params.range = TimeRange { from: Some(from), to: Some(to) };
        let ctx = engine::open(&self.lake, &self.engine).await?;
        let detection = engine::explained(&self.lake, crate::detect::detect(&ctx, &self.query, &params).await).await?;
        Alert::from_result(&detection.alerts, &self.query.name)
    }

    /// Delivers an outbox (and the webhook backlog), then clears it from the state.
    async fn deliver(&self, state: &mut State, outbox: Outbox) -> Result<()> {
        let profile = self.params.profile.name();
        self.sinks.deliver_files(&outbox, profile)?;
        let mut pending = std::mem::take(&mut state.webhook_backlog);
        pending.extend(outbox.alerts.iter().cloned());
        if !self.sinks.deliver_webhook(&outbox, profile, &pending).await {
            state.webhook_backlog = pending;
        }
        state.outbox = None;
        state.save(&self.state)
    }

    /// Runs at every period boundary (plus the delay) until interrupted.
    pub async fn run_forever(&self) -> Result<()> {
        loop {
            let now = Utc::now().timestamp_micros();
            if let Err(e) = self.run_once(now).await {
                // A failed run leaves the state as it was; the next one retries the range.
                tracing::error!("run failed: {e}");
            }
            let every = micros(self.schedule.every);
            let delay = micros(self.schedule.delay);
            let next = (now - delay).div_euclid(every) * every + every + delay;
            let wait = Duration::from_micros(u64::try_from(next - Utc::now().timestamp_micros()).unwrap_or(0));
            tracing::info!("next run at {}", utc(next).to_rfc3339());
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = tokio::signal::ctrl_c() => {
                    tracing::info!("interrupted; the state is saved");
                    return Ok(());
                }
            }
        }
    }
}

fn micros(d: Duration) -> Micros {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn utc(micros: Micros) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(every: u64, lookback: u64, delay: u64) -> Watch {
        Watch {
            lake: LakeLocation::parse("/tmp", false, &Default::default()).unwrap(),
            engine: EngineOptions::default(),
            query: RuleQuery::default(),
            params: RuleParams::default(),
            schedule: Schedule {
                every: Duration::from_secs(every),
                lookback: Duration::from_secs(lookback),
                delay: Duration::from_secs(delay),
                suppress: None,
                first_start: None,
            },
            state: PathBuf::from("/tmp/none.json"),
            sinks: Sinks::default(),
        }
    }

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn first_run_covers_the_lookback_ending_on_a_period_boundary() {
        let w = watch(3600, 3600, 300);
        // 10:07 with a 5-minute delay: the range ends at 10:00.
        let now = 10 * HOUR + 7 * 60_000_000;
        assert_eq!(w.range_at(now, None), Some((9 * HOUR, 10 * HOUR)));
        // 10:04 is still inside the delay: the range ends at 09:00.
        assert_eq!(w.range_at(10 * HOUR + 4 * 60_000_000, None), Some((8 * HOUR, 9 * HOUR)));
    }

    #[test]
    fn a_restart_catches_up_from_where_the_last_run_stopped() {
        let w = watch(3600, 3600, 0);
        assert_eq!(w.range_at(15 * HOUR, Some(10 * HOUR)), Some((10 * HOUR, 15 * HOUR)));
        assert_eq!(w.range_at(10 * HOUR + 1, Some(10 * HOUR)), None);
        // A longer look-back re-evaluates before the last end.
        let w = watch(3600, 2 * 3600, 0);
        assert_eq!(w.range_at(11 * HOUR, Some(10 * HOUR)), Some((9 * HOUR, 11 * HOUR)));
    }
}

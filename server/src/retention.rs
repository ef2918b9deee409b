//! The background purge: every replica runs [`domain::Engine::purge_expired`] now and then.
//! The deletes are idempotent and come in short rounds, so replicas sharing one database only
//! share the work, and SQLite's writer is never held for long.

use std::sync::Arc;

use domain::{store::PurgeCounts, Engine};

use crate::config::RetentionSettings;

/// Runs one purge at once and then one every `settings.interval`, until the runtime stops or
/// the handle is aborted.
pub fn spawn(engine: Arc<Engine>, settings: RetentionSettings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(settings.interval);
        // A purge that took long (or a suspended machine) does not make the next ones run back
        // to back.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            purge_once(&engine, &settings).await;
        }
    })
}

/// One purge, logged: the counts at info, a failure as a warning (the next interval retries).
pub async fn purge_once(engine: &Engine, settings: &RetentionSettings) -> Option<PurgeCounts> {
    match engine.purge_expired(&settings.keep).await {
        Ok(counts) => {
            tracing::info!(
                sessions = counts.sessions,
                handoffs = counts.handoffs,
                codes = counts.codes,
                events = counts.events,
                "retention purge done"
            );
            Some(counts)
        }
        Err(err) => {
            tracing::warn!(error = %err, "retention purge failed; the next one retries");
            None
        }
    }
}

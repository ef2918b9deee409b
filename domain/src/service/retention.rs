//! The retention purge: what has ended long enough ago to be forgotten (sessions, handoffs, spent
//! recovery codes, events) is deleted in short rounds that several replicas may run at once.

use time::Duration;

use crate::error::{store_err, DomainError};
use crate::store::{PurgeCounts, PurgeRound};

use super::Engine;

/// How long ended records are kept. Events are the audit trail and have their own setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Terminated or expired sessions, counted from their end.
    pub sessions: Duration,
    /// Handoffs whose link expired and whose session ended, counted from their creation.
    pub handoffs: Duration,
    /// Recovery codes, counted from their use.
    pub codes: Duration,
    /// Events of the audit log, counted from when they happened.
    pub events: Duration,
    /// Rows of each kind one round deletes at most.
    pub batch: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            sessions: Duration::days(90),
            handoffs: Duration::days(90),
            codes: Duration::days(90),
            events: Duration::days(90),
            batch: 500,
        }
    }
}

/// Rounds one purge runs at most; what is left waits for the next purge.
const MAX_ROUNDS: u32 = 10_000;

impl Engine {
    /// Deletes everything older than `retention`, in rounds of at most `retention.batch` rows of
    /// each kind, until a round finds less than a full batch of every kind. Returns the counts.
    pub async fn purge_expired(&self, retention: &Retention) -> Result<PurgeCounts, DomainError> {
        let now = self.now();
        // A retention never reaches into the future, whatever it was set to.
        let before = |keep: Duration| now - keep.max(Duration::ZERO);
        let round = PurgeRound {
            now,
            sessions_before: before(retention.sessions),
            handoffs_before: before(retention.handoffs),
            codes_before: before(retention.codes),
            events_before: before(retention.events),
            limit: retention.batch.max(1),
        };
        let full = u64::from(round.limit);
        let mut total = PurgeCounts::default();
        for _ in 0..MAX_ROUNDS {
            let counts = self
                .store
                .purge_round(&round)
                .await
                .map_err(|e| store_err("purge expired records", e))?;
            total.add(counts);
            let more = counts.sessions == full
                || counts.handoffs == full
                || counts.codes == full
                || counts.events == full;
            if !more {
                break;
            }
            // Let the requests queued on the database (SQLite's single writer) go first.
            tokio::task::yield_now().await;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::model::{NewEvent, Outcome};
    use crate::store::{EventFilter, Store};
    use crate::testing::test_engine;

    fn event(at: time::OffsetDateTime, kind: &str) -> NewEvent {
        NewEvent {
            at,
            session_id: None,
            user_id: None,
            app_id: None,
            client_ip: None,
            kind: kind.to_owned(),
            outcome: Outcome::Succeeded,
            error_id: None,
        }
    }

    #[tokio::test]
    async fn old_events_go_in_rounds_and_positions_are_never_reused() {
        let t = test_engine().unwrap();
        let start = t.clock.now();
        let old: Vec<NewEvent> = (0..5).map(|_| event(start, "old")).collect();
        t.store.append_events(&old).await.unwrap();
        t.clock.advance(Duration::days(60));
        t.store
            .append_events(&[event(t.clock.now(), "young")])
            .await
            .unwrap();
        t.clock.advance(Duration::days(31));
        let retention = Retention {
            batch: 2,
            ..Retention::default()
        };
        let counts = t.engine.purge_expired(&retention).await.unwrap();
        assert_eq!(counts.events, 5);
        assert_eq!(counts.total(), 5);
        let left = t.store.list_events(&EventFilter::default()).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].event.kind, "young");
        // Nothing more to do; a new event takes a fresh position.
        let again = t.engine.purge_expired(&retention).await.unwrap();
        assert_eq!(again, PurgeCounts::default());
        t.store
            .append_events(&[event(t.clock.now(), "new")])
            .await
            .unwrap();
        let all = t.store.list_events(&EventFilter::default()).await.unwrap();
        assert_eq!(all.last().map(|e| e.sequence), Some(7));
    }
}

//! Rate limits shared by every replica: fixed-window counters in the database.
//!
//! A [`Rule`] allows `limit` requests per `window_secs` for one key (an app, an address, an API
//! key). Each [`RateLimiter::check`] adds one hit with a single atomic upsert and compares the
//! window's count, so concurrent requests on several replicas sharing PostgreSQL are counted
//! exactly. Refused requests count too, so a client that keeps hammering stays refused until the
//! window ends. Old windows are deleted now and then by whichever request comes along.

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use serde::Deserialize;
use storage::Database;

/// How often (seconds) one process deletes expired counters.
const PURGE_EVERY_SECS: i64 = 60;
/// Keys longer than this are replaced by their SHA-256, so input never makes a row large.
const MAX_KEY_CHARS: usize = 120;

/// `limit` requests per `window_secs`; a limit of 0 turns the rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub limit: u32,
    pub window_secs: u32,
}

impl Rule {
    /// `limit` a minute.
    pub const fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            window_secs: 60,
        }
    }

    /// No limit.
    pub const fn off() -> Self {
        Self {
            limit: 0,
            window_secs: 60,
        }
    }
}

/// The request was refused; the client may try again after this many seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// Counts requests per key in the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    db: Database,
    last_purge: Arc<AtomicI64>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl RateLimiter {
    pub fn new(db: Database) -> Self {
        Self {
            db,
            last_purge: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Counts one request for `key` under `rule`; `Err` when it is over the limit. Keys should
    /// name their purpose, e.g. `handoff.generate.app:<id>`. When the database fails the
    /// request is let through (and logged): the limits protect the service, they are not a check
    /// of the caller.
    pub async fn check(&self, key: &str, rule: Rule) -> Result<(), RetryAfter> {
        self.check_at(key, rule, unix_now()).await
    }

    async fn check_at(&self, key: &str, rule: Rule, now: i64) -> Result<(), RetryAfter> {
        if rule.limit == 0 {
            return Ok(());
        }
        let window = i64::from(rule.window_secs.max(1));
        let start = now - now.rem_euclid(window);
        let end = start + window;
        let key = if key.len() > MAX_KEY_CHARS {
            format!(
                "sha256:{}",
                domain::crypto::to_hex(&domain::crypto::sha256(key.as_bytes()))
            )
        } else {
            key.to_owned()
        };
        // The window length is part of the key: two rules on one key never share a count.
        let key = format!("{key}@{window}");
        self.maybe_purge(now);
        match self.db.hit_rate_counter(&key, start, end).await {
            Ok(hits) if hits > i64::from(rule.limit) => {
                Err(RetryAfter(u64::try_from(end - now).unwrap_or(1).max(1)))
            }
            Ok(_) => Ok(()),
            Err(err) => {
                tracing::warn!(error = %err, "rate limit counter unavailable; request allowed");
                Ok(())
            }
        }
    }

    fn maybe_purge(&self, now: i64) {
        let last = self.last_purge.load(Ordering::Relaxed);
        if now - last < PURGE_EVERY_SECS
            || self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let db = self.db.clone();
        tokio::spawn(async move {
            if let Err(err) = db.purge_rate_counters(now).await {
                tracing::warn!(error = %err, "could not purge rate limit counters");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn limiter() -> (RateLimiter, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "vestibule-ratelimit-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Database::connect(&Database::sqlite_url_in(&dir))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        (RateLimiter::new(db), dir)
    }

    #[tokio::test]
    async fn allows_the_limit_then_refuses_until_the_window_ends() {
        let (limiter, dir) = limiter().await;
        let rule = Rule {
            limit: 3,
            window_secs: 10,
        };
        let t = 1_000_003;
        for _ in 0..3 {
            assert_eq!(limiter.check_at("k", rule, t).await, Ok(()));
        }
        assert_eq!(limiter.check_at("k", rule, t).await, Err(RetryAfter(7)));
        // Other keys and other rules count apart.
        assert_eq!(limiter.check_at("other", rule, t).await, Ok(()));
        assert_eq!(limiter.check_at("k", Rule::per_minute(5), t).await, Ok(()));
        // The next window starts afresh.
        assert_eq!(limiter.check_at("k", rule, t + 7).await, Ok(()));
        for _ in 0..100 {
            assert_eq!(limiter.check_at("k", Rule::off(), t).await, Ok(()));
        }
        let long = "x".repeat(10_000);
        assert_eq!(limiter.check_at(&long, rule, t).await, Ok(()));
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! Injected time (and, re-exported, injected randomness) so expiry, TOTP windows and lockout are
//! tested without sleeping.

use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

pub use crate::crypto::{Rng, SeededRng, SystemRng};

/// Where the engine reads the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Mutex::new(at))
    }
    /// Moves the clock forward (or backward, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now += by;
    }
    /// Sets the clock to `at`.
    pub fn set(&self, at: OffsetDateTime) {
        *self.lock() = at;
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, OffsetDateTime> {
        match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.lock()
    }
}

//! Password hashing off the async runtime: argon2id on blocking threads, a bounded number at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::crypto::{self, Argon2Memory, Argon2Params, PasswordMatch, Rng, Secret};
use crate::error::DomainError;

/// Hashes and verifies passwords with at most `max_in_flight` argon2 computations at a time, so
/// memory stays bounded (m_cost KiB each) whatever the load.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Argon2Params,
    permits: Arc<Semaphore>,
    /// Working memory of finished computations, reused by the next ones: at most one buffer per
    /// permit, so resident memory stays near `max_in_flight × m_cost` under any burst.
    memory: Arc<Mutex<Vec<Argon2Memory>>>,
    /// A real hash of a random password, verified against for unknown users.
    dummy_hash: Arc<String>,
    /// Verifications against stored hashes (dummy ones not counted), for tests and metrics.
    verifications: Arc<AtomicU64>,
    /// The queue in front of the permits, for metrics.
    queue: Arc<QueueCounters>,
    max_in_flight: usize,
}

#[derive(Debug, Default)]
struct QueueCounters {
    waiting: AtomicU64,
    started: AtomicU64,
    wait_nanos: AtomicU64,
}

/// Counts one waiter for as long as it lives, also when the waiting request is dropped.
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicU64) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The argon2 queue at one moment, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashQueue {
    /// Computations waiting for a permit now.
    pub waiting: u64,
    /// Computations running now.
    pub in_flight: u64,
    /// The most that run at once.
    pub max_in_flight: u64,
    /// Computations started so far (hashes, verifications and dummy verifications).
    pub started: u64,
    /// Time all of those spent waiting for a permit, in total.
    pub waited: std::time::Duration,
}

impl PasswordHasher {
    /// A hasher with `params`; `max_in_flight` 0 means "available cores".
    pub fn new(
        params: Argon2Params,
        max_in_flight: usize,
        rng: &dyn Rng,
    ) -> Result<Self, DomainError> {
        params
            .validate()
            .map_err(|e| DomainError::internal("argon2 parameters", &e))?;
        let n = if max_in_flight == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            max_in_flight
        };
        let dummy_password = crypto::random_token(rng);
        let dummy_hash = crypto::argon2_hash(&params, dummy_password.expose().as_bytes(), rng)
            .map_err(|e| DomainError::internal("dummy hash", &e))?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(n)),
            memory: Arc::new(Mutex::new(Vec::with_capacity(n))),
            dummy_hash: Arc::new(dummy_hash),
            verifications: Arc::new(AtomicU64::new(0)),
            queue: Arc::default(),
            max_in_flight: n,
        })
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// Hashes a password (PHC string).
    pub async fn hash(
        &self,
        password: &Secret<String>,
        rng: Arc<dyn Rng>,
    ) -> Result<String, DomainError> {
        let params = self.params;
        let password = password.clone();
        self.run(move |memory| {
            crypto::argon2_hash_in(&params, password.expose().as_bytes(), rng.as_ref(), memory)
                .map_err(|e| DomainError::internal("argon2 hash", &e))
        })
        .await
    }

    /// Verifies a password against a stored hash.
    pub async fn verify(
        &self,
        password: &Secret<String>,
        phc: &str,
    ) -> Result<PasswordMatch, DomainError> {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        self.verify_against(password, phc).await
    }

    /// How many passwords were verified against stored hashes so far (dummy verifications of
    /// unknown users not included).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn verify_against(
        &self,
        password: &Secret<String>,
        phc: &str,
    ) -> Result<PasswordMatch, DomainError> {
        let params = self.params;
        let password = password.clone();
        let phc = phc.to_owned();
        self.run(move |memory| {
            crypto::argon2_verify_in(&params, password.expose().as_bytes(), &phc, memory)
                .map_err(|e| DomainError::internal("argon2 verify", &e))
        })
        .await
    }

    /// Spends one verification on a hash that matches nothing, so an unknown user costs the same
    /// as a known one. Always returns "no match".
    pub async fn verify_dummy(&self, password: &Secret<String>) -> Result<(), DomainError> {
        // SECURITY: equal cost for unknown users; the result is ignored on purpose.
        let dummy = self.dummy_hash.clone();
        self.verify_against(password, &dummy).await.map(|_| ())
    }

    async fn run<T, F>(&self, work: F) -> Result<T, DomainError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Argon2Memory) -> Result<T, DomainError> + Send + 'static,
    {
        // SECURITY: bounded in flight, so many parallel logins cannot exhaust memory.
        let queued = std::time::Instant::now();
        let in_queue = Waiting::enter(&self.queue.waiting);
        let permit = self.permits.acquire().await;
        drop(in_queue);
        let _permit = permit.map_err(|e| DomainError::internal("hash semaphore", &e))?;
        let waited = u64::try_from(queued.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.queue.wait_nanos.fetch_add(waited, Ordering::Relaxed);
        self.queue.started.fetch_add(1, Ordering::Relaxed);
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = lock(&pool).pop().unwrap_or_default();
            let result = work(&mut memory);
            lock(&pool).push(memory);
            result
        })
        .await
        .map_err(|e| DomainError::internal("hash task", &e))?
    }

    /// The queue for permits right now (for metrics).
    pub fn queue(&self) -> HashQueue {
        let max = self.max_in_flight;
        HashQueue {
            waiting: self.queue.waiting.load(Ordering::Relaxed),
            in_flight: u64::try_from(max.saturating_sub(self.permits.available_permits()))
                .unwrap_or(u64::MAX),
            max_in_flight: u64::try_from(max).unwrap_or(u64::MAX),
            started: self.queue.started.load(Ordering::Relaxed),
            waited: std::time::Duration::from_nanos(self.queue.wait_nanos.load(Ordering::Relaxed)),
        }
    }

    /// Buffers kept for reuse and their total size in bytes (for tests and metrics).
    pub fn pooled_memory(&self) -> (usize, usize) {
        let pool = lock(&self.memory);
        (pool.len(), pool.iter().map(Argon2Memory::size).sum())
    }
}

fn lock(pool: &Mutex<Vec<Argon2Memory>>) -> std::sync::MutexGuard<'_, Vec<Argon2Memory>> {
    // A panic while holding the lock cannot leave the list inconsistent: take it anyway.
    pool.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SeededRng;

    fn cheap() -> Argon2Params {
        Argon2Params {
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
        }
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let rng: Arc<dyn Rng> = Arc::new(SeededRng::new(1));
        let h = PasswordHasher::new(cheap(), 2, rng.as_ref()).unwrap();
        let pw = Secret::new("correct horse".to_owned());
        let phc = h.hash(&pw, rng.clone()).await.unwrap();
        assert!(h.verify(&pw, &phc).await.unwrap().matches);
        assert!(
            !h.verify(&Secret::new("wrong".into()), &phc)
                .await
                .unwrap()
                .matches
        );
        h.verify_dummy(&pw).await.unwrap();
        assert_eq!(
            h.verifications(),
            2,
            "the dummy verification is not counted"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn working_memory_is_reused_and_bounded_by_the_in_flight_limit() {
        let rng: Arc<dyn Rng> = Arc::new(SeededRng::new(2));
        let params = Argon2Params {
            m_cost: 1024,
            t_cost: 1,
            p_cost: 1,
        };
        let h = PasswordHasher::new(params, 3, rng.as_ref()).unwrap();
        let pw = Secret::new("correct horse".to_owned());
        let phc = h.hash(&pw, rng.clone()).await.unwrap();
        let checks = (0..60).map(|i| {
            let h = h.clone();
            let phc = phc.clone();
            let guess = Secret::new(if i % 2 == 0 { "correct horse" } else { "wrong" }.to_owned());
            tokio::spawn(async move { h.verify(&guess, &phc).await.unwrap().matches })
        });
        let mut matched = 0;
        for check in checks {
            matched += usize::from(check.await.unwrap());
        }
        assert_eq!(matched, 30);
        let (buffers, bytes) = h.pooled_memory();
        assert!(
            (1..=3).contains(&buffers),
            "{buffers} buffers for 3 permits"
        );
        assert_eq!(bytes, buffers * 1024 * 1024);
    }

    #[test]
    fn hashes_verify_with_the_reference_implementation_and_back() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
        let params = cheap();
        let ours = crypto::argon2_hash(&params, b"pw", &SeededRng::new(3)).unwrap();
        let parsed = argon2::password_hash::PasswordHash::new(&ours).unwrap();
        assert!(argon2::Argon2::default()
            .verify_password(b"pw", &parsed)
            .is_ok());
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(64, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw", &salt)
        .unwrap()
        .to_string();
        let ok = crypto::argon2_verify(&params, b"pw", &theirs).unwrap();
        assert!(ok.matches && !ok.needs_rehash);
        assert!(
            !crypto::argon2_verify(&params, b"px", &theirs)
                .unwrap()
                .matches
        );
        // Other algorithms still verify, and ask for a rehash.
        let argon2i = argon2::Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::new(64, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw", &salt)
        .unwrap()
        .to_string();
        let old = crypto::argon2_verify(&params, b"pw", &argon2i).unwrap();
        assert!(old.matches && old.needs_rehash);
    }

    #[tokio::test]
    async fn default_params_are_owasp() {
        assert_eq!(
            Argon2Params::default(),
            Argon2Params {
                m_cost: 19_456,
                t_cost: 2,
                p_cost: 1
            }
        );
        let bad = Argon2Params {
            m_cost: 0,
            t_cost: 0,
            p_cost: 0,
        };
        assert_eq!(
            PasswordHasher::new(bad, 1, &SeededRng::new(1)).err(),
            Some(DomainError::Internal)
        );
    }
}

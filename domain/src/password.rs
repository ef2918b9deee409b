//! Password hashing off the async runtime: argon2id on blocking threads, a bounded number at once.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::crypto::{self, Argon2Params, PasswordMatch, Rng, Secret};
use crate::error::DomainError;

/// Hashes and verifies passwords with at most `max_in_flight` argon2 computations at a time, so
/// memory stays bounded (m_cost KiB each) whatever the load.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Argon2Params,
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against for unknown users.
    dummy_hash: Arc<String>,
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
            dummy_hash: Arc::new(dummy_hash),
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
        self.run(move || {
            crypto::argon2_hash(&params, password.expose().as_bytes(), rng.as_ref())
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
        let params = self.params;
        let password = password.clone();
        let phc = phc.to_owned();
        self.run(move || {
            crypto::argon2_verify(&params, password.expose().as_bytes(), &phc)
                .map_err(|e| DomainError::internal("argon2 verify", &e))
        })
        .await
    }

    /// Spends one verification on a hash that matches nothing, so an unknown user costs the same
    /// as a known one. Always returns "no match".
    pub async fn verify_dummy(&self, password: &Secret<String>) -> Result<(), DomainError> {
        // SECURITY: equal cost for unknown users; the result is ignored on purpose.
        let dummy = self.dummy_hash.clone();
        self.verify(password, &dummy).await.map(|_| ())
    }

    async fn run<T, F>(&self, work: F) -> Result<T, DomainError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, DomainError> + Send + 'static,
    {
        // SECURITY: bounded in flight, so many parallel logins cannot exhaust memory.
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| DomainError::internal("hash semaphore", &e))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| DomainError::internal("hash task", &e))?
    }
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

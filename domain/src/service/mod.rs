//! The engine: one value holding the store, clock, randomness, hasher, server key and notifier,
//! with every operation of sign-in as a method. The edges (REST, Connect, hosted page) only call it.

mod admin;
mod enroll;
mod handoff;
mod policy;
mod retention;
mod session;
mod webauthn;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::crypto::{self, Argon2Params, Rng, ServerKey};
use crate::error::{store_err, DomainError};
use crate::model::Instance;
use crate::notifier::Notifier;
use crate::password::PasswordHasher;
use crate::store::{LockoutRule, Store};

pub use admin::{AppChanges, AuthenticatedKey, NewApp, NewUser, ProfileChanges, UserFactors};
pub use handoff::{
    handoff_cookie_name, AuthenticatedApp, GenerateHandoff, GeneratedHandoff, HandoffCompletion,
    HandoffState, HandoffStatus, HandoffUser, ValidateHandoff, ValidateProof, MAX_STATE_BYTES,
};
pub use handoff::{
    mask_email, mask_phone, Browser, Ceremony, CodeCheck, HandoffContacts, HostedLogin, HostedStep,
    LoginAction, LoginEnd, Next,
};
pub use policy::{PolicyState, VerifiedSession};
pub use retention::Retention;
pub use session::{
    Caller, ChallengeRequests, ChallengeResponse, Checks, CreateSessionRequest, Details,
    EmailCodeDelivery, ListSessionsQuery, SessionChange, SessionChanged, SetSessionRequest,
    SmsCodeDelivery, WebAuthnChallengeRequest,
};
pub use webauthn::{WebAuthnCredentialView, WebAuthnRegistration};

/// Tunable rules. Defaults follow `security-targets.md`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Wrong passwords before a lock (default 5 for 15 minutes; limit 0 disables).
    pub password_lockout: LockoutRule,
    /// Wrong TOTP / SMS / email / recovery codes before a lock (default 5 for 15 minutes).
    pub code_lockout: LockoutRule,
    /// How long an SMS or email code is valid (default 10 minutes).
    pub code_ttl: Duration,
    /// Wrong tries allowed against one SMS or email code (default 5).
    pub code_max_attempts: u32,
    /// Minimum time between two code requests on one session and channel (default 30 s).
    pub resend_cooldown: Duration,
    /// Argon2id cost (default m=19456 KiB, t=2, p=1).
    pub argon2: Argon2Params,
    /// Argon2 computations in flight at most; 0 means available cores.
    pub max_hashes_in_flight: usize,
    /// Issuer shown in authenticator apps (must not contain ':').
    pub totp_issuer: String,
    /// Page size of lists when the caller gives none (100).
    pub list_default_limit: u32,
    /// Largest page size; larger requests are reduced to it (1000).
    pub list_max_limit: u32,
    /// How long a handoff login link can be claimed (default 10 minutes).
    pub handoff_link_ttl: Duration,
    /// Lifetime of a handoff's session when the app sends none (default 30 minutes).
    pub handoff_session_lifetime: Duration,
    /// Longest lifetime a request may give a session (default 30 days); more is refused with
    /// `COMMAND-asEG4`, so a key cannot make a session that outlives every logout review.
    pub max_session_lifetime: Duration,
    /// WebAuthn relying party id: the public host or a parent domain of it. Empty turns WebAuthn
    /// off (`SESSION-Wan00`), which is what a server reached by IP address gets.
    pub rp_id: String,
    /// The origin browsers run WebAuthn ceremonies on (`https://login.example.com`).
    pub rp_origin: String,
    /// Further accepted origins (another port, a subdomain, a native app's origin).
    pub rp_extra_origins: Vec<String>,
    /// The name authenticators show.
    pub rp_name: String,
    /// How long a WebAuthn challenge or registration can be finished (default 5 minutes).
    pub webauthn_ttl: Duration,
    /// Different login names one hosted login takes (default 3; 0 turns the rule off): a link
    /// that has seen this many refuses new ones with `SESSION-Lgn02`, names it saw still work.
    pub hosted_login_names: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            password_lockout: LockoutRule {
                limit: 5,
                lock_for: Duration::minutes(15),
            },
            code_lockout: LockoutRule {
                limit: 5,
                lock_for: Duration::minutes(15),
            },
            code_ttl: Duration::minutes(10),
            code_max_attempts: 5,
            resend_cooldown: Duration::seconds(30),
            argon2: Argon2Params::default(),
            max_hashes_in_flight: 0,
            totp_issuer: "Vestibule".to_owned(),
            list_default_limit: 100,
            list_max_limit: 1000,
            handoff_link_ttl: Duration::minutes(10),
            handoff_session_lifetime: Duration::minutes(30),
            max_session_lifetime: Duration::days(30),
            rp_id: "localhost".to_owned(),
            rp_origin: "http://localhost:3000".to_owned(),
            rp_extra_origins: Vec::new(),
            rp_name: "Vestibule".to_owned(),
            webauthn_ttl: Duration::minutes(5),
            hosted_login_names: 3,
        }
    }
}

/// The session engine.
pub struct Engine {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    hasher: PasswordHasher,
    key: ServerKey,
    notifier: Arc<dyn Notifier>,
    config: Config,
    instance: OnceLock<Instance>,
    /// Sessions with a Set or Delete running in this process (double-submit guard).
    in_flight: Mutex<HashSet<String>>,
    /// Ids of handoffs whose state changed in this process, for long-polling validators.
    handoff_changes: tokio::sync::broadcast::Sender<String>,
    /// The WebAuthn relying party; `None` when `rp_id` is empty.
    webauthn: Option<webauthn_rs::Webauthn>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Wires an engine. Fails on invalid argon2 parameters, issuer or WebAuthn relying party.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
        notifier: Arc<dyn Notifier>,
        key: ServerKey,
        config: Config,
    ) -> Result<Self, DomainError> {
        if config.totp_issuer.is_empty() || config.totp_issuer.contains(':') {
            return Err(DomainError::field(
                "totp_issuer",
                "must be non-empty without ':'",
            ));
        }
        let hasher = PasswordHasher::new(config.argon2, config.max_hashes_in_flight, rng.as_ref())?;
        let webauthn = webauthn::relying_party(&config)?;
        Ok(Self {
            store,
            clock,
            rng,
            hasher,
            key,
            notifier,
            config,
            instance: OnceLock::new(),
            in_flight: Mutex::new(HashSet::new()),
            handoff_changes: tokio::sync::broadcast::channel(256).0,
            webauthn,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The password hasher (for benchmarks comparing raw argon2 with engine checks).
    pub fn password_hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Gets the instance, creating it with a fresh id on first start. Its id is stable afterwards.
    pub async fn init_instance(&self) -> Result<Instance, DomainError> {
        if let Some(instance) = self.instance.get() {
            return Ok(instance.clone());
        }
        let candidate = Instance {
            id: crypto::random_id(self.rng.as_ref()),
            created_at: self.now(),
        };
        let instance = self
            .store
            .get_or_create_instance(&candidate)
            .await
            .map_err(|e| store_err("init instance", e))?;
        let _ = self.instance.set(instance.clone());
        Ok(instance)
    }

    async fn instance_id(&self) -> Result<String, DomainError> {
        Ok(self.init_instance().await?.id)
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn new_id(&self) -> String {
        crypto::random_id(self.rng.as_ref())
    }

    fn list_limit(&self, asked: u32) -> u32 {
        match asked {
            0 => self.config.list_default_limit,
            n => n.min(self.config.list_max_limit),
        }
    }

    /// Marks a session busy in this process; the guard frees it when dropped.
    fn claim(&self, session_id: &str) -> Result<InFlight<'_>, DomainError> {
        let mut set = match self.in_flight.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // SECURITY: a second request for a session already being changed is refused before it
        // runs any check, so a double submit cannot count a failure twice (zitadel#12615).
        if !set.insert(session_id.to_owned()) {
            return Err(DomainError::ConcurrentChange);
        }
        Ok(InFlight {
            engine: self,
            id: session_id.to_owned(),
        })
    }
}

struct InFlight<'a> {
    engine: &'a Engine,
    id: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut set = match self.engine.in_flight.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        set.remove(&self.id);
    }
}

#[cfg(test)]
mod tests;

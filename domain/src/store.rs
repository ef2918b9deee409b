//! The persistence port. `storage` implements it on SQLite and PostgreSQL; the engine only sees this.
//!
//! Every method that decides something under concurrency (lockout, single-use codes, token
//! rotation) does so atomically in the backend, so parallel requests and several server replicas
//! sharing one database cannot get around a rule.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::model::{
    ApiKey, App, Event, Handoff, Instance, NewEvent, RecoveryCode, Session, User,
    WebAuthnCredential,
};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// The record to change does not exist.
    #[error("not found")]
    NotFound,
    /// A unique value is taken (`what` names it: "login_name", "app_key", ...).
    #[error("{what} already exists")]
    Duplicate { what: &'static str },
    /// The session changed since it was read (its sequence moved): nothing was written.
    #[error("the session was changed concurrently")]
    Conflict,
    /// The user is locked until the given time: nothing was written.
    #[error("the user is locked")]
    Locked { until: OffsetDateTime },
    /// A single-use value (TOTP step, recovery code) was already used: nothing was written.
    #[error("already used")]
    Replayed,
    /// The database failed; the text is for logs, never for clients.
    #[error("storage backend: {0}")]
    Backend(String),
}

/// Which failure counter a check feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCounter {
    Password,
    /// TOTP, SMS code, email code and recovery code share one counter.
    Code,
}

impl FailureCounter {
    /// The other counter.
    pub fn other(self) -> Self {
        match self {
            Self::Password => Self::Code,
            Self::Code => Self::Password,
        }
    }
}

/// When failures lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutRule {
    /// Failures (consecutive, on one counter) that lock the account; 0 disables lockout.
    pub limit: u32,
    pub lock_for: time::Duration,
}

/// Which code challenge on a session a failed code check counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeChannel {
    Sms,
    Email,
}

/// The limits of both failure counters, which decide together whether a user stays locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutLimits {
    pub password: LockoutRule,
    pub code: LockoutRule,
}

impl LockoutLimits {
    /// The rule of `counter`.
    pub fn rule(&self, counter: FailureCounter) -> LockoutRule {
        match counter {
            FailureCounter::Password => self.password,
            FailureCounter::Code => self.code,
        }
    }
    /// The rule of the counter that is not `counter`.
    pub fn other(&self, counter: FailureCounter) -> LockoutRule {
        match counter {
            FailureCounter::Password => self.code,
            FailureCounter::Code => self.password,
        }
    }
}

/// One attempt on a user's failure counter, reserved before the guess is evaluated.
#[derive(Debug, Clone)]
pub struct AttemptReservation {
    pub user_id: String,
    pub counter: FailureCounter,
    pub limits: LockoutLimits,
    pub now: OffsetDateTime,
    /// A lock that an earlier check of the same request set with its own reservation and then
    /// passed: it stands only until that request's write lifts it, so it does not stop the
    /// request's next check.
    pub own_lock: Option<OffsetDateTime>,
}

/// The counter after a reservation: the attempt counts as a failure until a pass resets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    /// The counter including this attempt (a lock that had run out restarts it at 1).
    pub failures: u32,
    /// Set when this reservation filled the counter: the account is locked from now on, and only
    /// a pass of one of the attempts already reserved lifts the lock again.
    pub locked_until: Option<OffsetDateTime>,
}

/// A failed check whose attempt was reserved: the event, and optionally the per-code attempt
/// count of a session's challenge, recorded together.
#[derive(Debug, Clone)]
pub struct FailureWrite {
    /// The `check.*` event with outcome `Failed`.
    pub event: NewEvent,
    /// Also count the failure against this session's pending code.
    pub code_challenge: Option<(String, CodeChannel)>,
}

/// The counters after a failure was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRecord {
    /// The counter's value including this failure (a lock that had run out restarts it at 1).
    pub failures: u32,
    /// Set when this failure (or an earlier one) locked the account.
    pub locked_until: Option<OffsetDateTime>,
    /// Wrong tries against the session's pending code, when one was named.
    pub code_attempts: Option<u32>,
}

/// A change to a user that commits or rolls back together with a session write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEffect {
    /// Resets a failure counter after a passed check whose attempt was reserved. The lock goes
    /// too, unless the other counter is at its own limit (then that counter's lock stands).
    ResetFailures {
        user_id: String,
        counter: FailureCounter,
        limits: LockoutLimits,
    },
    /// Records that a TOTP code of `step` was accepted. Fails the whole write with
    /// [`StoreError::Replayed`] if this step or a later one was already used.
    UseTotpStep { user_id: String, step: i64 },
    /// Marks a recovery code used. Fails the whole write with [`StoreError::Replayed`] if it was.
    UseRecoveryCode {
        code_id: String,
        now: OffsetDateTime,
    },
    /// Replaces the password hash (rehash with new parameters after a passed check).
    SetPasswordHash { user_id: String, hash: String },
    /// Records a passed WebAuthn assertion on the credential with our id `credential_id`: new
    /// counter, backup flags, serialized credential and `last_used_at`. Fails the whole write with
    /// [`StoreError::Replayed`] when the credential is gone (removed meanwhile) or when both
    /// counters are in use and the stored one is not below `sign_count` (a cloned authenticator
    /// or a concurrent use of the same assertion).
    UseWebAuthnCredential {
        credential_id: String,
        sign_count: u32,
        backup_eligible: bool,
        backed_up: bool,
        credential: serde_json::Value,
        now: OffsetDateTime,
    },
}

/// A session change and everything that commits with it.
#[derive(Debug, Clone)]
pub struct SessionWrite {
    pub session: Session,
    /// `None` inserts a new session. `Some(seq)` updates only if the stored sequence is still
    /// `seq`, otherwise fails with [`StoreError::Conflict`] and writes nothing.
    pub expected_sequence: Option<i64>,
    /// At least one event; the session's new sequence is the last one's position in the log.
    pub events: Vec<NewEvent>,
    pub user_effects: Vec<UserEffect>,
    /// A new session that belongs to the hosted login of this handoff: it is recorded on the
    /// handoff in the same transaction, only while the handoff is claimed and has no session;
    /// otherwise the whole write fails with [`StoreError::Conflict`] and nothing is written.
    pub attach_to_handoff: Option<String>,
}

/// A hosted login as one read: the handoff a link names, its app and its session (once made).
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub handoff: Handoff,
    pub app: App,
    pub session: Option<Session>,
}

/// A user with what deciding about their sign-in methods needs: how many recovery codes are
/// still unused and the registered WebAuthn credentials.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub recovery_codes_left: usize,
    pub webauthn: Vec<WebAuthnCredential>,
}

/// Comparison for date queries (the contract's `TimestampQueryMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeCompare {
    Equals,
    Greater,
    GreaterOrEquals,
    Less,
    LessOrEquals,
}

/// One condition of a session search; conditions are combined with AND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionFilter {
    Ids(Vec<String>),
    UserId(String),
    CreationDate(TimeCompare, OffsetDateTime),
    Creator(String),
    UserAgentFingerprint(String),
    /// Sessions without an expiration date never match.
    ExpirationDate(TimeCompare, OffsetDateTime),
}

/// A session search: filters, then ordered by creation date (id breaks ties), then a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    pub filters: Vec<SessionFilter>,
    pub offset: u64,
    pub limit: u32,
    pub ascending: bool,
}

/// A page of sessions and how many matched in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    pub total: u64,
    pub sessions: Vec<Session>,
}

/// Which events to read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    /// Only events after this position.
    pub after: i64,
    pub limit: u32,
}

/// One round of the retention purge: rows that ended before their kind's cutoff go, at most
/// `limit` of each kind, so that no single round holds the database's write lock for long.
/// Every delete is idempotent: replicas may run rounds at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeRound {
    /// Sessions or handoffs still alive at `now` are never purged.
    pub now: OffsetDateTime,
    /// Terminated sessions whose last change, and expired sessions whose expiry, came before this.
    pub sessions_before: OffsetDateTime,
    /// Handoffs created before this whose link has expired and whose session (if any) has ended.
    pub handoffs_before: OffsetDateTime,
    /// Recovery codes used before this.
    pub codes_before: OffsetDateTime,
    /// Events (the audit log) recorded before this.
    pub events_before: OffsetDateTime,
    /// Most rows of each kind one round deletes (at least 1).
    pub limit: u32,
}

/// How many rows of each kind a purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    pub sessions: u64,
    pub handoffs: u64,
    pub codes: u64,
    pub events: u64,
}

impl PurgeCounts {
    /// All rows deleted, of every kind.
    pub fn total(&self) -> u64 {
        self.sessions + self.handoffs + self.codes + self.events
    }

    /// Adds another round's counts.
    pub fn add(&mut self, other: PurgeCounts) {
        self.sessions += other.sessions;
        self.handoffs += other.handoffs;
        self.codes += other.codes;
        self.events += other.events;
    }
}

/// Persistence of everything the engine keeps.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- instance ---
    /// Returns the stored instance, or stores `candidate` when there is none yet.
    async fn get_or_create_instance(&self, candidate: &Instance) -> Result<Instance, StoreError>;

    // --- users ---
    /// Fails with `Duplicate { what: "login_name" }` when the name is taken, in any letter case.
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// Case-insensitive match on the login name.
    async fn find_user_by_login_name(&self, login_name: &str) -> Result<Option<User>, StoreError>;
    /// Users whose email is verified and equal to `email` (case-insensitive).
    async fn find_users_by_verified_email(&self, email: &str) -> Result<Vec<User>, StoreError>;
    /// Ordered by login name.
    async fn list_users(&self, offset: u64, limit: u32) -> Result<Vec<User>, StoreError>;
    /// Writes profile, state, password hash, TOTP record and factor flags. Never the failure
    /// counters or the lock, which only the lockout methods change. `NotFound`, `Duplicate`.
    async fn update_user(&self, user: &User) -> Result<(), StoreError>;
    /// Deletes the user with its recovery codes; false when there was none.
    async fn delete_user(&self, id: &str) -> Result<bool, StoreError>;

    // --- lockout ---
    /// SECURITY: reserves one attempt before a guess is evaluated, in one conditional update:
    /// refused with `Locked` (nothing written) while the user is locked at `now`; otherwise the
    /// counter goes up by one (both restart when an earlier lock has run out), and the attempt that
    /// fills the counter locks the user at once. So however many requests and replicas race, at
    /// most `limit` guesses are evaluated per lock window. `NotFound` when the user is gone.
    async fn reserve_attempt(&self, attempt: &AttemptReservation) -> Result<Reserved, StoreError>;
    /// Gives back a reservation whose guess was never judged (a later check of the same request
    /// failed, or the write lost a race): the counter goes down by one, and a lock it no longer
    /// justifies (neither counter at its limit) is lifted.
    async fn release_attempt(&self, attempt: &AttemptReservation) -> Result<(), StoreError>;
    /// Records a failed check whose attempt was reserved (the counter is not changed again):
    /// appends the event and counts the session's code attempt if named.
    async fn record_failure(&self, failure: &FailureWrite) -> Result<Option<u32>, StoreError>;
    /// Clears both counters and the lock (admin unlock); false when the user does not exist.
    async fn unlock_user(&self, user_id: &str) -> Result<bool, StoreError>;

    // --- recovery codes ---
    /// Replaces all of the user's recovery codes.
    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        codes: &[RecoveryCode],
    ) -> Result<(), StoreError>;
    async fn list_recovery_codes(&self, user_id: &str) -> Result<Vec<RecoveryCode>, StoreError>;

    // --- apps ---
    /// `Duplicate { what: "app_key" }`.
    async fn insert_app(&self, app: &App) -> Result<(), StoreError>;
    async fn find_app(&self, id: &str) -> Result<Option<App>, StoreError>;
    async fn find_app_by_key(&self, app_key: &str) -> Result<Option<App>, StoreError>;
    async fn list_apps(&self) -> Result<Vec<App>, StoreError>;
    /// `NotFound`.
    async fn update_app(&self, app: &App) -> Result<(), StoreError>;
    async fn delete_app(&self, id: &str) -> Result<bool, StoreError>;

    // --- API keys ---
    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    async fn find_api_key_by_hash(&self, key_hash: &[u8; 32])
        -> Result<Option<ApiKey>, StoreError>;
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    /// Sets `revoked_at`; false when there is no such key.
    async fn revoke_api_key(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError>;

    // --- sessions and the event log ---
    /// Inserts or updates the session, applies the user effects and appends the events, all in
    /// one transaction. Returns the session's new sequence.
    async fn write_session(&self, write: &SessionWrite) -> Result<i64, StoreError>;
    async fn find_session(&self, id: &str) -> Result<Option<Session>, StoreError>;
    /// The user with their recovery-code count and WebAuthn credentials, in one call.
    async fn find_user_record(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        let Some(user) = self.find_user(user_id).await? else {
            return Ok(None);
        };
        let recovery_codes_left = self
            .list_recovery_codes(user_id)
            .await?
            .iter()
            .filter(|c| c.used_at.is_none())
            .count();
        let webauthn = self.list_webauthn_credentials(user_id).await?;
        Ok(Some(UserRecord {
            user,
            recovery_codes_left,
            webauthn,
        }))
    }
    /// Live sessions only: a terminated session never matches.
    async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError>;
    /// Appends events that change no session (for example a failed check on a new session).
    async fn append_events(&self, events: &[NewEvent]) -> Result<(), StoreError>;
    /// Ordered by position.
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError>;

    // --- app handoff ---
    /// `Duplicate { what: "handoff" }` when the id or one of the hashes is taken.
    async fn insert_handoff(&self, handoff: &Handoff) -> Result<(), StoreError>;
    async fn find_handoff_by_link(
        &self,
        link_hash: &[u8; 32],
    ) -> Result<Option<Handoff>, StoreError>;
    async fn find_handoff_by_secret(
        &self,
        secret_hash: &[u8; 32],
    ) -> Result<Option<Handoff>, StoreError>;
    /// The handoff of a link with its app and session, in one call (the hosted page's load).
    /// `None` when no handoff has that link or its app is gone.
    async fn find_login(&self, link_hash: &[u8; 32]) -> Result<Option<LoginRecord>, StoreError> {
        let Some(handoff) = self.find_handoff_by_link(link_hash).await? else {
            return Ok(None);
        };
        let Some(app) = self.find_app(&handoff.app_id).await? else {
            return Ok(None);
        };
        let session = match &handoff.session_id {
            Some(id) => self.find_session(id).await?,
            None => None,
        };
        Ok(Some(LoginRecord {
            handoff,
            app,
            session,
        }))
    }
    /// Binds the handoff to a browser, atomically: only when it is unclaimed and its link has not
    /// expired at `now`. False when another browser won or the link expired (nothing written).
    /// `code_hash` is the hash of the code-bound mode's code, recorded with the claim.
    async fn claim_handoff(
        &self,
        id: &str,
        browser_hash: &[u8; 32],
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Marks the handoff's code as used at `now`, atomically: only when it is unspent. False
    /// when another request spent it first (or the handoff is gone).
    async fn spend_handoff_code(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError>;
    /// Records the engine session of a claimed handoff, only when it has none yet. False when
    /// another request attached one first (or the handoff is gone or unclaimed).
    async fn attach_handoff_session(&self, id: &str, session_id: &str) -> Result<bool, StoreError>;
    /// Forgets the handoff's engine session, only while it is still `session_id` (the hosted
    /// page's "start again"); the next use attaches a new one. False when it changed meanwhile.
    async fn detach_handoff_session(&self, id: &str, session_id: &str) -> Result<bool, StoreError>;
    /// Deletes handoffs that were never claimed and whose link expired before `now`; returns how
    /// many went.
    async fn purge_handoffs(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
    /// Deletes what [`PurgeRound`] names, at most `round.limit` rows of each kind, each kind in
    /// its own short statement or transaction; returns how many of each went.
    async fn purge_round(&self, round: &PurgeRound) -> Result<PurgeCounts, StoreError>;

    // --- WebAuthn credentials ---
    /// `Duplicate { what: "webauthn_credential" }` when the authenticator's credential id is
    /// registered already (to anyone); `NotFound` when the user does not exist.
    async fn insert_webauthn_credential(
        &self,
        credential: &WebAuthnCredential,
    ) -> Result<(), StoreError>;
    /// The user's credentials, oldest first.
    async fn list_webauthn_credentials(
        &self,
        user_id: &str,
    ) -> Result<Vec<WebAuthnCredential>, StoreError>;
    /// By the authenticator's credential id (discoverable sign-in names no user first).
    async fn find_webauthn_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<WebAuthnCredential>, StoreError>;
    /// False when the user has no credential with our id `id`.
    async fn rename_webauthn_credential(
        &self,
        user_id: &str,
        id: &str,
        name: &str,
    ) -> Result<bool, StoreError>;
    /// False when the user has no credential with our id `id`.
    async fn delete_webauthn_credential(&self, user_id: &str, id: &str)
        -> Result<bool, StoreError>;
}

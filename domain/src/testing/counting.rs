//! A [`Store`] that counts the calls made through it, for tests that hold a request to a
//! budget of reads and writes.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::model::{
    ApiKey, App, Event, Handoff, Instance, NewEvent, RecoveryCode, Session, User,
    WebAuthnCredential,
};
use crate::store::{
    AttemptReservation, EventFilter, FailureWrite, LoginRecord, PurgeCounts, PurgeRound, Reserved,
    SessionPage, SessionQuery, SessionWrite, Store, StoreError, UserRecord,
};

/// Whether a store call only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Delegates every call to the inner store and records its name and kind.
#[derive(Debug)]
pub struct CountingStore<S> {
    inner: Arc<S>,
    calls: Mutex<Vec<(&'static str, Access)>>,
}

impl<S> CountingStore<S> {
    pub fn new(inner: Arc<S>) -> Self {
        Self {
            inner,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The calls since the last take, in order, and forgets them.
    pub fn take(&self) -> Vec<(&'static str, Access)> {
        let mut calls = match self.calls.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        std::mem::take(&mut *calls)
    }

    fn note(&self, name: &'static str, access: Access) {
        let mut calls = match self.calls.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        calls.push((name, access));
    }
}

/// `read!(self, method(args))`: records a read and delegates.
macro_rules! read {
    ($self:ident, $method:ident($($arg:expr),*)) => {{
        $self.note(stringify!($method), Access::Read);
        $self.inner.$method($($arg),*).await
    }};
}

/// `write!(self, method(args))`: records a write and delegates.
macro_rules! write {
    ($self:ident, $method:ident($($arg:expr),*)) => {{
        $self.note(stringify!($method), Access::Write);
        $self.inner.$method($($arg),*).await
    }};
}

#[async_trait]
impl<S: Store> Store for CountingStore<S> {
    async fn get_or_create_instance(&self, candidate: &Instance) -> Result<Instance, StoreError> {
        write!(self, get_or_create_instance(candidate))
    }
    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        write!(self, insert_user(user))
    }
    async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        read!(self, find_user(id))
    }
    async fn find_user_by_login_name(&self, login_name: &str) -> Result<Option<User>, StoreError> {
        read!(self, find_user_by_login_name(login_name))
    }
    async fn find_users_by_verified_email(&self, email: &str) -> Result<Vec<User>, StoreError> {
        read!(self, find_users_by_verified_email(email))
    }
    async fn list_users(&self, offset: u64, limit: u32) -> Result<Vec<User>, StoreError> {
        read!(self, list_users(offset, limit))
    }
    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        write!(self, update_user(user))
    }
    async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        write!(self, delete_user(id))
    }
    async fn reserve_attempt(&self, attempt: &AttemptReservation) -> Result<Reserved, StoreError> {
        write!(self, reserve_attempt(attempt))
    }
    async fn release_attempt(&self, attempt: &AttemptReservation) -> Result<(), StoreError> {
        write!(self, release_attempt(attempt))
    }
    async fn record_failure(&self, failure: &FailureWrite) -> Result<Option<u32>, StoreError> {
        write!(self, record_failure(failure))
    }
    async fn unlock_user(&self, user_id: &str) -> Result<bool, StoreError> {
        write!(self, unlock_user(user_id))
    }
    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        codes: &[RecoveryCode],
    ) -> Result<(), StoreError> {
        write!(self, replace_recovery_codes(user_id, codes))
    }
    async fn list_recovery_codes(&self, user_id: &str) -> Result<Vec<RecoveryCode>, StoreError> {
        read!(self, list_recovery_codes(user_id))
    }
    async fn insert_app(&self, app: &App) -> Result<(), StoreError> {
        write!(self, insert_app(app))
    }
    async fn find_app(&self, id: &str) -> Result<Option<App>, StoreError> {
        read!(self, find_app(id))
    }
    async fn find_app_by_key(&self, app_key: &str) -> Result<Option<App>, StoreError> {
        read!(self, find_app_by_key(app_key))
    }
    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        read!(self, list_apps())
    }
    async fn update_app(&self, app: &App) -> Result<(), StoreError> {
        write!(self, update_app(app))
    }
    async fn delete_app(&self, id: &str) -> Result<bool, StoreError> {
        write!(self, delete_app(id))
    }
    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        write!(self, insert_api_key(key))
    }
    async fn find_api_key_by_hash(
        &self,
        key_hash: &[u8; 32],
    ) -> Result<Option<ApiKey>, StoreError> {
        read!(self, find_api_key_by_hash(key_hash))
    }
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        read!(self, list_api_keys())
    }
    async fn revoke_api_key(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        write!(self, revoke_api_key(id, now))
    }
    async fn write_session(&self, write: &SessionWrite) -> Result<i64, StoreError> {
        write!(self, write_session(write))
    }
    async fn find_session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        read!(self, find_session(id))
    }
    async fn find_user_record(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        read!(self, find_user_record(user_id))
    }
    async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError> {
        read!(self, list_sessions(query))
    }
    async fn append_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        write!(self, append_events(events))
    }
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
        read!(self, list_events(filter))
    }
    async fn insert_handoff(&self, handoff: &Handoff) -> Result<(), StoreError> {
        write!(self, insert_handoff(handoff))
    }
    async fn find_handoff_by_link(
        &self,
        link_hash: &[u8; 32],
    ) -> Result<Option<Handoff>, StoreError> {
        read!(self, find_handoff_by_link(link_hash))
    }
    async fn find_handoff_by_secret(
        &self,
        secret_hash: &[u8; 32],
    ) -> Result<Option<Handoff>, StoreError> {
        read!(self, find_handoff_by_secret(secret_hash))
    }
    async fn find_login(&self, link_hash: &[u8; 32]) -> Result<Option<LoginRecord>, StoreError> {
        read!(self, find_login(link_hash))
    }
    async fn claim_handoff(
        &self,
        id: &str,
        browser_hash: &[u8; 32],
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        write!(self, claim_handoff(id, browser_hash, code_hash, now))
    }
    async fn spend_handoff_code(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        write!(self, spend_handoff_code(id, now))
    }
    async fn attach_handoff_session(&self, id: &str, session_id: &str) -> Result<bool, StoreError> {
        write!(self, attach_handoff_session(id, session_id))
    }
    async fn detach_handoff_session(&self, id: &str, session_id: &str) -> Result<bool, StoreError> {
        write!(self, detach_handoff_session(id, session_id))
    }
    async fn purge_handoffs(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        write!(self, purge_handoffs(now))
    }
    async fn purge_round(&self, round: &PurgeRound) -> Result<PurgeCounts, StoreError> {
        write!(self, purge_round(round))
    }
    async fn insert_webauthn_credential(
        &self,
        credential: &WebAuthnCredential,
    ) -> Result<(), StoreError> {
        write!(self, insert_webauthn_credential(credential))
    }
    async fn list_webauthn_credentials(
        &self,
        user_id: &str,
    ) -> Result<Vec<WebAuthnCredential>, StoreError> {
        read!(self, list_webauthn_credentials(user_id))
    }
    async fn find_webauthn_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<WebAuthnCredential>, StoreError> {
        read!(self, find_webauthn_credential(credential_id))
    }
    async fn rename_webauthn_credential(
        &self,
        user_id: &str,
        id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        write!(self, rename_webauthn_credential(user_id, id, name))
    }
    async fn delete_webauthn_credential(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        write!(self, delete_webauthn_credential(user_id, id))
    }
}

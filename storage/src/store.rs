//! [`Store`] for [`Database`]: each method runs the backend's version of the shared SQL.

use async_trait::async_trait;
use domain::{
    model::{
        ApiKey, App, Event, Handoff, Instance, NewEvent, RecoveryCode, Session, User,
        WebAuthnCredential,
    },
    store::{
        AttemptReservation, EventFilter, FailureWrite, PurgeCounts, PurgeRound, Reserved,
        SessionPage, SessionQuery, SessionWrite, Store, StoreError,
    },
};
use time::OffsetDateTime;

use crate::{sql, Database};

/// Calls the function of the same name in the module of the pool's backend. On SQLite a method
/// that writes runs on the writer connection and one that only reads on the read pool.
macro_rules! dispatch {
    ($db:expr, $method:ident($($arg:expr),*)) => {
        match $db {
            Database::Sqlite(db) => sql::sqlite::$method(db.writer(), $($arg),*).await,
            Database::Postgres(pool) => sql::postgres::$method(pool, $($arg),*).await,
        }
    };
}

/// [`dispatch!`] for a method that only reads.
macro_rules! dispatch_read {
    ($db:expr, $method:ident($($arg:expr),*)) => {
        match $db {
            Database::Sqlite(db) => sql::sqlite::$method(db.readers(), $($arg),*).await,
            Database::Postgres(pool) => sql::postgres::$method(pool, $($arg),*).await,
        }
    };
}

#[async_trait]
impl Store for Database {
    async fn get_or_create_instance(&self, candidate: &Instance) -> Result<Instance, StoreError> {
        dispatch!(self, get_or_create_instance(candidate))
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        dispatch!(self, insert_user(user))
    }

    async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        dispatch_read!(self, find_user(id))
    }

    async fn find_user_by_login_name(&self, login_name: &str) -> Result<Option<User>, StoreError> {
        dispatch_read!(self, find_user_by_login_name(login_name))
    }

    async fn find_users_by_verified_email(&self, email: &str) -> Result<Vec<User>, StoreError> {
        dispatch_read!(self, find_users_by_verified_email(email))
    }

    async fn list_users(&self, offset: u64, limit: u32) -> Result<Vec<User>, StoreError> {
        dispatch_read!(self, list_users(offset, limit))
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        dispatch!(self, update_user(user))
    }

    async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        dispatch!(self, delete_user(id))
    }

    async fn reserve_attempt(&self, attempt: &AttemptReservation) -> Result<Reserved, StoreError> {
        let reserved = dispatch!(self, reserve_attempt(attempt));
        count_reservation(attempt, &reserved);
        reserved
    }

    async fn release_attempt(&self, attempt: &AttemptReservation) -> Result<(), StoreError> {
        dispatch!(self, release_attempt(attempt))
    }

    async fn record_failure(&self, failure: &FailureWrite) -> Result<Option<u32>, StoreError> {
        let recorded = dispatch!(self, record_failure(failure));
        if recorded.is_ok() {
            count_checks(std::slice::from_ref(&failure.event));
        }
        recorded
    }

    async fn unlock_user(&self, user_id: &str) -> Result<bool, StoreError> {
        dispatch!(self, unlock_user(user_id))
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        codes: &[RecoveryCode],
    ) -> Result<(), StoreError> {
        dispatch!(self, replace_recovery_codes(user_id, codes))
    }

    async fn list_recovery_codes(&self, user_id: &str) -> Result<Vec<RecoveryCode>, StoreError> {
        dispatch_read!(self, list_recovery_codes(user_id))
    }

    async fn insert_app(&self, app: &App) -> Result<(), StoreError> {
        dispatch!(self, insert_app(app))
    }

    async fn find_app(&self, id: &str) -> Result<Option<App>, StoreError> {
        dispatch_read!(self, find_app(id))
    }

    async fn find_app_by_key(&self, app_key: &str) -> Result<Option<App>, StoreError> {
        dispatch_read!(self, find_app_by_key(app_key))
    }

    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        dispatch_read!(self, list_apps())
    }

    async fn update_app(&self, app: &App) -> Result<(), StoreError> {
        dispatch!(self, update_app(app))
    }

    async fn delete_app(&self, id: &str) -> Result<bool, StoreError> {
        dispatch!(self, delete_app(id))
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        dispatch!(self, insert_api_key(key))
    }

    async fn find_api_key_by_hash(
        &self,
        key_hash: &[u8; 32],
    ) -> Result<Option<ApiKey>, StoreError> {
        dispatch_read!(self, find_api_key_by_hash(key_hash))
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        dispatch_read!(self, list_api_keys())
    }

    async fn revoke_api_key(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        dispatch!(self, revoke_api_key(id, now))
    }

    async fn write_session(&self, write: &SessionWrite) -> Result<i64, StoreError> {
        let written = dispatch!(self, write_session(write));
        if written.is_ok() {
            count_checks(&write.events);
        }
        written
    }

    async fn find_session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        dispatch_read!(self, find_session(id))
    }

    async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError> {
        dispatch_read!(self, list_sessions(query))
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        let appended = dispatch!(self, append_events(events));
        if appended.is_ok() {
            count_checks(events);
        }
        appended
    }

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
        dispatch_read!(self, list_events(filter))
    }

    async fn insert_handoff(&self, handoff: &Handoff) -> Result<(), StoreError> {
        dispatch!(self, insert_handoff(handoff))
    }

    async fn find_handoff_by_link(
        &self,
        link_hash: &[u8; 32],
    ) -> Result<Option<Handoff>, StoreError> {
        dispatch_read!(self, find_handoff_by_link(link_hash))
    }

    async fn find_handoff_by_secret(
        &self,
        secret_hash: &[u8; 32],
    ) -> Result<Option<Handoff>, StoreError> {
        dispatch_read!(self, find_handoff_by_secret(secret_hash))
    }

    async fn claim_handoff(
        &self,
        id: &str,
        browser_hash: &[u8; 32],
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        dispatch!(self, claim_handoff(id, browser_hash, code_hash, now))
    }

    async fn spend_handoff_code(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        dispatch!(self, spend_handoff_code(id, now))
    }

    async fn attach_handoff_session(&self, id: &str, session_id: &str) -> Result<bool, StoreError> {
        dispatch!(self, attach_handoff_session(id, session_id))
    }

    async fn detach_handoff_session(&self, id: &str, session_id: &str) -> Result<bool, StoreError> {
        dispatch!(self, detach_handoff_session(id, session_id))
    }

    async fn purge_handoffs(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        dispatch!(self, purge_handoffs(now))
    }

    async fn purge_round(&self, round: &PurgeRound) -> Result<PurgeCounts, StoreError> {
        dispatch!(self, purge_round(round))
    }

    async fn insert_webauthn_credential(
        &self,
        credential: &WebAuthnCredential,
    ) -> Result<(), StoreError> {
        dispatch!(self, insert_webauthn_credential(credential))
    }

    async fn list_webauthn_credentials(
        &self,
        user_id: &str,
    ) -> Result<Vec<WebAuthnCredential>, StoreError> {
        dispatch_read!(self, list_webauthn_credentials(user_id))
    }

    async fn find_webauthn_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<WebAuthnCredential>, StoreError> {
        dispatch_read!(self, find_webauthn_credential(credential_id))
    }

    async fn rename_webauthn_credential(
        &self,
        user_id: &str,
        id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        dispatch!(self, rename_webauthn_credential(user_id, id, name))
    }

    async fn delete_webauthn_credential(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        dispatch!(self, delete_webauthn_credential(user_id, id))
    }
}

/// Counts committed `check.*` events by factor and outcome (`vestibule_checks_total`). The kinds
/// are the engine's constants, so the label values stay a small fixed set.
fn count_checks(events: &[NewEvent]) {
    for event in events {
        if let Some(factor) = event.kind.strip_prefix("check.") {
            metrics::counter!(
                "vestibule_checks_total",
                "factor" => factor.to_owned(),
                "outcome" => event.outcome.as_str()
            )
            .increment(1);
        }
    }
}

/// Counts lockouts: a reservation that locked the account (`vestibule_lockouts_total`) and an
/// attempt refused because the account was locked (`vestibule_locked_refusals_total`).
fn count_reservation(attempt: &AttemptReservation, reserved: &Result<Reserved, StoreError>) {
    let counter = match attempt.counter {
        domain::store::FailureCounter::Password => "password",
        domain::store::FailureCounter::Code => "code",
    };
    match reserved {
        Ok(r)
            if r.locked_until.is_some_and(|until| until > attempt.now)
                && r.locked_until != attempt.own_lock =>
        {
            metrics::counter!("vestibule_lockouts_total", "counter" => counter).increment(1);
        }
        Err(StoreError::Locked { .. }) => {
            metrics::counter!("vestibule_locked_refusals_total", "counter" => counter).increment(1);
        }
        _ => {}
    }
}

//! The `Store` contract, run against SQLite (a fresh file per test) and PostgreSQL (a fresh schema
//! per test). PostgreSQL is at `VESTIBULE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); when it cannot be reached these tests fail.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    str::FromStr,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
};

use domain::{
    model::{
        ApiKey, App, Branding, CodeChallenge, FactorKind, Factors, Handoff, Instance, LoginPolicy,
        NewEvent, Outcome, PendingChallenges, RecoveryCode, Scope, Session, TotpRecord, User,
        UserAgent, UserFactor, UserState, WebAuthnChallenge, WebAuthnCredential, WebAuthnFactor,
        WebAuthnKind,
    },
    store::{
        AttemptReservation, CodeChannel, EventFilter, FailureCounter, FailureRecord, FailureWrite,
        LockoutLimits, LockoutRule, PurgeCounts, PurgeRound, SessionFilter, SessionQuery,
        SessionWrite, Store, StoreError, TimeCompare, UserEffect,
    },
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use storage::Database;
use time::{macros::datetime, Duration, OffsetDateTime};

// --- harness ---

/// A database for one test and what to remove afterwards.
struct Harness {
    db: Database,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Schema { admin: PgPool, name: String },
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "vt_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos % 1_000_000_000
    )
}

async fn sqlite() -> Harness {
    let dir = std::env::temp_dir().join(unique_name());
    std::fs::create_dir_all(&dir).unwrap();
    let db = Database::connect(&Database::sqlite_url_in(&dir))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    Harness {
        db,
        cleanup: Cleanup::Dir(dir),
    }
}

fn postgres_url() -> String {
    std::env::var("VESTIBULE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A pool whose connections work in `schema`.
async fn postgres_pool(schema: &str) -> PgPool {
    let options = PgConnectOptions::from_str(&postgres_url())
        .unwrap()
        .options([("search_path", schema)]);
    PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .unwrap()
}

async fn postgres() -> Harness {
    let (admin, name) = postgres_schema().await;
    let db = Database::Postgres(postgres_pool(&name).await);
    db.migrate().await.unwrap();
    Harness {
        db,
        cleanup: Cleanup::Schema { admin, name },
    }
}

/// Creates an empty schema; fails the test loudly when PostgreSQL is not there.
async fn postgres_schema() -> (PgPool, String) {
    let url = postgres_url();
    let admin = match PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(e) => panic!(
            "PostgreSQL contract tests need a server at {url} (set VESTIBULE_TEST_POSTGRES_URL): {e}"
        ),
    };
    let name = unique_name();
    sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
        .execute(&admin)
        .await
        .unwrap();
    (admin, name)
}

impl Harness {
    async fn finish(self) {
        match self.cleanup {
            Cleanup::Dir(dir) => {
                if let Database::Sqlite(db) = &self.db {
                    db.close().await;
                }
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema { admin, name } => {
                if let Database::Postgres(pool) = &self.db {
                    pool.close().await;
                }
                sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE"))
                    .execute(&admin)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Runs each listed test once per backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let harness = super::sqlite().await;
                    super::$name(&harness.db).await;
                    harness.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let harness = super::postgres().await;
                    super::$name(&harness.db).await;
                    harness.finish().await;
                }
            )*
        }
    };
}

contract!(
    instance_is_created_once,
    users_are_found_by_login_name_in_any_case,
    login_names_are_unique_in_any_case,
    update_user_writes_profile_but_not_counters,
    update_user_never_moves_the_totp_step_back,
    delete_user_takes_codes_and_sessions_along,
    verified_email_lookup,
    list_users_is_ordered_and_paged,
    failures_count_and_lock,
    locked_user_reserves_nothing,
    reservations_lock_at_the_limit_and_can_be_given_back,
    expired_lock_restarts_counting,
    limit_zero_never_locks,
    failure_of_unknown_user_writes_nothing,
    code_failures_count_against_the_session_challenge,
    unlock_clears_counters_and_lock,
    write_session_inserts_and_updates,
    stale_sequence_conflicts_and_writes_nothing,
    duplicate_session_id_conflicts,
    session_write_needs_an_event,
    reset_failures_effect,
    totp_step_effect,
    recovery_code_effect,
    set_password_hash_effect,
    recovery_codes_are_replaced,
    apps_crud_and_duplicates,
    api_keys_crud_and_duplicates,
    list_sessions_filters_orders_and_pages,
    events_are_listed_by_position,
    session_round_trips_every_field,
    timestamps_keep_microseconds,
    events_cannot_be_rewritten,
    concurrent_failures_record_exactly_the_limit,
    concurrent_session_updates_one_wins,
    handoffs_round_trip_and_are_found_by_hash,
    handoff_claims_are_single_and_timely,
    handoff_purge_takes_only_expired_unclaimed_links,
    handoffs_go_with_their_app,
    handoff_codes_are_kept_and_spent_once,
    rate_counters_count_every_hit,
    webauthn_credentials_round_trip,
    webauthn_use_effect_needs_a_rising_counter,
    retention_purges_only_what_ended_long_ago,
    retention_purges_in_bounded_rounds,
);

// --- fixtures ---

const T0: OffsetDateTime = datetime!(2030-01-01 00:00:00 UTC);

fn at(seconds: i64) -> OffsetDateTime {
    T0 + Duration::seconds(seconds)
}

fn user(id: &str, login_name: &str) -> User {
    User {
        id: id.to_owned(),
        login_name: login_name.to_owned(),
        display_name: format!("{login_name} display"),
        email: None,
        email_verified: false,
        phone: None,
        phone_verified: false,
        preferred_language: None,
        state: UserState::Active,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        totp: None,
        otp_email_enabled: false,
        otp_sms_enabled: false,
        password_failures: 0,
        code_failures: 0,
        locked_until: None,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn event(kind: &str, session_id: Option<&str>, user_id: Option<&str>, seconds: i64) -> NewEvent {
    NewEvent {
        at: at(seconds),
        session_id: session_id.map(str::to_owned),
        user_id: user_id.map(str::to_owned),
        app_id: None,
        client_ip: Some("192.0.2.1".to_owned()),
        kind: kind.to_owned(),
        outcome: Outcome::Succeeded,
        error_id: None,
    }
}

fn failed(kind: &str, session_id: Option<&str>, user_id: &str) -> NewEvent {
    NewEvent {
        outcome: Outcome::Failed,
        error_id: Some("COMMAND-3M0fs".to_owned()),
        ..event(kind, session_id, Some(user_id), 0)
    }
}

fn session(id: &str, created: i64) -> Session {
    Session {
        id: id.to_owned(),
        token_hash: [7; 32],
        factors: Factors::default(),
        metadata: BTreeMap::new(),
        user_agent: None,
        challenges: PendingChallenges::default(),
        lifetime: None,
        expires_at: None,
        creator: "creator-1".to_owned(),
        app_id: None,
        sequence: 0,
        created_at: at(created),
        changed_at: at(created),
        terminated: false,
    }
}

fn user_factor(user: &User) -> UserFactor {
    UserFactor {
        user_id: user.id.clone(),
        login_name: user.login_name.clone(),
        display_name: user.display_name.clone(),
        organization_id: "instance-1".to_owned(),
        verified_at: at(1),
    }
}

fn code_challenge() -> CodeChallenge {
    CodeChallenge {
        code_hash: "ab".repeat(32),
        created_at: at(0),
        expires_at: at(600),
        failed_attempts: 0,
    }
}

/// Inserts a session with one `session.created` event; returns its sequence.
async fn create(db: &Database, session: &Session) -> i64 {
    db.write_session(&SessionWrite {
        session: session.clone(),
        expected_sequence: None,
        events: vec![event("session.created", Some(&session.id), None, 0)],
        user_effects: vec![],
        attach_to_handoff: None,
    })
    .await
    .unwrap()
}

fn update(session: &Session, expected: i64, effects: Vec<UserEffect>) -> SessionWrite {
    SessionWrite {
        session: session.clone(),
        expected_sequence: Some(expected),
        events: vec![
            event("check.password", Some(&session.id), None, 1),
            event("session.changed", Some(&session.id), None, 1),
        ],
        user_effects: effects,
        attach_to_handoff: None,
    }
}

fn rule(limit: u32) -> LockoutRule {
    LockoutRule {
        limit,
        lock_for: Duration::minutes(15),
    }
}

fn limits(limit: u32) -> LockoutLimits {
    LockoutLimits {
        password: rule(limit),
        code: rule(limit),
    }
}

/// A failed check as the engine records one: an attempt reserved first, then its failure.
struct Failure {
    attempt: AttemptReservation,
    write: FailureWrite,
}

fn failure(user_id: &str, counter: FailureCounter, limit: u32, now: OffsetDateTime) -> Failure {
    Failure {
        attempt: AttemptReservation {
            user_id: user_id.to_owned(),
            counter,
            limits: limits(limit),
            now,
            own_lock: None,
        },
        write: FailureWrite {
            event: failed("check.password", None, user_id),
            code_challenge: None,
        },
    }
}

/// Reserves the attempt, then records its failure.
async fn record_failed(db: &dyn Store, f: &Failure) -> Result<FailureRecord, StoreError> {
    let reserved = db.reserve_attempt(&f.attempt).await?;
    let code_attempts = db.record_failure(&f.write).await?;
    Ok(FailureRecord {
        failures: reserved.failures,
        locked_until: reserved.locked_until,
        code_attempts,
    })
}

async fn all_events(db: &Database) -> Vec<domain::model::Event> {
    db.list_events(&EventFilter::default()).await.unwrap()
}

// --- instance and users ---

async fn instance_is_created_once(db: &Database) {
    let first = Instance {
        id: "instance-1".to_owned(),
        created_at: at(0),
    };
    let second = Instance {
        id: "instance-2".to_owned(),
        created_at: at(5),
    };
    assert_eq!(db.get_or_create_instance(&first).await.unwrap(), first);
    assert_eq!(db.get_or_create_instance(&second).await.unwrap(), first);
}

async fn users_are_found_by_login_name_in_any_case(db: &Database) {
    let alice = user("u1", "Alice@Example.com");
    let elodie = user("u2", "Élodie");
    db.insert_user(&alice).await.unwrap();
    db.insert_user(&elodie).await.unwrap();
    assert_eq!(db.find_user("u1").await.unwrap(), Some(alice.clone()));
    assert_eq!(db.find_user("nobody").await.unwrap(), None);
    for name in [
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        "Alice@Example.com",
    ] {
        assert_eq!(
            db.find_user_by_login_name(name).await.unwrap(),
            Some(alice.clone())
        );
    }
    assert_eq!(
        db.find_user_by_login_name("éLODIE").await.unwrap(),
        Some(elodie)
    );
    assert_eq!(db.find_user_by_login_name("alice").await.unwrap(), None);
}

async fn login_names_are_unique_in_any_case(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    for name in ["alice", "ALICE", "aLiCe"] {
        assert_eq!(
            db.insert_user(&user("u2", name)).await,
            Err(StoreError::Duplicate { what: "login_name" })
        );
    }
    db.insert_user(&user("u3", "élodie")).await.unwrap();
    assert_eq!(
        db.insert_user(&user("u4", "ÉLODIE")).await,
        Err(StoreError::Duplicate { what: "login_name" })
    );
    assert!(matches!(
        db.insert_user(&user("u1", "bob")).await,
        Err(StoreError::Duplicate { .. })
    ));
    // Renaming onto a taken name is refused too.
    let mut bob = user("u5", "bob");
    db.insert_user(&bob).await.unwrap();
    bob.login_name = "Alice".to_owned();
    assert_eq!(
        db.update_user(&bob).await,
        Err(StoreError::Duplicate { what: "login_name" })
    );
}

async fn update_user_writes_profile_but_not_counters(db: &Database) {
    let original = user("u1", "alice");
    db.insert_user(&original).await.unwrap();
    record_failed(db, &failure("u1", FailureCounter::Password, 5, at(1)))
        .await
        .unwrap();

    let mut changed = original.clone();
    changed.login_name = "Alice2".to_owned();
    changed.display_name = "Alice Two".to_owned();
    changed.email = Some("a@example.com".to_owned());
    changed.email_verified = true;
    changed.phone = Some("+41790000000".to_owned());
    changed.phone_verified = true;
    changed.preferred_language = Some("de".to_owned());
    changed.state = UserState::Inactive;
    changed.password_hash = None;
    changed.totp = Some(TotpRecord {
        encrypted_secret: vec![0, 159, 146, 150, 255],
        confirmed: true,
        last_used_step: Some(42),
    });
    changed.otp_email_enabled = true;
    changed.otp_sms_enabled = true;
    changed.updated_at = at(9);
    // Stale counters and lock in the copy must not reach the database.
    changed.password_failures = 0;
    changed.code_failures = 3;
    changed.locked_until = Some(at(1000));
    changed.created_at = at(-5);
    db.update_user(&changed).await.unwrap();

    let stored = db.find_user("u1").await.unwrap().unwrap();
    assert_eq!(
        stored,
        User {
            password_failures: 1,
            code_failures: 0,
            locked_until: None,
            created_at: at(0),
            ..changed.clone()
        }
    );
    assert_eq!(
        db.find_user_by_login_name("alice2")
            .await
            .unwrap()
            .unwrap()
            .id,
        "u1"
    );
    assert_eq!(db.find_user_by_login_name("alice").await.unwrap(), None);
    assert_eq!(
        db.update_user(&user("missing", "x")).await,
        Err(StoreError::NotFound)
    );
}

async fn update_user_never_moves_the_totp_step_back(db: &Database) {
    let mut alice = user("u1", "alice");
    alice.totp = Some(TotpRecord {
        encrypted_secret: vec![1, 2, 3],
        confirmed: true,
        last_used_step: None,
    });
    db.insert_user(&alice).await.unwrap();
    let s = session("s1", 0);
    let seq = create(db, &s).await;
    db.write_session(&update(
        &s,
        seq,
        vec![UserEffect::UseTotpStep {
            user_id: "u1".to_owned(),
            step: 100,
        }],
    ))
    .await
    .unwrap();
    // A stale copy (step None) written back keeps step 100.
    db.update_user(&alice).await.unwrap();
    let step = |u: User| u.totp.unwrap().last_used_step;
    assert_eq!(step(db.find_user("u1").await.unwrap().unwrap()), Some(100));
    // A new secret (re-enrollment) starts over.
    alice.totp = Some(TotpRecord {
        encrypted_secret: vec![9, 9],
        confirmed: false,
        last_used_step: None,
    });
    db.update_user(&alice).await.unwrap();
    assert_eq!(step(db.find_user("u1").await.unwrap().unwrap()), None);
    // Removing TOTP removes the record.
    alice.totp = None;
    db.update_user(&alice).await.unwrap();
    assert_eq!(db.find_user("u1").await.unwrap().unwrap().totp, None);
}

async fn delete_user_takes_codes_and_sessions_along(db: &Database) {
    let alice = user("u1", "alice");
    db.insert_user(&alice).await.unwrap();
    db.insert_user(&user("u2", "bob")).await.unwrap();
    db.replace_recovery_codes("u1", &[recovery_code("c1", "u1")])
        .await
        .unwrap();
    let mut s = session("s1", 0);
    s.factors.user = Some(user_factor(&alice));
    create(db, &s).await;
    create(db, &session("s2", 0)).await;

    assert!(db.delete_user("u1").await.unwrap());
    assert!(!db.delete_user("u1").await.unwrap());
    assert_eq!(db.find_user("u1").await.unwrap(), None);
    assert!(db.list_recovery_codes("u1").await.unwrap().is_empty());
    assert_eq!(db.find_session("s1").await.unwrap(), None);
    assert!(db.find_session("s2").await.unwrap().is_some());
    assert!(db.find_user("u2").await.unwrap().is_some());
    // The log outlives the user.
    assert_eq!(all_events(db).await.len(), 2);
}

async fn verified_email_lookup(db: &Database) {
    let mut a = user("u1", "a");
    a.email = Some("Shared@Example.com".to_owned());
    a.email_verified = true;
    let mut b = user("u2", "b");
    b.email = Some("shared@example.com".to_owned());
    b.email_verified = true;
    let mut c = user("u3", "c");
    c.email = Some("shared@example.com".to_owned());
    for u in [&a, &b, &c] {
        db.insert_user(u).await.unwrap();
    }
    let found = db
        .find_users_by_verified_email("SHARED@example.COM")
        .await
        .unwrap();
    assert_eq!(found, vec![a, b]);
    assert!(db
        .find_users_by_verified_email("other@example.com")
        .await
        .unwrap()
        .is_empty());
}

async fn list_users_is_ordered_and_paged(db: &Database) {
    for (id, name) in [("u1", "carol"), ("u2", "Alice"), ("u3", "bob")] {
        db.insert_user(&user(id, name)).await.unwrap();
    }
    let names = |users: Vec<User>| users.into_iter().map(|u| u.login_name).collect::<Vec<_>>();
    assert_eq!(
        names(db.list_users(0, 10).await.unwrap()),
        ["Alice", "bob", "carol"]
    );
    assert_eq!(names(db.list_users(1, 1).await.unwrap()), ["bob"]);
    assert!(db.list_users(5, 10).await.unwrap().is_empty());
}

// --- lockout ---

async fn failures_count_and_lock(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    for expected in 1..=2 {
        let record = record_failed(
            db,
            &failure("u1", FailureCounter::Password, 3, at(expected)),
        )
        .await
        .unwrap();
        assert_eq!(record.failures, expected as u32);
        assert_eq!(record.locked_until, None);
        assert_eq!(record.code_attempts, None);
    }
    // The code counter is separate.
    let code = record_failed(db, &failure("u1", FailureCounter::Code, 3, at(3)))
        .await
        .unwrap();
    assert_eq!((code.failures, code.locked_until), (1, None));

    let third = record_failed(db, &failure("u1", FailureCounter::Password, 3, at(4)))
        .await
        .unwrap();
    assert_eq!(third.failures, 3);
    assert_eq!(third.locked_until, Some(at(4) + Duration::minutes(15)));

    let stored = db.find_user("u1").await.unwrap().unwrap();
    assert_eq!(stored.password_failures, 3);
    assert_eq!(stored.code_failures, 1);
    assert_eq!(stored.locked_until, Some(at(4) + Duration::minutes(15)));
    let events = all_events(db).await;
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e.event.outcome == Outcome::Failed));
    assert!(events.windows(2).all(|w| w[0].sequence < w[1].sequence));
}

async fn locked_user_reserves_nothing(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    for i in 0..2 {
        record_failed(db, &failure("u1", FailureCounter::Password, 2, at(i)))
            .await
            .unwrap();
    }
    let until = at(1) + Duration::minutes(15);
    for counter in [FailureCounter::Password, FailureCounter::Code] {
        assert_eq!(
            db.reserve_attempt(&failure("u1", counter, 2, at(60)).attempt)
                .await,
            Err(StoreError::Locked { until })
        );
    }
    let stored = db.find_user("u1").await.unwrap().unwrap();
    assert_eq!((stored.password_failures, stored.code_failures), (2, 0));
    assert_eq!(stored.locked_until, Some(until));
    assert_eq!(all_events(db).await.len(), 2);
}

/// A reservation counts as a failure at once; the one that fills the counter locks before its
/// guess is judged, and giving it back lifts a lock that nothing else justifies.
async fn reservations_lock_at_the_limit_and_can_be_given_back(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    let password = failure("u1", FailureCounter::Password, 3, at(1));
    for expected in 1..=2 {
        let r = db.reserve_attempt(&password.attempt).await.unwrap();
        assert_eq!((r.failures, r.locked_until), (expected, None));
    }
    let until = at(1) + Duration::minutes(15);
    let third = db.reserve_attempt(&password.attempt).await.unwrap();
    assert_eq!((third.failures, third.locked_until), (3, Some(until)));
    assert_eq!(
        db.reserve_attempt(&password.attempt).await,
        Err(StoreError::Locked { until })
    );
    // A later check of the request that set the lock and passed may still reserve.
    let mut code = failure("u1", FailureCounter::Code, 3, at(1));
    assert_eq!(
        db.reserve_attempt(&code.attempt).await,
        Err(StoreError::Locked { until })
    );
    code.attempt.own_lock = Some(until);
    let own = db.reserve_attempt(&code.attempt).await.unwrap();
    assert_eq!((own.failures, own.locked_until), (1, Some(until)));
    db.release_attempt(&code.attempt).await.unwrap();
    db.release_attempt(&password.attempt).await.unwrap();
    let stored = db.find_user("u1").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.password_failures,
            stored.code_failures,
            stored.locked_until
        ),
        (2, 0, None)
    );
    // With the other counter at its limit, the lock stays.
    for _ in 0..3 {
        record_failed(db, &failure("u1", FailureCounter::Code, 3, at(2)))
            .await
            .unwrap();
    }
    let code_lock = at(2) + Duration::minutes(15);
    let mut again = password.attempt.clone();
    again.own_lock = Some(code_lock);
    db.reserve_attempt(&again).await.unwrap();
    db.release_attempt(&again).await.unwrap();
    let stored = db.find_user("u1").await.unwrap().unwrap();
    assert_eq!(
        (stored.password_failures, stored.locked_until),
        (2, Some(code_lock))
    );
    assert_eq!(
        db.release_attempt(&failure("nobody", FailureCounter::Code, 3, at(2)).attempt)
            .await,
        Err(StoreError::NotFound)
    );
}

async fn expired_lock_restarts_counting(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    record_failed(db, &failure("u1", FailureCounter::Code, 5, at(0)))
        .await
        .unwrap();
    for i in 0..2 {
        record_failed(db, &failure("u1", FailureCounter::Password, 2, at(i)))
            .await
            .unwrap();
    }
    let until = at(1) + Duration::minutes(15);
    // Still locked one microsecond before the end, free at the end.
    assert_eq!(
        record_failed(
            db,
            &failure(
                "u1",
                FailureCounter::Password,
                2,
                until - Duration::microseconds(1)
            )
        )
        .await,
        Err(StoreError::Locked { until })
    );
    let record = record_failed(db, &failure("u1", FailureCounter::Password, 2, until))
        .await
        .unwrap();
    assert_eq!(record.failures, 1);
    assert_eq!(record.locked_until, None);
    let stored = db.find_user("u1").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.password_failures,
            stored.code_failures,
            stored.locked_until
        ),
        (1, 0, None)
    );
    // And it locks again at the limit.
    let again = record_failed(db, &failure("u1", FailureCounter::Password, 2, until))
        .await
        .unwrap();
    assert_eq!(again.locked_until, Some(until + Duration::minutes(15)));
}

async fn limit_zero_never_locks(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    for i in 1..=20 {
        let record = record_failed(db, &failure("u1", FailureCounter::Password, 0, at(i)))
            .await
            .unwrap();
        assert_eq!((record.failures, record.locked_until), (i as u32, None));
    }
}

async fn failure_of_unknown_user_writes_nothing(db: &Database) {
    assert_eq!(
        record_failed(db, &failure("nobody", FailureCounter::Password, 5, at(0))).await,
        Err(StoreError::NotFound)
    );
    assert!(all_events(db).await.is_empty());
}

async fn code_failures_count_against_the_session_challenge(db: &Database) {
    let alice = user("u1", "alice");
    db.insert_user(&alice).await.unwrap();
    let mut s = session("s1", 0);
    s.factors.user = Some(user_factor(&alice));
    s.challenges.otp_email = Some(code_challenge());
    let created = create(db, &s).await;

    let write = |channel| Failure {
        write: FailureWrite {
            code_challenge: Some(("s1".to_owned(), channel)),
            event: failed("check.otp_email", Some("s1"), "u1"),
        },
        ..failure("u1", FailureCounter::Code, 10, at(5))
    };
    let first = record_failed(db, &write(CodeChannel::Email)).await.unwrap();
    assert_eq!((first.failures, first.code_attempts), (1, Some(1)));
    let second = record_failed(db, &write(CodeChannel::Email)).await.unwrap();
    assert_eq!((second.failures, second.code_attempts), (2, Some(2)));
    // No SMS challenge pending: the user counter moves, no code attempt is reported.
    let sms = record_failed(db, &write(CodeChannel::Sms)).await.unwrap();
    assert_eq!((sms.failures, sms.code_attempts), (3, None));

    let stored = db.find_session("s1").await.unwrap().unwrap();
    assert_eq!(stored.challenges.otp_email.unwrap().failed_attempts, 2);
    assert_eq!(stored.challenges.otp_sms, None);
    // The session changed, so its sequence moved to the last counted failure's event, and a
    // writer holding the old sequence loses.
    let events = all_events(db).await;
    assert_eq!(stored.sequence, events[2].sequence);
    assert_eq!(
        db.write_session(&update(&s, created, vec![])).await,
        Err(StoreError::Conflict)
    );
    // A session that does not exist counts nothing on it.
    let mut unknown = write(CodeChannel::Email);
    unknown.write.code_challenge = Some(("nope".to_owned(), CodeChannel::Email));
    assert_eq!(
        record_failed(db, &unknown).await.unwrap().code_attempts,
        None
    );
}

async fn unlock_clears_counters_and_lock(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    record_failed(db, &failure("u1", FailureCounter::Code, 5, at(0)))
        .await
        .unwrap();
    record_failed(db, &failure("u1", FailureCounter::Password, 1, at(0)))
        .await
        .unwrap();
    assert!(db.unlock_user("u1").await.unwrap());
    let stored = db.find_user("u1").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.password_failures,
            stored.code_failures,
            stored.locked_until
        ),
        (0, 0, None)
    );
    assert!(!db.unlock_user("nobody").await.unwrap());
    let record = record_failed(db, &failure("u1", FailureCounter::Password, 5, at(1)))
        .await
        .unwrap();
    assert_eq!(record.failures, 1);
}

// --- sessions ---

async fn write_session_inserts_and_updates(db: &Database) {
    let mut s = session("s1", 0);
    let first = create(db, &s).await;
    let stored = db.find_session("s1").await.unwrap().unwrap();
    assert_eq!(stored.sequence, first);
    assert_eq!(
        stored,
        Session {
            sequence: first,
            ..s.clone()
        }
    );

    s.token_hash = [9; 32];
    s.metadata.insert("k".to_owned(), b"v".to_vec());
    s.changed_at = at(30);
    let second = db.write_session(&update(&s, first, vec![])).await.unwrap();
    assert!(second > first);
    let events = all_events(db).await;
    assert_eq!(events.len(), 3);
    // The new sequence is the position of the write's last event.
    assert_eq!(second, events[2].sequence);
    let stored = db.find_session("s1").await.unwrap().unwrap();
    assert_eq!(
        stored,
        Session {
            sequence: second,
            ..s.clone()
        }
    );

    // Updating a session that does not exist.
    assert_eq!(
        db.write_session(&update(&session("nope", 0), 1, vec![]))
            .await,
        Err(StoreError::NotFound)
    );
}

async fn stale_sequence_conflicts_and_writes_nothing(db: &Database) {
    let mut s = session("s1", 0);
    let first = create(db, &s).await;
    s.changed_at = at(10);
    let second = db.write_session(&update(&s, first, vec![])).await.unwrap();
    let before = db.find_session("s1").await.unwrap().unwrap();
    let events_before = all_events(db).await;

    let mut stale = s.clone();
    stale.token_hash = [1; 32];
    stale.terminated = true;
    for expected in [first, second - 1, second + 1] {
        assert_eq!(
            db.write_session(&update(&stale, expected, vec![])).await,
            Err(StoreError::Conflict)
        );
    }
    assert_eq!(db.find_session("s1").await.unwrap().unwrap(), before);
    assert_eq!(all_events(db).await, events_before);
}

async fn duplicate_session_id_conflicts(db: &Database) {
    let s = session("s1", 0);
    let first = create(db, &s).await;
    let mut other = session("s1", 5);
    other.creator = "someone-else".to_owned();
    assert_eq!(
        db.write_session(&SessionWrite {
            session: other,
            expected_sequence: None,
            events: vec![event("session.created", Some("s1"), None, 5)],
            user_effects: vec![],
            attach_to_handoff: None,
        })
        .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        db.find_session("s1").await.unwrap().unwrap(),
        Session {
            sequence: first,
            ..s
        }
    );
    assert_eq!(all_events(db).await.len(), 1);
}

async fn session_write_needs_an_event(db: &Database) {
    let result = db
        .write_session(&SessionWrite {
            session: session("s1", 0),
            expected_sequence: None,
            events: vec![],
            user_effects: vec![],
            attach_to_handoff: None,
        })
        .await;
    assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
    assert_eq!(db.find_session("s1").await.unwrap(), None);
}

/// Runs a write expected to fail, then checks that session, events and user are as before.
async fn assert_rolled_back(db: &Database, write: SessionWrite, error: StoreError) {
    let session_before = db.find_session(&write.session.id).await.unwrap();
    let events_before = all_events(db).await;
    let users_before = db.list_users(0, 100).await.unwrap();
    let codes_before = db.list_recovery_codes("u1").await.unwrap();
    assert_eq!(db.write_session(&write).await, Err(error));
    assert_eq!(
        db.find_session(&write.session.id).await.unwrap(),
        session_before
    );
    assert_eq!(all_events(db).await, events_before);
    assert_eq!(db.list_users(0, 100).await.unwrap(), users_before);
    assert_eq!(db.list_recovery_codes("u1").await.unwrap(), codes_before);
}

/// A session write that changes the session visibly, so a rollback is observable.
fn visible_update(s: &Session, expected: i64, effects: Vec<UserEffect>) -> SessionWrite {
    let mut changed = s.clone();
    changed.token_hash = [3; 32];
    changed.changed_at = at(99);
    update(&changed, expected, effects)
}

async fn reset_failures_effect(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    let s = session("s1", 0);
    let seq = create(db, &s).await;
    for _ in 0..2 {
        record_failed(db, &failure("u1", FailureCounter::Password, 3, at(1)))
            .await
            .unwrap();
    }
    record_failed(db, &failure("u1", FailureCounter::Code, 3, at(1)))
        .await
        .unwrap();
    let reset = |counter| UserEffect::ResetFailures {
        user_id: "u1".to_owned(),
        counter,
        limits: limits(3),
    };
    let seq = db
        .write_session(&update(&s, seq, vec![reset(FailureCounter::Password)]))
        .await
        .unwrap();
    let stored = db.find_user("u1").await.unwrap().unwrap();
    assert_eq!((stored.password_failures, stored.code_failures), (0, 1));

    // The passing attempt may have filled the counter itself: its reset lifts that lock.
    for _ in 0..3 {
        record_failed(db, &failure("u1", FailureCounter::Password, 3, at(3)))
            .await
            .unwrap();
    }
    let seq = db
        .write_session(&update(&s, seq, vec![reset(FailureCounter::Password)]))
        .await
        .unwrap();
    let stored = db.find_user("u1").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.password_failures,
            stored.code_failures,
            stored.locked_until
        ),
        (0, 1, None)
    );

    // A lock of the other counter stands.
    for _ in 0..2 {
        record_failed(db, &failure("u1", FailureCounter::Code, 3, at(4)))
            .await
            .unwrap();
    }
    let seq = db
        .write_session(&update(&s, seq, vec![reset(FailureCounter::Password)]))
        .await
        .unwrap();
    let stored = db.find_user("u1").await.unwrap().unwrap();
    assert_eq!(
        (stored.code_failures, stored.locked_until),
        (3, Some(at(4) + Duration::minutes(15)))
    );

    let missing = UserEffect::ResetFailures {
        user_id: "nobody".to_owned(),
        counter: FailureCounter::Code,
        limits: limits(3),
    };
    assert_rolled_back(
        db,
        visible_update(&s, seq, vec![missing]),
        StoreError::NotFound,
    )
    .await;
}

async fn totp_step_effect(db: &Database) {
    let mut alice = user("u1", "alice");
    alice.totp = Some(TotpRecord {
        encrypted_secret: vec![1, 2, 3],
        confirmed: true,
        last_used_step: Some(10),
    });
    db.insert_user(&alice).await.unwrap();
    db.insert_user(&user("u2", "no-totp")).await.unwrap();
    let s = session("s1", 0);
    let seq = create(db, &s).await;
    let use_step = |user_id: &str, step| UserEffect::UseTotpStep {
        user_id: user_id.to_owned(),
        step,
    };

    let seq = db
        .write_session(&update(&s, seq, vec![use_step("u1", 11)]))
        .await
        .unwrap();
    let stored = db.find_user("u1").await.unwrap().unwrap();
    assert_eq!(stored.totp.unwrap().last_used_step, Some(11));

    for replay in [11, 10, -5] {
        assert_rolled_back(
            db,
            visible_update(&s, seq, vec![use_step("u1", replay)]),
            StoreError::Replayed,
        )
        .await;
    }
    // A later effect failing also undoes an earlier one that succeeded.
    assert_rolled_back(
        db,
        visible_update(&s, seq, vec![use_step("u1", 12), use_step("u1", 12)]),
        StoreError::Replayed,
    )
    .await;
    assert_rolled_back(
        db,
        visible_update(&s, seq, vec![use_step("u2", 1)]),
        StoreError::NotFound,
    )
    .await;
    db.write_session(&update(&s, seq, vec![use_step("u1", 12)]))
        .await
        .unwrap();
}

fn recovery_code(id: &str, user_id: &str) -> RecoveryCode {
    RecoveryCode {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        code_hash: format!("$argon2id$hash-of-{id}"),
        used_at: None,
    }
}

async fn recovery_code_effect(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    db.replace_recovery_codes(
        "u1",
        &[recovery_code("c1", "u1"), recovery_code("c2", "u1")],
    )
    .await
    .unwrap();
    let s = session("s1", 0);
    let seq = create(db, &s).await;
    let use_code = |id: &str| UserEffect::UseRecoveryCode {
        code_id: id.to_owned(),
        now: at(7),
    };
    let seq = db
        .write_session(&update(&s, seq, vec![use_code("c1")]))
        .await
        .unwrap();
    let codes = db.list_recovery_codes("u1").await.unwrap();
    assert_eq!(codes[0].used_at, Some(at(7)));
    assert_eq!(codes[1].used_at, None);

    assert_rolled_back(
        db,
        visible_update(&s, seq, vec![use_code("c1")]),
        StoreError::Replayed,
    )
    .await;
    assert_rolled_back(
        db,
        visible_update(&s, seq, vec![use_code("c2"), use_code("c1")]),
        StoreError::Replayed,
    )
    .await;
    assert_rolled_back(
        db,
        visible_update(&s, seq, vec![use_code("zz")]),
        StoreError::NotFound,
    )
    .await;
}

async fn set_password_hash_effect(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    let s = session("s1", 0);
    let seq = create(db, &s).await;
    let set = |user_id: &str| UserEffect::SetPasswordHash {
        user_id: user_id.to_owned(),
        hash: "$argon2id$new".to_owned(),
    };
    let seq = db
        .write_session(&update(&s, seq, vec![set("u1")]))
        .await
        .unwrap();
    assert_eq!(
        db.find_user("u1")
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$new")
    );
    assert_rolled_back(
        db,
        visible_update(&s, seq, vec![set("u1"), set("nobody")]),
        StoreError::NotFound,
    )
    .await;
}

// --- recovery codes, apps, API keys ---

async fn recovery_codes_are_replaced(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    db.insert_user(&user("u2", "bob")).await.unwrap();
    let mut used = recovery_code("a1", "u1");
    used.used_at = Some(at(3));
    db.replace_recovery_codes("u1", &[used.clone(), recovery_code("a2", "u1")])
        .await
        .unwrap();
    db.replace_recovery_codes("u2", &[recovery_code("b1", "u2")])
        .await
        .unwrap();
    assert_eq!(
        db.list_recovery_codes("u1").await.unwrap(),
        vec![used, recovery_code("a2", "u1")]
    );

    let fresh: Vec<_> = (0..10)
        .map(|i| recovery_code(&format!("n{i}"), "u1"))
        .collect();
    db.replace_recovery_codes("u1", &fresh).await.unwrap();
    assert_eq!(db.list_recovery_codes("u1").await.unwrap(), fresh);
    assert_eq!(db.list_recovery_codes("u2").await.unwrap().len(), 1);
    db.replace_recovery_codes("u1", &[]).await.unwrap();
    assert!(db.list_recovery_codes("u1").await.unwrap().is_empty());

    assert_eq!(
        db.replace_recovery_codes("nobody", &[recovery_code("x", "nobody")])
            .await,
        Err(StoreError::NotFound)
    );
    assert!(matches!(
        db.replace_recovery_codes("u1", &[recovery_code("x", "u2")])
            .await,
        Err(StoreError::Backend(_))
    ));
}

fn app(id: &str, key: &str, name: &str) -> App {
    App {
        id: id.to_owned(),
        app_key: key.to_owned(),
        secret_hash: "$argon2id$secret".to_owned(),
        name: name.to_owned(),
        redirect_uris: vec![
            "https://app.example.com/callback".to_owned(),
            "http://localhost:8080/cb".to_owned(),
        ],
        policy: LoginPolicy {
            allowed_factors: vec![FactorKind::Password, FactorKind::Totp],
            require_second_factor: true,
            require_secret_on_validate: true,
            passwordless: false,
            require_code_on_validate: true,
        },
        branding: Branding {
            display_name: Some("Example".to_owned()),
            logo_url: Some("https://app.example.com/logo.svg".to_owned()),
            primary_color: Some("#112233".to_owned()),
            background_color: None,
            home_url: Some("https://app.example.com/".to_owned()),
        },
        created_at: at(0),
        updated_at: at(0),
    }
}

async fn apps_crud_and_duplicates(db: &Database) {
    let one = app("a1", "key-1", "Zeta");
    let two = App {
        policy: LoginPolicy::default(),
        branding: Branding::default(),
        redirect_uris: vec![],
        ..app("a2", "key-2", "Alpha")
    };
    db.insert_app(&one).await.unwrap();
    db.insert_app(&two).await.unwrap();
    assert_eq!(
        db.insert_app(&app("a3", "key-1", "x")).await,
        Err(StoreError::Duplicate { what: "app_key" })
    );
    assert!(matches!(
        db.insert_app(&app("a1", "key-3", "x")).await,
        Err(StoreError::Duplicate { .. })
    ));
    assert_eq!(db.find_app("a1").await.unwrap(), Some(one.clone()));
    assert_eq!(
        db.find_app_by_key("key-2").await.unwrap(),
        Some(two.clone())
    );
    assert_eq!(db.find_app_by_key("KEY-2").await.unwrap(), None);
    assert_eq!(db.find_app("zz").await.unwrap(), None);
    assert_eq!(
        db.list_apps().await.unwrap(),
        vec![two.clone(), one.clone()]
    );

    let mut changed = one.clone();
    changed.name = "Renamed".to_owned();
    changed.app_key = "key-1b".to_owned();
    changed.redirect_uris = vec!["https://new.example.com/".to_owned()];
    changed.policy.allowed_factors = vec![FactorKind::Passkey];
    changed.branding.background_color = Some("#ffffff".to_owned());
    changed.updated_at = at(50);
    db.update_app(&changed).await.unwrap();
    assert_eq!(db.find_app("a1").await.unwrap(), Some(changed.clone()));
    assert_eq!(db.find_app_by_key("key-1").await.unwrap(), None);
    changed.app_key = "key-2".to_owned();
    assert_eq!(
        db.update_app(&changed).await,
        Err(StoreError::Duplicate { what: "app_key" })
    );
    assert_eq!(
        db.update_app(&app("zz", "key-9", "x")).await,
        Err(StoreError::NotFound)
    );

    // Deleting an app ends the sessions generated for it.
    let mut s = session("s1", 0);
    s.app_id = Some("a2".to_owned());
    create(db, &s).await;
    assert!(db.delete_app("a2").await.unwrap());
    assert!(!db.delete_app("a2").await.unwrap());
    assert_eq!(db.find_session("s1").await.unwrap(), None);
    assert_eq!(db.list_apps().await.unwrap().len(), 1);
    // A session cannot point at an app that does not exist.
    let mut orphan = session("s2", 0);
    orphan.app_id = Some("a2".to_owned());
    assert_eq!(
        db.write_session(&SessionWrite {
            session: orphan,
            expected_sequence: None,
            events: vec![event("session.created", Some("s2"), None, 0)],
            user_effects: vec![],
            attach_to_handoff: None,
        })
        .await,
        Err(StoreError::NotFound)
    );
}

async fn api_keys_crud_and_duplicates(db: &Database) {
    let key = |id: &str, hash: u8, created: i64| ApiKey {
        id: id.to_owned(),
        name: format!("key {id}"),
        key_hash: [hash; 32],
        scopes: vec![Scope::Session, Scope::Admin],
        created_at: at(created),
        revoked_at: None,
    };
    let one = key("k1", 1, 5);
    let two = ApiKey {
        scopes: vec![Scope::Session],
        ..key("k2", 2, 1)
    };
    db.insert_api_key(&one).await.unwrap();
    db.insert_api_key(&two).await.unwrap();
    assert_eq!(
        db.insert_api_key(&key("k3", 1, 0)).await,
        Err(StoreError::Duplicate { what: "key_hash" })
    );
    assert!(matches!(
        db.insert_api_key(&key("k1", 3, 0)).await,
        Err(StoreError::Duplicate { .. })
    ));
    assert_eq!(
        db.find_api_key_by_hash(&[1; 32]).await.unwrap(),
        Some(one.clone())
    );
    assert_eq!(db.find_api_key_by_hash(&[4; 32]).await.unwrap(), None);
    assert_eq!(
        db.list_api_keys().await.unwrap(),
        vec![two.clone(), one.clone()]
    );

    assert!(db.revoke_api_key("k1", at(10)).await.unwrap());
    assert!(db.revoke_api_key("k1", at(20)).await.unwrap());
    assert!(!db.revoke_api_key("zz", at(10)).await.unwrap());
    assert_eq!(
        db.find_api_key_by_hash(&[1; 32])
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(at(10))
    );
}

// --- queries ---

async fn list_sessions_filters_orders_and_pages(db: &Database) {
    let alice = user("u1", "alice");
    db.insert_user(&alice).await.unwrap();
    // Five sessions; s3 and s4 share a creation date so the id breaks the tie.
    let specs = [
        ("s1", 10, Some("u1"), "api-1", Some("fp-a"), Some(100)),
        ("s2", 20, None, "api-1", Some("fp-b"), None),
        ("s4", 30, Some("u1"), "api-2", None, Some(300)),
        ("s3", 30, None, "api-2", Some("fp-a"), Some(200)),
        ("s5", 40, Some("u1"), "api-1", None, None),
    ];
    for (id, created, user_id, creator, fingerprint, expires) in specs {
        let mut s = session(id, created);
        if user_id.is_some() {
            s.factors.user = Some(user_factor(&alice));
        }
        s.creator = creator.to_owned();
        s.user_agent = fingerprint.map(|f| UserAgent {
            fingerprint_id: Some(f.to_owned()),
            ..UserAgent::default()
        });
        s.expires_at = expires.map(at);
        create(db, &s).await;
    }

    let search = |filters: Vec<SessionFilter>, ascending: bool, offset: u64, limit: u32| {
        let query = SessionQuery {
            filters,
            offset,
            limit,
            ascending,
        };
        async move {
            let page = db.list_sessions(&query).await.unwrap();
            let ids: Vec<String> = page.sessions.iter().map(|s| s.id.clone()).collect();
            (page.total, ids)
        }
    };
    let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    assert_eq!(
        search(vec![], true, 0, 0).await,
        (5, ids(&["s1", "s2", "s3", "s4", "s5"]))
    );
    assert_eq!(
        search(vec![], false, 0, 100).await,
        (5, ids(&["s5", "s4", "s3", "s2", "s1"]))
    );
    assert_eq!(search(vec![], true, 1, 2).await, (5, ids(&["s2", "s3"])));
    assert_eq!(search(vec![], false, 4, 2).await, (5, ids(&["s1"])));
    assert_eq!(search(vec![], true, 10, 2).await, (5, ids(&[])));

    let by_ids = SessionFilter::Ids(ids(&["s1", "s3", "nope"]));
    assert_eq!(
        search(vec![by_ids.clone()], true, 0, 10).await,
        (2, ids(&["s1", "s3"]))
    );
    assert_eq!(
        search(vec![SessionFilter::Ids(vec![])], true, 0, 10).await,
        (0, ids(&[]))
    );
    let by_user = SessionFilter::UserId("u1".to_owned());
    assert_eq!(
        search(vec![by_user.clone()], true, 0, 10).await,
        (3, ids(&["s1", "s4", "s5"]))
    );
    let by_creator = SessionFilter::Creator("api-2".to_owned());
    assert_eq!(
        search(vec![by_creator.clone()], true, 0, 10).await,
        (2, ids(&["s3", "s4"]))
    );
    let by_fingerprint = SessionFilter::UserAgentFingerprint("fp-a".to_owned());
    assert_eq!(
        search(vec![by_fingerprint.clone()], true, 0, 10).await,
        (2, ids(&["s1", "s3"]))
    );
    // Filters are ANDed.
    assert_eq!(
        search(vec![by_user.clone(), by_creator.clone()], true, 0, 10).await,
        (1, ids(&["s4"]))
    );
    assert_eq!(
        search(vec![by_ids, by_fingerprint, by_creator], true, 0, 10).await,
        (1, ids(&["s3"]))
    );

    let created = |cmp| SessionFilter::CreationDate(cmp, at(30));
    assert_eq!(
        search(vec![created(TimeCompare::Equals)], true, 0, 10)
            .await
            .1,
        ids(&["s3", "s4"])
    );
    assert_eq!(
        search(vec![created(TimeCompare::Greater)], true, 0, 10)
            .await
            .1,
        ids(&["s5"])
    );
    assert_eq!(
        search(vec![created(TimeCompare::GreaterOrEquals)], true, 0, 10)
            .await
            .1,
        ids(&["s3", "s4", "s5"])
    );
    assert_eq!(
        search(vec![created(TimeCompare::Less)], true, 0, 10)
            .await
            .1,
        ids(&["s1", "s2"])
    );
    assert_eq!(
        search(vec![created(TimeCompare::LessOrEquals)], true, 0, 10)
            .await
            .1,
        ids(&["s1", "s2", "s3", "s4"])
    );

    // Sessions without an expiration never match an expiration filter.
    let expires = |cmp, seconds| SessionFilter::ExpirationDate(cmp, at(seconds));
    assert_eq!(
        search(vec![expires(TimeCompare::Equals, 200)], true, 0, 10)
            .await
            .1,
        ids(&["s3"])
    );
    assert_eq!(
        search(vec![expires(TimeCompare::Greater, 100)], true, 0, 10)
            .await
            .1,
        ids(&["s3", "s4"])
    );
    assert_eq!(
        search(
            vec![expires(TimeCompare::GreaterOrEquals, 100)],
            true,
            0,
            10
        )
        .await
        .1,
        ids(&["s1", "s3", "s4"])
    );
    assert_eq!(
        search(vec![expires(TimeCompare::Less, 200)], true, 0, 10)
            .await
            .1,
        ids(&["s1"])
    );
    assert_eq!(
        search(
            vec![expires(TimeCompare::LessOrEquals, 10_000)],
            false,
            0,
            2
        )
        .await,
        (3, ids(&["s4", "s3"]))
    );
}

async fn events_are_listed_by_position(db: &Database) {
    let mut events = vec![];
    for i in 0..6 {
        let session_id = if i % 2 == 0 { "s1" } else { "s2" };
        let user_id = if i < 3 { Some("u1") } else { None };
        let mut e = event(&format!("kind.{i}"), Some(session_id), user_id, i);
        e.app_id = (i == 4).then(|| "app-1".to_owned());
        e.client_ip = None;
        if i == 5 {
            e.outcome = Outcome::Failed;
            e.error_id = Some("COMMAND-Hkl3d".to_owned());
        }
        events.push(e);
    }
    db.append_events(&events[..3]).await.unwrap();
    db.append_events(&[]).await.unwrap();
    db.append_events(&events[3..]).await.unwrap();

    let all = all_events(db).await;
    assert_eq!(
        all.iter().map(|e| e.event.clone()).collect::<Vec<_>>(),
        events
    );
    assert!(all.windows(2).all(|w| w[0].sequence < w[1].sequence));

    let kinds = |list: Vec<domain::model::Event>| {
        list.into_iter().map(|e| e.event.kind).collect::<Vec<_>>()
    };
    let filter = |session: Option<&str>, user: Option<&str>, after: i64, limit: u32| EventFilter {
        session_id: session.map(str::to_owned),
        user_id: user.map(str::to_owned),
        after,
        limit,
    };
    assert_eq!(
        kinds(
            db.list_events(&filter(Some("s1"), None, 0, 0))
                .await
                .unwrap()
        ),
        ["kind.0", "kind.2", "kind.4"]
    );
    assert_eq!(
        kinds(
            db.list_events(&filter(None, Some("u1"), 0, 0))
                .await
                .unwrap()
        ),
        ["kind.0", "kind.1", "kind.2"]
    );
    assert_eq!(
        kinds(
            db.list_events(&filter(Some("s2"), Some("u1"), 0, 0))
                .await
                .unwrap()
        ),
        ["kind.1"]
    );
    assert_eq!(
        kinds(
            db.list_events(&filter(None, None, all[2].sequence, 2))
                .await
                .unwrap()
        ),
        ["kind.3", "kind.4"]
    );
    assert!(db
        .list_events(&filter(None, None, all[5].sequence, 0))
        .await
        .unwrap()
        .is_empty());
}

async fn session_round_trips_every_field(db: &Database) {
    let alice = user("u1", "alice");
    db.insert_user(&alice).await.unwrap();
    db.insert_app(&app("a1", "key-1", "App")).await.unwrap();
    let mut s = session("s1", 0);
    s.token_hash = std::array::from_fn(|i| i as u8 * 8);
    s.factors = Factors {
        user: Some(user_factor(&alice)),
        password: Some(datetime!(2030-01-01 00:00:01.123456789 UTC)),
        web_auth_n: Some(WebAuthnFactor {
            verified_at: at(2),
            user_verified: true,
            kind: Some(WebAuthnKind::SecurityKey),
        }),
        totp: Some(at(3)),
        otp_sms: Some(at(4)),
        otp_email: Some(datetime!(2030-01-01 02:00:05 +02:00)),
        recovery_code: Some(at(6)),
    };
    s.metadata = BTreeMap::from([
        ("text".to_owned(), b"plain".to_vec()),
        ("binary".to_owned(), vec![0, 0xff, 0xfe, 0x80, 0xc3]),
        ("ünïcode key".to_owned(), "wert".as_bytes().to_vec()),
    ]);
    s.user_agent = Some(UserAgent {
        fingerprint_id: Some("fp-1".to_owned()),
        ip: Some("2001:db8::1".to_owned()),
        description: Some("Firefox on Linux".to_owned()),
        header: BTreeMap::from([
            (
                "accept-language".to_owned(),
                vec!["de-CH".to_owned(), "en".to_owned()],
            ),
            ("user-agent".to_owned(), vec!["Mozilla/5.0".to_owned()]),
        ]),
    });
    s.challenges = PendingChallenges {
        otp_sms: Some(CodeChallenge {
            failed_attempts: 2,
            ..code_challenge()
        }),
        otp_email: Some(code_challenge()),
        web_auth_n: Some(WebAuthnChallenge {
            rp_id: "example.com".to_owned(),
            user_verification_required: true,
            state: serde_json::json!({"challenge": "abc", "n": [1, 2, 3]}),
            expires_at: at(300),
        }),
    };
    s.lifetime = Some(Duration::new(3600, 123_456_789));
    s.expires_at = Some(at(3600));
    s.creator = "api-key-7".to_owned();
    s.app_id = Some("a1".to_owned());
    s.changed_at = at(9);
    s.terminated = true;

    let sequence = create(db, &s).await;
    assert_eq!(
        db.find_session("s1").await.unwrap(),
        Some(Session {
            sequence,
            ..s.clone()
        })
    );

    // And back to the empty values.
    let empty = Session {
        sequence,
        ..session("s1", 0)
    };
    let next = db
        .write_session(&update(&empty, sequence, vec![]))
        .await
        .unwrap();
    assert_eq!(
        db.find_session("s1").await.unwrap(),
        Some(Session {
            sequence: next,
            ..empty
        })
    );
}

async fn timestamps_keep_microseconds(db: &Database) {
    let mut alice = user("u1", "alice");
    alice.created_at = datetime!(2030-06-01 12:00:00.123456789 +05:30);
    db.insert_user(&alice).await.unwrap();
    let stored = db.find_user("u1").await.unwrap().unwrap();
    assert_eq!(stored.created_at, datetime!(2030-06-01 06:30:00.123456 UTC));
    // Ordering and comparison in SQL agree with time order across a midnight and a year.
    for (id, created) in [
        ("b", datetime!(2029-12-31 23:59:59.999999 UTC)),
        ("a", datetime!(2030-01-01 00:00:00 UTC)),
        ("c", datetime!(2030-01-01 01:00:00 +02:00)),
    ] {
        let mut s = session(id, 0);
        s.created_at = created;
        create(db, &s).await;
    }
    let page = db
        .list_sessions(&SessionQuery {
            filters: vec![SessionFilter::CreationDate(
                TimeCompare::Less,
                datetime!(2030-01-01 00:00:00 UTC),
            )],
            offset: 0,
            limit: 10,
            ascending: true,
        })
        .await
        .unwrap();
    let ids: Vec<_> = page.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["c", "b"]);
}

async fn events_cannot_be_rewritten(db: &Database) {
    db.append_events(&[event("x", None, None, 0)])
        .await
        .unwrap();
    let pool_result = match db {
        Database::Sqlite(db) => (
            sqlx::query("UPDATE events SET kind = 'y'")
                .execute(db.writer())
                .await
                .is_err(),
            sqlx::query("DELETE FROM events")
                .execute(db.writer())
                .await
                .is_err(),
        ),
        Database::Postgres(pool) => (
            sqlx::query("UPDATE events SET kind = 'y'")
                .execute(pool)
                .await
                .is_err(),
            sqlx::query("DELETE FROM events")
                .execute(pool)
                .await
                .is_err(),
        ),
    };
    assert_eq!(pool_result, (true, true));
    assert_eq!(all_events(db).await[0].event.kind, "x");
}

// --- concurrency ---

/// 200 wrong passwords at once against one user, spread over the given stores.
async fn hammer_failures(stores: Vec<Arc<dyn Store>>) {
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = Arc::clone(&stores[i % stores.len()]);
            tokio::spawn(async move {
                record_failed(
                    store.as_ref(),
                    &failure("u1", FailureCounter::Password, 5, at(1)),
                )
                .await
            })
        })
        .collect();
    let mut counted = vec![];
    let mut locked = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(record) => counted.push(record.failures),
            Err(StoreError::Locked { until }) => {
                assert_eq!(until, at(1) + Duration::minutes(15));
                locked += 1;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    counted.sort_unstable();
    assert_eq!(counted, [1, 2, 3, 4, 5]);
    assert_eq!(locked, 195);
    let stored = stores[0].find_user("u1").await.unwrap().unwrap();
    assert_eq!(stored.password_failures, 5);
    assert_eq!(stored.locked_until, Some(at(1) + Duration::minutes(15)));
    assert_eq!(
        stores[0]
            .list_events(&EventFilter::default())
            .await
            .unwrap()
            .len(),
        5,
        "refused reservations write no event (the engine records the refusal)"
    );
}

async fn concurrent_failures_record_exactly_the_limit(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    hammer_failures(vec![Arc::new(db.clone())]).await;
}

/// Two replicas: two separate pools on one PostgreSQL schema, 100 attempts through each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_replicas_record_exactly_the_limit() {
    let harness = postgres().await;
    let Cleanup::Schema { name, .. } = &harness.cleanup else {
        unreachable!()
    };
    let replica = Database::Postgres(postgres_pool(name).await);
    harness.db.insert_user(&user("u1", "alice")).await.unwrap();
    hammer_failures(vec![
        Arc::new(harness.db.clone()),
        Arc::new(replica.clone()),
    ])
    .await;
    if let Database::Postgres(pool) = replica {
        pool.close().await;
    }
    harness.finish().await;
}

async fn concurrent_session_updates_one_wins(db: &Database) {
    let s = session("s1", 0);
    let seq = create(db, &s).await;
    for round in 0..10u8 {
        let current = db.find_session("s1").await.unwrap().unwrap().sequence;
        assert!(current >= seq);
        let tasks: Vec<_> = (0..2u8)
            .map(|i| {
                let db = db.clone();
                let mut changed = s.clone();
                changed.token_hash = [round * 2 + i; 32];
                tokio::spawn(
                    async move { db.write_session(&update(&changed, current, vec![])).await },
                )
            })
            .collect();
        let mut results = vec![];
        for task in tasks {
            results.push(task.await.unwrap());
        }
        let wins: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(wins.len(), 1, "{results:?}");
        assert!(results.contains(&Err(StoreError::Conflict)), "{results:?}");
        let stored = db.find_session("s1").await.unwrap().unwrap();
        assert_eq!(stored.sequence, *wins[0]);
    }
    // Only the winners' events are in the log: one creation plus two per round.
    assert_eq!(all_events(db).await.len(), 1 + 10 * 2);
}

// --- app handoff ---

fn handoff(id: &str, app_id: &str, n: u8) -> Handoff {
    Handoff {
        id: id.to_owned(),
        app_id: app_id.to_owned(),
        link_hash: [n; 32],
        secret_hash: [n.wrapping_add(100); 32],
        redirect_uri: Some("https://app.example.com/callback".to_owned()),
        state: Some("s".repeat(512)),
        login_hint: Some("Zoë".to_owned()),
        ui_locales: Some("de-CH en".to_owned()),
        lifetime: Duration::minutes(30),
        created_at: at(0),
        link_expires_at: at(600),
        claimed_at: None,
        browser_hash: None,
        session_id: None,
        code_hash: None,
        code_challenge: None,
        code_spent_at: None,
    }
}

async fn handoffs_round_trip_and_are_found_by_hash(db: &Database) {
    db.insert_app(&app("a1", "key-1", "One")).await.unwrap();
    let h = handoff("h1", "a1", 1);
    db.insert_handoff(&h).await.unwrap();
    let bare = Handoff {
        redirect_uri: None,
        state: None,
        login_hint: None,
        ui_locales: None,
        ..handoff("h2", "a1", 2)
    };
    db.insert_handoff(&bare).await.unwrap();
    assert_eq!(
        db.find_handoff_by_link(&[1; 32]).await.unwrap(),
        Some(h.clone())
    );
    assert_eq!(
        db.find_handoff_by_secret(&[101; 32]).await.unwrap(),
        Some(h.clone())
    );
    assert_eq!(db.find_handoff_by_link(&[2; 32]).await.unwrap(), Some(bare));
    assert_eq!(db.find_handoff_by_link(&[101; 32]).await.unwrap(), None);
    assert_eq!(db.find_handoff_by_secret(&[1; 32]).await.unwrap(), None);
    // The same link or secret hash twice, or an unknown app, is refused.
    let same_link = Handoff {
        secret_hash: [55; 32],
        ..handoff("h3", "a1", 1)
    };
    assert!(matches!(
        db.insert_handoff(&same_link).await,
        Err(StoreError::Duplicate { .. })
    ));
    assert!(db.insert_handoff(&handoff("h4", "nope", 4)).await.is_err());
}

async fn handoff_claims_are_single_and_timely(db: &Database) {
    db.insert_app(&app("a1", "key-1", "One")).await.unwrap();
    db.insert_handoff(&handoff("h1", "a1", 1)).await.unwrap();
    // Expired at its expiry time.
    assert!(!db
        .claim_handoff("h1", &[9; 32], &[77; 32], at(600))
        .await
        .unwrap());
    assert!(!db
        .claim_handoff("missing", &[9; 32], &[77; 32], at(1))
        .await
        .unwrap());
    // Of many racing browsers exactly one wins.
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.claim_handoff("h1", &[i; 32], &[77; 32], at(5))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
    let claimed = db.find_handoff_by_link(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(claimed.claimed_at, Some(at(5)));
    assert!(claimed.browser_hash.is_some());
    assert!(!db
        .claim_handoff("h1", &[9; 32], &[77; 32], at(6))
        .await
        .unwrap());
    // A session is attached once; an unclaimed handoff takes none.
    create(db, &session("s1", 0)).await;
    create(db, &session("s2", 0)).await;
    assert!(db.attach_handoff_session("h1", "s1").await.unwrap());
    assert!(!db.attach_handoff_session("h1", "s2").await.unwrap());
    db.insert_handoff(&handoff("h2", "a1", 2)).await.unwrap();
    assert!(!db.attach_handoff_session("h2", "s2").await.unwrap());
    let h = db
        .find_handoff_by_secret(&[101; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.session_id.as_deref(), Some("s1"));
}

async fn handoff_purge_takes_only_expired_unclaimed_links(db: &Database) {
    db.insert_app(&app("a1", "key-1", "One")).await.unwrap();
    for (i, id) in ["h1", "h2", "h3"].iter().enumerate() {
        db.insert_handoff(&handoff(id, "a1", i as u8 + 1))
            .await
            .unwrap();
    }
    let later = Handoff {
        link_expires_at: at(1200),
        ..handoff("h4", "a1", 4)
    };
    db.insert_handoff(&later).await.unwrap();
    assert!(db
        .claim_handoff("h2", &[9; 32], &[77; 32], at(10))
        .await
        .unwrap());
    assert_eq!(db.purge_handoffs(at(599)).await.unwrap(), 0);
    assert_eq!(db.purge_handoffs(at(600)).await.unwrap(), 2);
    assert!(db.find_handoff_by_link(&[1; 32]).await.unwrap().is_none());
    assert!(db.find_handoff_by_link(&[2; 32]).await.unwrap().is_some());
    assert!(db.find_handoff_by_link(&[3; 32]).await.unwrap().is_none());
    assert!(db.find_handoff_by_link(&[4; 32]).await.unwrap().is_some());
}

async fn handoff_codes_are_kept_and_spent_once(db: &Database) {
    db.insert_app(&app("a1", "key-1", "One")).await.unwrap();
    // A challenge given at generate, and even a spent time, round-trip as inserted.
    let challenged = Handoff {
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        ..handoff("h1", "a1", 1)
    };
    db.insert_handoff(&challenged).await.unwrap();
    let full = Handoff {
        code_hash: Some([5; 32]),
        code_spent_at: Some(at(7)),
        ..handoff("h2", "a1", 2)
    };
    db.insert_handoff(&full).await.unwrap();
    assert_eq!(
        db.find_handoff_by_link(&[1; 32]).await.unwrap(),
        Some(challenged.clone())
    );
    assert_eq!(db.find_handoff_by_link(&[2; 32]).await.unwrap(), Some(full));
    // The code hash is recorded with the claim, and only with the winning one.
    assert!(db
        .claim_handoff("h1", &[9; 32], &[42; 32], at(5))
        .await
        .unwrap());
    assert!(!db
        .claim_handoff("h1", &[8; 32], &[43; 32], at(6))
        .await
        .unwrap());
    let claimed = db.find_handoff_by_link(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(claimed.code_hash, Some([42; 32]));
    assert_eq!(claimed.code_spent_at, None);
    // Of racing spends exactly one wins, on any backend; the time is kept.
    let tasks: Vec<_> = (0..8i64)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move { db.spend_handoff_code("h1", at(10 + i)).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
    let spent = db
        .find_handoff_by_secret(&[101; 32])
        .await
        .unwrap()
        .unwrap();
    let when = spent.code_spent_at.unwrap();
    assert!(when >= at(10) && when < at(18), "{when}");
    assert!(!db.spend_handoff_code("h1", at(20)).await.unwrap());
    assert!(!db.spend_handoff_code("missing", at(20)).await.unwrap());
    // The schema refuses a hash or a challenge of the wrong size.
    for bad in [
        Handoff {
            code_challenge: Some("short".to_owned()),
            ..handoff("h3", "a1", 3)
        },
        Handoff {
            code_challenge: Some("x".repeat(44)),
            ..handoff("h4", "a1", 4)
        },
    ] {
        assert!(
            db.insert_handoff(&bad).await.is_err(),
            "{:?}",
            bad.code_challenge
        );
    }
}

async fn handoffs_go_with_their_app(db: &Database) {
    db.insert_app(&app("a1", "key-1", "One")).await.unwrap();
    db.insert_handoff(&handoff("h1", "a1", 1)).await.unwrap();
    assert!(db.delete_app("a1").await.unwrap());
    assert!(db.find_handoff_by_link(&[1; 32]).await.unwrap().is_none());
}

async fn rate_counters_count_every_hit(db: &Database) {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.hit_rate_counter("k", 60, 120).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=20).collect::<Vec<i64>>(),
        "every hit sees its own count"
    );
    assert_eq!(db.hit_rate_counter("k", 120, 180).await.unwrap(), 1);
    assert_eq!(db.hit_rate_counter("other", 60, 120).await.unwrap(), 1);
    assert_eq!(db.purge_rate_counters(119).await.unwrap(), 0);
    assert_eq!(db.purge_rate_counters(120).await.unwrap(), 2);
    assert_eq!(db.hit_rate_counter("k", 60, 120).await.unwrap(), 1);
}

// --- WebAuthn credentials ---

fn webauthn_credential(id: &str, user_id: &str, raw: &[u8], created: i64) -> WebAuthnCredential {
    WebAuthnCredential {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        kind: WebAuthnKind::Passkey,
        name: "Laptop".to_owned(),
        credential_id: raw.to_vec(),
        credential: serde_json::json!({"cred": {"counter": 0, "backup_eligible": true}}),
        sign_count: 0,
        backup_eligible: true,
        backed_up: false,
        created_at: at(created),
        last_used_at: None,
    }
}

async fn webauthn_credentials_round_trip(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    db.insert_user(&user("u2", "bob")).await.unwrap();
    let first = webauthn_credential("w1", "u1", b"raw-1", 5);
    let mut second = webauthn_credential("w2", "u1", b"raw-2", 1);
    second.kind = WebAuthnKind::SecurityKey;
    second.last_used_at = Some(at(7));
    db.insert_webauthn_credential(&first).await.unwrap();
    db.insert_webauthn_credential(&second).await.unwrap();
    // Oldest first, every field back as written.
    assert_eq!(
        db.list_webauthn_credentials("u1").await.unwrap(),
        vec![second.clone(), first.clone()]
    );
    assert!(db.list_webauthn_credentials("u2").await.unwrap().is_empty());
    assert_eq!(
        db.find_webauthn_credential(b"raw-1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(db.find_webauthn_credential(b"raw-9").await.unwrap(), None);
    // A credential id belongs to one credential, whoever registers it.
    assert_eq!(
        db.insert_webauthn_credential(&webauthn_credential("w3", "u2", b"raw-1", 0))
            .await,
        Err(StoreError::Duplicate {
            what: "webauthn_credential"
        })
    );
    assert_eq!(
        db.insert_webauthn_credential(&webauthn_credential("w4", "nobody", b"raw-4", 0))
            .await,
        Err(StoreError::NotFound)
    );
    // Rename and delete only for the owner.
    assert!(!db
        .rename_webauthn_credential("u2", "w1", "Mine")
        .await
        .unwrap());
    assert!(db
        .rename_webauthn_credential("u1", "w1", "Phone")
        .await
        .unwrap());
    assert_eq!(
        db.find_webauthn_credential(b"raw-1")
            .await
            .unwrap()
            .unwrap()
            .name,
        "Phone"
    );
    assert!(!db.delete_webauthn_credential("u2", "w1").await.unwrap());
    assert!(db.delete_webauthn_credential("u1", "w1").await.unwrap());
    assert!(!db.delete_webauthn_credential("u1", "w1").await.unwrap());
    // The user's deletion takes the rest along.
    assert!(db.delete_user("u1").await.unwrap());
    assert_eq!(db.find_webauthn_credential(b"raw-2").await.unwrap(), None);
}

async fn webauthn_use_effect_needs_a_rising_counter(db: &Database) {
    db.insert_user(&user("u1", "alice")).await.unwrap();
    db.insert_webauthn_credential(&webauthn_credential("w1", "u1", b"raw-1", 0))
        .await
        .unwrap();
    let s = session("s1", 0);
    let seq = create(db, &s).await;
    let used = |count: u32, at_seconds: i64| UserEffect::UseWebAuthnCredential {
        credential_id: "w1".to_owned(),
        sign_count: count,
        backup_eligible: true,
        backed_up: true,
        credential: serde_json::json!({"cred": {"counter": count}}),
        now: at(at_seconds),
    };
    // Authenticators without a counter stay at 0 and may be used again.
    let seq = db
        .write_session(&update(&s, seq, vec![used(0, 10)]))
        .await
        .unwrap();
    let seq = db
        .write_session(&update(&s, seq, vec![used(3, 20)]))
        .await
        .unwrap();
    let stored = db
        .find_webauthn_credential(b"raw-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.sign_count, 3);
    assert!(stored.backed_up);
    assert_eq!(stored.last_used_at, Some(at(20)));
    assert_eq!(
        stored.credential,
        serde_json::json!({"cred": {"counter": 3}})
    );
    // The same or a lower counter (a clone, or the same assertion twice) rolls everything back.
    for count in [3, 2, 0] {
        assert_rolled_back(
            db,
            visible_update(&s, seq, vec![used(count, 30)]),
            StoreError::Replayed,
        )
        .await;
    }
    assert_eq!(
        db.find_webauthn_credential(b"raw-1")
            .await
            .unwrap()
            .unwrap()
            .sign_count,
        3
    );
    // A removed credential cannot be used.
    assert!(db.delete_webauthn_credential("u1", "w1").await.unwrap());
    assert_rolled_back(
        db,
        visible_update(&s, seq, vec![used(4, 40)]),
        StoreError::Replayed,
    )
    .await;
}

// --- retention ---

const DAY: i64 = 24 * 3600;

/// A purge round at `now` with the same retention for every kind.
fn purge_round(now: OffsetDateTime, keep: Duration, limit: u32) -> PurgeRound {
    PurgeRound {
        now,
        sessions_before: now - keep,
        handoffs_before: now - keep,
        codes_before: now - keep,
        events_before: now - keep,
        limit,
    }
}

/// A recovery code, used at `used_at` (or not).
fn spent_code(id: &str, user_id: &str, used_at: Option<OffsetDateTime>) -> RecoveryCode {
    RecoveryCode {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        code_hash: format!("hash-{id}"),
        used_at,
    }
}

async fn retention_purges_only_what_ended_long_ago(db: &Database) {
    let now = at(100 * DAY);
    let long_ago = 2 * DAY;
    let recently = 95 * DAY;
    db.insert_user(&user("u1", "alice")).await.unwrap();
    db.insert_app(&app("a1", "key-1", "One")).await.unwrap();
    // Sessions: two that ended long ago go; the rest stay.
    let expired_old = Session {
        expires_at: Some(at(long_ago)),
        ..session("expired-old", 0)
    };
    let terminated_old = Session {
        terminated: true,
        changed_at: at(long_ago),
        ..session("terminated-old", 0)
    };
    let active_forever = session("active", 0);
    let active_until_later = Session {
        expires_at: Some(at(101 * DAY)),
        ..session("active-until-later", 0)
    };
    let expired_recently = Session {
        expires_at: Some(at(recently)),
        ..session("expired-recently", 0)
    };
    let terminated_recently = Session {
        terminated: true,
        changed_at: at(recently),
        ..session("terminated-recently", 0)
    };
    for s in [
        &expired_old,
        &terminated_old,
        &active_forever,
        &active_until_later,
        &expired_recently,
        &terminated_recently,
    ] {
        create(db, s).await;
    }
    // Handoffs, all created long ago unless said otherwise.
    let claimed = |id: &str, n: u8| Handoff {
        claimed_at: Some(at(10)),
        browser_hash: Some([9; 32]),
        ..handoff(id, "a1", n)
    };
    db.insert_handoff(&claimed("h-finished", 1)).await.unwrap();
    db.insert_handoff(&claimed("h-live", 2)).await.unwrap();
    db.insert_handoff(&claimed("h-abandoned", 3)).await.unwrap();
    db.insert_handoff(&handoff("h-never-opened", "a1", 4))
        .await
        .unwrap();
    let fresh_link = Handoff {
        created_at: now - Duration::minutes(1),
        link_expires_at: now + Duration::minutes(9),
        ..handoff("h-fresh", "a1", 5)
    };
    db.insert_handoff(&fresh_link).await.unwrap();
    let finished_recently = Handoff {
        created_at: at(recently),
        link_expires_at: at(recently + 600),
        ..claimed("h-recent", 6)
    };
    db.insert_handoff(&finished_recently).await.unwrap();
    assert!(db
        .attach_handoff_session("h-finished", "terminated-recently")
        .await
        .unwrap());
    assert!(db
        .attach_handoff_session("h-live", "active-until-later")
        .await
        .unwrap());
    // A handoff of a session that ended long ago goes with its session, even when the handoff
    // itself is younger than its retention (the session's foreign key cascades).
    let of_old_session = Handoff {
        created_at: at(recently),
        link_expires_at: at(recently + 600),
        ..claimed("h-of-old-session", 7)
    };
    db.insert_handoff(&of_old_session).await.unwrap();
    assert!(db
        .attach_handoff_session("h-of-old-session", "expired-old")
        .await
        .unwrap());
    // Recovery codes: one spent long ago goes; a recent one and an unspent one stay.
    db.replace_recovery_codes(
        "u1",
        &[
            spent_code("c-spent-old", "u1", Some(at(long_ago))),
            spent_code("c-spent-recently", "u1", Some(at(recently))),
            spent_code("c-unspent", "u1", None),
        ],
    )
    .await
    .unwrap();
    // Events: the six `session.created` at 0 are old; two young ones stay.
    db.append_events(&[
        event("old", None, None, long_ago),
        event("young", None, None, recently),
        event("today", None, None, 100 * DAY - 60),
    ])
    .await
    .unwrap();

    let counts = db
        .purge_round(&purge_round(now, Duration::days(90), 100))
        .await
        .unwrap();
    assert_eq!(
        counts,
        PurgeCounts {
            sessions: 2,
            handoffs: 3,
            codes: 1,
            events: 7,
        }
    );
    for (id, kept) in [
        ("expired-old", false),
        ("terminated-old", false),
        ("active", true),
        ("active-until-later", true),
        ("expired-recently", true),
        ("terminated-recently", true),
    ] {
        assert_eq!(
            db.find_session(id).await.unwrap().is_some(),
            kept,
            "session {id}"
        );
    }
    // A handoff is kept while its session is: the finished handoff of a recently ended session
    // is old itself and goes; the live one stays.
    for (n, id, kept) in [
        (1u8, "h-finished", false),
        (2, "h-live", true),
        (3, "h-abandoned", false),
        (4, "h-never-opened", false),
        (5, "h-fresh", true),
        (6, "h-recent", true),
        (7, "h-of-old-session", false),
    ] {
        assert_eq!(
            db.find_handoff_by_link(&[n; 32]).await.unwrap().is_some(),
            kept,
            "handoff {id}"
        );
    }
    let codes: Vec<String> = db
        .list_recovery_codes("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(codes.len(), 2, "{codes:?}");
    assert!(!codes.contains(&"c-spent-old".to_owned()));
    let kinds: Vec<String> = all_events(db)
        .await
        .into_iter()
        .map(|e| e.event.kind)
        .collect();
    assert_eq!(kinds, ["young", "today"]);
    // Running again finds nothing: the purge is idempotent.
    let again = db
        .purge_round(&purge_round(now, Duration::days(90), 100))
        .await
        .unwrap();
    assert_eq!(again, PurgeCounts::default());
    // The audit log is still append-only for everything younger than the horizon.
    let refused = match db {
        Database::Sqlite(db) => sqlx::query("DELETE FROM events")
            .execute(db.writer())
            .await
            .is_err(),
        Database::Postgres(pool) => sqlx::query("DELETE FROM events")
            .execute(pool)
            .await
            .is_err(),
    };
    assert!(refused);
    assert_eq!(all_events(db).await.len(), 2);
}

async fn retention_purges_in_bounded_rounds(db: &Database) {
    let now = at(100 * DAY);
    let old: Vec<NewEvent> = (0..7).map(|i| event("old", None, None, i)).collect();
    db.append_events(&old).await.unwrap();
    db.append_events(&[event("young", None, None, 99 * DAY)])
        .await
        .unwrap();
    let round = purge_round(now, Duration::days(90), 3);
    let mut rounds = Vec::new();
    loop {
        let counts = db.purge_round(&round).await.unwrap();
        rounds.push(counts.events);
        if counts.events < 3 {
            break;
        }
    }
    assert_eq!(rounds, [3, 3, 1]);
    // Two purges at once (two replicas) delete each row once.
    db.append_events(
        &(0..10)
            .map(|i| event("old", None, None, i))
            .collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    let (a, b) = tokio::join!(db.purge_round(&round), db.purge_round(&round));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.events + b.events <= 6, "{a:?} {b:?}");
    let mut total = a.events + b.events;
    loop {
        let counts = db.purge_round(&round).await.unwrap();
        total += counts.events;
        if counts.events == 0 {
            break;
        }
    }
    assert_eq!(total, 10);
    assert_eq!(all_events(db).await.len(), 1);
}

//! The engine over real databases, with two engines on one database standing in for two server
//! replicas: SQLite (two pools on one file) and PostgreSQL (two pools on one fresh schema at
//! `VESTIBULE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`; these tests
//! fail when it cannot be reached, like the contract suite).
//!
//! 200 wrong passwords for one user are fired at once, half through each engine. The lockout
//! limit (5) must hold exactly: five answers say "wrong password" with counts 1 to 5, every other
//! answer says "locked", and the stored counter and lock agree.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
};

use domain::{
    clock::{ManualClock, SystemRng},
    crypto::ServerKey,
    input::{LoginName, NewPassword, Password, UserRef},
    model::{Event, Outcome, User},
    notifier::RecordingNotifier,
    service::{Caller, Checks, CreateSessionRequest, SessionChange, SessionChanged},
    service::{ListSessionsQuery, NewUser, SetSessionRequest},
    store::{EventFilter, Store},
    testing::{cheap_argon2, test_epoch},
    Config, DomainError, Engine,
};
use sqlx::postgres::PgPoolOptions;
use storage::Database;
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;

const ATTEMPTS: usize = 200;
const LIMIT: u32 = 5;
const LOGIN: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";
const WRONG: &str = "not the password";

// --- harness ---

/// Two engines ("replicas"), each with its own pool, on one database.
struct Replicas {
    engines: [Arc<Engine>; 2],
    /// The first engine's pool, to look at what was stored.
    db: Database,
    pools: [Database; 2],
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Schema { url: String, name: String },
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "ve_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos % 1_000_000_000
    )
}

fn postgres_url() -> String {
    std::env::var("VESTIBULE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `url` with every connection's search path set to `schema` (sqlx's `options[...]` parameter).
fn with_schema(url: &str, schema: &str) -> String {
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}options[search_path]={schema}")
}

fn lock_end() -> OffsetDateTime {
    test_epoch() + Duration::minutes(15)
}

/// Two engines sharing one clock (standing still at the test epoch) and one server key, as
/// replicas share their configuration; each has its own pool and randomness.
fn engines(pools: &[Database; 2]) -> [Arc<Engine>; 2] {
    let clock = Arc::new(ManualClock::new(test_epoch()));
    let key = ServerKey::generate(&SystemRng);
    let config = Config {
        argon2: cheap_argon2(),
        ..Config::default()
    };
    assert_eq!(config.password_lockout.limit, LIMIT);
    assert_eq!(config.password_lockout.lock_for, Duration::minutes(15));
    pools.clone().map(|db| {
        Arc::new(
            Engine::new(
                Arc::new(db),
                clock.clone(),
                Arc::new(SystemRng),
                Arc::new(RecordingNotifier::new()),
                key.clone(),
                config.clone(),
            )
            .unwrap(),
        )
    })
}

async fn sqlite() -> Replicas {
    let dir = std::env::temp_dir().join(unique_name());
    std::fs::create_dir_all(&dir).unwrap();
    let url = Database::sqlite_url_in(&dir);
    let first = Database::connect(&url).await.unwrap();
    first.migrate().await.unwrap();
    let second = Database::connect(&url).await.unwrap();
    second.migrate().await.unwrap();
    let pools = [first, second];
    Replicas {
        engines: engines(&pools),
        db: pools[0].clone(),
        pools,
        cleanup: Cleanup::Dir(dir),
    }
}

async fn postgres() -> Replicas {
    let url = postgres_url();
    let admin = match PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(e) => panic!(
            "PostgreSQL engine tests need a server at {url} (set VESTIBULE_TEST_POSTGRES_URL): {e}"
        ),
    };
    let name = unique_name();
    sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    // Each pool goes through `Database::connect`, as a server process does.
    let schema_url = with_schema(&url, &name);
    let first = Database::connect(&schema_url).await.unwrap();
    assert_eq!(first.backend(), "postgres");
    first.migrate().await.unwrap();
    let second = Database::connect(&schema_url).await.unwrap();
    second.migrate().await.unwrap();
    let pools = [first, second];
    Replicas {
        engines: engines(&pools),
        db: pools[0].clone(),
        pools,
        cleanup: Cleanup::Schema { url, name },
    }
}

impl Replicas {
    async fn finish(self) {
        drop(self.engines);
        for pool in &self.pools {
            pool.close().await;
        }
        match self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema { url, name } => {
                let admin = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .unwrap();
                sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE"))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
            }
        }
    }
}

/// Runs each listed scenario once per backend.
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let replicas = super::sqlite().await;
                    super::$name(&replicas).await;
                    replicas.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let replicas = super::postgres().await;
                    super::$name(&replicas).await;
                    replicas.finish().await;
                }
            )*
        }
    };
}

scenarios!(
    parallel_wrong_passwords_on_create_session_lock_exactly_at_the_limit,
    parallel_wrong_passwords_on_set_session_lock_exactly_at_the_limit,
    a_burst_with_the_right_password_in_it_evaluates_only_the_limit,
);

/// F1's attack: 40 guesses released together through both replicas, the right one at the start,
/// in the middle and at the end. Every attempt is reserved before its hash, so unless the right
/// one drew one of the five reservations (and then signs in, as five guesses may), exactly five
/// hashes are computed and the right guess gets the very answer of the wrong ones after the lock.
async fn a_burst_with_the_right_password_in_it_evaluates_only_the_limit(replicas: &Replicas) {
    const BURST: usize = 40;
    for position in [0, BURST / 2, BURST - 1] {
        let name = format!("burst{position}");
        let mut new = NewUser::named(LoginName::parse(&name).unwrap());
        new.password = Some(NewPassword::parse(PASSWORD.to_owned()).unwrap());
        let user = replicas.engines[0].create_user(new).await.unwrap();
        let hashed = || -> u64 {
            replicas
                .engines
                .iter()
                .map(|e| e.password_hasher().verifications())
                .sum()
        };
        let before = hashed();
        let start = Arc::new(Barrier::new(BURST));
        let tasks: Vec<_> = (0..BURST)
            .map(|i| {
                let engine = Arc::clone(&replicas.engines[i % 2]);
                let start = Arc::clone(&start);
                let guess = if i == position {
                    PASSWORD.to_owned()
                } else {
                    format!("{WRONG} {i}")
                };
                let request = login_as(&name, &guess);
                tokio::spawn(async move {
                    start.wait().await;
                    engine.create_session(request, &caller()).await
                })
            })
            .collect();
        let mut answers = Vec::with_capacity(BURST);
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        let hashes = hashed() - before;
        let wrong = answers
            .iter()
            .filter(|a| matches!(a, Err(DomainError::WrongPassword { .. })))
            .count();
        let locked: Vec<&DomainError> = answers
            .iter()
            .filter_map(|a| a.as_ref().err())
            .filter(|e| matches!(e, DomainError::Locked { .. }))
            .collect();
        let passed = answers.iter().filter(|a| a.is_ok()).count();
        assert_eq!(wrong + locked.len() + passed, BURST, "{answers:?}");
        eprintln!(
            "burst, right guess at {position}: {hashes} hashes, {wrong} wrong, {} locked, \
             {passed} signed in",
            locked.len()
        );
        if passed == 1 {
            // It drew a reservation: a sign-in within the limit. Its pass restarts the counter,
            // so the burst's remaining guesses get at most one more round of five.
            assert!(answers[position].is_ok());
            assert!(
                wrong < 2 * LIMIT as usize,
                "{wrong} wrong guesses evaluated"
            );
            assert_eq!(hashes, wrong as u64 + 1);
            continue;
        }
        assert_eq!(passed, 0);
        assert_eq!(hashes, u64::from(LIMIT), "argon2 verifications");
        assert_eq!(wrong, LIMIT as usize);
        let right = answers[position].as_ref().unwrap_err();
        assert!(matches!(right, DomainError::Locked { .. }), "{right:?}");
        assert!(locked.iter().all(|e| *e == right), "one answer for all");
        let sessions = replicas.engines[1]
            .list_sessions(ListSessionsQuery::default(), &caller())
            .await
            .unwrap();
        assert!(sessions
            .sessions
            .iter()
            .all(|s| s.user_id() != Some(user.id.as_str())));
        let stored = replicas.db.find_user(&user.id).await.unwrap().unwrap();
        assert_eq!(stored.password_failures, LIMIT);
        assert_eq!(stored.locked_until, Some(lock_end()));
    }
}

// --- helpers ---

fn caller() -> Caller {
    domain::testing::key_caller("engine-test")
}

fn change(user: bool, password: Option<&str>) -> SessionChange {
    SessionChange {
        checks: Checks {
            user: user.then(|| UserRef::LoginName(LoginName::parse(LOGIN).unwrap())),
            password: password.map(|p| Password::parse(p.to_owned()).unwrap()),
            ..Checks::default()
        },
        ..SessionChange::default()
    }
}

fn login(password: &str) -> CreateSessionRequest {
    login_as(LOGIN, password)
}

fn login_as(name: &str, password: &str) -> CreateSessionRequest {
    let mut change = change(false, Some(password));
    change.checks.user = Some(UserRef::LoginName(LoginName::parse(name).unwrap()));
    CreateSessionRequest {
        change,
        ..CreateSessionRequest::default()
    }
}

fn password_check(password: &str) -> SetSessionRequest {
    SetSessionRequest {
        change: change(false, Some(password)),
        ..SetSessionRequest::default()
    }
}

async fn create_user(engine: &Engine) -> User {
    let mut new = NewUser::named(LoginName::parse(LOGIN).unwrap());
    new.password = Some(NewPassword::parse(PASSWORD.to_owned()).unwrap());
    engine.create_user(new).await.unwrap()
}

/// The answers to the 200 attempts: exactly `LIMIT` wrong-password answers counting 1..=LIMIT
/// (the last one reporting the lock), and "locked" for every other one.
fn assert_limit_held(results: &[Result<SessionChanged, DomainError>]) {
    assert_eq!(results.len(), ATTEMPTS);
    let mut counts = Vec::new();
    let mut locked = 0;
    for result in results {
        match result {
            Err(DomainError::WrongPassword {
                failed_attempts,
                limit,
                locked_until,
            }) => {
                assert_eq!(*limit, LIMIT);
                let expected = (*failed_attempts == LIMIT).then(lock_end);
                assert_eq!(*locked_until, expected, "attempt {failed_attempts}");
                counts.push(*failed_attempts);
            }
            Err(DomainError::Locked {
                until,
                seconds_left,
            }) => {
                assert_eq!(*until, lock_end());
                assert_eq!(*seconds_left, 15 * 60);
                locked += 1;
            }
            Ok(changed) => panic!("a wrong password passed: session {}", changed.session_id),
            Err(other) => panic!("unexpected answer: {other:?}"),
        }
    }
    counts.sort_unstable();
    let expected: Vec<u32> = (1..=LIMIT).collect();
    assert_eq!(counts, expected, "wrong-password answers");
    assert_eq!(locked, ATTEMPTS - LIMIT as usize, "locked answers");
}

/// The stored counter and lock, read through each replica's pool.
async fn assert_stored_lock(replicas: &Replicas, user_id: &str, failures: u32) {
    for pool in &replicas.pools {
        let user = pool.find_user(user_id).await.unwrap().unwrap();
        assert_eq!(user.password_failures, failures);
        assert_eq!(user.code_failures, 0);
        assert_eq!(user.locked_until, Some(lock_end()));
    }
}

/// The user's events after position `after`.
async fn events_of(db: &Database, user_id: &str, after: i64) -> Vec<Event> {
    db.list_events(&EventFilter {
        user_id: Some(user_id.to_owned()),
        after,
        ..EventFilter::default()
    })
    .await
    .unwrap()
}

/// The position of the user's newest event (0 when there is none).
async fn last_event(db: &Database, user_id: &str) -> i64 {
    events_of(db, user_id, 0)
        .await
        .last()
        .map_or(0, |e| e.sequence)
}

/// Every attempt since position `after` left exactly one failed `check.password` event, and
/// nothing passed.
async fn assert_failure_events(db: &Database, user_id: &str, after: i64, expected: usize) {
    let events = events_of(db, user_id, after).await;
    assert_eq!(events.len(), expected, "events of the attempts");
    let failed = events
        .iter()
        .filter(|e| e.event.kind == "check.password" && e.event.outcome == Outcome::Failed)
        .count();
    assert_eq!(failed, expected, "failed check.password events");
    assert!(
        events.iter().all(|e| e.event.outcome == Outcome::Failed),
        "a success was recorded"
    );
    // Only the counted attempts read as wrong passwords; the rest were refused as locked.
    let ids = |id: &str| {
        events
            .iter()
            .filter(|e| e.event.error_id.as_deref() == Some(id))
            .count()
    };
    assert_eq!(ids("COMMAND-3M0fs"), 5, "counted wrong passwords");
    assert_eq!(
        ids("COMMAND-JLK35"),
        expected - 5,
        "attempts refused while locked"
    );
}

/// While locked, both replicas refuse the correct password (and a wrong one counts nothing);
/// after an admin unlock on one replica, the other accepts the correct password and the counter
/// starts again.
async fn assert_lock_holds_until_unlock(replicas: &Replicas, user: &User) {
    let [a, b] = &replicas.engines;
    for engine in [a, b] {
        for password in [PASSWORD, WRONG] {
            match engine.create_session(login(password), &caller()).await {
                Err(DomainError::Locked { until, .. }) => assert_eq!(until, lock_end()),
                other => panic!("locked user answered {other:?}"),
            }
        }
    }
    assert_stored_lock(replicas, &user.id, LIMIT).await;

    a.unlock_user(&user.id).await.unwrap();
    let unlocked = replicas.db.find_user(&user.id).await.unwrap().unwrap();
    assert_eq!(
        (unlocked.password_failures, unlocked.locked_until),
        (0, None)
    );
    match b.create_session(login(WRONG), &caller()).await {
        Err(DomainError::WrongPassword {
            failed_attempts: 1,
            limit: LIMIT,
            locked_until: None,
        }) => {}
        other => panic!("first wrong password after unlock answered {other:?}"),
    }
    let signed_in = b.create_session(login(PASSWORD), &caller()).await.unwrap();
    assert!(signed_in.session_token.is_some());
    let session = a
        .get_session(&signed_in.session_id, None, &caller())
        .await
        .unwrap();
    assert_eq!(session.user_id(), Some(user.id.as_str()));
    assert!(session.factors.password.is_some());
    let after = replicas.db.find_user(&user.id).await.unwrap().unwrap();
    assert_eq!((after.password_failures, after.locked_until), (0, None));
}

// --- scenarios ---

/// 200 `CreateSession` requests with a user check and a wrong password, released together,
/// alternating between the two replicas.
async fn parallel_wrong_passwords_on_create_session_lock_exactly_at_the_limit(replicas: &Replicas) {
    let user = create_user(&replicas.engines[0]).await;
    let start = Arc::new(Barrier::new(ATTEMPTS));
    let tasks: Vec<_> = (0..ATTEMPTS)
        .map(|i| {
            let engine = Arc::clone(&replicas.engines[i % 2]);
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                engine.create_session(login(WRONG), &caller()).await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(ATTEMPTS);
    for task in tasks {
        results.push(task.await.unwrap());
    }

    assert_limit_held(&results);
    assert_stored_lock(replicas, &user.id, LIMIT).await;
    assert_failure_events(&replicas.db, &user.id, 0, ATTEMPTS).await;
    // A failed check creates nothing.
    let sessions = replicas.engines[1]
        .list_sessions(ListSessionsQuery::default(), &caller())
        .await
        .unwrap();
    assert_eq!(sessions.total, 0);

    assert_lock_holds_until_unlock(replicas, &user).await;
}

/// 200 sessions that passed a user check, then 200 `SetSession` requests with a wrong password
/// (one per session), released together, alternating between the replicas. The failures must
/// not rotate the sessions' tokens.
async fn parallel_wrong_passwords_on_set_session_lock_exactly_at_the_limit(replicas: &Replicas) {
    let user = create_user(&replicas.engines[0]).await;
    let mut sessions = Vec::with_capacity(ATTEMPTS);
    for i in 0..ATTEMPTS {
        let request = CreateSessionRequest {
            change: change(true, None),
            ..CreateSessionRequest::default()
        };
        let created = replicas.engines[i % 2]
            .create_session(request, &caller())
            .await
            .unwrap();
        let token = created.session_token.unwrap().into_inner();
        sessions.push((created.session_id, token));
    }

    let before = last_event(&replicas.db, &user.id).await;
    let start = Arc::new(Barrier::new(ATTEMPTS));
    let tasks: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(i, (session_id, _))| {
            let engine = Arc::clone(&replicas.engines[i % 2]);
            let start = Arc::clone(&start);
            let session_id = session_id.clone();
            tokio::spawn(async move {
                start.wait().await;
                engine
                    .set_session(&session_id, password_check(WRONG), &caller())
                    .await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(ATTEMPTS);
    for task in tasks {
        results.push(task.await.unwrap());
    }

    assert_limit_held(&results);
    assert_stored_lock(replicas, &user.id, LIMIT).await;
    assert_failure_events(&replicas.db, &user.id, before, ATTEMPTS).await;
    // Nothing was written to the sessions: the tokens from their creation are still the newest,
    // and no password factor appeared.
    for (i, (session_id, token)) in sessions.iter().enumerate() {
        let session = replicas.engines[(i + 1) % 2]
            .get_session(session_id, Some(token), &caller())
            .await
            .unwrap();
        assert!(session.factors.password.is_none());
    }

    // The correct password on an existing session is refused too while locked.
    let (session_id, _) = &sessions[0];
    for engine in &replicas.engines {
        match engine
            .set_session(session_id, password_check(PASSWORD), &caller())
            .await
        {
            Err(DomainError::Locked { until, .. }) => assert_eq!(until, lock_end()),
            other => panic!("locked user answered {other:?}"),
        }
    }
    assert_lock_holds_until_unlock(replicas, &user).await;
    let passed = replicas.engines[1]
        .set_session(session_id, password_check(PASSWORD), &caller())
        .await
        .unwrap();
    assert!(passed.session_token.is_some());
}

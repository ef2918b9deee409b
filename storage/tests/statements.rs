//! How many SQL statements each engine operation costs on SQLite, counted from sqlx's own
//! statement log (target `sqlx::query`). The figures
//! are printed (`cargo test -p storage --test statements -- --nocapture`) and held to upper
//! bounds, so an operation that starts costing more statements fails here.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, Mutex,
};

use domain::{
    clock::{ManualClock, SystemRng},
    crypto::ServerKey,
    input::{LoginName, NewPassword, Password, UserRef},
    notifier::RecordingNotifier,
    service::{Caller, Checks, CreateSessionRequest, NewUser, SessionChange, SetSessionRequest},
    testing::{cheap_argon2, test_epoch},
    Config, Engine,
};
use storage::Database;
use tracing::{
    field::{Field, Visit},
    span, Event, Metadata, Subscriber,
};

/// Counts sqlx's statement log events and keeps their first words.
#[derive(Default)]
struct Statements {
    count: AtomicUsize,
    texts: Mutex<Vec<String>>,
}

struct Counter(Arc<Statements>);

struct Summary(Option<String>);

impl Visit for Summary {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "summary" || (self.0.is_none() && field.name() == "db.statement") {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl Subscriber for Counter {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("sqlx::query")
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        if !event.metadata().target().starts_with("sqlx::query") {
            return;
        }
        let mut summary = Summary(None);
        event.record(&mut summary);
        // A new pool connection's set-up (PRAGMA …) belongs to no operation.
        if summary
            .0
            .as_deref()
            .is_some_and(|s| s.starts_with("PRAGMA"))
        {
            return;
        }
        self.0.count.fetch_add(1, Ordering::SeqCst);
        self.0
            .texts
            .lock()
            .unwrap()
            .push(summary.0.unwrap_or_default());
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

const LOGIN: &str = "stella";
const PASSWORD: &str = "correct horse battery staple";

fn caller() -> Caller {
    domain::testing::key_caller("statements")
}

fn checks(user: bool, password: Option<&str>) -> SessionChange {
    SessionChange {
        checks: Checks {
            user: user.then(|| UserRef::LoginName(LoginName::parse(LOGIN).unwrap())),
            password: password.map(|p| Password::parse(p.to_owned()).unwrap()),
            ..Checks::default()
        },
        ..SessionChange::default()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn statements_per_engine_operation_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("vestibule-stmts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = Database::connect(&Database::sqlite_url_in(&dir))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let engine = Engine::new(
        Arc::new(db.clone()),
        Arc::new(ManualClock::new(test_epoch())),
        Arc::new(SystemRng),
        Arc::new(RecordingNotifier::new()),
        ServerKey::generate(&SystemRng),
        Config {
            argon2: cheap_argon2(),
            ..Config::default()
        },
    )
    .unwrap();
    engine.init_instance().await.unwrap();
    let mut user = NewUser::named(LoginName::parse(LOGIN).unwrap());
    user.password = Some(NewPassword::parse(PASSWORD.to_owned()).unwrap());
    engine.create_user(user).await.unwrap();

    let stats = Arc::new(Statements::default());
    // Global: SQLite statements run (and are logged) on sqlx's worker threads. This file holds
    // one test, so nothing else in the process installs a subscriber.
    tracing::subscriber::set_global_default(Counter(stats.clone())).unwrap();
    let measure = |label: &str| {
        let texts = std::mem::take(&mut *stats.texts.lock().unwrap());
        let n = stats.count.swap(0, Ordering::SeqCst);
        println!("{label}: {n} statements: {texts:?}");
        n
    };
    measure("set-up");

    let created = engine
        .create_session(
            CreateSessionRequest {
                change: checks(true, None),
                ..CreateSessionRequest::default()
            },
            &caller(),
        )
        .await
        .unwrap();
    let create_user_check = measure("create session, user check");

    engine
        .set_session(
            &created.session_id,
            SetSessionRequest {
                change: checks(false, Some(PASSWORD)),
                ..SetSessionRequest::default()
            },
            &caller(),
        )
        .await
        .unwrap();
    let set_password = measure("set session, right password");

    let wrong = engine
        .create_session(
            CreateSessionRequest {
                change: checks(true, Some("not the password")),
                ..CreateSessionRequest::default()
            },
            &caller(),
        )
        .await;
    assert!(wrong.is_err());
    let wrong_password = measure("create session, user check and a wrong password");

    engine
        .get_session(&created.session_id, None, &caller())
        .await
        .unwrap();
    let read = measure("get session");

    // The statement log may be off in this sqlx build: then nothing was counted at all.
    assert!(create_user_check > 0, "no statements were counted");
    // Upper bounds: BEGIN/COMMIT and every statement of the operation's transactions.
    assert!(
        create_user_check <= 8,
        "create with user check: {create_user_check}"
    );
    assert!(set_password <= 14, "password check: {set_password}");
    assert!(wrong_password <= 14, "wrong password: {wrong_password}");
    assert!(read <= 3, "get session: {read}");
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

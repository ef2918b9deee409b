//! The background purge in the server: the task runs at once and then every interval, a
//! started server runs it with its configured retention (SQLite), and replicas purging at the
//! same moment share the work (SQLite and PostgreSQL). The purge's SQL is run on both databases
//! by the storage contract tests too.

mod common;

use std::time::Duration;

use domain::{
    model::{NewEvent, Outcome},
    store::{EventFilter, Store},
};
use server::config::{FileConfig, Overrides, RetentionSettings, Settings};

fn temp_dir(what: &str) -> std::path::PathBuf {
    common::temp_site_dir(&format!("retention-{what}"))
}

fn settings(dir: &std::path::Path, file: FileConfig) -> Settings {
    let over = Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.join("data")),
        site_root: Some(dir.join("site")),
        demo: Some(false),
        ..Overrides::default()
    };
    Settings::resolve(over, file).unwrap()
}

fn event(days_ago: i64, kind: &str) -> NewEvent {
    NewEvent {
        at: time::OffsetDateTime::now_utc() - time::Duration::days(days_ago),
        session_id: None,
        user_id: None,
        app_id: None,
        client_ip: None,
        kind: kind.to_owned(),
        outcome: Outcome::Succeeded,
        error_id: None,
    }
}

async fn kinds(db: &storage::Database) -> Vec<String> {
    db.list_events(&EventFilter {
        limit: 1000,
        ..EventFilter::default()
    })
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.event.kind)
    .collect()
}

/// Waits until `db` holds exactly `expected` (kinds of events), for at most five seconds.
async fn wait_for(db: &storage::Database, expected: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = kinds(db).await;
        if now == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {now:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_purges_at_once_and_again_every_interval() {
    let dir = temp_dir("task");
    let settings = settings(&dir, FileConfig::default());
    let db = server::http::open_database(&settings).await.unwrap();
    let engine = server::wiring::build_engine(&settings, db.clone())
        .await
        .unwrap();
    db.append_events(&[event(91, "old"), event(89, "young")])
        .await
        .unwrap();
    let retention = RetentionSettings {
        interval: Duration::from_millis(200),
        ..RetentionSettings::default()
    };
    let task = server::retention::spawn(engine, retention);
    wait_for(&db, &["young"]).await;
    // Something old written later goes at a later run.
    db.append_events(&[event(120, "older")]).await.unwrap();
    assert_eq!(kinds(&db).await, ["young", "older"]);
    wait_for(&db, &["young"]).await;
    task.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_server_purges_with_its_configured_retention() {
    let dir = temp_dir("server");
    let file: FileConfig = toml::from_str("[retention]\nevents_days = 30").unwrap();
    let settings = settings(&dir, file);
    // Written before the server starts, as a database from yesterday's run would hold.
    let db = server::http::open_database(&settings).await.unwrap();
    db.append_events(&[event(31, "month-old"), event(29, "recent")])
        .await
        .unwrap();
    let bound = server::http::bind(settings).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(bound.run(async move {
        let _ = stopped.await;
    }));
    wait_for(&db, &["recent"]).await;
    let _ = stop.send(());
    let _ = running.await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two replicas' databases: two connections to one SQLite file (as two processes have), or two
/// pools on one PostgreSQL schema; and what to drop afterwards.
async fn two_replicas(
    dir: &std::path::Path,
    postgres: bool,
) -> (Settings, Settings, Option<(sqlx::PgPool, String)>) {
    let mut first = settings(dir, FileConfig::default());
    let mut schema = None;
    if postgres {
        let url = std::env::var("VESTIBULE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let admin = sqlx::PgPool::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is needed at {url}: {e}"));
        let name = format!(
            "ret_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
            .execute(&admin)
            .await
            .unwrap();
        let separator = if url.contains('?') { '&' } else { '?' };
        first.database_url = format!("{url}{separator}options=-c%20search_path%3D{name}");
        schema = Some((admin, name));
    }
    let second = first.clone();
    (first, second, schema)
}

/// Replicas purging at the same moment, in small rounds, share the work: every purge succeeds,
/// and together they delete each old row once.
async fn replicas_purging_at_once_share_the_work(postgres: bool) {
    let dir = temp_dir("replicas");
    let (a, b, schema) = two_replicas(&dir, postgres).await;
    let db_a = server::http::open_database(&a).await.unwrap();
    let db_b = server::http::open_database(&b).await.unwrap();
    let engine_a = server::wiring::build_engine(&a, db_a.clone())
        .await
        .unwrap();
    let engine_b = server::wiring::build_engine(&b, db_b.clone())
        .await
        .unwrap();
    let old: Vec<NewEvent> = (0..120).map(|_| event(100, "old")).collect();
    db_a.append_events(&old).await.unwrap();
    db_a.append_events(&[event(1, "young")]).await.unwrap();
    let settings = RetentionSettings {
        keep: domain::service::Retention {
            batch: 7,
            ..domain::service::Retention::default()
        },
        ..RetentionSettings::default()
    };
    let runs = |engine: std::sync::Arc<domain::Engine>| async move {
        let mut events = 0;
        for _ in 0..3 {
            let counts = server::retention::purge_once(&engine, &settings)
                .await
                .expect("every purge succeeds");
            events += counts.events;
        }
        events
    };
    let (from_a, from_b) = tokio::join!(runs(engine_a), runs(engine_b));
    assert_eq!(from_a + from_b, 120, "{from_a} + {from_b}");
    assert_eq!(kinds(&db_b).await, ["young"]);
    if let Some((admin, name)) = schema {
        for db in [&db_a, &db_b] {
            if let storage::Database::Postgres(pool) = db {
                pool.close().await;
            }
        }
        let _ = sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE"))
            .execute(&admin)
            .await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_replicas_purging_at_once_share_the_work() {
    replicas_purging_at_once_share_the_work(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_purging_at_once_share_the_work() {
    replicas_purging_at_once_share_the_work(true).await;
}

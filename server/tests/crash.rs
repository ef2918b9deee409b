//! Crash safety: the real server binary is killed with SIGKILL in the middle of a load of session
//! creates and checks, five times on the same database, and restarted each time. Every session
//! whose creation (or check) was answered 2xx before the kill must be found afterwards with the
//! factors it was answered with, and no session may be half-written: a session of the password
//! user always carries both factors. SQLite always; PostgreSQL when
//! `VESTIBULE_TEST_POSTGRES_URL` is set (a fresh schema).

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const ROUNDS: usize = 5;
/// Requests answered 2xx in a round before the kill (many more are in flight at that moment).
const ACKED_BEFORE_KILL: usize = 60;
const CLIENTS: usize = 8;
/// Users of each kind (`pw<n>`: created with the password check; `late<n>`: checked later).
const USERS: usize = 2;
const PASSWORD: &str = "crash test password 1";

fn unique() -> String {
    format!(
        "{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// What the load learned was acknowledged: session id → factors it must have.
#[derive(Default)]
struct Acked {
    sessions: Mutex<HashMap<String, Vec<&'static str>>>,
    count: AtomicUsize,
}

struct Setup {
    dir: PathBuf,
    config: PathBuf,
    database_url: Option<String>,
}

impl Setup {
    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
        cmd.arg("--config").arg(&self.config);
        cmd.arg("--data-dir").arg(self.dir.join("data"));
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        cmd.env("RUST_LOG", "warn");
        cmd
    }

    /// Runs a CLI command and returns its JSON output.
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let mut cmd = self.command();
        cmd.args(args).arg("--json");
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", out.status);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Starts `serve` on a free port and returns the child and its base URL.
    fn serve(&self) -> (Child, String) {
        let mut cmd = self.command();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--no-demo"]);
        cmd.arg("--site-root").arg(self.dir.join("site"));
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("the server ended before it listened")
                .unwrap();
            if let Some(rest) = line.strip_prefix("Vestibule is listening on ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep reading so that the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        (child, base)
    }
}

async fn create(http: &Client, base: &str, key: &str, body: Value) -> Option<Value> {
    let answer = http
        .post(format!("{base}/v2/sessions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = answer.status();
    if !status.is_success() {
        let text = answer.text().await.unwrap_or_default();
        // A lock is the engine's answer to attempts a kill left reserved: not acknowledged,
        // not an error. Anything else a client is told is wrong.
        assert!(
            !status.is_client_error() || text.contains("COMMAND-JLK35"),
            "refused: {status} {text}"
        );
        return Some(Value::Null);
    }
    answer.json().await.ok()
}

/// One client: creates sessions (user check; every eighth with the password too) and adds a
/// password check to some user-only sessions, until the server is gone.
async fn client(n: usize, base: String, key: String, acked: Arc<Acked>) {
    let http = Client::new();
    let mut i = 0usize;
    loop {
        i += 1;
        let with_password = (i + n).is_multiple_of(8);
        // Four clients per user, so that no user has more password checks in flight than the
        // lockout limit (attempts are reserved before they are checked).
        let body = if with_password {
            json!({"checks": {"user": {"loginName": format!("pw{}", n % USERS)},
                              "password": {"password": PASSWORD}}})
        } else {
            json!({"checks": {"user": {"loginName": format!("late{}", n % USERS)}}})
        };
        let Some(got) = create(&http, &base, &key, body).await else {
            return;
        };
        if got.is_null() {
            continue;
        }
        let id = got["sessionId"].as_str().unwrap().to_owned();
        let factors = if with_password {
            vec!["user", "password"]
        } else {
            vec!["user"]
        };
        acked.sessions.lock().unwrap().insert(id.clone(), factors);
        acked.count.fetch_add(1, Ordering::SeqCst);
        if !with_password && i.is_multiple_of(7) {
            let answer = http
                .patch(format!("{base}/v2/sessions/{id}"))
                .bearer_auth(&key)
                .json(&json!({"checks": {"password": {"password": PASSWORD}}}))
                .send()
                .await;
            match answer {
                Ok(a) if a.status().is_success() => {
                    acked
                        .sessions
                        .lock()
                        .unwrap()
                        .insert(id, vec!["user", "password"]);
                    acked.count.fetch_add(1, Ordering::SeqCst);
                }
                Ok(a) => assert!(!a.status().is_client_error(), "refused: {}", a.status()),
                Err(_) => return,
            }
        }
    }
}

fn factors_of(session: &Value) -> Vec<&'static str> {
    let mut found = Vec::new();
    for name in ["user", "password"] {
        if session["factors"].get(name).is_some() {
            found.push(name);
        }
    }
    found
}

/// Every acknowledged session is there with its factors; every session of the password user
/// has both factors; every session has a user factor.
async fn verify(base: &str, key: &str, acked: &Acked, round: usize) {
    let http = Client::new();
    let expected = acked.sessions.lock().unwrap().clone();
    for (id, factors) in &expected {
        let answer = http
            .get(format!("{base}/v2/sessions/{id}"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            StatusCode::OK,
            "round {round}: acknowledged session {id} is gone"
        );
        let got: Value = answer.json().await.unwrap();
        let have = factors_of(&got["session"]);
        for want in factors {
            assert!(
                have.contains(want),
                "round {round}: session {id} lost its {want} factor: {got}"
            );
        }
    }
    // Every session there is, acknowledged or not, is whole.
    let mut offset = 0u64;
    let mut seen = 0usize;
    loop {
        let answer = http
            .post(format!("{base}/v2/sessions/search"))
            .bearer_auth(key)
            .json(&json!({"query": {"offset": offset.to_string(), "limit": 500}}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let page: Value = answer.json().await.unwrap();
        let sessions = page["sessions"].as_array().cloned().unwrap_or_default();
        if sessions.is_empty() {
            break;
        }
        for session in &sessions {
            let have = factors_of(session);
            assert!(have.contains(&"user"), "round {round}: {session}");
            let login = session["factors"]["user"]["loginName"].as_str();
            if login.is_some_and(|l| l.starts_with("pw")) {
                assert!(
                    have.contains(&"password"),
                    "round {round}: half-written session {session}"
                );
            }
        }
        seen += sessions.len();
        offset += sessions.len() as u64;
    }
    assert!(
        seen >= expected.len(),
        "round {round}: {seen} sessions listed, {} acknowledged",
        expected.len()
    );
}

fn kill(child: &mut Child) {
    // SIGKILL: no shutdown code runs, exactly like a power cut for the process.
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn crash_rounds(setup: Setup) {
    std::fs::create_dir_all(setup.dir.join("site/pkg")).unwrap();
    std::fs::write(setup.dir.join("site/pkg/vestibule.css"), "body{}").unwrap();
    let key = setup.cli(
        &["apikey", "add", "--name", "crash", "--scope", "session"],
        None,
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let logins: Vec<String> = (0..USERS)
        .flat_map(|n| [format!("pw{n}"), format!("late{n}")])
        .collect();
    for login in &logins {
        setup.cli(
            &["user", "add", "--login-name", login, "--password-stdin"],
            Some(PASSWORD),
        );
    }
    let acked = Arc::new(Acked::default());
    for round in 1..=ROUNDS {
        let (mut child, base) = setup.serve();
        // What survived the previous kill, before new load starts.
        verify(&base, &key, &acked, round).await;
        let start = acked.count.load(Ordering::SeqCst);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|n| tokio::spawn(client(n, base.clone(), key.clone(), acked.clone())))
            .collect();
        while acked.count.load(Ordering::SeqCst) < start + ACKED_BEFORE_KILL {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        kill(&mut child);
        for c in clients {
            c.await.unwrap();
        }
        // Attempts in flight at the kill stay reserved (they count as failures, the safe
        // side); unlock so that the next round's password checks are not refused.
        for login in &logins {
            setup.cli(&["user", "unlock", login], None);
        }
    }
    let (mut child, base) = setup.serve();
    verify(&base, &key, &acked, ROUNDS + 1).await;
    let total = acked.sessions.lock().unwrap().len();
    assert!(total >= ROUNDS * ACKED_BEFORE_KILL / 2, "{total}");
    kill(&mut child);
}

fn setup_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vestibule-crash-{name}-{}", unique()))
}

/// Rate limits off: the load is far above the defaults on purpose.
fn write_config(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("vestibule.toml");
    std::fs::write(
        &config,
        "[rate_limits]\n\
         session_api_per_key = { limit = 0, window_secs = 60 }\n\
         session_api_per_address = { limit = 0, window_secs = 60 }\n\
         admin_api_per_key = { limit = 0, window_secs = 60 }\n\
         admin_api_per_address = { limit = 0, window_secs = 60 }\n",
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill_mid_load() {
    let dir = setup_dir("sqlite");
    let config = write_config(&dir);
    crash_rounds(Setup {
        dir: dir.clone(),
        config,
        database_url: None,
    })
    .await;
    // The file itself is sound after five kills.
    let url = format!("sqlite://{}", dir.join("data/vestibule.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_sigkill_mid_load() {
    let Some(url) = std::env::var("VESTIBULE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("VESTIBULE_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let name = format!("crash_{}", unique());
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let schema_url = format!("{url}{sep}options=-c%20search_path%3D{name}");
    let dir = setup_dir("postgres");
    let config = write_config(&dir);
    crash_rounds(Setup {
        dir: dir.clone(),
        config,
        database_url: Some(schema_url),
    })
    .await;
    sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

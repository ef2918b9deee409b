//! The lockout under attack, through HTTP: forty `POST /v2/sessions` with a user and a password
//! released together, the right password hidden among wrong ones (first, middle, last). At most
//! the limit of guesses may be hashed, and once locked the right guess must get the wrong ones'
//! answer byte for byte, so that a burst neither tests more passwords nor tells which was right.
//!
//! Twice: against one server (SQLite, and PostgreSQL when configured), and against two server
//! processes of the real binary sharing one PostgreSQL database, half the burst sent to each.

#[allow(unused_macros)] // both_backends: these scenarios pick their backends themselves
mod common;

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, Command, Stdio},
    sync::Arc,
};

use common::{postgres_url, Backend, TestServer};
use domain::{input::LoginName, input::NewPassword, model::Scope, service::NewUser};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Barrier;

const BURST: usize = 40;
const LIMIT: usize = 5;
const PASSWORD: &str = "correct horse battery staple";

/// One answer as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl Answer {
    fn id(&self) -> String {
        let value: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        value["details"][0]["id"]
            .as_str()
            .map_or_else(|| format!("status {}", self.status), str::to_owned)
    }
}

/// Sends the burst for `login`: request `i` goes to `bases[i % bases.len()]`, the right password
/// at `position`, all released at once.
async fn burst(bases: &[String], key: &str, login: &str, position: usize) -> Vec<Answer> {
    let http = Client::new();
    let start = Arc::new(Barrier::new(BURST));
    let tasks: Vec<_> = (0..BURST)
        .map(|i| {
            let url = format!("{}/v2/sessions", bases[i % bases.len()]);
            let password = if i == position {
                PASSWORD.to_owned()
            } else {
                format!("wrong guess {i}")
            };
            let body = json!({"checks": {"user": {"loginName": login}, "password": {"password": password}}});
            let request = http.post(url).bearer_auth(key).json(&body);
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                let res = request.send().await.unwrap();
                let status = res.status();
                Answer {
                    status,
                    body: res.bytes().await.unwrap().to_vec(),
                }
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(BURST);
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// What a burst must show; `hashes` is how many guesses were evaluated (argon2 verifications).
/// Returns whether the right guess drew one of the reservations (and signed in).
fn assert_burst(answers: &[Answer], position: usize, hashes: usize) -> bool {
    let ids: Vec<String> = answers.iter().map(Answer::id).collect();
    let count = |id: &str| ids.iter().filter(|i| *i == id).count();
    let wrong = count("COMMAND-3M0fs");
    let locked = count("COMMAND-JLK35");
    let signed_in = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    eprintln!(
        "right guess at {position}: {hashes} verifications, {wrong} COMMAND-3M0fs, \
         {locked} COMMAND-JLK35, {signed_in} signed in"
    );
    assert_eq!(wrong + locked + signed_in, BURST, "{ids:?}");
    assert_eq!(count("COMMAND-SFA3t"), 0);
    if signed_in == 1 {
        // One of the five evaluated: a sign-in the limit allows. Its pass restarts the counter.
        assert_eq!(answers[position].status, StatusCode::CREATED);
        assert!(wrong < 2 * LIMIT, "{wrong} wrong guesses evaluated");
        assert_eq!(hashes, wrong + 1);
        return true;
    }
    assert_eq!(signed_in, 0);
    assert_eq!(hashes, LIMIT, "verifications");
    assert_eq!(wrong, LIMIT);
    let right = &answers[position];
    assert_eq!(right.status, StatusCode::BAD_REQUEST);
    for (i, other) in answers.iter().enumerate() {
        if i != position && other.id() == "COMMAND-JLK35" {
            assert_eq!(
                other, right,
                "the right guess answers byte for byte like a wrong one"
            );
        }
    }
    false
}

async fn one_server(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, key) = srv.new_key(vec![Scope::Session]).await;
    for position in [0, BURST / 2, BURST - 1] {
        let login = format!("burst{position}");
        let mut new = NewUser::named(LoginName::parse(&login).unwrap());
        new.password = Some(NewPassword::parse(PASSWORD.to_owned()).unwrap());
        let user = srv.engine.create_user(new).await.unwrap();
        let before = srv.engine.password_hasher().verifications();
        let answers = burst(std::slice::from_ref(&srv.base), &key, &login, position).await;
        let hashes = (srv.engine.password_hasher().verifications() - before) as usize;
        if !assert_burst(&answers, position, hashes) {
            let stored = srv.engine.get_user(&user.id).await.unwrap();
            assert_eq!(stored.password_failures as usize, LIMIT);
            assert!(stored.locked_until.is_some());
            // No session got a password factor: the search by user finds none.
            let (status, _, found) = srv
                .send(
                    reqwest::Method::POST,
                    "/v2/sessions/search",
                    Some(&key),
                    Some(json!({"queries": [{"userIdQuery": {"id": user.id}}]})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{found}");
            assert!(
                found["sessions"].as_array().is_none_or(Vec::is_empty),
                "{found}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_http_on_sqlite() {
    one_server(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_http_on_postgres() {
    if postgres_url().is_none() {
        eprintln!("VESTIBULE_TEST_POSTGRES_URL is not set: skipped");
        return;
    }
    one_server(Backend::Postgres).await;
}

// --- two processes of the real binary on one PostgreSQL database ---

/// A server process; killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server(args: &[&str], database_url: &str, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.args(args)
        .arg("--database-url")
        .arg(database_url)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// Runs a CLI command to the end and returns its standard output.
fn cli(args: &[&str], stdin: &str, database_url: &str, dir: &std::path::Path) -> String {
    let mut child = server(args, database_url, dir).spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// Starts `server serve` on a free port and waits for its "listening" line.
fn serve(database_url: &str, dir: &std::path::Path) -> (Process, String) {
    let mut child = server(
        &["serve", "--listen", "127.0.0.1:0", "--no-demo"],
        database_url,
        dir,
    )
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server exited before listening")
            .unwrap();
        if let Some(rest) = line.strip_prefix("Vestibule is listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep reading its output so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Process(child), base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_two_server_processes_on_one_postgres() {
    let Some(url) = postgres_url() else {
        eprintln!("VESTIBULE_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let schema = format!(
        "procs_{}_{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
    );
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let database_url = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    let dir = std::env::temp_dir().join(&schema);
    std::fs::create_dir_all(&dir).unwrap();
    let dir_a = dir.join("a");
    let dir_b = dir.join("b");

    cli(&["migrate"], "", &database_url, &dir_a);
    let key: Value = serde_json::from_str(&cli(
        &[
            "apikey", "add", "--name", "burst", "--scope", "session", "--json",
        ],
        "",
        &database_url,
        &dir_a,
    ))
    .unwrap();
    let key = key["key"].as_str().expect("the key in the JSON").to_owned();
    let (_a, base_a) = serve(&database_url, &dir_a);
    let (_b, base_b) = serve(&database_url, &dir_b);
    let bases = [base_a, base_b];

    let mut evaluated_before = 0;
    for position in [0, BURST / 2, BURST - 1] {
        let login = format!("burst{position}");
        cli(
            &["user", "add", "--login-name", &login, "--password-stdin"],
            PASSWORD,
            &database_url,
            &dir_a,
        );
        let answers = burst(&bases, &key, &login, position).await;
        // Each evaluated guess left one check.password event that is not a refusal.
        let (evaluated,): (i64,) = sqlx::query_as(&format!(
            "SELECT count(*) FROM \"{schema}\".events WHERE kind = 'check.password' \
             AND (error_id IS NULL OR error_id <> 'COMMAND-JLK35')"
        ))
        .fetch_one(&admin)
        .await
        .unwrap();
        let hashes = (evaluated - evaluated_before) as usize;
        evaluated_before = evaluated;
        assert_burst(&answers, position, hashes);
    }
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

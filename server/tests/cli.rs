//! The `server` binary's admin commands, run as a person or a script would, on a fresh data
//! directory; what they write is then checked through the engine on the same database.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use domain::{input::LoginName, model::Scope};
use serde_json::Value;
use server::config::{FileConfig, Overrides, Settings};

struct DataDir(PathBuf);

impl DataDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "vestibule-cli-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn server(dir: &DataDir, args: &[&str]) -> Output {
    run(dir, args, None)
}

fn run(dir: &DataDir, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("VESTIBULE_CONFIG")
        .env_remove("VESTIBULE_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn failed_with(out: &Output, needle: &str) {
    assert!(!out.status.success(), "expected a failure");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

async fn engine(dir: &DataDir) -> std::sync::Arc<domain::Engine> {
    let over = Overrides {
        data_dir: Some(dir.path().to_owned()),
        ..Overrides::default()
    };
    let settings = Settings::resolve(over, FileConfig::default()).unwrap();
    server::admin_cli::engine(settings).await.unwrap()
}

#[tokio::test]
async fn users_are_created_listed_and_managed() {
    let dir = DataDir::new();
    let created = json_of(&server(
        &dir,
        &[
            "user",
            "add",
            "--login-name",
            "Alice",
            "--password",
            "correct horse battery",
            "--email",
            "alice@example.com",
            "--phone",
            "+41791234567",
            "--display-name",
            "Alice Liddell",
            "--json",
        ],
    ));
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(created["login_name"], "Alice");
    assert_eq!(created["display_name"], "Alice Liddell");
    assert_eq!(created["email_verified"], true);
    assert!(created.get("password_hash").is_none(), "{created}");

    // Login names are unique regardless of case.
    let dup = server(
        &dir,
        &[
            "user",
            "add",
            "--login-name",
            "ALICE",
            "--password",
            "another long one",
        ],
    );
    failed_with(&dup, "COMMAND-Dup01");
    // Bad input: a clear error with its id, nothing created.
    failed_with(
        &server(
            &dir,
            &["user", "add", "--login-name", "bob", "--password", "short"],
        ),
        "ARG-Inval1",
    );
    failed_with(
        &server(
            &dir,
            &[
                "user",
                "add",
                "--login-name",
                "",
                "--password",
                "long enough pw",
            ],
        ),
        "ARG-Inval1",
    );
    failed_with(
        &server(
            &dir,
            &[
                "user",
                "add",
                "--login-name",
                &"x".repeat(201),
                "--password",
                "long enough pw",
            ],
        ),
        "ARG-Inval1",
    );
    failed_with(
        &server(
            &dir,
            &[
                "user",
                "add",
                "--login-name",
                "carol",
                "--password",
                "a",
                "--password-stdin",
            ],
        ),
        "cannot be used with",
    );

    let list = json_of(&server(&dir, &["user", "list", "--json"]));
    let users = list["users"].as_array().unwrap();
    assert_eq!(users.len(), 1, "{list}");
    assert_eq!(users[0]["id"], id.as_str());

    // The password works through the engine, then is changed from standard input.
    let engine = engine(&dir).await;
    let user = engine
        .find_user_by_login_name(&LoginName::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id, id);
    let old_hash = user.password_hash.clone().unwrap();
    assert!(old_hash.starts_with("$argon2id$"), "{old_hash}");
    let out = run(
        &dir,
        &["user", "passwd", "alice", "--password-stdin", "--json"],
        Some("a brand new password\n"),
    );
    assert_eq!(json_of(&out)["password_set"], true);
    let user = engine.get_user(&id).await.unwrap();
    assert_ne!(user.password_hash.unwrap(), old_hash);
    failed_with(
        &server(&dir, &["user", "passwd", "alice"]),
        "--password-stdin",
    );

    let out = json_of(&server(&dir, &["user", "unlock", &id, "--json"]));
    assert_eq!(out["unlocked"], true);
    failed_with(&server(&dir, &["user", "unlock", "nobody"]), "QUERY-Dfbg2");
}

#[tokio::test]
async fn apps_get_a_secret_shown_once_that_rotates() {
    let dir = DataDir::new();
    let app = json_of(&server(
        &dir,
        &[
            "app",
            "add",
            "--name",
            "Shop",
            "--redirect-uri",
            "https://shop.example.com/cb",
            "--redirect-uri",
            "http://localhost:8000/cb",
            "--require-secret-on-validate",
            "--json",
        ],
    ));
    let key = app["app_key"].as_str().unwrap().to_owned();
    let secret = app["app_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "{secret}");
    assert_eq!(app["redirect_uris"].as_array().unwrap().len(), 2);
    assert_eq!(app["policy"]["require_secret_on_validate"], true);

    let engine = engine(&dir).await;
    engine.verify_app_secret(&key, &secret).await.unwrap();
    assert_eq!(
        engine
            .verify_app_secret(&key, "guess")
            .await
            .unwrap_err()
            .id(),
        "AUTH-App01"
    );

    let listed = json_of(&server(&dir, &["app", "list", "--json"]));
    let apps = listed["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 1);
    assert!(
        apps[0].get("app_secret").is_none(),
        "a listing never shows secrets"
    );

    let rotated = json_of(&server(&dir, &["app", "rotate-secret", &key, "--json"]));
    let new_secret = rotated["app_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    engine.verify_app_secret(&key, new_secret).await.unwrap();
    assert!(engine.verify_app_secret(&key, &secret).await.is_err());

    failed_with(
        &server(
            &dir,
            &[
                "app",
                "add",
                "--name",
                "Bad",
                "--redirect-uri",
                "javascript:alert(1)",
            ],
        ),
        "ARG-Inval1",
    );
    // The code-bound validate mode: offered by `app add`, and only with a redirect URI.
    let coded = json_of(&server(
        &dir,
        &[
            "app",
            "add",
            "--name",
            "Coded",
            "--redirect-uri",
            "https://coded.example/cb",
            "--require-code-on-validate",
            "--json",
        ],
    ));
    assert_eq!(coded["policy"]["require_code_on_validate"], true);
    assert_eq!(app["policy"]["require_code_on_validate"], false);
    failed_with(
        &server(
            &dir,
            &[
                "app",
                "add",
                "--name",
                "Kiosk",
                "--require-code-on-validate",
            ],
        ),
        "policy.require_code_on_validate",
    );
    failed_with(
        &server(&dir, &["app", "rotate-secret", "nope"]),
        "QUERY-App01",
    );
    // Text output for people names the secret once.
    let text = server(&dir, &["app", "add", "--name", "Blog"]);
    assert!(text.status.success());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("app_secret: "), "{stdout}");
}

#[tokio::test]
async fn api_keys_authenticate_until_revoked() {
    let dir = DataDir::new();
    let created = json_of(&server(
        &dir,
        &[
            "apikey", "add", "--name", "backend", "--scope", "session", "--scope", "admin",
            "--json",
        ],
    ));
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("vst_"), "{key}");

    let engine = engine(&dir).await;
    let auth = engine.authenticate_api_key(&key).await.unwrap();
    assert!(auth.has(Scope::Session) && auth.has(Scope::Admin));

    let all = json_of(&server(
        &dir,
        &[
            "apikey",
            "add",
            "--name",
            "login-ui",
            "--scope",
            "session_all",
            "--json",
        ],
    ));
    assert_eq!(all["scopes"], serde_json::json!(["session_all"]));
    let auth = engine
        .authenticate_api_key(all["key"].as_str().unwrap())
        .await
        .unwrap();
    assert!(auth.has(Scope::SessionAll) && auth.has(Scope::Session) && !auth.has(Scope::Admin));

    let default_scope = json_of(&server(&dir, &["apikey", "add", "--name", "ro", "--json"]));
    assert_eq!(default_scope["scopes"], serde_json::json!(["session"]));
    failed_with(
        &server(&dir, &["apikey", "add", "--name", "x", "--scope", "root"]),
        "invalid value",
    );

    let listed = json_of(&server(&dir, &["apikey", "list", "--json"]));
    assert_eq!(listed["api_keys"].as_array().unwrap().len(), 3);
    assert!(
        !listed.to_string().contains(&key),
        "a listing never shows keys"
    );

    json_of(&server(&dir, &["apikey", "revoke", &id, "--json"]));
    assert_eq!(
        engine.authenticate_api_key(&key).await.unwrap_err().id(),
        "AUTH-Key01"
    );
    failed_with(&server(&dir, &["apikey", "revoke", "nope"]), "QUERY-Key01");
}

#[tokio::test]
async fn the_first_start_seeds_demo_data_once() {
    let dir = DataDir::new();
    let over = || Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_owned()),
        ..Overrides::default()
    };
    let first = server::http::bind(Settings::resolve(over(), FileConfig::default()).unwrap())
        .await
        .unwrap();
    let demo = first.demo.clone().expect("a first start creates demo data");
    let engine = first.state.engine.clone();
    engine
        .verify_app_secret(&demo.app_key, &demo.app_secret)
        .await
        .unwrap();
    assert!(engine.authenticate_api_key(&demo.api_key).await.is_ok());
    // The demo key reaches the Session API only: admin needs --demo-admin.
    assert_eq!(demo.api_key_scopes, vec![Scope::Session]);
    let keys = engine.list_api_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].scopes, vec![Scope::Session]);
    assert!(!first.needs_admin_key);
    let user = engine
        .find_user_by_login_name(&LoginName::parse(demo.login_name.as_str()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(user.password_hash.is_some());
    drop(first);

    let second = server::http::bind(Settings::resolve(over(), FileConfig::default()).unwrap())
        .await
        .unwrap();
    assert!(second.demo.is_none(), "a second start creates nothing");
    assert_eq!(second.state.engine.list_apps().await.unwrap().len(), 1);

    // --no-demo on a fresh directory creates nothing.
    let other = DataDir::new();
    let settings = Settings::resolve(
        Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(other.path().to_owned()),
            demo: Some(false),
            ..Overrides::default()
        },
        FileConfig::default(),
    )
    .unwrap();
    let bare = server::http::bind(settings).await.unwrap();
    assert!(bare.demo.is_none());
    assert!(bare
        .state
        .engine
        .list_users(0, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn demo_admin_gives_the_demo_key_the_admin_scope() {
    let dir = DataDir::new();
    let over = Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_owned()),
        demo_admin: Some(true),
        ..Overrides::default()
    };
    let bound = server::http::bind(Settings::resolve(over, FileConfig::default()).unwrap())
        .await
        .unwrap();
    let demo = bound.demo.clone().expect("demo data");
    assert_eq!(demo.api_key_scopes, vec![Scope::Session, Scope::Admin]);
    let keys = bound.state.engine.list_api_keys().await.unwrap();
    assert_eq!(keys[0].scopes, vec![Scope::Session, Scope::Admin]);
}

#[tokio::test]
async fn a_first_start_on_a_public_address_creates_no_key() {
    let dir = DataDir::new();
    let over = || Overrides {
        listen: Some("0.0.0.0:0".into()),
        data_dir: Some(dir.path().to_owned()),
        ..Overrides::default()
    };
    let settings = Settings::resolve(over(), FileConfig::default()).unwrap();
    assert!(!settings.demo);
    let hint = server::wiring::first_admin_key_hint(&settings);
    assert!(
        hint.contains(server::wiring::FIRST_ADMIN_KEY_COMMAND),
        "{hint}"
    );
    let bound = server::http::bind(settings).await.unwrap();
    assert!(bound.demo.is_none());
    assert!(bound.needs_admin_key);
    let engine = bound.state.engine.clone();
    assert!(engine.list_api_keys().await.unwrap().is_empty());
    assert!(engine.list_users(0, 10).await.unwrap().is_empty());
    assert!(engine.list_apps().await.unwrap().is_empty());
    drop(bound);

    // --demo asks for the demo anyway (still without admin).
    let other = DataDir::new();
    let settings = Settings::resolve(
        Overrides {
            listen: Some("0.0.0.0:0".into()),
            data_dir: Some(other.path().to_owned()),
            demo: Some(true),
            ..Overrides::default()
        },
        FileConfig::default(),
    )
    .unwrap();
    let bound = server::http::bind(settings).await.unwrap();
    let demo = bound.demo.clone().expect("--demo seeds on any address");
    assert_eq!(demo.api_key_scopes, vec![Scope::Session]);
    assert!(!bound.needs_admin_key);
}

#[test]
fn the_server_binary_on_a_public_address_says_how_to_make_the_first_admin_key() {
    use std::io::{BufRead, BufReader};
    let dir = DataDir::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["serve", "--listen", "0.0.0.0:0", "--site-root"])
        .arg(dir.path())
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("VESTIBULE_CONFIG")
        .env_remove("VESTIBULE_KEY_FILE")
        .env_remove("VESTIBULE_DEMO")
        .env_remove("VESTIBULE_DEMO_ADMIN")
        .env_remove("VESTIBULE_NO_DEMO")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for pipe in [
        Box::new(stdout) as Box<dyn std::io::Read + Send>,
        Box::new(stderr),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !seen.contains("listening on") || !seen.contains(server::wiring::FIRST_ADMIN_KEY_COMMAND)
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.contains(server::wiring::FIRST_ADMIN_KEY_COMMAND),
        "no instruction in:\n{seen}"
    );
    assert!(!seen.contains("First start: created demo data"), "{seen}");
    assert!(!seen.contains("vst_"), "no key is printed: {seen}");

    // The quoted command works as printed, on the same data directory.
    let args: Vec<&str> = server::wiring::FIRST_ADMIN_KEY_COMMAND
        .split_whitespace()
        .skip(1)
        .chain(["--json"])
        .collect();
    let made = json_of(&server(&dir, &args));
    assert_eq!(made["scopes"], serde_json::json!(["admin"]));
    assert!(made["key"].as_str().is_some_and(|k| !k.is_empty()));
}

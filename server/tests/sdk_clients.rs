//! ZITADEL's published clients, unmodified and with their default settings, against the real
//! server on a free port: `@zitadel/client` 1.3 over gRPC (`createServerTransport`, HTTP/2
//! cleartext and over TLS), gRPC-Web (`createClientTransport`) and Connect with the binary and
//! the JSON codec (`scripts/connect-client/sdk.mjs`), and the Python `zitadel-client` 4.x from
//! `.tools/venv` (`server/tests/python/zitadel_sdk.py`). Each run covers the Session API v2 and
//! v2beta. Also here: what the protobuf transports answer to requests no SDK sends (oversized
//! bodies, gRPC-Web's text encoding, bad bytes).

// Not every helper of the shared harness is used here.
#[allow(unused_macros)]
mod common;

use std::{path::PathBuf, process::Command};

use common::{Backend, TestServer};
use domain::{
    input::{LoginName, NewPassword},
    model::Scope,
    service::NewUser,
};
use server::config::FileConfig;

const LOGIN: &str = "sdk-user";
const PASSWORD: &str = "correct horse battery 9";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn client_dir() -> PathBuf {
    let dir = repo().join("scripts/connect-client");
    if !dir.join("node_modules/@zitadel/client").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is needed for the SDK tests");
        assert!(status.success(), "npm ci in {}", dir.display());
    }
    dir
}

struct Sdk {
    srv: TestServer,
    key: String,
    other_key: String,
}

impl Sdk {
    async fn start(file: FileConfig) -> Self {
        let srv = TestServer::start_with(Backend::Sqlite, file).await;
        let mut user = NewUser::named(LoginName::parse(LOGIN).unwrap());
        user.password = Some(NewPassword::parse(PASSWORD.to_owned()).unwrap());
        srv.engine.create_user(user).await.unwrap();
        let (_, key) = srv.new_key(vec![Scope::Session]).await;
        let (_, other_key) = srv.new_key(vec![Scope::Session]).await;
        Self {
            srv,
            key,
            other_key,
        }
    }

    /// The server's URL with `localhost` for the host (WebAuthn refuses IP addresses).
    fn base(&self) -> String {
        self.srv.base.replace("127.0.0.1", "localhost")
    }

    fn command(&self, mut cmd: Command, base: &str, scenario: &str) -> Command {
        cmd.env("VESTIBULE_URL", base)
            .env("VESTIBULE_API_KEY", &self.key)
            .env("VESTIBULE_OTHER_KEY", &self.other_key)
            .env("VESTIBULE_LOGIN", LOGIN)
            .env("VESTIBULE_PASSWORD", PASSWORD)
            .env("VESTIBULE_SCENARIO", scenario);
        cmd
    }

    /// Runs the Node client over `transport`; returns its output after checking it passed.
    async fn node(&self, transport: &str, scenario: &str, base: &str, ca: Option<&PathBuf>) {
        let mut cmd = Command::new("node");
        cmd.arg("sdk.mjs")
            .current_dir(client_dir())
            .env("VESTIBULE_TRANSPORT", transport);
        if let Some(ca) = ca {
            // Node's own way to trust a private CA; the client code is unchanged.
            cmd.env("NODE_EXTRA_CA_CERTS", ca);
        }
        let cmd = self.command(cmd, base, scenario);
        let done = format!("sdk {transport} {scenario}: all passed");
        run(cmd, &done).await;
    }

    async fn python(&self, scenario: &str) {
        let python = repo().join(".tools/venv/bin/python");
        assert!(
            python.exists(),
            "run scripts/bootstrap.sh test (it installs zitadel-client into .tools/venv)"
        );
        let mut cmd = Command::new(python);
        cmd.arg(repo().join("server/tests/python/zitadel_sdk.py"));
        let cmd = self.command(cmd, &self.base(), scenario);
        run(cmd, &format!("sdk python {scenario}: all passed")).await;
    }
}

/// Runs a client process off the runtime (the server runs on it) and checks its verdict line.
async fn run(mut cmd: Command, done: &str) -> String {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("the client process starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(done), "{stdout}\n{stderr}");
    // Both packages ran every check.
    assert!(
        stdout.contains(": v2 ") && stdout.contains(": v2beta "),
        "{stdout}"
    );
    stdout
}

macro_rules! sdk_tests {
    ($($name:ident, $ownership:ident => $transport:literal;)+) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let sdk = Sdk::start(FileConfig::default()).await;
            sdk.node($transport, "main", &sdk.base(), None).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $ownership() {
            let sdk = Sdk::start(FileConfig::default()).await;
            sdk.node($transport, "ownership", &sdk.base(), None).await;
        }
    )+};
}

sdk_tests! {
    grpc_h2c, grpc_h2c_ownership => "grpc";
    grpc_web, grpc_web_ownership => "grpc-web";
    connect_binary, connect_binary_ownership => "connect-binary";
    connect_json, connect_json_ownership => "connect-json";
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_zitadel_client() {
    Sdk::start(FileConfig::default()).await.python("main").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_zitadel_client_ownership() {
    Sdk::start(FileConfig::default())
        .await
        .python("ownership")
        .await;
}

/// A certificate for `localhost` made here; the gRPC client reaches the server over TLS with
/// HTTP/2 negotiated by ALPN, and Connect over HTTP/1.1 on the same TLS port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls() {
    let dir = std::env::temp_dir().join(format!("vestibule-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let file = FileConfig {
        tls_cert: Some(cert_path.clone()),
        tls_key: Some(key_path),
        ..FileConfig::default()
    };
    let sdk = Sdk::start(file).await;
    let base = sdk.base().replace("http://", "https://");
    sdk.node("grpc", "main", &base, Some(&cert_path)).await;
    sdk.node("connect-json", "main", &base, Some(&cert_path))
        .await;
    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("{}/healthz", sdk.srv.base))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    let _ = std::fs::remove_dir_all(dir);
}

// ---------- requests no SDK sends ----------

/// A gRPC message frame: the 5-byte prefix gRPC puts before each message (flag, length).
fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    out.extend_from_slice(message);
    out
}

fn h2c() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

/// A body of `total` bytes sent in chunks, so the request has no `content-length`.
fn streamed(total: usize) -> reqwest::Body {
    let chunk = vec![b' '; 64 * 1024];
    let chunks = (0..total / chunk.len()).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

/// Bodies over the 1 MiB limit that never said how long they are (chunked HTTP/1.1, HTTP/2
/// without content-length) are read up to the limit, drained and refused with `API-Json02` in
/// each protocol's shape; the connection stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_without_length() {
    let sdk = Sdk::start(FileConfig::default()).await;
    let http1 = reqwest::Client::new();
    for (path, code_field) in [
        ("/v2/sessions", serde_json::json!(3)),
        (
            "/zitadel.session.v2.SessionService/CreateSession",
            serde_json::json!("invalid_argument"),
        ),
    ] {
        let res = http1
            .post(sdk.srv.url(path))
            .bearer_auth(&sdk.key)
            .header("content-type", "application/json")
            .body(streamed(3 * 1024 * 1024))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::BAD_REQUEST, "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], code_field, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("API-Json02"),
            "{body}"
        );
    }
    // gRPC over h2c: the refusal is a gRPC status, not an HTTP error.
    let client = h2c();
    let res = client
        .post(
            sdk.srv
                .url("/zitadel.session.v2.SessionService/CreateSession"),
        )
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .bearer_auth(&sdk.key)
        .body(streamed(3 * 1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert_eq!(res.headers()["grpc-status"], "3", "{:?}", res.headers());
    let message = res.headers()["grpc-message"].to_str().unwrap().to_owned();
    assert!(message.contains("API-Json02"), "{message}");
    assert!(res.headers().contains_key("grpc-status-details-bin"));
    // The same client (and connection) still works.
    let ok = client.get(sdk.srv.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status(), reqwest::StatusCode::OK);
}

/// gRPC-Web's text encoding (base64 frames, as the grpc-web JavaScript library sends by default)
/// works both ways; an error travels as a status in the headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_text() {
    use base64::{engine::general_purpose::STANDARD, Engine as _};
    use prost::Message as _;
    use server::api::pb::zitadel::session::v2beta as pb;

    let sdk = Sdk::start(FileConfig::default()).await;
    let http = reqwest::Client::new();
    let url = sdk
        .srv
        .url("/zitadel.session.v2beta.SessionService/CreateSession");
    let request = pb::CreateSessionRequest {
        checks: Some(pb::Checks {
            user: Some(pb::CheckUser {
                search: Some(pb::check_user::Search::LoginName(LOGIN.to_owned())),
            }),
            ..pb::Checks::default()
        }),
        ..pb::CreateSessionRequest::default()
    };
    let body = STANDARD.encode(frame(&request.encode_to_vec()));
    let res = http
        .post(&url)
        .header("content-type", "application/grpc-web-text")
        .header("accept", "application/grpc-web-text")
        .bearer_auth(&sdk.key)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/grpc-web-text"));
    let text = res.text().await.unwrap();
    // The answer is base64 chunks, each padded on its own (the message frame, then the trailer
    // frame); every 4-character group decodes by itself.
    let text = text.trim().as_bytes();
    assert_eq!(text.len() % 4, 0);
    let mut bytes = Vec::new();
    for group in text.chunks(4) {
        bytes.extend(STANDARD.decode(group).unwrap());
    }
    assert_eq!(
        bytes[0],
        0,
        "a message frame first: {}",
        String::from_utf8_lossy(&bytes)
    );
    let len = u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
    let answer = pb::CreateSessionResponse::decode(&bytes[5..5 + len]).unwrap();
    assert!(!answer.session_id.is_empty() && !answer.session_token.is_empty());
    let trailers = String::from_utf8_lossy(&bytes[5 + len + 5..]).to_lowercase();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    // Without a key: Unauthenticated, with the contract's id.
    let res = http
        .post(&url)
        .header("content-type", "application/grpc-web-text")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert_eq!(res.headers()["grpc-status"], "16");
    assert!(res.headers()["grpc-message"]
        .to_str()
        .unwrap()
        .contains("AUTH-Key00"));
}

/// Over gRPC, a rate limit is ResourceExhausted (code 8, `API-Rate01`) with `retry-after`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_rate_limit() {
    let file: FileConfig =
        toml::from_str("[rate_limits]\nsession_api_per_key = { limit = 2, window_secs = 60 }\n")
            .unwrap();
    let sdk = Sdk::start(file).await;
    let client = h2c();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let res = client
            .post(
                sdk.srv
                    .url("/zitadel.session.v2.SessionService/ListSessions"),
            )
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .bearer_auth(&sdk.key)
            .body(frame(&[]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        let status = res
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_owned());
        if status.as_deref() == Some("8") {
            assert!(res.headers()["grpc-message"]
                .to_str()
                .unwrap()
                .contains("API-Rate01"));
            assert!(res.headers().contains_key("retry-after"));
        }
        statuses.push(status);
    }
    assert_eq!(statuses[2].as_deref(), Some("8"), "{statuses:?}");
}

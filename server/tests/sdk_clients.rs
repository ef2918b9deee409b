//! ZITADEL's published clients, unmodified and with their default settings, against the real
//! server on a free port: `@zitadel/client` 1.3 over gRPC (`createServerTransport`, HTTP/2
//! cleartext and over TLS), gRPC-Web (`createClientTransport`) and Connect with the binary and
//! the JSON codec (`scripts/connect-client/sdk.mjs`), and the Python `zitadel-client` 4.x from
//! `.tools/venv` (`server/tests/python/zitadel_sdk.py`). Each run covers the Session API v2 and
//! v2beta. Also here: what the protobuf transports answer to requests no SDK sends (oversized
//! bodies, gRPC-Web's text encoding, bad bytes).

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
    assert!(stdout.contains(": v2 ") && stdout.contains(": v2beta "), "{stdout}");
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
    sdk.node("connect-json", "main", &base, Some(&cert_path)).await;
    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("{}/healthz", sdk.srv.base))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    let _ = std::fs::remove_dir_all(dir);
}

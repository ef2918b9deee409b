//! The notifiers against real peers: an SMTP server process (aiosmtpd) and an HTTP listener.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{extract::State, http::HeaderMap, routing::post, Json, Router};
use server::notify::{HttpSms, NotifyError, SmsSettings, SmtpMailer, SmtpSettings};

fn scratch_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("vestibule-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Python that has aiosmtpd: `VESTIBULE_TEST_PYTHON`, else the venv bootstrap makes.
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("VESTIBULE_TEST_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/bootstrap.sh test",
        venv.display()
    );
    venv
}

/// An aiosmtpd process writing every message it accepts into a maildir.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    fn start(tls_args: &[&str]) -> Self {
        let dir = scratch_dir("smtp");
        let maildir = dir.join("mail");
        let port = free_port();
        let child = Command::new(python())
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .args(tls_args)
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start listening"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            port,
            maildir,
        }
    }

    fn messages(&self) -> Vec<String> {
        let new = self.maildir.join("new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return vec![];
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }

    fn wait_for_message(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(m) = self.messages().pop() {
                return m;
            }
            assert!(Instant::now() < deadline, "no message arrived");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl {args:?}");
}

/// A private CA and a server certificate for `localhost` signed by it, made with the openssl
/// command. Returns (CA certificate, server certificate, server key).
fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=keyCertSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "req.csr",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "cert.pem",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[tokio::test]
async fn email_goes_through_plain_smtp() {
    let smtp = SmtpServer::start(&[]);
    let mailer = SmtpMailer::new(&SmtpSettings {
        url: format!("smtp://127.0.0.1:{}", smtp.port),
        from: "Vestibule <login@example.test>".into(),
        ca_cert: None,
    })
    .unwrap();
    mailer
        .send(
            "alice@example.test",
            "Your code",
            "Your sign-in code is 493021.",
        )
        .await
        .unwrap();
    let message = smtp.wait_for_message();
    assert!(message.contains("To: alice@example.test"), "{message}");
    assert!(message.contains("Subject: Your code"), "{message}");
    assert!(message.contains("493021"), "{message}");
}

/// A sign-in method notice, through the server's own sender: what changed, when and where.
#[tokio::test]
async fn a_method_notice_reaches_the_mail_server() {
    use domain::{
        model::FactorKind,
        notifier::{ChangedFrom, MethodChange, MethodNotice, Notifier},
    };
    let smtp = SmtpServer::start(&[]);
    let sender = server::notify::CodeSender::new(&server::config::Delivery {
        smtp: Some(SmtpSettings {
            url: format!("smtp://127.0.0.1:{}", smtp.port),
            from: "Vestibule <login@example.test>".into(),
            ca_cert: None,
        }),
        sms: None,
    })
    .unwrap();
    let notice = MethodNotice {
        user_id: "u1".into(),
        login_name: "alice".into(),
        display_name: "Alice".into(),
        preferred_language: Some("en-GB".into()),
        change: MethodChange::Added,
        methods: vec![FactorKind::Passkey],
        at: time::OffsetDateTime::from_unix_timestamp(1_796_292_000).unwrap(),
        from: ChangedFrom::Browser(Some("Firefox 140 on Linux".into())),
    };
    sender
        .send_method_notice("alice@example.test", &notice)
        .await
        .unwrap();
    let message = smtp.wait_for_message();
    assert!(message.contains("To: alice@example.test"), "{message}");
    assert!(message.contains("Subject: New sign-in method"), "{message}");
    for part in [
        "passkey",
        "2026-12-03T10:00:00Z",
        "Firefox 140 on Linux",
        "alice",
    ] {
        assert!(message.contains(part), "{part} in {message}");
    }
}

#[tokio::test]
async fn email_goes_through_starttls_and_implicit_tls_with_a_private_ca() {
    let dir = scratch_dir("tls");
    let (ca, cert, key) = private_ca(&dir);
    let (cert_s, key_s) = (cert.to_str().unwrap(), key.to_str().unwrap());

    let starttls = SmtpServer::start(&["--tlscert", cert_s, "--tlskey", key_s]);
    let mailer = SmtpMailer::new(&SmtpSettings {
        url: format!("smtp://localhost:{}?tls=required", starttls.port),
        from: "login@example.test".into(),
        ca_cert: Some(ca.clone()),
    })
    .unwrap();
    mailer
        .send("bob@example.test", "Code", "STARTTLS 111222")
        .await
        .unwrap();
    assert!(starttls.wait_for_message().contains("111222"));

    let implicit = SmtpServer::start(&["--smtpscert", cert_s, "--smtpskey", key_s]);
    let mailer = SmtpMailer::new(&SmtpSettings {
        url: format!("smtps://localhost:{}", implicit.port),
        from: "login@example.test".into(),
        ca_cert: Some(ca),
    })
    .unwrap();
    mailer
        .send("bob@example.test", "Code", "SMTPS 333444")
        .await
        .unwrap();
    assert!(implicit.wait_for_message().contains("333444"));
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let dir = scratch_dir("tls-untrusted");
    let (_ca, cert, key) = private_ca(&dir);
    let smtp = SmtpServer::start(&[
        "--smtpscert",
        cert.to_str().unwrap(),
        "--smtpskey",
        key.to_str().unwrap(),
    ]);
    let mailer = SmtpMailer::new(&SmtpSettings {
        url: format!("smtps://localhost:{}", smtp.port),
        from: "login@example.test".into(),
        ca_cert: None,
    })
    .unwrap();
    let err = mailer
        .send("eve@example.test", "Code", "nope")
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Smtp(_)), "{err}");
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn bad_smtp_settings_and_addresses_are_clear_errors() {
    let bad_url = SmtpMailer::new(&SmtpSettings {
        url: "gopher://x".into(),
        from: "a@b.c".into(),
        ca_cert: None,
    });
    assert!(matches!(bad_url, Err(NotifyError::SmtpConfig(_))));
    let bad_from = SmtpMailer::new(&SmtpSettings {
        url: "smtp://localhost".into(),
        from: "no at sign".into(),
        ca_cert: None,
    });
    assert!(matches!(bad_from, Err(NotifyError::Address(_))));
    let mailer = SmtpMailer::new(&SmtpSettings {
        url: "smtp://127.0.0.1:1".into(),
        from: "a@b.c".into(),
        ca_cert: None,
    })
    .unwrap();
    assert!(matches!(
        mailer.send("not an address", "s", "b").await,
        Err(NotifyError::Address(_))
    ));
}

type Received = Arc<Mutex<Vec<(Option<String>, serde_json::Value)>>>;

async fn sms_listener(status: u16) -> (String, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/sms",
            post(
                move |State(r): State<Received>,
                      headers: HeaderMap,
                      Json(body): Json<serde_json::Value>| async move {
                    let auth = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned());
                    r.lock().unwrap().push((auth, body));
                    axum::http::StatusCode::from_u16(status).unwrap()
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test]
async fn sms_is_posted_as_json_with_the_bearer_token() {
    let (url, received) = sms_listener(202).await;
    let sms = HttpSms::new(SmsSettings {
        url,
        bearer_token: Some("provider-secret".into()),
    })
    .unwrap();
    sms.send("+4915112345678", "Your sign-in code is 771203.")
        .await
        .unwrap();
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.as_deref(), Some("Bearer provider-secret"));
    assert_eq!(
        got[0].1,
        serde_json::json!({"to": "+4915112345678", "text": "Your sign-in code is 771203."})
    );
}

#[tokio::test]
async fn a_provider_refusal_or_absence_is_an_error() {
    let (url, _) = sms_listener(500).await;
    let sms = HttpSms::new(SmsSettings {
        url,
        bearer_token: None,
    })
    .unwrap();
    assert!(matches!(
        sms.send("+1555", "x").await,
        Err(NotifyError::SmsRejected(500))
    ));
    let settings = SmsSettings {
        url: format!("http://127.0.0.1:{}/sms?key=query-secret-77", free_port()),
        bearer_token: Some("bearer-secret-88".into()),
    };
    // SECURITY: neither the error (it reaches the log) nor the settings' Debug carry the
    // provider URL's query or the token.
    let shown = format!("{settings:?}");
    assert!(
        !shown.contains("query-secret-77") && !shown.contains("bearer-secret-88"),
        "{shown}"
    );
    let sms = HttpSms::new(settings).unwrap();
    let err = sms.send("+1555", "x").await.unwrap_err();
    assert!(matches!(err, NotifyError::SmsTransport(_)), "{err}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("query-secret-77"), "{text}");
    assert!(!text.contains("/sms"), "{text}");
}

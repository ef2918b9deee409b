//! The log of a whole login at info level carries none of its secrets: not the link token, the
//! app's session_id, the SMS or email code, the session token, the SMS provider's query string,
//! nor the person's full email address or phone number.
//!
//! The server runs with the real telemetry setup, its output captured; the SMS provider is a
//! small HTTP server of this test (the code is read from what it received), email codes go to
//! the log notifier (no SMTP server configured).

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{routing::post, Json, Router};
use domain::{
    input::{Email, HttpUrl, LoginName, Name, NewPassword, Phone},
    model::{FactorKind, LoginPolicy, Scope},
    service::{NewApp, NewUser},
};
use reqwest::{header, redirect::Policy, Client, StatusCode};
use serde_json::{json, Value};
use server::config::{FileConfig, Overrides, Settings};

const PASSWORD: &str = "correct horse battery";
const EMAIL: &str = "alice.liddell@example.com";
const PHONE: &str = "+41791234567";
const SMS_QUERY_SECRET: &str = "sms-query-secret-4711";

/// Everything the subscriber wrote, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        // Also to the test's own output, for whoever reads a failure.
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// An SMS provider that keeps every message it is sent.
async fn sms_provider() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let keep = received.clone();
    let app = Router::new().route(
        "/send",
        post(move |Json(body): Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body);
                Json(json!({ "ok": true }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (
        format!("http://{addr}/send?key={SMS_QUERY_SECRET}"),
        received,
    )
}

fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The claim cookie a page view sets, as `name=value`.
fn claim_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("vestibule_claim_"))
        .and_then(|v| v.split(';').next())
        .expect("the page view sets the claim cookie")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_login_leaves_no_secret_in_the_log() {
    let log = Captured::default();
    server::telemetry::init_with(
        tracing_subscriber::EnvFilter::new(server::telemetry::DEFAULT_FILTER),
        log.clone(),
    );
    let (sms_url, sms_received) = sms_provider().await;
    let dir = common::temp_site_dir("logs");
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let over = Overrides {
        listen: Some(format!("127.0.0.1:{port}")),
        public_url: Some(base.clone()),
        data_dir: Some(dir.join("data")),
        site_root: Some(dir.join("site")),
        demo: Some(false),
        sms_url: Some(sms_url),
        sms_token: Some("sms-bearer-secret-0815".into()),
        ..Overrides::default()
    };
    let settings = Settings::resolve(over, FileConfig::default()).unwrap();
    let bound = server::http::bind(settings).await.unwrap();
    let engine = bound.state.engine.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bound.run(async move {
        let _ = stopped.await;
    }));

    let user = engine
        .create_user(NewUser {
            email: Some(Email::parse(EMAIL).unwrap()),
            email_verified: true,
            phone: Some(Phone::parse(PHONE).unwrap()),
            phone_verified: true,
            password: Some(NewPassword::parse(PASSWORD.into()).unwrap()),
            ..NewUser::named(LoginName::parse("alice").unwrap())
        })
        .await
        .unwrap();
    engine.set_otp_sms(&user.id, true).await.unwrap();
    engine.set_otp_email(&user.id, true).await.unwrap();
    let (app, app_secret) = engine
        .create_app(NewApp {
            name: Name::parse("Shop").unwrap(),
            redirect_uris: vec![HttpUrl::parse("redirect_uri", "https://shop.example/cb").unwrap()],
            policy: LoginPolicy {
                allowed_factors: vec![FactorKind::Password, FactorKind::OtpSms],
                require_second_factor: true,
                require_secret_on_validate: false,
                ..LoginPolicy::default()
            },
            branding: Default::default(),
        })
        .await
        .unwrap();
    let (_, api_key) = engine
        .create_api_key(Name::parse("ui").unwrap(), vec![Scope::Session])
        .await
        .unwrap();
    let api_key = api_key.expose().clone();
    let app_secret = app_secret.into_inner();
    let http = client();

    // The app backend asks for a link.
    let generated: Value = http
        .post(format!("{base}/session/generate/"))
        .json(&json!({ "app_key": app.app_key, "app_secret": app_secret }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = generated["token"].as_str().unwrap().to_owned();
    let session_id = generated["session_id"].as_str().unwrap().to_owned();

    // The person's browser: the page, then each step as the page's forms post them.
    let page = http
        .get(format!("{base}/console/session/{token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = claim_cookie(&page);
    let step = |fields: Vec<(&'static str, String)>| {
        let http = http.clone();
        let base = base.clone();
        let cookie = cookie.clone();
        let token = token.clone();
        async move {
            let mut form = vec![("token", token)];
            form.extend(fields);
            let res = http
                .post(format!("{base}/console/api/step"))
                .header(header::ACCEPT, "application/json")
                .header(header::ORIGIN, &base)
                .header(header::COOKIE, &cookie)
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let text = res.text().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{text}");
            text
        }
    };
    step(vec![("op", "begin".into())]).await;
    step(vec![
        ("op", "password".into()),
        ("login_name", "alice".into()),
        ("password", PASSWORD.into()),
    ])
    .await;
    step(vec![("op", "choose".into()), ("factor", "sms".into())]).await;
    let sms = sms_received
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("an SMS");
    assert_eq!(sms["to"], json!(PHONE));
    let code: String = sms["text"]
        .as_str()
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(code.len() >= 6, "{sms}");
    let done = step(vec![
        ("op", "code".into()),
        ("factor", "sms".into()),
        ("code", code.clone()),
    ])
    .await;
    assert!(done.contains("Done"), "{done}");

    // The app backend learns the outcome.
    let validated: Value = http
        .post(format!("{base}/session/validate/"))
        .json(&json!({ "session_id": session_id }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(validated["status"], json!("verified"), "{validated}");

    // A custom login UI asks for an email code over the Session API.
    let created = http
        .post(format!("{base}/v2/sessions"))
        .bearer_auth(&api_key)
        .json(&json!({
            "checks": { "user": { "loginName": "alice" } },
            "challenges": { "otpEmail": { "sendCode": {} } }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let session_token = created["sessionToken"].as_str().unwrap().to_owned();

    // Give the last log lines a moment, then stop the server.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = stop.send(());
    let text = log.text();
    // The capture works, and it saw the code deliveries, masked.
    assert!(text.contains("email code sent"), "{text}");
    assert!(text.contains("a•••@example.com"), "{text}");
    assert!(
        !text.contains("sms code sent"),
        "the SMS went to the provider stub"
    );
    let digits = PHONE.trim_start_matches('+');
    for (what, secret) in [
        ("link token", token.as_str()),
        ("app session_id", session_id.as_str()),
        ("SMS code", code.as_str()),
        ("session token", session_token.as_str()),
        ("API key", api_key.as_str()),
        ("app secret", app_secret.as_str()),
        ("email address", EMAIL),
        ("phone number", PHONE),
        ("phone digits", digits),
        ("SMS URL query", SMS_QUERY_SECRET),
        ("SMS bearer token", "sms-bearer-secret-0815"),
    ] {
        assert!(
            !text.contains(secret),
            "the log carries the {what} ({secret}):\n{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

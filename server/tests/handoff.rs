//! The app handoff over HTTP, against the real router on a free port: every test runs on SQLite
//! (a fresh file) and on PostgreSQL (a fresh schema at `VESTIBULE_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`).
//!
//! Logins are completed through the engine's own claim-side methods (the checks the hosted page
//! will run), with a user created through the engine; nothing is written behind its back.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use domain::{
    crypto::sha256,
    input::{HttpUrl, LoginName, Name, NewPassword, Password},
    model::LoginPolicy,
    service::{Browser, HostedStep, LoginAction, NewApp, NewUser},
    Engine,
};
use reqwest::{header, redirect::Policy, Client, StatusCode};
use serde_json::{json, Value};
use server::{
    config::{FileConfig, Overrides, Settings},
    ratelimit::Rule,
};
use sqlx::postgres::PgPoolOptions;

const PASSWORD: &str = "correct horse battery";
const CALLBACK: &str = "https://shop.example/callback";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

struct TestServer {
    base: String,
    dir: PathBuf,
    engine: Arc<Engine>,
    db: storage::Database,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    schema: Option<(sqlx::PgPool, String)>,
    app_key: String,
    app_secret: String,
}

fn unique() -> String {
    format!(
        "vh_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn postgres_url() -> String {
    std::env::var("VESTIBULE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl TestServer {
    async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}, LoginPolicy::default()).await
    }

    async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut Settings),
        policy: LoginPolicy,
    ) -> Self {
        let name = unique();
        let dir = std::env::temp_dir().join(&name);
        let site = dir.join("site/pkg");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::write(site.join("vestibule.css"), "body{}").unwrap();
        // The links carry the public URL, so it must name the real port: pick a free one first.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let over = Overrides {
            listen: Some(format!("127.0.0.1:{port}")),
            public_url: Some(format!("http://127.0.0.1:{port}")),
            data_dir: Some(dir.join("data")),
            site_root: Some(dir.join("site")),
            demo: Some(false),
            ..Overrides::default()
        };
        let mut settings = Settings::resolve(over, FileConfig::default()).unwrap();
        let mut schema = None;
        if let Backend::Postgres = backend {
            let url = postgres_url();
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .connect(&url)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL is needed at {url}: {e}"));
            sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
                .execute(&admin)
                .await
                .unwrap();
            let separator = if url.contains('?') { '&' } else { '?' };
            settings.database_url = format!("{url}{separator}options=-c%20search_path%3D{name}");
            schema = Some((admin, name));
        }
        tweak(&mut settings);
        let bound = server::http::bind(settings).await.unwrap();
        let base = format!("http://{}", bound.addr);
        let engine = bound.state.engine.clone();
        let db = bound.state.db.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(bound.run(async move {
            let _ = rx.await;
        }));
        engine
            .create_user(NewUser {
                password: Some(NewPassword::parse(PASSWORD.into()).unwrap()),
                ..NewUser::named(LoginName::parse("alice").unwrap())
            })
            .await
            .unwrap();
        let (app, secret) = engine
            .create_app(NewApp {
                name: Name::parse("Shop").unwrap(),
                redirect_uris: vec![
                    HttpUrl::parse("redirect_uri", CALLBACK).unwrap(),
                    HttpUrl::parse("redirect_uri", "https://shop.example/other").unwrap(),
                ],
                policy,
                branding: Default::default(),
            })
            .await
            .unwrap();
        Self {
            base,
            dir,
            engine,
            db,
            shutdown: Some(tx),
            schema,
            app_key: app.app_key,
            app_secret: secret.into_inner(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn creds(&self) -> Value {
        json!({ "app_key": self.app_key, "app_secret": self.app_secret })
    }

    /// Generates a link with extra JSON fields; returns the answer.
    async fn generate(&self, extra: Value) -> Value {
        let mut body = self.creds();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = client()
            .post(self.url("/session/generate/"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    async fn validate(&self, body: Value) -> (StatusCode, Value) {
        let res = client()
            .post(self.url("/session/validate/"))
            .json(&body)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap())
    }

    /// Completes the login for the browser holding `browser` (user and password checks).
    async fn sign_in(&self, token: &str, browser: &str) {
        let step = self.act(token, browser, password_action()).await;
        assert!(step.refused.is_none(), "{:?}", step.refused);
    }

    /// One action on the login, as the hosted page runs it.
    async fn act(&self, token: &str, browser: &str, action: LoginAction) -> HostedStep {
        let browser = Browser {
            secret: Some(browser.to_owned()),
            user_agent: None,
        };
        let mut login = self.engine.open_login(token, browser).await.unwrap();
        self.engine.login_step(&mut login, action).await
    }

    async fn finish(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some((admin, name)) = self.schema.take() {
            if let storage::Database::Postgres(pool) = &self.db {
                pool.close().await;
            }
            let _ = sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE"))
                .execute(&admin)
                .await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Alice's login name and password, as the hosted page's password form sends them.
fn password_action() -> LoginAction {
    LoginAction::Password {
        login_name: Some(LoginName::parse("alice").unwrap()),
        password: Password::parse(PASSWORD.into()).unwrap(),
    }
}

fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// Opens the link as a browser that has `cookie` (or none); returns the response and the claim
/// cookie it set, as `(name, value, full header)`.
async fn open_link(
    url: &str,
    cookie: Option<&(String, String, String)>,
) -> (reqwest::Response, Option<(String, String, String)>) {
    let mut req = client().get(url);
    if let Some((name, value, _)) = cookie {
        req = req.header(header::COOKIE, format!("{name}={value}"));
    }
    let res = req.send().await.unwrap();
    let set = claim_of(&res);
    (res, set)
}

/// Views the login page at `url` (which claims nothing), then takes the first step as the
/// page's script does, which binds the link to this client: the page view's answer and the
/// claim cookie (name, value, whole `Set-Cookie`).
async fn claim_link(url: &str) -> (reqwest::Response, Option<(String, String, String)>) {
    let (page, set) = open_link(url, None).await;
    if page.status() != StatusCode::OK {
        return (page, None);
    }
    // The page view hands out the secret (and stores nothing); the first step binds to it.
    let set = set.expect("the page view sets the claim cookie");
    let (origin, token) = url.split_once("/console/session/").unwrap();
    let res = client()
        .post(format!("{origin}/console/api/step"))
        .header(header::ACCEPT, "application/json")
        .header(header::ORIGIN, origin)
        .header(header::COOKIE, format!("{}={}", set.0, set.1))
        .form(&[("token", token), ("op", "begin")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(claim_of(&res).is_none(), "the secret stays the page view's");
    (page, Some(set))
}

/// The claim cookie a response sets: name, value and the whole header.
fn claim_of(res: &reqwest::Response) -> Option<(String, String, String)> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("vestibule_claim_"))
        .map(|full| {
            let pair = full.split(';').next().unwrap();
            let (n, v) = pair.split_once('=').unwrap();
            (n.to_owned(), v.to_owned(), full.to_owned())
        })
}

fn link(answer: &Value) -> String {
    format!(
        "{}{}",
        answer["base_url"].as_str().unwrap(),
        answer["token"].as_str().unwrap()
    )
}

fn token(answer: &Value) -> String {
    answer["token"].as_str().unwrap().to_owned()
}

fn multipart(fields: &[(&str, &str)]) -> (String, String) {
    let boundary = "vestibule-test-boundary-7d3f";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Runs each test on both databases.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both!(
    generate_accepts_every_encoding_with_and_without_slash,
    generate_and_validate_errors_are_json_with_stable_ids,
    a_link_is_claimed_by_one_browser_and_returns_with_state,
    validate_accepts_every_encoding_and_reports_the_user,
    expired_links_and_sessions,
    long_poll_wakes_up_on_a_login_and_times_out,
    rate_limits_answer_429_with_retry_after,
    apps_may_require_their_secret_on_validate,
    secrets_are_stored_only_as_hashes,
    the_seed_python_example_runs_unchanged,
    code_bound_validate_answers_only_to_the_redirects_code,
);

async fn generate_accepts_every_encoding_with_and_without_slash(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let form = [
        ("app_key", srv.app_key.as_str()),
        ("app_secret", srv.app_secret.as_str()),
    ];
    let (ctype, mp) = multipart(&form);
    for path in ["/session/generate/", "/session/generate"] {
        let answers = [
            client()
                .post(srv.url(path))
                .json(&srv.creds())
                .send()
                .await
                .unwrap(),
            client()
                .post(srv.url(path))
                .form(&form)
                .send()
                .await
                .unwrap(),
            client()
                .post(srv.url(path))
                .header(header::CONTENT_TYPE, &ctype)
                .body(mp.clone())
                .send()
                .await
                .unwrap(),
        ];
        for res in answers {
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
            let body: Value = res.json().await.unwrap();
            let token = body["token"].as_str().unwrap();
            let session_id = body["session_id"].as_str().unwrap();
            assert_eq!(token.len(), 43, "256 bits, base64url");
            assert!(session_id.len() >= 22, "at least 128 bits");
            assert_ne!(token, session_id);
            assert_eq!(body["base_url"], format!("{}/console/session/", srv.base));
            let expires = time::OffsetDateTime::parse(
                body["expires_at"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap();
            let left = expires - time::OffsetDateTime::now_utc();
            assert!(left > time::Duration::minutes(9) && left <= time::Duration::minutes(10));
        }
    }
    srv.finish().await;
}

async fn generate_and_validate_errors_are_json_with_stable_ids(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let gen = srv.url("/session/generate/");
    let key = srv.app_key.clone();
    let secret = srv.app_secret.clone();
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            client().post(&gen).json(&json!({"app_key": key})),
            StatusCode::BAD_REQUEST,
            "ARG-Inval1",
        ),
        (
            client().post(&gen).json(&json!({"app_key": key, "app_secret": "wrong"})),
            StatusCode::UNAUTHORIZED,
            "AUTH-App01",
        ),
        (
            client().post(&gen).json(&json!({"app_key": "nope", "app_secret": secret})),
            StatusCode::UNAUTHORIZED,
            "AUTH-App01",
        ),
        (
            client()
                .post(&gen)
                .header(header::CONTENT_TYPE, "text/plain")
                .body("app_key=x"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "REQ-Media01",
        ),
        (
            client().post(&gen).body("app_key=x"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "REQ-Media01",
        ),
        (
            client()
                .post(&gen)
                .header(header::CONTENT_TYPE, "application/json")
                .body("{not json"),
            StatusCode::BAD_REQUEST,
            "REQ-Body01",
        ),
        (
            client().post(&gen).json(&json!(["app_key"])),
            StatusCode::BAD_REQUEST,
            "REQ-Body01",
        ),
        (
            client()
                .post(&gen)
                .json(&json!({"app_key": key, "app_secret": secret, "state": {"a": 1}})),
            StatusCode::BAD_REQUEST,
            "REQ-Body01",
        ),
        (
            client()
                .post(&gen)
                .form(&[("app_key", &key), ("app_key", &key), ("app_secret", &secret)]),
            StatusCode::BAD_REQUEST,
            "REQ-Body01",
        ),
        (
            client()
                .post(&gen)
                .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
                .body("garbage"),
            StatusCode::BAD_REQUEST,
            "REQ-Body01",
        ),
        (
            client().post(&gen).json(
                &json!({"app_key": key, "app_secret": secret, "redirect_uri": "https://shop.example/callback/"}),
            ),
            StatusCode::BAD_REQUEST,
            "HANDOFF-Rdr01",
        ),
        (
            client().post(&gen).json(
                &json!({"app_key": key, "app_secret": secret, "redirect_uri": "https://evil.example/callback"}),
            ),
            StatusCode::BAD_REQUEST,
            "HANDOFF-Rdr01",
        ),
        (
            client()
                .post(&gen)
                .json(&json!({"app_key": key, "app_secret": secret, "state": "s".repeat(513)})),
            StatusCode::BAD_REQUEST,
            "ARG-Inval1",
        ),
        (
            client()
                .post(&gen)
                .json(&json!({"app_key": key, "app_secret": secret, "lifetime": "forever"})),
            StatusCode::BAD_REQUEST,
            "COMMAND-asEG4",
        ),
        (
            client()
                .post(&gen)
                .json(&json!({"app_key": key, "app_secret": secret, "lifetime": -5})),
            StatusCode::BAD_REQUEST,
            "COMMAND-asEG4",
        ),
        (
            client()
                .post(&gen)
                .json(&json!({"app_key": key, "app_secret": secret, "pad": "x".repeat(70_000)})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "REQ-Size01",
        ),
        (
            client()
                .post(srv.url("/session/validate/"))
                .json(&json!({"session_id": "x".repeat(43)})),
            StatusCode::NOT_FOUND,
            "HANDOFF-Ses01",
        ),
        (
            client()
                .post(srv.url("/session/validate"))
                .form(&[("session_id", "../../etc/passwd")]),
            StatusCode::NOT_FOUND,
            "HANDOFF-Ses01",
        ),
        (
            client().post(srv.url("/session/validate/")).json(&json!({})),
            StatusCode::BAD_REQUEST,
            "ARG-Inval1",
        ),
        (
            client()
                .post(srv.url("/session/validate/"))
                .header(header::CONTENT_TYPE, "application/xml")
                .body("<x/>"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "REQ-Media01",
        ),
    ];
    for (i, (req, status, id)) in cases.into_iter().enumerate() {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), status, "case {i}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], "error", "case {i}: {body}");
        assert_eq!(body["error"], id, "case {i}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A valid session_id with a bad wait, and with a wrong secret.
    let answer = srv.generate(json!({})).await;
    let (status, body) = srv
        .validate(json!({"session_id": answer["session_id"], "wait": "soon"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ARG-Inval1"))
    );
    let (status, body) = srv
        .validate(json!({"session_id": answer["session_id"], "app_secret": "wrong"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("AUTH-App01"))
    );
    srv.finish().await;
}

async fn a_link_is_claimed_by_one_browser_and_returns_with_state(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let state = "r=/cart?x=1&y=ü #frag";
    let answer = srv
        .generate(json!({"redirect_uri": "https://shop.example/other", "state": state}))
        .await;
    let link = link(&answer);

    // A link scanner's HEAD gets a page's headers, no cookie, and claims nothing.
    let res = client().head(&link).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(res.content_length().unwrap_or(0), 0);

    // The first browser claims the link at its first step and gets the binding cookie.
    let (res, cookie) = claim_link(&link).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = cookie.expect("claim cookie");
    let full = cookie.2.clone();
    assert!(full.contains("; HttpOnly"), "{full}");
    assert!(full.contains("; SameSite=Lax"), "{full}");
    assert!(full.contains("; Path=/console"), "{full}");
    assert!(!full.contains("Secure"), "plain http on localhost: {full}");
    assert_eq!(res.headers()[header::REFERRER_POLICY], "no-referrer");
    let html = res.text().await.unwrap();
    assert!(
        !html.contains(&cookie.1),
        "the browser secret is not in the page"
    );

    // The same browser may reload: no new cookie.
    let (res, again) = open_link(&link, Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(again.is_none());

    // Another browser (no cookie, or a forged one) gets the "already used" page.
    let forged = (cookie.0.clone(), "A".repeat(43), String::new());
    for other in [None, Some(&forged)] {
        let (res, set) = open_link(&link, other).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(set.is_none());
        assert!(res.text().await.unwrap().contains("already used"));
    }
    // An unknown link has its own page.
    let (res, _) = open_link(
        &srv.url(&format!("/console/session/{}", "B".repeat(43))),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("not valid"));

    let (_, body) = srv
        .validate(json!({"session_id": answer["session_id"]}))
        .await;
    assert_eq!(body["status"], "pending");
    assert!(body.get("user").is_none());

    // Signed in: the claiming browser is sent back to the app with the state.
    srv.sign_in(&token(&answer), &cookie.1).await;
    let (res, _) = open_link(&link, Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let url = url::Url::parse(&location).unwrap();
    assert_eq!(
        url.as_str().split('?').next(),
        Some("https://shop.example/other")
    );
    let states: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(states, vec![state.to_owned()]);
    // The other browser still gets nothing.
    let (res, _) = open_link(&link, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Without a redirect URI the app's first one is used; without state none is added.
    let plain = srv.generate(json!({})).await;
    let plain_link = link_of(&plain);
    let (_, cookie) = claim_link(&plain_link).await;
    let cookie = cookie.unwrap();
    srv.sign_in(&token(&plain), &cookie.1).await;
    let (res, _) = open_link(&plain_link, Some(&cookie)).await;
    assert_eq!(res.headers()[header::LOCATION], CALLBACK);
    srv.finish().await;
}

fn link_of(answer: &Value) -> String {
    link(answer)
}

async fn validate_accepts_every_encoding_and_reports_the_user(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let answer = srv.generate(json!({})).await;
    let (_, cookie) = claim_link(&link_of(&answer)).await;
    srv.sign_in(&token(&answer), &cookie.unwrap().1).await;
    let sid = answer["session_id"].as_str().unwrap();
    let (ctype, mp) = multipart(&[("session_id", sid)]);
    for path in ["/session/validate/", "/session/validate"] {
        let answers = [
            client()
                .post(srv.url(path))
                .json(&json!({ "session_id": sid }))
                .send()
                .await
                .unwrap(),
            client()
                .post(srv.url(path))
                .form(&[("session_id", sid)])
                .send()
                .await
                .unwrap(),
            client()
                .post(srv.url(path))
                .header(header::CONTENT_TYPE, &ctype)
                .body(mp.clone())
                .send()
                .await
                .unwrap(),
        ];
        for res in answers {
            assert_eq!(res.status(), StatusCode::OK);
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["status"], "verified", "{body}");
            assert_eq!(body["session_id"], sid);
            assert_eq!(body["app_key"], srv.app_key.as_str());
            assert_eq!(body["user"]["login_name"], "alice");
            assert_eq!(body["user"]["display_name"], "alice");
            assert!(body["user"]["id"].as_str().is_some());
            assert_eq!(body["user"]["email"], Value::Null);
            assert_eq!(body["factors"], json!(["password"]));
            assert_eq!(body["amr"], json!(["pwd"]));
            assert!(body["verified_at"].as_str().is_some());
            assert!(body["expires_at"].as_str().is_some());
            // The handoff session is an ordinary engine session with the same factors.
            let engine_id = body["engine_session_id"].as_str().unwrap();
            let session = srv
                .engine
                .get_session(
                    engine_id,
                    None,
                    &domain::service::Caller::api_key(&domain::service::AuthenticatedKey {
                        id: "login-ui".into(),
                        scopes: vec![domain::model::Scope::SessionAll],
                    }),
                )
                .await
                .unwrap();
            assert!(session.factors.password.is_some());
            assert!(session.factors.user.is_some());
        }
    }
    // ... and the Session API shows it under the app backend's `session_id` too.
    let (_, key) = srv
        .engine
        .create_api_key(
            domain::input::Name::parse("backend").unwrap(),
            vec![domain::model::Scope::Session],
        )
        .await
        .unwrap();
    let res = client()
        .get(srv.url(&format!("/v2/sessions/{sid}")))
        .bearer_auth(key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let got: Value = res.json().await.unwrap();
    let (_, body) = srv.validate(json!({ "session_id": sid })).await;
    assert_eq!(got["session"]["id"], body["engine_session_id"], "{got}");
    assert_eq!(got["session"]["factors"]["user"]["loginName"], "alice");
    assert!(
        got["session"]["factors"]["password"]["verifiedAt"].is_string(),
        "{got}"
    );
    // Without a key the secret opens nothing (and reveals nothing).
    let res = client()
        .get(srv.url(&format!("/v2/sessions/{sid}")))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
    assert_ne!(res.status(), StatusCode::OK);
    // Only the hosted page changes a handoff session: through the Session API even a
    // session_all key reads it but changes and ends nothing (REST and Connect).
    let engine_id = body["engine_session_id"].as_str().unwrap().to_owned();
    let (_, ui) = srv
        .engine
        .create_api_key(
            domain::input::Name::parse("login ui").unwrap(),
            vec![domain::model::Scope::SessionAll],
        )
        .await
        .unwrap();
    let path = format!("/v2/sessions/{engine_id}");
    let res = client()
        .get(srv.url(&path))
        .bearer_auth(ui.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client()
        .patch(srv.url(&path))
        .bearer_auth(ui.expose())
        .json(&json!({"lifetime": "60s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = client()
        .post(srv.url("/zitadel.session.v2.SessionService/SetSession"))
        .header("connect-protocol-version", "1")
        .bearer_auth(ui.expose())
        .json(&json!({"sessionId": engine_id, "lifetime": "60s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    for path in [path.clone(), format!("/v2/sessions/{sid}")] {
        let res = client()
            .delete(srv.url(&path))
            .bearer_auth(ui.expose())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "ending nothing succeeds");
    }
    let (_, after) = srv.validate(json!({ "session_id": sid })).await;
    assert_eq!(after["status"], body["status"], "{after}");
    assert_eq!(after["expires_at"], body["expires_at"], "{after}");
    srv.finish().await;
}

async fn expired_links_and_sessions(backend: Backend) {
    let srv = TestServer::start_with(
        backend,
        |s| s.handoff.link_ttl = Duration::from_secs(1),
        LoginPolicy::default(),
    )
    .await;
    // An unclaimed link expires: its page says so and validate answers "expired".
    let stale = srv.generate(json!({})).await;
    // A claimed link with a one-second session.
    let short = srv.generate(json!({"lifetime": 1})).await;
    let (_, cookie) = claim_link(&link_of(&short)).await;
    let cookie = cookie.unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;

    let (res, set) = open_link(&link_of(&stale), None).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(set.is_none());
    assert!(res.text().await.unwrap().contains("expired"));
    let (status, body) = srv
        .validate(json!({"session_id": stale["session_id"]}))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("expired"))
    );

    let (status, body) = srv
        .validate(json!({"session_id": short["session_id"]}))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("expired"))
    );
    // The claiming browser learns the login ended; its checks are refused.
    let (res, _) = open_link(&link_of(&short), Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("ended"));
    let step = srv.act(&token(&short), &cookie.1, password_action()).await;
    assert_eq!(step.refused.map(|e| e.id()), Some("HANDOFF-End01"));

    // The purge removes the expired unclaimed link (and only it).
    assert_eq!(srv.engine.purge_handoffs().await.unwrap(), 1);
    let (status, _) = srv
        .validate(json!({"session_id": stale["session_id"]}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    srv.finish().await;
}

async fn long_poll_wakes_up_on_a_login_and_times_out(backend: Backend) {
    let srv = Arc::new(TestServer::start(backend).await);
    let answer = srv.generate(json!({})).await;
    let (_, cookie) = claim_link(&link_of(&answer)).await;
    let browser = cookie.unwrap().1;

    // Times out: answers "pending" after the wait (from the query string), not much later.
    let started = Instant::now();
    let res = client()
        .post(srv.url("/session/validate/?wait=1"))
        .json(&json!({"session_id": answer["session_id"]}))
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "pending");
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");

    // Wakes up: a login during the wait is answered at once.
    let poll = {
        let srv = srv.clone();
        let sid = answer["session_id"].clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let res = client()
                .post(srv.url("/session/validate/"))
                .form(&[("session_id", sid.as_str().unwrap()), ("wait", "20")])
                .send()
                .await
                .unwrap();
            (started.elapsed(), res.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    srv.sign_in(&token(&answer), &browser).await;
    let (elapsed, body) = poll.await.unwrap();
    assert_eq!(body["status"], "verified", "{body}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    // Already decided: a wait does not delay the answer.
    let started = Instant::now();
    let (_, body) = srv
        .validate(json!({"session_id": answer["session_id"], "wait": 30}))
        .await;
    assert_eq!(body["status"], "verified");
    assert!(started.elapsed() < Duration::from_secs(2));
    // A wait beyond 30 is capped, not refused.
    let other = srv.generate(json!({})).await;
    let res = client()
        .post(srv.url("/session/validate/?wait=0"))
        .json(&json!({"session_id": other["session_id"], "wait": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the body's wait wins and is capped"
    );
    match Arc::try_unwrap(srv) {
        Ok(srv) => srv.finish().await,
        Err(_) => panic!("server still shared"),
    }
}

async fn rate_limits_answer_429_with_retry_after(backend: Backend) {
    let srv = TestServer::start_with(
        backend,
        |s| {
            s.rate_limits.generate_per_app = Rule {
                limit: 2,
                window_secs: 3600,
            };
            s.rate_limits.generate_per_address = Rule {
                limit: 4,
                window_secs: 3600,
            };
            s.rate_limits.validate_per_app = Rule {
                limit: 3,
                window_secs: 3600,
            };
        },
        LoginPolicy::default(),
    )
    .await;
    let answer = srv.generate(json!({})).await;
    srv.generate(json!({})).await;
    let check_429 = |res: reqwest::Response| async move {
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = res.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "RATE-Lim01");
    };
    // Per app: the third link is refused.
    let res = client()
        .post(srv.url("/session/generate/"))
        .json(&srv.creds())
        .send()
        .await
        .unwrap();
    check_429(res).await;
    // Per address: only failed authentications count (the three correct calls above did not),
    // so the fifth wrong secret is the first one refused.
    for _ in 0..4 {
        let res = client()
            .post(srv.url("/session/generate/"))
            .json(&json!({"app_key": srv.app_key, "app_secret": "guess"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = client()
        .post(srv.url("/session/generate/"))
        .json(&json!({"app_key": srv.app_key, "app_secret": "guess"}))
        .send()
        .await
        .unwrap();
    check_429(res).await;
    // Validate per app.
    for _ in 0..3 {
        let (status, _) = srv
            .validate(json!({"session_id": answer["session_id"]}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let res = client()
        .post(srv.url("/session/validate/"))
        .json(&json!({"session_id": answer["session_id"]}))
        .send()
        .await
        .unwrap();
    check_429(res).await;
    srv.finish().await;
}

async fn apps_may_require_their_secret_on_validate(backend: Backend) {
    let policy = LoginPolicy {
        require_secret_on_validate: true,
        ..LoginPolicy::default()
    };
    let srv = TestServer::start_with(backend, |_| {}, policy).await;
    let answer = srv.generate(json!({})).await;
    let sid = answer["session_id"].clone();
    let (status, body) = srv.validate(json!({"session_id": sid})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("AUTH-App01"))
    );
    let (status, _) = srv
        .validate(json!({"session_id": sid, "app_secret": "wrong"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = srv
        .validate(json!({"session_id": sid, "app_key": srv.app_key, "app_secret": srv.app_secret}))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("pending"))
    );
    srv.finish().await;
}

/// Link, secret and browser hashes of a handoff row.
type HashRow = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);

async fn secrets_are_stored_only_as_hashes(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let answer = srv.generate(json!({})).await;
    let (_, cookie) = claim_link(&link_of(&answer)).await;
    let browser = cookie.unwrap().1;
    let token = token(&answer);
    let sid = answer["session_id"].as_str().unwrap().to_owned();
    let rows: Vec<HashRow> = match &srv.db {
        storage::Database::Sqlite(db) => {
            sqlx::query_as("SELECT link_hash, secret_hash, browser_hash FROM handoffs")
                .fetch_all(db.readers())
                .await
                .unwrap()
        }
        storage::Database::Postgres(pool) => {
            sqlx::query_as("SELECT link_hash, secret_hash, browser_hash FROM handoffs")
                .fetch_all(pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(rows.len(), 1);
    let (link_hash, secret_hash, browser_hash) = rows.into_iter().next().unwrap();
    assert_eq!(link_hash, sha256(token.as_bytes()).to_vec());
    assert_eq!(secret_hash, sha256(sid.as_bytes()).to_vec());
    assert_eq!(browser_hash.unwrap(), sha256(browser.as_bytes()).to_vec());
    if let Backend::Sqlite = backend {
        // Nowhere in the database file (or its write-ahead log) in clear text.
        for file in ["vestibule.db", "vestibule.db-wal"] {
            let bytes = std::fs::read(srv.dir.join("data").join(file)).unwrap_or_default();
            for secret in [&token, &sid, &browser] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{file} holds a secret"
                );
            }
        }
    }
    srv.finish().await;
}

/// The Ziqx documentation's Python example, unchanged but for host and credentials: it
/// generates, the test opens the link as a browser and signs in, and the example validates.
async fn the_seed_python_example_runs_unchanged(backend: Backend) {
    use std::io::{BufRead, BufReader, Write};

    let srv = TestServer::start(backend).await;
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    let python = if std::process::Command::new(&venv)
        .args(["-c", "import requests"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        venv
    } else {
        PathBuf::from("python3")
    };
    let mut child = std::process::Command::new(&python)
        .arg(here.join("run_example.py"))
        .env("VESTIBULE_URL", &srv.base)
        .env("VESTIBULE_APP_KEY", &srv.app_key)
        .env("VESTIBULE_APP_SECRET", &srv.app_secret)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{} with `requests` is needed: {e}", python.display()));
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = next_line(&mut lines_rx).await;
    let link = line.strip_prefix("LINK ").expect(&line).to_owned();
    assert!(
        link.starts_with(&format!("{}/console/session/", srv.base)),
        "{link}"
    );
    // The browser opens the link and the person signs in.
    let (res, cookie) = claim_link(&link).await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = link.rsplit('/').next().unwrap();
    srv.sign_in(token, &cookie.unwrap().1).await;
    writeln!(stdin, "done").unwrap();
    let line = next_line(&mut lines_rx).await;
    let printed: Value =
        serde_json::from_str(line.strip_prefix("VALIDATED ").expect(&line)).unwrap();
    assert_eq!(printed["status"], "verified", "{printed}");
    assert_eq!(printed["user"]["login_name"], "alice");
    assert!(child.wait().unwrap().success());
    srv.finish().await;
}

async fn next_line(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("the example answers in time")
        .expect("the example printed a line")
}

/// One step of the hosted page as its script posts it (200 expected).
async fn post_step(link: &str, cookie: &(String, String, String), fields: &[(&str, &str)]) {
    let (origin, token) = link.split_once("/console/session/").unwrap();
    let mut form = vec![("token", token)];
    form.extend_from_slice(fields);
    let res = client()
        .post(format!("{origin}/console/api/step"))
        .header(header::ACCEPT, "application/json")
        .header(header::ORIGIN, origin)
        .header(header::COOKIE, format!("{}={}", cookie.0, cookie.1))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{fields:?}");
}

/// RFC 7636's example verifier and its S256 challenge (appendix B).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn code_bound_validate_answers_only_to_the_redirects_code(backend: Backend) {
    let policy = LoginPolicy {
        require_code_on_validate: true,
        ..LoginPolicy::default()
    };
    let srv = TestServer::start_with(backend, |_| {}, policy).await;
    let error_of = |(status, body): (StatusCode, Value)| {
        (
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        )
    };
    // Only S256, and only a well-formed challenge.
    for (challenge, method) in [(CHALLENGE, "plain"), (CHALLENGE, ""), ("short", "S256")] {
        let mut body = srv.creds();
        body["code_challenge"] = json!(challenge);
        body["code_challenge_method"] = json!(method);
        let res = client()
            .post(srv.url("/session/generate/"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "{challenge} {method}"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "ARG-Inval1", "{body}");
    }

    // The attacker starts a login at the app and forwards the link: the app backend holds
    // session_id for the attacker's session.
    let state = "cart=1&next=/pay ü";
    let answer = srv
        .generate(json!({
            "state": state,
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
        }))
        .await;
    let sid = answer["session_id"].as_str().unwrap().to_owned();
    let forwarded = link(&answer);
    let alone = json!({ "session_id": sid, "wait": 0 });
    assert_eq!(
        error_of(srv.validate(alone.clone()).await),
        (StatusCode::BAD_REQUEST, "HANDOFF-Cod01".to_owned())
    );

    // The victim opens it and signs in on the hosted page, over HTTP.
    let (page, cookie) = claim_link(&forwarded).await;
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = cookie.unwrap();
    // The name and the password in one form, as a password manager fills the page's form
    // (the name step alone would keep the name in a cookie of its own).
    post_step(
        &forwarded,
        &cookie,
        &[
            ("op", "password"),
            ("login_name", "alice"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let (res, _) = open_link(&forwarded, Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[header::CACHE_CONTROL],
        "no-store",
        "it carries the code"
    );
    // Any other browser (the attacker's, say) gets no redirect and no code.
    let (other, _) = open_link(&forwarded, None).await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    assert!(other.headers().get(header::LOCATION).is_none());
    let location = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{CALLBACK}?code=")),
        "{location}"
    );
    let query: Vec<(String, String)> = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(query.len(), 2, "{location}");
    assert_eq!(query[0].0, "code");
    assert_eq!(query[1], ("state".to_owned(), state.to_owned()));
    let code = query[0].1.clone();

    // session_id alone still gets nothing once the victim is signed in.
    assert_eq!(
        error_of(srv.validate(alone).await),
        (StatusCode::BAD_REQUEST, "HANDOFF-Cod01".to_owned())
    );
    // The code without the verifier, a wrong verifier, a wrong code: refused, never a user.
    let cases = [
        (json!({"session_id": sid, "code": code}), "HANDOFF-Cod01"),
        (
            json!({"session_id": sid, "code": code, "code_verifier": "v".repeat(43)}),
            "HANDOFF-Cod02",
        ),
        (
            json!({"session_id": sid, "code": "A".repeat(43), "code_verifier": VERIFIER}),
            "HANDOFF-Cod02",
        ),
        (
            json!({"session_id": sid, "code": code, "code_verifier": "short"}),
            "ARG-Inval1",
        ),
    ];
    for (body, id) in cases {
        let (status, answer) = srv.validate(body.clone()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(id)),
            "{body}"
        );
        assert!(answer.get("user").is_none());
    }

    // The app's callback presents the code and the verifier (a form post, as from Python).
    let res = client()
        .post(srv.url("/session/validate"))
        .form(&[
            ("session_id", sid.as_str()),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "verified", "{body}");
    assert_eq!(body["user"]["login_name"], "alice");

    // Once only.
    assert_eq!(
        error_of(
            srv.validate(json!({"session_id": sid, "code": code, "code_verifier": VERIFIER}))
                .await
        ),
        (StatusCode::BAD_REQUEST, "HANDOFF-Cod02".to_owned())
    );
    srv.finish().await;
}

//! Raw response headers: `Cache-Control: no-store` on every answer that carries a session
//! token, a login link, a code or a secret (whichever door: the handoff, the hosted page, the
//! Session API over REST and Connect, the admin API), and HSTS on every answer when the public
//! URL is https, never when it is http.

mod common;

use domain::{
    input::{LoginName, Name, NewPassword},
    model::{LoginPolicy, Scope},
    service::{NewApp, NewUser},
};
use reqwest::{header, redirect::Policy, Client, Method, StatusCode};
use serde_json::{json, Value};
use server::config::{FileConfig, Overrides, Settings};

const PASSWORD: &str = "correct horse battery";

struct Server {
    base: String,
    /// What browsers see (the Origin header the console's posts must carry).
    public_url: String,
    app_key: String,
    app_secret: String,
    api_key: String,
    admin_key: String,
    dir: std::path::PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start(public_url: Option<&str>) -> Server {
    let dir = common::temp_site_dir("headers");
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let public_url = public_url.map_or_else(|| base.clone(), str::to_owned);
    let over = Overrides {
        listen: Some(format!("127.0.0.1:{port}")),
        public_url: Some(public_url.clone()),
        data_dir: Some(dir.join("data")),
        site_root: Some(dir.join("site")),
        demo: Some(false),
        ..Overrides::default()
    };
    let settings = Settings::resolve(over, FileConfig::default()).unwrap();
    let bound = server::http::bind(settings).await.unwrap();
    let engine = bound.state.engine.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bound.run(async move {
        let _ = stopped.await;
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
            redirect_uris: Vec::new(),
            policy: LoginPolicy::default(),
            branding: Default::default(),
        })
        .await
        .unwrap();
    let (_, api_key) = engine
        .create_api_key(Name::parse("ui").unwrap(), vec![Scope::Session])
        .await
        .unwrap();
    let (_, admin_key) = engine
        .create_api_key(Name::parse("admin").unwrap(), vec![Scope::Admin])
        .await
        .unwrap();
    Server {
        base,
        public_url,
        app_key: app.app_key,
        app_secret: secret.into_inner(),
        api_key: api_key.expose().clone(),
        admin_key: admin_key.expose().clone(),
        dir,
        stop: Some(stop),
    }
}

fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// One answer's status, headers and body.
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// Runs a handoff login, a Session API login over REST and Connect and admin calls that
/// answer secrets: every answer, with a name for each.
async fn every_door(s: &Server) -> Vec<(&'static str, Answer)> {
    let http = client();
    let mut answers = Vec::new();
    let url = |path: &str| format!("{}{path}", s.base);
    // The app handoff and the hosted page.
    let generated = answer(
        http.post(url("/session/generate/"))
            .json(&json!({ "app_key": s.app_key, "app_secret": s.app_secret })),
    )
    .await;
    assert_eq!(generated.status, StatusCode::OK, "{}", generated.body);
    let token = generated.body["token"].as_str().unwrap().to_owned();
    let session_id = generated.body["session_id"].as_str().unwrap().to_owned();
    answers.push(("generate", generated));
    let page = answer(http.get(url(&format!("/console/session/{token}")))).await;
    assert_eq!(page.status, StatusCode::OK);
    let cookie = page
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("vestibule_claim_"))
        .and_then(|v| v.split(';').next())
        .expect("the page view sets the claim cookie")
        .to_owned();
    answers.push(("console page", page));
    for (name, fields) in [
        ("console step begin", vec![("op", "begin")]),
        (
            "console step password",
            vec![
                ("op", "password"),
                ("login_name", "alice"),
                ("password", PASSWORD),
            ],
        ),
    ] {
        let mut form = vec![("token", token.as_str())];
        form.extend(fields);
        let step = answer(
            http.post(url("/console/api/step"))
                .header(header::ACCEPT, "application/json")
                .header(header::ORIGIN, &s.public_url)
                .header(header::COOKIE, &cookie)
                .form(&form),
        )
        .await;
        assert_eq!(step.status, StatusCode::OK, "{name}: {}", step.body);
        answers.push((name, step));
    }
    let validated = answer(
        http.post(url("/session/validate/"))
            .json(&json!({ "session_id": session_id })),
    )
    .await;
    assert_eq!(
        validated.body["status"],
        json!("verified"),
        "{}",
        validated.body
    );
    answers.push(("validate", validated));
    let refused = answer(
        http.post(url("/session/validate/"))
            .json(&json!({ "session_id": "not-a-session" })),
    )
    .await;
    answers.push(("validate refused", refused));
    // The Session API over REST.
    let created = answer(
        http.post(url("/v2/sessions"))
            .bearer_auth(&s.api_key)
            .json(&json!({ "checks": { "user": { "loginName": "alice" } } })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body["sessionToken"].is_string());
    let id = created.body["sessionId"].as_str().unwrap().to_owned();
    answers.push(("REST create session", created));
    let set = answer(
        http.request(Method::PATCH, url(&format!("/v2/sessions/{id}")))
            .bearer_auth(&s.api_key)
            .json(&json!({ "checks": { "password": { "password": PASSWORD } } })),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert!(set.body["sessionToken"].is_string());
    answers.push(("REST set session", set));
    let unauthorized = answer(http.post(url("/v2/sessions")).json(&json!({}))).await;
    answers.push(("REST without a key", unauthorized));
    // The Session API over Connect (JSON).
    let connect = "/zitadel.session.v2.SessionService";
    let created = answer(
        http.post(url(&format!("{connect}/CreateSession")))
            .bearer_auth(&s.api_key)
            .header(header::CONTENT_TYPE, "application/json")
            .body(json!({ "checks": { "user": { "loginName": "alice" } } }).to_string()),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(created.body["sessionToken"].is_string());
    let id = created.body["sessionId"].as_str().unwrap().to_owned();
    answers.push(("Connect create session", created));
    let set = answer(
        http.post(url(&format!("{connect}/SetSession")))
            .bearer_auth(&s.api_key)
            .header(header::CONTENT_TYPE, "application/json")
            .body(
                json!({ "sessionId": id, "checks": { "password": { "password": PASSWORD } } })
                    .to_string(),
            ),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    answers.push(("Connect set session", set));
    // The admin API: a new API key and a new app's secret.
    let key = answer(
        http.post(url("/admin/v1/api-keys"))
            .bearer_auth(&s.admin_key)
            .json(&json!({ "name": "backend", "scopes": ["session"] })),
    )
    .await;
    assert!(key.status.is_success(), "{}", key.body);
    answers.push(("admin create API key", key));
    let app = answer(
        http.post(url("/admin/v1/apps"))
            .bearer_auth(&s.admin_key)
            .json(&json!({ "name": "Other", "redirect_uris": ["https://other.example/cb"] })),
    )
    .await;
    assert!(app.status.is_success(), "{}", app.body);
    answers.push(("admin create app", app));
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_with_tokens_codes_or_secrets_are_no_store_and_https_adds_hsts() {
    let s = start(Some("https://login.example.test")).await;
    for (name, a) in every_door(&s).await {
        assert_eq!(
            a.headers
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{name}"
        );
        assert_eq!(
            a.headers
                .get(header::STRICT_TRANSPORT_SECURITY)
                .and_then(|v| v.to_str().ok()),
            Some("max-age=31536000; includeSubDomains"),
            "{name}"
        );
    }
    // HSTS on every answer, also where caching is allowed: a style sheet, a health probe, a 404.
    let http = client();
    for path in ["/pkg/vestibule.css", "/healthz", "/no/such/page"] {
        let res = http.get(format!("{}{path}", s.base)).send().await.unwrap();
        assert_eq!(
            res.headers()
                .get(header::STRICT_TRANSPORT_SECURITY)
                .and_then(|v| v.to_str().ok()),
            Some(server::http::HSTS),
            "{path}"
        );
    }
    // What sets its own caching keeps it: the style sheet is not made no-store.
    let css = http
        .get(format!("{}/pkg/vestibule.css", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(
        css.headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-cache")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_public_urls_get_no_hsts_but_still_no_store() {
    let s = start(None).await;
    for (name, a) in every_door(&s).await {
        assert_eq!(
            a.headers
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{name}"
        );
        assert!(
            a.headers.get(header::STRICT_TRANSPORT_SECURITY).is_none(),
            "{name}"
        );
    }
    let res = client()
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert!(res
        .headers()
        .get(header::STRICT_TRANSPORT_SECURITY)
        .is_none());
}

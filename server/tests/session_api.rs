//! The Session API v2 over REST and Connect against the real router on a free port, with a fresh
//! database per test: SQLite always, PostgreSQL too when `VESTIBULE_TEST_POSTGRES_URL` is set
//! (each test in its own schema).

use std::{path::PathBuf, sync::Arc, time::Duration};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use domain::{
    input::{Email, LoginName, Name, NewPassword, Phone},
    model::Scope,
    service::NewUser,
    Engine,
};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use server::config::{FileConfig, Overrides, Settings};
use storage::Database;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Srv {
    base: String,
    dir: PathBuf,
    engine: Arc<Engine>,
    db: Database,
    /// A key with the `session` scope.
    key: String,
    key_id: String,
    http: Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    schema: Option<String>,
}

fn postgres_url() -> Option<String> {
    std::env::var("VESTIBULE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

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

impl Srv {
    async fn start(backend: Backend) -> Self {
        let dir = std::env::temp_dir().join(format!("vestibule-api-{}", unique()));
        let site = dir.join("site/pkg");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::write(site.join("vestibule.css"), "body{}").unwrap();
        let mut schema = None;
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let url = postgres_url().expect("VESTIBULE_TEST_POSTGRES_URL");
                let name = format!("api_{}", unique());
                let admin = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                let sep = if url.contains('?') { '&' } else { '?' };
                let url = format!("{url}{sep}options=-c%20search_path%3D{name}");
                schema = Some(name);
                Some(url)
            }
        };
        let over = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.join("data")),
            site_root: Some(dir.join("site")),
            database_url,
            demo: Some(false),
            ..Overrides::default()
        };
        let settings = Settings::resolve(over, FileConfig::default()).unwrap();
        let bound = server::http::bind(settings).await.unwrap();
        assert_eq!(
            bound.state.db.backend(),
            match backend {
                Backend::Sqlite => "sqlite",
                Backend::Postgres => "postgres",
            }
        );
        let base = format!("http://{}", bound.addr);
        let engine = bound.state.engine.clone();
        let db = bound.state.db.clone();
        let (key, bearer) = engine
            .create_api_key(Name::parse("tests").unwrap(), vec![Scope::Session])
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(bound.run(async move {
            let _ = rx.await;
        }));
        Self {
            base,
            dir,
            engine,
            db,
            key: bearer.expose().clone(),
            key_id: key.id,
            http: Client::new(),
            shutdown: Some(tx),
            schema,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn new_key(&self, scopes: Vec<Scope>) -> (String, String) {
        let (key, bearer) = self
            .engine
            .create_api_key(Name::parse("other").unwrap(), scopes)
            .await
            .unwrap();
        (key.id, bearer.expose().clone())
    }

    /// A request with an optional bearer key and JSON body; answers status and JSON body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, value)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(&self.key), Some(body))
            .await
    }

    async fn patch(&self, id: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            Method::PATCH,
            &format!("/v2/sessions/{id}"),
            Some(&self.key),
            Some(body),
        )
        .await
    }

    async fn get(&self, id: &str, token: &str) -> (StatusCode, Value) {
        self.call(
            Method::GET,
            &format!("/v2/sessions/{id}?sessionToken={token}"),
            Some(&self.key),
            None,
        )
        .await
    }

    async fn search(&self, body: Value) -> (StatusCode, Value) {
        self.post("/v2/sessions/search", body).await
    }

    /// A user with a password (and optionally a verified email and phone with codes enabled).
    async fn user(&self, login: &str, password: &str, codes: bool) -> String {
        let mut new = NewUser::named(LoginName::parse(login).unwrap());
        new.password = Some(NewPassword::parse(password.to_owned()).unwrap());
        if codes {
            new.email = Some(Email::parse(format!("{login}@example.com")).unwrap());
            new.email_verified = true;
            new.phone = Some(Phone::parse("+41791234567").unwrap());
            new.phone_verified = true;
        }
        let user = self.engine.create_user(new).await.unwrap();
        if codes {
            self.engine.set_otp_email(&user.id, true).await.unwrap();
            self.engine.set_otp_sms(&user.id, true).await.unwrap();
        }
        user.id
    }

    async fn empty_session(&self, body: Value) -> (String, String) {
        let (status, body) = self.post("/v2/sessions", body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (s(&body["sessionId"]), s(&body["sessionToken"]))
    }

    /// Runs SQL on the server's database (test set-up only).
    async fn sql(&self, statement: &str) {
        match &self.db {
            Database::Sqlite(db) => {
                sqlx::query(statement).execute(db.writer()).await.unwrap();
            }
            Database::Postgres(pool) => {
                sqlx::query(statement).execute(pool).await.unwrap();
            }
        }
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let (Some(name), Some(url)) = (self.schema.take(), postgres_url()) {
            // Dropped from a plain thread: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                        let _ = sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE"))
                            .execute(&pool)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// Asserts the contract's error shape, code, id and status.
#[track_caller]
fn assert_error(res: &(StatusCode, Value), status: u16, code: i64, id: &str) {
    let (st, body) = res;
    assert_eq!(st.as_u16(), status, "{body}");
    assert_eq!(body["code"], json!(code), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.ends_with(&format!("({id})")), "{body}");
    let details = body["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{body}");
    assert_eq!(details[0]["id"], json!(id), "{body}");
    assert!(details[0]["message"].is_string(), "{body}");
    let t = details[0]["@type"].as_str().unwrap();
    assert!(
        t == "type.googleapis.com/zitadel.v1.ErrorDetail"
            || t == "type.googleapis.com/zitadel.v1.CredentialsCheckError",
        "{body}"
    );
}

fn is_rfc3339(v: &Value) -> bool {
    v.as_str().is_some_and(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_ok()
            && t.ends_with('Z')
    })
}

fn b64(text: &str) -> String {
    STANDARD.encode(text)
}

macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if super::postgres_url().is_none() {
                    eprintln!("VESTIBULE_TEST_POSTGRES_URL is not set: skipped");
                    return;
                }
                super::$name(super::Backend::Postgres).await
            })+
        }
    };
}

both_backends!(
    create_get_set_delete,
    token_rotates_on_every_change,
    failed_checks_count_and_keep_the_token,
    ordering_rules,
    user_errors,
    lifetime_and_expiry,
    metadata_add_and_delete,
    list_queries,
    authentication,
    malformed_requests,
    code_challenges,
    seed_requests,
    connect_protocol,
    connect_client_round_trip,
    sessions_end_and_belong_to_their_key,
);

const PW: &str = "correct horse 1";

async fn create_get_set_delete(b: Backend) {
    let srv = Srv::start(b).await;
    let user_id = srv.user("ada", PW, false).await;

    // Create with snake_case names (as seed 002 writes them).
    let (st, created) = srv
        .post(
            "/v2/sessions",
            json!({"checks": {"user": {"login_name": "ADA"}, "password": {"password": PW}},
                   "user_agent": {"ip": "192.168.1.100", "description": "Firefox",
                                  "fingerprint_id": "fp-1", "header": {"accept-language": {"values": ["de"]}}},
                   "lifetime": "28800s"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert!(created["details"]["sequence"].is_string(), "{created}");
    assert!(is_rfc3339(&created["details"]["changeDate"]), "{created}");
    assert!(created["details"]["resourceOwner"].is_string());
    assert!(created.get("challenges").is_none(), "{created}");
    let id = s(&created["sessionId"]);
    let token = s(&created["sessionToken"]);
    assert!(token.len() >= 43, "256-bit token");

    // Get: factors, user agent, lifetime.
    let (st, got) = srv.get(&id, &token).await;
    assert_eq!(st, StatusCode::OK, "{got}");
    let session = &got["session"];
    assert_eq!(session["id"], json!(id));
    assert!(is_rfc3339(&session["creationDate"]) && is_rfc3339(&session["changeDate"]));
    assert!(session["sequence"].is_string());
    let user = &session["factors"]["user"];
    assert_eq!(user["id"], json!(user_id));
    assert_eq!(user["loginName"], json!("ada"));
    assert_eq!(user["displayName"], json!("ada"));
    assert_eq!(user["organizationId"], created["details"]["resourceOwner"]);
    assert!(is_rfc3339(&user["verifiedAt"]));
    assert!(is_rfc3339(&session["factors"]["password"]["verifiedAt"]));
    for absent in [
        "totp",
        "otpSms",
        "otpEmail",
        "webAuthN",
        "intent",
        "recoveryCode",
    ] {
        assert!(session["factors"].get(absent).is_none(), "{absent}: {got}");
    }
    assert!(session.get("metadata").is_none(), "{got}");
    assert_eq!(
        session["userAgent"],
        json!({"fingerprintId": "fp-1", "ip": "192.168.1.100", "description": "Firefox",
               "header": {"accept-language": {"values": ["de"]}}})
    );
    assert!(is_rfc3339(&session["expirationDate"]));

    // Set (PATCH) with camelCase: re-check the password; a new token comes back.
    let (st, set) = srv
        .patch(&id, json!({"checks": {"password": {"password": PW}}}))
        .await;
    assert_eq!(st, StatusCode::OK, "{set}");
    let token2 = s(&set["sessionToken"]);
    assert_ne!(token2, token);
    assert!(set["details"]["sequence"].is_string());
    let seq = |v: &Value| s(&v["details"]["sequence"]).parse::<i64>().unwrap();
    assert!(seq(&set) > seq(&created));

    // The same under /v2beta and /v2alpha.
    for prefix in ["/v2beta", "/v2alpha"] {
        let (st, got) = srv
            .call(
                Method::GET,
                &format!("{prefix}/sessions/{id}?session_token={token2}"),
                Some(&srv.key),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{prefix}: {got}");
        assert_eq!(got["session"]["id"], json!(id));
    }

    // Delete with the token in the body.
    let (st, del) = srv
        .call(
            Method::DELETE,
            &format!("/v2/sessions/{id}"),
            Some(&srv.key),
            Some(json!({"sessionToken": token2})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{del}");
    assert!(del["details"]["sequence"].is_string());
    // Deleting again succeeds and changes nothing; changing it now is refused.
    let (st, _) = srv
        .call(
            Method::DELETE,
            &format!("/v2/sessions/{id}"),
            Some(&srv.key),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let res = srv.patch(&id, json!({"metadata": {"k": b64("v")}})).await;
    assert_error(&res, 400, 9, "COMMAND-Hewfq");
    // A session nobody knows.
    let res = srv.get("nope", "x").await;
    assert_error(&res, 404, 5, "QUERY-Sess0n");

    // A session without checks has no factors at all.
    let (id, token) = srv.empty_session(json!({})).await;
    let (_, got) = srv.get(&id, &token).await;
    assert!(got["session"].get("factors").is_none(), "{got}");
    assert!(got["session"].get("expirationDate").is_none(), "{got}");
}

async fn token_rotates_on_every_change(b: Backend) {
    let srv = Srv::start(b).await;
    srv.user("bob", PW, true).await;
    let (id, t0) = srv.empty_session(json!({})).await;
    let mut old = vec![t0.clone()];
    let mut current = t0;
    let changes = [
        json!({"checks": {"user": {"loginName": "bob"}}}),
        json!({"checks": {"password": {"password": PW}}}),
        json!({"metadata": {"a": b64("1")}}),
        json!({"lifetime": "3600s"}),
        json!({"challenges": {"otpEmail": {"returnCode": {}}}}),
    ];
    for change in changes {
        let (st, body) = srv.patch(&id, change.clone()).await;
        assert_eq!(st, StatusCode::OK, "{change}: {body}");
        let new = s(&body["sessionToken"]);
        assert!(!old.contains(&new), "a fresh token each time");
        old.push(current.clone());
        current = new;
        for stale in &old {
            let res = srv.get(&id, stale).await;
            assert_error(&res, 403, 7, "QUERY-dsfr3");
        }
        let (st, _) = srv.get(&id, &current).await;
        assert_eq!(st, StatusCode::OK);
    }
    // A request that changes nothing returns no token, and the current one stays valid.
    let (st, body) = srv.patch(&id, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body.get("sessionToken").is_none(), "{body}");
    assert_eq!(srv.get(&id, &current).await.0, StatusCode::OK);
    // Delete refuses an old token (command side), accepts the newest.
    let res = srv
        .call(
            Method::DELETE,
            &format!("/v2/sessions/{id}"),
            Some(&srv.key),
            Some(json!({"sessionToken": old[1]})),
        )
        .await;
    assert_error(&res, 403, 7, "COMMAND-sGr42");
    let (st, _) = srv
        .call(
            Method::DELETE,
            &format!("/v2/sessions/{id}"),
            Some(&srv.key),
            Some(json!({"session_token": current})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
}

async fn failed_checks_count_and_keep_the_token(b: Backend) {
    let srv = Srv::start(b).await;
    srv.user("cy", PW, false).await;
    let (id, token) = srv
        .empty_session(json!({"checks": {"user": {"loginName": "cy"}}}))
        .await;
    for n in 1..=5 {
        let res = srv
            .patch(&id, json!({"checks": {"password": {"password": "wrong"}}}))
            .await;
        assert_error(&res, 400, 3, "COMMAND-3M0fs");
        let detail = &res.1["details"][0];
        assert_eq!(
            detail["@type"],
            json!("type.googleapis.com/zitadel.v1.CredentialsCheckError")
        );
        assert_eq!(detail["failedAttempts"], json!(n), "{}", res.1);
        assert_eq!(
            res.1["message"],
            json!("Password is invalid (COMMAND-3M0fs)")
        );
        // The failure rotated nothing.
        assert_eq!(srv.get(&id, &token).await.0, StatusCode::OK);
    }
    // Locked now, even with the right password.
    let res = srv
        .patch(&id, json!({"checks": {"password": {"password": PW}}}))
        .await;
    assert_error(&res, 400, 9, "COMMAND-JLK35");
    // A create with a failing check creates nothing.
    let (_, list) = srv.search(json!({})).await;
    assert_eq!(list["details"]["totalResult"], json!("1"), "{list}");
}

async fn ordering_rules(b: Backend) {
    let srv = Srv::start(b).await;
    srv.user("dee", PW, true).await;
    srv.user("eve", PW, false).await;
    // A password needs a user.
    let res = srv
        .post(
            "/v2/sessions",
            json!({"checks": {"password": {"password": PW}}}),
        )
        .await;
    assert_error(&res, 400, 9, "COMMAND-Sfw3f");
    // Code challenges need a user too.
    let res = srv
        .post(
            "/v2/sessions",
            json!({"challenges": {"otpEmail": {"returnCode": {}}}}),
        )
        .await;
    assert_error(&res, 400, 9, "COMMAND-JK3gp");
    let res = srv
        .post(
            "/v2/sessions",
            json!({"challenges": {"otpSms": {"returnCode": true}}}),
        )
        .await;
    assert_error(&res, 400, 9, "COMMAND-JKL3g");
    // Field order in JSON does not matter: password first still runs after the user check.
    let (st, body) = srv
        .post(
            "/v2/sessions",
            json!({"checks": {"password": {"password": PW}, "user": {"loginName": "dee"}}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let id = s(&body["sessionId"]);
    // The same user again is fine; another user is not.
    let (st, body) = srv
        .patch(&id, json!({"checks": {"user": {"loginName": "dee"}}}))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let res = srv
        .patch(&id, json!({"checks": {"user": {"loginName": "eve"}}}))
        .await;
    assert_error(&res, 400, 3, "SESSION-Uch4n");
    // The first failure stops the request: a wrong password before a valid email code.
    let (st, body) = srv
        .patch(&id, json!({"challenges": {"otpEmail": {"returnCode": {}}}}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let code = s(&body["challenges"]["otpEmail"]);
    let res = srv
        .patch(
            &id,
            json!({"checks": {"otpEmail": {"code": code}, "password": {"password": "wrong"}}}),
        )
        .await;
    assert_error(&res, 400, 3, "COMMAND-3M0fs");
    let token = s(&body["sessionToken"]);
    let (_, got) = srv.get(&id, &token).await;
    assert!(got["session"]["factors"].get("otpEmail").is_none(), "{got}");
    // The code is still usable since the request stopped before it.
    let (st, body) = srv
        .patch(&id, json!({"checks": {"otpEmail": {"code": code}}}))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    // WebAuthn needs a challenge first.
    let res = srv
        .patch(
            &id,
            json!({"checks": {"webAuthN": {"credentialAssertionData": {"id": "x"}}}}),
        )
        .await;
    assert_error(&res, 400, 9, "COMMAND-Ioqu5");
}

async fn user_errors(b: Backend) {
    let srv = Srv::start(b).await;
    let id = srv.user("fay", PW, false).await;
    let res = srv
        .post(
            "/v2/sessions",
            json!({"checks": {"user": {"loginName": "nobody"}}}),
        )
        .await;
    assert_error(&res, 404, 5, "QUERY-Dfbg2");
    assert_eq!(
        res.1["message"],
        json!("User could not be found (QUERY-Dfbg2)")
    );
    let res = srv
        .post(
            "/v2/sessions",
            json!({"checks": {"user": {"userId": "unknown-id"}}}),
        )
        .await;
    assert_error(&res, 404, 5, "QUERY-Dfbg2");
    // No password set.
    let nopw = srv
        .engine
        .create_user(NewUser::named(LoginName::parse("gil").unwrap()))
        .await
        .unwrap();
    let res = srv
        .post(
            "/v2/sessions",
            json!({"checks": {"user": {"userId": nopw.id}, "password": {"password": "x"}}}),
        )
        .await;
    assert_error(&res, 400, 9, "COMMAND-3nJ4t");
    srv.engine.deactivate_user(&id).await.unwrap();
    let res = srv
        .post("/v2/sessions", json!({"checks": {"user": {"userId": id}}}))
        .await;
    assert_error(&res, 400, 9, "SESSION-Gj4ko");
}

async fn lifetime_and_expiry(b: Backend) {
    let srv = Srv::start(b).await;
    let before = time::OffsetDateTime::now_utc();
    let (id, token) = srv.empty_session(json!({"lifetime": "18000s"})).await;
    let (_, got) = srv.get(&id, &token).await;
    let exp = time::OffsetDateTime::parse(
        got["session"]["expirationDate"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let delta = exp - before;
    assert!(
        delta >= time::Duration::seconds(17995) && delta <= time::Duration::seconds(18010),
        "{delta}"
    );
    // A change without lifetime leaves the expiry alone.
    let (_, set) = srv.patch(&id, json!({"metadata": {"k": b64("v")}})).await;
    let token = s(&set["sessionToken"]);
    let (_, got2) = srv.get(&id, &token).await;
    assert_eq!(
        got2["session"]["expirationDate"],
        got["session"]["expirationDate"]
    );
    // Invalid lifetimes.
    for bad in ["0s", "-1s", "999999999999s"] {
        let res = srv.patch(&id, json!({"lifetime": bad})).await;
        assert_error(&res, 400, 3, "COMMAND-asEG4");
    }
    let res = srv.patch(&id, json!({"lifetime": "5 hours"})).await;
    assert_error(&res, 400, 3, "API-Json01");
    // A fractional lifetime slides the expiry; once it passed, changes are refused but the
    // session is still readable.
    let (st, set) = srv.patch(&id, json!({"lifetime": "1.5s"})).await;
    assert_eq!(st, StatusCode::OK, "{set}");
    let token = s(&set["sessionToken"]);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let res = srv.patch(&id, json!({"metadata": {"k": b64("w")}})).await;
    assert_error(&res, 400, 9, "COMMAND-Hkl3d");
    let (st, got) = srv.get(&id, &token).await;
    assert_eq!(st, StatusCode::OK);
    assert!(is_rfc3339(&got["session"]["expirationDate"]));
    // Expired sessions can still be deleted.
    let (st, _) = srv
        .call(
            Method::DELETE,
            &format!("/v2/sessions/{id}"),
            Some(&srv.key),
            Some(json!({"sessionToken": token})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
}

async fn metadata_add_and_delete(b: Backend) {
    let srv = Srv::start(b).await;
    let (id, _) = srv
        .empty_session(json!({"metadata": {"a": b64("one"), "b": b64("two")}}))
        .await;
    let (_, set) = srv
        .patch(&id, json!({"metadata": {"a": "", "c": "dGhyZWU"}}))
        .await;
    let token = s(&set["sessionToken"]);
    let (_, got) = srv.get(&id, &token).await;
    assert_eq!(
        got["session"]["metadata"],
        json!({"b": b64("two"), "c": b64("three")})
    );
    // Same values again: nothing changes, no new token.
    let (st, set) = srv.patch(&id, json!({"metadata": {"b": b64("two")}})).await;
    assert_eq!(st, StatusCode::OK);
    assert!(set.get("sessionToken").is_none(), "{set}");
    let res = srv
        .patch(&id, json!({"metadata": {"x": "!!not base64"}}))
        .await;
    assert_error(&res, 400, 3, "API-Json01");
    let res = srv.patch(&id, json!({"metadata": {"": b64("x")}})).await;
    assert_error(&res, 400, 3, "ARG-Inval1");
}

async fn list_queries(b: Backend) {
    let srv = Srv::start(b).await;
    let u1 = srv.user("hal", PW, false).await;
    let u2 = srv.user("ivy", PW, false).await;
    let (s1, _) = srv
        .empty_session(json!({"checks": {"user": {"userId": u1}},
                              "userAgent": {"fingerprintId": "fp-a"}}))
        .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (s2, t2) = srv
        .empty_session(json!({"checks": {"user": {"userId": u2}}, "lifetime": "60s"}))
        .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (other_id, other_key) = srv.new_key(vec![Scope::Session]).await;
    let (st, created) = srv
        .call(
            Method::POST,
            "/v2/sessions",
            Some(&other_key),
            Some(json!({"lifetime": "7200s"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let s3 = s(&created["sessionId"]);

    // A key reaches the sessions it created; session_all reaches all of them.
    let (_, all_key) = srv.new_key(vec![Scope::SessionAll]).await;
    let search_as = |key: String, body: Value| {
        let srv = &srv;
        async move {
            srv.call(Method::POST, "/v2/sessions/search", Some(&key), Some(body))
                .await
        }
    };
    let search_all = |body: Value| search_as(all_key.clone(), body);
    let ids = |body: &Value| -> Vec<String> {
        body["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| s(&x["id"]))
            .collect()
    };
    let (_, own) = srv.search(json!({})).await;
    assert_eq!(ids(&own), vec![s2.clone(), s1.clone()], "{own}");
    assert_eq!(own["details"]["totalResult"], json!("2"));
    let (_, theirs) = search_as(other_key.clone(), json!({})).await;
    assert_eq!(ids(&theirs), vec![s3.clone()]);
    let (_, none) = srv
        .search(json!({"queries": [{"creatorQuery": {"id": other_id}}]}))
        .await;
    assert_eq!(
        ids(&none),
        Vec::<String>::new(),
        "another key's sessions stay out of reach"
    );
    // Default: newest first, all of them.
    let (st, all) = search_all(json!({})).await;
    assert_eq!(st, StatusCode::OK, "{all}");
    assert_eq!(ids(&all), vec![s3.clone(), s2.clone(), s1.clone()]);
    assert_eq!(all["details"]["totalResult"], json!("3"));
    assert!(all["details"]["processedSequence"].is_string());
    assert!(is_rfc3339(&all["details"]["timestamp"]));
    // Ascending, offset and limit (as strings or numbers), sorting column by name or number.
    let (_, page) = search_all(json!({"query": {"offset": "1", "limit": 1, "asc": true},
                       "sortingColumn": "SESSION_FIELD_NAME_CREATION_DATE"}))
    .await;
    assert_eq!(ids(&page), vec![s2.clone()]);
    assert_eq!(page["details"]["totalResult"], json!("3"));
    let (_, page) = search_all(
        json!({"query": {"offset": 0, "limit": "2", "asc": false}, "sorting_column": 0}),
    )
    .await;
    assert_eq!(ids(&page), vec![s3.clone(), s2.clone()]);
    // ids
    let (_, r) = search_all(
        json!({"queries": [{"idsQuery": {"ids": [s1, s3, "missing"]}}], "query": {"asc": true}}),
    )
    .await;
    assert_eq!(ids(&r), vec![s1.clone(), s3.clone()]);
    // user id
    let (_, r) = search_all(json!({"queries": [{"user_id_query": {"id": u2}}]})).await;
    assert_eq!(ids(&r), vec![s2.clone()]);
    // creation date
    let (_, got) = srv.get(&s2, &t2).await;
    let created2 = got["session"]["creationDate"].clone();
    let (_, r) = search_all(json!({"queries": [{"creationDateQuery": {"creationDate": created2, "method": "TIMESTAMP_QUERY_METHOD_GREATER_OR_EQUALS"}}]}))
        .await;
    assert_eq!(ids(&r), vec![s3.clone(), s2.clone()]);
    let (_, r) = search_all(
        json!({"queries": [{"creationDateQuery": {"creationDate": created2, "method": 3}}]}),
    )
    .await;
    assert_eq!(ids(&r), vec![s1.clone()]);
    // creator: explicit, and empty meaning the caller.
    let (_, r) = search_all(json!({"queries": [{"creatorQuery": {"id": other_id}}]})).await;
    assert_eq!(ids(&r), vec![s3.clone()]);
    let (_, r) = srv.search(json!({"queries": [{"creatorQuery": {}}]})).await;
    assert_eq!(ids(&r), vec![s2.clone(), s1.clone()]);
    assert!(!srv.key_id.is_empty());
    // user agent
    let (_, r) =
        search_all(json!({"queries": [{"userAgentQuery": {"fingerprintId": "fp-a"}}]})).await;
    assert_eq!(ids(&r), vec![s1.clone()]);
    let res = search_all(json!({"queries": [{"userAgentQuery": {}}]})).await;
    assert_error(&res, 400, 3, "API-Json01");
    // expiration date: sessions without one never match.
    let in_an_hour = wire_time(time::OffsetDateTime::now_utc() + time::Duration::hours(1));
    let (_, r) = search_all(json!({"queries": [{"expirationDateQuery": {"expirationDate": in_an_hour, "method": "TIMESTAMP_QUERY_METHOD_LESS"}}]}))
        .await;
    assert_eq!(ids(&r), vec![s2.clone()]);
    let (_, r) = search_all(json!({"queries": [{"expirationDateQuery": {"expirationDate": in_an_hour, "method": "TIMESTAMP_QUERY_METHOD_GREATER"}}]}))
        .await;
    assert_eq!(ids(&r), vec![s3.clone()]);
    // Queries combine with AND.
    let (_, r) = search_all(
        json!({"queries": [{"userIdQuery": {"id": u1}}, {"creatorQuery": {"id": other_id}}]}),
    )
    .await;
    assert_eq!(ids(&r), Vec::<String>::new());
    assert_eq!(r["sessions"], json!([]));
    // Bad queries.
    let res = search_all(json!({"queries": [{"creationDateQuery": {"creationDate": created2, "method": "TIMESTAMP_QUERY_METHOD_SOMETIMES"}}]}))
        .await;
    assert_error(&res, 400, 3, "API-Json01");
    let res = search_all(json!({"sortingColumn": "SESSION_FIELD_NAME_COLOUR"})).await;
    assert_error(&res, 400, 3, "API-Json01");
    let res = search_all(json!({"queries": [{}]})).await;
    assert_error(&res, 400, 3, "API-Json01");
    let res =
        search_all(json!({"queries": [{"idsQuery": {"ids": []}, "userIdQuery": {"id": "x"}}]}))
            .await;
    assert_error(&res, 400, 3, "API-Json01");
    let res = search_all(json!({"query": {"offset": -1}})).await;
    assert_error(&res, 400, 3, "API-Json01");
}

fn wire_time(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn authentication(b: Backend) {
    let srv = Srv::start(b).await;
    let (_, admin_only) = srv.new_key(vec![Scope::Admin]).await;
    let (id, token) = srv.empty_session(json!({})).await;
    let paths: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/v2/sessions".into(), Some(json!({}))),
        (Method::PATCH, format!("/v2/sessions/{id}"), Some(json!({}))),
        (Method::POST, "/v2/sessions/search".into(), Some(json!({}))),
        (Method::GET, format!("/v2/sessions/{id}"), None),
        (Method::DELETE, format!("/v2/sessions/{id}"), None),
        (
            Method::POST,
            "/zitadel.session.v2.SessionService/ListSessions".into(),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in &paths {
        let res = srv.call(method.clone(), path, None, body.clone()).await;
        if path.starts_with("/zitadel") {
            assert_eq!(res.0, StatusCode::UNAUTHORIZED);
            assert_eq!(res.1["code"], json!("unauthenticated"), "{}", res.1);
            continue;
        }
        assert_error(&res, 401, 16, "AUTH-Key00");
        let res = srv
            .call(method.clone(), path, Some("vst_not-a-key"), body.clone())
            .await;
        assert_error(&res, 401, 16, "AUTH-Key01");
        let res = srv
            .call(method.clone(), path, Some(&admin_only), body.clone())
            .await;
        assert_error(&res, 403, 7, "AUTH-Scope1");
    }
    // A revoked key stops working at once.
    let (rid, revoked) = srv.new_key(vec![Scope::Session]).await;
    srv.engine.revoke_api_key(&rid).await.unwrap();
    let res = srv
        .call(
            Method::POST,
            "/v2/sessions/search",
            Some(&revoked),
            Some(json!({})),
        )
        .await;
    assert_error(&res, 401, 16, "AUTH-Key01");
    // The session's own token reads and deletes it without a key.
    let (st, got) = srv
        .call(
            Method::GET,
            &format!("/v2/sessions/{id}?sessionToken={token}"),
            None,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{got}");
    let res = srv
        .call(
            Method::GET,
            &format!("/v2/sessions/{id}?sessionToken=wrong"),
            None,
            None,
        )
        .await;
    assert_error(&res, 403, 7, "QUERY-dsfr3");
    // No existence oracle without a key.
    let res = srv
        .call(
            Method::GET,
            &format!("/v2/sessions/unknown?sessionToken={token}"),
            None,
            None,
        )
        .await;
    assert_error(&res, 403, 7, "QUERY-dsfr3");
    // The token cannot change the session.
    let res = srv
        .call(
            Method::PATCH,
            &format!("/v2/sessions/{id}"),
            None,
            Some(json!({"sessionToken": token, "metadata": {"a": b64("b")}})),
        )
        .await;
    assert_error(&res, 401, 16, "AUTH-Key00");
    let (st, _) = srv
        .call(
            Method::DELETE,
            &format!("/v2/sessions/{id}"),
            None,
            Some(json!({"sessionToken": token})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
}

async fn malformed_requests(b: Backend) {
    let srv = Srv::start(b).await;
    let raw = |body: Vec<u8>, content_type: Option<&'static str>| {
        let mut req = srv
            .http
            .post(srv.url("/v2/sessions"))
            .bearer_auth(&srv.key)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        async move {
            let res = req.send().await.unwrap();
            let st = res.status();
            let text = res.text().await.unwrap();
            (
                st,
                serde_json::from_str::<Value>(&text)
                    .unwrap_or_else(|_| panic!("not JSON ({st}): {text}")),
            )
        }
    };
    let json_ct = Some("application/json");
    for (body, id) in [
        (&b"{"[..], "API-Json01"),
        (b"[]", "API-Json01"),
        (b"null", "API-Json01"),
        (b"{\"checks\": 5}", "API-Json01"),
        (b"{\"checks\": {\"user\": {\"userId\": 7}}}", "API-Json01"),
        (b"{\"lifetime\": 18000}", "API-Json01"),
        (b"{\"metadata\": []}", "API-Json01"),
        (b"{\"challenges\": {\"webAuthN\": {\"domain\": \"x\", \"userVerificationRequirement\": \"USER_VERIFICATION_REQUIREMENT_SOMETIMES\"}}}", "API-Json01"),
        (b"{\"challenges\": {\"webAuthN\": {\"domain\": \"x\", \"userVerificationRequirement\": 0}}}", "API-Json01"),
        (b"{\"challenges\": {\"otpEmail\": {\"sendCode\": {}, \"returnCode\": {}}}}", "API-Json01"),
        (b"{\"challenges\": {\"otpEmail\": {\"sendCode\": {\"urlTemplate\": \"https://x/{{.Nope}}\"}}}}", "COMMAND-Tpl01"),
        (b"{\"checks\": {\"user\": {}}}", "API-Json01"),
        (b"{\"checks\": {\"user\": {\"userId\": \"\"}}}", "ARG-Inval1"),
        (b"{\"checks\": {\"totp\": {\"code\": \"12345\"}}}", "ARG-Inval1"),
        (b"{} trailing", "API-Json01"),
        (b"\xff\xfe", "API-Json01"),
    ] {
        let res = raw(body.to_vec(), json_ct).await;
        assert_error(&res, 400, 3, id);
    }
    // Content type: missing or wrong.
    let res = raw(b"{}".to_vec(), None).await;
    assert_error(&res, 400, 3, "API-Json03");
    let res = raw(b"{}".to_vec(), Some("text/plain")).await;
    assert_error(&res, 400, 3, "API-Json03");
    // Oversized: 2 MiB of JSON.
    let big = format!(
        "{{\"metadata\": {{\"k\": \"{}\"}}}}",
        "A".repeat(2 * 1024 * 1024)
    );
    let res = raw(big.into_bytes(), json_ct).await;
    assert_error(&res, 400, 3, "API-Json02");
    // Oversized without a length header (chunked transfer encoding).
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let key = srv.key.clone();
    let reply = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        let head = format!(
            "POST /v2/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).unwrap();
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..40 {
            if tcp.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).is_err()
                || tcp.write_all(&chunk).is_err()
                || tcp.write_all(b"\r\n").is_err()
            {
                break;
            }
        }
        let _ = tcp.write_all(b"0\r\n\r\n");
        let mut out = String::new();
        let _ = tcp.read_to_string(&mut out);
        out
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("API-Json02"), "{reply}");
    // Too long ids and tokens.
    let long = "x".repeat(201);
    let res = srv.get(&long, "t").await;
    assert_error(&res, 400, 3, "API-Json01");
    let res = srv.get("abc", &long).await;
    assert_error(&res, 400, 3, "API-Json01");
    // Wrong method on an API path.
    let res = srv
        .http
        .put(srv.url("/v2/sessions/abc"))
        .bearer_auth(&srv.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["details"][0]["id"], json!("API-Method1"), "{body}");
}

async fn code_challenges(b: Backend) {
    let srv = Srv::start(b).await;
    srv.user("jo", PW, true).await;
    srv.user("kim", PW, false).await;
    let (id, _) = srv
        .empty_session(json!({"checks": {"user": {"loginName": "jo"}}}))
        .await;
    let (st, body) = srv
        .patch(
            &id,
            json!({"challenges": {"otp_sms": {"return_code": true}, "otp_email": {"return_code": {}}}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let sms = s(&body["challenges"]["otpSms"]);
    let email = s(&body["challenges"]["otpEmail"]);
    let res = srv
        .patch(&id, json!({"checks": {"otpSms": {"code": "000000x"}}}))
        .await;
    assert_error(&res, 400, 3, "COMMAND-8isk3");
    let (st, body) = srv
        .patch(
            &id,
            json!({"checks": {"otpSms": {"code": sms}, "otpEmail": {"code": email}}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let token = s(&body["sessionToken"]);
    let (_, got) = srv.get(&id, &token).await;
    let f = &got["session"]["factors"];
    assert!(
        is_rfc3339(&f["otpSms"]["verifiedAt"]) && is_rfc3339(&f["otpEmail"]["verifiedAt"]),
        "{got}"
    );
    assert!(f.get("password").is_none());
    // Codes are single use.
    let res = srv
        .patch(&id, json!({"checks": {"otpSms": {"code": sms}}}))
        .await;
    assert_error(&res, 400, 9, "COMMAND-Cnoc1");
    // A send-code email challenge (the code goes out, not back).
    let (id2, _) = srv
        .empty_session(json!({"checks": {"user": {"loginName": "jo"}},
            "challenges": {"otpEmail": {"sendCode": {"urlTemplate": "https://login.example.com/otp?code={{.Code}}&user={{.UserID}}"}}}}))
        .await;
    assert!(!id2.is_empty());
    // A user without the factor.
    let (id3, _) = srv
        .empty_session(json!({"checks": {"user": {"loginName": "kim"}}}))
        .await;
    let res = srv
        .patch(
            &id3,
            json!({"challenges": {"otpEmail": {"returnCode": {}}}}),
        )
        .await;
    assert_error(&res, 400, 9, "COMMAND-JKLJ3");
    let res = srv.patch(&id3, json!({"challenges": {"otpSms": {}}})).await;
    assert_error(&res, 400, 9, "COMMAND-BJ2g3");
}

async fn seed_requests(b: Backend) {
    let srv = Srv::start(b).await;
    // Seed 002: the curl request as written, host and bearer replaced.
    srv.user("user@example.com", "MySecurePassword123!", false)
        .await;
    let body = r#"{
    "checks": {
      "user": {
        "login_name": "user@example.com"
      },
      "password": {
        "password": "MySecurePassword123!"
      }
    },
    "user_agent": {
      "ip": "192.168.1.100",
      "description": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
    },
    "lifetime": "28800s"
  }"#;
    let res = srv
        .http
        .post(srv.url("/v2/sessions"))
        .header("Authorization", format!("Bearer {}", srv.key))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert!(created["details"]["sequence"].is_string(), "{created}");
    assert!(created["details"]["changeDate"].is_string());
    assert!(created["details"]["resourceOwner"].is_string());
    assert!(created["sessionId"].is_string() && created["sessionToken"].is_string());

    // Seed 001 against /v2alpha/sessions: the user named by both id and login name.
    let uid = srv.user("mini@mouse.com", "V3ryS3cure!", false).await;
    srv.sql(&format!(
        "UPDATE users SET id = 'd654e6ba-70a3-48ef-a95d-37c8d8a7901a' WHERE id = '{uid}'"
    ))
    .await;
    let body = r#"{
"checks": {
"user": {
"userId": "d654e6ba-70a3-48ef-a95d-37c8d8a7901a",
"loginName": "mini@mouse.com"
},
"password": {
"password": "V3ryS3cure!"
}
},
"metadata": {}
}"#;
    let send = |body: &'static str| {
        srv.http
            .post(srv.url("/v2alpha/sessions"))
            .header("Authorization", format!("Bearer {}", srv.key))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(body)
            .send()
    };
    let res = send(body).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let id = s(&created["sessionId"]);
    let token = s(&created["sessionToken"]);
    let (_, got) = srv.get(&id, &token).await;
    assert_eq!(
        got["session"]["factors"]["user"]["id"],
        json!("d654e6ba-70a3-48ef-a95d-37c8d8a7901a")
    );
    assert!(got["session"]["factors"]["password"]["verifiedAt"].is_string());
    // An id and a login name of different users do not match anybody.
    srv.user("other@mouse.com", "V3ryS3cure!", false).await;
    let res = send(
        r#"{"checks": {"user": {"userId": "d654e6ba-70a3-48ef-a95d-37c8d8a7901a", "loginName": "other@mouse.com"}}}"#,
    )
    .await
    .unwrap();
    let st = res.status();
    let body: Value = res.json().await.unwrap();
    assert_error(&(st, body), 404, 5, "QUERY-Dfbg2");
}

/// Connect's unary JSON protocol, by hand (the real client runs in `scripts/connect-client`).
async fn connect_protocol(b: Backend) {
    let srv = Srv::start(b).await;
    srv.user("lou", PW, false).await;
    let connect = |service: &str, method: &str, body: Value, key: Option<String>| {
        let mut req = srv
            .http
            .post(srv.url(&format!("/{service}/{method}")))
            .header("connect-protocol-version", "1")
            .json(&body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    for service in [
        "zitadel.session.v2.SessionService",
        "zitadel.session.v2beta.SessionService",
    ] {
        let key = Some(srv.key.clone());
        let (st, created) = connect(
            service,
            "CreateSession",
            json!({"checks": {"user": {"loginName": "lou"}}}),
            key.clone(),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{created}");
        let id = s(&created["sessionId"]);
        let (st, set) = connect(
            service,
            "SetSession",
            json!({"sessionId": id, "checks": {"password": {"password": PW}}}),
            key.clone(),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{set}");
        let token = s(&set["sessionToken"]);
        let (st, got) = connect(
            service,
            "GetSession",
            json!({"sessionId": id, "sessionToken": token}),
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{got}");
        assert!(got["session"]["factors"]["password"].is_object());
        let (st, list) = connect(
            service,
            "ListSessions",
            json!({"queries": [{"idsQuery": {"ids": [id]}}]}),
            key.clone(),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{list}");
        assert_eq!(list["details"]["totalResult"], json!("1"));
        // Errors in Connect's shape.
        let (st, err) = connect(
            service,
            "SetSession",
            json!({"sessionId": id, "checks": {"password": {"password": "nope"}}}),
            key.clone(),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert_eq!(err["code"], json!("invalid_argument"), "{err}");
        assert_eq!(err["message"], json!("Password is invalid (COMMAND-3M0fs)"));
        assert_eq!(
            err["details"][0]["type"],
            json!("zitadel.v1.CredentialsCheckError")
        );
        assert!(err["details"][0]["value"].is_string());
        assert_eq!(err["details"][0]["debug"]["failedAttempts"], json!(1));
        let (st, err) = connect(
            service,
            "GetSession",
            json!({"sessionId": "missing"}),
            key.clone(),
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{err}");
        assert_eq!(err["code"], json!("not_found"));
        let (st, del) = connect(
            service,
            "DeleteSession",
            json!({"sessionId": id, "sessionToken": token}),
            key.clone(),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{del}");
        assert!(del["details"]["sequence"].is_string());
    }
    // Malformed JSON, an unknown codec and bytes that are not protobuf.
    let res = srv
        .http
        .post(srv.url("/zitadel.session.v2.SessionService/CreateSession"))
        .bearer_auth(&srv.key)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["code"], json!("invalid_argument"), "{err}");
    let res = srv
        .http
        .post(srv.url("/zitadel.session.v2.SessionService/CreateSession"))
        .bearer_auth(&srv.key)
        .header("content-type", "application/xml")
        .body(vec![0u8; 0])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        res.headers()["accept-post"],
        "application/json, application/proto"
    );
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["code"], json!("unimplemented"), "{err}");
    let res = srv
        .http
        .post(srv.url("/zitadel.session.v2.SessionService/CreateSession"))
        .bearer_auth(&srv.key)
        .header("content-type", "application/proto")
        .body(vec![0x0a, 0x05, 0x01])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["code"], json!("invalid_argument"), "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("API-Json01"),
        "{err}"
    );
    // A key without the scope.
    let (_, admin_only) = srv.new_key(vec![Scope::Admin]).await;
    let (st, err) = connect(
        "zitadel.session.v2.SessionService",
        "CreateSession",
        json!({}),
        Some(admin_only),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(err["code"], json!("permission_denied"));
}

/// A real Connect client (connect-es with ZITADEL's published protos from npm) calls every
/// method of both packages: `scripts/connect-client/roundtrip.mjs`.
async fn connect_client_round_trip(b: Backend) {
    let srv = Srv::start(b).await;
    srv.user("Nia", PW, false).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/connect-client");
    if !dir.join("node_modules/@zitadel/proto").exists() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is needed for the Connect client test");
        assert!(status.success(), "npm ci in {}", dir.display());
    }
    let mut node = std::process::Command::new("node");
    node.arg("roundtrip.mjs")
        .current_dir(&dir)
        .env("VESTIBULE_URL", &srv.base)
        .env("VESTIBULE_API_KEY", &srv.key)
        .env("VESTIBULE_LOGIN", "nia")
        .env("VESTIBULE_PASSWORD", PW);
    // The server runs on this runtime; the client process is waited for on a blocking thread.
    let out = tokio::task::spawn_blocking(move || node.output())
        .await
        .unwrap()
        .expect("node is needed for the Connect client test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("connect round trip: all methods passed"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("ok: ").count(), 2 * 19, "{stdout}");
}

/// Logging out ends the session for every reader, and a key reaches only the sessions it made:
/// another key's session answers exactly like an unknown id (REST and Connect), `session_all`
/// reaches both, and no lifetime beyond the configured maximum is accepted.
async fn sessions_end_and_belong_to_their_key(b: Backend) {
    let srv = Srv::start(b).await;
    srv.user("kim", PW, false).await;
    let (_, other) = srv.new_key(vec![Scope::Session]).await;
    let (_, login_ui) = srv.new_key(vec![Scope::SessionAll]).await;
    let (st, created) = srv
        .post(
            "/v2/sessions",
            json!({"checks": {"user": {"loginName": "kim"}, "password": {"password": PW}}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let id = s(&created["sessionId"]);
    let token = s(&created["sessionToken"]);
    let connect = |method: &str, key: &str, body: Value| {
        let req = srv
            .http
            .post(srv.url(&format!("/zitadel.session.v2.SessionService/{method}")))
            .header("connect-protocol-version", "1")
            .bearer_auth(key)
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let raw = |method: Method, path: String, key: String, body: Option<Value>| {
        let mut req = srv.http.request(method, srv.url(&path)).bearer_auth(key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };

    // The other key: the same bytes as for an id nobody knows.
    let unknown = "0123456789abcdef0123456789abcdef".to_owned();
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"metadata": {"k": b64("v")}}))),
    ] {
        let mine = raw(
            method.clone(),
            format!("/v2/sessions/{id}"),
            other.clone(),
            body.clone(),
        )
        .await;
        let none = raw(
            method.clone(),
            format!("/v2/sessions/{unknown}"),
            other.clone(),
            body,
        )
        .await;
        assert_eq!(mine.0, StatusCode::NOT_FOUND, "{method} {}", mine.1);
        assert_eq!(
            mine, none,
            "{method}: another key's session must look unknown"
        );
    }
    let mine = connect("GetSession", &other, json!({"sessionId": id})).await;
    let none = connect("GetSession", &other, json!({"sessionId": unknown})).await;
    assert_eq!(mine.0, StatusCode::NOT_FOUND, "{}", mine.1);
    assert!(
        mine.1.contains("not_found") && mine.1.contains("QUERY-Sess0n"),
        "{}",
        mine.1
    );
    assert_eq!(mine, none);
    let mine = connect(
        "SetSession",
        &other,
        json!({"sessionId": id, "metadata": {"k": b64("v")}}),
    )
    .await;
    let none = connect(
        "SetSession",
        &other,
        json!({"sessionId": unknown, "metadata": {"k": b64("v")}}),
    )
    .await;
    assert_eq!(mine, none);
    let (st, del) = srv
        .call(
            Method::DELETE,
            &format!("/v2/sessions/{id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(
        (st, del["details"]["sequence"].clone()),
        (StatusCode::OK, json!("0")),
        "{del}"
    );
    let (st, got) = srv.get(&id, &token).await;
    assert_eq!(st, StatusCode::OK, "still there for its key: {got}");

    // A trusted login UI reaches it; nobody extends it beyond the maximum.
    let (st, got) = srv
        .call(
            Method::GET,
            &format!("/v2/sessions/{id}"),
            Some(&login_ui),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{got}");
    let res = srv.patch(&id, json!({"lifetime": "315360000s"})).await;
    assert_error(&res, 400, 3, "COMMAND-asEG4");
    let (st, changed) = srv
        .call(
            Method::PATCH,
            &format!("/v2/sessions/{id}"),
            Some(&login_ui),
            Some(json!({"lifetime": "3600s"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{changed}");

    // Logged out: gone for every reader, over REST and Connect, and from searches.
    let (st, _) = srv
        .call(
            Method::DELETE,
            &format!("/v2/sessions/{id}"),
            Some(&srv.key),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    for key in [&srv.key, &login_ui] {
        let (st, body) = srv
            .call(Method::GET, &format!("/v2/sessions/{id}"), Some(key), None)
            .await;
        assert_error(&(st, body), 404, 5, "QUERY-Sess0n");
        let (st, body) = connect("GetSession", key, json!({"sessionId": id})).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    }
    let (st, body) = srv
        .call(
            Method::GET,
            &format!("/v2/sessions/{id}?sessionToken={token}"),
            None,
            None,
        )
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "its own token reads nothing either: {body}"
    );
    let (_, found) = srv
        .search(json!({"queries": [{"idsQuery": {"ids": [id]}}]}))
        .await;
    assert_eq!(found["details"]["totalResult"], json!("0"), "{found}");
    let (st, _) = srv
        .call(
            Method::DELETE,
            &format!("/v2/sessions/{id}"),
            Some(&srv.key),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "ending it again succeeds");
}

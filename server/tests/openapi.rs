//! The OpenAPI document at `/openapi.json`: it validates as OpenAPI 3.1, it lists exactly the
//! routes the server serves (and each listed route answers), and real answers of every
//! documented kind validate against the schemas it gives for them.
//!
//! Validation runs `tests/python/openapi_check.py` (openapi-spec-validator and jsonschema)
//! with the Python of `.tools/venv` (scripts/bootstrap.sh installs them there) or
//! `VESTIBULE_TEST_PYTHON`.

#[macro_use]
mod common;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use common::{Backend, TestServer};
use domain::model::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use server::{
    config::{FileConfig, RateLimits},
    ratelimit::Rule,
};

both_backends!(answers_match_the_document);

const PW: &str = "correct horse 1";

/// The Python with the validator: `VESTIBULE_TEST_PYTHON`, else the bootstrap venv.
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("VESTIBULE_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    let has = |py: &Path| {
        std::process::Command::new(py)
            .args([
                "-c",
                "import openapi_spec_validator, jsonschema, referencing",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has(&venv) {
        return venv;
    }
    let system = PathBuf::from("python3");
    assert!(
        has(&system),
        "no Python with openapi-spec-validator: run scripts/bootstrap.sh or set VESTIBULE_TEST_PYTHON"
    );
    system
}

/// Runs the checker on the document (and recorded answers); panics with its report.
fn check(doc: &Value, samples: Option<&Value>) -> String {
    let dir = std::env::temp_dir().join(format!(
        "vestibule-openapi-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("openapi.json");
    std::fs::write(&spec, doc.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/openapi_check.py");
    let mut cmd = std::process::Command::new(python());
    cmd.arg(script).arg(&spec);
    if let Some(samples) = samples {
        let file = dir.join("samples.json");
        std::fs::write(&file, samples.to_string()).unwrap();
        cmd.arg(file);
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    report
}

async fn fetch_document(srv: &TestServer) -> Value {
    let res = srv.http.get(srv.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    res.json().await.unwrap()
}

fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.insert(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_is_valid_openapi_3_1() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let doc = fetch_document(&srv).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    // utoipa's own model reads it back, schema by schema and path by path first (so a
    // failure names the part).
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        serde_json::from_value::<utoipa::openapi::RefOr<utoipa::openapi::Schema>>(schema.clone())
            .unwrap_or_else(|e| panic!("schema {name}: {e}: {schema}"));
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        serde_json::from_value::<utoipa::openapi::PathItem>(item.clone())
            .unwrap_or_else(|e| panic!("path {path}: {e}"));
    }
    // The app policy documents the code-bound validate mode.
    let code_mode =
        &doc["components"]["schemas"]["Policy"]["properties"]["require_code_on_validate"];
    assert_eq!(code_mode["type"], "boolean", "{code_mode}");
    assert!(
        code_mode["description"]
            .as_str()
            .is_some_and(|d| d.contains("single-use `code`")),
        "{code_mode}"
    );
    let parsed: utoipa::openapi::OpenApi = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(
        parsed.paths.paths.len(),
        doc["paths"].as_object().unwrap().len()
    );
    // Every reference points at a schema the document has.
    let mut all = BTreeSet::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} is missing"
        );
    }
    // Every operation has an id (unique) and at least one answer.
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}"));
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(!op["responses"].as_object().unwrap().is_empty());
        }
    }
    // The official 3.1 meta-schema.
    let report = check(&doc, None);
    assert!(report.contains("document valid"), "{report}");
}

/// `(METHOD, path)` of every operation in the served document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_route_is_documented_and_every_documented_route_is_served() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let doc = fetch_document(&srv).await;
    let documented = documented(&doc);
    // The routes the server serves: the admin router's (built from the same annotations as its
    // paths) and the table built from the constants the other routers use.
    let admin = server::api::admin::router().into_openapi();
    let mut served: BTreeSet<(String, String)> = server::api::openapi::operations(&admin)
        .into_iter()
        .collect();
    served.extend(server::api::openapi::non_admin_routes());
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    assert!(
        extra.is_empty(),
        "documented but not in the route table: {extra:?}"
    );
    // The last 5: WebAuthn credential administration (admin_webauthn.rs).
    assert_eq!(documented.len(), 25 + 15 + 10 + 4 + 3 + 5);

    // Each documented operation reaches a handler: never 405, and a 404 only from a handler
    // (JSON in the API's shape), not the router's fallback page.
    for (method, path) in &documented {
        let concrete = path.replace("{session_id}", "x").replace("{user_id}", "x");
        let concrete = concrete
            .replace("{app_id}", "x")
            .replace("{key_id}", "x")
            .replace("{kind}", "totp")
            .replace("{credential_id}", "x");
        assert!(!concrete.contains('{'), "{concrete}");
        let (st, headers, body) = srv
            .send(
                Method::from_bytes(method.as_bytes()).unwrap(),
                &concrete,
                Some(&srv.admin_key),
                Some(json!({})),
            )
            .await;
        assert_ne!(st, StatusCode::METHOD_NOT_ALLOWED, "{method} {concrete}");
        assert_eq!(
            headers["content-type"], "application/json",
            "{method} {concrete}: {st}"
        );
        if st == StatusCode::NOT_FOUND {
            assert!(
                body.get("code").is_some() || body.get("error").is_some(),
                "{method} {concrete}: {body}"
            );
        }
    }
    // On every documented path, exactly the documented methods are served: any other method is
    // a 405, so a method added to a known path without its documentation shows up here.
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        let concrete = path
            .replace("{session_id}", "x")
            .replace("{user_id}", "x")
            .replace("{app_id}", "x")
            .replace("{key_id}", "x")
            .replace("{kind}", "totp")
            .replace("{credential_id}", "x");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let (st, _, _) = srv
                .send(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &concrete,
                    Some(&srv.admin_key),
                    Some(json!({})),
                )
                .await;
            let is_documented = documented.contains(&(method.to_owned(), path.clone()));
            assert_eq!(
                st != StatusCode::METHOD_NOT_ALLOWED,
                is_documented,
                "{method} {concrete}: {st}"
            );
        }
    }
    // And a path nobody serves is the fallback's.
    let res = srv
        .http
        .post(srv.url("/admin/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// Records answers with their documented path template.
struct Recorder<'a> {
    srv: &'a TestServer,
    samples: Vec<Value>,
}

impl Recorder<'_> {
    async fn call(
        &mut self,
        method: Method,
        template: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (st, _, value) = self.srv.send(method.clone(), path, key, body).await;
        self.samples.push(json!({
            "method": method.as_str(), "path": template, "status": st.as_u16(), "body": value,
        }));
        (st, value)
    }

    async fn admin(
        &mut self,
        method: Method,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let key = self.srv.admin_key.clone();
        self.call(
            method,
            &format!("/admin/v1{template}"),
            &format!("/admin/v1{path}"),
            Some(&key),
            body,
        )
        .await
    }

    async fn raw(&mut self, template: &str, path: &str, content_type: &str, body: &str) {
        let res = self
            .srv
            .http
            .post(self.srv.url(path))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let st = res.status();
        let value: Value = res.json().await.unwrap();
        self.samples.push(json!({
            "method": "POST", "path": template, "status": st.as_u16(), "body": value,
        }));
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("{v}")).to_owned()
}

async fn answers_match_the_document(b: Backend) {
    let srv = TestServer::start(b).await;
    let doc = fetch_document(&srv).await;
    let mut r = Recorder {
        srv: &srv,
        samples: Vec::new(),
    };
    let (_, session_key) = srv.new_key(vec![Scope::Session]).await;
    let sk = Some(session_key.as_str());
    let p = Method::POST;

    // ----- admin -----
    let (_, user) = r
        .admin(
            p.clone(),
            "/users",
            "/users",
            Some(
                json!({"login_name": "ada", "password": PW, "email": "ada@example.com",
                        "email_verified": true}),
            ),
        )
        .await;
    let uid = s(&user["id"]);
    let u = |rest: &str| format!("/users/{uid}{rest}");
    let t = |rest: &str| format!("/users/{{user_id}}{rest}");
    r.admin(
        p.clone(),
        "/users",
        "/users",
        Some(json!({"login_name": "ADA"})),
    )
    .await;
    r.admin(
        p.clone(),
        "/users",
        "/users",
        Some(json!({"login_name": ""})),
    )
    .await;
    r.admin(Method::GET, "/users", "/users", None).await;
    r.admin(Method::GET, "/users", "/users?limit=x", None).await;
    r.admin(Method::GET, &t(""), &u(""), None).await;
    r.admin(Method::GET, &t(""), "/users/nope", None).await;
    r.admin(
        Method::PATCH,
        &t(""),
        &u(""),
        Some(json!({"display_name": "Ada", "phone": "+41791234567"})),
    )
    .await;
    r.admin(Method::PATCH, &t(""), &u(""), Some(json!({"email": "x"})))
        .await;
    r.admin(p.clone(), &t("/deactivate"), &u("/deactivate"), None)
        .await;
    r.admin(p.clone(), &t("/reactivate"), &u("/reactivate"), None)
        .await;
    r.admin(p.clone(), &t("/unlock"), &u("/unlock"), None).await;
    r.admin(
        Method::PUT,
        &t("/password"),
        &u("/password"),
        Some(json!({"password": PW})),
    )
    .await;
    r.admin(p.clone(), &t("/totp"), &u("/totp"), None).await;
    r.admin(
        p.clone(),
        &t("/totp/verify"),
        &u("/totp/verify"),
        Some(json!({"code": "12345"})),
    )
    .await;
    r.admin(
        Method::PUT,
        &t("/otp-email"),
        &u("/otp-email"),
        Some(json!({"enabled": true})),
    )
    .await;
    r.admin(
        Method::PUT,
        &t("/otp-sms"),
        &u("/otp-sms"),
        Some(json!({"enabled": true})),
    )
    .await;
    r.admin(
        p.clone(),
        &t("/recovery-codes"),
        &u("/recovery-codes"),
        None,
    )
    .await;
    r.admin(Method::GET, &t("/factors"), &u("/factors"), None)
        .await;
    r.admin(
        Method::DELETE,
        &t("/factors/{kind}"),
        &u("/factors/totp"),
        None,
    )
    .await;
    r.admin(
        Method::DELETE,
        &t("/factors/{kind}"),
        &u("/factors/passkey"),
        None,
    )
    .await;
    let (_, app) = r
        .admin(
            p.clone(),
            "/apps",
            "/apps",
            Some(
                json!({"name": "Shop", "redirect_uris": ["https://shop.example/cb"],
                        "branding": {"primary_color": "#123456"}}),
            ),
        )
        .await;
    let app_id = s(&app["app"]["id"]);
    let app_key = s(&app["app"]["app_key"]);
    let a = |rest: &str| format!("/apps/{app_id}{rest}");
    r.admin(
        p.clone(),
        "/apps",
        "/apps",
        Some(json!({"name": "x", "policy": {}})),
    )
    .await;
    r.admin(Method::GET, "/apps", "/apps", None).await;
    r.admin(Method::GET, "/apps/{app_id}", &a(""), None).await;
    r.admin(
        Method::PATCH,
        "/apps/{app_id}",
        &a(""),
        Some(json!({"policy": {"require_secret_on_validate": false}})),
    )
    .await;
    let (_, rotated) = r
        .admin(
            p.clone(),
            "/apps/{app_id}/rotate-secret",
            &a("/rotate-secret"),
            None,
        )
        .await;
    let app_secret = s(&rotated["app_secret"]);
    let (_, key) = r
        .admin(
            p.clone(),
            "/api-keys",
            "/api-keys",
            Some(json!({"name": "k", "scopes": ["session"]})),
        )
        .await;
    r.admin(
        p.clone(),
        "/api-keys",
        "/api-keys",
        Some(json!({"name": "k", "scopes": []})),
    )
    .await;
    r.admin(Method::GET, "/api-keys", "/api-keys", None).await;
    r.admin(
        Method::DELETE,
        "/api-keys/{key_id}",
        &format!("/api-keys/{}", s(&key["api_key"]["id"])),
        None,
    )
    .await;
    r.call(
        Method::GET,
        "/admin/v1/users",
        "/admin/v1/users",
        None,
        None,
    )
    .await;
    r.call(Method::GET, "/admin/v1/users", "/admin/v1/users", sk, None)
        .await;

    // ----- Session API over REST -----
    let (_, created) = r
        .call(
            p.clone(),
            "/v2/sessions",
            "/v2/sessions",
            sk,
            Some(
                json!({"checks": {"user": {"loginName": "ada"}, "password": {"password": PW}},
                        "metadata": {"k": STANDARD.encode("v")},
                        "challenges": {"otpEmail": {"returnCode": {}}},
                        "userAgent": {"fingerprintId": "f", "header": {"a": {"values": ["b"]}}},
                        "lifetime": "3600s"}),
            ),
        )
        .await;
    let sid = s(&created["sessionId"]);
    let token = s(&created["sessionToken"]);
    let st_ = "/v2/sessions/{session_id}";
    r.call(
        Method::GET,
        st_,
        &format!("/v2/sessions/{sid}?sessionToken={token}"),
        sk,
        None,
    )
    .await;
    let (_, set) = r
        .call(
            Method::PATCH,
            st_,
            &format!("/v2/sessions/{sid}"),
            sk,
            Some(json!({"metadata": {"k": ""}})),
        )
        .await;
    let token = s(&set["sessionToken"]);
    r.call(
        p.clone(),
        "/v2/sessions/search",
        "/v2/sessions/search",
        sk,
        Some(json!({"queries": [{"idsQuery": {"ids": [sid]}}], "query": {"limit": "10"}})),
    )
    .await;
    r.call(
        p.clone(),
        "/v2alpha/sessions",
        "/v2alpha/sessions",
        sk,
        Some(json!({"checks": {"user": {"loginName": "ada"}, "password": {"password": "nope"}}})),
    )
    .await;
    r.call(
        Method::GET,
        "/v2beta/sessions/{session_id}",
        "/v2beta/sessions/nope",
        sk,
        None,
    )
    .await;
    r.call(
        p.clone(),
        "/v2/sessions",
        "/v2/sessions",
        sk,
        Some(json!({"lifetime": 5})),
    )
    .await;
    r.call(
        p.clone(),
        "/v2/sessions",
        "/v2/sessions",
        sk,
        Some(json!({"checks": {"idpIntent": {"idpIntentId": "i", "idpIntentToken": "t"}}})),
    )
    .await;
    r.call(
        Method::DELETE,
        st_,
        &format!("/v2/sessions/{sid}"),
        None,
        Some(json!({"sessionToken": token})),
    )
    .await;
    r.call(
        p.clone(),
        "/v2/sessions",
        "/v2/sessions",
        None,
        Some(json!({})),
    )
    .await;

    // ----- Session API over Connect -----
    let c = |m: &str| format!("/zitadel.session.v2.SessionService/{m}");
    let cb = |m: &str| format!("/zitadel.session.v2beta.SessionService/{m}");
    let (_, cc) = r
        .call(
            p.clone(),
            &c("CreateSession"),
            &c("CreateSession"),
            sk,
            Some(json!({"checks": {"user": {"loginName": "ada"}}})),
        )
        .await;
    let csid = s(&cc["sessionId"]);
    let ctok = s(&cc["sessionToken"]);
    r.call(
        p.clone(),
        &c("GetSession"),
        &c("GetSession"),
        None,
        Some(json!({"sessionId": csid, "sessionToken": ctok})),
    )
    .await;
    r.call(
        p.clone(),
        &cb("ListSessions"),
        &cb("ListSessions"),
        sk,
        Some(json!({})),
    )
    .await;
    r.call(
        p.clone(),
        &c("SetSession"),
        &c("SetSession"),
        sk,
        Some(json!({"sessionId": csid, "metadata": {"x": STANDARD.encode("y")}})),
    )
    .await;
    r.call(
        p.clone(),
        &c("SetSession"),
        &c("SetSession"),
        sk,
        Some(json!({"sessionId": csid, "checks": {"password": {"password": "wrong"}}})),
    )
    .await;
    r.call(
        p.clone(),
        &c("DeleteSession"),
        &c("DeleteSession"),
        sk,
        Some(json!({"sessionId": csid})),
    )
    .await;
    r.call(
        p.clone(),
        &c("GetSession"),
        &c("GetSession"),
        sk,
        Some(json!({"sessionId": "nope"})),
    )
    .await;
    r.raw(
        &c("CreateSession"),
        &c("CreateSession"),
        "application/xml",
        "x",
    )
    .await;

    // ----- app handoff and probes -----
    let generate = "/session/generate/";
    let validate = "/session/validate/";
    let (_, link) = r
        .call(
            p.clone(),
            generate,
            generate,
            None,
            Some(json!({"app_key": app_key, "app_secret": app_secret, "state": "s"})),
        )
        .await;
    r.call(
        p.clone(),
        validate,
        validate,
        None,
        Some(json!({"session_id": s(&link["session_id"])})),
    )
    .await;
    r.call(
        p.clone(),
        "/session/generate",
        "/session/generate",
        None,
        Some(json!({"app_key": app_key, "app_secret": "wrong"})),
    )
    .await;
    r.call(p.clone(), validate, validate, None, Some(json!({})))
        .await;
    r.call(
        p.clone(),
        "/session/validate",
        "/session/validate",
        None,
        Some(json!({"session_id": "nope"})),
    )
    .await;
    r.raw(generate, generate, "text/plain", "app_key=x").await;
    r.call(Method::GET, "/healthz", "/healthz", None, None)
        .await;
    r.call(Method::GET, "/readyz", "/readyz", None, None).await;
    r.call(
        Method::DELETE,
        &format!("/admin/v1{}", t("")),
        &format!("/admin/v1{}", u("")),
        None,
        None,
    )
    .await;
    r.admin(Method::DELETE, &t(""), &u(""), None).await;
    r.admin(Method::DELETE, "/apps/{app_id}", &a(""), None)
        .await;

    // ----- rate limits, on a server with tiny budgets -----
    let one = Rule {
        limit: 1,
        window_secs: 3600,
    };
    let tight = TestServer::start_with(
        b,
        FileConfig {
            rate_limits: Some(RateLimits {
                session_api_per_key: one,
                admin_api_per_key: one,
                ..RateLimits::default()
            }),
            ..FileConfig::default()
        },
    )
    .await;
    let (_, tk) = tight.new_key(vec![Scope::Session]).await;
    let mut r2 = Recorder {
        srv: &tight,
        samples: Vec::new(),
    };
    for _ in 0..2 {
        r2.call(
            p.clone(),
            "/v2/sessions",
            "/v2/sessions",
            Some(&tk),
            Some(json!({})),
        )
        .await;
        r2.call(
            p.clone(),
            &c("ListSessions"),
            &c("ListSessions"),
            Some(&tk),
            Some(json!({})),
        )
        .await;
        r2.admin(Method::GET, "/apps", "/apps", None).await;
    }
    let mut samples = r.samples;
    samples.extend(r2.samples);

    // Every documented status family shows up at least once.
    let statuses: BTreeSet<u64> = samples
        .iter()
        .map(|s| s["status"].as_u64().unwrap())
        .collect();
    for expected in [200, 201, 204, 400, 401, 403, 404, 409, 415, 429, 501] {
        assert!(
            statuses.contains(&expected),
            "no {expected} among {statuses:?}"
        );
    }
    let report = check(&doc, Some(&Value::Array(samples.clone())));
    eprintln!("{report}");
    assert!(
        report.contains(&format!(
            "{} answers checked",
            samples.len() - count_no_body(&samples)
        )),
        "{report}"
    );
}

fn count_no_body(samples: &[Value]) -> usize {
    samples.iter().filter(|s| s["body"].is_null()).count()
}

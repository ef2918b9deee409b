//! The admin API (`/admin/v1`) against the real router on a free port with a fresh database:
//! every route with good and bad input, on SQLite and (when configured) PostgreSQL. Effects
//! are checked through other doors too (the Session API, the app handoff, the engine).

#[macro_use]
mod common;

use common::{assert_error, Backend, TestServer};
use domain::model::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

both_backends!(
    every_route_needs_an_admin_key,
    users,
    user_input_is_validated,
    lock_unlock_and_password,
    factors,
    apps,
    app_input_is_validated,
    api_keys,
);

const PW: &str = "correct horse 1";

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

#[track_caller]
fn no_hashes(v: &Value) {
    let text = v.to_string();
    assert!(!text.contains("hash"), "{text}");
}

/// Every documented admin operation, with `x` for each path parameter.
fn admin_operations() -> Vec<(Method, String)> {
    let doc = server::api::admin::router().into_openapi();
    server::api::openapi::operations(&doc)
        .into_iter()
        .map(|(m, p)| {
            let mut path = String::new();
            let mut in_param = false;
            for c in p.chars() {
                match c {
                    '{' => in_param = true,
                    '}' => {
                        in_param = false;
                        path.push('x');
                    }
                    _ if in_param => {}
                    _ => path.push(c),
                }
            }
            (Method::from_bytes(m.as_bytes()).unwrap(), path)
        })
        .collect()
}

async fn every_route_needs_an_admin_key(b: Backend) {
    let srv = TestServer::start(b).await;
    let (_, session_key) = srv.new_key(vec![Scope::Session]).await;
    let (revoked_id, revoked) = srv.new_key(vec![Scope::Admin]).await;
    srv.engine.revoke_api_key(&revoked_id).await.unwrap();
    let ops = admin_operations();
    // 25 operations plus 5 for WebAuthn credentials (admin_webauthn.rs).
    assert_eq!(ops.len(), 30, "{ops:?}");
    for (method, path) in ops {
        let body = Some(json!({}));
        let (st, _, v) = srv.send(method.clone(), &path, None, body.clone()).await;
        assert_error(&(st, v), 401, 16, "AUTH-Key00");
        let (st, _, v) = srv
            .send(method.clone(), &path, Some("vst_nope"), body.clone())
            .await;
        assert_error(&(st, v), 401, 16, "AUTH-Key01");
        let (st, _, v) = srv
            .send(method.clone(), &path, Some(&revoked), body.clone())
            .await;
        assert_error(&(st, v), 401, 16, "AUTH-Key01");
        let (st, headers, v) = srv
            .send(method.clone(), &path, Some(&session_key), body)
            .await;
        assert_error(&(st, v), 403, 7, "AUTH-Scope1");
        assert_eq!(headers["cache-control"], "no-store", "{method} {path}");
    }
}

async fn create(srv: &TestServer, body: Value) -> Value {
    let (st, user) = srv.admin(Method::POST, "/users", Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{user}");
    user
}

async fn users(b: Backend) {
    let srv = TestServer::start(b).await;
    let ada = create(
        &srv,
        json!({"login_name": "ada", "password": PW, "display_name": "Ada L.",
               "email": "ada@example.com", "email_verified": true, "phone": "+41791234567",
               "preferred_language": "de-CH"}),
    )
    .await;
    no_hashes(&ada);
    let id = s(&ada["id"]);
    assert_eq!(ada["login_name"], "ada");
    assert_eq!(ada["display_name"], "Ada L.");
    assert_eq!(ada["email_verified"], true);
    assert_eq!(ada["phone_verified"], false);
    assert_eq!(ada["preferred_language"], "de-CH");
    assert_eq!(ada["state"], "active");
    assert_eq!(ada["password_set"], true);
    assert_eq!(ada["totp"], "none");
    assert_eq!(ada["locked_until"], Value::Null);
    let bob = create(&srv, json!({"login_name": "bob"})).await;
    assert_eq!(bob["display_name"], "bob");
    assert_eq!(bob["password_set"], false);
    assert_eq!(bob["email"], Value::Null);

    // Login names are unique in any letter case.
    let res = srv
        .admin(Method::POST, "/users", Some(json!({"login_name": "ADA"})))
        .await;
    assert_error(&res, 409, 6, "COMMAND-Dup01");

    // Get.
    let (st, got) = srv.admin(Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got, ada);
    let res = srv.admin(Method::GET, "/users/nope", None).await;
    assert_error(&res, 404, 5, "QUERY-Dfbg2");
    let res = srv
        .admin(Method::GET, &format!("/users/{}", "x".repeat(201)), None)
        .await;
    assert_error(&res, 400, 3, "ARG-Inval1");

    // List, page, find by login name.
    let (st, list) = srv.admin(Method::GET, "/users", None).await;
    assert_eq!(st, StatusCode::OK);
    let names: Vec<String> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| s(&u["login_name"]))
        .collect();
    assert_eq!(names, ["ada", "bob"]);
    let (_, page) = srv
        .admin(Method::GET, "/users?offset=1&limit=1", None)
        .await;
    assert_eq!(page["users"].as_array().unwrap().len(), 1);
    assert_eq!(page["users"][0]["login_name"], "bob");
    let (_, found) = srv.admin(Method::GET, "/users?login_name=BOB", None).await;
    assert_eq!(found["users"][0]["id"], bob["id"]);
    let (_, none) = srv.admin(Method::GET, "/users?login_name=zed", None).await;
    assert_eq!(none["users"], json!([]));
    let res = srv.admin(Method::GET, "/users?limit=many", None).await;
    assert_error(&res, 400, 3, "API-Param1");
    let res = srv.admin(Method::GET, "/users?offset=-1", None).await;
    assert_error(&res, 400, 3, "API-Param1");

    // Update: a new email is unverified again; null clears; verified flags.
    let (st, upd) = srv
        .admin(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(
                json!({"display_name": "Ada", "email": "ada@new.example", "phone": null,
                        "preferred_language": null}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{upd}");
    assert_eq!(upd["display_name"], "Ada");
    assert_eq!(upd["email"], "ada@new.example");
    assert_eq!(upd["email_verified"], false);
    assert_eq!(upd["phone"], Value::Null);
    assert_eq!(upd["preferred_language"], Value::Null);
    assert_eq!(upd["login_name"], "ada");
    let (_, upd) = srv
        .admin(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({"email_verified": true, "login_name": "ada.l"})),
        )
        .await;
    assert_eq!(upd["email_verified"], true);
    assert_eq!(upd["login_name"], "ada.l");
    let (st, same) = srv
        .admin(Method::PATCH, &format!("/users/{id}"), Some(json!({})))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(same["login_name"], "ada.l");
    let res = srv
        .admin(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({"login_name": "Bob"})),
        )
        .await;
    assert_error(&res, 409, 6, "COMMAND-Dup01");
    let res = srv
        .admin(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({"phone_verified": true})),
        )
        .await;
    assert_error(&res, 400, 3, "ARG-Inval1");
    // A request that fails leaves nothing of itself behind.
    let res = srv
        .admin(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({"display_name": "Half", "email": null, "email_verified": true})),
        )
        .await;
    assert_error(&res, 400, 3, "ARG-Inval1");
    let (_, unchanged) = srv.admin(Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!(unchanged["display_name"], "Ada");
    assert_eq!(unchanged["email"], "ada@new.example");
    let res = srv
        .admin(
            Method::PATCH,
            "/users/nope",
            Some(json!({"display_name": "x"})),
        )
        .await;
    assert_error(&res, 404, 5, "QUERY-Dfbg2");

    // Deactivate: the Session API refuses the user; reactivate lets them in again.
    let (_, session_key) = srv.new_key(vec![Scope::Session]).await;
    let check = json!({"checks": {"user": {"loginName": "ada.l"}}});
    let (st, d) = srv
        .admin(Method::POST, &format!("/users/{id}/deactivate"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(d["state"], "inactive");
    let (st, _, v) = srv
        .send(
            Method::POST,
            "/v2/sessions",
            Some(&session_key),
            Some(check.clone()),
        )
        .await;
    assert_error(&(st, v), 400, 9, "SESSION-Gj4ko");
    let (st, r) = srv
        .admin(Method::POST, &format!("/users/{id}/reactivate"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(r["state"], "active");
    let (st, _, v) = srv
        .send(
            Method::POST,
            "/v2/sessions",
            Some(&session_key),
            Some(check),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    for action in ["deactivate", "reactivate", "unlock"] {
        let res = srv
            .admin(Method::POST, &format!("/users/nope/{action}"), None)
            .await;
        assert_error(&res, 404, 5, "QUERY-Dfbg2");
    }

    // Delete.
    let (st, body) = srv
        .admin(Method::DELETE, &format!("/users/{id}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    let res = srv.admin(Method::GET, &format!("/users/{id}"), None).await;
    assert_error(&res, 404, 5, "QUERY-Dfbg2");
    let res = srv
        .admin(Method::DELETE, &format!("/users/{id}"), None)
        .await;
    assert_error(&res, 404, 5, "QUERY-Dfbg2");
}

async fn user_input_is_validated(b: Backend) {
    let srv = TestServer::start(b).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "API-Json01"),
        (json!({"login_name": 5}), "API-Json01"),
        (json!({"login_name": "a", "loginname": "b"}), "API-Json01"),
        (
            json!({"login_name": "a", "email_verified": "yes"}),
            "API-Json01",
        ),
        (json!({"login_name": ""}), "ARG-Inval1"),
        (json!({"login_name": "x".repeat(201)}), "ARG-Inval1"),
        (json!({"login_name": "a\u{0}b"}), "ARG-Inval1"),
        (
            json!({"login_name": "a", "password": "short"}),
            "ARG-Inval1",
        ),
        (
            json!({"login_name": "a", "password": "p".repeat(201)}),
            "ARG-Inval1",
        ),
        (
            json!({"login_name": "a", "email": "not-an-email"}),
            "ARG-Inval1",
        ),
        (
            json!({"login_name": "a", "phone": "0791234567"}),
            "ARG-Inval1",
        ),
        (json!({"login_name": "a", "display_name": ""}), "ARG-Inval1"),
        (
            json!({"login_name": "a", "preferred_language": "d e"}),
            "ARG-Inval1",
        ),
    ];
    for (body, id) in cases {
        let res = srv.admin(Method::POST, "/users", Some(body.clone())).await;
        assert_error(&res, 400, 3, id);
    }
    // Raw bodies: malformed JSON, another content type, too large.
    let raw = |body: &'static str, content_type: &'static str| {
        srv.http
            .post(srv.url("/admin/v1/users"))
            .bearer_auth(&srv.admin_key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, ct, id) in [
        ("{", "application/json", "API-Json01"),
        ("[]", "application/json", "API-Json01"),
        (
            "login_name=a",
            "application/x-www-form-urlencoded",
            "API-Json03",
        ),
    ] {
        let res = raw(body, ct).await.unwrap();
        let st = res.status();
        let v: Value = res.json().await.unwrap();
        assert_error(&(st, v), 400, 3, id);
    }
    let big = format!("{{\"login_name\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let res = srv
        .http
        .post(srv.url("/admin/v1/users"))
        .bearer_auth(&srv.admin_key)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let st = res.status();
    let v: Value = res.json().await.unwrap();
    assert_error(&(st, v), 400, 3, "API-Json02");
    // Nothing was created by any of these.
    let (_, list) = srv.admin(Method::GET, "/users", None).await;
    assert_eq!(list["users"], json!([]));

    // PATCH refuses the same bad values and changes nothing.
    let user = create(&srv, json!({"login_name": "cy", "email": "cy@example.com"})).await;
    let path = format!("/users/{}", s(&user["id"]));
    for (body, id) in [
        (json!({"email": "nope"}), "ARG-Inval1"),
        (json!({"display_name": "ok", "phone": "+1"}), "ARG-Inval1"),
        (json!({"login_name": ""}), "ARG-Inval1"),
        (json!({"state": "inactive"}), "API-Json01"),
        (json!({"email": 3}), "API-Json01"),
    ] {
        let res = srv.admin(Method::PATCH, &path, Some(body)).await;
        assert_error(&res, 400, 3, id);
    }
    let (_, after) = srv.admin(Method::GET, &path, None).await;
    assert_eq!(after, user);
}

async fn lock_unlock_and_password(b: Backend) {
    let srv = TestServer::start(b).await;
    let user = create(&srv, json!({"login_name": "dee", "password": PW})).await;
    let id = s(&user["id"]);
    let (_, session_key) = srv.new_key(vec![Scope::Session]).await;
    let login = |password: &str| json!({"checks": {"user": {"loginName": "dee"}, "password": {"password": password}}});
    for _ in 0..5 {
        let (st, _, _) = srv
            .send(
                Method::POST,
                "/v2/sessions",
                Some(&session_key),
                Some(login("wrong password")),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
    }
    let (_, locked) = srv.admin(Method::GET, &format!("/users/{id}"), None).await;
    assert!(locked["locked_until"].is_string(), "{locked}");
    assert_eq!(locked["failed_password_attempts"], 5);
    let (st, _, v) = srv
        .send(
            Method::POST,
            "/v2/sessions",
            Some(&session_key),
            Some(login(PW)),
        )
        .await;
    assert_error(&(st, v), 400, 9, "COMMAND-JLK35");

    let (st, unlocked) = srv
        .admin(Method::POST, &format!("/users/{id}/unlock"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(unlocked["locked_until"], Value::Null);
    assert_eq!(unlocked["failed_password_attempts"], 0);
    let (st, _, v) = srv
        .send(
            Method::POST,
            "/v2/sessions",
            Some(&session_key),
            Some(login(PW)),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");

    // A new password replaces the old one.
    let new_pw = "a much newer password";
    let (st, body) = srv
        .admin(
            Method::PUT,
            &format!("/users/{id}/password"),
            Some(json!({"password": new_pw})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let (st, _, _) = srv
        .send(
            Method::POST,
            "/v2/sessions",
            Some(&session_key),
            Some(login(PW)),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _, v) = srv
        .send(
            Method::POST,
            "/v2/sessions",
            Some(&session_key),
            Some(login(new_pw)),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    for (body, id_) in [
        (json!({"password": "short"}), "ARG-Inval1"),
        (json!({}), "API-Json01"),
        (json!({"password": 12345678}), "API-Json01"),
    ] {
        let res = srv
            .admin(Method::PUT, &format!("/users/{id}/password"), Some(body))
            .await;
        assert_error(&res, 400, 3, id_);
    }
    let res = srv
        .admin(
            Method::PUT,
            "/users/nope/password",
            Some(json!({"password": new_pw})),
        )
        .await;
    assert_error(&res, 404, 5, "QUERY-Dfbg2");
}

/// Decodes RFC 4648 base32 without padding.
fn base32(text: &str) -> Vec<u8> {
    let mut bits = 0u64;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {text}"),
        };
        bits = (bits << 5) | u64::from(v);
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

async fn factors(b: Backend) {
    let srv = TestServer::start(b).await;
    let user = create(
        &srv,
        json!({"login_name": "eve", "password": PW, "email": "eve@example.com",
               "phone": "+41791234567"}),
    )
    .await;
    let id = s(&user["id"]);
    let u = |rest: &str| format!("/users/{id}{rest}");
    let (st, f) = srv.admin(Method::GET, &u("/factors"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        f,
        json!({"factors": ["password"], "recovery_codes_left": 0})
    );

    // TOTP: finishing before starting, then start, a wrong and a malformed code, the right one.
    let res = srv
        .admin(
            Method::POST,
            &u("/totp/verify"),
            Some(json!({"code": "123456"})),
        )
        .await;
    assert_error(&res, 400, 9, "COMMAND-Tnr01");
    let (st, started) = srv.admin(Method::POST, &u("/totp"), None).await;
    assert_eq!(st, StatusCode::CREATED, "{started}");
    let secret = s(&started["secret"]);
    assert!(s(&started["uri"]).starts_with("otpauth://totp/"));
    assert!(s(&started["uri"]).contains(&secret));
    assert!(s(&started["qr_svg"]).contains("<svg"));
    let (_, pending) = srv.admin(Method::GET, &u(""), None).await;
    assert_eq!(pending["totp"], "pending");
    let now = time::OffsetDateTime::now_utc();
    let code = domain::totp::code_at(&base32(&secret), now);
    let wrong = format!(
        "{:06}",
        (code.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    let res = srv
        .admin(
            Method::POST,
            &u("/totp/verify"),
            Some(json!({"code": wrong})),
        )
        .await;
    assert_error(&res, 400, 3, "COMMAND-8isk2");
    for (body, err) in [
        (json!({"code": "12345"}), "ARG-Inval1"),
        (json!({"code": 123456}), "API-Json01"),
        (json!({}), "API-Json01"),
    ] {
        let res = srv
            .admin(Method::POST, &u("/totp/verify"), Some(body))
            .await;
        assert_error(&res, 400, 3, err);
    }
    let (st, f) = srv
        .admin(
            Method::POST,
            &u("/totp/verify"),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(f["factors"], json!(["password", "totp"]));
    let (_, confirmed) = srv.admin(Method::GET, &u(""), None).await;
    assert_eq!(confirmed["totp"], "confirmed");
    let res = srv.admin(Method::POST, "/users/nope/totp", None).await;
    assert_error(&res, 404, 5, "QUERY-Dfbg2");

    // Codes by email and SMS need a verified address.
    for (kind, flag, factor) in [
        ("otp-email", "email_verified", "otp_email"),
        ("otp-sms", "phone_verified", "otp_sms"),
    ] {
        let res = srv
            .admin(
                Method::PUT,
                &u(&format!("/{kind}")),
                Some(json!({"enabled": true})),
            )
            .await;
        assert_error(&res, 400, 9, "COMMAND-Vrf01");
        let verify: Value = serde_json::from_str(&format!("{{\"{flag}\": true}}")).unwrap();
        srv.admin(Method::PATCH, &u(""), Some(verify)).await;
        let (st, f) = srv
            .admin(
                Method::PUT,
                &u(&format!("/{kind}")),
                Some(json!({"enabled": true})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{f}");
        assert!(
            f["factors"].as_array().unwrap().contains(&json!(factor)),
            "{f}"
        );
        let res = srv
            .admin(
                Method::PUT,
                &u(&format!("/{kind}")),
                Some(json!({"enabled": "yes"})),
            )
            .await;
        assert_error(&res, 400, 3, "API-Json01");
        let res = srv
            .admin(
                Method::PUT,
                &format!("/users/nope/{kind}"),
                Some(json!({"enabled": false})),
            )
            .await;
        assert_error(&res, 404, 5, "QUERY-Dfbg2");
    }
    let (st, f) = srv
        .admin(Method::PUT, &u("/otp-sms"), Some(json!({"enabled": false})))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(f["factors"], json!(["password", "totp", "otp_email"]));

    // Recovery codes: ten, distinct, shown once; a new set replaces the old one.
    let (st, codes) = srv.admin(Method::POST, &u("/recovery-codes"), None).await;
    assert_eq!(st, StatusCode::CREATED);
    let list: Vec<String> = codes["codes"].as_array().unwrap().iter().map(s).collect();
    assert_eq!(list.len(), 10);
    let distinct: std::collections::BTreeSet<_> = list.iter().collect();
    assert_eq!(distinct.len(), 10);
    let (_, again) = srv.admin(Method::POST, &u("/recovery-codes"), None).await;
    assert_ne!(again["codes"][0], codes["codes"][0]);
    let (_, f) = srv.admin(Method::GET, &u("/factors"), None).await;
    assert_eq!(f["recovery_codes_left"], 10);
    assert!(f["factors"]
        .as_array()
        .unwrap()
        .contains(&json!("recovery_code")));
    let res = srv
        .admin(Method::POST, "/users/nope/recovery-codes", None)
        .await;
    assert_error(&res, 404, 5, "QUERY-Dfbg2");
    let res = srv.admin(Method::GET, "/users/nope/factors", None).await;
    assert_error(&res, 404, 5, "QUERY-Dfbg2");

    // Removing factors.
    for kind in ["totp", "recovery_code", "otp_email", "password"] {
        let (st, body) = srv
            .admin(Method::DELETE, &u(&format!("/factors/{kind}")), None)
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{kind}: {body}");
    }
    let (_, f) = srv.admin(Method::GET, &u("/factors"), None).await;
    assert_eq!(f, json!({"factors": [], "recovery_codes_left": 0}));
    let (_, after) = srv.admin(Method::GET, &u(""), None).await;
    assert_eq!(after["password_set"], false);
    assert_eq!(after["totp"], "none");
    let res = srv.admin(Method::DELETE, &u("/factors/sms"), None).await;
    assert_error(&res, 400, 3, "API-Param1");
    let res = srv
        .admin(Method::DELETE, &u("/factors/passkey"), None)
        .await;
    // 501 while the engine has no WebAuthn; once it has, removing no passkeys is fine.
    if res.0 != StatusCode::NO_CONTENT {
        assert_error(&res, 501, 12, "SESSION-Wan00");
    }
    let res = srv
        .admin(Method::DELETE, "/users/nope/factors/totp", None)
        .await;
    assert_error(&res, 404, 5, "QUERY-Dfbg2");
}

async fn generate(srv: &TestServer, app_key: &str, secret: &str) -> StatusCode {
    srv.http
        .post(srv.url("/session/generate/"))
        .json(&json!({"app_key": app_key, "app_secret": secret}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn apps(b: Backend) {
    let srv = TestServer::start(b).await;
    let (st, minimal) = srv
        .admin(Method::POST, "/apps", Some(json!({"name": "Minimal"})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{minimal}");
    no_hashes(&minimal);
    assert_eq!(minimal["app"]["redirect_uris"], json!([]));
    assert_eq!(
        minimal["app"]["policy"],
        json!({"allowed_factors": ["password", "totp", "otp_sms", "otp_email", "recovery_code",
                                   "passkey", "security_key"],
               "require_second_factor": false, "require_secret_on_validate": false,
               "passwordless": false, "require_code_on_validate": false})
    );
    assert_eq!(
        minimal["app"]["branding"],
        json!({"display_name": null, "logo_url": null, "primary_color": null,
               "background_color": null, "home_url": null})
    );
    let (st, full) = srv
        .admin(
            Method::POST,
            "/apps",
            Some(json!({
                "name": "Shop",
                "redirect_uris": ["https://shop.example/cb", "https://shop.example/cb"],
                "policy": {"allowed_factors": ["password", "totp"], "require_second_factor": true},
                "branding": {"display_name": "The Shop", "primary_color": "#AABBCC",
                             "logo_url": "https://shop.example/logo.svg"},
            })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{full}");
    let app = &full["app"];
    let id = s(&app["id"]);
    let app_key = s(&app["app_key"]);
    let secret = s(&full["app_secret"]);
    assert_eq!(app["name"], "Shop");
    assert_eq!(app["redirect_uris"], json!(["https://shop.example/cb"]));
    assert_eq!(
        app["policy"]["allowed_factors"],
        json!(["password", "totp"])
    );
    assert_eq!(app["policy"]["require_second_factor"], true);
    assert_eq!(app["branding"]["primary_color"], "#aabbcc");
    assert_eq!(app["branding"]["background_color"], Value::Null);
    // The secret works for the app handoff.
    assert_eq!(generate(&srv, &app_key, &secret).await, StatusCode::OK);

    // List and get.
    let (st, list) = srv.admin(Method::GET, "/apps", None).await;
    assert_eq!(st, StatusCode::OK);
    no_hashes(&list);
    assert_eq!(list["apps"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&secret));
    let (st, got) = srv.admin(Method::GET, &format!("/apps/{id}"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(&got, app);
    let res = srv.admin(Method::GET, "/apps/nope", None).await;
    assert_error(&res, 404, 5, "QUERY-App01");

    // Update each part; given parts replace the old value whole.
    let (st, upd) = srv
        .admin(
            Method::PATCH,
            &format!("/apps/{id}"),
            Some(
                json!({"name": "Shop 2", "redirect_uris": ["http://localhost:8080/cb"],
                        "policy": {"require_secret_on_validate": true},
                        "branding": {"background_color": "#000000",
                                     "home_url": "http://localhost:8080/"}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{upd}");
    assert_eq!(upd["name"], "Shop 2");
    assert_eq!(upd["redirect_uris"], json!(["http://localhost:8080/cb"]));
    assert_eq!(upd["policy"]["require_secret_on_validate"], true);
    assert_eq!(upd["policy"]["require_second_factor"], false);
    assert_eq!(
        upd["policy"]["allowed_factors"].as_array().unwrap().len(),
        7
    );
    assert_eq!(
        upd["branding"],
        json!({"display_name": null, "logo_url": null, "primary_color": null,
               "background_color": "#000000", "home_url": "http://localhost:8080/"})
    );
    // The way back to the app is a link on a page: a script URL is refused, naming the field.
    let res = srv
        .admin(
            Method::PATCH,
            &format!("/apps/{id}"),
            Some(json!({"branding": {"home_url": "javascript:alert(1)"}})),
        )
        .await;
    assert_error(&res, 400, 3, "ARG-Inval1");
    assert!(res.1.to_string().contains("branding.home_url"), "{}", res.1);
    assert_eq!(upd["app_key"], app["app_key"]);
    // Passwordless takes passkeys among the allowed factors, and is read back as set.
    let res = srv
        .admin(
            Method::PATCH,
            &format!("/apps/{id}"),
            Some(json!({"policy": {"passwordless": true, "allowed_factors": ["password"]}})),
        )
        .await;
    assert_error(&res, 400, 3, "ARG-Inval1");
    let (st, strict) = srv
        .admin(
            Method::PATCH,
            &format!("/apps/{id}"),
            Some(json!({"policy": {"passwordless": true}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{strict}");
    assert_eq!(strict["policy"]["passwordless"], true);
    // The code-bound validate mode needs a redirect URI to carry the code: refused for an app
    // without one, read back where there is one, and the last URI stays while it is on.
    let res = srv
        .admin(
            Method::POST,
            "/apps",
            Some(json!({"name": "Kiosk", "policy": {"require_code_on_validate": true}})),
        )
        .await;
    assert_error(&res, 400, 3, "ARG-Inval1");
    assert!(
        res.1
            .to_string()
            .contains("policy.require_code_on_validate"),
        "{}",
        res.1
    );
    let (st, coded) = srv
        .admin(
            Method::PATCH,
            &format!("/apps/{id}"),
            Some(json!({"policy": {"require_code_on_validate": true}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{coded}");
    assert_eq!(coded["policy"]["require_code_on_validate"], true);
    let res = srv
        .admin(
            Method::PATCH,
            &format!("/apps/{id}"),
            Some(json!({"redirect_uris": []})),
        )
        .await;
    assert_error(&res, 400, 3, "ARG-Inval1");
    assert!(res.1.to_string().contains("redirect_uris"), "{}", res.1);
    let (st, _) = srv
        .admin(
            Method::PATCH,
            &format!("/apps/{id}"),
            Some(json!({"policy": {}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, upd2) = srv
        .admin(
            Method::PATCH,
            &format!("/apps/{id}"),
            Some(json!({"redirect_uris": []})),
        )
        .await;
    assert_eq!(upd2["redirect_uris"], json!([]));
    assert_eq!(upd2["name"], "Shop 2");
    let res = srv
        .admin(Method::PATCH, "/apps/nope", Some(json!({"name": "x"})))
        .await;
    assert_error(&res, 404, 5, "QUERY-App01");

    // Rotating the secret: the old one stops working at once.
    let (st, rotated) = srv
        .admin(Method::POST, &format!("/apps/{id}/rotate-secret"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["id"], json!(id));
    assert_eq!(rotated["app_key"], json!(app_key));
    let new_secret = s(&rotated["app_secret"]);
    assert_ne!(new_secret, secret);
    assert_eq!(
        generate(&srv, &app_key, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(generate(&srv, &app_key, &new_secret).await, StatusCode::OK);
    let res = srv
        .admin(Method::POST, "/apps/nope/rotate-secret", None)
        .await;
    assert_error(&res, 404, 5, "QUERY-App01");

    // Delete.
    let (st, _) = srv
        .admin(Method::DELETE, &format!("/apps/{id}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let res = srv.admin(Method::GET, &format!("/apps/{id}"), None).await;
    assert_error(&res, 404, 5, "QUERY-App01");
    let res = srv
        .admin(Method::DELETE, &format!("/apps/{id}"), None)
        .await;
    assert_error(&res, 404, 5, "QUERY-App01");
    assert_eq!(
        generate(&srv, &app_key, &new_secret).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn app_input_is_validated(b: Backend) {
    let srv = TestServer::start(b).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "API-Json01"),
        (json!({"name": ""}), "ARG-Inval1"),
        (json!({"name": "x".repeat(201)}), "ARG-Inval1"),
        (
            json!({"name": "a", "redirect_uri": "https://a.example"}),
            "API-Json01",
        ),
        (
            json!({"name": "a", "redirect_uris": "https://a.example"}),
            "API-Json01",
        ),
        (
            json!({"name": "a", "redirect_uris": ["ftp://a.example"]}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "redirect_uris": ["/relative"]}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "redirect_uris": ["https://a.example/#frag"]}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "redirect_uris": ["https://u:p@a.example/"]}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "redirect_uris": (0..21).map(|i| format!("https://a.example/{i}")).collect::<Vec<_>>()}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "policy": {"allowed_factors": []}}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "policy": {"allowed_factors": ["totp"]}}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "policy": {"allowed_factors": ["password"], "require_second_factor": true}}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "policy": {"allowed_factors": ["sms"]}}),
            "API-Json01",
        ),
        (
            json!({"name": "a", "policy": {"second_factor": true}}),
            "API-Json01",
        ),
        (
            json!({"name": "a", "branding": {"primary_color": "red"}}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "branding": {"background_color": "#12345"}}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "branding": {"logo_url": "javascript:alert(1)"}}),
            "ARG-Inval1",
        ),
        // The hosted page shows https logos only, so the API stores no other.
        (
            json!({"name": "a", "branding": {"logo_url": "http://shop.example/logo.png"}}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "branding": {"primary_color": "#fff"}}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "branding": {"display_name": ""}}),
            "ARG-Inval1",
        ),
        (
            json!({"name": "a", "branding": {"font": "Comic Sans"}}),
            "API-Json01",
        ),
    ];
    for (body, id) in cases {
        let res = srv.admin(Method::POST, "/apps", Some(body.clone())).await;
        assert_error(&res, 400, 3, id);
    }
    let (_, list) = srv.admin(Method::GET, "/apps", None).await;
    assert_eq!(list["apps"], json!([]));

    let (_, created) = srv
        .admin(Method::POST, "/apps", Some(json!({"name": "Keep"})))
        .await;
    let path = format!("/apps/{}", s(&created["app"]["id"]));
    for (body, id) in [
        (json!({"name": ""}), "ARG-Inval1"),
        (json!({"redirect_uris": ["mailto:a@b"]}), "ARG-Inval1"),
        (json!({"policy": {"allowed_factors": []}}), "ARG-Inval1"),
        (
            json!({"branding": {"primary_color": "#xyzxyz"}}),
            "ARG-Inval1",
        ),
        (json!({"app_key": "mine"}), "API-Json01"),
    ] {
        let res = srv.admin(Method::PATCH, &path, Some(body)).await;
        assert_error(&res, 400, 3, id);
    }
    let (_, after) = srv.admin(Method::GET, &path, None).await;
    assert_eq!(after, created["app"]);
}

async fn api_keys(b: Backend) {
    let srv = TestServer::start(b).await;
    let (st, created) = srv
        .admin(
            Method::POST,
            "/api-keys",
            Some(json!({"name": "login ui", "scopes": ["session", "session"]})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    no_hashes(&created);
    let key = s(&created["key"]);
    let id = s(&created["api_key"]["id"]);
    assert!(key.starts_with("vst_"));
    assert_eq!(created["api_key"]["name"], "login ui");
    assert_eq!(created["api_key"]["scopes"], json!(["session"]));
    assert_eq!(created["api_key"]["revoked_at"], Value::Null);
    // The new key works on the Session API and not on the admin API.
    let (st, _, v) = srv
        .send(Method::POST, "/v2/sessions", Some(&key), Some(json!({})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, _, v) = srv
        .send(Method::GET, "/admin/v1/users", Some(&key), None)
        .await;
    assert_error(&(st, v), 403, 7, "AUTH-Scope1");
    // An admin key made through the API administers.
    let (_, admin) = srv
        .admin(
            Method::POST,
            "/api-keys",
            Some(json!({"name": "ops", "scopes": ["admin", "session"]})),
        )
        .await;
    assert_eq!(admin["api_key"]["scopes"], json!(["session", "admin"]));
    // A trusted login UI's key reaches every session.
    let (st, ui) = srv
        .admin(
            Method::POST,
            "/api-keys",
            Some(json!({"name": "custom login", "scopes": ["session_all"]})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{ui}");
    assert_eq!(ui["api_key"]["scopes"], json!(["session_all"]));
    let (st, _, _) = srv
        .send(
            Method::GET,
            "/admin/v1/users",
            Some(&s(&admin["key"])),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    for (body, err) in [
        (json!({"name": "x", "scopes": []}), "ARG-Inval1"),
        (json!({"name": "", "scopes": ["session"]}), "ARG-Inval1"),
        (json!({"name": "x", "scopes": ["root"]}), "API-Json01"),
        (json!({"name": "x"}), "API-Json01"),
        (json!({"name": "x", "scopes": "session"}), "API-Json01"),
    ] {
        let res = srv.admin(Method::POST, "/api-keys", Some(body)).await;
        assert_error(&res, 400, 3, err);
    }

    // The list shows names and scopes, never keys or hashes.
    let (st, list) = srv.admin(Method::GET, "/api-keys", None).await;
    assert_eq!(st, StatusCode::OK);
    no_hashes(&list);
    assert!(!list.to_string().contains(&key));
    let keys = list["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4, "{list}");
    assert!(keys.iter().any(|k| k["id"] == json!(id)));

    // Revoke: the key stops working at once; revoking again changes nothing; an unknown id is
    // a 404.
    let (st, _) = srv
        .admin(Method::DELETE, &format!("/api-keys/{id}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _, v) = srv
        .send(Method::POST, "/v2/sessions", Some(&key), Some(json!({})))
        .await;
    assert_error(&(st, v), 401, 16, "AUTH-Key01");
    let (_, list) = srv.admin(Method::GET, "/api-keys", None).await;
    let revoked = list["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == json!(id))
        .unwrap();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let (st, _) = srv
        .admin(Method::DELETE, &format!("/api-keys/{id}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, again) = srv.admin(Method::GET, "/api-keys", None).await;
    assert_eq!(again, list);
    let res = srv.admin(Method::DELETE, "/api-keys/nope", None).await;
    assert_error(&res, 404, 5, "QUERY-Key01");
}

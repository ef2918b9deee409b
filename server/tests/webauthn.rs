//! WebAuthn over HTTP with a software authenticator, on SQLite and PostgreSQL: registration
//! through the admin API, the Session API's `webAuthN` challenge and check over REST and Connect
//! (the contract's path: challenge, check, then GetSession shows the factor with
//! `userVerified`), our usernameless extension, and ceremonies started on one server and finished
//! on another sharing the database.

#[macro_use]
mod common;

use common::{assert_error, Backend, TestServer};
use domain::{input::LoginName, model::Scope, service::NewUser};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use server::config::FileConfig;
use webauthn_authenticator_rs::{
    prelude::{CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator},
    softpasskey::SoftPasskey,
};

both_backends!(
    session_api_passkey_path,
    usernameless_passkey_over_rest,
    webauthn_off_for_an_ip_address,
);

const RP_ID: &str = "login.example.test";
const PUBLIC_URL: &str = "https://login.example.test";
const REQUIRED: &str = "USER_VERIFICATION_REQUIREMENT_REQUIRED";

fn file(public_url: &str) -> FileConfig {
    FileConfig {
        public_url: Some(public_url.into()),
        ..FileConfig::default()
    }
}

fn origin() -> Url {
    Url::parse(PUBLIC_URL).unwrap()
}

/// Starts a passkey registration on `start` and finishes it on `finish` through the admin API;
/// returns the authenticator and the credential's raw id and user handle.
async fn register(
    start: &TestServer,
    finish: &TestServer,
    user_id: &str,
) -> (SoftPasskey, String, String) {
    let (st, started) = start
        .admin(
            Method::POST,
            &format!("/users/{user_id}/webauthn/registrations"),
            Some(json!({"kind": "passkey"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{started}");
    let handle = started["options"]["publicKey"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        started["options"]["publicKey"]["authenticatorSelection"]["userVerification"],
        "required"
    );
    let options: CreationChallengeResponse =
        serde_json::from_value(started["options"].clone()).unwrap();
    let mut authenticator = SoftPasskey::new(true);
    let credential =
        serde_json::to_value(authenticator.do_registration(origin(), options).unwrap()).unwrap();
    let raw_id = credential["rawId"].as_str().unwrap().to_owned();
    let (st, body) = finish
        .admin(
            Method::POST,
            &format!("/users/{user_id}/webauthn/credentials"),
            Some(json!({
                "registration_id": started["registration_id"],
                "credential": credential,
                "name": "Laptop",
            })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(body["kind"], "passkey");
    assert_eq!(body["name"], "Laptop");
    (authenticator, raw_id, handle)
}

fn sign(authenticator: &mut SoftPasskey, request_options: &Value) -> Value {
    let options: RequestChallengeResponse =
        serde_json::from_value(request_options.clone()).unwrap();
    serde_json::to_value(authenticator.do_authentication(origin(), options).unwrap()).unwrap()
}

async fn rest(
    srv: &TestServer,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (st, _, body) = srv.send(method, path, Some(key), body).await;
    (st, body)
}

async fn session_api_passkey_path(b: Backend) {
    let a = TestServer::start_with(b, file(PUBLIC_URL)).await;
    let other = a.replica(file(PUBLIC_URL)).await;
    let user = a
        .engine
        .create_user(NewUser::named(LoginName::parse("alice").unwrap()))
        .await
        .unwrap();
    let (mut key, _, _) = register(&a, &other, &user.id).await;
    let (_, api) = a.new_key(vec![Scope::Session]).await;

    // REST: user check and passkey challenge on one server ...
    let (st, created) = rest(
        &a,
        &api,
        Method::POST,
        "/v2/sessions",
        Some(json!({
            "checks": {"user": {"loginName": "alice"}},
            "challenges": {"webAuthN": {"domain": RP_ID, "userVerificationRequirement": REQUIRED}},
        })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let id = created["sessionId"].as_str().unwrap().to_owned();
    let options = &created["challenges"]["webAuthN"]["publicKeyCredentialRequestOptions"];
    assert_eq!(options["publicKey"]["rpId"], RP_ID);
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert_eq!(options["publicKey"]["timeout"], 300000);
    assert_eq!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let assertion = sign(&mut key, options);

    // ... the check on the other.
    let (st, set) = rest(
        &other,
        &api,
        Method::PATCH,
        &format!("/v2/sessions/{id}"),
        Some(json!({"checks": {"webAuthN": {"credentialAssertionData": assertion}}})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{set}");
    let token = set["sessionToken"].as_str().unwrap();
    let (st, got) = rest(
        &a,
        &api,
        Method::GET,
        &format!("/v2/sessions/{id}?sessionToken={token}"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{got}");
    let factor = &got["session"]["factors"]["webAuthN"];
    assert_eq!(factor["userVerified"], true, "{got}");
    assert!(factor["verifiedAt"].is_string(), "{got}");

    // The same assertion again: the challenge was used up.
    let res = rest(
        &a,
        &api,
        Method::PATCH,
        &format!("/v2/sessions/{id}"),
        Some(json!({"checks": {"webAuthN": {"credentialAssertionData": assertion}}})),
    )
    .await;
    assert_error(&res, 400, 9, "COMMAND-Ioqu5");

    // Connect: the same handlers, the same JSON names.
    let connect = |srv: &TestServer, method: &str, body: Value| {
        let req = srv
            .http
            .post(srv.url(&format!("/zitadel.session.v2.SessionService/{method}")))
            .bearer_auth(&api)
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let (st, created) = connect(
        &other,
        "CreateSession",
        json!({
            "checks": {"user": {"userId": user.id}},
            "challenges": {"webAuthN": {"domain": RP_ID, "userVerificationRequirement": 1}},
        }),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{created}");
    let id = created["sessionId"].as_str().unwrap().to_owned();
    let assertion = sign(
        &mut key,
        &created["challenges"]["webAuthN"]["publicKeyCredentialRequestOptions"],
    );
    let (st, set) = connect(
        &a,
        "SetSession",
        json!({"sessionId": id, "checks": {"webAuthN": {"credentialAssertionData": assertion}}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{set}");
    let (st, got) = connect(&other, "GetSession", json!({"sessionId": id})).await;
    assert_eq!(st, StatusCode::OK, "{got}");
    assert_eq!(got["session"]["factors"]["webAuthN"]["userVerified"], true);

    // The admin API sees the use; removing the credential ends passkey sign-in.
    let (st, list) = a
        .admin(
            Method::GET,
            &format!("/users/{}/webauthn/credentials", user.id),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let credential = &list["credentials"][0];
    assert!(credential["last_used_at"].is_string(), "{list}");
    let credential_id = credential["id"].as_str().unwrap();
    let (st, body) = other
        .admin(
            Method::PATCH,
            &format!("/users/{}/webauthn/credentials/{credential_id}", user.id),
            Some(json!({"name": "Old laptop"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let (st, body) = a
        .admin(
            Method::DELETE,
            &format!("/users/{}/webauthn/credentials/{credential_id}", user.id),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    let res = a
        .admin(
            Method::DELETE,
            &format!("/users/{}/webauthn/credentials/{credential_id}", user.id),
            None,
        )
        .await;
    assert_error(&res, 404, 5, "QUERY-Wan08");
    let res = rest(
        &a,
        &api,
        Method::PATCH,
        &format!("/v2/sessions/{id}"),
        Some(json!({"challenges": {"webAuthN": {"domain": RP_ID, "userVerificationRequirement": REQUIRED}}})),
    )
    .await;
    assert_error(&res, 400, 9, "COMMAND-Wan04");
    // A domain other than the RP ID, and assertion data that is not WebAuthn.
    let res = rest(
        &a,
        &api,
        Method::PATCH,
        &format!("/v2/sessions/{id}"),
        Some(json!({"challenges": {"webAuthN": {"domain": "example.test", "userVerificationRequirement": REQUIRED}}})),
    )
    .await;
    assert_error(&res, 400, 3, "COMMAND-Wan03");
    // A registration finished with garbage is a 400, not a 500.
    let res = a
        .admin(
            Method::POST,
            &format!("/users/{}/webauthn/credentials", user.id),
            Some(json!({"registration_id": "nope", "credential": {}})),
        )
        .await;
    assert_error(&res, 400, 3, "COMMAND-Wan05");
}

async fn usernameless_passkey_over_rest(b: Backend) {
    let srv = TestServer::start_with(b, file(PUBLIC_URL)).await;
    let user = srv
        .engine
        .create_user(NewUser::named(LoginName::parse("alice").unwrap()))
        .await
        .unwrap();
    let (mut key, raw_id, handle) = register(&srv, &srv, &user.id).await;
    let (_, api) = srv.new_key(vec![Scope::Session]).await;
    let (st, created) = rest(
        &srv,
        &api,
        Method::POST,
        "/v2/sessions",
        Some(json!({"challenges": {"webAuthN": {"domain": RP_ID, "userVerificationRequirement": REQUIRED}}})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let id = created["sessionId"].as_str().unwrap().to_owned();
    let mut options =
        created["challenges"]["webAuthN"]["publicKeyCredentialRequestOptions"].clone();
    assert_eq!(options["publicKey"]["allowCredentials"], json!([]));
    // The soft authenticator is not discoverable: name the credential for it, and add the user
    // handle a resident key would return.
    options["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": raw_id}]);
    let mut assertion = sign(&mut key, &options);
    assertion["response"]["userHandle"] = json!(handle);
    let (st, set) = rest(
        &srv,
        &api,
        Method::PATCH,
        &format!("/v2/sessions/{id}"),
        Some(json!({"checks": {"webAuthN": {"credentialAssertionData": assertion}}})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{set}");
    let (_, got) = rest(&srv, &api, Method::GET, &format!("/v2/sessions/{id}"), None).await;
    let factors = &got["session"]["factors"];
    assert_eq!(factors["user"]["loginName"], "alice", "{got}");
    assert_eq!(factors["user"]["id"], json!(user.id));
    assert_eq!(factors["webAuthN"]["userVerified"], true);
    // A security-key challenge needs a user first.
    let res = rest(
        &srv,
        &api,
        Method::POST,
        "/v2/sessions",
        Some(json!({"challenges": {"webAuthN": {"domain": RP_ID, "userVerificationRequirement": "USER_VERIFICATION_REQUIREMENT_PREFERRED"}}})),
    )
    .await;
    assert_error(&res, 400, 9, "COMMAND-Sfw3w");
}

async fn webauthn_off_for_an_ip_address(b: Backend) {
    let srv = TestServer::start_with(b, file("http://127.0.0.1:9")).await;
    let user = srv
        .engine
        .create_user(NewUser::named(LoginName::parse("alice").unwrap()))
        .await
        .unwrap();
    let (_, api) = srv.new_key(vec![Scope::Session]).await;
    let res = rest(
        &srv,
        &api,
        Method::POST,
        "/v2/sessions",
        Some(json!({
            "checks": {"user": {"loginName": "alice"}},
            "challenges": {"webAuthN": {"domain": "127.0.0.1", "userVerificationRequirement": REQUIRED}},
        })),
    )
    .await;
    assert_error(&res, 501, 12, "SESSION-Wan00");
    let res = srv
        .admin(
            Method::POST,
            &format!("/users/{}/webauthn/registrations", user.id),
            Some(json!({"kind": "security_key"})),
        )
        .await;
    assert_error(&res, 501, 12, "SESSION-Wan00");
}

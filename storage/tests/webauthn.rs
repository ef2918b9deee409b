//! WebAuthn through the engine over real databases, with a software authenticator: passkey and
//! security key registration, sign-in, counters, a wrong origin, replayed assertions, a removed
//! credential and discoverable (usernameless) sign-in. Each scenario runs on SQLite (two pools on
//! one file) and PostgreSQL (two pools on one fresh schema at `VESTIBULE_TEST_POSTGRES_URL`), with
//! two engines standing in for two replicas: ceremonies start on one and finish on the other.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
};

use domain::{
    clock::{ManualClock, SystemRng},
    crypto::ServerKey,
    input::{LoginName, Name, NewPassword, Password, UserRef},
    model::{App, FactorKind, LoginPolicy, User, WebAuthnKind},
    notifier::RecordingNotifier,
    service::{
        Caller, ChallengeRequests, Checks, CreateSessionRequest, SessionChange, SessionChanged,
        SetSessionRequest, WebAuthnChallengeRequest,
    },
    service::{NewApp, NewUser, PolicyState},
    testing::{cheap_argon2, test_epoch},
    Config, DomainError, Engine,
};
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use storage::Database;
use time::{Duration, OffsetDateTime};
use webauthn_authenticator_rs::{
    prelude::{CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator},
    softpasskey::SoftPasskey,
};

const RP_ID: &str = "login.example.test";
const ORIGIN: &str = "https://login.example.test";

// --- harness ---

struct Replicas {
    engines: [Arc<Engine>; 2],
    clock: Arc<ManualClock>,
    pools: [Database; 2],
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Schema { url: String, name: String },
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "vw_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos % 1_000_000_000
    )
}

fn postgres_url() -> String {
    std::env::var("VESTIBULE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn config() -> Config {
    Config {
        argon2: cheap_argon2(),
        rp_id: RP_ID.into(),
        rp_origin: ORIGIN.into(),
        ..Config::default()
    }
}

fn replicas(pools: [Database; 2], cleanup: Cleanup) -> Replicas {
    let clock = Arc::new(ManualClock::new(test_epoch()));
    let key = ServerKey::generate(&SystemRng);
    let engines = pools.clone().map(|db| {
        Arc::new(
            Engine::new(
                Arc::new(db),
                clock.clone(),
                Arc::new(SystemRng),
                Arc::new(RecordingNotifier::new()),
                key.clone(),
                config(),
            )
            .unwrap(),
        )
    });
    Replicas {
        engines,
        clock,
        pools,
        cleanup,
    }
}

async fn sqlite() -> Replicas {
    let dir = std::env::temp_dir().join(unique_name());
    std::fs::create_dir_all(&dir).unwrap();
    let url = Database::sqlite_url_in(&dir);
    let first = Database::connect(&url).await.unwrap();
    first.migrate().await.unwrap();
    let second = Database::connect(&url).await.unwrap();
    replicas([first, second], Cleanup::Dir(dir))
}

async fn postgres() -> Replicas {
    let url = postgres_url();
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is needed: {e}"));
    let name = unique_name();
    sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let joiner = if url.contains('?') { '&' } else { '?' };
    let schema_url = format!("{url}{joiner}options[search_path]={name}");
    let first = Database::connect(&schema_url).await.unwrap();
    first.migrate().await.unwrap();
    let second = Database::connect(&schema_url).await.unwrap();
    replicas([first, second], Cleanup::Schema { url, name })
}

impl Replicas {
    async fn finish(self) {
        drop(self.engines);
        for pool in &self.pools {
            match pool {
                Database::Sqlite(p) => p.close().await,
                Database::Postgres(p) => p.close().await,
            }
        }
        match self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema { url, name } => {
                let admin = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .unwrap();
                sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE"))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
            }
        }
    }
    fn a(&self) -> &Engine {
        &self.engines[0]
    }
    fn b(&self) -> &Engine {
        &self.engines[1]
    }
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let replicas = super::sqlite().await;
                    super::$name(&replicas).await;
                    replicas.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let replicas = super::postgres().await;
                    super::$name(&replicas).await;
                    replicas.finish().await;
                }
            )*
        }
    };
}

scenarios!(
    passkey_registers_and_signs_in_across_replicas,
    replayed_assertions_are_refused,
    wrong_origin_is_refused,
    removed_credential_is_refused,
    usernameless_passkey_sets_the_user,
    security_key_is_a_second_factor,
    challenge_expires_and_names_the_rp,
    credentials_are_listed_renamed_and_removed,
    passwordless_app_wants_a_passkey_then_takes_it,
);

// --- helpers ---

fn caller() -> Caller {
    domain::testing::key_caller("test")
}

fn origin() -> Url {
    Url::parse(ORIGIN).unwrap()
}

async fn user(engine: &Engine, name: &str) -> User {
    engine
        .create_user(NewUser::named(LoginName::parse(name).unwrap()))
        .await
        .unwrap()
}

/// A registered credential: the soft authenticator holding it, and its raw id (base64url).
struct Registered {
    authenticator: SoftPasskey,
    raw_id: String,
    /// The WebAuthn user handle the options named (base64url).
    user_handle: String,
}

/// Registers on `start` and finishes on `finish` (two replicas).
async fn register(start: &Engine, finish: &Engine, user: &User, kind: WebAuthnKind) -> Registered {
    let mut authenticator = SoftPasskey::new(kind == WebAuthnKind::Passkey);
    let started = start
        .start_webauthn_registration(&user.id, kind)
        .await
        .unwrap();
    let user_handle = started.options["publicKey"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let options: CreationChallengeResponse = serde_json::from_value(started.options).unwrap();
    let credential = authenticator.do_registration(origin(), options).unwrap();
    let credential = serde_json::to_value(&credential).unwrap();
    let raw_id = credential["rawId"].as_str().unwrap().to_owned();
    let view = finish
        .finish_webauthn_registration(&user.id, &started.registration_id, &credential, None)
        .await
        .unwrap();
    assert_eq!(view.kind, kind);
    Registered {
        authenticator,
        raw_id,
        user_handle,
    }
}

fn challenge(uv: bool) -> SessionChange {
    SessionChange {
        challenges: ChallengeRequests {
            web_auth_n: Some(WebAuthnChallengeRequest {
                domain: RP_ID.into(),
                user_verification_required: uv,
            }),
            ..ChallengeRequests::default()
        },
        ..SessionChange::default()
    }
}

fn check(assertion: &Value) -> SessionChange {
    SessionChange {
        checks: Checks {
            web_auth_n: Some(assertion.clone()),
            ..Checks::default()
        },
        ..SessionChange::default()
    }
}

async fn set(
    engine: &Engine,
    session_id: &str,
    change: SessionChange,
) -> Result<SessionChanged, DomainError> {
    engine
        .set_session(
            session_id,
            SetSessionRequest {
                change,
                ..SetSessionRequest::default()
            },
            &caller(),
        )
        .await
}

/// A session with `user` checked.
async fn session_for(engine: &Engine, user: &User) -> String {
    let change = SessionChange {
        checks: Checks {
            user: Some(UserRef::Id(
                domain::input::Id::parse(user.id.clone()).unwrap(),
            )),
            ..Checks::default()
        },
        ..SessionChange::default()
    };
    engine
        .create_session(
            CreateSessionRequest {
                change,
                ..CreateSessionRequest::default()
            },
            &caller(),
        )
        .await
        .unwrap()
        .session_id
}

/// Requests a challenge and returns the request options.
async fn options(engine: &Engine, session_id: &str, uv: bool) -> Value {
    let changed = set(engine, session_id, challenge(uv)).await.unwrap();
    changed.challenges.web_auth_n.unwrap()
}

fn assert_with(authenticator: &mut SoftPasskey, origin: Url, options: Value) -> Value {
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    serde_json::to_value(authenticator.do_authentication(origin, options).unwrap()).unwrap()
}

// --- scenarios ---

async fn passkey_registers_and_signs_in_across_replicas(r: &Replicas) {
    let alice = user(r.a(), "alice").await;
    let mut key = register(r.a(), r.b(), &alice, WebAuthnKind::Passkey).await;
    let factors = r.a().list_factors(&alice.id).await.unwrap().factors;
    assert!(factors.contains(&FactorKind::Passkey));

    for round in 1..=2u32 {
        let session = session_for(r.a(), &alice).await;
        let options = options(r.a(), &session, true).await;
        let public = &options["publicKey"];
        assert_eq!(public["rpId"], RP_ID);
        assert_eq!(public["userVerification"], "required");
        assert_eq!(public["allowCredentials"][0]["id"], key.raw_id.as_str());
        assert_eq!(public["timeout"], 300000);
        let assertion = assert_with(&mut key.authenticator, origin(), options);
        // Finished on the other replica: the state came from the database.
        set(r.b(), &session, check(&assertion)).await.unwrap();
        let stored = r.a().get_session(&session, None, &caller()).await.unwrap();
        let factor = stored.factors.web_auth_n.expect("webauthn factor");
        assert!(factor.user_verified);
        assert!(stored.challenges.web_auth_n.is_none(), "single use");
        let creds = r.b().list_webauthn_credentials(&alice.id).await.unwrap();
        assert_eq!(creds.len(), 1);
        assert!(creds[0].last_used_at.is_some());
        // The soft authenticator counts every assertion: the stored counter follows it.
        let count = stored_count(r, &alice).await;
        assert_eq!(count, round);
    }
}

async fn stored_count(r: &Replicas, user: &User) -> u32 {
    use domain::store::Store;
    r.pools[0]
        .list_webauthn_credentials(&user.id)
        .await
        .unwrap()[0]
        .sign_count
}

async fn replayed_assertions_are_refused(r: &Replicas) {
    let alice = user(r.a(), "alice").await;
    let mut key = register(r.a(), r.a(), &alice, WebAuthnKind::Passkey).await;
    let session = session_for(r.a(), &alice).await;
    let opts = options(r.a(), &session, true).await;
    let assertion = assert_with(&mut key.authenticator, origin(), opts);
    set(r.a(), &session, check(&assertion)).await.unwrap();
    // The challenge went with the first use.
    let again = set(r.b(), &session, check(&assertion)).await.unwrap_err();
    assert_eq!(again.id(), "COMMAND-Ioqu5");
    // A fresh challenge does not make the old assertion valid, here or on another session.
    options(r.b(), &session, true).await;
    let stale = set(r.a(), &session, check(&assertion)).await.unwrap_err();
    assert_eq!(stale.id(), "COMMAND-Wan01");
    let other = session_for(r.a(), &alice).await;
    options(r.a(), &other, true).await;
    let stale = set(r.b(), &other, check(&assertion)).await.unwrap_err();
    assert_eq!(stale.id(), "COMMAND-Wan01");
    assert!(r
        .a()
        .get_session(&other, None, &caller())
        .await
        .unwrap()
        .factors
        .web_auth_n
        .is_none());
}

async fn wrong_origin_is_refused(r: &Replicas) {
    let alice = user(r.a(), "alice").await;
    // Registration from another site.
    let mut rogue = SoftPasskey::new(true);
    let started = r
        .a()
        .start_webauthn_registration(&alice.id, WebAuthnKind::Passkey)
        .await
        .unwrap();
    let creation: CreationChallengeResponse = serde_json::from_value(started.options).unwrap();
    // A subdomain passes the authenticator's own RP ID check but is not an allowed origin.
    let evil = Url::parse("https://evil.login.example.test").unwrap();
    let credential = rogue.do_registration(evil.clone(), creation).unwrap();
    let error = r
        .b()
        .finish_webauthn_registration(
            &alice.id,
            &started.registration_id,
            &serde_json::to_value(&credential).unwrap(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(error.id(), "COMMAND-Wan06");
    // Sign-in from another site with a genuine credential.
    let mut key = register(r.a(), r.b(), &alice, WebAuthnKind::Passkey).await;
    let session = session_for(r.a(), &alice).await;
    let opts = options(r.a(), &session, true).await;
    let assertion = assert_with(&mut key.authenticator, evil, opts);
    let error = set(r.b(), &session, check(&assertion)).await.unwrap_err();
    assert_eq!(error.id(), "COMMAND-Wan01");
    // A failed check leaves the challenge for a genuine try.
    let opts = r
        .a()
        .get_session(&session, None, &caller())
        .await
        .unwrap()
        .challenges
        .web_auth_n
        .is_some();
    assert!(opts);
}

async fn removed_credential_is_refused(r: &Replicas) {
    let alice = user(r.a(), "alice").await;
    let mut key = register(r.a(), r.b(), &alice, WebAuthnKind::Passkey).await;
    let session = session_for(r.a(), &alice).await;
    let opts = options(r.a(), &session, true).await;
    let id = r.a().list_webauthn_credentials(&alice.id).await.unwrap()[0]
        .id
        .clone();
    r.b()
        .remove_webauthn_credential(&alice.id, &id)
        .await
        .unwrap();
    let assertion = assert_with(&mut key.authenticator, origin(), opts);
    let error = set(r.a(), &session, check(&assertion)).await.unwrap_err();
    assert_eq!(error.id(), "COMMAND-Aej7i");
    // Nothing left to challenge with.
    let error = set(r.a(), &session, challenge(true)).await.unwrap_err();
    assert_eq!(error.id(), "COMMAND-Wan04");
    let error = r
        .a()
        .remove_webauthn_credential(&alice.id, &id)
        .await
        .unwrap_err();
    assert_eq!(error.id(), "QUERY-Wan08");
}

async fn usernameless_passkey_sets_the_user(r: &Replicas) {
    let alice = user(r.a(), "alice").await;
    let _bob = user(r.a(), "bob").await;
    let mut key = register(r.a(), r.b(), &alice, WebAuthnKind::Passkey).await;
    // A session with no user at all asks for a discoverable passkey.
    let created = r
        .a()
        .create_session(
            CreateSessionRequest {
                change: challenge(true),
                ..CreateSessionRequest::default()
            },
            &caller(),
        )
        .await
        .unwrap();
    let mut opts = created.challenges.web_auth_n.unwrap();
    assert_eq!(opts["publicKey"]["allowCredentials"], json!([]));
    assert!(opts.get("mediation").is_none());
    // The soft authenticator cannot discover credentials by itself: tell it which one (the
    // browser does this from its own store), then add the user handle a resident key returns.
    opts["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": key.raw_id}]);
    let mut assertion = assert_with(&mut key.authenticator, origin(), opts);
    assertion["response"]["userHandle"] = json!(key.user_handle);
    set(r.b(), &created.session_id, check(&assertion))
        .await
        .unwrap();
    let session = r
        .a()
        .get_session(&created.session_id, None, &caller())
        .await
        .unwrap();
    assert_eq!(session.user_id(), Some(alice.id.as_str()));
    assert!(session.factors.web_auth_n.unwrap().user_verified);

    // Without a user, a security key cannot be challenged.
    let error = r
        .a()
        .create_session(
            CreateSessionRequest {
                change: challenge(false),
                ..CreateSessionRequest::default()
            },
            &caller(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.id(), "COMMAND-Sfw3w");

    // A user handle that is not the credential's owner is refused.
    let created = r
        .a()
        .create_session(
            CreateSessionRequest {
                change: challenge(true),
                ..CreateSessionRequest::default()
            },
            &caller(),
        )
        .await
        .unwrap();
    let mut opts = created.challenges.web_auth_n.unwrap();
    opts["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": key.raw_id}]);
    let mut assertion = assert_with(&mut key.authenticator, origin(), opts);
    assertion["response"]["userHandle"] = json!("AAAAAAAAAAAAAAAAAAAAAA");
    let error = set(r.a(), &created.session_id, check(&assertion))
        .await
        .unwrap_err();
    assert_eq!(error.id(), "COMMAND-Aej7i");
}

async fn security_key_is_a_second_factor(r: &Replicas) {
    let alice = user(r.a(), "alice").await;
    let mut key = register(r.a(), r.b(), &alice, WebAuthnKind::SecurityKey).await;
    let factors = r.a().list_factors(&alice.id).await.unwrap().factors;
    assert!(factors.contains(&FactorKind::SecurityKey));
    assert!(!factors.contains(&FactorKind::Passkey));
    let session = session_for(r.a(), &alice).await;
    // REQUIRED means passkeys: this user has none.
    let error = set(r.a(), &session, challenge(true)).await.unwrap_err();
    assert_eq!(error.id(), "COMMAND-Wan04");
    let opts = options(r.a(), &session, false).await;
    assert_eq!(opts["publicKey"]["userVerification"], "preferred");
    let assertion = assert_with(&mut key.authenticator, origin(), opts);
    set(r.b(), &session, check(&assertion)).await.unwrap();
    let stored = r.a().get_session(&session, None, &caller()).await.unwrap();
    assert!(!stored.factors.web_auth_n.unwrap().user_verified);
}

async fn challenge_expires_and_names_the_rp(r: &Replicas) {
    let alice = user(r.a(), "alice").await;
    let mut key = register(r.a(), r.b(), &alice, WebAuthnKind::Passkey).await;
    let session = session_for(r.a(), &alice).await;
    let mut wrong = challenge(true);
    if let Some(w) = wrong.challenges.web_auth_n.as_mut() {
        w.domain = "example.test".into();
    }
    let error = set(r.a(), &session, wrong).await.unwrap_err();
    assert_eq!(error.id(), "COMMAND-Wan03");
    let opts = options(r.a(), &session, true).await;
    let assertion = assert_with(&mut key.authenticator, origin(), opts);
    r.clock.advance(Duration::minutes(5));
    let error = set(r.b(), &session, check(&assertion)).await.unwrap_err();
    assert_eq!(error.id(), "COMMAND-Wan02");
    // A registration expires too.
    let started = r
        .a()
        .start_webauthn_registration(&alice.id, WebAuthnKind::Passkey)
        .await
        .unwrap();
    let creation: CreationChallengeResponse = serde_json::from_value(started.options).unwrap();
    let mut fresh = SoftPasskey::new(true);
    let credential = fresh.do_registration(origin(), creation).unwrap();
    r.clock.advance(Duration::minutes(5));
    let error = r
        .b()
        .finish_webauthn_registration(
            &alice.id,
            &started.registration_id,
            &serde_json::to_value(&credential).unwrap(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(error.id(), "COMMAND-Wan05");
}

async fn credentials_are_listed_renamed_and_removed(r: &Replicas) {
    let alice = user(r.a(), "alice").await;
    let bob = user(r.a(), "bob").await;
    register(r.a(), r.b(), &alice, WebAuthnKind::Passkey).await;
    r.clock.advance(Duration::seconds(1));
    register(r.a(), r.b(), &alice, WebAuthnKind::SecurityKey).await;
    let list = r.a().list_webauthn_credentials(&alice.id).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|c| (c.kind, c.name.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (WebAuthnKind::Passkey, "Passkey"),
            (WebAuthnKind::SecurityKey, "Security key")
        ]
    );
    r.b()
        .rename_webauthn_credential(&alice.id, &list[0].id, "Laptop")
        .await
        .unwrap();
    // Bob cannot touch Alice's credentials.
    let error = r
        .a()
        .rename_webauthn_credential(&bob.id, &list[0].id, "Mine")
        .await
        .unwrap_err();
    assert_eq!(error.id(), "QUERY-Wan08");
    let error = r
        .a()
        .rename_webauthn_credential(&alice.id, &list[0].id, "  ")
        .await
        .unwrap_err();
    assert_eq!(error.id(), "ARG-Inval1");
    assert_eq!(
        r.a().list_webauthn_credentials(&alice.id).await.unwrap()[0].name,
        "Laptop"
    );
    // A registration sealed for Alice is worthless for Bob, and garbage is refused.
    let started = r
        .a()
        .start_webauthn_registration(&alice.id, WebAuthnKind::Passkey)
        .await
        .unwrap();
    let error = r
        .a()
        .finish_webauthn_registration(&bob.id, &started.registration_id, &json!({}), None)
        .await
        .unwrap_err();
    assert_eq!(error.id(), "COMMAND-Wan05");
    let error = r
        .a()
        .finish_webauthn_registration(&alice.id, &started.registration_id, &json!({"id": 1}), None)
        .await
        .unwrap_err();
    assert_eq!(error.id(), "COMMAND-Wan06");
    // Removing the passkey factor removes the passkeys only; deleting the user takes the rest.
    r.a()
        .remove_factor(&alice.id, FactorKind::Passkey)
        .await
        .unwrap();
    let list = r.a().list_webauthn_credentials(&alice.id).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].kind, WebAuthnKind::SecurityKey);
    r.a().delete_user(&alice.id).await.unwrap();
    use domain::store::Store;
    assert!(r.pools[1]
        .list_webauthn_credentials(&alice.id)
        .await
        .unwrap()
        .is_empty());
}

async fn app_with(engine: &Engine, policy: LoginPolicy) -> App {
    let new = NewApp {
        name: Name::parse("Shop".to_owned()).unwrap(),
        redirect_uris: Vec::new(),
        policy,
        branding: Default::default(),
    };
    engine.create_app(new).await.unwrap().0
}

async fn policy_state(engine: &Engine, session_id: &str, app: &App) -> PolicyState {
    let session = engine
        .get_session(session_id, None, &caller())
        .await
        .unwrap();
    engine.evaluate_policy(&session, app).await.unwrap()
}

/// A passwordless app: a password alone never completes the login; a user without a passkey
/// must register one, and then sign in with it. A passkey also stands in for a second factor.
async fn passwordless_app_wants_a_passkey_then_takes_it(r: &Replicas) {
    let alice = user(r.a(), "alice").await;
    let pw = "correct horse battery";
    r.a()
        .set_password(&alice.id, NewPassword::parse(pw.into()).unwrap())
        .await
        .unwrap();
    let passwordless = app_with(
        r.a(),
        LoginPolicy {
            passwordless: true,
            ..LoginPolicy::default()
        },
    )
    .await;
    let second = app_with(
        r.a(),
        LoginPolicy {
            require_second_factor: true,
            ..LoginPolicy::default()
        },
    )
    .await;
    let session = session_for(r.a(), &alice).await;
    let password = SessionChange {
        checks: Checks {
            password: Some(Password::parse(pw.into()).unwrap()),
            ..Checks::default()
        },
        ..SessionChange::default()
    };
    set(r.a(), &session, password.clone()).await.unwrap();
    assert_eq!(
        policy_state(r.b(), &session, &passwordless).await,
        PolicyState::NeedsPasskeyEnrollment
    );
    // Without any second factor the user is offered enrollment (nothing to choose from).
    assert_eq!(
        policy_state(r.b(), &session, &second).await,
        PolicyState::NeedsSecondFactor { options: vec![] }
    );
    r.clock.advance(Duration::seconds(1));
    let mut key = register(r.a(), r.b(), &alice, WebAuthnKind::Passkey).await;
    // The passkey made during this login does not complete it ...
    let opts = options(r.a(), &session, true).await;
    let assertion = assert_with(&mut key.authenticator, origin(), opts);
    let refused = set(r.b(), &session, check(&assertion)).await.unwrap_err();
    assert_eq!(refused, DomainError::WebAuthnCredentialNew);
    assert_eq!(refused.id(), "COMMAND-Wan09");
    // ... the next login starts with the password again and then takes it.
    r.clock.advance(Duration::seconds(1));
    let session = session_for(r.a(), &alice).await;
    set(r.a(), &session, password.clone()).await.unwrap();
    // Now the passkey is the only way in; the password already given does not count.
    assert_eq!(
        policy_state(r.a(), &session, &passwordless).await,
        PolicyState::NeedsFirstFactor {
            options: vec![FactorKind::Passkey]
        }
    );
    assert_eq!(
        policy_state(r.a(), &session, &second).await,
        PolicyState::NeedsSecondFactor {
            options: vec![FactorKind::Passkey]
        },
        "a passkey the user has is offered as the second factor"
    );
    let options = options(r.a(), &session, true).await;
    let assertion = assert_with(&mut key.authenticator, origin(), options);
    set(r.b(), &session, check(&assertion)).await.unwrap();
    for app in [&passwordless, &second] {
        let PolicyState::Satisfied(proof) = policy_state(r.a(), &session, app).await else {
            panic!("a passkey completes the login")
        };
        assert_eq!(
            proof.factors(),
            &[FactorKind::Password, FactorKind::Passkey]
        );
    }
    // A passwordless policy must allow passkeys.
    let refused = r
        .a()
        .create_app(NewApp {
            name: Name::parse("Bad".to_owned()).unwrap(),
            redirect_uris: Vec::new(),
            policy: LoginPolicy {
                passwordless: true,
                allowed_factors: vec![FactorKind::Password],
                ..LoginPolicy::default()
            },
            branding: Default::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.id(), "ARG-Inval1");
}

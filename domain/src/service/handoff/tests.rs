//! The handoff and the hosted login, driven as the page and the app backend drive them.

use super::*;
use crate::model::{UserAgent, WebAuthnKind};
use crate::service::{SessionChange, SetSessionRequest};

#[test]
fn state_is_appended_as_a_query_parameter() {
    assert_eq!(
        redirect_target("https://app.example/cb?x=1", None, Some("a b&c=d/é")).unwrap(),
        "https://app.example/cb?x=1&state=a+b%26c%3Dd%2F%C3%A9"
    );
    assert_eq!(
        redirect_target("https://app.example/cb", None, None).unwrap(),
        "https://app.example/cb"
    );
}

#[test]
fn amr_names_methods_and_mfa() {
    assert_eq!(amr_of(&[FactorKind::Password]), vec!["pwd"]);
    assert_eq!(
        amr_of(&[FactorKind::Password, FactorKind::Totp]),
        vec!["pwd", "otp", "mfa"]
    );
}

use crate::input::{HttpUrl, LoginName, Name, NewPassword, Password, UserRef};
use crate::model::LoginPolicy;
use crate::service::{Checks, NewApp, NewUser};
use crate::testing::{test_engine, TestEngine};
use time::Duration;

const PW: &str = "correct horse battery";

/// What validate presents besides `session_id`: app key and secret only.
fn proof<'a>(app_key: Option<&'a str>, app_secret: Option<&'a str>) -> ValidateProof<'a> {
    ValidateProof {
        app_key,
        app_secret,
        ..ValidateProof::default()
    }
}

async fn setup(policy: LoginPolicy) -> (TestEngine, AuthenticatedApp, String) {
    setup_with(test_engine().unwrap(), policy).await
}

/// Alice (with a password) and an app on `t`.
async fn setup_with(t: TestEngine, policy: LoginPolicy) -> (TestEngine, AuthenticatedApp, String) {
    t.engine
        .create_user(NewUser {
            password: Some(NewPassword::parse(PW.into()).unwrap()),
            ..NewUser::named(LoginName::parse("alice").unwrap())
        })
        .await
        .unwrap();
    let (app, secret) = t
        .engine
        .create_app(NewApp {
            name: Name::parse("Shop").unwrap(),
            redirect_uris: vec![
                HttpUrl::parse("uri", "https://shop.example/cb").unwrap(),
                HttpUrl::parse("uri", "https://shop.example/other").unwrap(),
            ],
            policy,
            branding: Default::default(),
        })
        .await
        .unwrap();
    let authed = t
        .engine
        .authenticate_app(&app.app_key, secret.expose())
        .await
        .unwrap();
    (t, authed, secret.into_inner())
}

/// Opens the login for `browser` (`None`: a browser without the claim cookie).
async fn open_as(
    e: &Engine,
    token: &str,
    browser: Option<&str>,
) -> Result<HostedLogin, DomainError> {
    let browser = Browser {
        secret: browser.map(str::to_owned),
        user_agent: None,
    };
    e.open_login(token, browser).await
}

/// A browser opens the link and acts first: the secret of its claim cookie.
async fn claim(e: &Engine, token: &str, user_agent: Option<UserAgent>) -> String {
    let browser = Browser {
        secret: None,
        user_agent,
    };
    let mut login = e.open_login(token, browser).await.unwrap();
    let step = e.login_step(&mut login, LoginAction::Claim).await;
    assert!(step.refused.is_none(), "{:?}", step.refused);
    login.take_new_browser_secret().unwrap().into_inner()
}

/// One action in a request of its own; a refusal is `Err`.
async fn act(
    e: &Engine,
    token: &str,
    browser: &str,
    action: LoginAction,
) -> Result<HostedStep, DomainError> {
    let mut login = open_as(e, token, Some(browser)).await?;
    let step = e.login_step(&mut login, action).await;
    match step.refused.clone() {
        Some(err) => Err(err),
        None => Ok(step),
    }
}

/// Any session change on the login, in a request of its own, and the step after it.
async fn change(
    e: &Engine,
    token: &str,
    browser: &str,
    change: SessionChange,
) -> Result<HostedStep, DomainError> {
    let mut login = open_as(e, token, Some(browser)).await?;
    e.change_login(&mut login, change).await?;
    Ok(e.login_step(&mut login, LoginAction::Show).await)
}

fn login(pw: &str) -> SessionChange {
    SessionChange {
        checks: Checks {
            user: Some(UserRef::LoginName(LoginName::parse("alice").unwrap())),
            password: Some(Password::parse(pw.into()).unwrap()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Wrong passwords for a real user and tries with an unknown name read the same on the
/// hosted page: the same count of attempts left, then a lock.
#[tokio::test]
async fn attempts_left_count_down_alike_for_known_and_unknown_names() {
    let (t, app, _) = setup(LoginPolicy::default()).await;
    let e = &t.engine;
    let attempt = |name: &'static str| SessionChange {
        checks: Checks {
            user: Some(UserRef::LoginName(LoginName::parse(name).unwrap())),
            password: Some(Password::parse("wrong password".into()).unwrap()),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut seen = Vec::new();
    for name in ["alice", "nobody"] {
        let gen = e
            .generate_handoff(&app, GenerateHandoff::default())
            .await
            .unwrap();
        let token = gen.token.expose().as_str();
        let browser = claim(e, token, None).await;
        let mut answers = Vec::new();
        for _ in 0..5 {
            match change(e, token, &browser, attempt(name)).await {
                Err(DomainError::LoginFailed {
                    attempts_left,
                    lock_seconds,
                }) => answers.push((attempts_left, lock_seconds.is_some())),
                other => panic!("{name}: {other:?}"),
            }
        }
        seen.push(answers);
    }
    let expected: Vec<(Option<u32>, bool)> = vec![
        (Some(4), false),
        (Some(3), false),
        (Some(2), false),
        (Some(1), false),
        (Some(0), true),
    ];
    assert_eq!(seen[0], expected, "a real user");
    assert_eq!(seen[1], expected, "an unknown name");
}

#[tokio::test]
async fn a_link_is_claimed_once_completed_and_validated() {
    let (t, app, _) = setup(LoginPolicy::default()).await;
    let e = &t.engine;
    let gen = e
        .generate_handoff(
            &app,
            GenerateHandoff {
                redirect_uri: Some("https://shop.example/other".into()),
                state: Some("xyz 1".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let found = e
        .find_handoff_for_validate(gen.session_id.expose(), proof(None, None))
        .await
        .unwrap();
    assert_eq!(
        e.handoff_status(&found).await.unwrap().state,
        HandoffState::Pending
    );

    let token = gen.token.expose().as_str();
    let browser = claim(e, token, None).await;
    let first = act(e, token, &browser, LoginAction::Show).await.unwrap();
    assert!(matches!(first.next, Next::User), "{:?}", first.next);
    // The same browser may reload; another one may not, with or without a made-up secret.
    let mut again = open_as(e, token, Some(&browser)).await.unwrap();
    assert!(again.take_new_browser_secret().is_none());
    for other in [None, Some("forged-secret")] {
        let err = open_as(e, token, other).await.unwrap_err();
        assert_eq!(err, DomainError::HandoffLinkUsed);
    }
    let err = change(e, token, "forged", login(PW)).await.unwrap_err();
    assert_eq!(err, DomainError::HandoffLinkUsed);

    // A wrong password looks like an unknown user on the hosted page.
    let err = change(e, token, &browser, login("nope")).await.unwrap_err();
    assert!(matches!(err, DomainError::LoginFailed { .. }), "{err:?}");
    let done = change(e, token, &browser, login(PW)).await.unwrap();
    assert!(
        matches!(
            &done.next,
            Next::Done(HandoffCompletion::Redirect(to))
                if to == "https://shop.example/other?state=xyz+1"
        ),
        "{:?}",
        done.next
    );
    let status = e.handoff_status(&found).await.unwrap();
    assert_eq!(status.state, HandoffState::Verified);
    assert_eq!(status.user.unwrap().login_name, "alice");
    assert_eq!(status.factors, vec![FactorKind::Password]);
    assert_eq!(status.amr, vec!["pwd"]);
    assert!(status.verified_at.is_some());
    // The engine session is an ordinary one, with the same factors.
    let session = e
        .get_session(
            &status.engine_session_id.unwrap(),
            None,
            &crate::testing::all_sessions_caller("x"),
        )
        .await
        .unwrap();
    assert!(session.factors.password.is_some());
    // ... readable by a trusted login UI, but changed only by the hosted page: through the
    // Session API it answers like an unknown session, and nothing changes.
    let ui = crate::testing::all_sessions_caller("login-ui");
    let err = e
        .set_session(&session.id, SetSessionRequest::default(), &ui)
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::SessionNotFound);
    let deleted = e.delete_session(&session.id, None, &ui).await.unwrap();
    assert_eq!(deleted.sequence, 0, "nothing was deleted");
    let key = crate::testing::key_caller(&app.app().id);
    assert_eq!(
        e.get_session(&session.id, None, &key).await.unwrap_err(),
        DomainError::SessionNotFound,
        "a key whose id equals the app's is still not the app"
    );
    let after = e.get_session(&session.id, None, &ui).await.unwrap();
    assert_eq!(after.sequence, session.sequence);
    assert!(!after.terminated);
}

#[tokio::test]
async fn generate_refuses_bad_options() {
    let (t, app, _) = setup(LoginPolicy::default()).await;
    let e = &t.engine;
    let cases = [
        GenerateHandoff {
            redirect_uri: Some("https://shop.example/cb/".into()),
            ..Default::default()
        },
        GenerateHandoff {
            state: Some("s".repeat(513)),
            ..Default::default()
        },
        GenerateHandoff {
            login_hint: Some("a\u{7}b".into()),
            ..Default::default()
        },
        GenerateHandoff {
            ui_locales: Some("de<script>".into()),
            ..Default::default()
        },
    ];
    let ids: Vec<_> = {
        let mut out = Vec::new();
        for c in cases {
            out.push(e.generate_handoff(&app, c).await.unwrap_err().id());
        }
        out
    };
    assert_eq!(
        ids,
        ["HANDOFF-Rdr01", "ARG-Inval1", "ARG-Inval1", "ARG-Inval1"]
    );
    let ok = GenerateHandoff {
        state: Some("s".repeat(512)),
        ..Default::default()
    };
    assert!(e.generate_handoff(&app, ok).await.is_ok());
    let err = e
        .authenticate_app(&app.app().app_key, "wrong")
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::InvalidAppCredentials);
}

#[tokio::test]
async fn links_expire_and_expired_unclaimed_links_are_purged() {
    let (t, app, _) = setup(LoginPolicy::default()).await;
    let e = &t.engine;
    let old = e
        .generate_handoff(&app, GenerateHandoff::default())
        .await
        .unwrap();
    let used = e
        .generate_handoff(&app, GenerateHandoff::default())
        .await
        .unwrap();
    claim(e, used.token.expose(), None).await;
    t.clock.advance(Duration::minutes(10));
    let fresh = e
        .generate_handoff(&app, GenerateHandoff::default())
        .await
        .unwrap();
    let err = open_as(e, old.token.expose(), None).await.unwrap_err();
    assert_eq!(err, DomainError::HandoffLinkExpired);
    let found = e
        .find_handoff_for_validate(old.session_id.expose(), proof(None, None))
        .await
        .unwrap();
    assert_eq!(
        e.handoff_status(&found).await.unwrap().state,
        HandoffState::Expired
    );
    assert_eq!(e.purge_handoffs().await.unwrap(), 1);
    let err = e
        .find_handoff_for_validate(old.session_id.expose(), proof(None, None))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::HandoffNotFound);
    // The claimed one and the fresh one stay.
    for kept in [&used, &fresh] {
        assert!(e
            .find_handoff_for_validate(kept.session_id.expose(), proof(None, None))
            .await
            .is_ok());
    }
    // The claimed login's session runs out after its lifetime (30 minutes by default).
    let found = e
        .find_handoff_for_validate(used.session_id.expose(), proof(None, None))
        .await
        .unwrap();
    t.clock.advance(Duration::minutes(21));
    assert_eq!(
        e.handoff_status(&found).await.unwrap().state,
        HandoffState::Expired
    );
}

#[tokio::test]
async fn validate_checks_the_secret_when_the_policy_says_so() {
    let policy = LoginPolicy {
        require_secret_on_validate: true,
        ..LoginPolicy::default()
    };
    let (t, app, secret) = setup(policy).await;
    let e = &t.engine;
    let gen = e
        .generate_handoff(&app, GenerateHandoff::default())
        .await
        .unwrap();
    let sid = gen.session_id.expose();
    let err = e
        .find_handoff_for_validate(sid, proof(None, None))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::InvalidAppCredentials);
    let err = e
        .find_handoff_for_validate(sid, proof(None, Some("wrong")))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::InvalidAppCredentials);
    let err = e
        .find_handoff_for_validate(sid, proof(Some("other-key"), Some(&secret)))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::InvalidAppCredentials);
    let key = app.app().app_key.clone();
    assert!(e
        .find_handoff_for_validate(sid, proof(Some(&key), Some(&secret)))
        .await
        .is_ok());
    let err = e
        .find_handoff_for_validate("unknown", proof(None, Some(&secret)))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::HandoffNotFound);
}

#[tokio::test]
async fn cancel_fails_the_login_and_changes_are_broadcast() {
    let (t, app, _) = setup(LoginPolicy::default()).await;
    let e = &t.engine;
    let gen = e
        .generate_handoff(&app, GenerateHandoff::default())
        .await
        .unwrap();
    let mut changes = e.subscribe_handoff_changes();
    let token = gen.token.expose().as_str();
    let browser = claim(e, token, None).await;
    assert_eq!(changes.recv().await.unwrap(), gen.handoff_id);
    let ended = act(e, token, &browser, LoginAction::Cancel).await.unwrap();
    assert!(
        matches!(ended.next, Next::Ended(LoginEnd::Ended)),
        "{:?}",
        ended.next
    );
    assert_eq!(changes.recv().await.unwrap(), gen.handoff_id);
    let found = e
        .find_handoff_for_validate(gen.session_id.expose(), proof(None, None))
        .await
        .unwrap();
    assert_eq!(
        e.handoff_status(&found).await.unwrap().state,
        HandoffState::Failed
    );
    let err = change(e, token, &browser, login(PW)).await.unwrap_err();
    assert_eq!(err, DomainError::HandoffEnded);
}

#[test]
fn cookie_names_differ_per_link_and_hide_the_token() {
    let a = handoff_cookie_name("token-a");
    assert_ne!(a, handoff_cookie_name("token-b"));
    assert!(a.starts_with("vestibule_claim_") && !a.contains("token"));
    assert_eq!(a.len(), "vestibule_claim_".len() + 16);
}

/// What the hosted page learns about passkeys: nothing before a user is known; then the
/// login name, whether the user has a passkey, and whether one may be added now.
#[tokio::test]
async fn the_page_learns_where_passkeys_stand() {
    use crate::model::WebAuthnCredential;
    use crate::store::Store;
    use crate::testing::test_engine_with;
    let engine = test_engine_with(crate::Config {
        rp_id: "login.example".into(),
        rp_origin: "https://login.example".into(),
        ..crate::Config::default()
    })
    .unwrap();
    let (t, app, _) = setup_with(engine, LoginPolicy::default()).await;
    let e = &t.engine;
    let alice = e
        .find_user_by_login_name(&LoginName::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    let gen = e
        .generate_handoff(&app, GenerateHandoff::default())
        .await
        .unwrap();
    let token = gen.token.expose().as_str();
    let browser = claim(e, token, None).await;
    let stands = act(e, token, &browser, LoginAction::Show).await.unwrap();
    assert!(stands.webauthn && stands.passkeys);
    let passkeys = |s: &HostedStep| (s.login_name.clone(), s.has_passkey, s.can_register_passkey);
    assert_eq!(passkeys(&stands), (None, false, false));
    let stands = change(e, token, &browser, login(PW)).await.unwrap();
    assert_eq!(passkeys(&stands), (Some("alice".into()), false, true));
    // Another browser learns nothing.
    let err = act(e, token, "not the browser", LoginAction::Show)
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::HandoffLinkUsed);
    // With a passkey registered (stored as the store keeps it), it is known.
    let now = e.now();
    t.store
        .insert_webauthn_credential(&WebAuthnCredential {
            id: "c1".into(),
            user_id: alice.id.clone(),
            kind: WebAuthnKind::Passkey,
            credential_id: vec![1, 2, 3],
            credential: serde_json::json!({}),
            name: "Passkey".into(),
            sign_count: 0,
            backup_eligible: false,
            backed_up: false,
            created_at: now,
            last_used_at: None,
        })
        .await
        .unwrap();
    assert!(
        act(e, token, &browser, LoginAction::Show)
            .await
            .unwrap()
            .has_passkey
    );
}

/// The defect of a stolen password: a user with a password and TOTP signs in on app A
/// (password enough) and the page offers a passkey, which would then sign in alone on app B
/// (second factor required). The rule of every enrollment refuses it until TOTP passed in
/// this login; a user with a password alone may add one, is told by email, and the new
/// passkey counts from the next login on.
#[tokio::test]
async fn a_password_alone_adds_no_passkey_next_to_totp() {
    use crate::input::{Email, Language, TotpCode};
    use crate::notifier::{ChangedFrom, MethodChange};
    use crate::testing::test_engine_with;
    use webauthn_authenticator_rs::prelude::{
        CreationChallengeResponse, RequestChallengeResponse, Url,
    };
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::WebauthnAuthenticator;

    let engine = test_engine_with(crate::Config {
        rp_id: "login.example".into(),
        rp_origin: "https://login.example".into(),
        ..crate::Config::default()
    })
    .unwrap();
    let (t, app_a, _) = setup_with(engine, LoginPolicy::default()).await;
    let e = &t.engine;
    let (raw_b, secret_b) = e
        .create_app(NewApp {
            name: Name::parse("Bank").unwrap(),
            redirect_uris: vec![HttpUrl::parse("uri", "https://bank.example/cb").unwrap()],
            policy: LoginPolicy {
                require_second_factor: true,
                ..LoginPolicy::default()
            },
            branding: Default::default(),
        })
        .await
        .unwrap();
    let app_b = e
        .authenticate_app(&raw_b.app_key, secret_b.expose())
        .await
        .unwrap();
    let person = |name: &str, lang: &str| NewUser {
        password: Some(NewPassword::parse(PW.into()).unwrap()),
        email: Some(Email::parse(format!("{name}@example.com")).unwrap()),
        email_verified: true,
        preferred_language: Some(Language::parse(lang).unwrap()),
        ..NewUser::named(LoginName::parse(name).unwrap())
    };
    let totp_user = e.create_user(person("tess", "en")).await.unwrap();
    let started = e.start_totp_enrollment(&totp_user.id).await.unwrap();
    let secret = totp_rs::Secret::Encoded(started.secret_base32.expose().clone())
        .to_bytes()
        .unwrap();
    let code = |at| TotpCode::parse(crate::totp::code_at(&secret, at)).unwrap();
    e.finish_totp_enrollment(&totp_user.id, code(e.now()))
        .await
        .unwrap();
    let (to, notice) = t.notifier.notices().pop().expect("a notice for TOTP");
    assert_eq!(to, "tess@example.com");
    assert_eq!(
        (notice.change, notice.methods.clone(), notice.from.clone()),
        (
            MethodChange::Added,
            vec![FactorKind::Totp],
            ChangedFrom::Administrator
        )
    );

    let sign_in = |name: &'static str| SessionChange {
        checks: Checks {
            user: Some(UserRef::LoginName(LoginName::parse(name).unwrap())),
            password: Some(Password::parse(PW.into()).unwrap()),
            ..Default::default()
        },
        ..Default::default()
    };
    let origin = Url::parse("https://login.example").unwrap();
    async fn open(e: &Engine, app: &AuthenticatedApp) -> (String, String) {
        let gen = e
            .generate_handoff(app, GenerateHandoff::default())
            .await
            .unwrap();
        let token = gen.token.expose().clone();
        let browser = UserAgent {
            description: Some("Firefox 140 on Linux".into()),
            ..UserAgent::default()
        };
        let secret = claim(e, &token, Some(browser)).await;
        (token, secret)
    }
    async fn finish(
        e: &Engine,
        token: &str,
        browser: &str,
        registration_id: String,
        credential: serde_json::Value,
    ) -> Result<HostedStep, DomainError> {
        let action = LoginAction::FinishPasskeyRegistration {
            registration_id,
            credential,
        };
        act(e, token, browser, action).await
    }
    async fn register(
        e: &Engine,
        token: &str,
        browser: &str,
        key: &mut SoftPasskey,
    ) -> Result<(String, serde_json::Value), DomainError> {
        let step = act(e, token, browser, LoginAction::StartPasskeyRegistration).await?;
        let started = step.ceremony.unwrap();
        let options: CreationChallengeResponse = serde_json::from_value(started.options).unwrap();
        let origin = Url::parse("https://login.example").unwrap();
        let credential = key.do_registration(origin, options).unwrap();
        Ok((
            started.registration_id.unwrap(),
            serde_json::to_value(&credential).unwrap(),
        ))
    }

    // 1. Tess on app A with her password alone: app A is satisfied, but no passkey.
    let (token, browser) = open(e, &app_a).await;
    let stands = change(e, &token, &browser, sign_in("tess")).await.unwrap();
    assert!(matches!(stands.next, Next::Done(_)));
    assert!(
        !stands.can_register_passkey,
        "a password alone may not add a passkey"
    );
    let mut key = SoftPasskey::new(true);
    let refused = register(e, &token, &browser, &mut key).await.unwrap_err();
    assert_eq!(refused, DomainError::WebAuthnNotReady);
    let notices = t.notifier.notices().len();
    // With her TOTP code passed in this login, she may.
    t.clock.advance(Duration::seconds(31));
    let totp = SessionChange {
        checks: Checks {
            totp: Some(code(e.now())),
            ..Default::default()
        },
        ..Default::default()
    };
    let stands = change(e, &token, &browser, totp).await.unwrap();
    assert!(stands.can_register_passkey);
    let (id, credential) = register(e, &token, &browser, &mut key).await.unwrap();
    finish(e, &token, &browser, id, credential).await.unwrap();
    assert_eq!(t.notifier.notices().len(), notices + 1);

    // 2. Pia has a password alone: she may add a passkey (trust on first use) and is told,
    // in her language, what was added, when and from which browser.
    e.create_user(person("pia", "de-CH")).await.unwrap();
    let (token, browser) = open(e, &app_a).await;
    change(e, &token, &browser, sign_in("pia")).await.unwrap();
    t.clock.advance(Duration::seconds(1));
    let mut pia_key = SoftPasskey::new(true);
    let (id, credential) = register(e, &token, &browser, &mut pia_key).await.unwrap();
    finish(e, &token, &browser, id, credential).await.unwrap();
    let (to, notice) = t.notifier.notices().pop().unwrap();
    assert_eq!(to, "pia@example.com");
    assert_eq!(notice.methods, vec![FactorKind::Passkey]);
    assert_eq!(notice.at, e.now());
    assert_eq!(
        notice.from,
        ChangedFrom::Browser(Some("Firefox 140 on Linux".into()))
    );
    let (subject, body) = notice.render();
    assert_eq!(subject, "Neue Anmeldemethode");
    assert!(
        body.contains("passkey") && body.contains("Firefox 140 on Linux"),
        "{body}"
    );
    // The passkey made in this login does not count for it ...
    let assert_with = |key: &mut SoftPasskey, step: HostedStep| {
        let options: RequestChallengeResponse =
            serde_json::from_value(step.ceremony.unwrap().options).unwrap();
        serde_json::to_value(key.do_authentication(origin.clone(), options).unwrap()).unwrap()
    };
    let started = act(
        e,
        &token,
        &browser,
        LoginAction::WebAuthnStart { passkey: true },
    )
    .await
    .unwrap();
    let assertion = assert_with(&mut pia_key, started);
    let refused = act(e, &token, &browser, LoginAction::WebAuthnCheck(assertion))
        .await
        .unwrap_err();
    assert_eq!(refused, DomainError::WebAuthnCredentialNew);

    // 3. ... and on app B, which needs a second factor, the login starts again once she
    // made it, so that the next sign-in is the passkey's: alone it satisfies app B.
    let (token, browser) = open(e, &app_b).await;
    let stands = change(e, &token, &browser, sign_in("pia")).await.unwrap();
    assert!(matches!(stands.next, Next::SecondFactor { .. }));
    let refused = register(e, &token, &browser, &mut SoftPasskey::new(true)).await;
    assert_eq!(
        refused.unwrap_err(),
        DomainError::WebAuthnNotReady,
        "now she holds a passkey, a password alone adds nothing"
    );
    e.remove_factor(
        &e.find_user_by_login_name(&LoginName::parse("pia").unwrap())
            .await
            .unwrap()
            .unwrap()
            .id,
        FactorKind::Passkey,
    )
    .await
    .unwrap();
    let (_, removed) = t.notifier.notices().pop().unwrap();
    assert_eq!(removed.change, MethodChange::Removed);
    t.clock.advance(Duration::seconds(1));
    let mut pia_key = SoftPasskey::new(true);
    let (id, credential) = register(e, &token, &browser, &mut pia_key).await.unwrap();
    finish(e, &token, &browser, id, credential).await.unwrap();
    // The login started again, knowing only who signs in: the password counts no more.
    let stands = act(e, &token, &browser, LoginAction::Show).await.unwrap();
    assert_eq!(stands.login_name.as_deref(), Some("pia"));
    assert!(stands.has_passkey);
    t.clock.advance(Duration::seconds(1));
    let started = act(
        e,
        &token,
        &browser,
        LoginAction::WebAuthnStart { passkey: true },
    )
    .await
    .unwrap();
    let assertion = assert_with(&mut pia_key, started);
    let done = act(e, &token, &browser, LoginAction::WebAuthnCheck(assertion))
        .await
        .unwrap();
    assert!(
        matches!(done.next, Next::Done(_)),
        "the passkey signs in: {:?}",
        done.next
    );
    let sid = Engine::login_parts(&open_as(e, &token, Some(&browser)).await.unwrap())
        .2
        .map(|s| s.id.clone())
        .unwrap();
    let session = e
        .get_session(&sid, None, &crate::testing::all_sessions_caller("x"))
        .await
        .unwrap();
    assert_eq!(
        session.factors.web_auth_n.and_then(|w| w.kind),
        Some(WebAuthnKind::Passkey)
    );
}

/// Measured, not estimated: the store calls of one request of the hosted page (one
/// `open_login` and one `login_step`, all the page's server function does) for a page view,
/// a password post and a code check stay within 5 reads and 2 writes (3 for a password post
/// with a name the link has not seen: the name's event).
#[tokio::test]
async fn a_hosted_step_costs_at_most_five_reads_and_two_writes() {
    use crate::input::TotpCode;
    use crate::testing::{counted_engine_with, Access};
    let (t, counter) = counted_engine_with(crate::Config::default()).unwrap();
    let policy = LoginPolicy {
        require_second_factor: true,
        ..LoginPolicy::default()
    };
    let (t, app, _) = setup_with(t, policy).await;
    let e = &t.engine;
    let alice = e
        .find_user_by_login_name(&LoginName::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    let started = e.start_totp_enrollment(&alice.id).await.unwrap();
    let secret = totp_rs::Secret::Encoded(started.secret_base32.expose().clone())
        .to_bytes()
        .unwrap();
    let code = |at| TotpCode::parse(crate::totp::code_at(&secret, at)).unwrap();
    e.finish_totp_enrollment(&alice.id, code(e.now()))
        .await
        .unwrap();
    t.clock.advance(Duration::seconds(31));
    let gen = e
        .generate_handoff(&app, GenerateHandoff::default())
        .await
        .unwrap();
    let token = gen.token.expose().as_str();
    let browser = claim(e, token, None).await;
    counter.take();

    let mut measured = Vec::new();
    let request = |name: &'static str, action: LoginAction| {
        let browser = browser.clone();
        let counter = counter.clone();
        async move {
            let mut login = open_as(e, token, Some(&browser)).await.unwrap();
            let step = e.login_step(&mut login, action).await;
            let calls = counter.take();
            let reads = calls.iter().filter(|c| c.1 == Access::Read).count();
            let writes = calls.len() - reads;
            println!("{name}: {reads} reads, {writes} writes: {calls:?}");
            (name, reads, writes, step)
        }
    };
    let view = request("page view", LoginAction::Show).await;
    assert!(matches!(view.3.next, Next::User), "{:?}", view.3.next);
    measured.push(view);
    let password = LoginAction::Password {
        login_name: Some(LoginName::parse("alice").unwrap()),
        password: Password::parse(PW.into()).unwrap(),
    };
    let after_password = request("password post", password).await;
    assert!(
        matches!(after_password.3.next, Next::SecondFactor { .. }),
        "{:?}",
        after_password.3.next
    );
    measured.push(after_password);
    let check = LoginAction::Code(CodeCheck::Totp(code(e.now())));
    let after_code = request("code check", check).await;
    assert!(
        matches!(after_code.3.next, Next::Done(_)),
        "{:?}",
        after_code.3.next
    );
    measured.push(after_code);
    for (name, reads, writes, _) in &measured {
        // A password post with a name new to the link records that name: one write more.
        let most_writes = if *name == "password post" { 3 } else { 2 };
        assert!(
            *reads <= 5 && *writes <= most_writes,
            "{name}: {reads} reads, {writes} writes"
        );
    }
}

/// No enumeration on the hosted page: a name that failed on another link (alice), a name nobody
/// has, a deactivated user (carol) and a user locked from elsewhere (dave) give the same answers,
/// attempt for attempt; and a link that used up its attempts takes no more, for any name.
#[tokio::test]
async fn known_unknown_deactivated_and_locked_names_read_the_same() {
    let (t, app, _) = setup(LoginPolicy::default()).await;
    let e = &t.engine;
    let person = |name: &str| NewUser {
        password: Some(NewPassword::parse(PW.into()).unwrap()),
        ..NewUser::named(LoginName::parse(name).unwrap())
    };
    let carol = e.create_user(person("carol")).await.unwrap();
    e.deactivate_user(&carol.id).await.unwrap();
    e.create_user(person("dave")).await.unwrap();
    let attempt = |name: &str, pw: &str| SessionChange {
        checks: Checks {
            user: Some(UserRef::LoginName(LoginName::parse(name).unwrap())),
            password: Some(Password::parse(pw.into()).unwrap()),
            ..Default::default()
        },
        ..Default::default()
    };
    let fresh_link = || async {
        let gen = e
            .generate_handoff(&app, GenerateHandoff::default())
            .await
            .unwrap();
        let token = gen.token.expose().clone();
        let browser = claim(e, &token, None).await;
        (token, browser)
    };
    // Dave is locked through other links; alice has one failure from another link.
    for _ in 0..5 {
        let (token, browser) = fresh_link().await;
        let _ = change(e, &token, &browser, attempt("dave", "wrong password")).await;
    }
    let (token, browser) = fresh_link().await;
    let _ = change(e, &token, &browser, attempt("alice", "wrong password")).await;
    let dave = e
        .find_user_by_login_name(&LoginName::parse("dave").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(dave.locked_until.is_some(), "dave is locked for real");

    let mut seen = Vec::new();
    for name in ["alice", "nobody", "carol", "dave"] {
        let (token, browser) = fresh_link().await;
        let mut answers = Vec::new();
        for _ in 0..6 {
            match change(e, &token, &browser, attempt(name, "wrong password")).await {
                Err(DomainError::LoginFailed {
                    attempts_left,
                    lock_seconds,
                }) => answers.push((attempts_left, lock_seconds.is_some())),
                other => panic!("{name}: {other:?}"),
            }
        }
        // The spent link refuses even the right password of a user who could sign in.
        let right = change(e, &token, &browser, attempt("alice", PW)).await;
        assert!(
            matches!(
                right,
                Err(DomainError::LoginFailed {
                    attempts_left: Some(0),
                    ..
                })
            ),
            "{name}: {right:?}"
        );
        seen.push((name, answers));
    }
    let expected: Vec<(Option<u32>, bool)> = vec![
        (Some(4), false),
        (Some(3), false),
        (Some(2), false),
        (Some(1), false),
        (Some(0), true),
        (Some(0), true),
    ];
    for (name, answers) in &seen {
        assert_eq!(answers, &expected, "{name}");
    }
    // Dave's right password on a fresh link reads like a wrong one while he is locked.
    let (token, browser) = fresh_link().await;
    let refused = change(e, &token, &browser, attempt("dave", PW)).await;
    assert!(
        matches!(
            refused,
            Err(DomainError::LoginFailed {
                attempts_left: Some(4),
                lock_seconds: None
            })
        ),
        "{refused:?}"
    );
}

/// Mail scanners and chat previews fetch links: viewing a link claims nothing, so the person
/// who opens it afterwards can still sign in; the first browser that acts binds it.
#[tokio::test]
async fn viewing_a_link_claims_nothing_and_the_first_action_does() {
    let (t, app, _) = setup(LoginPolicy::default()).await;
    let e = &t.engine;
    let gen = e
        .generate_handoff(&app, GenerateHandoff::default())
        .await
        .unwrap();
    let token = gen.token.expose().as_str();
    for _ in 0..3 {
        let mut scanner = open_as(e, token, None).await.unwrap();
        let step = e.login_step(&mut scanner, LoginAction::Show).await;
        assert!(matches!(step.next, Next::User), "{:?}", step.next);
        assert!(scanner.take_new_browser_secret().is_none());
    }
    let found = e
        .find_handoff_for_validate(gen.session_id.expose(), proof(None, None))
        .await
        .unwrap();
    let status = e.handoff_status(&found).await.unwrap();
    assert_eq!(status.state, HandoffState::Pending);
    assert!(status.engine_session_id.is_none(), "nothing was made");
    // The person's first step claims the link for their browser.
    let mut person = open_as(e, token, None).await.unwrap();
    let step = e
        .login_step(
            &mut person,
            LoginAction::Password {
                login_name: Some(LoginName::parse("alice").unwrap()),
                password: Password::parse(PW.into()).unwrap(),
            },
        )
        .await;
    assert!(matches!(step.next, Next::Done(_)), "{:?}", step.next);
    let secret = person.take_new_browser_secret().expect("claimed now");
    // Anyone else, scanner or not, now gets "already used"; the person gets back in.
    assert_eq!(
        open_as(e, token, None).await.unwrap_err(),
        DomainError::HandoffLinkUsed
    );
    assert!(open_as(e, token, Some(secret.expose())).await.is_ok());
    // A second browser that viewed the page before and acts after loses the race.
    let gen = e
        .generate_handoff(&app, GenerateHandoff::default())
        .await
        .unwrap();
    let token = gen.token.expose().as_str();
    let mut early = open_as(e, token, None).await.unwrap();
    let mut late = open_as(e, token, None).await.unwrap();
    let won = e.login_step(&mut early, LoginAction::Claim).await;
    assert!(won.refused.is_none());
    let lost = e.login_step(&mut late, LoginAction::Claim).await;
    assert_eq!(lost.refused, Some(DomainError::HandoffLinkUsed));
    assert!(matches!(lost.next, Next::Ended(LoginEnd::LinkUsed)));
    // Two first requests of one browser (a form post and the passkey autofill request) carry
    // the secret its page view handed out: both get in, and the link is bound to that secret.
    let gen = e
        .generate_handoff(&app, GenerateHandoff::default())
        .await
        .unwrap();
    let token = gen.token.expose().as_str();
    let held = e.new_browser_secret().into_inner();
    let mut first = open_as(e, token, Some(&held)).await.unwrap();
    let mut second = open_as(e, token, Some(&held)).await.unwrap();
    let one = e.login_step(&mut first, LoginAction::Claim).await;
    let two = e
        .login_step(&mut second, LoginAction::WebAuthnStart { passkey: true })
        .await;
    assert!(one.refused.is_none(), "{:?}", one.refused);
    assert!(
        !matches!(two.refused, Some(DomainError::HandoffLinkUsed)),
        "{:?}",
        two.refused
    );
    assert!(
        first.take_new_browser_secret().is_none(),
        "the browser keeps its secret"
    );
    assert!(open_as(e, token, Some(&held)).await.is_ok());
    assert_eq!(
        open_as(e, token, None).await.unwrap_err(),
        DomainError::HandoffLinkUsed
    );
}

/// A link walks no list of names: after three different names (whatever they are) a new one
/// is refused with `SESSION-Lgn02` before any lookup, the same for a name that exists and one
/// that does not, while the names it has seen still go on to the checks (and sign in).
#[tokio::test]
async fn a_link_takes_three_login_names_and_refuses_new_ones_alike() {
    let (t, app, _) = setup(LoginPolicy::default()).await;
    let e = &t.engine;
    e.create_user(NewUser {
        password: Some(NewPassword::parse(PW.into()).unwrap()),
        ..NewUser::named(LoginName::parse("bob").unwrap())
    })
    .await
    .unwrap();
    let attempt = |name: &str, pw: &str| SessionChange {
        checks: Checks {
            user: Some(UserRef::LoginName(LoginName::parse(name).unwrap())),
            password: Some(Password::parse(pw.into()).unwrap()),
            ..Default::default()
        },
        ..Default::default()
    };
    let fresh_link = || async {
        let gen = e
            .generate_handoff(&app, GenerateHandoff::default())
            .await
            .unwrap();
        let token = gen.token.expose().clone();
        let browser = claim(e, &token, None).await;
        (token, browser)
    };
    // A fourth name, known (bob) or unknown (nobody), reads the same on links that saw three.
    let mut refusals = Vec::new();
    for fourth in ["bob", "nobody"] {
        let (token, browser) = fresh_link().await;
        for name in ["x1", "x2", "ALICE"] {
            let answer = change(e, &token, &browser, attempt(name, "wrong password")).await;
            assert!(
                matches!(answer, Err(DomainError::LoginFailed { .. })),
                "{name}: {answer:?}"
            );
        }
        let refused = change(e, &token, &browser, attempt(fourth, PW)).await;
        let Err(err) = refused else {
            panic!("{fourth}: {refused:?}")
        };
        assert_eq!(err.id(), "SESSION-Lgn02", "{fourth}");
        refusals.push(format!("{err:?} {}", err.message()));
        // A name the link has seen (in another letter case) still signs in.
        let signed_in = change(e, &token, &browser, attempt("alice", PW)).await;
        assert!(signed_in.is_ok(), "{fourth}: {signed_in:?}");
    }
    assert_eq!(
        refusals[0], refusals[1],
        "known and unknown names read the same"
    );
    assert_eq!(
        refusals[0],
        "LoginNamesSpent { limit: 3 } This login has been tried with too many login names"
    );
    // The refusal counts no password attempt: the link still has its own attempts left.
    let (token, browser) = fresh_link().await;
    for name in ["x1", "x2", "x3"] {
        let _ = change(e, &token, &browser, attempt(name, "wrong password")).await;
    }
    for _ in 0..3 {
        let again = change(e, &token, &browser, attempt("x4", "wrong password")).await;
        assert!(matches!(
            again,
            Err(DomainError::LoginNamesSpent { limit: 3 })
        ));
    }
    let seen = change(e, &token, &browser, attempt("x1", "wrong password")).await;
    assert!(
        matches!(
            seen,
            Err(DomainError::LoginFailed {
                attempts_left: Some(1),
                ..
            })
        ),
        "{seen:?}"
    );
}

mod code;

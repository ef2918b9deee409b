//! Engine tests (table-driven where it helps), on the in-memory store with a manual clock.

use std::collections::BTreeMap;

use time::Duration;

use super::*;
use crate::crypto::Secret;
use crate::error::ErrorKind;
use crate::input::*;
use crate::model::{
    App, Branding, FactorKind, LoginPolicy, Scope, Session, User, UserAgent, WebAuthnChallenge,
};
use crate::notifier::{SentVia, UrlTemplate};
use crate::store::{EventFilter, SessionFilter, Store};
use crate::testing::{all_sessions_caller, key_caller, test_engine, test_engine_with, TestEngine};

const PW: &str = "correct horse battery";

fn caller() -> Caller {
    key_caller("key-1")
}

async fn setup() -> (TestEngine, User) {
    setup_with(Config::default()).await
}

async fn setup_with(config: Config) -> (TestEngine, User) {
    let t = test_engine_with(config).unwrap();
    let user = t
        .engine
        .create_user(NewUser {
            email: Some(Email::parse("alice@example.com").unwrap()),
            email_verified: true,
            phone: Some(Phone::parse("+41791234567").unwrap()),
            phone_verified: true,
            password: Some(NewPassword::parse(PW.into()).unwrap()),
            ..NewUser::named(LoginName::parse("Alice").unwrap())
        })
        .await
        .unwrap();
    (t, user)
}

fn by_name(name: &str) -> Checks {
    Checks {
        user: Some(UserRef::LoginName(LoginName::parse(name).unwrap())),
        ..Default::default()
    }
}

fn with_password(name: &str, pw: &str) -> Checks {
    Checks {
        password: Some(Password::parse(pw.into()).unwrap()),
        ..by_name(name)
    }
}

fn create(checks: Checks) -> CreateSessionRequest {
    CreateSessionRequest {
        change: SessionChange {
            checks,
            ..Default::default()
        },
        user_agent: Some(UserAgent {
            ip: Some("192.0.2.1".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn set(checks: Checks) -> SetSessionRequest {
    SetSessionRequest {
        change: SessionChange {
            checks,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn set_change(change: SessionChange) -> SetSessionRequest {
    SetSessionRequest {
        change,
        ..Default::default()
    }
}

fn id_of(e: Result<impl std::fmt::Debug, DomainError>) -> &'static str {
    match e {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.id(),
    }
}

async fn session_count(t: &TestEngine) -> u64 {
    t.engine
        .list_sessions(ListSessionsQuery::default(), &all_sessions_caller("ui"))
        .await
        .unwrap()
        .total
}

async fn stored(t: &TestEngine, id: &str) -> Session {
    t.store.find_session(id).await.unwrap().unwrap()
}

#[tokio::test]
async fn create_with_user_check() {
    let (t, user) = setup().await;
    let out = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let token = out.session_token.unwrap();
    assert_eq!(token.expose().len(), 43);
    let s = stored(&t, &out.session_id).await;
    assert_eq!(out.session_id.len(), 32);
    let f = s.factors.user.clone().unwrap();
    assert_eq!(
        (f.user_id.as_str(), f.login_name.as_str()),
        (user.id.as_str(), "Alice")
    );
    assert_eq!(f.verified_at, t.clock.now());
    assert_eq!(
        f.organization_id,
        t.engine.init_instance().await.unwrap().id
    );
    assert_eq!(s.creator, "key-1");
    assert_eq!(s.expires_at, None);
    assert_eq!(s.sequence, out.details.sequence);
    let events = t.store.events();
    let kinds: Vec<_> = events.iter().map(|e| e.event.kind.as_str()).collect();
    assert_eq!(kinds, ["session.created", "check.user"]);
    assert_eq!(events[0].event.client_ip.as_deref(), Some("192.0.2.1"));
    // By id works too; the lookup by name ignores case.
    let by_id = Checks {
        user: Some(UserRef::Id(Id::parse(user.id.clone()).unwrap())),
        ..Default::default()
    };
    assert!(t
        .engine
        .create_session(create(by_id), &caller())
        .await
        .is_ok());
}

#[tokio::test]
async fn failing_checks_on_create_create_nothing() {
    let (t, _) = setup().await;
    let cases: Vec<(Checks, &str)> = vec![
        (by_name("nobody"), "QUERY-Dfbg2"),
        (with_password("alice", "wrong"), "COMMAND-3M0fs"),
        (
            Checks {
                password: Some(Password::parse("x".into()).unwrap()),
                ..Default::default()
            },
            "COMMAND-Sfw3f",
        ),
        (
            Checks {
                totp: Some(TotpCode::parse("123456".into()).unwrap()),
                ..Default::default()
            },
            "COMMAND-Sfw3t",
        ),
        (
            Checks {
                otp_sms: Some(OtpCode::parse("1".into()).unwrap()),
                ..Default::default()
            },
            "COMMAND-Sfw3s",
        ),
        (
            Checks {
                otp_email: Some(OtpCode::parse("1".into()).unwrap()),
                ..Default::default()
            },
            "COMMAND-Sfw3e",
        ),
        (
            Checks {
                recovery_code: Some(RecoveryCodeInput::parse("1".into()).unwrap()),
                ..Default::default()
            },
            "COMMAND-Sfw3c",
        ),
        (
            Checks {
                web_auth_n: Some(serde_json::json!({})),
                ..Default::default()
            },
            "COMMAND-Sfw3w",
        ),
        (
            Checks {
                web_auth_n: Some(serde_json::json!({})),
                ..by_name("alice")
            },
            "COMMAND-Ioqu5",
        ),
        (
            Checks {
                otp_sms: Some(OtpCode::parse("1".into()).unwrap()),
                ..by_name("alice")
            },
            "COMMAND-Cnoc1",
        ),
    ];
    for (checks, id) in cases {
        assert_eq!(
            id_of(t.engine.create_session(create(checks), &caller()).await),
            id
        );
    }
    assert_eq!(session_count(&t).await, 0);
    // Every failed check left an event, none names a session.
    let failed: Vec<_> = t
        .store
        .events()
        .into_iter()
        .filter(|e| e.event.outcome == crate::model::Outcome::Failed)
        .collect();
    assert_eq!(failed.len(), 10);
    assert!(failed.iter().all(|e| e.event.session_id.is_none()));
    assert_eq!(failed[1].event.kind, "check.password");
    assert_eq!(failed[1].event.error_id.as_deref(), Some("COMMAND-3M0fs"));
}

#[tokio::test]
async fn challenges_without_user() {
    let (t, _) = setup().await;
    let sms = SessionChange {
        challenges: ChallengeRequests {
            otp_sms: Some(SmsCodeDelivery { return_code: true }),
            ..Default::default()
        },
        ..Default::default()
    };
    let req = CreateSessionRequest {
        change: sms,
        ..Default::default()
    };
    assert_eq!(
        id_of(t.engine.create_session(req, &caller()).await),
        "COMMAND-JKL3g"
    );
    let email = SessionChange {
        challenges: ChallengeRequests {
            otp_email: Some(EmailCodeDelivery::Return),
            ..Default::default()
        },
        ..Default::default()
    };
    let req = CreateSessionRequest {
        change: email,
        ..Default::default()
    };
    assert_eq!(
        id_of(t.engine.create_session(req, &caller()).await),
        "COMMAND-JK3gp"
    );
}

#[tokio::test]
async fn password_success_resets_counter_and_sets_factor() {
    let (t, user) = setup().await;
    let e = t
        .engine
        .create_session(create(with_password("alice", "nope")), &caller())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        DomainError::WrongPassword {
            failed_attempts: 1,
            limit: 5,
            locked_until: None
        }
    );
    assert_eq!(e.remaining_attempts(), Some(4));
    assert_eq!(
        t.engine.get_user(&user.id).await.unwrap().password_failures,
        1
    );
    let out = t
        .engine
        .create_session(create(with_password("ALICE", PW)), &caller())
        .await
        .unwrap();
    let s = stored(&t, &out.session_id).await;
    assert_eq!(s.factors.password, Some(t.clock.now()));
    assert_eq!(
        t.engine.get_user(&user.id).await.unwrap().password_failures,
        0
    );
}

#[tokio::test]
async fn lockout_after_exactly_five_and_time_based_unlock() {
    let (t, user) = setup().await;
    let out = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let sid = out.session_id.clone();
    for n in 1..=5u32 {
        let e = t
            .engine
            .set_session(&sid, set(with_password_only("bad")), &caller())
            .await
            .unwrap_err();
        let locked = (n == 5).then(|| t.clock.now() + Duration::minutes(15));
        assert_eq!(
            e,
            DomainError::WrongPassword {
                failed_attempts: n,
                limit: 5,
                locked_until: locked
            },
            "attempt {n}"
        );
    }
    let u = t.engine.get_user(&user.id).await.unwrap();
    assert_eq!(u.password_failures, 5);
    // Locked: refused before hashing, even with the right password, with the time left.
    t.clock.advance(Duration::minutes(5));
    let e = t
        .engine
        .set_session(&sid, set(with_password_only(PW)), &caller())
        .await
        .unwrap_err();
    assert_eq!(e.id(), "COMMAND-JLK35");
    assert!(
        matches!(
            e,
            DomainError::Locked {
                seconds_left: 600,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        t.engine.get_user(&user.id).await.unwrap().password_failures,
        5
    );
    // After 15 minutes the lock is gone by itself.
    t.clock.advance(Duration::minutes(10));
    t.engine
        .set_session(&sid, set(with_password_only(PW)), &caller())
        .await
        .unwrap();
    let u = t.engine.get_user(&user.id).await.unwrap();
    assert_eq!((u.password_failures, u.locked_until), (0, None));
}

/// After a lock runs out, the next failure starts both counters afresh (as the SQL stores do):
/// an old code failure does not shorten the next round of password tries.
#[tokio::test]
async fn an_expired_lock_restarts_both_counters() {
    let (t, user) = setup().await;
    let out = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let sid = out.session_id.clone();
    let mut u = t.engine.get_user(&user.id).await.unwrap();
    u.code_failures = 3;
    u.password_failures = 5;
    u.locked_until = Some(t.clock.now() + Duration::minutes(15));
    t.store.update_user(&u).await.unwrap();
    t.clock.advance(Duration::minutes(16));
    let e = t
        .engine
        .set_session(&sid, set(with_password_only("bad")), &caller())
        .await
        .unwrap_err();
    assert_eq!(e.failed_attempts(), Some((1, 5)), "{e:?}");
    let u = t.engine.get_user(&user.id).await.unwrap();
    assert_eq!(
        (u.password_failures, u.code_failures, u.locked_until),
        (1, 0, None)
    );
}

fn with_password_only(pw: &str) -> Checks {
    Checks {
        password: Some(Password::parse(pw.into()).unwrap()),
        ..Default::default()
    }
}

#[tokio::test]
async fn admin_unlock() {
    let (t, user) = setup().await;
    for _ in 0..5 {
        let _ = t
            .engine
            .create_session(create(with_password("alice", "bad")), &caller())
            .await;
    }
    assert_eq!(
        id_of(
            t.engine
                .create_session(create(with_password("alice", PW)), &caller())
                .await
        ),
        "COMMAND-JLK35"
    );
    t.engine.unlock_user(&user.id).await.unwrap();
    assert!(t
        .engine
        .create_session(create(with_password("alice", PW)), &caller())
        .await
        .is_ok());
    assert_eq!(id_of(t.engine.unlock_user("missing").await), "QUERY-Dfbg2");
}

/// The burst of F1: thirty guesses at once, one of them right. Every attempt is reserved before
/// its hash, so exactly the limit are evaluated, whatever the position of the right one. The
/// in-memory store never yields and `join_all` polls up to thirty futures in order on every
/// round, so the first five take the five reservations before any hash ends (with more, it
/// polls them as they wake, and a right guess that passes early may reset the counter before the
/// last ones first run: a new window, which the HTTP test allows for).
#[tokio::test]
async fn a_burst_evaluates_at_most_the_limit_and_hides_the_right_guess() {
    for position in [0usize, 15, 29] {
        let (t, user) = setup().await;
        let who = caller();
        let guesses: Vec<_> = (0..30)
            .map(|i| {
                let pw = if i == position {
                    PW.to_owned()
                } else {
                    format!("wrong {i}")
                };
                t.engine
                    .create_session(create(with_password("alice", &pw)), &who)
            })
            .collect();
        let answers = futures::future::join_all(guesses).await;
        let verifications = t.engine.password_hasher().verifications();
        let ids: Vec<&str> = answers
            .iter()
            .map(|a| a.as_ref().map_or_else(DomainError::id, |_| "ok"))
            .collect();
        let count = |id: &str| ids.iter().filter(|i| **i == id).count();
        if position < 5 {
            // Among the first five: it signs in, which the limit allows. Its pass ends the lock
            // window; when it finishes before the last guesses reserve, they get a fresh window,
            // so the wrong guesses evaluated stay at the limit, never the whole burst.
            assert_eq!(ids[position], "ok");
            let wrong = count("COMMAND-3M0fs");
            assert!((4..=5).contains(&wrong), "{ids:?}");
            assert_eq!(
                verifications,
                wrong as u64 + 1,
                "one hash per evaluated guess"
            );
            assert_eq!(count("COMMAND-JLK35"), 29 - wrong);
            continue;
        }
        assert_eq!(
            verifications, 5,
            "verifications with the right guess at {position}"
        );
        assert_eq!((count("COMMAND-3M0fs"), count("COMMAND-JLK35")), (5, 25));
        let right = answers[position].as_ref().unwrap_err();
        let wrong = answers[position - 1].as_ref().unwrap_err();
        assert_eq!(right, wrong, "the right guess answers like a wrong one");
        assert_eq!(right.message(), wrong.message());
        assert_eq!(session_count(&t).await, 0, "no session was created");
        let u = t.engine.get_user(&user.id).await.unwrap();
        assert_eq!(u.password_failures, 5);
        assert!(u.locked_until.is_some());
    }
}

/// The same for TOTP codes: five wrong codes lock, and the right code then answers like them.
#[tokio::test]
async fn a_totp_burst_is_limited_and_the_right_code_answers_like_a_wrong_one() {
    let (t, user) = setup().await;
    let secret = enroll_totp(&t, &user).await;
    let code = crate::totp::code_at(&secret, t.clock.now());
    let mut sessions = Vec::new();
    for _ in 0..12 {
        let out = t
            .engine
            .create_session(create(by_name("alice")), &caller())
            .await
            .unwrap();
        sessions.push(out.session_id);
    }
    let who = caller();
    let guesses: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(i, sid)| {
            let guess = if i == 8 {
                code.clone()
            } else {
                format!(
                    "{:06}",
                    (code.parse::<u32>().unwrap() + 1 + i as u32) % 1_000_000
                )
            };
            t.engine.set_session(sid, set(totp_check(guess)), &who)
        })
        .collect();
    let answers = futures::future::join_all(guesses).await;
    let ids: Vec<&str> = answers
        .iter()
        .map(|a| a.as_ref().map_or_else(DomainError::id, |_| "ok"))
        .collect();
    assert_eq!(&ids[..5], ["COMMAND-8isk2"; 5]);
    assert!(ids[5..].iter().all(|id| *id == "COMMAND-JLK35"), "{ids:?}");
    assert_eq!(
        answers[8].as_ref().unwrap_err(),
        answers[7].as_ref().unwrap_err()
    );
    for sid in &sessions {
        assert_eq!(stored(&t, sid).await.factors.totp, None);
    }
}

/// The attempt that fills the counter locks at once; if its guess is right, its pass lifts the
/// lock again. A pass in a request that fails later gives its attempt back.
#[tokio::test]
async fn reservations_lock_at_the_limit_and_passes_give_them_back() {
    let (t, user) = setup().await;
    for _ in 0..4 {
        let _ = t
            .engine
            .create_session(create(with_password("alice", "bad")), &caller())
            .await;
    }
    // Right password, wrong recovery code: the request fails, the password attempt is given back.
    let mixed = Checks {
        recovery_code: Some(RecoveryCodeInput::parse("nonsense-code".into()).unwrap()),
        ..with_password("alice", PW)
    };
    assert_eq!(
        id_of(t.engine.create_session(create(mixed), &caller()).await),
        "COMMAND-8isk5"
    );
    let u = t.engine.get_user(&user.id).await.unwrap();
    assert_eq!(
        (u.password_failures, u.code_failures, u.locked_until),
        (4, 1, None)
    );
    // The fifth reservation locks before its hash is checked...
    let reservation = crate::store::AttemptReservation {
        user_id: user.id.clone(),
        counter: crate::store::FailureCounter::Password,
        limits: crate::store::LockoutLimits {
            password: t.engine.config().password_lockout,
            code: t.engine.config().code_lockout,
        },
        now: t.clock.now(),
        own_lock: None,
    };
    let reserved = t.store.reserve_attempt(&reservation).await.unwrap();
    assert_eq!(reserved.failures, 5);
    assert_eq!(
        reserved.locked_until,
        Some(t.clock.now() + Duration::minutes(15))
    );
    assert!(matches!(
        t.store.reserve_attempt(&reservation).await,
        Err(crate::store::StoreError::Locked { .. })
    ));
    // ...and giving it back lifts the lock it no longer justifies.
    t.store.release_attempt(&reservation).await.unwrap();
    let u = t.engine.get_user(&user.id).await.unwrap();
    assert_eq!((u.password_failures, u.locked_until), (4, None));
    // The fifth guess, right: it was reserved (and locked) before its hash, and passes.
    t.engine
        .create_session(create(with_password("alice", PW)), &caller())
        .await
        .unwrap();
    let u = t.engine.get_user(&user.id).await.unwrap();
    assert_eq!(
        (u.password_failures, u.code_failures, u.locked_until),
        (0, 1, None)
    );
}

#[tokio::test]
async fn token_rotation_and_validation() {
    let (t, _) = setup().await;
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let b = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let old = a.session_token.clone().unwrap();
    let meta = SessionChange {
        metadata: MetadataChanges::parse(BTreeMap::from([("k".into(), b"v".to_vec())])).unwrap(),
        ..Default::default()
    };
    let rotated = t
        .engine
        .set_session(&a.session_id, set_change(meta), &caller())
        .await
        .unwrap();
    let new = rotated.session_token.unwrap();
    assert_ne!(new.expose(), old.expose());
    assert!(rotated.details.sequence > a.details.sequence);
    let sid = a.session_id.as_str();
    let other = b.session_token.unwrap();
    let long = "a".repeat(201);
    for (token, ok) in [
        (new.expose().as_str(), true),
        (old.expose().as_str(), false),
        (other.expose().as_str(), false),
        ("", false),
        ("!!", false),
        (long.as_str(), false),
    ] {
        let got = t.engine.get_session(sid, Some(token), &caller()).await;
        assert_eq!(got.is_ok(), ok, "{token}");
        if !ok {
            assert_eq!(id_of(got), "QUERY-dsfr3");
            let req = SetSessionRequest {
                session_token: Some(token.to_owned()),
                ..Default::default()
            };
            assert_eq!(
                id_of(t.engine.set_session(sid, req, &caller()).await),
                "COMMAND-sGr42"
            );
            assert_eq!(
                id_of(t.engine.delete_session(sid, Some(token), &caller()).await),
                "COMMAND-sGr42"
            );
        }
    }
    // Without a token, get is allowed (the caller was authorised by its API key).
    assert!(t.engine.get_session(sid, None, &caller()).await.is_ok());
    assert_eq!(
        id_of(t.engine.get_session("nope", None, &caller()).await),
        "QUERY-Sess0n"
    );
    assert_eq!(
        id_of(
            t.engine
                .set_session("nope", set(Checks::default()), &caller())
                .await
        ),
        "QUERY-Sess0n"
    );
}

#[tokio::test]
async fn no_op_set_writes_nothing() {
    let (t, _) = setup().await;
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let before = t.store.events().len();
    let same_meta = SessionChange {
        metadata: MetadataChanges::parse(BTreeMap::from([("absent".into(), vec![])])).unwrap(),
        ..Default::default()
    };
    for req in [set(Checks::default()), set_change(same_meta)] {
        let out = t
            .engine
            .set_session(&a.session_id, req, &caller())
            .await
            .unwrap();
        assert!(out.session_token.is_none());
        assert_eq!(out.details.sequence, a.details.sequence);
    }
    assert_eq!(t.store.events().len(), before);
    // The old token still works.
    assert!(t
        .engine
        .get_session(
            &a.session_id,
            Some(a.session_token.unwrap().expose()),
            &caller()
        )
        .await
        .is_ok());
}

#[tokio::test]
async fn metadata_set_overwrite_delete_and_limit() {
    let (t, _) = setup().await;
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let meta = |pairs: &[(&str, &[u8])]| SessionChange {
        metadata: MetadataChanges::parse(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
        )
        .unwrap(),
        ..Default::default()
    };
    t.engine
        .set_session(
            &a.session_id,
            set_change(meta(&[("a", b"1"), ("b", b"2")])),
            &caller(),
        )
        .await
        .unwrap();
    t.engine
        .set_session(
            &a.session_id,
            set_change(meta(&[("a", b"3"), ("b", b"")])),
            &caller(),
        )
        .await
        .unwrap();
    let s = stored(&t, &a.session_id).await;
    assert_eq!(
        s.metadata,
        BTreeMap::from([("a".to_string(), b"3".to_vec())])
    );
    // 50 keys on the session at most, across requests.
    let many: Vec<(String, Vec<u8>)> = (0..49).map(|i| (format!("k{i}"), vec![1])).collect();
    let change = SessionChange {
        metadata: MetadataChanges::parse(many.into_iter().collect()).unwrap(),
        ..Default::default()
    };
    t.engine
        .set_session(&a.session_id, set_change(change), &caller())
        .await
        .unwrap();
    let e = t
        .engine
        .set_session(
            &a.session_id,
            set_change(meta(&[("one-more", b"x")])),
            &caller(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        DomainError::InvalidField {
            field: "metadata",
            reason: "too many keys on the session"
        }
    );
    assert_eq!(stored(&t, &a.session_id).await.metadata.len(), 50);
}

#[tokio::test]
async fn lifetime_slides_and_expiry_refuses_changes() {
    let (t, _) = setup().await;
    let req = CreateSessionRequest {
        change: SessionChange {
            lifetime: Some(Lifetime::from_seconds(60).unwrap()),
            ..Default::default()
        },
        ..Default::default()
    };
    let a = t.engine.create_session(req, &caller()).await.unwrap();
    let start = t.clock.now();
    assert_eq!(
        stored(&t, &a.session_id).await.expires_at,
        Some(start + Duration::seconds(60))
    );
    t.clock.advance(Duration::seconds(30));
    let slide = SessionChange {
        lifetime: Some(Lifetime::from_seconds(60).unwrap()),
        ..Default::default()
    };
    let out = t
        .engine
        .set_session(&a.session_id, set_change(slide), &caller())
        .await
        .unwrap();
    assert!(
        out.session_token.is_some(),
        "sending a lifetime is a change"
    );
    assert_eq!(
        stored(&t, &a.session_id).await.expires_at,
        Some(start + Duration::seconds(90))
    );
    // A set without lifetime leaves expiry alone.
    t.engine
        .set_session(&a.session_id, set(by_name("alice")), &caller())
        .await
        .unwrap();
    assert_eq!(
        stored(&t, &a.session_id).await.expires_at,
        Some(start + Duration::seconds(90))
    );
    t.clock.advance(Duration::seconds(60));
    assert_eq!(
        id_of(
            t.engine
                .set_session(&a.session_id, set(by_name("alice")), &caller())
                .await
        ),
        "COMMAND-Hkl3d"
    );
    // Get and List still return it; Delete terminates it.
    assert!(t
        .engine
        .get_session(&a.session_id, None, &caller())
        .await
        .is_ok());
    assert_eq!(session_count(&t).await, 1);
    t.engine
        .delete_session(&a.session_id, None, &caller())
        .await
        .unwrap();
    assert!(stored(&t, &a.session_id).await.terminated);
}

#[tokio::test]
async fn terminated_sessions() {
    let (t, _) = setup().await;
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let token = a.session_token.unwrap();
    let d = t
        .engine
        .delete_session(&a.session_id, Some(token.expose()), &caller())
        .await
        .unwrap();
    assert!(d.sequence > a.details.sequence);
    assert_eq!(
        id_of(
            t.engine
                .set_session(&a.session_id, set(by_name("alice")), &caller())
                .await
        ),
        "COMMAND-Hewfq"
    );
    // Deleting again succeeds and writes nothing.
    let n = t.store.events().len();
    let again = t
        .engine
        .delete_session(&a.session_id, None, &caller())
        .await
        .unwrap();
    assert_eq!(again.sequence, d.sequence);
    assert_eq!(t.store.events().len(), n);
    // Gone for every reader: Get answers like an unknown id, with or without its token, and
    // a search no longer finds it.
    assert!(stored(&t, &a.session_id).await.terminated);
    for token in [None, Some(token.expose().as_str())] {
        let gone = t.engine.get_session(&a.session_id, token, &caller()).await;
        let unknown = t.engine.get_session("missing", token, &caller()).await;
        assert_eq!(id_of(gone), "QUERY-Sess0n");
        assert_eq!(id_of(unknown), "QUERY-Sess0n");
    }
    let gone = t
        .engine
        .get_session(&a.session_id, None, &all_sessions_caller("ui"))
        .await;
    assert_eq!(id_of(gone), "QUERY-Sess0n");
    assert_eq!(session_count(&t).await, 0);
    // Missing session: fine without token, refused with one.
    assert!(t
        .engine
        .delete_session("missing", None, &caller())
        .await
        .is_ok());
    assert_eq!(
        id_of(
            t.engine
                .delete_session("missing", Some("x"), &caller())
                .await
        ),
        "COMMAND-sGr42"
    );
}

#[tokio::test]
async fn user_change_refused_same_user_refreshes() {
    let (t, _) = setup().await;
    t.engine
        .create_user(NewUser::named(LoginName::parse("bob").unwrap()))
        .await
        .unwrap();
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    t.clock.advance(Duration::seconds(10));
    let e = t
        .engine
        .set_session(&a.session_id, set(by_name("bob")), &caller())
        .await
        .unwrap_err();
    assert_eq!(
        (e.id(), e.kind()),
        ("SESSION-Uch4n", ErrorKind::InvalidArgument)
    );
    t.engine
        .set_session(&a.session_id, set(by_name("ALICE")), &caller())
        .await
        .unwrap();
    let s = stored(&t, &a.session_id).await;
    assert_eq!(s.factors.user.unwrap().verified_at, t.clock.now());
}

#[tokio::test]
async fn inactive_user_refused() {
    let (t, user) = setup().await;
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    t.engine.deactivate_user(&user.id).await.unwrap();
    assert_eq!(
        id_of(
            t.engine
                .create_session(create(by_name("alice")), &caller())
                .await
        ),
        "SESSION-Gj4ko"
    );
    assert_eq!(
        id_of(
            t.engine
                .set_session(&a.session_id, set(with_password_only(PW)), &caller())
                .await
        ),
        "SESSION-Gj4ko"
    );
    t.engine.reactivate_user(&user.id).await.unwrap();
    assert!(t
        .engine
        .set_session(&a.session_id, set(with_password_only(PW)), &caller())
        .await
        .is_ok());
}

#[tokio::test]
async fn password_not_set_and_concealed_errors() {
    let (t, _) = setup().await;
    t.engine
        .create_user(NewUser::named(LoginName::parse("nopw").unwrap()))
        .await
        .unwrap();
    assert_eq!(
        id_of(
            t.engine
                .create_session(create(with_password("nopw", "whatever")), &caller())
                .await
        ),
        "COMMAND-3nJ4t"
    );
    let hosted = |checks| CreateSessionRequest {
        conceal_unknown_user: true,
        ..create(checks)
    };
    for checks in [
        with_password("nobody", "x"),
        with_password("alice", "wrong"),
        with_password("nopw", "x"),
    ] {
        assert_eq!(
            id_of(t.engine.create_session(hosted(checks), &caller()).await),
            "SESSION-Lgn01"
        );
    }
    // The v2 API keeps the contract's not-found.
    assert_eq!(
        id_of(
            t.engine
                .create_session(create(with_password("nobody", "x")), &caller())
                .await
        ),
        "QUERY-Dfbg2"
    );
    assert!(t
        .engine
        .create_session(hosted(with_password("alice", PW)), &caller())
        .await
        .is_ok());
}

#[tokio::test]
async fn the_hosted_page_takes_a_unique_verified_email_as_login_name() {
    let (t, _) = setup().await;
    let add = |login: &str, email: &str, verified: bool| {
        let mut u = NewUser::named(LoginName::parse(login).unwrap());
        u.email = Some(crate::input::Email::parse(email).unwrap());
        u.email_verified = verified;
        u.password = Some(crate::input::NewPassword::parse(PW.to_owned()).unwrap());
        u
    };
    t.engine
        .create_user(add("bob", "bob@example.com", true))
        .await
        .unwrap();
    t.engine
        .create_user(add("carol", "carol@example.com", false))
        .await
        .unwrap();
    t.engine
        .create_user(add("dan", "shared@example.com", true))
        .await
        .unwrap();
    t.engine
        .create_user(add("erin", "shared@example.com", true))
        .await
        .unwrap();
    let hosted = |checks| CreateSessionRequest {
        conceal_unknown_user: true,
        ..create(checks)
    };
    let made = t
        .engine
        .create_session(hosted(with_password("Bob@Example.com", PW)), &caller())
        .await
        .unwrap();
    let session = t
        .engine
        .get_session(&made.session_id, None, &caller())
        .await
        .unwrap();
    assert_eq!(session.factors.user.unwrap().login_name, "bob");
    // Unverified, shared by two users, or through the Session API: not a login name.
    for email in ["carol@example.com", "shared@example.com"] {
        assert_eq!(
            id_of(
                t.engine
                    .create_session(hosted(with_password(email, PW)), &caller())
                    .await
            ),
            "SESSION-Lgn01",
            "{email}"
        );
    }
    assert_eq!(
        id_of(
            t.engine
                .create_session(create(with_password("bob@example.com", PW)), &caller())
                .await
        ),
        "QUERY-Dfbg2"
    );
}

#[tokio::test]
async fn rehash_on_login_when_params_changed() {
    let (t, user) = setup().await;
    let other = crate::crypto::Argon2Params {
        m_cost: 128,
        t_cost: 1,
        p_cost: 1,
    };
    let old = crate::crypto::argon2_hash(&other, PW.as_bytes(), &crate::crypto::SeededRng::new(9))
        .unwrap();
    let mut u = t.engine.get_user(&user.id).await.unwrap();
    u.password_hash = Some(old.clone());
    t.store.update_user(&u).await.unwrap();
    t.engine
        .create_session(create(with_password("alice", PW)), &caller())
        .await
        .unwrap();
    let new = t
        .engine
        .get_user(&user.id)
        .await
        .unwrap()
        .password_hash
        .unwrap();
    assert_ne!(new, old);
    assert!(new.contains("m=64,t=1,p=1"), "{new}");
}

async fn enroll_totp(t: &TestEngine, user: &User) -> Vec<u8> {
    let e = t.engine.start_totp_enrollment(&user.id).await.unwrap();
    assert!(e
        .uri
        .expose()
        .starts_with("otpauth://totp/Vestibule:Alice?"));
    assert!(e.qr_svg.expose().contains("<svg"));
    let secret = decode_base32(e.secret_base32.expose());
    let code = crate::totp::code_at(&secret, t.clock.now());
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        id_of(
            t.engine
                .finish_totp_enrollment(&user.id, TotpCode::parse(wrong.into()).unwrap())
                .await
        ),
        "COMMAND-8isk2"
    );
    t.engine
        .finish_totp_enrollment(&user.id, TotpCode::parse(code).unwrap())
        .await
        .unwrap();
    secret
}

fn decode_base32(text: &str) -> Vec<u8> {
    // The authenticator app's side of the enrollment, through the same crate's decoder.
    totp_rs::Secret::Encoded(text.to_owned())
        .to_bytes()
        .expect("the enrollment's secret is base32")
}

fn totp_check(code: String) -> Checks {
    Checks {
        totp: Some(TotpCode::parse(code).unwrap()),
        ..Default::default()
    }
}

#[tokio::test]
async fn totp_check_and_replay() {
    let (t, user) = setup().await;
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    assert_eq!(
        id_of(
            t.engine
                .set_session(&a.session_id, set(totp_check("123456".into())), &caller())
                .await
        ),
        "COMMAND-Tnr01"
    );
    let secret = enroll_totp(&t, &user).await;
    // The enrollment code used this step; the next step's code works once.
    t.clock.advance(Duration::seconds(30));
    let code = crate::totp::code_at(&secret, t.clock.now());
    t.engine
        .set_session(&a.session_id, set(totp_check(code.clone())), &caller())
        .await
        .unwrap();
    assert_eq!(
        stored(&t, &a.session_id).await.factors.totp,
        Some(t.clock.now())
    );
    let e = t
        .engine
        .set_session(&a.session_id, set(totp_check(code)), &caller())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        DomainError::TotpReplayed {
            failed_attempts: 1,
            limit: 5,
            locked_until: None
        }
    );
    // The previous step's code (inside the skew) is older than the used one: also a replay.
    let prev = crate::totp::code_at(&secret, t.clock.now() - Duration::seconds(30));
    assert_eq!(
        id_of(
            t.engine
                .set_session(&a.session_id, set(totp_check(prev)), &caller())
                .await
        ),
        "COMMAND-Trpl1"
    );
    let wrong = if crate::totp::code_at(&secret, t.clock.now()) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let e = t
        .engine
        .set_session(&a.session_id, set(totp_check(wrong.into())), &caller())
        .await
        .unwrap_err();
    assert_eq!(
        (e.id(), e.failed_attempts()),
        ("COMMAND-8isk2", Some((3, 5)))
    );
    let events = t
        .store
        .list_events(&EventFilter {
            session_id: Some(a.session_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(events
        .iter()
        .any(|e| e.event.kind == "check.totp"
            && e.event.error_id.as_deref() == Some("COMMAND-Trpl1")));
}

fn email_challenge(delivery: EmailCodeDelivery) -> SetSessionRequest {
    set_change(SessionChange {
        challenges: ChallengeRequests {
            otp_email: Some(delivery),
            ..Default::default()
        },
        ..Default::default()
    })
}

fn sms_challenge(return_code: bool) -> SetSessionRequest {
    set_change(SessionChange {
        challenges: ChallengeRequests {
            otp_sms: Some(SmsCodeDelivery { return_code }),
            ..Default::default()
        },
        ..Default::default()
    })
}

fn otp_email_check(code: &str) -> Checks {
    Checks {
        otp_email: Some(OtpCode::parse(code.into()).unwrap()),
        ..Default::default()
    }
}

fn otp_sms_check(code: &str) -> Checks {
    Checks {
        otp_sms: Some(OtpCode::parse(code.into()).unwrap()),
        ..Default::default()
    }
}

#[tokio::test]
async fn email_code_sent_with_template_then_single_use() {
    let (t, user) = setup().await;
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    assert_eq!(
        id_of(
            t.engine
                .set_session(
                    &a.session_id,
                    email_challenge(EmailCodeDelivery::Return),
                    &caller()
                )
                .await
        ),
        "COMMAND-JKLJ3"
    );
    t.engine.set_otp_email(&user.id, true).await.unwrap();
    let template =
        UrlTemplate::parse("https://login.example.com/otp?code={{.Code}}&s={{.SessionID}}")
            .unwrap();
    let out = t
        .engine
        .set_session(
            &a.session_id,
            email_challenge(EmailCodeDelivery::Send {
                url_template: Some(template),
            }),
            &caller(),
        )
        .await
        .unwrap();
    assert!(out.challenges.otp_email.is_none());
    let sent = t.notifier.last().unwrap();
    assert_eq!(
        (sent.via, sent.to.as_str()),
        (SentVia::Email, "alice@example.com")
    );
    let code = sent.code.expose().clone();
    assert_eq!(
        sent.context.url.unwrap().expose(),
        &format!(
            "https://login.example.com/otp?code={code}&s={}",
            a.session_id
        )
    );
    // Stored hashed, never plain.
    let pending = stored(&t, &a.session_id)
        .await
        .challenges
        .otp_email
        .unwrap();
    assert_ne!(pending.code_hash, code);
    assert_eq!(pending.expires_at, t.clock.now() + Duration::minutes(10));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let e = t
        .engine
        .set_session(&a.session_id, set(otp_email_check(wrong)), &caller())
        .await
        .unwrap_err();
    assert_eq!(
        (e.id(), e.failed_attempts()),
        ("COMMAND-8isk4", Some((1, 5)))
    );
    assert_eq!(
        stored(&t, &a.session_id)
            .await
            .challenges
            .otp_email
            .unwrap()
            .failed_attempts,
        1
    );
    t.engine
        .set_session(&a.session_id, set(otp_email_check(&code)), &caller())
        .await
        .unwrap();
    let s = stored(&t, &a.session_id).await;
    assert_eq!(s.factors.otp_email, Some(t.clock.now()));
    assert!(s.challenges.otp_email.is_none());
    assert_eq!(t.engine.get_user(&user.id).await.unwrap().code_failures, 0);
    // Reuse: the challenge is gone.
    assert_eq!(
        id_of(
            t.engine
                .set_session(&a.session_id, set(otp_email_check(&code)), &caller())
                .await
        ),
        "COMMAND-Cnoc1"
    );
}

#[tokio::test]
async fn sms_code_expiry_cooldown_and_code_is_bound_to_session() {
    let (t, user) = setup().await;
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let b = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    assert_eq!(
        id_of(
            t.engine
                .set_session(&a.session_id, sms_challenge(true), &caller())
                .await
        ),
        "COMMAND-BJ2g3"
    );
    t.engine.set_otp_sms(&user.id, true).await.unwrap();
    let code_a = t
        .engine
        .set_session(&a.session_id, sms_challenge(true), &caller())
        .await
        .unwrap()
        .challenges
        .otp_sms
        .unwrap();
    assert!(t.notifier.sent().is_empty(), "return_code sends nothing");
    // Cooldown.
    t.clock.advance(Duration::seconds(10));
    let e = t
        .engine
        .set_session(&a.session_id, sms_challenge(false), &caller())
        .await
        .unwrap_err();
    assert_eq!(e, DomainError::ResendCooldown { seconds_left: 20 });
    // Another session's pending code does not accept this one.
    t.engine
        .set_session(&b.session_id, sms_challenge(false), &caller())
        .await
        .unwrap();
    let code_b = t.notifier.last().unwrap().code;
    assert_eq!(t.notifier.last().unwrap().to, "+41791234567");
    if code_a.expose() != code_b.expose() {
        assert_eq!(
            id_of(
                t.engine
                    .set_session(
                        &b.session_id,
                        set(otp_sms_check(code_a.expose())),
                        &caller()
                    )
                    .await
            ),
            "COMMAND-8isk3"
        );
    }
    // Expiry after 10 minutes.
    t.clock.advance(Duration::minutes(10));
    assert_eq!(
        id_of(
            t.engine
                .set_session(
                    &a.session_id,
                    set(otp_sms_check(code_a.expose())),
                    &caller()
                )
                .await
        ),
        "COMMAND-Cexp1"
    );
    // After the cooldown a new code replaces the old one.
    let fresh = t
        .engine
        .set_session(&a.session_id, sms_challenge(true), &caller())
        .await
        .unwrap()
        .challenges
        .otp_sms
        .unwrap();
    t.engine
        .set_session(&a.session_id, set(otp_sms_check(fresh.expose())), &caller())
        .await
        .unwrap();
}

#[tokio::test]
async fn code_attempt_limit_per_code() {
    let mut config = Config::default();
    config.code_lockout.limit = 20;
    let (t, user) = setup_with(config).await;
    t.engine.set_otp_sms(&user.id, true).await.unwrap();
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let code = t
        .engine
        .set_session(&a.session_id, sms_challenge(true), &caller())
        .await
        .unwrap()
        .challenges
        .otp_sms
        .unwrap();
    let wrong = if code.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    for n in 1..=5 {
        let e = t
            .engine
            .set_session(&a.session_id, set(otp_sms_check(wrong)), &caller())
            .await
            .unwrap_err();
        assert_eq!(e.failed_attempts(), Some((n, 20)));
    }
    // Even the right code is refused now; a new code is needed.
    assert_eq!(
        id_of(
            t.engine
                .set_session(&a.session_id, set(otp_sms_check(code.expose())), &caller())
                .await
        ),
        "COMMAND-Catt1"
    );
}

#[tokio::test]
async fn code_failures_lock_the_user() {
    let (t, user) = setup().await;
    t.engine.set_otp_sms(&user.id, true).await.unwrap();
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let code = t
        .engine
        .set_session(&a.session_id, sms_challenge(true), &caller())
        .await
        .unwrap()
        .challenges
        .otp_sms
        .unwrap();
    let wrong = if code.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        let _ = t
            .engine
            .set_session(&a.session_id, set(otp_sms_check(wrong)), &caller())
            .await;
    }
    let e = t
        .engine
        .set_session(&a.session_id, set(otp_sms_check(code.expose())), &caller())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            DomainError::Locked {
                seconds_left: 900,
                ..
            }
        ),
        "{e:?}"
    );
    // The password counter is separate: password still works? No: the account is locked.
    assert_eq!(
        id_of(
            t.engine
                .set_session(&a.session_id, set(with_password_only(PW)), &caller())
                .await
        ),
        "COMMAND-JLK35"
    );
}

#[tokio::test]
async fn delivery_failure_stores_nothing() {
    let (t, user) = setup().await;
    t.engine.set_otp_email(&user.id, true).await.unwrap();
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    t.notifier.set_failing(true);
    let e = t
        .engine
        .set_session(
            &a.session_id,
            email_challenge(EmailCodeDelivery::Send { url_template: None }),
            &caller(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.id(), "NOTIFY-Snd01");
    assert!(stored(&t, &a.session_id)
        .await
        .challenges
        .otp_email
        .is_none());
}

#[tokio::test]
async fn recovery_codes_single_use() {
    let (t, user) = setup().await;
    let codes = t.engine.generate_recovery_codes(&user.id).await.unwrap();
    assert_eq!(codes.len(), 10);
    let stored_codes = t.store.list_recovery_codes(&user.id).await.unwrap();
    assert!(stored_codes
        .iter()
        .all(|c| !codes.iter().any(|p| p.expose() == &c.code_hash)));
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let rc = |c: &str| Checks {
        recovery_code: Some(RecoveryCodeInput::parse(c.into()).unwrap()),
        ..Default::default()
    };
    t.engine
        .set_session(
            &a.session_id,
            set(rc(&codes[3].expose().to_uppercase())),
            &caller(),
        )
        .await
        .unwrap();
    assert!(stored(&t, &a.session_id)
        .await
        .factors
        .recovery_code
        .is_some());
    let e = t
        .engine
        .set_session(&a.session_id, set(rc(codes[3].expose())), &caller())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        DomainError::RecoveryCodeInvalid {
            failed_attempts: 1,
            limit: 5,
            locked_until: None
        }
    );
    assert_eq!(
        id_of(
            t.engine
                .set_session(&a.session_id, set(rc("nope")), &caller())
                .await
        ),
        "COMMAND-8isk5"
    );
    assert_eq!(
        t.engine
            .list_factors(&user.id)
            .await
            .unwrap()
            .recovery_codes_left,
        9
    );
}

#[tokio::test]
async fn double_submit_is_refused_while_in_flight() {
    let (t, _) = setup().await;
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let guard = t.engine.claim(&a.session_id).unwrap();
    let e = t
        .engine
        .set_session(&a.session_id, set(with_password_only("bad")), &caller())
        .await
        .unwrap_err();
    assert_eq!(
        (e.id(), e.kind(), e.is_retryable()),
        ("SESSION-Cnc01", ErrorKind::Aborted, true)
    );
    drop(guard);
    let u = t
        .engine
        .find_user_by_login_name(&LoginName::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        u.password_failures, 0,
        "the refused request counted nothing"
    );
}

#[tokio::test]
async fn stale_sequence_is_a_conflict() {
    let (t, _) = setup().await;
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let s = stored(&t, &a.session_id).await;
    let event = t.store.events()[0].event.clone();
    let first = crate::store::SessionWrite {
        session: s.clone(),
        expected_sequence: Some(s.sequence),
        events: vec![event.clone()],
        user_effects: vec![],
        attach_to_handoff: None,
    };
    t.store.write_session(&first).await.unwrap();
    let e = t.store.write_session(&first).await.unwrap_err();
    assert_eq!(
        crate::error::store_err("x", e),
        DomainError::ConcurrentChange
    );
}

#[tokio::test]
async fn webauthn_check_refusals_over_memory_store() {
    let (t, _) = setup().await;
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let check = || Checks {
        web_auth_n: Some(serde_json::json!({})),
        ..Default::default()
    };
    // No challenge yet: the contract's error.
    let e = t
        .engine
        .set_session(&a.session_id, set(check()), &caller())
        .await
        .unwrap_err();
    assert_eq!(
        (e.id(), e.kind()),
        ("COMMAND-Ioqu5", ErrorKind::FailedPrecondition)
    );
    // A stored state the library cannot read is an internal error, never a pass.
    let mut s = stored(&t, &a.session_id).await;
    s.challenges.web_auth_n = Some(WebAuthnChallenge {
        rp_id: "localhost".into(),
        user_verification_required: true,
        state: serde_json::json!({}),
        expires_at: t.clock.now() + Duration::minutes(5),
    });
    t.store.put_session(s);
    let e = t
        .engine
        .set_session(&a.session_id, set(check()), &caller())
        .await
        .unwrap_err();
    assert_eq!(e.id(), "INTERNAL-0001");
    assert!(stored(&t, &a.session_id).await.factors.web_auth_n.is_none());

    // Without a relying party (an empty RP ID), WebAuthn answers SESSION-Wan00.
    let (off, _) = setup_with(Config {
        rp_id: String::new(),
        ..Config::default()
    })
    .await;
    let b = off
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let e = off
        .engine
        .set_session(&b.session_id, set(check()), &caller())
        .await
        .unwrap_err();
    assert_eq!(
        (e.id(), e.kind()),
        ("SESSION-Wan00", ErrorKind::Unimplemented)
    );
    // An RP ID that does not fit the origin is refused when the engine is built.
    let built = test_engine_with(Config {
        rp_id: "example.com".into(),
        ..Config::default()
    });
    assert_eq!(built.err().map(|e| e.id()), Some("ARG-Inval1"));
}

#[tokio::test]
async fn users_crud_and_validation() {
    let (t, user) = setup().await;
    assert_eq!(
        id_of(
            t.engine
                .create_user(NewUser::named(LoginName::parse("ALICE").unwrap()))
                .await
        ),
        "COMMAND-Dup01"
    );
    let changed = t
        .engine
        .update_profile(
            &user.id,
            ProfileChanges {
                email: Some(Some(Email::parse("new@example.com").unwrap())),
                display_name: Some(DisplayName::parse("Alice A.").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (changed.email_verified, changed.display_name.as_str()),
        (false, "Alice A.")
    );
    assert_eq!(
        id_of(t.engine.set_otp_email(&user.id, true).await),
        "COMMAND-Vrf01"
    );
    t.engine.set_email_verified(&user.id, true).await.unwrap();
    t.engine.set_otp_email(&user.id, true).await.unwrap();
    let factors = t.engine.list_factors(&user.id).await.unwrap().factors;
    assert_eq!(factors, vec![FactorKind::Password, FactorKind::OtpEmail]);
    t.engine
        .remove_factor(&user.id, FactorKind::OtpEmail)
        .await
        .unwrap();
    t.engine
        .set_password(
            &user.id,
            NewPassword::parse("another password".into()).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        id_of(
            t.engine
                .create_session(create(with_password("alice", PW)), &caller())
                .await
        ),
        "COMMAND-3M0fs"
    );
    assert_eq!(t.engine.list_users(0, 0).await.unwrap().len(), 1);
    t.engine.delete_user(&user.id).await.unwrap();
    assert_eq!(id_of(t.engine.get_user(&user.id).await), "QUERY-Dfbg2");
    assert_eq!(id_of(t.engine.delete_user(&user.id).await), "QUERY-Dfbg2");
}

#[tokio::test]
async fn api_keys() {
    let t = test_engine().unwrap();
    let (key, bearer) = t
        .engine
        .create_api_key(
            Name::parse("ci").unwrap(),
            vec![Scope::Session, Scope::Session],
        )
        .await
        .unwrap();
    assert_eq!(key.scopes, vec![Scope::Session]);
    assert!(bearer.expose().starts_with("vst_"));
    let auth = t
        .engine
        .authenticate_api_key(bearer.expose())
        .await
        .unwrap();
    assert_eq!(
        auth,
        AuthenticatedKey {
            id: key.id.clone(),
            scopes: vec![Scope::Session]
        }
    );
    assert!(auth.has(Scope::Session) && !auth.has(Scope::Admin));
    for bad in ["", "vst_nope", &"a".repeat(201)] {
        assert_eq!(
            id_of(t.engine.authenticate_api_key(bad).await),
            "AUTH-Key01"
        );
    }
    t.engine.revoke_api_key(&key.id).await.unwrap();
    assert_eq!(
        id_of(t.engine.authenticate_api_key(bearer.expose()).await),
        "AUTH-Key01"
    );
    assert_eq!(id_of(t.engine.revoke_api_key("nope").await), "QUERY-Key01");
    assert_eq!(
        id_of(
            t.engine
                .create_api_key(Name::parse("x").unwrap(), vec![])
                .await
        ),
        "ARG-Inval1"
    );
}

fn new_app() -> NewApp {
    NewApp {
        name: Name::parse("Shop").unwrap(),
        redirect_uris: vec![HttpUrl::parse("redirect_uri", "https://shop.example.com/cb").unwrap()],
        policy: LoginPolicy::default(),
        branding: Branding {
            primary_color: Some("#AABBCC".into()),
            logo_url: Some("https://shop.example.com/l.png".into()),
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn apps() {
    let t = test_engine().unwrap();
    let (app, secret) = t.engine.create_app(new_app()).await.unwrap();
    assert_eq!(app.branding.primary_color.as_deref(), Some("#aabbcc"));
    assert!(!app.secret_hash.contains(secret.expose().as_str()));
    assert_eq!(
        t.engine
            .verify_app_secret(&app.app_key, secret.expose())
            .await
            .unwrap()
            .id,
        app.id
    );
    assert_eq!(
        id_of(t.engine.verify_app_secret(&app.app_key, "wrong").await),
        "AUTH-App01"
    );
    assert_eq!(
        id_of(t.engine.verify_app_secret("unknown", secret.expose()).await),
        "AUTH-App01"
    );
    let rotated = t.engine.rotate_app_secret(&app.id).await.unwrap();
    assert_eq!(
        id_of(
            t.engine
                .verify_app_secret(&app.app_key, secret.expose())
                .await
        ),
        "AUTH-App01"
    );
    assert!(t
        .engine
        .verify_app_secret(&app.app_key, rotated.expose())
        .await
        .is_ok());
    let bad_cases: Vec<(NewApp, &str)> = vec![
        (
            NewApp {
                redirect_uris: (0..21)
                    .map(|i| {
                        HttpUrl::parse("redirect_uri", &format!("https://a.example/{i}")).unwrap()
                    })
                    .collect(),
                ..new_app()
            },
            "redirect_uris",
        ),
        (
            NewApp {
                branding: Branding {
                    primary_color: Some("red".into()),
                    ..Default::default()
                },
                ..new_app()
            },
            "branding.primary_color",
        ),
        (
            NewApp {
                branding: Branding {
                    logo_url: Some("javascript:alert(1)".into()),
                    ..Default::default()
                },
                ..new_app()
            },
            "branding.logo_url",
        ),
        (
            NewApp {
                branding: Branding {
                    home_url: Some("javascript:alert(1)".into()),
                    ..Default::default()
                },
                ..new_app()
            },
            "branding.home_url",
        ),
        (
            NewApp {
                policy: LoginPolicy {
                    allowed_factors: vec![FactorKind::Totp],
                    ..LoginPolicy::default()
                },
                ..new_app()
            },
            "policy.allowed_factors",
        ),
        (
            NewApp {
                policy: LoginPolicy {
                    allowed_factors: vec![FactorKind::Password],
                    require_second_factor: true,
                    require_secret_on_validate: false,
                    passwordless: false,
                    require_code_on_validate: false,
                },
                ..new_app()
            },
            "policy.allowed_factors",
        ),
    ];
    for (bad, field) in bad_cases {
        match t.engine.create_app(bad).await {
            Err(DomainError::InvalidField { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let updated = t
        .engine
        .update_app(
            &app.id,
            AppChanges {
                name: Some(Name::parse("Shop 2").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "Shop 2");
    assert_eq!(t.engine.list_apps().await.unwrap().len(), 1);
    t.engine.delete_app(&app.id).await.unwrap();
    assert_eq!(id_of(t.engine.get_app(&app.id).await), "QUERY-App01");
}

#[tokio::test]
async fn policy_evaluation() {
    let (t, user) = setup().await;
    let (app, _) = t
        .engine
        .create_app(NewApp {
            policy: LoginPolicy {
                require_second_factor: true,
                ..LoginPolicy::default()
            },
            ..new_app()
        })
        .await
        .unwrap();
    let empty = t
        .engine
        .create_session(CreateSessionRequest::default(), &caller())
        .await
        .unwrap();
    let s = stored(&t, &empty.session_id).await;
    assert_eq!(
        t.engine.evaluate_policy(&s, &app).await.unwrap(),
        PolicyState::NeedsUser
    );
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let s = stored(&t, &a.session_id).await;
    assert_eq!(
        t.engine.evaluate_policy(&s, &app).await.unwrap(),
        PolicyState::NeedsFirstFactor {
            options: vec![FactorKind::Password, FactorKind::Passkey]
        }
    );
    t.engine
        .set_session(&a.session_id, set(with_password_only(PW)), &caller())
        .await
        .unwrap();
    t.engine.set_otp_email(&user.id, true).await.unwrap();
    let s = stored(&t, &a.session_id).await;
    assert_eq!(
        t.engine.evaluate_policy(&s, &app).await.unwrap(),
        PolicyState::NeedsSecondFactor {
            options: vec![FactorKind::OtpEmail]
        }
    );
    let code = t
        .engine
        .set_session(
            &a.session_id,
            email_challenge(EmailCodeDelivery::Return),
            &caller(),
        )
        .await
        .unwrap()
        .challenges
        .otp_email
        .unwrap();
    t.engine
        .set_session(
            &a.session_id,
            set(otp_email_check(code.expose())),
            &caller(),
        )
        .await
        .unwrap();
    let s = stored(&t, &a.session_id).await;
    let PolicyState::Satisfied(proof) = t.engine.evaluate_policy(&s, &app).await.unwrap() else {
        panic!("not satisfied")
    };
    assert_eq!(
        (proof.user_id(), proof.app_id(), proof.session_id()),
        (user.id.as_str(), app.id.as_str(), a.session_id.as_str())
    );
    assert_eq!(
        proof.factors(),
        &[FactorKind::Password, FactorKind::OtpEmail]
    );
    // A factor the app does not allow does not count.
    let strict = App {
        policy: LoginPolicy {
            allowed_factors: vec![FactorKind::Password, FactorKind::Totp],
            require_second_factor: true,
            require_secret_on_validate: false,
            passwordless: false,
            require_code_on_validate: false,
        },
        ..app.clone()
    };
    assert!(matches!(
        t.engine.evaluate_policy(&s, &strict).await.unwrap(),
        PolicyState::NeedsSecondFactor { .. }
    ));
    t.engine.deactivate_user(&user.id).await.unwrap();
    assert_eq!(
        t.engine.evaluate_policy(&s, &app).await.unwrap(),
        PolicyState::UserNotActive
    );
    t.engine.reactivate_user(&user.id).await.unwrap();
    t.engine
        .delete_session(&a.session_id, None, &caller())
        .await
        .unwrap();
    let s = stored(&t, &a.session_id).await;
    assert_eq!(
        t.engine.evaluate_policy(&s, &app).await.unwrap(),
        PolicyState::Terminated
    );
}

#[tokio::test]
async fn list_sessions_filters_and_limits() {
    let (t, user) = setup().await;
    for _ in 0..3 {
        t.engine
            .create_session(create(by_name("alice")), &caller())
            .await
            .unwrap();
        t.clock.advance(Duration::seconds(1));
    }
    t.engine
        .create_session(CreateSessionRequest::default(), &key_caller("other"))
        .await
        .unwrap();
    let q = |filters, limit| ListSessionsQuery {
        filters,
        limit,
        ..Default::default()
    };
    let all = all_sessions_caller("ui");
    assert_eq!(
        t.engine
            .list_sessions(q(vec![SessionFilter::UserId(user.id.clone())], 0), &all)
            .await
            .unwrap()
            .total,
        3
    );
    assert_eq!(
        t.engine
            .list_sessions(q(vec![SessionFilter::Creator("other".into())], 0), &all)
            .await
            .unwrap()
            .total,
        1
    );
    let page = t.engine.list_sessions(q(vec![], 2), &all).await.unwrap();
    assert_eq!((page.total, page.sessions.len()), (4, 2));
    assert!(
        page.sessions[0].created_at >= page.sessions[1].created_at,
        "newest first"
    );
    assert_eq!(t.engine.list_limit(0), 100);
    assert_eq!(t.engine.list_limit(5000), 1000);
}

#[tokio::test]
async fn instance_is_stable() {
    let t = test_engine().unwrap();
    let a = t.engine.init_instance().await.unwrap();
    let b = t.engine.init_instance().await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a.id.len(), 32);
}

#[tokio::test]
async fn error_ids_and_kinds_are_stable() {
    use crate::error::{Channel, CheckKind, TokenSide};
    let now = crate::testing::test_epoch();
    let table: Vec<(DomainError, &str, ErrorKind)> = vec![
        (
            DomainError::UserNotFound,
            "QUERY-Dfbg2",
            ErrorKind::NotFound,
        ),
        (
            DomainError::UserNotActive,
            "SESSION-Gj4ko",
            ErrorKind::FailedPrecondition,
        ),
        (
            DomainError::WrongPassword {
                failed_attempts: 1,
                limit: 5,
                locked_until: None,
            },
            "COMMAND-3M0fs",
            ErrorKind::InvalidArgument,
        ),
        (
            DomainError::Locked {
                until: now,
                seconds_left: 1,
            },
            "COMMAND-JLK35",
            ErrorKind::FailedPrecondition,
        ),
        (
            DomainError::PasswordNotSet,
            "COMMAND-3nJ4t",
            ErrorKind::FailedPrecondition,
        ),
        (
            DomainError::UserMissing {
                check: CheckKind::Password,
            },
            "COMMAND-Sfw3f",
            ErrorKind::FailedPrecondition,
        ),
        (
            DomainError::SessionExpired,
            "COMMAND-Hkl3d",
            ErrorKind::FailedPrecondition,
        ),
        (
            DomainError::SessionTerminated,
            "COMMAND-Hewfq",
            ErrorKind::FailedPrecondition,
        ),
        (
            DomainError::InvalidSessionToken {
                side: TokenSide::Command,
            },
            "COMMAND-sGr42",
            ErrorKind::PermissionDenied,
        ),
        (
            DomainError::InvalidSessionToken {
                side: TokenSide::Query,
            },
            "QUERY-dsfr3",
            ErrorKind::PermissionDenied,
        ),
        (
            DomainError::InvalidLifetime { max_days: 1 },
            "COMMAND-asEG4",
            ErrorKind::InvalidArgument,
        ),
        (
            DomainError::OtpNotReady {
                channel: Channel::Sms,
            },
            "COMMAND-BJ2g3",
            ErrorKind::FailedPrecondition,
        ),
        (
            DomainError::OtpNotReady {
                channel: Channel::Email,
            },
            "COMMAND-JKLJ3",
            ErrorKind::FailedPrecondition,
        ),
        (
            DomainError::WebAuthnNoChallenge,
            "COMMAND-Ioqu5",
            ErrorKind::FailedPrecondition,
        ),
        (
            DomainError::ResendCooldown { seconds_left: 3 },
            "COMMAND-Rsnd1",
            ErrorKind::ResourceExhausted,
        ),
        (DomainError::Internal, "INTERNAL-0001", ErrorKind::Internal),
    ];
    for (e, id, kind) in table {
        assert_eq!((e.id(), e.kind()), (id, kind), "{e:?}");
    }
    assert_eq!(DomainError::Internal.message(), "Internal error");
    let _ = Secret::new(1);
}

#[tokio::test]
async fn sessions_belong_to_the_key_that_created_them() {
    let (t, _) = setup().await;
    let (a, b, ui) = (
        key_caller("key-a"),
        key_caller("key-b"),
        all_sessions_caller("login-ui"),
    );
    let mine = t
        .engine
        .create_session(create(with_password("alice", PW)), &a)
        .await
        .unwrap();
    let token = mine.session_token.clone().unwrap();
    t.engine
        .create_session(create(by_name("alice")), &b)
        .await
        .unwrap();

    // Key b reaches a's session exactly as far as one that does not exist.
    for id in [mine.session_id.as_str(), "missing"] {
        let got = t.engine.get_session(id, None, &b).await;
        assert_eq!(id_of(got), "QUERY-Sess0n", "{id}");
        let with_token = t.engine.get_session(id, Some(token.expose()), &b).await;
        assert_eq!(id_of(with_token), "QUERY-Sess0n", "{id}");
        let changed = t.engine.set_session(id, set(by_name("alice")), &b).await;
        assert_eq!(id_of(changed), "QUERY-Sess0n", "{id}");
        let deleted = t.engine.delete_session(id, None, &b).await.unwrap();
        assert_eq!(deleted.sequence, 0, "{id}");
        let deleted = t.engine.delete_session(id, Some(token.expose()), &b).await;
        assert_eq!(id_of(deleted), "COMMAND-sGr42", "{id}");
    }
    let untouched = stored(&t, &mine.session_id).await;
    assert_eq!(untouched.sequence, mine.details.sequence);
    assert!(!untouched.terminated);

    // Searches see what the key may read: its own, or everything with session_all.
    let total = |c: Caller| {
        let engine = &t.engine;
        async move {
            engine
                .list_sessions(ListSessionsQuery::default(), &c)
                .await
                .unwrap()
                .total
        }
    };
    assert_eq!(total(a.clone()).await, 1);
    assert_eq!(total(b.clone()).await, 1);
    assert_eq!(total(ui.clone()).await, 2);
    let other = ListSessionsQuery {
        filters: vec![SessionFilter::Creator("key-a".into())],
        ..Default::default()
    };
    let seen = t.engine.list_sessions(other, &b).await.unwrap();
    assert_eq!(seen.total, 0, "a filter on another key's id finds nothing");

    // The owner and a session_all key read, change and end it.
    assert!(t
        .engine
        .get_session(&mine.session_id, None, &a)
        .await
        .is_ok());
    t.engine
        .set_session(&mine.session_id, set(Checks::default()), &ui)
        .await
        .unwrap();
    t.engine
        .delete_session(&mine.session_id, None, &ui)
        .await
        .unwrap();
    assert!(stored(&t, &mine.session_id).await.terminated);

    // Without a key, a token is the only way in.
    let no_key = Caller::session_token();
    let none = t.engine.get_session("missing", None, &no_key).await;
    assert_eq!(id_of(none), "QUERY-dsfr3");
}

#[tokio::test]
async fn a_lifetime_beyond_the_configured_maximum_is_refused() {
    let (t, _) = setup_with(Config {
        max_session_lifetime: Duration::days(30),
        ..Config::default()
    })
    .await;
    let request = |days| {
        let mut r = create(by_name("alice"));
        r.change.lifetime = Some(Lifetime::parse(Duration::days(days)).unwrap());
        r
    };
    let refused = t.engine.create_session(request(31), &caller()).await;
    assert_eq!(id_of(refused), "COMMAND-asEG4");
    assert_eq!(session_count(&t).await, 0, "nothing created");
    let s = t
        .engine
        .create_session(request(30), &caller())
        .await
        .unwrap();
    let mut longer = set(Checks::default());
    longer.change.lifetime = Some(Lifetime::parse(Duration::days(3650)).unwrap());
    let refused = t.engine.set_session(&s.session_id, longer, &caller()).await;
    assert_eq!(
        refused.unwrap_err(),
        DomainError::InvalidLifetime { max_days: 30 }
    );
}

/// A security key that verified its user (PIN) is still a security key: the factor is the kind
/// the credential was registered as, not the flag of one assertion.
#[tokio::test]
async fn a_security_key_that_verified_its_user_is_still_a_security_key() {
    use crate::model::{WebAuthnFactor, WebAuthnKind};
    let (t, _) = setup().await;
    let (app, _) = t
        .engine
        .create_app(NewApp {
            policy: LoginPolicy {
                require_second_factor: true,
                ..LoginPolicy::default()
            },
            ..new_app()
        })
        .await
        .unwrap();
    let a = t
        .engine
        .create_session(create(by_name("alice")), &caller())
        .await
        .unwrap();
    let mut s = stored(&t, &a.session_id).await;
    s.factors.web_auth_n = Some(WebAuthnFactor {
        verified_at: t.clock.now(),
        user_verified: true,
        kind: Some(WebAuthnKind::SecurityKey),
    });
    let state = t.engine.evaluate_policy(&s, &app).await.unwrap();
    assert!(
        matches!(state, PolicyState::NeedsFirstFactor { .. }),
        "{state:?}"
    );
    s.factors.password = Some(t.clock.now());
    let PolicyState::Satisfied(proof) = t.engine.evaluate_policy(&s, &app).await.unwrap() else {
        panic!("password and security key satisfy the app")
    };
    assert_eq!(
        proof.factors(),
        &[FactorKind::Password, FactorKind::SecurityKey]
    );
}

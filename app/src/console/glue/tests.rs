use super::*;
use domain::service::ChallengeResponse;

fn progress(policy: PolicyState) -> HandoffProgress {
    HandoffProgress {
        policy,
        completion: None,
        challenges: ChallengeResponse::default(),
    }
}

fn contacts() -> HandoffContacts {
    HandoffContacts {
        email: Some("a•••@example.com".into()),
        phone: Some("•••• 42".into()),
    }
}

#[test]
fn steps_follow_the_engine_state() {
    let none = HandoffContacts::default();
    assert_eq!(
        step_of(
            &progress(PolicyState::NeedsUser),
            None,
            Some("alice"),
            None,
            &none
        ),
        Step::LoginName {
            value: "alice".into()
        }
    );
    assert_eq!(
        step_of(
            &progress(PolicyState::NeedsUser),
            Some("bob"),
            Some("alice"),
            None,
            &none
        ),
        Step::Password {
            login_name: Some("bob".into())
        }
    );
    assert_eq!(
        step_of(
            &progress(PolicyState::NeedsFirstFactor {
                options: vec![FactorKind::Password, FactorKind::Passkey]
            }),
            None,
            None,
            None,
            &none
        ),
        Step::Password { login_name: None }
    );
    assert_eq!(
        step_of(
            &progress(PolicyState::NeedsFirstFactor {
                options: vec![FactorKind::Passkey]
            }),
            None,
            None,
            None,
            &none
        ),
        Step::End {
            reason: EndReason::Unavailable
        }
    );
    for ended in [
        PolicyState::Expired,
        PolicyState::Terminated,
        PolicyState::UserNotActive,
    ] {
        assert_eq!(
            step_of(&progress(ended), None, None, None, &none),
            Step::End {
                reason: EndReason::Ended
            }
        );
    }
    let mut done = progress(PolicyState::NeedsUser);
    done.completion = Some(HandoffCompletion::Redirect(
        "https://a.example/cb?state=x".into(),
    ));
    assert_eq!(
        step_of(&done, None, None, None, &none),
        Step::Done {
            redirect: Some("https://a.example/cb?state=x".into())
        }
    );
    done.completion = Some(HandoffCompletion::SignedIn);
    assert_eq!(
        step_of(&done, None, None, None, &none),
        Step::Done { redirect: None }
    );
}

#[test]
fn second_factor_steps() {
    let all = progress(PolicyState::NeedsSecondFactor {
        options: vec![
            FactorKind::Totp,
            FactorKind::OtpSms,
            FactorKind::OtpEmail,
            FactorKind::RecoveryCode,
            FactorKind::SecurityKey,
        ],
    });
    let Step::Choose { options } = step_of(&all, None, None, None, &contacts()) else {
        panic!("several factors: a choice")
    };
    let factors: Vec<Factor> = options.iter().map(|o| o.factor).collect();
    assert_eq!(
        factors,
        Factor::ALL.to_vec(),
        "security keys are not offered here"
    );
    assert_eq!(options[1].to, "•••• 42");
    assert_eq!(options[2].to, "a•••@example.com");
    // A chosen factor opens its code step; one that is not offered does not.
    assert_eq!(
        step_of(&all, None, None, Some(Factor::Sms), &contacts()),
        Step::Code {
            factor: Factor::Sms,
            to: "•••• 42".into()
        }
    );
    let only_totp = progress(PolicyState::NeedsSecondFactor {
        options: vec![FactorKind::Totp],
    });
    assert_eq!(
        step_of(&only_totp, None, None, Some(Factor::Email), &contacts()),
        Step::Code {
            factor: Factor::Totp,
            to: String::new()
        },
        "a single factor without sending goes straight to its code"
    );
    let only_email = progress(PolicyState::NeedsSecondFactor {
        options: vec![FactorKind::OtpEmail],
    });
    assert!(
        matches!(
            step_of(&only_email, None, None, None, &contacts()),
            Step::Choose { .. }
        ),
        "a code that must be sent waits for the person to ask"
    );
    let none = progress(PolicyState::NeedsSecondFactor {
        options: vec![FactorKind::SecurityKey],
    });
    assert!(matches!(
        step_of(&none, None, None, None, &contacts()),
        Step::Enroll { .. }
    ));
}

#[test]
fn errors_become_plain_notices() {
    use domain::error::{Channel, CheckKind};
    let soon = time::OffsetDateTime::UNIX_EPOCH;
    let cases: Vec<(DomainError, Result<Notice, EndReason>)> = vec![
        (
            DomainError::LoginFailed {
                attempts_left: None,
                lock_seconds: None,
            },
            Ok(Notice::WrongCredentials),
        ),
        (
            DomainError::LoginFailed {
                attempts_left: Some(3),
                lock_seconds: None,
            },
            Ok(Notice::AttemptsLeft(3)),
        ),
        (
            DomainError::LoginFailed {
                attempts_left: Some(0),
                lock_seconds: Some(900),
            },
            Ok(Notice::LockedMinutes(15)),
        ),
        (DomainError::UserNotFound, Ok(Notice::WrongCredentials)),
        (DomainError::UserNotActive, Ok(Notice::WrongCredentials)),
        (DomainError::PasswordNotSet, Ok(Notice::WrongCredentials)),
        (
            DomainError::WrongPassword {
                failed_attempts: 2,
                limit: 5,
                locked_until: None,
            },
            Ok(Notice::AttemptsLeft(3)),
        ),
        (
            DomainError::Locked {
                until: soon,
                seconds_left: 61,
            },
            Ok(Notice::LockedMinutes(2)),
        ),
        (
            DomainError::InvalidCode {
                check: CheckKind::Totp,
                failed_attempts: 4,
                limit: 5,
                locked_until: None,
            },
            Ok(Notice::CodeWrongLeft(1)),
        ),
        (
            DomainError::InvalidCode {
                check: CheckKind::OtpEmail,
                failed_attempts: 5,
                limit: 5,
                locked_until: Some(soon),
            },
            Ok(Notice::LockedMinutes(15)),
        ),
        (
            DomainError::CodeExpired {
                channel: Channel::Sms,
            },
            Ok(Notice::CodeExpired),
        ),
        (
            DomainError::CodeAttemptsExhausted {
                channel: Channel::Email,
            },
            Ok(Notice::CodeAttempts),
        ),
        (
            DomainError::ResendCooldown { seconds_left: 17 },
            Ok(Notice::TooManyCodes(17)),
        ),
        (DomainError::ConcurrentChange, Ok(Notice::Busy)),
        (DomainError::Internal, Ok(Notice::Server)),
        (DomainError::DeliveryFailed, Ok(Notice::Server)),
        (DomainError::HandoffLinkUsed, Err(EndReason::LinkUsed)),
        (DomainError::HandoffLinkExpired, Err(EndReason::LinkExpired)),
        (
            DomainError::HandoffLinkNotFound,
            Err(EndReason::LinkNotFound),
        ),
        (DomainError::HandoffEnded, Err(EndReason::Ended)),
    ];
    for (err, want) in cases {
        assert_eq!(notice_of(&err), want, "{err:?}");
    }
}

#[test]
fn no_notice_shows_an_error_id() {
    let errors = [
        DomainError::LoginFailed {
            attempts_left: None,
            lock_seconds: None,
        },
        DomainError::Internal,
        DomainError::ConcurrentChange,
        DomainError::ResendCooldown { seconds_left: 30 },
    ];
    for err in errors {
        let Ok(notice) = notice_of(&err) else {
            continue;
        };
        for lang in Lang::ALL {
            let text = notice.text(lang, None, "");
            assert!(!text.contains(err.id()), "{text}");
            assert!(!text.contains('{'), "{text}");
        }
    }
}

#[test]
fn branding_accepts_only_hex_colours() {
    let b = |p: &str, bg: &str| Branding {
        primary_color: Some(p.into()),
        background_color: Some(bg.into()),
        ..Branding::default()
    };
    let css = brand_css(&b("#112233", "#fff")).unwrap();
    assert!(
        css.contains("--brand:#112233;--brand-contrast:#ffffff"),
        "{css}"
    );
    assert!(css.contains("--bg:#fff"), "{css}");
    for bad in [
        "red",
        "#12345",
        "#1234567",
        "#12g",
        "#fff;}body{display:none",
        "url(x)",
        "",
    ] {
        assert_eq!(brand_css(&b(bad, bad)), None, "{bad:?}");
    }
}

#[test]
fn origins_compare_scheme_host_and_port() {
    assert_eq!(
        origin_of("http://localhost:3000/console/session/x?y"),
        Some("http://localhost:3000".into())
    );
    assert_eq!(
        origin_of("HTTPS://Example.COM"),
        Some("https://example.com".into())
    );
    assert_eq!(origin_of("localhost:3000"), None);
    assert_eq!(origin_of("null"), None);
}

#[test]
fn the_no_js_redirect_carries_only_short_codes() {
    let view = StepView::with(
        Step::Code {
            factor: Factor::Email,
            to: "a•••@example.com".into(),
        },
        Some(Notice::CodeWrongLeft(2)),
    );
    assert_eq!(
        page_url("tok/en", Some(Lang::De), &view),
        "/console/session/tok%2Fen?lang=de&f=email&n=codeleft-2"
    );
    assert_eq!(
        page_url(
            "t",
            None,
            &StepView::new(Step::Password { login_name: None })
        ),
        "/console/session/t"
    );
}

#[test]
fn only_our_origin_may_post() {
    let ours = "http://localhost:3000";
    assert!(same_origin(ours, Some("http://localhost:3000"), None));
    assert!(same_origin(ours, None, Some("same-origin")));
    assert!(!same_origin(
        ours,
        Some("https://evil.example"),
        Some("same-origin")
    ));
    assert!(!same_origin(ours, Some("http://localhost:3001"), None));
    assert!(!same_origin(ours, None, Some("cross-site")));
    assert!(!same_origin(ours, None, None));
    assert!(!same_origin("", Some(""), None));
}

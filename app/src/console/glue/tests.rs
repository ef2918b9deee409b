use super::super::MAX_CREDENTIAL_CHARS;
use super::*;
use domain::service::ChallengeResponse;

fn progress(policy: PolicyState) -> HandoffProgress {
    HandoffProgress {
        policy,
        completion: None,
        challenges: ChallengeResponse::default(),
        webauthn: true,
        passkeys: true,
    }
}

/// The same state on a server without WebAuthn (its public URL is an IP address).
fn without_webauthn(policy: PolicyState) -> HandoffProgress {
    HandoffProgress {
        webauthn: false,
        passkeys: false,
        ..progress(policy)
    }
}

fn contacts() -> HandoffContacts {
    HandoffContacts {
        email: Some("a•••@example.com".into()),
        phone: Some("•••• 42".into()),
    }
}

/// `step_of` for a browser that does not remember a passkey for the name.
fn step(
    p: &HandoffProgress,
    pending: Option<&str>,
    hint: Option<&str>,
    chosen: Option<Factor>,
) -> Step {
    step_of(p, pending, hint, chosen, &contacts(), false)
}

#[test]
fn steps_follow_the_engine_state() {
    assert_eq!(
        step(&progress(PolicyState::NeedsUser), None, Some("alice"), None),
        Step::LoginName {
            value: "alice".into(),
            passkey: true,
        }
    );
    assert_eq!(
        step(&without_webauthn(PolicyState::NeedsUser), None, None, None),
        Step::LoginName {
            value: String::new(),
            passkey: false,
        },
        "no passkey button or autofill without WebAuthn"
    );
    assert_eq!(
        step(
            &progress(PolicyState::NeedsUser),
            Some("bob"),
            Some("alice"),
            None
        ),
        Step::Password {
            login_name: Some("bob".into()),
            passkey: true,
        }
    );
    let first = PolicyState::NeedsFirstFactor {
        options: vec![FactorKind::Password, FactorKind::Passkey],
    };
    assert_eq!(
        step(&progress(first.clone()), None, None, None),
        Step::Password {
            login_name: None,
            passkey: true,
        }
    );
    assert_eq!(
        step(&without_webauthn(first), None, None, None),
        Step::Password {
            login_name: None,
            passkey: false,
        }
    );
    // Only a passkey is left (a passwordless app, a user who has one).
    let passkey_only = PolicyState::NeedsFirstFactor {
        options: vec![FactorKind::Passkey],
    };
    assert_eq!(
        step(&progress(passkey_only.clone()), None, None, None),
        Step::PasskeyOnly
    );
    assert_eq!(
        step(&without_webauthn(passkey_only), None, None, None),
        Step::End {
            reason: EndReason::Unavailable
        }
    );
    assert_eq!(
        step(
            &progress(PolicyState::NeedsPasskeyEnrollment),
            None,
            None,
            None
        ),
        Step::PasskeyRequired
    );
    assert_eq!(
        step(
            &without_webauthn(PolicyState::NeedsPasskeyEnrollment),
            None,
            None,
            None
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
            step(&progress(ended), None, None, None),
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
        step(&done, None, None, None),
        Step::Done {
            redirect: Some("https://a.example/cb?state=x".into())
        }
    );
    done.completion = Some(HandoffCompletion::SignedIn);
    assert_eq!(step(&done, None, None, None), Step::Done { redirect: None });
}

#[test]
fn a_remembered_passkey_comes_first_only_where_passkeys_work() {
    let needs_user = progress(PolicyState::NeedsUser);
    let remembered =
        |p: &HandoffProgress, pending| step_of(p, pending, None, None, &contacts(), true);
    assert_eq!(remembered(&needs_user, Some("alice")), Step::PasskeyFirst);
    // Without a typed name there is nothing to remember it by.
    assert!(matches!(
        remembered(&needs_user, None),
        Step::LoginName { .. }
    ));
    let no_passkeys = HandoffProgress {
        passkeys: false,
        ..progress(PolicyState::NeedsUser)
    };
    assert_eq!(
        remembered(&no_passkeys, Some("alice")),
        Step::Password {
            login_name: Some("alice".into()),
            passkey: false,
        },
        "an app that does not take passkeys goes to the password"
    );
}

#[test]
fn second_factor_steps() {
    let every = vec![
        FactorKind::Passkey,
        FactorKind::SecurityKey,
        FactorKind::Totp,
        FactorKind::OtpSms,
        FactorKind::OtpEmail,
        FactorKind::RecoveryCode,
    ];
    let all = progress(PolicyState::NeedsSecondFactor {
        options: every.clone(),
    });
    let Step::Choose { options } = step(&all, None, None, None) else {
        panic!("several factors: a choice")
    };
    let factors: Vec<Factor> = options.iter().map(|o| o.factor).collect();
    assert_eq!(factors, Factor::ALL.to_vec());
    assert_eq!(options[3].to, "•••• 42");
    assert_eq!(options[4].to, "a•••@example.com");
    // Without WebAuthn on the server, passkeys and security keys are not offered.
    let Step::Choose { options } = step(
        &without_webauthn(PolicyState::NeedsSecondFactor { options: every }),
        None,
        None,
        None,
    ) else {
        panic!("a choice")
    };
    assert!(options.iter().all(|o| !o.factor.is_webauthn()));
    // A chosen factor opens its step; one that is not offered does not.
    assert_eq!(
        step(&all, None, None, Some(Factor::Sms)),
        Step::Code {
            factor: Factor::Sms,
            to: "•••• 42".into()
        }
    );
    assert_eq!(
        step(&all, None, None, Some(Factor::SecurityKey)),
        Step::WebAuthn {
            factor: Factor::SecurityKey
        }
    );
    let only_totp = progress(PolicyState::NeedsSecondFactor {
        options: vec![FactorKind::Totp],
    });
    assert_eq!(
        step(&only_totp, None, None, Some(Factor::Email)),
        Step::Code {
            factor: Factor::Totp,
            to: String::new()
        },
        "a single factor without sending goes straight to its code"
    );
    let only_key = progress(PolicyState::NeedsSecondFactor {
        options: vec![FactorKind::SecurityKey],
    });
    assert_eq!(
        step(&only_key, None, None, None),
        Step::WebAuthn {
            factor: Factor::SecurityKey
        },
        "and so does a single security key"
    );
    let only_email = progress(PolicyState::NeedsSecondFactor {
        options: vec![FactorKind::OtpEmail],
    });
    assert!(
        matches!(step(&only_email, None, None, None), Step::Choose { .. }),
        "a code that must be sent waits for the person to ask"
    );
    let none = progress(PolicyState::NeedsSecondFactor { options: vec![] });
    assert!(matches!(step(&none, None, None, None), Step::Enroll { .. }));
    let key_without_webauthn = without_webauthn(PolicyState::NeedsSecondFactor {
        options: vec![FactorKind::SecurityKey],
    });
    assert!(matches!(
        step(&key_without_webauthn, None, None, None),
        Step::Enroll { .. }
    ));
}

#[test]
fn the_passkey_hint_cookie_keeps_three_names_newest_first() {
    let one = remember_name(None, "alice");
    assert_eq!(remembered_names(&one), vec!["alice"]);
    let two = remember_name(Some(&one), "bob@example.com");
    assert_eq!(remembered_names(&two), vec!["bob@example.com", "alice"]);
    let again = remember_name(Some(&two), "alice");
    assert_eq!(remembered_names(&again), vec!["alice", "bob@example.com"]);
    let full = ["c", "d", "e"]
        .into_iter()
        .fold(again, |value, name| remember_name(Some(&value), name));
    assert_eq!(remembered_names(&full), vec!["e", "d", "c"]);
    // Names with commas and spaces survive; the value is a cookie value (no ; , or space).
    let odd = remember_name(None, "a, b; c");
    assert!(!odd.contains([';', ' ', ',']), "{odd}");
    assert_eq!(remembered_names(&odd), vec!["a, b; c"]);
    // A damaged or hand-made value yields names only where they are valid.
    assert!(remembered_names("%FF%FE,").is_empty());
    assert_eq!(remembered_names(",,x"), vec!["x"]);
}

#[test]
fn webauthn_options_lose_their_nulls_for_the_browser() {
    let options = serde_json::json!({
        "publicKey": {
            "challenge": "abc",
            "timeout": 300000,
            "rpId": "localhost",
            "allowCredentials": [{"type": "public-key", "id": "xyz", "transports": null}],
            "userVerification": "required",
            "hints": null,
            "extensions": {"uvm": true, "appid": null}
        }
    });
    let cleaned: serde_json::Value = serde_json::from_str(&browser_options(options)).unwrap();
    assert_eq!(
        cleaned,
        serde_json::json!({
            "publicKey": {
                "challenge": "abc",
                "timeout": 300000,
                "rpId": "localhost",
                "allowCredentials": [{"type": "public-key", "id": "xyz"}],
                "userVerification": "required",
                "extensions": {"uvm": true}
            }
        })
    );
}

#[test]
fn credentials_from_the_browser_must_be_json_objects_of_sane_size() {
    assert!(parse_credential(Some(r#"{"id":"x","type":"public-key"}"#.into())).is_ok());
    for bad in [
        None,
        Some(String::new()),
        Some("not json".into()),
        Some("[1,2]".into()),
        Some("\"text\"".into()),
        Some(format!(
            "{{\"id\":\"{}\"}}",
            "x".repeat(MAX_CREDENTIAL_CHARS)
        )),
    ] {
        assert_eq!(parse_credential(bad), Err(Notice::PasskeyFailed));
    }
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
        (
            DomainError::WebAuthnCredentialUnknown,
            Ok(Notice::PasskeyUnknown),
        ),
        (DomainError::WebAuthnNotReady, Ok(Notice::PasskeyUnknown)),
        (
            DomainError::WebAuthnAssertionInvalid,
            Ok(Notice::PasskeyFailed),
        ),
        (
            DomainError::WebAuthnCredentialRejected,
            Ok(Notice::PasskeyFailed),
        ),
        (DomainError::WebAuthnNoChallenge, Ok(Notice::PasskeyExpired)),
        (
            DomainError::WebAuthnChallengeExpired,
            Ok(Notice::PasskeyExpired),
        ),
        (
            DomainError::WebAuthnCredentialExists,
            Ok(Notice::PasskeyExists),
        ),
        (
            DomainError::WebAuthnUnavailable,
            Ok(Notice::PasskeyUnsupported),
        ),
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
            &StepView::new(Step::Password {
                login_name: None,
                passkey: false,
            })
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

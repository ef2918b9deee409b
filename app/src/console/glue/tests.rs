use super::super::wire::Op;
use super::super::MAX_CREDENTIAL_CHARS;
use super::ops::parse_credential;
use super::present::{brand_css, browser_options, notice_of, step_of, Seen};
use super::*;
use domain::crypto::Secret;
use domain::model::{Branding, FactorKind};
use domain::service::{HandoffCompletion, HandoffContacts, HostedStep, LoginEnd, Next};
use domain::totp::TotpEnrollment;

/// An answer of the engine with `next`, on a server that runs WebAuthn for an app that takes
/// passkeys.
fn hosted(next: Next) -> HostedStep {
    HostedStep {
        next,
        refused: None,
        login_name: None,
        contacts: HandoffContacts {
            email: Some("a•••@example.com".into()),
            phone: Some("•••• 42".into()),
        },
        webauthn: true,
        passkeys: true,
        has_passkey: false,
        can_register_passkey: false,
        code_sent: None,
        ceremony: None,
        recovery_codes: Vec::new(),
    }
}

/// The same answer for an app (or server) without passkeys.
fn no_passkeys(next: Next) -> HostedStep {
    HostedStep {
        webauthn: false,
        passkeys: false,
        ..hosted(next)
    }
}

/// The page's step for a browser that does not remember a passkey for the name.
fn step(h: &HostedStep, pending: Option<&str>, hint: Option<&str>, chosen: Option<Factor>) -> Step {
    step_of(
        h,
        &Seen {
            pending,
            hint,
            chosen,
            passkey_first: false,
        },
    )
}

#[test]
fn steps_follow_the_engine_state() {
    assert_eq!(
        step(&hosted(Next::User), None, Some("alice"), None),
        Step::LoginName {
            value: "alice".into(),
            passkey: true,
        }
    );
    assert_eq!(
        step(&no_passkeys(Next::User), None, None, None),
        Step::LoginName {
            value: String::new(),
            passkey: false,
        },
        "no passkey button or autofill without passkeys"
    );
    assert_eq!(
        step(&hosted(Next::User), Some("bob"), Some("alice"), None),
        Step::Password {
            login_name: Some("bob".into()),
            passkey: true,
        }
    );
    let first = Next::FirstFactor {
        password: true,
        passkey: true,
    };
    assert_eq!(
        step(&hosted(first), None, None, None),
        Step::Password {
            login_name: None,
            passkey: true,
        }
    );
    let only_password = Next::FirstFactor {
        password: true,
        passkey: false,
    };
    assert_eq!(
        step(&no_passkeys(only_password), None, None, None),
        Step::Password {
            login_name: None,
            passkey: false,
        }
    );
    let passkey_only = Next::FirstFactor {
        password: false,
        passkey: true,
    };
    assert_eq!(
        step(&hosted(passkey_only), None, None, None),
        Step::PasskeyOnly
    );
    assert_eq!(
        step(&hosted(Next::PasskeyRequired), None, None, None),
        Step::PasskeyRequired
    );
    for (end, reason) in [
        (LoginEnd::Ended, EndReason::Ended),
        (LoginEnd::Unavailable, EndReason::Unavailable),
        (LoginEnd::LinkUsed, EndReason::LinkUsed),
        (LoginEnd::LinkExpired, EndReason::LinkExpired),
        (LoginEnd::LinkNotFound, EndReason::LinkNotFound),
    ] {
        assert_eq!(
            step(&hosted(Next::Ended(end)), None, None, None),
            Step::End { reason }
        );
    }
    let done = Next::Done(HandoffCompletion::Redirect(
        "https://a.example/cb?state=x".into(),
    ));
    assert_eq!(
        step(&hosted(done), None, None, None),
        Step::Done {
            redirect: Some("https://a.example/cb?state=x".into())
        }
    );
    let signed_in = Next::Done(HandoffCompletion::SignedIn);
    assert_eq!(
        step(&hosted(signed_in), None, None, None),
        Step::Done { redirect: None }
    );
    let enrollment = TotpEnrollment {
        secret_base32: Secret::new("JBSWY3DPEHPK3PXP".into()),
        uri: Secret::new("otpauth://totp/x".into()),
        qr_svg: Secret::new("<svg/>".into()),
    };
    assert_eq!(
        step(&hosted(Next::EnrollTotp(enrollment)), None, None, None),
        Step::Enroll {
            qr_data_url: "data:image/svg+xml,%3Csvg%2F%3E".into(),
            secret: "JBSWY3DPEHPK3PXP".into(),
        }
    );
}

#[test]
fn a_remembered_passkey_comes_first_only_where_passkeys_work() {
    let remembered = |h: &HostedStep, pending| {
        step_of(
            h,
            &Seen {
                pending,
                hint: None,
                chosen: None,
                passkey_first: true,
            },
        )
    };
    assert_eq!(
        remembered(&hosted(Next::User), Some("alice")),
        Step::PasskeyFirst
    );
    // Without a typed name there is nothing to remember it by.
    assert!(matches!(
        remembered(&hosted(Next::User), None),
        Step::LoginName { .. }
    ));
    assert_eq!(
        remembered(&no_passkeys(Next::User), Some("alice")),
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
    let all = hosted(Next::SecondFactor { options: every });
    let Step::Choose { options } = step(&all, None, None, None) else {
        panic!("several factors: a choice")
    };
    let factors: Vec<Factor> = options.iter().map(|o| o.factor).collect();
    assert_eq!(factors, Factor::ALL.to_vec());
    assert_eq!(options[3].to, "•••• 42");
    assert_eq!(options[4].to, "a•••@example.com");
    // A chosen factor opens its step; one that is not offered does not.
    assert_eq!(
        step(&all, None, None, Some(Factor::Sms)),
        Step::Code {
            factor: Factor::Sms,
            to: "•••• 42".into(),
            others: true,
        }
    );
    assert_eq!(
        step(&all, None, None, Some(Factor::SecurityKey)),
        Step::WebAuthn {
            factor: Factor::SecurityKey,
            others: true,
        }
    );
    // A code just sent opens its step, which says where it went (no notice on top), and who
    // is signing in.
    let sent = HostedStep {
        code_sent: Some(FactorKind::OtpEmail),
        login_name: Some("alice".into()),
        ..all.clone()
    };
    let view = present::view_of(&sent, &Seen::default());
    assert_eq!(
        (view.step, view.notice, view.who.as_deref()),
        (
            Step::Code {
                factor: Factor::Email,
                to: "a•••@example.com".into(),
                others: true,
            },
            None,
            Some("alice")
        )
    );
    let only_totp = hosted(Next::SecondFactor {
        options: vec![FactorKind::Totp],
    });
    assert_eq!(
        step(&only_totp, None, None, Some(Factor::Email)),
        Step::Code {
            factor: Factor::Totp,
            to: String::new(),
            others: false,
        },
        "a single factor without sending goes straight to its code, with no other way offered"
    );
    let only_key = hosted(Next::SecondFactor {
        options: vec![FactorKind::SecurityKey],
    });
    assert_eq!(
        step(&only_key, None, None, None),
        Step::WebAuthn {
            factor: Factor::SecurityKey,
            others: false,
        },
        "and so does a single security key"
    );
    let only_email = hosted(Next::SecondFactor {
        options: vec![FactorKind::OtpEmail],
    });
    assert!(
        matches!(step(&only_email, None, None, None), Step::Choose { .. }),
        "a code that must be sent waits for the person to ask"
    );
}

#[test]
fn every_form_names_an_operation_the_server_function_knows() {
    for (code, op) in [
        ("login-name", Op::LoginName),
        ("password", Op::Password),
        ("choose", Op::Choose),
        ("code", Op::Code),
        ("resend", Op::Resend),
        ("restart", Op::Restart),
        ("enroll", Op::Enroll),
        ("finish", Op::Finish),
        ("back", Op::Back),
        ("webauthn-start", Op::WebauthnStart),
        ("webauthn", Op::Webauthn),
        ("passkey-register", Op::PasskeyRegister),
        ("passkey-registered", Op::PasskeyRegistered),
        ("passkey-skip", Op::PasskeySkip),
        ("use-password", Op::UsePassword),
    ] {
        let parsed: Op = serde_json::from_value(serde_json::json!(code)).unwrap();
        assert_eq!(parsed, op, "{code}");
    }
    assert!(serde_json::from_value::<Op>(serde_json::json!("delete-everything")).is_err());
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
            let text = notice.text(lang);
            assert!(!text.contains(err.id()), "{text}");
            assert!(!text.contains('{'), "{text}");
        }
    }
}

#[test]
fn branding_takes_the_colours_the_engine_takes() {
    let b = |p: &str, bg: &str| Branding {
        primary_color: Some(p.into()),
        background_color: Some(bg.into()),
        ..Branding::default()
    };
    let css = brand_css(&b("#112233", "#ffffff")).unwrap();
    assert!(
        css.contains("--brand:#112233;--brand-contrast:#ffffff"),
        "{css}"
    );
    assert!(css.contains("--bg:#ffffff"), "{css}");
    // The engine's rule, which the admin API applies too: `#rrggbb` only.
    for bad in [
        "#fff",
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
            others: false,
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

#[test]
fn the_page_and_the_engine_share_their_rules() {
    // The console's limits (its wasm has no engine) are the engine's.
    assert_eq!(
        super::super::MAX_LOGIN_NAME_CHARS,
        domain::input::MAX_TEXT_CHARS
    );
    assert_eq!(
        super::super::MAX_SECRET_CHARS,
        domain::input::MAX_TEXT_CHARS
    );
    // A colour the page shows is one the admin API stores, and the other way round.
    for colour in [
        "#a1b2c3", "#FFFFFF", "#fff", "red", "#12345g", "#1234567", "",
    ] {
        let page = brand_css(&Branding {
            primary_color: Some(colour.into()),
            ..Branding::default()
        })
        .is_some();
        let engine = domain::input::Color::parse("branding.primary_color", colour).is_ok();
        assert_eq!(page, engine, "{colour:?}");
    }
    // So is a logo.
    for logo in [
        "https://shop.example/logo.png",
        "http://shop.example/logo.png",
        "javascript:alert(1)",
        "https://user:pw@shop.example/l.png",
    ] {
        let branding = Branding {
            logo_url: Some(logo.into()),
            ..Branding::default()
        };
        let engine = domain::input::LogoUrl::parse("branding.logo_url", logo).is_ok();
        assert_eq!(branding.page_logo().is_some(), engine, "{logo}");
    }
}

#[test]
fn console_cookies_are_host_only_on_https() {
    let empty = http::HeaderMap::new();
    let mut plain = ConsoleCookies::read(&empty, "tok", false);
    plain.set_claim("s3cret");
    let set = plain.take_set_cookies();
    assert_eq!(set.len(), 1);
    assert!(set[0].starts_with("vestibule_claim_"), "{}", set[0]);
    for part in ["HttpOnly", "SameSite=Lax", "Path=/console", "Max-Age=86400"] {
        assert!(set[0].contains(part), "{part}: {}", set[0]);
    }
    assert!(!set[0].contains("Secure"), "{}", set[0]);

    let mut secure = ConsoleCookies::read(&empty, "tok", true);
    secure.set_claim("s3cret");
    secure.set_pending_name("alice@example.com");
    let set = secure.take_set_cookies();
    for cookie in &set {
        assert!(cookie.starts_with("__Host-vestibule_"), "{cookie}");
        assert!(cookie.contains("; Secure"), "{cookie}");
        assert!(
            cookie.contains("Path=/;") || cookie.ends_with("Path=/"),
            "{cookie}"
        );
        assert!(!cookie.contains("Domain"), "{cookie}");
    }
    // What it wrote, it reads back (values percent-decoded), and only under the prefixed name.
    let mut headers = http::HeaderMap::new();
    let pairs: Vec<String> = set
        .iter()
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect();
    headers.insert(
        http::header::COOKIE,
        http::HeaderValue::from_str(&pairs.join("; ")).unwrap(),
    );
    let back = ConsoleCookies::read(&headers, "tok", true);
    assert_eq!(back.claim(), Some("s3cret"));
    assert_eq!(back.pending_name().as_deref(), Some("alice@example.com"));
    let unprefixed = http::HeaderValue::from_static("vestibule_passkey_later=1");
    let mut planted = http::HeaderMap::new();
    planted.insert(http::header::COOKIE, unprefixed);
    assert!(!ConsoleCookies::read(&planted, "tok", true).passkey_later());
}

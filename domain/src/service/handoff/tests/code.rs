//! The code-bound validate mode, attacked: a forwarded link, a missing, wrong, reused or
//! unverified code.

use super::*;

fn code_policy() -> LoginPolicy {
    LoginPolicy {
        require_code_on_validate: true,
        ..LoginPolicy::default()
    }
}

fn with_code<'a>(code: &'a str, code_verifier: Option<&'a str>) -> ValidateProof<'a> {
    ValidateProof {
        code: Some(code),
        code_verifier,
        ..ValidateProof::default()
    }
}

/// The query parameters of a redirect, in order.
fn query_of(target: &str) -> Vec<(String, String)> {
    url::Url::parse(target)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The victim's browser claims the link and signs in; the redirect it is sent to.
async fn victim_signs_in(e: &Engine, token: &str) -> (String, String) {
    let browser = claim(e, token, None).await;
    let done = change(e, token, &browser, login(PW)).await.unwrap();
    match done.next {
        Next::Done(HandoffCompletion::Redirect(to)) => (browser, to),
        other => panic!("not signed in: {other:?}"),
    }
}

fn code_of(target: &str) -> String {
    let query = query_of(target);
    query
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no code in {target}"))
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[tokio::test]
async fn the_redirect_carries_a_single_use_code_and_validate_answers_only_to_it() {
    let (t, app, _) = setup(code_policy()).await;
    let e = &t.engine;
    let gen = e
        .generate_handoff(
            &app,
            GenerateHandoff {
                state: Some("a b&c".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let sid = gen.session_id.expose();
    let token = gen.token.expose();

    // The attacker who started the login holds session_id, and gets nothing with it alone,
    // before and after the victim signs in: the same answer, decided without the login.
    let attacker = e
        .find_handoff_for_validate(sid, ValidateProof::default())
        .await
        .unwrap_err();
    assert_eq!(attacker, DomainError::HandoffCodeRequired);
    assert_eq!(attacker.id(), "HANDOFF-Cod01");

    let (browser, target) = victim_signs_in(e, token).await;
    let query = query_of(&target);
    assert_eq!(query[0].0, "code", "{target}");
    assert_eq!(
        query[1],
        ("state".to_owned(), "a b&c".to_owned()),
        "{target}"
    );
    assert!(
        target.starts_with("https://shop.example/cb?code="),
        "{target}"
    );
    let code = code_of(&target);
    assert_eq!(code.len(), 43);

    let again = e
        .find_handoff_for_validate(sid, ValidateProof::default())
        .await
        .unwrap_err();
    assert_eq!(again, DomainError::HandoffCodeRequired);
    // ... nor through the Session API's read by session_id.
    assert!(e
        .handoff_session_by_secret(sid, None)
        .await
        .unwrap()
        .is_none());
    // A made-up code, a malformed one, another link's session_id: refused alike.
    let forged = crypto::random_token(&crypto::SystemRng);
    for wrong in [forged.expose().as_str(), "not a code!", ""] {
        let err = e
            .find_handoff_for_validate(sid, with_code(wrong, None))
            .await
            .unwrap_err();
        assert_eq!(err, DomainError::HandoffCodeInvalid, "{wrong:?}");
        assert_eq!(err.id(), "HANDOFF-Cod02");
    }
    // The same page reloaded shows the same code (nothing rotates on a view).
    let shown = act(e, token, &browser, LoginAction::Show).await.unwrap();
    assert!(
        matches!(&shown.next, Next::Done(HandoffCompletion::Redirect(to)) if *to == target),
        "{:?}",
        shown.next
    );

    let found = e
        .find_handoff_for_validate(sid, with_code(&code, None))
        .await
        .unwrap();
    let status = e.handoff_status(&found).await.unwrap();
    assert_eq!(status.state, HandoffState::Verified);
    assert_eq!(status.user.unwrap().login_name, "alice");
    // Spent: once more is refused, whether found anew or read again on the same find.
    assert_eq!(
        e.find_handoff_for_validate(sid, with_code(&code, None))
            .await
            .unwrap_err(),
        DomainError::HandoffCodeInvalid
    );
    assert_eq!(
        e.handoff_status(&found).await.unwrap_err(),
        DomainError::HandoffCodeInvalid
    );
    // After the app accepted the code, its session_id reads the engine session again.
    assert!(e
        .handoff_session_by_secret(sid, None)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn a_right_code_before_the_sign_in_is_pending_and_not_spent() {
    let (t, app, _) = setup(code_policy()).await;
    let e = &t.engine;
    let gen = e
        .generate_handoff(&app, GenerateHandoff::default())
        .await
        .unwrap();
    let sid = gen.session_id.expose();
    let token = gen.token.expose();
    let browser = claim(e, token, None).await;
    // Only this browser's secret gives the code; here the test computes it early.
    let code = crypto::handoff_code(&browser).expose().clone();
    let found = e
        .find_handoff_for_validate(sid, with_code(&code, None))
        .await
        .unwrap();
    assert_eq!(
        e.handoff_status(&found).await.unwrap().state,
        HandoffState::Pending
    );
    let done = change(e, token, &browser, login(PW)).await.unwrap();
    let Next::Done(HandoffCompletion::Redirect(target)) = done.next else {
        panic!("{:?}", done.next)
    };
    assert_eq!(code_of(&target), code);
    assert_eq!(
        e.handoff_status(&found).await.unwrap().state,
        HandoffState::Verified
    );
}

#[tokio::test]
async fn a_code_challenge_needs_its_verifier() {
    let (t, app, _) = setup(code_policy()).await;
    let e = &t.engine;
    let gen = e
        .generate_handoff(
            &app,
            GenerateHandoff {
                code_challenge: Some(crypto::pkce_s256(VERIFIER)),
                code_challenge_method: Some("S256".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let sid = gen.session_id.expose();
    let (_, target) = victim_signs_in(e, gen.token.expose()).await;
    let code = code_of(&target);

    // The code alone (say, read from a leaked redirect) is not enough.
    let err = e
        .find_handoff_for_validate(sid, with_code(&code, None))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::HandoffCodeRequired);
    let other = "x".repeat(43);
    let err = e
        .find_handoff_for_validate(sid, with_code(&code, Some(&other)))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::HandoffCodeInvalid);
    // The challenge itself is no verifier either.
    let challenge = crypto::pkce_s256(VERIFIER);
    let err = e
        .find_handoff_for_validate(sid, with_code(&code, Some(&challenge)))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::HandoffCodeInvalid);
    for malformed in ["short", &"a".repeat(129), &format!("{}+", "a".repeat(43))] {
        let err = e
            .find_handoff_for_validate(sid, with_code(&code, Some(malformed)))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                DomainError::InvalidField {
                    field: "code_verifier",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    // A wrong verifier did not use the code up.
    let found = e
        .find_handoff_for_validate(sid, with_code(&code, Some(VERIFIER)))
        .await
        .unwrap();
    let status = e.handoff_status(&found).await.unwrap();
    assert_eq!(status.state, HandoffState::Verified);
    assert_eq!(
        e.find_handoff_for_validate(sid, with_code(&code, Some(VERIFIER)))
            .await
            .unwrap_err(),
        DomainError::HandoffCodeInvalid
    );
}

#[test]
fn s256_is_rfc_7636s_example() {
    // RFC 7636, appendix B.
    assert_eq!(
        crypto::pkce_s256(VERIFIER),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[tokio::test]
async fn generate_refuses_challenges_it_cannot_honour() {
    let (t, code_app, _) = setup(code_policy()).await;
    let e = &t.engine;
    let challenge = crypto::pkce_s256(VERIFIER);
    let gen = |challenge: Option<&str>, method: Option<&str>| GenerateHandoff {
        code_challenge: challenge.map(str::to_owned),
        code_challenge_method: method.map(str::to_owned),
        ..Default::default()
    };
    let cases = [
        (gen(Some(&challenge), None), "code_challenge_method"),
        (
            gen(Some(&challenge), Some("plain")),
            "code_challenge_method",
        ),
        (gen(Some(&challenge), Some("s256")), "code_challenge_method"),
        (gen(None, Some("S256")), "code_challenge_method"),
        (gen(Some(&challenge[..42]), Some("S256")), "code_challenge"),
        (
            gen(Some(&format!("{}=", &challenge[..42])), Some("S256")),
            "code_challenge",
        ),
    ];
    for (request, expected) in cases {
        let err = e.generate_handoff(&code_app, request).await.unwrap_err();
        assert!(
            matches!(err, DomainError::InvalidField { field, .. } if field == expected),
            "{err:?}"
        );
    }
    // An app in the default mode would never ask for the code: a challenge is refused there
    // rather than silently ignored.
    let (t, plain_app, _) = setup(LoginPolicy::default()).await;
    let err = t
        .engine
        .generate_handoff(&plain_app, gen(Some(&challenge), Some("S256")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DomainError::InvalidField {
                field: "code_challenge",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_default_mode_sends_no_code_and_validates_by_session_id() {
    let (t, app, _) = setup(LoginPolicy::default()).await;
    let e = &t.engine;
    let gen = e
        .generate_handoff(&app, GenerateHandoff::default())
        .await
        .unwrap();
    let (_, target) = victim_signs_in(e, gen.token.expose()).await;
    assert_eq!(target, "https://shop.example/cb");
    let found = e
        .find_handoff_for_validate(gen.session_id.expose(), ValidateProof::default())
        .await
        .unwrap();
    assert_eq!(
        e.handoff_status(&found).await.unwrap().state,
        HandoffState::Verified
    );
    // Asked twice, it answers twice: the seed's polling flow.
    assert_eq!(
        e.handoff_status(&found).await.unwrap().state,
        HandoffState::Verified
    );
}

#[tokio::test]
async fn the_code_mode_needs_a_redirect_uri() {
    let t = test_engine().unwrap();
    let e = &t.engine;
    let new = || NewApp {
        name: Name::parse("Kiosk").unwrap(),
        redirect_uris: Vec::new(),
        policy: code_policy(),
        branding: Default::default(),
    };
    let err = e.create_app(new()).await.unwrap_err();
    assert!(
        matches!(
            err,
            DomainError::InvalidField {
                field: "policy.require_code_on_validate",
                ..
            }
        ),
        "{err:?}"
    );
    // With a redirect URI it is fine; taking the last one away is refused.
    let (app, _) = e
        .create_app(NewApp {
            redirect_uris: vec![HttpUrl::parse("uri", "https://kiosk.example/cb").unwrap()],
            ..new()
        })
        .await
        .unwrap();
    let err = e
        .update_app(
            &app.id,
            crate::service::AppChanges {
                redirect_uris: Some(Vec::new()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DomainError::InvalidField {
                field: "redirect_uris",
                ..
            }
        ),
        "{err:?}"
    );
    // Turning the mode off and the URIs away together is fine.
    let changed = e
        .update_app(
            &app.id,
            crate::service::AppChanges {
                redirect_uris: Some(Vec::new()),
                policy: Some(LoginPolicy::default()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(changed.redirect_uris.is_empty());
}

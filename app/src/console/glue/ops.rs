//! The operations of the console's server function: each opens the login once, runs at most
//! one engine action on it, and answers with the view of the step that follows.

use std::sync::Arc;

use domain::input::{LoginName, OtpCode, Password, RecoveryCodeInput, TotpCode};
use domain::model::UserAgent;
use domain::service::{Browser, CodeCheck, HostedLogin, HostedStep, LoginAction, Next};
use domain::Engine;

use super::super::wire::{Ceremony, EndReason, Factor, Notice, Op, Step, StepView};
use super::super::{MAX_CREDENTIAL_CHARS, MAX_LOGIN_NAME_CHARS, MAX_SECRET_CHARS};
use super::cookies::ConsoleCookies;
use super::present::{browser_options, end_reason, kind_of, notice_of, view_of, Seen};

/// The form fields a step may send (each form sends its own).
#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub login_name: Option<String>,
    pub password: Option<String>,
    pub factor: Option<String>,
    pub code: Option<String>,
    pub credential: Option<String>,
    pub registration_id: Option<String>,
}

/// One request of the console: the engine, the link, the browser's cookies (parsed once) and
/// whether the browser runs without JavaScript.
pub struct Call {
    pub engine: Arc<Engine>,
    pub token: String,
    pub cookies: ConsoleCookies,
    /// A plain form post (no JavaScript): the answer is a redirect back to the page.
    pub plain: bool,
    /// The browser, as the login's session records it when this request claims the link.
    pub user_agent: Option<UserAgent>,
}

impl Call {
    /// The step as it stands, for what the page saw.
    fn show(&self, hosted: &HostedStep, chosen: Option<Factor>) -> StepView {
        let pending = self.cookies.pending_name();
        view_of(hosted, &self.seen(pending.as_deref(), chosen))
    }

    fn seen<'a>(&self, pending: Option<&'a str>, chosen: Option<Factor>) -> Seen<'a> {
        Seen {
            pending,
            hint: None,
            chosen,
            passkey_first: self.cookies.passkey_first(pending),
        }
    }

    /// Opens the login for this browser, or the end of the road (an unknown or expired link, or
    /// one another browser claimed).
    async fn open(&self) -> Result<HostedLogin, StepView> {
        let browser = Browser {
            secret: self.cookies.claim().map(str::to_owned),
            user_agent: self.user_agent.clone(),
        };
        self.engine
            .open_login(&self.token, browser)
            .await
            .map_err(|err| {
                let reason = notice_of(&err).err().unwrap_or(EndReason::Ended);
                StepView::new(Step::End { reason })
            })
    }

    /// Opens the login and runs `action` on it; an action that claimed the link sets the claim
    /// cookie.
    async fn step(&mut self, action: LoginAction) -> Result<HostedStep, StepView> {
        let mut login = self.open().await?;
        let step = self.engine.login_step(&mut login, action).await;
        if let Some(secret) = login.take_new_browser_secret() {
            self.cookies.set_claim(secret.expose());
        }
        Ok(step)
    }

    /// Runs the operation `op` of a form with `fields`.
    pub async fn run(&mut self, op: Op, fields: Fields) -> StepView {
        let factor = fields.factor.as_deref().and_then(Factor::from_code);
        let answer = match op {
            Op::Begin => match self.step(LoginAction::Claim).await {
                Ok(hosted) => Ok(self.show(&hosted, None)),
                Err(end) => Err(end),
            },
            Op::LoginName => self.login_name(fields.login_name.unwrap_or_default()).await,
            Op::Password => {
                self.password(fields.login_name, fields.password.unwrap_or_default())
                    .await
            }
            Op::Choose => self.choose(factor).await,
            Op::Resend => match factor.filter(|f| f.is_sent()) {
                Some(f) => self.send_code(f).await,
                None => self.current(None, None).await,
            },
            Op::Code => self.code(factor, fields.code.unwrap_or_default()).await,
            Op::Enroll => self.enroll(fields.code.unwrap_or_default()).await,
            Op::Restart => self.restart().await,
            Op::WebauthnStart => self.webauthn_start(factor).await,
            Op::Webauthn => self.webauthn_check(factor, fields.credential).await,
            Op::PasskeyRegister => self.passkey_register().await,
            Op::PasskeyRegistered => {
                self.passkey_registered(fields.registration_id, fields.credential)
                    .await
            }
            Op::UsePassword => self.use_password().await,
            Op::PasskeySkip => {
                self.cookies.set_passkey_later();
                self.current(None, None).await
            }
            // "Choose another way", after the recovery codes: the step as it stands.
            Op::Finish | Op::Back => self.current(None, None).await,
        };
        answer.unwrap_or_else(|end| end)
    }

    /// The step as it stands now, with `notice`.
    async fn current(
        &mut self,
        notice: Option<Notice>,
        chosen: Option<Factor>,
    ) -> Result<StepView, StepView> {
        let hosted = self.step(LoginAction::Show).await?;
        let mut view = self.offer(self.show(&hosted, chosen), &hosted);
        if view.notice.is_none() {
            view.notice = notice;
        }
        Ok(view)
    }

    /// After a sign-in that just finished in a browser with JavaScript: a passkey is offered to
    /// a user who has none (skippable; a passwordless app's requirement is the engine's own
    /// step), unless this browser said "Not now".
    fn offer(&self, view: StepView, hosted: &HostedStep) -> StepView {
        let offer = matches!(view.step, Step::Done { .. })
            && hosted.can_register_passkey
            && !hosted.has_passkey
            && !self.cookies.passkey_later()
            && !self.plain;
        if offer {
            StepView::with(Step::PasskeyOffer, view.notice)
        } else {
            view
        }
    }

    async fn login_name(&mut self, login_name: String) -> Result<StepView, StepView> {
        let name = login_name.trim().to_owned();
        let stay = |value: &str, notice| {
            let step = Step::LoginName {
                value: value.chars().take(MAX_LOGIN_NAME_CHARS).collect(),
                passkey: false,
            };
            StepView::with(step, Some(notice))
        };
        if name.is_empty() {
            return Ok(stay("", Notice::Required));
        }
        if name.chars().count() > MAX_LOGIN_NAME_CHARS || LoginName::parse(name.clone()).is_err() {
            return Ok(stay(&name, Notice::TooLong));
        }
        // The first step binds the link to this browser.
        let hosted = self.step(LoginAction::Claim).await?;
        self.cookies.set_pending_name(&name);
        if self.plain {
            // Passkeys need JavaScript: without it the password step comes first.
            self.cookies.set_password_first();
        }
        let mut seen = self.seen(Some(&name), None);
        seen.passkey_first &= !self.plain;
        Ok(view_of(&hosted, &seen))
    }

    async fn password(
        &mut self,
        login_name: Option<String>,
        password: String,
    ) -> Result<StepView, StepView> {
        // The name from the form wins over the cookie (password managers may fill both).
        let name = login_name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .or_else(|| self.cookies.pending_name());
        let name = name.as_deref();
        if password.is_empty() {
            return self.password_again(name, Notice::Required).await;
        }
        let Ok(password) = Password::parse(password) else {
            return self.password_again(name, Notice::TooLong).await;
        };
        let login_name = match name.map(|n| LoginName::parse(n.to_owned())) {
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => return self.password_again(name, Notice::WrongCredentials).await,
            None => None,
        };
        let hosted = self
            .step(LoginAction::Password {
                login_name,
                password,
            })
            .await?;
        if hosted.refused.is_none() {
            self.cookies.clear_pending_name();
            return Ok(self.offer(view_of(&hosted, &Seen::default()), &hosted));
        }
        Ok(view_of(&hosted, &self.seen(name, None)))
    }

    /// The password step again with `notice`, as it stood.
    async fn password_again(
        &mut self,
        name: Option<&str>,
        notice: Notice,
    ) -> Result<StepView, StepView> {
        let hosted = self.step(LoginAction::Show).await?;
        let mut view = view_of(&hosted, &self.seen(name, None));
        view.notice = Some(notice);
        Ok(view)
    }

    /// Opening a factor of the choice: SMS and email codes are sent now.
    async fn choose(&mut self, factor: Option<Factor>) -> Result<StepView, StepView> {
        match factor {
            None => self.current(Some(Notice::Required), None).await,
            Some(f) if f.is_sent() => self.send_code(f).await,
            Some(f) => self.current(None, Some(f)).await,
        }
    }

    async fn send_code(&mut self, factor: Factor) -> Result<StepView, StepView> {
        let hosted = self.step(LoginAction::SendCode(kind_of(factor))).await?;
        // A code sent a moment ago is still good: its step shows with the wait.
        Ok(self.show(&hosted, Some(factor)))
    }

    async fn code(&mut self, factor: Option<Factor>, code: String) -> Result<StepView, StepView> {
        let Some(factor) = factor else {
            return self.current(Some(Notice::Required), None).await;
        };
        let code: String = code.split_whitespace().collect();
        if code.is_empty() {
            return self.current(Some(Notice::Required), Some(factor)).await;
        }
        if code.chars().count() > MAX_SECRET_CHARS {
            return self.current(Some(Notice::TooLong), Some(factor)).await;
        }
        let check = match factor {
            Factor::Totp => TotpCode::parse(code).map(CodeCheck::Totp),
            Factor::Sms => OtpCode::parse(code).map(CodeCheck::Sms),
            Factor::Email => OtpCode::parse(code).map(CodeCheck::Email),
            Factor::Recovery => RecoveryCodeInput::parse(code).map(CodeCheck::Recovery),
            // Not typed: a code form naming one is someone else's form.
            Factor::Passkey | Factor::SecurityKey => return self.current(None, Some(factor)).await,
        };
        let Ok(check) = check else {
            // A TOTP code of the wrong length simply is not right.
            return self.current(Some(Notice::CodeWrong), Some(factor)).await;
        };
        let hosted = self.step(LoginAction::Code(check)).await?;
        let chosen = hosted.refused.is_some().then_some(factor);
        Ok(self.offer(self.show(&hosted, chosen), &hosted))
    }

    async fn enroll(&mut self, code: String) -> Result<StepView, StepView> {
        let code: String = code.split_whitespace().collect();
        if code.is_empty() {
            return self.current(Some(Notice::Required), None).await;
        }
        let Ok(code) = TotpCode::parse(code) else {
            return self.current(Some(Notice::CodeWrong), None).await;
        };
        let hosted = self.step(LoginAction::FinishEnrollment(code)).await?;
        if hosted.refused.is_some() {
            return Ok(self.show(&hosted, None));
        }
        let codes: Vec<String> = hosted
            .recovery_codes
            .iter()
            .map(|c| c.expose().clone())
            .collect();
        if self.plain {
            self.cookies.set_recovery_codes(&codes);
        }
        Ok(StepView::new(Step::RecoveryCodes { codes }))
    }

    /// "Not you? Start again": forgets the typed login name; once the session has a user, the
    /// engine starts a fresh session for the link.
    async fn restart(&mut self) -> Result<StepView, StepView> {
        self.cookies.clear_pending_name();
        self.cookies.clear_password_first();
        let hosted = self.step(LoginAction::Restart).await?;
        if let Next::Ended(end) = hosted.next {
            return Ok(StepView::new(Step::End {
                reason: end_reason(end),
            }));
        }
        Ok(view_of(&hosted, &Seen::default()))
    }

    /// Starts a passkey or security key sign-in: the answer keeps the step and carries the
    /// options for `navigator.credentials.get()`. Before the login name this is a discoverable
    /// passkey (the button, and autofill); afterwards, the user's own passkeys or security keys.
    async fn webauthn_start(&mut self, factor: Option<Factor>) -> Result<StepView, StepView> {
        let factor = webauthn_factor(factor);
        let action = LoginAction::WebAuthnStart {
            passkey: factor == Factor::Passkey,
        };
        let hosted = self.step(action).await?;
        let mut view = self.show(&hosted, Some(factor));
        if let Some(ceremony) = &hosted.ceremony {
            view.ceremony = Some(Ceremony {
                options: browser_options(ceremony.options.clone()),
                registration_id: None,
            });
        }
        Ok(view)
    }

    /// Checks the credential the browser returned for the pending challenge.
    async fn webauthn_check(
        &mut self,
        factor: Option<Factor>,
        credential: Option<String>,
    ) -> Result<StepView, StepView> {
        let factor = webauthn_factor(factor);
        let credential = match parse_credential(credential) {
            Ok(c) => c,
            Err(notice) => return self.current(Some(notice), Some(factor)).await,
        };
        let hosted = self.step(LoginAction::WebAuthnCheck(credential)).await?;
        if hosted.refused.is_some() {
            return Ok(self.show(&hosted, Some(factor)));
        }
        self.remember_passkey(&hosted);
        Ok(self.offer(self.show(&hosted, None), &hosted))
    }

    /// Remembers, in this browser, that the login's user signs in with a passkey.
    fn remember_passkey(&mut self, hosted: &HostedStep) {
        if let (Some(name), true) = (&hosted.login_name, hosted.has_passkey) {
            self.cookies.remember_passkey(name);
        }
    }

    /// Starts registering a passkey: the answer keeps the offer and carries the options for
    /// `navigator.credentials.create()`.
    async fn passkey_register(&mut self) -> Result<StepView, StepView> {
        let hosted = self.step(LoginAction::StartPasskeyRegistration).await?;
        Ok(self.offer_again(&hosted, None))
    }

    /// The offer of a passkey again (with the ceremony to run, or a refusal's notice).
    fn offer_again(&self, hosted: &HostedStep, notice: Option<Notice>) -> StepView {
        let mut view = self.show(hosted, None);
        if let Step::Done { .. } = view.step {
            view.step = Step::PasskeyOffer;
        }
        if let Some(notice) = notice {
            view.notice = Some(notice);
        }
        view.ceremony = hosted.ceremony.as_ref().map(|c| Ceremony {
            options: browser_options(c.options.clone()),
            registration_id: c.registration_id.clone(),
        });
        view
    }

    /// Saves the passkey the browser created; the login then goes on (for a passwordless app:
    /// to signing in with the new passkey).
    async fn passkey_registered(
        &mut self,
        registration_id: Option<String>,
        credential: Option<String>,
    ) -> Result<StepView, StepView> {
        let registration_id = registration_id.unwrap_or_default();
        let credential = parse_credential(credential).and_then(|c| {
            let ok = !registration_id.is_empty() && registration_id.len() <= MAX_CREDENTIAL_CHARS;
            if ok {
                Ok(c)
            } else {
                Err(Notice::PasskeyFailed)
            }
        });
        let credential = match credential {
            Ok(c) => c,
            Err(notice) => {
                let hosted = self.step(LoginAction::Show).await?;
                return Ok(self.offer_again(&hosted, Some(notice)));
            }
        };
        let action = LoginAction::FinishPasskeyRegistration {
            registration_id,
            credential,
        };
        let hosted = self.step(action).await?;
        if hosted.refused.is_some() {
            return Ok(self.offer_again(&hosted, None));
        }
        self.remember_passkey(&hosted);
        let mut view = self.show(&hosted, None);
        view.notice = Some(Notice::PasskeyCreated);
        Ok(view)
    }

    /// "Use my password instead" on the passkey-first step (remembered for this link).
    async fn use_password(&mut self) -> Result<StepView, StepView> {
        self.cookies.set_password_first();
        let hosted = self.step(LoginAction::Show).await?;
        Ok(self.show(&hosted, None))
    }
}

/// The factor a WebAuthn form names: a security key, else a passkey.
fn webauthn_factor(factor: Option<Factor>) -> Factor {
    match factor {
        Some(Factor::SecurityKey) => Factor::SecurityKey,
        _ => Factor::Passkey,
    }
}

/// A credential from the browser, or the notice that it is not one.
pub fn parse_credential(credential: Option<String>) -> Result<serde_json::Value, Notice> {
    let text = credential.unwrap_or_default();
    if text.is_empty() || text.len() > MAX_CREDENTIAL_CHARS {
        return Err(Notice::PasskeyFailed);
    }
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .filter(serde_json::Value::is_object)
        .ok_or(Notice::PasskeyFailed)
}

//! The steps as the page draws them: one form per step, every one a real `<form>` that posts to
//! the server function, with or without JavaScript.

use leptos::either::Either;
use leptos::prelude::*;

use super::wire::{Factor, Step};
use super::{MAX_LOGIN_NAME_CHARS, MAX_SECRET_CHARS, STEP_URL};
use crate::i18n::{Key, Lang};

/// The fields every form sends: the link, the language and which step this is.
pub(super) fn hidden(token: String, lang: Lang, op: &'static str) -> impl IntoView {
    view! {
        <input type="hidden" name="token" value=token />
        <input type="hidden" name="lang" value=lang.code() />
        <input type="hidden" name="op" value=op />
    }
}

pub(super) fn submit(label: String, pending: Signal<bool>) -> impl IntoView {
    submit_unless(label, pending, false)
}

/// The step's button, also disabled while the account is `locked` (the notice says until when).
fn submit_unless(label: String, pending: Signal<bool>, locked: bool) -> impl IntoView {
    view! {
        <button type="submit" class="primary" disabled=move || locked || pending.get()>
            {label}
        </button>
    }
}

/// A form of one button beside the step: the way out (`op`), such as "Choose another way".
fn alt_form(
    token: &str,
    lang: Lang,
    (op, label, class): (&'static str, String, &'static str),
    pending: Signal<bool>,
) -> impl IntoView {
    view! {
        <form action=STEP_URL method="post" class="alt">
            {hidden(token.to_owned(), lang, op)}
            <button type="submit" class=class disabled=move || pending.get()>{label}</button>
        </form>
    }
}

/// A form whose one button starts a WebAuthn ceremony (`op`: `webauthn-start` with the
/// factor, or `passkey-register`). Shown only where the island runs in a browser with WebAuthn:
/// the style sheet keys `.needs-webauthn` to the island's `data-webauthn` (plain CSS, so the
/// wasm carries no reactive code for it).
pub(super) fn ceremony_button(
    token: &str,
    lang: Lang,
    op: &'static str,
    factor: Option<Factor>,
    label: String,
    class: &'static str,
) -> impl IntoView {
    view! {
        <form action=STEP_URL method="post" class="webauthn">
            {hidden(token.to_owned(), lang, op)}
            {factor.map(|f| view! { <input type="hidden" name="factor" value=f.code() /> })}
            <button type="submit" class=format!("{class} needs-webauthn")>{label}</button>
        </form>
    }
}

/// A step about one WebAuthn ceremony: what it is, its button, why the button may be missing,
/// and the way out (`alt`: op, label and button class).
pub(super) struct CeremonyStep {
    pub(super) id: &'static str,
    pub(super) title: String,
    pub(super) text: String,
    pub(super) op: &'static str,
    pub(super) factor: Option<Factor>,
    pub(super) button: String,
    pub(super) no_js: String,
    pub(super) alt: Option<(&'static str, String, &'static str)>,
}

pub(super) fn ceremony_step(
    c: CeremonyStep,
    token: &str,
    lang: Lang,
    pending: Signal<bool>,
) -> impl IntoView {
    let alt = c.alt.map(|alt| alt_form(token, lang, alt, pending));
    view! {
        <section class="step" id=c.id>
            <h2>{c.title}</h2>
            <p>{c.text}</p>
            {ceremony_button(token, lang, c.op, c.factor, c.button, "primary")}
            {nojs_note(c.no_js)}
            // Where nothing else is on the step: the browser has no WebAuthn.
            <p class="notice error no-webauthn">{lang.text(Key::ErrPasskeyUnsupported)}</p>
        </section>
        {alt}
    }
}

/// Why WebAuthn is not offered: JavaScript is off (`.nojs`, gone once the island runs).
pub(super) fn nojs_note(text: String) -> impl IntoView {
    view! { <p class="notice info nojs">{text}</p> }
}

/// The form of `step`. `locked`: the notice says the account is locked for now, so the fields
/// and the button that would only be refused are disabled.
pub(super) fn render_step(
    step: &Step,
    lang: Lang,
    token: &str,
    app: &str,
    pending: Signal<bool>,
    locked: bool,
) -> impl IntoView {
    use leptos::either::EitherOf11;
    let t = move |k: Key| lang.text(k).to_owned();
    let token = token.to_owned();
    let app = app.to_owned();
    match step.clone() {
        Step::LoginName { value, passkey } => {
            // `webauthn` in autocomplete lets the browser offer passkeys in the field's
            // suggestions (conditional mediation).
            let autocomplete = if passkey {
                "username webauthn"
            } else {
                "username"
            };
            // Always there (one view type); hidden for an app that does not take passkeys.
            let passkeys = view! {
                <div class="or" hidden=!passkey>
                    {ceremony_button(&token, lang, "webauthn-start", Some(Factor::Passkey), t(Key::PasskeySignIn), "secondary")}
                    {nojs_note(t(Key::PasskeyNeedsJs))}
                </div>
            };
            EitherOf11::A(view! {
                <form action=STEP_URL method="post" class="step" id="step-login">
                    {hidden(token.clone(), lang, "login-name")}
                    <label for="login_name">{t(Key::LoginNameLabel)}</label>
                    <input id="login_name" name="login_name" type="text" autocomplete=autocomplete
                        autocapitalize="none" spellcheck="false" required
                        maxlength=MAX_LOGIN_NAME_CHARS value=value />
                    {submit(t(Key::Continue), pending)}
                </form>
                {passkeys}
            })
        }
        Step::PasskeyFirst | Step::PasskeyOnly => EitherOf11::B(ceremony_step(
            CeremonyStep {
                id: "step-passkey",
                title: t(Key::PasskeyTitle),
                text: t(Key::PasskeyHint),
                op: "webauthn-start",
                factor: Some(Factor::Passkey),
                button: t(Key::PasskeyContinue),
                no_js: t(Key::PasskeyNeedsJs),
                alt: (*step == Step::PasskeyFirst)
                    .then(|| ("use-password", t(Key::UsePassword), "link")),
            },
            &token,
            lang,
            pending,
        )),
        Step::WebAuthn { factor, others } => {
            let (title, text, button) = match factor {
                Factor::SecurityKey => (
                    Key::SecurityKeyTitle,
                    Key::SecurityKeyHint,
                    Key::SecurityKeyUse,
                ),
                _ => (Key::PasskeyTitle, Key::PasskeyHint, Key::PasskeyContinue),
            };
            EitherOf11::C(ceremony_step(
                CeremonyStep {
                    id: "step-webauthn",
                    title: t(title),
                    text: t(text),
                    op: "webauthn-start",
                    factor: Some(factor),
                    button: t(button),
                    no_js: t(Key::SecurityKeyNeedsJs),
                    alt: others.then(|| ("back", t(Key::ChooseAnother), "link")),
                },
                &token,
                lang,
                pending,
            ))
        }
        Step::PasskeyOffer | Step::PasskeyRequired => {
            let required = *step == Step::PasskeyRequired;
            EitherOf11::D(ceremony_step(
                CeremonyStep {
                    id: "step-offer",
                    title: t(Key::OfferTitle),
                    text: if required {
                        lang.fill(Key::OfferRequired, &[("app", &app)])
                    } else {
                        t(Key::OfferText)
                    },
                    op: "passkey-register",
                    factor: None,
                    button: t(Key::CreatePasskey),
                    no_js: lang.fill(Key::OfferRequiredNeedsJs, &[("app", &app)]),
                    alt: (!required).then(|| ("passkey-skip", t(Key::NotNow), "secondary")),
                },
                &token,
                lang,
                pending,
            ))
        }
        Step::Password {
            login_name,
            passkey,
        } => {
            EitherOf11::E(view! {
                <form action=STEP_URL method="post" class="step" id="step-password">
                    {hidden(token.clone(), lang, "password")}
                    // For password managers: the account this password belongs to.
                    <input type="text" name="login_name" autocomplete="username" hidden
                        value=login_name.unwrap_or_default() />
                    <label for="password">{t(Key::PasswordLabel)}</label>
                    <input id="password" name="password" type="password"
                        autocomplete="current-password" required maxlength=MAX_SECRET_CHARS
                        disabled=locked />
                    {submit_unless(t(Key::SignIn), pending, locked)}
                </form>
                <div class="or" hidden=!passkey>
                    {ceremony_button(&token, lang, "webauthn-start", Some(Factor::Passkey), t(Key::PasskeyInstead), "secondary")}
                </div>
            })
        }
        Step::Choose { options } => {
            let radios = options
                .into_iter()
                .enumerate()
                .map(|(i, option)| {
                    let id = format!("factor-{}", option.factor.code());
                    let label = match option.factor {
                        Factor::Passkey => t(Key::FactorPasskey),
                        Factor::SecurityKey => t(Key::FactorSecurityKey),
                        Factor::Totp => t(Key::FactorTotp),
                        Factor::Sms => lang.fill(Key::FactorSms, &[("to", &option.to)]),
                        Factor::Email => lang.fill(Key::FactorEmail, &[("to", &option.to)]),
                        Factor::Recovery => t(Key::FactorRecovery),
                    };
                    view! {
                        <div class="choice">
                            <input type="radio" id=id.clone() name="factor"
                                value=option.factor.code() checked=i == 0 required />
                            <label for=id>{label}</label>
                        </div>
                    }
                })
                .collect_view();
            EitherOf11::F(view! {
                <form action=STEP_URL method="post" class="step" id="step-choose">
                    {hidden(token.clone(), lang, "choose")}
                    <fieldset>
                        <legend>{t(Key::ChooseFactor)}</legend>
                        {radios}
                    </fieldset>
                    {submit(t(Key::Continue), pending)}
                </form>
            })
        }
        Step::Code { factor, to, others } => {
            let (label, autocomplete, inputmode, capitals) = match factor {
                Factor::Recovery => (t(Key::RecoveryCodeLabel), "off", "text", "characters"),
                _ => (t(Key::CodeLabel), "one-time-code", "numeric", "none"),
            };
            // What to do and where the code comes from; the field points to it, so a screen
            // reader reads it with the label.
            let hint = match factor {
                Factor::Sms => lang.fill(Key::CodeSentSms, &[("to", &to)]),
                Factor::Email => lang.fill(Key::CodeSentEmail, &[("to", &to)]),
                Factor::Recovery => t(Key::CodeHintRecovery),
                _ => t(Key::CodeHintTotp),
            };
            let resend_token = token.clone();
            let resend_form = factor.is_sent().then(move || {
                view! {
                    <form action=STEP_URL method="post" class="resend">
                        {hidden(resend_token, lang, "resend")}
                        <input type="hidden" name="factor" value=factor.code() />
                        <button type="submit" class="secondary" disabled=move || pending.get()>
                            {t(Key::Resend)}
                        </button>
                    </form>
                }
            });
            let another = others.then(|| {
                let alt = ("back", t(Key::ChooseAnother), "link");
                alt_form(&token, lang, alt, pending)
            });
            EitherOf11::G(view! {
                <form action=STEP_URL method="post" class="step" id="step-code">
                    {hidden(token.clone(), lang, "code")}
                    <input type="hidden" name="factor" value=factor.code() />
                    <p id="code-hint">{hint}</p>
                    <label for="code">{label}</label>
                    <input id="code" name="code" type="text" autocomplete=autocomplete
                        inputmode=inputmode required maxlength=MAX_SECRET_CHARS
                        autocapitalize=capitals spellcheck="false" aria-describedby="code-hint"
                        disabled=locked />
                    {submit_unless(t(Key::Verify), pending, locked)}
                </form>
                {resend_form}
                {another}
            })
        }
        Step::Enroll {
            qr_data_url,
            secret,
        } => EitherOf11::H(view! {
            <form action=STEP_URL method="post" class="step" id="step-enroll">
                {hidden(token.clone(), lang, "enroll")}
                <h2>{t(Key::EnrollTitle)}</h2>
                <p>{t(Key::EnrollScan)}</p>
                <img class="qr" src=qr_data_url alt=t(Key::EnrollScan) width="200" height="200" />
                <p>{t(Key::EnrollSecret)}</p>
                <p><code class="secret">{group_by_four(&secret)}</code></p>
                <label for="code">{t(Key::EnrollCodeLabel)}</label>
                <input id="code" name="code" type="text" autocomplete="one-time-code"
                    inputmode="numeric" required maxlength=MAX_SECRET_CHARS />
                {submit(t(Key::Verify), pending)}
            </form>
        }),
        Step::RecoveryCodes { codes } => {
            // One code a line, in the list, the copy and the text file alike.
            let text: String = codes.iter().map(|c| format!("{c}\n")).collect();
            // A `data:` URL: the download works without JavaScript and without another request
            // (a download is not a fetch, so the page's CSP does not stand in its way).
            let file = format!(
                "data:text/plain;charset=utf-8,{}",
                percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
            );
            let items = codes
                .into_iter()
                .map(|c| view! { <li><code>{c}</code></li> })
                .collect_view();
            EitherOf11::I(view! {
                <form action=STEP_URL method="post" class="step" id="step-recovery">
                    {hidden(token.clone(), lang, "finish")}
                    <h2>{t(Key::RecoveryTitle)}</h2>
                    <p>{t(Key::RecoveryHint)}</p>
                    <ul class="codes">{items}</ul>
                    <a class="button secondary" href=file download="recovery-codes.txt">
                        {t(Key::DownloadCodes)}
                    </a>
                    <CopyButton text label=t(Key::Copy) done=t(Key::Copied) />
                    {submit(t(Key::RecoverySaved), pending)}
                </form>
            })
        }
        Step::Done { redirect } => {
            let body = match redirect {
                Some(url) => Either::Left(view! {
                    <p role="status">{lang.fill(Key::Redirecting, &[("app", &app)])}</p>
                    <p><a class="button" href=url>{lang.fill(Key::ContinueTo, &[("app", &app)])}</a></p>
                }),
                None => Either::Right(
                    view! { <p role="status">{lang.fill(Key::DoneReturn, &[("app", &app)])}</p> },
                ),
            };
            EitherOf11::J(view! {
                <section class="step" id="step-done">
                    <h2>{t(Key::DoneTitle)}</h2>
                    {body}
                </section>
            })
        }
        Step::End { reason } => EitherOf11::K(view! {
            <section class="step" id="step-end">
                <p class="notice error" role="alert">{t(reason.key())}</p>
            </section>
        }),
    }
}

/// A key to type by hand, in groups of four characters (`JBSW Y3DP EHPK …`); authenticator apps
/// ignore the spaces.
pub(super) fn group_by_four(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Copies the recovery codes; shown only where JavaScript runs (the codes stay selectable).
#[component]
pub(super) fn CopyButton(text: String, label: String, done: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let shown = RwSignal::new(false);
    Effect::new(move |_| shown.set(true));
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let clipboard = window().navigator().clipboard();
            let _ = clipboard.write_text(&text);
            copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <button type="button" class="secondary" hidden=move || !shown.get() on:click=on_click>
            {move || if copied.get() { done.clone() } else { label.clone() }}
        </button>
    }
}

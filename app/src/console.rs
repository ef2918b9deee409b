//! `/console/session/<token>`: the steps a person takes to sign in through an app handoff.
//!
//! The page is rendered on the server from the engine's state. The steps live in one island,
//! [`ConsoleSteps`]: every step is a real `<form>` posting to a server function. Without
//! JavaScript the server function answers with a redirect back to the page, which renders the next
//! step (and a notice named by a short query code). With JavaScript the island sends the same form
//! by fetch and swaps the step in place.

pub mod webauthn;
pub mod wire;

#[cfg(feature = "ssr")]
pub mod gate;
#[cfg(feature = "ssr")]
pub mod glue;

use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use crate::i18n::{Key, Lang};
#[cfg(feature = "hydrate")]
use wire::Ceremony;
use wire::{EndReason, Factor, Notice, Step, StepView};

/// Longest login name the console accepts, as in the Session API contract.
pub const MAX_LOGIN_NAME_CHARS: usize = 200;
/// Longest password, code or recovery code accepted.
pub const MAX_SECRET_CHARS: usize = 200;
/// Longest WebAuthn credential (JSON) or registration id accepted from the browser.
pub const MAX_CREDENTIAL_CHARS: usize = 64 * 1024;

/// Everything the page needs, worked out on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageData {
    pub lang: Lang,
    pub app_name: Option<String>,
    pub logo_url: Option<String>,
    /// Custom properties from the app's branding, already checked (`#rrggbb` only).
    pub brand_css: Option<String>,
    pub view: StepView,
}

/// The console page for one login link.
#[component]
pub fn ConsolePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let token = params.read_untracked().get("token").unwrap_or_default();
    let q = query.read_untracked();
    let lang_param = q.get("lang");
    let notice = q.get("n").and_then(|c| Notice::from_code(&c));
    let factor = q.get("f").and_then(|c| Factor::from_code(&c));
    drop(q);
    view! {
        {Suspend::new(async move {
            let data = load_page(token.clone(), lang_param, notice, factor).await;
            view! { <Console token data /> }
        })}
    }
}

#[component]
fn Console(token: String, data: PageData) -> impl IntoView {
    let lang = data.lang;
    let app = data.app_name.clone();
    let title = match &app {
        Some(name) => lang.fill(Key::SignInTo, &[("app", name)]),
        None => lang.text(Key::PageTitle).to_owned(),
    };
    let brand = data.brand_css.clone().map(|css| {
        let nonce = leptos::nonce::use_nonce();
        view! { <style nonce=nonce>{css}</style> }
    });
    let logo = data
        .logo_url
        .clone()
        .map(|src| view! { <img class="logo" src=src alt="" width="48" height="48" /> });
    let switcher = Lang::ALL
        .into_iter()
        .map(|l| {
            let href = format!("?lang={}", l.code());
            let current = (l == lang).then_some("true");
            view! {
                <li>
                    <a href=href hreflang=l.code() lang=l.code() aria-current=current>
                        {l.native_name()}
                    </a>
                </li>
            }
        })
        .collect_view();
    view! {
        {brand}
        <leptos_meta::Title text=title.clone() />
        <header class="brand">{logo} <h1>{title}</h1></header>
        <ConsoleSteps token lang app=app.unwrap_or_default() initial=initial_json(&data.view) />
        <nav class="langs" aria-label=lang.text(Key::Language)>
            <ul>{switcher}</ul>
        </nav>
    }
}

/// The first step as JSON, for the island's props.
fn initial_json(view: &StepView) -> String {
    leptos::serde_json::to_string(view).unwrap_or_default()
}

/// The steps. An island: hydrated in the browser, plain forms without JavaScript. Its texts
/// come from the page's texts script (`i18n::texts_script`), not its props: the browser has no
/// language tables of its own, and the page need not carry each text twice.
/// `initial`: the first step as JSON text. Leptos serializes an island's props again in the
/// browser; as text, that costs the wasm nothing, where a `StepView` would bring every wire
/// type's serializer into it (the browser only ever reads them).
#[island]
fn ConsoleSteps(token: String, lang: Lang, app: String, initial: String) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    crate::i18n::install();
    // Unreadable only if the server wrote something else than it reads: say so, keep the page.
    let initial = leptos::serde_json::from_str::<StepView>(&initial).unwrap_or_else(|_| {
        StepView::with(
            Step::End {
                reason: EndReason::Ended,
            },
            Some(Notice::Server),
        )
    });
    let view_state = RwSignal::new(initial);
    let hydrated = RwSignal::new(false);
    let webauthn = RwSignal::new(false);
    // Bumped whenever a server answer replaces the step, so focus moves only after a change.
    let swaps = RwSignal::new(0u32);
    // A message about a WebAuthn ceremony that ended in the browser: shown over the server's
    // notice without redrawing the step (what was typed stays).
    let local_notice = RwSignal::new(None::<Notice>);
    let container = NodeRef::<leptos::html::Div>::new();
    let token = StoredValue::new(token);
    let app = StoredValue::new(app);

    // Every form posts to the one server function (its `op` field names the step). With
    // JavaScript, one submit listener on the container sends the submitted form by fetch, as the
    // same URL-encoded body, and swaps in the answer: no action or form decoder in the wasm.
    // An answer that carries a WebAuthn ceremony keeps the step, runs the ceremony in the
    // browser and sends its credential on.
    let pending = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    let swap = move |next: Option<StepView>| {
        local_notice.set(None);
        let next = next.unwrap_or_else(|| StepView {
            notice: Some(Notice::Server),
            ..view_state.get_untracked()
        });
        view_state.set(next);
        swaps.update(|n| *n += 1);
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        #[cfg(feature = "hydrate")]
        {
            use leptos::wasm_bindgen::JsCast;
            let Some(form) = ev
                .target()
                .and_then(|t| t.dyn_into::<leptos::web_sys::HtmlFormElement>().ok())
            else {
                return;
            };
            ev.prevent_default();
            if pending.get_untracked() {
                return;
            }
            pending.set(true);
            local_notice.set(None);
            leptos::task::spawn_local(async move {
                let answer = post_form(&form).await;
                let factor = view_state.get_untracked().step.factor();
                let outcome = match answer {
                    Some(StepView {
                        ceremony: Some(ceremony),
                        notice: None,
                        ..
                    }) => run_ceremony(ceremony, &token.get_value(), lang, factor).await,
                    other => Ok(other),
                };
                pending.set(false);
                match outcome {
                    Ok(next) => swap(next),
                    Err(notice) => local_notice.set(notice),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    // The link is bound to this browser at its first action, not by the page view (which a
    // mail scanner makes too): where passkey autofill runs, its request (just below) is that
    // action; otherwise the first step the person sends.
    Effect::new(move |_| {
        hydrated.set(true);
        #[cfg(feature = "hydrate")]
        webauthn.set(webauthn::ready().is_some());
    });

    // Passkey autofill: while the login-name step shows, a conditional request waits for the
    // person to pick a passkey from the field's suggestions. Leaving the step aborts it.
    // After a pick the server refused (an unknown or expired passkey), it waits again.
    #[cfg(feature = "hydrate")]
    {
        let waiting = StoredValue::new(false);
        let rounds = RwSignal::new(0u32);
        Effect::new(move |_| {
            let on_login =
                view_state.with(|v| matches!(v.step, Step::LoginName { passkey: true, .. }));
            let _ = (local_notice.get(), rounds.get());
            if !hydrated.get() {
                return;
            }
            let Some(browser) = webauthn::ready() else {
                return;
            };
            if !on_login {
                browser.abort();
                return;
            }
            // A few rounds at most: an authenticator that answers by itself must not loop.
            if waiting.get_value() || pending.get_untracked() || rounds.get_untracked() >= 3 {
                return;
            }
            waiting.set_value(true);
            leptos::task::spawn_local(async move {
                let token = token.get_value();
                if browser.autofill().await {
                    let started =
                        post_fields(&token, lang, "webauthn-start", &[("factor", "passkey")]).await;
                    if let Some(StepView {
                        ceremony:
                            Some(Ceremony {
                                options,
                                registration_id: None,
                            }),
                        ..
                    }) = started
                    {
                        // A click on the passkey button while the options travelled: that
                        // ceremony goes first (starting this one would abort it).
                        let picked = if pending.get_untracked() {
                            None
                        } else {
                            browser.get(options, true).await.ok()
                        };
                        if let Some(credential) = picked {
                            pending.set(true);
                            let fields =
                                [("factor", "passkey"), ("credential", credential.as_str())];
                            let next = post_fields(&token, lang, "webauthn", &fields).await;
                            pending.set(false);
                            swap(next);
                            waiting.set_value(false);
                            rounds.update(|n| *n += 1);
                            return;
                        }
                    }
                }
                waiting.set_value(false);
            });
        });
    }

    // After a swap: leave for the app when done, else focus the new step's first field.
    Effect::new(move |_| {
        // The first run only subscribes; a swap counts from one.
        let swapped = swaps.get() > 0;
        #[cfg(feature = "hydrate")]
        if swapped {
            use leptos::wasm_bindgen::JsCast;
            if let Step::Done {
                redirect: Some(url),
            } = view_state.get_untracked().step
            {
                let _ = window().location().set_href(&url);
                return;
            }
            let Some(root) = container.get_untracked() else {
                return;
            };
            let target = root
                .query_selector(
                    "input:not([type=hidden]):not([hidden]):not([disabled]), [role=alert], button:not([hidden]), a",
                )
                .ok()
                .flatten()
                .and_then(|el| el.dyn_into::<leptos::web_sys::HtmlElement>().ok());
            if let Some(el) = target {
                let _ = el.focus();
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = swapped;
    });

    let step_view = move || {
        let current = view_state.get();
        let token = token.get_value();
        let app = app.get_value();
        render_step(&current.step, lang, &token, &app, pending.into())
    };
    let notice = move || {
        let current = view_state.get();
        let n = local_notice.get().or(current.notice)?;
        let to = match &current.step {
            Step::Code { to, .. } => to.clone(),
            _ => String::new(),
        };
        let text = n.text(lang, current.step.factor(), &to);
        Some(if n.is_error() {
            Either::Left(view! { <p class="notice error" role="alert" tabindex="-1">{text}</p> })
        } else {
            Either::Right(view! { <p class="notice info" role="status">{text}</p> })
        })
    };
    let not_you = move || {
        view_state.get().step.can_restart().then(|| {
            view! {
                <form action=STEP_URL method="post" class="restart">
                    {hidden(token.get_value(), lang, "restart")}
                    <button type="submit" class="link" disabled=move || pending.get()>
                        {lang.text(Key::NotYou)}
                    </button>
                </form>
            }
        })
    };
    view! {
        <div
            class="steps"
            node_ref=container
            on:submit=on_submit
            data-hydrated=move || hydrated.get().then_some("true")
            data-webauthn=move || webauthn.get().then_some("true")
            aria-busy=move || pending.get().then_some("true")
        >
            <div class="notices" aria-live="polite">{notice}</div>
            {step_view}
            {not_you}
        </div>
    }
}

/// Where every form posts: the one server function.
const STEP_URL: &str = <ConsoleStep as leptos::server_fn::ServerFn>::PATH;

/// Runs the ceremony the server asked for and sends its credential on: `Ok` with the next
/// step (`None` when the server could not be reached), or `Err` with what to tell the person
/// when the browser ended it.
#[cfg(feature = "hydrate")]
async fn run_ceremony(
    ceremony: Ceremony,
    token: &str,
    lang: Lang,
    factor: Option<Factor>,
) -> Result<Option<StepView>, Option<Notice>> {
    let Some(browser) = webauthn::ready() else {
        return Err(Some(Notice::PasskeyUnsupported));
    };
    let factor = factor
        .filter(|f| f.is_webauthn())
        .unwrap_or(Factor::Passkey)
        .code();
    match ceremony.registration_id {
        None => {
            let credential = browser
                .get(ceremony.options, false)
                .await
                .map_err(|f| f.notice())?;
            let fields = [("factor", factor), ("credential", credential.as_str())];
            Ok(post_fields(token, lang, "webauthn", &fields).await)
        }
        Some(registration_id) => {
            let credential = browser
                .create(ceremony.options)
                .await
                .map_err(|f| f.notice())?;
            let fields = [
                ("registration_id", registration_id.as_str()),
                ("credential", credential.as_str()),
            ];
            Ok(post_fields(token, lang, "passkey-registered", &fields).await)
        }
    }
}

/// Sends a step's form as the browser would without JavaScript (URL-encoded, to its `action`),
/// but asking for the answer as JSON (no `text/html` in `Accept`), and decodes the next step.
#[cfg(feature = "hydrate")]
async fn post_form(form: &leptos::web_sys::HtmlFormElement) -> Option<StepView> {
    use leptos::web_sys::{FormData, UrlSearchParams};
    let data = FormData::new_with_form(form).ok()?;
    let body = UrlSearchParams::new_with_str_sequence_sequence(&data).ok()?;
    post_body(&form.action(), &body).await
}

/// Posts one step that no form on the page describes (the WebAuthn follow-ups).
#[cfg(feature = "hydrate")]
async fn post_fields(
    token: &str,
    lang: Lang,
    op: &str,
    fields: &[(&str, &str)],
) -> Option<StepView> {
    let body = leptos::web_sys::UrlSearchParams::new().ok()?;
    body.append("token", token);
    body.append("lang", lang.code());
    body.append("op", op);
    for (name, value) in fields {
        body.append(name, value);
    }
    post_body(STEP_URL, &body).await
}

#[cfg(feature = "hydrate")]
async fn post_body(url: &str, body: &leptos::web_sys::UrlSearchParams) -> Option<StepView> {
    use leptos::wasm_bindgen::JsCast;
    use leptos::web_sys::{RequestInit, Response};
    use wasm_bindgen_futures::JsFuture;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(body);
    let fetched = JsFuture::from(window().fetch_with_str_and_init(url, &init));
    let response: Response = fetched.await.ok()?.dyn_into().ok()?;
    if !response.ok() {
        return None;
    }
    let text = JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()?;
    leptos::serde_json::from_str(&text).ok()
}

/// The fields every form sends: the link, the language and which step this is.
fn hidden(token: String, lang: Lang, op: &'static str) -> impl IntoView {
    view! {
        <input type="hidden" name="token" value=token />
        <input type="hidden" name="lang" value=lang.code() />
        <input type="hidden" name="op" value=op />
    }
}

fn submit(label: String, pending: Signal<bool>) -> impl IntoView {
    view! {
        <button type="submit" class="primary" disabled=move || pending.get()>
            {label}
        </button>
    }
}

/// A form whose one button starts a WebAuthn ceremony (`op`: `webauthn-start` with the
/// factor, or `passkey-register`). Shown only where the island runs in a browser with WebAuthn:
/// the style sheet keys `.needs-webauthn` to the island's `data-webauthn` (plain CSS, so the
/// wasm carries no reactive code for it).
fn ceremony_button(
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
struct CeremonyStep {
    id: &'static str,
    title: String,
    text: String,
    op: &'static str,
    factor: Option<Factor>,
    button: String,
    no_js: String,
    alt: Option<(&'static str, String, &'static str)>,
}

fn ceremony_step(c: CeremonyStep, token: &str, lang: Lang, pending: Signal<bool>) -> impl IntoView {
    let alt = c.alt.map(|(op, label, class)| {
        view! {
            <form action=STEP_URL method="post" class="alt">
                {hidden(token.to_owned(), lang, op)}
                <button type="submit" class=class disabled=move || pending.get()>{label}</button>
            </form>
        }
    });
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
fn nojs_note(text: String) -> impl IntoView {
    view! { <p class="notice info nojs">{text}</p> }
}

fn render_step(
    step: &Step,
    lang: Lang,
    token: &str,
    app: &str,
    pending: Signal<bool>,
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
        Step::WebAuthn { factor } => {
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
                    alt: Some(("back", t(Key::ChooseAnother), "link")),
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
            let who = login_name.clone().map(|name| {
                view! { <p class="who">{lang.fill(Key::SigningInAs, &[("name", &name)])}</p> }
            });
            EitherOf11::E(view! {
                <form action=STEP_URL method="post" class="step" id="step-password">
                    {hidden(token.clone(), lang, "password")}
                    {who}
                    // For password managers: the account this password belongs to.
                    <input type="text" name="login_name" autocomplete="username" hidden
                        value=login_name.unwrap_or_default() />
                    <label for="password">{t(Key::PasswordLabel)}</label>
                    <input id="password" name="password" type="password"
                        autocomplete="current-password" required maxlength=MAX_SECRET_CHARS />
                    {submit(t(Key::SignIn), pending)}
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
        Step::Code { factor, .. } => {
            let (label, autocomplete, inputmode, capitals) = match factor {
                Factor::Recovery => (t(Key::RecoveryCodeLabel), "off", "text", "characters"),
                _ => (t(Key::CodeLabel), "one-time-code", "numeric", "none"),
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
            EitherOf11::G(view! {
                <form action=STEP_URL method="post" class="step" id="step-code">
                    {hidden(token.clone(), lang, "code")}
                    <input type="hidden" name="factor" value=factor.code() />
                    <label for="code">{label}</label>
                    <input id="code" name="code" type="text" autocomplete=autocomplete
                        inputmode=inputmode required maxlength=MAX_SECRET_CHARS
                        autocapitalize=capitals spellcheck="false" />
                    {submit(t(Key::Verify), pending)}
                </form>
                {resend_form}
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
fn group_by_four(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Copies the recovery codes; shown only where JavaScript runs (the codes stay selectable).
#[component]
fn CopyButton(text: String, label: String, done: String) -> impl IntoView {
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

async fn load_page(
    token: String,
    lang_param: Option<String>,
    notice: Option<Notice>,
    factor: Option<Factor>,
) -> PageData {
    #[cfg(feature = "ssr")]
    {
        glue::load_page(&token, lang_param.as_deref(), notice, factor).await
    }
    #[cfg(not(feature = "ssr"))]
    {
        let _ = (token, notice, factor);
        PageData {
            lang: lang_param
                .as_deref()
                .and_then(Lang::from_tag)
                .unwrap_or_default(),
            app_name: None,
            logo_url: None,
            brand_css: None,
            view: StepView::new(Step::End {
                reason: EndReason::LinkNotFound,
            }),
        }
    }
}

// --- the server function every form posts to ---

pub use endpoint::{console_step, ConsoleStep};

mod endpoint {
    //! The one server function. Its generated client takes one argument per form field, which
    //! is what lets plain forms post to it; hence the allowance below.
    #![allow(clippy::too_many_arguments)]
    use super::*;

    /// One step of the login: `op` names the form (see [`Op`]), the other fields are that
    /// form's. The answer is the next step; without JavaScript, a redirect back to the page that
    /// shows it. The origin of the post was checked by the server's console gate.
    #[server(prefix = "/console/api", endpoint = "step")]
    pub async fn console_step(
        token: String,
        lang: Option<String>,
        op: wire::Op,
        login_name: Option<String>,
        password: Option<String>,
        factor: Option<String>,
        code: Option<String>,
        credential: Option<String>,
        registration_id: Option<String>,
    ) -> Result<StepView, ServerFnError> {
        let fields = glue::Fields {
            login_name,
            password,
            factor,
            code,
            credential,
            registration_id,
        };
        glue::run_step(token, lang, op, fields).await
    }
}

//! `/console/session/<token>`: the steps a person takes to sign in through an app handoff.
//!
//! The page is rendered on the server from the engine's state. The steps live in one island,
//! [`ConsoleSteps`]: every step is a real `<form>` posting to a server function. Without
//! JavaScript the server function answers with a redirect back to the page, which renders the next
//! step (and a notice named by a short query code). With JavaScript the island sends the same form
//! by fetch and swaps the step in place.

#[cfg(feature = "hydrate")]
mod fetch;
mod steps;
pub mod webauthn;
pub mod wire;

#[cfg(feature = "hydrate")]
use fetch::{post_fields, post_form, run_ceremony};
use steps::{hidden, render_step};

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
    // No answer: the step stays, with a notice. A refusal of the page's rate limits (429)
    // carries its notice in a placeholder view: the step stays, with that notice.
    #[cfg(feature = "hydrate")]
    let swap = move |next: Option<StepView>| {
        local_notice.set(None);
        let next = match next {
            Some(view) if !matches!(view.notice, Some(Notice::TooManyTries(_))) => view,
            other => StepView {
                notice: other.map_or(Some(Notice::Server), |v| v.notice),
                ..view_state.get_untracked()
            },
        };
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
            // A refused password or code is not left in its field: the form starts over (a
            // redrawn step may keep its input elements, and with them what was typed).
            if view_state.with_untracked(|v| v.notice.is_some_and(Notice::is_error)) {
                if let Some(form) = root
                    .query_selector("form.step")
                    .ok()
                    .flatten()
                    .and_then(|el| el.dyn_into::<leptos::web_sys::HtmlFormElement>().ok())
                {
                    form.reset();
                }
            }
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
        let locked = matches!(current.notice, Some(Notice::LockedMinutes(_)));
        let who = current.who.map(|name| {
            view! { <p class="who">{lang.fill(Key::SigningInAs, &[("name", &name)])}</p> }
        });
        view! {
            {who}
            {render_step(&current.step, lang, &token, &app, pending.into(), locked)}
        }
    };
    let notice = move || {
        let current = view_state.get();
        let n = local_notice.get().or(current.notice)?;
        let text = n.text(lang);
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

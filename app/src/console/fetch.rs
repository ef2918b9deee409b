//! The island's requests, through `gloo-net`: each step's form sent by fetch as the browser
//! would send it without JavaScript (URL-encoded, to the one server function), the answer read
//! as JSON, and the WebAuthn ceremonies the answers ask for. Only in the browser build.
//! (`gloo-net` costs 1.8 KiB of the first load with brotli, measured against the same requests
//! written with `web-sys`: wasm 104,742 B to 106,325 B, JS 6,274 B to 6,508 B.)

use super::webauthn;
use super::wire::{Ceremony, Factor, Notice, StepView};
use super::STEP_URL;
use crate::i18n::Lang;

/// Runs the ceremony the server asked for and sends its credential on: `Ok` with the next
/// step (`None` when the server could not be reached), or `Err` with what to tell the person
/// when the browser ended it.
pub(super) async fn run_ceremony(
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
pub(super) async fn post_form(form: &leptos::web_sys::HtmlFormElement) -> Option<StepView> {
    use leptos::web_sys::{FormData, UrlSearchParams};
    let data = FormData::new_with_form(form).ok()?;
    let body = UrlSearchParams::new_with_str_sequence_sequence(&data).ok()?;
    post_body(&form.action(), &body).await
}

/// Posts one step that no form on the page describes (the WebAuthn follow-ups).
pub(super) async fn post_fields(
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

async fn post_body(url: &str, body: &leptos::web_sys::UrlSearchParams) -> Option<StepView> {
    let request = gloo_net::http::Request::post(url).body(body.clone()).ok()?;
    // Any answer that reads as a view: the rate limits' 429 carries one (see `swap`).
    let response = request.send().await.ok()?;
    leptos::serde_json::from_str(&response.text().await.ok()?).ok()
}

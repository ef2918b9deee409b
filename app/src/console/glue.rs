//! The server side of the console: the engine in Leptos context, the page's load and the one
//! server function's dispatch. The rules live in the engine (`domain::service::HostedLogin`);
//! what is here only reads the request, asks the engine once, and shapes the answer:
//! - [`cookies`]: every console cookie, parsed once per request;
//! - [`ops`]: the operations of the server function;
//! - [`present`]: from the engine's answer to the page's step and notice.
//!
//! The origin of every post is checked before any of this runs, by the server's console gate.

use std::sync::{Arc, Mutex};

use domain::model::UserAgent;
use domain::service::{Browser, HostedLogin, LoginAction};
use domain::{DomainError, Engine};
use leptos::prelude::*;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::wire::{EndReason, Factor, Notice, Op, Step, StepView};
use super::PageData;
use crate::i18n::Lang;

pub mod cookies;
pub mod ops;
pub mod present;

pub use cookies::{remember_name, remembered_names, ConsoleCookies, PASSKEY_HINT};
pub use ops::Fields;

/// What the server provides to the console's pages and server functions.
#[derive(Clone)]
pub struct ConsoleContext {
    pub engine: Arc<Engine>,
    /// `scheme://host[:port]` of the public URL: the only origin allowed to post.
    pub origin: String,
    /// Cookies get `Secure` unless the public URL is plain http.
    pub secure_cookies: bool,
}

impl ConsoleContext {
    pub fn new(engine: Arc<Engine>, public_url: &str) -> Self {
        Self {
            engine,
            origin: origin_of(public_url).unwrap_or_default(),
            secure_cookies: !public_url.starts_with("http://"),
        }
    }
}

/// Put into the request by the gate, which opened the login already: the page renders that
/// login instead of opening it a second time.
#[derive(Clone, Default)]
pub struct OpenedLogin(Arc<Mutex<Option<HostedLogin>>>);

impl OpenedLogin {
    pub fn new(login: HostedLogin) -> Self {
        Self(Arc::new(Mutex::new(Some(login))))
    }
    fn take(&self) -> Option<HostedLogin> {
        match self.0.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        }
    }
}

/// The client's address, as the server's gate decided it, for the sessions the console makes.
#[derive(Clone, Debug)]
pub struct ClientIp(pub String);

/// `scheme://authority` of an absolute URL, lowercased.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if scheme.is_empty() || authority.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// Whether a post may act: a real `Origin` must be ours; without one (browsers send `null` for
/// a plain form post from a page with `Referrer-Policy: no-referrer`, ours), the browser's
/// `Sec-Fetch-Site` must say `same-origin`. A request with neither is refused.
pub fn same_origin(ours: &str, origin: Option<&str>, fetch_site: Option<&str>) -> bool {
    if ours.is_empty() {
        return false;
    }
    match origin.filter(|o| *o != "null") {
        Some(o) => origin_of(o).as_deref() == Some(ours),
        None => fetch_site == Some("same-origin"),
    }
}

/// Everything but RFC 3986's unreserved characters is encoded.
pub(crate) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn context() -> Result<ConsoleContext, ServerFnError> {
    use_context::<ConsoleContext>().ok_or_else(|| {
        tracing::error!("console context missing");
        ServerFnError::new("server error")
    })
}

/// A post from a browser without JavaScript: it asks for a page (`text/html` in `Accept`); the
/// island's fetch asks for JSON. The server function and the server's console gate tell the
/// two paths apart by this alone.
pub fn wants_page(headers: &http::HeaderMap) -> bool {
    header(headers, http::header::ACCEPT).is_some_and(|accept| accept.contains("text/html"))
}

fn header(headers: &http::HeaderMap, name: http::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn set_status(status: http::StatusCode) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
}

/// Sends the cookie changes of this request with its response.
fn send_cookies(cookies: &mut ConsoleCookies) {
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    for cookie in cookies.take_set_cookies() {
        if let Ok(value) = http::HeaderValue::from_str(&cookie) {
            response.append_header(http::header::SET_COOKIE, value);
        }
    }
}

/// The browser as the engine records it at a claim: its description and address.
fn user_agent(headers: &http::HeaderMap) -> Option<UserAgent> {
    let description = header(headers, http::header::USER_AGENT)
        .map(|ua| ua.chars().take(domain::input::MAX_TEXT_CHARS).collect());
    let ip = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<ClientIp>().map(|c| c.0.clone()));
    Some(UserAgent {
        description,
        ip,
        ..UserAgent::default()
    })
}

/// One post of a console form: opens the login once, runs the operation, and answers with the
/// next step (as data to the island, or as a redirect back to the page for a browser without
/// JavaScript, with the notice and the chosen factor in the query).
pub async fn run_step(
    token: String,
    lang: Option<String>,
    op: Op,
    fields: Fields,
) -> Result<StepView, ServerFnError> {
    let ctx = context()?;
    let headers: http::HeaderMap = leptos_axum::extract().await.unwrap_or_default();
    let plain = wants_page(&headers);
    let mut call = ops::Call {
        cookies: ConsoleCookies::read(&headers, &token, ctx.secure_cookies),
        engine: ctx.engine,
        token,
        plain,
        user_agent: user_agent(&headers),
    };
    let mut view = call.run(op, fields).await;
    send_cookies(&mut call.cookies);
    let lang = lang.as_deref().and_then(Lang::from_tag);
    if plain {
        leptos_axum::redirect(&page_url(&call.token, lang, &view));
    } else if view.step == (Step::Done { redirect: None }) {
        // The signed-in page is the gate's, with its own title and the way back to the app:
        // the island goes to the page's own address (with the notice, if any), as a form post
        // without JavaScript does.
        view.step = Step::Done {
            redirect: Some(page_url(&call.token, lang, &view)),
        };
    }
    Ok(view)
}

/// The page address that shows `view` again.
pub fn page_url(token: &str, lang: Option<Lang>, view: &StepView) -> String {
    let mut query = Vec::new();
    if let Some(lang) = lang {
        query.push(format!("lang={}", lang.code()));
    }
    if let Some(f) = view.step.factor() {
        query.push(format!("f={}", f.code()));
    }
    if let Some(n) = view.notice {
        query.push(format!("n={}", n.code()));
    }
    let token = utf8_percent_encode(token, COMPONENT);
    if query.is_empty() {
        format!("/console/session/{token}")
    } else {
        format!("/console/session/{token}?{}", query.join("&"))
    }
}

/// The page of a login link: the login the gate opened (or opened here), and the step to show.
/// A page view claims nothing: the link is bound to the browser at its first step.
pub async fn load_page(
    token: &str,
    lang_param: Option<&str>,
    notice: Option<Notice>,
    factor: Option<Factor>,
) -> PageData {
    let headers: http::HeaderMap = leptos_axum::extract().await.unwrap_or_default();
    let accept_language = header(&headers, http::header::ACCEPT_LANGUAGE);
    let chosen_lang = lang_param.and_then(Lang::from_tag);
    let mut data = PageData {
        lang: chosen_lang.unwrap_or_else(|| Lang::negotiate(None, accept_language.as_deref())),
        app_name: None,
        logo_url: None,
        brand_css: None,
        view: StepView::new(Step::End {
            reason: EndReason::LinkNotFound,
        }),
    };
    let Ok(ctx) = context() else {
        data.view = StepView::with(data.view.step, Some(Notice::Server));
        return data;
    };
    let mut cookies = ConsoleCookies::read(&headers, token, ctx.secure_cookies);
    let opened = use_context::<http::request::Parts>().and_then(|parts| {
        parts
            .extensions
            .get::<OpenedLogin>()
            .and_then(OpenedLogin::take)
    });
    let login = match opened {
        Some(login) => Ok(login),
        None => {
            let browser = Browser {
                secret: cookies.claim().map(str::to_owned),
                user_agent: user_agent(&headers),
            };
            ctx.engine.open_login(token, browser).await
        }
    };
    let mut login = match login {
        Ok(login) => login,
        Err(err) => {
            data.view = match present::notice_of(&err) {
                Err(reason) => StepView::new(Step::End { reason }),
                Ok(_) => StepView::with(
                    Step::End {
                        reason: EndReason::Ended,
                    },
                    Some(Notice::Server),
                ),
            };
            if matches!(err, DomainError::HandoffLinkNotFound) {
                set_status(http::StatusCode::NOT_FOUND);
            }
            return data;
        }
    };
    if chosen_lang.is_none() {
        data.lang = Lang::negotiate(login.ui_locales(), accept_language.as_deref());
    }
    data.app_name = Some(login.app_name().to_owned());
    data.logo_url = login.branding().page_logo().map(str::to_owned);
    data.brand_css = present::brand_css(login.branding());
    // Recovery codes a no-JS enrollment left for this one page view.
    let codes = cookies.recovery_codes();
    if !codes.is_empty() {
        cookies.clear_recovery_codes();
        send_cookies(&mut cookies);
        data.view = StepView::new(Step::RecoveryCodes { codes });
        return data;
    }
    let hosted = ctx.engine.login_step(&mut login, LoginAction::Show).await;
    let pending = cookies.pending_name();
    let seen = present::Seen {
        pending: pending.as_deref(),
        hint: login.login_hint(),
        chosen: factor,
        passkey_first: cookies.passkey_first(pending.as_deref()),
    };
    let view = present::view_of(&hosted, &seen);
    data.view = StepView {
        notice: notice.or(view.notice),
        ..view
    };
    send_cookies(&mut cookies);
    data
}

#[cfg(test)]
mod tests;

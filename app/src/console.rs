//! `/console/session/<token>`: the steps a person takes to sign in.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

/// Longest login name the console accepts, as in the Session API contract.
pub const MAX_LOGIN_NAME_CHARS: usize = 200;

/// The console page for one login link.
#[component]
pub fn ConsolePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let token = params.read_untracked().get("token").unwrap_or_default();
    // After a form post without JavaScript the server redirects here with its answer.
    let reply = query.read_untracked().get("reply");
    view! {
        <h1>"Sign in"</h1>
        <LoginNameForm token reply />
    }
}

/// The login-name step. An island: hydrated in the browser, a plain form without JavaScript.
#[island]
fn LoginNameForm(token: String, reply: Option<String>) -> impl IntoView {
    let action = ServerAction::<SubmitLoginName>::new();
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let answer = move || match action.value().get() {
        Some(Ok(text)) => Some(view! { <p class="answer" role="status">{text}</p> }.into_any()),
        Some(Err(err)) => {
            Some(view! { <p class="error" role="alert">{error_text(&err)}</p> }.into_any())
        }
        None => reply
            .clone()
            .map(|text| view! { <p class="answer" role="status">{text}</p> }.into_any()),
    };
    view! {
        <div class="step" data-hydrated=move || hydrated.get().then_some("true")>
            <ActionForm action>
                <input type="hidden" name="token" value=token />
                <label for="login_name">"Login name"</label>
                <input
                    id="login_name"
                    name="login_name"
                    type="text"
                    autocomplete="username"
                    required
                    maxlength=MAX_LOGIN_NAME_CHARS
                />
                <button type="submit" disabled=move || action.pending().get()>"Continue"</button>
            </ActionForm>
            {answer}
        </div>
    }
}

fn error_text(err: &ServerFnError) -> String {
    match err {
        ServerFnError::ServerError(message) => message.clone(),
        _ => "Something went wrong on our side. Please try again.".to_owned(),
    }
}

/// Takes the login name the person typed and answers with what happens next.
#[server(prefix = "/api", endpoint = "console/login-name")]
pub async fn submit_login_name(token: String, login_name: String) -> Result<String, ServerFnError> {
    let login_name = login_name.trim();
    if login_name.is_empty() {
        return Err(server::bad_request("Enter your login name."));
    }
    if login_name.chars().count() > MAX_LOGIN_NAME_CHARS {
        return Err(server::bad_request("That login name is too long."));
    }
    let answer = format!("Hello, {login_name}. Next: your password.");
    if server::is_plain_form_post().await {
        server::redirect_to_console(&token, &answer);
    }
    Ok(answer)
}

#[cfg(feature = "ssr")]
mod server {
    //! The no-JavaScript path: a plain form post is answered with a redirect back to the page.
    use leptos::prelude::*;
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

    /// Everything but RFC 3986's unreserved characters is encoded.
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');

    /// An error caused by the input: answered with 400, not 500.
    pub fn bad_request(message: &str) -> ServerFnError {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::BAD_REQUEST);
        }
        ServerFnError::new(message)
    }

    /// True for a browser form post without JavaScript (it asks for HTML, not JSON).
    pub async fn is_plain_form_post() -> bool {
        let headers: http::HeaderMap = leptos_axum::extract().await.unwrap_or_default();
        headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
    }

    pub fn redirect_to_console(token: &str, reply: &str) {
        let token = utf8_percent_encode(token, COMPONENT);
        let reply = utf8_percent_encode(reply, COMPONENT);
        leptos_axum::redirect(&format!("/console/session/{token}?reply={reply}"));
    }
}

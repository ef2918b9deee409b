//! The hosted login console: pages, islands and the server functions they call.
//!
//! Pages render on the server; only `#[island]` components ship to the browser, which keeps the
//! WebAssembly small. Every form is a real `<form>` that also works with JavaScript off.
#![forbid(unsafe_code)]

pub mod console;
pub mod i18n;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

/// Name of the generated JS, WASM and CSS files under `/pkg/`, before `scripts/build-site.sh`
/// adds their content hashes.
pub const OUTPUT_NAME: &str = "vestibule";

/// The built site's file names under `/pkg/`, which carry content hashes (the server reads them
/// from the site's `assets.txt` and provides this as context; the JS and wasm names are the
/// `LeptosOptions` output name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteAssets {
    /// The style sheet's file name, `vestibule-<hash>.css`.
    pub css: String,
}

/// The language of a rendered page, decided by the server before rendering (the console gate
/// puts it in the request's extensions); pages without one are English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLang(pub i18n::Lang);

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    security::provide_page_nonce();
    #[cfg(feature = "ssr")]
    let page_lang = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<PageLang>().copied());
    #[cfg(not(feature = "ssr"))]
    let page_lang: Option<PageLang> = None;
    let lang = page_lang.map_or(i18n::Lang::En, |l| l.0);
    // The console's island reads its texts from this script, which must run before the
    // hydration script (module scripts run in the order of the page).
    #[cfg(feature = "ssr")]
    let texts = page_lang.map(|l| {
        let path = i18n::texts_script(l.0).path.clone();
        view! { <script type="module" src=path></script> }
    });
    #[cfg(not(feature = "ssr"))]
    let texts: Option<()> = None;
    let css = use_context::<SiteAssets>().map_or_else(|| format!("{OUTPUT_NAME}.css"), |a| a.css);
    view! {
        <!DOCTYPE html>
        <html lang=lang.code()>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                // No favicon: without this the browser asks for /favicon.ico on every first load
                // (a 404 page, 3.3 KB of the weight budget).
                <link rel="icon" href="data:," />
                <link rel="stylesheet" href=format!("/pkg/{css}") />
                {texts}
                <HydrationScripts options islands=true />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The routes of the hosted pages.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Vestibule" />
        <Router>
            <main class="card">
                <Routes fallback=NotFound>
                    <Route
                        path=path!("/console/session/:token")
                        view=console::ConsolePage
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <h1>"Page not found"</h1>
        <p>"This address does not lead anywhere. Go back to the app you came from and try again."</p>
    }
}

#[cfg(feature = "ssr")]
pub mod security {
    //! The Content-Security-Policy of rendered pages, with a fresh nonce for the hydration script.
    use leptos::{nonce::use_nonce, prelude::*};

    /// Creates the page's nonce and sends the matching CSP header with the response.
    pub fn provide_page_nonce() {
        leptos::nonce::provide_nonce();
        let Some(nonce) = use_nonce() else { return };
        let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
            return;
        };
        if let Ok(value) =
            http::HeaderValue::from_str(&content_security_policy(Some(&nonce.to_string())))
        {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }

    /// The policy: our own scripts and styles only, WebAssembly compilation allowed, no framing.
    pub fn content_security_policy(nonce: Option<&str>) -> String {
        // The nonce also admits the page's one `<style>` element: the app's branding colours.
        let (script, style) = match nonce {
            Some(n) => (
                format!("script-src 'self' 'wasm-unsafe-eval' 'nonce-{n}'"),
                format!("style-src 'self' 'nonce-{n}'"),
            ),
            None => (
                "script-src 'self' 'wasm-unsafe-eval'".to_owned(),
                "style-src 'self'".to_owned(),
            ),
        };
        format!(
            "default-src 'none'; {script}; {style}; img-src 'self' data: https:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
    }
}

//! The browser entry point: hydrates the interactive islands of server-rendered pages, and gives
//! the console its WebAuthn ceremonies (`webauthn.js`, called through wasm-bindgen).
#![forbid(unsafe_code)]

use app::console::webauthn::{Browser, Failure, LocalFuture};
use wasm_bindgen::prelude::*;

// Linking `app` brings its islands into the wasm module; only they are hydrated.
pub use app::*;

#[wasm_bindgen(module = "/src/webauthn.js")]
extern "C" {
    #[wasm_bindgen(js_name = available)]
    fn js_available() -> bool;
    #[wasm_bindgen(js_name = autofill)]
    async fn js_autofill() -> JsValue;
    #[wasm_bindgen(js_name = get, catch)]
    async fn js_get(options: String, conditional: bool) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = create, catch)]
    async fn js_create(options: String) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = abort)]
    fn js_abort();
}

/// A credential as JSON text, or why there is none.
fn credential(result: Result<JsValue, JsValue>) -> Result<String, Failure> {
    match result {
        Ok(json) => json.as_string().ok_or(Failure::Failed),
        Err(name) => Err(Failure::from_dom_name(
            name.as_string().as_deref().unwrap_or_default(),
        )),
    }
}

struct Ceremonies;

impl Browser for Ceremonies {
    fn available(&self) -> bool {
        js_available()
    }
    fn autofill(&self) -> LocalFuture<bool> {
        Box::pin(async { js_autofill().await.as_bool().unwrap_or(false) })
    }
    fn get(&self, options: String, autofill: bool) -> LocalFuture<Result<String, Failure>> {
        Box::pin(async move { credential(js_get(options, autofill).await) })
    }
    fn create(&self, options: String) -> LocalFuture<Result<String, Failure>> {
        Box::pin(async move { credential(js_create(options).await) })
    }
    fn abort(&self) {
        js_abort();
    }
}

static CEREMONIES: Ceremonies = Ceremonies;

/// Called by the hydration script that the server puts into every page.
#[wasm_bindgen]
pub fn hydrate() {
    // No panic hook: printing a panic's message to the console costs the formatting of it in the
    // wasm (0.7 KiB of each first load); a panic still stops the island, and the page's forms go
    // on working without it.
    app::console::webauthn::install(&CEREMONIES);
    leptos::mount::hydrate_islands();
}

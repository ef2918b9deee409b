//! The browser entry point: hydrates the interactive islands of server-rendered pages.
#![forbid(unsafe_code)]

// Linking `app` brings its islands into the wasm module; only they are hydrated.
pub use app::*;

/// Called by the hydration script that the server puts into every page.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}

//! The browser's side of passkeys and security keys, as the console island sees it.
//!
//! The ceremonies themselves (`navigator.credentials.get()` / `create()`) live in the `frontend`
//! crate, which installs them here when the page starts; the island only asks whether they are
//! there and runs them with the options the server sent. Without an installed [`Browser`] (or in
//! a browser without WebAuthn) the island hides passkeys and says why where they are required.

use super::wire::Notice;

/// How a ceremony ended without a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The person closed the dialog, no authenticator answered, or it timed out
    /// (`NotAllowedError`: browsers do not tell these apart, on purpose).
    Cancelled,
    /// The page stopped the request itself (autofill replaced by the button, or the step
    /// changed): nothing to tell the person.
    Aborted,
    /// No WebAuthn in this browser.
    Unsupported,
    /// The authenticator already holds a credential for this account (`InvalidStateError`).
    Exists,
    /// Anything else (a refused RP ID, options the browser could not read).
    Failed,
}

impl Failure {
    /// The failure for a DOMException's `name` (or our own `Unsupported`).
    pub fn from_dom_name(name: &str) -> Failure {
        match name {
            "NotAllowedError" => Failure::Cancelled,
            "AbortError" => Failure::Aborted,
            "Unsupported" | "NotSupportedError" => Failure::Unsupported,
            "InvalidStateError" => Failure::Exists,
            _ => Failure::Failed,
        }
    }

    /// What the person reads; `None` for a request the page aborted itself.
    pub fn notice(self) -> Option<Notice> {
        match self {
            Failure::Cancelled => Some(Notice::PasskeyCancelled),
            Failure::Aborted => None,
            Failure::Unsupported => Some(Notice::PasskeyUnsupported),
            Failure::Exists => Some(Notice::PasskeyExists),
            Failure::Failed => Some(Notice::PasskeyFailed),
        }
    }
}

#[cfg(feature = "hydrate")]
pub use browser::{install, ready, Browser, LocalFuture};

#[cfg(feature = "hydrate")]
mod browser {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::OnceLock;

    use super::Failure;

    /// A future of the browser's event loop (not `Send`).
    pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

    /// The WebAuthn calls of the browser. Options and credentials travel as the JSON of
    /// WebAuthn Level 3 (`parse*OptionsFromJSON`, `PublicKeyCredential.toJSON()`).
    pub trait Browser: Sync {
        /// WebAuthn with the JSON helpers is there.
        fn available(&self) -> bool;
        /// Passkeys can be offered in the login-name field's autofill (conditional mediation).
        fn autofill(&self) -> LocalFuture<bool>;
        /// `navigator.credentials.get()`; `autofill` waits for a pick from the field's
        /// suggestions instead of opening a dialog. Any earlier request is aborted first.
        fn get(&self, options: String, autofill: bool) -> LocalFuture<Result<String, Failure>>;
        /// `navigator.credentials.create()`.
        fn create(&self, options: String) -> LocalFuture<Result<String, Failure>>;
        /// Aborts a pending request (an autofill left waiting when the step changes).
        fn abort(&self);
    }

    static INSTALLED: OnceLock<&'static dyn Browser> = OnceLock::new();

    /// Called once by the wasm entry point, before the islands hydrate.
    pub fn install(browser: &'static dyn Browser) {
        let _ = INSTALLED.set(browser);
    }

    /// The installed ceremonies, when this browser can run them.
    pub fn ready() -> Option<&'static dyn Browser> {
        INSTALLED.get().copied().filter(|b| b.available())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dom_errors_become_the_messages_a_person_reads() {
        assert_eq!(
            Failure::from_dom_name("NotAllowedError").notice(),
            Some(Notice::PasskeyCancelled)
        );
        assert_eq!(Failure::from_dom_name("AbortError").notice(), None);
        assert_eq!(
            Failure::from_dom_name("Unsupported").notice(),
            Some(Notice::PasskeyUnsupported)
        );
        assert_eq!(
            Failure::from_dom_name("InvalidStateError").notice(),
            Some(Notice::PasskeyExists)
        );
        for other in ["SecurityError", "TypeError", "", "notallowederror"] {
            assert_eq!(Failure::from_dom_name(other), Failure::Failed, "{other:?}");
        }
    }
}

//! Every cookie of the console, in one place: names, attributes and parsing. The request's
//! `Cookie` header is parsed once ([`ConsoleCookies::read`]); changes are collected as
//! `Set-Cookie` values for whoever answers (the gate or a server function).
//!
//! All of them are HttpOnly (no script reads them) and `SameSite=Lax` (sent when the app links
//! here, not on cross-site posts). When the public URL is https they are `Secure` and named
//! `__Host-…` with `Path=/`, so that the browser refuses them from any other origin or path
//! (a sibling subdomain cannot plant or overwrite one); on plain http (development) they are
//! limited to `/console`.

use std::collections::HashMap;

use cookie::{time::Duration, Cookie, SameSite};
use domain::input::LoginName;
use percent_encoding::{percent_decode_str, utf8_percent_encode};

/// The login names (at most [`MAX_REMEMBERED`]) that signed in with, or registered, a passkey in
/// this browser. It only decides whether the passkey step comes first: the server never tells
/// a stranger whether a login name has a passkey, so only the browser can remember it.
pub const PASSKEY_HINT: &str = "vestibule_passkeys";
/// Set by "Not now": this browser is not offered a passkey again for a while.
pub const PASSKEY_LATER: &str = "vestibule_passkey_later";
const MAX_REMEMBERED: usize = 3;

const CLAIM_SECONDS: i64 = 24 * 60 * 60;
const NAME_SECONDS: i64 = 30 * 60;
const CODES_SECONDS: i64 = 120;
const REMEMBER_SECONDS: i64 = 400 * 24 * 60 * 60;
const LATER_SECONDS: i64 = 30 * 24 * 60 * 60;

/// The console cookies a request carries, for one login link, and the changes to send back.
#[derive(Debug, Clone)]
pub struct ConsoleCookies {
    claim_name: String,
    values: HashMap<String, String>,
    secure: bool,
    set: Vec<String>,
}

impl ConsoleCookies {
    /// Parses the request's `Cookie` headers (values percent-decoded); `token` is the link's.
    pub fn read(headers: &http::HeaderMap, token: &str, secure: bool) -> Self {
        let values = headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse_encoded)
            .filter_map(Result::ok)
            .map(|c| (c.name().to_owned(), c.value().to_owned()))
            .collect();
        Self {
            claim_name: domain::service::handoff_cookie_name(token),
            values,
            secure,
            set: Vec::new(),
        }
    }

    /// The name a cookie has on the wire: `__Host-` in front on https.
    fn wire_name(&self, name: &str) -> String {
        if self.secure {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(&self.wire_name(name)).map(String::as_str)
    }

    fn suffixed(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.claim_name)
    }

    /// The browser secret of the claim cookie, which binds this browser to the link.
    pub fn claim(&self) -> Option<&str> {
        self.get(&self.claim_name)
    }

    /// The login name typed at the first step, until the password step sends it with the
    /// password.
    pub fn pending_name(&self) -> Option<String> {
        self.get(&self.suffixed("name"))
            .filter(|n| LoginName::parse((*n).to_owned()).is_ok())
            .map(str::to_owned)
    }

    /// "Use my password instead" (or a login without JavaScript): this link skips the
    /// passkey-first step.
    pub fn password_first(&self) -> bool {
        self.get(&self.suffixed("pw")).is_some()
    }

    /// Recovery codes a no-JavaScript enrollment left for the next page view.
    pub fn recovery_codes(&self) -> Vec<String> {
        self.get(&self.suffixed("codes"))
            .unwrap_or_default()
            .split('.')
            .filter(|c| !c.is_empty() && c.len() <= 64)
            .map(str::to_owned)
            .collect()
    }

    /// The names this browser remembers as signing in with a passkey, newest first.
    pub fn remembered_passkey_names(&self) -> Vec<String> {
        remembered_names(self.get(PASSKEY_HINT).unwrap_or_default())
    }

    /// Whether the passkey step comes first for `pending` (the typed login name): this browser
    /// remembers that the name signs in with a passkey, and "Use my password instead" was not
    /// chosen on this link.
    pub fn passkey_first(&self, pending: Option<&str>) -> bool {
        pending.is_some_and(|name| {
            !self.password_first() && self.remembered_passkey_names().iter().any(|n| n == name)
        })
    }

    /// "Not now" was said to the passkey offer lately.
    pub fn passkey_later(&self) -> bool {
        self.get(PASSKEY_LATER).is_some()
    }

    /// The `Set-Cookie` values collected so far, taken.
    pub fn take_set_cookies(&mut self) -> Vec<String> {
        std::mem::take(&mut self.set)
    }

    fn put(&mut self, name: String, value: &str, seconds: i64) {
        let name = self.wire_name(&name);
        let path = if self.secure { "/" } else { "/console" };
        let cookie = Cookie::build((name.clone(), value.to_owned()))
            .path(path)
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(Duration::seconds(seconds))
            .build();
        self.set.push(cookie.encoded().to_string());
        if seconds > 0 {
            self.values.insert(name, value.to_owned());
        } else {
            self.values.remove(&name);
        }
    }

    pub fn set_claim(&mut self, secret: &str) {
        self.put(self.claim_name.clone(), secret, CLAIM_SECONDS);
    }

    pub fn set_pending_name(&mut self, name: &str) {
        self.put(self.suffixed("name"), name, NAME_SECONDS);
    }

    pub fn clear_pending_name(&mut self) {
        self.put(self.suffixed("name"), "", 0);
    }

    pub fn set_password_first(&mut self) {
        self.put(self.suffixed("pw"), "1", NAME_SECONDS);
    }

    pub fn clear_password_first(&mut self) {
        self.put(self.suffixed("pw"), "", 0);
    }

    /// Without JavaScript the codes cross one redirect in this short-lived cookie, which the
    /// next page view reads and deletes; they never enter a URL.
    pub fn set_recovery_codes(&mut self, codes: &[String]) {
        self.put(self.suffixed("codes"), &codes.join("."), CODES_SECONDS);
    }

    pub fn clear_recovery_codes(&mut self) {
        self.put(self.suffixed("codes"), "", 0);
    }

    /// Remembers, in this browser, that `name` signs in with a passkey.
    pub fn remember_passkey(&mut self, name: &str) {
        let value = remember_name(self.get(PASSKEY_HINT), name);
        self.put(PASSKEY_HINT.to_owned(), &value, REMEMBER_SECONDS);
    }

    pub fn set_passkey_later(&mut self) {
        self.put(PASSKEY_LATER.to_owned(), "1", LATER_SECONDS);
    }
}

/// The names in a hint cookie's value (comma-separated, each percent-encoded).
pub fn remembered_names(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter_map(|raw| percent_decode_str(raw).decode_utf8().ok())
        .map(|name| name.into_owned())
        .filter(|name| LoginName::parse(name.clone()).is_ok())
        .take(MAX_REMEMBERED)
        .collect()
}

/// The hint cookie's value with `name` first (most recent), without repeats.
pub fn remember_name(value: Option<&str>, name: &str) -> String {
    let mut names = vec![name.to_owned()];
    names.extend(
        remembered_names(value.unwrap_or_default())
            .into_iter()
            .filter(|n| n != name),
    );
    names.truncate(MAX_REMEMBERED);
    names
        .iter()
        .map(|n| utf8_percent_encode(n, super::COMPONENT).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

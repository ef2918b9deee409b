//! The pages the server's console gate answers with before the console renders: a link that is
//! not valid, expired or used, a login that ended or failed, and the signed-in page. Static,
//! without script, styled like the console, rendered (and escaped) by Leptos.

use leptos::prelude::*;

use crate::i18n::{gate::GatePage, Counted, Lang};

/// The whole HTML document of `which` in `lang`; `app` is the app's name (signed-in page) and
/// `css` the style sheet's file name under `/pkg/` (content-hashed by the site build).
pub fn gate_document(lang: Lang, which: GatePage, app: &str, css: &str) -> String {
    document(lang, which.title(lang), None, which.text(lang, app), css)
}

/// The page of a request the hosted page's rate limits refused: how long to wait, in `lang`.
pub fn throttled_document(lang: Lang, retry_after_secs: u32, css: &str) -> String {
    let wait = lang.count(Counted::TryAgainIn, retry_after_secs.max(1));
    let which = GatePage::TooMany;
    document(
        lang,
        which.title(lang),
        Some(wait),
        which.text(lang, ""),
        css,
    )
}

fn document(lang: Lang, title: &str, lead: Option<String>, text: String, css: &str) -> String {
    let lead = lead.map(|lead| view! { <p role="alert">{lead}</p> });
    let page = view! {
        <html lang=lang.code()>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <title>{title}</title>
                <link rel="stylesheet" href=format!("/pkg/{css}") />
            </head>
            <body>
                <main class="card">
                    <h1>{title}</h1>
                    {lead}
                    <p>{text}</p>
                </main>
            </body>
        </html>
    };
    format!("<!DOCTYPE html>{}", page.to_html())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_pages_escape_the_app_name_and_name_their_language() {
        let html = gate_document(
            Lang::De,
            GatePage::SignedIn,
            "<b>\"Shop\" & 'Co'</b>",
            "vestibule-0123abcd.css",
        );
        assert!(html.contains("/pkg/vestibule-0123abcd.css"), "{html}");
        assert!(
            html.starts_with("<!DOCTYPE html><html lang=\"de\""),
            "{html}"
        );
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;b&gt;"), "{html}");
        assert!(html.contains("Sie sind angemeldet"), "{html}");
    }

    #[test]
    fn the_throttled_page_says_how_long_to_wait_in_its_language() {
        let html = throttled_document(Lang::Fr, 42, "v.css");
        assert!(
            html.starts_with("<!DOCTYPE html><html lang=\"fr\""),
            "{html}"
        );
        assert!(html.contains("Trop de tentatives"), "{html}");
        assert!(html.contains("Réessayez dans 42 secondes."), "{html}");
        let html = throttled_document(Lang::En, 1, "v.css");
        assert!(html.contains("Try again in 1 second."), "{html}");
    }
}

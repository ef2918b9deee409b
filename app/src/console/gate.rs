//! The pages the server's console gate answers with before the console renders: a link that is
//! not valid, expired or used, a login that ended or failed, and the signed-in page. Static,
//! without script, styled like the console, rendered (and escaped) by Leptos.

use leptos::prelude::*;

use crate::i18n::{gate::GatePage, Counted, Lang};

/// The whole HTML document of `which` in `lang`; `app` is the app's name (signed-in page) and
/// `css` the style sheet's file name under `/pkg/` (content-hashed by the site build).
pub fn gate_document(lang: Lang, which: GatePage, app: &str, css: &str) -> String {
    let page = Page::new(lang, which, app);
    document(lang, page, css)
}

/// The signed-in page of a finished login, with a link back to the app at `home` when the app
/// has one, and `news` (what the last step did, such as a passkey saved) above it.
pub fn signed_in_document(
    lang: Lang,
    app: &str,
    home: Option<&str>,
    news: Option<String>,
    css: &str,
) -> String {
    let page = Page {
        news,
        back: home.map(|href| (href.to_owned(), GatePage::back_to(lang, app))),
        ..Page::new(lang, GatePage::SignedIn, app)
    };
    document(lang, page, css)
}

/// The page of a request the hosted page's rate limits refused: how long to wait, in `lang`.
pub fn throttled_document(lang: Lang, retry_after_secs: u32, css: &str) -> String {
    let page = Page {
        lead: Some(lang.count(Counted::TryAgainIn, retry_after_secs.max(1))),
        ..Page::new(lang, GatePage::TooMany, "")
    };
    document(lang, page, css)
}

/// What a gate page says: `news` above the heading (a status), `lead` under it (an alert), the
/// text, and a link `back` (address and label).
struct Page {
    title: &'static str,
    news: Option<String>,
    lead: Option<String>,
    text: String,
    back: Option<(String, String)>,
}

impl Page {
    fn new(lang: Lang, which: GatePage, app: &str) -> Self {
        Self {
            title: which.title(lang),
            news: None,
            lead: None,
            text: which.text(lang, app),
            back: None,
        }
    }
}

fn document(lang: Lang, page: Page, css: &str) -> String {
    let Page {
        title,
        news,
        lead,
        text,
        back,
    } = page;
    let news = news.map(|text| view! { <p class="notice info" role="status">{text}</p> });
    let lead = lead.map(|lead| view! { <p role="alert">{lead}</p> });
    let back = back.map(|(href, label)| view! { <p><a class="button" href=href>{label}</a></p> });
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
                    {news}
                    <h1>{title}</h1>
                    {lead}
                    <p>{text}</p>
                    {back}
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
        assert!(!html.contains("<a "), "no home URL, no link: {html}");
    }

    #[test]
    fn the_signed_in_page_links_back_to_the_app_it_names() {
        let html = signed_in_document(
            Lang::En,
            "Shop",
            Some("https://shop.example/?a=1&b=2"),
            Some("Your passkey is saved.".into()),
            "vestibule-0123abcd.css",
        );
        assert!(
            html.contains(r#"<p role="status" class="notice info">Your passkey is saved.</p><h1>"#),
            "{html}"
        );
        assert!(html.contains("<title>You are signed in</title>"), "{html}");
        assert!(
            html.contains(
                r#"<a href="https://shop.example/?a=1&amp;b=2" class="button">Go back to Shop</a>"#
            ),
            "{html}"
        );
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

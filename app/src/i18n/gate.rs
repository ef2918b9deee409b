//! The words of the pages the server answers before the console renders (the link gate): a link
//! that is not valid, expired, already used, a login that ended, a failure, and the signed-in
//! page of a finished login. One exhaustive `match` per language, like the console's own words;
//! server-side only, so none of it weighs on the wasm.

use super::Lang;

/// One of the gate's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatePage {
    NotValid,
    Expired,
    Used,
    Ended,
    Failed,
    /// `{app}` in the text is the app's name.
    SignedIn,
    /// The hosted page's rate limits refused the request (the page shows how long to wait
    /// above this text, see `gate::throttled_document`).
    TooMany,
}

impl GatePage {
    pub const ALL: [GatePage; 7] = [
        GatePage::NotValid,
        GatePage::Expired,
        GatePage::Used,
        GatePage::Ended,
        GatePage::Failed,
        GatePage::SignedIn,
        GatePage::TooMany,
    ];

    /// The heading (and the document title) in `lang`.
    pub fn title(self, lang: Lang) -> &'static str {
        self.words(lang).0
    }

    /// The sentence under the heading in `lang`, with `{app}` filled in.
    pub fn text(self, lang: Lang, app: &str) -> String {
        self.words(lang).1.replace("{app}", app)
    }

    /// The signed-in page's link back to the app named `app`.
    pub fn back_to(lang: Lang, app: &str) -> String {
        let words = match lang {
            Lang::En => "Go back to {app}",
            Lang::De => "Zurück zu {app}",
            Lang::Fr => "Revenir à {app}",
            Lang::Es => "Volver a {app}",
        };
        words.replace("{app}", app)
    }

    fn words(self, lang: Lang) -> (&'static str, &'static str) {
        use GatePage::*;
        match lang {
            Lang::En => match self {
                NotValid => ("This sign-in link is not valid", "Check that you opened the whole link, or go back to the app and start again."),
                Expired => ("This sign-in link has expired", "Sign-in links work for a few minutes only. Go back to the app and start again."),
                Used => ("This sign-in link was already used", "The link was opened in another browser and works only there. Go back to the app and start again to get a new link."),
                Ended => ("This sign-in has ended", "It expired or was cancelled. Go back to the app and start again."),
                Failed => ("Something went wrong", "Something went wrong on our side. Please try again in a moment."),
                SignedIn => ("You are signed in", "You are signed in to {app}. You can close this tab and return to the app."),
                TooMany => ("Too many attempts", "Wait a moment, then go back and try again."),
            },
            Lang::De => match self {
                NotValid => ("Dieser Anmeldelink ist ungültig", "Prüfen Sie, ob Sie den ganzen Link geöffnet haben, oder kehren Sie zur App zurück und beginnen Sie neu."),
                Expired => ("Dieser Anmeldelink ist abgelaufen", "Anmeldelinks gelten nur wenige Minuten. Kehren Sie zur App zurück und beginnen Sie neu."),
                Used => ("Dieser Anmeldelink wurde bereits verwendet", "Der Link wurde in einem anderen Browser geöffnet und gilt nur dort. Kehren Sie zur App zurück, um einen neuen Link zu erhalten."),
                Ended => ("Diese Anmeldung ist beendet", "Sie ist abgelaufen oder wurde abgebrochen. Kehren Sie zur App zurück und beginnen Sie neu."),
                Failed => ("Etwas ist schiefgelaufen", "Bei uns ist etwas schiefgelaufen. Bitte versuchen Sie es gleich noch einmal."),
                SignedIn => ("Sie sind angemeldet", "Sie sind bei {app} angemeldet. Sie können diesen Tab schließen und zur App zurückkehren."),
                TooMany => ("Zu viele Versuche", "Warten Sie einen Moment, gehen Sie dann zurück und versuchen Sie es erneut."),
            },
            Lang::Fr => match self {
                NotValid => ("Ce lien de connexion n’est pas valide", "Vérifiez que vous avez ouvert le lien en entier, ou revenez à l’application pour recommencer."),
                Expired => ("Ce lien de connexion a expiré", "Les liens de connexion ne valent que quelques minutes. Revenez à l’application pour recommencer."),
                Used => ("Ce lien de connexion a déjà été utilisé", "Le lien a été ouvert dans un autre navigateur et ne fonctionne que là. Revenez à l’application pour obtenir un nouveau lien."),
                Ended => ("Cette connexion est terminée", "Elle a expiré ou a été annulée. Revenez à l’application pour recommencer."),
                Failed => ("Une erreur s’est produite", "Une erreur s’est produite de notre côté. Réessayez dans un instant."),
                SignedIn => ("Vous êtes connecté", "Vous êtes connecté à {app}. Vous pouvez fermer cet onglet et revenir à l’application."),
                TooMany => ("Trop de tentatives", "Patientez un instant, puis revenez en arrière et réessayez."),
            },
            Lang::Es => match self {
                NotValid => ("Este enlace de inicio de sesión no es válido", "Compruebe que abrió el enlace completo, o vuelva a la aplicación para empezar de nuevo."),
                Expired => ("Este enlace de inicio de sesión ha caducado", "Los enlaces de inicio de sesión solo sirven unos minutos. Vuelva a la aplicación para empezar de nuevo."),
                Used => ("Este enlace de inicio de sesión ya se usó", "El enlace se abrió en otro navegador y solo funciona allí. Vuelva a la aplicación para obtener un enlace nuevo."),
                Ended => ("Este inicio de sesión ha terminado", "Caducó o se canceló. Vuelva a la aplicación para empezar de nuevo."),
                Failed => ("Algo salió mal", "Algo salió mal por nuestra parte. Inténtelo de nuevo en un momento."),
                SignedIn => ("Ha iniciado sesión", "Ha iniciado sesión en {app}. Puede cerrar esta pestaña y volver a la aplicación."),
                TooMany => ("Demasiados intentos", "Espere un momento, vuelva atrás e inténtelo de nuevo."),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gate_page_is_worded_in_every_language() {
        for page in GatePage::ALL {
            let english = page.words(Lang::En);
            for lang in Lang::ALL {
                let (title, text) = page.words(lang);
                assert!(
                    !title.trim().is_empty() && !text.trim().is_empty(),
                    "{lang:?} {page:?}"
                );
                assert!(
                    !title.contains(&format!("{page:?}")),
                    "{lang:?} {page:?} shows its name"
                );
                assert_eq!(
                    text.contains("{app}"),
                    english.1.contains("{app}"),
                    "{lang:?} {page:?}"
                );
                if lang != Lang::En {
                    assert_ne!(
                        (title, text),
                        english,
                        "{lang:?} {page:?} is not translated"
                    );
                }
            }
        }
        assert_eq!(
            GatePage::SignedIn.text(Lang::De, "Shop"),
            "Sie sind bei Shop angemeldet. Sie können diesen Tab schließen und zur App zurückkehren."
        );
    }
}

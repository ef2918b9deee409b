//! The console's words in every language it speaks. Each language is one exhaustive `match` over
//! [`Key`], so a missing translation does not compile; there is no fallback that could show a raw
//! key. Placeholders are `{name}` and are filled by [`Lang::fill`].
//!
//! Sentences with a number in them ([`Counted`]) are worded once per CLDR plural category
//! ([`Forms`]) and picked by the Unicode plural rules of the language: on the server by ICU4X
//! (`icu_plurals`), in the browser by the browser's own ICU (`Intl.PluralRules`), so the
//! WebAssembly carries no rule tables. Both follow CLDR; the tests compare them on the numbers
//! the page shows.

use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod gate;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Lang {
    #[default]
    En,
    De,
    Fr,
    Es,
}

/// Every string the console shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    PageTitle,
    SignInTo,
    LoginNameLabel,
    Continue,
    PasswordLabel,
    SignIn,
    NotYou,
    ChooseFactor,
    FactorTotp,
    FactorSms,
    FactorEmail,
    FactorRecovery,
    CodeLabel,
    RecoveryCodeLabel,
    Verify,
    CodeSentSms,
    CodeSentEmail,
    Resend,
    EnrollTitle,
    EnrollScan,
    EnrollSecret,
    EnrollCodeLabel,
    RecoveryTitle,
    RecoveryHint,
    Copy,
    DownloadCodes,
    Copied,
    RecoverySaved,
    DoneTitle,
    DoneReturn,
    Redirecting,
    ErrWrongCredentials,
    ErrLinkUsed,
    ErrLinkExpired,
    ErrCodeWrong,
    ErrCodeExpired,
    ErrServer,
    ErrRequired,
    ErrTooLong,
    Language,
    PasskeyNeedsJs,
    ErrLinkNotFound,
    ErrEnded,
    ErrUnavailable,
    ErrCodeAttempts,
    ErrBusy,
    SigningInAs,
    ContinueTo,
    Back,
    PasskeySignIn,
    PasskeyTitle,
    PasskeyHint,
    PasskeyContinue,
    UsePassword,
    FactorPasskey,
    FactorSecurityKey,
    SecurityKeyTitle,
    SecurityKeyHint,
    SecurityKeyUse,
    SecurityKeyNeedsJs,
    ChooseAnother,
    OfferTitle,
    OfferText,
    OfferRequired,
    OfferRequiredNeedsJs,
    CreatePasskey,
    NotNow,
    PasskeyCreated,
    ErrPasskeyCancelled,
    ErrPasskeyUnknown,
    ErrPasskeyUnsupported,
    ErrPasskeyFailed,
    ErrPasskeyExpired,
    ErrPasskeyExists,
    PasskeyInstead,
    CodeHintTotp,
    CodeHintRecovery,
    ErrTooManyNames,
}

/// Every sentence that holds a number (`{count}` in each of its [`Forms`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counted {
    /// Wrong passwords or codes left before a lock.
    AttemptsLeft,
    /// Minutes until a locked account may try again.
    LockedMinutes,
    /// Seconds to wait after asking for too many codes.
    WaitSeconds,
    /// Seconds until a new code may be asked for.
    ResendIn,
    /// Seconds until a throttled page takes requests again (the hosted page's rate limits).
    TryAgainIn,
}

impl Counted {
    pub const ALL: [Counted; 5] = [
        Counted::AttemptsLeft,
        Counted::LockedMinutes,
        Counted::WaitSeconds,
        Counted::ResendIn,
        Counted::TryAgainIn,
    ];
}

/// A counted sentence in each plural category its language distinguishes for whole numbers.
/// `many`: only French and Spanish have it (a million and up: "1000000 de tentatives").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forms {
    pub one: &'static str,
    pub many: Option<&'static str>,
    pub other: &'static str,
}

/// The CLDR plural categories. English, German, French and Spanish use one, many and other for
/// whole numbers; zero, two and few exist for other languages (Welsh, Arabic, Polish…) and read
/// as other here (CLDR's rule for a category a message has no form for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Zero,
    One,
    Two,
    Few,
    Many,
    Other,
}

impl Forms {
    fn pick(self, category: Category) -> &'static str {
        match category {
            Category::One => self.one,
            Category::Many => self.many.unwrap_or(self.other),
            Category::Zero | Category::Two | Category::Few | Category::Other => self.other,
        }
    }
}

impl Key {
    /// Every key, for tests that walk the whole table.
    pub const ALL: [Key; 78] = [
        Key::PageTitle,
        Key::SignInTo,
        Key::LoginNameLabel,
        Key::Continue,
        Key::PasswordLabel,
        Key::SignIn,
        Key::NotYou,
        Key::ChooseFactor,
        Key::FactorTotp,
        Key::FactorSms,
        Key::FactorEmail,
        Key::FactorRecovery,
        Key::CodeLabel,
        Key::RecoveryCodeLabel,
        Key::Verify,
        Key::CodeSentSms,
        Key::CodeSentEmail,
        Key::Resend,
        Key::EnrollTitle,
        Key::EnrollScan,
        Key::EnrollSecret,
        Key::EnrollCodeLabel,
        Key::RecoveryTitle,
        Key::RecoveryHint,
        Key::Copy,
        Key::DownloadCodes,
        Key::Copied,
        Key::RecoverySaved,
        Key::DoneTitle,
        Key::DoneReturn,
        Key::Redirecting,
        Key::ErrWrongCredentials,
        Key::ErrLinkUsed,
        Key::ErrLinkExpired,
        Key::ErrCodeWrong,
        Key::ErrCodeExpired,
        Key::ErrServer,
        Key::ErrRequired,
        Key::ErrTooLong,
        Key::Language,
        Key::PasskeyNeedsJs,
        Key::ErrLinkNotFound,
        Key::ErrEnded,
        Key::ErrUnavailable,
        Key::ErrCodeAttempts,
        Key::ErrBusy,
        Key::SigningInAs,
        Key::ContinueTo,
        Key::Back,
        Key::PasskeySignIn,
        Key::PasskeyTitle,
        Key::PasskeyHint,
        Key::PasskeyContinue,
        Key::UsePassword,
        Key::FactorPasskey,
        Key::FactorSecurityKey,
        Key::SecurityKeyTitle,
        Key::SecurityKeyHint,
        Key::SecurityKeyUse,
        Key::SecurityKeyNeedsJs,
        Key::ChooseAnother,
        Key::OfferTitle,
        Key::OfferText,
        Key::OfferRequired,
        Key::OfferRequiredNeedsJs,
        Key::CreatePasskey,
        Key::NotNow,
        Key::PasskeyCreated,
        Key::ErrPasskeyCancelled,
        Key::ErrPasskeyUnknown,
        Key::ErrPasskeyUnsupported,
        Key::ErrPasskeyFailed,
        Key::ErrPasskeyExpired,
        Key::ErrPasskeyExists,
        Key::PasskeyInstead,
        Key::CodeHintTotp,
        Key::CodeHintRecovery,
        Key::ErrTooManyNames,
    ];
}

impl Lang {
    /// Every language, in the switcher's order.
    pub const ALL: [Lang; 4] = [Lang::En, Lang::De, Lang::Fr, Lang::Es];

    /// The BCP 47 primary tag (`lang` attribute, `?lang=` parameter).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Es => "es",
        }
    }

    /// The language's name in itself, for the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::De => "Deutsch",
            Lang::Fr => "Français",
            Lang::Es => "Español",
        }
    }

    /// The language of a tag like `de`, `de-CH` or `FR_fr`, if we speak it.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The first language we speak from `ui_locales` (space-separated, in order of preference, as
    /// given by the app at generate), else from the browser's `Accept-Language` (by weight), else
    /// English.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = ui_locales
            .into_iter()
            .flat_map(str::split_whitespace)
            .find_map(Lang::from_tag)
        {
            return lang;
        }
        // The crate orders the browser's tags by weight; a regional tag (`de-CH`) counts for its
        // language.
        accept_language
            .map(accept_language::parse)
            .and_then(|tags| tags.iter().find_map(|tag| Lang::from_tag(tag)))
            .unwrap_or_default()
    }

    /// The text for `key`. In the browser, from the one language the page loaded for the island
    /// (see [`Lang::texts`] and `install`).
    pub fn text(self, key: Key) -> &'static str {
        #[cfg(not(feature = "hydrate"))]
        {
            match self {
                Lang::En => en(key),
                Lang::De => de(key),
                Lang::Fr => fr(key),
                Lang::Es => es(key),
            }
        }
        #[cfg(feature = "hydrate")]
        {
            let _ = self;
            installed(key)
        }
    }

    /// Every text of this language: [`Key::ALL`]'s, then for each of [`Counted::ALL`] its one,
    /// many and other forms. The island's copy (a script of its own, see `texts_script`), so
    /// that the WebAssembly carries no language tables (four of them weighed more than a page's
    /// worth of text). Empty in the browser, which has no tables to read.
    pub fn texts(self) -> Vec<String> {
        #[cfg(not(feature = "hydrate"))]
        {
            let keys = Key::ALL.iter().map(|k| self.text(*k));
            let counted = Counted::ALL.iter().flat_map(|c| {
                let forms = self.forms(*c);
                [forms.one, forms.many.unwrap_or(forms.other), forms.other]
            });
            keys.chain(counted).map(str::to_owned).collect()
        }
        #[cfg(feature = "hydrate")]
        {
            let _ = self;
            Vec::new()
        }
    }

    /// The forms of a counted sentence. In the browser, from the island's copy.
    pub fn forms(self, counted: Counted) -> Forms {
        #[cfg(not(feature = "hydrate"))]
        {
            match self {
                Lang::En => en_counted(counted),
                Lang::De => de_counted(counted),
                Lang::Fr => fr_counted(counted),
                Lang::Es => es_counted(counted),
            }
        }
        #[cfg(feature = "hydrate")]
        {
            let _ = self;
            installed_forms(counted)
        }
    }

    /// The plural category of `n` in this language, by the Unicode plural rules.
    pub fn category(self, n: u32) -> Category {
        plural::category(self, n)
    }

    /// The counted sentence for `n`: the form of `n`'s plural category, `{count}` filled in.
    pub fn count(self, counted: Counted, n: u32) -> String {
        self.forms(counted)
            .pick(self.category(n))
            .replace("{count}", &n.to_string())
    }

    /// The text for `key` with each `{name}` replaced by its value.
    pub fn fill(self, key: Key, values: &[(&str, &str)]) -> String {
        let mut out = self.text(key).to_owned();
        for (name, value) in values {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }
}

#[cfg(not(feature = "hydrate"))]
fn en(key: Key) -> &'static str {
    use Key::*;
    match key {
        PageTitle => "Sign in",
        SignInTo => "Sign in to {app}",
        LoginNameLabel => "Login name or email",
        Continue => "Continue",
        PasswordLabel => "Password",
        SignIn => "Sign in",
        NotYou => "Not you? Start again",
        ChooseFactor => "Confirm it is you",
        FactorTotp => "Code from an authenticator app",
        FactorSms => "Code by text message to {to}",
        FactorEmail => "Code by email to {to}",
        FactorRecovery => "A recovery code",
        CodeLabel => "6-digit code",
        RecoveryCodeLabel => "Recovery code",
        Verify => "Verify",
        CodeSentSms => "We sent a code by text message to {to}.",
        CodeSentEmail => "We sent a code by email to {to}.",
        Resend => "Send a new code",
        EnrollTitle => "Set up an authenticator app",
        EnrollScan => "Scan this QR code with your authenticator app.",
        EnrollSecret => "Or enter this key by hand:",
        EnrollCodeLabel => "Code from the app",
        RecoveryTitle => "Save your recovery codes",
        RecoveryHint => {
            "Each code works once, if you lose your authenticator. They are shown only now."
        }
        Copy => "Copy codes",
        DownloadCodes => "Download as a text file",
        Copied => "Copied",
        RecoverySaved => "I have saved them",
        DoneTitle => "You are signed in",
        DoneReturn => "You can go back to {app} now.",
        Redirecting => "Taking you back to {app}…",
        ErrWrongCredentials => "The login name or password is not right.",
        ErrLinkUsed => "This sign-in link was already used. Go back to the app to start again.",
        ErrLinkExpired => "This sign-in link has expired. Go back to the app to start again.",
        ErrCodeWrong => "That code is not right.",
        ErrCodeExpired => "That code has expired. Ask for a new one.",
        ErrServer => "Something went wrong on our side. Please try again.",
        ErrRequired => "Please fill in this field.",
        ErrTooLong => "This is too long.",
        Language => "Language",
        PasskeyNeedsJs => "Passkeys need JavaScript. You can sign in another way below.",
        ErrLinkNotFound => "This sign-in link is not valid. Go back to the app to start again.",
        ErrEnded => "This sign-in has ended. Go back to the app to start again.",
        ErrUnavailable => "This app needs a way of signing in that this page cannot offer yet.",
        ErrCodeAttempts => "Too many wrong tries for this code. Ask for a new one.",
        ErrBusy => "Your last request is still being handled. Wait a moment and try again.",
        SigningInAs => "Signing in as {name}",
        ContinueTo => "Continue to {app}",
        Back => "Back",
        PasskeySignIn => "Sign in with a passkey",
        PasskeyTitle => "Use your passkey",
        PasskeyHint => "Your device will ask you to confirm with your fingerprint, face, screen lock or security key.",
        PasskeyContinue => "Continue with my passkey",
        UsePassword => "Use my password instead",
        FactorPasskey => "My passkey",
        FactorSecurityKey => "A security key",
        SecurityKeyTitle => "Use your security key",
        SecurityKeyHint => "Have your security key ready, then press the button and touch the key when it blinks.",
        SecurityKeyUse => "Use my security key",
        SecurityKeyNeedsJs => "Security keys and passkeys need JavaScript. Choose another way below.",
        ChooseAnother => "Choose another way",
        OfferTitle => "Sign in faster with a passkey",
        OfferText => "A passkey lets you sign in with your fingerprint, face or screen lock instead of typing a password. Nobody can phish it.",
        OfferRequired => "{app} signs people in with passkeys. Create one to finish signing in.",
        OfferRequiredNeedsJs => "{app} requires a passkey, and passkeys need JavaScript. Turn JavaScript on and reload this page.",
        CreatePasskey => "Create a passkey",
        NotNow => "Not now",
        PasskeyCreated => "Your passkey is saved. Next time, sign in with it.",
        ErrPasskeyCancelled => "The passkey request was cancelled or timed out. Try again, or sign in another way.",
        ErrPasskeyUnknown => "This passkey is not registered here. Choose another one, or sign in another way.",
        ErrPasskeyUnsupported => "This browser cannot use passkeys. Sign in another way.",
        ErrPasskeyFailed => "The passkey could not be checked. Try again.",
        ErrPasskeyExpired => "That took too long. Try again.",
        ErrPasskeyExists => "This device already holds a passkey for your account.",
        PasskeyInstead => "Use a passkey instead",
        CodeHintTotp => "Enter the 6-digit code from your authenticator app.",
        CodeHintRecovery => "Enter one of the recovery codes you saved. Each works once.",
        ErrTooManyNames => "This link was tried with too many login names. Use one you tried before, or go back to the app to start again.",
    }
}

#[cfg(not(feature = "hydrate"))]
fn de(key: Key) -> &'static str {
    use Key::*;
    match key {
        PageTitle => "Anmelden",
        SignInTo => "Bei {app} anmelden",
        LoginNameLabel => "Benutzername oder E-Mail",
        Continue => "Weiter",
        PasswordLabel => "Passwort",
        SignIn => "Anmelden",
        NotYou => "Nicht Sie? Neu beginnen",
        ChooseFactor => "Bestätigen Sie, dass Sie es sind",
        FactorTotp => "Code aus einer Authenticator-App",
        FactorSms => "Code per SMS an {to}",
        FactorEmail => "Code per E-Mail an {to}",
        FactorRecovery => "Ein Wiederherstellungscode",
        CodeLabel => "6-stelliger Code",
        RecoveryCodeLabel => "Wiederherstellungscode",
        Verify => "Bestätigen",
        CodeSentSms => "Wir haben einen Code per SMS an {to} gesendet.",
        CodeSentEmail => "Wir haben einen Code per E-Mail an {to} gesendet.",
        Resend => "Neuen Code senden",
        EnrollTitle => "Authenticator-App einrichten",
        EnrollScan => "Scannen Sie diesen QR-Code mit Ihrer Authenticator-App.",
        EnrollSecret => "Oder geben Sie diesen Schlüssel von Hand ein:",
        EnrollCodeLabel => "Code aus der App",
        RecoveryTitle => "Wiederherstellungscodes sichern",
        RecoveryHint => "Jeder Code funktioniert einmal, falls Sie Ihren Authenticator verlieren. Sie werden nur jetzt angezeigt.",
        Copy => "Codes kopieren",
        DownloadCodes => "Als Textdatei herunterladen",
        Copied => "Kopiert",
        RecoverySaved => "Ich habe sie gesichert",
        DoneTitle => "Sie sind angemeldet",
        DoneReturn => "Sie können jetzt zu {app} zurückkehren.",
        Redirecting => "Sie werden zu {app} zurückgeleitet…",
        ErrWrongCredentials => "Benutzername oder Passwort ist nicht richtig.",
        ErrLinkUsed => "Dieser Anmeldelink wurde bereits verwendet. Beginnen Sie in der App neu.",
        ErrLinkExpired => "Dieser Anmeldelink ist abgelaufen. Beginnen Sie in der App neu.",
        ErrCodeWrong => "Dieser Code ist nicht richtig.",
        ErrCodeExpired => "Dieser Code ist abgelaufen. Fordern Sie einen neuen an.",
        ErrServer => "Bei uns ist etwas schiefgegangen. Bitte versuchen Sie es erneut.",
        ErrRequired => "Bitte füllen Sie dieses Feld aus.",
        ErrTooLong => "Das ist zu lang.",
        Language => "Sprache",
        PasskeyNeedsJs => "Passkeys brauchen JavaScript. Unten können Sie sich anders anmelden.",
        ErrLinkNotFound => "Dieser Anmeldelink ist ungültig. Kehren Sie zur App zurück, um neu zu beginnen.",
        ErrEnded => "Diese Anmeldung ist beendet. Kehren Sie zur App zurück, um neu zu beginnen.",
        ErrUnavailable => "Diese App verlangt eine Anmeldeart, die diese Seite noch nicht anbietet.",
        ErrCodeAttempts => "Zu viele falsche Versuche für diesen Code. Fordern Sie einen neuen an.",
        ErrBusy => "Ihre letzte Anfrage wird noch bearbeitet. Warten Sie kurz und versuchen Sie es erneut.",
        SigningInAs => "Anmeldung als {name}",
        ContinueTo => "Weiter zu {app}",
        Back => "Zurück",
        PasskeySignIn => "Mit einem Passkey anmelden",
        PasskeyTitle => "Ihren Passkey verwenden",
        PasskeyHint => "Ihr Gerät bittet Sie, mit Fingerabdruck, Gesicht, Displaysperre oder Sicherheitsschlüssel zu bestätigen.",
        PasskeyContinue => "Mit meinem Passkey fortfahren",
        UsePassword => "Stattdessen mein Passwort verwenden",
        FactorPasskey => "Mein Passkey",
        FactorSecurityKey => "Ein Sicherheitsschlüssel",
        SecurityKeyTitle => "Ihren Sicherheitsschlüssel verwenden",
        SecurityKeyHint => "Halten Sie Ihren Sicherheitsschlüssel bereit, drücken Sie dann die Schaltfläche und berühren Sie den Schlüssel, wenn er blinkt.",
        SecurityKeyUse => "Meinen Sicherheitsschlüssel verwenden",
        SecurityKeyNeedsJs => "Sicherheitsschlüssel und Passkeys brauchen JavaScript. Wählen Sie unten einen anderen Weg.",
        ChooseAnother => "Einen anderen Weg wählen",
        OfferTitle => "Schneller anmelden mit einem Passkey",
        OfferText => "Mit einem Passkey melden Sie sich per Fingerabdruck, Gesicht oder Displaysperre an, statt ein Passwort einzutippen. Niemand kann ihn abfischen.",
        OfferRequired => "{app} meldet Personen mit Passkeys an. Erstellen Sie einen, um die Anmeldung abzuschließen.",
        OfferRequiredNeedsJs => "{app} verlangt einen Passkey, und Passkeys brauchen JavaScript. Schalten Sie JavaScript ein und laden Sie diese Seite neu.",
        CreatePasskey => "Passkey erstellen",
        NotNow => "Jetzt nicht",
        PasskeyCreated => "Ihr Passkey ist gespeichert. Melden Sie sich nächstes Mal damit an.",
        ErrPasskeyCancelled => "Die Passkey-Anfrage wurde abgebrochen oder ist abgelaufen. Versuchen Sie es erneut oder melden Sie sich anders an.",
        ErrPasskeyUnknown => "Dieser Passkey ist hier nicht registriert. Wählen Sie einen anderen oder melden Sie sich anders an.",
        ErrPasskeyUnsupported => "Dieser Browser kann keine Passkeys verwenden. Melden Sie sich anders an.",
        ErrPasskeyFailed => "Der Passkey konnte nicht geprüft werden. Versuchen Sie es erneut.",
        ErrPasskeyExpired => "Das hat zu lange gedauert. Versuchen Sie es erneut.",
        ErrPasskeyExists => "Dieses Gerät hat bereits einen Passkey für Ihr Konto.",
        PasskeyInstead => "Stattdessen einen Passkey verwenden",
        CodeHintTotp => "Geben Sie den 6-stelligen Code aus Ihrer Authenticator-App ein.",
        CodeHintRecovery => "Geben Sie einen Ihrer gespeicherten Wiederherstellungscodes ein. Jeder gilt nur einmal.",
        ErrTooManyNames => "Mit diesem Link wurden zu viele Benutzernamen versucht. Verwenden Sie einen bereits versuchten oder beginnen Sie in der App neu.",
    }
}

#[cfg(not(feature = "hydrate"))]
fn fr(key: Key) -> &'static str {
    use Key::*;
    match key {
        PageTitle => "Connexion",
        SignInTo => "Se connecter à {app}",
        LoginNameLabel => "Identifiant ou e-mail",
        Continue => "Continuer",
        PasswordLabel => "Mot de passe",
        SignIn => "Se connecter",
        NotYou => "Ce n’est pas vous ? Recommencer",
        ChooseFactor => "Confirmez votre identité",
        FactorTotp => "Code d’une application d’authentification",
        FactorSms => "Code par SMS au {to}",
        FactorEmail => "Code par e-mail à {to}",
        FactorRecovery => "Un code de récupération",
        CodeLabel => "Code à 6 chiffres",
        RecoveryCodeLabel => "Code de récupération",
        Verify => "Vérifier",
        CodeSentSms => "Nous avons envoyé un code par SMS au {to}.",
        CodeSentEmail => "Nous avons envoyé un code par e-mail à {to}.",
        Resend => "Envoyer un nouveau code",
        EnrollTitle => "Configurer une application d’authentification",
        EnrollScan => "Scannez ce code QR avec votre application d’authentification.",
        EnrollSecret => "Ou saisissez cette clé à la main :",
        EnrollCodeLabel => "Code de l’application",
        RecoveryTitle => "Conservez vos codes de récupération",
        RecoveryHint => "Chaque code fonctionne une fois, si vous perdez votre application. Ils ne sont affichés que maintenant.",
        Copy => "Copier les codes",
        DownloadCodes => "Télécharger en fichier texte",
        Copied => "Copié",
        RecoverySaved => "Je les ai conservés",
        DoneTitle => "Vous êtes connecté",
        DoneReturn => "Vous pouvez revenir à {app}.",
        Redirecting => "Retour vers {app}…",
        ErrWrongCredentials => "L’identifiant ou le mot de passe est incorrect.",
        ErrLinkUsed => "Ce lien de connexion a déjà été utilisé. Recommencez depuis l’application.",
        ErrLinkExpired => "Ce lien de connexion a expiré. Recommencez depuis l’application.",
        ErrCodeWrong => "Ce code est incorrect.",
        ErrCodeExpired => "Ce code a expiré. Demandez-en un nouveau.",
        ErrServer => "Un problème est survenu de notre côté. Veuillez réessayer.",
        ErrRequired => "Veuillez remplir ce champ.",
        ErrTooLong => "C’est trop long.",
        Language => "Langue",
        PasskeyNeedsJs => "Les clés d’accès nécessitent JavaScript. Vous pouvez vous connecter autrement ci-dessous.",
        ErrLinkNotFound => "Ce lien de connexion n’est pas valide. Retournez dans l’application pour recommencer.",
        ErrEnded => "Cette connexion est terminée. Retournez dans l’application pour recommencer.",
        ErrUnavailable => "Cette application demande un mode de connexion que cette page ne propose pas encore.",
        ErrCodeAttempts => "Trop d’essais erronés pour ce code. Demandez-en un nouveau.",
        ErrBusy => "Votre dernière demande est encore en cours. Patientez un instant et réessayez.",
        SigningInAs => "Connexion en tant que {name}",
        ContinueTo => "Continuer vers {app}",
        Back => "Retour",
        PasskeySignIn => "Se connecter avec une clé d'accès",
        PasskeyTitle => "Utilisez votre clé d'accès",
        PasskeyHint => "Votre appareil vous demandera de confirmer avec votre empreinte, votre visage, le verrouillage de l'écran ou une clé de sécurité.",
        PasskeyContinue => "Continuer avec ma clé d'accès",
        UsePassword => "Utiliser plutôt mon mot de passe",
        FactorPasskey => "Ma clé d'accès",
        FactorSecurityKey => "Une clé de sécurité",
        SecurityKeyTitle => "Utilisez votre clé de sécurité",
        SecurityKeyHint => "Préparez votre clé de sécurité, puis appuyez sur le bouton et touchez la clé quand elle clignote.",
        SecurityKeyUse => "Utiliser ma clé de sécurité",
        SecurityKeyNeedsJs => "Les clés de sécurité et les clés d'accès ont besoin de JavaScript. Choisissez un autre moyen ci-dessous.",
        ChooseAnother => "Choisir un autre moyen",
        OfferTitle => "Connectez-vous plus vite avec une clé d'accès",
        OfferText => "Une clé d'accès vous connecte avec votre empreinte, votre visage ou le verrouillage de l'écran, sans saisir de mot de passe. Elle ne peut pas être hameçonnée.",
        OfferRequired => "{app} connecte les personnes avec des clés d'accès. Créez-en une pour terminer la connexion.",
        OfferRequiredNeedsJs => "{app} exige une clé d'accès, et les clés d'accès ont besoin de JavaScript. Activez JavaScript et rechargez cette page.",
        CreatePasskey => "Créer une clé d'accès",
        NotNow => "Pas maintenant",
        PasskeyCreated => "Votre clé d'accès est enregistrée. La prochaine fois, connectez-vous avec elle.",
        ErrPasskeyCancelled => "La demande de clé d'accès a été annulée ou a expiré. Réessayez, ou connectez-vous autrement.",
        ErrPasskeyUnknown => "Cette clé d'accès n'est pas enregistrée ici. Choisissez-en une autre, ou connectez-vous autrement.",
        ErrPasskeyUnsupported => "Ce navigateur ne peut pas utiliser de clés d'accès. Connectez-vous autrement.",
        ErrPasskeyFailed => "La clé d'accès n'a pas pu être vérifiée. Réessayez.",
        ErrPasskeyExpired => "Cela a pris trop de temps. Réessayez.",
        ErrPasskeyExists => "Cet appareil contient déjà une clé d'accès pour votre compte.",
        PasskeyInstead => "Utiliser plutôt une clé d'accès",
        CodeHintTotp => "Saisissez le code à 6 chiffres de votre application d’authentification.",
        CodeHintRecovery => "Saisissez l’un des codes de récupération que vous avez conservés. Chacun ne sert qu’une fois.",
        ErrTooManyNames => "Trop d’identifiants ont été essayés avec ce lien. Utilisez-en un déjà essayé, ou revenez à l’application pour recommencer.",
    }
}

#[cfg(not(feature = "hydrate"))]
fn es(key: Key) -> &'static str {
    use Key::*;
    match key {
        PageTitle => "Iniciar sesión",
        SignInTo => "Iniciar sesión en {app}",
        LoginNameLabel => "Usuario o correo electrónico",
        Continue => "Continuar",
        PasswordLabel => "Contraseña",
        SignIn => "Iniciar sesión",
        NotYou => "¿No es usted? Empezar de nuevo",
        ChooseFactor => "Confirme que es usted",
        FactorTotp => "Código de una aplicación de autenticación",
        FactorSms => "Código por SMS al {to}",
        FactorEmail => "Código por correo a {to}",
        FactorRecovery => "Un código de recuperación",
        CodeLabel => "Código de 6 dígitos",
        RecoveryCodeLabel => "Código de recuperación",
        Verify => "Verificar",
        CodeSentSms => "Enviamos un código por SMS al {to}.",
        CodeSentEmail => "Enviamos un código por correo a {to}.",
        Resend => "Enviar un código nuevo",
        EnrollTitle => "Configure una aplicación de autenticación",
        EnrollScan => "Escanee este código QR con su aplicación de autenticación.",
        EnrollSecret => "O introduzca esta clave a mano:",
        EnrollCodeLabel => "Código de la aplicación",
        RecoveryTitle => "Guarde sus códigos de recuperación",
        RecoveryHint => "Cada código sirve una vez, si pierde su autenticador. Solo se muestran ahora.",
        Copy => "Copiar códigos",
        DownloadCodes => "Descargar como archivo de texto",
        Copied => "Copiado",
        RecoverySaved => "Ya los guardé",
        DoneTitle => "Ha iniciado sesión",
        DoneReturn => "Ya puede volver a {app}.",
        Redirecting => "Volviendo a {app}…",
        ErrWrongCredentials => "El usuario o la contraseña no son correctos.",
        ErrLinkUsed => "Este enlace de inicio de sesión ya se usó. Vuelva a la aplicación para empezar de nuevo.",
        ErrLinkExpired => "Este enlace de inicio de sesión ha caducado. Vuelva a la aplicación para empezar de nuevo.",
        ErrCodeWrong => "Ese código no es correcto.",
        ErrCodeExpired => "Ese código ha caducado. Pida uno nuevo.",
        ErrServer => "Algo salió mal por nuestra parte. Inténtelo de nuevo.",
        ErrRequired => "Rellene este campo.",
        ErrTooLong => "Es demasiado largo.",
        Language => "Idioma",
        PasskeyNeedsJs => "Las llaves de acceso necesitan JavaScript. Puede iniciar sesión de otra forma abajo.",
        ErrLinkNotFound => "Este enlace de inicio de sesión no es válido. Vuelva a la aplicación para empezar de nuevo.",
        ErrEnded => "Este inicio de sesión ha terminado. Vuelva a la aplicación para empezar de nuevo.",
        ErrUnavailable => "Esta aplicación requiere un modo de inicio de sesión que esta página aún no ofrece.",
        ErrCodeAttempts => "Demasiados intentos erróneos con este código. Pida uno nuevo.",
        ErrBusy => "Su última solicitud aún se está procesando. Espere un momento y vuelva a intentarlo.",
        SigningInAs => "Iniciando sesión como {name}",
        ContinueTo => "Continuar a {app}",
        Back => "Volver",
        PasskeySignIn => "Iniciar sesión con una llave de acceso",
        PasskeyTitle => "Use su llave de acceso",
        PasskeyHint => "Su dispositivo le pedirá que confirme con su huella, su cara, el bloqueo de pantalla o una llave de seguridad.",
        PasskeyContinue => "Continuar con mi llave de acceso",
        UsePassword => "Usar mi contraseña en su lugar",
        FactorPasskey => "Mi llave de acceso",
        FactorSecurityKey => "Una llave de seguridad",
        SecurityKeyTitle => "Use su llave de seguridad",
        SecurityKeyHint => "Tenga a mano su llave de seguridad, pulse el botón y toque la llave cuando parpadee.",
        SecurityKeyUse => "Usar mi llave de seguridad",
        SecurityKeyNeedsJs => "Las llaves de seguridad y las llaves de acceso necesitan JavaScript. Elija otra forma abajo.",
        ChooseAnother => "Elegir otra forma",
        OfferTitle => "Inicie sesión más rápido con una llave de acceso",
        OfferText => "Una llave de acceso le permite iniciar sesión con su huella, su cara o el bloqueo de pantalla en lugar de escribir una contraseña. Nadie puede robarla con phishing.",
        OfferRequired => "{app} inicia la sesión de las personas con llaves de acceso. Cree una para terminar de iniciar sesión.",
        OfferRequiredNeedsJs => "{app} exige una llave de acceso, y las llaves de acceso necesitan JavaScript. Active JavaScript y vuelva a cargar esta página.",
        CreatePasskey => "Crear una llave de acceso",
        NotNow => "Ahora no",
        PasskeyCreated => "Su llave de acceso está guardada. La próxima vez, inicie sesión con ella.",
        ErrPasskeyCancelled => "La solicitud de la llave de acceso se canceló o caducó. Inténtelo de nuevo o inicie sesión de otra forma.",
        ErrPasskeyUnknown => "Esta llave de acceso no está registrada aquí. Elija otra o inicie sesión de otra forma.",
        ErrPasskeyUnsupported => "Este navegador no puede usar llaves de acceso. Inicie sesión de otra forma.",
        ErrPasskeyFailed => "No se pudo comprobar la llave de acceso. Inténtelo de nuevo.",
        ErrPasskeyExpired => "Eso tardó demasiado. Inténtelo de nuevo.",
        ErrPasskeyExists => "Este dispositivo ya tiene una llave de acceso para su cuenta.",
        PasskeyInstead => "Usar una llave de acceso en su lugar",
        CodeHintTotp => "Introduzca el código de 6 dígitos de su aplicación de autenticación.",
        CodeHintRecovery => "Introduzca uno de los códigos de recuperación que guardó. Cada uno sirve una sola vez.",
        ErrTooManyNames => "Se probaron demasiados nombres de usuario con este enlace. Use uno que ya probó, o vuelva a la aplicación para empezar de nuevo.",
    }
}

#[cfg(not(feature = "hydrate"))]
fn en_counted(counted: Counted) -> Forms {
    use Counted::*;
    let (one, other) = match counted {
        AttemptsLeft => (
            "{count} attempt left before the account is locked for a while.",
            "{count} attempts left before the account is locked for a while.",
        ),
        LockedMinutes => (
            "Too many failed attempts. Try again in {count} minute.",
            "Too many failed attempts. Try again in {count} minutes.",
        ),
        WaitSeconds => (
            "Too many codes were asked for. Wait {count} second.",
            "Too many codes were asked for. Wait {count} seconds.",
        ),
        ResendIn => (
            "You can ask for a new code in {count} second.",
            "You can ask for a new code in {count} seconds.",
        ),
        TryAgainIn => (
            "Too many attempts. Try again in {count} second.",
            "Too many attempts. Try again in {count} seconds.",
        ),
    };
    Forms {
        one,
        many: None,
        other,
    }
}

#[cfg(not(feature = "hydrate"))]
fn de_counted(counted: Counted) -> Forms {
    use Counted::*;
    let (one, other) = match counted {
        AttemptsLeft => (
            "Noch {count} Versuch, bevor das Konto vorübergehend gesperrt wird.",
            "Noch {count} Versuche, bevor das Konto vorübergehend gesperrt wird.",
        ),
        LockedMinutes => (
            "Zu viele Fehlversuche. Versuchen Sie es in {count} Minute wieder.",
            "Zu viele Fehlversuche. Versuchen Sie es in {count} Minuten wieder.",
        ),
        WaitSeconds => (
            "Zu viele Codes angefordert. Warten Sie {count} Sekunde.",
            "Zu viele Codes angefordert. Warten Sie {count} Sekunden.",
        ),
        ResendIn => (
            "Einen neuen Code können Sie in {count} Sekunde anfordern.",
            "Einen neuen Code können Sie in {count} Sekunden anfordern.",
        ),
        TryAgainIn => (
            "Zu viele Versuche. Versuchen Sie es in {count} Sekunde wieder.",
            "Zu viele Versuche. Versuchen Sie es in {count} Sekunden wieder.",
        ),
    };
    Forms {
        one,
        many: None,
        other,
    }
}

/// French: one is 0 and 1 ("0 essai", "1 essai"); many is a million and up ("de").
#[cfg(not(feature = "hydrate"))]
fn fr_counted(counted: Counted) -> Forms {
    use Counted::*;
    let (one, many, other) = match counted {
        AttemptsLeft => (
            "Encore {count} essai avant que le compte soit bloqué un moment.",
            "Encore {count} d’essais avant que le compte soit bloqué un moment.",
            "Encore {count} essais avant que le compte soit bloqué un moment.",
        ),
        LockedMinutes => (
            "Trop d’échecs. Réessayez dans {count} minute.",
            "Trop d’échecs. Réessayez dans {count} de minutes.",
            "Trop d’échecs. Réessayez dans {count} minutes.",
        ),
        WaitSeconds => (
            "Trop de codes demandés. Attendez {count} seconde.",
            "Trop de codes demandés. Attendez {count} de secondes.",
            "Trop de codes demandés. Attendez {count} secondes.",
        ),
        ResendIn => (
            "Vous pourrez demander un nouveau code dans {count} seconde.",
            "Vous pourrez demander un nouveau code dans {count} de secondes.",
            "Vous pourrez demander un nouveau code dans {count} secondes.",
        ),
        TryAgainIn => (
            "Trop de tentatives. Réessayez dans {count} seconde.",
            "Trop de tentatives. Réessayez dans {count} de secondes.",
            "Trop de tentatives. Réessayez dans {count} secondes.",
        ),
    };
    Forms {
        one,
        many: Some(many),
        other,
    }
}

/// Spanish: one is 1; many is a million and up ("de").
#[cfg(not(feature = "hydrate"))]
fn es_counted(counted: Counted) -> Forms {
    use Counted::*;
    let (one, many, other) = match counted {
        AttemptsLeft => (
            "Queda {count} intento antes de bloquear la cuenta un tiempo.",
            "Quedan {count} de intentos antes de bloquear la cuenta un tiempo.",
            "Quedan {count} intentos antes de bloquear la cuenta un tiempo.",
        ),
        LockedMinutes => (
            "Demasiados intentos fallidos. Inténtelo de nuevo en {count} minuto.",
            "Demasiados intentos fallidos. Inténtelo de nuevo en {count} de minutos.",
            "Demasiados intentos fallidos. Inténtelo de nuevo en {count} minutos.",
        ),
        WaitSeconds => (
            "Se pidieron demasiados códigos. Espere {count} segundo.",
            "Se pidieron demasiados códigos. Espere {count} de segundos.",
            "Se pidieron demasiados códigos. Espere {count} segundos.",
        ),
        ResendIn => (
            "Podrá pedir un código nuevo en {count} segundo.",
            "Podrá pedir un código nuevo en {count} de segundos.",
            "Podrá pedir un código nuevo en {count} segundos.",
        ),
        TryAgainIn => (
            "Demasiados intentos. Inténtelo de nuevo en {count} segundo.",
            "Demasiados intentos. Inténtelo de nuevo en {count} de segundos.",
            "Demasiados intentos. Inténtelo de nuevo en {count} segundos.",
        ),
    };
    Forms {
        one,
        many: Some(many),
        other,
    }
}

/// Plural categories: ICU4X's compiled CLDR rules on the server.
#[cfg(not(feature = "hydrate"))]
mod plural {
    use super::{Category, Lang};
    use icu_locale_core::locale;
    use icu_plurals::{PluralCategory, PluralRules};

    pub(super) fn category(lang: Lang, n: u32) -> Category {
        let locale = match lang {
            Lang::En => locale!("en"),
            Lang::De => locale!("de"),
            Lang::Fr => locale!("fr"),
            Lang::Es => locale!("es"),
        };
        // The rules are compiled in (loading them is a lookup, no I/O); a language without
        // them would read as `other`, which the tests would catch.
        match PluralRules::try_new_cardinal(locale.into())
            .ok()
            .map(|rules| rules.category_for(n))
        {
            Some(PluralCategory::Zero) => Category::Zero,
            Some(PluralCategory::One) => Category::One,
            Some(PluralCategory::Two) => Category::Two,
            Some(PluralCategory::Few) => Category::Few,
            Some(PluralCategory::Many) => Category::Many,
            Some(PluralCategory::Other) | None => Category::Other,
        }
    }
}

/// Plural categories: the browser's `Intl.PluralRules` (its ICU and CLDR data), so the wasm
/// carries no rules of its own.
#[cfg(feature = "hydrate")]
mod plural {
    use super::{Category, Lang};

    pub(super) fn category(lang: Lang, n: u32) -> Category {
        let locales = js_sys::Array::of1(&lang.code().into());
        let rules = js_sys::Intl::PluralRules::new(&locales, &js_sys::Object::new());
        match String::from(rules.select(f64::from(n))).as_str() {
            "zero" => Category::Zero,
            "one" => Category::One,
            "two" => Category::Two,
            "few" => Category::Few,
            "many" => Category::Many,
            _ => Category::Other,
        }
    }
}

#[cfg(feature = "hydrate")]
static INSTALLED: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();

/// The global the texts script ([`texts_script`]) sets.
#[cfg(any(feature = "hydrate", feature = "ssr"))]
const TEXTS_GLOBAL: &str = "__vestibuleTexts";

/// Called by the island before it renders: takes the page's texts from the global the texts
/// script set (it runs before the hydration script, which follows it in the page). Kept for the
/// page's life (one language per page: switching reloads).
#[cfg(feature = "hydrate")]
pub fn install() {
    if INSTALLED.get().is_some() {
        return;
    }
    let texts = js_sys::Reflect::get(&js_sys::global(), &TEXTS_GLOBAL.into())
        .ok()
        .filter(|v| v.is_array())
        .map(|v| {
            js_sys::Array::from(&v)
                .iter()
                .filter_map(|t| t.as_string())
                .map(|t| &*Box::leak(t.into_boxed_str()))
                .collect()
        })
        .unwrap_or_default();
    let _ = INSTALLED.set(texts);
}

/// One language's texts ([`Lang::texts`]) as a script for the island, served at `path`
/// (`/texts/de-<hash>.js`, named after a hash of its content so browsers may keep it for good).
/// A file of its own rather than the island's props: the page would otherwise carry every text
/// twice, once rendered and once in the props, and fetch them again on every sign-in.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextsScript {
    pub lang: Lang,
    pub path: String,
    pub body: String,
}

/// The texts script of `lang`, made once.
#[cfg(feature = "ssr")]
pub fn texts_script(lang: Lang) -> &'static TextsScript {
    static SCRIPTS: std::sync::LazyLock<Vec<TextsScript>> = std::sync::LazyLock::new(|| {
        Lang::ALL
            .into_iter()
            .map(|lang| {
                let json = serde_json::to_string(&lang.texts()).unwrap_or_else(|_| "[]".into());
                let body = format!("globalThis.{TEXTS_GLOBAL}={json};\n");
                let hash = domain::crypto::to_hex(&domain::crypto::sha256(body.as_bytes()));
                let path = format!("/texts/{}-{}.js", lang.code(), &hash[..16]);
                TextsScript { lang, path, body }
            })
            .collect()
    });
    let index = Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0);
    &SCRIPTS[index]
}

/// The texts script served at `path`, if any.
#[cfg(feature = "ssr")]
pub fn find_texts_script(path: &str) -> Option<&'static TextsScript> {
    Lang::ALL
        .into_iter()
        .map(texts_script)
        .find(|script| script.path == path)
}

#[cfg(feature = "hydrate")]
fn installed(key: Key) -> &'static str {
    let index = Key::ALL.iter().position(|k| *k == key);
    INSTALLED
        .get()
        .zip(index)
        .and_then(|(texts, i)| texts.get(i).copied())
        .unwrap_or_default()
}

#[cfg(feature = "hydrate")]
fn installed_forms(counted: Counted) -> Forms {
    let at = |offset: usize| -> &'static str {
        let index = Counted::ALL.iter().position(|c| *c == counted);
        INSTALLED
            .get()
            .zip(index)
            .and_then(|(texts, i)| texts.get(Key::ALL.len() + 3 * i + offset).copied())
            .unwrap_or_default()
    };
    Forms {
        one: at(0),
        many: Some(at(1)),
        other: at(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(text: &str) -> Vec<&str> {
        let mut out: Vec<&str> = text
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn every_language_has_every_key_with_the_same_placeholders() {
        for key in Key::ALL {
            let english = Lang::En.text(key);
            for lang in Lang::ALL {
                let text = lang.text(key);
                assert!(!text.trim().is_empty(), "{lang:?} {key:?} is empty");
                assert_eq!(
                    placeholders(text),
                    placeholders(english),
                    "{lang:?} {key:?} has other placeholders than English"
                );
            }
        }
    }

    /// A missing translation is a compile error (each language is an exhaustive `match`); what a
    /// compiler cannot see is a text that is only a stand-in: a key's name, or English left in
    /// another language. This test fails on both.
    #[test]
    fn no_text_is_a_raw_key_or_untranslated_english() {
        // Words that are the same in English and the language named.
        let same = [(Lang::Fr, Key::Copy), (Lang::Es, Key::Copy)];
        for key in Key::ALL {
            let name = format!("{key:?}");
            let snake: String = name
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                    sep.into_iter().chain(c.to_lowercase())
                })
                .collect();
            for lang in Lang::ALL {
                let text = lang.text(key);
                // One-word names (`Continue`) are real words; longer ones never appear in text.
                if snake.contains('_') {
                    for raw in [&name, &snake] {
                        assert!(!text.contains(raw.as_str()), "{lang:?} {key:?} shows {raw}");
                    }
                }
                assert_ne!(text, snake, "{lang:?} {key:?} is its key");
                assert!(
                    !text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                        || text.contains(' ')
                        || text.chars().next().is_some_and(char::is_uppercase),
                    "{lang:?} {key:?} looks like an identifier: {text}"
                );
                if lang != Lang::En && !same.contains(&(lang, key)) {
                    assert_ne!(text, Lang::En.text(key), "{lang:?} {key:?} is English");
                }
            }
        }
    }

    #[test]
    fn the_key_list_is_complete_and_without_repeats() {
        let mut seen = std::collections::HashSet::new();
        for key in Key::ALL {
            assert!(seen.insert(key), "{key:?} twice");
        }
        // Adding a variant without listing it would leave it untested; the exhaustive matches
        // catch missing translations, this catches a missing entry in ALL.
        let unlisted = |k: Key| match k {
            Key::PageTitle
            | Key::SignInTo
            | Key::LoginNameLabel
            | Key::Continue
            | Key::PasswordLabel
            | Key::SignIn
            | Key::NotYou
            | Key::ChooseFactor
            | Key::FactorTotp
            | Key::FactorSms
            | Key::FactorEmail
            | Key::FactorRecovery
            | Key::CodeLabel
            | Key::RecoveryCodeLabel
            | Key::Verify
            | Key::CodeSentSms
            | Key::CodeSentEmail
            | Key::Resend
            | Key::EnrollTitle
            | Key::EnrollScan
            | Key::EnrollSecret
            | Key::EnrollCodeLabel
            | Key::RecoveryTitle
            | Key::RecoveryHint
            | Key::Copy
            | Key::DownloadCodes
            | Key::Copied
            | Key::RecoverySaved
            | Key::DoneTitle
            | Key::DoneReturn
            | Key::Redirecting
            | Key::ErrWrongCredentials
            | Key::ErrLinkUsed
            | Key::ErrLinkExpired
            | Key::ErrCodeWrong
            | Key::ErrCodeExpired
            | Key::ErrServer
            | Key::ErrRequired
            | Key::ErrTooLong
            | Key::Language
            | Key::PasskeyNeedsJs
            | Key::ErrLinkNotFound
            | Key::ErrEnded
            | Key::ErrUnavailable
            | Key::ErrCodeAttempts
            | Key::ErrBusy
            | Key::ErrTooManyNames
            | Key::SigningInAs
            | Key::ContinueTo
            | Key::Back
            | Key::PasskeySignIn
            | Key::PasskeyTitle
            | Key::PasskeyHint
            | Key::PasskeyContinue
            | Key::UsePassword
            | Key::FactorPasskey
            | Key::FactorSecurityKey
            | Key::SecurityKeyTitle
            | Key::SecurityKeyHint
            | Key::SecurityKeyUse
            | Key::SecurityKeyNeedsJs
            | Key::ChooseAnother
            | Key::OfferTitle
            | Key::OfferText
            | Key::OfferRequired
            | Key::OfferRequiredNeedsJs
            | Key::CreatePasskey
            | Key::NotNow
            | Key::PasskeyCreated
            | Key::ErrPasskeyCancelled
            | Key::ErrPasskeyUnknown
            | Key::ErrPasskeyUnsupported
            | Key::ErrPasskeyFailed
            | Key::ErrPasskeyExpired
            | Key::ErrPasskeyExists
            | Key::PasskeyInstead
            | Key::CodeHintTotp
            | Key::CodeHintRecovery => seen.contains(&k),
        };
        assert!(Key::ALL.into_iter().all(unlisted));
    }

    #[test]
    fn languages_are_negotiated_in_the_documented_order() {
        let cases: [(Option<&str>, Option<&str>, Lang); 10] = [
            (None, None, Lang::En),
            (Some("de-CH fr"), Some("es"), Lang::De),
            (Some("it fr-CA"), Some("de"), Lang::Fr),
            (Some("it"), Some("es-ES,es;q=0.9,en;q=0.5"), Lang::Es),
            (None, Some("en;q=0.1, fr;q=0.8, de;q=0.5"), Lang::Fr),
            (None, Some("it, pt"), Lang::En),
            (None, Some("*"), Lang::En),
            (None, Some(";;;q=abc,,"), Lang::En),
            (Some(""), Some("DE"), Lang::De),
            (None, Some("de-DE"), Lang::De),
        ];
        for (ui, accept, want) in cases {
            assert_eq!(Lang::negotiate(ui, accept), want, "{ui:?} / {accept:?}");
        }
    }

    #[test]
    fn the_islands_copy_follows_the_key_list() {
        for lang in Lang::ALL {
            let texts = lang.texts();
            assert_eq!(texts.len(), Key::ALL.len() + 3 * Counted::ALL.len());
            for (key, text) in Key::ALL.into_iter().zip(&texts) {
                assert_eq!(lang.text(key), text, "{lang:?} {key:?}");
            }
            for (i, counted) in Counted::ALL.into_iter().enumerate() {
                let forms = lang.forms(counted);
                let at = Key::ALL.len() + 3 * i;
                assert_eq!(
                    texts[at..at + 3],
                    [forms.one, forms.many.unwrap_or(forms.other), forms.other],
                    "{lang:?} {counted:?}"
                );
            }
        }
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            Lang::De.count(Counted::AttemptsLeft, 3),
            "Noch 3 Versuche, bevor das Konto vorübergehend gesperrt wird."
        );
        assert_eq!(
            Lang::En.fill(Key::SignInTo, &[("app", "Shop")]),
            "Sign in to Shop"
        );
    }

    /// The categories CLDR gives these languages for whole numbers, as ICU4X computes them:
    /// English and German one for 1 only; French one for 0 and 1; French and Spanish many for
    /// a million and its multiples.
    #[test]
    fn plural_categories_follow_the_unicode_rules() {
        use Category::*;
        let cases: [(u32, [Category; 4]); 9] = [
            // n      en     de     fr     es
            (0, [Other, Other, One, Other]),
            (1, [One, One, One, One]),
            (2, [Other, Other, Other, Other]),
            (5, [Other, Other, Other, Other]),
            (11, [Other, Other, Other, Other]),
            (21, [Other, Other, Other, Other]),
            (101, [Other, Other, Other, Other]),
            (1_000_000, [Other, Other, Many, Many]),
            (2_000_001, [Other, Other, Other, Other]),
        ];
        for (n, want) in cases {
            for (lang, category) in Lang::ALL.into_iter().zip(want) {
                assert_eq!(lang.category(n), category, "{lang:?} {n}");
            }
        }
    }

    #[test]
    fn counted_sentences_agree_with_their_number_in_every_language() {
        let cases = [
            (
                Lang::En,
                1,
                "1 attempt left before the account is locked for a while.",
            ),
            (
                Lang::En,
                2,
                "2 attempts left before the account is locked for a while.",
            ),
            (
                Lang::En,
                0,
                "0 attempts left before the account is locked for a while.",
            ),
            (
                Lang::De,
                1,
                "Noch 1 Versuch, bevor das Konto vorübergehend gesperrt wird.",
            ),
            (
                Lang::De,
                4,
                "Noch 4 Versuche, bevor das Konto vorübergehend gesperrt wird.",
            ),
            (
                Lang::Fr,
                0,
                "Encore 0 essai avant que le compte soit bloqué un moment.",
            ),
            (
                Lang::Fr,
                1,
                "Encore 1 essai avant que le compte soit bloqué un moment.",
            ),
            (
                Lang::Fr,
                3,
                "Encore 3 essais avant que le compte soit bloqué un moment.",
            ),
            (
                Lang::Fr,
                1_000_000,
                "Encore 1000000 d’essais avant que le compte soit bloqué un moment.",
            ),
            (
                Lang::Es,
                1,
                "Queda 1 intento antes de bloquear la cuenta un tiempo.",
            ),
            (
                Lang::Es,
                2,
                "Quedan 2 intentos antes de bloquear la cuenta un tiempo.",
            ),
            (
                Lang::Es,
                0,
                "Quedan 0 intentos antes de bloquear la cuenta un tiempo.",
            ),
        ];
        for (lang, n, want) in cases {
            assert_eq!(lang.count(Counted::AttemptsLeft, n), want, "{lang:?} {n}");
        }
        assert_eq!(
            Lang::En.count(Counted::LockedMinutes, 1),
            "Too many failed attempts. Try again in 1 minute."
        );
        assert_eq!(
            Lang::De.count(Counted::WaitSeconds, 1),
            "Zu viele Codes angefordert. Warten Sie 1 Sekunde."
        );
        assert_eq!(
            Lang::Es.count(Counted::ResendIn, 30),
            "Podrá pedir un código nuevo en 30 segundos."
        );
    }

    /// Every category a language's rules produce has a form of its own where the language
    /// words it apart (`many` in French and Spanish, and in no other), every form holds the
    /// number, and the forms of one sentence differ (a copied form would hide a missing one).
    #[test]
    fn every_counted_sentence_has_the_forms_its_language_needs() {
        let samples: Vec<u32> = (0..=1_200)
            .chain([10_000, 100_000, 1_000_000, 2_000_000, 3_000_001])
            .collect();
        for lang in Lang::ALL {
            let categories: std::collections::HashSet<Category> =
                samples.iter().map(|n| lang.category(*n)).collect();
            for rare in [Category::Zero, Category::Two, Category::Few] {
                assert!(!categories.contains(&rare), "{lang:?} has {rare:?}");
            }
            let has_many = categories.contains(&Category::Many);
            assert_eq!(has_many, matches!(lang, Lang::Fr | Lang::Es), "{lang:?}");
            for counted in Counted::ALL {
                let forms = lang.forms(counted);
                assert_eq!(forms.many.is_some(), has_many, "{lang:?} {counted:?}");
                let all = [Some(forms.one), forms.many, Some(forms.other)];
                for form in all.into_iter().flatten() {
                    assert_eq!(
                        placeholders(form),
                        ["count"],
                        "{lang:?} {counted:?}: {form}"
                    );
                    assert!(!form.trim().is_empty());
                }
                assert_ne!(forms.one, forms.other, "{lang:?} {counted:?}");
                if let Some(many) = forms.many {
                    assert_ne!(many, forms.other, "{lang:?} {counted:?}");
                    assert_ne!(many, forms.one, "{lang:?} {counted:?}");
                }
                if lang != Lang::En {
                    assert_ne!(
                        forms.other,
                        Lang::En.forms(counted).other,
                        "{lang:?} {counted:?}"
                    );
                }
            }
        }
    }
}

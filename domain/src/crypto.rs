//! All cryptography of Vestibule: randomness, hashing, constant-time comparison, argon2id and
//! the AEAD for secrets at rest. No other module imports argon2, rand, subtle, sha2, base64 or the cipher.

use std::fmt;
use std::sync::Mutex;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{Rng as _, RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Source of random bytes. Production uses the OS; tests use a seeded generator.
pub trait Rng: Send + Sync + 'static {
    /// Fills `buf` with random bytes.
    fn fill_bytes(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRng;

impl Rng for SystemRng {
    fn fill_bytes(&self, buf: &mut [u8]) {
        // SECURITY: every token, id, salt, nonce and code comes from the OS generator.
        rand::rngs::OsRng.fill_bytes(buf);
    }
}

/// A deterministic generator for tests (never use it in production: its output is predictable).
#[derive(Debug)]
pub struct SeededRng(Mutex<rand::rngs::StdRng>);

impl SeededRng {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)))
    }
}

impl Rng for SeededRng {
    fn fill_bytes(&self, buf: &mut [u8]) {
        let mut inner = match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        inner.fill_bytes(buf);
    }
}

/// Lets the `rand` distributions (unbiased ranges) draw from an injected [`Rng`].
struct RngAdapter<'a>(&'a dyn Rng);

impl RngCore for RngAdapter<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

/// A value that must not leak: `Debug` prints `[redacted]`, there is no `Serialize` and no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }
    /// The secret itself; call sites that use this are the ones to review.
    pub fn expose(&self) -> &T {
        &self.0
    }
    /// Unwraps the secret.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SECURITY: secrets never reach logs through Debug.
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

fn random_bytes<const N: usize>(rng: &dyn Rng) -> [u8; N] {
    let mut buf = [0u8; N];
    rng.fill_bytes(&mut buf);
    buf
}

/// A bearer token: 32 random bytes (256 bits), base64url without padding (43 characters).
pub fn random_token(rng: &dyn Rng) -> Secret<String> {
    Secret(URL_SAFE_NO_PAD.encode(random_bytes::<32>(rng)))
}

/// A record id: 16 random bytes (128 bits) as 32 lowercase hex characters.
pub fn random_id(rng: &dyn Rng) -> String {
    to_hex(&random_bytes::<16>(rng))
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Compares in time independent of where the inputs differ (lengths may leak, contents not).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // SECURITY: no early exit on the first differing byte.
    a.ct_eq(b).into()
}

/// The SHA-256 a session or API token is stored as.
pub fn token_hash(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

/// The single-use code the handoff's redirect carries, derived from the claiming browser's
/// secret (base64url, 43 characters). SECURITY: only the browser holding that secret (and the
/// server while it serves that browser) can compute it; the stored browser hash does not give
/// it, and the code does not give the secret.
pub fn handoff_code(browser_secret: &str) -> Secret<String> {
    let mut hasher = Sha256::new();
    hasher.update(b"vestibule-handoff-code\0");
    hasher.update(browser_secret.as_bytes());
    Secret(URL_SAFE_NO_PAD.encode(hasher.finalize()))
}

/// RFC 7636 `S256`: BASE64URL-no-pad(SHA-256(verifier)).
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Six decimal digits drawn uniformly (rejection sampling, no modulo bias).
pub fn six_digit_code(rng: &dyn Rng) -> Secret<String> {
    let n: u32 = RngAdapter(rng).gen_range(0..1_000_000);
    Secret(format!("{n:06}"))
}

/// The hash a one-time code is kept as: SHA-256 over the session id and the code, hex.
/// SECURITY: keyed to the session, so a code (or its hash) is worthless on another session.
pub fn code_hash(session_id: &str, code: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"vestibule-otp\0");
    hasher.update(session_id.as_bytes());
    hasher.update(b"\0");
    hasher.update(code.as_bytes());
    to_hex(&hasher.finalize())
}

/// The symbols of recovery codes: Crockford's base32 (digits and capitals without I, L, O and U),
/// so that nothing on a printed or handwritten list can be read two ways.
pub const RECOVERY_CODE_SYMBOLS: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols in a recovery code (hyphen not counted): 10 of 32 symbols, 50 random bits.
pub const RECOVERY_CODE_LEN: usize = 10;

/// Base32 over [`RECOVERY_CODE_SYMBOLS`], without padding.
static RECOVERY_ENCODING: std::sync::LazyLock<data_encoding::Encoding> =
    std::sync::LazyLock::new(|| {
        let mut spec = data_encoding::Specification::new();
        spec.symbols.push_str(RECOVERY_CODE_SYMBOLS);
        // Thirty-two distinct ASCII symbols without padding always make a valid specification
        // (the tests check every code's symbols); the fallback only keeps this free of panics.
        spec.encoding()
            .unwrap_or_else(|_| data_encoding::BASE32_NOPAD.clone())
    });

/// A recovery code: 50 random bits as ten Crockford base32 symbols in two groups of five
/// (`7KQ4M-XW9PD`). Seven random bytes are encoded and the first ten symbols kept: each symbol
/// carries five bits of its own, so the ten are uniform over 32^10 = 2^50 codes.
pub fn recovery_code(rng: &dyn Rng) -> Secret<String> {
    let text = RECOVERY_ENCODING.encode(&random_bytes::<7>(rng));
    let (first, second) = text.split_at(RECOVERY_CODE_LEN / 2);
    Secret(format!("{first}-{}", &second[..RECOVERY_CODE_LEN / 2]))
}

/// A recovery code as typed, in its one canonical spelling: spaces and hyphens dropped, letters
/// upper-cased, and the letters Crockford's alphabet leaves out read as the digits they look
/// like (O as 0, I and L as 1).
pub fn normalize_recovery_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

/// The hash a recovery code is kept as: SHA-256 over the user's id and the normalized code, hex.
/// SECURITY: keyed to the user, so a stolen table cannot be searched for all users' codes at
/// once (a code has 50 bits; each user's ten codes must be attacked apart).
pub fn recovery_code_hash(user_id: &str, code: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"vestibule-recovery-v2\0");
    hasher.update(user_id.as_bytes());
    hasher.update(b"\0");
    hasher.update(normalize_recovery_code(code).as_bytes());
    to_hex(&hasher.finalize())
}

/// Hash of a high-entropy app secret, as a PHC-shaped string `$sha256$<base64>`. A 256-bit random
/// secret cannot be guessed, so a slow hash would only cost time on every validate call.
pub fn app_secret_hash(secret: &str) -> String {
    format!(
        "$sha256${}",
        STANDARD_NO_PAD.encode(sha256(secret.as_bytes()))
    )
}

/// Checks an app secret against its stored hash in constant time.
pub fn verify_app_secret(secret: &str, stored: &str) -> bool {
    constant_time_eq(app_secret_hash(secret).as_bytes(), stored.as_bytes())
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for Argon2Params {
    /// OWASP's m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        Self {
            m_cost: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl Argon2Params {
    fn argon2_params(&self) -> Result<argon2::Params, CryptoError> {
        argon2::Params::new(self.m_cost, self.t_cost, self.p_cost, None)
            .map_err(|_| CryptoError::Params)
    }

    fn hasher(&self) -> Result<argon2::Argon2<'static>, CryptoError> {
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            self.argon2_params()?,
        ))
    }

    /// Checks the parameters are accepted by argon2.
    pub fn validate(&self) -> Result<(), CryptoError> {
        self.hasher().map(|_| ())
    }
}

/// Failures of the primitives; the engine logs them and answers `Internal`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("invalid argon2 parameters")]
    Params,
    #[error("hashing failed")]
    Hash,
    #[error("stored hash is malformed")]
    MalformedHash,
    #[error("key must be 32 bytes")]
    KeyLength,
    #[error("encryption failed")]
    Encrypt,
    #[error("decryption failed")]
    Decrypt,
}

/// Working memory for argon2 (m_cost KiB), kept between computations. A server that allocated
/// and freed 19 MiB per login would let the allocator keep hundreds of MiB resident under a
/// burst; reusing one buffer per concurrent computation bounds memory by the in-flight limit.
#[derive(Default)]
pub struct Argon2Memory(Vec<argon2::Block>);

impl Argon2Memory {
    fn blocks(&mut self, params: &argon2::Params) -> &mut [argon2::Block] {
        let needed = params.block_count();
        if self.0.len() < needed {
            self.0.resize(needed, argon2::Block::default());
        }
        &mut self.0[..needed]
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.0.len() * argon2::Block::SIZE
    }
}

impl fmt::Debug for Argon2Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Argon2Memory({} KiB)", self.size() / 1024)
    }
}

/// Hashes a password with argon2id and a 16-byte random salt; returns the PHC string.
pub fn argon2_hash(
    params: &Argon2Params,
    password: &[u8],
    rng: &dyn Rng,
) -> Result<String, CryptoError> {
    argon2_hash_in(params, password, rng, &mut Argon2Memory::default())
}

/// [`argon2_hash`] in reusable working memory.
pub fn argon2_hash_in(
    params: &Argon2Params,
    password: &[u8],
    rng: &dyn Rng,
    memory: &mut Argon2Memory,
) -> Result<String, CryptoError> {
    let salt_bytes = random_bytes::<16>(rng);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| CryptoError::Hash)?;
    let argon_params = params.argon2_params()?;
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    params
        .hasher()?
        .hash_password_into_with_memory(
            password,
            &salt_bytes,
            &mut out,
            memory.blocks(&argon_params),
        )
        .map_err(|_| CryptoError::Hash)?;
    let phc = PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: ParamsString::try_from(&argon_params).map_err(|_| CryptoError::Hash)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|_| CryptoError::Hash)?),
    };
    Ok(phc.to_string())
}

/// Result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordMatch {
    pub matches: bool,
    /// The hash was made with other parameters (or another algorithm) than `current`.
    pub needs_rehash: bool,
}

/// Verifies `password` against a PHC string (with the parameters stored in it).
pub fn argon2_verify(
    current: &Argon2Params,
    password: &[u8],
    phc: &str,
) -> Result<PasswordMatch, CryptoError> {
    argon2_verify_in(current, password, phc, &mut Argon2Memory::default())
}

/// [`argon2_verify`] in reusable working memory.
pub fn argon2_verify_in(
    current: &Argon2Params,
    password: &[u8],
    phc: &str,
    memory: &mut Argon2Memory,
) -> Result<PasswordMatch, CryptoError> {
    let malformed = |_: argon2::password_hash::Error| CryptoError::MalformedHash;
    let parsed = PasswordHash::new(phc).map_err(malformed)?;
    let stored = argon2::Params::try_from(&parsed).map_err(malformed)?;
    let algorithm = argon2::Algorithm::try_from(parsed.algorithm).map_err(malformed)?;
    let version = match parsed.version {
        Some(v) => argon2::Version::try_from(v).map_err(|_| CryptoError::MalformedHash)?,
        None => argon2::Version::default(),
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(CryptoError::MalformedHash);
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(malformed)?;
    if expected.len() > 256 {
        return Err(CryptoError::MalformedHash);
    }
    let mut out = vec![0u8; expected.len()];
    argon2::Argon2::new(algorithm, version, stored.clone())
        .hash_password_into_with_memory(password, salt, &mut out, memory.blocks(&stored))
        .map_err(|_| CryptoError::MalformedHash)?;
    // SECURITY: constant-time comparison of the computed and the stored hash.
    let matches = bool::from(out.as_slice().ct_eq(expected.as_bytes()));
    let same = algorithm == argon2::Algorithm::Argon2id
        && version == argon2::Version::V0x13
        && stored.m_cost() == current.m_cost
        && stored.t_cost() == current.t_cost
        && stored.p_cost() == current.p_cost;
    Ok(PasswordMatch {
        matches,
        needs_rehash: !same,
    })
}

/// A login name as one session's events record it: a hash keyed with the server key and the
/// session id, of the name in lower case, so two tries of one name match, the name cannot be
/// read back, and tags of different sessions cannot be linked. 16 hex digits.
pub fn login_name_tag(key: &ServerKey, session_id: &str, login_name: &str) -> String {
    let mut data = Vec::with_capacity(64 + session_id.len() + login_name.len());
    data.extend_from_slice(b"vestibule.login-name\0");
    data.extend_from_slice(&key.0);
    data.extend_from_slice(session_id.as_bytes());
    data.push(0);
    data.extend_from_slice(crate::input::fold_case(login_name.trim()).as_bytes());
    let mut hex = to_hex(&sha256(&data));
    hex.truncate(16);
    hex
}

/// The server's 32-byte key for encrypting secrets at rest (TOTP secrets).
#[derive(Clone)]
pub struct ServerKey([u8; 32]);

impl ServerKey {
    /// A fresh random key (the server writes it to its key file on first start).
    pub fn generate(rng: &dyn Rng) -> Self {
        Self(random_bytes::<32>(rng))
    }
    /// A key read from the key file; exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::KeyLength)?;
        Ok(Self(key))
    }
    /// The raw key, to write the key file.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey([redacted])")
    }
}

const NONCE_LEN: usize = 24;

/// Encrypts with XChaCha20-Poly1305 and a random 24-byte nonce; returns nonce followed by ciphertext.
/// `context` is authenticated but not stored (e.g. the user id), so a ciphertext moved to another
/// record does not decrypt.
pub fn encrypt(
    key: &ServerKey,
    plaintext: &[u8],
    context: &[u8],
    rng: &dyn Rng,
) -> Result<Vec<u8>, CryptoError> {
    let cipher = XChaCha20Poly1305::new((&key.0).into());
    let nonce_bytes = random_bytes::<NONCE_LEN>(rng);
    let nonce = XNonce::from_slice(&nonce_bytes);
    let ciphertext = cipher
        .encrypt(
            nonce,
            Payload {
                msg: plaintext,
                aad: context,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Reverses [`encrypt`]; fails on a wrong key, wrong context or tampered data.
pub fn decrypt(
    key: &ServerKey,
    data: &[u8],
    context: &[u8],
) -> Result<Secret<Vec<u8>>, CryptoError> {
    if data.len() < NONCE_LEN {
        return Err(CryptoError::Decrypt);
    }
    let (nonce, ciphertext) = data.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new((&key.0).into());
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: context,
            },
        )
        .map(Secret)
        .map_err(|_| CryptoError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_chars_and_differ() {
        let rng = SystemRng;
        let a = random_token(&rng);
        let b = random_token(&rng);
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(random_id(&rng).len(), 32);
        assert_eq!(format!("{a:?}"), "[redacted]");
    }

    #[test]
    fn seeded_rng_is_deterministic() {
        assert_eq!(random_id(&SeededRng::new(7)), random_id(&SeededRng::new(7)));
        assert_ne!(random_id(&SeededRng::new(7)), random_id(&SeededRng::new(8)));
    }

    #[test]
    fn six_digit_codes_have_six_digits() {
        let rng = SeededRng::new(1);
        for _ in 0..1000 {
            let code = six_digit_code(&rng);
            assert_eq!(code.expose().len(), 6);
            assert!(code.expose().chars().all(|c| c.is_ascii_digit()));
        }
    }

    #[test]
    fn code_hash_is_bound_to_session() {
        assert_ne!(code_hash("s1", "123456"), code_hash("s2", "123456"));
        assert_eq!(code_hash("s1", "123456"), code_hash("s1", "123456"));
    }

    #[test]
    fn recovery_codes_are_two_groups_of_five_crockford_symbols() {
        let rng = SeededRng::new(3);
        for _ in 0..500 {
            let code = recovery_code(&rng);
            let text = code.expose();
            assert_eq!(text.len(), 11, "{text}");
            let (a, b) = text.split_once('-').unwrap();
            assert_eq!((a.len(), b.len()), (5, 5), "{text}");
            assert!(
                a.chars()
                    .chain(b.chars())
                    .all(|c| RECOVERY_CODE_SYMBOLS.contains(c)),
                "{text}"
            );
            assert_eq!(normalize_recovery_code(text), format!("{a}{b}"));
        }
        // 32 symbols, none of the easily confused letters, ten of them: 50 bits.
        assert_eq!(RECOVERY_CODE_SYMBOLS.len(), 32);
        assert!(!RECOVERY_CODE_SYMBOLS.contains(['I', 'L', 'O', 'U']));
        let bits = RECOVERY_CODE_LEN as f64 * (RECOVERY_CODE_SYMBOLS.len() as f64).log2();
        assert!(bits >= 50.0, "{bits} bits");
    }

    /// Every symbol in every position is about equally likely (no symbol or position is fixed,
    /// as a bad split of the encoded bytes would make the trailing ones): 32,000 codes, each
    /// count within a loose band around the expected 1,000.
    #[test]
    fn recovery_code_symbols_are_uniform_in_every_position() {
        let rng = SeededRng::new(11);
        let mut counts = [[0u32; 32]; RECOVERY_CODE_LEN];
        let mut seen = std::collections::HashSet::new();
        for _ in 0..32_000 {
            let code = normalize_recovery_code(recovery_code(&rng).expose());
            assert!(seen.insert(code.clone()), "a repeat: {code}");
            for (pos, c) in code.chars().enumerate() {
                let Some(i) = RECOVERY_CODE_SYMBOLS.find(c) else {
                    panic!("{c} in {code}");
                };
                counts[pos][i] += 1;
            }
        }
        for (pos, row) in counts.iter().enumerate() {
            for (i, n) in row.iter().enumerate() {
                assert!(
                    (850..=1150).contains(n),
                    "position {pos}, symbol {}: {n}",
                    &RECOVERY_CODE_SYMBOLS[i..=i]
                );
            }
        }
    }

    #[test]
    fn recovery_codes_are_read_as_typed() {
        let code = "7KQ4M-XW9PD";
        let want = recovery_code_hash("user-1", code);
        for typed in [
            "7KQ4MXW9PD",
            "7kq4m-xw9pd",
            " 7kq4m xw9pd ",
            "7KQ4M--XW9PD",
            "7-K-Q-4-M-X-W-9-P-D",
            "7kq4m\txw9pd\n",
        ] {
            assert_eq!(recovery_code_hash("user-1", typed), want, "{typed:?}");
        }
        // O, I and L are the digits they look like.
        assert_eq!(
            recovery_code_hash("user-1", "1O0IL-ABCDE"),
            recovery_code_hash("user-1", "10011-ABCDE")
        );
        // Another code, or the same code of another user, is another hash.
        assert_ne!(recovery_code_hash("user-1", "7KQ4M-XW9PE"), want);
        assert_ne!(recovery_code_hash("user-2", code), want);
    }

    #[test]
    fn aead_round_trip_and_binding() {
        let rng = SeededRng::new(4);
        let key = ServerKey::generate(&rng);
        let data = encrypt(&key, b"secret", b"user-1", &rng).unwrap();
        assert_eq!(decrypt(&key, &data, b"user-1").unwrap().expose(), b"secret");
        assert_eq!(decrypt(&key, &data, b"user-2"), Err(CryptoError::Decrypt));
        let other = ServerKey::generate(&rng);
        assert_eq!(decrypt(&other, &data, b"user-1"), Err(CryptoError::Decrypt));
        assert_eq!(
            decrypt(&key, &data[..10], b"user-1"),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            ServerKey::from_bytes(&[0u8; 31]).err(),
            Some(CryptoError::KeyLength)
        );
    }

    #[test]
    fn argon2_hash_verify_and_rehash() {
        let rng = SeededRng::new(5);
        let cheap = Argon2Params {
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
        };
        let phc = argon2_hash(&cheap, b"pw", &rng).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        let ok = argon2_verify(&cheap, b"pw", &phc).unwrap();
        assert_eq!(
            ok,
            PasswordMatch {
                matches: true,
                needs_rehash: false
            }
        );
        let bad = argon2_verify(&cheap, b"px", &phc).unwrap();
        assert!(!bad.matches);
        let newer = Argon2Params {
            m_cost: 128,
            ..cheap
        };
        assert!(argon2_verify(&newer, b"pw", &phc).unwrap().needs_rehash);
        assert_eq!(
            argon2_verify(&cheap, b"pw", "nope"),
            Err(CryptoError::MalformedHash)
        );
    }

    #[test]
    fn app_secret_hash_verifies() {
        let h = app_secret_hash("abc");
        assert!(verify_app_secret("abc", &h));
        assert!(!verify_app_secret("abd", &h));
    }
}

//! Passwords: the rules a new password must meet, and argon2id hashing and verification on the
//! runtime's blocking pool (a hash takes tens of milliseconds of CPU and must not stall the async
//! workers), one per core at a time in a working memory kept for reuse.

use std::fmt;

use std::sync::{LazyLock, Mutex, PoisonError};

use argon2::password_hash::phc;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};

use crate::crypto::blocking;
use crate::{Error, FieldError, Result};

/// Shortest acceptable password, in characters (NIST SP 800-63B allows 8; clinics hold PHI).
pub const MIN_CHARS: usize = 12;
/// Longest acceptable password, in characters: long passphrases are welcome, megabytes are not.
pub const MAX_CHARS: usize = 1024;

/// argon2id with OWASP's recommended parameters: 19 MiB, 2 passes, 1 lane.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// A hash of a password nobody knows, with the same parameters as real ones: verified when the
/// e-mail does not exist so that an unknown address takes as long as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$K4W0c8vQm3l2pNf9Yy1b2v3x4Z5a6B7c8D9e0F1g2H4";

/// Passwords seen most often in breach corpora that are long enough to pass the length rule;
/// compared case-insensitively.
const COMMON: &str = include_str!("common-passwords.txt");

fn argon2() -> Result<Argon2<'static>> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .map_err(|e| Error::internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A new password that meets the rules; only ever held as a secret.
pub struct Password(SecretString);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

impl Password {
    /// Checks a password chosen at sign-up or for a new staff member.
    pub fn parse_new(raw: SecretString) -> Result<Self, FieldError> {
        let invalid = |code, message: &str| FieldError::new("password", code, message);
        let value = raw.expose_secret();
        let chars = value.chars().count();
        if chars < MIN_CHARS {
            return Err(invalid(
                "too_short",
                "use at least 12 characters; a few unrelated words make a good password",
            ));
        }
        if chars > MAX_CHARS {
            return Err(invalid("too_long", "use at most 1024 characters"));
        }
        if is_common(value) {
            return Err(invalid(
                "too_common",
                "this password is one of the most common ones and is easy to guess; choose another",
            ));
        }
        Ok(Self(raw))
    }
}

/// Whether `value` is on the common-password list or is one character repeated.
fn is_common(value: &str) -> bool {
    let lower = value.to_lowercase();
    let mut chars = lower.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return true;
    }
    COMMON
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .any(|common| common == lower)
}

/// A PHC-format argon2 hash (`$argon2id$v=19$…`), as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a hash read back from storage.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

/// Hashes a new password with a fresh random salt.
pub async fn hash(password: Password) -> Result<PasswordHash> {
    let mut salt = [0u8; argon2::RECOMMENDED_SALT_LEN];
    rand::rng().fill_bytes(&mut salt);
    with_workspace(move |memory| {
        let argon2 = argon2()?;
        let hash = compute(
            &argon2,
            password.0.expose_secret().as_bytes(),
            &salt,
            Params::DEFAULT_OUTPUT_LEN,
            memory,
        )?;
        let phc = phc::PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: phc::ParamsString::try_from(argon2.params()).map_err(hash_error)?,
            salt: Some(phc::Salt::new(&salt).map_err(hash_error)?),
            hash: Some(hash),
        };
        Ok(PasswordHash(phc.to_string()))
    })
    .await?
}

/// argon2's working memory (19 MiB a hash) is allocated once per concurrent hash and kept,
/// and as many hashes run at once as there are cores (more would only queue for the CPU).
///
/// Allocating it per hash, as `PasswordHasher` does, made the process keep it for good:
/// glibc raises its mmap threshold after the first 19 MiB block is freed, so later ones come
/// from per-thread arenas that are never given back. An instance that served 1 000 sign-ups
/// held 939 MiB more than one that did not (BENCHMARKS.md). With reuse, the memory is at most
/// one block per core, whatever the number of hashes.
struct Workspaces {
    running: tokio::sync::Semaphore,
    free: Mutex<Vec<Vec<Block>>>,
}

static WORKSPACES: LazyLock<Workspaces> = LazyLock::new(|| Workspaces {
    running: tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
    ),
    free: Mutex::new(Vec::new()),
});

/// Runs `work` on the blocking pool with a kept working memory (empty on its first use),
/// waiting for a core's turn first.
async fn with_workspace<T: Send + 'static>(
    work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
) -> Result<T> {
    let turn = WORKSPACES
        .running
        .acquire()
        .await
        .map_err(Error::internal)?;
    blocking(move || {
        // The turn ends with the hash, not with the request: a caller that goes away mid-hash
        // (a dropped connection) must not let another hash, and another memory, start beside it.
        let _turn = turn;
        let kept = WORKSPACES
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut memory = kept.unwrap_or_default();
        let result = work(&mut memory);
        WORKSPACES
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memory);
        result
    })
    .await
}

/// argon2 of `password` and `salt` into an output of `len` bytes, in `memory` (sized here to
/// what `argon2`'s parameters need: allocated on a workspace's first hash, then reused).
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    len: usize,
    memory: &mut Vec<Block>,
) -> Result<phc::Output> {
    let mut out = vec![0u8; len];
    memory.resize(argon2.params().block_count(), Block::default());
    argon2
        .hash_password_into_with_memory(password, salt, &mut out, memory.as_mut_slice())
        .map_err(hash_error)?;
    phc::Output::new(&out).map_err(hash_error)
}

fn hash_error(err: impl fmt::Display) -> Error {
    Error::internal(format!("argon2 hashing failed: {err}"))
}

/// Whether `candidate` hashes to `stored` (a PHC argon2 hash), compared in constant time.
fn matches(candidate: &[u8], stored: &phc::PasswordHash, memory: &mut Vec<Block>) -> Result<bool> {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).map_err(hash_error)?;
    let version =
        Version::try_from(stored.version.unwrap_or(Version::V0x13.into())).map_err(hash_error)?;
    let params = Params::try_from(stored).map_err(hash_error)?;
    let argon2 = Argon2::new(algorithm, version, params);
    let computed = compute(&argon2, candidate, salt.as_ref(), expected.len(), memory)?;
    // `Output`'s equality is constant-time.
    Ok(computed == *expected)
}

/// A hash of 256 random bits nobody ever sees: the password of a staff member invited to
/// choose their own, so that until they do, no password logs them in (and a login attempt
/// takes as long as any other).
pub async fn unusable() -> Result<PasswordHash> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hash(Password(SecretString::from(crate::crypto::hex(&bytes)))).await
}

/// Whether `candidate` matches `stored`. With no stored hash (unknown e-mail) a dummy hash is
/// verified instead, so the answer takes as long either way. Candidates longer than
/// [`MAX_CHARS`] never match (they cannot have been set), but are still timed like the rest.
pub async fn verify(candidate: SecretString, stored: Option<PasswordHash>) -> Result<bool> {
    with_workspace(move |memory| {
        let known = stored.is_some();
        let phc = stored.map_or_else(|| DUMMY_HASH.to_owned(), |h| h.0);
        let parsed = phc::PasswordHash::new(&phc)
            .map_err(|e| Error::internal(format!("a stored password hash is malformed: {e}")))?;
        let value = candidate.expose_secret();
        let length_ok = value.chars().count() <= MAX_CHARS;
        // Bounded by bytes too, so a huge candidate costs no more than a long real one.
        let input = &value.as_bytes()[..value.len().min(MAX_CHARS * 4)];
        let matches = matches(input, &parsed, memory)?;
        Ok(known && length_ok && matches)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn each_password_rule_names_its_reason() {
        let code = |s: &str| Password::parse_new(secret(s)).unwrap_err().code;
        assert_eq!(code("short-pass1"), "too_short");
        assert_eq!(code(&"ab".repeat(513)), "too_long");
        assert_eq!(code("Password1234"), "too_common");
        assert_eq!(code("aaaaaaaaaaaaaaaa"), "too_common");
        assert!(Password::parse_new(secret("correct horse battery")).is_ok());
        assert!(
            Password::parse_new(secret(&"éàüö".repeat(3))).is_ok(),
            "characters, not bytes"
        );
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hashed = hash(Password::parse_new(secret("correct horse battery")).unwrap())
            .await
            .unwrap();
        assert!(
            hashed
                .as_str()
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
        assert!(
            verify(secret("correct horse battery"), Some(hashed.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify(secret("correct horse battery!"), Some(hashed))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_matches_but_is_verified_all_the_same() {
        assert!(!verify(secret("anything at all"), None).await.unwrap());
        // The dummy hash must parse with the real parameters, or the timing would differ.
        assert!(argon2::PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crates_own_hasher_and_verifier() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let ours = hash(Password::parse_new(secret("correct horse battery")).unwrap())
            .await
            .unwrap();
        let parsed = argon2::PasswordHash::new(ours.as_str()).unwrap();
        let crate_argon2 = argon2().unwrap();
        assert!(
            crate_argon2
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        assert!(
            crate_argon2
                .verify_password(b"wrong horse", &parsed)
                .is_err()
        );
        // A hash made by the crate (as stored before working memory was kept) still verifies,
        // and so does one with other parameters (the kept memory resized to them).
        for theirs in [
            crate_argon2.hash_password(b"another long secret").unwrap(),
            Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(8 * 1024, 1, 1, None).unwrap(),
            )
            .hash_password(b"another long secret")
            .unwrap(),
        ] {
            let stored = PasswordHash::from_stored(theirs.to_string());
            assert!(
                verify(secret("another long secret"), Some(stored.clone()))
                    .await
                    .unwrap()
            );
            assert!(
                !verify(secret("another long secreT"), Some(stored))
                    .await
                    .unwrap()
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_hashes_at_once_keep_at_most_one_working_memory_per_core() {
        let hashes = (0..12).map(|i| {
            tokio::spawn(hash(
                Password::parse_new(secret(&format!("correct horse battery {i}"))).unwrap(),
            ))
        });
        for done in futures::future::join_all(hashes).await {
            done.unwrap().unwrap();
        }
        // Other tests hash at the same time and may hold some of them right now.
        let kept = WORKSPACES.free.lock().unwrap().len();
        let cores = std::thread::available_parallelism().unwrap().get();
        assert!(
            kept <= cores,
            "{kept} working memories kept for {cores} cores"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_hash_whose_caller_went_away_still_holds_its_turn_until_it_ends() {
        let cores = std::thread::available_parallelism().unwrap().get();
        let start = |i: usize| {
            tokio::spawn(hash(
                Password::parse_new(secret(&format!("correct horse battery {i}"))).unwrap(),
            ))
        };
        // Callers that go away while their hashes run (a dropped connection)…
        let abandoned: Vec<_> = (0..cores).map(start).collect();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        for task in &abandoned {
            task.abort();
        }
        // …while others keep asking.
        for done in futures::future::join_all((0..cores).map(start)).await {
            done.unwrap().unwrap();
        }
        // Once the abandoned hashes have ended too, no more memories exist than cores.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let kept = WORKSPACES.free.lock().unwrap().len();
        assert!(
            kept <= cores,
            "{kept} working memories kept for {cores} cores"
        );
    }

    #[test]
    fn debug_output_never_shows_a_password_or_its_hash() {
        let password = Password::parse_new(secret("correct horse battery")).unwrap();
        assert_eq!(format!("{password:?}"), "Password([REDACTED])");
        let hash = PasswordHash::from_stored("$argon2id$v=19$secret".to_owned());
        assert_eq!(format!("{hash:?}"), "PasswordHash([REDACTED])");
    }
}

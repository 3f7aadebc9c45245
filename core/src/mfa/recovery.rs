//! Recovery codes: ten single-use codes shown once at enrolment, for a lost phone. Stored only as
//! SHA-256 digests: a code is 50 random bits, far beyond guessing within the verification
//! throttle, so a slow hash would add nothing but latency.

use rand::Rng as _;
use sha2::{Digest as _, Sha256};

use crate::crypto::hex;

/// How many codes an enrolment gives.
pub const RECOVERY_CODES: usize = 10;
/// Crockford-style alphabet without look-alikes (no 0/O, 1/I/L, U).
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters per half (`XXXXX-XXXXX`).
const HALF: usize = 5;

/// Fresh codes, formatted `XXXXX-XXXXX`.
pub fn generate() -> Vec<String> {
    let mut rng = rand::rng();
    let mut half = || -> String {
        (0..HALF)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect()
    };
    (0..RECOVERY_CODES)
        .map(|_| format!("{}-{}", half(), half()))
        .collect()
}

/// Whether `code` looks like a recovery code rather than a TOTP code.
pub fn looks_like_one(code: &str) -> bool {
    normalise(code).len() == 2 * HALF
}

/// The stored form of a code as typed: case, spaces and the hyphen do not matter.
pub fn digest(code: &str) -> String {
    hex(&Sha256::digest(normalise(code).as_bytes()))
}

fn normalise(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_are_generated_in_the_shown_format() {
        let codes = generate();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(code.as_bytes()[5], b'-');
            assert!(looks_like_one(code));
        }
    }

    #[test]
    fn a_code_typed_in_lowercase_or_without_the_hyphen_has_the_same_digest() {
        assert_eq!(digest("ABCDE-FGHJK"), digest("abcde fghjk"));
        assert_ne!(digest("ABCDE-FGHJK"), digest("ABCDE-FGHJM"));
        assert!(!looks_like_one("123456"));
    }
}

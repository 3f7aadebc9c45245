use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::{Error, FieldError};

/// A Cliniko shard (`au1`, `uk2`, …): the region an account lives in, taken from its API key.
///
/// Validated against Cliniko's documented pattern rather than a fixed list (new shards appear);
/// only a validated shard is ever substituted into the base URL.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Shard(String);

impl Shard {
    /// `^[a-z]{2}\d{1,2}$`, case-insensitive, stored lowercase.
    pub fn parse(raw: &str) -> Option<Self> {
        let b = raw.as_bytes();
        let valid = (3..=4).contains(&b.len())
            && b[..2].iter().all(u8::is_ascii_alphabetic)
            && b[2..].iter().all(u8::is_ascii_digit);
        valid.then(|| Self(raw.to_ascii_lowercase()))
    }

    /// The shard of keys without a suffix (Cliniko's original region).
    pub fn default_shard() -> Self {
        Self("au1".to_owned())
    }

    /// The lowercase shard name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Shard {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value).ok_or_else(|| format!("{value:?} is not a Cliniko shard"))
    }
}

impl From<Shard> for String {
    fn from(shard: Shard) -> String {
        shard.0
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shard({})", self.0)
    }
}

/// A Cliniko API key and the shard it belongs to. The key is a secret: its `Debug` shows only the
/// shard and the last four characters.
#[derive(Clone)]
pub struct ClinikoApiKey {
    secret: SecretString,
    shard: Shard,
}

/// The longest key accepted (real keys are well under 100 characters).
const MAX_KEY_LEN: usize = 256;

/// The shortest key body (the part before the shard suffix) taken as a new key. Cliniko's keys
/// are base64 text; the shortest its documentation shows has a 28-character body.
const MIN_NEW_KEY_BODY_LEN: usize = 20;

impl ClinikoApiKey {
    /// Parses a key as pasted by a user: surrounding whitespace is dropped; the shard is the
    /// suffix after the last `-` (`au1` when there is no `-`); a suffix that is not a shard is refused.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let invalid = |code, message: &str| {
            Error::Validation(vec![FieldError::new("api_key", code, message)])
        };
        let key = raw.trim();
        if key.is_empty() {
            return Err(invalid(
                "required",
                "paste the API key from Cliniko (My Info → Manage API keys)",
            ));
        }
        if key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "malformed",
                "this does not look like a Cliniko API key; copy it again from Cliniko",
            ));
        }
        let shard = match key.rsplit_once('-') {
            None => Shard::default_shard(),
            Some((body, suffix)) if !body.is_empty() => Shard::parse(suffix).ok_or_else(|| {
                invalid("unknown_shard", "the key's ending after the last \"-\" is not a Cliniko region (such as au1 or uk2); copy the whole key again")
            })?,
            Some(_) => return Err(invalid("malformed", "this does not look like a Cliniko API key; copy it again from Cliniko")),
        };
        Ok(Self {
            secret: SecretString::from(key.to_owned()),
            shard,
        })
    }

    /// Parses a key pasted to be connected: [`parse`](Self::parse), and the key must also look
    /// like one of Cliniko's (base64 text of at least 20 characters before the shard), so that
    /// something else pasted by mistake — a password, a key's name, `garbage` — is explained
    /// here instead of being sent to Cliniko and answered with a bare 401. Stored keys are read
    /// with `parse` alone: Cliniko accepted them once, and a stricter rule must not lock them out.
    pub fn parse_new(raw: &str) -> Result<Self, Error> {
        let key = Self::parse(raw)?;
        let exposed = key.expose();
        let body = exposed.rsplit_once('-').map_or(exposed, |(body, _)| body);
        let base64 =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-');
        let problem = if !body.bytes().all(base64) {
            Some((
                "malformed",
                "a Cliniko API key has only letters, digits and + / = _ -; copy the key again from Cliniko (My Info → Manage API keys)",
            ))
        } else if body.len() < MIN_NEW_KEY_BODY_LEN {
            Some((
                "too_short",
                "this is too short to be a Cliniko API key (they are long strings of letters and digits ending in a region such as -au2); copy the whole key from Cliniko (My Info → Manage API keys)",
            ))
        } else {
            None
        };
        match problem {
            Some((code, message)) => Err(Error::Validation(vec![FieldError::new(
                "api_key", code, message,
            )])),
            None => Ok(key),
        }
    }

    /// The shard that routes this key.
    pub fn shard(&self) -> &Shard {
        &self.shard
    }

    /// The key itself, for the `Authorization` header and for encryption at rest only.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    /// The last four characters of the key without its shard suffix: all the UI ever shows.
    pub fn last4(&self) -> String {
        let key = self.expose();
        let body = key.rsplit_once('-').map_or(key, |(body, _)| body);
        let start = body.len().saturating_sub(4);
        body[start..].to_owned()
    }
}

impl fmt::Debug for ClinikoApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClinikoApiKey(…{}, {})", self.last4(), self.shard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_KEY: &str = "MxJrZXkiOiI1Njd1amJmZTQ1NyJ9-au2";

    #[test]
    fn the_shard_is_the_suffix_after_the_last_hyphen() {
        let key = ClinikoApiKey::parse(&format!("  {DOC_KEY}\n")).unwrap();
        assert_eq!(key.shard().as_str(), "au2");
        assert_eq!(key.expose(), DOC_KEY);
        assert_eq!(
            ClinikoApiKey::parse("abc-def-UK2")
                .unwrap()
                .shard()
                .as_str(),
            "uk2"
        );
    }

    #[test]
    fn a_key_without_a_suffix_is_in_au1() {
        assert_eq!(
            ClinikoApiKey::parse("MxJrZXkiOiI1Njd1amJmZTQ1NyJ9")
                .unwrap()
                .shard()
                .as_str(),
            "au1"
        );
    }

    #[test]
    fn a_suffix_that_is_not_a_shard_is_refused_and_never_used() {
        for bad in [
            "abc-evil.com",
            "abc-a1",
            "abc-abc1",
            "abc-au123",
            "abc-",
            "-au1",
            "has space-au1",
            "",
        ] {
            assert!(
                matches!(ClinikoApiKey::parse(bad), Err(Error::Validation(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_new_key_must_look_like_one_of_clinikos() {
        for good in [
            DOC_KEY,
            "MxJrZXkiOiI1Njd1amJmZTQ1NyJ9",
            "MS0xMjM0NTY3ODkwYWJjZGVm-uk2",
        ] {
            assert!(ClinikoApiKey::parse_new(good).is_ok(), "{good:?}");
        }
        for (bad, code) in [
            ("garbage", "too_short"),
            ("garbage-au1", "too_short"),
            ("MxJrZXkiOiI1Njd1amJm*ZTQ1NyJ9-au2", "malformed"),
            ("MxJrZXkiOiI1Njd1amJm.ZTQ1NyJ9", "malformed"),
            ("abc-evil.com", "unknown_shard"),
        ] {
            match ClinikoApiKey::parse_new(bad) {
                Err(Error::Validation(fields)) => assert_eq!(fields[0].code, code, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        // A key stored before the rule existed is still read.
        assert!(ClinikoApiKey::parse("garbage").is_ok());
    }

    #[test]
    fn debug_and_last4_never_show_the_key() {
        let key = ClinikoApiKey::parse(DOC_KEY).unwrap();
        assert_eq!(key.last4(), "NyJ9");
        let printed = format!("{key:?}");
        assert!(!printed.contains("MxJrZXki"));
        assert_eq!(printed, "ClinikoApiKey(…NyJ9, au2)");
    }
}

//! Patients by phone number. Cliniko has no phone filter, so a search by phone would mean
//! reading every patient of the clinic. The poller already reads every patient version to diff
//! it; it also keeps, per patient, keyed hashes of the last [`KEY_DIGITS`] digits of each of
//! their numbers (under the clinic's snapshot key, like the fingerprints: a guess cannot be
//! confirmed without the clinic's key, and no number is stored). A search hashes the number
//! asked for the same way, finds the candidates, reads them from Cliniko in one call and keeps
//! those whose number really matches ([`same_number`]) — so the index only narrows, and what is
//! shown is always Cliniko's live data. Its staleness is the poller's: a number added in
//! Cliniko is found once the next poll read it (seconds; `doctor`-busy clinics sooner).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::PollStore;
use super::fingerprint::{Fingerprint, Fingerprints};
use crate::Result;
use crate::cliniko::{ClinikoId, Patient};
use crate::ids::TenantId;
use crate::secrets::{SecretPurpose, Vault};

/// How many trailing digits the index keys on: short enough that a number written with or
/// without its country code or trunk prefix shares them, long enough that few patients of one
/// clinic do.
pub const KEY_DIGITS: usize = 7;

/// The longest country calling code (ITU-T E.164).
const COUNTRY_CODE_DIGITS: usize = 3;

/// How long since the last successful poll of a clinic its index is still answered from: well
/// beyond the idle interval and the backoff of a clinic whose Cliniko refuses for a while, so
/// only a clinic nobody polls (every instance's polling off, Cliniko disconnected) is stale.
pub const MAX_LAG: Duration = Duration::from_secs(10 * 60);

/// What the index answers for a clinic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneLookup {
    /// The patients with a number under one of the keys (candidates: check each).
    Ready(Vec<ClinikoId>),
    /// The clinic's patients have not all been read since the index began (a clinic connected
    /// moments ago, not polled yet or still being read; or the first read after an upgrade): a
    /// search now could miss patients.
    Indexing,
    /// No poll of the clinic succeeded lately (see [`MAX_LAG`]): numbers changed since would be
    /// missed.
    Stale,
}

/// Finds a clinic's patients by phone number through the poller's index.
#[derive(Debug, Clone)]
pub struct PhoneIndex {
    store: Arc<dyn PollStore>,
    vault: Vault,
}

impl PhoneIndex {
    /// The index the poller keeps in `store`, keyed under each clinic's key from `vault`.
    pub fn new(store: Arc<dyn PollStore>, vault: Vault) -> Self {
        Self { store, vault }
    }

    /// The clinic's patients who may have one of `numbers` (each with at least
    /// [`KEY_DIGITS`] digits; shorter ones match nothing), as of `now`.
    ///
    /// # Errors
    /// What the vault or the store return.
    pub async fn candidates(
        &self,
        tenant: TenantId,
        numbers: &[String],
        now: DateTime<Utc>,
    ) -> Result<PhoneLookup> {
        let fingerprints = Fingerprints::new(
            self.vault
                .mac_key(tenant, SecretPurpose::PollSnapshot)
                .await?,
        );
        let mut keys = Vec::new();
        for number in numbers {
            keys.extend(key(&fingerprints, number)?);
        }
        let fresh_since = now - chrono::Duration::from_std(MAX_LAG).unwrap_or_default();
        self.store
            .patients_by_phone(tenant, &keys, fresh_since)
            .await
    }
}

/// The digits of a number as written (`+61 (0)4 1234-5678` → `610412345678`).
pub fn digits(raw: &str) -> String {
    raw.chars().filter(char::is_ascii_digit).collect()
}

/// Whether two numbers are the same: their digits are equal, or — leading zeros (a trunk
/// prefix) dropped — one is the other with a country code of 1 to 3 digits in front
/// (`0412 345 678` and `+61 412 345 678`; `(555) 123-4567` and `+1 555 123 4567`). Numbers
/// shorter than [`KEY_DIGITS`] digits match nothing.
pub fn same_number(a: &str, b: &str) -> bool {
    let (a, b) = (digits(a), digits(b));
    if a.len() < KEY_DIGITS || b.len() < KEY_DIGITS {
        return false;
    }
    if a == b {
        return true;
    }
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= KEY_DIGITS
        && (short == long
            || long.ends_with(short) && long.len() - short.len() <= COUNTRY_CODE_DIGITS)
}

/// The index key of a number: the keyed hash of its last [`KEY_DIGITS`] digits, or `None`
/// when it has fewer.
///
/// # Errors
/// `Internal` when it cannot be hashed.
pub fn key(fingerprints: &Fingerprints, raw: &str) -> Result<Option<Fingerprint>> {
    let digits = digits(raw);
    let Some(tail) = digits.get(digits.len().saturating_sub(KEY_DIGITS)..) else {
        return Ok(None);
    };
    if tail.len() < KEY_DIGITS {
        return Ok(None);
    }
    fingerprints.of("phone", &tail).map(Some)
}

/// The index keys of a patient's numbers, each once, in a stable order.
///
/// # Errors
/// `Internal` when one cannot be hashed.
pub fn keys_of(fingerprints: &Fingerprints, patient: &Patient) -> Result<Vec<Fingerprint>> {
    let mut keys = Vec::new();
    for phone in patient.phones() {
        if let Some(number) = &phone.number {
            keys.extend(key(fingerprints, number)?);
        }
    }
    keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    keys.dedup();
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::polling::fingerprint::test_fingerprints;

    #[test]
    fn a_number_matches_itself_however_it_is_written() {
        for (a, b) in [
            ("61444444444", "+61 444 444 444"),
            ("0444 444 444", "+61 444 444 444"),
            ("0444-444-444", "61444444444"),
            ("(555) 123-4567", "+1 555 123 4567"),
            ("020 7946 0958", "+44 20 7946 0958"),
        ] {
            assert!(same_number(a, b), "{a} = {b}");
            assert!(same_number(b, a), "{b} = {a}");
        }
    }

    #[test]
    fn different_numbers_and_fragments_do_not_match() {
        for (a, b) in [
            ("0444 444 444", "0444 444 445"),
            // Same last digits, but more than a country code in front.
            ("444 4444", "+61 2 9999 444 4444"),
            ("12345", "12345"),
            ("", ""),
            ("61444444444", "71444444445"),
        ] {
            assert!(!same_number(a, b), "{a} ≠ {b}");
        }
    }

    #[test]
    fn keys_ignore_formatting_and_the_country_code() {
        let fingerprints = test_fingerprints();
        let key = |raw| key(&fingerprints, raw).unwrap();
        assert!(key("+61 444 444 444").is_some());
        assert_eq!(key("+61 444 444 444"), key("0444-444-444"));
        assert_ne!(key("0444 444 444"), key("0444 444 445"));
        assert_eq!(key("12 34 56"), None);
    }
}

//! Budget units an operation booked before its first call ([`Budget::reserve`]), spent by its
//! calls instead of asking the shared budget again.
//!
//! [`Budget::reserve`]: super::budget::Budget::reserve

use std::sync::atomic::{AtomicU32, Ordering};

use super::key_id::KeyId;

/// Units booked for one operation with one key.
#[derive(Debug)]
pub(crate) struct Prepaid {
    key: KeyId,
    left: AtomicU32,
}

impl Prepaid {
    /// `units` booked on `key`.
    pub(crate) fn new(key: KeyId, units: u32) -> Self {
        Self {
            key,
            left: AtomicU32::new(units),
        }
    }

    /// Takes one unit for a call with `key`; `false` when none is left (or the call uses
    /// another key), and the call asks the shared budget as usual.
    pub(crate) fn take(&self, key: &KeyId) -> bool {
        *key == self.key
            && self
                .left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                    left.checked_sub(1)
                })
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use clinicgate_core::cliniko::ClinikoApiKey;

    use super::*;

    #[test]
    fn booked_units_are_spent_once_and_only_with_their_key() {
        let ours = KeyId::of(&ClinikoApiKey::parse("MxJrZXkiOiI1Njd1amJmZTQ1NyJ9-au2").unwrap());
        let other = KeyId::of(&ClinikoApiKey::parse("MxJrZXkiOiI1Njd1amJmZTQ1NyJ0-au2").unwrap());
        let prepaid = Prepaid::new(ours.clone(), 2);
        assert!(!prepaid.take(&other));
        assert!(prepaid.take(&ours));
        assert!(prepaid.take(&ours));
        assert!(!prepaid.take(&ours));
    }
}

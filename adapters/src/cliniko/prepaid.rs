//! Budget units an operation booked before its first call ([`Budget::reserve`]), spent by its
//! calls instead of asking the shared budget again. Units it did not need go back to the budget
//! when the operation's client is dropped, so an operation may book for its worst case (a
//! week of free times that needs a second page) without wasting the clinic's budget.

use std::sync::atomic::{AtomicU32, Ordering};

use super::budget::Budget;
use super::key_id::KeyId;

/// Units booked for one operation with one key.
#[derive(Debug)]
pub(crate) struct Prepaid {
    key: KeyId,
    left: AtomicU32,
    /// Where unused units go back; `None` in tests of the counting alone.
    budget: Option<Budget>,
}

impl Prepaid {
    /// `units` booked on `key` from `budget`.
    pub(crate) fn new(key: KeyId, units: u32, budget: Budget) -> Self {
        Self {
            key,
            left: AtomicU32::new(units),
            budget: Some(budget),
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

impl Drop for Prepaid {
    fn drop(&mut self) {
        let left = *self.left.get_mut();
        let (Some(budget), Ok(runtime)) =
            (self.budget.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        if left == 0 {
            return;
        }
        let key = self.key.clone();
        runtime.spawn(async move {
            if let Err(err) = budget.refund(&key, left).await {
                // The units come back with time anyway.
                tracing::debug!(error = %err, left, "could not give unused Cliniko budget back");
            }
        });
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
        let prepaid = Prepaid {
            key: ours.clone(),
            left: AtomicU32::new(2),
            budget: None,
        };
        assert!(!prepaid.take(&other));
        assert!(prepaid.take(&ours));
        assert!(prepaid.take(&ours));
        assert!(!prepaid.take(&ours));
    }
}

//! What the poller knew of a record before the version it is looking at.

use chrono::{DateTime, Utc};

/// What was known of a record before this version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prior<'a, S> {
    /// Its last version, as kept.
    Known(&'a S),
    /// Nothing: it appeared after ClinicGate started watching (a new record).
    New,
    /// Nothing, and it existed before ClinicGate started watching: the baseline, or an old
    /// record the baseline did not read (a past appointment). It is recorded silently.
    Adopted,
}

impl<S> Prior<'_, S> {
    /// The prior of a record never seen before: new when created after `watching_since`
    /// (ClinicGate's baseline of the clinic, less the overlap), adopted otherwise. A record
    /// without a creation time counts as new: missing a creation is worse than one extra event.
    pub fn first_sight(created_at: Option<DateTime<Utc>>, watching_since: DateTime<Utc>) -> Self {
        match created_at {
            Some(created) if created < watching_since => Self::Adopted,
            _ => Self::New,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_created_before_watching_began_is_adopted_and_a_later_one_is_new() {
        let since: DateTime<Utc> = "2030-01-01T10:00:00Z".parse().unwrap();
        let before = Some("2030-01-01T09:59:59Z".parse().unwrap());
        let after = Some(since);
        assert_eq!(Prior::<()>::first_sight(before, since), Prior::Adopted);
        assert_eq!(Prior::<()>::first_sight(after, since), Prior::New);
        assert_eq!(Prior::<()>::first_sight(None, since), Prior::New);
    }
}

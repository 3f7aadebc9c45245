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
    /// record the baseline did not read (a past appointment) last changed before watching
    /// began. It is recorded silently.
    Adopted,
    /// Nothing, it existed before ClinicGate started watching, and it changed since: an old
    /// record the baseline did not read (an appointment that ended days before the clinic
    /// connected, marked as not arrived today). What changed is unknown, so it counts as an
    /// update: missing a change is worse than one extra event.
    Unseen,
}

impl<S> Prior<'_, S> {
    /// The prior of a record never seen before: new when created after `watching_since`
    /// (ClinicGate's baseline of the clinic, less the overlap); otherwise unseen when changed
    /// after it, adopted when not. A record without a creation time counts as new, one without
    /// an update time as changed: missing a change is worse than one extra event.
    pub fn first_sight(
        created_at: Option<DateTime<Utc>>,
        updated_at: Option<DateTime<Utc>>,
        watching_since: DateTime<Utc>,
    ) -> Self {
        match (created_at, updated_at) {
            (Some(created), _) if created >= watching_since => Self::New,
            (None, _) => Self::New,
            (Some(_), Some(updated)) if updated < watching_since => Self::Adopted,
            (Some(_), _) => Self::Unseen,
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
        assert_eq!(
            Prior::<()>::first_sight(before, before, since),
            Prior::Adopted
        );
        assert_eq!(Prior::<()>::first_sight(after, after, since), Prior::New);
        assert_eq!(Prior::<()>::first_sight(None, before, since), Prior::New);
        // Created before watching began, changed after: an update of unknown content.
        assert_eq!(
            Prior::<()>::first_sight(before, after, since),
            Prior::Unseen
        );
        assert_eq!(Prior::<()>::first_sight(before, None, since), Prior::Unseen);
    }
}

//! Available times over any range: Cliniko answers at most 7 days per call, counted in the
//! business's time zone, and refuses days before today there. This module cuts a range into
//! such windows and decides which local day a returned time falls on.

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use clinicgate_core::cliniko::MAX_AVAILABILITY_DAYS;
use clinicgate_core::{Error, Result};

/// Days per Cliniko call (`from` and `to` inclusive): 7, read as `to = from + 6`, the safe reading
/// of "at most 7 days apart".
const WINDOW_DAYS: u64 = 7;

/// `from..=to` cut into windows of at most [`WINDOW_DAYS`] days, starting no earlier than `today`
/// (business-local). Empty when the whole range is in the past.
///
/// # Errors
/// [`Error::Validation`] when `to` is before `from` or the range is longer than
/// [`MAX_AVAILABILITY_DAYS`].
pub(crate) fn windows(
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> Result<Vec<(NaiveDate, NaiveDate)>> {
    if to < from {
        return Err(Error::invalid(
            "to",
            "before_from",
            "the last day is before the first day",
        ));
    }
    if (to - from).num_days() >= MAX_AVAILABILITY_DAYS {
        return Err(Error::invalid(
            "to",
            "range_too_long",
            format!("ask for at most {MAX_AVAILABILITY_DAYS} days at a time"),
        ));
    }
    let mut windows = Vec::new();
    let mut start = from.max(today);
    while start <= to {
        let end = start
            .checked_add_days(Days::new(WINDOW_DAYS - 1))
            .map_or(to, |end| end.min(to));
        windows.push((start, end));
        let Some(next) = end.checked_add_days(Days::new(1)) else {
            break;
        };
        start = next;
    }
    Ok(windows)
}

/// Today in `zone`.
pub(crate) fn today_in(zone: Tz) -> NaiveDate {
    Utc::now().with_timezone(&zone).date_naive()
}

/// The local day of `at` in `zone`.
pub(crate) fn local_day(at: DateTime<Utc>, zone: Tz) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_long_range_is_cut_into_seven_day_windows_that_cover_it_exactly() {
        let windows = windows(day("2030-01-01"), day("2030-01-20"), day("2029-12-01")).unwrap();
        assert_eq!(
            windows,
            [
                (day("2030-01-01"), day("2030-01-07")),
                (day("2030-01-08"), day("2030-01-14")),
                (day("2030-01-15"), day("2030-01-20")),
            ]
        );
    }

    #[test]
    fn days_before_today_are_skipped_and_a_past_range_needs_no_call() {
        assert_eq!(
            windows(day("2030-01-01"), day("2030-01-09"), day("2030-01-05")).unwrap(),
            [(day("2030-01-05"), day("2030-01-09"))]
        );
        assert!(
            windows(day("2030-01-01"), day("2030-01-02"), day("2030-01-05"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn reversed_or_overlong_ranges_are_refused() {
        assert!(windows(day("2030-01-02"), day("2030-01-01"), day("2030-01-01")).is_err());
        assert!(windows(day("2030-01-01"), day("2030-04-02"), day("2030-01-01")).is_err());
        assert_eq!(
            windows(day("2030-01-01"), day("2030-04-01"), day("2030-01-01"))
                .unwrap()
                .len(),
            13
        );
    }

    #[test]
    fn the_local_day_depends_on_the_business_time_zone() {
        let at: DateTime<Utc> = "2030-01-01T20:00:00Z".parse().unwrap();
        assert_eq!(
            local_day(at, chrono_tz::Australia::Sydney),
            day("2030-01-02")
        );
        assert_eq!(local_day(at, chrono_tz::Europe::London), day("2030-01-01"));
        assert_eq!(
            local_day(at, chrono_tz::America::Toronto),
            day("2030-01-01")
        );
    }
}

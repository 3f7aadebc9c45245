//! Available times over any range: Cliniko answers at most 7 days per call, counted in the
//! business's time zone, and refuses days before today there. This module cuts a range into
//! such windows, says how many calls a range may take, and decides which local day a returned
//! time falls on. It is the only place that knows Cliniko's windows: callers of
//! `ClinikoClient::available_times` ask for any range and book `available_times_calls` for it.

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use clinicgate_core::cliniko::MAX_AVAILABILITY_DAYS;
use clinicgate_core::{Error, Result};

/// Days per Cliniko call (`from` and `to` inclusive): 7, read as `to = from + 6`, the safe reading
/// of "at most 7 days apart".
const WINDOW_DAYS: u64 = 7;

/// Pages of free times one window may need (100 a page): a full-time week can have more free
/// times than one page holds.
const PAGES_PER_WINDOW: u32 = 2;

/// The most calls the free times of `from..=to` take: [`PAGES_PER_WINDOW`] for each window,
/// counted from `from` (days before today, which are skipped, only make it fewer). 0 for a range
/// [`windows`] refuses: it is refused before any call.
pub(crate) fn most_calls(from: NaiveDate, to: NaiveDate) -> u32 {
    windows(from, to, from).map_or(0, |windows| {
        u32::try_from(windows.len())
            .unwrap_or(u32::MAX)
            .saturating_mul(PAGES_PER_WINDOW)
    })
}

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
    fn a_range_may_take_two_calls_for_each_of_its_windows() {
        assert_eq!(most_calls(day("2030-05-10"), day("2030-05-10")), 2);
        assert_eq!(most_calls(day("2030-05-10"), day("2030-05-16")), 2);
        assert_eq!(most_calls(day("2030-05-10"), day("2030-05-22")), 4);
        assert_eq!(most_calls(day("2030-05-10"), day("2030-07-10")), 18);
        assert_eq!(most_calls(day("2030-05-10"), day("2030-05-09")), 0);
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

//! Quiet hours: a daily window, in the practice's time zone, in which no message goes to a
//! patient. A patient message that comes due inside it waits until the window ends (it is not
//! dropped). A window may wrap past midnight (`21:00`–`08:00`).

use chrono::{DateTime, Duration, LocalResult, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;

/// A daily quiet window: from `start` (inclusive) to `end` (exclusive), local wall-clock times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start: NaiveTime,
    end: NaiveTime,
}

impl QuietHours {
    /// The window from `start` to `end` (`HH:MM`), or `None` when either is not a time or
    /// they are equal (an empty, or a whole-day, window is not a quiet hour).
    pub fn parse(start: &str, end: &str) -> Option<Self> {
        let read = |raw: &str| NaiveTime::parse_from_str(raw.trim(), "%H:%M").ok();
        let (start, end) = (read(start)?, read(end)?);
        (start != end).then_some(Self { start, end })
    }

    /// The window from minute `start` to minute `end` of the day, as stored.
    pub fn from_minutes(start: u16, end: u16) -> Option<Self> {
        let time = |m: u16| NaiveTime::from_hms_opt(u32::from(m / 60), u32::from(m % 60), 0);
        let (start, end) = (time(start)?, time(end)?);
        (start != end).then_some(Self { start, end })
    }

    /// The start as the minute of the day.
    pub fn start_minute(self) -> u16 {
        minute(self.start)
    }

    /// The end as the minute of the day.
    pub fn end_minute(self) -> u16 {
        minute(self.end)
    }

    /// The start, `HH:MM`.
    pub fn start(self) -> String {
        self.start.format("%H:%M").to_string()
    }

    /// The end, `HH:MM`.
    pub fn end(self) -> String {
        self.end.format("%H:%M").to_string()
    }

    /// When the window holding `now` in `zone` ends, or `None` when `now` is outside it.
    pub fn ends_after(self, now: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&zone);
        let time = local.time();
        let today = local.date_naive();
        let end_day = if self.start < self.end {
            (self.start <= time && time < self.end).then_some(today)?
        } else if time >= self.start {
            today.succ_opt()?
        } else if time < self.end {
            today
        } else {
            return None;
        };
        let end = end_day.and_time(self.end);
        Some(match zone.from_local_datetime(&end) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.with_timezone(&Utc),
            // The end falls in a daylight-saving gap: the first minute after it.
            LocalResult::None => zone
                .from_local_datetime(&(end + Duration::hours(1)))
                .earliest()
                .map_or(now + Duration::hours(1), |at| at.with_timezone(&Utc)),
        })
    }
}

fn minute(time: NaiveTime) -> u16 {
    use chrono::Timelike as _;
    u16::try_from(time.hour() * 60 + time.minute()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(zone: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        zone.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn an_overnight_window_holds_late_evening_and_early_morning_until_its_local_end() {
        let zone: Tz = "Australia/Sydney".parse().unwrap();
        let quiet = QuietHours::parse("21:00", "08:00").unwrap();
        assert_eq!(
            quiet.ends_after(at(zone, 2026, 12, 7, 22, 30), zone),
            Some(at(zone, 2026, 12, 8, 8, 0))
        );
        assert_eq!(
            quiet.ends_after(at(zone, 2026, 12, 8, 6, 0), zone),
            Some(at(zone, 2026, 12, 8, 8, 0))
        );
        assert_eq!(quiet.ends_after(at(zone, 2026, 12, 8, 8, 0), zone), None);
        assert_eq!(quiet.ends_after(at(zone, 2026, 12, 8, 12, 0), zone), None);
        assert_eq!(
            quiet.ends_after(at(zone, 2026, 12, 8, 21, 0), zone),
            Some(at(zone, 2026, 12, 9, 8, 0))
        );
    }

    #[test]
    fn a_daytime_window_and_the_stored_minutes_round_trip() {
        let zone: Tz = "Europe/London".parse().unwrap();
        let quiet = QuietHours::parse("12:00", "13:30").unwrap();
        assert_eq!(
            quiet.ends_after(at(zone, 2026, 7, 1, 12, 15), zone),
            Some(at(zone, 2026, 7, 1, 13, 30))
        );
        assert_eq!(quiet.ends_after(at(zone, 2026, 7, 1, 11, 59), zone), None);
        let stored = QuietHours::from_minutes(quiet.start_minute(), quiet.end_minute()).unwrap();
        assert_eq!(stored, quiet);
        assert_eq!(
            (stored.start(), stored.end()),
            ("12:00".into(), "13:30".into())
        );
        assert_eq!(QuietHours::parse("25:00", "08:00"), None);
        assert_eq!(QuietHours::parse("08:00", "08:00"), None);
    }

    #[test]
    fn an_end_in_a_daylight_saving_gap_moves_past_it() {
        // Sydney skips 02:00-03:00 on 4 Oct 2026.
        let zone: Tz = "Australia/Sydney".parse().unwrap();
        let quiet = QuietHours::parse("21:00", "02:30").unwrap();
        let end = quiet
            .ends_after(at(zone, 2026, 10, 3, 23, 0), zone)
            .unwrap();
        assert_eq!(end, at(zone, 2026, 10, 4, 3, 30));
    }
}

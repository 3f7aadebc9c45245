//! Free appointment times, as Cliniko computes them: the practitioner's weekly hours at the
//! business (business-local clock), cut into slots of the calendar's size, keeping the starts
//! where the whole appointment fits, lies in the future and overlaps none of the practitioner's
//! active appointments (at any business).

use chrono::{DateTime, Datelike as _, Days, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::data::{Account, local_to_utc};

/// Calendar slot size: candidate starts are this far apart.
const SLOT_MINUTES: i64 = 15;

/// How far ahead `next_available_time` looks (Cliniko's "how far ahead" online-bookings setting).
pub(crate) const NEXT_HORIZON_DAYS: u64 = 84;

/// Free starts of `appointment_type` with `practitioner` at `business` on the local days
/// `from..=to`, in order.
pub(crate) fn free_starts(
    account: &Account,
    business: i64,
    practitioner: i64,
    appointment_type: i64,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let zone = account.zones.get(&business).copied().unwrap_or(Tz::UTC);
    let Some(minutes) = account.duration_of(appointment_type) else {
        return Vec::new();
    };
    let Some(shifts) = account.hours.get(&(practitioner, business)) else {
        return Vec::new();
    };
    let busy: Vec<(DateTime<Utc>, DateTime<Utc>)> = account
        .appointments
        .iter()
        .filter(|a| a.ref_id("practitioner") == Some(practitioner))
        .filter(|a| {
            !a.is_set("cancelled_at") && !a.is_set("archived_at") && !a.is_set("deleted_at")
        })
        .filter_map(|a| {
            let start = a.text("starts_at")?.parse().ok()?;
            let end = a.text("ends_at")?.parse().ok()?;
            Some((start, end))
        })
        .collect();
    let length = chrono::Duration::minutes(minutes);
    let mut starts = Vec::new();
    let mut day = from;
    while day <= to {
        for shift in shifts
            .iter()
            .filter(|s| s.weekday == day.weekday().number_from_monday())
        {
            let mut local = day.and_time(shift.start);
            let end = day.and_time(shift.end);
            while local + length <= end {
                if let (Some(start), Some(finish)) = (
                    local_to_utc(zone, local),
                    local_to_utc(zone, local + length),
                ) {
                    let free = busy
                        .iter()
                        .all(|(b_start, b_end)| finish <= *b_start || start >= *b_end);
                    if start > now && free {
                        starts.push(start);
                    }
                }
                local += chrono::Duration::minutes(SLOT_MINUTES);
            }
        }
        let Some(next) = day.checked_add_days(Days::new(1)) else {
            break;
        };
        day = next;
    }
    starts.sort_unstable();
    starts
}

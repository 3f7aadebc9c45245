//! A doctor's free/busy over a range of days, for partners that plan around a doctor's time
//! rather than book a slot: built from the same stitched Cliniko available times as the slot
//! search, so "free" here is exactly what the slot search would offer.
//!
//! Free periods are the free slots of one appointment type merged where they touch or overlap;
//! busy is the rest of the range: booked, on a break, outside the doctor's hours, or hidden by
//! the clinic's online-booking rules (Cliniko's available times do not say which). With no type
//! given, the doctor's shortest type at the clinic is used, the finest grain Cliniko offers.

use chrono::{DateTime, Duration, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;

use super::{BookingService, Slot, SlotSearch};
use crate::cliniko::ClinikoId;
use crate::error::FieldError;
use crate::tenancy::TenantContext;
use crate::{Error, Result};

/// What free/busy to find: a doctor's, over clinic-local days `from..=to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeBusySearch {
    /// The doctor.
    pub doctor_id: ClinikoId,
    /// The clinic; may be left out when the doctor works at one only.
    pub clinic_id: Option<ClinikoId>,
    /// The appointment type whose slots make the free time; by default the doctor's shortest
    /// at the clinic.
    pub appointment_type_id: Option<ClinikoId>,
    /// First day, clinic-local.
    pub from: NaiveDate,
    /// Last day, clinic-local, inclusive.
    pub to: NaiveDate,
}

/// A span of time, `[starts_at, ends_at)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    /// Start (UTC).
    pub starts_at: DateTime<Utc>,
    /// End (UTC), after the start.
    pub ends_at: DateTime<Utc>,
}

/// A doctor's free/busy: `free` and `busy` are in order, do not overlap, and together cover
/// `range` exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeBusy {
    /// The clinic the free time is at.
    pub clinic_id: ClinikoId,
    /// The appointment type whose slots made the free time.
    pub appointment_type_id: ClinikoId,
    /// The clinic's time zone (the days of the search are its days).
    pub time_zone: Tz,
    /// From the start of the first day to the end of the last, clinic time.
    pub range: Period,
    /// When a slot could start and run to its end.
    pub free: Vec<Period>,
    /// The rest of the range.
    pub busy: Vec<Period>,
}

/// The first instant of `day` in `zone` (the first after a gap where midnight does not exist).
fn start_of_day(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    (0..=3)
        .find_map(|hours| {
            zone.from_local_datetime(&(midnight + Duration::hours(hours)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc(), |at| at.with_timezone(&Utc))
}

/// Free periods from `slots` (in any order), merged where they touch or overlap and clipped
/// to `range`, and the busy periods between them.
pub fn periods(range: Period, slots: &[Slot]) -> (Vec<Period>, Vec<Period>) {
    let mut spans: Vec<Period> = slots
        .iter()
        .map(|slot| Period {
            starts_at: slot.starts_at.max(range.starts_at),
            ends_at: slot.ends_at.min(range.ends_at),
        })
        .filter(|span| span.starts_at < span.ends_at)
        .collect();
    spans.sort();
    let mut free: Vec<Period> = Vec::new();
    for span in spans {
        match free.last_mut() {
            Some(last) if span.starts_at <= last.ends_at => {
                last.ends_at = last.ends_at.max(span.ends_at);
            }
            _ => free.push(span),
        }
    }
    let mut busy = Vec::new();
    let mut cursor = range.starts_at;
    for span in &free {
        if cursor < span.starts_at {
            busy.push(Period {
                starts_at: cursor,
                ends_at: span.starts_at,
            });
        }
        cursor = span.ends_at;
    }
    if cursor < range.ends_at {
        busy.push(Period {
            starts_at: cursor,
            ends_at: range.ends_at,
        });
    }
    (free, busy)
}

impl BookingService {
    /// A doctor's free/busy at a clinic (see the module documentation). Same limits as the
    /// slot search: days from today on, at most [`super::BookingPolicy::max_slot_days`].
    ///
    /// # Errors
    /// `NotFound` for a doctor the directory does not show; `Validation` for a clinic left
    /// out when the doctor works at several, ids that do not go together, or a bad range;
    /// Cliniko's failures.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn free_busy(
        &self,
        ctx: &TenantContext,
        search: &FreeBusySearch,
    ) -> Result<FreeBusy> {
        let directory = self.directory.directory(ctx).await?;
        let doctor = directory
            .doctor(&search.doctor_id)
            .ok_or(Error::NotFound { resource: "doctor" })?;
        let clinic_id = match (&search.clinic_id, doctor.clinic_ids.as_slice()) {
            (Some(id), _) => id.clone(),
            (None, [only]) => only.clone(),
            (None, _) => {
                return Err(Error::Validation(vec![FieldError::new(
                    "clinic_id",
                    "required",
                    "the doctor works at several clinics (or none taking online bookings): name one",
                )]));
            }
        };
        let appointment_type_id = match &search.appointment_type_id {
            Some(id) => id.clone(),
            None => directory
                .appointment_types()
                .iter()
                .filter(|kind| {
                    directory
                        .check_offer(&doctor.id, &clinic_id, &kind.id)
                        .is_ok()
                })
                .min_by_key(|kind| kind.duration_minutes)
                .map(|kind| kind.id.clone())
                .ok_or_else(|| {
                    Error::Validation(vec![FieldError::new(
                        "clinic_id",
                        "not_offered",
                        "the doctor offers no appointment type at this clinic",
                    )])
                })?,
        };
        let slots = self
            .slots(
                ctx,
                &SlotSearch {
                    doctor_id: doctor.id.clone(),
                    clinic_id: clinic_id.clone(),
                    appointment_type_id: appointment_type_id.clone(),
                    from: search.from,
                    to: search.to,
                },
            )
            .await?;
        let zone = slots.time_zone;
        let range = Period {
            starts_at: start_of_day(zone, search.from),
            ends_at: start_of_day(zone, search.to + Duration::days(1)),
        };
        let (free, busy) = periods(range, &slots.slots);
        Ok(FreeBusy {
            clinic_id,
            appointment_type_id,
            time_zone: zone,
            range,
            free,
            busy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    fn slot(start: &str, end: &str) -> Slot {
        Slot {
            starts_at: at(start),
            ends_at: at(end),
        }
    }

    fn period(start: &str, end: &str) -> Period {
        Period {
            starts_at: at(start),
            ends_at: at(end),
        }
    }

    #[test]
    fn touching_and_overlapping_slots_make_one_free_period_and_the_rest_is_busy() {
        let range = period("2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z");
        let slots = [
            slot("2030-01-01T09:30:00Z", "2030-01-01T10:00:00Z"),
            slot("2030-01-01T09:00:00Z", "2030-01-01T09:30:00Z"),
            slot("2030-01-01T09:45:00Z", "2030-01-01T10:15:00Z"),
            slot("2030-01-01T14:00:00Z", "2030-01-01T14:30:00Z"),
        ];
        let (free, busy) = periods(range, &slots);
        assert_eq!(
            free,
            [
                period("2030-01-01T09:00:00Z", "2030-01-01T10:15:00Z"),
                period("2030-01-01T14:00:00Z", "2030-01-01T14:30:00Z"),
            ]
        );
        assert_eq!(
            busy,
            [
                period("2030-01-01T00:00:00Z", "2030-01-01T09:00:00Z"),
                period("2030-01-01T10:15:00Z", "2030-01-01T14:00:00Z"),
                period("2030-01-01T14:30:00Z", "2030-01-02T00:00:00Z"),
            ]
        );
    }

    #[test]
    fn no_slots_is_all_busy_and_slots_past_the_range_are_clipped() {
        let range = period("2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z");
        assert_eq!(periods(range, &[]), (vec![], vec![range]));
        let late = [slot("2030-01-01T23:45:00Z", "2030-01-02T00:15:00Z")];
        let (free, busy) = periods(range, &late);
        assert_eq!(
            free,
            [period("2030-01-01T23:45:00Z", "2030-01-02T00:00:00Z")]
        );
        assert_eq!(
            busy,
            [period("2030-01-01T00:00:00Z", "2030-01-01T23:45:00Z")]
        );
    }

    #[test]
    fn a_day_starts_at_the_clinics_midnight() {
        let sydney = chrono_tz::Australia::Sydney;
        let day = NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
        assert_eq!(start_of_day(sydney, day), at("2029-12-31T13:00:00Z"));
        // Santiago skipped midnight when its daylight saving began in 2022.
        let santiago = chrono_tz::America::Santiago;
        let skipped = NaiveDate::from_ymd_opt(2022, 9, 11).unwrap();
        assert_eq!(start_of_day(santiago, skipped), at("2022-09-11T04:00:00Z"));
    }
}

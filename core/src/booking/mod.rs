//! Free slots and bookings through a clinic's Cliniko, with the booking guard Cliniko lacks
//! (it allows double bookings and bookings outside availability):
//!
//! 1. the doctor must offer the appointment type at the clinic (else 422);
//! 2. the start must be among Cliniko's available times right now (else 409 `slot_unavailable`);
//! 3. one attempt per (clinic, doctor, start) at a time across every instance ([`SlotClaims`];
//!    else 409 `slot_taken`);
//! 4. after creating, Cliniko's conflicts are checked: if the slot was taken meanwhile (e.g. by
//!    reception in Cliniko), ours is cancelled and the answer is 409 `slot_taken`.
//!
//! A claim that led to a booking is kept until it expires (settled), so late concurrent attempts
//! are refused at step 3 instead of creating and cancelling in Cliniko; a failed attempt releases
//! its claim at once. Every Cliniko call here is on the API lane.

mod claims;
mod free_busy;
mod listing;
mod patients;
mod status;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Timelike as _, Utc};
use chrono_tz::Tz;

pub use claims::{SlotClaims, SlotKey};
pub use free_busy::{FreeBusy, FreeBusySearch, Period};
pub use listing::{AppointmentSearch, ListedStatus};
pub use patients::{NewPatient, PatientChoice};
pub(crate) use patients::{valid_email, valid_phone};
pub use status::AppointmentStatus;

use crate::cliniko::{
    Appointment, AppointmentPatch, AvailabilityQuery, Bookable, Cancellation, CancellationReason,
    ClinikoAccount, ClinikoClient, ClinikoId, Lane, NewAppointment, Patience,
};
use crate::directory::{Directory, DirectoryService, Offer, not_connected};
use crate::error::{FieldError, UpstreamFailure};
use crate::events::OwnWrites;
use crate::tenancy::TenantContext;
use crate::{Error, Result};

/// Limits of the booking service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingPolicy {
    /// The longest slot search, in days (inclusive of both ends).
    pub max_slot_days: u32,
    /// How long a slot claim lives: longer than a booking takes, and long enough for Cliniko's
    /// available times to stop offering a slot once booked.
    pub claim_ttl: Duration,
}

/// A slot search: business-local days `from..=to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSearch {
    /// The doctor.
    pub doctor_id: ClinikoId,
    /// The clinic.
    pub clinic_id: ClinikoId,
    /// The appointment type.
    pub appointment_type_id: ClinikoId,
    /// First day, clinic-local.
    pub from: NaiveDate,
    /// Last day, clinic-local, inclusive.
    pub to: NaiveDate,
}

/// One free slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    /// Start (UTC).
    pub starts_at: DateTime<Utc>,
    /// End (UTC): the start plus the appointment type's duration.
    pub ends_at: DateTime<Utc>,
}

/// Free slots in a clinic's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slots {
    /// The clinic's time zone.
    pub time_zone: Tz,
    /// The slots, in order.
    pub slots: Vec<Slot>,
}

/// A booking to make.
#[derive(Debug, Clone)]
pub struct BookingRequest {
    /// The doctor.
    pub doctor_id: ClinikoId,
    /// The clinic.
    pub clinic_id: ClinikoId,
    /// The appointment type.
    pub appointment_type_id: ClinikoId,
    /// The start; must be one of the slots.
    pub starts_at: DateTime<Utc>,
    /// Notes for the clinic.
    pub notes: Option<String>,
    /// Who the appointment is for.
    pub patient: PatientChoice,
}

/// A change to an appointment: a new start and/or notes, or a cancellation alone.
#[derive(Debug, Clone)]
pub enum AppointmentChange {
    /// Move and/or annotate.
    Update {
        /// A new start (guarded like a booking).
        starts_at: Option<DateTime<Utc>>,
        /// New notes.
        notes: Option<String>,
    },
    /// Cancel.
    Cancel(Cancellation),
}

/// An appointment with its clinic's time zone (UTC when its clinic is not public).
#[derive(Debug, Clone)]
pub struct BookedAppointment {
    /// As Cliniko holds it.
    pub appointment: Appointment,
    /// The clinic's time zone.
    pub time_zone: Tz,
}

/// `slot_unavailable`: Cliniko does not offer the start.
fn slot_unavailable() -> Error {
    Error::Conflict {
        code: "slot_unavailable",
        detail: "the doctor is not available at this time for this appointment type; pick a \
                 start from GET /api/public/available-slots"
            .to_owned(),
    }
}

/// `slot_taken`: another booking got the slot first.
fn slot_taken() -> Error {
    Error::Conflict {
        code: "slot_taken",
        detail: "this slot was just booked by someone else; pick another start".to_owned(),
    }
}

/// `appointment_cancelled`: a cancelled appointment cannot change.
fn already_cancelled() -> Error {
    Error::Conflict {
        code: "appointment_cancelled",
        detail: "this appointment is cancelled and can no longer be changed; book a new one"
            .to_owned(),
    }
}

/// Validates a slot range against the clinic's `today` and the longest search.
///
/// # Errors
/// [`Error::Validation`] naming `from` (in the past) or `to` (before `from`, too long a range).
pub fn check_range(from: NaiveDate, to: NaiveDate, today: NaiveDate, max_days: u32) -> Result<()> {
    let mut errors = Vec::new();
    if from < today {
        errors.push(FieldError::new(
            "from",
            "in_past",
            format!("the first day must be today ({today}, clinic time) or later"),
        ));
    }
    if to < from {
        errors.push(FieldError::new(
            "to",
            "before_from",
            "the last day is before the first day",
        ));
    } else if (to - from).num_days() >= i64::from(max_days) {
        errors.push(FieldError::new(
            "to",
            "range_too_long",
            format!("ask for at most {max_days} days at a time"),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// Slots and bookings; cheap to clone.
#[derive(Debug, Clone)]
pub struct BookingService {
    directory: DirectoryService,
    claims: Arc<dyn SlotClaims>,
    policy: BookingPolicy,
    own_writes: Option<Arc<dyn OwnWrites>>,
}

impl BookingService {
    /// A service over `directory` (and its Cliniko client and keys) and shared slot `claims`.
    pub fn new(
        directory: DirectoryService,
        claims: Arc<dyn SlotClaims>,
        policy: BookingPolicy,
    ) -> Self {
        Self {
            directory,
            claims,
            policy,
            own_writes: None,
        }
    }

    /// Announces every booking and change to `own_writes`, so its events go out at once.
    #[must_use]
    pub fn with_own_writes(mut self, own_writes: Arc<dyn OwnWrites>) -> Self {
        self.own_writes = Some(own_writes);
        self
    }

    /// Tells [`OwnWrites`] about `written`. A failure is not the caller's: Cliniko holds the
    /// write, and the poller announces it when it next looks.
    async fn announce(&self, tenant: crate::ids::TenantId, written: &BookedAppointment) {
        if let Some(own_writes) = &self.own_writes
            && let Err(err) = own_writes.appointment_written(tenant, written).await
        {
            tracing::warn!(
                appointment_id = %written.appointment.id,
                error = %err,
                "the write's events could not be stored now; the poller will publish them"
            );
        }
    }

    /// The limits in force.
    pub fn policy(&self) -> BookingPolicy {
        self.policy
    }

    fn cliniko(&self) -> &dyn ClinikoClient {
        self.directory.cliniko().as_ref()
    }

    /// Runs `call` with the clinic's Cliniko account; `cliniko_not_connected` without one.
    async fn with_cliniko<T, F, Fut>(&self, ctx: &TenantContext, call: F) -> Result<T>
    where
        F: FnOnce(ClinikoAccount) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.directory
            .keys()
            .with_account(ctx, call)
            .await?
            .ok_or_else(not_connected)
    }

    /// Free slots: the doctor must offer the type at the clinic; days are clinic-local, from today
    /// on, at most [`BookingPolicy::max_slot_days`]. However many calls Cliniko needs for the
    /// range, the client answers the whole range in order (`ClinikoClient::available_times`).
    ///
    /// # Errors
    /// `Validation` for ids that do not go together or a bad range; Cliniko's failures.
    pub async fn slots(&self, ctx: &TenantContext, search: &SlotSearch) -> Result<Slots> {
        let directory = self.directory.directory(ctx).await?;
        let offer = directory.check_offer(
            &search.doctor_id,
            &search.clinic_id,
            &search.appointment_type_id,
        )?;
        let time_zone = offer.clinic.time_zone;
        let today = Utc::now().with_timezone(&time_zone).date_naive();
        check_range(search.from, search.to, today, self.policy.max_slot_days)?;
        let query = AvailabilityQuery {
            bookable: bookable(&offer),
            from: search.from,
            to: search.to,
        };
        let length = chrono::Duration::minutes(i64::from(offer.appointment_type.duration_minutes));
        let query = &query;
        let times = self
            .with_cliniko(ctx, |account| async move {
                // Every call of the search booked before the first: a search the budget cannot
                // cover is refused before it spends anything, not after its first weeks. The
                // client books for the worst case; what is not used goes back to the budget.
                let calls = self.cliniko().available_times_calls(query);
                let cliniko = self.cliniko().reserve(&account, Lane::Api, calls).await?;
                Patience::default()
                    .call(|| cliniko.available_times(&account, Lane::Api, query))
                    .await
            })
            .await?;
        Ok(Slots {
            time_zone,
            slots: times
                .into_iter()
                .map(|time| Slot {
                    starts_at: time.appointment_start,
                    ends_at: time.appointment_start + length,
                })
                .collect(),
        })
    }

    /// Books an appointment through the guard (see the module documentation), matching or
    /// creating the patient once the slot is held.
    ///
    /// # Errors
    /// `Validation` (step 1, a start in the past, an unknown patient, Cliniko's 422),
    /// `Conflict(slot_unavailable | slot_taken)`, Cliniko's failures.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn book(
        &self,
        ctx: &TenantContext,
        request: BookingRequest,
    ) -> Result<BookedAppointment> {
        let directory = self.directory.directory(ctx).await?;
        let offer = directory.check_offer(
            &request.doctor_id,
            &request.clinic_id,
            &request.appointment_type_id,
        )?;
        let starts_at = whole_seconds(request.starts_at);
        in_future(starts_at)?;
        let time_zone = offer.clinic.time_zone;
        let bookable = bookable(&offer);
        let slot = SlotKey {
            clinic_id: bookable.business_id.clone(),
            doctor_id: bookable.practitioner_id.clone(),
            starts_at,
        };
        let tenant = ctx.tenant_id();
        let appointment = self
            .with_cliniko(ctx, |account| async move {
                let patience = Patience::default();
                // Booked before the first call, so a booking the budget cannot cover is refused
                // before it holds a slot or creates a patient.
                let cliniko = self
                    .cliniko()
                    .reserve(&account, Lane::Api, BOOKING_CALLS)
                    .await?;
                let cliniko = cliniko.as_ref();
                self.ensure_offered(
                    &patience, cliniko, &account, &bookable, starts_at, time_zone,
                )
                .await?;
                if !self
                    .claims
                    .claim(tenant, &slot, self.policy.claim_ttl)
                    .await?
                {
                    return Err(slot_taken());
                }
                let booked = async {
                    let patient_id =
                        patients::resolve(&patience, cliniko, &account, &request.patient).await?;
                    let new = NewAppointment {
                        starts_at,
                        ends_at: None,
                        patient_id,
                        practitioner_id: bookable.practitioner_id.clone(),
                        appointment_type_id: bookable.appointment_type_id.clone(),
                        business_id: bookable.business_id.clone(),
                        notes: request.notes.clone(),
                    };
                    // Repeating after a 429 is safe: the budget or Cliniko refused it without acting.
                    let created = patience
                        .call(|| cliniko.create_appointment(&account, Lane::Api, &new))
                        .await?;
                    self.confirm_or_cancel(&patience, cliniko, &account, &created.id)
                        .await?;
                    Ok(created)
                }
                .await;
                if booked.is_err() {
                    self.release(tenant, &slot).await;
                }
                booked
            })
            .await?;
        tracing::info!(appointment_id = %appointment.id, "appointment booked");
        let booked = BookedAppointment {
            appointment,
            time_zone,
        };
        self.announce(tenant, &booked).await;
        Ok(booked)
    }

    /// Changes an appointment: a new start goes through the same guard as a booking (and moves
    /// back if the conflicts check fails); a cancellation sends Cliniko's reason code.
    ///
    /// # Errors
    /// `NotFound` for an id the clinic's Cliniko does not have, `Conflict(appointment_cancelled)`,
    /// the guard's errors, Cliniko's failures.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn change(
        &self,
        ctx: &TenantContext,
        id: &ClinikoId,
        change: AppointmentChange,
    ) -> Result<BookedAppointment> {
        let directory = self.directory.directory(ctx).await?;
        let tenant = ctx.tenant_id();
        let dir = &directory;
        let appointment = self
            .with_cliniko(ctx, |account| async move {
                let patience = Patience::default();
                let current = self.appointment_in(&patience, &account, id).await?;
                if !current.is_active() {
                    return Err(already_cancelled());
                }
                match change {
                    AppointmentChange::Cancel(cancellation) => {
                        patience
                            .call(|| {
                                self.cliniko().cancel_appointment(
                                    &account,
                                    Lane::Api,
                                    id,
                                    &cancellation,
                                )
                            })
                            .await?;
                        self.appointment_in(&patience, &account, id).await
                    }
                    AppointmentChange::Update { starts_at, notes } => {
                        let moved = starts_at
                            .map(whole_seconds)
                            .filter(|start| *start != current.starts_at);
                        match moved {
                            Some(start) => {
                                let moving = Move {
                                    current: &current,
                                    starts_at: start,
                                    notes,
                                };
                                self.reschedule(&patience, &account, tenant, dir, moving)
                                    .await
                            }
                            None => {
                                let patch = AppointmentPatch {
                                    notes,
                                    ..AppointmentPatch::default()
                                };
                                patience
                                    .call(|| {
                                        self.cliniko().update_appointment(
                                            &account,
                                            Lane::Api,
                                            id,
                                            &patch,
                                        )
                                    })
                                    .await
                            }
                        }
                    }
                }
            })
            .await?;
        let time_zone = zone_of(&directory, &appointment);
        let changed = BookedAppointment {
            appointment,
            time_zone,
        };
        self.announce(tenant, &changed).await;
        Ok(changed)
    }

    /// An appointment and its status.
    ///
    /// # Errors
    /// `NotFound` for an id the clinic's Cliniko does not have; Cliniko's failures.
    pub async fn status(
        &self,
        ctx: &TenantContext,
        id: &ClinikoId,
    ) -> Result<(Appointment, AppointmentStatus)> {
        let appointment = self
            .with_cliniko(ctx, |account| async move {
                self.appointment_in(&Patience::default(), &account, id)
                    .await
            })
            .await?;
        let status = AppointmentStatus::of(&appointment, Utc::now());
        Ok((appointment, status))
    }

    async fn appointment_in(
        &self,
        patience: &Patience,
        account: &ClinikoAccount,
        id: &ClinikoId,
    ) -> Result<Appointment> {
        patience
            .call(|| self.cliniko().appointment(account, Lane::Api, id))
            .await
            .map_err(|err| match err {
                Error::NotFound { .. } => Error::NotFound {
                    resource: "appointment",
                },
                other => other,
            })
    }

    async fn reschedule(
        &self,
        patience: &Patience,
        account: &ClinikoAccount,
        tenant: crate::ids::TenantId,
        directory: &Directory,
        moving: Move<'_>,
    ) -> Result<Appointment> {
        let Move {
            current,
            starts_at,
            notes,
        } = moving;
        in_future(starts_at)?;
        let ids = (
            current.practitioner_id.as_ref(),
            current.business_id.as_ref(),
            current.appointment_type_id.as_ref(),
        );
        let (Some(doctor), Some(clinic), Some(kind)) = ids else {
            return Err(Error::Upstream {
                service: "cliniko",
                failure: UpstreamFailure::BadResponse(
                    "an appointment without practitioner, business or type".to_owned(),
                ),
            });
        };
        let offer = directory.check_offer(doctor, clinic, kind)?;
        let bookable = bookable(&offer);
        self.ensure_offered(
            patience,
            self.cliniko(),
            account,
            &bookable,
            starts_at,
            offer.clinic.time_zone,
        )
        .await?;
        let slot = SlotKey {
            clinic_id: clinic.clone(),
            doctor_id: doctor.clone(),
            starts_at,
        };
        if !self
            .claims
            .claim(tenant, &slot, self.policy.claim_ttl)
            .await?
        {
            return Err(slot_taken());
        }
        let length = current.ends_at.map_or_else(
            || chrono::Duration::minutes(i64::from(offer.appointment_type.duration_minutes)),
            |end| end - current.starts_at,
        );
        let patch = AppointmentPatch {
            starts_at: Some(starts_at),
            ends_at: Some(starts_at + length),
            notes,
            ..AppointmentPatch::default()
        };
        let moved = async {
            let updated = patience
                .call(|| {
                    self.cliniko()
                        .update_appointment(account, Lane::Api, &current.id, &patch)
                })
                .await?;
            if self
                .conflicts(patience, self.cliniko(), account, &current.id)
                .await?
            {
                let back = AppointmentPatch {
                    starts_at: Some(current.starts_at),
                    ends_at: current.ends_at,
                    ..AppointmentPatch::default()
                };
                if let Err(err) = patience
                    .call(|| {
                        self.cliniko()
                            .update_appointment(account, Lane::Api, &current.id, &back)
                    })
                    .await
                {
                    tracing::error!(appointment_id = %current.id, error = %err, "could not move a conflicting reschedule back; the clinic must fix it in Cliniko");
                }
                return Err(slot_taken());
            }
            Ok(updated)
        }
        .await;
        if moved.is_err() {
            self.release(tenant, &slot).await;
        } else {
            // The old start is free again: let the next booking have it at once.
            let old = SlotKey {
                starts_at: current.starts_at,
                ..slot
            };
            self.release(tenant, &old).await;
        }
        moved
    }

    /// Step 2: the start must be among Cliniko's available times on its clinic-local day.
    async fn ensure_offered(
        &self,
        patience: &Patience,
        cliniko: &dyn ClinikoClient,
        account: &ClinikoAccount,
        bookable: &Bookable,
        starts_at: DateTime<Utc>,
        time_zone: Tz,
    ) -> Result<()> {
        let day = starts_at.with_timezone(&time_zone).date_naive();
        let query = AvailabilityQuery {
            bookable: bookable.clone(),
            from: day,
            to: day,
        };
        let times = patience
            .call(|| cliniko.available_times(account, Lane::Api, &query))
            .await?;
        if times.iter().any(|t| t.appointment_start == starts_at) {
            Ok(())
        } else {
            Err(slot_unavailable())
        }
    }

    async fn conflicts(
        &self,
        patience: &Patience,
        cliniko: &dyn ClinikoClient,
        account: &ClinikoAccount,
        id: &ClinikoId,
    ) -> Result<bool> {
        patience
            .call(|| cliniko.appointment_conflicts(account, Lane::Api, id))
            .await
    }

    /// Step 4: if Cliniko reports a conflict for the new appointment — or cannot say — ours is
    /// cancelled, so the guard never leaves a possible double booking behind.
    async fn confirm_or_cancel(
        &self,
        patience: &Patience,
        cliniko: &dyn ClinikoClient,
        account: &ClinikoAccount,
        id: &ClinikoId,
    ) -> Result<()> {
        let outcome = match self.conflicts(patience, cliniko, account, id).await {
            Ok(false) => return Ok(()),
            Ok(true) => slot_taken(),
            Err(err) => err,
        };
        let cancellation = Cancellation {
            reason: CancellationReason::Other,
            note: Some("Double booking prevented by ClinicGate".to_owned()),
        };
        if let Err(err) = patience
            .call(|| cliniko.cancel_appointment(account, Lane::Api, id, &cancellation))
            .await
        {
            tracing::error!(appointment_id = %id, error = %err, "could not cancel a conflicting booking; the clinic must fix it in Cliniko");
        }
        Err(outcome)
    }

    /// Releases a claim; failing to costs only a wait until it expires.
    async fn release(&self, tenant: crate::ids::TenantId, slot: &SlotKey) {
        if let Err(err) = self.claims.release(tenant, slot).await {
            tracing::warn!(error = %err, "could not release a slot claim; it expires on its own");
        }
    }
}

/// A reschedule: the appointment as it is, and where it goes.
struct Move<'a> {
    current: &'a Appointment,
    starts_at: DateTime<Utc>,
    notes: Option<String>,
}

/// The most Cliniko calls a booking makes: the day's available times, the patient (a lookup,
/// and a creation when new), the booking and the conflicts check. Unused ones go back.
const BOOKING_CALLS: u32 = 5;

fn bookable(offer: &Offer<'_>) -> Bookable {
    Bookable {
        business_id: offer.clinic.id.clone(),
        practitioner_id: offer.doctor.id.clone(),
        appointment_type_id: offer.appointment_type.id.clone(),
    }
}

/// Cliniko keeps whole seconds; a start with a fraction would never match a slot.
fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_nanosecond(0).unwrap_or(at)
}

fn in_future(starts_at: DateTime<Utc>) -> Result<()> {
    if starts_at <= Utc::now() {
        return Err(Error::invalid(
            "starts_at",
            "in_past",
            "the start must be in the future",
        ));
    }
    Ok(())
}

fn zone_of(directory: &Directory, appointment: &Appointment) -> Tz {
    appointment
        .business_id
        .as_ref()
        .and_then(|id| directory.clinic(id))
        .map_or(Tz::UTC, |clinic| clinic.time_zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_range_must_start_today_or_later_end_after_it_starts_and_fit_the_maximum() {
        let today = day("2030-05-10");
        assert!(check_range(day("2030-05-10"), day("2030-05-22"), today, 62).is_ok());
        assert!(check_range(day("2030-05-10"), day("2030-07-10"), today, 62).is_ok());
        let fields = |from, to| match check_range(day(from), day(to), today, 62) {
            Err(Error::Validation(errors)) => errors
                .into_iter()
                .map(|e| (e.field, e.code))
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            fields("2030-05-09", "2030-05-12"),
            [("from".to_owned(), "in_past")]
        );
        assert_eq!(
            fields("2030-05-12", "2030-05-11"),
            [("to".to_owned(), "before_from")]
        );
        assert_eq!(
            fields("2030-05-10", "2030-07-11"),
            [("to".to_owned(), "range_too_long")]
        );
    }
}

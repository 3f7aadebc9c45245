//! [`FhirBackfillService`]: "Send existing records". The clinic's current Cliniko patients (and,
//! when the destination takes them, its appointments from [`WINDOW_PAST_DAYS`] days ago to
//! [`WINDOW_AHEAD_DAYS`] days ahead) are queued to one FHIR destination as `patient.created` /
//! `appointment.created` events addressed to it alone, so they go out through the same
//! deliveries as new records (retries, attempt log, conditional updates).
//!
//! Like the partner backfill ([`crate::patient_sync::PatientBackfill`]) Cliniko is read a page at
//! a time, oldest first, on the background lane of the clinic's budget. Unlike it, a run is
//! durable: its progress (phase, next page, counts) is kept in the database after every page,
//! under a lease the running instance renews. An instance that stops mid-run leaves the lease
//! to lapse, and any instance's upkeep ([`FhirBackfillService::resume_lapsed`]) carries on from
//! the next page. Pressing the button while a run goes starts nothing (the store starts at most
//! one per destination); a finished run can be started again. The page being read when an
//! instance stopped may be queued twice: harmless, since each push is a conditional update.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{FhirDestinationId, FhirDestinationService, FhirResource};
use crate::booking::BookedAppointment;
use crate::cliniko::{
    ClinikoAccount, ClinikoClient, Filter, FilterOp, Lane, ListPage, ListQuery, PageRequest,
};
use crate::cliniko_key::{Background, ClinikoKeyService};
use crate::delivery::{OutboundKind, Target};
use crate::events::{EventData, EventPublisher, EventType, NewEvent, PatientRecord};
use crate::ids::TenantId;
use crate::polling::Zones;
use crate::tenancy::TenantContext;
use crate::{Error, Result};

/// Appointments sent reach back this many days…
pub const WINDOW_PAST_DAYS: i64 = 30;
/// …and ahead this many.
pub const WINDOW_AHEAD_DAYS: i64 = 90;

/// How long a running instance holds a backfill without writing progress; another instance
/// takes it over after that. A page of 100 records is queued well within it.
const LEASE: Duration = Duration::seconds(60);

/// How long a run that met a passing failure (Cliniko busy or down, the database away) waits
/// before the upkeep tries again.
const RETRY_AFTER: Duration = Duration::seconds(30);

/// Whether a backfill is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackfillState {
    /// Going (or waiting to be resumed).
    Running,
    /// Every record was queued.
    Done,
    /// Stopped for good (e.g. Cliniko is not connected); it can be started again.
    Failed,
}

impl BackfillState {
    /// The stored and shown name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Running, Self::Done, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// A backfill of one destination and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirBackfill {
    /// The destination.
    pub destination: FhirDestinationId,
    /// Whether it is going.
    pub state: BackfillState,
    /// The resource being read (patients first, then appointments).
    pub phase: FhirResource,
    /// The next Cliniko page of `phase` to read (from 1).
    pub next_page: u32,
    /// Whether appointments are sent too (the destination took them when it started).
    pub with_appointments: bool,
    /// Appointments starting from…
    pub window_start: DateTime<Utc>,
    /// …to.
    pub window_end: DateTime<Utc>,
    /// Patients queued so far.
    pub patients_queued: u64,
    /// Patients Cliniko counted (known once the first page is read).
    pub patients_total: Option<u64>,
    /// Appointments queued so far.
    pub appointments_queued: u64,
    /// Appointments in the window Cliniko counted (known once their first page is read).
    pub appointments_total: Option<u64>,
    /// Why it stopped or waits (`cliniko_not_connected`, `cliniko_key_rejected`,
    /// `cliniko_unavailable`, …); never PHI.
    pub last_error: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it last moved.
    pub updated_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl FhirBackfill {
    /// A new run of `destination` from `now`.
    fn fresh(destination: FhirDestinationId, with_appointments: bool, now: DateTime<Utc>) -> Self {
        Self {
            destination,
            state: BackfillState::Running,
            phase: FhirResource::Patient,
            next_page: 1,
            with_appointments,
            window_start: now - Duration::days(WINDOW_PAST_DAYS),
            window_end: now + Duration::days(WINDOW_AHEAD_DAYS),
            patients_queued: 0,
            patients_total: None,
            appointments_queued: 0,
            appointments_total: None,
            last_error: None,
            started_at: now,
            updated_at: now,
            finished_at: None,
        }
    }

    fn finish(&mut self, state: BackfillState, error: Option<&str>, now: DateTime<Utc>) {
        self.state = state;
        self.last_error = error.map(str::to_owned);
        self.updated_at = now;
        self.finished_at = Some(now);
    }
}

/// The backfills, shared by every instance (the database). One row per destination: its
/// latest run.
#[async_trait]
pub trait FhirBackfillRepository: Send + Sync + std::fmt::Debug {
    /// Stores `fresh` as the destination's run unless one is running; `None` when it was
    /// stored, else the run already going. Atomic: of two instances starting at once, one wins.
    async fn start(&self, tenant: TenantId, fresh: &FhirBackfill) -> Result<Option<FhirBackfill>>;

    /// The destination's latest run.
    async fn get(&self, tenant: TenantId, id: FhirDestinationId) -> Result<Option<FhirBackfill>>;

    /// Takes the lease of the destination's running backfill (when nobody holds it) as `lease`
    /// until `until`; the run, or `None` when it is not running or is held.
    async fn claim(
        &self,
        tenant: TenantId,
        id: FhirDestinationId,
        lease: Uuid,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<FhirBackfill>>;

    /// Writes `progress` if `lease` still holds the run, holding it until `until`; `false`
    /// when it does not (taken over, or the destination removed).
    async fn save(
        &self,
        tenant: TenantId,
        progress: &FhirBackfill,
        lease: Uuid,
        until: DateTime<Utc>,
    ) -> Result<bool>;

    /// Up to `limit` running backfills nobody holds at `now`, in any clinic: the upkeep's work.
    async fn lapsed(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(TenantId, FhirDestinationId)>>;
}

/// Starts, runs and resumes backfills; cheap to clone.
#[derive(Debug, Clone)]
pub struct FhirBackfillService {
    destinations: FhirDestinationService,
    backfills: Arc<dyn FhirBackfillRepository>,
    cliniko: Arc<dyn ClinikoClient>,
    keys: ClinikoKeyService,
    events: EventPublisher,
}

/// How a run ended, before it is written down.
enum Ended {
    /// Every page was read.
    Done,
    /// Another instance holds the run now, or the destination is gone: nothing to write.
    Lost,
}

impl FhirBackfillService {
    /// Backfills of `destinations` kept in `backfills`, reading the clinic's Cliniko through
    /// `keys` and `cliniko`, queueing with `events`.
    pub fn new(
        destinations: FhirDestinationService,
        backfills: Arc<dyn FhirBackfillRepository>,
        cliniko: Arc<dyn ClinikoClient>,
        keys: ClinikoKeyService,
        events: EventPublisher,
    ) -> Self {
        Self {
            destinations,
            backfills,
            cliniko,
            keys,
            events,
        }
    }

    /// Starts a backfill of destination `id`; the run and whether this call started it (`false`:
    /// one was going already, and it is that run). The caller then [`Self::run`]s a started one.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound`; `Conflict` (`fhir_destination_disabled`) while
    /// the destination is switched off.
    pub async fn start(
        &self,
        ctx: &TenantContext,
        id: FhirDestinationId,
    ) -> Result<(FhirBackfill, bool)> {
        let destination = self.destinations.get(ctx, id).await?;
        if !destination.enabled {
            return Err(Error::Conflict {
                code: "fhir_destination_disabled",
                detail: "the destination is switched off; enable it to send existing records"
                    .to_owned(),
            });
        }
        let fresh = FhirBackfill::fresh(
            id,
            destination.resources.contains(&FhirResource::Appointment),
            Utc::now(),
        );
        let tenant = ctx.tenant_id();
        Ok(match self.backfills.start(tenant, &fresh).await? {
            None => {
                tracing::info!(tenant_id = %tenant, fhir_destination_id = %id, "started sending existing records to a FHIR destination");
                (fresh, true)
            }
            Some(going) => (going, false),
        })
    }

    /// The destination's latest backfill, if it ever had one.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound`.
    pub async fn status(
        &self,
        ctx: &TenantContext,
        id: FhirDestinationId,
    ) -> Result<Option<FhirBackfill>> {
        self.destinations.get(ctx, id).await?;
        self.backfills.get(ctx.tenant_id(), id).await
    }

    /// Runs destination `id`'s backfill from where it stands, unless another instance holds it
    /// or it is not running.
    ///
    /// # Errors
    /// The store's errors when progress cannot be written (the lease lapses and the upkeep
    /// resumes it).
    pub async fn run(&self, tenant: TenantId, id: FhirDestinationId) -> Result<()> {
        let lease = Uuid::new_v4();
        let now = Utc::now();
        let Some(mut progress) = self
            .backfills
            .claim(tenant, id, lease, now, now + LEASE)
            .await?
        else {
            return Ok(());
        };
        let outcome = self
            .keys
            .in_background(tenant, |account| {
                let progress = &mut progress;
                async move { self.pages(tenant, &account, progress, lease).await }
            })
            .await;
        let now = Utc::now();
        let mut until = now;
        match outcome {
            Ok(Background::Done(Ended::Lost)) => return Ok(()),
            Ok(Background::Done(Ended::Done)) => progress.finish(BackfillState::Done, None, now),
            Ok(Background::NotConnected) => {
                progress.finish(BackfillState::Failed, Some("cliniko_not_connected"), now);
            }
            Ok(Background::Rejected) => {
                progress.finish(BackfillState::Failed, Some("cliniko_key_rejected"), now);
            }
            Err(err) => match passing(&err) {
                // Still running: the upkeep carries on after a pause.
                Some(code) => {
                    tracing::warn!(tenant_id = %tenant, fhir_destination_id = %id, error = %err, "a FHIR backfill paused; it resumes shortly");
                    progress.last_error = Some(code.to_owned());
                    progress.updated_at = now;
                    until = now + RETRY_AFTER;
                }
                None => {
                    tracing::error!(tenant_id = %tenant, fhir_destination_id = %id, error = %err, "a FHIR backfill failed");
                    progress.finish(BackfillState::Failed, Some("internal"), now);
                }
            },
        }
        self.backfills.save(tenant, &progress, lease, until).await?;
        if progress.state != BackfillState::Running {
            tracing::info!(
                tenant_id = %tenant,
                fhir_destination_id = %id,
                state = progress.state.as_str(),
                patients = progress.patients_queued,
                appointments = progress.appointments_queued,
                "a FHIR backfill ended"
            );
        }
        Ok(())
    }

    /// Reads and queues the remaining pages, writing progress after each.
    async fn pages(
        &self,
        tenant: TenantId,
        account: &ClinikoAccount,
        progress: &mut FhirBackfill,
        lease: Uuid,
    ) -> Result<Ended> {
        let target = [Target {
            kind: OutboundKind::FhirPush,
            id: progress.destination.as_uuid(),
        }];
        // Appointments carry their clinic's time zone, as the poller's events do.
        let mut zones = None;
        loop {
            let page = PageRequest::new(progress.next_page, PageRequest::MAX_SIZE);
            let last = match progress.phase {
                FhirResource::Patient => {
                    let query = ListQuery::oldest_first();
                    let patients = self
                        .cliniko
                        .patients_page(account, Lane::Background, &query, page)
                        .await?;
                    for patient in &patients.items {
                        let data = EventData::Patient(PatientRecord::from(patient));
                        self.queue(tenant, EventType::PatientCreated, data, &target)
                            .await?;
                    }
                    progress.patients_queued += count(&patients);
                    progress.patients_total = Some(total(&patients));
                    patients.is_last(page)
                }
                FhirResource::Appointment => {
                    let query = ListQuery::oldest_first()
                        .filter(Filter::new(
                            "starts_at",
                            FilterOp::Ge,
                            &progress.window_start,
                        ))
                        .filter(Filter::new("starts_at", FilterOp::Le, &progress.window_end));
                    let appointments = self
                        .cliniko
                        .appointments_page(account, Lane::Background, &query, page)
                        .await?;
                    if zones.is_none() && !appointments.items.is_empty() {
                        zones = Some(Zones::load(self.cliniko.as_ref(), account).await?);
                    }
                    for appointment in &appointments.items {
                        let time_zone = zones.as_ref().map_or(chrono_tz::Tz::UTC, |z| {
                            z.of(appointment.business_id.as_ref())
                        });
                        let data = EventData::Appointment(BookedAppointment {
                            appointment: appointment.clone(),
                            time_zone,
                        });
                        self.queue(tenant, EventType::AppointmentCreated, data, &target)
                            .await?;
                    }
                    progress.appointments_queued += count(&appointments);
                    progress.appointments_total = Some(total(&appointments));
                    appointments.is_last(page)
                }
            };
            let now = Utc::now();
            progress.updated_at = now;
            progress.last_error = None;
            let ended = if !last {
                progress.next_page += 1;
                None
            } else if progress.phase == FhirResource::Patient && progress.with_appointments {
                progress.phase = FhirResource::Appointment;
                progress.next_page = 1;
                None
            } else {
                Some(Ended::Done)
            };
            if let Some(ended) = ended {
                // Written by the caller, with the end state.
                return Ok(ended);
            }
            if !self
                .backfills
                .save(tenant, progress, lease, now + LEASE)
                .await?
            {
                return Ok(Ended::Lost);
            }
        }
    }

    async fn queue(
        &self,
        tenant: TenantId,
        event_type: EventType,
        data: EventData,
        target: &[Target],
    ) -> Result<()> {
        let event = NewEvent {
            event_type,
            occurred_at: Utc::now(),
            data,
        };
        self.events.publish_to(tenant, event, target).await?;
        Ok(())
    }

    /// Starts every backfill whose instance stopped or whose pause is over (at most `limit`),
    /// each as its own task so a long run does not hold up the next look; how many were found.
    /// A run another instance claims first is left to it.
    ///
    /// # Errors
    /// The store's errors finding them (each run's own errors are logged).
    pub async fn resume_lapsed(&self, limit: u64) -> Result<usize> {
        let lapsed = self.backfills.lapsed(Utc::now(), limit).await?;
        for (tenant, id) in &lapsed {
            let (service, tenant, id) = (self.clone(), *tenant, *id);
            tokio::spawn(async move {
                if let Err(err) = service.run(tenant, id).await {
                    tracing::warn!(tenant_id = %tenant, fhir_destination_id = %id, error = %err, "a FHIR backfill could not be resumed; the upkeep tries again");
                }
            });
        }
        Ok(lapsed.len())
    }
}

fn count<T>(page: &ListPage<T>) -> u64 {
    u64::try_from(page.items.len()).unwrap_or(u64::MAX)
}

fn total<T>(page: &ListPage<T>) -> u64 {
    u64::try_from(page.total).unwrap_or(u64::MAX)
}

/// The shown code of a failure that passes (the run waits and goes on), or `None` for one that
/// does not.
fn passing(err: &Error) -> Option<&'static str> {
    match err {
        Error::RateLimited { .. } => Some("cliniko_rate_limited"),
        Error::Upstream { .. } => Some("cliniko_unavailable"),
        Error::Unavailable { .. } => Some("storage_unavailable"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_run_reads_patients_from_the_first_page_over_the_documented_window() {
        let now: DateTime<Utc> = "2030-05-21T08:00:00Z".parse().unwrap();
        let run = FhirBackfill::fresh(FhirDestinationId::new(), true, now);
        assert_eq!(run.state, BackfillState::Running);
        assert_eq!(run.phase, FhirResource::Patient);
        assert_eq!(run.next_page, 1);
        assert_eq!(
            run.window_start,
            "2030-04-21T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            run.window_end,
            "2030-08-19T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn state_names_round_trip_and_passing_failures_are_told_apart() {
        for state in [
            BackfillState::Running,
            BackfillState::Done,
            BackfillState::Failed,
        ] {
            assert_eq!(BackfillState::parse(state.as_str()), Some(state));
        }
        assert_eq!(BackfillState::parse("paused"), None);
        assert_eq!(
            passing(&Error::RateLimited {
                retry_after: std::time::Duration::from_secs(1)
            }),
            Some("cliniko_rate_limited")
        );
        assert_eq!(passing(&Error::internal("bug")), None);
    }
}

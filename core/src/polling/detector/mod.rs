//! [`ChangeDetector`]: polls one clinic's Cliniko for what changed and commits the events it
//! means with what is kept to diff the next versions, in one transaction; ClinicGate's own writes
//! go through the same diff ([`ChangeDetector::appointment_written`]).
//!
//! A poll, for a clinic whose lease this instance holds:
//! 1. the clinic must be active and its Cliniko key connected and not refused (else polling it
//!    stops until it is scheduled again);
//! 2. for appointments, patients and (every `hours_interval`) working hours: the records changed
//!    since the cursor less the overlap (Cliniko's timestamps have one-second resolution, and a
//!    write may become visible after a later one), on the budget's background lane, at most
//!    `batch_records` each; the first read of a resource is its baseline (silent);
//! 3. each version is diffed against its snapshot; arrived appointments whose end has passed
//!    complete; touched doctors' availability and queues are worked out;
//! 4. snapshots, cursors, marks, events and deliveries are committed only if the lease is still
//!    held and every snapshot is still at the revision read. A failure anywhere stores nothing:
//!    the cursor never moves past a change that was not announced.
//!
//! The next poll is due after `busy_interval` when something changed or more is left to read,
//! `idle_interval` otherwise, and after an exponential backoff (up to `max_backoff`, at least
//! Cliniko's own pause) when Cliniko refused or failed.

mod batch;
mod body;
pub(super) mod zones;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng as _;

use self::batch::{Batch, DUE_PER_COMMIT, FirstSight, Services};
use self::zones::{ZoneSource, Zones};
use super::{Committed, Cursor, Fingerprints, PollClaim, PollCommit, PollStore, Release, Resource};
use crate::booking::BookedAppointment;
use crate::clinics::{ClinicRepository, ClinicStatus};
use crate::cliniko::{ChangeQuery, Changed, ClinikoAccount, ClinikoClient, Feed, Lane};
use crate::cliniko_key::{Background, ClinikoKeyService};
use crate::error::UpstreamFailure;
use crate::events::EventPublisher;
use crate::ids::TenantId;
use crate::secrets::{SecretPurpose, Vault};
use crate::{Error, Result};

/// How the change detector polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSettings {
    /// How far before the cursor each read starts again.
    pub overlap: Duration,
    /// The time to the next poll of a clinic where something changed.
    pub busy_interval: Duration,
    /// The time to the next poll of a quiet clinic.
    pub idle_interval: Duration,
    /// How often working hours are read (they change rarely; each read costs a Cliniko call).
    pub hours_interval: Duration,
    /// The longest backoff after failures.
    pub max_backoff: Duration,
    /// Records read per resource per poll, at most (about: reads stop at a page's end).
    pub batch_records: usize,
    /// How long a claim holds a clinic; a poll is abandoned before it runs out.
    pub lease: Duration,
    /// How far back the appointments baseline reads (appointments that started earlier are
    /// taken as they are the first time they change).
    pub baseline_past: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            overlap: Duration::from_secs(5),
            busy_interval: Duration::from_secs(2),
            idle_interval: Duration::from_secs(10),
            hours_interval: Duration::from_secs(60),
            max_backoff: Duration::from_secs(120),
            batch_records: 1000,
            lease: Duration::from_secs(60),
            baseline_past: Duration::from_secs(24 * 3600),
        }
    }
}

impl PollSettings {
    /// The longest a poll may take: a margin before its lease runs out, so its commit still
    /// holds the lease.
    pub fn poll_timeout(&self) -> Duration {
        self.lease.saturating_sub(self.lease / 4)
    }
}

/// How a poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PollOutcome {
    /// Something changed (events were committed).
    Changed,
    /// Read, committed, nothing to announce.
    Idle,
    /// The clinic has no Cliniko key: polling stops until one is connected.
    NotConnected,
    /// The clinic is suspended: polling stops.
    Suspended,
    /// Cliniko refused the key: polling stops until a key works again.
    KeyRejected,
    /// Cliniko (or the shared budget) said to wait.
    RateLimited,
    /// Cliniko failed or timed out.
    UpstreamError,
    /// The poll ran longer than its lease allows (Cliniko slow, or the clinic's budget busy
    /// with clinicians and API clients): abandoned, nothing stored.
    TimedOut,
    /// Something on our side failed (database, vault).
    Failed,
    /// The lease ran out and another instance took the clinic over: nothing stored.
    LeaseLost,
    /// A record was written meanwhile (an own write): nothing stored, polled again soon.
    Conflict,
}

impl PollOutcome {
    /// Label for metrics and the schedule.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::Idle => "idle",
            Self::NotConnected => "not_connected",
            Self::Suspended => "suspended",
            Self::KeyRejected => "key_rejected",
            Self::RateLimited => "rate_limited",
            Self::UpstreamError => "upstream_error",
            Self::TimedOut => "timed_out",
            Self::Failed => "failed",
            Self::LeaseLost => "lease_lost",
            Self::Conflict => "conflict",
        }
    }
}

/// Detects changes in clinics' Cliniko; cheap to clone.
#[derive(Debug, Clone)]
pub struct ChangeDetector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cliniko: Arc<dyn ClinikoClient>,
    keys: ClinikoKeyService,
    clinics: Arc<dyn ClinicRepository>,
    store: Arc<dyn PollStore>,
    vault: Vault,
    publisher: EventPublisher,
    settings: PollSettings,
}

/// What the reads of one poll brought.
struct Read {
    cursor: Cursor,
    existed: bool,
    records: Changed,
    complete: bool,
}

impl ChangeDetector {
    /// A detector reading `cliniko` with the clinics' `keys`, keeping its state in `store`,
    /// publishing through `publisher`.
    pub fn new(
        cliniko: Arc<dyn ClinikoClient>,
        keys: ClinikoKeyService,
        clinics: Arc<dyn ClinicRepository>,
        store: Arc<dyn PollStore>,
        vault: Vault,
        publisher: EventPublisher,
        settings: PollSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                cliniko,
                keys,
                clinics,
                store,
                vault,
                publisher,
                settings,
            }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &PollSettings {
        &self.inner.settings
    }

    /// Schedules every clinic with a working Cliniko key (new ones are due at once); returns how
    /// many there are.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn schedule_connected(&self) -> Result<usize> {
        let tenants = self.inner.keys.connected_clinics().await?;
        self.inner.store.schedule(&tenants, Utc::now()).await?;
        Ok(tenants.len())
    }

    /// Claims up to `limit` due clinics for `owner` (this instance).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn claim(&self, owner: &str, limit: u32) -> Result<Vec<PollClaim>> {
        self.inner
            .store
            .claim(owner, Utc::now(), self.inner.settings.lease, limit)
            .await
    }

    /// Every polled clinic with the time since a poll of it last succeeded (`None`: never).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn lags(&self) -> Result<Vec<(TenantId, Option<Duration>)>> {
        let now = Utc::now();
        Ok(self
            .inner
            .store
            .last_successes()
            .await?
            .into_iter()
            .map(|(tenant, at)| {
                (
                    tenant,
                    at.map(|at| (now - at).to_std().unwrap_or(Duration::ZERO)),
                )
            })
            .collect())
    }

    /// Forgets what is no longer needed: snapshots of appointments long past, marks of past days.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn prune(&self) -> Result<u64> {
        self.inner.store.prune(Utc::now()).await
    }

    /// Polls the clinic of `claim` once and ends the claim (a commit, or a release with the time
    /// of the next poll). Never fails: what went wrong is the outcome (and is logged).
    #[tracing::instrument(name = "poll", skip_all, fields(tenant_id = %claim.tenant_id))]
    pub async fn poll(&self, claim: &PollClaim) -> PollOutcome {
        let settings = &self.inner.settings;
        let polled = tokio::time::timeout(settings.poll_timeout(), self.poll_clinic(claim)).await;
        let (outcome, retry_after) = match polled {
            Ok(Ok(outcome)) => return outcome,
            Ok(Err(err)) => classify(&err),
            Err(_) => {
                tracing::warn!("a poll took longer than its lease allows; abandoned");
                (PollOutcome::TimedOut, None)
            }
        };
        let release = match outcome {
            PollOutcome::KeyRejected => self.stop(outcome),
            _ => Release {
                next_poll_at: Utc::now()
                    + chrono_duration(backoff(settings, claim.failures, retry_after)),
                outcome: outcome.as_str(),
                failed: true,
                disable: false,
            },
        };
        self.release(claim, release).await;
        outcome
    }

    /// The release that stops polling a clinic until it is scheduled again.
    fn stop(&self, outcome: PollOutcome) -> Release {
        Release {
            next_poll_at: Utc::now() + chrono_duration(self.inner.settings.idle_interval),
            outcome: outcome.as_str(),
            failed: false,
            disable: true,
        }
    }

    async fn release(&self, claim: &PollClaim, release: Release) {
        match self.inner.store.release(claim, release).await {
            Ok(true) => {}
            Ok(false) => tracing::info!("the poll's lease was taken over meanwhile"),
            Err(err) => {
                // The lease runs out by itself; another poll then tries again.
                tracing::warn!(error = %err, "could not release a poll's lease");
            }
        }
    }

    async fn poll_clinic(&self, claim: &PollClaim) -> Result<PollOutcome> {
        let inner = &self.inner;
        let tenant = claim.tenant_id;
        match inner.clinics.find_by_id(tenant).await? {
            Some(clinic) if clinic.status == ClinicStatus::Active => {}
            _ => {
                self.release(claim, self.stop(PollOutcome::Suspended)).await;
                return Ok(PollOutcome::Suspended);
            }
        }
        let polled = inner
            .keys
            .in_background(tenant, |account| async move {
                self.poll_account(claim, &account).await
            })
            .await?;
        let outcome = match polled {
            Background::Done(outcome) => return Ok(outcome),
            Background::NotConnected => PollOutcome::NotConnected,
            Background::Rejected => PollOutcome::KeyRejected,
        };
        self.release(claim, self.stop(outcome)).await;
        Ok(outcome)
    }

    async fn poll_account(
        &self,
        claim: &PollClaim,
        account: &ClinikoAccount,
    ) -> Result<PollOutcome> {
        let inner = &self.inner;
        let settings = &inner.settings;
        let tenant = claim.tenant_id;
        let now = Utc::now();
        let mut cursors: HashMap<Resource, Cursor> = inner
            .store
            .cursors(tenant)
            .await?
            .into_iter()
            .map(|c| (c.resource, c))
            .collect();
        let mut reads = Vec::new();
        for resource in Resource::ALL {
            let existed = cursors.contains_key(&resource);
            let cursor = cursors.remove(&resource).unwrap_or(Cursor {
                resource,
                cursor_at: None,
                watching_since: now,
                baseline_done: false,
                read_at: now,
                phones_indexed: false,
            });
            if resource == Resource::Hours
                && existed
                && now - cursor.read_at < chrono_duration(settings.hours_interval)
            {
                continue;
            }
            let query = self.query(&cursor);
            let changes = inner
                .cliniko
                .changes(account, Lane::Background, &query)
                .await?;
            reads.push(Read {
                cursor,
                existed,
                records: changes.records,
                complete: changes.complete,
            });
        }
        let fingerprints = Fingerprints::new(
            inner
                .vault
                .mac_key(tenant, SecretPurpose::PollSnapshot)
                .await?,
        );
        let services = self.services(&fingerprints);
        let zones = ZoneSource::Cliniko {
            cliniko: inner.cliniko.as_ref(),
            account,
        };
        let mut batch = Batch::new(tenant, now, services, zones);
        let mut cursors_reached = Vec::new();
        let mut complete = true;
        for read in &reads {
            self.diff(&mut batch, tenant, read).await?;
            complete &= read.complete;
            if let Some(cursor) = self.reached(read, now) {
                cursors_reached.push(cursor);
            }
        }
        for due in inner
            .store
            .due_snapshots(tenant, now, DUE_PER_COMMIT)
            .await?
        {
            batch.complete(&due).await?;
        }
        let busy = !complete || batch.versions() > 0;
        let announced = batch.has_events();
        let finished = batch.finish().await?;
        let announced = announced || !finished.events.is_empty();
        let interval = if busy {
            settings.busy_interval
        } else {
            settings.idle_interval
        };
        let commit = PollCommit {
            lease: Some(claim.lease),
            next_poll_at: Some(now + chrono_duration(interval)),
            snapshots: finished.snapshots,
            cursors: cursors_reached,
            marks: finished.marks,
            events: finished.events,
        };
        Ok(match inner.store.commit(tenant, commit).await? {
            Committed::Done if announced => {
                inner.publisher.appended();
                PollOutcome::Changed
            }
            Committed::Done => PollOutcome::Idle,
            Committed::LeaseLost => PollOutcome::LeaseLost,
            Committed::Conflict => {
                let release = Release {
                    next_poll_at: now + chrono_duration(settings.busy_interval),
                    outcome: PollOutcome::Conflict.as_str(),
                    failed: false,
                    disable: false,
                };
                self.release(claim, release).await;
                PollOutcome::Conflict
            }
        })
    }

    fn services<'a>(&'a self, fingerprints: &'a Fingerprints) -> Services<'a> {
        Services {
            store: self.inner.store.as_ref(),
            vault: &self.inner.vault,
            publisher: &self.inner.publisher,
            fingerprints,
        }
    }

    /// What to ask Cliniko for from `cursor`.
    fn query(&self, cursor: &Cursor) -> ChangeQuery {
        let settings = &self.inner.settings;
        let feed = match cursor.resource {
            Resource::Appointments => Feed::Appointments,
            Resource::Patients => Feed::Patients,
            Resource::Hours => Feed::DailyAvailabilities,
        };
        let baseline_window = (cursor.resource == Resource::Appointments && !cursor.baseline_done)
            .then(|| cursor.watching_since - chrono_duration(settings.baseline_past));
        ChangeQuery {
            feed,
            since: cursor
                .cursor_at
                .map(|at| at - chrono_duration(settings.overlap)),
            starting_from: baseline_window,
            max_records: settings.batch_records,
        }
    }

    /// Diffs every record of `read` against its snapshot.
    async fn diff(&self, batch: &mut Batch<'_>, tenant: TenantId, read: &Read) -> Result<()> {
        let first = if read.cursor.baseline_done {
            FirstSight::WatchingSince(
                read.cursor.watching_since - chrono_duration(self.inner.settings.overlap),
            )
        } else {
            FirstSight::Baseline
        };
        let ids: Vec<_> = match &read.records {
            Changed::Appointments(records) => records.iter().map(|r| r.id.clone()).collect(),
            Changed::Patients(records) => records.iter().map(|r| r.id.clone()).collect(),
            Changed::DailyAvailabilities(records) => records.iter().map(|r| r.id.clone()).collect(),
        };
        let kept: HashMap<_, _> = self
            .inner
            .store
            .snapshots(tenant, read.cursor.resource, &ids)
            .await?
            .into_iter()
            .map(|s| (s.record_id.clone(), s))
            .collect();
        match &read.records {
            Changed::Appointments(records) => {
                for record in records {
                    batch
                        .appointment(record, kept.get(&record.id), first)
                        .await?;
                }
            }
            Changed::Patients(records) => {
                for record in records {
                    batch.patient(record, kept.get(&record.id), first)?;
                }
            }
            Changed::DailyAvailabilities(records) => {
                for record in records {
                    batch.hours(record, kept.get(&record.id), first)?;
                }
            }
        }
        Ok(())
    }

    /// The cursor `read` reached, if it must be stored: the highest `updated_at` read, the
    /// baseline done once a read of it was complete (then never behind the start of watching),
    /// and when it was read (kept for working hours, read on their own interval).
    fn reached(&self, read: &Read, now: DateTime<Utc>) -> Option<Cursor> {
        let latest = match &read.records {
            Changed::Appointments(records) => records.iter().filter_map(|r| r.updated_at).max(),
            Changed::Patients(records) => records.iter().filter_map(|r| r.updated_at).max(),
            Changed::DailyAvailabilities(records) => {
                records.iter().filter_map(|r| r.updated_at).max()
            }
        };
        let before = &read.cursor;
        let mut cursor = Cursor {
            cursor_at: before.cursor_at.max(latest),
            read_at: now,
            ..before.clone()
        };
        if before.resource == Resource::Patients && read.complete {
            // The list is read from its start whenever the index is not complete (a new
            // clinic's baseline; the migration that began the index reset the cursor).
            cursor.phones_indexed = true;
        }
        if !before.baseline_done && read.complete {
            cursor.baseline_done = true;
            // Everything that could matter before this was in the baseline read.
            let start = before.watching_since - chrono_duration(self.inner.settings.overlap);
            cursor.cursor_at = cursor.cursor_at.max(Some(start));
        }
        let moved = cursor.cursor_at != before.cursor_at
            || cursor.baseline_done != before.baseline_done
            || cursor.phones_indexed != before.phones_indexed;
        (moved || !read.existed || read.cursor.resource == Resource::Hours).then_some(cursor)
    }

    /// Diffs an appointment ClinicGate itself just booked or changed in Cliniko against what was
    /// kept, and commits its events with the new snapshot at once — so a partner hears without
    /// waiting for the next poll, and the poll that reads the same version later has nothing
    /// left to announce. A concurrent poll that committed first is seen (the snapshot's revision
    /// moved) and the diff is made again against its result.
    ///
    /// # Errors
    /// Storage or vault failures; then the events are not lost: the poller announces them when
    /// it reads the version.
    #[tracing::instrument(name = "own_write", skip_all, fields(tenant_id = %tenant))]
    pub async fn appointment_written(
        &self,
        tenant: TenantId,
        booked: &BookedAppointment,
    ) -> Result<()> {
        const ATTEMPTS: usize = 3;
        let inner = &self.inner;
        let overlap = chrono_duration(inner.settings.overlap);
        let appointment = &booked.appointment;
        let fingerprints = Fingerprints::new(
            inner
                .vault
                .mac_key(tenant, SecretPurpose::PollSnapshot)
                .await?,
        );
        for _ in 0..ATTEMPTS {
            let now = Utc::now();
            let watching_since = inner
                .store
                .cursors(tenant)
                .await?
                .into_iter()
                .find(|c| c.resource == Resource::Appointments)
                .map_or(now, |c| c.watching_since);
            let kept = inner
                .store
                .snapshots(
                    tenant,
                    Resource::Appointments,
                    std::slice::from_ref(&appointment.id),
                )
                .await?;
            let zones = Zones::one(appointment.business_id.clone(), booked.time_zone);
            let mut batch = Batch::new(
                tenant,
                now,
                self.services(&fingerprints),
                ZoneSource::Known(Arc::new(zones)),
            );
            batch
                .appointment(
                    appointment,
                    kept.first(),
                    FirstSight::WatchingSince(watching_since - overlap),
                )
                .await?;
            let finished = batch.finish().await?;
            if finished.snapshots.is_empty() && finished.marks.is_empty() {
                return Ok(());
            }
            let announced = !finished.events.is_empty();
            let commit = PollCommit {
                snapshots: finished.snapshots,
                marks: finished.marks,
                events: finished.events,
                ..PollCommit::default()
            };
            match inner.store.commit(tenant, commit).await? {
                Committed::Done => {
                    if announced {
                        inner.publisher.appended();
                    }
                    return Ok(());
                }
                Committed::LeaseLost => return Ok(()),
                Committed::Conflict => continue,
            }
        }
        Err(Error::Unavailable {
            dependency: "change detector",
        })
    }
}

/// The wait before polling again after `failures` earlier failures and one more: doubling from
/// the busy interval up to `max_backoff`, never shorter than Cliniko asked, jittered ±20 % so
/// clinics that failed together do not come back together.
fn backoff(settings: &PollSettings, failures: u32, retry_after: Option<Duration>) -> Duration {
    let doubled = settings
        .busy_interval
        .saturating_mul(1_u32 << failures.min(16))
        .min(settings.max_backoff);
    let jittered = doubled.mul_f64(rand::rng().random_range(0.8..=1.2));
    retry_after.map_or(jittered, |asked| jittered.max(asked))
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// The outcome an error means, and how long Cliniko asked to wait.
fn classify(err: &Error) -> (PollOutcome, Option<Duration>) {
    match err {
        Error::RateLimited { retry_after } => (PollOutcome::RateLimited, Some(*retry_after)),
        Error::Upstream {
            failure: UpstreamFailure::Unauthorized | UpstreamFailure::Forbidden,
            ..
        } => (PollOutcome::KeyRejected, None),
        Error::Upstream { .. } => (PollOutcome::UpstreamError, None),
        other => {
            tracing::warn!(error = %other, "a poll failed");
            (PollOutcome::Failed, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_polls_back_off_doubling_to_a_cap_and_never_sooner_than_cliniko_asked() {
        let settings = PollSettings::default();
        let within = |wait: Duration, nominal: u64| {
            let nominal = Duration::from_secs(nominal);
            wait >= nominal.mul_f64(0.8) && wait <= nominal.mul_f64(1.2)
        };
        assert!(within(backoff(&settings, 0, None), 2));
        assert!(within(backoff(&settings, 3, None), 16));
        assert!(within(backoff(&settings, 30, None), 120), "capped");
        let asked = Duration::from_secs(90);
        assert!(backoff(&settings, 0, Some(asked)) >= asked);
    }

    #[test]
    fn cliniko_s_refusals_are_told_apart() {
        let wait = Duration::from_secs(7);
        assert_eq!(
            classify(&Error::RateLimited { retry_after: wait }),
            (PollOutcome::RateLimited, Some(wait))
        );
        let refused = Error::Upstream {
            service: "cliniko",
            failure: UpstreamFailure::Unauthorized,
        };
        assert_eq!(classify(&refused).0, PollOutcome::KeyRejected);
        let down = Error::Upstream {
            service: "cliniko",
            failure: UpstreamFailure::ServerError(503),
        };
        assert_eq!(classify(&down).0, PollOutcome::UpstreamError);
        assert_eq!(classify(&Error::internal("boom")).0, PollOutcome::Failed);
    }
}

//! The poller's durable state, as a port the database implements: the per-clinic schedule and
//! lease, cursors, snapshots and marks, and the one transaction that commits a poll.
//!
//! Exactly one instance polls a clinic at a time: a claim takes the clinic's lease (held until
//! `lease_until`, so an instance that died mid-poll loses it by time), and committing a poll
//! checks the lease is still the one claimed. Snapshots and marks carry a revision: a commit
//! names the revision it diffed against (or that the record was unknown), so two writers — a
//! poll and one of ClinicGate's own writes, or a poll that outlived its lease — never both
//! announce one change: the second commit finds a newer revision, changes nothing, and its
//! writer diffs again.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::appointments::AppointmentState;
use super::availability::AvailabilityMark;
use super::fingerprint::Fingerprint;
use crate::Result;
use crate::cliniko::ClinikoId;
use crate::events::PreparedEvent;
use crate::ids::TenantId;
use crate::secrets::SealedSecret;

crate::ids::uuid_id!(
    /// One claim of a clinic's polling by an instance.
    PollLease
);

/// A kind of Cliniko record the poller follows, each with its own cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// Individual appointments.
    Appointments,
    /// Patients.
    Patients,
    /// Practitioners' daily availabilities (working hours).
    Hours,
}

impl Resource {
    /// Every resource.
    pub const ALL: [Self; 3] = [Self::Appointments, Self::Patients, Self::Hours];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Appointments => "appointments",
            Self::Patients => "patients",
            Self::Hours => "hours",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// A clinic an instance now polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollClaim {
    /// The clinic.
    pub tenant_id: TenantId,
    /// The claim (what a commit proves it still holds).
    pub lease: PollLease,
    /// When a poll of it last succeeded.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Polls that failed in a row (for the backoff).
    pub failures: u32,
}

/// How far a clinic's resource has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Which resource.
    pub resource: Resource,
    /// The highest Cliniko `updated_at` read (`None`: nothing read yet).
    pub cursor_at: Option<DateTime<Utc>>,
    /// When ClinicGate began watching: records created earlier are the baseline.
    pub watching_since: DateTime<Utc>,
    /// The baseline has been read in full: from now on, changes are events.
    pub baseline_done: bool,
    /// When the resource was last read (working hours are read less often than the rest).
    pub read_at: DateTime<Utc>,
    /// Patients: a read from the start of the list reached its end since the phone index began,
    /// so every patient Cliniko lists is in it ([`super::phones`]).
    pub phones_indexed: bool,
}

/// What is kept of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Which resource.
    pub resource: Resource,
    /// Cliniko's id.
    pub record_id: ClinikoId,
    /// Cliniko's `updated_at` of the version kept (informative: two writes in one second share
    /// it, so a record read again is always diffed, never skipped on this).
    pub source_updated_at: Option<DateTime<Utc>>,
    /// Fingerprint of what a subscriber sees (for appointments: patient and notes).
    pub fingerprint: Fingerprint,
    /// The plain state (appointments).
    pub state: Option<AppointmentState>,
    /// The record, sealed (only for an arrived appointment that may still complete, whose
    /// `appointment.completed` is emitted when only time has passed).
    pub body: Option<SealedSecret>,
    /// The doctor, for queries by doctor.
    pub doctor_id: Option<ClinikoId>,
    /// The clinic-local day of a queue member (arrived appointments).
    pub queue_day: Option<NaiveDate>,
    /// When this record must be looked at again without a new version (a completion).
    pub due_at: Option<DateTime<Utc>>,
    /// Bumped by every write.
    pub revision: i64,
    /// When it is forgotten (past appointments); `None`: kept.
    pub expires_at: Option<DateTime<Utc>>,
    /// Patients: the index keys of their phone numbers ([`super::phones`]), written with this
    /// snapshot in place of the ones kept (`None`: left as they are).
    pub phone_keys: Option<Vec<Fingerprint>>,
    /// Patients, as read: their phone numbers are in the index (rows kept from before the index
    /// existed are not, until the patient is read again).
    pub phones_indexed: bool,
}

/// What a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No row yet.
    Absent,
    /// The row at this revision.
    Revision(i64),
}

impl Expect {
    /// What to expect of a row read as `revision` (`None`: not there).
    pub fn of(revision: Option<i64>) -> Self {
        revision.map_or(Self::Absent, Self::Revision)
    }
}

/// Which kind of mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarkKind {
    /// Per doctor: `doctor.availability_changed` coalescing.
    Availability,
    /// Per doctor and day: the queue last sent.
    Queue,
}

impl MarkKind {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Availability => "availability",
            Self::Queue => "queue",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Availability, Self::Queue]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// A mark: what was last sent for a doctor (availability) or a doctor's day (queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Which kind.
    pub kind: MarkKind,
    /// The doctor id, or `{doctor}/{YYYY-MM-DD}` for a queue.
    pub key: String,
    /// The queue last sent.
    pub fingerprint: Option<Fingerprint>,
    /// The availability coalescing.
    pub availability: AvailabilityMark,
    /// When this mark must be looked at again (a held change, a queue's next start or end).
    pub due_at: Option<DateTime<Utc>>,
    /// Bumped by every write.
    pub revision: i64,
    /// When it is forgotten (a past day's queue); `None`: kept.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Mark {
    /// A fresh mark.
    pub fn new(kind: MarkKind, key: String) -> Self {
        Self {
            kind,
            key,
            fingerprint: None,
            availability: AvailabilityMark::default(),
            due_at: None,
            revision: 0,
            expires_at: None,
        }
    }
}

/// Everything one poll (or one of ClinicGate's own writes) stores, in one transaction.
#[derive(Debug, Default)]
pub struct PollCommit {
    /// The poll's claim, checked and released (`None` for own writes, which hold no lease).
    pub lease: Option<PollLease>,
    /// When the clinic is next due (with a lease).
    pub next_poll_at: Option<DateTime<Utc>>,
    /// Snapshots, each with the revision it was diffed against.
    pub snapshots: Vec<(Snapshot, Expect)>,
    /// Cursors reached.
    pub cursors: Vec<Cursor>,
    /// Marks, each with the revision it was read at.
    pub marks: Vec<(Mark, Expect)>,
    /// Events with their deliveries.
    pub events: Vec<PreparedEvent>,
}

/// What came of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Stored.
    Done,
    /// The lease ran out and another instance claimed the clinic: nothing stored.
    LeaseLost,
    /// A snapshot or mark changed since it was read: nothing stored; read and diff again.
    Conflict,
}

/// How a poll that stores nothing ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// When the clinic is next due.
    pub next_poll_at: DateTime<Utc>,
    /// The outcome's name (for the operator).
    pub outcome: &'static str,
    /// It failed (counts towards the backoff) or not (resets it).
    pub failed: bool,
    /// Stop polling the clinic until it is scheduled again (Cliniko disconnected, clinic
    /// suspended).
    pub disable: bool,
}

/// The poller's storage.
#[async_trait]
pub trait PollStore: Send + Sync + fmt::Debug {
    /// Makes sure `tenants` are polled: new ones are due at once, disabled ones are enabled.
    async fn schedule(&self, tenants: &[TenantId], now: DateTime<Utc>) -> Result<()>;

    /// Claims up to `limit` enabled clinics due by `now` whose lease is free or ran out, for
    /// `lease_for`, on behalf of `owner` (an instance name, for the operator).
    async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: u32,
    ) -> Result<Vec<PollClaim>>;

    /// Ends a claim without storing a poll; `false` when the lease was lost.
    async fn release(&self, claim: &PollClaim, release: Release) -> Result<bool>;

    /// Every enabled clinic with when a poll of it last succeeded (for the lag metric).
    async fn last_successes(&self) -> Result<Vec<(TenantId, Option<DateTime<Utc>>)>>;

    /// The clinic's cursors.
    async fn cursors(&self, tenant: TenantId) -> Result<Vec<Cursor>>;

    /// The clinic's snapshots of `resource` among `ids`.
    async fn snapshots(
        &self,
        tenant: TenantId,
        resource: Resource,
        ids: &[ClinikoId],
    ) -> Result<Vec<Snapshot>>;

    /// The clinic's snapshots due by `now`, at most `limit`.
    async fn due_snapshots(
        &self,
        tenant: TenantId,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Snapshot>>;

    /// The members of a doctor's queue on a day.
    async fn queue_members(
        &self,
        tenant: TenantId,
        doctor: &ClinikoId,
        day: NaiveDate,
    ) -> Result<Vec<Snapshot>>;

    /// The clinic's marks of `kind` among `keys`.
    async fn marks(&self, tenant: TenantId, kind: MarkKind, keys: &[String]) -> Result<Vec<Mark>>;

    /// The clinic's marks due by `now`, at most `limit`.
    async fn due_marks(
        &self,
        tenant: TenantId,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Mark>>;

    /// The clinic's patients with a phone number under one of `keys` (see [`super::phones`]);
    /// or that the index is not complete yet, or stale: no poll of the clinic succeeded since
    /// `fresh_since`.
    async fn patients_by_phone(
        &self,
        tenant: TenantId,
        keys: &[Fingerprint],
        fresh_since: DateTime<Utc>,
    ) -> Result<super::PhoneLookup>;

    /// Stores `commit` for `tenant` in one transaction, or nothing.
    async fn commit(&self, tenant: TenantId, commit: PollCommit) -> Result<Committed>;

    /// Forgets the snapshots and marks of every clinic that expired by `now`; how many went.
    async fn prune(&self, now: DateTime<Utc>) -> Result<u64>;
}

//! One commit's worth of change detection, the same for a poll and for one of ClinicGate's own
//! writes: each new version is diffed against its snapshot ([`Batch::appointment`],
//! [`Batch::patient`], [`Batch::hours`]), time-based completions are added
//! ([`Batch::complete`]), then [`Batch::finish`] works out the doctors' availability and queue
//! marks those touched, prepares every event and returns what to commit.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::body;
use super::zones::ZoneSource;
use crate::Result;
use crate::booking::BookedAppointment;
use crate::cliniko::{Appointment, ClinikoId, DailyAvailability, Patient};
use crate::events::{EventData, EventPublisher, EventType, NewEvent, PatientRecord, PreparedEvent};
use crate::ids::TenantId;
use crate::polling::appointments::{self, AppointmentState};
use crate::polling::queue::{self, QueueMember};
use crate::polling::{
    Expect, Fingerprint, Fingerprints, Mark, MarkKind, PollStore, Prior, Resource, Snapshot,
    availability, hours, patients, phones,
};
use crate::secrets::Vault;

/// Due snapshots and marks handled per commit; the rest wait for the next poll.
pub(super) const DUE_PER_COMMIT: u64 = 200;

/// How long an appointment's snapshot is kept after it ended: long enough for late arrival
/// marks and corrections to be diffed; an appointment changed after that is taken as it is.
const KEEP_PAST_APPOINTMENTS: chrono::Duration = chrono::Duration::days(30);

/// How long a day's queue mark is kept after the day began (the day and the next, whatever the
/// zone).
const KEEP_QUEUE_DAYS: chrono::Duration = chrono::Duration::days(3);

/// How long a doctor's availability mark is kept after it was last written (its job, the
/// per-minute coalescing, is long over).
const KEEP_AVAILABILITY_MARK: chrono::Duration = chrono::Duration::days(1);

/// How a record seen for the first time is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FirstSight {
    /// Silently: the baseline is being read.
    Baseline,
    /// As new if created after this time (ClinicGate's start of watching, less the overlap).
    WatchingSince(DateTime<Utc>),
}

impl FirstSight {
    fn prior<S>(
        self,
        created_at: Option<DateTime<Utc>>,
        updated_at: Option<DateTime<Utc>>,
    ) -> Prior<'static, S> {
        match self {
            Self::Baseline => Prior::Adopted,
            Self::WatchingSince(since) => Prior::first_sight(created_at, updated_at, since),
        }
    }
}

/// A version of a record kept only as a fingerprint.
struct Version<'a> {
    resource: Resource,
    id: &'a ClinikoId,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    doctor_id: Option<ClinikoId>,
}

/// What one commit stores.
#[derive(Debug, Default)]
pub(super) struct Finished {
    pub snapshots: Vec<(Snapshot, Expect)>,
    pub marks: Vec<(Mark, Expect)>,
    pub events: Vec<PreparedEvent>,
}

/// The services a batch uses.
#[derive(Debug, Clone, Copy)]
pub(super) struct Services<'a> {
    pub store: &'a dyn PollStore,
    pub vault: &'a Vault,
    pub publisher: &'a EventPublisher,
    pub fingerprints: &'a Fingerprints,
}

/// Change detection for one clinic, gathered for one commit.
#[derive(Debug)]
pub(super) struct Batch<'a> {
    tenant: TenantId,
    now: DateTime<Utc>,
    services: Services<'a>,
    zones: ZoneSource<'a>,
    snapshots: Vec<(Snapshot, Expect)>,
    written: HashSet<(Resource, ClinikoId)>,
    events: Vec<NewEvent>,
    availability: BTreeSet<ClinikoId>,
    queues: BTreeMap<(ClinikoId, NaiveDate), Tz>,
    versions: usize,
}

fn snapshot_of(resource: Resource, id: &ClinikoId, fingerprint: Fingerprint) -> Snapshot {
    Snapshot {
        resource,
        record_id: id.clone(),
        source_updated_at: None,
        fingerprint,
        state: None,
        body: None,
        doctor_id: None,
        queue_day: None,
        due_at: None,
        revision: 0,
        expires_at: None,
        phone_keys: None,
        phones_indexed: false,
    }
}

fn queue_key(doctor: &ClinikoId, day: NaiveDate) -> String {
    format!("{doctor}/{}", day.format("%Y-%m-%d"))
}

fn parse_queue_key(key: &str) -> Option<(ClinikoId, NaiveDate)> {
    let (doctor, day) = key.split_once('/')?;
    Some((
        ClinikoId::parse(doctor)?,
        NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?,
    ))
}

fn member(id: &ClinikoId, state: &AppointmentState) -> QueueMember {
    QueueMember {
        appointment_id: id.clone(),
        clinic_id: state.clinic_id.clone(),
        starts_at: state.starts_at,
        ends_at: state.ends_at,
        arrived_at: state.arrived_at.unwrap_or(state.starts_at),
    }
}

impl<'a> Batch<'a> {
    pub(super) fn new(
        tenant: TenantId,
        now: DateTime<Utc>,
        services: Services<'a>,
        zones: ZoneSource<'a>,
    ) -> Self {
        Self {
            tenant,
            now,
            services,
            zones,
            snapshots: Vec::new(),
            written: HashSet::new(),
            events: Vec::new(),
            availability: BTreeSet::new(),
            queues: BTreeMap::new(),
            versions: 0,
        }
    }

    /// Records whose kept state changed (a version Cliniko's `updated_at` alone cannot tell:
    /// two writes in one second share it, so every record read is diffed).
    pub(super) fn versions(&self) -> usize {
        self.versions
    }

    /// Events gathered so far (before the marks').
    pub(super) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    fn event(&mut self, event_type: EventType, occurred_at: DateTime<Utc>, data: EventData) {
        self.events.push(NewEvent {
            event_type,
            occurred_at,
            data,
        });
    }

    fn write(&mut self, snapshot: Snapshot, kept: Option<&Snapshot>) {
        self.versions += 1;
        self.written
            .insert((snapshot.resource, snapshot.record_id.clone()));
        self.snapshots
            .push((snapshot, Expect::of(kept.map(|k| k.revision))));
    }

    /// A version of an appointment, with its snapshot if one is kept.
    pub(super) async fn appointment(
        &mut self,
        appointment: &Appointment,
        kept: Option<&Snapshot>,
        first: FirstSight,
    ) -> Result<()> {
        let content = appointments::content(self.services.fingerprints, appointment)?;
        let known = kept.and_then(|k| k.state.clone().map(|state| (state, k.fingerprint)));
        let prior = match &known {
            Some(known) => Prior::Known(known),
            None => first.prior(appointment.created_at, appointment.updated_at),
        };
        let outcome = appointments::diff(prior, appointment, content, self.now);
        if known
            .as_ref()
            .is_some_and(|(state, fingerprint)| *state == outcome.state && *fingerprint == content)
        {
            // Nothing kept changed: nothing to announce, nothing to store.
            return Ok(());
        }
        let zones = self.zones.get().await?;
        let zone = zones.of(appointment.business_id.as_ref());
        let occurred_at = appointment.updated_at.unwrap_or(self.now);
        for event_type in &outcome.events {
            self.event(
                *event_type,
                occurred_at,
                EventData::Appointment(BookedAppointment {
                    appointment: appointment.clone(),
                    time_zone: zone,
                }),
            );
        }
        self.availability.extend(outcome.availability);
        for touch in outcome.queues {
            let zone = zones.of(touch.clinic_id.as_ref());
            self.queues.insert(
                (touch.doctor_id, queue::day_of(touch.starts_at, zone)),
                zone,
            );
        }
        let state = outcome.state;
        let body = match state.due_at() {
            Some(_) => Some(body::seal(self.services.vault, self.tenant, appointment).await?),
            None => None,
        };
        let snapshot = Snapshot {
            source_updated_at: appointment.updated_at,
            body,
            doctor_id: state.doctor_id.clone(),
            queue_day: state
                .in_queue()
                .then(|| queue::day_of(state.starts_at, zone)),
            due_at: state.due_at(),
            expires_at: Some(state.end() + KEEP_PAST_APPOINTMENTS),
            state: Some(state),
            ..snapshot_of(Resource::Appointments, &appointment.id, content)
        };
        self.write(snapshot, kept);
        Ok(())
    }

    /// A version of a patient, with its snapshot if one is kept.
    pub(super) fn patient(
        &mut self,
        patient: &Patient,
        kept: Option<&Snapshot>,
        first: FirstSight,
    ) -> Result<()> {
        let record = PatientRecord::from(patient);
        let visible = patients::visible(self.services.fingerprints, &record)?;
        let version = Version {
            resource: Resource::Patients,
            id: &patient.id,
            created_at: patient.created_at,
            updated_at: patient.updated_at,
            doctor_id: None,
        };
        let phone_keys = phones::keys_of(self.services.fingerprints, patient)?;
        match self.refingerprint(&version, visible, kept, first, Some(phone_keys.clone())) {
            Some(prior) => {
                if let Some(event_type) = patients::diff(prior, visible) {
                    let occurred_at = patient.updated_at.unwrap_or(self.now);
                    self.event(event_type, occurred_at, EventData::Patient(record));
                }
            }
            // Unchanged, but kept from before the phone index: indexed now, silently.
            None => {
                if let Some(kept) = kept.filter(|k| !k.phones_indexed) {
                    let snapshot = Snapshot {
                        phone_keys: Some(phone_keys),
                        ..kept.clone()
                    };
                    self.write(snapshot, Some(kept));
                }
            }
        }
        Ok(())
    }

    /// A version of a doctor's working day, with its snapshot if one is kept.
    pub(super) fn hours(
        &mut self,
        day: &DailyAvailability,
        kept: Option<&Snapshot>,
        first: FirstSight,
    ) -> Result<()> {
        let visible = hours::visible(self.services.fingerprints, day)?;
        let version = Version {
            resource: Resource::Hours,
            id: &day.id,
            created_at: day.created_at,
            updated_at: day.updated_at,
            doctor_id: day.practitioner_id.clone(),
        };
        if let Some(prior) = self.refingerprint(&version, visible, kept, first, None) {
            self.availability.extend(hours::diff(prior, day, visible));
        }
        Ok(())
    }

    /// For a record kept only as a fingerprint: `None` when what a subscriber sees did not
    /// change; else the new snapshot (with `phone_keys`, for a patient) is queued and what was
    /// known before is returned.
    fn refingerprint<'k>(
        &mut self,
        version: &Version<'_>,
        visible: Fingerprint,
        kept: Option<&'k Snapshot>,
        first: FirstSight,
        phone_keys: Option<Vec<Fingerprint>>,
    ) -> Option<Prior<'k, Fingerprint>> {
        if kept.is_some_and(|k| k.fingerprint == visible) {
            return None;
        }
        let snapshot = Snapshot {
            source_updated_at: version.updated_at,
            doctor_id: version.doctor_id.clone(),
            phone_keys,
            ..snapshot_of(version.resource, version.id, visible)
        };
        self.write(snapshot, kept);
        Some(match kept {
            Some(kept) => Prior::Known(&kept.fingerprint),
            None => first.prior(version.created_at, version.updated_at),
        })
    }

    /// An arrived appointment whose end may have passed with no new version from Cliniko.
    pub(super) async fn complete(&mut self, kept: &Snapshot) -> Result<()> {
        if self
            .written
            .contains(&(kept.resource, kept.record_id.clone()))
        {
            return Ok(());
        }
        let Some(state) = kept
            .state
            .as_ref()
            .and_then(|state| appointments::complete_if_due(state, self.now))
        else {
            return Ok(());
        };
        if let Some(sealed) = &kept.body {
            let appointment = body::open(self.services.vault, self.tenant, sealed).await?;
            let time_zone = self.zones.get().await?.of(appointment.business_id.as_ref());
            self.event(
                EventType::AppointmentCompleted,
                self.now,
                EventData::Appointment(BookedAppointment {
                    appointment,
                    time_zone,
                }),
            );
        }
        let snapshot = Snapshot {
            state: Some(state),
            body: None,
            due_at: None,
            ..kept.clone()
        };
        self.write(snapshot, Some(kept));
        Ok(())
    }

    /// Works out the marks the batch touched (and those due), prepares every event, and returns
    /// what to commit.
    pub(super) async fn finish(mut self) -> Result<Finished> {
        let (held, queues): (Vec<Mark>, Vec<Mark>) = self
            .services
            .store
            .due_marks(self.tenant, self.now, DUE_PER_COMMIT)
            .await?
            .into_iter()
            .partition(|m| m.kind == MarkKind::Availability);
        let mut marks = self.availability_marks(held).await?;
        marks.extend(self.queue_marks(queues).await?);
        let mut events = Vec::with_capacity(self.events.len());
        for event in std::mem::take(&mut self.events) {
            events.push(self.services.publisher.prepare(self.tenant, event).await?);
        }
        Ok(Finished {
            snapshots: self.snapshots,
            marks,
            events,
        })
    }

    /// `doctor.availability_changed` for touched doctors (or held back), and held changes due.
    async fn availability_marks(&mut self, due: Vec<Mark>) -> Result<Vec<(Mark, Expect)>> {
        let store = self.services.store;
        let touched: Vec<String> = self.availability.iter().map(ToString::to_string).collect();
        let mut kept: HashMap<String, Mark> = store
            .marks(self.tenant, MarkKind::Availability, &touched)
            .await?
            .into_iter()
            .chain(due)
            .map(|m| (m.key.clone(), m))
            .collect();
        let mut keys: BTreeSet<String> = kept.keys().cloned().collect();
        keys.extend(touched.iter().cloned());
        let mut out = Vec::new();
        for key in keys {
            let before = kept.remove(&key);
            let mut mark = before
                .clone()
                .unwrap_or_else(|| Mark::new(MarkKind::Availability, key.clone()));
            let emit = if touched.contains(&key) {
                mark.availability.changed(self.now)
            } else {
                mark.availability.flush(self.now)
            };
            mark.due_at = mark.availability.due_at();
            mark.expires_at = Some(self.now + KEEP_AVAILABILITY_MARK);
            if emit && let Some(doctor) = ClinikoId::parse(&key) {
                let change = availability::change(doctor, self.now);
                self.event(
                    EventType::DoctorAvailabilityChanged,
                    self.now,
                    EventData::DoctorAvailability(change),
                );
            }
            if before.as_ref() != Some(&mark) {
                let expect = Expect::of(before.map(|b| b.revision));
                out.push((mark, expect));
            }
        }
        Ok(out)
    }

    /// `doctor.queue_updated` for each touched or due queue whose content changed.
    async fn queue_marks(&mut self, due: Vec<Mark>) -> Result<Vec<(Mark, Expect)>> {
        let store = self.services.store;
        let mut queues = std::mem::take(&mut self.queues);
        for mark in due {
            if let Some(key) = parse_queue_key(&mark.key) {
                queues.entry(key).or_insert(Tz::UTC);
            }
        }
        let keys: Vec<String> = queues
            .keys()
            .map(|(doctor, day)| queue_key(doctor, *day))
            .collect();
        let mut kept: HashMap<String, Mark> = store
            .marks(self.tenant, MarkKind::Queue, &keys)
            .await?
            .into_iter()
            .map(|m| (m.key.clone(), m))
            .collect();
        let mut out = Vec::new();
        for ((doctor, day), touched_zone) in queues {
            let members = self.members(&doctor, day).await?;
            // The zone of the day: its appointments' clinic, else the clinic that touched it.
            let zone = match members.first() {
                Some(first) => self.zones.get().await?.of(first.clinic_id.as_ref()),
                None => touched_zone,
            };
            let next = queue::next_change(&members, self.now);
            let built = queue::build(doctor.clone(), day, zone, members, self.now);
            let fingerprint = self.services.fingerprints.of("queue", &built)?;
            let key = queue_key(&doctor, day);
            let before = kept.remove(&key);
            let sent = before.as_ref().and_then(|m| m.fingerprint);
            let changed = match sent {
                Some(sent) => sent != fingerprint,
                // Never sent: only a queue with someone in it is news.
                None => !built.entries.is_empty(),
            };
            if changed {
                self.event(
                    EventType::DoctorQueueUpdated,
                    self.now,
                    EventData::DoctorQueue(built),
                );
            }
            let mark = Mark {
                fingerprint: if changed { Some(fingerprint) } else { sent },
                due_at: next,
                expires_at: Some(day.and_time(chrono::NaiveTime::MIN).and_utc() + KEEP_QUEUE_DAYS),
                ..before
                    .clone()
                    .unwrap_or_else(|| Mark::new(MarkKind::Queue, key.clone()))
            };
            if before.as_ref() != Some(&mark) {
                let expect = Expect::of(before.map(|b| b.revision));
                out.push((mark, expect));
            }
        }
        Ok(out)
    }

    /// The members of a doctor's queue on a day: as stored, with this batch's writes applied.
    async fn members(&self, doctor: &ClinikoId, day: NaiveDate) -> Result<Vec<QueueMember>> {
        let stored = self
            .services
            .store
            .queue_members(self.tenant, doctor, day)
            .await?;
        let in_queue = |s: &Snapshot| {
            s.queue_day == Some(day)
                && s.doctor_id.as_ref() == Some(doctor)
                && s.state.as_ref().is_some_and(AppointmentState::in_queue)
        };
        let mut members: Vec<QueueMember> = stored
            .iter()
            .filter(|s| {
                !self
                    .written
                    .contains(&(Resource::Appointments, s.record_id.clone()))
            })
            .filter(|s| in_queue(s))
            .filter_map(|s| Some(member(&s.record_id, s.state.as_ref()?)))
            .collect();
        members.extend(
            self.snapshots
                .iter()
                .map(|(s, _)| s)
                .filter(|s| s.resource == Resource::Appointments && in_queue(s))
                .filter_map(|s| Some(member(&s.record_id, s.state.as_ref()?))),
        );
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_key_names_its_doctor_and_day_and_reads_back() {
        let doctor = ClinikoId::parse("836447129235883061").unwrap();
        let day = NaiveDate::from_ymd_opt(2030, 5, 21).unwrap();
        let key = queue_key(&doctor, day);
        assert_eq!(key, "836447129235883061/2030-05-21");
        assert!(key.len() <= 64, "fits the column");
        assert_eq!(parse_queue_key(&key), Some((doctor, day)));
        assert_eq!(parse_queue_key("11"), None);
    }
}
